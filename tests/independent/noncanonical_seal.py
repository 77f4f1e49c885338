"""noncanonical_seal.py IN OUT: writes IN to OUT with the seal line's base64 signature rewritten
with non-zero padding bits: the same signature bytes, another encoding. No key is needed: a file
editor can do it. Exits 3 when the signature's length leaves no padding bits (a multiple of 3
bytes)."""
import base64
import json
import sys

src, dst = sys.argv[1:3]
with open(src) as f:
    lines = f.read().splitlines()
i = max(k for k, line in enumerate(lines) if json.loads(line)["step"] == "seal")
b = json.loads(lines[i])["signature"]
if not b.endswith("="):
    sys.exit(3)
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
j = b.index("=") - 1
edited = b[:j] + alphabet[alphabet.index(b[j]) | 1] + b[j + 1 :]
assert edited != b and base64.b64decode(edited) == base64.b64decode(b)
lines[i] = lines[i].replace(b, edited)
with open(dst, "w") as f:
    f.write("\n".join(lines) + "\n")
