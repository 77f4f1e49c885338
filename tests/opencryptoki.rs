//! openCryptoki's soft token, whose token info has a clock (`utcTime`) in no PKCS#11 form: one
//! odd field is a warning naming the slot and the field, never a failed command, and the token is
//! found by its label and wraps, and each wrapped key's attributes, read back by an independent
//! peer, are what keyrite's template promises.
//!
//! openCryptoki has one daemon and fixed paths, so these tests share the one token that
//! `scripts/lib/opencryptoki.sh` starts in a private namespace, and run inside it:
//! `keyrite_opencryptoki_start && keyrite_opencryptoki_exec cargo nextest run --test opencryptoki`.
//! Each test's keys carry labels of their own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// A variable that `keyrite_opencryptoki_start` exports.
fn started(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run these tests through keyrite_opencryptoki_exec after keyrite_opencryptoki_start (scripts/lib/opencryptoki.sh)"
        )
    })
}

/// keyrite on the openCryptoki module, in `dir`, with the user PIN in [`PIN_ENV`].
fn keyrite(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
    cmd.current_dir(dir)
        .env(
            "KEYRITE_PKCS11_MODULE",
            started("KEYRITE_OPENCRYPTOKI_MODULE"),
        )
        .env(PIN_ENV, started("KEYRITE_OPENCRYPTOKI_PIN"));
    cmd
}

/// The token's objects, as pkcs11-tool lists them after a user login: each one's heading
/// (`Secret Key Object; AES length 32`, `Public Key Object; RSA 2048 bits`, …) and label.
fn objects() -> Vec<(String, String)> {
    let out = run_ok(
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(started("KEYRITE_OPENCRYPTOKI_MODULE"))
            .args(["--login", "--pin", &started("KEYRITE_OPENCRYPTOKI_PIN")])
            .arg("--list-objects"),
    );
    let mut objects: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8(out).unwrap().lines() {
        if line.contains(" Object") && !line.starts_with(' ') {
            objects.push((line.to_owned(), String::new()));
        } else if let (Some(label), Some(last)) =
            (line.trim().strip_prefix("label:"), objects.last_mut())
        {
            last.1 = label.trim().to_owned();
        }
    }
    objects
}

/// The token's objects as `tests/independent/token_objects.py` (PyKCS11, no keyrite code) reads
/// them after a user login: each one's class, label and attributes, and whether its value could
/// be read.
fn peer_objects() -> Vec<Value> {
    let out = run_ok(
        Command::new(PYTHON)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/independent/token_objects.py"
            ))
            .arg(started("KEYRITE_OPENCRYPTOKI_MODULE"))
            .arg(started("KEYRITE_OPENCRYPTOKI_LABEL"))
            .arg("KEYRITE_OPENCRYPTOKI_PIN"),
    );
    serde_json::from_slice(&out).unwrap()
}

/// Asserts the secret key `label`, read back by the independent peer, is what keyrite's ceremony
/// key template (`hsm::keys::ceremony_key_template`) promises: an AES-256 token object, private,
/// sensitive and always so, extractable only to be wrapped, not modifiable, of no other use, its
/// `CKA_VALUE` unreadable. openCryptoki 3.8 knows neither `CKA_COPYABLE`, `CKA_DESTROYABLE`,
/// `CKA_TRUSTED` nor `CKA_WRAP_WITH_TRUSTED` on a secret key: the peer reads them as null.
fn assert_ceremony_key_attributes(objects: &[Value], label: &str) {
    let key = objects
        .iter()
        .find(|o| o["class"] == "CKO_SECRET_KEY" && o["label"] == label)
        .unwrap_or_else(|| panic!("no secret key {label:?}: {objects:?}"));
    assert_eq!(
        key["attributes"],
        serde_json::json!({
            "token": true, "private": true, "modifiable": false, "copyable": null,
            "destroyable": null, "sensitive": true, "extractable": true,
            "always_sensitive": true, "never_extractable": false, "local": true,
            "encrypt": false, "decrypt": false, "sign": false, "verify": false, "wrap": false,
            "unwrap": false, "derive": false, "wrap_with_trusted": null, "trusted": null,
        }),
        "{label}"
    );
    assert_eq!(key["key_type"], "CKK_AES", "{label}");
    assert_eq!(key["value_len"], 32, "{label}");
    assert_eq!(key["value_readable"], false, "{label}: {key}");
}

fn clock_warning(stderr: &str) {
    assert!(
        stderr.contains("keyrite: warning: slot 0: the token info field utcTime is \""),
        "no warning naming the slot and the field: {stderr}"
    );
    assert!(stderr.contains("not YYYYMMDDhhmmss: ignored"), "{stderr}");
}

#[test]
fn token_info_warns_of_the_clock_and_reports_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let label = started("KEYRITE_OPENCRYPTOKI_LABEL");
    let out = run(keyrite(dir.path()).args(["token", "info"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    clock_warning(&stderr);
    assert!(
        stdout.contains(&format!("Token {label:?} (slot 0)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "RSAES_OAEP_SHA_256       yes  CKM_RSA_PKCS_OAEP: trial wrap with SHA-256 succeeded"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "  ceremony signer: RSA-PSS 3072 (SHA-256, MGF1-SHA-256, salt 32), for want of ECDSA P-256\n"
        ),
        "{stdout}"
    );
    // A trial the token refuses is a "no" with its reason, not the end of the report.
    assert!(
        stdout.contains("CKA_WRAP_WITH_TRUSTED: no: the token would not generate a key with CKA_WRAP_WITH_TRUSTED (CKR_ATTRIBUTE_TYPE_INVALID)"),
        "{stdout}"
    );

    let out = run(keyrite(dir.path()).args(["token", "info", "--json"]));
    assert!(out.status.success());
    clock_warning(&String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("slot 0: the token info field utcTime is \""),
        "{warnings:?}"
    );
    assert_eq!(report["tokens"][0]["label"], label.as_str());
}

#[test]
fn the_token_with_the_odd_clock_is_found_by_label_and_wraps() {
    let dir = tempfile::tempdir().unwrap();
    let label = started("KEYRITE_OPENCRYPTOKI_LABEL");
    let kms = Kms::new(dir.path(), 2048);
    let params = kms.write_aws_params(dir.path(), "p.json");
    let before = objects();
    for algorithm in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"] {
        let key_label = format!("ock-clock-{}", algorithm.to_lowercase().replace('_', "-"));
        assert!(
            before.iter().all(|(_, l)| *l != key_label),
            "{key_label} is already on the token"
        );
        let out: PathBuf = dir.path().join(&key_label);
        run_ok(
            keyrite(dir.path())
                .args(["wrap", "--provider", "aws", "--params"])
                .arg(&params)
                .args(["--algorithm", algorithm, "--key-label", &key_label])
                .args(["--token", &label, "--pin-env", PIN_ENV, "--out"])
                .arg(&out),
        );
        let file = out.join("EncryptedKeyMaterial.bin");
        let material = kms.unwrap_rsa_crate(&std::fs::read(&file).unwrap(), algorithm);
        assert_eq!(material.len(), 32, "{algorithm}");
        assert_eq!(
            kms.unwrap_openssl(&file, algorithm),
            material,
            "{algorithm}"
        );
        let m = manifest(&out);
        // openCryptoki has no CKA_CHECK_VALUE; keyrite digests the key with C_DigestKey.
        assert_eq!(m["key"]["kcv_method"], "sha256-3", "{algorithm}");
        assert_eq!(
            m["key"]["kcv"].as_str().unwrap(),
            kcv_python("sha256-3", &material),
            "{algorithm}"
        );
    }
    let peer = peer_objects();
    for label in ["ock-clock-rsaes-oaep-sha-1", "ock-clock-rsaes-oaep-sha-256"] {
        assert_ceremony_key_attributes(&peer, label);
    }
    // The two keys, and nothing else: no trial key or imported KMS key stayed behind.
    let mut added: Vec<(String, String)> = objects()
        .into_iter()
        .filter(|o| !before.contains(o))
        .collect();
    added.sort();
    let heading = "Secret Key Object; AES length 32".to_owned();
    assert_eq!(
        added,
        [
            (heading.clone(), "ock-clock-rsaes-oaep-sha-1".to_owned()),
            (heading, "ock-clock-rsaes-oaep-sha-256".to_owned()),
        ]
    );
}

/// openCryptoki has no EC: `token signer create` makes an RSA-PSS 3072 signer by itself, and
/// says so; a wrap recorded in a transcript it seals has its seal verified by all three verifiers, and the
/// signer is the only thing left besides the wrapped key.
#[test]
fn without_ec_the_signer_is_rsa_pss_and_its_seal_verifies_in_all_three_verifiers() {
    use common::verifiers::{VERIFIERS, verifiers};
    let dir = tempfile::tempdir().unwrap();
    let label = started("KEYRITE_OPENCRYPTOKI_LABEL");
    let signer = "ock-pss-signer";
    let key_label = "ock-pss-sealed";
    let before = objects();
    let out = run(keyrite(dir.path())
        .args(["token", "signer", "create", "--key-label", signer])
        .args(["--token", &label, "--pin-env", PIN_ENV]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "keyrite: the token has no ECDSA P-256, so the signer is RSA-PSS 3072 (SHA-256, MGF1-SHA-256, salt 32)"
        ),
        "{stderr}"
    );
    let pem = dir.path().join("signer.pem");
    std::fs::write(&pem, &out.stdout).unwrap();
    let text = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-noout", "-text", "-in"])
            .arg(&pem),
    );
    assert!(
        String::from_utf8(text)
            .unwrap()
            .starts_with("Public-Key: (3072 bit)")
    );

    let kms = Kms::new(dir.path(), 2048);
    let params = kms.write_aws_params(dir.path(), "p.json");
    let transcript = dir.path().join("t.jsonl");
    run_ok(
        keyrite(dir.path())
            .args(["wrap", "--provider", "aws", "--params"])
            .arg(&params)
            .args([
                "--algorithm",
                "RSAES_OAEP_SHA_256",
                "--key-label",
                key_label,
            ])
            .args(["--token", &label, "--pin-env", PIN_ENV, "--out"])
            .arg(dir.path().join("out"))
            .arg("--transcript")
            .arg(&transcript)
            .args(["--signer-label", signer]),
    );
    // A single wrap has no policy, so the best verdict is "not approved" (exit 4), with the seal
    // passed: every check that ran passed.
    let outs = verifiers(&transcript, &pem, None, None, &[]);
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("RSA-PSS"), "{name}: {stdout}");
    }
    assert!(String::from_utf8_lossy(&outs[0].stdout).contains(
        "seal       passed       the signer's RSA-PSS signature over the chain head verifies"
    ));
    let mut added: Vec<(String, String)> = objects()
        .into_iter()
        .filter(|o| !before.contains(o))
        .collect();
    added.sort();
    assert_eq!(
        added.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
        [signer, signer, key_label],
        "{added:?}"
    );
}

/// keyrite's stderr after the clock warning, which comes first in every command that opens the
/// token.
fn after_clock_warning(stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let (warning, rest) = stderr.split_once('\n').unwrap();
    clock_warning(warning);
    rest.to_owned()
}

/// What the token cannot do, keyrite refuses, with exactly these words (and exit code 1), before
/// it generates anything: RSA-AES (no AES key wrap with padding), for a secret key or a key pair;
/// `--wrap-with-trusted` (no CKA_WRAP_WITH_TRUSTED); a backup key (no CKA_UNWRAP_TEMPLATE). The
/// token's objects are the same after each refusal as before it.
#[test]
fn what_the_token_cannot_do_is_refused_with_its_reason_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let label = started("KEYRITE_OPENCRYPTOKI_LABEL");
    let kms = Kms::new(dir.path(), 2048);
    let params = kms.write_aws_params(dir.path(), "p.json");
    let no_kwp = format!(
        "keyrite: token {label:?} has no AES key wrap with padding (RFC 5649) keyrite can trust: the token offers neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD for wrapping\n\
         RSA-AES needs AES key wrap with padding in the token (CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD), and keyrite refuses before generating anything when it has none to test: use a token that offers one (see `keyrite token info`), or, for a secret key, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.\n"
    );
    let no_trusted = format!(
        "keyrite: token {label:?} lacks CKA_WRAP_WITH_TRUSTED: it would not generate a key with CKA_WRAP_WITH_TRUSTED (CKR_ATTRIBUTE_TYPE_INVALID)\n\
         No key on this token can be wrapped only under a trusted key, and trust-wrapping-key cannot change that: leave out --wrap-with-trusted (or wrap_with_trusted in the plan), or use a token whose `keyrite token info` says CKA_WRAP_WITH_TRUSTED: enforced.\n"
    );
    let no_unwrap_template = format!(
        "keyrite: token {label:?} cannot make a backup key: it would not make a key pair with CKA_UNWRAP_TEMPLATE (C_GenerateKeyPair returned CKR_ATTRIBUTE_TYPE_INVALID), and nothing was generated\n\
         A backup key needs a token that applies CKA_UNWRAP_TEMPLATE: make it on a token whose `keyrite token info` says CKA_UNWRAP_TEMPLATE: applied.\n"
    );
    let wrap = |algorithm: &str, more: &[&str]| {
        let mut cmd = keyrite(dir.path());
        cmd.args(["wrap", "--provider", "aws", "--params"])
            .arg(&params)
            .args(["--algorithm", algorithm, "--key-label", "ock-refused"])
            .args(more)
            .args(["--token", &label, "--pin-env", PIN_ENV, "--out"])
            .arg(dir.path().join("out"));
        cmd
    };
    let cases: Vec<(&str, Command, &str)> = vec![
        (
            "RSA_AES_KEY_WRAP_SHA_1",
            wrap("RSA_AES_KEY_WRAP_SHA_1", &[]),
            &no_kwp,
        ),
        (
            "RSA_AES_KEY_WRAP_SHA_256",
            wrap("RSA_AES_KEY_WRAP_SHA_256", &[]),
            &no_kwp,
        ),
        (
            "an EC P-256 key pair",
            wrap("RSA_AES_KEY_WRAP_SHA_256", &["--key-spec", "EC_P256"]),
            &no_kwp,
        ),
        (
            "an RSA 2048 key pair",
            wrap("RSA_AES_KEY_WRAP_SHA_1", &["--key-spec", "RSA_2048"]),
            &no_kwp,
        ),
        (
            "--wrap-with-trusted",
            wrap("RSAES_OAEP_SHA_256", &["--wrap-with-trusted"]),
            &no_trusted,
        ),
        (
            "backup-key create",
            {
                let mut cmd = keyrite(dir.path());
                cmd.args(["token", "backup-key", "create", "--key-label", "ock-backup"])
                    .args(["--token", &label, "--pin-env", PIN_ENV]);
                cmd
            },
            &no_unwrap_template,
        ),
    ];
    for (what, mut cmd, expected) in cases {
        let before = peer_objects();
        let out = run(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(after_clock_warning(&out.stderr), expected, "{what}");
        assert!(out.stdout.is_empty(), "{what}");
        assert!(!dir.path().join("out").exists(), "{what}");
        assert_eq!(
            peer_objects(),
            before,
            "{what}: the token's objects changed"
        );
    }
}

/// A whole ceremony on the shared token, as a team would run it (`common::ceremony`): custodians'
/// approvals, one key generated and wrapped with RSAES_OAEP_SHA_256, sealed by the RSA-PSS signer
/// the token makes for want of EC; all three verifiers accept it (exit 0) with the policy, the plan and
/// the outputs; the output unwraps with the KMS private key to the KCV recorded; and the token
/// gains the signer, the ceremony's marker and its key, with the key's attributes as promised.
#[test]
fn a_ceremony_with_approvals_sealed_by_rsa_pss_verifies_in_all_three_verifiers() {
    use common::ceremony::Ceremony;
    use common::verifiers::{VERIFIERS, assert_completed_in_all_three, verifiers};
    let objects_of = |objects: Vec<Value>| -> Vec<(String, String)> {
        objects
            .iter()
            .map(|o| {
                (
                    o["class"].as_str().unwrap().to_owned(),
                    o["label"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = objects_of(peer_objects());
    let c = Ceremony::on(TestToken::opencryptoki(), &["eu-west-1"]);
    c.write_plan("payments-2026", "RSAES_OAEP_SHA_256");
    c.run_approved("t.jsonl");
    let plan = c.dir().join("plan.toml");
    let outs = verifiers(
        &c.dir().join("t.jsonl"),
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        Some(c.dir()),
        &["--plan", plan.to_str().unwrap()],
    );
    // keyrite says VERIFIED; the two independent verifiers, VALID; each names RSA-PSS.
    for (name, stdout) in VERIFIERS.iter().zip(assert_completed_in_all_three(&outs)) {
        assert!(stdout.contains("RSA-PSS"), "{name}: {stdout}");
    }

    let out = c.dir().join("payments-2026-eu-west-1");
    let material = c.regions[0].kms.unwrap_rsa_crate(
        &std::fs::read(out.join("EncryptedKeyMaterial.bin")).unwrap(),
        "RSAES_OAEP_SHA_256",
    );
    assert_eq!(material.len(), 32);
    let m = manifest(&out);
    assert_eq!(m["key"]["kcv_method"], "sha256-3");
    assert_eq!(
        m["key"]["kcv"].as_str().unwrap(),
        kcv_python("sha256-3", &material)
    );

    let peer = peer_objects();
    assert_ceremony_key_attributes(&peer, "payments-2026");
    let mut added: Vec<(String, String)> = objects_of(peer)
        .into_iter()
        .filter(|o| !before.contains(o))
        .collect();
    added.sort();
    let object = |class: &str, label: &str| (class.to_owned(), label.to_owned());
    assert_eq!(
        added,
        [
            object("CKO_DATA", "keyrite-ceremony:payments-2026"),
            object("CKO_PRIVATE_KEY", "ceremony-signer"),
            object("CKO_PUBLIC_KEY", "ceremony-signer"),
            object("CKO_SECRET_KEY", "payments-2026"),
        ]
    );
}
