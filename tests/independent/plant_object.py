#!/usr/bin/python3
"""Plant a key of known value on a token: without logging in, as anyone on the host can; or with
the PIN, as a PIN holder can.

An attacker's tool for keyrite's tests, written with PyKCS11 (Debian's python3-pykcs11); it
shares no code with keyrite. A read-write session that never calls C_Login may still create
public token objects; this creates a public AES key of known value, labelled like a ceremony key
and with every protection a ceremony key has. Given PIN_ENV_NAME (the name of a variable holding
the user PIN) it logs in and makes the same key a private object, by C_CreateObject: a key of a
value its maker knows, which the token marks CKA_LOCAL false:

    plant_object.py MODULE TOKEN_LABEL LABEL HEX_VALUE [PIN_ENV_NAME]

It prints the new object's handle.
"""
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_DECRYPT, CKA_DERIVE, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_ID, CKA_KEY_TYPE,
    CKA_LABEL, CKA_MODIFIABLE, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_UNWRAP,
    CKA_VALUE, CKA_VERIFY, CKA_WRAP, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKK_AES, CKO_SECRET_KEY,
)


def main():
    module, token, label, value = sys.argv[1:5]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = next(
        s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == token
    )
    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    private = len(sys.argv) > 5
    if private:
        session.login(os.environ[sys.argv[5]])
    template = [
        (CKA_TOKEN, True), (CKA_PRIVATE, private), (CKA_LABEL, label),
        (CKA_VALUE, bytes.fromhex(value)), (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
        (CKA_ID, bytes(16)), (CKA_SENSITIVE, True), (CKA_EXTRACTABLE, True),
        (CKA_MODIFIABLE, False), (CKA_ENCRYPT, False), (CKA_DECRYPT, False), (CKA_SIGN, False),
        (CKA_VERIFY, False), (CKA_WRAP, False), (CKA_UNWRAP, False), (CKA_DERIVE, False),
    ]
    print(session.createObject(template).value())


main()
