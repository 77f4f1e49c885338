//! Backups to a second token: `token backup-key create` there, a wrap with `--provider
//! pkcs11-backup` here (RSA-OAEP), `restore` there, unwrapped inside that token. Every pair of tokens that
//! can unwrap is tried; the restored key re-wraps to the same material, which a KMS private key
//! unwraps outside both tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::backup::{Proof, Record, backup_key, plan_step, recorded_backup, restore};
use common::verifiers::VERIFIERS;
use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::{Value, json};
use sha2::Digest as _;

const ARN_2: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// Wraps for AWS under a fresh KMS key pair and unwraps the output with the KMS private key.
fn aws_material(token: &TestToken, wrap: Wrap, arn: &str, out: &str) -> Vec<u8> {
    let kms = Kms::new(token.dir.path(), 2048);
    let params = format!("{out}.params.json");
    write_json(
        token.dir.path(),
        &params,
        &kms.aws_params(arn, &hours_from_now(24)),
    );
    wrap.provider("aws", &params)
        .algorithm(OAEP_SHA1)
        .out(out)
        .pin()
        .ok(token);
    let wrapped = std::fs::read(token.path(out).join("EncryptedKeyMaterial.bin")).unwrap();
    kms.unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1")
}

fn secret_keys(token: &TestToken) -> Vec<Value> {
    token
        .objects()
        .into_iter()
        .filter(|o| o["class"] == "CKO_SECRET_KEY")
        .collect()
}

/// Generate in `src`, back up to `dst`, restore there, re-wrap there: the same material.
fn round_trip(src: &TestToken, dst: &TestToken, algorithm: &str, spec: &str) {
    let (pem, _) = backup_key(dst);
    // The backup, recorded: the key generated and wrapped under the backup key in one run
    // sealed by the source token's signer.
    let backup = dst.path("backup");
    let record = recorded_backup(src, &pem, algorithm, "payments", spec, &backup);
    let listed = src.listed_key("payments");
    let kcv = listed["kcv"].as_str().unwrap().to_owned();
    let original = aws_material(
        src,
        Wrap::rewrap().label("payments").spec(spec).expect_kcv(&kcv),
        AWS_ARN,
        "first",
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    let recorded = manifest["key"]["check_values"].as_object().unwrap();
    assert_eq!(
        recorded["sha256-3"],
        kcv_python("sha256-3", &original).as_str(),
        "the backup records the SHA-256 check value of the material"
    );

    // A manifest whose check values do not match the material is refused before any token is
    // opened: no sealed record wrote it. (The check-value comparison after the unwrap is no
    // longer reachable by editing files: every byte restored is bound to the sealed record, so
    // the token would have to compute another value for the recorded key.)
    let forged = dst.path("forged");
    std::fs::create_dir(&forged).unwrap();
    for f in ["backup.bin", "import.sh"] {
        std::fs::copy(backup.join(f), forged.join(f)).unwrap();
    }
    let mut m = manifest.clone();
    for v in m["key"]["check_values"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        *v = Value::from("000000");
    }
    write_json(&forged, "manifest.json", &m);
    let out = restore(
        dst,
        "forged",
        "payments",
        Proof::Record(&record),
        &["--pin-env", PIN_ENV],
    )
    .out;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "keyrite: forged is not an output {} records: no wrap it records wrote this manifest.json\n\
             Pass the sealed transcript of the run that made the backup (keyrite wrap --provider \
             pkcs11-backup --transcript, or a ceremony's wrap step), and check the directory with \
             `keyrite verify T --outputs DIR`.\n",
            record.transcript.display()
        )
    );
    assert!(
        secret_keys(dst).is_empty(),
        "nothing left on the backup token"
    );

    // The real restore, recorded on the backup token; the record verifies in the three
    // verifiers (without a policy: nothing approves a restore by quorum).
    let done = restore(
        dst,
        "backup",
        "payments",
        Proof::Record(&record),
        &["--json", "--pin-env", PIN_ENV],
    );
    let restored: Value = serde_json::from_slice(&done.out.stdout).unwrap();
    assert_eq!(
        restored["id"], listed["id"],
        "the same CKA_ID on both tokens"
    );
    assert_eq!(
        restored["check_sha256"],
        hex::encode(sha2::Sha256::digest(&original)).as_str(),
        "the full check value is the SHA-256 of the material the KMS receives"
    );
    assert_eq!(restored["record"], done.record.to_str().unwrap());
    for (name, out) in VERIFIERS.iter().zip(common::verifiers::verifiers(
        &done.record,
        &done.signer,
        None,
        None,
        &[],
    )) {
        assert_eq!(
            out.status.code(),
            Some(4),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        restored["matched"]
            .as_object()
            .unwrap()
            .contains_key("sha256-3")
    );
    let keys = secret_keys(dst);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_ceremony_key(&keys[0]);

    // Re-wrapped on the backup token under another KMS key: the same material. A restored key
    // was not generated there, so its 3-byte KCV does not prove it (anyone who knows a key's
    // value can match one); the full check value the backup's manifest records does.
    let full = manifest["key"]["check_sha256"].as_str().unwrap();
    assert_eq!(full, kcv_python("sha256", &original));
    let rewrap = |kcv: &str| Wrap::rewrap().label("payments").spec(spec).expect_kcv(kcv);
    let again = aws_material(dst, rewrap(full), ARN_2, "second");
    let refused = rewrap(restored["kcv"].as_str().unwrap())
        .provider("aws", "second.params.json")
        .algorithm(OAEP_SHA1)
        .out("never")
        .pin()
        .run(dst);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("was not generated in it (CKA_LOCAL false, CKA_ALWAYS_SENSITIVE "),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(again, original, "the restored key is the same material");

    // A second restore of the same backup is refused before anything is recorded: the label is
    // taken.
    let again = restore(
        dst,
        "backup",
        "payments",
        Proof::Record(&record),
        &["--pin-env", PIN_ENV],
    );
    assert_eq!(again.out.status.code(), Some(1));
    assert!(!again.record.exists());
    assert_eq!(secret_keys(dst).len(), 1);
}

#[test]
fn softhsm_to_softhsm() {
    round_trip(
        &TestToken::softhsm("primary"),
        &TestToken::softhsm("vault-b"),
        "RSAES_OAEP_SHA_1",
        "AES_256",
    );
}

#[test]
fn softhsm_to_kryoptic() {
    round_trip(
        &TestToken::softhsm("primary"),
        &TestToken::kryoptic("vault-b"),
        "RSAES_OAEP_SHA_1",
        "AES_256",
    );
}

#[test]
fn kryoptic_to_softhsm_hmac() {
    round_trip(
        &TestToken::kryoptic("primary"),
        &TestToken::softhsm("vault-b"),
        "RSAES_OAEP_SHA_1",
        "HMAC_256",
    );
}

#[test]
fn kryoptic_to_kryoptic_sha256() {
    round_trip(
        &TestToken::kryoptic("primary"),
        &TestToken::kryoptic("vault-b"),
        "RSAES_OAEP_SHA_256",
        "AES_256",
    );
}

/// SoftHSM2 2.6.1 cannot unwrap OAEP with SHA-256: `backup-key create` says so, and a backup made
/// that way is refused with the token's own words, nothing left behind.
#[test]
fn softhsm_refuses_a_sha256_backup_and_says_so_beforehand() {
    let src = TestToken::kryoptic("primary");
    let dst = TestToken::softhsm("vault-b");
    let (pem, stderr) = backup_key(&dst);
    assert!(
        stderr.contains("this token unwraps backups made with --algorithm RSAES_OAEP_SHA_1")
            && stderr.contains("this token cannot unwrap RSAES_OAEP_SHA_256"),
        "{stderr}"
    );
    let record = recorded_backup(
        &src,
        &pem,
        "RSAES_OAEP_SHA_256",
        "payments",
        "AES_256",
        &dst.path("backup"),
    );
    let failed = restore(
        &dst,
        "backup",
        "payments",
        Proof::Record(&record),
        &["--pin-env", PIN_ENV],
    );
    assert_refused(
        &failed.out.stderr,
        "keyrite: C_UnwrapKey of the key (CKM_RSA_PKCS_OAEP, RSAES_OAEP_SHA_256) failed: C_UnwrapKey returned CKR_ARGUMENTS_BAD\n",
        "SHA-256 backup on SoftHSM2",
    );
    assert!(secret_keys(&dst).is_empty());
    // The failed restore is recorded as failed and sealed: each verifier says so (exit 3).
    let lines: Vec<Value> = std::fs::read_to_string(&failed.record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<&str> = lines.iter().map(|l| l["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["token", "restore", "failure", "finish", "seal"]);
    assert_eq!(lines[3]["data"]["outcome"], "failed");
    assert_eq!(
        common::verifiers::verifier_codes(&failed.record, &failed.signer, None, None),
        [3, 3, 3]
    );
}

/// The backup file is standard RSA-OAEP: with a backup key made by openssl, Python
/// `cryptography` unwraps it to the material a KMS import of the same key receives; and a
/// restore names the wrong key, a wrap manifest or a changed file before any token is opened.
#[test]
fn the_backup_is_rsa_oaep_and_restore_checks_the_directory_first() {
    let src = TestToken::softhsm("primary");
    let outside = Kms::new(src.dir.path(), 3072);
    let pem = run_ok(
        std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&outside.private_pem),
    );
    std::fs::write(src.path("outside.pem"), pem).unwrap();
    let record = recorded_backup(
        &src,
        &src.path("outside.pem"),
        "RSAES_OAEP_SHA_1",
        "payments",
        "AES_256",
        &src.path("backup"),
    );
    let listed = src.listed_key("payments");
    let kcv = listed["kcv"].as_str().unwrap().to_owned();
    let original = aws_material(
        &src,
        Wrap::rewrap().label("payments").expect_kcv(&kcv),
        AWS_ARN,
        "first",
    );
    let material = outside.unwrap_python(&src.path("backup/backup.bin"), "RSAES_OAEP_SHA_1");
    assert_eq!(material, original);
    let script = std::fs::read_to_string(src.path("backup/import.sh")).unwrap();
    assert!(
        script.contains("exec keyrite restore --backup \"$here\" --key-label 'payments' \"$@\"")
    );

    let refused = |dir: &str, label: &str| {
        let out = restore(
            &src,
            dir,
            label,
            Proof::Record(&record),
            &["--module", "/nonexistent/module.so"],
        )
        .out;
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
            + "\n"
    };
    assert_eq!(
        refused("backup", "other"),
        "keyrite: the backup holds key \"payments\", not \"other\"\n"
    );
    assert_eq!(
        refused("first", "payments"),
        "keyrite: first/manifest.json: it records a wrap for \"aws\", not a backup (--provider pkcs11-backup)\n"
    );
    let mut bytes = std::fs::read(src.path("backup/backup.bin")).unwrap();
    bytes[100] ^= 1;
    std::fs::write(src.path("backup/backup.bin"), bytes).unwrap();
    assert_eq!(
        refused("backup", "payments"),
        "keyrite: backup/backup.bin does not match the SHA-256 the manifest records for it\n"
    );
}

/// A ceremony backs up the key it generates (a plan `wrap` step with provider pkcs11-backup);
/// the transcript verifies with its outputs, and the backup restores on the second token.
#[test]
fn a_ceremony_backs_up_its_key_and_the_backup_restores() {
    use common::ceremony::Ceremony;
    let c = Ceremony::new(&["us-east-1"]);
    let dst = TestToken::kryoptic("vault-b");
    let (pem, _) = backup_key(&dst);
    std::fs::copy(&pem, c.dir().join("params/backup-2026.pem")).unwrap();
    c.write_policy(2);
    c.write_plan("payments", "RSAES_OAEP_SHA_1");
    let mut plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    plan.push_str(&plan_step(
        "payments",
        "params/backup-2026.pem",
        "RSAES_OAEP_SHA_1",
        "payments-backup",
    ));
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.run_approved("t.jsonl");
    c.assert_verifies("t.jsonl");

    let backup = c.dir().join("payments-backup");
    let out = restore(
        &dst,
        &backup,
        "payments",
        Proof::Record(&Record {
            transcript: c.dir().join("t.jsonl"),
            signer: c.signer_pem.clone(),
        }),
        &["--json", "--pin-env", PIN_ENV],
    )
    .out;
    let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
    let wrapped =
        std::fs::read(c.dir().join("payments-us-east-1/EncryptedKeyMaterial.bin")).unwrap();
    let material = c.regions[0]
        .kms
        .unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1");
    assert_eq!(restored["kcv"], kcv_python("sha256-3", &material).as_str());
    assert_eq!(restored["kcv_method"], "sha256-3");
}

/// Without logging in, an attacker destroys the backup key's public key object and creates one
/// holding their own RSA key, with the same label and CKA_ID (PyKCS11, `swap_public_key.py`);
/// kryoptic lets them destroy it but not create another. keyrite takes the public key from the
/// private key object (an RSA private key keeps its modulus and exponent, readable on a
/// sensitive key on both tokens): `backup-key export` refuses and prints no PEM, so no backup is
/// made under the attacker's key, and `restore` of a backup made before the swap still finds
/// the genuine private key and restores.
fn a_swapped_backup_public_key_is_refused(dst: TestToken) {
    let (pem, said) = backup_key(&dst);
    let genuine = said.lines().next().unwrap().rsplit(' ').next().unwrap();
    let src = TestToken::softhsm("primary");
    let backup = dst.path("backup");
    let record = recorded_backup(
        &src,
        &pem,
        "RSAES_OAEP_SHA_1",
        "payments",
        "AES_256",
        &backup,
    );

    let swapped: Value = serde_json::from_slice(&run_ok(
        dst.independent("swap_public_key.py")
            .args(["backup-2026", "rsa-3072"]),
    ))
    .unwrap();
    let planted = dst.kind == Kind::SoftHsm2;
    assert_eq!(
        (
            &swapped["found"],
            &swapped["destroyed"],
            &swapped["created"]
        ),
        (&json!(1), &json!(1), &json!(planted)),
        "{swapped}"
    );
    let objects = dst.objects();
    let public: Vec<&Value> = objects
        .iter()
        .filter(|o| o["class"] == "CKO_PUBLIC_KEY" && o["label"] == "backup-2026")
        .collect();
    let refusal = if planted {
        let attacker = swapped["attacker_spki_sha256"].as_str().unwrap();
        assert_ne!(attacker, genuine);
        assert_eq!(public.len(), 1);
        assert_eq!(public[0]["spki_sha256"], attacker, "the swap took");
        let private = objects
            .iter()
            .find(|o| o["class"] == "CKO_PRIVATE_KEY" && o["label"] == "backup-2026")
            .unwrap();
        assert_eq!(public[0]["id"], private["id"], "the same CKA_ID");
        "the public key object labelled \"backup-2026\" is not the private key's: a public \
         object anyone can create without the PIN"
    } else {
        assert_eq!(
            swapped["create_error"],
            "CKR_USER_NOT_LOGGED_IN (0x00000101)"
        );
        assert!(public.is_empty());
        "the backup key \"backup-2026\" is not proven: no RSA public key object has that \
         label, where a backup key has one"
    };

    let out = run(dst.keyrite().args([
        "token",
        "backup-key",
        "export",
        "--key-label",
        "backup-2026",
        "--pin-env",
        PIN_ENV,
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "no PEM: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_refused(
        &out.stderr,
        &format!("keyrite: token \"vault-b\": {refusal}\n"),
        "export after the swap",
    );

    let out = restore(
        &dst,
        "backup",
        "payments",
        Proof::Record(&record),
        &["--json", "--pin-env", PIN_ENV],
    )
    .out;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        restored["matched"]
            .as_object()
            .is_some_and(|m| !m.is_empty()),
        "{restored}"
    );
    let keys = secret_keys(&dst);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_ceremony_key(&keys[0]);
}

#[test]
fn a_swapped_backup_public_key_is_refused_on_softhsm2() {
    a_swapped_backup_public_key_is_refused(TestToken::softhsm("vault-b"));
}

#[test]
fn a_swapped_backup_public_key_is_refused_on_kryoptic() {
    a_swapped_backup_public_key_is_refused(TestToken::kryoptic("vault-b"));
}
