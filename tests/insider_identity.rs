//! A custodian is a public key, not an encoding of one. A custodian who lists their own key a
//! second time under another name (as an `sk-` key: the same Ed25519 or P-256 key, with a FIDO
//! application around it) would count twice toward the threshold; a witness who is a custodian
//! would add no evidence. Each such policy is refused by every command that reads it, before any
//! token is opened.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, verifiers};
use common::*;
use ssh_key::PublicKey;
use ssh_key::public::{KeyData, SkEcdsaSha2NistP256, SkEd25519};

/// `key` written as its hardware-key (`sk-`) twin: the same public key, application `ssh:`.
fn as_sk(key: &str) -> String {
    let key = PublicKey::from_openssh(key).unwrap();
    let sk = match key.key_data() {
        KeyData::Ed25519(k) => KeyData::SkEd25519(SkEd25519::new(*k, "ssh:".to_owned())),
        KeyData::Ecdsa(ssh_key::public::EcdsaPublicKey::NistP256(point)) => {
            KeyData::SkEcdsaSha2NistP256(SkEcdsaSha2NistP256::new(*point, "ssh:".to_owned()))
        }
        other => panic!("no sk- form for {other:?}"),
    };
    PublicKey::new(sk, "dave@yubikey").to_openssh().unwrap()
}

/// A policy of threshold `threshold` with the given custodians and witnesses.
fn write_policy(
    c: &Ceremony,
    threshold: usize,
    custodians: &[(&str, String)],
    witnesses: &[(&str, String)],
) {
    let mut text = format!(
        "version = 1\nthreshold = {threshold}\nsigner_fingerprint = \"{}\"\n",
        c.signer_fingerprint
    );
    for (table, list) in [("custodians", custodians), ("witnesses", witnesses)] {
        for (name, key) in list {
            text.push_str(&format!(
                "\n[[{table}]]\nname = \"{name}\"\nssh_key = \"{key}\"\n"
            ));
        }
    }
    std::fs::write(c.dir().join("policy.toml"), text).unwrap();
}

/// Every command that reads the policy refuses it with `expected`, exit 2 (a policy that fails
/// its own checks is a usage error, as for verify), and nothing changes: no transcript, the
/// token's objects as they were.
fn assert_policy_refused(c: &Ceremony, expected: &str) {
    let before = c.token.objects();
    let refusals = [
        ("plan check", c.plan_check(), 2),
        ("ceremony run", c.run("t.jsonl"), 2),
    ];
    for (what, out, code) in refusals {
        assert_eq!(
            out.status.code(),
            Some(code),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_refused(&out.stderr, expected, what);
    }
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), before);
}

fn policy_error(reason: &str) -> String {
    format!("keyrite: policy.toml: {reason}\n")
}

#[test]
fn an_ed25519_key_written_again_as_an_sk_key_is_one_custodian() {
    let c = Ceremony::new(&["us-east-1"]);
    let alice = c.person("alice").public();
    write_policy(
        &c,
        2,
        &[("alice", alice.clone()), ("dave", as_sk(&alice))],
        &[],
    );
    c.digest();
    c.approve("alice", "keyrite-plan", "alice.sig");
    assert_policy_refused(
        &c,
        &policy_error(
            "custodians[1].ssh_key: the same key as \"alice\"'s (written another way, perhaps as an sk- key): one key is one person",
        ),
    );
}

#[test]
fn a_p256_key_written_again_as_an_sk_key_is_one_custodian() {
    let c = Ceremony::new(&["us-east-1"]);
    let bob = c.person("bob").public();
    let carol = c.person("carol").public();
    write_policy(
        &c,
        2,
        &[
            ("bob", bob.clone()),
            ("carol", carol),
            ("dave", as_sk(&bob)),
        ],
        &[],
    );
    assert_policy_refused(
        &c,
        &policy_error(
            "custodians[2].ssh_key: the same key as \"bob\"'s (written another way, perhaps as an sk- key): one key is one person",
        ),
    );
}

#[test]
fn a_witness_who_is_a_custodian_is_refused() {
    let c = Ceremony::new(&["us-east-1"]);
    let alice = c.person("alice").public();
    let bob = c.person("bob").public();
    for witness_key in [alice.clone(), as_sk(&alice)] {
        write_policy(
            &c,
            2,
            &[("alice", alice.clone()), ("bob", bob.clone())],
            &[("wendy", witness_key)],
        );
        assert_policy_refused(
            &c,
            &policy_error(
                "witnesses[0].ssh_key: \"wendy\"'s key is custodian \"alice\"'s: a witness's signature must be evidence from someone other than the custodians",
            ),
        );
    }
}

#[test]
fn the_three_verifiers_refuse_such_a_policy_too() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let alice = c.person("alice").public();
    let bob = c.person("bob").public();
    let policy = c.dir().join("policy.toml");
    let cases = [
        (
            vec![("alice", alice.clone()), ("dave", as_sk(&alice))],
            vec![],
            "custodians[1].ssh_key: the same key as \"alice\"'s (written another way, perhaps as an sk- key): one key is one person",
        ),
        (
            vec![("alice", alice.clone()), ("bob", bob)],
            vec![("wendy", as_sk(&alice))],
            "witnesses[0].ssh_key: \"wendy\"'s key is custodian \"alice\"'s: a witness's signature must be evidence from someone other than the custodians",
        ),
    ];
    for (custodians, witnesses, reason) in cases {
        write_policy(&c, 2, &custodians, &witnesses);
        let outputs = verifiers(
            &c.dir().join("t.jsonl"),
            &c.signer_pem,
            Some(&policy),
            None,
            &[],
        );
        for (name, out) in VERIFIERS.into_iter().zip(outputs) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
            assert!(stderr.contains(reason), "{name}: {stderr}");
        }
    }
}
