//! A line's `time` against a PIN holder, who can re-chain and re-seal with the token's signer:
//! a time keyrite never writes is INVALID in all three verifiers alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::Ceremony;
use common::verifiers::{pin_holder_reseal_edited, verifier_codes, write_lines};
use serde_json::Value;

/// The login line's time with 60 seconds (`…T10:38:60Z`, RFC 3339's leap second), the
/// transcript re-chained and re-sealed by the token's signer.
#[test]
fn a_leap_second_time_is_invalid_in_all_three() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let values: Vec<Value> = c
        .transcript("t.jsonl")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let login = values.iter().position(|v| v["step"] == "login").unwrap();
    let time = values[login]["time"].as_str().unwrap().to_owned();
    let leap = format!("{}60Z", &time[..17]);
    let lines = pin_holder_reseal_edited(&c.token, "ceremony-signer", &values, |i, text| {
        if i == login {
            text.replace(&time, &leap)
        } else {
            text
        }
    });
    assert!(lines[login].contains(&leap), "{}", lines[login]);
    let file = c.dir().join("leap.jsonl");
    write_lines(&file, &lines);
    let codes = verifier_codes(
        &file,
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        None,
    );
    assert_eq!(codes, [1, 1, 1], "a leap-second time");
}
