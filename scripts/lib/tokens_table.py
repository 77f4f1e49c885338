"""Renders the tokens table (docs/tokens.md) from what `keyrite token info --json` said of each
family's token, as scripts/tokens measured it.

    python3 scripts/lib/tokens_table.py DIR FAMILY...

DIR holds, for each FAMILY, FAMILY.json (token info's output), FAMILY.err (its stderr),
FAMILY.rc (its exit status) and FAMILY.versions (the packages measured). The table says only
what was measured: a capability is "yes" when token info found it working on that token, and
every "no" is listed with token info's reason. Nothing here is claimed from documentation.
"""

import json
import re
import sys
from pathlib import Path

NAMES = {
    "softhsm2": "SoftHSM2",
    "kryoptic": "kryoptic",
    "opencryptoki": "openCryptoki (soft token)",
    "tpm2": "tpm2-pkcs11 (swtpm)",
    "p11kit-softhsm2": "p11-kit remoting, SoftHSM2",
    "p11kit-kryoptic": "p11-kit remoting, kryoptic",
}

WRAPPINGS = [
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
    "RSAES_PKCS1_V1_5",
]

TEMPORARY = re.compile(r"/tmp/keyrite-[A-Za-z0-9._-]+")

# The JSON this table reads (docs/json.md): another version is reported, not misread.
SCHEMA = "keyrite.token.info/1"


def clean(text):
    """One line, without the temporary directory a run used."""
    return " ".join(TEMPORARY.sub("<dir>", text).split())


def measured(out, family):
    """(token, library, error): the family's token from token info's JSON, or why there is none
    (keyrite's own lines of its stderr: a module may log there too)."""
    rc = (out / f"{family}.rc").read_text().strip()
    err = (out / f"{family}.err").read_text().splitlines()
    err = clean(" ".join([line for line in err if line.startswith("keyrite:")] or err))
    if rc != "0":
        return None, None, f"token info exited {rc}: {err}"
    info = json.loads((out / f"{family}.json").read_text())
    if info.get("schema") != SCHEMA:
        return None, None, f"token info printed schema {info.get('schema')!r}, not {SCHEMA!r}"
    tokens = info.get("tokens", [])
    if len(tokens) != 1:
        return None, info.get("library"), f"token info showed {len(tokens)} tokens, not the one asked for"
    return tokens[0], info.get("library"), None


def capabilities(token):
    """[(row, yes, reason)] for one token."""
    rows = []
    by_name = {w["algorithm"]: w for w in token["wrapping"]}
    for name in WRAPPINGS:
        w = by_name.get(name)
        if w is None:
            rows.append((f"wrap {name}", False, "not reported"))
        else:
            rows.append((f"wrap {name}", w["supported"], w["detail"]))
    pairs = token["key_pairs"]
    rows.append(("wrap RSA key pairs", pairs["rsa"], pairs["detail"]))
    rows.append(("wrap EC P-256 key pairs", pairs["ec"], pairs["detail"]))
    trusted = token["wrap_with_trusted"]
    rows.append(("CKA_WRAP_WITH_TRUSTED enforced", trusted["enforced"], trusted["detail"]))
    rows.append(
        (
            "trusted-only wrapping usable (enforced, CKA_TRUSTED set by the SO only)",
            trusted["enforced"] and trusted["trusted_set_by"] == "security officer",
            trusted["detail"],
        )
    )
    template = token["unwrap_template"]
    rows.append(("CKA_UNWRAP_TEMPLATE applied", template["applied"], template["detail"]))
    return rows


def main(argv):
    out = Path(argv[1])
    families = argv[2:]
    columns = []
    for family in families:
        token, library, error = measured(out, family)
        versions = clean((out / f"{family}.versions").read_text())
        columns.append((family, token, library, error, versions))

    lines = [
        "# What each PKCS#11 token family does",
        "",
        "Measured by `scripts/tokens --table docs/tokens.md`: `keyrite token info --json`, logged",
        "in, on a fresh token of each family that `scripts/test` starts. `scripts/test` measures",
        "again and fails when this file differs, so it says what CI measured, not what a vendor",
        "claims. A \"yes\" is a trial that worked on the token (a wrap unwrapped, a known-answer",
        "test passed, a refusal the token made); every \"no\" is listed below with its reason.",
        "",
    ]
    header = ["", *(NAMES.get(f, f) for f, *_ in columns)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines.append("| measured at | " + " | ".join(c[4] for c in columns) + " |")
    lines.append(
        "| module | " + " | ".join(clean(c[2]) if c[2] else "—" for c in columns) + " |"
    )
    lines.append(
        "| token | "
        + " | ".join(
            clean(f"{c[1]['manufacturer']}, {c[1]['model']}, firmware {c[1]['firmware']}")
            if c[1]
            else "—"
            for c in columns
        )
        + " |"
    )
    lines.append(
        "| key check value | " + " | ".join(c[1]["kcv"] if c[1] else "—" for c in columns) + " |"
    )
    lines.append(
        "| ceremony signer | "
        + " | ".join(c[1]["signer"].split(" (")[0].split(",")[0] if c[1] else "—" for c in columns)
        + " |"
    )
    rows = {}
    reasons = []
    for family, token, _, error, _ in columns:
        if token is None:
            reasons.append((family, "token info", error))
            continue
        for row, yes, reason in capabilities(token):
            rows.setdefault(row, {})[family] = yes
            if not yes:
                reasons.append((family, row, reason))
    for row, answers in rows.items():
        cells = []
        for family, *_ in columns:
            answer = answers.get(family)
            cells.append("—" if answer is None else ("yes" if answer else "no"))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", "## Why not", ""]
    grouped = {}
    for family, row, reason in reasons:
        grouped.setdefault((family, clean(reason)), []).append(row)
    for (family, reason), names in grouped.items():
        lines.append(f"- **{NAMES.get(family, family)}**, {', '.join(names)}: {reason}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
