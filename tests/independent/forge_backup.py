#!/usr/bin/python3
"""Wrap an AES key of one's own under a backup token's public RSA key, as a file editor would.

    forge_backup.py PUBLIC_PEM KEY_HEX OUT

Written with Python's standard library and `cryptography`; it shares no code with keyrite. It
writes RSA-AES key wrap (RSA_AES_KEY_WRAP_SHA_1, as PKCS#11 CKM_RSA_AES_KEY_WRAP): the RSA-OAEP
(SHA-1, MGF1 SHA-1) encryption of a fresh AES-256 key, followed by KEY_HEX wrapped under that
key with AES key wrap with padding (RFC 5649).
"""
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding


def main():
    pem, key_hex, out = sys.argv[1:4]
    public = serialization.load_pem_public_key(open(pem, "rb").read())
    ephemeral = os.urandom(32)
    head = public.encrypt(
        ephemeral,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),
    )
    open(out, "wb").write(head + aes_key_wrap_with_padding(ephemeral, bytes.fromhex(key_hex)))


main()
