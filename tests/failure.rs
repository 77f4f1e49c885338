//! Failures after the key exists leave nothing behind, and the PIN is never written anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::wrap::Wrap;
use common::*;

/// keyrite reads the PIN from a FIFO after it has checked its inputs. The test holds the PIN
/// back until it has created an empty `out` directory: the final no-clobber move must then
/// fail, after the key was generated and wrapped. The key must be destroyed, `out` left empty,
/// and no staging directory left beside it.
#[test]
fn an_output_that_appears_during_the_run_is_never_replaced_and_the_key_is_destroyed() {
    let hsm = TestToken::softhsm("ceremony");
    aws_kms(hsm.dir.path(), "params.json");
    let fifo = hsm.path("pin.fifo");
    run_ok(Command::new("mkfifo").args(["-m", "600"]).arg(&fifo));

    let child = hsm
        .keyrite()
        .args(Wrap::new("wrap").aws_oaep_sha1("params.json", "payments-2026", "out"))
        .args(["--pin-file", "pin.fifo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the write end blocks until keyrite opens the read end: its checks are done.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::fs::create_dir(hsm.path("out")).unwrap();
    writeln!(writer, "{PIN}").unwrap();
    drop(writer);
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: writing the output directory failed: out already exists; keyrite never \
         replaces an output; the new key \"payments-2026\" was destroyed and nothing was written\n"
    );
    assert_eq!(std::fs::read_dir(hsm.path("out")).unwrap().count(), 0);
    let leftovers: Vec<String> = std::fs::read_dir(hsm.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("keyrite"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(hsm.objects().is_empty(), "the key was not destroyed");
}

fn all_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tokens") {
                all_files(&path, found);
            }
        } else {
            found.push(path);
        }
    }
}

#[test]
fn the_pin_appears_in_no_output_log_or_message() {
    let hsm = TestToken::softhsm("ceremony");
    aws_kms(hsm.dir.path(), "params.json");
    let pin_file = hsm.path("pin.txt");
    std::fs::write(&pin_file, PIN).unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut transcripts = Vec::new();
    let mut record = |cmd: &mut Command| {
        let out = run(cmd);
        transcripts.push(out.stdout);
        transcripts.push(out.stderr);
    };
    record(
        hsm.keyrite()
            .args(Wrap::new("wrap").aws_oaep_sha1("params.json", "a", "out-a"))
            .args(["--pin-env", PIN_ENV]),
    );
    record(
        hsm.keyrite()
            .args(Wrap::new("wrap").aws_oaep_sha1("params.json", "b", "out-b"))
            .args(["--pin-file", "pin.txt"])
            .arg("--json"),
    );
    record(
        hsm.keyrite()
            .args(Wrap::new("wrap").aws_oaep_sha1("params.json", "a", "out-c"))
            .args(["--pin-env", PIN_ENV]),
    );
    record(
        hsm.keyrite()
            .args(Wrap::new("wrap").aws_oaep_sha1("params.json", "c", "out-d"))
            .args(["--algorithm", "RSAES_OAEP_SHA_256", "--pin-env", PIN_ENV]),
    );
    record(
        hsm.keyrite()
            .env(PIN_ENV, format!("{PIN}x"))
            .args(Wrap::new("wrap").aws_oaep_sha1("params.json", "d", "out-e"))
            .args(["--pin-env", PIN_ENV]),
    );
    record(
        hsm.keyrite()
            .args(["token", "info", "--json", "--pin-env", PIN_ENV]),
    );
    record(hsm.keyrite().args(["--help"]));
    assert!(hsm.path("out-a/manifest.json").exists() && hsm.path("out-b/manifest.json").exists());

    let mut files = Vec::new();
    all_files(hsm.dir.path(), &mut files);
    let needles = [
        PIN.as_bytes().to_vec(),
        hex::encode(PIN).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(PIN)
            .into_bytes(),
    ];
    let haystacks = files
        .iter()
        .filter(|f| *f != &pin_file)
        .map(|f| (f.display().to_string(), std::fs::read(f).unwrap()))
        .chain(
            transcripts
                .into_iter()
                .map(|t| ("a command's output".to_owned(), t)),
        );
    let mut searched = 0;
    for (name, bytes) in haystacks {
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "the PIN appears in {name}"
            );
        }
        searched += 1;
    }
    assert!(searched >= 20, "only {searched} places searched");
}
