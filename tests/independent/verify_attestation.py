#!/usr/bin/python3
"""An independent check of a Marvell LiquidSecurity key attestation, written from the format
description alone (Google's verify_attestation_chains.py rules, the blob layout of
tests/fixtures/attest/FIELDS.md), sharing no code with keyrite.

    verify_attestation.py ATTESTATION.json WRAPPING_KEY.pem \
        --marvell-root PEM [--google-root PEM] [--microsoft-root PEM]

ATTESTATION.json is a Google import job (gcloud kms import-jobs describe --format=json) or what
`az keyvault key get-attestation` prints. Each root file holds a PEM public key (or certificate);
each option may repeat. Prints a JSON verdict: {"verdict": "attested", "handle", ...} (exit 0)
or {"verdict": "refused", "link", "reason"} (exit 1).

Links: format, chain, unused, key-mismatch, blob, signature, attribute, wrapping-key.
"""

import argparse
import base64
import gzip
import hashlib
import json
import struct
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_BLOB = 64 * 1024
SIG_LEN = 256

CKA_CLASS, CKA_KEY_TYPE = 0x0, 0x100
CKA_MODULUS, CKA_PUBLIC_EXPONENT = 0x120, 0x122
REQUIRED = {
    0x162: ("CKA_EXTRACTABLE", 0),
    0x164: ("CKA_NEVER_EXTRACTABLE", 1),
    0x163: ("CKA_LOCAL", 1),
    0x165: ("CKA_ALWAYS_SENSITIVE", 1),
    0x103: ("CKA_SENSITIVE", 1),
    0x107: ("CKA_UNWRAP", 1),
}


class Refused(Exception):
    def __init__(self, link, reason):
        super().__init__(reason)
        self.link = link
        self.reason = reason


def spki(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_root(path):
    data = open(path, "rb").read()
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def pem_certs(texts):
    certs = []
    for text in texts:
        for block in text.split("-----END CERTIFICATE-----")[:-1]:
            certs.append(
                x509.load_pem_x509_certificate(
                    (block.strip() + "\n-----END CERTIFICATE-----\n").encode()
                )
            )
    return certs


def signed_by(cert, key):
    """Whether `key` made cert's sha256WithRSAEncryption signature."""
    if cert.signature_algorithm_oid != x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256:
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(
            cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256()
        )
        return True
    except InvalidSignature:
        return False


class Pool:
    """One list of certificates; every one must be placed."""

    def __init__(self, name, certs, roots):
        self.name = name
        self.certs = certs
        root_keys = {spki(r) for r in roots}
        self.used = [spki(c.public_key()) in root_keys for c in certs]

    def take(self, what, keys, issuer_cert=None):
        found = [
            i
            for i, c in enumerate(self.certs)
            if not self.used[i]
            and any(signed_by(c, k) for k in keys)
            and (issuer_cert is None or c.issuer == issuer_cert.subject)
        ]
        if len(found) != 1:
            raise Refused(
                "chain", f"{self.name}: {len(found)} candidates for the {what} certificate"
            )
        self.used[found[0]] = True
        return self.certs[found[0]]

    def finish(self):
        for i, used in enumerate(self.used):
            if not used:
                raise Refused(
                    "unused",
                    f"{self.name}: certificate {i + 1} ({self.certs[i].subject.rfc4514_string()}) is not part of the chains",
                )


def b64(text):
    text = text.strip()
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_blob(raw):
    if len(raw) > MAX_BLOB:
        raise Refused("blob", "blob too large")
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=__import__("io").BytesIO(raw)) as f:
                raw = f.read(MAX_BLOB + 1)
        except (OSError, EOFError) as e:
            raise Refused("blob", f"gzip: {e}")
        if len(raw) > MAX_BLOB:
            raise Refused("blob", "blob too large once decompressed")
    if len(raw) < 16 + 8 + SIG_LEN:
        raise Refused("blob", "blob too short")
    code, _flags, total, buffer = struct.unpack(">4I", raw[:16])
    if code != 0 or total != len(raw):
        raise Refused("blob", "bad response header")
    start = total - (buffer + SIG_LEN)
    if start < 16 or buffer < 8:
        raise Refused("blob", "bad buffer size")
    data = raw[start : len(raw) - SIG_LEN]
    _version, _iflags, first, second = struct.unpack(">4H", data[:8])
    spans = [(first, second if second else len(data))]
    if second:
        spans.append((second, len(data)))
    objects = []
    for begin, end in spans:
        if begin < 8 or begin > end or end > len(data):
            raise Refused("blob", "object outside the data")
        body = data[begin:end]
        if len(body) < 12:
            raise Refused("blob", "object header outside the data")
        handle, count, size = struct.unpack(">3I", body[:12])
        at, attrs = 12, {}
        for _ in range(count):
            if at + 8 > len(body):
                raise Refused("blob", "attribute outside its object")
            kind, length = struct.unpack(">2I", body[at : at + 8])
            if at + 8 + length > len(body):
                raise Refused("blob", "attribute outside its object")
            if kind in attrs:
                raise Refused("blob", f"attribute {kind:#x} twice")
            attrs[kind] = body[at + 8 : at + 8 + length]
            at += 8 + length
        if at != len(body) or size != at - 12:
            raise Refused("blob", "object size does not match its attributes")
        objects.append((handle, attrs))
    return raw[: len(raw) - SIG_LEN], raw[len(raw) - SIG_LEN :], objects


def check_blob(text, partition_key):
    signed, signature, objects = parse_blob(b64(text))
    try:
        partition_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Refused("signature", "the blob is not signed by the partition key")
    return objects


def of_class(objects, cls):
    for handle, attrs in objects:
        if int.from_bytes(attrs.get(CKA_CLASS, b"\xff"), "big") == cls:
            return handle, attrs
    return None


def marvell_chain(pool, marvell_roots):
    card = pool.take("Marvell card", marvell_roots)
    partition = pool.take("Marvell partition", [card.public_key()], issuer_cert=card)
    return card, partition


def check_google(att, roots):
    if att.get("format") != "CAVIUM_V2_COMPRESSED":
        raise Refused("format", f"format {att.get('format')}")
    chains = att["certChains"]
    if set(chains) - {"caviumCerts", "googleCardCerts", "googlePartitionCerts"}:
        raise Refused("format", "unknown certificate list")
    cavium = Pool("caviumCerts", pem_certs(chains["caviumCerts"]), roots["marvell"])
    card, partition = marvell_chain(cavium, roots["marvell"])
    cavium.finish()
    owners = []
    for name, what in [("googleCardCerts", "Google card"), ("googlePartitionCerts", "Google partition")]:
        pool = Pool(name, pem_certs(chains[name]), roots["google"])
        owners.append(pool.take(what, roots["google"]))
        pool.finish()
    for owner, maker in zip(owners, [card, partition]):
        if spki(owner.public_key()) != spki(maker.public_key()):
            raise Refused("key-mismatch", f"{owner.subject.rfc4514_string()} certifies another key")
    objects = check_blob(att["content"], partition.public_key())
    private, public = of_class(objects, 3), of_class(objects, 2)
    return partition, private, [private, public]


def check_azure(att, roots):
    if att.get("version") != "MRVL-1":
        raise Refused("format", f"version {att.get('version')}")
    bundle = att["certificatePemFile"]
    if "-----BEGIN" not in bundle:
        bundle = b64(bundle).decode()
    certs = pem_certs([bundle])
    pool = Pool("certificatePemFile", certs, roots["marvell"] + roots["microsoft"])
    card, partition = marvell_chain(pool, roots["marvell"])
    if roots["microsoft"]:
        owner = pool.take("Microsoft partition", roots["microsoft"])
    else:
        # The partition root the bundle itself carries: self-signed, and it issued a
        # certificate for the partition key.
        owner = None
        for i, c in enumerate(certs):
            if pool.used[i] or spki(c.public_key()) != spki(partition.public_key()):
                continue
            for j, r in enumerate(certs):
                if j != i and not pool.used[j] and signed_by(r, r.public_key()) and signed_by(c, r.public_key()) and c.issuer == r.subject:
                    pool.used[i] = pool.used[j] = True
                    owner = c
                    break
            if owner:
                break
        if owner is None:
            raise Refused("chain", "no Microsoft partition certificate under a root the bundle carries")
    pool.finish()
    if spki(owner.public_key()) != spki(partition.public_key()):
        raise Refused("key-mismatch", "the Microsoft partition certificate certifies another key")
    private = of_class(check_blob(att["privateKeyAttestation"], partition.public_key()), 3)
    keys = [private]
    if att.get("publicKeyAttestation"):
        keys.append(of_class(check_blob(att["publicKeyAttestation"], partition.public_key()), 2))
    return partition, private, keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("attestation")
    parser.add_argument("wrapping_key")
    for role in ["marvell", "google", "microsoft"]:
        parser.add_argument(f"--{role}-root", action="append", default=[])
    args = parser.parse_args()
    roots = {
        "marvell": [load_root(p) for p in args.marvell_root],
        "google": [load_root(p) for p in args.google_root],
        "microsoft": [load_root(p) for p in args.microsoft_root],
    }
    wrapping = serialization.load_pem_public_key(open(args.wrapping_key, "rb").read())
    doc = json.load(open(args.attestation))
    try:
        if "attestation" in doc and "certChains" in (doc["attestation"] or {}):
            if doc.get("protectionLevel") != "HSM":
                raise Refused("format", "not an HSM import job")
            partition, private, keys = check_google(doc["attestation"], roots)
        else:
            att = (doc.get("attributes") or {}).get("attestation") or doc.get("attestation")
            partition, private, keys = check_azure(att, roots)
        if private is None or any(k is None for k in keys):
            raise Refused("blob", "no private (or public) key object")
        handle, attrs = private
        if int.from_bytes(attrs.get(CKA_KEY_TYPE, b"\xff"), "big") != 0:
            raise Refused("attribute", "CKA_KEY_TYPE is not CKK_RSA")
        for kind, (name, want) in REQUIRED.items():
            if attrs.get(kind) != bytes([want]):
                raise Refused("attribute", f"{name} is not {bool(want)}")
        numbers = wrapping.public_numbers()
        for _, a in keys:
            n = int.from_bytes(a.get(CKA_MODULUS, b""), "big")
            e = int.from_bytes(a.get(CKA_PUBLIC_EXPONENT, b""), "big")
            if (n, e) != (numbers.n, numbers.e):
                raise Refused("wrapping-key", "the attested key is not the wrapping key")
    except Refused as r:
        print(json.dumps({"verdict": "refused", "link": r.link, "reason": r.reason}))
        return 1
    print(
        json.dumps(
            {
                "verdict": "attested",
                "handle": handle,
                "partition_key_sha256": hashlib.sha256(spki(partition.public_key())).hexdigest(),
                "wrapping_key_sha256": hashlib.sha256(spki(wrapping)).hexdigest(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
