#!/usr/bin/python3
"""Attack a ceremony signer's public key object with PyKCS11, as someone without the PIN would.

An independent PKCS#11 peer for tests/insider_module.rs; it shares no code with keyrite.

usage: signer_attack.py replace MODULE TOKEN_LABEL SIGNER_LABEL
    Without logging in, in a read-write session: destroy every EC public key object labelled
    SIGNER_LABEL that the session sees, then create a public token object of that label holding
    a P-256 public key of the attacker's own (made here by `cryptography`). Prints JSON: how many
    objects were found and destroyed, the errors, and the SHA-256 of the attacker's
    SubjectPublicKeyInfo.
usage: signer_attack.py legacy MODULE TOKEN_LABEL PIN_ENV_NAME SIGNER_LABEL
    Logged in: generate a P-256 signer as keyrite did before its signer objects were private (a
    public, modifiable public key object), for the attack on a signer made that way.
"""
import hashlib
import json
import os
import sys

import PyKCS11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_EC_PARAMS, CKA_EC_POINT, CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_PRIVATE,
    CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_VERIFY, CKK_EC, CKM_EC_KEY_PAIR_GEN, CKO_PUBLIC_KEY,
    CKF_RW_SESSION, CKF_SERIAL_SESSION, CKA_EXTRACTABLE,
)

P256 = bytes.fromhex("06082a8648ce3d030107")


def session_on(module, label):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == label]
    if len(slots) != 1:
        sys.exit(f"expected one token labelled {label!r}, found {len(slots)}")
    return lib, lib.openSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION)


def replace(module, label, signer):
    _, session = session_on(module, label)
    found = session.findObjects([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC),
                                 (CKA_LABEL, signer)])
    destroyed, errors = 0, []
    for obj in found:
        try:
            session.destroyObject(obj)
            destroyed += 1
        except PyKCS11.PyKCS11Error as e:
            errors.append(str(e))
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    created, create_error = True, None
    try:
        session.createObject([
            (CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_EC), (CKA_TOKEN, True),
            (CKA_PRIVATE, False), (CKA_LABEL, signer), (CKA_VERIFY, True),
            (CKA_EC_PARAMS, P256), (CKA_EC_POINT, bytes([0x04, len(point)]) + point),
        ])
    except PyKCS11.PyKCS11Error as e:
        created, create_error = False, str(e)
    print(json.dumps({
        "found": len(found), "destroyed": destroyed, "destroy_errors": errors,
        "created": created, "create_error": create_error,
        "attacker_spki_sha256": hashlib.sha256(spki).hexdigest(),
    }, sort_keys=True))


def legacy(module, label, pin_env, signer):
    _, session = session_on(module, label)
    session.login(os.environ[pin_env])
    key_id = os.urandom(16)
    session.generateKeyPair(
        [(CKA_TOKEN, True), (CKA_PRIVATE, False), (CKA_EC_PARAMS, P256), (CKA_VERIFY, True),
         (CKA_LABEL, signer), (CKA_ID, key_id)],
        [(CKA_TOKEN, True), (CKA_PRIVATE, True), (CKA_SENSITIVE, True),
         (CKA_EXTRACTABLE, False), (CKA_SIGN, True), (CKA_LABEL, signer), (CKA_ID, key_id)],
        mecha=PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN, None),
    )
    print(json.dumps({"generated": signer}))


if __name__ == "__main__":
    if sys.argv[1] == "replace":
        replace(*sys.argv[2:5])
    elif sys.argv[1] == "legacy":
        legacy(*sys.argv[2:6])
    else:
        sys.exit(__doc__)
