//! Every object keyrite leaves on a token, read back by PyKCS11 (`token_objects.py`, which
//! shares no code with keyrite) attribute by attribute, on SoftHSM2 and on kryoptic: a ceremony
//! (its signer, its marker, its key), wraps of secret keys and of key pairs, a backup key and a
//! trusted wrapping key. Each object must have exactly the attributes listed here — every usage
//! false unless the object needs it, whatever the token's defaults (SoftHSM2's are true for
//! most usages) — and the token must hold nothing else. Objects that live only in a session
//! (ephemeral, trial and known-answer keys, imported KMS keys) are checked by the unit tests of
//! their templates (`src/hsm/usage.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;
use serde_json::{Map, Value, json};

const SO_ENV: &str = "KR_TEST_SO_PIN";

/// Attributes every object keyrite makes has: a token object, copyable and destroyable (keyrite
/// destroys what a failed run made, and `keys destroy` what the team retires).
fn storage(private: bool) -> Map<String, Value> {
    let Value::Object(m) = json!({
        "token": true,
        "private": private,
        "modifiable": false,
        "copyable": true,
        "destroyable": true,
    }) else {
        unreachable!()
    };
    m
}

/// `storage` with `more` added.
fn with(private: bool, more: Value) -> Value {
    let mut m = storage(private);
    let Value::Object(more) = more else {
        unreachable!()
    };
    m.extend(more);
    Value::Object(m)
}

/// A ceremony key of a secret kind: sensitive, extractable only to be wrapped, no usage at all.
fn ceremony_secret() -> Value {
    with(
        true,
        json!({
            "sensitive": true, "extractable": true, "always_sensitive": true,
            "never_extractable": false, "local": true, "encrypt": false, "decrypt": false,
            "sign": false, "verify": false, "wrap": false, "unwrap": false, "derive": false,
            "wrap_with_trusted": false, "trusted": false,
        }),
    )
}

/// A private key with the given usages granted (all others false).
fn private_key(extractable: bool, granted: &[&str]) -> Value {
    let mut m = json!({
        "sensitive": true, "extractable": extractable, "always_sensitive": true,
        "never_extractable": !extractable, "local": true, "decrypt": false, "sign": false,
        "sign_recover": false, "unwrap": false, "derive": false, "wrap_with_trusted": false,
        "always_authenticate": false,
    });
    for g in granted {
        m[*g] = json!(true);
    }
    with(true, m)
}

/// A public key object, private or not, with the given usages granted (all others false).
fn public_key(private: bool, local: bool, granted: &[&str], trusted: bool) -> Value {
    let mut m = json!({
        "local": local, "encrypt": false, "verify": false, "verify_recover": false,
        "wrap": false, "derive": false, "trusted": trusted,
    });
    for g in granted {
        m[*g] = json!(true);
    }
    with(private, m)
}

/// Runs keyrite with the PIN and asserts it succeeded.
fn keyrite_ok(token: &TestToken, args: &[&str]) -> Vec<u8> {
    run_ok(token.keyrite().args(args).args(["--pin-env", PIN_ENV]))
}

/// On `token` (labelled "ceremony"): a ceremony, two standalone wraps, key pairs where the token
/// can wrap them, a backup key and a trusted wrapping key; then every object left, logged in
/// and not, against what it must be.
fn every_object_has_exactly_its_attributes(token: TestToken) {
    let kryoptic = token.kind == Kind::Kryoptic;
    let c = Ceremony::on(token, &["eu-west-1"]);
    c.run_approved("ceremony.jsonl");
    let token = &c.token;
    let params = "params/eu-west-1.json";
    let wrap = |label: &str, algorithm: &str, spec: &str| {
        Wrap::aws(params)
            .algorithm(algorithm)
            .spec(spec)
            .label(label)
            .out(label)
            .pin()
            .ok(token);
    };
    wrap("standalone-aes", "RSAES_OAEP_SHA_1", "AES_256");
    wrap("standalone-hmac", "RSAES_OAEP_SHA_1", "HMAC_256");
    // SoftHSM2's RFC 5649 fails the known-answer test for a private key's length
    // (tests/asymmetric.rs): it wraps no key pair, and leaves none.
    let pairs: &[(&str, &str)] = if kryoptic {
        &[("pair-rsa", "RSA_2048"), ("pair-ec", "EC_P256")]
    } else {
        &[]
    };
    for (label, spec) in pairs {
        wrap(label, "RSA_AES_KEY_WRAP_SHA_256", spec);
    }
    keyrite_ok(
        token,
        &[
            "token",
            "backup-key",
            "create",
            "--key-label",
            "backup-2026",
        ],
    );
    // Only the security officer marks a key trusted; kryoptic knows no CKA_TRUSTED at all.
    let trusted = run(token.keyrite().env(SO_ENV, SO_PIN).args([
        "token",
        "trust-wrapping-key",
        "--provider",
        "aws",
        "--params",
        params,
        "--key-label",
        "kms-trusted",
        "--so-pin-env",
        SO_ENV,
    ]));
    assert_eq!(
        trusted.status.success(),
        !kryoptic,
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );

    let mut expected = vec![
        (
            "CKO_PRIVATE_KEY",
            "ceremony-signer",
            private_key(false, &["sign"]),
        ),
        (
            "CKO_PUBLIC_KEY",
            "ceremony-signer",
            public_key(true, true, &["verify"], false),
        ),
        (
            "CKO_DATA",
            "keyrite-ceremony:payments-2026",
            with(true, json!({"application": "keyrite"})),
        ),
        ("CKO_SECRET_KEY", "payments-2026", ceremony_secret()),
        ("CKO_SECRET_KEY", "standalone-aes", ceremony_secret()),
        ("CKO_SECRET_KEY", "standalone-hmac", ceremony_secret()),
        (
            "CKO_PRIVATE_KEY",
            "backup-2026",
            private_key(false, &["unwrap"]),
        ),
        (
            "CKO_PUBLIC_KEY",
            "backup-2026",
            public_key(false, true, &["wrap"], false),
        ),
    ];
    for (label, _) in pairs {
        expected.push(("CKO_PRIVATE_KEY", label, private_key(true, &[])));
        expected.push(("CKO_PUBLIC_KEY", label, public_key(true, true, &[], false)));
    }
    if !kryoptic {
        expected.push((
            "CKO_PUBLIC_KEY",
            "kms-trusted",
            public_key(false, false, &["wrap"], true),
        ));
    }

    let objects = token.objects();
    let mut found: Vec<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["class"].as_str().unwrap().to_owned(),
                o["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut wanted: Vec<(String, String)> = expected
        .iter()
        .map(|(class, label, _)| ((*class).to_owned(), (*label).to_owned()))
        .collect();
    wanted.sort();
    assert_eq!(found, wanted, "{kryoptic}: the objects on the token");
    for (class, label, attributes) in &expected {
        let object = objects
            .iter()
            .find(|o| o["class"] == *class && o["label"] == *label)
            .unwrap();
        assert_eq!(
            object["attributes"], *attributes,
            "kryoptic {kryoptic}: {class} {label:?}"
        );
        if *class != "CKO_DATA" && *class != "CKO_PUBLIC_KEY" {
            assert_eq!(object["value_readable"], false, "{class} {label:?}");
        }
    }
    // A pair's two objects share their CKA_ID.
    for label in ["ceremony-signer", "backup-2026"]
        .into_iter()
        .chain(pairs.iter().map(|(l, _)| *l))
    {
        let ids: Vec<&Value> = objects
            .iter()
            .filter(|o| o["label"] == label)
            .map(|o| &o["id"])
            .collect();
        assert_eq!(ids.len(), 2, "{label}");
        assert_eq!(ids[0], ids[1], "{label}");
        assert!(ids[0].as_str().is_some_and(|id| id.len() == 32), "{label}");
    }

    // Without the PIN a session sees the public objects only: the backup key's public key, which
    // anyone may use to make a backup, and the trusted KMS key.
    let mut public: Vec<(String, String)> = token
        .objects_as(None)
        .iter()
        .map(|o| {
            (
                o["class"].as_str().unwrap().to_owned(),
                o["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    public.sort();
    let mut expected_public = vec![("CKO_PUBLIC_KEY".to_owned(), "backup-2026".to_owned())];
    if !kryoptic {
        expected_public.push(("CKO_PUBLIC_KEY".to_owned(), "kms-trusted".to_owned()));
    }
    assert_eq!(public, expected_public);
}

#[test]
fn every_object_keyrite_leaves_on_softhsm2_has_exactly_its_attributes() {
    every_object_has_exactly_its_attributes(TestToken::softhsm("ceremony"));
}

#[test]
fn every_object_keyrite_leaves_on_kryoptic_has_exactly_its_attributes() {
    every_object_has_exactly_its_attributes(TestToken::kryoptic("ceremony"));
}
