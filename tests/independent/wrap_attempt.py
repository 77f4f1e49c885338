#!/usr/bin/python3
"""Try, with PyKCS11 (no keyrite code), to wrap a token's secret key under a fresh RSA public
key that nobody marked trusted: RSA-OAEP with SHA-1, the one hash every token here offers.

usage: wrap_attempt.py MODULE TOKEN_LABEL PIN_ENV_NAME KEY_LABEL
Prints "wrapped N bytes" or "refused CKR_...".
"""
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_TOKEN,
    CKA_WRAP, CKA_PRIVATE, CKA_SENSITIVE, CKA_UNWRAP, CKG_MGF1_SHA1, CKK_RSA, CKM_SHA_1,
    CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_SECRET_KEY, CKF_RW_SESSION, CKF_SERIAL_SESSION,
)


def main():
    module, label, pin_env, key_label = sys.argv[1:5]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == label]
    session = lib.openSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION)
    session.login(os.environ[pin_env])
    keys = session.findObjects([(CKA_CLASS, CKO_SECRET_KEY), (CKA_LABEL, key_label)])
    if len(keys) != 1:
        sys.exit(f"expected one secret key labelled {key_label!r}, found {len(keys)}")
    public, _private = session.generateKeyPair(
        [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, False),
         (CKA_MODULUS_BITS, 2048), (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_WRAP, True)],
        [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_RSA), (CKA_TOKEN, False),
         (CKA_PRIVATE, True), (CKA_SENSITIVE, True), (CKA_UNWRAP, True)],
        mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
    try:
        wrapped = session.wrapKey(public, keys[0],
                                  PyKCS11.RSAOAEPMechanism(CKM_SHA_1, CKG_MGF1_SHA1))
        print(f"wrapped {len(wrapped)} bytes")
    except PyKCS11.PyKCS11Error as e:
        print("refused " + str(e).split()[0])


if __name__ == "__main__":
    main()
