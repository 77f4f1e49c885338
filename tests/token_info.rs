//! `keyrite token info` on SoftHSM2: what the token really supports, found by trial, no PIN.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

#[test]
fn softhsm2_offers_oaep_sha1_and_pkcs1_but_not_oaep_sha256() {
    let hsm = TestToken::softhsm("ceremony");
    let out = run_ok(
        hsm.keyrite()
            .env_remove(PIN_ENV)
            .args(["token", "info", "--json"]),
    );
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["module"], SOFTHSM2);
    let tokens = report["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(t["label"], "ceremony");
    assert_eq!(t["manufacturer"], "SoftHSM project");
    assert_eq!(t["model"], "SoftHSM v2");
    let support: Vec<(String, bool, String)> = t["wrapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["algorithm"].as_str().unwrap().to_owned(),
                a["supported"].as_bool().unwrap(),
                a["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("RSAES_OAEP_SHA_1", true, "trial wrap with SHA-1 succeeded"),
        (
            "RSAES_OAEP_SHA_256",
            false,
            "a trial wrap failed: C_WrapKey returned CKR_ARGUMENTS_BAD",
        ),
        (
            "RSA_AES_KEY_WRAP_SHA_1",
            true,
            "trial wrap with SHA-1 succeeded; CKM_AES_KEY_WRAP_PAD passed the RFC 5649 known-answer test",
        ),
        (
            "RSA_AES_KEY_WRAP_SHA_256",
            false,
            "a trial wrap failed: C_WrapKey returned CKR_ARGUMENTS_BAD",
        ),
        (
            "RSAES_PKCS1_V1_5",
            true,
            "trial wrap succeeded (legacy: needs --allow-legacy-pkcs1)",
        ),
    ]
    .map(|(a, s, d)| (a.to_owned(), s, d.to_owned()));
    assert_eq!(support, expected);
    assert_eq!(t["kcv"], "aes-ecb-zero-3 (read from the token)");
    assert_eq!(t["key_pairs"]["rsa"], false);
    assert_eq!(t["key_pairs"]["ec"], false);
    assert_eq!(
        t["key_pairs"]["detail"],
        "a key pair's PKCS#8 is not a multiple of 8 bytes long, so it needs AES key wrap with \
         padding (RFC 5649), tried on a 67-byte secret: token \"ceremony\" has no AES key wrap with padding (RFC 5649) keyrite can trust: \
         CKM_AES_KEY_WRAP_PAD: it wrapped a 67-byte secret (standing for the PKCS#8 of an EC_P256 \
         private key) of known value to 80 bytes that differ from RFC 5649"
    );
    // The trials used session objects only.
    assert!(hsm.objects().is_empty());

    let text = String::from_utf8(run_ok(hsm.keyrite().args(["token", "info"]))).unwrap();
    assert!(text.contains("Token \"ceremony\""), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>()
                == ["RSAES_OAEP_SHA_256", "no", "CKM_RSA_PKCS_OAEP:"]),
        "{text}"
    );
}

#[test]
fn token_info_logs_in_when_asked() {
    let hsm = TestToken::softhsm("ceremony");
    run_ok(hsm.keyrite().args(["token", "info", "--pin-env", PIN_ENV]));
    let out =
        run(hsm
            .keyrite()
            .env(PIN_ENV, "wrong")
            .args(["token", "info", "--pin-env", PIN_ENV]));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: token \"ceremony\" refused the PIN (CKR_PIN_INCORRECT)\n\
         Check the PIN: most tokens lock the user PIN after a few wrong attempts (SoftHSM2 never does).\n"
    );
}

/// A PIN is tried on one token only: with several tokens, `--token` must say which.
#[test]
fn token_info_logs_in_to_one_named_token_only() {
    let hsm = TestToken::softhsm("first");
    hsm.init_token("second");
    let out = run(hsm.keyrite().args(["token", "info", "--pin-env", PIN_ENV]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: name the token with --token LABEL; tokens found: \"first\", \"second\"\n\
         Run `keyrite token info` to list the tokens, then pass --token LABEL.\n"
    );
    let report: Value = serde_json::from_slice(&run_ok(hsm.keyrite().args([
        "token",
        "info",
        "--json",
        "--token",
        "second",
        "--pin-env",
        PIN_ENV,
    ])))
    .unwrap();
    let labels: Vec<&str> = report["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["second"]);
    let all: Value =
        serde_json::from_slice(&run_ok(hsm.keyrite().args(["token", "info", "--json"]))).unwrap();
    assert_eq!(all["tokens"].as_array().unwrap().len(), 2);
}
