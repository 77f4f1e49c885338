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
    rechain_edited(values, |_, text| text)
}

/// [`rechain`], with `edit` applied to each line's text (given its index) before the next line
/// chains to it: for bytes `serde_json` would not write, such as `1e400`.
pub fn rechain_edited(values: &[Value], edit: impl Fn(usize, String) -> String) -> Vec<String> {
    let mut prev = hex::encode(Sha256::digest(b""));
    let mut out = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut v = v.clone();
        v["seq"] = Value::from(i as u64);
        v["prev"] = Value::from(prev.clone());
        let text = edit(i, serde_json::to_string(&v).unwrap());
        prev = hex::encode(Sha256::digest(text.as_bytes()));
        out.push(text);
    }
    out
}

/// Re-seals with a P-256 key that is not the token's (low-S, as keyrite seals: only the key
/// gives it away).
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
    let sig = sig.normalize_s().unwrap_or(sig);
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

/// Asserts that each of the three verifiers' outputs ([`verifiers`]) says a sealed, completed
/// ceremony passed: keyrite VERIFIED, the two independent verifiers VALID, all exit 0. Their
/// standard outputs, in the order of [`VERIFIERS`].
pub fn assert_completed_in_all_three(outs: &[Output; 3]) -> [String; 3] {
    let verdicts = [
        "VERIFIED: sealed, completed, and every check that ran passed",
        "VALID: a sealed record of a completed ceremony",
        "VALID: a sealed record of a completed ceremony",
    ];
    std::array::from_fn(|i| {
        let (name, out) = (VERIFIERS[i], &outs[i]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(verdicts[i]), "{name}: {stdout}");
        stdout
    })
}

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

/// A seal line's signature, decoded.
fn seal_signature(seal: &Value) -> p256::ecdsa::Signature {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(seal["signature"].as_str().unwrap())
        .unwrap();
    p256::ecdsa::Signature::from_der(&der).unwrap()
}

/// The seal line `seal` with `signature` in place of its own.
fn with_signature(seal: &Value, signature: &p256::ecdsa::Signature) -> String {
    use base64::Engine as _;
    let mut seal = seal.clone();
    seal["signature"] = Value::from(
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes()),
    );
    serde_json::to_string(&seal).unwrap()
}

/// Rewrites the seal of the transcript at `path` (sealed, not yet witnessed) with the low-S form
/// of its own signature, which verifies as the token's did: for fixtures sealed before keyrite
/// normalized its seals to low-S. A no-op once it does.
pub fn low_s_seal(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let seal: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(seal["step"], "seal");
    if let Some(low) = seal_signature(&seal).normalize_s() {
        *lines.last_mut().unwrap() = with_signature(&seal, &low);
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }
}

/// The high-S twin of a low-S seal line: (r, n - s), which verifies as well over the same head.
pub fn high_s_twin(seal_line: &str) -> String {
    let seal: Value = serde_json::from_str(seal_line).unwrap();
    let sig = seal_signature(&seal);
    assert!(sig.normalize_s().is_none(), "the seal is already high-S");
    let (r, s) = sig.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    assert!(high.normalize_s().is_some());
    with_signature(&seal, &high)
}

/// What a PIN holder can do: re-chain `values` (a transcript ending in its seal line) and seal
/// the new chain head with the token's own signer key (`tests/independent/seal_as_pin_holder.py`,
/// PyKCS11), low-S as keyrite seals. Every signature holds; only verify's rules about what a
/// record may say can catch what it says.
pub fn pin_holder_reseal(token: &TestToken, signer_label: &str, values: &[Value]) -> Vec<String> {
    pin_holder_reseal_edited(token, signer_label, values, |_, text| text)
}

/// [`pin_holder_reseal`], with the lines re-chained by [`rechain_edited`].
pub fn pin_holder_reseal_edited(
    token: &TestToken,
    signer_label: &str,
    values: &[Value],
    edit: impl Fn(usize, String) -> String,
) -> Vec<String> {
    let mut out = rechain_edited(values, edit);
    let seal = out.len() - 1;
    let seal_value: Value = serde_json::from_str(&out[seal]).unwrap();
    assert_eq!(seal_value["step"], "seal");
    let head = hex::encode(Sha256::digest(out[seal - 1].as_bytes()));
    assert_eq!(seal_value["prev"], head.as_str());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/independent/seal_as_pin_holder.py"
    );
    let raw = run_ok(
        Command::new(PYTHON)
            .env(token.conf_env(), &token.conf)
            .env(PIN_ENV, PIN)
            .arg(script)
            .arg(&token.module)
            .arg(&token.label)
            .arg(PIN_ENV)
            .arg(signer_label)
            .arg(&head),
    );
    let raw = hex::decode(String::from_utf8(raw).unwrap().trim()).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    let sig = sig.normalize_s().unwrap_or(sig);
    out[seal] = with_signature(&seal_value, &sig);
    out
}

/// Writes `lines` as a transcript file.
pub fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}
