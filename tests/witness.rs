//! Witnesses co-sign a sealed transcript with their own SSH keys; `ssh-keygen -Y verify` agrees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use common::ceremony::Ceremony;
use common::*;
use serde_json::Value;

fn keyrite_ok(c: &Ceremony, args: &[&str]) -> String {
    String::from_utf8(run_ok(c.token.keyrite().args(args))).unwrap()
}

#[test]
fn a_witness_signs_and_ssh_keygen_verifies_it() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let wendy = c.person("wendy").key.display().to_string();
    let out = String::from_utf8(run_ok(&mut c.witness_command(&[
        "sign",
        "t.jsonl",
        "--ssh-key",
        &wendy,
    ])))
    .unwrap();

    let lines = c.transcript("t.jsonl");
    let (_, last) = lines.last().unwrap();
    assert_eq!(last["step"], "witness");
    assert_eq!(last["actor"], "wendy");
    // What was signed is the SHA-256 of the seal line, as sha256sum computes it; the witness
    // is shown it in hex and PGP words, to compare with what was read aloud at the seal.
    let seal = &lines[lines.len() - 2].0;
    let head = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(seal.as_bytes()));
    assert_eq!(last["data"]["message"], head);
    assert_eq!(
        out,
        format!(
            "Witness \"wendy\" signed t.jsonl.\n{}",
            aloud(
                "  ",
                "chain head at the seal (what the witness signed)",
                &head
            )
        )
    );
    std::fs::write(
        c.dir().join("allowed_witnesses"),
        format!("wendy {}\n", c.person("wendy").public()),
    )
    .unwrap();
    std::fs::write(
        c.dir().join("w.sig"),
        last["data"]["signature"].as_str().unwrap(),
    )
    .unwrap();
    let ok = run(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s\\n' {head} | ssh-keygen -Y verify -f allowed_witnesses -I wendy -n keyrite-witness -s w.sig"
            ))
            .current_dir(c.dir()),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let out = c.verify("t.jsonl", &["--policy", "policy.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["witnesses"][0]["name"], "wendy");
    assert_eq!(report["witnesses"][0]["verified"], true);

    // The same witness twice is refused.
    let again = c.witness_sign("t.jsonl", "wendy");
    assert_eq!(
        String::from_utf8(again.stderr).unwrap(),
        "keyrite: wendy has already witnessed this transcript\n"
    );
}

#[test]
fn a_signature_made_elsewhere_is_added_and_outsiders_are_refused() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let message = keyrite_ok(
        &c,
        &["witness", "message", "t.jsonl", "--signer", "signer.pem"],
    );
    std::fs::write(c.dir().join("seal.head"), &message).unwrap();
    for (who, namespace) in [
        ("dave", "keyrite-witness"),
        ("wendy", "file"),
        ("wendy", "keyrite-witness"),
    ] {
        let _ = std::fs::remove_file(c.dir().join("seal.head.sig"));
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
                .arg(&c.person(who).key)
                .arg(c.dir().join("seal.head")),
        );
        let out = run(c.token.keyrite().args([
            "witness",
            "add",
            "t.jsonl",
            "--signature",
            "seal.head.sig",
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
        ]));
        let stderr = String::from_utf8(out.stderr).unwrap();
        match (who, namespace) {
            ("dave", _) => assert!(
                stderr.contains("is not a witness's in the policy\n"),
                "{stderr}"
            ),
            (_, "file") => assert_refused(
                stderr.as_bytes(),
                "keyrite: the signature is in namespace \"file\", not \"keyrite-witness\"\n",
                "namespace",
            ),
            _ => assert!(out.status.success(), "{stderr}"),
        }
    }
    let witnesses: Vec<String> = c
        .transcript("t.jsonl")
        .iter()
        .filter(|(_, v)| v["step"] == "witness")
        .map(|(_, v)| v["actor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(witnesses, ["wendy"]);
    assert_eq!(
        c.verify("t.jsonl", &["--policy", "policy.toml"])
            .status
            .code(),
        Some(0)
    );
}

/// wendy's signature over `t.jsonl`'s seal, made by `ssh-keygen` from `keyrite witness message`,
/// in `wendy.sig`.
fn wendy_signs(c: &Ceremony) {
    let message = run_ok(&mut c.witness_command(&["message", "t.jsonl"]));
    std::fs::write(c.dir().join("seal.head"), message).unwrap();
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", "keyrite-witness", "-f"])
            .arg(&c.person("wendy").key)
            .arg(c.dir().join("seal.head")),
    );
    std::fs::rename(c.dir().join("seal.head.sig"), c.dir().join("wendy.sig")).unwrap();
}

#[test]
fn a_transcript_named_through_a_symbolic_link_is_refused_and_its_target_unchanged() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    wendy_signs(&c);
    std::os::unix::fs::symlink("t.jsonl", c.dir().join("link.jsonl")).unwrap();
    let before = std::fs::read(c.dir().join("t.jsonl")).unwrap();
    let wendy = c.person("wendy").key.display().to_string();
    let refusal = "keyrite: link.jsonl is a symbolic link: keyrite reads and appends to a \
                   transcript only by its own name; name the file itself\n";
    for args in [
        vec!["add", "link.jsonl", "--signature", "wendy.sig"],
        vec!["sign", "link.jsonl", "--ssh-key", &wendy],
        vec!["message", "link.jsonl"],
    ] {
        let out = run(&mut c.witness_command(&args));
        assert_refused(&out.stderr, refusal, args[0]);
        assert_eq!(out.status.code(), Some(1), "{}", args[0]);
        assert!(out.stdout.is_empty(), "{}", args[0]);
        assert_eq!(std::fs::read(c.dir().join("t.jsonl")).unwrap(), before);
    }
    // The file itself, by its own name, takes the same signature.
    run_ok(&mut c.witness_command(&["add", "t.jsonl", "--signature", "wendy.sig"]));
    let lines = c.transcript("t.jsonl");
    assert_eq!(lines.last().unwrap().1["actor"], "wendy");
    assert_eq!(
        c.verify("t.jsonl", &["--policy", "policy.toml"])
            .status
            .code(),
        Some(0)
    );
}

/// Runs `witness add t.jsonl` stopped after it verified the transcript and checked wendy's
/// signature; `meanwhile` changes the files, then it continues.
fn add_interrupted(c: &Ceremony, meanwhile: impl FnOnce()) -> std::process::Output {
    let child = c
        .witness_command(&["add", "t.jsonl", "--signature", "wendy.sig"])
        .env("KEYRITE_FAULT", "witness-verified:1:stop")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_stopped(child.id(), "witness-verified");
    meanwhile();
    run_ok(Command::new("kill").args(["-CONT", &child.id().to_string()]));
    child.wait_with_output().unwrap()
}

#[test]
fn the_witness_line_goes_into_the_file_verified_whatever_its_name_points_to_meanwhile() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    wendy_signs(&c);
    let sealed = std::fs::read(c.dir().join("t.jsonl")).unwrap();
    // Between the verification and the append, the verified file is moved away and its name
    // becomes a symbolic link to a decoy.
    std::fs::write(c.dir().join("decoy.jsonl"), b"decoy\n").unwrap();
    let out = add_interrupted(&c, || {
        std::fs::rename(c.dir().join("t.jsonl"), c.dir().join("verified.jsonl")).unwrap();
        std::os::unix::fs::symlink("decoy.jsonl", c.dir().join("t.jsonl")).unwrap();
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(c.dir().join("decoy.jsonl")).unwrap(),
        b"decoy\n"
    );
    let verified = std::fs::read(c.dir().join("verified.jsonl")).unwrap();
    assert!(verified.starts_with(&sealed));
    let lines = c.transcript("verified.jsonl");
    assert_eq!(lines.len(), sealed.split(|&b| b == b'\n').count());
    assert_eq!(lines.last().unwrap().1["step"], "witness");
    assert_eq!(
        c.verify("verified.jsonl", &["--policy", "policy.toml"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn a_transcript_written_by_another_process_meanwhile_gets_no_witness_line() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    wendy_signs(&c);
    let path = c.dir().join("t.jsonl");
    // Something that ignores the lock appends a line after the verification.
    let out = add_interrupted(&c, || {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"{}\n").unwrap();
    });
    assert_refused(
        &out.stderr,
        "keyrite: t.jsonl changed while it was being verified (written by something that does \
         not take its lock); nothing was appended: run the command again\n",
        "changed",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n{}\n"), "{text}");
    assert!(!text.contains("\"witness\""), "{text}");
}

#[test]
fn witness_sign_writes_no_file_and_needs_no_temporary_directory() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let wendy = c.person("wendy").key.display().to_string();
    // A TMPDIR that does not exist: signing does not need one.
    let out = run(c
        .witness_command(&["sign", "t.jsonl", "--ssh-key", &wendy])
        .env("TMPDIR", c.dir().join("no-such-dir")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!c.dir().join("no-such-dir").exists());

    // With a writable TMPDIR, and ssh-keygen seen through a wrapper that records what it is
    // given: the message comes on its standard input, no file is named, none is left behind.
    let c2 = Ceremony::new(&["us-east-1"]);
    c2.run_approved("t.jsonl");
    let tmp = c2.dir().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let seen = c2.dir().join("seen");
    std::fs::create_dir(&seen).unwrap();
    let bin = c2.dir().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let real = String::from_utf8(run_ok(
        Command::new("sh").args(["-c", "command -v ssh-keygen"]),
    ))
    .unwrap();
    std::fs::write(
        bin.join("ssh-keygen"),
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{seen}/args'\ntee '{seen}/stdin' | exec '{real}' \"$@\"\n",
            seen = seen.display(),
            real = real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        bin.join("ssh-keygen"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let listing = |dir: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let files_before = listing(c2.dir());
    let wendy2 = c2.person("wendy").key.display().to_string();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    run_ok(
        c2.witness_command(&["sign", "t.jsonl", "--ssh-key", &wendy2])
            .env("TMPDIR", &tmp)
            .env("PATH", path),
    );
    assert_eq!(
        std::fs::read_to_string(seen.join("args")).unwrap(),
        format!("-q\n-Y\nsign\n-n\nkeyrite-witness\n-f\n{wendy2}\n")
    );
    let message = run_ok(&mut c2.witness_command(&["message", "t.jsonl"]));
    assert_eq!(std::fs::read(seen.join("stdin")).unwrap(), message);
    assert!(listing(&tmp).is_empty(), "{:?}", listing(&tmp));
    assert_eq!(listing(c2.dir()), files_before);

    // Both signatures verify under ssh-keygen over the seal's SHA-256.
    for c in [&c, &c2] {
        let lines = c.transcript("t.jsonl");
        let (_, last) = lines.last().unwrap();
        assert_eq!(last["step"], "witness");
        let head = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            lines[lines.len() - 2].0.as_bytes(),
        ));
        std::fs::write(
            c.dir().join("allowed_witnesses"),
            format!("wendy {}\n", c.person("wendy").public()),
        )
        .unwrap();
        std::fs::write(
            c.dir().join("w.sig"),
            last["data"]["signature"].as_str().unwrap(),
        )
        .unwrap();
        let ok = run(Command::new("sh")
            .arg("-c")
            .arg(format!(
                "printf '%s\\n' {head} | ssh-keygen -Y verify -f allowed_witnesses -I wendy -n keyrite-witness -s w.sig"
            ))
            .current_dir(c.dir()));
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }
}
