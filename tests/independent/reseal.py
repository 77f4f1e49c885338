#!/usr/bin/python3
"""Seal a keyrite transcript again with a P-256 key of one's own, as a forger would.

    reseal.py IN OUT KEY_PEM

Written with Python's standard library and `cryptography`; it shares no code with keyrite. It
keeps every line before the seal as it is and writes a seal line whose signer is the SHA-256 of
KEY_PEM's public key (SubjectPublicKeyInfo DER) and whose signature is KEY_PEM's low-S ECDSA
signature over the chain head, so the result verifies under KEY_PEM's public key: a well-formed
record that the token never sealed.
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def main():
    src, dst, key_file = sys.argv[1:4]
    key = serialization.load_pem_private_key(open(key_file, "rb").read(), None)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    lines = open(src, "rb").read().split(b"\n")[:-1]
    seal_at = next(i for i, raw in enumerate(lines) if json.loads(raw)["step"] == "seal")
    seal = json.loads(lines[seal_at])
    r, s = utils.decode_dss_signature(
        key.sign(bytes.fromhex(seal["prev"]), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    )
    signature = utils.encode_dss_signature(r, min(s, P256_N - s))
    seal["signer"] = hashlib.sha256(spki).hexdigest()
    seal["signature"] = base64.b64encode(signature).decode()
    out = lines[:seal_at] + [json.dumps(seal, separators=(",", ":")).encode()]
    open(dst, "wb").write(b"\n".join(out) + b"\n")


main()
