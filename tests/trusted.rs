//! `CKA_WRAP_WITH_TRUSTED`: the security officer stores a KMS key as trusted, a key made with
//! `--wrap-with-trusted` wraps under it and under nothing else — checked by keyrite's own
//! refusal and by an independent PyKCS11 attempt — and a token that cannot trust a key says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::wrap::Wrap;
use common::*;
use serde_json::Value;

const SO_ENV: &str = "KR_TEST_SO_PIN";

/// `token trust-wrapping-key` of the key in `params`, with `so_pin` as the officer's PIN.
fn trust(token: &TestToken, params: &str, so_pin: &str) -> std::process::Output {
    run(token.keyrite().env(SO_ENV, so_pin).args([
        "token",
        "trust-wrapping-key",
        "--provider",
        "aws",
        "--params",
        params,
        "--key-label",
        "kms-us-east-1",
        "--so-pin-env",
        SO_ENV,
    ]))
}

/// `keyrite wrap` or `keyrite rewrap` of "payments" for AWS with OAEP SHA-1.
fn wrap(
    token: &TestToken,
    command: &str,
    params: &str,
    out: &str,
    extra: &[&str],
) -> std::process::Output {
    Wrap::new(command)
        .aws_oaep_sha1(params, "payments", out)
        .pin()
        .args(extra)
        .run(token)
}

#[test]
fn softhsm_wraps_a_trusted_only_key_under_the_officers_key_and_nothing_else() {
    let token = TestToken::softhsm("ceremony");
    let kms = aws_kms(token.dir.path(), "p.json");

    // The user PIN is not the security officer's.
    let out = trust(&token, "p.json", PIN);
    assert_eq!(
        String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
        "keyrite: token \"ceremony\" refused the PIN (CKR_PIN_INCORRECT)"
    );
    let out = trust(&token, "p.json", SO_PIN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = wrap(&token, "wrap", "p.json", "first", &["--wrap-with-trusted"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrapped = std::fs::read(token.path("first/EncryptedKeyMaterial.bin")).unwrap();
    let material = kms.unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1");
    assert_eq!(material.len(), 32);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(token.path("first/manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["key"]["template"]["CKA_WRAP_WITH_TRUSTED"], "true");
    let listed: Value = token.keys_listed();
    assert_eq!(listed[0]["wrap_with_trusted"], true);

    // The token itself refuses any other wrapping key: PyKCS11 tries one of its own.
    assert_eq!(
        token.wrap_attempt("payments"),
        "refused CKR_KEY_NOT_WRAPPABLE"
    );

    // A rewrap under a KMS key nobody trusted stops before wrapping, nothing written.
    let _other = aws_kms(token.dir.path(), "other.json");
    let kcv = listed[0]["kcv"].as_str().unwrap();
    let out = wrap(
        &token,
        "rewrap",
        "other.json",
        "second",
        &["--expect-kcv", kcv],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(
            "keyrite: token \"ceremony\" holds no key marked CKA_TRUSTED with the wrapping public key of SHA-256 "
        ),
        "{stderr}"
    );
    assert!(!token.path("second").exists());

    // Under the trusted key again: the same material.
    let out = wrap(&token, "rewrap", "p.json", "third", &["--expect-kcv", kcv]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = std::fs::read(token.path("third/EncryptedKeyMaterial.bin")).unwrap();
    assert_eq!(kms.unwrap_rsa_crate(&again, "RSAES_OAEP_SHA_1"), material);
}

#[test]
fn rsa_aes_cannot_wrap_a_trusted_only_key() {
    let token = TestToken::softhsm("ceremony");
    let _kms = aws_kms(token.dir.path(), "p.json");
    let out = Wrap::new("wrap")
        .arg("--wrap-with-trusted")
        .provider("aws", "p.json")
        .algorithm("RSA_AES_KEY_WRAP_SHA_1")
        .label("payments")
        .out("first")
        .args(["--module", "/nonexistent/module.so"])
        .run(&token);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: RSA_AES_KEY_WRAP_SHA_1 cannot wrap a CKA_WRAP_WITH_TRUSTED key: its ephemeral AES key would itself need CKA_TRUSTED, which only the security officer can set; use RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1\n"
    );
}

#[test]
fn kryoptic_cannot_trust_a_key_and_says_so() {
    let token = TestToken::kryoptic("ceremony");
    let _kms = aws_kms(token.dir.path(), "p.json");
    let info: Value =
        serde_json::from_slice(&run_ok(token.keyrite().args(["token", "info", "--json"]))).unwrap();
    assert_eq!(
        info["tokens"][0]["wrap_with_trusted"]["trusted_set_by"],
        "nobody"
    );
    let out = trust(&token, "p.json", SO_PIN);
    assert_eq!(
        String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
        "keyrite: token \"ceremony\" would not store a CKA_TRUSTED wrapping key: C_CreateObject returned CKR_ATTRIBUTE_TYPE_INVALID"
    );
    let out = wrap(&token, "wrap", "p.json", "first", &["--wrap-with-trusted"]);
    // The token can hold no trusted key, so the refusal says so rather than send the user to
    // `token trust-wrapping-key`, just refused.
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: token \"ceremony\" lacks CKA_WRAP_WITH_TRUSTED: it does not know CKA_TRUSTED, and refused the trial wrap of a CKA_WRAP_WITH_TRUSTED key (CKR_WRAPPING_KEY_HANDLE_INVALID): such a key can never be wrapped there\n\
         No key on this token can be wrapped only under a trusted key, and trust-wrapping-key cannot change that: leave out --wrap-with-trusted (or wrap_with_trusted in the plan), or use a token whose `keyrite token info` says CKA_WRAP_WITH_TRUSTED: enforced.\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        token
            .objects()
            .iter()
            .all(|o| o["class"] != "CKO_SECRET_KEY"),
        "no key was generated"
    );
}

/// A plan's generate step can ask for `wrap_with_trusted`; the ceremony wraps under the trusted
/// KMS key, and the transcript verifies.
#[test]
fn a_ceremony_generates_a_trusted_only_key() {
    use common::ceremony::Ceremony;
    let c = Ceremony::new(&["us-east-1"]);
    let out = trust(&c.token, "params/us-east-1.json", SO_PIN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.write_policy(2);
    c.write_plan("payments", "RSAES_OAEP_SHA_1");
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let plan = plan.replacen(
        "action = \"generate\"\nkey_label = \"payments\"\n",
        "action = \"generate\"\nkey_label = \"payments\"\nwrap_with_trusted = true\n",
        1,
    );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.run_approved("t.jsonl");
    let generated = c
        .transcript("t.jsonl")
        .into_iter()
        .find(|(_, v)| v["step"] == "generated")
        .unwrap();
    assert_eq!(
        generated.1["data"]["key"]["template"]["CKA_WRAP_WITH_TRUSTED"],
        "true"
    );
    c.assert_verifies("t.jsonl");
    assert_eq!(
        c.token.wrap_attempt("payments"),
        "refused CKR_KEY_NOT_WRAPPABLE"
    );
}

/// On kryoptic, which can hold no trusted key, a plan whose generate step asks for
/// `wrap_with_trusted` is refused before anything is generated, naming what the token lacks,
/// rather than generate a key that could never be wrapped.
#[test]
fn a_ceremony_on_kryoptic_refuses_a_trusted_only_key_before_generating_it() {
    use common::ceremony::Ceremony;
    let c = Ceremony::on(TestToken::kryoptic("ceremony"), &["us-east-1"]);
    c.write_plan("payments", "RSAES_OAEP_SHA_1");
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let plan = plan.replacen(
        "action = \"generate\"\nkey_label = \"payments\"\n",
        "action = \"generate\"\nkey_label = \"payments\"\nwrap_with_trusted = true\n",
        1,
    );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.approve_plan();
    let objects = c.token.objects();
    let out = c.run("t.jsonl");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: token \"ceremony\" lacks CKA_WRAP_WITH_TRUSTED: it does not know CKA_TRUSTED, and refused the trial wrap of a CKA_WRAP_WITH_TRUSTED key (CKR_WRAPPING_KEY_HANDLE_INVALID): such a key can never be wrapped there\n\
         No key on this token can be wrapped only under a trusted key, and trust-wrapping-key cannot change that: leave out --wrap-with-trusted (or wrap_with_trusted in the plan), or use a token whose `keyrite token info` says CKA_WRAP_WITH_TRUSTED: enforced.\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(c.token.objects(), objects, "the token's objects changed");
}
