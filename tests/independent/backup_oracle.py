#!/usr/bin/python3
"""Try to read a backed-up key out of a backup token with nothing but its user PIN.

An attacker's tool for keyrite's tests, written with PyKCS11 (Debian's python3-pykcs11); it
shares no code with keyrite. With the PIN in the environment variable PIN_ENV, it logs in to the
token, takes the backup key's private key by label, and asks the token for the material of
BACKUP (a backup.bin) in every way a PIN holder could:

    backup_oracle.py MODULE TOKEN_LABEL PIN_ENV KEY_LABEL BACKUP ALGORITHM [MODULUS_BYTES]
    backup_oracle.py MODULE TOKEN_LABEL PIN_ENV KEY_LABEL --plain-key

ALGORITHM is the backup's (RSAES_OAEP_SHA_1 / _SHA_256: the whole file is OAEP of the key;
RSA_AES_KEY_WRAP_SHA_1 / _SHA_256: OAEP of an AES key, then RFC 5649 of the key under it). It
prints one JSON object: for each attempt, "refused: CKR_..." or the hex of the value it read.
With --plain-key it instead makes, as any PIN holder could, an RSA-3072 backup-style key pair
labelled KEY_LABEL with no unwrap template, and prints its public key (PEM) on standard output.
"""
import json
import os
import sys

import PyKCS11
from PyKCS11.LowLevel import (
    CKA_CLASS, CKA_DECRYPT, CKA_DERIVE, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_MODULUS,
    CKA_MODULUS_BITS, CKA_PRIVATE, CKA_PUBLIC_EXPONENT, CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_UNWRAP,
    CKA_VALUE, CKA_VERIFY, CKA_WRAP, CKF_RW_SESSION, CKF_SERIAL_SESSION, CKG_MGF1_SHA1, CKG_MGF1_SHA256,
    CKK_AES, CKK_GENERIC_SECRET, CKM_AES_KEY_WRAP_PAD, CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_SHA256,
    CKM_SHA_1, CKO_PRIVATE_KEY, CKO_SECRET_KEY,
)

CKM_AES_KEY_WRAP_KWP = 0x210B


def session_for(module, token, pin_env):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    slot = next(
        s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == token
    )
    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    session.login(os.environ[pin_env])
    return session


def plain_key(session, label):
    public, _ = session.generateKeyPair(
        [(CKA_TOKEN, True), (CKA_PRIVATE, False), (CKA_MODULUS_BITS, 3072),
         (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_WRAP, True), (CKA_LABEL, label),
         (CKA_ID, b"plain")],
        [(CKA_TOKEN, True), (CKA_PRIVATE, True), (CKA_SENSITIVE, True),
         (CKA_EXTRACTABLE, False), (CKA_UNWRAP, True), (CKA_DECRYPT, False),
         (CKA_LABEL, label), (CKA_ID, b"plain")],
        PyKCS11.Mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN),
    )
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
    from cryptography.hazmat.primitives import serialization
    n, e = session.getAttributeValue(public, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
    key = RSAPublicNumbers(int.from_bytes(bytes(e), "big"), int.from_bytes(bytes(n), "big"))
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    sys.stdout.write(pem.decode())


def readable(key_type):
    return [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, key_type), (CKA_TOKEN, False),
            (CKA_PRIVATE, True), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True)]


def attempt(what):
    try:
        return what()
    except PyKCS11.PyKCS11Error as e:
        return "refused: " + PyKCS11.CKR[e.value]


def main():
    module, token, pin_env, label = sys.argv[1:5]
    session = session_for(module, token, pin_env)
    if sys.argv[5] == "--plain-key":
        plain_key(session, label)
        return
    backup = open(sys.argv[5], "rb").read()
    algorithm = sys.argv[6]
    private = session.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, label)])[0]
    sha1 = algorithm.endswith("SHA_1")
    oaep = PyKCS11.RSAOAEPMechanism(
        CKM_SHA_1 if sha1 else CKM_SHA256, CKG_MGF1_SHA1 if sha1 else CKG_MGF1_SHA256)
    value = lambda h: bytes(session.getAttributeValue(h, [CKA_VALUE])[0]).hex()
    result = {}
    if algorithm.startswith("RSAES_OAEP"):
        result["decrypt"] = attempt(lambda: bytes(session.decrypt(private, backup, oaep)).hex())
        for name, key_type in [("aes", CKK_AES), ("generic", CKK_GENERIC_SECRET)]:
            result["unwrap_readable_" + name] = attempt(
                lambda: value(session.unwrapKey(private, backup, readable(key_type), oaep)))
    else:
        n = int(sys.argv[7])
        rsa_part, kwp_part = backup[:n], backup[n:]
        result["decrypt"] = attempt(lambda: bytes(session.decrypt(private, rsa_part, oaep)).hex())
        result["unwrap_readable_ephemeral"] = attempt(
            lambda: value(session.unwrapKey(private, rsa_part, readable(CKK_AES), oaep)))
        ephemeral = attempt(lambda: session.unwrapKey(private, rsa_part, [
            (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False),
            (CKA_PRIVATE, True), (CKA_SENSITIVE, True), (CKA_EXTRACTABLE, False),
            (CKA_UNWRAP, True), (CKA_WRAP, False), (CKA_ENCRYPT, False), (CKA_DECRYPT, False),
            (CKA_SIGN, False), (CKA_VERIFY, False), (CKA_DERIVE, False)], oaep))
        if isinstance(ephemeral, str):
            result["ephemeral"] = ephemeral
        else:
            result["ephemeral"] = "unwrapped"
            for mech in [CKM_AES_KEY_WRAP_KWP, CKM_AES_KEY_WRAP_PAD]:
                got = attempt(lambda: value(session.unwrapKey(
                    ephemeral, kwp_part, readable(CKK_GENERIC_SECRET), PyKCS11.Mechanism(mech))))
                result["second_stage_readable"] = got
                if not got.startswith("refused"):
                    break
    print(json.dumps(result))


main()
