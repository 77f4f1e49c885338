//! One odd slot never fails a whole command: a token whose info has a clock in no PKCS#11 form
//! (as openCryptoki 3.8 fills it) is a warning naming the slot and the field and stays usable by
//! its label, and a slot whose `C_GetTokenInfo` fails is a warning naming the slot, left out.
//! The odd token info comes from a shim (`tests/shim/odd_token_info.c`, compiled here) in front
//! of SoftHSM2; tests/opencryptoki.rs checks the real thing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The shim, compiled with gcc into `dir`.
fn shim(dir: &Path) -> PathBuf {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shim/odd_token_info.c");
    let so = dir.join("odd_token_info.so");
    run_ok(
        Command::new("gcc")
            .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(source),
    );
    so
}

/// A SoftHSM2 configuration with the tokens "good", "odd-clock" and "unreadable", and keyrite
/// loading it through the shim.
fn three_tokens() -> (TestToken, PathBuf) {
    let token = TestToken::softhsm("good");
    token.init_token("odd-clock");
    token.init_token("unreadable");
    let so = shim(token.dir.path());
    (token, so)
}

fn keyrite(token: &TestToken, so: &Path) -> Command {
    let mut cmd = token.keyrite();
    cmd.env("KEYRITE_PKCS11_MODULE", so)
        .env("ODD_TOKEN_INFO_REAL", SOFTHSM2);
    cmd
}

/// The slot id of the token labelled `label`, as SoftHSM2 itself reports it.
fn slot_of(token: &TestToken, label: &str) -> u64 {
    let out = run_ok(
        token
            .keyrite()
            .args(["token", "info", "--json", "--token", label]),
    );
    let report: Value = serde_json::from_slice(&out).unwrap();
    report["tokens"][0]["slot"].as_u64().unwrap()
}

#[test]
fn token_info_warns_of_each_odd_slot_and_reports_the_others() {
    let (token, so) = three_tokens();
    let odd = slot_of(&token, "odd-clock");
    let unreadable = slot_of(&token, "unreadable");
    let out = run(keyrite(&token, &so).args(["token", "info", "--json"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let clock = format!(
        r#"slot {odd}: the token info field utcTime is "07:11:35\0\0\0\0\0\0\0\0", not YYYYMMDDhhmmss: ignored"#
    );
    let skipped = format!(
        "slot {unreadable}: its token info could not be read (C_GetTokenInfo returned CKR_GENERAL_ERROR): slot skipped"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    warnings.sort();
    let mut expected = vec![clock.as_str(), skipped.as_str()];
    expected.sort();
    assert_eq!(warnings, expected);
    for warning in &expected {
        assert!(
            stderr.contains(&format!("keyrite: warning: {warning}\n")),
            "{warning} not on stderr: {stderr}"
        );
    }
    let mut labels: Vec<&str> = report["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["good", "odd-clock"]);
}

#[test]
fn the_token_with_the_odd_clock_is_used_by_label_and_the_others_are_unaffected() {
    let (token, so) = three_tokens();
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    for label in ["odd-clock", "good"] {
        let out = format!("out-{label}");
        run_ok(
            keyrite(&token, &so)
                .args(["wrap", "--provider", "aws", "--params"])
                .arg(&params)
                .args(["--algorithm", "RSAES_OAEP_SHA_1", "--key-label", "k"])
                .args(["--token", label, "--pin-env", PIN_ENV, "--out", &out]),
        );
        let wrapped = std::fs::read(token.path(&out).join("EncryptedKeyMaterial.bin")).unwrap();
        let material = kms.unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1");
        let m = manifest(&token.path(&out));
        assert_eq!(m["token"]["label"], label, "{m}");
        assert_eq!(
            m["key"]["kcv"].as_str().unwrap(),
            kcv_python("aes-ecb-zero-3", &material),
            "{label}"
        );
    }
    // Token info of the odd token alone still carries its warning.
    let out = run(keyrite(&token, &so).args(["token", "info", "--token", "odd-clock"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the token info field utcTime is"),
        "{stderr}"
    );
    // The unreadable token is not found, and the message lists the tokens that are.
    let out = run(keyrite(&token, &so).args(["token", "info", "--token", "unreadable"]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r#"no token labelled "unreadable""#),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without `--token`, a readable token is not "the only one" while a slot keyrite cannot read
/// may hold another: the wrap is refused and nothing is generated.
#[test]
fn an_unreadable_slot_means_a_token_must_be_named() {
    let token = TestToken::softhsm("good");
    token.init_token("unreadable");
    let so = shim(token.dir.path());
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let wrap = |named: bool| {
        let mut cmd = keyrite(&token, &so);
        cmd.args(["wrap", "--provider", "aws", "--params"])
            .arg(&params)
            .args(["--algorithm", "RSAES_OAEP_SHA_1", "--key-label", "k"])
            .args(["--pin-env", PIN_ENV, "--out", "out"]);
        if named {
            cmd.args(["--token", "good"]);
        }
        run(&mut cmd)
    };
    let out = wrap(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("name the token with --token LABEL; tokens found: \"good\""),
        "{stderr}"
    );
    assert!(!token.path("out").exists());
    let out = wrap(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(token.path("out").join("EncryptedKeyMaterial.bin").exists());
}

/// Every command that opens the module says, once, what it could not read of a slot: the
/// slots left out, and the token's own odd field.
#[test]
fn every_command_warns_once_of_the_slots_it_could_not_read() {
    let (token, so) = three_tokens();
    let odd = slot_of(&token, "odd-clock");
    let unreadable = slot_of(&token, "unreadable");
    let clock = format!(
        "keyrite: warning: slot {odd}: the token info field utcTime is \"07:11:35\\0\\0\\0\\0\\0\\0\\0\\0\", not YYYYMMDDhhmmss: ignored\n"
    );
    let skipped = format!(
        "keyrite: warning: slot {unreadable}: its token info could not be read (C_GetTokenInfo returned CKR_GENERAL_ERROR): slot skipped\n"
    );
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let stderr_of = |args: &[&str]| {
        let out = run(keyrite(&token, &so).args(args));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{args:?}: {stderr}");
        stderr
    };
    let wrap = |label: &str| {
        stderr_of(&[
            "wrap",
            "--provider",
            "aws",
            "--params",
            params.to_str().unwrap(),
            "--algorithm",
            "RSAES_OAEP_SHA_1",
            "--key-label",
            "k",
            "--token",
            label,
            "--pin-env",
            PIN_ENV,
            "--out",
            &format!("out-{label}"),
        ])
    };
    assert_eq!(wrap("good"), skipped);
    assert_eq!(wrap("odd-clock"), format!("{skipped}{clock}"));
    for label in ["good", "odd-clock"] {
        let listed = stderr_of(&["keys", "list", "--token", label, "--pin-env", PIN_ENV]);
        assert_eq!(listed.matches(&skipped).count(), 1, "{listed}");
        assert_eq!(
            listed.matches(&clock).count(),
            usize::from(label == "odd-clock"),
            "{listed}"
        );
    }
    // token info of one token: the same, each once.
    let info = stderr_of(&["token", "info", "--token", "odd-clock"]);
    assert_eq!(info, format!("{skipped}{clock}"));
}
