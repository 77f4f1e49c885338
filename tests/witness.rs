//! Witnesses co-sign a sealed transcript with their own SSH keys; `ssh-keygen -Y verify` agrees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::ceremony::Ceremony;
use common::*;
use serde_json::Value;

fn keyrite_ok(c: &Ceremony, args: &[&str]) -> String {
    String::from_utf8(run_ok(c.token.keyrite().args(args))).unwrap()
}

#[test]
fn a_witness_signs_and_ssh_keygen_verifies_it() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let wendy = c.person("wendy").key.display().to_string();
    let out = keyrite_ok(
        &c,
        &[
            "witness",
            "sign",
            "t.jsonl",
            "--ssh-key",
            &wendy,
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
        ],
    );
    assert_eq!(out, "Witness \"wendy\" signed t.jsonl.\n");

    let lines = c.transcript("t.jsonl");
    let (_, last) = lines.last().unwrap();
    assert_eq!(last["step"], "witness");
    assert_eq!(last["actor"], "wendy");
    // What was signed is the SHA-256 of the seal line, as sha256sum computes it.
    let seal = &lines[lines.len() - 2].0;
    let head = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(seal.as_bytes()));
    assert_eq!(last["data"]["message"], head);
    std::fs::write(
        c.dir().join("allowed_witnesses"),
        format!("wendy {}\n", c.person("wendy").public()),
    )
    .unwrap();
    std::fs::write(
        c.dir().join("w.sig"),
        last["data"]["signature"].as_str().unwrap(),
    )
    .unwrap();
    let ok = run(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s\\n' {head} | ssh-keygen -Y verify -f allowed_witnesses -I wendy -n keyrite-witness -s w.sig"
            ))
            .current_dir(c.dir()),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let out = c.verify("t.jsonl", &["--policy", "policy.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["witnesses"][0]["name"], "wendy");
    assert_eq!(report["witnesses"][0]["verified"], true);

    // The same witness twice is refused.
    let again = run(c.token.keyrite().args([
        "witness",
        "sign",
        "t.jsonl",
        "--ssh-key",
        &wendy,
        "--signer",
        "signer.pem",
        "--policy",
        "policy.toml",
    ]));
    assert_eq!(
        String::from_utf8(again.stderr).unwrap(),
        "keyrite: wendy has already witnessed this transcript\n"
    );
}

#[test]
fn a_signature_made_elsewhere_is_added_and_outsiders_are_refused() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let message = keyrite_ok(
        &c,
        &["witness", "message", "t.jsonl", "--signer", "signer.pem"],
    );
    std::fs::write(c.dir().join("seal.head"), &message).unwrap();
    for (who, namespace) in [
        ("dave", "keyrite-witness"),
        ("wendy", "file"),
        ("wendy", "keyrite-witness"),
    ] {
        let _ = std::fs::remove_file(c.dir().join("seal.head.sig"));
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
                .arg(&c.person(who).key)
                .arg(c.dir().join("seal.head")),
        );
        let out = run(c.token.keyrite().args([
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
        let stderr = String::from_utf8(out.stderr).unwrap();
        match (who, namespace) {
            ("dave", _) => assert!(
                stderr.contains("is not a witness's in the policy\n"),
                "{stderr}"
            ),
            (_, "file") => assert_refused(
                stderr.as_bytes(),
                "keyrite: the signature is in namespace \"file\", not \"keyrite-witness\"\n",
                "namespace",
            ),
            _ => assert!(out.status.success(), "{stderr}"),
        }
    }
    let witnesses: Vec<String> = c
        .transcript("t.jsonl")
        .iter()
        .filter(|(_, v)| v["step"] == "witness")
        .map(|(_, v)| v["actor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(witnesses, ["wendy"]);
    assert_eq!(
        c.verify("t.jsonl", &["--policy", "policy.toml"])
            .status
            .code(),
        Some(0)
    );
}
