#!/usr/bin/python3
"""List a token's objects and their attributes with PyKCS11 (Debian's python3-pykcs11).

An independent PKCS#11 peer for keyrite's tests: it shares no code with keyrite. It prints one
JSON object per token object (CKO_MECHANISM objects, which kryoptic lists, left out), with the attributes that matter for a ceremony key, and whether
CKA_VALUE could be read.

usage: token_objects.py MODULE TOKEN_LABEL [PIN_ENV_NAME]
Without PIN_ENV_NAME it lists what is visible without logging in.
"""
import json
import os
import sys

import PyKCS11
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
        out.append(entry)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
