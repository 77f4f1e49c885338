#!/usr/bin/python3
"""Key check value of raw key material, computed with Python `cryptography` (no keyrite code).

usage: kcv.py METHOD < key-material       METHOD: aes-ecb-zero-3 | sha1-3 | sha256-3 | sha256
Reads the raw key from standard input (never from the command line) and prints six lowercase
hex digits; for sha256 (keyrite's full check value, check_sha256), all 64.
"""
import hashlib
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

method = sys.argv[1]
key = sys.stdin.buffer.read()
if method == "aes-ecb-zero-3":
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    value = enc.update(bytes(16)) + enc.finalize()
elif method == "sha1-3":
    value = hashlib.sha1(key).digest()
elif method == "sha256-3":
    value = hashlib.sha256(key).digest()
elif method == "sha256":
    print(hashlib.sha256(key).hexdigest())
    sys.exit(0)
else:
    sys.exit(f"unknown method {method}")
print(value[:3].hex())
