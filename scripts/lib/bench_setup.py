"""The scenes keyrite's benchmarks run in, built the way tests/common builds them: a SoftHSM2
token in its own directory with the ceremony signer, custodians' SSH keys made by ssh-keygen, a
policy, AWS import parameters for N KMS keys (each with its own RSA-2048 wrapping key), a plan of
N generate + N wrap steps, and approvals signed with `ssh-keygen -Y sign`.

Used by scripts/lib/bench.py; nothing here is timed.
"""

import base64
import datetime
import json
import os
import subprocess
from concurrent.futures import ProcessPoolExecutor

SOFTHSM2 = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "bench-Pin-5531-loquat"
SO_PIN = "bench-So-2210-sorb"
PIN_ENV = "KR_BENCH_PIN"
ALGORITHM = "RSAES_OAEP_SHA_1"  # what SoftHSM2 2.6.1 can wrap with (OAEP SHA-256 it refuses)


def run(cmd, env=None, cwd=None, stdin=None):
    """Runs a command that must succeed; returns its stdout (bytes)."""
    out = subprocess.run(cmd, env=env, cwd=cwd, input=stdin, capture_output=True)
    if out.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(map(str, cmd))} failed ({out.returncode}):\n"
            f"{out.stdout.decode(errors='replace')}\n{out.stderr.decode(errors='replace')}"
        )
    return out.stdout


def _rsa_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)


def rsa_pool(cache, n):
    """n distinct RSA-2048 KMS wrapping keys (PEM private keys), made once and cached: a KMS hands
    out a new wrapping key per import, so no two wrap steps share one."""
    os.makedirs(cache, exist_ok=True)
    paths = [os.path.join(cache, f"kms-{i:04d}.pem") for i in range(n)]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        print(f"bench: making {len(missing)} RSA-2048 KMS wrapping keys into {cache} (once)", flush=True)
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(_rsa_key, missing, chunksize=16))
    return paths


def public_der(pem_path):
    from cryptography.hazmat.primitives import serialization

    with open(pem_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rfc3339(delta_hours):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=delta_hours)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Token:
    """A fresh SoftHSM2 token with the ceremony signer, in its own directory."""

    def __init__(self, keyrite, directory, label="bench"):
        self.keyrite = keyrite
        self.dir = directory
        self.label = label
        os.makedirs(os.path.join(directory, "tokens"))
        self.conf = os.path.join(directory, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write(
                f"directories.tokendir = {directory}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            )
        run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN],
            env=self.env(),
        )
        out = subprocess.run(
            [keyrite, "token", "signer", "create", "--key-label", "ceremony-signer", "--pin-env", PIN_ENV],
            env=self.env(),
            capture_output=True,
            cwd=directory,
        )
        if out.returncode != 0:
            raise SystemExit(f"bench: signer create failed: {out.stderr.decode(errors='replace')}")
        self.signer_pem = os.path.join(directory, "signer.pem")
        with open(self.signer_pem, "wb") as f:
            f.write(out.stdout)
        self.signer_fingerprint = out.stderr.decode().strip().rsplit(" ", 1)[-1]

    module = SOFTHSM2

    def stop(self):
        pass

    def env(self):
        env = dict(os.environ)
        env["SOFTHSM2_CONF"] = self.conf
        env[PIN_ENV] = PIN
        env.pop("KEYRITE_PKCS11_MODULE", None)
        return env


P11KIT_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RemoteToken:
    """A fresh SoftHSM2 token served by `p11-kit server`, reached through p11-kit-client.so: an
    RPC over a Unix socket per PKCS#11 call, as a network HSM is. The server is started by
    scripts/lib/p11kit.sh (keyrite_p11kit_start: its own temporary directory, the server's PID
    kept) in a bash that holds it until stop() closes its standard input; its EXIT trap then
    stops the server by that PID and removes the directory. The ceremony signer is made through
    the client module, as on the local token."""

    def __init__(self, keyrite, label="bench"):
        self.keyrite = keyrite
        self.label = label
        script = (
            ". scripts/lib/deps.sh && . scripts/lib/p11kit.sh || exit 1\n"
            "trap keyrite_p11kit_stop EXIT\n"
            "keyrite_p11kit_start softhsm2 || exit 1\n"
            'echo "$P11_KIT_SERVER_ADDRESS $KEYRITE_P11KIT_DIR"\n'
            "read -r _ || true\n"
        )
        env = dict(os.environ, KEYRITE_TOKEN_LABEL=label, KEYRITE_TOKEN_PIN=PIN, KEYRITE_TOKEN_SO_PIN=SO_PIN)
        self.shell = subprocess.Popen(
            ["bash", "-c", script], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        line = self.shell.stdout.readline().split()
        if len(line) != 2:
            self.shell.stdin.close()
            err = self.shell.stderr.read()
            self.shell.wait()
            raise SystemExit(f"bench: the p11-kit server did not start:\n{err}")
        self.address, self.dir = line
        out = subprocess.run(
            [keyrite, "token", "signer", "create", "--key-label", "ceremony-signer", "--pin-env", PIN_ENV],
            env=self.env(), capture_output=True, cwd=self.dir,
        )
        if out.returncode != 0:
            self.stop()
            raise SystemExit(f"bench: signer create through p11-kit failed: {out.stderr.decode(errors='replace')}")
        self.signer_pem = os.path.join(self.dir, "signer.pem")
        with open(self.signer_pem, "wb") as f:
            f.write(out.stdout)
        self.signer_fingerprint = out.stderr.decode().strip().rsplit(" ", 1)[-1]

    @property
    def module(self):
        return P11KIT_CLIENT

    def env(self):
        env = dict(os.environ)
        env.pop("SOFTHSM2_CONF", None)
        env["P11_KIT_SERVER_ADDRESS"] = self.address
        env["KEYRITE_PKCS11_MODULE"] = P11KIT_CLIENT
        env[PIN_ENV] = PIN
        return env

    def stop(self):
        if self.shell.poll() is None:
            self.shell.stdin.close()
            self.shell.wait(timeout=30)


def custodians(directory, names=("alice", "bob", "carol")):
    keys = os.path.join(directory, "custodians")
    os.makedirs(keys, exist_ok=True)
    out = []
    for name in names:
        key = os.path.join(keys, name)
        if not os.path.exists(key):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key])
        with open(key + ".pub") as f:
            out.append((name, key, f.read().strip()))
    return out


def write_policy(path, people, threshold, signer_fingerprint):
    text = f'version = 1\nthreshold = {threshold}\nsigner_fingerprint = "{signer_fingerprint}"\n'
    for name, _, public in people:
        text += f'\n[[custodians]]\nname = "{name}"\nssh_key = "{public}"\n'
    with open(path, "w") as f:
        f.write(text)


def write_params(directory, count, pool):
    """AWS get-parameters-for-import output for `count` KMS keys, each under its own wrapping
    key from the pool. Returns the file names, relative to `directory`."""
    os.makedirs(os.path.join(directory, "params"), exist_ok=True)
    token = base64.b64encode(b"aws-import-token-for-the-benchmark" * 24).decode()
    valid_to = rfc3339(24)
    names = []
    for i in range(count):
        name = f"params/kms-{i:04d}.json"
        key_id = f"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-{i:012d}"
        doc = {
            "KeyId": key_id,
            "ImportToken": token,
            "PublicKey": base64.b64encode(public_der(pool[i])).decode(),
            "ParametersValidTo": valid_to,
        }
        with open(os.path.join(directory, name), "w") as f:
            json.dump(doc, f, indent=4)
        names.append(name)
    return names


def write_plan(path, ceremony_id, params, token_label="bench", keys_per_param=None):
    """A plan that generates one key per parameters file and wraps it under that file's KMS key."""
    text = (
        f'version = 1\nceremony_id = "{ceremony_id}"\nnot_before = "{rfc3339(-1)}"\n'
        f'not_after = "{rfc3339(24)}"\noperator = "Olivia Operator"\ntoken_label = "{token_label}"\n'
        f'signing_key_label = "ceremony-signer"\npin = "env:{PIN_ENV}"\n'
    )
    for i, p in enumerate(params):
        label = f"{ceremony_id}-k{i:04d}"
        text += f'\n[[steps]]\naction = "generate"\nkey_label = "{label}"\n'
        text += (
            f'\n[[steps]]\naction = "wrap"\nkey_label = "{label}"\nprovider = "aws"\n'
            f'params = "{p}"\nalgorithm = "{ALGORITHM}"\nout = "out-{ceremony_id}/{i:04d}"\n'
        )
    with open(path, "w") as f:
        f.write(text)
    os.makedirs(os.path.join(os.path.dirname(path), f"out-{ceremony_id}"), exist_ok=True)


def approve(keyrite, directory, plan, people, approvals):
    """Every custodian signs the plan's digest with ssh-keygen; the signatures go to `approvals`."""
    os.makedirs(approvals, exist_ok=True)
    digest = run([keyrite, "plan", "digest", plan], cwd=directory)
    statement = os.path.join(approvals, "plan.digest")
    with open(statement, "wb") as f:
        f.write(digest)
    for name, key, _ in people:
        run(["ssh-keygen", "-q", "-Y", "sign", "-n", "keyrite-plan", "-f", key, statement])
        os.rename(statement + ".sig", os.path.join(approvals, f"{name}.sig"))
    os.unlink(statement)
