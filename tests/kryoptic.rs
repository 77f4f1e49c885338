//! kryoptic, the second token: every SHA-256 path (SoftHSM2 2.6.1 has none), its native RFC 5649
//! mechanism, key check values by `C_DigestKey`, and a PIN that locks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::wrap::Wrap;
use common::*;
use serde_json::Value;

const KINDS: [(&str, usize); 5] = [
    ("AES_256", 32),
    ("HMAC_224", 28),
    ("HMAC_256", 32),
    ("HMAC_384", 48),
    ("HMAC_512", 64),
];

fn wrap(
    token: &TestToken,
    params: &std::path::Path,
    algorithm: &str,
    spec: &str,
    label: &str,
) -> std::path::PathBuf {
    Wrap::aws(params)
        .algorithm(algorithm)
        .spec(spec)
        .label(label)
        .out(label)
        .pin()
        .ok(token);
    token.path(label)
}

#[test]
fn sha256_algorithms_every_key_kind_unwrap_with_sha256_only() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    for algorithm in ["RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"] {
        for (spec, len) in KINDS {
            let label = format!("{}-{}", &algorithm[..8], spec)
                .to_lowercase()
                .replace('_', "-");
            let dir = wrap(&token, &params, algorithm, spec, &label);
            let file = dir.join("EncryptedKeyMaterial.bin");
            let material = kms.unwrap_python(&file, algorithm);
            assert_eq!(material.len(), len, "{label}");
            let m = manifest(&dir);
            // kryoptic has no CKA_CHECK_VALUE; it digests a sensitive key with C_DigestKey.
            assert_eq!(m["key"]["kcv_method"], "sha256-3", "{label}");
            assert_eq!(
                m["key"]["kcv"].as_str().unwrap(),
                kcv_python("sha256-3", &material)
            );
            let wrapped_len = std::fs::metadata(&file).unwrap().len() as usize;
            if algorithm == "RSAES_OAEP_SHA_256" {
                assert_eq!(wrapped_len, 256);
                assert_eq!(
                    kms.unwrap_rsa_crate(&std::fs::read(&file).unwrap(), algorithm),
                    material
                );
                assert_eq!(kms.unwrap_openssl(&file, algorithm), material);
                // Nothing fell back: the same bytes do not unwrap as OAEP with SHA-1.
                let sha1 = run(Command::new(PYTHON)
                    .arg(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/tests/independent/unwrap.py"
                    ))
                    .arg(&kms.private_pem)
                    .arg("RSAES_OAEP_SHA_1")
                    .arg(&file));
                assert!(!sha1.status.success(), "{label} unwrapped with SHA-1");
            } else {
                assert_eq!(wrapped_len, 256 + 8 + len.div_ceil(8) * 8, "{label}");
                assert_eq!(
                    m["mechanism"],
                    "CKM_RSA_PKCS_OAEP + CKM_AES_KEY_WRAP_KWP (composed in the token)"
                );
            }
        }
    }
}

#[test]
fn rsa_aes_sha256_size_formula_for_each_rsa_size() {
    let token = TestToken::kryoptic("ceremony");
    for bits in [2048usize, 3072, 4096] {
        let kms = Kms::new(token.dir.path(), bits as u32);
        let params = kms.write_aws_params(token.dir.path(), &format!("p{bits}.json"));
        let dir = wrap(
            &token,
            &params,
            "RSA_AES_KEY_WRAP_SHA_256",
            "AES_256",
            &format!("k{bits}"),
        );
        let file = dir.join("EncryptedKeyMaterial.bin");
        assert_eq!(
            std::fs::metadata(&file).unwrap().len() as usize,
            bits / 8 + 40
        );
        assert_eq!(
            kms.unwrap_python(&file, "RSA_AES_KEY_WRAP_SHA_256").len(),
            32
        );
    }
}

#[test]
fn ceremony_key_attributes_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    wrap(&token, &params, "RSAES_OAEP_SHA_256", "AES_256", "k");
    let objects = token.objects();
    assert_eq!(objects.len(), 1, "{objects:?}");
    let key = &objects[0];
    assert_ceremony_key(key);
}

#[test]
fn token_info_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    let report: Value =
        serde_json::from_slice(&run_ok(token.keyrite().args(["token", "info", "--json"]))).unwrap();
    let t = &report["tokens"][0];
    assert_eq!(t["manufacturer"], "Kryoptic Project");
    let supported: Vec<(&str, bool)> = t["wrapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["algorithm"].as_str().unwrap(),
                a["supported"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        supported,
        [
            ("RSAES_OAEP_SHA_1", true),
            ("RSAES_OAEP_SHA_256", true),
            ("RSA_AES_KEY_WRAP_SHA_1", true),
            ("RSA_AES_KEY_WRAP_SHA_256", true),
            ("RSAES_PKCS1_V1_5", true),
        ]
    );
    assert_eq!(
        t["wrapping"][3]["detail"],
        "trial wrap with SHA-256 succeeded; CKM_AES_KEY_WRAP_KWP passed the RFC 5649 known-answer test"
    );
    assert_eq!(t["kcv"], "sha256-3 (read from the token)");
    assert_eq!(t["key_pairs"]["rsa"], true);
    assert_eq!(t["key_pairs"]["ec"], true);
    assert_eq!(
        t["key_pairs"]["detail"],
        "CKM_AES_KEY_WRAP_KWP passed the RFC 5649 known-answer test for a length that is not a \
         multiple of 8; EC encodings are checked for RFC 5915 by an AES-GCM length trial"
    );
    // The trials used session objects only.
    assert!(token.objects().is_empty());
}

/// kryoptic counts wrong PINs: keyrite reports each, refuses to try at all once the token says
/// one more wrong PIN locks it (even with the right PIN: a mistake then would lock the token),
/// and says plainly when the PIN is locked.
#[test]
fn a_pin_that_locks() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let attempt = |pin: &str| {
        let out = run(Wrap::aws(&params)
            .algorithm("RSAES_OAEP_SHA_256")
            .label("k")
            .out("out")
            .pin()
            .command(&token)
            .env(PIN_ENV, pin));
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };
    let mut wrong = 0;
    loop {
        let stderr = attempt("wrong-pin");
        if stderr.starts_with("keyrite: token \"ceremony\" refused the PIN (CKR_PIN_INCORRECT)\n") {
            wrong += 1;
            assert!(wrong < 50, "the token never warned");
            continue;
        }
        assert_eq!(
            stderr,
            "keyrite: token \"ceremony\" reports that one more wrong PIN locks it (CKF_USER_PIN_FINAL_TRY)\n\
             The token's security officer must reset the user PIN before keyrite logs in.\n"
        );
        break;
    }
    assert!(wrong >= 1);
    // The right PIN is not tried either.
    assert!(attempt(PIN).contains("CKF_USER_PIN_FINAL_TRY"));
    // Another client spends the last try; keyrite then says the PIN is locked.
    let out = run(Command::new("pkcs11-tool")
        .env("KRYOPTIC_CONF", &token.conf)
        .arg("--module")
        .arg(&token.module)
        .args([
            "--token-label",
            "ceremony",
            "--login",
            "--pin",
            "wrong-pin",
            "--list-objects",
        ]));
    assert!(!out.status.success());
    assert_eq!(
        attempt(PIN),
        "keyrite: the user PIN of token \"ceremony\" is locked\n\
         The token's security officer must reset the user PIN before keyrite logs in.\n"
    );
    assert!(!token.path("out").exists());
}

/// A whole ceremony on kryoptic with OAEP SHA-256 (which SoftHSM2 2.6.1 lacks): approved by
/// two custodians, sealed by the token's ECDSA signer, VERIFIED by keyrite and VALID in both
/// independent verifiers; the KMS private key unwraps the material and its SHA-256 check value
/// is the manifest's; the token holds only the ceremony key, its record and the signer after.
/// Under `KEYRITE_TEST_FAMILY=p11kit-kryoptic` all of it runs through p11-kit remoting.
#[test]
fn a_ceremony_with_oaep_sha256_on_kryoptic_verifies_in_all_three_verifiers() {
    use common::ceremony::Ceremony;
    use common::verifiers::{assert_completed_in_all_three, verifiers};
    let c = Ceremony::on(TestToken::kryoptic("ceremony"), &["eu-west-1"]);
    let labels = |objects: Vec<Value>| -> Vec<(String, String)> {
        let mut labels: Vec<(String, String)> = objects
            .iter()
            .map(|o| {
                (
                    o["class"].as_str().unwrap().to_owned(),
                    o["label"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        labels.sort();
        labels
    };
    let object = |class: &str, label: &str| (class.to_owned(), label.to_owned());
    let signer = [
        object("CKO_PRIVATE_KEY", "ceremony-signer"),
        object("CKO_PUBLIC_KEY", "ceremony-signer"),
    ];
    assert_eq!(labels(c.token.objects()), signer);

    c.write_plan("payments-2026", "RSAES_OAEP_SHA_256");
    c.run_approved("t.jsonl");
    let outs = verifiers(
        &c.dir().join("t.jsonl"),
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        Some(c.dir()),
        &["--plan", c.dir().join("plan.toml").to_str().unwrap()],
    );
    assert_completed_in_all_three(&outs);

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
    assert_eq!(
        labels(c.token.objects()),
        [
            object("CKO_DATA", "keyrite-ceremony:payments-2026"),
            signer[0].clone(),
            signer[1].clone(),
            object("CKO_SECRET_KEY", "payments-2026"),
        ]
    );
}
