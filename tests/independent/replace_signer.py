"""replace_signer.py MODULE TOKEN_LABEL PIN_ENV_NAME SIGNER_LABEL HOW: as a PIN holder, with
PyKCS11, destroys every object labelled SIGNER_LABEL, then puts a key pair of that label in its
place, as private token objects whose private key can only sign, is sensitive and not
extractable. HOW says how the private key comes there:

  import-ec, import-rsa      created (C_CreateObject) from an ECDSA P-256 or RSA-3072 key made
                             here by `cryptography`, which the attacker keeps
  generate-ec, generate-rsa  generated in the token (C_GenerateKeyPair), as `token signer
                             create` would

Prints the SHA-256 of the new SubjectPublicKeyInfo."""
import hashlib
import os
import sys

import PyKCS11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_COEFFICIENT, CKA_EC_PARAMS, CKA_EC_POINT, CKA_EXPONENT_1, CKA_EXPONENT_2,
    CKA_EXTRACTABLE, CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_MODULUS, CKA_MODULUS_BITS, CKA_PRIME_1,
    CKA_PRIME_2, CKA_PRIVATE, CKA_PRIVATE_EXPONENT, CKA_PUBLIC_EXPONENT, CKA_SENSITIVE, CKA_SIGN,
    CKA_TOKEN, CKA_VALUE, CKA_VERIFY, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKK_EC, CKK_RSA,
    CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS_KEY_PAIR_GEN, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKU_USER,
)

P256 = bytes.fromhex("06082a8648ce3d030107")
module, token, pin_env, label, how = sys.argv[1:6]
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slot = [s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == token][0]
session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
session.login(os.environ[pin_env], CKU_USER)
for handle in session.findObjects([(CKA_LABEL, label)]):
    session.destroyObject(handle)

kind = CKK_EC if how.endswith("-ec") else CKK_RSA
common = [(CKA_KEY_TYPE, kind), (CKA_LABEL, label), (CKA_ID, b"\x01"), (CKA_TOKEN, True),
          (CKA_PRIVATE, True)]
public = [(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_VERIFY, True)] + common
private = [(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_SIGN, True), (CKA_SENSITIVE, True),
           (CKA_EXTRACTABLE, False)] + common


def be(n, size=None):
    return n.to_bytes(size or (n.bit_length() + 7) // 8, "big")


if how == "import-ec":
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    session.createObject(public + [(CKA_EC_PARAMS, P256), (CKA_EC_POINT, bytes([4, len(point)]) + point)])
    session.createObject(private + [(CKA_EC_PARAMS, P256),
                                    (CKA_VALUE, be(key.private_numbers().private_value, 32))])
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
elif how == "import-rsa":
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    p = key.private_numbers()
    n = be(p.public_numbers.n)
    e = be(p.public_numbers.e)
    session.createObject(public + [(CKA_MODULUS, n), (CKA_PUBLIC_EXPONENT, e)])
    session.createObject(private + [
        (CKA_MODULUS, n), (CKA_PUBLIC_EXPONENT, e), (CKA_PRIVATE_EXPONENT, be(p.d)),
        (CKA_PRIME_1, be(p.p)), (CKA_PRIME_2, be(p.q)), (CKA_EXPONENT_1, be(p.dmp1)),
        (CKA_EXPONENT_2, be(p.dmq1)), (CKA_COEFFICIENT, be(p.iqmp))])
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
elif how == "generate-ec":
    pub, _ = session.generateKeyPair(public + [(CKA_EC_PARAMS, P256)], private,
                                     mecha=PyKCS11.Mechanism(CKM_EC_KEY_PAIR_GEN, None))
    raw = bytes(session.getAttributeValue(pub, [CKA_EC_POINT])[0])
    point = raw[2:] if len(raw) == 67 else raw  # the DER OCTET STRING around the point, or not
    spki = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
elif how == "generate-rsa":
    pub, _ = session.generateKeyPair(
        public + [(CKA_MODULUS_BITS, 3072), (CKA_PUBLIC_EXPONENT, b"\x01\x00\x01")], private,
        mecha=PyKCS11.Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN, None))
    n, e = session.getAttributeValue(pub, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
    spki = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                int.from_bytes(bytes(n), "big")).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
else:
    sys.exit(f"replace_signer.py: unknown HOW {how!r}")
session.logout()
print(hashlib.sha256(spki).hexdigest())
