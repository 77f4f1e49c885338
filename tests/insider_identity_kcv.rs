//! A key is known by more than its label and a 3-byte KCV. Whoever knows a key's material can
//! make one whose 3-byte KCV is any value they want in about 2^24 tries (seconds), and anyone
//! on the host can create a public key object without the PIN. So rewrap, destroy and resume
//! take the one key of a label, a private object, and believe a 6-hex KCV only for a key
//! generated in this token (nobody chose its value); a key unwrapped or created there is proven
//! by its full check value, SHA-256 of the material by `C_DigestKey` (`check_sha256`), which
//! every record of a key carries and all three verifiers hold to one value per key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, pin_holder_reseal, verifiers};
use common::wrap::Wrap;
use common::*;
use serde_json::Value;

/// `wrap` of `label` for the ceremony's first region into `out`, with the PIN.
fn first_region(wrap: Wrap, label: &str, out: &str) -> Wrap {
    wrap.aws_oaep_sha1("params/us-east-1.json", label, out)
        .pin()
}

/// `keyrite wrap` of a new key `label` into `out`, recorded in `transcript` and sealed.
fn wrap_recorded(c: &Ceremony, label: &str, out: &str, transcript: &str) {
    first_region(Wrap::new("wrap"), label, out)
        .recorded(transcript)
        .ok(&c.token);
}

/// `keys list --json`.
fn listed(c: &Ceremony) -> Vec<Value> {
    let out = run_ok(
        c.token
            .keyrite()
            .args(["keys", "list", "--json", "--pin-env", PIN_ENV]),
    );
    assert!(out.is_ascii(), "keys list --json writes ASCII only");
    serde_json::from_slice::<Value>(&out).unwrap()["keys"]
        .as_array()
        .unwrap()
        .clone()
}

/// The key material wrapped into `out`, unwrapped by Python `cryptography` with the KMS key.
fn unwrapped(c: &Ceremony, out: &str) -> Vec<u8> {
    c.regions[0].kms.unwrap_python(
        &c.dir().join(out).join("EncryptedKeyMaterial.bin"),
        "RSAES_OAEP_SHA_1",
    )
}

fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A public AES key planted without the PIN beside the ceremony key, under its label, with
/// the ceremony key's KCV (here its own material's KCV stands for one brute-forced to it): a
/// rewrap by KCV or from the sealed record, and an approved destroy, are refused naming both
/// objects; `keys list` marks the planted one, and a label of terminal escapes and a newline
/// is shown harmlessly.
#[test]
fn a_planted_look_alike_beside_the_ceremony_key_is_refused_naming_both() {
    let c = Ceremony::new(&["us-east-1"]);
    wrap_recorded(&c, "payments", "first", "first.jsonl");
    let genuine = listed(&c)
        .into_iter()
        .find(|k| k["label"] == "payments")
        .unwrap();
    let kcv = genuine["kcv"].as_str().unwrap().to_owned();
    let id = genuine["id"].as_str().unwrap().to_owned();
    let attacker = [0x5a; 32];
    c.token.plant_key("payments", &attacker, false);
    let before = c.token.objects();
    let refusal = format!(
        "keyrite: token \"ceremony\" holds more than one key labelled \"payments\": id {} (public object, unwrapped or created (CKA_LOCAL false)); id {id} (private, generated in this token); keyrite takes a key by its label only when one key has it\n",
        "0".repeat(32)
    );

    let out = first_region(Wrap::rewrap().expect_kcv(&kcv), "payments", "second").run(&c.token);
    assert_exit(&out, 1);
    assert_refused(&out.stderr, &refusal, "rewrap --expect-kcv");
    let out = first_region(
        Wrap::rewrap().args(["--from-transcript", "first.jsonl", "--signer", "signer.pem"]),
        "payments",
        "second",
    )
    .run(&c.token);
    assert_exit(&out, 1);
    assert_refused(&out.stderr, &refusal, "rewrap --from-transcript");
    assert!(!c.dir().join("second").exists());

    c.write_approved_plan(
        "payments-end",
        &format!("action = \"destroy\"\nkey_label = \"payments\"\nexpect_kcv = \"{kcv}\"\n"),
    );
    let out = c.destroy("payments", "t.jsonl");
    assert_exit(&out, 1);
    assert_refused(&out.stderr, &refusal, "keys destroy");
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), before, "nothing changed on the token");

    // A second planted key whose label would erase the line above it and fake another.
    let fake = "\u{1b}[2K\u{1b}[1Apayments\nforged  AES_256  KCV 000000";
    c.token.plant_key(fake, &attacker, false);
    let list = listed(&c);
    let planted: Vec<&Value> = list.iter().filter(|k| k["private"] == false).collect();
    assert_eq!(planted.len(), 2);
    for k in &planted {
        assert_eq!(
            k["planted"],
            "public object: anyone can create it without the PIN; not a ceremony key"
        );
    }
    assert!(planted.iter().any(|k| k["label"] == fake));
    let genuine = list.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(genuine["planted"], Value::Null);
    let text = String::from_utf8(run_ok(c.token.keyrite().args([
        "keys",
        "list",
        "--pin-env",
        PIN_ENV,
    ])))
    .unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains("\npayments") && !text.contains("\nforged"),
        "{text}"
    );
    assert!(
        text.contains("\\u{1b}[2K\\u{1b}[1Apayments\\nforged  AES_256  KCV 000000"),
        "{text}"
    );
    assert_eq!(
        text.matches(
            "PLANTED: public object: anyone can create it without the PIN; not a ceremony key\n"
        )
        .count(),
        2,
        "{text}"
    );
    // Each key's lines start with its label (or blank): the genuine key's line is intact.
    assert!(
        text.lines()
            .any(|l| l.starts_with("  payments ") && l.contains(&kcv) && l.contains(&id)),
        "{text}"
    );
}

/// What a PIN holder can do: create a private key of a value they know by `C_CreateObject`,
/// under the label of a ceremony key that is gone, with every protection a ceremony key has.
/// Its 3-byte KCV is the one approved — here simply its own KCV, which stands for one
/// brute-forced to the genuine key's in about 2^24 tries — and a 6-hex KCV is refused for it
/// (CKA_LOCAL false: keyrite asks for the full check value). Given its full check value, as a
/// restored key's record carries it, the rewrap runs: a key of known value is still wrapped for
/// the KMS by whoever has the PIN and that value. The full check value stops only a key whose
/// material differs from the record's.
fn a_key_of_known_value_is_proven_only_by_its_full_check_value(c: &Ceremony, kcv_method: &str) {
    let material = [0xc3; 32];
    c.token.plant_key("legacy", &material, true);
    let kcv = kcv_python(kcv_method, &material);
    let full = kcv_python("sha256", &material);
    let key = listed(c)
        .into_iter()
        .find(|k| k["label"] == "legacy")
        .unwrap();
    assert_eq!(key["private"], true);
    assert_eq!(key["local"], false);
    assert_eq!(key["planted"], Value::Null);
    assert_eq!(key["kcv"], kcv.as_str());
    assert_eq!(key["kcv_method"], kcv_method);
    assert_eq!(key["check_sha256"], full.as_str());

    let short = "keyrite: key \"legacy\" on the token was not generated in it (CKA_LOCAL false, CKA_ALWAYS_SENSITIVE false): anyone with the PIN can create a key of a value they know whose 3-byte KCV is any they want (about 2^24 tries), so keyrite proves such a key only by its full check value: give --expect-kcv (or the plan's expect_kcv) the 64-hex check_sha256 recorded for it, or --from-transcript a record of it\n";
    let out = first_region(Wrap::rewrap().expect_kcv(&kcv), "legacy", "reimport").run(&c.token);
    assert_exit(&out, 1);
    assert_refused(&out.stderr, short, "rewrap with a 3-byte KCV");
    assert!(!c.dir().join("reimport").exists());

    // An approved plan's rewrap step with the 6-hex KCV: refused the same way, nothing recorded.
    let step = |expect: &str| {
        format!(
            "action = \"rewrap\"\nkey_label = \"legacy\"\nexpect_kcv = \"{expect}\"\nprovider = \"aws\"\n\
             params = \"params/us-east-1.json\"\nalgorithm = \"RSAES_OAEP_SHA_1\"\nout = \"approved\"\n"
        )
    };
    c.write_approved_plan("legacy-reimport", &step(&kcv));
    let out = c.run("t.jsonl");
    assert_exit(&out, 1);
    assert_refused(&out.stderr, short, "approved rewrap with a 3-byte KCV");
    assert!(!c.dir().join("t.jsonl").exists() && !c.dir().join("approved").exists());

    // Another key's full check value is refused by the value the token computes.
    let other = kcv_python("sha256", &[0x3c; 32]);
    let out = first_region(Wrap::rewrap().expect_kcv(&other), "legacy", "reimport").run(&c.token);
    assert_exit(&out, 1);
    assert_refused(
        &out.stderr,
        &format!(
            "keyrite: key \"legacy\" on the token has the SHA-256 check value {full}, not the {other} expected; nothing was wrapped\n"
        ),
        "rewrap with another key's full check value",
    );

    // With the full check value, the rewrap runs, and the KMS gets exactly the known bytes.
    first_region(
        Wrap::rewrap().expect_kcv(&full.to_uppercase()),
        "legacy",
        "reimport",
    )
    .ok(&c.token);
    assert_eq!(unwrapped(c, "reimport"), material);
    let m = manifest(&c.dir().join("reimport"));
    assert_eq!(m["key"]["check_sha256"], full.as_str());
    assert_eq!(m["key"]["kcv"], kcv.as_str());

    // The approved plan with expect_kcv the full value runs, records it, and verifies.
    c.write_approved_plan("legacy-reimport-2", &step(&full));
    let out = c.run("t.jsonl");
    assert_exit(&out, 0);
    assert_eq!(unwrapped(c, "approved"), material);
    let rewrapped = c
        .transcript("t.jsonl")
        .into_iter()
        .find(|(_, v)| v["step"] == "rewrapped")
        .unwrap()
        .1;
    assert_eq!(rewrapped["data"]["check_sha256"], full.as_str());
    assert_eq!(rewrapped["data"]["kcv"], kcv.as_str());
    let plan = c.dir().join("plan.toml");
    for (name, out) in VERIFIERS.iter().zip(verifiers(
        &c.dir().join("t.jsonl"),
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        Some(c.dir()),
        &["--plan", plan.to_str().unwrap()],
    )) {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn softhsm_a_key_of_known_value_is_proven_only_by_its_full_check_value() {
    a_key_of_known_value_is_proven_only_by_its_full_check_value(
        &Ceremony::new(&["us-east-1"]),
        "aes-ecb-zero-3",
    );
}

#[test]
fn kryoptic_a_key_of_known_value_is_proven_only_by_its_full_check_value() {
    a_key_of_known_value_is_proven_only_by_its_full_check_value(
        &Ceremony::on(TestToken::kryoptic("ceremony"), &["us-east-1"]),
        "sha256-3",
    );
}

/// `rewrap --from-transcript` takes from the sealed record the key's CKA_ID, its KCV with the
/// method that computed it, and its full check value. A record the token's own signer sealed
/// again (what a PIN holder can do) claiming the KCV by another method, or another CKA_ID, is
/// refused although the KCV digits and the full value match; a record whose full check value
/// was changed does not verify with any of the three verifiers.
#[test]
fn a_record_names_the_key_by_id_method_and_full_check_value() {
    let c = Ceremony::new(&["us-east-1"]);
    wrap_recorded(&c, "payments", "first", "first.jsonl");
    let lines: Vec<Value> = c
        .transcript("first.jsonl")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let generated = lines.iter().position(|v| v["step"] == "generated").unwrap();
    let key = lines[generated]["data"]["key"].clone();
    assert_eq!(key["kcv_method"], "aes-ecb-zero-3");
    let material = unwrapped(&c, "first");
    assert_eq!(
        key["check_sha256"],
        kcv_python("sha256", &material).as_str()
    );
    let wrapped = lines.iter().find(|v| v["step"] == "wrapped").unwrap();
    assert_eq!(wrapped["data"]["check_sha256"], key["check_sha256"]);
    assert_eq!(
        manifest(&c.dir().join("first"))["key"]["check_sha256"],
        key["check_sha256"]
    );

    let resealed = |name: &str, edit: &dyn Fn(&mut Vec<Value>)| {
        let mut edited = lines.clone();
        edit(&mut edited);
        let out = pin_holder_reseal(&c.token, "ceremony-signer", &edited);
        std::fs::write(c.dir().join(name), out.join("\n") + "\n").unwrap();
    };
    let rewrap_from = |name: &str| {
        first_region(
            Wrap::rewrap().args(["--from-transcript", name, "--signer", "signer.pem"]),
            "payments",
            "second",
        )
        .run(&c.token)
    };

    // The same six digits, claimed as sha256-3: the method is compared, not only the digits.
    resealed("method.jsonl", &|v| {
        v[generated]["data"]["key"]["kcv_method"] = Value::from("sha256-3")
    });
    let out = rewrap_from("method.jsonl");
    assert_exit(&out, 1);
    assert_refused(
        &out.stderr,
        "keyrite: key \"payments\" on the token has a KCV computed by aes-ecb-zero-3, but the transcript records sha256-3: it is not the key recorded; nothing was wrapped\n",
        "another KCV method",
    );

    // Another CKA_ID.
    resealed("id.jsonl", &|v| {
        v[generated]["data"]["key"]["id"] = Value::from("00".repeat(16))
    });
    let out = rewrap_from("id.jsonl");
    assert_exit(&out, 1);
    assert_refused(
        &out.stderr,
        &format!(
            "keyrite: key \"payments\" on the token has CKA_ID {}, but the transcript records {}: it is not the key recorded; nothing was wrapped\n",
            key["id"].as_str().unwrap(),
            "00".repeat(16)
        ),
        "another CKA_ID",
    );
    assert!(!c.dir().join("second").exists());

    // The full check value changed on the generated line only: every verifier finds the key
    // with two full check values, and rewrap believes no such record.
    let forged = "ab".repeat(32);
    resealed("full.jsonl", &|v| {
        v[generated]["data"]["key"]["check_sha256"] = Value::from(forged.as_str())
    });
    for (name, out) in VERIFIERS.iter().zip(verifiers(
        &c.dir().join("full.jsonl"),
        &c.signer_pem,
        None,
        None,
        &[],
    )) {
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("appears with another full check value (check_sha256)"),
            "{name}: {stdout}"
        );
    }
    let out = rewrap_from("full.jsonl");
    assert_exit(&out, 1);
    assert!(!c.dir().join("second").exists());

    // The genuine record is believed.
    assert_exit(&rewrap_from("first.jsonl"), 0);
    assert_eq!(unwrapped(&c, "second"), material);
}
