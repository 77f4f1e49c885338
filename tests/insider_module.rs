//! Issue 20, attacks 2 and 5, built for real on SoftHSM2 tokens: the operator's PKCS#11 module
//! receives the PIN (a shim compiled here from `tests/shim/pin_capture.c` that forwards to
//! SoftHSM2 and writes out the PIN at `C_Login`), and a public signer object anyone can
//! replace. Also the policy's `require_trusted_wrapping`, the module and keyrite digests in the
//! transcript's `token` line, and low-S seals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::ceremony::*;
use common::wrap::Wrap;
use common::*;
use serde_json::Value;
use sha2::Digest as _;

const SO_ENV: &str = "KR_TEST_SO_PIN";

/// The shim, compiled with gcc into `dir`.
fn shim(dir: &Path) -> PathBuf {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shim/pin_capture.c");
    let so = dir.join("pin_capture.so");
    run_ok(
        Command::new("gcc")
            .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(source),
    );
    so
}

/// Where the shim writes the PIN it captures and that it was loaded.
struct Capture {
    pin: PathBuf,
    loaded: PathBuf,
}

impl Capture {
    fn new(dir: &Path) -> Self {
        Capture {
            pin: dir.join("captured-pin"),
            loaded: dir.join("shim-loaded"),
        }
    }

    fn on<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("PIN_CAPTURE_FILE", &self.pin)
            .env("PIN_CAPTURE_LOADED", &self.loaded)
            .env("PIN_CAPTURE_REAL", SOFTHSM2)
    }
}

/// A ceremony with one wrap, its PIN split 2 of 3, the policy pinning the shares and SoftHSM2's
/// digest, the plan approved.
fn shares_ceremony() -> Ceremony {
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    c
}

fn with_shares(cmd: &mut Command) -> &mut Command {
    cmd.args(["--pin-share", "shares/share-1.txt"])
        .args(["--pin-share", "shares/share-3.txt"])
}

/// Sets (or, with `None`, removes) a top-level field of the policy.
fn set_policy(c: &Ceremony, field: &str, value: Option<&str>) {
    let path = c.dir().join("policy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut text: String = text
        .lines()
        .filter(|l| !l.starts_with(&format!("{field} = ")))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(value) = value {
        text = text.replacen(
            "\n[[custodians]]",
            &format!("{field} = {value}\n\n[[custodians]]"),
            1,
        );
    }
    std::fs::write(path, text).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Every file under `dir` but the token's own (compared through PyKCS11, since a login updates
/// SoftHSM2's token file), with the SHA-256 of its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name() != Some("tokens".as_ref()) {
                    todo.push(p);
                }
            } else {
                let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap()));
                out.push((p, digest));
            }
        }
    }
    out.sort();
    out
}

/// Asserts no file under `dir` changed since `before` (the paths that differ, if any).
fn assert_files(dir: &Path, before: &[(PathBuf, String)], context: &str) {
    let now = files(dir);
    let changed: Vec<_> = now
        .iter()
        .filter(|f| !before.contains(f))
        .chain(before.iter().filter(|f| !now.contains(f)))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(changed.is_empty(), "{context}: changed: {changed:?}");
}

/// The seal's signature is low-S, by Python `cryptography` (s ≤ n/2 of P-256) — and verifies
/// under the signer's key, so the check looks at a real seal.
fn assert_low_s(transcript: &Path, signer: &Path) {
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
lines = open(sys.argv[1], "rb").read().split(b"\n")
seal = [json.loads(l) for l in lines if l and json.loads(l)["step"] == "seal"]
assert len(seal) == 1, "one seal"
der = base64.b64decode(seal[0]["signature"])
r, s = utils.decode_dss_signature(der)
n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
key = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
key.verify(der, bytes.fromhex(seal[0]["prev"]), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
print("low" if s <= n // 2 else "high")
"#;
    let out = run_ok(
        Command::new(PYTHON)
            .args(["-c", script])
            .arg(transcript)
            .arg(signer),
    );
    assert_eq!(
        String::from_utf8(out).unwrap().trim(),
        "low",
        "{}",
        transcript.display()
    );
}

fn token_line(c: &Ceremony, transcript: &str) -> Value {
    c.transcript(transcript)
        .into_iter()
        .map(|(_, v)| v)
        .find(|v| v["step"] == "token")
        .unwrap()
}

fn module_refusal(module: &Path, actual: &str, expected: &str) -> String {
    format!(
        "keyrite: the PKCS#11 module {} has SHA-256 {actual}, but the policy policy.toml pins module_sha256 = {expected}; it was not loaded\n\
         Run with the module the policy pins (--module PATH or KEYRITE_PKCS11_MODULE); if this module is the one meant, the security team puts its sha256sum in the policy's module_sha256.\n",
        module.display()
    )
}

#[test]
fn a_shim_the_policy_pins_runs_and_captures_the_pin() {
    // The positive control: the shim works, and a policy that pins it lets it run.
    let c = shares_ceremony();
    let shim = shim(c.dir());
    let capture = Capture::new(c.dir());
    set_policy(
        &c,
        "module_sha256",
        Some(&format!("\"{}\"", sha256sum(&shim))),
    );
    let out = run(capture
        .on(with_shares(&mut c.run_command("t.jsonl")))
        .arg("--module")
        .arg(&shim));
    assert_ok(&out);
    assert_eq!(
        std::fs::read_to_string(&capture.pin).unwrap(),
        format!("{PIN}\n")
    );
    assert_eq!(
        std::fs::read_to_string(&capture.loaded).unwrap(),
        "mapped\nloaded\n"
    );
    let token = token_line(&c, "t.jsonl");
    assert_eq!(token["data"]["module"], shim.display().to_string());
    assert_eq!(token["data"]["module_sha256"], sha256sum(&shim));
    c.assert_verifies("t.jsonl");
    assert_low_s(&c.dir().join("t.jsonl"), &c.signer_pem);
}

#[test]
fn a_module_other_than_the_policy_pins_is_refused_before_it_is_loaded() {
    let c = shares_ceremony();
    let shim = shim(c.dir());
    let capture = Capture::new(c.dir());
    let objects = c.token.objects();
    let before = files(c.dir());
    let expected = module_refusal(&shim, &sha256sum(&shim), &sha256sum(Path::new(SOFTHSM2)));
    for how in ["--module", "KEYRITE_PKCS11_MODULE"] {
        let mut cmd = c.run_command("t.jsonl");
        capture.on(with_shares(&mut cmd));
        if how == "--module" {
            cmd.arg("--module").arg(&shim);
        } else {
            cmd.env("KEYRITE_PKCS11_MODULE", &shim);
        }
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "{how}");
        assert_eq!(stderr(&out), expected, "{how}");
        assert!(!capture.loaded.exists(), "{how}: the shim was loaded");
        assert!(!capture.pin.exists(), "{how}: the shim got the PIN");
        assert!(!c.dir().join("t.jsonl").exists(), "{how}");
        assert_eq!(c.token.objects(), objects, "{how}");
        assert_files(c.dir(), &before, how);
    }

    // keys destroy runs a plan under the policy too: the same refusal, before any token.
    std::fs::write(
        c.dir().join("destroy.toml"),
        format!(
            "version = 1\nceremony_id = \"end-old\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
             operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
             pin = \"shares\"\n\n[[steps]]\naction = \"destroy\"\nkey_label = \"old\"\nexpect_kcv = \"00aa11\"\n",
            c.window.0, c.window.1
        ),
    )
    .unwrap();
    let digest = run_ok(c.token.keyrite().args(["plan", "digest", "destroy.toml"]));
    std::fs::write(c.dir().join("plan.digest"), digest).unwrap();
    std::fs::create_dir(c.dir().join("destroy-approvals")).unwrap();
    for name in ["alice", "bob"] {
        c.approve(
            name,
            "keyrite-plan",
            &format!("../destroy-approvals/{name}.sig"),
        );
    }
    let before = files(c.dir());
    let out = run(capture
        .on(with_shares(c.token.keyrite().args([
            "keys",
            "destroy",
            "--key-label",
            "old",
            "--plan",
            "destroy.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "destroy-approvals",
            "--transcript",
            "d.jsonl",
        ])))
        .arg("--module")
        .arg(&shim));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert!(!capture.loaded.exists() && !capture.pin.exists());
    assert_eq!(c.token.objects(), objects);
    assert_files(c.dir(), &before, "files");

    // The real module the policy pins runs the plan.
    let out = run(capture.on(with_shares(&mut c.run_command("t.jsonl"))));
    assert_ok(&out);
    assert!(!capture.loaded.exists() && !capture.pin.exists());
    c.assert_verifies("t.jsonl");
}

#[test]
fn the_module_loaded_is_the_copy_of_the_bytes_hashed() {
    // keyrite stops between the check and the load; the module file is then overwritten in
    // place with the shim, and another copy of the shim renamed over it. keyrite loads what it
    // hashed all the same.
    let c = shares_ceremony();
    let shim = shim(c.dir());
    let capture = Capture::new(c.dir());
    let module = c.dir().join("module.so");
    std::fs::copy(SOFTHSM2, &module).unwrap();
    let mut cmd = c.run_command("t.jsonl");
    capture
        .on(with_shares(&mut cmd))
        .arg("--module")
        .arg(&module)
        .env("KEYRITE_FAULT", "module-checked:1:stop")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if stat.split_whitespace().nth(2) == Some("T") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keyrite did not stop at module-checked (is it built with --features fault-injection, as scripts/test builds it?)"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // What the dynamic loader will open: a sealed memfd, not the module's path.
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        fds.iter().any(|p| p == "/memfd:keyrite-module (deleted)"),
        "{fds:?}"
    );
    assert!(
        !fds.iter().any(|p| p == &module.display().to_string()),
        "{fds:?}"
    );
    std::fs::write(&module, std::fs::read(&shim).unwrap()).unwrap();
    let renamed = c.dir().join("swap.so");
    std::fs::copy(&shim, &renamed).unwrap();
    std::fs::rename(&renamed, &module).unwrap();
    assert_eq!(sha256sum(&module), sha256sum(&shim));
    run_ok(Command::new("kill").args(["-CONT", &pid.to_string()]));
    let out = child.wait_with_output().unwrap();
    assert_ok(&out);
    assert!(!capture.loaded.exists(), "the shim was loaded");
    assert!(!capture.pin.exists(), "the shim got the PIN");
    let token = token_line(&c, "t.jsonl");
    assert_eq!(
        token["data"]["module_sha256"],
        sha256sum(Path::new(SOFTHSM2))
    );
    c.assert_verifies("t.jsonl");
}

#[test]
fn a_policy_with_pin_shares_must_pin_the_module() {
    let c = shares_ceremony();
    set_policy(&c, "module_sha256", None);
    let objects = c.token.objects();
    let before = files(c.dir());
    let expected = "keyrite: policy.toml: module_sha256: a policy with pin_shares must pin the PKCS#11 module, which is given the PIN the shares rebuild\n\
        Put the SHA-256 of the module file the ceremony loads there, as `sha256sum MODULE` prints it (for SoftHSM2 on Debian: sha256sum /usr/lib/softhsm/libsofthsm2.so).\n";
    let out = c.plan_check();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), expected);
    let out = run(with_shares(&mut c.run_command("t.jsonl")));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), expected);
    assert_eq!(c.token.objects(), objects);
    assert_files(c.dir(), &before, "files");
}

#[test]
fn a_pinned_module_path_refuses_a_copy_and_the_transcript_names_what_ran() {
    let c = shares_ceremony();
    set_policy(&c, "module_path", Some(&format!("\"{SOFTHSM2}\"")));
    let copy = c.dir().join("copy.so");
    std::fs::copy(SOFTHSM2, &copy).unwrap();
    assert_eq!(sha256sum(&copy), sha256sum(Path::new(SOFTHSM2)));
    let objects = c.token.objects();
    let before = files(c.dir());
    let out = run(with_shares(&mut c.run_command("t.jsonl"))
        .arg("--module")
        .arg(&copy));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "keyrite: the PKCS#11 module {} is not the module_path {SOFTHSM2} that the policy policy.toml pins; it was not loaded\n\
             Run with --module {SOFTHSM2} (or KEYRITE_PKCS11_MODULE set to it), the module the policy pins.\n",
            copy.display()
        )
    );
    assert_eq!(c.token.objects(), objects);
    assert_files(c.dir(), &before, "files");

    // The pinned path (keyrite's default) runs; the token line says what ran.
    let out = run(with_shares(&mut c.run_command("t.jsonl")));
    assert_ok(&out);
    let keyrite = Path::new(env!("CARGO_BIN_EXE_keyrite"));
    let data = &token_line(&c, "t.jsonl")["data"];
    assert_eq!(data["module"], SOFTHSM2);
    assert_eq!(data["module_sha256"], sha256sum(Path::new(SOFTHSM2)));
    assert_eq!(
        data["keyrite_path"],
        std::fs::canonicalize(keyrite)
            .unwrap()
            .display()
            .to_string()
    );
    assert_eq!(data["keyrite_sha256"], sha256sum(keyrite));
    c.assert_verifies("t.jsonl");
    assert_low_s(&c.dir().join("t.jsonl"), &c.signer_pem);
}

#[test]
fn keyrite_wrap_transcripts_name_the_module_and_keyrite_and_every_seal_is_low_s() {
    // A raw ECDSA signature is high-S half the time: twelve seals all low-S by chance is 1 in
    // 4096.
    let c = Ceremony::new(&["us-east-1"]);
    let keyrite = Path::new(env!("CARGO_BIN_EXE_keyrite"));
    for i in 0..12 {
        let transcript = format!("w{i}.jsonl");
        let out = Wrap::new("wrap")
            .aws_oaep_sha1(
                "params/us-east-1.json",
                &format!("k{i}"),
                &format!("out-{i}"),
            )
            .pin()
            .recorded(&transcript)
            .run(&c.token);
        assert_ok(&out);
        let data = &token_line(&c, &transcript)["data"];
        assert_eq!(data["module_sha256"], sha256sum(Path::new(SOFTHSM2)));
        assert_eq!(data["keyrite_sha256"], sha256sum(keyrite));
        assert_eq!(
            data["keyrite_path"],
            std::fs::canonicalize(keyrite)
                .unwrap()
                .display()
                .to_string()
        );
        assert_low_s(&c.dir().join(&transcript), &c.signer_pem);
    }
}

/// The signer's two objects, as PyKCS11 sees them logged in.
fn signer_objects(token: &TestToken, label: &str) -> Vec<Value> {
    token
        .objects()
        .into_iter()
        .filter(|o| o["label"] == label)
        .collect()
}

fn attack(token: &TestToken, label: &str) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/independent/signer_attack.py"
    );
    let out = run_ok(
        Command::new(PYTHON)
            .env(token.conf_env(), &token.conf)
            .arg(script)
            .arg("replace")
            .arg(&token.module)
            .arg(&token.label)
            .arg(label),
    );
    serde_json::from_slice(&out).unwrap()
}

fn export(token: &TestToken, label: &str) -> Output {
    run(token
        .keyrite()
        .args(["token", "signer", "export", "--key-label", label])
        .args(["--pin-env", PIN_ENV]))
}

#[test]
fn the_signer_objects_are_private_and_not_modifiable() {
    let c = Ceremony::new(&[]);
    let objects = signer_objects(&c.token, "ceremony-signer");
    assert_eq!(objects.len(), 2, "{objects:?}");
    for o in &objects {
        assert_eq!(o["private"], true, "{o}");
        assert_eq!(o["modifiable"], false, "{o}");
    }
    // Without a login, nothing of the signer is seen.
    assert!(
        !c.token
            .objects_as(None)
            .iter()
            .any(|o| o["label"] == "ceremony-signer")
    );
    // export needs the PIN now, and prints the key create printed.
    let out = run(c.token.keyrite().args([
        "token",
        "signer",
        "export",
        "--key-label",
        "ceremony-signer",
        "--pin-env",
        "KR_NO_SUCH_VARIABLE",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let out = export(&c.token, "ceremony-signer");
    assert_ok(&out);
    assert_eq!(out.stdout, std::fs::read(&c.signer_pem).unwrap());
}

#[test]
fn a_public_key_object_an_attacker_adds_is_never_exported_or_sealed_with() {
    let c = Ceremony::approved(&["us-east-1"]);
    // Without the PIN the attacker sees no signer object to destroy, but can add one.
    let attacked = attack(&c.token, "ceremony-signer");
    assert_eq!(attacked["found"], 0, "{attacked}");
    assert_eq!(attacked["created"], true, "{attacked}");
    let objects = c.token.objects();
    assert_eq!(
        objects
            .iter()
            .filter(|o| o["label"] == "ceremony-signer")
            .count(),
        3
    );
    let expected = "keyrite: token \"ceremony\": the signer \"ceremony-signer\" is not proven: 2 EC public key objects have that label, where a signer has one\n\
        Nothing was printed or signed. A session without the PIN can add public objects to a token: list the token's objects of that label, remove what is not the signer's with the security team, or make a new signer (keyrite token signer create) and pin its fingerprint.\n";
    let out = export(&c.token, "ceremony-signer");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert!(out.stdout.is_empty());
    let before = files(c.dir());
    let out = c.run("t.jsonl");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), objects);
    assert_files(c.dir(), &before, "files");
}

#[test]
fn a_replaced_public_key_of_an_old_signer_fails_the_proof() {
    // A signer made as keyrite made them before (a public public-key object): the attacker,
    // without the PIN, destroys that object and puts their own key in its place.
    let c = Ceremony::new(&["us-east-1"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/independent/signer_attack.py"
    );
    run_ok(
        Command::new(PYTHON)
            .env(c.token.conf_env(), &c.token.conf)
            .env(PIN_ENV, PIN)
            .arg(script)
            .args(["legacy"])
            .arg(&c.token.module)
            .arg(&c.token.label)
            .args([PIN_ENV, "old-signer"]),
    );
    let real = export(&c.token, "old-signer");
    assert_ok(&real);
    let attacked = attack(&c.token, "old-signer");
    assert_eq!(attacked["found"], 1, "{attacked}");
    assert_eq!(attacked["destroyed"], 1, "{attacked}");
    assert_eq!(attacked["created"], true, "{attacked}");
    let expected = "keyrite: token \"ceremony\": the signer \"old-signer\" is not proven: a signature by its private key does not verify under the public key object of that label, which is therefore not the signer's\n\
        Nothing was printed or signed. A session without the PIN can add public objects to a token: list the token's objects of that label, remove what is not the signer's with the security team, or make a new signer (keyrite token signer create) and pin its fingerprint.\n";
    let out = export(&c.token, "old-signer");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert!(out.stdout.is_empty());

    // A ceremony sealing with it stops before its transcript exists, even with a policy that
    // names the attacker's key.
    let plan = std::fs::read_to_string(c.dir().join("plan.toml"))
        .unwrap()
        .replace(
            "signing_key_label = \"ceremony-signer\"",
            "signing_key_label = \"old-signer\"",
        );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    let policy = std::fs::read_to_string(c.dir().join("policy.toml"))
        .unwrap()
        .replace(
            &c.signer_fingerprint,
            attacked["attacker_spki_sha256"].as_str().unwrap(),
        );
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
    c.approve_plan();
    let objects = c.token.objects();
    let out = c.run("t.jsonl");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), objects);
    // keyrite wrap --transcript likewise.
    let out = Wrap::new("wrap")
        .aws_oaep_sha1("params/us-east-1.json", "k", "out")
        .pin()
        .args(["--transcript", "w.jsonl", "--signer-label", "old-signer"])
        .run(&c.token);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert!(!c.dir().join("w.jsonl").exists() && !c.dir().join("out").exists());
    assert_eq!(c.token.objects(), objects);
}

/// `token trust-wrapping-key` of `params` as the security officer.
fn trust(c: &Ceremony, params: &str, label: &str) {
    run_ok(c.token.keyrite().env(SO_ENV, SO_PIN).args([
        "token",
        "trust-wrapping-key",
        "--provider",
        "aws",
        "--params",
        params,
        "--key-label",
        label,
        "--so-pin-env",
        SO_ENV,
    ]));
}

#[test]
fn require_trusted_wrapping_refuses_a_plan_without_it_and_runs_one_with_it() {
    let c = shares_ceremony();
    set_policy(&c, "require_trusted_wrapping", Some("true"));
    let objects = c.token.objects();
    let before = files(c.dir());
    let expected = "keyrite: plan.toml: steps[0].wrap_with_trusted: the policy policy.toml sets require_trusted_wrapping = true, so every generate step must set wrap_with_trusted = true\n\
        Set wrap_with_trusted = true on every generate step (a changed plan needs new approvals); the security officer marks each KMS wrapping key trusted first (keyrite token trust-wrapping-key).\n";
    let out = c.plan_check();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    let out = run(with_shares(&mut c.run_command("t.jsonl")));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), expected);
    assert_eq!(c.token.objects(), objects);
    assert_files(c.dir(), &before, "files");

    // With wrap_with_trusted, once the officer trusted the KMS key, the ceremony completes and
    // the key can be wrapped under that key only.
    let plan = std::fs::read_to_string(c.dir().join("plan.toml"))
        .unwrap()
        .replacen(
            "key_label = \"payments-2026\"\n",
            "key_label = \"payments-2026\"\nwrap_with_trusted = true\n",
            1,
        );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    run_ok(&mut c.plan_check_command());
    c.approve_plan();
    trust(&c, "params/us-east-1.json", "kms-us-east-1");
    let out = run(with_shares(&mut c.run_command("t.jsonl")));
    assert_ok(&out);
    c.assert_verifies("t.jsonl");
    assert_low_s(&c.dir().join("t.jsonl"), &c.signer_pem);
    let wrapped = std::fs::read(
        c.dir()
            .join("payments-2026-us-east-1/EncryptedKeyMaterial.bin"),
    )
    .unwrap();
    assert_eq!(
        c.regions[0]
            .kms
            .unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1")
            .len(),
        32
    );
    assert_eq!(
        c.token.wrap_attempt("payments-2026"),
        "refused CKR_KEY_NOT_WRAPPABLE"
    );
}

#[test]
fn require_trusted_wrapping_refuses_a_rewrap_of_a_key_that_is_not_trusted_only() {
    let c = shares_ceremony();
    set_policy(&c, "require_trusted_wrapping", Some("true"));
    // A key made outside any ceremony, wrappable under any key.
    Wrap::new("wrap")
        .aws_oaep_sha1("params/us-east-1.json", "legacy", "legacy-out")
        .pin()
        .ok(&c.token);
    let kcv = manifest(&c.dir().join("legacy-out"))["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        c.dir().join("plan.toml"),
        format!(
            "version = 1\nceremony_id = \"rewrap-legacy\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
             operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
             pin = \"shares\"\n\n[[steps]]\naction = \"rewrap\"\nkey_label = \"legacy\"\nexpect_kcv = \"{kcv}\"\n\
             provider = \"aws\"\nparams = \"params/us-east-1.json\"\nalgorithm = \"RSAES_OAEP_SHA_1\"\nout = \"rewrapped\"\n",
            c.window.0, c.window.1
        ),
    )
    .unwrap();
    // Nothing in the plan text says whether the key is trusted-only: plan check passes, the
    // token decides.
    run_ok(&mut c.plan_check_command());
    c.approve_plan();
    let objects = c.token.objects();
    let before = files(c.dir());
    let out = run(with_shares(&mut c.run_command("t.jsonl")));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "keyrite: plan.toml: steps[0]: key \"legacy\" on token \"ceremony\" is not CKA_WRAP_WITH_TRUSTED, and the policy policy.toml sets require_trusted_wrapping = true\n\
         A key made without CKA_WRAP_WITH_TRUSTED never gains it: leave it out of this plan, or wrap it under a policy without require_trusted_wrapping.\n"
    );
    assert_eq!(c.token.objects(), objects);
    assert_files(c.dir(), &before, "files");
}

#[test]
fn kryoptic_loads_from_the_sealed_copy_and_keeps_the_signer_private_and_fixed() {
    let token = TestToken::kryoptic("ceremony");
    let out = run(token
        .keyrite()
        .args([
            "token",
            "signer",
            "create",
            "--key-label",
            "ceremony-signer",
        ])
        .args(["--pin-env", PIN_ENV]));
    assert_ok(&out);
    // No protection refused: the only line on standard error is the fingerprint.
    let err = stderr(&out);
    assert!(
        err.starts_with("Signer fingerprint (the policy's signer_fingerprint): ")
            && err.lines().count() == 1,
        "{err}"
    );
    let objects = signer_objects(&token, "ceremony-signer");
    assert_eq!(objects.len(), 2, "{objects:?}");
    for o in &objects {
        assert_eq!(o["private"], true, "{o}");
        assert_eq!(o["modifiable"], false, "{o}");
    }
    let exported = export(&token, "ceremony-signer");
    assert_ok(&exported);
    assert_eq!(exported.stdout, out.stdout);
}
