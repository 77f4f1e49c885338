//! Key pairs (RSA and EC) generated in the token and imported as PKCS#8 inside RSA-AES, for every
//! key spec each provider takes, on kryoptic (the token whose AES key wrap with padding passes
//! for every length; SoftHSM2's is refused, as a test below shows).
//!
//! The tests play each KMS: Python `cryptography` unwraps keyrite's output with the KMS private
//! key (`tests/independent/unwrap.py`) and parses the PKCS#8 strictly
//! (`tests/independent/pkcs8.py`: one DER PrivateKeyInfo and nothing after it, RFC 5915 inside
//! for EC); its public key must be `public.pem`, the token's public key object (read by
//! PyKCS11), `openssl`'s reading of `public.pem`, and the fingerprint the manifest records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::backup::{self, Proof, Record, backup_command, backup_key_for_pairs};
use common::wrap::Wrap;
use common::*;
use serde_json::{Value, json};

/// The key pairs kryoptic 1.5.4 generates (secp256k1 it refuses: see below).
const PAIRS: [&str; 6] = [
    "RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P384", "EC_P521",
];

/// AWS import parameters for `kms`, valid for a day, written to `name` in the token's directory.
fn aws_params(token: &TestToken, kms: &Kms, name: &str) -> std::path::PathBuf {
    kms.write_aws_params(token.dir.path(), name)
}

/// `keyrite wrap` that must succeed; returns the output directory.
fn wrap(token: &TestToken, provider: &str, params: &Path, args: &[&str], label: &str) -> String {
    let out = Wrap::new("wrap")
        .provider(provider, params)
        .args(args)
        .label(label)
        .out(label)
        .pin()
        .run(token);
    assert!(
        out.status.success(),
        "{provider} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The SHA-256 of the DER of a PEM public key, by `openssl`.
fn openssl_fingerprint(pem: &Path) -> String {
    let der = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(pem),
    );
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(der))
}

/// Plays the KMS for one output: unwraps `wrapped` (the RSA-AES bytes the provider's files
/// carry), parses the PKCS#8, and checks it against `public.pem`, the token and the manifest,
/// and the size against the formula. Returns the PKCS#8 bytes. The key was generated in
/// `token`, unless it was restored there from a backup (`CKA_LOCAL` and `CKA_ALWAYS_SENSITIVE`
/// false, as PKCS#11 marks an unwrapped key).
fn check_pair(
    token: &TestToken,
    restored: bool,
    kms: &Kms,
    out: &Path,
    spec: &str,
    algorithm: &str,
    wrapped: &[u8],
) -> Vec<u8> {
    let wrapped_file = out.with_extension("wrapped");
    std::fs::write(&wrapped_file, wrapped).unwrap();
    let material = kms.unwrap_python(&wrapped_file, algorithm);
    let material_file = out.with_extension("pkcs8");
    std::fs::write(&material_file, &material).unwrap();
    let parsed: Value = serde_json::from_slice(&run_ok(
        Command::new(PYTHON)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/independent/pkcs8.py"
            ))
            .arg(&material_file)
            .arg(spec)
            .arg(out.join("public.pem")),
    ))
    .unwrap();
    let fingerprint = parsed["spki_sha256"].as_str().unwrap().to_owned();
    assert_eq!(parsed["len"], material.len());

    // The size: the RSA part, then RFC 5649 of the PKCS#8 (8 bytes more, rounded up to 8).
    let modulus_len = {
        use rsa::pkcs8::DecodePublicKey as _;
        use rsa::traits::PublicKeyParts as _;
        rsa::PublicKey::from_public_key_der(&kms.public_der)
            .unwrap()
            .size()
    };
    assert_eq!(
        wrapped.len(),
        modulus_len + 8 + material.len().div_ceil(8) * 8,
        "{spec}"
    );

    // The manifest records the fingerprint as the key's identity, and public.pem's digest.
    let m = manifest(out);
    assert_eq!(m["key"]["spec"], spec);
    assert_eq!(m["key"]["kcv"], fingerprint.as_str(), "{spec}");
    assert_eq!(m["key"]["kcv_method"], "spki-sha256");
    assert_eq!(
        m["files"]["public.pem"],
        sha256_hex(&std::fs::read(out.join("public.pem")).unwrap())
    );
    assert_eq!(openssl_fingerprint(&out.join("public.pem")), fingerprint);

    // The token: the private key is a ceremony key and its value cannot be read; the public key
    // object beside it (same label and CKA_ID) is the same public key.
    let label = m["key"]["label"].as_str().unwrap();
    let objects = token.objects();
    let private: Vec<&Value> = objects
        .iter()
        .filter(|o| o["label"] == label && o["class"] == "CKO_PRIVATE_KEY")
        .collect();
    let public: Vec<&Value> = objects
        .iter()
        .filter(|o| o["label"] == label && o["class"] == "CKO_PUBLIC_KEY")
        .collect();
    assert_eq!((private.len(), public.len()), (1, 1), "{spec}: {objects:?}");
    let (private, public) = (private[0], public[0]);
    for (flag, value) in [
        ("token", true),
        ("private", true),
        ("sensitive", true),
        ("extractable", true),
        ("modifiable", false),
        ("sign", false),
        ("sign_recover", false),
        ("decrypt", false),
        ("unwrap", false),
        ("derive", false),
        ("always_sensitive", !restored),
        ("local", !restored),
        ("value_readable", false),
    ] {
        assert_eq!(private[flag], value, "{spec}: {flag}");
    }
    assert_eq!(public["id"], private["id"]);
    assert_eq!(public["id"], m["key"]["id"]);
    assert_eq!(public["spki_sha256"], fingerprint.as_str(), "{spec}");
    material
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn aws_every_key_pair_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    // RSA-3072: AWS refuses P-521 material under RSA-2048 (tested below).
    let kms = Kms::new(token.dir.path(), 3072);
    let params = aws_params(&token, &kms, "params.json");
    for (spec, aws_spec) in PAIRS.into_iter().zip([
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
    ]) {
        let label = spec.to_lowercase().replace('_', "-");
        let args = [
            "--algorithm",
            "RSA_AES_KEY_WRAP_SHA_256",
            "--key-spec",
            spec,
        ];
        let stdout = wrap(&token, "aws", &params, &args, &label);
        let out = token.path(&label);
        let wrapped = std::fs::read(out.join("EncryptedKeyMaterial.bin")).unwrap();
        check_pair(
            &token,
            false,
            &kms,
            &out,
            spec,
            "RSA_AES_KEY_WRAP_SHA_256",
            &wrapped,
        );
        let create = format!(
            "aws kms create-key --origin EXTERNAL --key-spec {aws_spec} --key-usage SIGN_VERIFY"
        );
        assert!(stdout.contains(&create), "{stdout}");
        assert!(stdout.contains("key pair"), "{stdout}");
        let script = std::fs::read_to_string(out.join("import.sh")).unwrap();
        assert!(script.contains(&format!("#   {create}\n")), "{script}");
    }
}

#[test]
fn azure_key_vault_and_managed_hsm_key_pairs_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let key_vault = "https://contoso.vault.azure.net/keys/kek/eba63d27e4e34e028839b53fac905621";
    let managed_hsm =
        "https://contoso-hsm.managedhsm.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621";
    for (i, (spec, kty)) in PAIRS
        .into_iter()
        .zip([
            "RSA-HSM",
            "RSA-HSM",
            "RSA-HSM",
            "EC-HSM --curve P-256",
            "EC-HSM --curve P-384",
            "EC-HSM --curve P-521",
        ])
        .enumerate()
    {
        let (kid, store) = if i % 2 == 0 {
            (key_vault, "--vault-name 'contoso'")
        } else {
            (managed_hsm, "--hsm-name 'contoso-hsm'")
        };
        let params = write_json(
            token.dir.path(),
            &format!("kek-{i}.json"),
            &kms.azure_kek(kid, &["import"]),
        );
        let label = spec.to_lowercase().replace('_', "-");
        let args = ["--azure-key", "signing-2026", "--key-spec", spec];
        wrap(&token, "azure", &params, &args, &label);
        let out = token.path(&label);
        let byok: Value =
            serde_json::from_slice(&std::fs::read(out.join("key.byok")).unwrap()).unwrap();
        assert_eq!(byok["header"]["kid"], kid);
        assert_eq!(byok["header"]["enc"], "CKM_RSA_AES_KEY_WRAP");
        let wrapped = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(byok["ciphertext"].as_str().unwrap())
            .unwrap();
        check_pair(
            &token,
            false,
            &kms,
            &out,
            spec,
            "RSA_AES_KEY_WRAP_SHA_1",
            &wrapped,
        );
        // import.sh, flattened to one line: the store, the key type and the curve.
        let script = std::fs::read_to_string(out.join("import.sh"))
            .unwrap()
            .replace(" \\\n    ", " ");
        assert!(
            script.contains(&format!(
                "az keyvault key import {store} --name 'signing-2026'"
            )),
            "{script}"
        );
        assert!(script.contains(&format!("--kty {kty} ")), "{script}");
        assert!(!script.contains("AES keys import"), "{script}");
    }
}

#[test]
fn google_key_pairs_with_their_algorithms_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 3072);
    let job = write_json(
        token.dir.path(),
        "job.json",
        &kms.gcp_job(
            "RSA_OAEP_3072_SHA256_AES_256",
            "ACTIVE",
            &hours_from_now(72),
        ),
    );
    // Google imports no P-521 key; each spec with an algorithm of another purpose or padding.
    for (spec, algorithm) in [
        ("RSA_2048", "rsa-sign-pss-2048-sha256"),
        ("RSA_3072", "rsa-decrypt-oaep-3072-sha256"),
        ("RSA_4096", "rsa-sign-pkcs1-4096-sha512"),
        ("EC_P256", "ec-sign-p256-sha256"),
        ("EC_P384", "ec-sign-p384-sha384"),
    ] {
        let label = spec.to_lowercase().replace('_', "-");
        let args = [
            "--gcp-key",
            "signing-2026",
            "--gcp-algorithm",
            algorithm,
            "--key-spec",
            spec,
        ];
        wrap(&token, "gcp", &job, &args, &label);
        let out = token.path(&label);
        let wrapped = std::fs::read(out.join("wrapped-key.bin")).unwrap();
        check_pair(
            &token,
            false,
            &kms,
            &out,
            spec,
            "RSA_AES_KEY_WRAP_SHA_256",
            &wrapped,
        );
        let script = std::fs::read_to_string(out.join("import.sh")).unwrap();
        assert!(
            script.contains(&format!("--algorithm '{algorithm}'")),
            "{script}"
        );
    }
}

#[test]
fn vault_key_pairs_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 4096);
    let params = write_json(token.dir.path(), "wk.json", &kms.vault_wrapping_key());
    for (spec, vault_type) in PAIRS.into_iter().zip([
        "rsa-2048",
        "rsa-3072",
        "rsa-4096",
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
    ]) {
        let label = spec.to_lowercase().replace('_', "-");
        let args = ["--vault-key", "signing-2026", "--key-spec", spec];
        wrap(&token, "vault", &params, &args, &label);
        let out = token.path(&label);
        let b64 = std::fs::read_to_string(out.join("ciphertext.b64")).unwrap();
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        check_pair(
            &token,
            false,
            &kms,
            &out,
            spec,
            "RSA_AES_KEY_WRAP_SHA_256",
            &wrapped,
        );
        let script = std::fs::read_to_string(out.join("import.sh")).unwrap();
        assert!(script.contains(&format!("type={vault_type}")), "{script}");
    }
}

/// Every refusal happens before the token is opened (the module named does not exist) and
/// leaves nothing behind.
#[test]
fn key_pairs_refused_where_a_provider_or_an_algorithm_cannot_take_them() {
    let token = TestToken::kryoptic("ceremony");
    let small = Kms::new(token.dir.path(), 2048);
    let large = Kms::new(token.dir.path(), 3072);
    let aws_2048 = aws_params(&token, &small, "aws-2048.json");
    let alibaba = write_json(
        token.dir.path(),
        "alibaba.json",
        &small.alibaba_params(
            "key-4f1a2b3c-1234-5678-9abc-0123456789ab",
            &hours_from_now(24),
        ),
    );
    let gcp = write_json(
        token.dir.path(),
        "job.json",
        &large.gcp_job(
            "RSA_OAEP_3072_SHA256_AES_256",
            "ACTIVE",
            &hours_from_now(72),
        ),
    );
    let gcp_direct = write_json(
        token.dir.path(),
        "job-direct.json",
        &large.gcp_job("RSA_OAEP_3072_SHA256", "ACTIVE", &hours_from_now(72)),
    );
    let vault = write_json(
        token.dir.path(),
        "vault.json",
        &Kms::new(token.dir.path(), 4096).vault_wrapping_key(),
    );
    // Files are named relative to the token directory, keyrite's working directory.
    let (aws_2048, alibaba, gcp, gcp_direct, vault) = (
        file_name(&aws_2048),
        file_name(&alibaba),
        file_name(&gcp),
        file_name(&gcp_direct),
        file_name(&vault),
    );
    let cases: Vec<(&str, &str, Vec<&str>, i32, String)> = vec![
        (
            "aws",
            aws_2048,
            vec![
                "--algorithm",
                "RSA_AES_KEY_WRAP_SHA_256",
                "--key-spec",
                "EC_P521",
            ],
            1,
            "keyrite: aws-2048.json: AWS KMS does not import EC_P521 key material under an RSA_2048 \
             wrapping key\n\
             Ask the KMS for import parameters with an RSA_3072 or RSA_4096 wrapping key \
             (get-parameters-for-import --wrapping-key-spec) and run again.\n"
                .to_owned(),
        ),
        (
            "aws",
            aws_2048,
            vec![
                "--algorithm",
                "RSAES_OAEP_SHA_256",
                "--key-spec",
                "RSA_2048",
            ],
            1,
            "keyrite: aws-2048.json: an RSA_2048 private key cannot be wrapped with RSAES_OAEP_SHA_256: \
             its PKCS#8 encoding is longer than one RSA block can carry, so a key pair needs \
             RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256\n\
             Ask the KMS for import parameters for RSA_AES_KEY_WRAP_SHA_256 (or _SHA_1) and pass \
             that --algorithm.\n"
                .to_owned(),
        ),
        (
            "aws",
            aws_2048,
            vec![
                "--algorithm",
                "RSA_AES_KEY_WRAP_SHA_256",
                "--key-spec",
                "EC_P256",
                "--wrap-with-trusted",
            ],
            1,
            "keyrite: a key pair cannot have CKA_WRAP_WITH_TRUSTED: its private key is wrapped \
             with RSA-AES, whose ephemeral AES key would itself need CKA_TRUSTED, which only the \
             security officer can set\n"
                .to_owned(),
        ),
        (
            "alibaba",
            alibaba,
            vec!["--algorithm", "RSAES_OAEP_SHA_256", "--key-spec", "EC_P256"],
            1,
            "keyrite: alibaba.json: Alibaba Cloud KMS does not import EC_P256 key material\n".to_owned(),
        ),
        (
            "gcp",
            gcp,
            vec!["--gcp-key", "k", "--key-spec", "RSA_2048"],
            2,
            "keyrite: job.json: Google Cloud KMS needs --gcp-algorithm NAME: the imported \
             version's algorithm (e.g. rsa-sign-pss-2048-sha256, ec-sign-p256-sha256), which the \
             key's purpose must allow\n\
             Pass --gcp-algorithm with the algorithm of the Google key (gcloud kms keys describe \
             shows its versionTemplate), one that takes this --key-spec.\n"
                .to_owned(),
        ),
        (
            "gcp",
            gcp,
            vec![
                "--gcp-key",
                "k",
                "--gcp-algorithm",
                "rsa-sign-pss-2048-sha256",
                "--key-spec",
                "EC_P256",
            ],
            1,
            "keyrite: job.json: the Google Cloud KMS algorithm rsa-sign-pss-2048-sha256 does not \
             take EC_P256 key material\n"
                .to_owned(),
        ),
        (
            "gcp",
            gcp,
            vec![
                "--gcp-key",
                "k",
                "--gcp-algorithm",
                "ec-sign-p521-sha512",
                "--key-spec",
                "EC_P521",
            ],
            2,
            "keyrite: --gcp-algorithm \"ec-sign-p521-sha512\" is not a Google Cloud KMS algorithm \
             keyrite imports"
                .to_owned(),
        ),
        (
            "gcp",
            gcp,
            vec!["--gcp-key", "k", "--key-spec", "EC_P521"],
            1,
            "keyrite: job.json: Google Cloud KMS does not import EC_P521 key material\n".to_owned(),
        ),
        (
            "gcp",
            gcp_direct,
            vec![
                "--gcp-key",
                "k",
                "--gcp-algorithm",
                "ec-sign-p256-sha256",
                "--key-spec",
                "EC_P256",
            ],
            1,
            "keyrite: job-direct.json: an EC_P256 private key cannot be wrapped with RSAES_OAEP_SHA_256"
                .to_owned(),
        ),
        (
            "vault",
            vault,
            vec!["--vault-key", "k", "--key-spec", "EC_SECP256K1"],
            1,
            "keyrite: vault.json: HashiCorp Vault transit does not import EC_SECP256K1 key material\n"
                .to_owned(),
        ),
    ];
    for (provider, params, args, status, expected) in cases {
        let out = run(Wrap::new("wrap")
            .provider(provider, params)
            .args(&args)
            .label("k")
            .out("out")
            .pin()
            .command(&token)
            .env("KEYRITE_PKCS11_MODULE", "/nonexistent/libpkcs11.so"));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "{provider} {args:?}: {stderr}"
        );
        assert!(
            stderr.starts_with(&expected),
            "{provider} {args:?}:\nexpected {expected:?}\ngot      {stderr:?}"
        );
        assert_eq!(stderr.lines().count(), 2, "{stderr}");
        assert!(!token.path("out").exists());
    }
    assert!(token.objects().is_empty());
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// SoftHSM2 2.6.1's `CKM_AES_KEY_WRAP_PAD` zero-pads what it wraps to a multiple of 8 bytes, and
/// a private key's PKCS#8 is of any length: the known-answer test refuses it before a key pair
/// is generated. The test shows the padding itself with PyKCS11: a P-256 key generated in
/// SoftHSM2 and wrapped under a known AES key unwraps (RFC 5649, by `cryptography`) to its
/// 67-byte PKCS#8 followed by 5 zero bytes.
#[test]
fn softhsm2_pads_private_keys_and_is_refused_for_key_pairs() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let params = aws_params(&token, &kms, "params.json");
    for spec in ["RSA_2048", "EC_P256", "EC_P384"] {
        let out = Wrap::aws(&params)
            .algorithm("RSA_AES_KEY_WRAP_SHA_1")
            .spec(spec)
            .label("k")
            .out("out")
            .pin()
            .run(&token);
        assert_eq!(out.status.code(), Some(1));
        assert_refused(
            &out.stderr,
            &format!(
                "keyrite: token \"ceremony\" has no AES key wrap with padding (RFC 5649) keyrite \
                 can trust: CKM_AES_KEY_WRAP_PAD: it wrapped a 67-byte secret (standing for the \
                 PKCS#8 of an {spec} private key) of known value to 80 bytes that differ from RFC \
                 5649\n"
            ),
            spec,
        );
        assert!(token.objects().is_empty(), "{spec}");
        assert!(!token.path("out").exists());
    }
    let padded = run_ok(
        token
            .independent("wrap_private_key.py")
            .arg(PIN_ENV)
            .args(["0x210A", "P-256", "1"]),
    );
    let padded: Value = serde_json::from_slice(&padded).unwrap();
    assert_eq!(
        padded,
        json!({"pkcs8_len": [67], "unwrapped_len": [72], "trailing": ["0000000000"], "scalar_len": [32]})
    );
}

/// kryoptic 1.5.4 refuses to generate a secp256k1 key pair: keyrite says so with the token's
/// words and leaves nothing behind.
#[test]
fn kryoptic_cannot_make_secp256k1_keys_and_nothing_is_left() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let params = aws_params(&token, &kms, "params.json");
    let out = Wrap::aws(&params)
        .algorithm("RSA_AES_KEY_WRAP_SHA_256")
        .spec("EC_SECP256K1")
        .label("k")
        .out("out")
        .pin()
        .run(&token);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("keyrite: C_GenerateKeyPair returned CKR_GENERAL_ERROR"),
        "{stderr}"
    );
    assert!(token.objects().is_empty());
    assert!(!token.path("out").exists());
}

/// The same key pair under new import parameters, proven by its public key's fingerprint; a
/// wrong fingerprint wraps nothing; `keys list` shows the pair by that fingerprint.
#[test]
fn a_key_pair_is_rewrapped_proven_by_its_fingerprint() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 3072);
    let aws = aws_params(&token, &kms, "aws.json");
    let args = [
        "--algorithm",
        "RSA_AES_KEY_WRAP_SHA_256",
        "--key-spec",
        "EC_P384",
    ];
    wrap(&token, "aws", &aws, &args, "signing");
    let first_dir = token.path("signing");
    let first = check_pair(
        &token,
        false,
        &kms,
        &first_dir,
        "EC_P384",
        "RSA_AES_KEY_WRAP_SHA_256",
        &std::fs::read(first_dir.join("EncryptedKeyMaterial.bin")).unwrap(),
    );
    let fingerprint = manifest(&first_dir)["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();

    let vault = write_json(
        token.dir.path(),
        "wk.json",
        &Kms::new(token.dir.path(), 4096).vault_wrapping_key(),
    );
    let wrong = "ab".repeat(32);
    let refused = Wrap::rewrap()
        .expect_kcv(&wrong)
        .provider("vault", &vault)
        .args(["--vault-key", "signing"])
        .spec("EC_P384")
        .label("signing")
        .out("again")
        .pin()
        .run(&token);
    assert_eq!(refused.status.code(), Some(1));
    assert_refused(
        &refused.stderr,
        &format!(
            "keyrite: key \"signing\" on the token has KCV {fingerprint}, not the {wrong} \
             expected; nothing was wrapped\n"
        ),
        "wrong fingerprint",
    );
    assert!(!token.path("again").exists());

    let aws_again = aws_params(&token, &kms, "aws-again.json");
    Wrap::rewrap()
        .expect_kcv(&fingerprint.to_uppercase())
        .provider("aws", &aws_again)
        .algorithm("RSA_AES_KEY_WRAP_SHA_1")
        .spec("EC_P384")
        .label("signing")
        .out("again")
        .pin()
        .ok(&token);
    let again_dir = token.path("again");
    let again = check_pair(
        &token,
        false,
        &kms,
        &again_dir,
        "EC_P384",
        "RSA_AES_KEY_WRAP_SHA_1",
        &std::fs::read(again_dir.join("EncryptedKeyMaterial.bin")).unwrap(),
    );
    assert_eq!(again, first, "the rewrap carries the same private key");
    assert_eq!(
        std::fs::read(again_dir.join("public.pem")).unwrap(),
        std::fs::read(first_dir.join("public.pem")).unwrap()
    );

    let listed: Value = token.keys_listed();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["label"], "signing");
    assert_eq!(listed[0]["spec"], "EC_P384");
    assert_eq!(listed[0]["kcv"], fingerprint.as_str());
    assert_eq!(listed[0]["kcv_method"], "spki-sha256");
    assert_eq!(listed[0]["usages"], json!([]));
}

/// kryoptic 1.5.4 writes an EC private key into PKCS#8 without its leading zero bytes, against
/// RFC 5915: shown with PyKCS11 on 64 P-521 keys (the first of a P-521 key's 66 bytes is zero
/// for one key in two). keyrite learns the length of the token's encoding inside the token and
/// keeps only keys whose encoding is RFC 5915: every one of its outputs parses strictly, and
/// the keys it destroyed on the way (keys are made until at least one was) are counted in the
/// manifest and said on stdout, and are gone from the token.
#[test]
fn only_rfc5915_encodings_of_ec_keys_leave_the_token() {
    let token = TestToken::kryoptic("ceremony");
    let measured = run_ok(
        token
            .independent("wrap_private_key.py")
            .arg(PIN_ENV)
            .args(["0x210B", "P-521", "64"]),
    );
    let measured: Value = serde_json::from_slice(&measured).unwrap();
    let scalars: Vec<u64> = measured["scalar_len"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(scalars.contains(&66), "{scalars:?}");
    assert!(
        scalars.iter().any(|&n| n < 66),
        "kryoptic wrote every P-521 key with 66 bytes: {scalars:?}"
    );
    assert!(
        measured["trailing"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t == "")
    );

    let kms = Kms::new(token.dir.path(), 3072);
    let params = aws_params(&token, &kms, "params.json");
    // At least 8 keys, and on until one was discarded (one P-521 key in two is; 24 at most).
    let mut discarded = 0;
    let mut kept = 0;
    for i in 0..24 {
        if i >= 8 && discarded > 0 {
            break;
        }
        kept += 1;
        let label = format!("p521-{i}");
        let args = [
            "--algorithm",
            "RSA_AES_KEY_WRAP_SHA_256",
            "--key-spec",
            "EC_P521",
        ];
        let stdout = wrap(&token, "aws", &params, &args, &label);
        let out = token.path(&label);
        let wrapped = std::fs::read(out.join("EncryptedKeyMaterial.bin")).unwrap();
        let material = check_pair(
            &token,
            false,
            &kms,
            &out,
            "EC_P521",
            "RSA_AES_KEY_WRAP_SHA_256",
            &wrapped,
        );
        assert_eq!(material.len(), 98);
        let n = manifest(&out)["key"]["discarded"].as_u64().unwrap_or(0);
        assert_eq!(
            stdout.contains(&format!("The token made {n} EC_P521 key pair(s) before it")),
            n > 0,
            "{stdout}"
        );
        discarded += n;
    }
    assert!(discarded > 0, "no P-521 key was discarded in {kept}");
    // Only the keys kept are left on the token, each with its public key.
    let objects = token.objects();
    assert_eq!(
        objects.len(),
        2 * kept,
        "{objects:?} ({discarded} destroyed)"
    );
}

/// A key pair backed up to a second token and restored there: an RSA key is proven by the
/// public key the restored private key reports (its modulus and exponent), kept beside it as its
/// public key object, and re-wraps there to the same PKCS#8; a public.pem that is not the
/// backed-up key's is caught and nothing is kept. An EC key, whose restored private key would
/// report no public key, is not backed up at all.
#[test]
fn a_key_pair_backed_up_and_restored_on_a_second_token() {
    let src = TestToken::kryoptic("ceremony");
    let dst = TestToken::kryoptic("backup");
    let (backup_pem, _) = backup_key_for_pairs(&dst);
    let signer = backup::signer(&src, backup::SIGNER);

    let kms = Kms::new(src.dir.path(), 3072);
    let aws = aws_params(&src, &kms, "aws.json");
    for spec in ["RSA_3072", "EC_P256"] {
        let backup_objects = dst.objects();
        let label = spec.to_lowercase().replace('_', "-");
        let args = [
            "--algorithm",
            "RSA_AES_KEY_WRAP_SHA_256",
            "--key-spec",
            spec,
        ];
        // The backup, recorded: generated and backed up in one run that the source token's
        // signer seals.
        let backup = dst.path(&format!("{label}-backup"));
        let transcript = src.path(&format!("{label}-backup.jsonl"));
        let backed_up = run(&mut backup_command(
            &src,
            &backup_pem,
            "RSA_AES_KEY_WRAP_SHA_256",
            &label,
            spec,
            &backup,
            &transcript,
        ));
        if spec.starts_with("EC") {
            // No token here reports the public key of an EC key it unwrapped, so nothing could
            // prove a restore: EC keys are not backed up, and the refusal comes first.
            assert_eq!(backed_up.status.code(), Some(1));
            assert_refused(
                &backed_up.stderr,
                &format!(
                    "keyrite: {}: backup token does not import {spec} key material\n",
                    backup_pem.display()
                ),
                spec,
            );
            assert!(!backup.exists());
            continue;
        }
        assert!(
            backed_up.status.success(),
            "{}",
            String::from_utf8_lossy(&backed_up.stderr)
        );
        let fingerprint = manifest(&backup)["key"]["check_values"]["spki-sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        let first_dir = src.path(&label);
        Wrap::rewrap()
            .provider("aws", &aws)
            .args(args)
            .label(&label)
            .expect_kcv(&fingerprint)
            .out(&label)
            .pin()
            .ok(&src);
        let original = check_pair(
            &src,
            false,
            &kms,
            &first_dir,
            spec,
            "RSA_AES_KEY_WRAP_SHA_256",
            &std::fs::read(first_dir.join("EncryptedKeyMaterial.bin")).unwrap(),
        );
        let m = manifest(&backup);
        assert_eq!(
            m["key"]["check_values"],
            json!({"spki-sha256": fingerprint})
        );
        assert_eq!(openssl_fingerprint(&backup.join("public.pem")), fingerprint);

        let record = Record {
            transcript: transcript.clone(),
            signer: signer.clone(),
        };
        let restore = |dir: &Path| {
            backup::restore(
                &dst,
                dir,
                &label,
                Proof::Record(&record),
                &["--json", "--pin-env", PIN_ENV],
            )
            .out
        };

        // A public.pem that is another key's, with the manifest made to agree, is refused before
        // the token is opened: no sealed record wrote that manifest. (The restored private key's
        // own public key is still compared after the unwrap, but a file editor no longer
        // reaches it: every byte restored is bound to the sealed record.)
        let forged = dst.path("forged");
        copy_dir(&backup, &forged);
        let other = Kms::new(src.dir.path(), 3072);
        std::fs::write(forged.join("public.pem"), other.public_pem()).unwrap();
        let mut fm = manifest(&forged);
        let other_fingerprint = openssl_fingerprint(&forged.join("public.pem"));
        fm["key"]["check_values"]["spki-sha256"] = json!(other_fingerprint);
        fm["files"]["public.pem"] = json!(sha256_hex(
            &std::fs::read(forged.join("public.pem")).unwrap()
        ));
        std::fs::write(
            forged.join("manifest.json"),
            serde_json::to_vec(&fm).unwrap(),
        )
        .unwrap();
        let out = restore(&forged);
        assert_eq!(out.status.code(), Some(1));
        assert_refused(
            &out.stderr,
            &format!(
                "keyrite: {} is not an output {} records: no wrap it records wrote this \
                 manifest.json\n",
                forged.display(),
                transcript.display()
            ),
            "forged public.pem",
        );
        assert_eq!(
            dst.objects(),
            backup_objects,
            "the forged restore left something"
        );
        // A manifest claiming an EC key is refused before the token is opened.
        let ec_claim = dst.path("ec-claim");
        copy_dir(&backup, &ec_claim);
        let mut em = manifest(&ec_claim);
        em["key"]["spec"] = json!("EC_P256");
        std::fs::write(
            ec_claim.join("manifest.json"),
            serde_json::to_vec(&em).unwrap(),
        )
        .unwrap();
        let out = backup::restore(
            &dst,
            &ec_claim,
            &label,
            Proof::Record(&record),
            &[
                "--module",
                "/nonexistent/libpkcs11.so",
                "--pin-env",
                PIN_ENV,
            ],
        )
        .out;
        assert_eq!(out.status.code(), Some(1));
        assert_refused(
            &out.stderr,
            &format!(
                "keyrite: {}: it holds an EC_P256 key, which keyrite does not back up: a restored \
                 EC private key reports no public key, so nothing could prove it is the key \
                 backed up\n",
                ec_claim.join("manifest.json").display()
            ),
            "EC manifest",
        );

        let out = restore(&backup);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(restored["kcv"], fingerprint.as_str());
        assert_eq!(restored["kcv_method"], "spki-sha256");
        let objects = dst.objects();
        let private = objects
            .iter()
            .find(|o| o["label"] == label.as_str() && o["class"] == "CKO_PRIVATE_KEY")
            .unwrap();
        let public = objects
            .iter()
            .find(|o| o["label"] == label.as_str() && o["class"] == "CKO_PUBLIC_KEY")
            .unwrap();
        assert_eq!(public["spki_sha256"], fingerprint.as_str());
        assert_eq!(public["id"], private["id"]);
        for (flag, value) in [
            ("sensitive", true),
            ("extractable", true),
            ("sign", false),
            ("decrypt", false),
            ("local", false),
            ("value_readable", false),
        ] {
            assert_eq!(private[flag], value, "restored {flag}");
        }

        // The restored key wraps, on the second token, to the same PKCS#8.
        let dst_kms = Kms::new(dst.dir.path(), 3072);
        let dst_params = aws_params(&dst, &dst_kms, "aws.json");
        Wrap::rewrap()
            .provider("aws", &dst_params)
            .algorithm("RSA_AES_KEY_WRAP_SHA_256")
            .spec(spec)
            .label(&label)
            .expect_kcv(&fingerprint)
            .out("again")
            .pin()
            .ok(&dst);
        let again_dir = dst.path("again");
        let again = check_pair(
            &dst,
            true,
            &dst_kms,
            &again_dir,
            spec,
            "RSA_AES_KEY_WRAP_SHA_256",
            &std::fs::read(again_dir.join("EncryptedKeyMaterial.bin")).unwrap(),
        );
        assert_eq!(again, original);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A ceremony generates a key pair and wraps it for two regions: the transcript records the
/// public key's fingerprint as the key's identity, `keyrite verify` (with the outputs) and the
/// independent verifiers accept it, and each output unwraps to the one PKCS#8.
#[test]
fn a_ceremony_generates_and_wraps_a_key_pair() {
    let c = common::ceremony::Ceremony::on(
        TestToken::kryoptic("ceremony"),
        &["us-east-1", "eu-west-1"],
    );
    let plan = std::fs::read_to_string(c.dir().join("plan.toml"))
        .unwrap()
        .replace(
            "action = \"generate\"\nkey_label = \"payments-2026\"\n",
            "action = \"generate\"\nkey_label = \"payments-2026\"\nkey_spec = \"EC_P384\"\n",
        )
        .replace("RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256");
    assert!(plan.contains("EC_P384"));
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.run_approved("t.jsonl");
    c.assert_verifies("t.jsonl");

    let lines = c.transcript("t.jsonl");
    let generated = &lines
        .iter()
        .find(|(_, l)| l["step"] == "generated")
        .unwrap()
        .1;
    let fingerprint = generated["data"]["key"]["kcv"].as_str().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 64);
    assert_eq!(generated["data"]["key"]["kcv_method"], "spki-sha256");
    assert_eq!(generated["data"]["key"]["spec"], "EC_P384");

    let mut materials = Vec::new();
    for r in &c.regions {
        let out = c.dir().join(format!("payments-2026-{}", r.name));
        assert_eq!(openssl_fingerprint(&out.join("public.pem")), fingerprint);
        let wrapped = std::fs::read(out.join("EncryptedKeyMaterial.bin")).unwrap();
        materials.push(check_pair(
            &c.token,
            false,
            &r.kms,
            &out,
            "EC_P384",
            "RSA_AES_KEY_WRAP_SHA_256",
            &wrapped,
        ));
    }
    assert_eq!(materials[0], materials[1]);

    let repo = env!("CARGO_MANIFEST_DIR");
    for mut verifier in [
        {
            let mut cmd = Command::new(format!("{repo}/scripts/verify-with-openssl"));
            cmd.args(["t.jsonl", "signer.pem", "--policy", "policy.toml", "."]);
            cmd
        },
        {
            let mut cmd = Command::new(PYTHON);
            cmd.arg(format!("{repo}/tests/independent/verify_transcript.py"))
                .args(["t.jsonl", "signer.pem", "--policy", "policy.toml", "."]);
            cmd
        },
    ] {
        let out = run(verifier.current_dir(c.dir()));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{verifier:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn key_pair_objects(token: &TestToken, args: &[&str]) -> String {
    let out = run_ok(
        token
            .independent("key_pair_objects.py")
            .arg(PIN_ENV)
            .args(args),
    );
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// A public key object is believed only as far as the private key backs it: someone with the
/// PIN who puts another public key beside a key pair, or a second one, gets a key without an
/// identity, which nothing that needs one (rewrap, destroy, backup) accepts.
#[test]
fn a_public_key_object_that_is_not_the_private_keys_is_refused() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 3072);
    let params = aws_params(&token, &kms, "params.json");
    let args = [
        "--algorithm",
        "RSA_AES_KEY_WRAP_SHA_256",
        "--key-spec",
        "RSA_2048",
    ];
    wrap(&token, "aws", &params, &args, "signing");
    let fingerprint = manifest(&token.path("signing"))["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token.listed_key("signing")["kcv"], fingerprint.as_str());

    // Another RSA public key in place of the real one.
    let other = Kms::new(token.dir.path(), 2048);
    let pem = token.path("other.pem");
    std::fs::write(&pem, other.public_pem()).unwrap();
    let fake = key_pair_objects(
        &token,
        &["replace-public", "signing", pem.to_str().unwrap()],
    );
    let entry = token.listed_key("signing");
    assert_eq!(entry["kcv"], Value::Null);
    assert_eq!(
        entry["kcv_method"],
        "the public key object is not the one the private key reports"
    );
    for expected in [&fake, &fingerprint] {
        let out = Wrap::rewrap()
            .provider("aws", &params)
            .args(args)
            .label("signing")
            .expect_kcv(expected)
            .out("again")
            .pin()
            .run(&token);
        assert_eq!(out.status.code(), Some(1));
        assert_refused(
            &out.stderr,
            &format!(
                "keyrite: key \"signing\" on the token has KCV none, not the {expected} expected; \
                 nothing was wrapped\n"
            ),
            "replaced public key",
        );
        assert!(!token.path("again").exists());
    }

    // The real one back, and a second beside it.
    std::fs::write(
        &pem,
        std::fs::read(token.path("signing").join("public.pem")).unwrap(),
    )
    .unwrap();
    key_pair_objects(
        &token,
        &["replace-public", "signing", pem.to_str().unwrap()],
    );
    assert_eq!(token.listed_key("signing")["kcv"], fingerprint.as_str());
    key_pair_objects(&token, &["add-public", "signing", pem.to_str().unwrap()]);
    assert_eq!(
        token.listed_key("signing")["kcv_method"],
        "the token holds 2 public key objects with its label and CKA_ID; keyrite keeps exactly one"
    );
}

/// SoftHSM2 says nothing of an EC private key's public key: a pair generated in the token
/// (CKA_LOCAL, always sensitive) is identified by its public key object if that is a private
/// object, which nobody can make without the PIN; an EC private key imported with a matching
/// public key object — its value known outside the token — is not, nor a pair whose public key
/// object is public: a session without the PIN may destroy it and create another. Such a
/// session cannot see a private public key object, and one it adds beside it (with the CKA_ID
/// a manifest records) leaves the key without an identity.
#[test]
fn an_ec_key_that_reports_no_public_key_is_believed_only_if_generated_here() {
    let token = TestToken::softhsm("ceremony");
    let generated = key_pair_objects(&token, &["generate-ec", "generated"]);
    let entry = token.listed_key("generated");
    assert_eq!(entry["kcv"], generated.as_str());
    assert_eq!(entry["kcv_method"], "spki-sha256");
    assert_eq!(entry["spec"], "EC_P256");

    key_pair_objects(&token, &["import-ec", "imported"]);
    let entry = token.listed_key("imported");
    assert_eq!(entry["kcv"], Value::Null);
    assert_eq!(
        entry["kcv_method"],
        "the private key reports no public key of its own and was not generated in this token \
         (CKA_LOCAL, CKA_ALWAYS_SENSITIVE), so its public key object proves nothing"
    );

    key_pair_objects(&token, &["generate-ec-public-object", "exposed"]);
    let entry = token.listed_key("exposed");
    assert_eq!(entry["kcv"], Value::Null);
    assert_eq!(
        entry["kcv_method"],
        "the private key reports no public key of its own, and its public key object is a \
         public object anyone can create without the PIN, so it proves nothing"
    );

    let added: Value =
        serde_json::from_slice(&run_ok(token.independent("swap_public_key.py").args([
            "generated",
            "ec-p256",
            &hex::encode("generated"),
        ])))
        .unwrap();
    assert_eq!(
        (&added["found"], &added["created"]),
        (&json!(0), &json!(true)),
        "{added}"
    );
    let entry = token.listed_key("generated");
    assert_eq!(entry["kcv"], Value::Null);
    assert_eq!(
        entry["kcv_method"],
        "the token holds 2 public key objects with its label and CKA_ID; keyrite keeps exactly one"
    );
}
