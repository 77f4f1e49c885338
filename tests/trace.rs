//! `--trace FILE` (or `KEYRITE_TRACE`) on a real SoftHSM2 token: every PKCS#11 call is a JSON
//! line with its function, arguments, return code and duration; the PIN, its shares, the key
//! material and the wrapped key appear in it in no form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use base64::Engine as _;
use common::ceremony::Ceremony;
use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::Value;

/// The trace's lines, each checked to be an object with a function, a return code and a
/// duration in microseconds.
fn trace_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(!text.is_empty(), "the trace is empty");
    assert!(text.ends_with('\n'));
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(v["fn"].as_str().unwrap().starts_with("C_"), "{line}");
            assert!(v["args"].is_object(), "{line}");
            assert!(v["rv"].as_str().unwrap().starts_with("CKR_"), "{line}");
            assert!(v["us"].is_u64(), "{line}");
            v
        })
        .collect()
}

/// The lines of calls to `function`.
fn calls<'a>(lines: &'a [Value], function: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["fn"] == function).collect()
}

/// Asserts `secret` is nowhere in the trace: not as bytes, hex (either case) or base64 (with or
/// without padding, standard or URL-safe).
fn assert_absent(trace: &[u8], secret: &[u8], what: &str) {
    assert!(!secret.is_empty(), "{what} is empty");
    let text = String::from_utf8_lossy(trace).to_lowercase();
    let forms = [
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    assert!(
        !trace.windows(secret.len()).any(|w| w == secret),
        "{what} is in the trace"
    );
    assert!(
        !text.contains(&hex::encode(secret)),
        "{what} is in the trace as hex"
    );
    for form in forms {
        assert!(
            !String::from_utf8_lossy(trace).contains(&form),
            "{what} is in the trace as base64"
        );
    }
}

fn assert_no_pin(trace: &[u8]) {
    assert_absent(trace, PIN.as_bytes(), "the PIN");
    // Not even its length: C_Login says which user, and that is all.
    let lines = trace_lines_of(trace);
    let logins = calls(&lines, "C_Login");
    assert!(!logins.is_empty());
    for login in logins {
        let args = login["args"].as_object().unwrap();
        let mut keys: Vec<&str> = args.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["session", "user"], "{login}");
        assert_eq!(login["args"]["user"], "CKU_USER");
        assert!(login.get("out").is_none_or(Value::is_null), "{login}");
    }
}

fn trace_lines_of(trace: &[u8]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace");
    std::fs::write(&path, trace).unwrap();
    trace_lines(&path)
}

#[test]
fn a_traced_wrap_names_every_call_and_holds_no_pin_and_no_key_bytes() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    let traced = Wrap::aws(&params)
        .algorithm(OAEP_SHA1)
        .label("payments-2026")
        .out("import-payments")
        .pin()
        .args(["--trace", "trace.jsonl"])
        .ok(&hsm);
    assert!(
        String::from_utf8(traced)
            .unwrap()
            .contains("Next: sh import-payments/import.sh")
    );

    let path = hsm.path("trace.jsonl");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let lines = trace_lines(&path);
    assert_eq!(lines[0]["fn"], "C_Initialize");
    for function in [
        "C_GetSlotList",
        "C_GetTokenInfo",
        "C_OpenSession",
        "C_Login",
        "C_GenerateKey",
        "C_CreateObject",
        "C_WrapKey",
        "C_DestroyObject",
    ] {
        let found = calls(&lines, function);
        assert!(!found.is_empty(), "no {function} in the trace");
        assert!(found.iter().any(|l| l["rv"] == "CKR_OK"), "{function}");
    }
    // The ceremony key's generation: its template, with the label, and no value.
    let generated = calls(&lines, "C_GenerateKey")
        .into_iter()
        .find(|l| l["args"]["template"]["CKA_LABEL"] == "payments-2026")
        .expect("the ceremony key's C_GenerateKey");
    assert_eq!(generated["rv"], "CKR_OK");
    assert_eq!(generated["args"]["mechanism"]["mech"], "CKM_AES_KEY_GEN");
    assert_eq!(generated["args"]["template"]["CKA_VALUE_LEN"], 32);
    assert_eq!(generated["args"]["template"]["CKA_SENSITIVE"], true);
    assert!(generated["out"].is_u64());
    // The wrap of that key: the mechanism's parameters, the handles, the output's length.
    let wrapped = std::fs::read(hsm.path("import-payments/EncryptedKeyMaterial.bin")).unwrap();
    let wrap = calls(&lines, "C_WrapKey")
        .into_iter()
        .find(|l| l["args"]["key"] == generated["out"])
        .expect("the C_WrapKey of the ceremony key");
    assert_eq!(wrap["rv"], "CKR_OK");
    assert_eq!(
        wrap["args"]["mechanism"],
        serde_json::json!({
            "mech": "CKM_RSA_PKCS_OAEP",
            "hash": "CKM_SHA_1",
            "mgf": "CKG_MGF1_SHA1",
            "source_len": 0,
        })
    );
    assert_eq!(wrap["out"]["len"], wrapped.len());
    // The imported KMS public key: the modulus's length only.
    let import = calls(&lines, "C_CreateObject")
        .into_iter()
        .find(|l| l["args"]["template"]["CKA_CLASS"] == "CKO_PUBLIC_KEY")
        .expect("the import of the KMS public key");
    assert_eq!(
        import["args"]["template"]["CKA_MODULUS"],
        serde_json::json!({ "len": 256 })
    );

    let trace = std::fs::read(&path).unwrap();
    assert_no_pin(&trace);
    assert_absent(&trace, &wrapped, "the wrapped key");
    let material = kms.unwrap_rsa_crate(&wrapped, OAEP_SHA1);
    assert_absent(&trace, &material, "the key material");
    // Nor any random bytes or digests: what the token returned is a length.
    for function in ["C_GenerateRandom", "C_DigestFinal", "C_WrapKey"] {
        for line in calls(&lines, function) {
            if line["rv"] == "CKR_OK" {
                assert!(line["out"]["len"].is_u64(), "{line}");
                assert_eq!(line["out"].as_object().unwrap().len(), 1, "{line}");
            }
        }
    }
}

#[test]
fn a_refused_wrap_is_traced_with_its_return_code_and_the_same_message() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    let wrap = || {
        Wrap::aws(&params)
            .algorithm("RSAES_OAEP_SHA_256")
            .label("payments-2026")
            .out("import-payments")
            .pin()
    };
    let plain = wrap().run(&hsm);
    // KEYRITE_TRACE names the trace as --trace does.
    let mut cmd = wrap().command(&hsm);
    let traced = run(cmd.env("KEYRITE_TRACE", "trace.jsonl"));
    assert_eq!(traced.status.code(), Some(1));
    assert_eq!(traced.status.code(), plain.status.code());
    assert_eq!(traced.stdout, plain.stdout);
    assert_eq!(
        String::from_utf8(traced.stderr).unwrap(),
        "keyrite: token \"ceremony\" cannot wrap with CKM_RSA_PKCS_OAEP using SHA-256 \
         (MGF1 with SHA-256): a trial wrap failed: C_WrapKey returned CKR_ARGUMENTS_BAD\n\
         keyrite never falls back to another algorithm: use a token that supports this \
         one (see `keyrite token info`), or ask the KMS for another wrapping algorithm.\n"
    );
    let lines = trace_lines(&hsm.path("trace.jsonl"));
    let refused: Vec<&Value> = calls(&lines, "C_WrapKey")
        .into_iter()
        .filter(|l| l["rv"] == "CKR_ARGUMENTS_BAD")
        .collect();
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert_eq!(refused[0]["args"]["mechanism"]["hash"], "CKM_SHA256");
    assert_eq!(refused[0]["args"]["mechanism"]["mgf"], "CKG_MGF1_SHA256");
    assert!(refused[0].get("out").is_none());
    // What keyrite cleaned up after the refusal is traced too.
    let last_wrap = lines.iter().rposition(|l| l["fn"] == "C_WrapKey").unwrap();
    assert!(
        lines[last_wrap..]
            .iter()
            .any(|l| l["fn"] == "C_DestroyObject" && l["rv"] == "CKR_OK")
    );
    assert_no_pin(&std::fs::read(hsm.path("trace.jsonl")).unwrap());
}

#[test]
fn a_traced_ceremony_with_pin_shares_holds_no_pin_and_no_share() {
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    let mut cmd = c.run_command("t.jsonl");
    // The PIN itself is not available to this run: only the shares are.
    cmd.env_remove(PIN_ENV);
    cmd.args(["--pin-share", "shares/share-1.txt"])
        .args(["--pin-share", "shares/share-3.txt"])
        .args(["--trace", "ceremony-trace.jsonl"]);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.assert_verifies("t.jsonl");

    let path = c.dir().join("ceremony-trace.jsonl");
    let lines = trace_lines(&path);
    for function in [
        "C_Login",
        "C_GenerateKey",
        "C_WrapKey",
        "C_Sign",
        "C_DigestKey",
    ] {
        assert!(
            calls(&lines, function).iter().any(|l| l["rv"] == "CKR_OK"),
            "no C_OK {function} in the trace"
        );
    }
    assert!(
        calls(&lines, "C_GenerateKey")
            .iter()
            .any(|l| l["args"]["template"]["CKA_LABEL"] == "payments-2026")
    );
    for sign in calls(&lines, "C_Sign") {
        assert_eq!(sign["args"]["mechanism"]["mech"], "CKM_ECDSA");
        assert_eq!(sign["out"], serde_json::json!({ "len": 64 }));
    }

    let trace = std::fs::read(&path).unwrap();
    assert_no_pin(&trace);
    for i in 1..=3 {
        let share = std::fs::read_to_string(c.dir().join(format!("shares/share-{i}.txt"))).unwrap();
        assert_absent(&trace, share.as_bytes(), "a PIN share file");
        assert_absent(&trace, share.trim().as_bytes(), "a PIN share");
    }
    let wrapped = std::fs::read(
        c.dir()
            .join("payments-2026-us-east-1/EncryptedKeyMaterial.bin"),
    )
    .unwrap();
    assert_absent(&trace, &wrapped, "the wrapped key");
    let material = c.regions[0].kms.unwrap_rsa_crate(&wrapped, OAEP_SHA1);
    assert_absent(&trace, &material, "the key material");
}

#[test]
fn a_trace_onto_an_existing_file_is_refused_and_the_file_unchanged() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    std::fs::write(hsm.path("trace.jsonl"), b"an earlier trace\n").unwrap();
    let out = Wrap::aws(&params)
        .algorithm(OAEP_SHA1)
        .label("payments-2026")
        .out("import-payments")
        .pin()
        .args(["--trace", "trace.jsonl"])
        .run(&hsm);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: cannot create the PKCS#11 trace trace.jsonl: File exists (os error 17)\n\
         Name a new file for --trace (or KEYRITE_TRACE): keyrite never replaces a file, and nothing was done on the token.\n"
    );
    assert_eq!(
        std::fs::read(hsm.path("trace.jsonl")).unwrap(),
        b"an earlier trace\n"
    );
    // Refused before anything was done on the token.
    assert!(!hsm.path("import-payments").exists());
    assert!(hsm.keys_listed().as_array().unwrap().is_empty());
}
