//! End to end: the real AWS CLI against a KMS emulator that really unwraps (ministack, started
//! by `scripts/test`). Create an EXTERNAL key, get import parameters, wrap in the token, run the
//! `import.sh` keyrite wrote, use the key, delete the material, bring the same key back from the
//! HSM with `keyrite rewrap`, and decrypt the old ciphertext again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::Value;

struct Aws {
    url: String,
    cli: String,
}

impl Aws {
    fn new() -> Self {
        let url = std::env::var("KEYRITE_EMULATOR_URL").expect(
            "KEYRITE_EMULATOR_URL is not set: run scripts/test, which starts the KMS emulator",
        );
        let cli = std::env::var("KEYRITE_AWS_CLI").unwrap_or_else(|_| "/usr/bin/aws".to_owned());
        Aws { url, cli }
    }

    fn env(cmd: &mut Command) -> &mut Command {
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.cli);
        Self::env(&mut cmd)
            .args([
                "--endpoint-url",
                &self.url,
                "--region",
                "us-east-1",
                "--output",
                "json",
            ])
            .args(args);
        run(&mut cmd)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn params(&self, key: &str, algorithm: &str, dir: &Path, name: &str) -> std::path::PathBuf {
        let p = self.json(&[
            "kms",
            "get-parameters-for-import",
            "--key-id",
            key,
            "--wrapping-algorithm",
            algorithm,
            "--wrapping-key-spec",
            "RSA_2048",
        ]);
        write_json(dir, name, &p)
    }

    /// Runs keyrite's import.sh unchanged, with only --endpoint-url added, and Debian's AWS CLI
    /// first on PATH.
    fn import(&self, out: &Path) -> Output {
        let bin = Path::new(&self.cli).parent().unwrap().display().to_string();
        let mut cmd = Command::new("sh");
        Self::env(&mut cmd)
            .arg(out.join("import.sh"))
            .args(["--endpoint-url", &self.url, "--region", "us-east-1"])
            .env("PATH", format!("{bin}:/usr/bin:/bin"));
        run(&mut cmd)
    }

    fn state(&self, key: &str) -> String {
        self.json(&["kms", "describe-key", "--key-id", key])["KeyMetadata"]["KeyState"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

fn lifecycle(token: &TestToken, algorithm: &str, extra: &[&str]) {
    let aws = Aws::new();
    let dir = token.dir.path();
    let key = aws.json(&[
        "kms",
        "create-key",
        "--origin",
        "EXTERNAL",
        "--description",
        "keyrite e2e",
    ])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(aws.state(&key), "PendingImport");
    let params = aws.params(&key, algorithm, dir, "params.json");
    let wrap = Wrap::aws(&params)
        .algorithm(algorithm)
        .label("e2e")
        .out("first")
        .pin()
        .args(extra)
        .run(token);
    assert!(
        wrap.status.success(),
        "{algorithm}: {}",
        String::from_utf8_lossy(&wrap.stderr)
    );
    let imported = aws.import(&dir.join("first"));
    assert!(
        imported.status.success(),
        "{algorithm}: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(aws.state(&key), "Enabled");

    let message = format!("keyrite end to end with {algorithm}");
    let ciphertext = aws.json(&[
        "kms",
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        &b64(message.as_bytes()),
    ])["CiphertextBlob"]
        .as_str()
        .unwrap()
        .to_owned();

    // The material is deleted in the KMS; the HSM still holds it.
    aws.json(&["kms", "delete-imported-key-material", "--key-id", &key]);
    assert_eq!(aws.state(&key), "PendingImport");
    let kcv =
        serde_json::from_slice::<Value>(&std::fs::read(dir.join("first/manifest.json")).unwrap())
            .unwrap()["key"]["kcv"]
            .as_str()
            .unwrap()
            .to_owned();
    let params = aws.params(&key, algorithm, dir, "params-again.json");
    let rewrap = Wrap::rewrap()
        .expect_kcv(&kcv)
        .provider("aws", &params)
        .algorithm(algorithm)
        .label("e2e")
        .out("again")
        .pin()
        .args(extra)
        .run(token);
    assert!(
        rewrap.status.success(),
        "{algorithm}: {}",
        String::from_utf8_lossy(&rewrap.stderr)
    );
    let imported = aws.import(&dir.join("again"));
    assert!(
        imported.status.success(),
        "{algorithm}: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(aws.state(&key), "Enabled");

    // The old ciphertext decrypts again to the original message: the same key came back.
    let plain = aws.json(&["kms", "decrypt", "--ciphertext-blob", &ciphertext])["Plaintext"]
        .as_str()
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let plain = base64::engine::general_purpose::STANDARD
        .decode(plain)
        .unwrap();
    assert_eq!(plain, message.as_bytes(), "{algorithm}");
}

#[test]
fn aws_oaep_sha1_on_softhsm2() {
    lifecycle(&TestToken::softhsm("ceremony"), "RSAES_OAEP_SHA_1", &[]);
}

#[test]
fn aws_rsa_aes_sha1_on_softhsm2() {
    lifecycle(
        &TestToken::softhsm("ceremony"),
        "RSA_AES_KEY_WRAP_SHA_1",
        &[],
    );
}

#[test]
fn aws_pkcs1_v1_5_on_softhsm2_with_the_legacy_flag() {
    lifecycle(
        &TestToken::softhsm("ceremony"),
        "RSAES_PKCS1_V1_5",
        &["--allow-legacy-pkcs1"],
    );
}

#[test]
fn aws_oaep_sha256_on_kryoptic() {
    lifecycle(&TestToken::kryoptic("ceremony"), "RSAES_OAEP_SHA_256", &[]);
}

#[test]
fn aws_rsa_aes_sha256_on_kryoptic() {
    lifecycle(
        &TestToken::kryoptic("ceremony"),
        "RSA_AES_KEY_WRAP_SHA_256",
        &[],
    );
}

#[test]
fn an_expired_token_is_refused_by_keyrite_and_a_wrong_pairing_by_the_kms() {
    let aws = Aws::new();
    let token = TestToken::softhsm("ceremony");
    let dir = token.dir.path();
    let create = |aws: &Aws| {
        aws.json(&["kms", "create-key", "--origin", "EXTERNAL"])["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let key = create(&aws);
    let params = aws.params(&key, "RSAES_OAEP_SHA_1", dir, "params.json");

    // Expired: refused before the token is opened (a module that does not exist is never reached).
    let mut p: Value = serde_json::from_slice(&std::fs::read(&params).unwrap()).unwrap();
    p["ParametersValidTo"] = Value::from("2020-01-01T00:00:00+00:00");
    let expired = write_json(dir, "expired.json", &p);
    let out = run(Wrap::aws(&expired)
        .algorithm(OAEP_SHA1)
        .label("k")
        .out("x")
        .pin()
        .command(&token)
        .env("KEYRITE_PKCS11_MODULE", "/nonexistent/module.so"));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("the import parameters expired at 2020-01-01T00:00:00Z")
    );
    assert!(!dir.join("x").exists());

    // A wrong pairing: parameters of one KMS key, imported into another. keyrite cannot know;
    // the KMS refuses, and import.sh passes the CLI's error and status through.
    let other = create(&aws);
    let mut p: Value = serde_json::from_slice(&std::fs::read(&params).unwrap()).unwrap();
    p["KeyId"] = Value::from(other.clone());
    let swapped = write_json(dir, "swapped.json", &p);
    Wrap::aws(&swapped)
        .algorithm(OAEP_SHA1)
        .label("k")
        .out("swapped")
        .pin()
        .ok(&token);
    let out = aws.import(&dir.join("swapped"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("An error occurred"), "{stderr}");
    assert_eq!(aws.state(&other), "PendingImport");
}

/// A key pair made in the token, imported into EXTERNAL keys of the matching AWS key spec with
/// keyrite's import.sh: the emulator's `get-public-key` is `public.pem`, and a signature the
/// emulator makes with the imported key verifies under `public.pem` with `openssl`. Then the
/// material is deleted and the same key pair brought back from the token by `keyrite rewrap`,
/// proven by its fingerprint, and the emulator signs again under the same public key.
#[test]
fn aws_key_pairs_sign_in_the_kms_as_the_token_made_them() {
    let token = TestToken::kryoptic("ceremony");
    let aws = Aws::new();
    let dir = token.dir.path();
    let message = dir.join("message.txt");
    std::fs::write(
        &message,
        b"keyrite signs nothing; the KMS does, with the token's key\n",
    )
    .unwrap();
    for (spec, aws_spec, signing, openssl_opts) in [
        (
            "RSA_2048",
            "RSA_2048",
            "RSASSA_PSS_SHA_256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ][..],
        ),
        ("RSA_3072", "RSA_3072", "RSASSA_PKCS1_V1_5_SHA_256", &[][..]),
        ("EC_P256", "ECC_NIST_P256", "ECDSA_SHA_256", &[][..]),
        ("EC_P384", "ECC_NIST_P384", "ECDSA_SHA_384", &[][..]),
    ] {
        let key = aws.json(&[
            "kms",
            "create-key",
            "--origin",
            "EXTERNAL",
            "--key-spec",
            aws_spec,
            "--key-usage",
            "SIGN_VERIFY",
        ])["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        let label = spec.to_lowercase().replace('_', "-");
        let params = aws.params(
            &key,
            "RSA_AES_KEY_WRAP_SHA_256",
            dir,
            &format!("{label}.json"),
        );
        let out = dir.join(&label);
        Wrap::aws(&params)
            .algorithm("RSA_AES_KEY_WRAP_SHA_256")
            .spec(spec)
            .label(&label)
            .out(&label)
            .pin()
            .ok(&token);
        let script = std::fs::read_to_string(out.join("import.sh")).unwrap();
        assert!(script.contains(&format!("--key-spec {aws_spec} --key-usage SIGN_VERIFY")));
        let imported = aws.import(&out);
        assert!(
            imported.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
        assert_eq!(aws.state(&key), "Enabled");
        let public_pem = out.join("public.pem");
        let check = |round: &str| {
            let kms_public = aws.json(&["kms", "get-public-key", "--key-id", &key])["PublicKey"]
                .as_str()
                .unwrap()
                .to_owned();
            let ours = run_ok(
                Command::new("openssl")
                    .args(["pkey", "-pubin", "-outform", "DER", "-in"])
                    .arg(&public_pem),
            );
            assert_eq!(kms_public, b64(&ours), "{spec} {round}: get-public-key");
            let signature = aws.json(&[
                "kms",
                "sign",
                "--key-id",
                &key,
                "--message",
                &format!("fileb://{}", message.display()),
                "--message-type",
                "RAW",
                "--signing-algorithm",
                signing,
            ])["Signature"]
                .as_str()
                .unwrap()
                .to_owned();
            let sig_file = dir.join(format!("{label}-{round}.sig"));
            use base64::Engine as _;
            std::fs::write(
                &sig_file,
                base64::engine::general_purpose::STANDARD
                    .decode(signature)
                    .unwrap(),
            )
            .unwrap();
            let digest = if signing.ends_with("384") {
                "-sha384"
            } else {
                "-sha256"
            };
            let verified = run(Command::new("openssl")
                .args(["dgst", digest, "-verify"])
                .arg(&public_pem)
                .args(openssl_opts)
                .arg("-signature")
                .arg(&sig_file)
                .arg(&message));
            assert!(
                verified.status.success(),
                "{spec} {round}: {}{}",
                String::from_utf8_lossy(&verified.stdout),
                String::from_utf8_lossy(&verified.stderr)
            );
        };
        check("imported");

        aws.json(&["kms", "delete-imported-key-material", "--key-id", &key]);
        assert_eq!(aws.state(&key), "PendingImport");
        let fingerprint = manifest(&out)["key"]["kcv"].as_str().unwrap().to_owned();
        let params = aws.params(
            &key,
            "RSA_AES_KEY_WRAP_SHA_256",
            dir,
            &format!("{label}-again.json"),
        );
        let again = format!("{label}-again");
        Wrap::rewrap()
            .expect_kcv(&fingerprint)
            .provider("aws", &params)
            .algorithm("RSA_AES_KEY_WRAP_SHA_256")
            .spec(spec)
            .label(&label)
            .out(&again)
            .pin()
            .ok(&token);
        let imported = aws.import(&dir.join(&again));
        assert!(
            imported.status.success(),
            "{spec} again: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
        check("reimported");
    }
}
