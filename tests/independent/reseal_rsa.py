"""reseal_rsa.py IN OUT KEYPEM MODE: writes IN to OUT with its seal re-signed by the RSA key KEYPEM
(Python `cryptography`, no keyrite code): RSA-PSS over the chain head, SHA-256, MGF1-SHA-256, a
32-byte salt, the seal's signer the key's fingerprint. MODE pss32: the signature as it is;
short: a signature with a leading zero byte, found by signing again until one has it, the byte
stripped."""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

src, dst, key_path, mode = sys.argv[1:5]
with open(key_path, "rb") as f:
    key = serialization.load_pem_private_key(f.read(), None)
with open(src) as f:
    lines = f.read().splitlines()
i = max(k for k, line in enumerate(lines) if json.loads(line)["step"] == "seal")
seal = json.loads(lines[i])
head = bytes.fromhex(seal["prev"])
pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
sig = key.sign(head, pss, Prehashed(hashes.SHA256()))
if mode == "short":
    while sig[0] != 0:
        sig = key.sign(head, pss, Prehashed(hashes.SHA256()))
    sig = sig[1:]
elif mode != "pss32":
    sys.exit(f"reseal_rsa.py: MODE is pss32 or short, not {mode}")
spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
seal["signer"] = hashlib.sha256(spki).hexdigest()
seal["signature"] = base64.b64encode(sig).decode()
lines[i] = json.dumps(seal, separators=(",", ":"))
with open(dst, "w") as f:
    f.write("\n".join(lines) + "\n")
