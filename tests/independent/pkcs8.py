#!/usr/bin/python3
"""Play the KMS's parser: check unwrapped key material is the PKCS#8 PrivateKeyInfo a KMS takes.

usage: pkcs8.py MATERIAL_FILE KEY_SPEC PUBLIC_PEM
KEY_SPEC (keyrite spelling): RSA_2048 | RSA_3072 | RSA_4096 | EC_P256 | EC_P384 | EC_P521 |
EC_SECP256K1. Checks that the material is exactly one DER PrivateKeyInfo (nothing after it, as
a strict parser wants), that `cryptography` loads it as a key of KEY_SPEC, that an EC key's
ECPrivateKey is RFC 5915 (version 1, a private key of the curve's size), and that its public
key is the one in PUBLIC_PEM. Prints JSON: the material's length and the SHA-256 of the
public key's SubjectPublicKeyInfo. Shares no code with keyrite.
"""
import hashlib
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SPECS = {
    "RSA_2048": ("rsa", 2048), "RSA_3072": ("rsa", 3072), "RSA_4096": ("rsa", 4096),
    "EC_P256": ("ec", "secp256r1"), "EC_P384": ("ec", "secp384r1"),
    "EC_P521": ("ec", "secp521r1"), "EC_SECP256K1": ("ec", "secp256k1"),
}
FIELD_BYTES = {"secp256r1": 32, "secp384r1": 48, "secp521r1": 66, "secp256k1": 32}


def tlv(data, at):
    """(tag, start of the value, end of the value) of the DER element at `at`."""
    tag, first = data[at], data[at + 1]
    if first < 0x80:
        return tag, at + 2, at + 2 + first
    n = first & 0x7F
    assert 1 <= n <= 2 and data[at + 2] != 0, "a non-minimal DER length"
    length = int.from_bytes(data[at + 2:at + 2 + n], "big")
    assert length >= 0x80, "a non-minimal DER length"
    return tag, at + 2 + n, at + 2 + n + length


def main():
    material = open(sys.argv[1], "rb").read()
    kind, size = SPECS[sys.argv[2]]
    expected_public = serialization.load_pem_public_key(open(sys.argv[3], "rb").read())
    tag, start, end = tlv(material, 0)
    assert tag == 0x30, "not a SEQUENCE"
    assert end == len(material), f"{len(material) - end} bytes after the PrivateKeyInfo"
    key = serialization.load_der_private_key(material, password=None)
    if kind == "rsa":
        assert isinstance(key, rsa.RSAPrivateKey), type(key)
        assert key.key_size == size, key.key_size
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey), type(key)
        assert key.curve.name == size, key.curve.name
        # PrivateKeyInfo: version, AlgorithmIdentifier, OCTET STRING { ECPrivateKey }.
        _, v_start, v_end = tlv(material, start)
        _, _, alg_end = tlv(material, v_end)
        tag, inner, _ = tlv(material, alg_end)
        assert tag == 0x04, "privateKey is not an OCTET STRING"
        tag, seq, _ = tlv(material, inner)
        assert tag == 0x30, "ECPrivateKey is not a SEQUENCE"
        tag, ver, ver_end = tlv(material, seq)
        assert (tag, material[ver:ver_end]) == (0x02, b"\x01"), "ECPrivateKey version is not 1"
        tag, scalar, scalar_end = tlv(material, ver_end)
        assert tag == 0x04, "ECPrivateKey privateKey is not an OCTET STRING"
        assert scalar_end - scalar == FIELD_BYTES[size], "the private key is not of the curve's size (RFC 5915)"
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = expected_public.public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki == expected, "the private key's public key is not public.pem"
    print(json.dumps({"len": len(material), "spki_sha256": hashlib.sha256(spki).hexdigest()}))


if __name__ == "__main__":
    main()
