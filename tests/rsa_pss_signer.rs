//! The ceremony signer on a token without EC: RSA-PSS 3072 (SHA-256, MGF1-SHA-256, salt 32).
//! Made here with `--algorithm rsa-pss-3072` on SoftHSM2 and kryoptic (which have EC too, so the
//! choice is forced), a ceremony sealed by it verifies in all three verifiers, its policy pins
//! its fingerprint like an EC signer's, and a seal that is not its signature is invalid in all
//! three. openCryptoki, which has no EC, chooses it by itself (tests/opencryptoki.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, verifier_codes, verifiers, write_lines};
use common::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn rsa_pss(token: TestToken) -> Ceremony {
    Ceremony::signed_by(token, &["us-east-1"], &["--algorithm", "rsa-pss-3072"])
}

/// The signer PEM is a 3072-bit RSA key whose SubjectPublicKeyInfo's SHA-256 is the fingerprint
/// `signer create` printed (openssl's reading of it, not keyrite's).
fn assert_rsa_3072_signer(c: &Ceremony) {
    let text = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-noout", "-text", "-in"])
            .arg(&c.signer_pem),
    );
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("Public-Key: (3072 bit)"), "{text}");
    let der = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&c.signer_pem),
    );
    assert_eq!(hex::encode(Sha256::digest(&der)), c.signer_fingerprint);
}

fn sealed_by_rsa_pss_verifies_in_all_three(token: TestToken) {
    let c = rsa_pss(token);
    assert_rsa_3072_signer(&c);
    c.approve_plan();
    c.run_approved("t.jsonl");
    let plan = c.dir().join("plan.toml");
    let outs = verifiers(
        &c.dir().join("t.jsonl"),
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        Some(c.dir()),
        &["--plan", plan.to_str().unwrap()],
    );
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let keyrite = String::from_utf8_lossy(&outs[0].stdout);
    assert!(
        keyrite.contains("the signer's RSA-PSS signature over the chain head verifies"),
        "{keyrite}"
    );
    for out in &outs[1..] {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("RSA-PSS (SHA-256, MGF1-SHA-256, salt 32) signature over the chain head"),
            "{text}"
        );
    }
}

#[test]
fn a_ceremony_sealed_by_an_rsa_pss_signer_verifies_in_all_three_verifiers_on_softhsm2() {
    sealed_by_rsa_pss_verifies_in_all_three(TestToken::softhsm("ceremony"));
}

#[test]
fn a_ceremony_sealed_by_an_rsa_pss_signer_verifies_in_all_three_verifiers_on_kryoptic() {
    sealed_by_rsa_pss_verifies_in_all_three(TestToken::kryoptic("ceremony"));
}

/// One bit of the seal's signature flipped: invalid in all three.
#[test]
fn a_seal_that_is_not_the_rsa_pss_signature_keyrite_makes_is_invalid_in_all_three() {
    use base64::Engine as _;
    let c = rsa_pss(TestToken::softhsm("ceremony"));
    c.approve_plan();
    c.run_approved("t.jsonl");
    let text = std::fs::read_to_string(c.dir().join("t.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let seal = lines
        .iter()
        .position(|l| serde_json::from_str::<Value>(l).unwrap()["step"] == "seal")
        .unwrap();
    let mut seal_value: Value = serde_json::from_str(lines[seal]).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut flipped = b64
        .decode(seal_value["signature"].as_str().unwrap())
        .unwrap();
    assert_eq!(flipped.len(), 384, "an RSA 3072 signature");
    flipped[100] ^= 0x01;
    seal_value["signature"] = Value::from(b64.encode(&flipped));
    let mut edited: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    edited[seal] = serde_json::to_string(&seal_value).unwrap();
    let file = c.dir().join("flipped.jsonl");
    write_lines(&file, &edited);
    let codes = verifier_codes(
        &file,
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        None,
    );
    assert_eq!(codes, [1, 1, 1], "a flipped bit in the RSA-PSS seal");
    // The honest transcript, for contrast, under the same arguments.
    let codes = verifier_codes(
        &c.dir().join("t.jsonl"),
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        None,
    );
    assert_eq!(codes, [0, 0, 0]);
}

/// The chain head signed by openssl with RSA-PSS (the same parameters) under another 3072-bit
/// key, the seal keeping the signer's fingerprint: invalid in all three.
#[test]
fn a_seal_by_another_rsa_key_is_invalid_in_all_three() {
    use base64::Engine as _;
    let c = rsa_pss(TestToken::softhsm("ceremony"));
    c.approve_plan();
    c.run_approved("t.jsonl");
    let text = std::fs::read_to_string(c.dir().join("t.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let seal = lines.len() - 1;
    let mut seal_value: Value = serde_json::from_str(&lines[seal]).unwrap();
    assert_eq!(seal_value["step"], "seal");
    let head = hex::decode(seal_value["prev"].as_str().unwrap()).unwrap();
    std::fs::write(c.dir().join("head.bin"), head).unwrap();
    let key = Kms::new(c.dir(), 3072).private_pem;
    let signature = run_ok(
        Command::new("openssl")
            .args(["pkeyutl", "-sign", "-inkey"])
            .arg(&key)
            .arg("-in")
            .arg(c.dir().join("head.bin"))
            .args([
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                "rsa_pss_saltlen:32",
            ])
            .args([
                "-pkeyopt",
                "digest:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ]),
    );
    assert_eq!(signature.len(), 384);
    seal_value["signature"] =
        Value::from(base64::engine::general_purpose::STANDARD.encode(&signature));
    lines[seal] = serde_json::to_string(&seal_value).unwrap();
    let file = c.dir().join("other.jsonl");
    write_lines(&file, &lines);
    let codes = verifier_codes(
        &file,
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        None,
    );
    assert_eq!(codes, [1, 1, 1], "a seal signed by another RSA key");
}

/// An RSA key of another size is not a signer in any of the three verifiers (exit 2, usage).
#[test]
fn an_rsa_signer_of_2048_bits_is_refused_by_all_three() {
    let c = rsa_pss(TestToken::softhsm("ceremony"));
    c.approve_plan();
    c.run_approved("t.jsonl");
    let small = c.dir().join("small.pem");
    std::fs::write(&small, Kms::new(c.dir(), 2048).public_pem()).unwrap();
    let outs = verifiers(
        &c.dir().join("t.jsonl"),
        &small,
        Some(&c.dir().join("policy.toml")),
        None,
        &[],
    );
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("2048 bits"), "{name}: {err}");
    }
}
