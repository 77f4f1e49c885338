#!/usr/bin/python3
"""Show what a token's AES key wrap with padding does to a private key, with PyKCS11.

usage: wrap_private_key.py MODULE TOKEN_LABEL PIN_ENV_NAME MECHANISM CURVE COUNT
Generates COUNT throw-away EC key pairs on CURVE (P-256 | P-521; session objects), wraps each
private key with MECHANISM (0x210A CKM_AES_KEY_WRAP_PAD, 0x210B CKM_AES_KEY_WRAP_KWP) under an
AES key of known value, unwraps the result on the host with RFC 5649 (`cryptography`), and
prints JSON lists, one entry per key: the length of the PKCS#8 PrivateKeyInfo at the start
(from its DER header), the length RFC 5649 gave back, the bytes after the PKCS#8 in hex, and
the length of the private key inside (RFC 5915 says: the curve's size). Shares no code with
keyrite.
"""
import json
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_EC_PARAMS, CKA_EXTRACTABLE, CKA_KEY_TYPE, CKA_PRIVATE, CKA_SENSITIVE,
    CKA_TOKEN, CKA_VALUE, CKA_WRAP, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKK_AES,
    CKM_EC_KEY_PAIR_GEN, CKO_SECRET_KEY,
)
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding

CURVES = {"P-256": bytes.fromhex("06082a8648ce3d030107"), "P-521": bytes.fromhex("06052b81040023")}


def tlv(data, at):
    """(start of the value, end of the value) of the DER element at `at`."""
    first = data[at + 1]
    if first < 0x80:
        return at + 2, at + 2 + first
    n = first & 0x7F
    return at + 2 + n, at + 2 + n + int.from_bytes(data[at + 2:at + 2 + n], "big")


def scalar_len(pkcs8):
    """The length of the private key in the ECPrivateKey inside a PKCS#8 PrivateKeyInfo."""
    start, _ = tlv(pkcs8, 0)
    _, after_version = tlv(pkcs8, start)
    _, after_algorithm = tlv(pkcs8, after_version)
    inner, _ = tlv(pkcs8, after_algorithm)
    seq, _ = tlv(pkcs8, inner)
    _, after_ec_version = tlv(pkcs8, seq)
    start, end = tlv(pkcs8, after_ec_version)
    return end - start


def main():
    module, label, pin_env = sys.argv[1], sys.argv[2], sys.argv[3]
    mechanism, curve, count = int(sys.argv[4], 16), CURVES[sys.argv[5]], int(sys.argv[6])
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = [s for s in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(s).label.strip() == label][0]
    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    session.login(os.environ[pin_env])
    kek_value = bytes(range(32))
    kek = session.createObject([
        (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False),
        (CKA_VALUE, kek_value), (CKA_WRAP, True),
    ])
    out = {"pkcs8_len": [], "unwrapped_len": [], "trailing": [], "scalar_len": []}
    for _ in range(count):
        public, private = session.generateKeyPair(
            [(CKA_TOKEN, False), (CKA_EC_PARAMS, curve)],
            [(CKA_TOKEN, False), (CKA_PRIVATE, True), (CKA_SENSITIVE, True),
             (CKA_EXTRACTABLE, True)],
            PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN),
        )
        wrapped = bytes(session.wrapKey(kek, private, PyKCS11.Mechanism(mechanism)))
        session.destroyObject(private)
        session.destroyObject(public)
        raw = aes_key_unwrap_with_padding(kek_value, wrapped)
        assert raw[0] == 0x30, "a DER SEQUENCE"
        _, end = tlv(raw, 0)
        out["pkcs8_len"].append(end)
        out["unwrapped_len"].append(len(raw))
        out["trailing"].append(raw[end:].hex())
        out["scalar_len"].append(scalar_len(raw))
    session.destroyObject(kek)
    print(json.dumps(out))

if __name__ == "__main__":
    main()
