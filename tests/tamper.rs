//! The tamper corpus: from real sealed transcripts, every kind of alteration an auditor must
//! catch, checked by three verifiers that share no code — `keyrite verify`,
//! `scripts/verify-with-openssl` (sha256sum, openssl, ssh-keygen) and
//! `tests/independent/verify_transcript.py` (Python `cryptography`). They must agree on every
//! case: 0 verified, 3 an intact record of a failed or unfinished ceremony, 1 invalid. Run
//! without the policy (`--no-policy`), an intact completed record is 4, never 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, rechain, reseal, verifier_codes};
use common::wrap::Wrap;
use common::*;
use serde_json::Value;

struct Case {
    name: String,
    lines: Vec<String>,
    /// Verify with `--outputs` (the independent verifiers: a third argument).
    outputs: bool,
    /// The failed ceremony's signer rather than the main one's.
    failed_signer: bool,
    expected: i32,
}

fn case(name: impl Into<String>, lines: Vec<String>, expected: i32) -> Case {
    Case {
        name: name.into(),
        lines,
        outputs: false,
        failed_signer: false,
        expected,
    }
}

#[test]
fn three_independent_verifiers_agree_on_every_tampered_transcript() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1"]);
    c.run_approved("t.jsonl");
    let text = std::fs::read_to_string(c.dir().join("t.jsonl")).unwrap();
    let original: Vec<String> = text.lines().map(str::to_owned).collect();
    let seal = original
        .iter()
        .position(|l| l.contains(r#""step":"seal""#))
        .unwrap();
    assert_eq!(seal, original.len() - 1);

    // A sealed transcript with a witness line after the seal.
    let wendy = c.person("wendy").key.display().to_string();
    run_ok(&mut c.witness_command(&["sign", "t.jsonl", "--ssh-key", &wendy]));
    let witnessed: Vec<String> = std::fs::read_to_string(c.dir().join("t.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(witnessed.len(), original.len() + 1);

    // Another ceremony's transcript, on another token, for splicing.
    let other = Ceremony::new(&["us-east-1"]);
    other.run_approved("o.jsonl");
    let other_lines: Vec<String> = std::fs::read_to_string(other.dir().join("o.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    // A sealed record of a failed ceremony (SHA-256 OAEP is beyond SoftHSM2).
    let failed_run = Ceremony::new(&["us-east-1"]);
    failed_run.write_plan("payments-2026", "RSAES_OAEP_SHA_256");
    failed_run.approve_plan();
    assert_eq!(failed_run.run("f.jsonl").status.code(), Some(1));
    let failed_lines: Vec<String> = std::fs::read_to_string(failed_run.dir().join("f.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    let mut cases = vec![
        case("the original", original.clone(), 4),
        case("with a witness line", witnessed.clone(), 4),
        case("without its last witness line", original.clone(), 4),
    ];
    // One byte in each line: inside its prev, and its last field. (The seal's own time and
    // a last line's time are covered by no hash: the format signs the chain head only.)
    for (i, line) in witnessed.iter().enumerate() {
        let prev = line.find(r#""prev":""#).unwrap() + 20;
        for at in [prev, line.len() - 2] {
            let mut bytes = line.clone().into_bytes();
            bytes[at] ^= 0x01;
            let mut lines = witnessed.clone();
            lines[i] = String::from_utf8_lossy(&bytes).into_owned();
            cases.push(case(format!("byte {at} of line {i} flipped"), lines, 1));
        }
    }
    for i in 0..=seal {
        let mut lines = original.clone();
        lines.remove(i);
        cases.push(case(
            format!("line {i} dropped"),
            lines,
            if i == seal { 3 } else { 1 },
        ));
        let mut lines = witnessed.clone();
        lines.remove(i);
        cases.push(case(format!("line {i} dropped, witness kept"), lines, 1));
    }
    for i in 0..witnessed.len() - 1 {
        let mut lines = witnessed.clone();
        lines.swap(i, i + 1);
        cases.push(case(format!("lines {i} and {} swapped", i + 1), lines, 1));
    }
    for k in 1..=seal {
        cases.push(case(
            format!("truncated to {k} lines"),
            original[..k].to_vec(),
            3,
        ));
    }
    let values: Vec<Value> = original
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    {
        let mut edited = values.clone();
        let generated = edited
            .iter()
            .position(|v| v["step"] == "generated")
            .unwrap();
        edited[generated]["data"]["key"]["kcv"] = Value::from("000000");
        cases.push(case(
            "a KCV changed, the chain recomputed, the seal kept",
            rechain(&edited),
            1,
        ));
    }
    {
        let mut edited: Vec<Value> = failed_lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let finish = edited.iter().position(|v| v["step"] == "finish").unwrap();
        edited[finish]["data"]["outcome"] = Value::from("completed");
        edited[finish]["data"]["reason"] = Value::Null;
        let mut forged = case(
            "failed changed to completed, the chain recomputed",
            rechain(&edited),
            1,
        );
        forged.failed_signer = true;
        cases.push(forged);
    }
    {
        let mut edited = values.clone();
        let approvals = edited
            .iter()
            .position(|v| v["step"] == "approvals")
            .unwrap();
        let first = edited[approvals]["data"]["approvals"][0].clone();
        edited[approvals]["data"]["approvals"]
            .as_array_mut()
            .unwrap()
            .push(first);
        cases.push(case(
            "an approval duplicated, the chain recomputed",
            rechain(&edited),
            1,
        ));
    }
    let forger = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    cases.push(case(
        "re-sealed with another key",
        reseal(&original, &forger),
        1,
    ));
    {
        let mut lines = original.clone();
        let at = other_lines
            .iter()
            .position(|l| l.contains(r#""step":"generated""#))
            .unwrap();
        let here = lines
            .iter()
            .position(|l| l.contains(r#""step":"generated""#))
            .unwrap();
        lines[here] = other_lines[at].clone();
        cases.push(case("a line spliced from another ceremony", lines, 1));
    }
    cases.push(case(
        "another ceremony's whole transcript",
        other_lines.clone(),
        1,
    ));
    let mut sealed_failure = case("a sealed failed ceremony", failed_lines.clone(), 3);
    sealed_failure.failed_signer = true;
    cases.push(sealed_failure);
    {
        let mut replaced = case("an output file replaced (--outputs)", original.clone(), 1);
        replaced.outputs = true;
        cases.push(replaced);
        let mut intact = case("the outputs intact (--outputs)", original.clone(), 4);
        intact.outputs = true;
        cases.push(intact);
    }

    let signer = c.dir().join("signer.pem");
    let failed_signer = failed_run.dir().join("signer.pem");
    let mut jobs = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let file = c.dir().join(format!("case-{n}.jsonl"));
        let mut body = case.lines.join("\n");
        body.push('\n');
        std::fs::write(&file, body).unwrap();
        let dir = c.dir().join(format!("outputs-{n}"));
        if case.outputs {
            std::fs::create_dir(&dir).unwrap();
            for r in &c.regions {
                let name = format!("payments-2026-{}", r.name);
                run_ok(
                    Command::new("cp")
                        .arg("-r")
                        .arg(c.dir().join(&name))
                        .arg(dir.join(&name)),
                );
            }
            if case.expected == 1 {
                let victim = dir.join("payments-2026-eu-west-1/EncryptedKeyMaterial.bin");
                let mut bytes = std::fs::read(&victim).unwrap();
                bytes[10] ^= 0xff;
                std::fs::write(&victim, bytes).unwrap();
            }
        }
        let key = if case.failed_signer {
            &failed_signer
        } else {
            &signer
        };
        jobs.push((case, file, dir, key.clone()));
    }
    // The shell verifier takes a fraction of a second per line: run the cases four at a time.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let disagreements = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((case, file, dir, key)) = jobs.get(i) else {
                        break;
                    };
                    let outputs = case.outputs.then_some(dir.as_path());
                    let codes = verifier_codes(file, key, None, outputs);
                    for (verifier, code) in VERIFIERS.into_iter().zip(codes) {
                        if code != case.expected {
                            disagreements.lock().unwrap().push(format!(
                                "{}: {verifier} exited {code}, expected {}",
                                case.name, case.expected
                            ));
                        }
                    }
                }
            });
        }
    });
    let disagreements = disagreements.into_inner().unwrap();
    println!("{} tamper cases, each checked by 3 verifiers", cases.len());
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    assert!(cases.len() > 60);
}

/// A forger copies a real transcript's public parts and seals it with their own key, handing
/// the auditor that key's PEM: chain and seal hold, but the policy names another signer. And a
/// transcript made without any quorum fails when the auditor asks for the policy and the plan.
#[test]
fn the_policy_names_the_signer_and_a_record_without_quorum_fails_the_policy() {
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let original: Vec<String> = std::fs::read_to_string(c.dir().join("t.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let forger = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let mut body = reseal(&original, &forger).join("\n");
    body.push('\n');
    std::fs::write(c.dir().join("forged.jsonl"), body).unwrap();
    let pem = forger
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(c.dir().join("forger.pem"), pem).unwrap();
    let verify = |transcript: &str, signer: &str, extra: &[&str]| {
        run(c
            .token
            .keyrite()
            .args(["verify", transcript, "--signer", signer, "--json"])
            .args(extra))
    };
    // Without the policy the forgery is internally consistent, but not approved...
    assert_eq!(
        verify("forged.jsonl", "forger.pem", &["--no-policy"])
            .status
            .code(),
        Some(4)
    );
    // ...with it, the signer is not the policy's.
    let out = verify("forged.jsonl", "forger.pem", &["--policy", "policy.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let policy = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "policy")
        .unwrap();
    assert_eq!(policy["status"], "failed");
    assert!(
        policy["reason"]
            .as_str()
            .unwrap()
            .contains("but the policy names")
    );

    // A single recorded wrap has no quorum: asked for the policy and a plan, verify fails it.
    Wrap::new("wrap")
        .aws_oaep_sha1("params/us-east-1.json", "unapproved", "unapproved")
        .pin()
        .recorded("w.jsonl")
        .ok(&c.token);
    assert_eq!(
        verify("w.jsonl", "signer.pem", &["--no-policy"])
            .status
            .code(),
        Some(4)
    );
    assert_eq!(
        verify(
            "w.jsonl",
            "signer.pem",
            &["--policy", "policy.toml", "--plan", "plan.toml"]
        )
        .status
        .code(),
        Some(1)
    );
}
