//! The token harness and the KMS side of keyrite's integration tests.
//!
//! Every test gets a fresh token (SoftHSM2, or kryoptic for what SoftHSM2 lacks) in its own
//! temporary directory; keyrite runs as a child process with `SOFTHSM2_CONF` or `KRYOPTIC_CONF`
//! pointing there; with `KEYRITE_TEST_FAMILY` set, through p11-kit remoting ([`p11kit`]). The
//! tests play the KMS: they hold the RSA
//! private key (made by `openssl`) and check keyrite's output with code that shares nothing with
//! keyrite — the `rsa` crate, `openssl pkeyutl`, Python `cryptography` and PyKCS11.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod backup;
pub mod ceremony;
pub mod chromium;
pub mod p11kit;
pub mod verifiers;
pub mod wrap;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The module the tests load (Debian's SoftHSM2; `scripts/test` installs it).
pub const SOFTHSM2: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The user PIN of every test token: distinctive, so a search for it cannot match by chance.
pub const PIN: &str = "kr-Pin-7301-quince";
/// The security officer PIN.
pub const SO_PIN: &str = "kr-So-4422-medlar";
/// The name of the environment variable the tests pass the PIN in.
pub const PIN_ENV: &str = "KR_TEST_PIN";
/// Debian's Python, which has `cryptography` and PyKCS11 from Debian packages.
pub const PYTHON: &str = "/usr/bin/python3";

/// Runs a command, panicking with its output if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/test installs it)"))
}

/// Runs a command that must succeed; returns its standard output.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The PKCS#11 module of kryoptic, built by `scripts/test` (`scripts/lib/kryoptic.sh`).
pub fn kryoptic_module() -> PathBuf {
    let path = std::env::var_os("KEYRITE_KRYOPTIC_MODULE").map(PathBuf::from).expect(
        "KEYRITE_KRYOPTIC_MODULE is not set: run scripts/test, which builds kryoptic and sets it",
    );
    assert!(
        path.exists(),
        "{} does not exist: run scripts/test",
        path.display()
    );
    path
}

/// Which software token a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Debian's SoftHSM2 2.6.1.
    SoftHsm2,
    /// kryoptic, built from crates.io.
    Kryoptic,
    /// openCryptoki's soft token: the one token `scripts/lib/opencryptoki.sh` initialises and
    /// serves, shared by the tests of `tests/opencryptoki.rs`.
    OpenCryptoki,
}

/// A token in its own directory, of either kind.
pub struct TestToken {
    /// The `p11-kit server` keyrite reaches the token through, when the run's family is p11-kit
    /// remoting of this kind ([`p11kit::remoted_kind`]). First, so it is killed before the
    /// token's directory is removed.
    pub remote: Option<p11kit::P11KitServer>,
    pub dir: tempfile::TempDir,
    pub kind: Kind,
    pub module: PathBuf,
    /// The configuration: `SOFTHSM2_CONF`'s file, or `KRYOPTIC_CONF`'s database.
    pub conf: PathBuf,
    pub label: String,
    /// The user PIN: [`PIN`], but on a token whose PINs cannot be that long.
    pub pin: String,
}

impl TestToken {
    /// A fresh SoftHSM2 token labelled `label`.
    pub fn softhsm(label: &str) -> Self {
        assert!(
            Path::new(SOFTHSM2).exists(),
            "{SOFTHSM2} is missing: scripts/test installs softhsm2"
        );
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let token = TestToken {
            remote: None,
            dir,
            kind: Kind::SoftHsm2,
            module: PathBuf::from(SOFTHSM2),
            conf,
            label: label.to_owned(),
            pin: PIN.to_owned(),
        };
        token.init_token(label);
        token.served()
    }

    /// A fresh kryoptic token labelled `label`.
    pub fn kryoptic(label: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token = TestToken {
            remote: None,
            conf: dir.path().join("token.sql"),
            dir,
            kind: Kind::Kryoptic,
            module: kryoptic_module(),
            label: label.to_owned(),
            pin: PIN.to_owned(),
        };
        token.init_token(label);
        token.served()
    }

    /// The shared openCryptoki token, with a directory of its own for the test's files: its
    /// module, label and user PIN as `keyrite_opencryptoki_start` exports them, its
    /// "configuration" the directory of its private namespace. Only for tests run in that
    /// namespace (`keyrite_opencryptoki_tests`).
    pub fn opencryptoki() -> Self {
        let started = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: run through keyrite_opencryptoki_tests (scripts/lib/opencryptoki.sh)")
            })
        };
        TestToken {
            remote: None,
            dir: tempfile::tempdir().unwrap(),
            kind: Kind::OpenCryptoki,
            module: PathBuf::from(started("KEYRITE_OPENCRYPTOKI_MODULE")),
            conf: PathBuf::from(started("KEYRITE_OPENCRYPTOKI_DIR")),
            label: started("KEYRITE_OPENCRYPTOKI_LABEL"),
            pin: started("KEYRITE_OPENCRYPTOKI_PIN"),
        }
    }

    /// The token behind its own `p11-kit server` when the run's family remotes tokens of this
    /// kind; as it is otherwise. A run that remotes the other kind refuses the test:
    /// `scripts/test` selects only the tests a family runs.
    fn served(self) -> Self {
        match p11kit::remoted_kind() {
            None => self,
            Some(kind) if kind == self.kind => self.through_p11kit(),
            Some(kind) => panic!(
                "{}: this run serves {kind:?} tokens through p11-kit, and this test makes a {:?} token: it is not one of that family's tests (scripts/test)",
                p11kit::FAMILY_ENV,
                self.kind
            ),
        }
    }

    /// The token behind a `p11-kit server` of its own, whatever the run's family: what keyrite
    /// runs reach it through ([`TestToken::keyrite`]).
    pub fn through_p11kit(mut self) -> Self {
        self.remote = Some(p11kit::P11KitServer::start(
            &self.module,
            self.conf_env(),
            &self.conf,
        ));
        self
    }

    /// The module keyrite loads: p11-kit's client when the token is remoted, else the token's.
    pub fn keyrite_module(&self) -> &Path {
        match self.remote {
            Some(_) => Path::new(p11kit::P11KIT_CLIENT),
            None => &self.module,
        }
    }

    /// The environment variable naming the configuration.
    pub fn conf_env(&self) -> &'static str {
        match self.kind {
            Kind::SoftHsm2 => "SOFTHSM2_CONF",
            Kind::Kryoptic => "KRYOPTIC_CONF",
            Kind::OpenCryptoki => "KEYRITE_OPENCRYPTOKI_DIR",
        }
    }

    /// Initialises a token with the test PINs (one more, for SoftHSM2).
    pub fn init_token(&self, label: &str) {
        match self.kind {
            Kind::SoftHsm2 => {
                run_ok(
                    Command::new("softhsm2-util")
                        .env("SOFTHSM2_CONF", &self.conf)
                        .args(["--init-token", "--free", "--label", label])
                        .args(["--so-pin", SO_PIN, "--pin", PIN]),
                );
            }
            Kind::Kryoptic => {
                let tool = |args: &[&str]| {
                    run_ok(
                        Command::new("pkcs11-tool")
                            .env("KRYOPTIC_CONF", &self.conf)
                            .arg("--module")
                            .arg(&self.module)
                            .args(args),
                    )
                };
                tool(&["--init-token", "--label", label, "--so-pin", SO_PIN]);
                tool(
                    &["--token-label", label, "--login", "--login-type", "so"]
                        .into_iter()
                        .chain(["--so-pin", SO_PIN, "--init-pin", "--pin", PIN])
                        .collect::<Vec<_>>(),
                );
            }
            Kind::OpenCryptoki => {
                panic!("scripts/lib/opencryptoki.sh initialises the shared openCryptoki token")
            }
        }
    }

    /// `keyrite` with this token's configuration and its PIN in `KR_TEST_PIN`. SoftHSM2 is
    /// keyrite's default module; kryoptic and openCryptoki are named by `KEYRITE_PKCS11_MODULE`. A remoted token
    /// is reached through p11-kit's client alone: `KEYRITE_PKCS11_MODULE` names it,
    /// `P11_KIT_SERVER_ADDRESS` its server, and the token's configuration is not in keyrite's
    /// environment.
    pub fn keyrite(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        cmd.env(PIN_ENV, &self.pin).current_dir(self.dir.path());
        match (&self.remote, self.kind) {
            (Some(server), _) => cmd
                .env_remove(self.conf_env())
                .env("KEYRITE_PKCS11_MODULE", p11kit::P11KIT_CLIENT)
                .env("P11_KIT_SERVER_ADDRESS", &server.address),
            (None, Kind::SoftHsm2) => cmd
                .env(self.conf_env(), &self.conf)
                .env_remove("KEYRITE_PKCS11_MODULE"),
            (None, Kind::Kryoptic | Kind::OpenCryptoki) => cmd
                .env(self.conf_env(), &self.conf)
                .env("KEYRITE_PKCS11_MODULE", &self.module),
        };
        cmd
    }

    /// The token's objects as PyKCS11 sees them after logging in.
    pub fn objects(&self) -> Vec<Value> {
        self.objects_as(Some(PIN_ENV))
    }

    /// The token's objects as PyKCS11 sees them, logged in or not.
    pub fn objects_as(&self, pin_env: Option<&str>) -> Vec<Value> {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/independent/token_objects.py"
        );
        let mut cmd = Command::new(PYTHON);
        cmd.env(self.conf_env(), &self.conf)
            .env(PIN_ENV, &self.pin)
            .arg(script)
            .arg(&self.module)
            .arg(&self.label);
        if let Some(name) = pin_env {
            cmd.arg(name);
        }
        serde_json::from_slice(&run_ok(&mut cmd)).unwrap()
    }

    /// Creates an AES-256 key of the value `value` labelled `label`, with every protection a
    /// ceremony key has and `CKA_ID` sixteen zero bytes, by `tests/independent/plant_object.py`
    /// (PyKCS11, no keyrite code): with `login` false, as anyone on the host can, a public object
    /// from a session that never logged in; with `login`, as a PIN holder can, a private object
    /// (`C_CreateObject`: `CKA_LOCAL` false).
    pub fn plant_key(&self, label: &str, value: &[u8], login: bool) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/independent/plant_object.py"
        );
        let mut cmd = Command::new(PYTHON);
        cmd.env(self.conf_env(), &self.conf)
            .env(PIN_ENV, &self.pin)
            .arg(script)
            .arg(&self.module)
            .args([self.label.as_str(), label, &hex::encode(value)]);
        if login {
            cmd.arg(PIN_ENV);
        }
        run_ok(&mut cmd);
    }

    /// The keys of `keyrite keys list --json` (its `keys` array), parsed.
    pub fn keys_listed(&self) -> Value {
        let out = run_ok(
            self.keyrite()
                .args(["keys", "list", "--json", "--pin-env", PIN_ENV]),
        );
        let listed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(listed["schema"], "keyrite.keys.list/1", "{listed}");
        listed["keys"].clone()
    }

    /// `keyrite token info --json`, logged in, parsed.
    pub fn token_info(&self) -> Value {
        let out = run_ok(
            self.keyrite()
                .args(["token", "info", "--json", "--pin-env", PIN_ENV]),
        );
        let info: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(info["schema"], "keyrite.token.info/1", "{info}");
        info
    }

    /// The entry of `keyrite keys list --json` for the one key labelled `label`.
    pub fn listed_key(&self, label: &str) -> Value {
        self.keys_listed()
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["label"] == label)
            .unwrap()
            .clone()
    }

    /// A path inside the test's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An independent PyKCS11 script of `tests/independent/` against this token: its module
    /// and label are the first arguments, the PIN is in `PIN_ENV` for a script that logs in.
    pub fn independent(&self, script: &str) -> Command {
        let mut cmd = Command::new(PYTHON);
        cmd.env(self.conf_env(), &self.conf)
            .env(PIN_ENV, &self.pin)
            .arg(format!(
                "{}/tests/independent/{script}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(&self.module)
            .arg(&self.label);
        cmd
    }
}

impl TestToken {
    /// What the token says when PyKCS11 (`tests/independent/wrap_attempt.py`, logged in) tries
    /// to wrap the key `label` under a wrapping key of its own: `refused CKR_…` or `wrapped`.
    pub fn wrap_attempt(&self, label: &str) -> String {
        let out = run_ok(self.independent("wrap_attempt.py").args([PIN_ENV, label]));
        String::from_utf8(out).unwrap().trim().to_owned()
    }
}

/// The KMS side: an RSA key pair made by `openssl`, import parameters in each provider's shape.
pub struct Kms {
    pub private_pem: PathBuf,
    pub public_der: Vec<u8>,
}

impl Kms {
    /// A new RSA key pair of `bits` in `dir`.
    pub fn new(dir: &Path, bits: u32) -> Self {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let private_pem = dir.join(format!("kms-{bits}-{n}.pem"));
        run_ok(
            Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    &format!("rsa_keygen_bits:{bits}"),
                    "-out",
                ])
                .arg(&private_pem),
        );
        let public_der = run_ok(
            Command::new("openssl")
                .args(["pkey", "-pubout", "-outform", "DER", "-in"])
                .arg(&private_pem),
        );
        Kms {
            private_pem,
            public_der,
        }
    }

    /// AWS `get-parameters-for-import` output (CLI v2 shape: RFC 3339 times).
    pub fn aws_params(&self, key_id: &str, valid_to: &str) -> Value {
        json!({
            "KeyId": key_id,
            "ImportToken": b64(b"aws-import-token-for-the-test"),
            "PublicKey": b64(&self.public_der),
            "ParametersValidTo": valid_to,
        })
    }

    /// This key's AWS import parameters ([`Kms::aws_params`] for [`AWS_ARN`], valid for a day),
    /// written to `name` in `dir`.
    pub fn write_aws_params(&self, dir: &Path, name: &str) -> PathBuf {
        write_json(dir, name, &self.aws_params(AWS_ARN, &hours_from_now(24)))
    }

    /// Alibaba `GetParametersForImport` output.
    pub fn alibaba_params(&self, key_id: &str, valid_to: &str) -> Value {
        json!({
            "RequestId": "8b6ca1d6-7cb0-4a7b-b3f1-ca1a2c1b2b3c",
            "KeyId": key_id,
            "ImportToken": b64(b"alibaba-import-token-for-the-test"),
            "PublicKey": b64(&self.public_der),
            "TokenExpireTime": valid_to,
        })
    }

    /// Unwraps with the `rsa` crate.
    pub fn unwrap_rsa_crate(&self, wrapped: &[u8], algorithm: &str) -> Vec<u8> {
        use rsa::pkcs8::DecodePrivateKey as _;
        let pem = std::fs::read_to_string(&self.private_pem).unwrap();
        let key = rsa::PrivateKey::from_pkcs8_pem(&pem).unwrap();
        match algorithm {
            "RSAES_OAEP_SHA_1" => key.oaep_decrypt::<sha1::Sha1>(wrapped).unwrap(),
            "RSAES_OAEP_SHA_256" => key.oaep_decrypt::<sha2::Sha256>(wrapped).unwrap(),
            "RSAES_PKCS1_V1_5" => key.pkcs1v15_decrypt(wrapped).unwrap(),
            other => panic!("no unwrap for {other}"),
        }
    }

    /// Unwraps with Python `cryptography` (`tests/independent/unwrap.py`): every algorithm,
    /// RSA-AES included.
    pub fn unwrap_python(&self, wrapped_file: &Path, algorithm: &str) -> Vec<u8> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent/unwrap.py");
        run_ok(
            Command::new(PYTHON)
                .arg(script)
                .arg(&self.private_pem)
                .arg(algorithm)
                .arg(wrapped_file),
        )
    }

    /// Unwraps with `openssl pkeyutl -decrypt`.
    pub fn unwrap_openssl(&self, wrapped_file: &Path, algorithm: &str) -> Vec<u8> {
        let mut cmd = Command::new("openssl");
        cmd.args(["pkeyutl", "-decrypt", "-inkey"])
            .arg(&self.private_pem)
            .arg("-in")
            .arg(wrapped_file);
        match algorithm {
            "RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256" => {
                let md = if algorithm.ends_with("_1") {
                    "sha1"
                } else {
                    "sha256"
                };
                cmd.args(["-pkeyopt", "rsa_padding_mode:oaep"])
                    .args(["-pkeyopt", &format!("rsa_oaep_md:{md}")])
                    .args(["-pkeyopt", &format!("rsa_mgf1_md:{md}")]);
            }
            "RSAES_PKCS1_V1_5" => {
                cmd.args(["-pkeyopt", "rsa_padding_mode:pkcs1"]);
            }
            other => panic!("no unwrap for {other}"),
        }
        run_ok(&mut cmd)
    }
}

pub const GCP_JOB: &str =
    "projects/keyrite-test/locations/us-east1/keyRings/ceremony-ring/importJobs/job-1";
pub const GCP_KEY: &str =
    "projects/keyrite-test/locations/us-east1/keyRings/ceremony-ring/cryptoKeys/payments-2026";
pub const AZURE_KID: &str =
    "https://contoso-hsm.managedhsm.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621";

/// Import parameters in each provider's shape, for this KMS key.
impl Kms {
    /// The KMS public key as PEM (`-----BEGIN PUBLIC KEY-----`, 64 columns).
    pub fn public_pem(&self) -> String {
        let b64 = b64(&self.public_der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// An import job of protection level SOFTWARE as `gcloud kms import-jobs describe
    /// --format=json` prints it: without an attestation (an HSM job's is made with a test PKI in
    /// tests/attest.rs).
    pub fn gcp_job(&self, method: &str, state: &str, expire_time: &str) -> Value {
        json!({
            "createTime": hours_from_now(-1),
            "expireEventTime": null,
            "expireTime": expire_time,
            "generateTime": hours_from_now(-1),
            "importMethod": method,
            "name": GCP_JOB,
            "protectionLevel": "SOFTWARE",
            "publicKey": {"pem": self.public_pem()},
            "state": state
        })
    }

    /// A key exchange key as `az keyvault key show` prints it.
    pub fn azure_kek(&self, kid: &str, ops: &[&str]) -> Value {
        use rsa::pkcs8::DecodePublicKey as _;
        use rsa::traits::PublicKeyParts as _;
        let key = rsa::PublicKey::from_public_key_der(&self.public_der).unwrap();
        let url = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({
            "attributes": {
                "created": "2026-01-05T10:00:00+00:00",
                "enabled": true,
                "expires": null,
                "exportable": false,
                "hsmPlatform": "2",
                "notBefore": null,
                "recoverableDays": 7,
                "recoveryLevel": "CustomizedRecoverable+Purgeable",
                "updated": "2026-01-05T10:00:00+00:00"
            },
            "key": {
                "crv": null, "d": null, "dp": null, "dq": null,
                "e": url(&key.e_bytes()),
                "k": null,
                "keyOps": ops,
                "kid": kid,
                "kty": "RSA-HSM",
                "n": url(&key.n_bytes()),
                "p": null, "q": null, "qi": null, "t": null, "x": null, "y": null
            },
            "managed": null,
            "releasePolicy": null,
            "tags": null
        })
    }

    /// The wrapping key as `vault read -format=json transit/wrapping_key` prints it.
    pub fn vault_wrapping_key(&self) -> Value {
        json!({
            "request_id": "6c9d7d0f-3b1a-4f5e-9c7e-1f2a3b4c5d6e",
            "lease_id": "",
            "lease_duration": 0,
            "renewable": false,
            "data": {"public_key": self.public_pem()},
            "warnings": null,
            "mount_type": "transit"
        })
    }
}

/// An output directory's `manifest.json`.
pub fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The key check value of raw material, by Python `cryptography` (the key goes on stdin).
pub fn kcv_python(method: &str, material: &[u8]) -> String {
    use std::io::Write as _;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent/kcv.py");
    let mut child = Command::new(PYTHON)
        .args([script, method])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(material).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kcv.py failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// An RFC 3339 time `hours` from now (negative for the past).
pub fn hours_from_now(hours: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Writes JSON to a file in `dir`.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

/// A new 2,048-bit KMS key in `dir`, its AWS import parameters written to `name` there
/// ([`Kms::write_aws_params`]).
pub fn aws_kms(dir: &Path, name: &str) -> Kms {
    let kms = Kms::new(dir, 2048);
    kms.write_aws_params(dir, name);
    kms
}

/// An AWS key ARN for tests.
pub const AWS_ARN: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A fake CLI named `name` in `dir/bin` that writes its arguments, one per line, to
/// `dir/NAME.args`, and the directory it ran in to `dir/NAME.cwd`.
pub fn fake_cli(dir: &Path, name: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{dir}/{name}.args'\npwd > '{dir}/{name}.cwd'\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Asserts a key, as `token_objects.py` reports it, has the ceremony template: a private,
/// sensitive token object, extractable only to be wrapped, not modifiable, of no other use, and
/// its value unreadable.
pub fn assert_ceremony_key(key: &Value) {
    for (attr, want) in [
        ("token", true),
        ("private", true),
        ("sensitive", true),
        ("extractable", true),
        ("modifiable", false),
        ("encrypt", false),
        ("decrypt", false),
        ("sign", false),
        ("verify", false),
        ("wrap", false),
        ("unwrap", false),
        ("derive", false),
        ("value_readable", false),
    ] {
        assert_eq!(key[attr], want, "{attr}: {key}");
    }
}

/// Asserts keyrite refused with exactly `expected` (its message lines), followed by at most one
/// line of what to do.
pub fn assert_refused(stderr: &[u8], expected: &str, context: &str) {
    let stderr = String::from_utf8_lossy(stderr);
    let rest = stderr
        .strip_prefix(expected)
        .unwrap_or_else(|| panic!("{context}: expected {expected:?}, got {stderr:?}"));
    assert!(
        rest.is_empty() || (rest.ends_with('\n') && rest.lines().count() == 1),
        "{context}: more than one line after the message: {stderr:?}"
    );
}

/// SHA-256 (hex) of a file, as `sha256sum` prints it.
pub fn sha256sum(path: &Path) -> String {
    let out = String::from_utf8(run_ok(Command::new("sha256sum").arg(path))).unwrap();
    out.split_whitespace().next().unwrap().to_owned()
}

/// Waits (up to 20 s) until the process `pid` has stopped itself at the fault point `point`
/// (`KEYRITE_FAULT=POINT:N:stop`, in the `fault-injection` build that `scripts/test` makes).
pub fn wait_stopped(pid: u32, point: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if stat.split_whitespace().nth(2) == Some("T") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keyrite did not stop at {point} (is it built with --features fault-injection, as scripts/test builds it?)"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Runs `cmd` paused at the fault point `point` (`KEYRITE_FAULT=POINT:pause`, see
/// src/fault.rs), sends it `signal` (`INT`, `TERM`, `HUP`) there, lets it go on, and returns its
/// output: keyrite goes on from that point interrupted.
pub fn interrupted(cmd: &mut Command, point: &str, signal: &str) -> Output {
    let child = cmd
        .env("KEYRITE_FAULT", format!("{point}:pause"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id().to_string();
    wait_stopped(child.id(), point);
    run_ok(Command::new("kill").args([&format!("-{signal}"), &pid]));
    run_ok(Command::new("kill").args(["-CONT", &pid]));
    child.wait_with_output().unwrap()
}

/// The lines keyrite prints for a value people compare aloud: `INDENT LABEL: HEX`, then its PGP
/// words eight to a line, indented two more (the words from `keyrite::words`, which its own
/// tests check against IANA's and Wikipedia's vectors).
pub fn aloud(indent: &str, label: &str, hex: &str) -> String {
    let words = keyrite::words::pgp_words_hex(hex).unwrap();
    let words: Vec<&str> = words.split(' ').collect();
    let mut text = format!("{indent}{label}: {hex}\n");
    for chunk in words.chunks(8) {
        text.push_str(&format!("{indent}  {}\n", chunk.join(" ")));
    }
    text
}

/// A KCV as a step's line shows it: `cc7f36 [spigot integrate Christmas]`.
pub fn kcv_aloud(kcv: &str) -> String {
    format!("{kcv} [{}]", keyrite::words::pgp_words_hex(kcv).unwrap())
}

/// What `ceremony run` prints after `Completed. Sealed transcript: …`: the SHA-256 of the
/// transcript's seal line, read from the file, and its words.
pub fn seal_aloud(transcript: &Path) -> String {
    let text = std::fs::read_to_string(transcript).unwrap();
    let seal = text
        .lines()
        .find(|l| l.contains("\"step\":\"seal\""))
        .unwrap();
    aloud(
        "  ",
        "Chain head at the seal (what witnesses sign)",
        &hex::encode(Sha256::digest(seal.as_bytes())),
    )
}
