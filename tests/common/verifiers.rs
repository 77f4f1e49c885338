//! The three verifiers that share no code — `keyrite verify`, `scripts/verify-with-openssl` and
//! `tests/independent/verify_transcript.py` — run on one transcript, and what a forger does to
//! transcripts before handing them over: re-chain the lines, re-seal with a key of their own.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::*;

/// Re-chains lines after an edit: each line's `seq` and `prev` recomputed over the new bytes
/// (what a forger without the token key can do).
pub fn rechain(values: &[Value]) -> Vec<String> {
    let mut prev = hex::encode(Sha256::digest(b""));
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut v = v.clone();
        v["seq"] = Value::from(i as u64);
        v["prev"] = Value::from(prev.clone());
        let text = serde_json::to_string(&v).unwrap();
        prev = hex::encode(Sha256::digest(text.as_bytes()));
        out.push(text);
    }
    out
}

/// Re-seals with a P-256 key that is not the token's.
pub fn reseal(lines: &[String], key: &p256::ecdsa::SigningKey) -> Vec<String> {
    use base64::Engine as _;
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::pkcs8::EncodePublicKey as _;
    let mut values: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seal = values.iter().position(|v| v["step"] == "seal").unwrap();
    values.truncate(seal + 1);
    let mut out = rechain(&values);
    let head = Sha256::digest(out[seal - 1].as_bytes());
    let sig: p256::ecdsa::Signature = key.sign_prehash(&head).unwrap();
    let der = key.verifying_key().to_public_key_der().unwrap();
    let mut v: Value = serde_json::from_str(&out[seal]).unwrap();
    v["signer"] = Value::from(hex::encode(Sha256::digest(der.as_bytes())));
    v["signature"] =
        Value::from(base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes()));
    out[seal] = serde_json::to_string(&v).unwrap();
    out
}

/// The names of the three verifiers, in the order [`verifiers`] runs them.
pub const VERIFIERS: [&str; 3] = [
    "keyrite verify",
    "verify-with-openssl",
    "verify_transcript.py",
];

/// Runs the three verifiers on `transcript` under `signer`, with `policy` (`None`:
/// `--no-policy`) and the output directories under `outputs` if given, and `extra` arguments
/// for keyrite alone. Each verifier's output, in the order of [`VERIFIERS`].
pub fn verifiers(
    transcript: &Path,
    signer: &Path,
    policy: Option<&Path>,
    outputs: Option<&Path>,
    extra: &[&str],
) -> [Output; 3] {
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut keyrite = Command::new(env!("CARGO_BIN_EXE_keyrite"));
    keyrite
        .arg("verify")
        .arg(transcript)
        .arg("--signer")
        .arg(signer)
        .args(extra);
    let mut openssl = Command::new(format!("{repo}/scripts/verify-with-openssl"));
    openssl.arg(transcript).arg(signer);
    let mut python = Command::new(PYTHON);
    python
        .arg(format!("{repo}/tests/independent/verify_transcript.py"))
        .arg(transcript)
        .arg(signer);
    for cmd in [&mut keyrite, &mut openssl, &mut python] {
        match policy {
            Some(p) => cmd.arg("--policy").arg(p),
            None => cmd.arg("--no-policy"),
        };
        cmd.stdin(std::process::Stdio::null());
    }
    if let Some(dir) = outputs {
        keyrite.arg("--outputs").arg(dir);
        openssl.arg(dir);
        python.arg(dir);
    }
    [run(&mut keyrite), run(&mut openssl), run(&mut python)]
}

/// The three verifiers' exit codes (-1 for a signal), as [`verifiers`] runs them.
pub fn verifier_codes(
    transcript: &Path,
    signer: &Path,
    policy: Option<&Path>,
    outputs: Option<&Path>,
) -> [i32; 3] {
    verifiers(transcript, signer, policy, outputs, &[]).map(|o| o.status.code().unwrap_or(-1))
}
