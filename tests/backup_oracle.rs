//! The backup token's PIN holder against the backup key: with nothing but that PIN and
//! PyKCS11 (`tests/independent/backup_oracle.py`), can they read a backed-up key?
//!
//! A secret-key backup key carries the ceremony template as its `CKA_UNWRAP_TEMPLATE`, so the
//! token refuses every unwrap into a readable key; the same script against a backup key made
//! without that template reads the material, which is the proof that the template, and nothing
//! else, stops it. A key-pair backup key (RSA-AES) cannot be so bound: keyrite refuses to make
//! one unless the policy accepts it, and the script shows what accepting means.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::policy_accepting_backup_oracle;
use common::wrap::Wrap;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const ORACLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/independent/backup_oracle.py"
);

/// `token backup-key create` on `dst` with `extra` options: the output.
fn create(dst: &TestToken, label: &str, extra: &[&str]) -> std::process::Output {
    run(dst
        .keyrite()
        .args(["token", "backup-key", "create", "--key-label", label])
        .args(["--pin-env", PIN_ENV])
        .args(extra))
}

/// Wraps a new key `label` on `src` under the backup public key `pem`, into `out`.
fn backup(src: &TestToken, pem: &PathBuf, label: &str, spec: &str, algorithm: &str) -> PathBuf {
    let out = src.path(&format!("{label}-backup"));
    Wrap::new("wrap")
        .provider("pkcs11-backup", pem)
        .algorithm(algorithm)
        .label(label)
        .spec(spec)
        .out(&out)
        .pin()
        .ok(src);
    out
}

/// The oracle script against `dst`'s key `key_label` and the backup in `dir`.
fn oracle(dst: &TestToken, key_label: &str, dir: &Path, algorithm: &str) -> Value {
    let out = run_ok(
        std::process::Command::new(PYTHON)
            .arg(ORACLE)
            .arg(&dst.module)
            .args([dst.label.as_str(), PIN_ENV, key_label])
            .arg(dir.join("backup.bin"))
            .args([algorithm, "384"])
            .env(dst.conf_env(), &dst.conf)
            .env(PIN_ENV, PIN),
    );
    serde_json::from_slice(&out).unwrap()
}

fn secret_key_count(token: &TestToken) -> usize {
    token
        .objects()
        .iter()
        .filter(|o| o["class"] == "CKO_SECRET_KEY")
        .count()
}

fn the_pin_holder_cannot_read_a_secret_key_backup(src: TestToken, dst: TestToken, algorithm: &str) {
    let made = create(&dst, "backup-2026", &[]);
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(made.status.success(), "{stderr}");
    assert!(
        stderr.contains("what it unwraps takes the ceremony template")
            && !stderr.contains("WARNING"),
        "{stderr}"
    );
    let pem = dst.path("backup-2026.pem");
    std::fs::write(&pem, &made.stdout).unwrap();
    let dir = backup(&src, &pem, "payments", "AES_256", algorithm);

    let before = secret_key_count(&dst);
    let tried = oracle(&dst, "backup-2026", &dir, algorithm);
    assert_eq!(
        tried["decrypt"], "refused: CKR_KEY_FUNCTION_NOT_PERMITTED",
        "{tried}"
    );
    for attempt in ["unwrap_readable_aes", "unwrap_readable_generic"] {
        assert_eq!(
            tried[attempt], "refused: CKR_TEMPLATE_INCONSISTENT",
            "{tried}"
        );
    }
    assert_eq!(
        secret_key_count(&dst),
        before,
        "a refused unwrap left a key behind"
    );

    // The same script, against a backup key its PIN holder made without the template, reads
    // the material: the KCV of what it read is the one keyrite recorded for the key.
    let plain = run_ok(
        std::process::Command::new(PYTHON)
            .arg(ORACLE)
            .arg(&dst.module)
            .args([dst.label.as_str(), PIN_ENV, "plain", "--plain-key"])
            .env(dst.conf_env(), &dst.conf)
            .env(PIN_ENV, PIN),
    );
    let plain_pem = dst.path("plain.pem");
    std::fs::write(&plain_pem, plain).unwrap();
    let exported = run(dst.keyrite().args([
        "token",
        "backup-key",
        "export",
        "--key-label",
        "plain",
        "--pin-env",
        PIN_ENV,
    ]));
    let warned = String::from_utf8_lossy(&exported.stderr);
    assert!(
        warned.contains("WARNING: whoever holds this token's PIN can unwrap a backup"),
        "{warned}"
    );
    let dir = backup(&src, &plain_pem, "payments-2", "AES_256", algorithm);
    let read = oracle(&dst, "plain", &dir, algorithm);
    let material = hex::decode(read["unwrap_readable_aes"].as_str().unwrap()).expect("read");
    let key = &manifest(&dir)["key"];
    assert_eq!(
        kcv_python(key["kcv_method"].as_str().unwrap(), &material),
        key["kcv"].as_str().unwrap()
    );
}

#[test]
fn softhsm_applies_the_unwrap_template_of_a_backup_key() {
    the_pin_holder_cannot_read_a_secret_key_backup(
        TestToken::softhsm("ceremony"),
        TestToken::softhsm("vault-b"),
        "RSAES_OAEP_SHA_1",
    );
}

#[test]
fn kryoptic_applies_the_unwrap_template_of_a_backup_key() {
    the_pin_holder_cannot_read_a_secret_key_backup(
        TestToken::kryoptic("ceremony"),
        TestToken::kryoptic("vault-b"),
        "RSAES_OAEP_SHA_256",
    );
}

#[test]
fn a_secret_key_is_never_backed_up_with_rsa_aes() {
    let src = TestToken::softhsm("ceremony");
    let dst = TestToken::softhsm("vault-b");
    let made = create(&dst, "backup-2026", &[]);
    let pem = dst.path("backup-2026.pem");
    std::fs::write(&pem, &made.stdout).unwrap();
    let out = Wrap::new("wrap")
        .provider("pkcs11-backup", &pem)
        .algorithm("RSA_AES_KEY_WRAP_SHA_1")
        .label("k")
        .out("b")
        .pin()
        .run(&src);
    assert_refused(
        &out.stderr,
        &format!(
            "keyrite: {}: a backup of a AES_256 key is wrapped directly with RSA-OAEP (RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1), not RSA_AES_KEY_WRAP_SHA_1: RSA-AES would hand the backup token's PIN holder an AES key that unwraps the backup into a key they can read\n",
            pem.display()
        ),
        "RSA-AES for a secret-key backup",
    );
    assert!(src.objects().is_empty(), "nothing is generated");
}

#[test]
fn a_key_pair_backup_key_is_made_only_where_the_policy_accepts_what_its_pin_holder_can_do() {
    // SoftHSM2's RFC 5649 fails keyrite's known-answer test for a PKCS#8's length: kryoptic
    // makes key-pair backups.
    let src = TestToken::kryoptic("ceremony");
    let dst = TestToken::softhsm("vault-b");
    let refused = create(&dst, "pairs", &["--for-key-pairs"]);
    assert_refused(
        &refused.stderr,
        "keyrite: the backup key \"pairs\" on token \"vault-b\" would let whoever holds the token's PIN unwrap a backup into a key they can read: it unwraps RSA-AES backups, so it gives its PIN holder an AES key that unwraps the backed-up key under any template, a readable one too: an unwrap template inside the template would forbid that, and this token refuses one\n",
        "a key-pair backup key without a policy",
    );
    assert!(dst.objects().is_empty(), "nothing is left on the token");

    let policy = policy_accepting_backup_oracle(dst.dir.path());
    let made = create(
        &dst,
        "pairs",
        &["--for-key-pairs", "--policy", policy.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&made.stderr);
    assert!(made.status.success(), "{stderr}");
    assert!(
        stderr.contains("this token unwraps backups made with --algorithm RSA_AES_KEY_WRAP_SHA_1")
            && stderr.contains("WARNING: whoever holds this token's PIN can unwrap a backup"),
        "{stderr}"
    );
    let pem = dst.path("pairs.pem");
    std::fs::write(&pem, &made.stdout).unwrap();

    // What the policy accepted: the PIN holder unwraps the ephemeral key (not readable itself)
    // and, under it, the private key's PKCS#8 into a readable object, whose public key is the
    // backup's public.pem.
    let dir = backup(&src, &pem, "signing", "RSA_2048", "RSA_AES_KEY_WRAP_SHA_1");
    let tried = oracle(&dst, "pairs", &dir, "RSA_AES_KEY_WRAP_SHA_1");
    assert_eq!(
        tried["decrypt"], "refused: CKR_KEY_FUNCTION_NOT_PERMITTED",
        "{tried}"
    );
    assert_eq!(
        tried["unwrap_readable_ephemeral"], "refused: CKR_TEMPLATE_INCONSISTENT",
        "{tried}"
    );
    assert_eq!(tried["ephemeral"], "unwrapped", "{tried}");
    let pkcs8 = dst.path("read.der");
    std::fs::write(
        &pkcs8,
        hex::decode(tried["second_stage_readable"].as_str().unwrap()).expect("read"),
    )
    .unwrap();
    let derived = run_ok(
        std::process::Command::new("openssl")
            .args(["pkey", "-inform", "DER", "-pubout", "-in"])
            .arg(&pkcs8),
    );
    assert_eq!(
        String::from_utf8(derived).unwrap(),
        std::fs::read_to_string(dir.join("public.pem")).unwrap()
    );
}
