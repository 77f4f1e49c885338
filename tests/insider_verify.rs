//! Issue 20, the verify side: the three verifiers that share no code — `keyrite verify`,
//! `scripts/verify-with-openssl` and `tests/independent/verify_transcript.py` — give one verdict,
//! with one meaning, on sealed records a PIN holder made to contradict themselves, on bytes no
//! signature covers, on output directories laid out to mislead or to hang them, and on the
//! policy's new fields; and none says VERIFIED without the policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, verifiers};
use common::*;

/// A ceremony run and sealed, approved by alice and bob, for the cases to start from.
fn sealed() -> Ceremony {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    c
}

/// keyrite's verdict line: the last line of its standard output.
fn verdict(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// Runs the three verifiers and asserts keyrite's verdict line is `keyrite_says`, and that all
/// three exit with `code`.
fn all_three(
    transcript: &Path,
    signer: &Path,
    policy: Option<&Path>,
    outputs: Option<&Path>,
    code: i32,
    keyrite_says: &str,
) -> [Output; 3] {
    let outs = verifiers(transcript, signer, policy, outputs, &[]);
    let report = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert_eq!(verdict(&outs[0]), keyrite_says, "{}", report(&outs[0]));
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        assert_eq!(
            out.status.code(),
            Some(code),
            "{name} on {}: {}",
            transcript.display(),
            report(out)
        );
    }
    outs
}

/// The standard output of the verifier `VERIFIERS[which]`.
fn stdout(outs: &[Output; 3], which: usize) -> String {
    String::from_utf8_lossy(&outs[which].stdout).into_owned()
}

fn path(c: &Ceremony, name: &str) -> PathBuf {
    c.dir().join(name)
}

const NOT_APPROVED: &str = "NOT APPROVED (no policy: quorum not checked): sealed, completed, and every check that ran passed, but without --policy nothing says who approved it (exit 4)";
const VERIFIED: &str = "VERIFIED: sealed, completed, and every check that ran passed (exit 0)";

/// Attack 8: `verify` without `--policy` never says VERIFIED. Without `--policy` or
/// `--no-policy` each verifier refuses (usage, exit 2) and says to give one; with
/// `--no-policy` each ends NOT APPROVED with exit 4, in keyrite's `--json` too; with the policy,
/// 0.
#[test]
fn without_the_policy_no_verifier_says_verified() {
    let c = sealed();
    let (t, signer, policy) = (
        path(&c, "t.jsonl"),
        path(&c, "signer.pem"),
        path(&c, "policy.toml"),
    );
    let repo = env!("CARGO_MANIFEST_DIR");
    let keyrite = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .arg("verify")
        .arg(&t)
        .arg("--signer")
        .arg(&signer));
    assert_eq!(keyrite.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&keyrite.stderr),
        "keyrite: verify needs the policy: without it no quorum is checked, and nothing says who approved the transcript\n\
         Give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4).\n"
    );
    assert!(keyrite.stdout.is_empty());
    let openssl = run(Command::new(format!("{repo}/scripts/verify-with-openssl"))
        .arg(&t)
        .arg(&signer));
    assert_eq!(openssl.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&openssl.stderr),
        "verify-with-openssl: give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)\n\
         usage: verify-with-openssl TRANSCRIPT SIGNER_PEM (--policy POLICY | --no-policy) [OUTPUTS_DIR]\n"
    );
    let python = run(Command::new(PYTHON)
        .arg(format!("{repo}/tests/independent/verify_transcript.py"))
        .arg(&t)
        .arg(&signer));
    assert_eq!(python.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&python.stderr),
        "verify_transcript.py: give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)\n\
         usage: verify_transcript.py TRANSCRIPT SIGNER_PEM (--policy POLICY | --no-policy) [OUTPUTS_DIR]\n"
    );
    // Both flags at once are refused too.
    let both = run(Command::new(env!("CARGO_BIN_EXE_keyrite"))
        .arg("verify")
        .arg(&t)
        .arg("--signer")
        .arg(&signer)
        .arg("--policy")
        .arg(&policy)
        .arg("--no-policy"));
    assert_eq!(both.status.code(), Some(2));

    let outs = all_three(&t, &signer, None, Some(c.dir()), 4, NOT_APPROVED);
    for which in [1, 2] {
        assert!(
            stdout(&outs, which).ends_with(
                "verdict: NOT APPROVED (no policy: quorum not checked): a sealed record of a completed ceremony, verified without a policy (exit 4)\n"
            ),
            "{}",
            stdout(&outs, which)
        );
    }
    let json = verifiers(&t, &signer, None, None, &["--json"]);
    assert_eq!(json[0].status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&json[0].stdout).unwrap();
    assert_eq!(report["verdict"], "not_approved");
    assert_eq!(report["exit_code"], 4);

    all_three(&t, &signer, Some(&policy), Some(c.dir()), 0, VERIFIED);
}
