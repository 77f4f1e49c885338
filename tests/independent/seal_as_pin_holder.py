#!/usr/bin/python3
"""Sign a chain head with a token's ceremony signer key, as a PIN holder can (PyKCS11).

An independent PKCS#11 peer for keyrite's tests: it shares no code with keyrite. The tests use it
to play the insider who holds the PIN: they build a transcript that contradicts itself, re-chain
it, and seal its chain head with the token's own signer key, so that only verify's rules about
what a record may say can catch it. It prints the raw CKM_ECDSA signature (r || s) in hex.

usage: seal_as_pin_holder.py MODULE TOKEN_LABEL PIN_ENV_NAME SIGNER_LABEL CHAIN_HEAD_HEX
"""
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import CKA_CLASS, CKA_KEY_TYPE, CKA_LABEL, CKF_RW_SESSION, CKF_SERIAL_SESSION
from PyKCS11.LowLevel import CKK_EC, CKM_ECDSA, CKO_PRIVATE_KEY


def main(argv):
    if len(argv) != 6:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    module, token, pin_env, label, head = argv[1:]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == token][0]
    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    session.login(os.environ[pin_env])
    try:
        [key] = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_EC), (CKA_LABEL, label)])
        signature = session.sign(key, bytes.fromhex(head), PyKCS11.Mechanism(CKM_ECDSA, None))
        print(bytes(signature).hex())
    finally:
        session.logout()
        session.closeSession()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
