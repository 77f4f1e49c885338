//! Google Cloud KMS import jobs, Azure Key Vault `.byok` files and HashiCorp Vault transit
//! imports, for every algorithm and key kind keyrite accepts for them: SHA-1 paths on SoftHSM2,
//! SHA-256 paths on kryoptic. The tests play each KMS: they hold the RSA private key, unwrap
//! keyrite's output with Python `cryptography` (`tests/independent/unwrap.py`), compare the KCV
//! and the sizes, check the `.byok` file field by field against Microsoft's specification, and
//! run `import.sh` against a recording CLI. Every refusal happens before the token is opened
//! (the module path given does not even exist) and leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;
use serde_json::{Value, json};

/// `keyrite wrap --provider PROVIDER --params PARAMS ARGS --key-label LABEL --out LABEL`.
fn wrap(token: &TestToken, provider: &str, params: &Path, args: &[&str], label: &str) -> PathBuf {
    Wrap::new("wrap")
        .provider(provider, params)
        .args(args)
        .label(label)
        .out(label)
        .pin()
        .ok(token);
    token.path(label)
}

/// Unwraps raw wrapped bytes with Python `cryptography`.
fn unwrap_bytes(kms: &Kms, dir: &Path, wrapped: &[u8], algorithm: &str) -> Vec<u8> {
    let file = dir.join("wrapped-for-python.bin");
    std::fs::write(&file, wrapped).unwrap();
    let material = kms.unwrap_python(&file, algorithm);
    std::fs::remove_file(&file).unwrap();
    material
}

/// The key material's length and KCV match what the token reported.
fn check_material(token: &TestToken, material: &[u8], spec: &str, m: &Value) {
    let len = match spec {
        "AES_256" | "HMAC_256" => 32,
        "HMAC_384" => 48,
        "HMAC_512" => 64,
        other => panic!("{other}"),
    };
    let method = match (token.kind, spec) {
        (Kind::Kryoptic | Kind::OpenCryptoki, _) => "sha256-3",
        (Kind::SoftHsm2, "AES_256") => "aes-ecb-zero-3",
        (Kind::SoftHsm2, _) => "sha1-3",
    };
    assert_eq!(material.len(), len, "{spec}");
    assert_eq!(m["key"]["spec"], spec);
    assert_eq!(m["key"]["kcv_method"], method, "{spec}");
    assert_eq!(
        m["key"]["kcv"].as_str().unwrap(),
        kcv_python(method, material),
        "{spec}"
    );
}

/// Runs `import.sh` against a recording `cli`; returns the arguments it was given.
fn run_import(token: &TestToken, out: &Path, cli: &str, extra: &[&str]) -> Vec<String> {
    let bin = fake_cli(token.dir.path(), cli);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    run_ok(
        Command::new("sh")
            .arg(out.join("import.sh"))
            .args(extra)
            .env("PATH", path)
            .current_dir("/"),
    );
    std::fs::read_to_string(token.path(&format!("{cli}.args")))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn here(out: &Path, file: &str) -> String {
    std::fs::canonicalize(out)
        .unwrap()
        .join(file)
        .display()
        .to_string()
}

/// The files of an output directory, by name.
fn files(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------------
// Google Cloud KMS

fn gcp_wrap_and_check(token: &TestToken, method: &str, bits: u32, algorithm: &str, size: usize) {
    let kms = Kms::new(token.dir.path(), bits);
    let label = method.to_lowercase().replace('_', "-");
    let job = write_json(
        token.dir.path(),
        &format!("{label}.json"),
        &kms.gcp_job(method, "ACTIVE", &hours_from_now(72)),
    );
    // The job decides the algorithm; --algorithm is left out.
    let out = wrap(token, "gcp", &job, &["--gcp-key", "payments-2026"], &label);
    assert_eq!(
        files(&out),
        ["import.sh", "manifest.json", "wrapped-key.bin"]
    );
    let wrapped = std::fs::read(out.join("wrapped-key.bin")).unwrap();
    assert_eq!(wrapped.len(), size, "{method}");
    let m = manifest(&out);
    assert_eq!(m["provider"], "gcp");
    assert_eq!(m["algorithm"], algorithm);
    assert_eq!(m["kms_key_id"], GCP_KEY);
    assert_eq!(m["wrapping_key_id"], GCP_JOB);
    assert_eq!(m["wrapping_key_spec"], format!("RSA_{bits}"));
    assert!(m["parameters_valid_to"].is_string());
    let material = unwrap_bytes(&kms, token.dir.path(), &wrapped, algorithm);
    check_material(token, &material, "AES_256", &m);
    let args = run_import(token, &out, "gcloud", &["--verbosity", "debug"]);
    assert_eq!(
        args,
        [
            "kms",
            "keys",
            "versions",
            "import",
            "--import-job",
            "job-1",
            "--location",
            "us-east1",
            "--keyring",
            "ceremony-ring",
            "--key",
            "payments-2026",
            "--project",
            "keyrite-test",
            "--algorithm",
            "google-symmetric-encryption",
            "--wrapped-key-file",
            &here(&out, "wrapped-key.bin"),
            "--verbosity",
            "debug",
        ]
    );
}

#[test]
fn gcp_sha1_import_methods_on_softhsm2() {
    let token = TestToken::softhsm("ceremony");
    for (method, bits, size) in [
        ("RSA_OAEP_3072_SHA1_AES_256", 3072, 384 + 40),
        ("RSA_OAEP_4096_SHA1_AES_256", 4096, 512 + 40),
    ] {
        gcp_wrap_and_check(&token, method, bits, "RSA_AES_KEY_WRAP_SHA_1", size);
    }
}

#[test]
fn gcp_sha256_import_methods_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    for (method, bits, algorithm, size) in [
        (
            "RSA_OAEP_3072_SHA256_AES_256",
            3072,
            "RSA_AES_KEY_WRAP_SHA_256",
            384 + 40,
        ),
        (
            "RSA_OAEP_4096_SHA256_AES_256",
            4096,
            "RSA_AES_KEY_WRAP_SHA_256",
            512 + 40,
        ),
        ("RSA_OAEP_3072_SHA256", 3072, "RSAES_OAEP_SHA_256", 384),
        ("RSA_OAEP_4096_SHA256", 4096, "RSAES_OAEP_SHA_256", 512),
    ] {
        gcp_wrap_and_check(&token, method, bits, algorithm, size);
    }
}

#[test]
fn gcp_algorithm_given_must_be_the_jobs() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 3072);
    let job = write_json(
        token.dir.path(),
        "job.json",
        &kms.gcp_job("RSA_OAEP_3072_SHA1_AES_256", "ACTIVE", &hours_from_now(72)),
    );
    let out = wrap(
        &token,
        "gcp",
        &job,
        &[
            "--gcp-key",
            "payments-2026",
            "--algorithm",
            "RSA_AES_KEY_WRAP_SHA_1",
            "--wrapping-key-spec",
            "RSA_3072",
        ],
        "given",
    );
    assert_eq!(manifest(&out)["algorithm"], "RSA_AES_KEY_WRAP_SHA_1");
}

// ---------------------------------------------------------------------------------------------
// Azure Managed HSM

/// Checks a `.byok` file field by field against Microsoft's BYOK specification; returns the
/// ciphertext.
fn check_byok(token: &TestToken, out: &Path, kid: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(out.join("key.byok")).unwrap();
    let byok: Value = serde_json::from_str(&text).unwrap();
    let top = byok.as_object().unwrap();
    assert_eq!(
        top.keys().collect::<Vec<_>>(),
        ["ciphertext", "generator", "header", "schema_version"]
    );
    assert_eq!(byok["schema_version"], "1.0.0");
    assert_eq!(
        byok["header"],
        json!({"kid": kid, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"})
    );
    let ciphertext = byok["ciphertext"].as_str().unwrap();
    assert!(
        ciphertext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "not base64url without padding: {ciphertext}"
    );
    let generator = byok["generator"].as_str().unwrap();
    let model = match token.kind {
        Kind::SoftHsm2 => "SoftHSM project, SoftHSM v2, firmware 2.6",
        Kind::Kryoptic => "Kryoptic Project, v1, firmware 1.5",
        Kind::OpenCryptoki => unreachable!("tests/opencryptoki.rs runs no provider tests"),
    };
    assert_eq!(
        generator,
        format!("keyrite {}; {model}", env!("CARGO_PKG_VERSION"))
    );
    // The specification's field order.
    let order: Vec<usize> = [
        "\"schema_version\"",
        "\"header\"",
        "\"ciphertext\"",
        "\"generator\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(ciphertext)
        .unwrap()
}

#[test]
fn azure_rsa_aes_sha1_for_every_kek_size_on_softhsm2() {
    let token = TestToken::softhsm("ceremony");
    for bits in [2048u32, 3072, 4096] {
        let kms = Kms::new(token.dir.path(), bits);
        let kek = write_json(
            token.dir.path(),
            &format!("kek{bits}.json"),
            &kms.azure_kek(AZURE_KID, &["import"]),
        );
        let out = wrap(
            &token,
            "azure",
            &kek,
            &["--azure-key", "payments-2026"],
            &format!("k{bits}"),
        );
        assert_eq!(files(&out), ["import.sh", "key.byok", "manifest.json"]);
        let wrapped = check_byok(&token, &out, AZURE_KID);
        assert_eq!(wrapped.len(), bits as usize / 8 + 40, "RSA-{bits}");
        let m = manifest(&out);
        assert_eq!(m["provider"], "azure");
        assert_eq!(m["algorithm"], "RSA_AES_KEY_WRAP_SHA_1");
        assert_eq!(
            m["kms_key_id"],
            "https://contoso-hsm.managedhsm.azure.net/keys/payments-2026"
        );
        assert_eq!(m["wrapping_key_id"], AZURE_KID);
        assert_eq!(m["parameters_valid_to"], Value::Null);
        let material = unwrap_bytes(&kms, token.dir.path(), &wrapped, "RSA_AES_KEY_WRAP_SHA_1");
        check_material(&token, &material, "AES_256", &m);
        let args = run_import(&token, &out, "az", &[]);
        assert_eq!(
            args,
            [
                "keyvault",
                "key",
                "import",
                "--hsm-name",
                "contoso-hsm",
                "--name",
                "payments-2026",
                "--byok-file",
                &here(&out, "key.byok"),
                "--kty",
                "oct-HSM",
            ]
        );
        let script = std::fs::read_to_string(out.join("import.sh")).unwrap();
        assert!(
            script.contains("AES keys import into Azure Managed HSM only"),
            "{script}"
        );
    }
}

#[test]
fn azure_pem_with_kid_expiry_and_explicit_algorithm() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let pem = token.path("kek.pem");
    std::fs::write(&pem, kms.public_pem()).unwrap();
    let out = Wrap::new("wrap")
        .provider("azure", &pem)
        .args(["--azure-kid", AZURE_KID, "--azure-key", "payments-2026"])
        .algorithm("RSA_AES_KEY_WRAP_SHA_1")
        .args(["--valid-to", "2099-01-31T00:00:00Z"])
        .label("k")
        .out("out")
        .pin()
        .ok(&token);
    let stdout = String::from_utf8(out).unwrap();
    assert!(
        stdout.contains("AES keys import into Azure Managed HSM only"),
        "{stdout}"
    );
    assert!(!stdout.contains("expire at"), "{stdout}");
    let out = token.path("out");
    let wrapped = check_byok(&token, &out, AZURE_KID);
    let m = manifest(&out);
    let material = unwrap_bytes(&kms, token.dir.path(), &wrapped, "RSA_AES_KEY_WRAP_SHA_1");
    check_material(&token, &material, "AES_256", &m);
    let args = run_import(&token, &out, "az", &[]);
    assert_eq!(
        args[args.len() - 4..],
        ["--kty", "oct-HSM", "--expires", "2099-01-31T00:00:00Z"]
    );
}

#[test]
fn azure_rsa_aes_sha1_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    let kms = Kms::new(token.dir.path(), 3072);
    let kek = write_json(
        token.dir.path(),
        "kek.json",
        &kms.azure_kek(AZURE_KID, &["import"]),
    );
    let out = wrap(
        &token,
        "azure",
        &kek,
        &["--azure-key", "payments-2026"],
        "k",
    );
    let wrapped = check_byok(&token, &out, AZURE_KID);
    assert_eq!(wrapped.len(), 384 + 40);
    let material = unwrap_bytes(&kms, token.dir.path(), &wrapped, "RSA_AES_KEY_WRAP_SHA_1");
    check_material(&token, &material, "AES_256", &manifest(&out));
}

// ---------------------------------------------------------------------------------------------
// HashiCorp Vault transit

const VAULT_SPECS: [(&str, &str, usize); 4] = [
    ("AES_256", "aes256-gcm96", 40),
    ("HMAC_256", "hmac", 40),
    ("HMAC_384", "hmac", 56),
    ("HMAC_512", "hmac", 72),
];

fn vault_wrap_and_check(token: &TestToken, algorithm: Option<&str>, hash_function: &str) {
    let kms = Kms::new(token.dir.path(), 4096);
    let json_params = write_json(token.dir.path(), "wk.json", &kms.vault_wrapping_key());
    let pem_params = token.path("wk.pem");
    std::fs::write(&pem_params, kms.public_pem()).unwrap();
    let expected_algorithm = algorithm.unwrap_or("RSA_AES_KEY_WRAP_SHA_256");
    for (i, (spec, vault_type, kwp)) in VAULT_SPECS.into_iter().enumerate() {
        let label = spec.to_lowercase().replace('_', "-");
        // Both shapes of the parameters: the CLI's JSON and the bare PEM.
        let params = if i % 2 == 0 {
            &json_params
        } else {
            &pem_params
        };
        let mut args = vec!["--vault-key", "payments-2026", "--key-spec", spec];
        if let Some(a) = algorithm {
            args.extend(["--algorithm", a]);
        }
        let out = wrap(token, "vault", params, &args, &label);
        assert_eq!(
            files(&out),
            ["ciphertext.b64", "import.sh", "manifest.json"]
        );
        let text = std::fs::read_to_string(out.join("ciphertext.b64")).unwrap();
        let wrapped = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .unwrap();
        assert_eq!(wrapped.len(), 512 + kwp, "{spec}");
        let m = manifest(&out);
        assert_eq!(m["provider"], "vault");
        assert_eq!(m["algorithm"], expected_algorithm);
        assert_eq!(m["kms_key_id"], "transit/keys/payments-2026");
        assert_eq!(m["wrapping_key_id"], "transit/wrapping_key");
        assert_eq!(m["parameters_valid_to"], Value::Null);
        let material = unwrap_bytes(&kms, token.dir.path(), &wrapped, expected_algorithm);
        check_material(token, &material, spec, &m);
        let args = run_import(
            token,
            &out,
            "vault",
            &["-address=https://vault.example:8200"],
        );
        assert_eq!(
            args,
            [
                "write",
                "-address=https://vault.example:8200",
                "transit/keys/payments-2026/import",
                &format!("ciphertext=@{}", here(&out, "ciphertext.b64")),
                &format!("hash_function={hash_function}"),
                &format!("type={vault_type}"),
            ],
            "{spec}"
        );
    }
}

#[test]
fn vault_rsa_aes_sha1_every_key_kind_on_softhsm2() {
    let token = TestToken::softhsm("ceremony");
    vault_wrap_and_check(&token, Some("RSA_AES_KEY_WRAP_SHA_1"), "SHA1");
}

#[test]
fn vault_rsa_aes_sha256_by_default_every_key_kind_on_kryoptic() {
    let token = TestToken::kryoptic("ceremony");
    vault_wrap_and_check(&token, None, "SHA256");
}

#[test]
fn vault_mount_and_key_names_are_quoted_in_import_sh() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 4096);
    let params = write_json(token.dir.path(), "wk.json", &kms.vault_wrapping_key());
    let out = wrap(
        &token,
        "vault",
        &params,
        &[
            "--vault-key",
            "team.pay@2026",
            "--vault-mount",
            "team-a/transit",
            "--algorithm",
            "RSA_AES_KEY_WRAP_SHA_1",
        ],
        "k",
    );
    let script = std::fs::read_to_string(out.join("import.sh")).unwrap();
    assert!(
        script.contains("exec vault write \"$@\" 'team-a/transit/keys/team.pay@2026/import'"),
        "{script}"
    );
    let args = run_import(&token, &out, "vault", &[]);
    assert_eq!(args[1], "team-a/transit/keys/team.pay@2026/import");
    assert_eq!(
        manifest(&out)["wrapping_key_id"],
        "team-a/transit/wrapping_key"
    );
}

// ---------------------------------------------------------------------------------------------
// Refusals: before the token is opened, with their exact messages, nothing left behind.

struct Refusal {
    name: &'static str,
    /// The parameters file's contents.
    params: Vec<u8>,
    args: Vec<&'static str>,
    /// The exit code: 2 for a parameters file that does not parse or an option missing, not
    /// for this provider or not of its form; 1 for what the provider's rules refuse.
    status: i32,
    stderr: String,
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap()
}

fn edit(v: &Value, path: &[&str], value: Value) -> Value {
    let mut v = v.clone();
    let mut at = &mut v;
    for p in &path[..path.len() - 1] {
        at = &mut at[*p];
    }
    at[path[path.len() - 1]] = value;
    v
}

/// Runs every refusal twice: with a module path that does not exist (so the refusal cannot come
/// from a token) and with the real token, whose objects are then read back.
fn check_refusals(token: &TestToken, provider: &str, cases: Vec<Refusal>) {
    let count = cases.len();
    for case in cases {
        std::fs::write(token.path("params"), &case.params).unwrap();
        for module in [Some("/nonexistent/libpkcs11.so"), None] {
            let mut cmd = Wrap::new("wrap")
                .provider(provider, "params")
                .args(&case.args)
                .label("k")
                .out("out")
                .pin()
                .command(token);
            if let Some(m) = module {
                cmd.env("KEYRITE_PKCS11_MODULE", m);
            }
            let out = run(&mut cmd);
            assert_refused(&out.stderr, &case.stderr, case.name);
            assert_eq!(out.status.code(), Some(case.status), "{}", case.name);
            assert!(out.stdout.is_empty(), "{}", case.name);
            assert!(!token.path("out").exists(), "{}", case.name);
            assert!(
                !token.path("pwned").exists(),
                "{}: a command ran",
                case.name
            );
        }
    }
    assert!(token.objects().is_empty());
    assert!(count > 0);
}

#[test]
fn gcp_refusals() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 3072);
    let good = kms.gcp_job("RSA_OAEP_3072_SHA1_AES_256", "ACTIVE", &hours_from_now(72));
    let key = vec!["--gcp-key", "payments-2026"];
    let hint = "Create a new import job (gcloud kms import-jobs create), describe it again and run again.\n";
    let hostile =
        "projects/keyrite-test/locations/us-east1/keyRings/ring'$(touch pwned)'/importJobs/job-1";
    let cases = vec![
        Refusal {
            name: "an expired job",
            params: json_bytes(&edit(&good, &["state"], json!("EXPIRED"))),
            args: key.clone(),
            status: 1,
            stderr: format!("keyrite: params: the import job {GCP_JOB} is EXPIRED, not ACTIVE\n{hint}"),
        },
        Refusal {
            name: "a job still being generated",
            params: json_bytes(&edit(&good, &["state"], json!("PENDING_GENERATION"))),
            args: key.clone(),
            status: 1,
            stderr: format!(
                "keyrite: params: the import job {GCP_JOB} is PENDING_GENERATION, not ACTIVE\n{hint}"
            ),
        },
        Refusal {
            name: "an ACTIVE job past its expireTime",
            params: json_bytes(&edit(&good, &["expireTime"], json!("2020-01-01T00:00:00.123456Z"))),
            args: key.clone(),
            status: 1,
            stderr: format!(
                "keyrite: params: the import job {GCP_JOB} expired at 2020-01-01T00:00:00Z\n{hint}"
            ),
        },
        Refusal {
            name: "a hostile job name",
            params: json_bytes(&edit(&good, &["name"], json!(hostile))),
            args: key.clone(),
            status: 2,
            stderr: format!(
                "keyrite: params: name {hostile:?} is not a Google Cloud KMS import job name: \
                 its key ring (after keyRings/) must be 1 to 63 of A-Z a-z 0-9 _ -, not starting \
                 with -\n"
            ),
        },
        Refusal {
            name: "an algorithm that is not the job's",
            params: json_bytes(&good),
            args: vec!["--gcp-key", "payments-2026", "--algorithm", "RSA_AES_KEY_WRAP_SHA_256"],
            status: 1,
            stderr: "keyrite: params: the import job's importMethod RSA_OAEP_3072_SHA1_AES_256 \
                     wraps with RSA_AES_KEY_WRAP_SHA_1, not the RSA_AES_KEY_WRAP_SHA_256 asked for\n"
                .into(),
        },
        Refusal {
            name: "a public key of another size than the method's",
            params: json_bytes(&edit(&good, &["importMethod"], json!("RSA_OAEP_4096_SHA1_AES_256"))),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: the import job's public key is RSA_3072, but importMethod \
                     RSA_OAEP_4096_SHA1_AES_256 names RSA-4096\n"
                .into(),
        },
        Refusal {
            name: "an import method keyrite does not know",
            params: json_bytes(&edit(&good, &["importMethod"], json!("RSA_OAEP_3072_SHA1_AES_128"))),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: importMethod \"RSA_OAEP_3072_SHA1_AES_128\" is not one keyrite \
                     wraps for; known: RSA_OAEP_3072_SHA1_AES_256, RSA_OAEP_4096_SHA1_AES_256, \
                     RSA_OAEP_3072_SHA256_AES_256, RSA_OAEP_4096_SHA256_AES_256, RSA_OAEP_3072_SHA256, \
                     RSA_OAEP_4096_SHA256\n"
                .into(),
        },
        Refusal {
            name: "a job without a public key",
            params: json_bytes(&edit(&good, &["publicKey"], Value::Null)),
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: the parameters file has no publicKey.pem\n".into(),
        },
        Refusal {
            name: "a public key that is not PEM",
            params: json_bytes(&edit(&good, &["publicKey", "pem"], json!(b64(&kms.public_der)))),
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: publicKey.pem is not a PEM public key (-----BEGIN PUBLIC KEY-----): \
                     it does not start with -----BEGIN PUBLIC KEY-----\n"
                .into(),
        },
        Refusal {
            name: "duplicate keys",
            params: {
                let text = serde_json::to_string(&good).unwrap();
                text.replacen('{', "{\"state\": \"ACTIVE\", ", 1).into_bytes()
            },
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: the parameters file has the key \"state\" more than once\n".into(),
        },
        Refusal {
            name: "no --gcp-key",
            params: json_bytes(&good),
            args: vec![],
            status: 2,
            stderr: "keyrite: Google Cloud KMS needs --gcp-key NAME: the key in the import job's key \
                     ring that the new version is imported into\n"
                .into(),
        },
        Refusal {
            name: "a hostile --gcp-key",
            params: json_bytes(&good),
            args: vec!["--gcp-key", "k'$(touch pwned)'"],
            status: 2,
            stderr: "keyrite: --gcp-key \"k'$(touch pwned)'\" is not a Google Cloud KMS key id \
                     (1 to 63 of A-Z a-z 0-9 _ -, not starting with -)\n"
                .into(),
        },
        Refusal {
            // gcloud would read `--key -h` as its own help option.
            name: "a --gcp-key that gcloud would read as an option",
            params: json_bytes(&good),
            args: vec!["--gcp-key=-h"],
            status: 2,
            stderr: "keyrite: --gcp-key \"-h\" is not a Google Cloud KMS key id \
                     (1 to 63 of A-Z a-z 0-9 _ -, not starting with -)\n"
                .into(),
        },
        Refusal {
            name: "a job name with a segment gcloud would read as an option",
            params: json_bytes(&edit(&good, &["name"], json!(GCP_JOB.replace("keyRings/", "keyRings/-")))),
            args: key.clone(),
            status: 2,
            stderr: format!(
                "keyrite: params: name {:?} is not a Google Cloud KMS import job name: \
                 its key ring (after keyRings/) must be 1 to 63 of A-Z a-z 0-9 _ -, not starting \
                 with -\n",
                GCP_JOB.replace("keyRings/", "keyRings/-")
            ),
        },
        Refusal {
            name: "another provider's option",
            params: json_bytes(&good),
            args: vec!["--gcp-key", "payments-2026", "--vault-key", "x"],
            status: 2,
            stderr: "keyrite: --vault-key is for --provider vault, not gcp\n".into(),
        },
        Refusal {
            name: "HMAC material",
            params: json_bytes(&good),
            args: vec!["--gcp-key", "payments-2026", "--key-spec", "HMAC_256"],
            status: 1,
            stderr: "keyrite: params: Google Cloud KMS does not import HMAC_256 key material\n".into(),
        },
        Refusal {
            name: "--valid-to",
            params: json_bytes(&good),
            args: vec!["--gcp-key", "payments-2026", "--valid-to", "2099-01-01T00:00:00Z"],
            status: 2,
            stderr: "keyrite: Google Cloud KMS sets no expiry on imported key material: leave out --valid-to\n"
                .into(),
        },
    ];
    check_refusals(&token, "gcp", cases);
}

#[test]
fn azure_refusals() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 2048);
    let good = kms.azure_kek(AZURE_KID, &["import"]);
    let key = vec!["--azure-key", "payments-2026"];
    let key_vault_kid = "https://contoso.vault.azure.net/keys/kek/eba63d27e4e34e028839b53fac905621";
    let hostile_kid = "https://contoso-hsm.managedhsm.azure.net/keys/k'$(touch pwned)'/eba63d27e4e34e028839b53fac905621";
    let kid_syntax = "is not a versioned key id of an Azure Managed HSM or Key Vault \
                      (https://NAME.managedhsm.azure.net/keys/KEY/VERSION, \
                      https://NAME.vault.azure.net/keys/KEY/VERSION)";
    let cases = vec![
        Refusal {
            name: "a KEK without import in its operations",
            params: json_bytes(&kms.azure_kek(AZURE_KID, &["encrypt", "decrypt", "wrapKey"])),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: the key exchange key's key.keyOps are \
                     [\"encrypt\",\"decrypt\",\"wrapKey\"]; a BYOK key exchange key must allow import\n\
                     Make the key exchange key with import as its only operation \
                     (az keyvault key create --kty RSA-HSM --ops import) and show it again.\n"
                .into(),
        },
        Refusal {
            name: "a KEK without operations",
            params: json_bytes(&edit(&good, &["key", "keyOps"], Value::Null)),
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: the parameters file has no key.keyOps\n".into(),
        },
        Refusal {
            name: "a software RSA key",
            params: json_bytes(&edit(&good, &["key", "kty"], json!("RSA"))),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: key.kty is \"RSA\"; a BYOK key exchange key is RSA-HSM\n".into(),
        },
        Refusal {
            name: "a Key Vault KEK (AES keys import into Managed HSM only)",
            params: json_bytes(&edit(&good, &["key", "kid"], json!(key_vault_kid))),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: AES_256 key material cannot be imported into the Azure Key \
                     Vault \"contoso\": a Key Vault imports RSA and EC keys only, AES keys go into a \
                     Managed HSM\n\
                     Import AES keys into a Managed HSM: use a key exchange key made there \
                     (az keyvault key create --hsm-name …).\n"
                .into(),
        },
        Refusal {
            name: "a hostile kid",
            params: json_bytes(&edit(&good, &["key", "kid"], json!(hostile_kid))),
            args: key.clone(),
            status: 2,
            stderr: format!("keyrite: params: key.kid {hostile_kid:?} {kid_syntax}\n"),
        },
        Refusal {
            name: "a hostile --azure-kid beside a PEM",
            params: kms.public_pem().into_bytes(),
            args: vec!["--azure-key", "payments-2026", "--azure-kid", hostile_kid],
            status: 2,
            stderr: format!("keyrite: --azure-kid {hostile_kid:?} {kid_syntax}\n"),
        },
        Refusal {
            name: "a PEM without --azure-kid",
            params: kms.public_pem().into_bytes(),
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: a PEM key exchange key needs --azure-kid URL: its full versioned key id\n"
                .into(),
        },
        Refusal {
            name: "--azure-kid that is not the KEK's",
            params: json_bytes(&good),
            args: vec![
                "--azure-key",
                "payments-2026",
                "--azure-kid",
                "https://contoso-hsm.managedhsm.azure.net/keys/KEKforBYOK/00000000000000000000000000000000",
            ],
            status: 1,
            stderr: format!(
                "keyrite: params: --azure-kid \"https://contoso-hsm.managedhsm.azure.net/keys/KEKforBYOK/\
                 00000000000000000000000000000000\" is not the key exchange key's key.kid {AZURE_KID:?}\n"
            ),
        },
        Refusal {
            name: "SHA-256",
            params: json_bytes(&good),
            args: vec!["--azure-key", "payments-2026", "--algorithm", "RSA_AES_KEY_WRAP_SHA_256"],
            status: 1,
            stderr: "keyrite: params: Azure Key Vault does not import key material wrapped with \
                     RSA_AES_KEY_WRAP_SHA_256\n"
                .into(),
        },
        Refusal {
            name: "a disabled KEK",
            params: json_bytes(&edit(&good, &["attributes", "enabled"], json!(false))),
            args: key.clone(),
            status: 1,
            stderr: format!(
                "keyrite: params: the key exchange key {AZURE_KID} is disabled (attributes.enabled is false)\n\
                 Make a new key exchange key (az keyvault key create --kty RSA-HSM --ops import) and show it again.\n"
            ),
        },
        Refusal {
            name: "an expired KEK",
            params: json_bytes(&edit(&good, &["attributes", "expires"], json!("2020-01-01T00:00:00+00:00"))),
            args: key.clone(),
            status: 1,
            stderr: format!(
                "keyrite: params: the key exchange key {AZURE_KID} expired at 2020-01-01T00:00:00Z\n\
                 Make a new key exchange key (az keyvault key create --kty RSA-HSM --ops import) and show it again.\n"
            ),
        },
        Refusal {
            name: "no --azure-key",
            params: json_bytes(&good),
            args: vec![],
            status: 2,
            stderr: "keyrite: Azure Key Vault needs --azure-key NAME: the name of the key the import \
                     creates in the Managed HSM or Key Vault\n"
                .into(),
        },
        Refusal {
            name: "a hostile --azure-key",
            params: json_bytes(&good),
            args: vec!["--azure-key", "x';touch pwned;'"],
            status: 2,
            stderr: "keyrite: --azure-key \"x';touch pwned;'\" is not an Azure key name \
                     (1 to 127 of A-Z a-z 0-9 -, not starting with -)\n"
                .into(),
        },
        Refusal {
            name: "an --azure-key that az would read as an option",
            params: json_bytes(&good),
            args: vec!["--azure-key=-h"],
            status: 2,
            stderr: "keyrite: --azure-key \"-h\" is not an Azure key name \
                     (1 to 127 of A-Z a-z 0-9 -, not starting with -)\n"
                .into(),
        },
        Refusal {
            name: "HMAC material",
            params: json_bytes(&good),
            args: vec!["--azure-key", "payments-2026", "--key-spec", "HMAC_256"],
            status: 1,
            stderr: "keyrite: params: Azure Key Vault does not import HMAC_256 key material\n".into(),
        },
    ];
    check_refusals(&token, "azure", cases);
}

#[test]
fn vault_refusals() {
    let token = TestToken::softhsm("ceremony");
    let kms = Kms::new(token.dir.path(), 4096);
    let good = kms.vault_wrapping_key();
    let small = Kms::new(token.dir.path(), 2048);
    let key = vec!["--vault-key", "payments-2026"];
    let cases = vec![
        Refusal {
            name: "an RSA-2048 wrapping key",
            params: json_bytes(&small.vault_wrapping_key()),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: HashiCorp Vault transit does not use RSA_2048 wrapping keys\n".into(),
        },
        Refusal {
            name: "an RSA-2048 wrapping key as PEM",
            params: small.public_pem().into_bytes(),
            args: key.clone(),
            status: 1,
            stderr: "keyrite: params: HashiCorp Vault transit does not use RSA_2048 wrapping keys\n".into(),
        },
        Refusal {
            name: "HMAC_224 (Vault's HMAC keys are 32 bytes or more)",
            params: json_bytes(&good),
            args: vec!["--vault-key", "payments-2026", "--key-spec", "HMAC_224"],
            status: 1,
            stderr: "keyrite: params: HashiCorp Vault transit does not import HMAC_224 key material\n".into(),
        },
        Refusal {
            name: "direct OAEP",
            params: json_bytes(&good),
            args: vec!["--vault-key", "payments-2026", "--algorithm", "RSAES_OAEP_SHA_256"],
            status: 1,
            stderr: "keyrite: params: HashiCorp Vault transit does not import key material wrapped with \
                     RSAES_OAEP_SHA_256\n"
                .into(),
        },
        Refusal {
            name: "no public key",
            params: json_bytes(&edit(&good, &["data"], json!({}))),
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: the parameters file has no data.public_key\n".into(),
        },
        Refusal {
            name: "two PEM blocks",
            params: format!("{}{}", kms.public_pem(), kms.public_pem()).into_bytes(),
            args: key.clone(),
            status: 2,
            stderr: "keyrite: params: the parameters file is not a PEM public key (-----BEGIN PUBLIC KEY-----): \
                     it holds more than one PEM block or PEM headers\n"
                .into(),
        },
        Refusal {
            name: "no --vault-key",
            params: json_bytes(&good),
            args: vec![],
            status: 2,
            stderr: "keyrite: HashiCorp Vault transit needs --vault-key NAME: the name of the transit \
                     key the import creates\n"
                .into(),
        },
        Refusal {
            name: "a hostile --vault-key",
            params: json_bytes(&good),
            args: vec!["--vault-key", "k' ; touch pwned ; '"],
            status: 2,
            stderr: "keyrite: --vault-key \"k' ; touch pwned ; '\" is not a Vault transit key name \
                     (A-Z a-z 0-9 _, and . - @ inside)\n"
                .into(),
        },
        Refusal {
            name: "a mount that climbs out",
            params: json_bytes(&good),
            args: vec!["--vault-key", "payments-2026", "--vault-mount", "transit/../sys"],
            status: 2,
            stderr: "keyrite: --vault-mount \"transit/../sys\" is not a Vault mount path (segments of \
                     A-Z a-z 0-9 . _ - separated by /, no . or .. segment, not starting with -)\n"
                .into(),
        },
        Refusal {
            // vault would read the path `-h/keys/…/import` as its own help option.
            name: "a --vault-mount that vault would read as an option",
            params: json_bytes(&good),
            args: vec!["--vault-key", "payments-2026", "--vault-mount=-h"],
            status: 2,
            stderr: "keyrite: --vault-mount \"-h\" is not a Vault mount path (segments of \
                     A-Z a-z 0-9 . _ - separated by /, no . or .. segment, not starting with -)\n"
                .into(),
        },
        Refusal {
            name: "--valid-to",
            params: json_bytes(&good),
            args: vec!["--vault-key", "payments-2026", "--valid-to", "2099-01-01T00:00:00Z"],
            status: 2,
            stderr: "keyrite: HashiCorp Vault transit sets no expiry on imported key material: leave out --valid-to\n"
                .into(),
        },
        Refusal {
            name: "an AWS option for Vault",
            params: json_bytes(&good),
            args: vec!["--vault-key", "payments-2026", "--gcp-key", "x"],
            status: 2,
            stderr: "keyrite: --gcp-key is for --provider gcp, not vault\n".into(),
        },
    ];
    check_refusals(&token, "vault", cases);
    let aws = vec![Refusal {
        name: "AWS without --algorithm",
        params: json_bytes(&kms.aws_params(AWS_ARN, &hours_from_now(24))),
        args: vec![],
        status: 2,
        stderr: "keyrite: AWS KMS needs --algorithm: the wrapping algorithm the import parameters \
                 were requested for\n"
            .into(),
    }];
    check_refusals(&token, "aws", aws);
}

// ---------------------------------------------------------------------------------------------
// A ceremony plan with one wrap step per provider.

#[test]
fn a_plan_wraps_one_key_for_google_azure_and_vault() {
    let c = Ceremony::new(&[]);
    let dir = c.dir().to_path_buf();
    let gcp = Kms::new(&dir, 3072);
    let azure = Kms::new(&dir, 2048);
    let vault = Kms::new(&dir, 4096);
    write_json(
        &dir,
        "params/gcp-job.json",
        &gcp.gcp_job("RSA_OAEP_3072_SHA1_AES_256", "ACTIVE", &hours_from_now(72)),
    );
    write_json(
        &dir,
        "params/azure-kek.json",
        &azure.azure_kek(AZURE_KID, &["import"]),
    );
    std::fs::write(dir.join("params/vault.pem"), vault.public_pem()).unwrap();
    let plan = |extra: &str| {
        format!(
            "version = 1\nceremony_id = \"byok-2026\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
             operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
             pin = \"env:{PIN_ENV}\"\n\n\
             [[steps]]\naction = \"generate\"\nkey_label = \"byok-2026\"\n\n\
             [[steps]]\naction = \"wrap\"\nkey_label = \"byok-2026\"\nprovider = \"gcp\"\n\
             params = \"params/gcp-job.json\"\nalgorithm = \"RSA_AES_KEY_WRAP_SHA_1\"\nout = \"to-gcp\"\n\
             gcp_key = \"payments-2026\"\n{extra}\n\
             [[steps]]\naction = \"wrap\"\nkey_label = \"byok-2026\"\nprovider = \"azure\"\n\
             params = \"params/azure-kek.json\"\nalgorithm = \"RSA_AES_KEY_WRAP_SHA_1\"\nout = \"to-azure\"\n\
             azure_key = \"payments-2026\"\nazure_kid = \"{AZURE_KID}\"\n\n\
             [[steps]]\naction = \"wrap\"\nkey_label = \"byok-2026\"\nprovider = \"vault\"\n\
             params = \"params/vault.pem\"\nalgorithm = \"RSA_AES_KEY_WRAP_SHA_1\"\nout = \"to-vault\"\n\
             vault_key = \"payments-2026\"\nvault_mount = \"transit\"\n",
            c.window.0, c.window.1
        )
    };

    // A typo in a provider field is refused, and so is another provider's field.
    std::fs::write(dir.join("plan.toml"), plan("gcp_keys = \"x\"\n")).unwrap();
    let out = c.plan_check();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("unknown field `gcp_keys`"), "{stderr}");
    std::fs::write(dir.join("plan.toml"), plan("vault_key = \"x\"\n")).unwrap();
    let out = c.plan_check();
    assert_refused(
        &out.stderr,
        "keyrite: plan.toml: steps[1]: --vault-key is for --provider vault, not gcp\n",
        "vault option in a gcp step",
    );

    std::fs::write(dir.join("plan.toml"), plan("")).unwrap();
    run_ok(&mut c.plan_check_command());
    c.run_approved("t.jsonl");

    let transcript = c.transcript("t.jsonl");
    let kcv = transcript
        .iter()
        .find(|(_, v)| v["step"] == "generated")
        .map(|(_, v)| v["data"]["key"]["kcv"].as_str().unwrap().to_owned())
        .unwrap();
    let wraps: Vec<&Value> = transcript
        .iter()
        .filter(|(_, v)| v["step"] == "wrap")
        .map(|(_, v)| &v["data"])
        .collect();
    assert_eq!(
        wraps
            .iter()
            .map(|w| w["kms_key_id"].clone())
            .collect::<Vec<_>>(),
        [
            json!(GCP_KEY),
            json!("https://contoso-hsm.managedhsm.azure.net/keys/payments-2026"),
            json!("transit/keys/payments-2026"),
        ]
    );
    assert_eq!(wraps[2]["parameters_valid_to"], Value::Null);

    let gcp_wrapped = std::fs::read(dir.join("to-gcp/wrapped-key.bin")).unwrap();
    let from_gcp = unwrap_bytes(&gcp, &dir, &gcp_wrapped, "RSA_AES_KEY_WRAP_SHA_1");
    let azure_wrapped = check_byok(&c.token, &dir.join("to-azure"), AZURE_KID);
    let from_azure = unwrap_bytes(&azure, &dir, &azure_wrapped, "RSA_AES_KEY_WRAP_SHA_1");
    let vault_wrapped = base64::engine::general_purpose::STANDARD
        .decode(std::fs::read(dir.join("to-vault/ciphertext.b64")).unwrap())
        .unwrap();
    let from_vault = unwrap_bytes(&vault, &dir, &vault_wrapped, "RSA_AES_KEY_WRAP_SHA_1");
    assert_eq!(from_gcp, from_azure);
    assert_eq!(from_gcp, from_vault);
    assert_eq!(kcv_python("aes-ecb-zero-3", &from_gcp), kcv);

    c.assert_verifies("t.jsonl");
}
