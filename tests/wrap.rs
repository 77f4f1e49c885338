//! `keyrite wrap` on a real SoftHSM2 token, checked from the KMS side with independent code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn wrap_aws(hsm: &TestToken, params: &Path, algorithm: &str, label: &str, out: &str) -> Command {
    let mut cmd = hsm.keyrite();
    cmd.args(["wrap", "--provider", "aws", "--params"])
        .arg(params)
        .args(["--algorithm", algorithm, "--key-label", label, "--out", out])
        .args(["--pin-env", PIN_ENV]);
    cmd
}

/// The material unwrapped by the `rsa` crate and by `openssl`, checked to agree, to be 32
/// bytes, and to have the KCV keyrite recorded (computed by Python `cryptography`).
fn unwrap_and_check(
    kms: &Kms,
    wrapped_file: &Path,
    wrapped: &[u8],
    algorithm: &str,
    m: &Value,
) -> Vec<u8> {
    let by_rsa = kms.unwrap_rsa_crate(wrapped, algorithm);
    let by_openssl = kms.unwrap_openssl(wrapped_file, algorithm);
    assert_eq!(by_rsa, by_openssl);
    assert_eq!(by_rsa.len(), 32);
    assert_eq!(m["key"]["kcv_method"], "aes-ecb-zero-3");
    assert_eq!(
        m["key"]["kcv"].as_str().unwrap(),
        kcv_python("aes-ecb-zero-3", &by_rsa)
    );
    by_rsa
}

#[test]
fn aws_oaep_sha1_unwraps_with_independent_code_and_import_sh_runs_anywhere() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    let out = run_ok(&mut wrap_aws(
        &hsm,
        &params,
        "RSAES_OAEP_SHA_1",
        "payments-2026",
        "import-payments",
    ));
    let stdout = String::from_utf8(out).unwrap();
    assert!(
        stdout.contains("Next: sh import-payments/import.sh"),
        "{stdout}"
    );

    let dir = hsm.path("import-payments");
    let wrapped = std::fs::read(dir.join("EncryptedKeyMaterial.bin")).unwrap();
    assert_eq!(wrapped.len(), 256);
    let m = manifest(&dir);
    unwrap_and_check(
        &kms,
        &dir.join("EncryptedKeyMaterial.bin"),
        &wrapped,
        "RSAES_OAEP_SHA_1",
        &m,
    );
    assert_eq!(
        std::fs::read(dir.join("ImportToken.bin")).unwrap(),
        b"aws-import-token-for-the-test"
    );
    assert_eq!(m["provider"], "aws");
    assert_eq!(m["kms_key_id"], AWS_ARN);
    assert_eq!(m["algorithm"], "RSAES_OAEP_SHA_1");
    assert_eq!(m["token"]["label"], "ceremony");
    assert_eq!(m["key"]["label"], "payments-2026");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "EncryptedKeyMaterial.bin",
            "ImportToken.bin",
            "import.sh",
            "manifest.json"
        ]
    );
    for name in ["EncryptedKeyMaterial.bin", "ImportToken.bin", "import.sh"] {
        let digest = hex::encode(Sha256::digest(std::fs::read(dir.join(name)).unwrap()));
        assert_eq!(m["files"][name], digest, "{name}");
    }

    // import.sh, run from another directory with extra arguments, calls the CLI exactly so.
    let bin = fake_cli(hsm.dir.path(), "aws");
    let elsewhere = tempfile::tempdir().unwrap();
    run_ok(
        Command::new("sh")
            .arg(dir.join("import.sh"))
            .args(["--endpoint-url", "http://127.0.0.1:4566"])
            .current_dir(elsewhere.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
    );
    let args = std::fs::read_to_string(hsm.path("aws.args")).unwrap();
    let real = dir.canonicalize().unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "kms",
            "import-key-material",
            "--key-id",
            AWS_ARN,
            "--encrypted-key-material",
            &format!("fileb://{}/EncryptedKeyMaterial.bin", real.display()),
            "--import-token",
            &format!("fileb://{}/ImportToken.bin", real.display()),
            "--expiration-model",
            "KEY_MATERIAL_DOES_NOT_EXPIRE",
            "--endpoint-url",
            "http://127.0.0.1:4566",
        ]
    );
}

#[test]
fn aws_valid_to_reaches_import_sh_and_manifest() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    run_ok(
        wrap_aws(&hsm, &params, "RSAES_OAEP_SHA_1", "k", "out")
            .args(["--valid-to", "2099-01-31T00:00:00Z"]),
    );
    let script = std::fs::read_to_string(hsm.path("out/import.sh")).unwrap();
    assert!(
        script.contains("--expiration-model KEY_MATERIAL_EXPIRES --valid-to 2099-01-31T00:00:00Z"),
        "{script}"
    );
    assert_eq!(
        manifest(&hsm.path("out"))["key_material_valid_to"],
        "2099-01-31T00:00:00Z"
    );
}

#[test]
fn aws_cli_v1_epoch_times_are_accepted() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let mut p = kms.aws_params(AWS_ARN, "");
    let soon = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    p["ParametersValidTo"] = serde_json::json!(soon as f64 + 0.25);
    let params = write_json(hsm.dir.path(), "params.json", &p);
    run_ok(&mut wrap_aws(&hsm, &params, "RSAES_OAEP_SHA_1", "k", "out"));
    let expected = time::OffsetDateTime::from_unix_timestamp(soon).unwrap();
    assert_eq!(
        manifest(&hsm.path("out"))["parameters_valid_to"],
        expected
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
}

#[test]
fn larger_wrapping_keys_give_modulus_length_output() {
    let hsm = TestToken::softhsm("ceremony");
    for bits in [3072u32, 4096] {
        let kms = Kms::new(hsm.dir.path(), bits);
        let params = kms.write_aws_params(hsm.dir.path(), &format!("p{bits}.json"));
        let out = format!("out{bits}");
        run_ok(
            wrap_aws(&hsm, &params, "RSAES_OAEP_SHA_1", &format!("k{bits}"), &out)
                .args(["--wrapping-key-spec", &format!("RSA_{bits}")]),
        );
        let dir = hsm.path(&out);
        let wrapped = std::fs::read(dir.join("EncryptedKeyMaterial.bin")).unwrap();
        assert_eq!(wrapped.len(), bits as usize / 8);
        unwrap_and_check(
            &kms,
            &dir.join("EncryptedKeyMaterial.bin"),
            &wrapped,
            "RSAES_OAEP_SHA_1",
            &manifest(&dir),
        );
    }
}

#[test]
fn legacy_pkcs1_with_the_flag_unwraps() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    run_ok(wrap_aws(&hsm, &params, "RSAES_PKCS1_V1_5", "k", "out").arg("--allow-legacy-pkcs1"));
    let dir = hsm.path("out");
    let wrapped = std::fs::read(dir.join("EncryptedKeyMaterial.bin")).unwrap();
    let m = manifest(&dir);
    assert_eq!(m["mechanism"], "CKM_RSA_PKCS");
    unwrap_and_check(
        &kms,
        &dir.join("EncryptedKeyMaterial.bin"),
        &wrapped,
        "RSAES_PKCS1_V1_5",
        &m,
    );
}

#[test]
fn alibaba_outputs_base64_and_unix_expiry() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let key_id = "key-hzz62f1cb66fa42qo1234";
    let params = write_json(
        hsm.dir.path(),
        "params.json",
        &kms.alibaba_params(key_id, &hours_from_now(24)),
    );
    Wrap::new("wrap")
        .provider("alibaba", &params)
        .algorithm(OAEP_SHA1)
        .label("ali")
        .out("ali-out")
        .args(["--valid-to", "2099-01-31T00:00:00Z"])
        .pin()
        .ok(&hsm);
    let dir = hsm.path("ali-out");
    let b64 = base64::engine::general_purpose::STANDARD;
    let wrapped = b64
        .decode(std::fs::read(dir.join("EncryptedKeyMaterial.b64")).unwrap())
        .unwrap();
    std::fs::write(hsm.path("wrapped.bin"), &wrapped).unwrap();
    let m = manifest(&dir);
    unwrap_and_check(
        &kms,
        &hsm.path("wrapped.bin"),
        &wrapped,
        "RSAES_OAEP_SHA_1",
        &m,
    );
    assert_eq!(
        b64.decode(std::fs::read(dir.join("ImportToken.b64")).unwrap())
            .unwrap(),
        b"alibaba-import-token-for-the-test"
    );
    assert_eq!(m["provider"], "alibaba");

    let bin = fake_cli(hsm.dir.path(), "aliyun");
    run_ok(
        Command::new("sh")
            .arg(dir.join("import.sh"))
            .args(["--profile", "prod"])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display())),
    );
    let args = std::fs::read_to_string(hsm.path("aliyun.args")).unwrap();
    let expire = time::OffsetDateTime::parse(
        "2099-01-31T00:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "kms",
            "ImportKeyMaterial",
            "--KeyId",
            key_id,
            "--EncryptedKeyMaterial",
            &b64.encode(&wrapped),
            "--ImportToken",
            &b64.encode(b"alibaba-import-token-for-the-test"),
            "--KeyMaterialExpireUnix",
            &expire.to_string(),
            "--profile",
            "prod",
        ]
    );
}

#[test]
fn ceremony_key_attributes_seen_by_pykcs11() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    run_ok(&mut wrap_aws(
        &hsm,
        &params,
        "RSAES_OAEP_SHA_1",
        "payments-2026",
        "out",
    ));
    let objects = hsm.objects();
    assert_eq!(
        objects.len(),
        1,
        "only the ceremony key is left: {objects:?}"
    );
    let key = &objects[0];
    assert_eq!(key["label"], "payments-2026");
    assert_eq!(key["class"], "CKO_SECRET_KEY");
    assert_eq!(key["key_type"], "CKK_AES");
    assert_eq!(key["value_len"], 32);
    assert_ceremony_key(key);
    assert_eq!(key["check_value"], manifest(&hsm.path("out"))["key"]["kcv"]);
    // Private: invisible without logging in.
    assert!(hsm.objects_as(None).is_empty());
}
