//! `token info` never stops on one trial: a capability whose trial fails in a way keyrite did not
//! foresee is a "no" with what the token said, and the next capability is tried all the same;
//! a token that makes no object before a login is said to need one, once, with the way to log
//! in. The refusals are tpm2-pkcs11 1.9's (`C_CreateObject` → `CKR_SESSION_READ_ONLY` without
//! a login, `C_GenerateKey` → `CKR_FUNCTION_NOT_SUPPORTED`), from a shim
//! (`tests/shim/refusing_token.c`, compiled here) in front of SoftHSM2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The shim, compiled with gcc into `dir`.
fn shim(dir: &Path) -> PathBuf {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shim/refusing_token.c");
    let so = dir.join("refusing_token.so");
    run_ok(
        Command::new("gcc")
            .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(source),
    );
    so
}

/// `keyrite token info --token LABEL [ARGS]` through the shim; its standard output.
fn info(token: &TestToken, so: &Path, args: &[&str]) -> String {
    let out = run_ok(
        token
            .keyrite()
            .env("KEYRITE_PKCS11_MODULE", so)
            .env("REFUSING_TOKEN_REAL", SOFTHSM2)
            .args(["token", "info", "--token", &token.label])
            .args(args),
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn a_token_that_makes_nothing_before_a_login_is_said_to_need_one() {
    let token = TestToken::softhsm("read-only");
    let so = shim(token.dir.path());
    let refused = "C_CreateObject returned CKR_SESSION_READ_ONLY";

    let text = info(&token, &so, &[]);
    assert_eq!(text.matches("login needed").count(), 1, "said once: {text}");
    assert!(
        text.contains(&format!(
            "  login needed: the token makes no object before a login, not even a session object ({refused}), so the trials below could not run; run again with --token \"read-only\" --pin-env NAME (or --pin-file PATH)\n"
        )),
        "{text}"
    );
    for line in [
        format!("    RSAES_OAEP_SHA_1         no   CKM_RSA_PKCS_OAEP: not tried: {refused}\n"),
        "  key check values: none: the trial failed: C_GenerateKey returned CKR_SESSION_READ_ONLY\n".to_owned(),
        format!("  CKA_WRAP_WITH_TRUSTED: no: the trial failed: {refused}\n"),
        "  CKA_UNWRAP_TEMPLATE: NOT known: the trial failed: C_GenerateKey returned CKR_SESSION_READ_ONLY\n".to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} in {text}");
    }

    let json: Value = serde_json::from_str(&info(&token, &so, &["--json"])).unwrap();
    let report = &json["tokens"][0];
    assert_eq!(report["login_needed"], refused);
    assert!(
        report["wrapping"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["supported"] == false)
    );
    assert_eq!(report["wrap_with_trusted"]["trusted_set_by"], "not known");

    // Logged in, the token makes its objects: the trials run, and nothing asks for a login.
    let text = info(&token, &so, &["--pin-env", PIN_ENV]);
    assert!(!text.contains("login needed"), "{text}");
    assert!(
        text.contains(
            "    RSAES_OAEP_SHA_1         yes  CKM_RSA_PKCS_OAEP: trial wrap with SHA-1 succeeded\n"
        ),
        "{text}"
    );
    let json: Value =
        serde_json::from_str(&info(&token, &so, &["--json", "--pin-env", PIN_ENV])).unwrap();
    assert!(json["tokens"][0].get("login_needed").is_none(), "{json}");
}

#[test]
fn a_trial_that_fails_unforeseen_is_a_no_and_the_next_is_tried() {
    let token = TestToken::softhsm("no-keygen");
    let so = shim(token.dir.path());
    let refused = "C_GenerateKey returned CKR_FUNCTION_NOT_SUPPORTED";

    let text = info(&token, &so, &[]);
    assert!(!text.contains("login needed"), "{text}");
    for line in [
        format!("    RSAES_OAEP_SHA_1         no   CKM_RSA_PKCS_OAEP: {refused}\n"),
        format!("  key check values: none: the trial failed: {refused}\n"),
        format!("  CKA_UNWRAP_TEMPLATE: NOT known: the trial failed: {refused}\n"),
    ] {
        assert!(text.contains(&line), "{line:?} in {text}");
    }
    // The trials that need no generated key still answer: SoftHSM2's CKM_AES_KEY_WRAP_PAD
    // fails the known-answer test of a length that is not a multiple of 8.
    assert!(
        text.contains(
            "  key pairs: no: a key pair's PKCS#8 is not a multiple of 8 bytes long, so it needs AES key wrap with padding (RFC 5649), tried on a 67-byte secret: token \"no-keygen\" has no AES key wrap with padding (RFC 5649) keyrite can trust: CKM_AES_KEY_WRAP_PAD: it wrapped"
        ),
        "{text}"
    );

    let json: Value = serde_json::from_str(&info(&token, &so, &["--json"])).unwrap();
    let report = &json["tokens"][0];
    assert_eq!(report["kcv"], format!("none: the trial failed: {refused}"));
    assert!(report.get("login_needed").is_none(), "{report}");
}

#[test]
fn rsa_aes_on_a_token_without_aes_key_wrap_names_the_mechanisms_and_no_known_answer_test() {
    let token = TestToken::softhsm("no-kwp");
    let so = shim(token.dir.path());
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let out = run(token
        .keyrite()
        .env("KEYRITE_PKCS11_MODULE", &so)
        .env("REFUSING_TOKEN_REAL", SOFTHSM2)
        .args(["wrap", "--provider", "aws", "--params"])
        .arg(&params)
        .args(["--algorithm", "RSA_AES_KEY_WRAP_SHA_1", "--key-label", "k"])
        .args(["--out", "out", "--pin-env", PIN_ENV]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: token \"no-kwp\" has no AES key wrap with padding (RFC 5649) keyrite can trust: \
         the token offers neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD for wrapping\n\
         RSA-AES needs AES key wrap with padding in the token (CKM_AES_KEY_WRAP_KWP or \
         CKM_AES_KEY_WRAP_PAD), and keyrite refuses before generating anything when it has none \
         to test: use a token that offers one (see `keyrite token info`), or, for a secret key, \
         RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.\n"
    );
    assert!(token.objects().is_empty());
    assert!(!token.path("out").exists());
}

#[test]
fn a_module_that_shows_no_token_is_said_to_show_none_by_every_command() {
    let token = TestToken::softhsm("hidden");
    let so = shim(token.dir.path());
    let no_slots = |args: &[&str]| {
        let out = run(token
            .keyrite()
            .env("KEYRITE_PKCS11_MODULE", &so)
            .env("REFUSING_TOKEN_REAL", SOFTHSM2)
            .env("REFUSING_TOKEN_NO_SLOTS", "1")
            .args(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let expected = format!(
        "keyrite: the module shows no token: no slot of {} (SoftHSM Implementation of PKCS11 2.6 (Cryptoki 2.40)) has a token present\n\
         Check that the module is the one meant and that what it reaches is there: a p11-kit client needs its server running (P11_KIT_SERVER_ADDRESS), a network HSM its connection, a USB token to be plugged in.\n",
        so.display()
    );
    assert_eq!(no_slots(&["token", "info"]), expected);
    assert_eq!(no_slots(&["token", "info", "--json"]), expected);
    assert_eq!(
        no_slots(&["token", "info", "--token", "hidden", "--pin-env", PIN_ENV]),
        expected
    );
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let params = params.to_str().unwrap();
    assert_eq!(
        no_slots(&[
            "wrap",
            "--provider",
            "aws",
            "--params",
            params,
            "--algorithm",
            "RSAES_OAEP_SHA_1",
            "--key-label",
            "k",
            "--out",
            "out",
            "--token",
            "hidden",
            "--pin-env",
            PIN_ENV,
        ]),
        expected
    );
    assert_eq!(no_slots(&["keys", "list", "--pin-env", PIN_ENV]), expected);
}

/// A failure to destroy what keyrite made for itself is an error naming the object where the
/// work succeeded, and never hides the error of work that failed.
#[test]
fn a_failed_destroy_names_the_object_and_never_hides_the_first_error() {
    let token = TestToken::softhsm("no-destroy");
    let so = shim(token.dir.path());
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let wrap = |algorithm: &str, out: &str| {
        let out = run(token
            .keyrite()
            .env("KEYRITE_PKCS11_MODULE", &so)
            .env("REFUSING_TOKEN_REAL", SOFTHSM2)
            .args(["wrap", "--provider", "aws", "--params"])
            .arg(&params)
            .args(["--algorithm", algorithm, "--key-label", out, "--out", out])
            .args(["--pin-env", PIN_ENV]));
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    // The trial wrap worked; its throw-away key could not be destroyed.
    let stderr = wrap("RSAES_OAEP_SHA_1", "ok");
    assert!(
        stderr.starts_with(
            "keyrite: cannot destroy the trial wrap's throw-away AES key, which keyrite made for itself: C_DestroyObject returned CKR_FUNCTION_FAILED\n"
        ),
        "{stderr}"
    );
    // SoftHSM2 refuses OAEP with SHA-256: that refusal is the error, not the destroy after it.
    let stderr = wrap("RSAES_OAEP_SHA_256", "refused");
    assert!(
        stderr.starts_with(
            "keyrite: token \"no-destroy\" cannot wrap with CKM_RSA_PKCS_OAEP using SHA-256 (MGF1 with SHA-256): "
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot destroy"), "{stderr}");
}
