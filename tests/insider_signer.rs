//! The ceremony signer against a PIN holder who plants a key pair of their own beside it, of
//! the same label and the other kind (`tests/independent/plant_signer.py`, PyKCS11): the label
//! then names no signer, and a run whose signer changed since it began signs nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::Ceremony;
use common::*;

/// The signer is RSA-PSS; a PIN holder creates an ECDSA P-256 pair of the signer's label from
/// a private key they made and keep (not sensitive, extractable, not generated on the token).
/// `token signer export` refuses the label, which two key pairs hold, rather than print either.
#[test]
fn a_planted_ec_pair_beside_an_rsa_signer_is_not_the_signer() {
    let c = Ceremony::signed_by(
        TestToken::softhsm("ceremony"),
        &["us-east-1"],
        &["--algorithm", "rsa-pss-3072"],
    );
    let planted = run_ok(
        c.token
            .independent("plant_signer.py")
            .args([PIN_ENV, "ceremony-signer"]),
    );
    let planted = String::from_utf8(planted).unwrap().trim().to_owned();
    let out = run(c.token.keyrite().args([
        "token",
        "signer",
        "export",
        "--label",
        "ceremony-signer",
        "--pin-env",
        PIN_ENV,
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains(&planted),
        "the attacker's key is exported as the signer: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with(
            "keyrite: token \"ceremony\": the signer \"ceremony-signer\" is not proven: both an EC and an RSA key pair have that label, where a signer is one key pair: one of them was not made by `token signer create`\n"
        ),
        "{stderr}"
    );
}

/// The same planted pair, made while an RSA-PSS-sealed ceremony is stopped after its finish
/// line: the run signs nothing and says why, rather than seal with the planted key under the
/// RSA signer's fingerprint and report success.
#[cfg(feature = "fault-injection")]
#[test]
fn a_pair_planted_during_the_run_does_not_sign_the_seal() {
    use std::process::Stdio;
    let c = Ceremony::signed_by(
        TestToken::softhsm("ceremony"),
        &["us-east-1"],
        &["--algorithm", "rsa-pss-3072"],
    );
    c.approve_plan();
    // The finish line is the 12th line of this plan's transcript (generate, one wrap).
    let child = c
        .run_command("t.jsonl")
        .env("KEYRITE_FAULT", "transcript-line:12:stop")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .split_whitespace()
        .nth(2)
        != Some("T")
    {
        assert!(std::time::Instant::now() < deadline, "keyrite did not stop");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let planted = run_ok(
        c.token
            .independent("plant_signer.py")
            .args([PIN_ENV, "ceremony-signer"]),
    );
    let planted = String::from_utf8(planted).unwrap().trim().to_owned();
    run_ok(std::process::Command::new("kill").args(["-CONT", &pid.to_string()]));
    let out = child.wait_with_output().unwrap();
    let lines = c.transcript("t.jsonl");
    assert_eq!(lines[11].1["step"], "finish", "the 12th line is the finish");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "planted key {planted}: {stderr}");
    assert!(
        stderr.contains("both an EC and an RSA key pair have that label"),
        "{stderr}"
    );
    assert!(
        lines.iter().all(|(_, l)| l["step"] != "seal"),
        "a seal was written"
    );
}
