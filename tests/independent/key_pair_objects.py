#!/usr/bin/python3
"""Tamper with a key pair's objects on a token, with PyKCS11, as someone holding the PIN could.

usage: key_pair_objects.py MODULE TOKEN_LABEL PIN_ENV_NAME ACTION KEY_LABEL [PEM]
ACTION:
  replace-public PEM   destroy the public key objects labelled KEY_LABEL and create one holding
                       the public key in PEM, with the label and CKA_ID of the private key
  add-public PEM       create one more such public key object, keeping the others
  import-ec            create a P-256 private key of known value (CKA_LOCAL false, as every
                       imported key) with the ceremony protections, and its public key object
  generate-ec          generate a P-256 key pair in the token with the ceremony protections,
                       its public key object private, as keyrite makes it
  generate-ec-public-object
                       the same with a public key object that is a public object
Prints the SHA-256 of the SubjectPublicKeyInfo of the public key object it created. Shares no
code with keyrite.
"""
import hashlib
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_DECRYPT, CKA_DERIVE, CKA_EC_PARAMS, CKA_EC_POINT, CKA_EXTRACTABLE, CKA_ID,
    CKA_KEY_TYPE, CKA_LABEL, CKA_MODULUS, CKA_PRIVATE, CKA_PUBLIC_EXPONENT, CKA_SENSITIVE,
    CKA_SIGN, CKA_TOKEN, CKA_UNWRAP, CKA_VALUE, CKA_VERIFY, CKF_RW_SESSION, CKF_SERIAL_SESSION,
    CKK_EC, CKK_RSA, CKM_EC_KEY_PAIR_GEN, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

P256 = bytes.fromhex("06082a8648ce3d030107")
PROTECTED = [(CKA_TOKEN, True), (CKA_PRIVATE, True), (CKA_SENSITIVE, True),
             (CKA_EXTRACTABLE, True), (CKA_SIGN, False), (CKA_DECRYPT, False),
             (CKA_UNWRAP, False), (CKA_DERIVE, False)]


def spki_sha256(key):
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_template(key, label, key_id):
    common = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_TOKEN, True), (CKA_PRIVATE, False),
              (CKA_LABEL, label), (CKA_ID, key_id), (CKA_VERIFY, False)]
    if isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        return common + [(CKA_KEY_TYPE, CKK_RSA),
                         (CKA_MODULUS, n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                         (CKA_PUBLIC_EXPONENT, n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))]
    point = key.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    return common + [(CKA_KEY_TYPE, CKK_EC), (CKA_EC_PARAMS, P256),
                     (CKA_EC_POINT, bytes([0x04, len(point)]) + point)]


def main():
    module, token, pin_env, action, label = sys.argv[1:6]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = [s for s in lib.getSlotList(tokenPresent=True)
            if lib.getTokenInfo(s).label.strip() == token][0]
    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    session.login(os.environ[pin_env])
    if action in ("replace-public", "add-public"):
        key = serialization.load_pem_public_key(open(sys.argv[6], "rb").read())
        private = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, label)])[0]
        key_id = bytes(session.getAttributeValue(private, [CKA_ID])[0])
        if action == "replace-public":
            for obj in session.findObjects([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_LABEL, label)]):
                session.destroyObject(obj)
        session.createObject(public_template(key, label, key_id))
    elif action == "import-ec":
        private_key = ec.derive_private_key(0x5EC2E7, ec.SECP256R1())
        value = private_key.private_numbers().private_value.to_bytes(32, "big")
        session.createObject([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_KEY_TYPE, CKK_EC),
                              (CKA_EC_PARAMS, P256), (CKA_VALUE, value), (CKA_LABEL, label),
                              (CKA_ID, b"imported")] + PROTECTED)
        key = private_key.public_key()
        session.createObject(public_template(key, label, b"imported"))
    elif action in ("generate-ec", "generate-ec-public-object"):
        public, _ = session.generateKeyPair(
            [(CKA_TOKEN, True), (CKA_EC_PARAMS, P256), (CKA_LABEL, label), (CKA_ID, b"generated"),
             (CKA_VERIFY, False), (CKA_PRIVATE, action == "generate-ec")],
            [(CKA_LABEL, label), (CKA_ID, b"generated")] + PROTECTED,
            PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN))
        point = bytes(session.getAttributeValue(public, [CKA_EC_POINT])[0])
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point[2:])
    else:
        sys.exit(f"unknown action {action}")
    print(spki_sha256(key))


if __name__ == "__main__":
    main()
