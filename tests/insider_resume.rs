//! The insider against `ceremony run --resume-from` (issue 20, attack 1): an interrupted
//! transcript is unsealed, so whoever runs the ceremony can rewrite it and recompute its chain.
//! Each attack is built for real — a SoftHSM2 token, custodians' SSH keys, runs killed with
//! SIGKILL by the fault-injection build, an attacker's output wrapped in software under the KMS
//! key — and each must be refused with its exact message, the token's objects (PyKCS11) and
//! every file unchanged. Where the resume then goes ahead, its outputs are unwrapped with the KMS
//! private key (Python `cryptography`) to the token's key, and all three verifiers accept it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, verifiers};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const KEY: &str = "payments-2026";

const PASS_THE_RECORD: &str = "Pass the transcript the interrupted run of this plan left, as it left it; keyrite verify T --policy POLICY --plan PLAN says whether it is intact.\n";
const KEY_NOT_PROVEN: &str = "Resume only from the transcript the interrupted run wrote, unaltered; if it is that one, the token's key is not the key that run generated: end it with an approved destroy plan (keyrite keys destroy).\n";
const MOVE_OUTPUT_ASIDE: &str = "Move it aside (it holds only wrapped material) and resume again: the resumed run writes every output anew.\n";

/// Runs the plan into `transcript`, killed with SIGKILL at fault point `fault`.
fn killed(c: &Ceremony, transcript: &str, fault: &str) {
    let out = run(c.run_command(transcript).env("KEYRITE_FAULT", fault));
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{fault}: keyrite was not killed (build with --features fault-injection): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Killed while writing the first output's files: after `generated` and one or both `wrap`
/// lines (the batch's writer thread writes the files while the next wrap is done), before any
/// output moves.
fn killed_after_generate(c: &Ceremony) -> Vec<Value> {
    killed(c, "t.jsonl", "output-file:1");
    let t = lines(c, "t.jsonl");
    let generated = t.iter().position(|l| l["step"] == "generated").unwrap();
    let after: Vec<&Value> = t[generated + 1..].iter().map(|l| &l["step"]).collect();
    assert!(
        !after.is_empty() && after.len() <= REGIONS.len() && after.iter().all(|s| *s == "wrap"),
        "{after:?}"
    );
    for region in REGIONS {
        assert!(!c.dir().join(format!("{KEY}-{region}")).exists());
    }
    t
}

/// `--resume-from from` into `transcript`.
fn resume(c: &Ceremony, from: &str, transcript: &str) -> Output {
    run(c.run_command(transcript).args(["--resume-from", from]))
}

fn lines(c: &Ceremony, name: &str) -> Vec<Value> {
    c.transcript(name).into_iter().map(|(_, v)| v).collect()
}

/// Writes `values` as a transcript: the first `keep` lines as they were (`raw`), every later one
/// re-serialized with its `seq` and `prev` recomputed — what anyone can do to an unsealed file.
fn write_rechained(c: &Ceremony, name: &str, raw: &[String], values: &[Value], keep: usize) {
    let mut out: Vec<String> = raw[..keep].to_vec();
    for (i, v) in values.iter().enumerate().skip(keep) {
        let mut v = v.clone();
        v["seq"] = json!(i);
        v["prev"] = json!(match out.last() {
            Some(prev) => hex::encode(Sha256::digest(prev.as_bytes())),
            None => hex::encode(Sha256::digest(b"")),
        });
        out.push(serde_json::to_string(&v).unwrap());
    }
    let mut text = out.join("\n");
    text.push('\n');
    std::fs::write(c.dir().join(name), text).unwrap();
}

fn raw_lines(c: &Ceremony, name: &str) -> Vec<String> {
    c.transcript(name).into_iter().map(|(l, _)| l).collect()
}

/// Every file and directory under the test's directory, with the SHA-256 of each file — but
/// SoftHSM2's `token.object`, which it rewrites at every login (PyKCS11's listing's included):
/// the token's objects are compared by their own files and by PyKCS11.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if path.file_name().unwrap() == "token.object" {
                continue;
            }
            if meta.is_dir() {
                out.insert(name, "directory".into());
                walk(root, &path, out);
            } else {
                out.insert(
                    name,
                    hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts a refusal: exit 1, exactly `message` and `advice` on stderr, no new transcript, and
/// the token's objects and every file as they were before.
fn assert_refusal(
    c: &Ceremony,
    out: &Output,
    message: &str,
    advice: &str,
    before: &(Vec<Value>, BTreeMap<String, String>),
) {
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("keyrite: {message}\n{advice}")
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(c.token.objects(), before.0, "the token's objects changed");
    assert_eq!(snapshot(c.dir()), before.1, "files changed");
}

fn state(c: &Ceremony) -> (Vec<Value>, BTreeMap<String, String>) {
    (c.token.objects(), snapshot(c.dir()))
}

/// Resumes from `t.jsonl` into `t2.jsonl` and asserts it is refused as [`assert_refusal`]
/// says; returns the state it left unchanged.
fn assert_resume_refused(
    c: &Ceremony,
    message: &str,
    advice: &str,
) -> (Vec<Value>, BTreeMap<String, String>) {
    let before = state(c);
    let refused = resume(c, "t.jsonl", "t2.jsonl");
    assert_refusal(c, &refused, message, advice, &before);
    before
}

/// A line keyrite would have appended at `time` for `step` with `data`, before
/// [`write_rechained`] gives it its `seq` and `prev`.
fn appended(time: &Value, step: &str, data: Value) -> Value {
    json!({
        "v": 1,
        "seq": 0,
        "time": time,
        "step": step,
        "actor": "keyrite",
        "data": data,
        "prev": "",
    })
}

/// The attacker's output directory `out`: their own AES-256 key, wrapped in software (Python
/// `cryptography`, RSAES-OAEP SHA-1) under the KMS public key of `region`, the import token,
/// and a manifest naming `kcv`. Returns the attacker's key and the files' digests.
fn attacker_output(c: &Ceremony, region: usize, out: &str, kcv: &str) -> (Vec<u8>, Value) {
    const SCRIPT: &str = r#"
import base64, hashlib, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
pem, params, out, kcv, label = sys.argv[1:6]
public = serialization.load_pem_private_key(open(pem, "rb").read(), None).public_key()
material = os.urandom(32)
wrapped = public.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                algorithm=hashes.SHA1(), label=None))
p = json.load(open(params))
os.mkdir(out)
files = {"EncryptedKeyMaterial.bin": wrapped,
         "ImportToken.bin": base64.b64decode(p["ImportToken"])}
for name, data in files.items():
    open(os.path.join(out, name), "wb").write(data)
digests = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
manifest = json.dumps({"provider": "aws", "kms_key_id": p["KeyId"],
                       "algorithm": "RSAES_OAEP_SHA_1",
                       "key": {"label": label, "kcv": kcv, "kcv_method": "aes-ecb-zero-3"},
                       "files": digests}, indent=2).encode()
open(os.path.join(out, "manifest.json"), "wb").write(manifest)
digests["manifest.json"] = hashlib.sha256(manifest).hexdigest()
print(json.dumps({"material": material.hex(), "files": digests}))
"#;
    let printed = run_ok(
        Command::new(PYTHON)
            .current_dir(c.dir())
            .args(["-c", SCRIPT])
            .arg(&c.regions[region].kms.private_pem)
            .arg(format!("params/{}.json", REGIONS[region]))
            .args([out, kcv, KEY]),
    );
    let v: Value = serde_json::from_slice(&printed).unwrap();
    (
        hex::decode(v["material"].as_str().unwrap()).unwrap(),
        v["files"].clone(),
    )
}

/// A PyKCS11 read-write session acting on the token directly: logged in with the PIN (a PIN
/// holder) or not (anyone who can load the module).
fn pkcs11(c: &Ceremony, login: bool, args: &[&str]) {
    const SCRIPT: &str = r#"
import os, sys
import PyKCS11
from PyKCS11.LowLevel import *
module, token, pin_env, action = sys.argv[1:5]
lib = PyKCS11.PyKCS11Lib()
lib.load(module)
slot = [s for s in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(s).label.strip() == token][0]
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
if pin_env != "-":
    session.login(os.environ[pin_env])
if action == "plant-key":
    label, value = sys.argv[5], bytes.fromhex(sys.argv[6])
    session.createObject([
        (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE, value),
        (CKA_LABEL, label), (CKA_ID, os.urandom(16)), (CKA_TOKEN, True), (CKA_PRIVATE, True),
        (CKA_SENSITIVE, True), (CKA_EXTRACTABLE, True), (CKA_ENCRYPT, False),
        (CKA_DECRYPT, False), (CKA_SIGN, False), (CKA_VERIFY, False), (CKA_WRAP, False),
        (CKA_UNWRAP, False), (CKA_DERIVE, False), (CKA_MODIFIABLE, False)])
elif action == "public-marker":
    ceremony_id, value = sys.argv[5], sys.argv[6].encode()
    session.createObject([
        (CKA_CLASS, CKO_DATA), (CKA_TOKEN, True), (CKA_PRIVATE, False),
        (CKA_LABEL, "keyrite-ceremony:" + ceremony_id), (CKA_APPLICATION, "keyrite"),
        (CKA_VALUE, value)])
else:
    raise SystemExit("unknown action " + action)
"#;
    run_ok(
        Command::new(PYTHON)
            .env(c.token.conf_env(), &c.token.conf)
            .env(PIN_ENV, PIN)
            .args(["-c", SCRIPT])
            .arg(&c.token.module)
            .args([c.token.label.as_str(), if login { PIN_ENV } else { "-" }])
            .args(args),
    );
}

/// Every verifier's exit code and output for `transcript`, with the policy, the plan (keyrite)
/// and the outputs under the ceremony's directory.
fn three_verifiers(c: &Ceremony, transcript: &str) -> Vec<(&'static str, Option<i32>, String)> {
    let plan = c.dir().join("plan.toml");
    let outputs = verifiers(
        &c.dir().join(transcript),
        &c.signer_pem,
        Some(&c.dir().join("policy.toml")),
        Some(c.dir()),
        &["--plan", plan.to_str().unwrap()],
    );
    VERIFIERS
        .into_iter()
        .zip(outputs)
        .map(|(name, out)| {
            (
                name,
                out.status.code(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        })
        .collect()
}

fn assert_all_verify(c: &Ceremony, transcript: &str) {
    for (name, code, output) in three_verifiers(c, transcript) {
        assert_eq!(code, Some(0), "{name}: {output}");
    }
}

/// The key material of every planned output, unwrapped with each region's KMS private key by
/// Python `cryptography`.
fn unwrapped_outputs(c: &Ceremony) -> Vec<Vec<u8>> {
    REGIONS
        .iter()
        .zip(&c.regions)
        .map(|(region, r)| {
            r.kms.unwrap_python(
                &c.dir()
                    .join(format!("{KEY}-{region}/EncryptedKeyMaterial.bin")),
                "RSAES_OAEP_SHA_1",
            )
        })
        .collect()
}

/// The KCV the token reports for the ceremony key (PyKCS11's CKA_CHECK_VALUE).
fn token_kcv(c: &Ceremony) -> String {
    let objects = c.token.objects();
    let keys: Vec<_> = objects.iter().filter(|o| o["label"] == KEY).collect();
    assert_eq!(keys.len(), 1, "{objects:?}");
    keys[0]["check_value"].as_str().unwrap().to_owned()
}

/// The resumed transcript: a `resume` line naming `from` by SHA-256 and line count with the key
/// taken over, one `resumed` line (the generate), and every wrap re-done.
fn assert_resumed_record(c: &Ceremony, from: &str, transcript: &str, kcv: &str) {
    let from_bytes = std::fs::read(c.dir().join(from)).unwrap();
    let t = lines(c, transcript);
    let resume = t.iter().find(|l| l["step"] == "resume").unwrap();
    assert_eq!(
        resume["data"]["sha256"],
        hex::encode(Sha256::digest(&from_bytes)).as_str()
    );
    assert_eq!(
        resume["data"]["lines"],
        from_bytes.iter().filter(|&&b| b == b'\n').count()
    );
    assert_eq!(resume["data"]["keys"], json!([KEY]));
    assert!(resume["data"].get("wraps").is_none(), "{resume}");
    let resumed: Vec<_> = t.iter().filter(|l| l["step"] == "resumed").collect();
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(resumed[0]["data"]["action"], "generate");
    assert_eq!(resumed[0]["data"]["key"]["kcv"], kcv);
    let wrapped: Vec<_> = t.iter().filter(|l| l["step"] == "wrapped").collect();
    assert_eq!(wrapped.len(), REGIONS.len());
    for w in wrapped {
        assert_eq!(w["data"]["kcv"], kcv);
    }
}

#[test]
fn a_forged_wrapped_line_and_an_attackers_output_are_refused_and_the_resume_rewraps_the_tokens_key()
{
    let c = Ceremony::approved(&REGIONS);
    let t = killed_after_generate(&c);
    let kcv = t.iter().find(|l| l["step"] == "generated").unwrap()["data"]["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kcv, token_kcv(&c));

    // The attack: the attacker's key, wrapped under the first region's KMS key, in the output
    // directory the plan names, and a `wrapped` line for it appended with its chain link.
    let last = t.last().unwrap().clone();
    let out = format!("{KEY}-{}", REGIONS[0]);
    let (attacker_key, files) = attacker_output(&c, 0, &out, &kcv);
    let mut values = t.clone();
    values.push(appended(
        &last["time"],
        "wrapped",
        json!({"index": 1, "key_label": KEY, "kcv": kcv, "out": out, "files": files, "warning": null}),
    ));
    let raw = raw_lines(&c, "t.jsonl");
    write_rechained(&c, "t.jsonl", &raw, &values, raw.len());

    let message = format!(
        "cannot resume from t.jsonl: the output directory {out} (steps[1]) already exists; a resumed run re-does every wrap, and keyrite vouches only for outputs it writes in this run"
    );
    let before = assert_resume_refused(&c, &message, MOVE_OUTPUT_ASIDE);
    // Before the token is opened: with a module that does not exist, the refusal is the same.
    let no_module = run(c
        .run_command("t2.jsonl")
        .args(["--resume-from", "t.jsonl"])
        .env("KEYRITE_PKCS11_MODULE", c.dir().join("no-such-module.so")));
    assert_refusal(&c, &no_module, &message, MOVE_OUTPUT_ASIDE, &before);

    // Moved aside, the resume completes: every wrap re-done from the token's key.
    std::fs::rename(c.dir().join(&out), c.dir().join("attackers-output")).unwrap();
    let resumed = resume(&c, "t.jsonl", "t2.jsonl");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let materials = unwrapped_outputs(&c);
    assert!(materials.iter().all(|m| m == &materials[0]));
    assert_ne!(materials[0], attacker_key);
    assert_eq!(kcv_python("aes-ecb-zero-3", &materials[0]), token_kcv(&c));
    assert_resumed_record(&c, "t.jsonl", "t2.jsonl", &kcv);
    assert_all_verify(&c, "t2.jsonl");
}

#[test]
fn a_seal_cut_off_a_completed_record_with_an_output_swapped_gives_no_second_record_of_its_outputs()
{
    let c = Ceremony::approved(&REGIONS);
    let out = c.run("t.jsonl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kcv = token_kcv(&c);

    // The seal cut off; the first output swapped for the attacker's, its line edited to match
    // and the chain recomputed.
    let raw = raw_lines(&c, "t.jsonl");
    let mut values = lines(&c, "t.jsonl");
    assert_eq!(values.pop().unwrap()["step"], "seal");
    assert_eq!(values.last().unwrap()["data"]["outcome"], "completed");
    let out = format!("{KEY}-{}", REGIONS[0]);
    std::fs::remove_dir_all(c.dir().join(&out)).unwrap();
    let (attacker_key, files) = attacker_output(&c, 0, &out, &kcv);
    let at = values
        .iter()
        .position(|l| l["step"] == "wrapped" && l["data"]["index"] == 1)
        .unwrap();
    values[at]["data"]["files"] = files;
    write_rechained(&c, "t.jsonl", &raw, &values, at);

    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: the output directories {out} (steps[1]), {KEY}-{} (steps[2]) already exist; a resumed run re-does every wrap, and keyrite vouches only for outputs it writes in this run",
            REGIONS[1]
        ),
        MOVE_OUTPUT_ASIDE,
    );

    for region in REGIONS {
        std::fs::rename(
            c.dir().join(format!("{KEY}-{region}")),
            c.dir().join(format!("aside-{region}")),
        )
        .unwrap();
    }
    let resumed = resume(&c, "t.jsonl", "t2.jsonl");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let materials = unwrapped_outputs(&c);
    assert!(materials.iter().all(|m| m == &materials[0]));
    assert_ne!(materials[0], attacker_key);
    assert_eq!(kcv_python("aes-ecb-zero-3", &materials[0]), kcv);
    assert_resumed_record(&c, "t.jsonl", "t2.jsonl", &kcv);
    assert_all_verify(&c, "t2.jsonl");
}

#[test]
fn a_record_claiming_another_kcv_for_the_generated_key_is_refused() {
    let c = Ceremony::approved(&REGIONS);
    let t = killed_after_generate(&c);
    let kcv = token_kcv(&c);
    let claimed = if kcv == "000000" { "111111" } else { "000000" };
    let raw = raw_lines(&c, "t.jsonl");
    let mut values = t.clone();
    let at = values
        .iter()
        .position(|l| l["step"] == "generated")
        .unwrap();
    values[at]["data"]["key"]["kcv"] = json!(claimed);
    write_rechained(&c, "t.jsonl", &raw, &values, at);

    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: it records key \"{KEY}\" generated with KCV {claimed}, but the token's key has KCV {kcv}"
        ),
        KEY_NOT_PROVEN,
    );
}

#[test]
fn a_key_planted_under_the_plans_label_by_a_pin_holder_is_not_taken_over() {
    let c = Ceremony::approved(&REGIONS);
    // Killed once the batch announcing the generate is written, before the token makes the key.
    killed(
        &c,
        "t.jsonl",
        &format!("transcript-line:{}", 7 + 2 * REGIONS.len()),
    );
    let t = lines(&c, "t.jsonl");
    assert_eq!(t.last().unwrap()["step"], "batch");
    assert!(c.token.objects().iter().all(|o| o["label"] != KEY));

    // A key of known value with the ceremony template, made with C_CreateObject, and a
    // `generated` line claiming it with its KCV.
    let value = [0x42u8; 32];
    pkcs11(&c, true, &["plant-key", KEY, &hex::encode(value)]);
    let kcv = kcv_python("aes-ecb-zero-3", &value);
    let mut values = t.clone();
    values.push(appended(
        &t.last().unwrap()["time"],
        "generated",
        json!({"index": 0, "key": {
            "label": KEY, "id": "00", "spec": "AES_256", "kcv": kcv,
            "kcv_method": "aes-ecb-zero-3", "template": {},
        }}),
    ));
    let raw = raw_lines(&c, "t.jsonl");
    write_rechained(&c, "t.jsonl", &raw, &values, raw.len());

    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: key \"{KEY}\" on the token was not generated in this token (CKA_LOCAL false, CKA_ALWAYS_SENSITIVE false), but the plan generates it"
        ),
        KEY_NOT_PROVEN,
    );
}

#[test]
fn a_marker_left_by_another_plan_of_the_same_ceremony_id_is_refused() {
    let c = Ceremony::approved(&REGIONS);
    let t = killed_after_generate(&c);
    let first_plan = hex::encode(Sha256::digest(
        std::fs::read(c.dir().join("plan.toml")).unwrap(),
    ));

    // Another plan under the same ceremony id (a later window), approved; the interrupted
    // record rewritten as a run of it.
    c.write_plan_window(KEY, &c.window.0, &hours_from_now(30), "RSAES_OAEP_SHA_1");
    let statement = String::from_utf8(c.approve_plan()).unwrap();
    let text = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let second_plan = hex::encode(Sha256::digest(text.as_bytes()));
    assert_ne!(
        first_plan, second_plan,
        "the marker holds the first plan's SHA-256"
    );
    let raw = raw_lines(&c, "t.jsonl");
    let mut values = t.clone();
    let at = values.iter().position(|l| l["step"] == "plan").unwrap();
    values[at]["data"]["text"] = json!(text);
    values[at]["data"]["sha256"] = json!(second_plan);
    values[at]["data"]["digest_statement"] = json!(statement);
    write_rechained(&c, "t.jsonl", &raw, &values, at);

    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: the marker of ceremony \"{KEY}\" on token \"ceremony\" was left by another plan (it does not hold this plan's SHA-256, {second_plan})"
        ),
        "Resume with the plan that ran (the marker holds its SHA-256); a new plan needs a new ceremony_id and new approvals.\n",
    );
}

#[test]
fn a_generated_line_without_a_kcv_is_refused_by_its_line() {
    let c = Ceremony::approved(&REGIONS);
    let t = killed_after_generate(&c);
    let raw = raw_lines(&c, "t.jsonl");
    let mut values = t.clone();
    let at = values
        .iter()
        .position(|l| l["step"] == "generated")
        .unwrap();
    values[at]["data"]["key"]
        .as_object_mut()
        .unwrap()
        .remove("kcv");
    write_rechained(&c, "t.jsonl", &raw, &values, at);

    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: line {} records key \"{KEY}\" generated without a KCV, and resume takes over only a key the token proves by its KCV",
            at + 1
        ),
        PASS_THE_RECORD,
    );
}

#[test]
fn a_public_marker_anyone_can_make_without_the_pin_is_not_a_marker() {
    let c = Ceremony::approved(&REGIONS);
    // Killed once the marker is announced, before the token makes it.
    killed(
        &c,
        "t.jsonl",
        &format!("transcript-line:{}", 6 + 2 * REGIONS.len()),
    );
    let t = lines(&c, "t.jsonl");
    assert_eq!(t.last().unwrap()["step"], "marker");
    assert!(c.token.objects().iter().all(|o| o["class"] != "CKO_DATA"));
    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: ceremony \"{KEY}\" never changed token \"ceremony\" (no marker)"
        ),
        "Run the plan without --resume-from.\n",
    );

    // A public marker holding this plan's SHA-256, made in a session that never logged in.
    let plan = hex::encode(Sha256::digest(
        std::fs::read(c.dir().join("plan.toml")).unwrap(),
    ));
    pkcs11(&c, false, &["public-marker", KEY, &plan]);
    assert!(
        c.token
            .objects_as(None)
            .iter()
            .any(|o| o["label"] == format!("keyrite-ceremony:{KEY}"))
    );
    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: the marker of ceremony \"{KEY}\" on token \"ceremony\" is a public object, which anyone can make without the PIN; keyrite makes its markers private"
        ),
        "keyrite left no such object: have the token's objects checked (pkcs11-tool --list-objects --login) before a ceremony runs on it.\n",
    );
}

#[test]
fn the_key_another_approved_plan_generated_under_the_same_label_is_not_taken_over() {
    let c = Ceremony::approved(&REGIONS);
    // Plan X is killed once the batch announcing its generate is written: its marker is on the
    // token, no key.
    killed(
        &c,
        "t.jsonl",
        &format!("transcript-line:{}", 7 + 2 * REGIONS.len()),
    );
    let t = lines(&c, "t.jsonl");
    assert_eq!(t.last().unwrap()["step"], "batch");
    let plan_x = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();

    // Plan Y, a new ceremony id generating the same label for other outputs, is approved and
    // runs to completion.
    let plan_y = plan_x
        .replace(
            &format!("ceremony_id = \"{KEY}\""),
            &format!("ceremony_id = \"{KEY}-retry\""),
        )
        .replace(&format!("out = \"{KEY}-"), "out = \"retry-");
    assert_ne!(plan_x, plan_y);
    std::fs::write(c.dir().join("plan.toml"), &plan_y).unwrap();
    c.run_approved("ty.jsonl");
    let kcv = token_kcv(&c);

    // Plan X approved again (its approvals were in the same files), and its record forged to
    // claim Y's key as the one it generated.
    std::fs::write(c.dir().join("plan.toml"), &plan_x).unwrap();
    c.approve_plan();
    let y_key = lines(&c, "ty.jsonl")
        .into_iter()
        .find(|l| l["step"] == "generated")
        .unwrap()["data"]["key"]
        .clone();
    let mut values = t.clone();
    values.push(appended(
        &t.last().unwrap()["time"],
        "generated",
        json!({"index": 0, "key": y_key}),
    ));
    let raw = raw_lines(&c, "t.jsonl");
    write_rechained(&c, "t.jsonl", &raw, &values, raw.len());

    assert_resume_refused(
        &c,
        &format!(
            "cannot resume from t.jsonl: key \"{KEY}\" on the token was not generated by a run of this plan (its CKA_ID {} is not bound to the plan's SHA-256)",
            y_key["id"].as_str().unwrap()
        ),
        KEY_NOT_PROVEN,
    );
    assert_eq!(y_key["kcv"], kcv.as_str());
}
