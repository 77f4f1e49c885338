#!/usr/bin/python3
"""Self-tests of verify_transcript.py's batch (group commit) checks, on hand-built line
sequences: python3 tests/independent/test_batches.py. Each case is a list of (step, data) pairs;
the data holds only the fields the batch checks read.

    test_batches.py --write DIR   also writes each case as an unsealed transcript (DIR/NAME.jsonl,
                                  hash-chained, in keyrite's encoding, full data) and prints
                                  "NAME ok|bad" per line, for running scripts/verify-with-openssl on.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_transcript as vt  # noqa: E402


def batch(first, max_steps=4, sessions=1):
    return ("batch", {"first": first, "max_ms": 250, "max_steps": max_steps, "sessions": sessions})


def commit(first, last, outputs):
    return ("commit", {"first": first, "last": last, "outputs": outputs})


def line(step, index):
    return (step, {"index": index})


def gen(i):
    return [line("generate", i), line("generated", i)]


# Valid: the old unbatched form, batches of generate and wrap steps, a resumed key, a destroy
# closing a batch, failures where the contract puts them, and a record that just ends.
GOOD = {
    "unbatched": gen(0) + [line("wrap", 1), line("wrapped", 1), line("destroy", 2), line("destroyed", 2), ("finish", {})],
    "one_batch": [batch(0)] + gen(0) + [line("wrap", 1), line("rewrap", 2), commit(0, 2, 2), line("wrapped", 1),
                                        line("rewrapped", 2), ("finish", {})],
    "generate_only": [batch(0, 2)] + gen(0) + gen(1) + [commit(0, 1, 0), line("destroy", 2), line("destroyed", 2), ("finish", {})],
    "two_batches": [batch(0, 1)] + gen(0) + [commit(0, 0, 0), batch(1, 1), line("wrap", 1), commit(1, 1, 1),
                                             line("wrapped", 1), ("finish", {})],
    "resumed": [("resume", {"from": "t.jsonl", "keys": ["k"], "lines": 9, "sha256": "0" * 64}), batch(0)] + [line("resumed", 0), line("wrap", 1), commit(0, 1, 1), line("wrapped", 1), ("finish", {})],
    "first_step_fails": [batch(3), ("failure", {"index": 3}), ("finish", {})],
    "fails_inside": [batch(0)] + gen(0) + [line("wrap", 1), commit(0, 1, 1), line("wrapped", 1),
                                           ("failure", {"index": 2}), ("finish", {})],
    "commit_round_fails": [batch(0)] + gen(0) + [line("wrap", 1), line("wrap", 2), commit(0, 2, 2),
                                                 ("failure", {"index": 1}), ("finish", {})],
    "move_fails": [batch(0)] + [line("wrap", 0), line("wrap", 1), commit(0, 1, 2), line("wrapped", 0),
                                ("failure", {"index": 1}), ("finish", {})],
    "first_generate_fails": [batch(0), line("generate", 0), ("failure", {"index": 0}), ("finish", {})],
    "generate_fails_inside": [batch(0)] + gen(0) + [line("wrap", 1), line("generate", 2), commit(0, 1, 1),
                                                    line("wrapped", 1), ("failure", {"index": 2}), ("finish", {})],
    "generate_fails_after_a_generate": [batch(0)] + gen(0) + [line("generate", 1), commit(0, 0, 0),
                                                              ("failure", {"index": 1}), ("finish", {})],
    # A generate step the token fails (the steps before it committed, its failure owed), then
    # the commit's move of an earlier wrap fails: keyrite records the move's failure, which
    # stands for the owed one, then settles the keys and finishes.
    "generate_fails_then_a_move_fails": [batch(0)] + gen(0) + [line("wrap", 1), line("generate", 2), commit(0, 1, 1),
                                                               ("failure", {"index": 1}), ("finish", {})],
    "interrupted": [batch(0)] + gen(0) + [line("wrap", 1)],
    "unbatched_after_batch": [batch(0, 1)] + gen(0) + [commit(0, 0, 0)] + gen(1) + [("finish", {})],
}

# Invalid, and the words the message must hold (each message also names the line).
BAD = {
    "max_steps_zero": ([batch(0, 0)], "line 1 (batch): max_steps"),
    "sessions_zero": ([batch(0, 1, 0)], "line 1 (batch): sessions"),
    "index_below": ([batch(1)] + gen(0), "line 2 (generate): step 0 inside the batch"),
    "index_above": ([batch(0, 2)] + gen(0) + [line("wrap", 2)], "line 4 (wrap): step 2 inside the batch"),
    "out_of_order": ([batch(0)] + gen(1) + gen(0), "line 4 (generate): step 0 after step 1"),
    "destroy_inside": ([batch(0)] + gen(0) + [line("destroy", 1)], "line 4 (destroy): a destroy step inside the batch"),
    "commit_first": ([batch(0)] + gen(0) + [commit(1, 0, 0)], "line 4 (commit): commit.first is 1"),
    "commit_last": ([batch(0)] + gen(0) + gen(1) + [commit(0, 2, 0)], "line 6 (commit): commit.last is 2"),
    "commit_outputs": ([batch(0)] + [line("wrap", 0), commit(0, 0, 0)], "line 3 (commit): commit.outputs is 0"),
    "commit_no_steps": ([batch(0), commit(0, 0, 0)], "line 2 (commit): a commit line for the batch"),
    "commit_no_batch": (gen(0) + [commit(0, 0, 0)], "line 3 (commit): a commit line without a batch"),
    "wrapped_before_commit": ([batch(0), line("wrap", 0), line("wrapped", 0)], "line 3 (wrapped): a wrapped line inside the batch"),
    "wrapped_out_of_order": ([batch(0), line("wrap", 0), line("wrap", 1), commit(0, 1, 2), line("wrapped", 1)],
                             "line 5 (wrapped): a wrapped line for step 1"),
    "wrapped_for_rewrap": ([batch(0), line("rewrap", 0), commit(0, 0, 1), line("wrapped", 0)],
                           "next result due is rewrapped for step 0"),
    "new_batch_before_results": ([batch(0), line("wrap", 0), commit(0, 0, 1), batch(1)],
                                 "line 4 (batch): before the results of the batch of line 1"),
    "step_before_results": ([batch(0), line("wrap", 0), commit(0, 0, 1)] + gen(1), "line 4 (generate): before the results"),
    "no_commit_next_batch": ([batch(0)] + gen(0) + [batch(1)], "line 4 (batch): the batch of line 1 has steps but no commit line"),
    "no_commit_finish": ([batch(0)] + gen(0) + [("finish", {})], "line 4 (finish): the batch of line 1 has steps but no commit line"),
    "failure_before_commit": ([batch(0)] + gen(0) + [("failure", {"index": 1})], "line 4 (failure): a failure line inside the batch"),
    "owed_failure": ([batch(0)] + gen(0) + [line("generate", 1), commit(0, 0, 0), batch(1)],
                     "line 6 (batch): step 1 was announced and its batch committed without it"),
    "owed_failure_after_results": ([batch(0)] + gen(0) + [line("wrap", 1), line("generate", 2), commit(0, 1, 1),
                                   line("wrapped", 1)] + gen(3),
                                   "line 8 (generate): step 2 was announced"),
    "commit_with_open_last": ([batch(0)] + gen(0) + [line("generate", 1), commit(0, 1, 0)],
                              "line 5 (commit): commit.last is 1"),
    "failure_skips_a_result": ([batch(0)] + gen(0) + [line("wrap", 1), line("wrap", 2), commit(0, 2, 2),
                                ("failure", {"index": 2})],
                               "line 7 (failure): a failure of step 2, but after the commit line (line 6) the next result due is wrapped for step 1"),
    "generated_apart": ([batch(0), line("generate", 0), line("wrap", 1)], "line 3 (wrap): a new step before the generated line"),
}


class Batches(unittest.TestCase):
    def test_good(self):
        for name, steps in GOOD.items():
            with self.subTest(name):
                self.assertIsNone(vt.check_batches(steps))

    def test_bad(self):
        for name, (steps, words) in BAD.items():
            with self.subTest(name):
                problem = vt.check_batches(steps)
                self.assertIsNotNone(problem)
                self.assertIn(words, problem)

    def test_data_fields(self):
        good = {"first": 0, "max_ms": 250, "max_steps": 1, "sessions": 1}
        self.assertIsNone(vt.data_misfit(good, "batch", "data"))
        self.assertIn("unknown field", vt.data_misfit({**good, "extra": 1}, "batch", "data"))
        self.assertIn("no field sessions", vt.data_misfit({k: v for k, v in good.items() if k != "sessions"}, "batch", "data"))
        self.assertIn("not an integer", vt.data_misfit({**good, "max_ms": -1}, "batch", "data"))
        self.assertIsNone(vt.data_misfit({"first": 0, "last": 0, "outputs": 0}, "commit", "data"))
        self.assertIn("not an integer", vt.data_misfit({"first": 0, "last": "0", "outputs": 0}, "commit", "data"))
        self.assertIn("unknown field", vt.data_misfit({"first": 0, "last": 0, "outputs": 0, "sessions": 1}, "commit", "data"))
        self.assertIn("batch", vt.KNOWN_STEPS)
        self.assertIn("commit", vt.KNOWN_STEPS)


HERE = os.path.dirname(os.path.abspath(__file__))
OPENSSL_VERIFIER = os.path.join(HERE, "..", "..", "scripts", "verify-with-openssl")


@unittest.skipUnless(all(shutil.which(t) for t in ("jq", "tomlq", "openssl", "ssh-keygen")), "needs verify-with-openssl's tools")
class Verifiers(unittest.TestCase):
    """Both verifiers, run on each case written as an unsealed transcript: the same structure
    result (PASS, or FAIL with the same message) and exit code (3: intact but unsealed; 1)."""

    def test_agree(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        with tempfile.TemporaryDirectory() as d:
            pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            signer = os.path.join(d, "signer.pem")
            with open(signer, "wb") as f:
                f.write(pem)
            cases = {name: (steps, None) for name, steps in GOOD.items()}
            cases.update((name, case) for name, case in BAD.items() if case[0][-1][0] != "finish")
            for name, (steps, words) in cases.items():
                with self.subTest(name):
                    path = os.path.join(d, f"{name}.jsonl")
                    with open(path, "wb") as f:
                        f.write(transcript(steps))
                    runs = [subprocess.run(cmd + [path, signer, "--no-policy"], capture_output=True, text=True)
                            for cmd in ([sys.executable, os.path.join(HERE, "verify_transcript.py")], [OPENSSL_VERIFIER])]
                    structure = [next(l for l in r.stdout.splitlines() if l.startswith("structure")) for r in runs]
                    self.assertEqual(structure[0], structure[1])
                    self.assertEqual([r.returncode for r in runs], [3, 3] if words is None else [1, 1])
                    if words is not None:
                        self.assertIn(words, structure[0])


# Full data for each step, for --write: what the data checks need (the batch checks read index,
# first, last, outputs, max_steps and sessions from the case).
KEY = {"check_sha256": None, "id": "01", "kcv": "abcdef", "kcv_method": "aes-cmac", "label": "k", "spec": "aes-256",
       "template": {}}
FULL = {
    "generate": lambda d: {"index": d["index"], "key_label": "k", "key_spec": "aes-256"},
    "generated": lambda d: {"index": d["index"], "key": KEY},
    "resumed": lambda d: {"action": "generate", "index": d["index"], "key": KEY},
    "wrap": lambda d: {"algorithm": "a", "index": d["index"], "key_label": "k", "key_material_valid_to": None,
                       "kms_key_id": "id", "mechanism": "m", "mechanism_parameters": "", "out": f"out{d['index']}",
                       "parameters_valid_to": None, "provider": "aws", "wrapping_key_sha256": "00"},
    "wrapped": lambda d: {"check_sha256": None, "files": {}, "index": d["index"], "kcv": "abcdef", "key_label": "k",
                          "out": f"out{d['index']}", "warning": None},
    "destroy": lambda d: {"check_sha256": None, "index": d["index"], "kcv": "abcdef", "key_label": "k"},
    "destroyed": lambda d: {"check_sha256": None, "index": d["index"], "kcv": "abcdef", "key_label": "k"},
    "failure": lambda d: {"action": "a", "error": "e", "index": d["index"]},
    "finish": lambda d: {"failure": {"error": "e"}, "keys": [], "outcome": "failed"},
}
FULL["rewrap"], FULL["rewrapped"] = FULL["wrap"], FULL["wrapped"]


def transcript(steps):
    """An unsealed transcript of the steps: chained, in keyrite's encoding. A finish line is left
    off (a failed finish needs a failure line, and the case may have none)."""
    out, prev = [], hashlib.sha256(b"").hexdigest()
    for seq, (step, data) in enumerate(s for s in steps if s[0] != "finish"):
        data = FULL[step](data) if step in FULL else data
        obj = {"actor": "keyrite", "data": data, "prev": prev, "seq": seq, "step": step,
               "time": "2026-12-06T00:00:00Z", "v": 1}
        raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
        out.append(raw + b"\n")
        prev = hashlib.sha256(raw).hexdigest()
    return b"".join(out)


def write(directory):
    for name, steps in GOOD.items():
        with open(os.path.join(directory, f"{name}.jsonl"), "wb") as f:
            f.write(transcript(steps))
        print(name, "ok")
    for name, (steps, _) in BAD.items():
        if steps[-1][0] == "finish":
            continue  # needs the finish line, left off an unsealed transcript
        with open(os.path.join(directory, f"{name}.jsonl"), "wb") as f:
            f.write(transcript(steps))
        print(name, "bad")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write(sys.argv[2])
    else:
        unittest.main()
