#!/usr/bin/python3
"""Wrap an AES key of one's own under a backup token's public RSA key, as a file editor would.

    forge_backup.py PUBLIC_PEM KEY_HEX OUT

Written with Python's standard library and `cryptography`; it shares no code with keyrite. It
writes what a backup of a secret key is (RSAES_OAEP_SHA_1): KEY_HEX encrypted with RSA-OAEP
(SHA-1, MGF1 SHA-1) under the public key.
"""
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def main():
    pem, key_hex, out = sys.argv[1:4]
    public = serialization.load_pem_public_key(open(pem, "rb").read())
    wrapped = public.encrypt(
        bytes.fromhex(key_hex),
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    )
    open(out, "wb").write(wrapped)


main()
