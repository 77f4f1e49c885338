//! tpm2-pkcs11 on a software TPM (swtpm, through tpm2-abrmd): `token info` answers every
//! capability without stopping, every refusal has its exact message, and no command leaves an
//! object behind — the token's objects listed before and after each command with the module's
//! own tool (`tpm2_ptool listobjects`), with `pkcs11-tool`, and by PyKCS11 in a session of its
//! own.
//!
//! tpm2-pkcs11 cannot wrap at all: its CKM_RSA_PKCS_OAEP and CKM_RSA_PKCS have no wrap flag, it
//! has no AES key wrap, and it persists the objects a session creates (a separate process sees
//! them), so an object keyrite forgets to destroy stays on the token.
//!
//! One swtpm, bus, tpm2-abrmd and store, started by `scripts/lib/tpm2.sh`, are shared by these
//! tests, which run one at a time (they compare the token's objects before and after):
//! `keyrite_tpm2_tests` (scripts/test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// A variable that `keyrite_tpm2_start` exports.
fn started(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run these tests through keyrite_tpm2_tests (scripts/lib/tpm2.sh), which starts the token"
        )
    })
}

fn module() -> String {
    started("KEYRITE_TPM2_MODULE")
}

fn label() -> String {
    started("KEYRITE_TPM2_LABEL")
}

/// keyrite on the tpm2-pkcs11 module, in `dir`, with the user PIN in [`PIN_ENV`].
fn keyrite(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
    cmd.current_dir(dir)
        .env("KEYRITE_PKCS11_MODULE", module())
        .env(PIN_ENV, started("KEYRITE_TPM2_PIN"));
    cmd
}

/// What keyrite wrote on standard error, without what the module itself logs there
/// (tpm2-pkcs11's `ERROR: …` and the TSS's `WARNING:esys:…`/`ERROR:esys:…` lines).
fn keyrite_stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("ERROR:") && !l.starts_with("WARNING:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The token's objects, as three independent peers list them.
#[derive(Debug, PartialEq)]
struct Objects {
    /// `tpm2_ptool listobjects`: each object's store id, class and label.
    ptool: Vec<String>,
    /// `pkcs11-tool --list-objects` after a user login: each object's heading and label.
    pkcs11_tool: Vec<String>,
    /// `tests/independent/token_objects.py` (PyKCS11) after a user login.
    pykcs11: Vec<Value>,
}

fn objects() -> Objects {
    let listed = run_ok(Command::new("tpm2_ptool").args(["listobjects", "--label", &label()]));
    let mut ptool: Vec<String> = Vec::new();
    for line in String::from_utf8(listed).unwrap().lines() {
        if let Some(class) = line.strip_prefix("- CKA_CLASS:") {
            ptool.push(class.trim().to_owned());
        } else if let (Some(field), Some(last)) = (
            line.trim()
                .strip_prefix("CKA_LABEL:")
                .or_else(|| line.trim().strip_prefix("id:")),
            ptool.last_mut(),
        ) {
            last.push_str(&format!(" {}", field.trim()));
        }
    }
    let listed = run_ok(
        Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module())
            .args(["--token-label", &label(), "--login"])
            .args(["--pin", &started("KEYRITE_TPM2_PIN"), "--list-objects"]),
    );
    let mut pkcs11_tool: Vec<String> = Vec::new();
    for line in String::from_utf8(listed).unwrap().lines() {
        if line.contains(" Object") && !line.starts_with(' ') {
            pkcs11_tool.push(line.to_owned());
        } else if let (Some(label), Some(last)) =
            (line.trim().strip_prefix("label:"), pkcs11_tool.last_mut())
        {
            last.push_str(&format!(" label {:?}", label.trim()));
        }
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/independent/token_objects.py"
    );
    let listed = run_ok(
        Command::new(PYTHON)
            .env(PIN_ENV, started("KEYRITE_TPM2_PIN"))
            .arg(script)
            .arg(module())
            .arg(label())
            .arg(PIN_ENV),
    );
    Objects {
        ptool,
        pkcs11_tool,
        pykcs11: serde_json::from_slice(&listed).unwrap(),
    }
}

/// Runs `cmd`, and asserts the token holds exactly the objects it held before.
fn leaves_nothing(cmd: &mut Command, what: &str) -> Output {
    let before = objects();
    let out = run(cmd);
    assert_eq!(
        objects(),
        before,
        "{what} left objects on the token (before: the first list); keyrite said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// AWS import parameters for a new RSA-2048 KMS key, in `dir/params.json`.
fn aws_params(dir: &Path) -> std::path::PathBuf {
    Kms::new(dir, 2048).write_aws_params(dir, "params.json")
}

const ALGORITHMS: [&str; 5] = [
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
    "RSAES_PKCS1_V1_5",
];

/// Logged in, `token info` reports the token and answers every capability — each wrapping
/// algorithm "no" with its reason (nothing wraps here), the key check values, trusted wrapping,
/// key pairs and the unwrap template — though the token generates no AES key
/// (`C_GenerateKey` returns CKR_FUNCTION_NOT_SUPPORTED): one trial's refusal is that line's
/// "no", never the end of the report. Its trial objects are all destroyed.
#[test]
fn token_info_answers_every_capability_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let label = label();
    let out = leaves_nothing(
        keyrite(dir.path()).args(["token", "info", "--token", &label, "--pin-env", PIN_ENV]),
        "token info",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "token info stopped: {stdout}{}",
        keyrite_stderr(&out)
    );
    assert!(
        stdout.contains(&format!("Token {label:?} (slot ")),
        "{stdout}"
    );
    for algorithm in ALGORITHMS {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{algorithm} ")))
            .unwrap_or_else(|| panic!("no line for {algorithm}: {stdout}"));
        let answer: Vec<&str> = line.split_whitespace().take(3).collect();
        assert_eq!(answer[1], "no", "{line}");
        assert!(answer.len() == 3, "no reason: {line}");
    }
    for capability in [
        "  key check values: ",
        "  CKA_WRAP_WITH_TRUSTED: ",
        "  key pairs: ",
        "  CKA_UNWRAP_TEMPLATE: ",
        "  ceremony signer: ",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(capability))
            .unwrap_or_else(|| panic!("no {capability:?} line: {stdout}"));
        assert!(line.len() > capability.len() + 3, "no answer: {line}");
    }
    assert!(
        stdout.contains(
            "  ceremony signer: ECDSA P-256 (the token offers CKM_EC_KEY_PAIR_GEN and CKM_ECDSA)\n"
        ),
        "{stdout}"
    );

    let out = leaves_nothing(
        keyrite(dir.path())
            .args(["token", "info", "--json", "--token", &label])
            .args(["--pin-env", PIN_ENV]),
        "token info --json",
    );
    assert!(out.status.success(), "{}", keyrite_stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = &report["tokens"][0];
    assert_eq!(token["label"], label.as_str(), "{report}");
    let wrapping = token["wrapping"].as_array().unwrap();
    let algorithms: Vec<&str> = wrapping
        .iter()
        .map(|a| a["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(algorithms.len(), ALGORITHMS.len(), "{wrapping:?}");
    for algorithm in ALGORITHMS {
        assert!(algorithms.contains(&algorithm), "{wrapping:?}");
    }
    for a in wrapping {
        assert_eq!(a["supported"], false, "{a}");
        assert!(!a["detail"].as_str().unwrap().is_empty(), "{a}");
    }
    // The token makes no AES key: no key check value, no trusted-wrapping trial key.
    assert!(
        token["kcv"].as_str().unwrap().starts_with("none: "),
        "{token}"
    );
    assert_eq!(token["wrap_with_trusted"]["enforced"], false, "{token}");
    assert_eq!(token["key_pairs"]["rsa"], false, "{token}");
    assert_eq!(token["key_pairs"]["ec"], false, "{token}");
    assert_eq!(token["unwrap_template"]["applied"], false, "{token}");
    for detail in [
        &token["wrap_with_trusted"]["detail"],
        &token["key_pairs"]["detail"],
        &token["unwrap_template"]["detail"],
    ] {
        assert!(!detail.as_str().unwrap().is_empty(), "{token}");
    }
}

/// Without a login the token creates not even a session object (CKR_SESSION_READ_ONLY):
/// `token info` says the token needs a login, and how to give the PIN.
#[test]
fn token_info_without_a_login_says_to_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = leaves_nothing(
        keyrite(dir.path()).args(["token", "info"]),
        "token info without a login",
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        keyrite_stderr(&out)
    );
    assert!(said.contains(&label()), "the token is not named: {said}");
    assert!(
        said.contains("--pin-env"),
        "no hint to log in with --pin-env: {said}"
    );
}

/// The two OAEP wraps and the legacy PKCS#1 v1.5 wrap are refused — the token offers
/// CKM_RSA_PKCS_OAEP and CKM_RSA_PKCS for encryption only, not for wrapping — with their exact
/// message, before any key is made, and the imported KMS public key is destroyed too.
#[test]
fn rsa_wraps_are_refused_for_want_of_the_wrap_flag_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let params = aws_params(dir.path());
    let label = label();
    for (algorithm, mechanism, extra) in [
        (
            "RSAES_OAEP_SHA_1",
            "CKM_RSA_PKCS_OAEP using SHA-1 (MGF1 with SHA-1)",
            None,
        ),
        (
            "RSAES_OAEP_SHA_256",
            "CKM_RSA_PKCS_OAEP using SHA-256 (MGF1 with SHA-256)",
            None,
        ),
        (
            "RSAES_PKCS1_V1_5",
            "CKM_RSA_PKCS",
            Some("--allow-legacy-pkcs1"),
        ),
    ] {
        let key_label = format!("tpm2-{}", algorithm.to_lowercase().replace('_', "-"));
        let out_dir = dir.path().join(&key_label);
        let mut cmd = keyrite(dir.path());
        cmd.args(["wrap", "--provider", "aws", "--params"])
            .arg(&params)
            .args(["--algorithm", algorithm, "--key-label", &key_label])
            .args(["--token", &label, "--pin-env", PIN_ENV, "--out"])
            .arg(&out_dir)
            .args(extra);
        let out = leaves_nothing(&mut cmd, algorithm);
        assert_eq!(out.status.code(), Some(1), "{algorithm}");
        assert_eq!(
            keyrite_stderr(&out),
            format!(
                "keyrite: token {label:?} cannot wrap with {mechanism}: the token does not offer it for wrapping\n\
                 keyrite never falls back to another algorithm: use a token that supports this one (see `keyrite token info`), or ask the KMS for another wrapping algorithm.\n"
            ),
            "{algorithm}"
        );
        assert!(!out_dir.exists(), "{algorithm}: an output directory");
    }
}

/// RSA-AES is refused before anything is made, naming the AES key wrap the token lacks; no
/// known-answer test ran (there is no mechanism to test), so the message mentions none.
#[test]
fn rsa_aes_is_refused_naming_the_missing_mechanism_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let params = aws_params(dir.path());
    let label = label();
    for (algorithm, spec) in [
        ("RSA_AES_KEY_WRAP_SHA_1", "AES_256"),
        ("RSA_AES_KEY_WRAP_SHA_256", "AES_256"),
        ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
    ] {
        let key_label = format!("tpm2-{}", algorithm.to_lowercase().replace('_', "-"));
        let out_dir = dir.path().join(&key_label);
        let mut cmd = keyrite(dir.path());
        cmd.args(["wrap", "--provider", "aws", "--params"])
            .arg(&params)
            .args(["--algorithm", algorithm, "--key-spec", spec])
            .args(["--key-label", &key_label, "--token", &label])
            .args(["--pin-env", PIN_ENV, "--out"])
            .arg(&out_dir);
        let out = leaves_nothing(&mut cmd, algorithm);
        assert_eq!(out.status.code(), Some(1), "{algorithm} {spec}");
        let stderr = keyrite_stderr(&out);
        let mut lines = stderr.lines();
        assert_eq!(
            lines.next(),
            Some(format!(
                "keyrite: token {label:?} has no AES key wrap with padding (RFC 5649) keyrite can trust: the token offers neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD for wrapping"
            ).as_str()),
            "{algorithm} {spec}: {stderr}"
        );
        assert_eq!(lines.count(), 1, "{algorithm} {spec}: {stderr}");
        assert!(
            !stderr.contains("known-answer"),
            "{algorithm} {spec}: no known-answer test ran, yet the message names one: {stderr}"
        );
        assert!(!out_dir.exists(), "{algorithm} {spec}: an output directory");
    }
}

/// The token keeps the session objects a process leaves: `token info` interrupted (SIGINT,
/// SIGTERM) while it holds its first object of its own (the trials' RSA public key,
/// `KEYRITE_FAULT=session-object:1:pause`) destroys it before it exits, with 128 + the
/// signal's number and one line, and the token holds exactly what it held before.
#[test]
fn an_interrupted_token_info_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let before = objects();
        let out = interrupted(
            keyrite(dir.path()).args(["token", "info", "--token", &label(), "--pin-env", PIN_ENV]),
            "session-object:1",
            signal,
        );
        assert_eq!(
            objects(),
            before,
            "token info interrupted by SIG{signal} left objects on the token (before: the first list); keyrite said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "SIG{signal}: {out:?}");
        assert_eq!(
            keyrite_stderr(&out),
            format!(
                "keyrite: interrupted (SIG{signal}); 1 object keyrite made for itself on the token was destroyed\n"
            ),
        );
        assert!(out.stdout.is_empty(), "SIG{signal}: {out:?}");
    }
}

/// Listing the keys is read-only.
#[test]
fn keys_list_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = leaves_nothing(
        keyrite(dir.path()).args(["keys", "list", "--json", "--pin-env", PIN_ENV]),
        "keys list",
    );
    assert!(out.status.success(), "{}", keyrite_stderr(&out));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(listed["keys"].is_array(), "{listed}");
}

/// The token has ECDSA P-256, so it holds a ceremony signer: `token signer create` makes one
/// key pair — its private and public key, nothing else — and prints a P-256 public key. (The
/// module refuses an EC private key template that says `CKA_DECRYPT=false`; keyrite only sets
/// that to be explicit, and makes the signer without it, saying so.) The signer is deleted afterwards with pkcs11-tool, so the shared token
/// is as it was.
#[test]
fn signer_create_makes_one_p256_key_pair_and_nothing_else() {
    use p256::pkcs8::DecodePublicKey as _;
    let dir = tempfile::tempdir().unwrap();
    let signer = "tpm2-signer";
    let before = objects();
    let out = run(keyrite(dir.path())
        .args(["token", "signer", "create", "--key-label", signer])
        .args(["--token", &label(), "--pin-env", PIN_ENV]));
    let after = objects();
    for kind in ["privkey", "pubkey"] {
        run(Command::new("pkcs11-tool")
            .arg("--module")
            .arg(module())
            .args(["--token-label", &label(), "--login"])
            .args(["--pin", &started("KEYRITE_TPM2_PIN")])
            .args(["--delete-object", "--type", kind, "--label", signer]));
    }
    assert!(
        out.status.success(),
        "signer create failed: {}",
        keyrite_stderr(&out)
    );
    let pem = String::from_utf8(out.stdout.clone()).unwrap();
    p256::PublicKey::from_public_key_pem(&pem).unwrap();
    // The module takes no explicit CKA_DECRYPT=false (CKR_GENERAL_ERROR): the template leaves
    // out the usages no EC mechanism uses, and the ones the module set anyway are said.
    let stderr = keyrite_stderr(&out);
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("Signer fingerprint (the policy's signer_fingerprint): "),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "keyrite: warning: token \"keyrite-tpm2\" set CKA_DECRYPT=true on the new EC signer, which no EC mechanism uses"
        ),
        "{stderr}"
    );
    let mut added: Vec<(String, String)> = after
        .pykcs11
        .iter()
        .filter(|o| !before.pykcs11.contains(o))
        .map(|o| {
            (
                o["class"].as_str().unwrap().to_owned(),
                o["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    added.sort();
    assert_eq!(
        added,
        [
            ("CKO_PRIVATE_KEY".to_owned(), signer.to_owned()),
            ("CKO_PUBLIC_KEY".to_owned(), signer.to_owned()),
        ]
    );
    assert_eq!(
        after.ptool.len(),
        before.ptool.len() + 2,
        "{:?}",
        after.ptool
    );
}
