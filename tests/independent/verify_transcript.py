#!/usr/bin/python3
"""An independent check of a keyrite ceremony transcript.

    verify_transcript.py TRANSCRIPT SIGNER_PEM (--policy POLICY | --no-policy) [OUTPUTS_DIR]

Written from the transcript format alone, with Python's standard library and `cryptography`; it
shares no code with keyrite and never runs it, so an auditor need not trust keyrite to use it.
It checks every line's shape, the sequence numbers, the SHA-256 hash chain, where the finish,
seal and witness lines stand, the record's structure (only the step names keyrite records;
exactly one finish line, followed only by the seal; a failure line if and only if the finish
says "failed"; resumed lines only under a resume line naming the interrupted record by
data.sha256, and only for a generated key; a restored line only after the restore line of the
same key, one for one, a completed finish only once each restore line has its restored line,
and each line's data fitting its step: exactly the fields that step's data holds, none missing
(a field that may be null is there, as null) and none other, each of its type, as deep as it
goes; witness lines too; and batches (group commit, check_batches): a batch line's steps
within [first, first+max_steps) in plan order, no destroy inside, its commit line's first, last
and outputs those of the batch, the wrapped and rewrapped lines after it in order, before any
other step), that each key label has one KCV and one full check value (data.check_sha256, or none)
wherever the record names it, and the seal: its signer against SIGNER_PEM's
fingerprint and its signature over the chain head: low-S ECDSA P-256, or RSA-PSS 3072 (SHA-256,
MGF1-SHA-256, salt 32) from a token without EC. Each witness line's SSH
signature (PROTOCOL.sshsig, Ed25519, ECDSA or RSA keys) must verify over the seal under the key
it carries, whose fingerprint must be the recorded key_fingerprint; with a policy, the key must
be a witness of it by that name. With --policy POLICY (the policy TOML, read with
tomllib) it also checks that the transcript's policy line records the SHA-256 of that file, that
the seal's signer is the policy's signer_fingerprint, that the token line records the module
the policy pins (module_sha256 against data.module_sha256, module_path against data.module),
that with require_trusted_wrapping every generate step of the recorded plan has
wrap_with_trusted and every generated key's template CKA_WRAP_WITH_TRUSTED "true", that each
witness is a witness of the policy (its inline [[witnesses]]), and that at least
witnesses_required of them co-signed (fewer: exit 3). A policy that lists one key twice,
however it is written (an Ed25519 or P-256 key and its sk- twin are one key), as two custodians,
two witnesses, or a witness who is a custodian, is refused (exit 2). It does not check the custodians'
approvals (SSH signatures); scripts/verify-with-openssl does, with ssh-keygen. Without a policy
(--no-policy: one of the two must be given) nothing says a quorum approved the record, so the
best verdict is NOT APPROVED (exit 4), never 0.

It prints one line per check and a verdict (line numbers count from 1, as editors, sed -n Np
and grep -n count; seq counts from 0), and exits with the same codes as
scripts/verify-with-openssl:
  0  every check passed, with --policy: a sealed record of a completed ceremony
  4  every check passed, but --no-policy: a sealed record of a completed ceremony that nothing
     here says a quorum approved ("NOT APPROVED (no policy: quorum not checked)")
  3  an intact record that is not a completed ceremony: every line valid and chained but no
     seal (an unsealed prefix: a crash, a truncated file), or sealed and valid with a finish
     line that says "failed", or fewer witnesses than the policy's witnesses_required
  1  invalid: anything else
  2  usage error: wrong arguments (neither --policy nor --no-policy), a file that cannot be
     read, a SIGNER_PEM that is not a ceremony signer's public key by keyrite's rule (signer_der
     and signer_key: one PEM block of the canonical DER of an ECDSA P-256 or RSA 3072 key), a
     POLICY that is not TOML, an OUTPUTS_DIR under which none of the output directories the
     transcript records is ("no outputs found under ...": a wrong path, not altered outputs;
     INVALID, 1, if the transcript is invalid anyway)

All three verifiers read JSON the same strict way (RFC 8259: no NaN or Infinity, no duplicate
keys, no lone surrogate escapes, valid UTF-8), refuse a line nested deeper than 64 levels, and
accept only canonical integers within 64 bits (-?(0|[1-9][0-9]*), not -0, -2^63 .. 2^64-1: no
fraction, no exponent), so that they give the same verdict on the same bytes. And all three
take a line only in keyrite's encoding, the one byte form keyrite writes for it: compact JSON
(no whitespace between tokens), every object's keys in order (sorted by code point, at every
depth), strings escaped as keyrite escapes them (only ", \\ and control characters: \\b \\f \\n
\\r \\t, other control characters as \\u00xx in lowercase hex; never \\/, never an escaped
character keyrite writes as itself), and a field keyrite leaves out when empty (left_out_when in STRUCTS)
left out, never written as null, 0 or {}. A seal or witness line re-encoded, which no signature
covers, would otherwise be a second line for one seal, with another SHA-256 for witnesses to sign.
"""

import base64
import calendar
import hashlib
import json
import os
import re
import stat
import sys
import tomllib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

USAGE = "usage: verify_transcript.py TRANSCRIPT SIGNER_PEM (--policy POLICY | --no-policy) [OUTPUTS_DIR]"

LINE_KEYS = frozenset({"v", "seq", "time", "step", "actor", "data", "prev"})
SEAL_KEYS = frozenset({"v", "seq", "time", "step", "prev", "signer", "signature"})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_DEPTH = 64

HEX64 = re.compile(r"[0-9a-f]{64}")
BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
TIME = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9])(\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
# Bytes that may not appear raw in a line: C0 controls but tab and CR (JSON allows those as
# whitespace between tokens; a newline ends the line).
RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
# keyrite's encoding: a string token, each escape in one, and the escapes keyrite writes.
STRING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"')
ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|.)")
WRITTEN_ESCAPE = re.compile(r'\\(?:["\\bfnrt]|u00(?:0[0-7bef]|1[0-9a-f]))')

CHECKS = [
    "file", "json", "shape", "seq", "chain", "order", "structure", "kcv", "signer", "signature", "policy", "approvals",
    "witnesses", "outputs", "outcome",
]
# What each step's data holds, written from the transcript format (keyrite's
# src/transcript/entry.rs is its reference): a step's data is one of the STRUCTS, which names
# every field it may hold (no other field is allowed) as (type, presence). A type is one of
# "string", "bool", "usize" (an integer 0 .. 2^64-1), "u8" (an integer 0 .. 255), the name of a
# struct or a tagged union, ("list", T), ("map", T) (an object whose values are T), or
# ("null or", T). Presence is REQUIRED (the field is there, even when it may be null) or
# left_out_when(EMPTY): keyrite leaves the field out when it is EMPTY (null, 0 or {}), so it is
# either absent or there with another value, never there as EMPTY.
REQUIRED = True
STRING, BOOL, USIZE, U8 = "string", "bool", "usize", "u8"
# Any JSON value: an attestation's record and evidence, which keyrite's own verify checks again.
JSON = "json"


def required(*fields):
    return {name: (kind, REQUIRED) for name, kind in fields}


def left_out_when(empty):
    return ("left out when", empty)


def null_or(kind):
    return ("null or", kind)


STRUCTS = {
    "Person": required(("name", STRING), ("key_fingerprint", STRING)),
    "FileDigest": required(("file", STRING), ("sha256", STRING)),
    "NamedDigest": required(("name", STRING), ("sha256", STRING)),
    "Approval": required(("custodian", STRING), ("key_fingerprint", STRING), ("file", STRING), ("signature", STRING)),
    "Rejected": required(("file", STRING), ("reason", STRING)),
    "Key": {
        **required(
            ("label", STRING), ("id", STRING), ("spec", STRING), ("kcv", null_or(STRING)), ("kcv_method", STRING),
            ("check_sha256", null_or(STRING)), ("template", ("map", STRING)),
        ),
        "check_values": (("map", STRING), left_out_when({})),
        "discarded": (USIZE, left_out_when(0)),
    },
    "FinishFailure": {"step": (USIZE, left_out_when(None)), "error": (STRING, REQUIRED)},
    "Settled": required(("label", STRING), ("kcv", null_or(STRING)), ("fate", STRING)),
    "Source": required(("label", STRING), ("serial", STRING)),
    "RecordedTranscript": required(
        ("transcript", STRING), ("sha256", STRING), ("chain_head", STRING), ("signer_fingerprint", STRING),
        ("token_label", STRING), ("token_serial", STRING),
    ),
    "ExpectedKcv": required(("value", STRING)),
    "RestoredKey": required(("label", STRING), ("id", STRING), ("spec", STRING), ("kcv", STRING), ("kcv_method", STRING)),
    "RootsFile": required(("path", STRING), ("sha256", STRING), ("text", STRING)),
    "policy": required(
        ("file", STRING), ("sha256", STRING), ("threshold", USIZE), ("custodians", ("list", "Person")),
        ("witnesses", ("list", "Person")), ("signer_fingerprint", STRING), ("token_serial", null_or(STRING)),
        ("custodians_file", null_or("FileDigest")), ("module_sha256", null_or(STRING)),
        ("module_path", null_or(STRING)), ("require_trusted_wrapping", BOOL), ("witnesses_required", USIZE),
    ),
    "plan": required(
        ("ceremony_id", STRING), ("operator", STRING), ("file", STRING), ("sha256", STRING), ("text", STRING),
        ("digest_statement", STRING), ("files", ("list", "NamedDigest")), ("steps", ("list", STRING)),
    ),
    "approvals": required(
        ("approvals", ("list", "Approval")), ("rejected", ("list", "Rejected")), ("missing", ("list", STRING)),
        ("threshold", USIZE),
    ),
    "token": required(
        ("module", STRING), ("module_sha256", STRING), ("keyrite_path", STRING), ("keyrite_sha256", STRING),
        ("library", STRING), ("label", STRING), ("serial", STRING), ("manufacturer", STRING), ("model", STRING),
        ("firmware", STRING), ("signer_label", STRING), ("signer_fingerprint", STRING),
    ),
    "login": {"pin": (STRING, REQUIRED), "share_indexes": (("list", U8), left_out_when(None))},
    "resume": required(("from", STRING), ("sha256", STRING), ("lines", USIZE), ("keys", ("list", STRING))),
    "resumed": required(("index", USIZE), ("action", STRING), ("key", "Key")),
    "attestation": required(
        ("index", USIZE), ("wrapping_key", STRING), ("wrapping_key_sha256", STRING), ("record", JSON),
        ("evidence", null_or(JSON)), ("roots_file", null_or("RootsFile")),
    ),
    "check": required(("index", USIZE), ("algorithm", STRING), ("mechanism", STRING), ("result", STRING)),
    "marker": required(("label", STRING), ("value", STRING)),
    "batch": required(("first", USIZE), ("max_steps", USIZE), ("max_ms", USIZE), ("sessions", USIZE)),
    "commit": required(("first", USIZE), ("last", USIZE), ("outputs", USIZE)),
    "generate": required(("index", USIZE), ("key_label", STRING), ("key_spec", STRING)),
    "generated": required(("index", USIZE), ("key", "Key")),
    "wrap": required(
        ("index", USIZE), ("key_label", STRING), ("provider", STRING), ("kms_key_id", STRING), ("algorithm", STRING),
        ("mechanism", STRING), ("mechanism_parameters", STRING), ("wrapping_key_sha256", STRING),
        ("parameters_valid_to", null_or(STRING)), ("key_material_valid_to", null_or(STRING)), ("out", STRING),
    ),
    "wrapped": required(
        ("index", USIZE), ("key_label", STRING), ("kcv", null_or(STRING)), ("check_sha256", null_or(STRING)),
        ("out", STRING), ("files", ("map", STRING)), ("warning", null_or(STRING)),
    ),
    "destroy": {
        "index": (USIZE, left_out_when(None)),
        **required(("key_label", STRING), ("kcv", null_or(STRING)), ("check_sha256", null_or(STRING))),
        "why": (STRING, left_out_when(None)),
    },
    "destroyed": required(
        ("index", USIZE), ("key_label", STRING), ("kcv", null_or(STRING)), ("check_sha256", null_or(STRING)),
    ),
    "failure": {"index": (USIZE, left_out_when(None)), **required(("action", STRING), ("error", STRING))},
    "finish": required(("outcome", STRING), ("failure", null_or("FinishFailure")), ("keys", ("list", "Settled"))),
    "witness": required(("name", STRING), ("key_fingerprint", STRING), ("message", STRING), ("signature", STRING)),
    "request": required(
        ("provider", STRING), ("params", STRING), ("params_sha256", STRING), ("algorithm", STRING),
        ("key_label", STRING), ("key_spec", STRING), ("wrap_with_trusted", BOOL), ("out", STRING),
        ("key_material_valid_to", null_or(STRING)),
    ),
    "restore": required(
        ("backup", STRING), ("key_label", STRING), ("files", ("map", STRING)), ("manifest_sha256", STRING),
        ("source", "Source"), ("algorithm", STRING), ("backup_key_sha256", STRING), ("provenance", "Provenance"),
    ),
    "restored": required(
        ("key", "RestoredKey"), ("matched", ("map", STRING)), ("check_sha256", null_or(STRING)),
        ("expected", null_or(STRING)),
    ),
}
# A tagged union: the field that names the kind, and each kind's struct (which holds the rest).
UNIONS = {"Provenance": ("by", {"transcript": "RecordedTranscript", "expected_kcv": "ExpectedKcv"})}
# Each step's data, by the step's name; the seal line has no data.
STEP_DATA = {
    step: step
    for step in "policy plan approvals token login resume resumed attestation check marker batch commit generate generated "
    "wrap wrapped "
    "destroy destroyed failure finish witness request restore restored".split()
}
STEP_DATA.update(rewrap="wrap", rewrapped="wrapped")
KNOWN_STEPS = frozenset(STEP_DATA) | {"seal"}
# The order of the P-256 group: a seal's s must be at most half of it (low-S).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Usage(Exception):
    pass


class BadJson(Exception):
    pass


def show(value, limit=80):
    """A value for a message: as JSON, so control characters cannot reach the terminal."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= limit else text[:limit] + "..."


def _pairs(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise BadJson(f"duplicate key {show(key)}")
        seen.add(key)
    return dict(pairs)


def _constant(name):
    raise BadJson(f"{name} is not JSON")


INT_MIN, INT_MAX = -(2**63), 2**64 - 1


def _int(text):
    """An integer as written: canonical (no -0) and within 64 bits, as every verifier requires."""
    value = int(text)
    if text == "-0" or not INT_MIN <= value <= INT_MAX:
        raise BadJson(f"the number {text[:40]} is not a canonical integer (digits only, no fraction, exponent or -0, within 64 bits)")
    return value


def _float(text):
    raise BadJson(f"the number {text[:40]} is not a canonical integer (digits only, no fraction, exponent or -0, within 64 bits)")


def _walk(value):
    """Depth of value (a scalar is 0, [] is 1) and whether any string holds a lone surrogate."""
    depth, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                raise BadJson("a string holds a lone UTF-16 surrogate escape")
        elif isinstance(item, dict):
            depth = max(depth, level)
            for key, child in item.items():
                stack.append((key, level + 1))
                stack.append((child, level + 1))
        elif isinstance(item, list):
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in item)
    return depth


def parse_line(raw):
    """A line's bytes (without the newline) as a JSON object; BadJson says why not."""
    if RAW_CONTROL.search(raw):
        raise BadJson("holds a raw control character")
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadJson("not valid UTF-8") from None
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_int=_int, parse_float=_float
        )
    except BadJson:
        raise
    except RecursionError:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # JSONDecodeError is one
        raise BadJson(f"not JSON ({e})") from None
    if not isinstance(value, dict):
        raise BadJson(f"a JSON {type(value).__name__}, not an object")
    if _walk(value) > MAX_DEPTH:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels")
    return value


def encoding_problem(raw, obj):
    """How a line (its bytes, parsed as obj) is not in keyrite's encoding (see the top), or None.
    Whether a field keyrite leaves out when empty is there is the data's check (check_data)."""
    text = raw.decode("utf-8")
    if re.search(r"[ \t\r]", STRING_TOKEN.sub('""', text)):
        return "whitespace between tokens"
    if any(not WRITTEN_ESCAPE.fullmatch(m.group()) for m in ESCAPE.finditer(text)):
        return (
            'a string escape keyrite does not write (it escapes only ", \\ and control characters: '
            "\\b \\f \\n \\r \\t, others as \\u00xx in lowercase hex)"
        )
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if list(item) != sorted(item):
                return "keys out of order"
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def is_number(value):
    return type(value) in (int, float)


def rfc3339(value):
    if not isinstance(value, str):
        return False
    m = TIME.fullmatch(value)
    if not m:
        return False
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return day <= calendar.monthrange(year, month)[1]


def shape_problem(obj):
    """What is wrong with a parsed line's keys and field types, or None."""
    step = obj.get("step")
    want = SEAL_KEYS if step == "seal" else LINE_KEYS
    keys = set(obj)
    if keys != want:
        missing = sorted(want - keys)
        extra = sorted(keys - want)
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if extra:
            parts.append("unexpected " + ", ".join(show(k) for k in extra))
        kind = "a seal line" if step == "seal" else "a line"
        return f"{kind} must have exactly the keys {', '.join(sorted(want))}: " + "; ".join(parts)
    if not (is_number(obj["v"]) and obj["v"] == 1):
        return f"v is {show(obj['v'])}, not 1"
    if not is_number(obj["seq"]):
        return f"seq is {show(obj['seq'])}, not a number"
    if not rfc3339(obj["time"]):
        return f"time {show(obj['time'])} is not an RFC 3339 time"
    if not isinstance(step, str):
        return f"step is {show(step)}, not a string"
    if not (isinstance(obj["prev"], str) and HEX64.fullmatch(obj["prev"])):
        return f"prev {show(obj['prev'])} is not 64 lowercase hex digits"
    if step == "seal":
        if not (isinstance(obj["signer"], str) and HEX64.fullmatch(obj["signer"])):
            return f"signer {show(obj['signer'])} is not 64 lowercase hex digits"
        if not (isinstance(obj["signature"], str) and BASE64.fullmatch(obj["signature"])):
            return f"signature {show(obj['signature'])} is not standard base64"
    elif not isinstance(obj["actor"], str):
        return f"actor is {show(obj['actor'])}, not a string"
    return None


SIGNER_BEGIN = b"-----BEGIN PUBLIC KEY-----"
SIGNER_END = b"-----END PUBLIC KEY-----"
EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")
PRIME256V1 = bytes.fromhex("06082a8648ce3d030107")
RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")
RSASSA_PSS = bytes.fromhex("2a864886f70d01010a")


class BadSigner(Exception):
    """Why a signer file is not a ceremony signer's public key."""


def signer_der(pem):
    """The DER of a signer file's one PEM block: only whitespace (space, tab, CR, LF) around one
    -----BEGIN PUBLIC KEY----- block, lines ending in LF or CRLF, its body the standard base64 of
    the DER in lines of 64 characters (the last 1 to 64)."""
    if b"-----BEGIN RSA PUBLIC KEY-----" in pem:
        raise BadSigner("it is a PKCS#1 -----BEGIN RSA PUBLIC KEY----- block, where a signer's is "
                        "-----BEGIN PUBLIC KEY----- (SubjectPublicKeyInfo)")
    blocks = pem.count(b"-----BEGIN ")
    if blocks > 1:
        raise BadSigner(f"it holds {blocks} PEM blocks, where a signer's file holds one")
    lines = [line.removesuffix(b"\r") for line in pem.strip(b" \t\r\n").split(b"\n")]
    if lines[0] != SIGNER_BEGIN:
        raise BadSigner("it does not begin with -----BEGIN PUBLIC KEY----- (only whitespace may come before it)")
    if len(lines) < 2 or lines[-1] != SIGNER_END:
        raise BadSigner("it does not end with -----END PUBLIC KEY----- (only whitespace may come after it)")
    body = lines[1:-1]
    if not body or any(len(line) != 64 for line in body[:-1]) or not 1 <= len(body[-1]) <= 64:
        raise BadSigner("its base64 is not in lines of 64 characters (the last 1 to 64)")
    b64 = b"".join(body)
    try:
        der = base64.b64decode(b64, validate=True)
    except ValueError:
        raise BadSigner("its body is not canonical standard base64") from None
    if base64.b64encode(der) != b64:
        raise BadSigner("its body is not canonical standard base64")
    return der


def der_element(data, at, tag, what):
    """The value of the DER element of `tag` at `at` in `data`, and where the next one starts."""
    if at + 2 > len(data) or data[at] != tag:
        raise BadSigner(f"its DER is not {what}")
    length, at = data[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= 4 or at + size > len(data):
            raise BadSigner(f"its DER is not {what}")
        length, at = int.from_bytes(data[at:at + size], "big"), at + size
    if at + length > len(data):
        raise BadSigner(f"its DER is not {what}")
    return data[at:at + length], at + length


def signer_key(der):
    """The key of a signer's SubjectPublicKeyInfo DER: id-ecPublicKey on prime256v1 with an
    uncompressed point on the curve, or rsaEncryption with NULL parameters, an odd 3072-bit
    modulus and the exponent 65537; the DER exactly that key's canonical encoding."""
    spki, _ = der_element(der, 0, 0x30, "a SubjectPublicKeyInfo")
    algorithm, at = der_element(spki, 0, 0x30, "a SubjectPublicKeyInfo")
    bits, at = der_element(spki, at, 0x03, "a SubjectPublicKeyInfo")
    oid, params = der_element(algorithm, 0, 0x06, "a SubjectPublicKeyInfo")
    params = algorithm[params:]
    if at != len(spki) or not bits:
        raise BadSigner("its DER is not a SubjectPublicKeyInfo")
    unused, bits = bits[0], bits[1:]
    if oid == EC_PUBLIC_KEY:
        if params != PRIME256V1:
            raise BadSigner("an EC key whose parameters are not the named curve prime256v1 (P-256)")
        if bits[:1] in (b"\x02", b"\x03"):
            raise BadSigner("its EC point is compressed, where a signer's is uncompressed (04 || x || y)")
        if unused or len(bits) != 65 or bits[0] != 4:
            raise BadSigner("its EC point is not a point of P-256")
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bits)
        except ValueError:
            raise BadSigner("its EC point is not a point of P-256") from None
    elif oid == RSA_ENCRYPTION:
        if params != b"\x05\x00":
            raise BadSigner("its rsaEncryption algorithm has no NULL parameters")
        what = "an RSAPublicKey"
        if unused:
            raise BadSigner(f"its RSA public key is not {what}")
        numbers, _ = der_element(bits, 0, 0x30, what)
        n, at = der_element(numbers, 0, 0x02, what)
        e, at = der_element(numbers, at, 0x02, what)
        if not (n and e) or (n[0] | e[0]) & 0x80:
            raise BadSigner(f"its RSA public key is not {what}")
        n, e = int.from_bytes(n, "big"), int.from_bytes(e, "big")
        if n.bit_length() != 3072:
            raise BadSigner(f"an RSA key of {n.bit_length()} bits, where a keyrite signer's RSA key has 3072")
        if e != 65537:
            raise BadSigner(f"an RSA key of public exponent {e:#x}, where a keyrite signer's has 65537")
        if n % 2 == 0:
            raise BadSigner("its RSA modulus is even")
        key = rsa.RSAPublicNumbers(e, n).public_key()
    elif oid == RSASSA_PSS:
        raise BadSigner("its algorithm is id-RSASSA-PSS, where a signer's is id-ecPublicKey (ECDSA P-256) or rsaEncryption (RSA-PSS 3072)")
    else:
        raise BadSigner(f"its algorithm is the OID {oid.hex()} (hex), where a signer's is id-ecPublicKey (ECDSA P-256) or rsaEncryption (RSA-PSS 3072)")
    if key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != der:
        raise BadSigner("its DER is not the canonical encoding of its key (minimal lengths, nothing after it)")
    return key


def load_signer(path):
    """The signer's key and fingerprint (the SHA-256 of its SubjectPublicKeyInfo DER), by the one
    rule keyrite and scripts/verify-with-openssl apply to a signer file."""
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise Usage(f"cannot read the signer {path}: {e.strerror or e}") from None
    try:
        der = signer_der(pem)
        key = signer_key(der)
    except BadSigner as e:
        raise Usage(f"{path} is not a ceremony signer's public key: {e}") from None
    return key, hashlib.sha256(der).hexdigest()


def check_structure(lines):
    """Known steps only; one finish line, followed only by the seal; a failure line if and only if
    the finish says "failed"; resumed lines only under a resume line naming the interrupted record
    (data.sha256), and only for a generated key; a restored line only after the restore line of the
    same key (data.key.label against data.key_label), one for one, a completed finish only once
    each restore line has its restored line, and each line's data fitting its step (check_data).
    Returns a problem, or None."""
    finish = failure = resume = restoring = None
    for i, obj in enumerate(lines):
        step, data = obj["step"], obj["data"] if isinstance(obj.get("data"), dict) else {}
        if step not in KNOWN_STEPS:
            return f"line {i + 1}: unknown step {show(step)}: keyrite records no such step"
        if step == "finish" and finish is not None:
            return f"line {i + 1}: a second finish line (the first is line {finish + 1})"
        if finish is not None and i == finish + 1 and step != "seal":
            return f"line {i + 1}: a {show(step)} line after the finish line (line {finish + 1}): only the seal may follow it"
        if step == "finish":
            finish = i
        elif step == "failure" and failure is None:
            failure = i
        elif step == "resume" and resume is None:
            if isinstance(data.get("sha256"), str) and re.fullmatch(r"[0-9a-fA-F]{64}", data["sha256"]):
                resume = i
        elif step == "resumed":
            if resume is None:
                return f"line {i + 1}: a resumed line without a resume line before it naming the interrupted record (data.sha256)"
            if data.get("action") != "generate":
                return f"line {i + 1}: a resumed line with data.action {show(data.get('action'))}: a resume carries over only generated keys and re-does every wrap"
        elif step == "restore":
            if restoring is not None:
                return f"line {i + 1}: a second restore line before the restored line of the first (line {restoring[0] + 1})"
            restoring = (i, data.get("key_label"))
        elif step == "restored":
            if restoring is None:
                return f"line {i + 1}: a restored line without a restore line before it"
            key = data.get("key") if isinstance(data.get("key"), dict) else {}
            label = key.get("label")
            if not isinstance(restoring[1], str) or not isinstance(label, str) or label != restoring[1]:
                return f"line {i + 1}: a restored line for key {show(label)}, but the restore line (line {restoring[0] + 1}) restores {show(restoring[1])}"
            restoring = None
    if finish is not None:
        data = lines[finish]["data"] if isinstance(lines[finish]["data"], dict) else {}
        if restoring is not None and data.get("outcome") == "completed":
            return f"line {finish + 1}: the finish line says \"completed\", but the restore line (line {restoring[0] + 1}) has no restored line"
        if failure is not None and data.get("outcome") == "completed":
            return f"line {finish + 1}: a failure line (line {failure + 1}), but the finish line says \"completed\""
        if failure is None and data.get("outcome") == "failed":
            return f"line {finish + 1}: the finish line says \"failed\", but no failure line records why"
    return check_data(lines) or check_batches([(obj["step"], obj.get("data")) for obj in lines])


# A step's lines inside a batch: its announcement (or a resumed line), and the result that
# follows it at once (a generate step's) or after the batch's commit line (a wrap step's).
BATCHED_RESULT = {"generate": "generated", "wrap": "wrapped", "rewrap": "rewrapped"}


def check_batches(steps):
    """The lines of batches (group commit), given each line's (step, data) in order, data already
    fitting its step: a batch line with max_steps and sessions at least 1; inside it, until its
    commit line, only generate steps (generate then generated, or a resumed line) and wrap steps
    (wrap or rewrap, their results deferred), each of an index within [first, first+max_steps),
    in plan order (each index above the one before), and no destroy step; the commit line's first
    the batch's, its last the last step written in the batch, its outputs the number of wrap and
    rewrap lines; after it exactly those steps' wrapped and rewrapped lines, in order, before any
    other step line (a failure line may cut them short); a batch with steps but no commit line
    before the next batch, destroy or finish line is an error (a record that just ends is not).
    Outside a batch a step is its announcement and its result, as before batches, and is not
    checked here. Returns a problem, or None."""
    batch = None  # the open batch: its line, first, end (first + max_steps), and what it holds
    owed = None  # a generate step announced in a batch that committed the steps before it: its failure
    for i, (step, data) in enumerate(steps):
        where = f"line {i + 1} ({step})"
        if owed is not None and batch is None:
            if step == "failure":
                owed = None
                continue
            if step in STEP_LINES:
                return f"{where}: step {owed} was announced and its batch committed without it, so its failure is due"
            continue
        if batch is not None and batch["pending"] is not None:
            # After the commit line: the deferred results, in order.
            if step in ("wrapped", "rewrapped") and batch["pending"]:
                want, index = batch["pending"][0]
                if step != want or data["index"] != index:
                    return (
                        f"{where}: a {step} line for step {data['index']}, but after the commit line (line "
                        f"{batch['commit'] + 1}) the next result due is {want} for step {index}"
                    )
                batch["pending"].pop(0)
                if not batch["pending"]:
                    batch = None
                continue
            if step == "failure":
                # The commit round or a move failed, at the result due at most (or a wrap
                # recorded before it); its failure stands for a generate step's owed one too.
                index = data.get("index")
                if index is None or index > batch["pending"][0][1]:
                    return (
                        f"{where}: a failure of step {index}, but after the commit line (line "
                        f"{batch['commit'] + 1}) the next result due is {batch['pending'][0][0]} for step {batch['pending'][0][1]}"
                    )
                batch, owed = None, None
                continue
            if step in STEP_LINES:
                due = batch["pending"][0]
                return (
                    f"{where}: before the results of the batch of line {batch['line'] + 1} (its commit line, line "
                    f"{batch['commit'] + 1}, is still owed {due[0]} for step {due[1]} and after)"
                )
            continue
        if batch is not None:
            # Inside the batch, before its commit line.
            if step in ("generate", "wrap", "rewrap", "resumed"):
                if batch["open"] is not None:
                    return f"{where}: a new step before the generated line of step {batch['open']} (a generate step's lines follow each other)"
                index = data["index"]
                if not batch["first"] <= index < batch["end"]:
                    return (
                        f"{where}: step {index} inside the batch of line {batch['line'] + 1}, which covers steps "
                        f"{batch['first']} to {batch['end'] - 1} (first {batch['first']}, max_steps {batch['end'] - batch['first']})"
                    )
                if batch["last"] is not None and index <= batch["last"]:
                    return f"{where}: step {index} after step {batch['last']} in the batch of line {batch['line'] + 1}: not in plan order"
                batch["before_open"] = batch["last"]
                batch["last"] = index
                if step == "generate":
                    batch["open"] = index
                elif step in ("wrap", "rewrap"):
                    batch["wraps"].append((BATCHED_RESULT[step], index))
                continue
            if step == "generated":
                if batch["open"] != data["index"]:
                    return f"{where}: a generated line for step {data['index']} in the batch of line {batch['line'] + 1} not right after its generate line"
                batch["open"] = None
                continue
            if step in ("wrapped", "rewrapped"):
                return f"{where}: a {step} line inside the batch of line {batch['line'] + 1} before its commit line: a batched wrap step's result follows the commit"
            if step in ("destroy", "destroyed"):
                if batch["last"] is not None:
                    return f"{where}: a destroy step inside the batch of line {batch['line'] + 1}, which has steps but no commit line"
                batch = None
            elif step == "commit":
                # A generate step the token failed: the steps before it are committed, then it fails.
                written = batch["last"] if batch["open"] is None else batch["before_open"]
                if batch["open"] is not None and written is None:
                    return f"{where}: a commit line before the generated line of step {batch['open']}, the batch's only step"
                if data["first"] != batch["first"]:
                    return f"{where}: commit.first is {data['first']}, but the batch (line {batch['line'] + 1}) has first {batch['first']}"
                if batch["last"] is None:
                    return f"{where}: a commit line for the batch of line {batch['line'] + 1}, which wrote no step"
                if data["last"] != written:
                    return f"{where}: commit.last is {data['last']}, but the last step written in the batch (line {batch['line'] + 1}) is {written}"
                if data["outputs"] != len(batch["wraps"]):
                    return f"{where}: commit.outputs is {data['outputs']}, but the batch (line {batch['line'] + 1}) holds {len(batch['wraps'])} wrap or rewrap line(s)"
                batch["commit"], batch["pending"] = i, list(batch["wraps"])
                owed = batch["open"]
                if not batch["pending"]:
                    batch = None
                continue
            elif step == "failure":
                # The batch's first step failed: nothing to commit (a generate step announced).
                if batch["last"] is None or (batch["open"] is not None and batch["before_open"] is None):
                    batch = None
                    continue
                return f"{where}: a failure line inside the batch of line {batch['line'] + 1}, which has steps but no commit line"
            elif step in ("batch", "finish"):
                if batch["last"] is not None:
                    return f"{where}: the batch of line {batch['line'] + 1} has steps but no commit line"
                batch = None
            else:
                continue
        if step == "commit":
            return f"{where}: a commit line without a batch line before it"
        if step == "batch":
            if data["max_steps"] < 1:
                return f"{where}: max_steps is {data['max_steps']}, not at least 1"
            if data["sessions"] < 1:
                return f"{where}: sessions is {data['sessions']}, not at least 1"
            batch = {"line": i, "first": data["first"], "end": data["first"] + data["max_steps"], "last": None,
                     "before_open": None, "open": None, "wraps": [], "commit": None, "pending": None}
    return None


# Every line of a step, batched or not.
STEP_LINES = frozenset(
    "batch commit generate generated resumed wrap rewrap wrapped rewrapped destroy destroyed finish".split()
)


def what(kind):
    """A type, in words."""
    if isinstance(kind, tuple):
        return {"list": "a list", "map": "an object", "null or": "null or " + what(kind[1])}[kind[0]]
    return {STRING: "a string", BOOL: "true or false", USIZE: f"an integer 0..{INT_MAX}", U8: "an integer 0..255"}.get(
        kind, "an object"
    )


def data_misfit(value, kind, path):
    """Why value, found at path, is not of kind (see STRUCTS), or None."""
    if kind == JSON:
        return None
    if isinstance(kind, tuple) and kind[0] == "null or":
        return None if value is None else data_misfit(value, kind[1], path)
    if isinstance(kind, tuple):
        container = list if kind[0] == "list" else dict
        if not isinstance(value, container):
            return f"{path} is {show(value)}, not {what(kind)}"
        items = enumerate(value) if kind[0] == "list" else ((show(k), v) for k, v in value.items())
        return next((why for k, v in items if (why := data_misfit(v, kind[1], f"{path}[{k}]"))), None)
    if kind in UNIONS:
        tag, kinds = UNIONS[kind]
        if not isinstance(value, dict):
            return f"{path} is {show(value)}, not an object"
        if tag not in value:
            return f"{path} has no field {tag}"
        if not isinstance(value[tag], str) or value[tag] not in kinds:
            return f"{path}.{tag} is {show(value[tag])}, not one of {', '.join(show(k) for k in kinds)}"
        return data_misfit({k: v for k, v in value.items() if k != tag}, kinds[value[tag]], path)
    if kind in STRUCTS:
        fields = STRUCTS[kind]
        if not isinstance(value, dict):
            return f"{path} is {show(value)}, not an object"
        unknown = [k for k in value if k not in fields]
        if unknown:
            return f"{path} has an unknown field {show(unknown[0])}"
        for name, (field_kind, presence) in fields.items():
            if name in value and presence is not REQUIRED and is_exactly(value[name], presence[1]):
                return (
                    f"not in keyrite's encoding: {path}.{name} is written as {show(presence[1])}, "
                    "where keyrite leaves the field out"
                )
            if name in value:
                why = data_misfit(value[name], field_kind, f"{path}.{name}")
                if why:
                    return why
            elif presence is REQUIRED:
                return f"{path} has no field {name}"
        return None
    fits = {
        STRING: isinstance(value, str),
        BOOL: isinstance(value, bool),
        USIZE: type(value) is int and 0 <= value <= INT_MAX,
        U8: type(value) is int and 0 <= value <= 255,
    }[kind]
    return None if fits else f"{path} is {show(value)}, not {what(kind)}"


def is_exactly(value, empty):
    """Whether value is empty (null, 0 or {}) itself: of its type (0 is not false) and equal."""
    return type(value) is type(empty) and value == empty


def check_data(lines):
    """Each line's data fits its step (STEP_DATA): every field the step's data holds, of its type,
    and no other, as deep as it goes. The first line whose data does not, and why, or None."""
    for i, obj in enumerate(lines):
        step = obj["step"]
        if step in STEP_DATA:
            why = data_misfit(obj["data"], STEP_DATA[step], "data")
            if why:
                return f"line {i + 1} ({step}): {why}"
    return None


def as_text(value):
    """A field as the KCV check compares it: a string, or "" for anything else (absent, null)."""
    return value if isinstance(value, str) else ""


def check_kcvs(lines):
    """The same key label has the same KCV, and the same full check value (check_sha256, or none),
    wherever a generated or resumed line's data.key, or a resumed, wrapped, rewrapped, destroy or
    destroyed line's data records it; the first such line fixes both. Returns a problem, or None."""
    known = {}
    for i, obj in enumerate(lines):
        step, data = obj["step"], obj["data"] if isinstance(obj.get("data"), dict) else {}
        if step == "generated" or (step == "resumed" and "key" in data):
            key = data.get("key") if isinstance(data.get("key"), dict) else {}
            label, kcv, full = key.get("label"), key.get("kcv"), key.get("check_sha256")
        elif step in ("resumed", "wrapped", "rewrapped", "destroy", "destroyed"):
            label, kcv, full = data.get("key_label"), data.get("kcv"), data.get("check_sha256")
        else:
            continue
        label, seen = as_text(label), (as_text(kcv), as_text(full))
        if label not in known:
            known[label] = seen
        elif known[label][0] != seen[0]:
            return f"line {i + 1}: key {show(label)} appears with another KCV"
        elif known[label][1] != seen[1]:
            return f"line {i + 1}: key {show(label)} appears with another full check value (check_sha256)"
    return None


class BadSshSig(Exception):
    pass


def _ssh_string(buf, at):
    if at + 4 > len(buf):
        raise BadSshSig("truncated")
    n = int.from_bytes(buf[at:at + 4], "big")
    if at + 4 + n > len(buf):
        raise BadSshSig("truncated")
    return buf[at + 4:at + 4 + n], at + 4 + n


def _ssh_fields(buf, count):
    out, at = [], 0
    for _ in range(count):
        value, at = _ssh_string(buf, at)
        out.append(value)
    return out, buf[at:]


def ssh_fingerprint(blob):
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def sshsig_verify(armored, namespace, message):
    """Verifies an armored SSH signature (PROTOCOL.sshsig) over message in namespace with the key
    it carries (Ed25519, ECDSA or RSA). Returns the key's public blob; BadSshSig says why not."""
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    text = armored.strip()
    head, tail = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
    if not (text.startswith(head) and text.endswith(tail)):
        raise BadSshSig("not an armored SSH signature")
    try:
        blob = base64.b64decode("".join(text[len(head):-len(tail)].split()), validate=True)
    except ValueError:
        raise BadSshSig("not base64") from None
    if blob[:6] != b"SSHSIG" or blob[6:10] != (1).to_bytes(4, "big"):
        raise BadSshSig("not an SSHSIG version 1 blob")
    (key, ns, reserved, hash_alg, sig), rest = _ssh_fields(blob[10:], 5)
    if rest:
        raise BadSshSig("trailing bytes")
    if ns != namespace.encode():
        raise BadSshSig(f"namespace {show(ns.decode(errors='replace'))}, not {namespace}")
    hashes_by_name = {b"sha256": hashes.SHA256(), b"sha512": hashes.SHA512()}
    if hash_alg not in hashes_by_name:
        raise BadSshSig("unknown hash algorithm")
    h = hashlib.new(hash_alg.decode(), message).digest()
    signed = b"SSHSIG" + b"".join(len(f).to_bytes(4, "big") + f for f in (namespace.encode(), reserved, hash_alg, h))
    (sig_type, sig_blob), rest = _ssh_fields(sig, 2)
    if rest:
        raise BadSshSig("trailing bytes in the signature")
    (key_type,), key_rest = _ssh_fields(key, 1)
    try:
        if key_type == b"ssh-ed25519" and sig_type == key_type:
            (pk,), _ = _ssh_fields(key_rest, 1)
            ed25519.Ed25519PublicKey.from_public_bytes(pk).verify(sig_blob, signed)
        elif key_type.startswith(b"ecdsa-sha2-nistp") and sig_type == key_type:
            curves = {b"nistp256": (ec.SECP256R1(), hashes.SHA256()), b"nistp384": (ec.SECP384R1(), hashes.SHA384()),
                      b"nistp521": (ec.SECP521R1(), hashes.SHA512())}
            (curve, q), _ = _ssh_fields(key_rest, 2)
            if curve not in curves:
                raise BadSshSig("unknown curve")
            (r, s), _ = _ssh_fields(sig_blob, 2)
            public = ec.EllipticCurvePublicKey.from_encoded_point(curves[curve][0], q)
            der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
            public.verify(der, signed, ec.ECDSA(curves[curve][1]))
        elif key_type == b"ssh-rsa" and sig_type in (b"rsa-sha2-256", b"rsa-sha2-512"):
            (e, n), _ = _ssh_fields(key_rest, 2)
            public = rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
            digest = hashes.SHA256() if sig_type == b"rsa-sha2-256" else hashes.SHA512()
            public.verify(sig_blob, signed, padding.PKCS1v15(), digest)
        else:
            raise BadSshSig(f"unsupported key or signature type {show(key_type.decode(errors='replace'))}")
    except (InvalidSignature, ValueError):
        raise BadSshSig("the signature does not verify") from None
    return key


def policy_keys(policy, field):
    """The (name, public key blob) of each of the policy's custodians or witnesses listed inline."""
    out = []
    for person in policy.get(field, []) if isinstance(policy.get(field), list) else []:
        try:
            out.append((person["name"], base64.b64decode(person["ssh_key"].split()[1], validate=True)))
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            continue
    return out


def check_witnesses(lines, raw_lines, seal, policy):
    """Each witness line's SSH signature verifies over the seal (namespace keyrite-witness) under
    the key it carries, whose fingerprint is the one recorded, and the actor is the name
    recorded; with POLICY, the key is a witness of it by that name; nobody signs twice.
    Returns (problem or None, names of the witnesses, how many)."""
    message = (hashlib.sha256(raw_lines[seal]).hexdigest() + "\n").encode()
    witnesses = policy_keys(policy[1], "witnesses") if policy else []
    custodians = policy_keys(policy[1], "custodians") if policy else []
    seen, names = set(), []
    for i in range(seal + 1, len(lines)):
        data = lines[i]["data"] if isinstance(lines[i]["data"], dict) else {}
        name, fp, sig = data.get("name"), data.get("key_fingerprint"), data.get("signature")
        if not isinstance(sig, str):
            return f"line {i + 1}: the witness signature is not an SSH signature", names
        try:
            key = sshsig_verify(sig, "keyrite-witness", message)
        except BadSshSig as e:
            return f"line {i + 1}: the witness signature does not verify over this seal ({e})", names
        actual = ssh_fingerprint(key)
        if fp != actual:
            return f"line {i + 1}: the witness line records the key {show(fp)}, but the signature was made by {actual}", names
        if lines[i]["actor"] != name:
            return f"line {i + 1}: the witness line's actor is not its name", names
        if policy:
            by_key = [n for n, k in witnesses if k == key]
            if not by_key:
                also = [n for n, k in custodians if k == key]
                extra = f" (it is custodian {also[0]}'s key)" if also else ""
                return f"line {i + 1}: {actual} is not a witness key of the policy{extra}", names
            if by_key[0] != name:
                return f"line {i + 1}: signed by {by_key[0]}'s key, recorded as {show(name)}", names
        if actual in seen or name in names:
            return f"line {i + 1}: {show(name)} has signed twice", names
        seen.add(actual)
        names.append(name)
    return None, names


def key_identity(blob):
    """The key an OpenSSH public key blob holds, whatever its encoding: an Ed25519 or P-256 key
    written as its sk- (security key) twin, whose FIDO application is not part of the key, is
    the same key; an RSA key is its exponent and modulus. One key is one person."""
    fields, rest = [], blob
    while rest:
        n = int.from_bytes(rest[:4], "big")
        if len(rest) < 4 + n:
            raise ValueError("a field runs past the end of the key")
        fields.append(rest[4:4 + n])
        rest = rest[4 + n:]
    kind = fields[0] if fields else b""
    if kind in (b"ssh-ed25519", b"sk-ssh-ed25519@openssh.com") and len(fields) >= 2:
        return (b"ed25519", fields[1])
    if (kind.startswith(b"ecdsa-sha2-") or kind == b"sk-ecdsa-sha2-nistp256@openssh.com") and len(fields) >= 3:
        return (b"ecdsa", fields[1], fields[2])
    if kind == b"ssh-rsa" and len(fields) == 3:
        return (b"rsa", fields[1].lstrip(b"\0"), fields[2].lstrip(b"\0"))
    return (b"other", blob)


def check_people(path, policy):
    """No key listed twice, however it is written: not as two custodians or witnesses, and no
    witness who is a custodian."""
    seen = {}
    for field in ("custodians", "witnesses"):
        for i, (name, blob) in enumerate(policy_keys(policy, field)):
            try:
                identity = key_identity(blob)
            except ValueError as e:
                raise Usage(f"{path}: {field}[{i}].ssh_key: {e}") from None
            if identity in seen:
                other_field, other = seen[identity]
                if other_field == field:
                    raise Usage(
                        f"{path}: {field}[{i}].ssh_key: the same key as {json.dumps(other)}'s "
                        "(written another way, perhaps as an sk- key): one key is one person"
                    )
                raise Usage(
                    f"{path}: {field}[{i}].ssh_key: {json.dumps(name)}'s key is custodian "
                    f"{json.dumps(other)}'s: a witness's signature must be evidence from someone "
                    "other than the custodians"
                )
            seen[identity] = (field, name)


def load_policy(path):
    """The policy file's bytes' SHA-256 and its TOML, as a dict."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Usage(f"cannot read the policy {path}: {e.strerror or e}") from None
    try:
        policy = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise Usage(f"{path} is not a TOML policy ({e})") from None
    if not isinstance(policy.get("signer_fingerprint"), str):
        raise Usage(f"{path} has no signer_fingerprint")
    check_people(path, policy)
    return hashlib.sha256(raw).hexdigest(), policy


def check_policy(lines, seal, fingerprint, policy):
    """With POLICY: the transcript records its digest and the seal is by its signer.
    Returns (ok, reason): ok None when it cannot be checked."""
    if policy is None:
        return None, "no POLICY given (--no-policy): no quorum is checked"
    digest, pol = policy
    want = pol["signer_fingerprint"].lower()
    if want != fingerprint:
        return False, f"the policy names the signer {show(want)}, but the signer PEM's fingerprint is {fingerprint}"
    at = next((i for i, l in enumerate(lines) if l["step"] == "policy"), None)
    if at is None:
        if seal is None:
            return None, "no policy line yet (the record ends before it)"
        return False, "the transcript records no policy line, so no quorum approved what it records"
    data = lines[at]["data"]
    recorded = data.get("sha256") if isinstance(data, dict) else None
    if recorded != digest:
        return False, f"line {at + 1}: the policy line records the SHA-256 {show(recorded)}, but POLICY's is {digest}"
    token = next((l for l in lines if l["step"] == "token"), None)
    if token is not None or seal is not None:
        tdata = token["data"] if token is not None and isinstance(token["data"], dict) else {}
        pinned = pol.get("module_sha256")
        if isinstance(pinned, str) and tdata.get("module_sha256") != pinned.lower():
            got = tdata.get("module_sha256") if isinstance(tdata.get("module_sha256"), str) else "(none)"
            return False, f"line {at + 1}: the token line records the module SHA-256 {got}, but the policy pins module_sha256 = {pinned.lower()}"
        pinned = pol.get("module_path")
        if isinstance(pinned, str) and tdata.get("module") != pinned:
            got = tdata.get("module") if isinstance(tdata.get("module"), str) else "(none)"
            return False, f"line {at + 1}: the token line records the module {show(got)}, but the policy pins module_path = {pinned}"
    if pol.get("require_trusted_wrapping") is True:
        why = untrusted_generate(lines)
        if why:
            return False, f"line {at + 1}: {why}"
    return True, f"line {at + 1} records the policy's SHA-256 {digest}; it names the signer {want}"


def untrusted_generate(lines):
    """Why the record does not show every key made wrappable only under trusted keys, or None: a
    generate step of the recorded plan without wrap_with_trusted, or a generated (or resumed) key
    whose template lacks CKA_WRAP_WITH_TRUSTED."""
    plan = next((l for l in lines if l["step"] == "plan"), None)
    text = plan["data"].get("text") if plan is not None and isinstance(plan["data"], dict) else None
    try:
        steps = tomllib.loads(text).get("steps", []) if isinstance(text, str) else []
    except tomllib.TOMLDecodeError:
        steps = []
    for k, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and step.get("action") == "generate" and step.get("wrap_with_trusted") is not True:
            return f"steps[{k}] of the plan generates {show(step.get('key_label'))} without wrap_with_trusted, but the policy requires trusted wrapping"
    for i, l in enumerate(lines):
        if l["step"] in ("generated", "resumed"):
            key = l["data"].get("key") if isinstance(l["data"], dict) else None
            template = key.get("template") if isinstance(key, dict) else None
            if not (isinstance(template, dict) and template.get("CKA_WRAP_WITH_TRUSTED") == "true"):
                label = key.get("label") if isinstance(key, dict) else None
                return f"the key {show(label)} was generated without CKA_WRAP_WITH_TRUSTED (line {i + 1}), but the policy requires trusted wrapping"
    return None


def read_regular(path):
    """The bytes of the regular file at path, never through a symlink and never waiting (a FIFO or
    a device in its place is refused, not read). Raises OSError with the reason."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def check_outputs(lines, end, outputs):
    """With OUTPUTS_DIR: for each wrapped and rewrapped line, its output directory is a directory
    (not a symlink) holding exactly the files recorded, each a regular file (never followed, never
    waited on) with that SHA-256. Returns (ok, reason)."""
    if outputs is None:
        return None, "no OUTPUTS_DIR given"
    count = 0
    for i, line in enumerate(lines[:end]):
        if line["step"] not in ("wrapped", "rewrapped"):
            continue
        data = line["data"]
        if not isinstance(data, dict) or not isinstance(data.get("out"), str) or not isinstance(data.get("files"), dict):
            return False, f"line {i + 1}: a {line['step']} line without data.out and data.files"
        base = os.path.basename(data["out"].rstrip("/"))
        here = os.path.join(outputs, base)
        if base in ("", ".", ".."):
            return False, f"line {i + 1}: an output path {show(base)} outside OUTPUTS_DIR"
        try:
            mode = os.lstat(here).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return False, f"line {i + 1}: {base} is a symlink: an output directory is never followed"
        if not stat.S_ISDIR(mode):
            return False, f"line {i + 1}: {base} is not a directory (or is missing)"
        for name, digest in data["files"].items():
            if "/" in name or name in ("", ".", ".."):
                return False, f"line {i + 1}: an output path {base}/{name} outside OUTPUTS_DIR"
            path = os.path.join(here, name)
            try:
                actual = hashlib.sha256(read_regular(path)).hexdigest()
            except OSError as e:
                if os.path.islink(path):
                    return False, f"line {i + 1}: {base}/{name} is a symlink: an output file is never followed"
                if e.args == ("not a regular file",):
                    return False, f"line {i + 1}: {base}/{name} is not a regular file"
                actual = None
            if actual != digest:
                return False, f"line {i + 1}: {base}/{name} differs from the transcript, or is missing"
            count += 1
        extra = sorted(set(os.listdir(here)) - set(data["files"]))
        if extra:
            return False, f"line {i + 1}: {base} holds {show(extra[0])}, which the transcript does not list"
    return True, f"{count} output file(s) under {outputs} match the transcript, and nothing else is there"


def outputs_unfound(lines, end, outputs):
    """With OUTPUTS_DIR: when the transcript records output directories and none of them is
    under OUTPUTS_DIR (nothing of its name there), what says so: a wrong OUTPUTS_DIR, not altered
    outputs. Else None. A record of no directory's name counts as there: its failure is the
    record's."""
    if outputs is None:
        return None
    recorded, present = [], False
    for line in lines[:end]:
        if line["step"] not in ("wrapped", "rewrapped"):
            continue
        data = line["data"]
        if not isinstance(data, dict) or not isinstance(data.get("out"), str):
            continue
        recorded.append(data["out"])
        base = os.path.basename(data["out"].rstrip("/"))
        present = present or base in ("", ".", "..") or os.path.lexists(os.path.join(outputs, base))
    if not recorded or present:
        return None
    looked = os.path.join(outputs, os.path.basename(recorded[0].rstrip("/")))
    if len(recorded) == 1:
        return f"no outputs found under {outputs}: the transcript records the output directory {show(recorded[0])}, and {looked} is not there"
    return f"no outputs found under {outputs}: the transcript records {len(recorded)} output directories, such as {show(recorded[0])}, and none is there ({looked} is not)"


def verify(transcript_path, signer_path, policy_path, outputs=None):
    """Runs the checks (policy_path None: --no-policy); returns (results, exit code, verdict).
    An OUTPUTS_DIR under which none of the recorded output directories is raises Usage (exit 2),
    unless the transcript is invalid anyway."""
    results, code, verdict = run_checks(transcript_path, signer_path, policy_path, outputs)
    status, reason = results["outputs"]
    if status == UNFOUND:
        if code != 1:
            raise Usage(reason)
        results["outputs"] = ("NOT CHECKED", reason)
    return results, code, verdict


# The outputs check's status while OUTPUTS_DIR holds none of the recorded output directories.
UNFOUND = "UNFOUND"


def run_checks(transcript_path, signer_path, policy_path, outputs):
    """The checks of verify, in order, stopping at the first that fails."""
    try:
        with open(transcript_path, "rb") as f:
            content = f.read()
    except OSError as e:
        raise Usage(f"cannot read the transcript {transcript_path}: {e.strerror or e}") from None
    key, fingerprint = load_signer(signer_path)
    policy = None if policy_path is None else load_policy(policy_path)

    results = {}

    def invalid(check, reason):
        results[check] = ("FAIL", reason)
        for other in CHECKS:
            results.setdefault(other, ("NOT CHECKED", f"stopped at the {check} check"))
        results["approvals"] = ("NOT CHECKED", "this tool does not check approvals (scripts/verify-with-openssl does)")
        return results, 1, "INVALID: this is not a valid keyrite transcript"

    # file
    if not content:
        return invalid("file", "the file is empty")
    raw_lines = content.split(b"\n")
    if raw_lines[-1] != b"":
        return invalid(
            "file",
            f"line {len(raw_lines)}: no newline at its end (a torn or cut-off last line)",
        )
    raw_lines.pop()
    n = len(raw_lines)
    results["file"] = ("PASS", f"{n} lines, each ending in a newline")

    # json
    lines = []
    for i, raw in enumerate(raw_lines):
        try:
            lines.append(parse_line(raw))
        except BadJson as e:
            return invalid("json", f"line {i + 1}: {e}")
        problem = encoding_problem(raw, lines[-1])
        if problem:
            return invalid("json", f"line {i + 1}: not in keyrite's encoding: {problem}")
    results["json"] = ("PASS", "every line is one JSON object (UTF-8, strict)")

    # shape
    for i, obj in enumerate(lines):
        problem = shape_problem(obj)
        if problem:
            return invalid("shape", f"line {i + 1}: {problem}")
    results["shape"] = ("PASS", "exact keys, v 1, an RFC 3339 time, string fields, hex prev")

    # seq
    for i, obj in enumerate(lines):
        if obj["seq"] != i:
            return invalid("seq", f"line {i + 1}: seq is {show(obj['seq'])}, not {i}")
    results["seq"] = ("PASS", f"seq runs 0..{n - 1} without gaps")

    # chain
    expected = EMPTY_SHA256
    for i, (raw, obj) in enumerate(zip(raw_lines, lines)):
        if obj["prev"] != expected:
            if i == 0:
                why = f"not the SHA-256 of the empty string, {expected}"
            else:
                why = f"but the SHA-256 of line {i} is {expected}: line {i} or this prev was changed, or a line is missing"
            return invalid("chain", f"line {i + 1}: prev is {obj['prev']}, {why}")
        expected = hashlib.sha256(raw).hexdigest()
    results["chain"] = ("PASS", f"every prev is the SHA-256 of the line before; line {n} hashes to {expected}")

    # order
    seal = None
    for i, obj in enumerate(lines):
        step = obj["step"]
        if seal is None:
            if step != "seal":
                continue
            if i == 0:
                return invalid("order", "line 1: a seal with no finish line before it")
            before = lines[i - 1]
            if before["step"] != "finish":
                return invalid(
                    "order",
                    f"line {i}: the line before the seal (line {i + 1}) is {show(before['step'])}, not a finish line",
                )
            data = before["data"]
            outcome = data.get("outcome") if isinstance(data, dict) else None
            if outcome not in ("completed", "failed"):
                return invalid(
                    "order",
                    f"line {i}: the finish line's data.outcome is {show(outcome)}, not \"completed\" or \"failed\"",
                )
            seal = i
        elif step == "seal":
            return invalid("order", f"line {i + 1}: a second seal (the first is line {seal + 1})")
        elif step != "witness":
            return invalid("order", f"line {i + 1}: step {show(step)} after the seal (line {seal + 1}); only witness lines may follow it")
    if seal is None:
        results["order"] = ("PASS", "no seal yet; no line is out of place")
    else:
        results["order"] = (
            "PASS",
            f"finish at line {seal}, seal at line {seal + 1}, {n - 1 - seal} witness line(s) after it",
        )

    problem = check_structure(lines)
    if problem:
        return invalid("structure", problem)
    results["structure"] = (
        "PASS",
        "known steps only; one finish line, consistent with the failure lines, before the seal; resumed keys under a resume line; each restore answered by its restored line",
    )

    problem = check_kcvs(lines)
    if problem:
        return invalid("kcv", problem)
    results["kcv"] = ("PASS", "every key label has one KCV and one full check value throughout")

    ok, reason = check_policy(lines, seal, fingerprint, policy)
    if ok is False:
        return invalid("policy", reason)
    results["policy"] = ("PASS" if ok else "NOT CHECKED", reason)

    results["approvals"] = ("NOT CHECKED", "this tool does not check approvals (scripts/verify-with-openssl does)")

    unfound = outputs_unfound(lines, n, outputs)
    if unfound:
        results["outputs"] = (UNFOUND, unfound)
    else:
        ok, reason = check_outputs(lines, n, outputs)
        if ok is False:
            return invalid("outputs", reason)
        results["outputs"] = ("PASS" if ok else "NOT CHECKED", reason)

    if seal is None:
        why = f"no seal: the transcript ends at line {n}"
        for check in ("signer", "signature", "witnesses", "outcome"):
            results[check] = ("NOT CHECKED", why)
        return results, 3, "INCOMPLETE: every line is valid and chained, but the transcript is not sealed (an unsealed prefix: a crash or a truncated file)"

    # signer
    s = lines[seal]
    if s["signer"] != fingerprint:
        return invalid(
            "signer",
            f"line {seal + 1}: the seal's signer is {s['signer']}, the signer PEM's fingerprint is {fingerprint}",
        )
    results["signer"] = ("PASS", f"the seal's signer is the signer PEM's fingerprint {fingerprint}")

    # signature
    signature = base64.b64decode(s["signature"], validate=True)
    head = bytes.fromhex(s["prev"])
    # One encoding of one signature: padding bits set, or a short RSA signature, would let anyone
    # write a second seal line that verifies.
    if base64.b64encode(signature).decode() != s["signature"]:
        return invalid("signature", f"line {seal + 1}: the seal's signature is not in canonical base64")
    if isinstance(key, rsa.RSAPublicKey) and len(signature) != key.key_size // 8:
        return invalid(
            "signature",
            f"line {seal + 1}: the seal's RSA signature is {len(signature)} bytes, not the modulus's {key.key_size // 8}",
        )
    if isinstance(key, rsa.RSAPublicKey):
        # RSASSA-PSS over the 32-byte chain head: SHA-256, MGF1 with SHA-256, a 32-byte salt.
        scheme = "RSA-PSS (SHA-256, MGF1-SHA-256, salt 32)"
        algorithm = (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), Prehashed(hashes.SHA256()))
    else:
        try:
            _, sig_s = decode_dss_signature(signature)
        except ValueError:
            sig_s = 0
        if sig_s > P256_N // 2:
            return invalid(
                "signature",
                f"line {seal + 1}: the seal's signature is high-S (s > n/2): keyrite seals with low-S only, so this seal line is not one keyrite made",
            )
        scheme = "low-S ECDSA P-256"
        algorithm = (ec.ECDSA(Prehashed(hashes.SHA256())),)
    try:
        key.verify(signature, head, *algorithm)
    except InvalidSignature:
        return invalid(
            "signature",
            f"line {seal + 1}: the seal's signature does not verify with the signer PEM over the chain head {s['prev']}",
        )
    results["signature"] = ("PASS", f"{scheme} signature over the chain head {s['prev']} verifies")

    # witnesses
    problem, names = check_witnesses(lines, raw_lines, seal, policy)
    if problem:
        return invalid("witnesses", problem)
    results["witnesses"] = ("PASS", f"{len(names)} witness signature(s) verify: {', '.join(names) or 'none'}")

    # outcome
    outcome = lines[seal - 1]["data"]["outcome"]
    if outcome == "failed":
        results["outcome"] = ("FAIL", f"line {seal}: the finish line says \"failed\"")
        return results, 3, "INCOMPLETE: a valid, sealed record of a ceremony that failed"
    results["outcome"] = ("PASS", f"line {seal}: the finish line says \"completed\"")
    required = policy[1].get("witnesses_required", 0) if policy else 0
    if isinstance(required, int) and len(names) < required:
        results["witnesses"] = ("FAIL", f"{len(names)} of {required} required witnesses have co-signed")
        return results, 3, f"INCOMPLETE: sealed and completed, but {len(names)} of {required} required witnesses have co-signed"
    if policy is None:
        return results, 4, "NOT APPROVED (no policy: quorum not checked): a sealed record of a completed ceremony, verified without a policy"
    return results, 0, "VALID: a sealed record of a completed ceremony"


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(USAGE + "\n")
        print(__doc__.split("\n\n", 2)[2].rstrip())
        return 0
    args, policy, no_policy = [], None, False
    rest = argv[1:]
    while rest:
        arg = rest.pop(0)
        if arg == "--policy" and rest and policy is None:
            policy = rest.pop(0)
        elif arg == "--no-policy" and not no_policy:
            no_policy = True
        elif arg.startswith("--"):
            print(f"verify_transcript.py: unknown or repeated option {arg}", file=sys.stderr)
            print(USAGE, file=sys.stderr)
            return 2
        else:
            args.append(arg)
    if (policy is None) == (not no_policy):
        print(
            "verify_transcript.py: give --policy POLICY (the policy the ceremony ran under), "
            "or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)",
            file=sys.stderr,
        )
        print(USAGE, file=sys.stderr)
        return 2
    if len(args) not in (2, 3):
        print(USAGE, file=sys.stderr)
        return 2
    outputs = args[2] if len(args) == 3 else None
    if outputs is not None and not os.path.isdir(outputs):
        print(f"verify_transcript.py: OUTPUTS_DIR {outputs} is not a directory", file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 2
    sys.set_int_max_str_digits(0)
    try:
        results, code, verdict = verify(args[0], args[1], policy, outputs)
    except Usage as e:
        print(f"verify_transcript.py: {e}", file=sys.stderr)
        print(USAGE, file=sys.stderr)
        return 2
    for check in CHECKS:
        status, reason = results[check]
        print(f"{check:<10} {status:<11} {reason}")
    print(f"verdict: {verdict} (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
