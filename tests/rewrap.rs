//! Key lifecycle: the same material re-wrapped for new import parameters and proven the same by
//! its KCV, the token's keys listed without values, keys destroyed only by an approved plan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;
use serde_json::Value;

fn unwrap(c: &Ceremony, region: usize, dir: &str) -> Vec<u8> {
    let wrapped = std::fs::read(c.dir().join(dir).join("EncryptedKeyMaterial.bin")).unwrap();
    c.regions[region]
        .kms
        .unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1")
}

#[test]
fn a_rewrap_gives_the_same_material_under_new_parameters_and_a_wrong_kcv_stops_it() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1"]);
    // The first import, recorded: generate and wrap for us-east-1.
    Wrap::new("wrap")
        .aws_oaep_sha1("params/us-east-1.json", "payments", "first")
        .pin()
        .recorded("first.jsonl")
        .ok(&c.token);
    let kcv = c
        .transcript("first.jsonl")
        .iter()
        .find(|(_, v)| v["step"] == "generated")
        .map(|(_, v)| v["data"]["key"]["kcv"].as_str().unwrap().to_owned())
        .unwrap();

    // A wrong KCV (another key's) is refused before anything is wrapped.
    let out = Wrap::rewrap()
        .expect_kcv("ABCDEF")
        .aws_oaep_sha1("params/eu-west-1.json", "payments", "second")
        .pin()
        .run(&c.token);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "keyrite: key \"payments\" on the token has KCV {kcv}, not the abcdef expected; nothing was wrapped\n\
             The token's key of that label is other material than the one expected: check that --key-label names the key meant (`keyrite keys list` shows the labels) and that the check value is the one its record holds; never wrap a key that does not match.\n"
        )
    );
    assert!(!c.dir().join("second").exists());

    // Re-wrapped for eu-west-1 with the KCV from the verified transcript.
    Wrap::rewrap()
        .args(["--from-transcript", "first.jsonl", "--signer", "signer.pem"])
        .aws_oaep_sha1("params/eu-west-1.json", "payments", "second")
        .pin()
        .ok(&c.token);
    let a = unwrap(&c, 0, "first");
    let b = unwrap(&c, 1, "second");
    assert_eq!(a, b, "the same material under both KMS keys");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(c.dir().join("second/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["key"]["kcv"], kcv.as_str());
    assert_eq!(kcv, kcv_python("aes-ecb-zero-3", &a));

    // The expected KCV in upper case works too; a rewrap never generates.
    Wrap::rewrap()
        .expect_kcv(&kcv.to_uppercase())
        .aws_oaep_sha1("params/eu-west-1.json", "payments", "third")
        .pin()
        .ok(&c.token);
    let keys: Vec<Value> = c
        .token
        .objects()
        .into_iter()
        .filter(|o| o["class"] == "CKO_SECRET_KEY")
        .collect();
    assert_eq!(keys.len(), 1);

    // keys list: stable JSON, the KCV, the flags, never a value.
    let listed = run_ok(
        c.token
            .keyrite()
            .args(["keys", "list", "--json", "--pin-env", PIN_ENV]),
    );
    let listed_json: Value = serde_json::from_slice(&listed).unwrap();
    assert_eq!(listed_json["schema"], "keyrite.keys.list/1");
    assert_eq!(listed_json["token"]["label"], "ceremony");
    let list = &listed_json["keys"];
    let labels: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["ceremony-signer", "payments"]);
    // The signer's private key is listed too, identified by its public key's fingerprint: the
    // one the policy pins.
    assert_eq!(list[0]["kcv"], c.signer_fingerprint.as_str());
    assert_eq!(list[0]["kcv_method"], "spki-sha256");
    assert_eq!(list[0]["spec"], "EC_P256");
    assert_eq!(list[0]["type"], "EC");
    assert_eq!(list[0]["bits"], 256);
    assert_eq!(list[0]["curve"], "P-256");
    let entry = &list[1];
    assert_eq!(
        entry.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "always_sensitive",
            "bits",
            "check_sha256",
            "curve",
            "extractable",
            "id",
            "kcv",
            "kcv_method",
            "label",
            "local",
            "modifiable",
            "never_extractable",
            "planted",
            "private",
            "sensitive",
            "spec",
            "start_date",
            "type",
            "usages",
            "wrap_with_trusted"
        ]
    );
    assert_eq!(entry["local"], true);
    assert_eq!(entry["usages"], serde_json::json!([]));
    assert_eq!(entry["type"], "AES");
    assert_eq!(entry["bits"], 256);
    assert_eq!(entry["curve"], Value::Null);
    assert_eq!(entry["label"], "payments");
    assert_eq!(entry["kcv"], kcv.as_str());
    // The full check value is SHA-256 of the material, as Python computes it from the bytes the
    // KMS unwrapped; the manifest records the same.
    assert_eq!(entry["check_sha256"], kcv_python("sha256", &a).as_str());
    assert_eq!(manifest["key"]["check_sha256"], entry["check_sha256"]);
    assert_eq!(entry["planted"], Value::Null);
    assert_eq!(entry["sensitive"], true);
    assert_eq!(entry["modifiable"], false);
    let text = String::from_utf8(listed).unwrap();
    assert!(!text.contains(&hex::encode(&a)) && !text.contains(&base64_of(&a)));
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One generate and three wraps for three "regions" on two providers; then a second ceremony
/// that re-wraps the same key and a third that destroys it, each approved and verified.
#[test]
fn the_key_lifecycle_in_ceremonies() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1", "cn-hangzhou"]);
    let alibaba = c.regions[2]
        .kms
        .alibaba_params("key-hzz62f1cb66fa42qo1234", &hours_from_now(24));
    write_json(c.dir(), "params/cn-hangzhou.json", &alibaba);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let plan = plan.replacen(
        "provider = \"aws\"\nparams = \"params/cn-hangzhou.json\"",
        "provider = \"alibaba\"\nparams = \"params/cn-hangzhou.json\"",
        1,
    );
    std::fs::write(c.dir().join("plan.toml"), &plan).unwrap();
    c.run_approved("t1.jsonl");
    let full = [
        "--policy",
        "policy.toml",
        "--plan",
        "plan.toml",
        "--outputs",
        ".",
    ];
    assert_eq!(c.verify("t1.jsonl", &full).status.code(), Some(0));
    let kcv = c
        .transcript("t1.jsonl")
        .iter()
        .find(|(_, v)| v["step"] == "generated")
        .map(|(_, v)| v["data"]["key"]["kcv"].as_str().unwrap().to_owned())
        .unwrap();
    let material = unwrap(&c, 0, "payments-2026-us-east-1");

    // The KMS deleted the material: a new ceremony re-wraps the same key for new parameters.
    let kms = aws_kms(c.dir(), "params/us-east-1-again.json");
    let rewrap = format!(
        "version = 1\nceremony_id = \"payments-2026-reimport\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
         operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
         pin = \"env:{PIN_ENV}\"\n\n[[steps]]\naction = \"rewrap\"\nkey_label = \"payments-2026\"\n\
         expect_kcv = \"{kcv}\"\nprovider = \"aws\"\nparams = \"params/us-east-1-again.json\"\n\
         algorithm = \"RSAES_OAEP_SHA_1\"\nout = \"reimport\"\n",
        c.window.0, c.window.1
    );
    std::fs::write(c.dir().join("plan.toml"), rewrap).unwrap();
    for f in std::fs::read_dir(c.dir().join("approvals")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    c.approve_plan();
    let out = c.run("t2.jsonl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The rewrap's step: the existing key found, with its KCV, then the output written.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "Plan \"payments-2026-reimport\" approved by 2 of 2 required: alice, bob.\n{}\
             Key \"payments-2026\" (AES_256): KCV {} (aes-ecb-zero-3).\n\
             Wrote reimport/ — next: sh reimport/import.sh\n\
             Completed. Sealed transcript: t2.jsonl\n{}",
            c.plan_digest_aloud(),
            kcv_aloud(&kcv),
            seal_aloud(&c.dir().join("t2.jsonl"))
        )
    );
    assert_eq!(c.verify("t2.jsonl", &full).status.code(), Some(0));
    let wrapped = std::fs::read(c.dir().join("reimport/EncryptedKeyMaterial.bin")).unwrap();
    assert_eq!(kms.unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1"), material);
    let rewrapped = c
        .transcript("t2.jsonl")
        .into_iter()
        .find(|(_, v)| v["step"] == "rewrapped")
        .unwrap();
    assert_eq!(rewrapped.1["data"]["kcv"], kcv.as_str());

    // Destroying it (`keys destroy`) needs the quorum: one approval is not enough, two are; and
    // a plan that does anything but destroy the key named is refused.
    let keys_destroy = |label: &str| c.destroy(label, "t3.jsonl");
    let destroy = format!(
        "version = 1\nceremony_id = \"payments-2026-end\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
         operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
         pin = \"env:{PIN_ENV}\"\n\n[[steps]]\naction = \"destroy\"\nkey_label = \"payments-2026\"\n\
         expect_kcv = \"{kcv}\"\n",
        c.window.0, c.window.1
    );
    std::fs::write(c.dir().join("plan.toml"), destroy).unwrap();
    for f in std::fs::read_dir(c.dir().join("approvals")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    c.digest();
    c.approve("carol", "keyrite-plan", "carol.sig");
    let refused = keys_destroy("payments-2026");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("approval"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        c.token
            .objects()
            .iter()
            .any(|o| o["label"] == "payments-2026")
    );
    c.approve("alice", "keyrite-plan", "alice.sig");
    let other = keys_destroy("payments-2027");
    assert_eq!(
        String::from_utf8(other.stderr).unwrap(),
        "keyrite: plan.toml: keys destroy runs only a plan whose steps destroy \"payments-2027\"; steps[0] destroys \"payments-2026\"\n\
         Pass --key-label the key the plan destroys, or a plan whose only steps destroy that key (action = \"destroy\", ceremony/README.md), approved.\n"
    );
    assert!(!c.dir().join("t3.jsonl").exists());
    let out = keys_destroy("payments-2026");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout.clone())
            .unwrap()
            .contains(&format!(
                "Destroyed key \"payments-2026\" (KCV {}, checked first).",
                kcv_aloud(&kcv)
            )),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "Plan \"payments-2026-end\" approved by 2 of 2 required: alice, carol.\n{}\
             Destroyed key \"payments-2026\" (KCV {}, checked first).\n\
             Completed. Sealed transcript: t3.jsonl\n{}",
            c.plan_digest_aloud(),
            kcv_aloud(&kcv),
            seal_aloud(&c.dir().join("t3.jsonl"))
        )
    );
    assert!(
        !c.token
            .objects()
            .iter()
            .any(|o| o["label"] == "payments-2026")
    );
    let destroyed = c
        .transcript("t3.jsonl")
        .into_iter()
        .find(|(_, v)| v["step"] == "destroyed")
        .unwrap();
    assert_eq!(destroyed.1["data"]["kcv"], kcv.as_str());
    assert_eq!(
        c.verify(
            "t3.jsonl",
            &["--policy", "policy.toml", "--plan", "plan.toml"]
        )
        .status
        .code(),
        Some(0)
    );
}
