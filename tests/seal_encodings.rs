//! One seal, one encoding: a seal line whose signature is written another way — its base64
//! with padding bits set, or an RSA signature without its leading zero byte — is not the seal
//! keyrite wrote, and all three verifiers say INVALID. Either would otherwise let anyone, with
//! no key, write a second seal line that verifies, with another SHA-256 for witnesses to sign.
//! So is any line whose bytes are not those keyrite writes for it (keyrite's encoding): the
//! seal and witness lines, which no signature covers, and every other line too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::verifiers::{
    VERIFIERS, pin_holder_reseal, pin_holder_reseal_edited, verifier_codes, verifiers, write_lines,
};
use common::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Runs `tests/independent/NAME` with `args`; its exit status.
fn python(name: &str, args: &[&OsStr]) -> std::process::ExitStatus {
    Command::new(PYTHON)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/independent")
                .join(name),
        )
        .args(args)
        .status()
        .unwrap()
}

fn sealed(signer_args: &[&str]) -> Ceremony {
    let c = Ceremony::signed_by(TestToken::softhsm("ceremony"), &["us-east-1"], signer_args);
    c.approve_plan();
    c.run_approved("t.jsonl");
    c
}

/// The token's own ECDSA seal, its base64 rewritten with non-zero padding bits: the same
/// signature bytes, another encoding, no key needed.
#[test]
fn an_ecdsa_seal_in_non_canonical_base64_is_invalid_in_all_three() {
    // A DER ECDSA signature of 72 bytes leaves no padding bits; 70 and 71 (nearly all) do.
    for attempt in 0..4 {
        let c = sealed(&[]);
        let policy = c.dir().join("policy.toml");
        let honest = c.dir().join("t.jsonl");
        assert_eq!(
            verifier_codes(&honest, &c.signer_pem, Some(&policy), None),
            [0, 0, 0]
        );
        let edited = c.dir().join("noncanonical.jsonl");
        let status = python(
            "noncanonical_seal.py",
            &[honest.as_os_str(), edited.as_os_str()],
        );
        if status.code() == Some(3) {
            assert!(attempt < 3, "four signatures of 72 bytes in a row");
            continue;
        }
        assert!(status.success());
        assert_eq!(
            verifier_codes(&edited, &c.signer_pem, Some(&policy), None),
            [1, 1, 1]
        );
        return;
    }
}

/// An RSA-PSS seal with a leading zero byte, the byte stripped (383 bytes). A token's seal has
/// a leading zero once in 256; here the seal is made by a key of the test's own, found by
/// signing until one has it, and checked under `--no-policy` with that key as the signer.
#[test]
fn an_rsa_pss_seal_shorter_than_the_modulus_is_invalid_in_all_three() {
    let c = sealed(&["--algorithm", "rsa-pss-3072"]);
    let kms = Kms::new(c.dir(), 3072);
    let public = c.dir().join("own-public.pem");
    std::fs::write(&public, kms.public_pem()).unwrap();
    let honest = c.dir().join("t.jsonl");
    let full = c.dir().join("full.jsonl");
    let short = c.dir().join("short.jsonl");
    for (out, mode) in [(&full, "pss32"), (&short, "short")] {
        let args = [
            honest.as_os_str(),
            out.as_os_str(),
            kms.private_pem.as_os_str(),
            OsStr::new(mode),
        ];
        assert!(python("reseal_rsa.py", &args).success());
    }
    // Verified without a policy: every check that ran passed.
    assert_eq!(verifier_codes(&full, &public, None, None), [4, 4, 4]);
    assert_eq!(verifier_codes(&short, &public, None, None), [1, 1, 1]);
}

/// The JSON object `text` with its own keys (not those of the objects within) in reverse order.
fn keys_reversed(text: &str) -> String {
    let value: Value = serde_json::from_str(text).unwrap();
    let fields: Vec<String> = value
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// The line `line` with its data object's keys in reverse order.
fn data_keys_reversed(line: &str) -> String {
    let value: Value = serde_json::from_str(line).unwrap();
    let data = serde_json::to_string(&value["data"]).unwrap();
    assert!(line.contains(&data), "{line}");
    line.replacen(&data, &keys_reversed(&data), 1)
}

/// Runs the three verifiers on each `(what, lines)` with the policy, and returns every case
/// that one of them does not refuse as a line not in keyrite's encoding (exit 1, naming it).
fn not_refused(c: &Ceremony, cases: Vec<(&str, Vec<String>)>) -> Vec<String> {
    let policy = c.dir().join("policy.toml");
    let mut missed = Vec::new();
    for (n, (what, lines)) in cases.into_iter().enumerate() {
        let file = c.dir().join(format!("encoding-{n}.jsonl"));
        write_lines(&file, &lines);
        let outs: [Output; 3] = verifiers(&file, &c.signer_pem, Some(&policy), None, &[]);
        for (name, out) in VERIFIERS.iter().zip(&outs) {
            let said = String::from_utf8_lossy(&out.stdout);
            if out.status.code() != Some(1) || !said.contains("not in keyrite's encoding: ") {
                missed.push(format!(
                    "{what}: {name} exit {:?}: {said}",
                    out.status.code()
                ));
            }
        }
    }
    missed
}

/// A sealed and witnessed transcript whose seal line or witness line a file editor re-encodes,
/// with no key: a trailing space, keys in another order (of the line, of its data), spaces
/// after `:` and `,`, a `\u` escape of a plain character, a newline escaped `\u000a` or
/// `\u000A` instead of `\n`. Each would be a second line for the one seal, with another
/// SHA-256 (the message a witness signs); all three verifiers refuse each, naming the encoding.
#[test]
fn a_seal_or_witness_line_re_encoded_without_a_key_is_invalid_in_all_three() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    assert!(c.witness_sign("t.jsonl", "wendy").status.success());
    let text = std::fs::read_to_string(c.dir().join("t.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let policy = c.dir().join("policy.toml");
    assert_eq!(
        verifier_codes(&c.dir().join("t.jsonl"), &c.signer_pem, Some(&policy), None),
        [0, 0, 0]
    );
    let witness = lines.len() - 1;
    let seal = witness - 1;
    assert!(lines[seal].contains(r#""step":"seal""#));
    assert!(lines[witness].contains(r#""step":"witness""#));
    assert!(lines[witness].contains(r"\n"), "{}", lines[witness]);
    let spaced = |line: &str| line.replace("\":", "\": ").replace(",\"", ", \"");
    let edits: Vec<(&str, usize, String)> = vec![
        ("a trailing space", seal, format!("{} ", lines[seal])),
        (
            "the seal's keys reversed",
            seal,
            keys_reversed(&lines[seal]),
        ),
        (
            "the seal's step escaped",
            seal,
            lines[seal].replace(r#""step":"seal""#, r#""step":"\u0073eal""#),
        ),
        ("the seal spaced", seal, spaced(&lines[seal])),
        (
            "the witness line's keys reversed",
            witness,
            keys_reversed(&lines[witness]),
        ),
        (
            "the witness data's keys reversed",
            witness,
            data_keys_reversed(&lines[witness]),
        ),
        ("the witness line spaced", witness, spaced(&lines[witness])),
        (
            "a newline as \\u000a",
            witness,
            lines[witness].replacen(r"\n", r"\u000a", 1),
        ),
        (
            "a newline as \\u000A",
            witness,
            lines[witness].replacen(r"\n", r"\u000A", 1),
        ),
        (
            "the witness's name escaped",
            witness,
            lines[witness].replace(r#""name":"wendy""#, r#""name":"w\u0065ndy""#),
        ),
    ];
    let mut cases = Vec::new();
    for (what, at, line) in edits {
        assert_ne!(Sha256::digest(&line), Sha256::digest(&lines[at]), "{what}");
        let mut edited = lines.clone();
        edited[at] = line;
        // A seal line re-encoded is still what a witness signs the SHA-256 of: drop the witness.
        if at == seal {
            edited.truncate(seal + 1);
        }
        cases.push((what, edited));
    }
    let missed = not_refused(&c, cases);
    assert!(missed.is_empty(), "{missed:#?}");
}

/// The same rule for every line: a PIN holder re-chains lines re-encoded — a `\/`, data keys in
/// another order, a character escaped — or holding a field keyrite leaves out when it is empty
/// (a login's `share_indexes` as null, a key's `discarded` as 0 or `check_values` as `{}`), and
/// seals the chain with the token's own key. All three verifiers refuse each, naming the
/// encoding.
#[test]
fn a_chained_line_not_in_keyrites_encoding_is_invalid_in_all_three() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let values: Vec<Value> = c
        .transcript("t.jsonl")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let at = |step: &str| values.iter().position(|v| v["step"] == step).unwrap();
    let (token, policy, login, generated) =
        (at("token"), at("policy"), at("login"), at("generated"));
    assert!(values[login]["data"].get("share_indexes").is_none());
    assert!(values[generated]["data"]["key"].get("discarded").is_none());
    let edited = |line: usize, edit: fn(String) -> String| {
        pin_holder_reseal_edited(&c.token, "ceremony-signer", &values, |i, text| {
            if i == line { edit(text) } else { text }
        })
    };
    let mut cases = vec![
        (
            "a slash escaped",
            edited(token, |text| {
                assert!(text.contains('/'));
                text.replacen('/', r"\/", 1)
            }),
        ),
        (
            "the policy data's keys reversed",
            edited(policy, |text| data_keys_reversed(&text)),
        ),
        (
            "a letter escaped",
            edited(login, |text| {
                text.replacen(r#""step":"login""#, r#""step":"\u006cogin""#, 1)
            }),
        ),
    ];
    let mut with = |what, line: usize, field: &[&str], value: Value| {
        let mut v = values.clone();
        let mut at = &mut v[line]["data"];
        for f in &field[..field.len() - 1] {
            at = &mut at[*f];
        }
        assert!(at.get(field[field.len() - 1]).is_none(), "{what}");
        at[field[field.len() - 1]] = value;
        cases.push((what, pin_holder_reseal(&c.token, "ceremony-signer", &v)));
    };
    with("share_indexes null", login, &["share_indexes"], Value::Null);
    with(
        "discarded 0",
        generated,
        &["key", "discarded"],
        Value::from(0),
    );
    if values[generated]["data"]["key"]
        .get("check_values")
        .is_none()
    {
        with(
            "check_values {}",
            generated,
            &["key", "check_values"],
            serde_json::json!({}),
        );
    }
    let missed = not_refused(&c, cases);
    assert!(missed.is_empty(), "{missed:#?}");
}
