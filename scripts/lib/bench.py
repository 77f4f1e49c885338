"""keyrite's benchmarks, run by scripts/bench: every figure is a ratio against a baseline measured
in the same run, interleaved round by round where the baseline is a separate program, so a noisy
neighbour slows both alike; each ratio is the median of its rounds, with the lowest and highest.

    bench.py --keyrite BIN --floor BIN --transcript BIN --out bench/results.md [--quick]
             [--only PART,...]   (parts: bulk, sessions, sessions_p11kit, ceremony, verify, startup;
                                  floor: only the floor loops of bulk and sessions, no keyrite run)

Nothing here is asserted: scripts/test checks behaviour, this measures it.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_setup as setup  # noqa: E402

PYTHON = "/usr/bin/python3"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def timed(cmd, env=None, cwd=None, code=0):
    """Wall time of a command that must exit with `code` (seconds) and its stdout."""
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    seconds = time.perf_counter() - start
    if out.returncode != code:
        raise SystemExit(
            f"bench: {' '.join(map(str, cmd))} failed ({out.returncode}):\n"
            f"{out.stdout.decode(errors='replace')[-2000:]}\n{out.stderr.decode(errors='replace')[-2000:]}"
        )
    return seconds, out.stdout


def pressure():
    """Load average and I/O pressure now, for the noise notes."""
    load = open("/proc/loadavg").read().split()[:3]
    io = ""
    try:
        io = open("/proc/pressure/io").readline().split()[1].split("=")[1]
    except (OSError, IndexError):
        pass
    return {"load": " ".join(load), "io_some_avg10": io}


def med(xs):
    return statistics.median(xs)


def spread(xs):
    return f"{min(xs):.2f}–{max(xs):.2f}" if len(xs) > 1 else "one round"


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else (f"{x:,.1f}" if x >= 1 else f"{x:.3f}")


def fmt_ms(seconds):
    ms = seconds * 1000
    return f"{ms:,.1f} ms" if ms < 100 else f"{ms:,.0f} ms"


class Bench:
    def __init__(self, args):
        self.args = args
        self.keyrite = args.keyrite
        self.work = tempfile.mkdtemp(prefix="keyrite-bench.", dir=os.environ.get("TMPDIR", "/tmp"))
        shm = os.environ.get("KEYRITE_BENCH_TOKEN_DIR", "/dev/shm")
        self.token_base = shm if os.access(shm, os.W_OK) else self.work
        self.cache = os.path.join(
            os.environ.get("KEYRITE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "keyrite")), "bench-rsa"
        )
        self.results = {}
        self.noise = []
        self.set_aside = 0

    def cleanup(self):
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def token(self, where=None):
        return setup.Token(self.keyrite, tempfile.mkdtemp(prefix="token.", dir=where or self.token_base))

    def drop(self, token):
        self.aside(token.dir)

    def aside(self, path):
        """Moves what a run wrote out of the way until the bench ends, rather than deleting it
        (a token's files on tmpfs are deleted). On an ext4 without a journal, as this disk, every
        new inode is checked against the inodes deleted in the last minutes (the kernel's
        `recently_deleted()`): with each round deleting the last one's thousands of files, that
        check was 27% of a batched keyrite run's CPU (perf), a cost of the bench, not of a
        ceremony."""
        if not os.path.exists(path):
            return
        if os.path.commonpath([self.work, os.path.abspath(path)]) != self.work:
            shutil.rmtree(path, ignore_errors=True)
            return
        self.set_aside += 1
        os.makedirs(os.path.join(self.work, ".aside"), exist_ok=True)
        os.rename(path, os.path.join(self.work, ".aside", str(self.set_aside)))

    def note(self, section):
        p = pressure()
        p["section"] = section
        self.noise.append(p)

    # ---------------------------------------------------------------- bulk wrap

    def scene(self, n, name):
        """A plan of n generate + n wrap steps, its parameters, its approvals; one per n."""
        d = os.path.join(self.work, name)
        os.makedirs(d)
        pool = setup.rsa_pool(self.cache, max(n, 3))
        people = setup.custodians(d)
        params = setup.write_params(d, n, pool)
        setup.write_plan(os.path.join(d, "plan.toml"), "bulk", params)
        setup.approve(self.keyrite, d, os.path.join(d, "plan.toml"), people, os.path.join(d, "approvals"))
        # The recipe's inputs, as the AWS guide has them saved: the wrapping key's base64.
        os.makedirs(os.path.join(d, "recipe"))
        for i, p in enumerate(params):
            with open(os.path.join(d, p)) as f:
                doc = json.load(f)
            with open(os.path.join(d, "recipe", f"{i:04d}.pub.b64"), "w") as f:
                f.write(doc["PublicKey"])
        with open(os.path.join(d, "recipe.sh"), "w") as f:
            f.write(
                "set -e\ncd \"$1\"\nmkdir out\n"
                f"for i in $(seq -f %04g 0 {n - 1}); do\n"
                "  base64 -d recipe/$i.pub.b64 > out/$i.WrappingPublicKey.bin\n"
                "  openssl rand -out out/$i.PlaintextKeyMaterial.bin 32\n"
                "  openssl pkeyutl -encrypt -in out/$i.PlaintextKeyMaterial.bin -out out/$i.EncryptedKeyMaterial.bin \\\n"
                "    -inkey out/$i.WrappingPublicKey.bin -keyform DER -pubin -pkeyopt rsa_padding_mode:oaep \\\n"
                "    -pkeyopt rsa_oaep_md:sha1 -pkeyopt rsa_mgf1_md:sha1\n"
                "  base64 -w0 out/$i.EncryptedKeyMaterial.bin > out/$i.EncryptedKeyMaterial.b64\n"
                "done\n"
            )
        return d, people, params

    def run_ceremony(self, d, people, token, transcript, threshold=3, options=()):
        setup.write_policy(os.path.join(d, "policy.toml"), people, threshold, token.signer_fingerprint)
        out_dir = os.path.join(d, "out-bulk")
        self.aside(out_dir)
        os.makedirs(out_dir)
        seconds, _ = timed(
            [self.keyrite, "ceremony", "run", "plan.toml", "--policy", "policy.toml",
             "--approvals", "approvals", "--transcript", transcript, *options],
            env=token.env(), cwd=d,
        )
        return seconds

    def kept_sessions(self, part, n, what, transcript):
        """Notes how many sessions the last batch of a keyrite run with several had: whether it
        kept them, having measured that they pay, or went on with one (its batch lines)."""
        with open(transcript) as f:
            batches = [line["data"]["sessions"] for line in map(json.loads, f) if line["step"] == "batch"]
        kept = self.results.setdefault("sessions_kept", {}).setdefault(part, {}).setdefault(str(n), {})
        kept.setdefault(what, []).append(batches[-1] if batches else None)

    def floor_wrap(self, token, d, params, calls=False, durable=False, sessions=1):
        cmd = [self.args.floor, "wrap", token.module, token.label, setup.PIN_ENV, "--sessions", str(sessions)]
        if calls:
            cmd.append("--token-calls")
        if durable:
            target = os.path.join(self.work, "durable")
            self.aside(target)
            os.makedirs(target)
            cmd += ["--durable", target]
        wall, out = timed(cmd + [os.path.join(d, p) for p in params], env=token.env())
        return json.loads(out)["seconds"], wall

    def recipe(self, d):
        self.aside(os.path.join(d, "out"))
        seconds, _ = timed(["bash", os.path.join(d, "recipe.sh"), d])
        return seconds

    def bulk(self):
        rounds = {1: 5, 100: 3, 1000: 2} if not self.args.quick else {1: 2, 100: 1, 1000: 1}
        table = {}
        for n in (1, 100, 1000):
            log(f"bulk wrap, N={n}: {rounds[n]} rounds of keyrite, the floors and the openssl recipe")
            d, people, params = self.scene(n, f"bulk-{n}")
            runs = {"keyrite": [], "floor": [], "floor_process": [], "calls": [], "durable": [], "openssl": []}
            self.note(f"bulk N={n} start")
            for r in range(rounds[n]):
                order = ["keyrite", "floor", "calls", "durable", "openssl"]
                order = order[r % 5:] + order[: r % 5]
                for what in order:
                    if what == "openssl":
                        runs["openssl"].append(self.recipe(d))
                        continue
                    token = self.token()
                    if what == "keyrite":
                        runs["keyrite"].append(self.run_ceremony(d, people, token, f"t-{r}.jsonl"))
                    elif what == "floor":
                        loop, wall = self.floor_wrap(token, d, params)
                        runs["floor"].append(loop)
                        runs["floor_process"].append(wall)
                    elif what == "calls":
                        runs["calls"].append(self.floor_wrap(token, d, params, calls=True)[0])
                    else:
                        runs["durable"].append(self.floor_wrap(token, d, params, calls=True, durable=True)[0])
                    self.drop(token)
            self.note(f"bulk N={n} end")
            table[n] = runs
            self.aside(d)
        self.results["bulk"] = table

        # The same N=100 with the token's files on the disk, as SoftHSM2 keeps them by default.
        log("bulk wrap, N=100, token on disk: keyrite and the floor")
        d, people, params = self.scene(100, "bulk-disk")
        runs = {"keyrite": [], "floor": []}
        for r in range(2 if not self.args.quick else 1):
            for what in (["keyrite", "floor"] if r % 2 == 0 else ["floor", "keyrite"]):
                token = self.token(self.work)
                if what == "keyrite":
                    runs["keyrite"].append(self.run_ceremony(d, people, token, f"t-{r}.jsonl"))
                else:
                    runs["floor"].append(self.floor_wrap(token, d, params)[0])
                self.drop(token)
        self.results["bulk_disk"] = runs
        self.aside(d)

        # One key with `keyrite wrap`, beside the one-step ceremony.
        log("one key with keyrite wrap")
        d = os.path.join(self.work, "single")
        os.makedirs(d)
        params = setup.write_params(d, 1, setup.rsa_pool(self.cache, 1))
        singles = []
        for r in range(5 if not self.args.quick else 2):
            token = self.token()
            seconds, _ = timed(
                [self.keyrite, "wrap", "--provider", "aws", "--params", params[0], "--algorithm",
                 setup.ALGORITHM, "--key-label", f"single-{r}", "--out", f"out-{r}", "--pin-env", setup.PIN_ENV],
                env=token.env(), cwd=d,
            )
            singles.append(seconds)
            self.drop(token)
        self.results["single_wrap"] = singles

    # ---------------------------------------------------------------- batches and sessions

    # keyrite's rows of the sessions parts: name -> `ceremony run` options.
    KEYRITE_VARIANTS = {
        "unbatched": ["--batch-steps", "1"],
        "batched": [],
        "sessions2": ["--batch-steps", "1", "--sessions", "2"],
        "batched_sessions2": ["--sessions", "2"],
    }

    def require_batch_options(self):
        """The sessions parts time `ceremony run --batch-steps/--sessions` (issue 25): fails the
        bench, naming what is missing, when this keyrite does not have them."""
        out = subprocess.run([self.keyrite, "ceremony", "run", "--help"], capture_output=True, text=True)
        missing = [o for o in ("--batch-steps", "--sessions") if not re.search(rf"(^|\s){o}\b", out.stdout)]
        if out.returncode != 0 or missing:
            raise SystemExit(
                f"bench: {self.keyrite} ceremony run --help does not list {' and '.join(missing) or 'its options'}: "
                "the sessions parts measure keyrite's batches and parallel sessions (issue 25), which this "
                "build lacks. Run them on a keyrite that has them, or only their floors: --only floor"
            )

    def sessions(self, floors_only=False):
        """N = 100 and 1000 on SoftHSM2: keyrite unbatched, batched, with two sessions and both,
        against the floor with one and two sessions, the durable-I/O loop and the openssl recipe,
        all in one rotating order round after round."""
        if not floors_only:
            self.require_batch_options()
        rounds = {100: 3, 1000: 2} if not self.args.quick else {100: 1, 1000: 1}
        keyrites = [] if floors_only else [f"keyrite_{v}" for v in self.KEYRITE_VARIANTS]
        floors = ["floor1", "floor2", "durable"] + ([] if floors_only else ["openssl"])
        table = {}
        for n in (100, 1000):
            log(f"sessions, N={n}: {rounds[n]} rounds of {', '.join(keyrites + floors)}")
            d, people, params = self.scene(n, f"sessions-{n}")
            runs = {what: [] for what in keyrites + floors}
            self.note(f"sessions N={n} start")
            for r in range(rounds[n]):
                order = keyrites + floors
                k = r % len(order)
                for what in order[k:] + order[:k]:
                    if what == "openssl":
                        runs[what].append(self.recipe(d))
                        continue
                    token = self.token()
                    if what.startswith("keyrite_"):
                        options = self.KEYRITE_VARIANTS[what[len("keyrite_"):]]
                        transcript = f"t-{what}-{r}.jsonl"
                        runs[what].append(self.run_ceremony(d, people, token, transcript, options=options))
                        if "--sessions" in options:
                            self.kept_sessions("sessions", n, what, os.path.join(d, transcript))
                    elif what == "durable":
                        runs[what].append(self.floor_wrap(token, d, params, calls=True, durable=True)[0])
                    else:
                        runs[what].append(self.floor_wrap(token, d, params, sessions=int(what[-1]))[0])
                    self.drop(token)
            self.note(f"sessions N={n} end")
            table[n] = runs
            self.aside(d)
        self.results["sessions"] = table

    def sessions_p11kit(self, floors_only=False):
        """The same through p11-kit remoting (an RPC per call, as a network HSM): keyrite and the
        floor with 1, 2 and 4 sessions, N = 100 and 1000, a fresh server and token per run."""
        if not floors_only:
            self.require_batch_options()
        rounds = {100: 2, 1000: 1} if not self.args.quick else {100: 1, 1000: 1}
        counts = (1, 2, 4)
        keyrites = [] if floors_only else [f"keyrite{s}" for s in counts]
        floors = [f"floor{s}" for s in counts]
        table = {}
        for n in (100, 1000):
            log(f"sessions through p11-kit, N={n}: {rounds[n]} rounds of {', '.join(keyrites + floors)}")
            d, people, params = self.scene(n, f"p11kit-{n}")
            runs = {what: [] for what in keyrites + floors}
            self.note(f"p11-kit N={n} start")
            for r in range(rounds[n]):
                order = keyrites + floors
                k = r % len(order)
                for what in order[k:] + order[:k]:
                    token = setup.RemoteToken(self.keyrite)
                    try:
                        sessions = int(what[-1])
                        if what.startswith("keyrite"):
                            transcript = f"t-{what}-{r}.jsonl"
                            runs[what].append(self.run_ceremony(
                                d, people, token, transcript, options=["--sessions", str(sessions)]))
                            if sessions > 1:
                                self.kept_sessions("sessions_p11kit", n, what, os.path.join(d, transcript))
                        else:
                            runs[what].append(self.floor_wrap(token, d, params, sessions=sessions)[0])
                    finally:
                        token.stop()
            self.note(f"p11-kit N={n} end")
            table[n] = runs
            self.aside(d)
        self.results["sessions_p11kit"] = table

    def floor(self):
        """Only the floor loops of the sessions parts (no keyrite run): what can be measured
        before keyrite has --batch-steps and --sessions."""
        self.sessions(floors_only=True)
        self.sessions_p11kit(floors_only=True)

    # ---------------------------------------------------------------- ceremony overhead

    def ceremony(self):
        rounds = 7 if not self.args.quick else 2
        log(f"ceremony overhead: {rounds} rounds of a 3-custodian, 3-wrap ceremony and its token operations alone")
        d = os.path.join(self.work, "ceremony")
        os.makedirs(d)
        pool = setup.rsa_pool(self.cache, 3)
        people = setup.custodians(d)
        params = setup.write_params(d, 3, pool)
        text = (
            f'version = 1\nceremony_id = "payments"\nnot_before = "{setup.rfc3339(-1)}"\n'
            f'not_after = "{setup.rfc3339(24)}"\noperator = "Olivia Operator"\ntoken_label = "bench"\n'
            f'signing_key_label = "ceremony-signer"\npin = "env:{setup.PIN_ENV}"\n\n'
            '[[steps]]\naction = "generate"\nkey_label = "payments"\n'
        )
        for i, p in enumerate(params):
            text += (
                f'\n[[steps]]\naction = "wrap"\nkey_label = "payments"\nprovider = "aws"\n'
                f'params = "{p}"\nalgorithm = "{setup.ALGORITHM}"\nout = "out-bulk/region-{i}"\n'
            )
        with open(os.path.join(d, "plan.toml"), "w") as f:
            f.write(text)
        setup.approve(self.keyrite, d, os.path.join(d, "plan.toml"), people, os.path.join(d, "approvals"))
        whole, ops = [], []
        self.note("ceremony start")
        for r in range(rounds):
            for what in (["keyrite", "ops"] if r % 2 == 0 else ["ops", "keyrite"]):
                token = self.token()
                if what == "keyrite":
                    whole.append(self.run_ceremony(d, people, token, f"t-{r}.jsonl", threshold=2))
                else:
                    _, out = timed(
                        [self.args.floor, "ceremony", setup.SOFTHSM2, token.label, setup.PIN_ENV,
                         "ceremony-signer", "payments", "payments"] + [os.path.join(d, p) for p in params],
                        env=token.env(),
                    )
                    ops.append(json.loads(out)["seconds"])
                self.drop(token)
        self.note("ceremony end")
        # One more run under strace, only to count the fsyncs and syncfs calls and sum their time
        # (strace slows it).
        token = self.token()
        setup.write_policy(os.path.join(d, "policy.toml"), people, 2, token.signer_fingerprint)
        self.aside(os.path.join(d, "out-bulk"))
        os.makedirs(os.path.join(d, "out-bulk"))
        trace = os.path.join(self.work, "fsync.trace")
        timed(
            ["strace", "-f", "-qq", "--seccomp-bpf", "-T", "-y", "-e", "trace=fsync,fdatasync,syncfs", "-o", trace,
             self.keyrite, "ceremony", "run", "plan.toml", "--policy", "policy.toml", "--approvals", "approvals",
             "--transcript", "traced.jsonl"],
            env=token.env(), cwd=d,
        )
        self.drop(token)
        fsyncs = {"transcript": [], "outputs": [], "syncfs": [], "other": []}
        # Concurrent calls (the output rounds' threads) show as "<unfinished ...>" and
        # "<... fsync resumed>" lines: the call and path are on the first, the time on the second.
        pending = {}
        for line in open(trace):
            pid = line.split(maxsplit=1)[0]
            start = re.search(r"(f(?:data)?sync|syncfs)\(\d+<([^>]*)>", line)
            if start and "unfinished" in line:
                pending[pid] = (start.group(1), start.group(2))
                continue
            end = re.search(r"=\s*0\s*<([\d.]+)>\s*$", line)
            if not end:
                continue
            call = (start.group(1), start.group(2)) if start else pending.pop(pid, None)
            if call is None:
                continue
            name, path = call
            seconds = float(end.group(1))
            if name == "syncfs":
                kind = "syncfs"
            else:
                kind = "transcript" if path.endswith("traced.jsonl") else ("outputs" if "out-bulk" in path else "other")
            fsyncs[kind].append(seconds)
        with open(os.path.join(d, "traced.jsonl")) as f:
            lines = sum(1 for _ in f)
        self.results["ceremony"] = {"whole": whole, "ops": ops, "fsyncs": fsyncs, "lines": lines}
        self.aside(d)

    # ---------------------------------------------------------------- verify

    def hyperfine(self, commands, runs, cwd):
        # The verifiers exit 4 on these transcripts (no policy: a sealed, completed record that no
        # quorum approved), which verify() checks once for each before timing.
        out = os.path.join(self.work, "hyperfine.json")
        cmd = ["hyperfine", "-N", "-i", "--style", "none", "--warmup", "2", "--runs", str(runs), "--export-json", out]
        subprocess.run(cmd + commands, cwd=cwd, check=True, capture_output=True)
        with open(out) as f:
            return [r["times"] for r in json.load(f)["results"]]

    def verify(self):
        sizes = (10, 10_000, 1_000_000)
        token = self.token()
        d = os.path.join(self.work, "verify")
        os.makedirs(d)
        shutil.copy(token.signer_pem, os.path.join(d, "signer.pem"))
        # Every wrap's wrapping key, with its attestation line (AWS gives none), as a ceremony has.
        wrapping_key = os.path.join(d, "wrapping-key.der")
        with open(wrapping_key, "wb") as f:
            f.write(setup.public_der(setup.rsa_pool(self.cache, 1)[0]))
        made = {}
        for n in sizes:
            log(f"verify: a transcript of {n:,} lines, sealed by the token")
            seconds, _ = timed(
                [self.args.transcript, setup.SOFTHSM2, token.label, setup.PIN_ENV, "ceremony-signer", str(n),
                 wrapping_key, os.path.join(d, f"t{n}.jsonl")],
                env=token.env(),
            )
            made[n] = {"seconds": seconds, "bytes": os.path.getsize(os.path.join(d, f"t{n}.jsonl"))}
        self.drop(token)
        verifier = os.path.join(REPO, "tests", "independent", "verify_transcript.py")
        results = {}
        self.note("verify start")
        for n in sizes:
            t = f"t{n}.jsonl"
            keyrite = [self.keyrite, "verify", t, "--signer", "signer.pem", "--no-policy"]
            python = [PYTHON, verifier, t, "signer.pem", "--no-policy"]
            sha = ["sha256sum", t]
            if n < 1_000_000:
                # The verdict every timed run gives: NOT APPROVED (exit 4), as hyperfine -i hides it.
                timed(keyrite, cwd=d, code=4)
                timed(python, cwd=d, code=4)
                runs = 20 if not self.args.quick else 3
                log(f"verify: {n:,} lines, {runs} runs each (hyperfine)")
                k, s, p = self.hyperfine([" ".join(keyrite), " ".join(sha), " ".join(python)], runs, d)
                results[n] = {"keyrite": k, "sha256sum": s, "python": p}
            else:
                rounds = 3 if not self.args.quick else 1
                log(f"verify: {n:,} lines, {rounds} interleaved rounds of keyrite and sha256sum, one of Python")
                k, s = [], []
                for r in range(rounds):
                    for what in (["k", "s"] if r % 2 == 0 else ["s", "k"]):
                        seconds, _ = timed(keyrite if what == "k" else sha, cwd=d, code=4 if what == "k" else 0)
                        (k if what == "k" else s).append(seconds)
                p = [timed(python, cwd=d, code=4)[0]]
                results[n] = {"keyrite": k, "sha256sum": s, "python": p}
        self.note("verify end")
        # Memory: peak RSS, by /usr/bin/time.
        memory = {}
        for n in sizes:
            rss = {}
            for name, cmd in (("keyrite", [self.keyrite, "verify", f"t{n}.jsonl", "--signer", "signer.pem", "--no-policy"]),
                              ("sha256sum", ["sha256sum", f"t{n}.jsonl"])):
                out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, cwd=d, capture_output=True)
                rss[name] = int(out.stderr.decode().strip().splitlines()[-1])
            memory[n] = rss
        # Python's peak at 1M, from one more run only when asked: it needs gigabytes.
        self.results["verify"] = {"made": made, "times": results, "memory": memory}
        self.aside(d)

    # ---------------------------------------------------------------- start-up

    def startup(self):
        log("start-up: keyrite --version and token info (hyperfine)")
        token = self.token()
        runs = 30 if not self.args.quick else 5
        env_cmds = [
            f"{self.keyrite} --version",
            "openssl version",
            f"{self.keyrite} token info --token {token.label}",
            f"pkcs11-tool --module {setup.SOFTHSM2} --list-token-slots",
        ]
        out = os.path.join(self.work, "startup.json")
        subprocess.run(
            ["hyperfine", "-N", "--style", "none", "--warmup", "3", "--runs", str(runs), "--export-json", out] + env_cmds,
            env=token.env(), check=True, capture_output=True,
        )
        with open(out) as f:
            times = [r["times"] for r in json.load(f)["results"]]
        self.drop(token)
        self.results["startup"] = dict(zip(["version", "openssl", "info", "pkcs11-tool"], times))

    # ---------------------------------------------------------------- the report

    def versions(self):
        def first_line(cmd):
            try:
                out = subprocess.run(cmd, capture_output=True, text=True)
                return (out.stdout or out.stderr).strip().splitlines()[0]
            except (OSError, IndexError):
                return "?"

        commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        softhsm = first_line(["dpkg-query", "-W", "-f=${Version}", "softhsm2"])
        cpu = "?"
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        sha_ni = " sha_ni" in open("/proc/cpuinfo").read()
        mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
        fs = first_line(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "-T", self.work])
        journal = "?"
        source = first_line(["findmnt", "-n", "-o", "SOURCE", "-T", self.work])
        if shutil.which("dumpe2fs") and source.startswith("/dev/"):
            feats = subprocess.run(["dumpe2fs", "-h", source], capture_output=True, text=True).stdout
            journal = "with a journal" if "has_journal" in feats else "without a journal"
        return {
            # The version names the commit it was built from; the checkout may have moved on.
            "keyrite": first_line([self.keyrite, "--version"])
            + (f" (checkout at {commit}, uncommitted changes)" if dirty else ""),
            "rustc": first_line(["rustc", "--version"]),
            "softhsm2": f"SoftHSM2 {softhsm} (Debian softhsm2)",
            "openssl": first_line(["openssl", "version"]),
            "sha256sum": first_line(["sha256sum", "--version"]),
            "python": first_line([PYTHON, "--version"]) + ", cryptography " + first_line(
                [PYTHON, "-c", "import cryptography; print(cryptography.__version__)"]),
            "hyperfine": first_line(["hyperfine", "--version"]),
            "os": first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]) + f", Linux {platform.release()}",
            "cpu": f"{cpu}, {os.cpu_count()} cores{' with the SHA extensions (sha_ni)' if sha_ni else ''}, {mem:,} MiB RAM",
            "disk": f"{fs} ({journal}) for outputs and transcripts; SoftHSM2 tokens in {self.token_base}",
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keyrite", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--transcript", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="one or two rounds each: to try the script")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    parts = ("bulk", "sessions", "sessions_p11kit", "floor", "ceremony", "verify", "startup")
    ap.add_argument("--only", default="bulk,sessions,sessions_p11kit,ceremony,verify,startup",
                    help=f"comma-separated parts, of: {', '.join(parts)}")
    args = ap.parse_args()
    for part in args.only.split(","):
        if part not in parts:
            ap.error(f"--only: no part {part!r} (parts: {', '.join(parts)})")
    b = Bench(args)
    if any(p in ("sessions", "sessions_p11kit") for p in args.only.split(",")):
        b.require_batch_options()  # before any part runs, not minutes into the bench
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    try:
        b.note("start")
        for part in args.only.split(","):
            getattr(b, part)()
        b.note("end")
        b.results["versions"] = b.versions()
    finally:
        b.cleanup()
    b.results["noise"] = b.noise
    b.results["started"] = started.strftime("%Y-%m-%d %H:%M UTC")
    b.results["duration"] = time.perf_counter() - t0
    b.results["quick"] = args.quick
    raw = os.path.splitext(args.out)[0] + ".json"
    with open(raw, "w") as f:
        json.dump(b.results, f, indent=1)
    import bench_report

    with open(args.out, "w") as f:
        f.write(bench_report.render(b.results))
    log(f"wrote {args.out} and {raw} in {b.results['duration']:.0f} s")


if __name__ == "__main__":
    main()
