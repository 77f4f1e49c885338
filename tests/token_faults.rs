//! The token breaks under a running ceremony: its directory made read-only, or removed, while
//! the run is stopped at a step (the `fault-injection` build's `NAME:N:stop`). keyrite names the
//! PKCS#11 function and the CKR, records the failure, seals the transcript when the token can
//! still sign, and settles the new key as DESIGN.md says: destroyed when nothing was wrapped
//! from it, and says so when it cannot be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::ceremony::Ceremony;
use common::*;
use serde_json::Value;

/// Runs the ceremony, stopped at the `n`-th transcript line; `breaks` then changes the token
/// under it, and the run continues.
fn run_broken(c: &Ceremony, n: usize, breaks: impl FnOnce()) -> std::process::Output {
    let child = c
        .run_command("t.jsonl")
        .env("KEYRITE_FAULT", format!("transcript-line:{n}:stop"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if stat.split_whitespace().nth(2) == Some("T") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keyrite did not stop at transcript line {n} (is it built with --features fault-injection, as scripts/test builds it?)"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    breaks();
    run_ok(Command::new("kill").args(["-CONT", &pid.to_string()]));
    child.wait_with_output().unwrap()
}

fn transcript(c: &Ceremony) -> Vec<Value> {
    c.transcript("t.jsonl")
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// The line number (1-based) of the first line with `step`, in a run without faults.
fn line_of(step: &str) -> usize {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    transcript(&c)
        .iter()
        .position(|l| l["step"] == step)
        .unwrap()
        + 1
}

#[test]
fn the_token_made_read_only_before_the_key_is_generated() {
    let n = line_of("generate");
    let c = Ceremony::approved(&["us-east-1"]);
    let tokens = c.dir().join("tokens");
    let out = run_broken(&c, n, || {
        run_ok(
            Command::new("mount")
                .arg("--bind")
                .arg(&tokens)
                .arg(&tokens),
        );
        run_ok(
            Command::new("mount")
                .args(["-o", "remount,ro,bind"])
                .arg(&tokens),
        );
    });
    run_ok(Command::new("umount").arg(&tokens));
    assert_refused(
        &out.stderr,
        "keyrite: the ceremony failed at steps[0] (generate): C_GenerateKey returned CKR_GENERAL_ERROR. The sealed transcript is t.jsonl.\n",
        "read-only token",
    );
    let lines = transcript(&c);
    let failure = lines.iter().find(|l| l["step"] == "failure").unwrap();
    assert_eq!(
        failure["data"]["error"],
        "C_GenerateKey returned CKR_GENERAL_ERROR"
    );
    assert_eq!(lines.last().unwrap()["step"], "seal");
    let verified = c.verify(
        "t.jsonl",
        &["--policy", "policy.toml", "--plan", "plan.toml"],
    );
    assert_eq!(verified.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("FAILED CEREMONY"));
    assert!(
        !c.token
            .objects()
            .iter()
            .any(|o| o["label"] == "payments-2026")
    );
    assert!(!c.dir().join("payments-2026-us-east-1").exists());
}

#[test]
fn the_token_directory_removed_after_the_key_is_generated() {
    let n = line_of("generated");
    let c = Ceremony::approved(&["us-east-1"]);
    let tokens = c.dir().join("tokens");
    let out = run_broken(&c, n, || std::fs::remove_dir_all(&tokens).unwrap());
    assert_refused(
        &out.stderr,
        "keyrite: the ceremony failed at steps[1] (wrap): wrapping the key (C_WrapKey) failed: C_WrapKey returned CKR_KEY_HANDLE_INVALID. \
         Key \"payments-2026\": NOT destroyed (C_DestroyObject returned CKR_OBJECT_HANDLE_INVALID): remove it by hand. \
         The transcript t.jsonl records the failure but could not be sealed: token \"ceremony\" has no signer key labelled \"ceremony-signer\".\n",
        "token directory removed",
    );
    let lines = transcript(&c);
    // The step done before the failure was printed as it finished; nothing after it.
    let kcv = lines.iter().find(|l| l["step"] == "generated").unwrap()["data"]["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "Plan \"payments-2026\" approved by 2 of 2 required: alice, bob.\n{}\
             Key \"payments-2026\" (AES_256): KCV {} (aes-ecb-zero-3).\n",
            c.plan_digest_aloud(),
            kcv_aloud(&kcv)
        )
    );
    let failure = lines.iter().find(|l| l["step"] == "failure").unwrap();
    assert_eq!(
        failure["data"]["error"],
        "wrapping the key (C_WrapKey) failed: C_WrapKey returned CKR_KEY_HANDLE_INVALID"
    );
    assert_eq!(lines.last().unwrap()["step"], "finish");
    let verified = c.verify("t.jsonl", &[]);
    assert_eq!(verified.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&verified.stdout).contains("INCOMPLETE"));
    assert!(!c.dir().join("payments-2026-us-east-1").exists());
}
