//! Nothing left behind: every object keyrite makes for itself — the imported KMS public key,
//! ephemeral AES keys, the trials' and the known-answer test's keys — is destroyed on every
//! path, a wrap's success, its refusal, a failing rewrap and `token info`. A token that keeps
//! session objects (tpm2-pkcs11 persists them) would otherwise fill up.
//!
//! Checked twice: the token objects, listed by PyKCS11 in a process of its own before and after,
//! are the same but for the key meant; and the session objects, which no other process can see,
//! are listed by keyrite itself as its session closes (`KEYRITE_OBJECTS_LEFT`, fault-injection
//! builds only).
#![cfg(feature = "fault-injection")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::Value;

/// Runs `cmd` with keyrite listing the session objects left on each token it opened into
/// `file` (a new one), and returns its output and those lines.
fn run_listing(mut cmd: Command, file: &Path) -> (Output, Vec<String>) {
    let _ = std::fs::remove_file(file);
    let out = run(cmd.env("KEYRITE_OBJECTS_LEFT", file));
    let lines = std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    (out, lines)
}

/// Asserts keyrite opened the token and left no session object on it.
fn assert_none_left(lines: &[String], label: &str, what: &str) {
    assert!(!lines.is_empty(), "{what}: the token was never opened");
    for line in lines {
        assert_eq!(
            line,
            &format!("token {label:?}: "),
            "{what}: session objects left behind"
        );
    }
}

/// The labels of the token's objects as PyKCS11 lists them, logged in, sorted.
fn labels(token: &TestToken) -> Vec<String> {
    let mut labels: Vec<String> = token
        .objects()
        .iter()
        .map(|o: &Value| format!("{} {}", o["class"], o["label"]))
        .collect();
    labels.sort();
    labels
}

/// The listing file, AWS parameters for a fresh KMS key, and the token's labels, once `token info`
/// has been run and left nothing on the token: how each family's test begins.
fn token_info_leaves_nothing(hsm: &TestToken) -> (PathBuf, PathBuf, Vec<String>) {
    let file = hsm.path("left.txt");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    let before = labels(hsm);
    let (out, lines) = run_listing(Wrap::new("token").arg("info").command(hsm), &file);
    assert!(out.status.success(), "{out:?}");
    assert_none_left(&lines, &hsm.label, "token info");
    assert_eq!(labels(hsm), before, "token info");
    (file, params, before)
}

#[test]
fn wraps_refusals_a_failing_rewrap_and_token_info_leave_nothing_on_softhsm2() {
    let hsm = TestToken::softhsm("left-behind");
    let (file, params, before) = token_info_leaves_nothing(&hsm);
    let params = params.to_str().unwrap();

    // SoftHSM2 takes OAEP with SHA-1 only: the trial under the imported KMS key is refused.
    let (out, lines) = run_listing(
        Wrap::aws(params)
            .algorithm("RSAES_OAEP_SHA_256")
            .label("refused")
            .out("refused")
            .pin()
            .command(&hsm),
        &file,
    );
    assert!(!out.status.success(), "{out:?}");
    assert_none_left(&lines, &hsm.label, "a refused wrap");
    assert_eq!(labels(&hsm), before, "a refused wrap");

    let (out, lines) = run_listing(
        Wrap::new("wrap")
            .aws_oaep_sha1(params, "direct", "direct")
            .pin()
            .command(&hsm),
        &file,
    );
    assert!(out.status.success(), "{out:?}");
    assert_none_left(&lines, &hsm.label, "an OAEP wrap");
    let after_direct = labels(&hsm);
    assert_eq!(after_direct.len(), before.len() + 1, "{after_direct:?}");
    assert!(
        after_direct.iter().any(|l| l.ends_with("\"direct\"")),
        "{after_direct:?}"
    );

    // RSA-AES: the ephemeral AES key, and the known-answer test's keys.
    let (out, lines) = run_listing(
        Wrap::aws(params)
            .algorithm("RSA_AES_KEY_WRAP_SHA_1")
            .label("composed")
            .out("composed")
            .pin()
            .command(&hsm),
        &file,
    );
    assert!(out.status.success(), "{out:?}");
    assert_none_left(&lines, &hsm.label, "an RSA-AES wrap");
    let after_composed = labels(&hsm);
    assert_eq!(after_composed.len(), before.len() + 2, "{after_composed:?}");

    // A rewrap of the key that the trial under the new parameters refuses.
    let kcv = manifest(&hsm.path("direct"))["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    let (out, lines) = run_listing(
        Wrap::rewrap()
            .provider("aws", params)
            .algorithm("RSAES_OAEP_SHA_256")
            .label("direct")
            .expect_kcv(&kcv)
            .out("again")
            .pin()
            .command(&hsm),
        &file,
    );
    assert!(!out.status.success(), "{out:?}");
    assert_none_left(&lines, &hsm.label, "a failing rewrap");
    assert_eq!(labels(&hsm), after_composed, "a failing rewrap");

    let (out, lines) = run_listing(
        Wrap::rewrap()
            .provider("aws", params)
            .algorithm(OAEP_SHA1)
            .label("direct")
            .expect_kcv(&kcv)
            .out("again")
            .pin()
            .command(&hsm),
        &file,
    );
    assert!(out.status.success(), "{out:?}");
    assert_none_left(&lines, &hsm.label, "a rewrap");
    assert_eq!(labels(&hsm), after_composed, "a rewrap");
}

#[test]
fn token_info_and_an_rsa_aes_wrap_leave_nothing_on_kryoptic() {
    let hsm = TestToken::kryoptic("left-behind");
    let (file, params, before) = token_info_leaves_nothing(&hsm);
    let params = params.to_str().unwrap();

    for (algorithm, spec, label) in [
        ("RSA_AES_KEY_WRAP_SHA_256", "AES_256", "composed"),
        ("RSA_AES_KEY_WRAP_SHA_256", "ECC_NIST_P256", "pair"),
    ] {
        let (out, lines) = run_listing(
            Wrap::aws(params)
                .algorithm(algorithm)
                .spec(spec)
                .label(label)
                .out(label)
                .pin()
                .command(&hsm),
            &file,
        );
        assert!(out.status.success(), "{out:?}");
        assert_none_left(&lines, &hsm.label, label);
    }
    let after = labels(&hsm);
    // The AES key, and the key pair's two halves.
    assert_eq!(after.len(), before.len() + 3, "{after:?}");
}

/// A wrap interrupted while it holds objects of its own (`KEYRITE_FAULT=session-object:N:pause`:
/// the first is the imported KMS public key, the second the trial's throw-away key beside it)
/// destroys them before it exits, with 128 + the signal's number and one line; no key is made
/// and no output written.
fn interrupted_wraps_leave_nothing(hsm: &TestToken) {
    let (file, params, before) = token_info_leaves_nothing(hsm);
    let params = params.to_str().unwrap();
    for (signal, code, objects) in [("INT", 130, 1), ("TERM", 143, 2), ("HUP", 129, 1)] {
        let what = format!("a wrap interrupted by SIG{signal}");
        let _ = std::fs::remove_file(&file);
        let mut cmd = Wrap::new("wrap")
            .aws_oaep_sha1(params, "interrupted", "interrupted")
            .pin()
            .command(hsm);
        cmd.env("KEYRITE_OBJECTS_LEFT", &file);
        let out = interrupted(&mut cmd, &format!("session-object:{objects}"), signal);
        assert_eq!(out.status.code(), Some(code), "{what}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "keyrite: interrupted (SIG{signal}); {objects} object{} keyrite made for itself on the token {} destroyed\n",
                if objects == 1 { "" } else { "s" },
                if objects == 1 { "was" } else { "were" },
            ),
            "{what}"
        );
        assert!(out.stdout.is_empty(), "{what}: {out:?}");
        let lines: Vec<String> = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_none_left(&lines, &hsm.label, &what);
        assert_eq!(labels(hsm), before, "{what}");
        assert!(!hsm.path("interrupted").exists(), "{what}: an output");
    }
}

#[test]
fn interrupted_wraps_leave_nothing_on_softhsm2() {
    interrupted_wraps_leave_nothing(&TestToken::softhsm("left-behind"));
}

#[test]
fn interrupted_wraps_leave_nothing_on_kryoptic() {
    interrupted_wraps_leave_nothing(&TestToken::kryoptic("left-behind"));
}

/// The lines keyrite wrote, as its sessions closed, naming the session objects left: none.
fn assert_none_left_in(file: &Path, label: &str, what: &str) {
    let lines: Vec<String> = std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_none_left(&lines, label, what);
}

/// A plain wrap interrupted once its key exists ends as its failure does: the key it generated
/// is destroyed with the objects it made for itself, and its one line says so. The pause points
/// (`session-object:N`) were counted on SoftHSM2 and kryoptic alike: with RSA-AES, the 6th
/// object is the ephemeral AES key the wrap itself makes, after the key was generated (the
/// imported KMS key is the other one alive); for an EC key pair, the 9th is the key the
/// PKCS#8 encoding probe makes right after the pair was generated, the 10th the wrap's
/// ephemeral AES key.
fn interrupted_wraps_destroy_their_key(hsm: &TestToken, cases: &[(&str, &str, &str, usize)]) {
    let (file, params, before) = token_info_leaves_nothing(hsm);
    for &(spec, algorithm, signal, nth) in cases {
        let what = format!("a wrap of {spec} interrupted by SIG{signal} at its object {nth}");
        let _ = std::fs::remove_file(&file);
        let mut cmd = Wrap::aws(&params)
            .algorithm(algorithm)
            .spec(spec)
            .label("interrupted")
            .out("interrupted")
            .pin()
            .command(hsm);
        cmd.env("KEYRITE_OBJECTS_LEFT", &file);
        let out = interrupted(&mut cmd, &format!("session-object:{nth}"), signal);
        let code = match signal {
            "INT" => 130,
            "TERM" => 143,
            _ => 129,
        };
        assert_eq!(out.status.code(), Some(code), "{what}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "keyrite: interrupted (SIG{signal}); 2 objects keyrite made for itself on the token were destroyed; the key \"interrupted\" it generated was destroyed\n"
            ),
            "{what}"
        );
        assert!(out.stdout.is_empty(), "{what}: {out:?}");
        assert_none_left_in(&file, &hsm.label, &what);
        assert_eq!(labels(hsm), before, "{what}");
        assert!(!hsm.path("interrupted").exists(), "{what}: an output");
    }
}

#[test]
fn an_interrupted_wrap_destroys_the_key_it_generated_on_softhsm2() {
    interrupted_wraps_destroy_their_key(
        &TestToken::softhsm("left-behind"),
        &[
            ("AES_256", "RSA_AES_KEY_WRAP_SHA_1", "INT", 6),
            ("AES_256", "RSA_AES_KEY_WRAP_SHA_1", "HUP", 6),
        ],
    );
}

#[test]
fn an_interrupted_wrap_destroys_the_key_or_key_pair_it_generated_on_kryoptic() {
    interrupted_wraps_destroy_their_key(
        &TestToken::kryoptic("left-behind"),
        &[
            ("AES_256", "RSA_AES_KEY_WRAP_SHA_256", "TERM", 6),
            ("ECC_NIST_P256", "RSA_AES_KEY_WRAP_SHA_256", "INT", 9),
            ("ECC_NIST_P256", "RSA_AES_KEY_WRAP_SHA_256", "INT", 10),
        ],
    );
}

/// A rewrap interrupted while it wraps (at the ephemeral AES key its RSA-AES wrap makes, the
/// 6th object of its own) destroys its own objects and never the key, which existed before it:
/// the token's objects are as they were, and the key rewraps afterwards.
#[test]
fn an_interrupted_rewrap_keeps_the_existing_key() {
    let hsm = TestToken::softhsm("left-behind");
    let (file, params, _) = token_info_leaves_nothing(&hsm);
    let params = params.to_str().unwrap();
    let out = run(&mut Wrap::new("wrap")
        .aws_oaep_sha1(params, "existing", "first")
        .pin()
        .command(&hsm));
    assert!(out.status.success(), "{out:?}");
    let kcv = manifest(&hsm.path("first"))["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = labels(&hsm);
    let rewrap = || {
        Wrap::rewrap()
            .provider("aws", params)
            .algorithm("RSA_AES_KEY_WRAP_SHA_1")
            .label("existing")
            .expect_kcv(&kcv)
            .out("again")
            .pin()
            .command(&hsm)
    };
    let _ = std::fs::remove_file(&file);
    let mut cmd = rewrap();
    cmd.env("KEYRITE_OBJECTS_LEFT", &file);
    let out = interrupted(&mut cmd, "session-object:6", "INT");
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "keyrite: interrupted (SIGINT); 2 objects keyrite made for itself on the token were destroyed\n"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_none_left_in(&file, &hsm.label, "an interrupted rewrap");
    assert_eq!(labels(&hsm), before, "an interrupted rewrap");
    assert!(
        !hsm.path("again").exists(),
        "an interrupted rewrap's output"
    );
    let out = run(&mut rewrap());
    assert!(out.status.success(), "the rewrap after: {out:?}");
}

/// Runs `cmd`, which reads its PIN from the pipe `fifo`, and once it has opened the pipe (and
/// waits on it for the PIN) sends it SIGINT: it must end at once.
fn interrupted_reading(cmd: &mut Command, fifo: &Path) -> Output {
    use std::os::unix::fs::OpenOptionsExt as _;
    run_ok(Command::new("mkfifo").args(["-m", "600"]).arg(fifo));
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the pipe for writing succeeds once keyrite has it open for reading.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let _writer = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(fifo)
        {
            Ok(writer) => break writer,
            Err(_) => {
                assert!(
                    child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline,
                    "keyrite never opened the PIN pipe"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    };
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("keyrite still waits for its PIN 20 s after SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A PIN that never comes (a pipe nobody writes to) does not hold keyrite up on Ctrl-C: it ends
/// at once, whether it waits before opening the token (`wrap`) or with a session open and no
/// object of its own yet (`token info`).
#[test]
fn a_wait_for_the_pin_ends_at_once_on_sigint() {
    let hsm = TestToken::softhsm("left-behind");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    for (name, expected) in [
        ("wrap", "keyrite: interrupted (SIGINT)\n"),
        (
            "token info",
            "keyrite: interrupted (SIGINT); no object keyrite made for itself was on the token\n",
        ),
    ] {
        let fifo = hsm.path(&format!("{}.pin", name.replace(' ', "-")));
        let mut cmd = hsm.keyrite();
        if name == "wrap" {
            cmd.args(["wrap", "--provider", "aws", "--params"])
                .arg(&params)
                .args(["--algorithm", OAEP_SHA1, "--key-label", "never", "--out"])
                .arg(hsm.path("never"));
        } else {
            cmd.args(["token", "info", "--token", &hsm.label]);
        }
        cmd.arg("--pin-file").arg(&fifo);
        let out = interrupted_reading(&mut cmd, &fifo);
        assert_eq!(out.status.code(), Some(130), "{name}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{name}");
    }
}

/// Ctrl-C at the no-echo PIN prompt, on a real terminal (`script` gives the shell below a
/// pseudo-terminal, on which keyrite prompts): keyrite exits at once (130, its one line), and
/// leaves the terminal's mode as it found it, echo on, where the prompt had turned it off.
#[test]
fn sigint_at_the_pin_prompt_leaves_the_terminal_echoing() {
    let hsm = TestToken::softhsm("left-behind");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "params.json");
    let keyrite = Wrap::new("wrap")
        .aws_oaep_sha1(params.to_str().unwrap(), "never", "never")
        .command(&hsm);
    let mut line = String::new();
    for word in std::iter::once(keyrite.get_program()).chain(keyrite.get_args()) {
        line.push_str(&format!("'{}' ", word.to_str().unwrap()));
    }
    // The shell waits for the prompt to turn echo off, interrupts keyrite there, then reads
    // the terminal's mode back.
    let echo = "stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo";
    std::fs::write(
        hsm.path("prompt.sh"),
        format!(
            "{line} </dev/tty 2>stderr.txt &\n\
             pid=$!\n\
             i=0\n\
             until [ \"$({echo})\" = -echo ]; do\n\
             \x20 i=$((i + 1)); [ $i -lt 3000 ] || {{ echo 'no prompt'; exit 1; }}; sleep 0.01\n\
             done\n\
             echo \"during the prompt: $({echo})\"\n\
             kill -INT $pid\n\
             wait $pid\n\
             echo \"exit $?\"\n\
             echo \"after: $({echo})\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", "sh prompt.sh", "/dev/null"])
        .envs(
            keyrite
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .current_dir(hsm.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Held open until the run is over: an end of input would answer the prompt.
    let _input = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{screen:?}");
    for shown in ["during the prompt: -echo\n", "exit 130\n", "after: echo\n"] {
        assert!(screen.contains(shown), "{shown:?} not shown: {screen:?}");
    }
    assert_eq!(
        std::fs::read_to_string(hsm.path("stderr.txt")).unwrap(),
        "keyrite: interrupted (SIGINT)\n"
    );
}

/// A recorded wrap (`wrap --transcript`), which no run resumes, interrupted once its key exists
/// (the 6th object of its own, its RSA-AES wrap's ephemeral AES key) ends as its failure does:
/// the transcript records the failure and the key's destruction, the key is destroyed, and the
/// line says so; only the seal, which the token would have to make, is missing.
#[test]
fn an_interrupted_recorded_wrap_ends_as_its_failure_does() {
    let c = common::ceremony::Ceremony::new(&["us-east-1"]);
    let before = labels(&c.token);
    let mut cmd = Wrap::aws("params/us-east-1.json")
        .algorithm("RSA_AES_KEY_WRAP_SHA_1")
        .label("ci-key")
        .out("ci-out")
        .pin()
        .recorded("w.jsonl")
        .command(&c.token);
    let out = interrupted(&mut cmd, "session-object:6", "INT");
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "keyrite: interrupted (SIGINT); 2 objects keyrite made for itself on the token were destroyed; the key \"ci-key\" it generated was destroyed\n"
    );
    assert_eq!(labels(&c.token), before);
    assert!(!c.dir().join("ci-out").exists(), "an output");
    let lines = c.transcript("w.jsonl");
    let steps: Vec<&str> = lines
        .iter()
        .map(|(_, v)| v["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "request",
            "token",
            "attestation",
            "check",
            "batch",
            "generate",
            "generated",
            "commit",
            "failure",
            "destroy",
            "finish"
        ]
    );
    let finish = &lines.last().unwrap().1["data"];
    assert_eq!(finish["outcome"], "failed");
    assert_eq!(
        finish["keys"][0]["fate"],
        "destroyed (nothing was wrapped from it)"
    );
}
