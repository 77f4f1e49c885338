#!/usr/bin/python3
"""List a token's objects and their attributes with PyKCS11 (Debian's python3-pykcs11).

An independent PKCS#11 peer for keyrite's tests: it shares no code with keyrite. It prints one
JSON object per token object (CKO_MECHANISM objects, which kryoptic lists, left out), with the
attributes that matter for a ceremony key, and whether CKA_VALUE could be read. For a private
key, its usage flags and whether any private component could be read; for a public key, the
SHA-256 of its SubjectPublicKeyInfo, built here by `cryptography` from the key's attributes, and
whether it is private and modifiable.

Each object also has "attributes": every boolean attribute PKCS#11 gives its class (storage,
key, and the usages of a secret, private or public key), plus CKA_LOCAL and, for a data object,
CKA_APPLICATION, each read on its own: true or false, or null where the token gives none.

usage: token_objects.py MODULE TOKEN_LABEL [PIN_ENV_NAME]
Without PIN_ENV_NAME it lists what is visible without logging in.
"""
import json
import os
import sys

import hashlib

import PyKCS11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PyKCS11.LowLevel import (
    CKA_EC_PARAMS, CKA_EC_POINT, CKA_ID, CKA_LOCAL, CKA_MODULUS, CKA_PRIME_1, CKA_PRIVATE_EXPONENT,
    CKA_PUBLIC_EXPONENT, CKA_SIGN_RECOVER,
)
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_DECRYPT, CKA_DERIVE, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_KEY_TYPE,
    CKA_LABEL, CKA_MODIFIABLE, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_UNWRAP,
    CKA_VALUE, CKA_VALUE_LEN, CKA_VERIFY, CKA_WRAP, CKA_CHECK_VALUE, CKA_NEVER_EXTRACTABLE,
    CKA_ALWAYS_SENSITIVE,
)

FLAGS = {
    "token": CKA_TOKEN, "private": CKA_PRIVATE, "sensitive": CKA_SENSITIVE,
    "extractable": CKA_EXTRACTABLE, "modifiable": CKA_MODIFIABLE, "encrypt": CKA_ENCRYPT,
    "decrypt": CKA_DECRYPT, "sign": CKA_SIGN, "verify": CKA_VERIFY, "wrap": CKA_WRAP,
    "unwrap": CKA_UNWRAP, "derive": CKA_DERIVE, "always_sensitive": CKA_ALWAYS_SENSITIVE,
    "never_extractable": CKA_NEVER_EXTRACTABLE,
}

PRIVATE_FLAGS = {
    "token": CKA_TOKEN, "private": CKA_PRIVATE, "sensitive": CKA_SENSITIVE,
    "extractable": CKA_EXTRACTABLE, "modifiable": CKA_MODIFIABLE, "decrypt": CKA_DECRYPT,
    "sign": CKA_SIGN, "sign_recover": CKA_SIGN_RECOVER, "unwrap": CKA_UNWRAP,
    "derive": CKA_DERIVE, "always_sensitive": CKA_ALWAYS_SENSITIVE,
    "never_extractable": CKA_NEVER_EXTRACTABLE, "local": CKA_LOCAL,
}

# Every boolean attribute of each class, by PKCS#11 3.0's tables: storage objects, then keys,
# then each key class's own. CKA_COPYABLE and CKA_DESTROYABLE are read as bytes (PyKCS11 does
# not know them as booleans).
STORAGE = ["CKA_TOKEN", "CKA_PRIVATE", "CKA_MODIFIABLE", "CKA_COPYABLE", "CKA_DESTROYABLE"]
KEY = STORAGE + ["CKA_DERIVE", "CKA_LOCAL"]
ALL_ATTRIBUTES = {
    "CKO_DATA": STORAGE,
    "CKO_SECRET_KEY": KEY + [
        "CKA_SENSITIVE", "CKA_EXTRACTABLE", "CKA_ALWAYS_SENSITIVE", "CKA_NEVER_EXTRACTABLE",
        "CKA_ENCRYPT", "CKA_DECRYPT", "CKA_SIGN", "CKA_VERIFY", "CKA_WRAP", "CKA_UNWRAP",
        "CKA_WRAP_WITH_TRUSTED", "CKA_TRUSTED",
    ],
    "CKO_PRIVATE_KEY": KEY + [
        "CKA_SENSITIVE", "CKA_EXTRACTABLE", "CKA_ALWAYS_SENSITIVE", "CKA_NEVER_EXTRACTABLE",
        "CKA_DECRYPT", "CKA_SIGN", "CKA_SIGN_RECOVER", "CKA_UNWRAP", "CKA_WRAP_WITH_TRUSTED",
        "CKA_ALWAYS_AUTHENTICATE",
    ],
    "CKO_PUBLIC_KEY": KEY + [
        "CKA_ENCRYPT", "CKA_VERIFY", "CKA_VERIFY_RECOVER", "CKA_WRAP", "CKA_TRUSTED",
    ],
}


def all_attributes(session, obj, cls):
    """Every boolean attribute of the object's class, read one at a time."""
    out = {}
    for name in ALL_ATTRIBUTES.get(cls, []):
        try:
            value = session.getAttributeValue(obj, [PyKCS11.CKA[name]], allAsBinary=True)[0]
        except PyKCS11.PyKCS11Error:
            value = None
        key = name[len("CKA_"):].lower()
        out[key] = None if value is None or len(value) != 1 else bool(value[0])
    if cls == "CKO_DATA":
        application = session.getAttributeValue(obj, [PyKCS11.CKA["CKA_APPLICATION"]])[0]
        out["application"] = application
    return out


# The DER OIDs of the named curves in CKA_EC_PARAMS.
CURVES = {
    "06082a8648ce3d030107": ec.SECP256R1(), "06052b81040022": ec.SECP384R1(),
    "06052b81040023": ec.SECP521R1(), "06052b8104000a": ec.SECP256K1(),
}


def readable(session, obj, attribute):
    """Whether the token gives the value of a secret attribute (it must not)."""
    try:
        value = session.getAttributeValue(obj, [attribute])[0]
    except PyKCS11.PyKCS11Error:
        return False
    return value is not None and len(value) > 0


def public_key_sha256(session, obj, key_type):
    """SHA-256 of the SubjectPublicKeyInfo of a public key object, from its attributes."""
    if key_type == "CKK_RSA":
        n, e = session.getAttributeValue(obj, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
        key = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                   int.from_bytes(bytes(n), "big")).public_key()
    else:
        params, point = session.getAttributeValue(obj, [CKA_EC_PARAMS, CKA_EC_POINT])
        curve = CURVES[bytes(params).hex()]
        point = bytes(point)
        bare_len = 1 + 2 * ((curve.key_size + 7) // 8)
        if len(point) != bare_len:  # a DER OCTET STRING around the point, as PKCS#11 says
            point = point[len(point) - bare_len:]
        key = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def main():
    module, label = sys.argv[1], sys.argv[2]
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if lib.getTokenInfo(s).label.strip() == label]
    if len(slots) != 1:
        sys.exit(f"expected one token labelled {label!r}, found {len(slots)}")
    session = lib.openSession(slots[0])
    if len(sys.argv) > 3:
        session.login(os.environ[sys.argv[3]])
    out = []
    for obj in session.findObjects([]):
        cls, lbl = session.getAttributeValue(obj, [CKA_CLASS, CKA_LABEL])
        if PyKCS11.CKO.get(cls) == "CKO_MECHANISM":
            continue  # kryoptic lists its mechanisms as objects; they are not keys
        entry = {"class": PyKCS11.CKO[cls], "label": bytes(lbl).decode() if isinstance(lbl, (list, tuple)) else lbl}
        entry["attributes"] = all_attributes(session, obj, entry["class"])
        if entry["class"] == "CKO_SECRET_KEY":
            names = list(FLAGS)
            values = session.getAttributeValue(obj, [FLAGS[n] for n in names])
            entry.update({n: bool(v) for n, v in zip(names, values)})
            key_type, value_len = session.getAttributeValue(obj, [CKA_KEY_TYPE, CKA_VALUE_LEN])
            entry["key_type"] = PyKCS11.CKK[key_type]
            entry["value_len"] = value_len
            try:
                value = session.getAttributeValue(obj, [CKA_VALUE])[0]
            except PyKCS11.PyKCS11Error as e:
                value = None
                entry["value_error"] = str(e)
            entry["value_readable"] = value is not None
            check = session.getAttributeValue(obj, [CKA_CHECK_VALUE])[0]
            entry["check_value"] = bytes(check).hex() if check else None
        if entry["class"] == "CKO_PRIVATE_KEY":
            names = list(PRIVATE_FLAGS)
            values = session.getAttributeValue(obj, [PRIVATE_FLAGS[n] for n in names])
            entry.update({n: bool(v) for n, v in zip(names, values)})
            key_type, key_id = session.getAttributeValue(obj, [CKA_KEY_TYPE, CKA_ID])
            entry["key_type"] = PyKCS11.CKK[key_type]
            entry["id"] = bytes(key_id).hex()
            secret = CKA_PRIVATE_EXPONENT if entry["key_type"] == "CKK_RSA" else CKA_VALUE
            entry["value_readable"] = readable(session, obj, secret) or (
                entry["key_type"] == "CKK_RSA" and readable(session, obj, CKA_PRIME_1))
        if entry["class"] == "CKO_PUBLIC_KEY":
            key_type, key_id = session.getAttributeValue(obj, [CKA_KEY_TYPE, CKA_ID])
            entry["key_type"] = PyKCS11.CKK[key_type]
            entry["id"] = bytes(key_id).hex()
            entry["spki_sha256"] = public_key_sha256(session, obj, entry["key_type"])
            private, modifiable = session.getAttributeValue(obj, [CKA_PRIVATE, CKA_MODIFIABLE])
            entry["private"], entry["modifiable"] = bool(private), bool(modifiable)
        out.append(entry)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
