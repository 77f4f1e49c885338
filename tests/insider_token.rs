//! Objects anyone can make. A read-write session that never logs in may still create public
//! objects on a token, and on a soft token the operator may even copy the token's files and
//! drop the real key from the copy. A public key of the attacker's value, labelled like a
//! ceremony key, with every protection a ceremony key has and a 24-bit KCV brute-forced to the
//! approved one, must never be taken for the ceremony key: it is refused because it is public,
//! before its KCV is even compared — by an approved rewrap, an approved destroy and a direct
//! rewrap alike — and nothing changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::ceremony::Ceremony;
use common::wrap::{OAEP_SHA1, Wrap};
use common::*;

/// Plants a public AES-256 key labelled `label` with the value `value`, without logging in, and
/// returns its KCV (AES-ECB of a zero block, as SoftHSM2 computes it).
fn plant_public_key(c: &Ceremony, label: &str, value: &[u8]) -> String {
    c.token.plant_key(label, value, false);
    kcv_python("aes-ecb-zero-3", value)
}

const REFUSAL: &str = "keyrite: key \"legacy\" on the token is a public object (CKA_PRIVATE false), which anyone can create without the PIN: keyrite never takes it for a ceremony key\n";

#[test]
fn a_public_look_alike_is_never_rewrapped_or_destroyed() {
    let c = Ceremony::new(&["us-east-1"]);
    let attacker_key = [0x5a; 32];
    let kcv = plant_public_key(&c, "legacy", &attacker_key);
    let before = c.token.objects();
    assert!(
        before
            .iter()
            .any(|o| o["label"] == "legacy" && o["private"] == false),
        "the planted key is public: {before:?}"
    );

    // An approved rewrap whose expect_kcv the look-alike matches.
    c.write_approved_plan(
        "legacy-rewrap",
        &format!(
            "action = \"rewrap\"\nkey_label = \"legacy\"\nexpect_kcv = \"{kcv}\"\nprovider = \"aws\"\n\
             params = \"params/us-east-1.json\"\nalgorithm = \"RSAES_OAEP_SHA_1\"\nout = \"reimport\"\n"
        ),
    );
    let out = c.run("t.jsonl");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(&out.stderr, REFUSAL, "approved rewrap");
    assert!(!c.dir().join("t.jsonl").exists());
    assert!(!c.dir().join("reimport").exists());

    // A direct rewrap by someone who has the PIN, told the same KCV.
    let out = Wrap::rewrap()
        .label("legacy")
        .expect_kcv(&kcv)
        .provider("aws", "params/us-east-1.json")
        .algorithm(OAEP_SHA1)
        .out("reimport")
        .pin()
        .run(&c.token);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(&out.stderr, REFUSAL, "rewrap");
    assert!(!c.dir().join("reimport").exists());

    // An approved destroy: a transcript saying "destroyed" while a private key of that label
    // lives on elsewhere would be a lie; the look-alike is not the key the custodians meant.
    c.write_approved_plan(
        "legacy-end",
        &format!("action = \"destroy\"\nkey_label = \"legacy\"\nexpect_kcv = \"{kcv}\"\n"),
    );
    let out = c.destroy("legacy", "t.jsonl");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(&out.stderr, REFUSAL, "keys destroy");
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), before);
}

/// `rewrap --from-transcript T --signer PEM` believes the KCV `T` records only if the token's
/// own signer sealed `T`: a record sealed again with a forger's key verifies under the forger's
/// `--signer`, and is refused, before anything is wrapped.
#[test]
fn a_kcv_is_believed_only_from_a_record_this_tokens_signer_sealed() {
    let c = Ceremony::new(&["us-east-1"]);
    let aws = |wrap: Wrap, out: &str| {
        wrap.aws_oaep_sha1("params/us-east-1.json", "payments", out)
            .pin()
    };
    aws(Wrap::new("wrap"), "first")
        .recorded("first.jsonl")
        .ok(&c.token);
    let dir = c.dir();
    run_ok(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(dir.join("forger.pem")),
    );
    run_ok(
        Command::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(dir.join("forger.pem"))
            .arg("-out")
            .arg(dir.join("forger.pub.pem")),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/independent/reseal.py");
    run_ok(
        Command::new(PYTHON)
            .arg(script)
            .arg(dir.join("first.jsonl"))
            .arg(dir.join("forged.jsonl"))
            .arg(dir.join("forger.pem")),
    );
    let forger = String::from_utf8(run_ok(Command::new("sh").arg("-c").arg(format!(
        "openssl pkey -pubin -in {} -outform DER | sha256sum | cut -d' ' -f1",
        dir.join("forger.pub.pem").display()
    ))))
    .unwrap()
    .trim()
    .to_owned();
    let before = c.token.objects();
    let rewrap = |transcript: &str, signer: &str| {
        aws(
            Wrap::rewrap().args(["--from-transcript", transcript, "--signer", signer]),
            "second",
        )
    };
    let out = rewrap("forged.jsonl", "forger.pub.pem").run(&c.token);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(
        &out.stderr,
        &format!(
            "keyrite: the transcript was sealed by the key {forger}, but the signer \"ceremony-signer\" of token \"ceremony\" is {}: keyrite believes a recorded KCV only from a record this token sealed\n",
            c.signer_fingerprint
        ),
        "rewrap from a forged record",
    );
    assert!(!dir.join("second").exists());
    assert_eq!(c.token.objects(), before);
    // The record the token sealed is believed.
    rewrap("first.jsonl", "signer.pem").ok(&c.token);
    assert!(dir.join("second/manifest.json").exists());
}
