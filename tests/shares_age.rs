//! PIN shares that only their custodian can open: `pin split --to-policy` encrypts one share to
//! each custodian's SSH key (age format), opened by the real `age` binary with that key and by
//! keyrite at `ceremony run --pin-share F.age --identity KEY`, refused with the wrong key; keys
//! age cannot encrypt to are refused before anything is written; `pin split` logs in with the
//! PIN it splits, and a wrong PIN writes nothing. The PIN never appears in what keyrite prints
//! or writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::ceremony::{Ceremony, ssh_keygen};
use common::*;

/// A ceremony whose policy's custodians are alice (Ed25519), carol (Ed25519) and rita (RSA
/// 3072), two of whom approve, with wendy as witness; the policy pins the module and the
/// token's serial, as one with pin_shares must.
fn age_ceremony() -> Ceremony {
    let mut c = Ceremony::new(&["us-east-1"]);
    let rita = ssh_keygen(&c.dir().join("keys"), "rita", &["-t", "rsa", "-b", "3072"]);
    c.people.push(rita);
    let serial = c.token.token_info()["tokens"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut text = format!(
        "version = 1\nthreshold = 2\nsigner_fingerprint = \"{}\"\ntoken_serial = \"{serial}\"\nmodule_sha256 = \"{}\"\n",
        c.signer_fingerprint,
        sha256sum(c.token.keyrite_module())
    );
    for name in ["alice", "carol", "rita"] {
        text.push_str(&format!(
            "\n[[custodians]]\nname = \"{name}\"\nssh_key = \"{}\"\n",
            c.person(name).public()
        ));
    }
    text.push_str(&format!(
        "\n[[witnesses]]\nname = \"wendy\"\nssh_key = \"{}\"\n",
        c.person("wendy").public()
    ));
    std::fs::write(c.dir().join("policy.toml"), text).unwrap();
    c
}

fn keyrite(c: &Ceremony, args: &[&str]) -> Output {
    run(c.token.keyrite().args(args))
}

/// `pin split --to-policy policy.toml --out DIR`; the (custodian, sha256, path) of each line
/// it printed for the policy.
fn split_to_policy(c: &Ceremony, dir: &str) -> (Output, Vec<(String, String, String)>) {
    let out = keyrite(
        c,
        &[
            "pin",
            "split",
            "--to-policy",
            "policy.toml",
            "--out",
            dir,
            "--pin-env",
            PIN_ENV,
        ],
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("{ custodian = \""))
        .map(|l| {
            let (name, rest) = l.split_once("\", sha256 = \"").unwrap();
            let (digest, rest) = rest.split_once("\" },  # ").unwrap();
            (name.to_owned(), digest.to_owned(), rest.to_owned())
        })
        .collect();
    (out, lines)
}

/// The files of a directory, by name.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn age_decrypt(c: &Ceremony, identity: &str, file: &str) -> Output {
    run(Command::new("age")
        .args(["-d", "-i"])
        .arg(&c.person(identity).key)
        .arg(file)
        .current_dir(c.dir()))
}

/// `ceremony run` with only these shares and identities (the PIN itself is not available).
fn run_with(c: &Ceremony, transcript: &str, args: &[&str]) -> Output {
    let mut cmd = c.run_command(transcript);
    cmd.env_remove(PIN_ENV).args(args);
    run(&mut cmd)
}

fn key(c: &Ceremony, name: &str) -> String {
    c.person(name).key.display().to_string()
}

#[test]
fn shares_to_a_policy_open_with_age_and_with_keyrite_and_run_a_ceremony() {
    let c = age_ceremony();
    let mut outputs = Vec::new();
    let (out, printed) = split_to_policy(&c, "shares");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        stdout.starts_with(
            "3 shares written, each encrypted to its custodian's SSH key; any 2 rebuild the PIN."
        ),
        "{stdout}"
    );
    assert!(stdout.contains("\npin_shares = [\n"), "{stdout}");
    outputs.push(out);
    let custodians: Vec<&str> = printed.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(custodians, ["alice", "carol", "rita"]);
    for (name, digest, path) in &printed {
        assert_eq!(path, &format!("shares/share-{name}.age"));
        assert_eq!(digest.len(), 64);
    }
    let dir = c.dir().join("shares");
    assert_eq!(
        names(&dir),
        ["share-alice.age", "share-carol.age", "share-rita.age"]
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for name in ["alice", "carol", "rita"] {
        let file = dir.join(format!("share-{name}.age"));
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            std::fs::read(&file)
                .unwrap()
                .starts_with(b"age-encryption.org/v1\n")
        );
    }
    // Nothing but the new directory was left beside it.
    assert!(
        !names(c.dir()).iter().any(|n| n.starts_with(".shares")),
        "{:?}",
        names(c.dir())
    );

    // The real age opens each share with its custodian's key, Ed25519 and RSA alike, and with
    // no other.
    let mut plaintexts = Vec::new();
    for name in ["alice", "carol", "rita"] {
        let opened = age_decrypt(&c, name, &format!("shares/share-{name}.age"));
        assert!(
            opened.status.success(),
            "age -d {name}: {}",
            String::from_utf8_lossy(&opened.stderr)
        );
        let text = String::from_utf8(opened.stdout).unwrap();
        assert!(text.ends_with('\n') && text.trim().len() > 64, "{name}");
        plaintexts.push(text.trim().to_owned());
    }
    assert_ne!(plaintexts[0], plaintexts[1]);
    let wrong = age_decrypt(&c, "carol", "shares/share-alice.age");
    assert!(!wrong.status.success());
    assert!(wrong.stdout.is_empty());

    // The policy pins the shares; the plan takes its PIN from them.
    let digests: Vec<&str> = printed.iter().map(|(_, d, _)| d.as_str()).collect();
    c.take_pin_from_shares(&digests, "");
    c.digest();
    c.approve("alice", "keyrite-plan", "alice.sig");
    c.approve("carol", "keyrite-plan", "carol.sig");
    let objects = c.token.objects();

    let (alice, carol, rita) = (key(&c, "alice"), key(&c, "carol"), key(&c, "rita"));
    // alice's share as she might re-encrypt it, armoured, with the real age.
    std::fs::create_dir(c.dir().join("armored")).unwrap();
    let mut age_armor = Command::new("age")
        .args(["-e", "-a", "-R"])
        .arg(format!("{alice}.pub"))
        .args(["-o", "armored/share-alice.age"])
        .current_dir(c.dir())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = age_armor.stdin.take().unwrap();
        stdin
            .write_all(format!("{}\n", plaintexts[0]).as_bytes())
            .unwrap();
    }
    assert!(age_armor.wait().unwrap().success());
    assert!(
        std::fs::read(c.dir().join("armored/share-alice.age"))
            .unwrap()
            .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
    );
    let alice_pub = format!("{alice}.pub");
    for (args, expected) in [
        (
            vec![
                "--pin-share",
                "shares/share-alice.age",
                "--pin-share",
                "shares/share-rita.age",
            ],
            "keyrite: shares/share-alice.age is encrypted to a custodian's SSH key: pass that custodian's private key with --identity KEY\n".to_owned(),
        ),
        (
            vec![
                "--pin-share",
                "shares/share-alice.age",
                "--identity",
                &carol,
                "--pin-share",
                "shares/share-carol.age",
            ],
            "keyrite: shares/share-alice.age: none of the 1 --identity key(s) given opens it; it was encrypted to another custodian's key\n".to_owned(),
        ),
        (
            vec![
                "--pin-share",
                "armored/share-alice.age",
                "--identity",
                &carol,
            ],
            "keyrite: armored/share-alice.age: none of the 1 --identity key(s) given opens it; it was encrypted to another custodian's key\n".to_owned(),
        ),
        // Opened with alice's key, the share is hers and pinned: only the count is short.
        (
            vec!["--pin-share", "armored/share-alice.age", "--identity", &alice],
            "keyrite: 1 share(s) given; 2 are needed\n".to_owned(),
        ),
        (
            vec![
                "--pin-share",
                "shares/share-alice.age",
                "--identity",
                &alice_pub,
            ],
            format!("keyrite: --identity {alice_pub}: it is not an SSH private key (pass the private key, not KEY.pub)\n"),
        ),
    ] {
        let out = run_with(&c, "t.jsonl", &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_refused(&out.stderr, &expected, &format!("{args:?}"));
        assert!(!c.dir().join("t.jsonl").exists());
        assert_eq!(c.token.objects(), objects);
        outputs.push(out);
    }

    // alice's key now has a passphrase (the same key): without a terminal to ask it on, it is
    // refused.
    let passphrase = "kr-Pass-0917-rowan";
    run_ok(Command::new("ssh-keygen").args(["-q", "-p", "-P", "", "-N", passphrase, "-f", &alice]));
    let out = run_with(
        &c,
        "t.jsonl",
        &[
            "--pin-share",
            "shares/share-alice.age",
            "--identity",
            &alice,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_refused(
        &out.stderr,
        &format!(
            "keyrite: --identity {alice} is protected by a passphrase: run on a terminal to type it\n"
        ),
        "passphrase",
    );
    outputs.push(out);

    // A whole ceremony from two encrypted shares, each opened with its custodian's key (RSA
    // first, then Ed25519, both keys given for each file), alice's passphrase typed on a
    // terminal (a real pty, from `script`).
    let out = c.run_on_a_terminal(
        "t.jsonl",
        &format!(
            "--pin-share shares/share-rita.age --pin-share shares/share-alice.age --identity {alice} --identity {rita}"
        ),
        &format!("{passphrase}\n"),
    );
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains(&format!("Passphrase for the SSH key {alice} (not shown): ")),
        "{screen}"
    );
    assert!(
        screen.contains("Completed. Sealed transcript: t.jsonl"),
        "{screen}"
    );
    // The screen holds the passphrase only as the pty echoed it, typed ahead before keyrite
    // turned echo off; the PIN and the shares are checked on it below.
    let screen = out.stdout;
    let lines = c.transcript("t.jsonl");
    let login = lines.iter().find(|(_, v)| v["step"] == "login").unwrap();
    assert_eq!(login.1["data"]["share_indexes"], serde_json::json!([3, 1]));
    let verified = c.verify("t.jsonl", &["--policy", "policy.toml", "--json"]);
    assert_eq!(verified.status.code(), Some(0));

    // Neither the PIN nor any share is in what keyrite printed, nor in a file it wrote other
    // than the token's own storage and the encrypted shares.
    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        written.push((format!("run {i} stdout"), out.stdout.clone()));
        written.push((format!("run {i} stderr"), out.stderr.clone()));
    }
    written.push(("the terminal".to_owned(), screen));
    let mut paths = Vec::new();
    files(c.dir(), &mut paths);
    for p in paths {
        let skip = p.starts_with(c.dir().join("keys")) || p.starts_with(c.dir().join("tokens"));
        if !skip {
            written.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    let mut needles = vec![PIN.to_owned(), passphrase.to_owned()];
    needles.extend(plaintexts);
    for (place, bytes) in &written {
        for needle in &needles {
            if place == "the terminal" && needle == passphrase {
                continue;
            }
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "a secret in {place}"
            );
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// An `sk-ssh-ed25519@openssh.com` public key line, as a FIDO key's would be (no hardware
/// needed to write one).
fn sk_ed25519_line() -> String {
    let mut blob = Vec::new();
    for part in [
        &b"sk-ssh-ed25519@openssh.com"[..],
        &[7u8; 32][..],
        &b"ssh:"[..],
    ] {
        blob.extend_from_slice(&u32::try_from(part.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!(
        "sk-ssh-ed25519@openssh.com {} sam",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[test]
fn custodians_whose_keys_age_cannot_encrypt_to_are_refused_before_anything_is_written() {
    let c = Ceremony::new(&["us-east-1"]);
    // The ceremony's own policy: bob's key is ECDSA P-256.
    let (out, _) = split_to_policy(&c, "shares");
    assert_eq!(out.status.code(), Some(1));
    assert_refused(
        &out.stderr,
        "keyrite: custodian \"bob\"'s key is ecdsa-sha2-nistp256, which the age format cannot encrypt to (only ssh-ed25519 and ssh-rsa): give the custodian an ssh-ed25519 key (`ssh-keygen -t ed25519`) and put it in the policy, or split with --plaintext and hand the share over in person; nothing was written\n",
        "ecdsa",
    );
    let before = names(c.dir());
    assert!(!before.iter().any(|n| n.contains("shares")), "{before:?}");

    // A hardware key, in a policy of its own.
    let policy = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    let bob = c.person("bob").public();
    std::fs::write(
        c.dir().join("sk-policy.toml"),
        policy
            .replace(&bob, &sk_ed25519_line())
            .replace("name = \"bob\"", "name = \"sam\""),
    )
    .unwrap();
    let before = names(c.dir());
    let out = keyrite(
        &c,
        &[
            "pin",
            "split",
            "--to-policy",
            "sk-policy.toml",
            "--out",
            "shares",
            "--pin-env",
            PIN_ENV,
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(
        &out.stderr,
        "keyrite: custodian \"sam\"'s key is a hardware security key (sk-ssh-ed25519@openssh.com), to which nothing can be encrypted: give the custodian an ssh-ed25519 key kept for the share (`ssh-keygen -t ed25519`) and put it in the policy, or split with --plaintext and hand the share over in person; nothing was written\n",
        "sk",
    );
    assert_eq!(names(c.dir()), before);

    // --shares is the number of custodians, or left out; one of the two destinations is named.
    let out = keyrite(
        &c,
        &[
            "pin",
            "split",
            "--to-policy",
            "sk-policy.toml",
            "--shares",
            "2",
            "--out",
            "shares",
            "--pin-env",
            PIN_ENV,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_refused(
        &out.stderr,
        "keyrite: --shares 2: the policy names 3 custodian(s), one share each; leave out --shares\n",
        "shares",
    );
    let out = keyrite(
        &c,
        &[
            "pin",
            "split",
            "--threshold",
            "2",
            "--shares",
            "3",
            "--out",
            "shares",
            "--pin-env",
            PIN_ENV,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: pin split needs --to-policy POLICY (each custodian's share encrypted to their SSH key) or --plaintext (share files in the clear)\n\
         Pass --to-policy policy.toml to encrypt each custodian's share to their SSH key (share-NAME.age), or --plaintext for share files in the clear.\n"
    );
    assert_eq!(names(c.dir()), before);
}

#[test]
fn pin_split_logs_in_with_the_pin_it_splits_and_a_wrong_one_writes_nothing() {
    let c = age_ceremony();
    let wrong = "kr-Wrong-5512-sorb";
    let split = |pin: &str, to: &[&str]| {
        run(c
            .token
            .keyrite()
            .env(PIN_ENV, pin)
            .args(["pin", "split", "--out", "shares", "--pin-env", PIN_ENV])
            .args(to))
    };
    let plaintext = ["--plaintext", "--threshold", "2", "--shares", "3"];
    let before = names(c.dir());
    for to in [&plaintext[..], &["--to-policy", "policy.toml"]] {
        let out = split(wrong, to);
        assert_eq!(out.status.code(), Some(1), "{to:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with("keyrite: token \"ceremony\" refused the PIN (CKR_PIN_INCORRECT)\n"),
            "{stderr}"
        );
        for printed in [&stderr, &String::from_utf8(out.stdout).unwrap()] {
            assert!(!printed.contains(wrong) && !printed.contains(PIN));
        }
        assert_eq!(names(c.dir()), before, "{to:?}");
    }

    // A policy whose token_serial is another token's: refused before the login.
    let policy = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    let serial = c.token.token_info()["tokens"][0]["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        c.dir().join("other-token.toml"),
        policy.replace(
            &format!("token_serial = \"{serial}\""),
            "token_serial = \"0000\"",
        ),
    )
    .unwrap();
    let out = split(PIN, &["--to-policy", "other-token.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("0000"), "{stderr}");
    assert!(!c.dir().join("shares").exists());
    // A policy that pins another module: refused before it is loaded.
    std::fs::write(
        c.dir().join("other-module.toml"),
        policy.replace(&sha256sum(c.token.keyrite_module()), &"0".repeat(64)),
    )
    .unwrap();
    let out = split(PIN, &["--to-policy", "other-module.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "pins module_sha256 = {}; it was not loaded",
            "0".repeat(64)
        )),
        "{stderr}"
    );
    assert!(!c.dir().join("shares").exists());

    // The right PIN writes.
    let out = split(PIN, &plaintext);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names(&c.dir().join("shares")),
        ["share-1.txt", "share-2.txt", "share-3.txt"]
    );
}

/// Share files a custodian or the operator could hand over instead of an age file keyrite
/// wrote: a passphrase (scrypt) stanza with a heavy work factor, which no SSH identity opens
/// and which must never ask for a passphrase or do the work; a header of many stanzas for
/// other keys; armour around junk. Each is refused at once, by file, as a usage error, before
/// the token is touched, and nothing is written.
#[test]
fn hostile_age_files_are_refused_at_once_without_a_prompt() {
    let c = age_ceremony();
    let (out, printed) = split_to_policy(&c, "shares");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digests: Vec<&str> = printed.iter().map(|(_, d, _)| d.as_str()).collect();
    c.take_pin_from_shares(&digests, "");
    c.digest();
    c.approve("alice", "keyrite-plan", "alice.sig");
    c.approve("carol", "keyrite-plan", "carol.sig");
    let objects = c.token.objects();

    let b64 = |n: usize| base64::engine::general_purpose::STANDARD_NO_PAD.encode(vec![7u8; n]);
    let real = std::fs::read(c.dir().join("shares/share-alice.age")).unwrap();
    let mut many = b"age-encryption.org/v1\n".to_vec();
    for _ in 0..60 {
        many.extend_from_slice(format!("-> X25519 {}\n{}\n", b64(32), b64(32)).as_bytes());
    }
    many.extend_from_slice(&real[b"age-encryption.org/v1\n".len()..]);
    assert!(many.len() < 8192);
    let mut armored = b"-----BEGIN AGE ENCRYPTED FILE-----\n".to_vec();
    for _ in 0..50 {
        armored.extend_from_slice(b"!!!!not base64 at all!!!!\n");
    }
    armored.extend_from_slice(b"-----END AGE ENCRYPTED FILE-----\n");
    let files: [(&str, Vec<u8>); 3] = [
        (
            "scrypt.age",
            format!(
                "age-encryption.org/v1\n-> scrypt {} 60\n{}\n--- {}\n",
                b64(16),
                b64(32),
                b64(32)
            )
            .into_bytes()
            .into_iter()
            .chain(vec![0u8; 64])
            .collect(),
        ),
        ("many.age", many),
        ("armored.age", armored),
    ];
    std::fs::create_dir(c.dir().join("junk")).unwrap();
    let alice = key(&c, "alice");
    for (name, bytes) in files {
        let path = format!("junk/{name}");
        std::fs::write(c.dir().join(&path), bytes).unwrap();
        let started = std::time::Instant::now();
        let mut cmd = c.run_command("t.jsonl");
        cmd.env_remove(PIN_ENV)
            .args(["--pin-share", &path, "--identity", &alice])
            .args(["--pin-share", "shares/share-carol.age"])
            .stdin(std::process::Stdio::null());
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{name}: {:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!("keyrite: {path}")),
            "{name}: {stderr}"
        );
        assert!(
            !stderr.to_lowercase().contains("passphrase"),
            "{name}: {stderr}"
        );
        assert!(!c.dir().join("t.jsonl").exists());
        assert_eq!(c.token.objects(), objects);
    }
}
