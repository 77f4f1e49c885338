//! PIN shares: split with `keyrite pin split`, pinned by the policy, any M rebuild the PIN for a
//! real SoftHSM2 ceremony; a changed, foreign or repeated share is refused, naming it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::ceremony::Ceremony;
use common::*;

fn run_with(c: &Ceremony, transcript: &str, shares: &[&str]) -> std::process::Output {
    let mut cmd = c.run_command(transcript);
    // The PIN itself is not available to this run: only the shares are.
    cmd.env_remove(PIN_ENV);
    for s in shares {
        cmd.args(["--pin-share", s]);
    }
    run(&mut cmd)
}

#[test]
fn m_shares_log_in_for_a_real_ceremony_and_bad_shares_are_refused_by_name() {
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    assert_eq!(digests.len(), 3);
    for i in 1..=3 {
        let mode = std::fs::metadata(c.dir().join(format!("shares/share-{i}.txt")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let other = c.split_pin("other", "2", "3");
    assert_ne!(digests, other);
    c.use_shares(&digests);
    let objects = c.token.objects();

    let mut changed = std::fs::read_to_string(c.dir().join("shares/share-2.txt")).unwrap();
    let last = changed.trim_end().len() - 1;
    let flipped = if &changed[last..last + 1] == "0" {
        "1"
    } else {
        "0"
    };
    changed.replace_range(last..last + 1, flipped);
    std::fs::write(c.dir().join("changed.txt"), changed).unwrap();

    for (shares, expected) in [
        (vec!["shares/share-1.txt"], "keyrite: 1 share(s) given; 2 are needed\n".to_owned()),
        (
            vec!["shares/share-1.txt", "changed.txt"],
            "keyrite: changed.txt: group 16 of 16 does not match its checksum\n".to_owned(),
        ),
        (
            vec!["other/share-2.txt", "shares/share-1.txt"],
            "keyrite: other/share-2.txt is not one of the policy's pin_shares (mistyped, corrupted, or from another split)\n".to_owned(),
        ),
        (
            vec!["shares/share-3.txt", "shares/share-3.txt"],
            "keyrite: shares/share-3.txt repeats share 3\n".to_owned(),
        ),
    ] {
        let out = run_with(&c, "t.jsonl", &shares);
        assert_refused(&out.stderr, &expected, &format!("{shares:?}"));
        assert!(!c.dir().join("t.jsonl").exists());
        assert_eq!(c.token.objects(), objects);
    }

    let out = run_with(&c, "t.jsonl", &["shares/share-3.txt", "shares/share-1.txt"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = c.transcript("t.jsonl");
    let login = lines.iter().find(|(_, v)| v["step"] == "login").unwrap();
    assert_eq!(login.1["data"]["share_indexes"], serde_json::json!([3, 1]));
    let verified = c.verify("t.jsonl", &["--policy", "policy.toml", "--json"]);
    assert_eq!(verified.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    let shares_check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pin_shares")
        .unwrap();
    assert_eq!(shares_check["status"], "passed");

    // Neither the PIN nor any share appears in a file keyrite wrote.
    let mut secrets = vec![PIN.to_owned()];
    for i in 1..=3 {
        let share = std::fs::read_to_string(c.dir().join(format!("shares/share-{i}.txt"))).unwrap();
        secrets.push(share.trim().to_owned());
        secrets.push(share.trim().rsplit(':').next().unwrap().to_owned());
    }
    let mut written = vec![std::fs::read(c.dir().join("t.jsonl")).unwrap()];
    for e in std::fs::read_dir(c.dir().join("payments-2026-us-east-1")).unwrap() {
        written.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    for bytes in &written {
        for s in &secrets {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()));
        }
    }
}

#[test]
fn any_two_of_three_shares_rebuild_the_pin() {
    for pair in [["1", "2"], ["2", "3"], ["1", "3"]] {
        let c = Ceremony::new(&["us-east-1"]);
        let digests = c.split_pin("shares", "2", "3");
        c.use_shares(&digests);
        let files: Vec<String> = pair
            .iter()
            .map(|i| format!("shares/share-{i}.txt"))
            .collect();
        let out = run_with(
            &c,
            "t.jsonl",
            &files.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(
            out.status.success(),
            "{pair:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// With no --pin-share, custodians type their shares on the terminal (a real pty, from
/// `script`): a wrong share is refused and asked again, each accepted share clears the screen,
/// reading stops at the threshold.
#[test]
fn shares_typed_on_a_terminal_one_custodian_at_a_time() {
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    let share = |i: u8| {
        std::fs::read_to_string(c.dir().join(format!("shares/share-{i}.txt")))
            .unwrap()
            .trim()
            .to_owned()
    };
    let foreign = c.split_pin("foreign", "2", "3");
    assert_eq!(foreign.len(), 3);
    let stranger = std::fs::read_to_string(c.dir().join("foreign/share-2.txt")).unwrap();
    let typed = format!("{}\n{}\n{}\n", stranger.trim(), share(2), share(3));
    let out = c.run_on_a_terminal("t.jsonl", "", &typed);
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("is not one of the policy's pin_shares"),
        "{screen}"
    );
    assert!(
        screen.contains("\x1b[2J"),
        "the screen is cleared between custodians"
    );
    assert!(
        screen.contains("Completed. Sealed transcript: t.jsonl"),
        "{screen}"
    );
    let lines = c.transcript("t.jsonl");
    let login = lines.iter().find(|(_, v)| v["step"] == "login").unwrap();
    assert_eq!(login.1["data"]["share_indexes"], serde_json::json!([2, 3]));
}

/// A terminal of its own: a tmux server on a socket in the ceremony's directory, 120×40, running
/// one command; keys are sent to it and its screen read as a person would see it.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn start(dir: &std::path::Path, script: &str) -> Self {
        std::fs::write(dir.join("pane.sh"), script).unwrap();
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let mut cmd = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-s",
            "keyrite",
            "-c",
        ]);
        cmd.arg(dir).args(["sh", "pane.sh"]);
        tmux.ok(cmd);
        tmux
    }

    /// A `tmux -u -f /dev/null -S SOCKET ARGS…` command (UTF-8, no configuration file).
    fn run(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("tmux");
        cmd.args(["-u", "-f", "/dev/null", "-S"])
            .arg(&self.socket)
            .args(args);
        cmd
    }

    fn ok(&self, mut cmd: std::process::Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The screen, wrapped lines joined.
    fn screen(&self) -> String {
        self.ok(self.run(&["capture-pane", "-p", "-J", "-t", "keyrite"]))
    }

    /// Waits (up to 60 s) until the screen shows `text`, and returns the screen.
    fn wait_for(&self, text: &str) -> String {
        let start = std::time::Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "waited for {text:?}; the screen:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Types `text` (literally) and Enter.
    fn type_line(&self, text: &str) {
        self.ok(self.run(&["send-keys", "-t", "keyrite", "-l", text]));
        self.ok(self.run(&["send-keys", "-t", "keyrite", "Enter"]));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]).output();
    }
}

/// The custodians named in the policy type their shares in a real terminal (tmux): a typo is
/// refused by its group and the same custodian asked again, so is another custodian's share, a
/// share of another split and a repeat; Enter alone passes to the next custodian; the screen
/// never shows a share.
#[test]
fn named_custodians_type_their_shares_in_a_terminal() {
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    // The policy names who holds each share.
    let policy = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    let named: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .zip(&digests)
        .map(|(name, d)| format!("{{ custodian = \"{name}\", sha256 = \"{d}\" }}"))
        .collect();
    // And how many shares rebuild the PIN, as `pin split` prints it: the prompts count to it
    // from the first share.
    let policy = policy.replace(
        &format!("pin_shares = {digests:?}"),
        &format!("pin_threshold = 2\npin_shares = [{}]", named.join(", ")),
    );
    assert!(policy.contains("custodian = \"carol\""));
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
    let share = |dir: &str, i: u8| {
        std::fs::read_to_string(c.dir().join(format!("{dir}/share-{i}.txt")))
            .unwrap()
            .trim()
            .to_owned()
    };
    c.split_pin("foreign", "2", "3");
    let (alice, bob, carol, stranger) = (
        share("shares", 1),
        share("shares", 2),
        share("shares", 3),
        share("foreign", 1),
    );
    assert_eq!(alice.split('-').count(), 16);
    // Alice's share with a typo in group 7, and as she might type it: lowercase, spaced.
    let at = 6 * 6 + 2;
    let typo = if &alice[at..=at] == "7" { "8" } else { "7" };
    let mistyped = format!("{}{typo}{}", &alice[..at], &alice[at + 1..]);
    let sloppy = alice.to_lowercase().replace('-', " ");
    let typed = [&alice, &bob, &carol, &stranger, &mistyped, &sloppy];

    let tmux = Tmux::start(
        c.dir(),
        &format!(
            "unset KEYRITE_PKCS11_MODULE {PIN_ENV}\nexport {}='{}'\n'{}' ceremony run plan.toml --policy policy.toml --approvals approvals --transcript t.jsonl\necho $? > rc\nexec sleep 600\n",
            c.token.conf_env(),
            c.token.conf.display(),
            env!("CARGO_BIN_EXE_keyrite"),
        ),
    );
    let screens = std::cell::RefCell::new(Vec::new());
    let step = |send: Option<&str>, want: &str| {
        if let Some(text) = send {
            tmux.type_line(text);
        }
        screens.borrow_mut().push(tmux.wait_for(want));
    };
    let alice_turn =
        "PIN share 1 of 2 — alice, type now (not shown), or Enter alone if alice is not here:";
    step(None, alice_turn);
    step(
        Some(&mistyped),
        "Group 7 of 16 does not match its checksum; alice, type your share again.",
    );
    step(
        Some(&bob),
        "That is bob's share, not alice's; alice, type your share again.",
    );
    step(
        Some(&stranger),
        "That share is not one of the policy's pin_shares: a share of another split",
    );
    step(
        Some(&sloppy),
        "Share 1 of 2 accepted from alice; 1 more needed.",
    );
    let screen = screens.borrow().last().unwrap().clone();
    assert!(
        !screen.contains(alice_turn) && !screen.contains("Group 7"),
        "the screen is cleared once a share is accepted:\n{screen}"
    );
    let bob_turn =
        "PIN share 2 of 2 — bob, type now (not shown), or Enter alone if bob is not here:";
    step(None, bob_turn);
    step(
        Some(&alice),
        "That share (share 1) was given already; bob, type your share again.",
    );
    step(Some(""), "bob is not here; on to the next custodian.");
    step(
        None,
        "PIN share 2 of 2 — carol, type now (not shown), or Enter alone if carol is not here:",
    );
    step(Some(&carol), "Completed. Sealed transcript: t.jsonl");
    let start = std::time::Instant::now();
    while !c.dir().join("rc").exists() {
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(c.dir().join("rc")).unwrap().trim(),
        "0"
    );
    drop(tmux);

    // No screen showed any share, in any form typed, nor its first two groups.
    for screen in screens.borrow().iter() {
        for text in typed {
            let groups: Vec<&str> = text.split(['-', ' ']).collect();
            for needle in [
                text.to_owned(),
                groups[..2].join("-"),
                groups[..2].join(" "),
            ] {
                assert!(!screen.contains(&needle), "a share shown:\n{screen}");
            }
        }
    }
    let lines = c.transcript("t.jsonl");
    let login = lines.iter().find(|(_, v)| v["step"] == "login").unwrap();
    assert_eq!(login.1["data"]["share_indexes"], serde_json::json!([1, 3]));
    let verified = c.verify("t.jsonl", &["--policy", "policy.toml", "--json"]);
    assert_eq!(verified.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pin_shares")
        .unwrap();
    assert_eq!(check["status"], "passed");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .ends_with("of the policy's 3 (alice's, carol's)"),
        "{check}"
    );
}

/// The pin_shares check of `verify --policy`, as JSON.
fn shares_check(c: &Ceremony, transcript: &str) -> (Option<i32>, serde_json::Value) {
    let verified = c.verify(transcript, &["--policy", "policy.toml", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pin_shares")
        .unwrap()
        .clone();
    (verified.status.code(), check)
}

/// The transcript records each share by its index, and verify reads an index as a place in the
/// policy's pin_shares: so `ceremony run` takes a share only at its own place. A policy that pins
/// some shares of a split out of their places (shares 2 and 3 of 3 as the first two), or names
/// custodians in another order than the split's (carol, alice, bob), is refused before the token
/// is opened, naming the share and the place: no run can be recorded that verify would pass
/// or fail for the wrong reason, or whose record names the wrong custodians.
#[test]
fn a_share_pinned_out_of_its_place_is_refused_before_the_token_so_verify_names_the_right_custodians()
 {
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests[1..]);
    let objects = c.token.objects();
    let out = run_with(&c, "t.jsonl", &["shares/share-3.txt", "shares/share-2.txt"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.starts_with(
            "keyrite: shares/share-3.txt is share 3 of its split, but the policy pins it as pin_shares[1], the place of share 2"
        ),
        "{stderr}"
    );
    assert!(!c.dir().join("t.jsonl").exists(), "nothing is recorded");
    assert_eq!(c.token.objects(), objects);

    // Named in another order than the split's: refused likewise.
    let c = Ceremony::new(&["us-east-1"]);
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    let policy = std::fs::read_to_string(c.dir().join("policy.toml")).unwrap();
    let named = |order: &[(&str, usize)]| {
        let entries: Vec<String> = order
            .iter()
            .map(|(name, i)| format!("{{ custodian = \"{name}\", sha256 = \"{}\" }}", digests[*i]))
            .collect();
        policy.replace(
            &format!("pin_shares = {digests:?}"),
            &format!("pin_shares = [{}]", entries.join(", ")),
        )
    };
    let reordered = named(&[("carol", 2), ("alice", 0), ("bob", 1)]);
    assert!(reordered.contains("custodian = \"carol\""));
    std::fs::write(c.dir().join("policy.toml"), reordered).unwrap();
    let out = run_with(&c, "t.jsonl", &["shares/share-1.txt", "shares/share-3.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("is share 1 of its split, but the policy pins it as pin_shares[1]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!c.dir().join("t.jsonl").exists());
    // In the split's order, the same shares run, and verify names alice and carol.
    std::fs::write(
        c.dir().join("policy.toml"),
        named(&[("alice", 0), ("bob", 1), ("carol", 2)]),
    )
    .unwrap();
    let out = run_with(&c, "t.jsonl", &["shares/share-1.txt", "shares/share-3.txt"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, check) = shares_check(&c, "t.jsonl");
    assert_eq!(code, Some(0), "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .ends_with("(alice's, carol's)"),
        "{check}"
    );
}
