#!/usr/bin/python3
"""Play the KMS: unwrap keyrite's output with the KMS private key, using Python `cryptography`.

usage: unwrap.py PRIVATE_KEY_PEM ALGORITHM WRAPPED_FILE > key-material
ALGORITHM (AWS spelling): RSAES_OAEP_SHA_1 | RSAES_OAEP_SHA_256 | RSA_AES_KEY_WRAP_SHA_1 |
RSA_AES_KEY_WRAP_SHA_256 | RSAES_PKCS1_V1_5. RSA-AES input is RSA-OAEP(ephemeral AES key),
exactly the modulus length, followed by RFC 5649 AES key wrap with padding of the key.
Writes the raw key material to standard output. Shares no code with keyrite.
"""
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

pem, algorithm, wrapped_file = sys.argv[1:4]
key = serialization.load_pem_private_key(open(pem, "rb").read(), password=None)
wrapped = open(wrapped_file, "rb").read()
modulus_len = key.key_size // 8


def oaep(hash_name):
    h = hashes.SHA1() if hash_name == "SHA_1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


if algorithm.startswith("RSAES_OAEP_"):
    assert len(wrapped) == modulus_len, f"{len(wrapped)} bytes, modulus is {modulus_len}"
    material = key.decrypt(wrapped, oaep(algorithm[len("RSAES_OAEP_"):]))
elif algorithm.startswith("RSA_AES_KEY_WRAP_"):
    ephemeral = key.decrypt(wrapped[:modulus_len], oaep(algorithm[len("RSA_AES_KEY_WRAP_"):]))
    assert len(ephemeral) == 32, f"ephemeral key of {len(ephemeral)} bytes"
    material = aes_key_unwrap_with_padding(ephemeral, wrapped[modulus_len:])
elif algorithm == "RSAES_PKCS1_V1_5":
    material = key.decrypt(wrapped, padding.PKCS1v15())
else:
    sys.exit(f"unknown algorithm {algorithm}")
sys.stdout.buffer.write(material)
