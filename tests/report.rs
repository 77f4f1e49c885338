//! `keyrite verify --report`: reports of real ceremonies — completed, failed, cut short and
//! tampered — opened in a real headless Chromium, their DOM checked for what an auditor must
//! see, a screenshot taken, and hostile transcript text shown as text with no script run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::*;
use serde_json::Value;

/// Free text a hostile operator could put in a plan or a transcript: must stay text.
const HOSTILE: &str =
    "<script>document.title='pwned'</script><img src=x onerror=document.title='pwned'>";
/// How Chromium serialises it back as a text node.
const HOSTILE_ESCAPED: &str = "&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x onerror=document.title='pwned'&gt;";

/// Headless Chromium, isolated: an empty profile in `dir`, no network services.
fn chromium(dir: &Path, args: &[&str], page: &Path) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium: {e} (scripts/test installs chromium)"))
}

/// The DOM after Chromium loaded the page (and ran whatever it would run).
fn dom(dir: &Path, page: &Path) -> String {
    let out = chromium(dir, &["--dump-dom"], page);
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("</html>"), "no DOM dumped: {dom}");
    dom
}

/// A screenshot of the page, checked to be a real PNG with something on it.
fn screenshot(dir: &Path, page: &Path, name: &str) -> PathBuf {
    let png = dir.join(name);
    let out = chromium(
        dir,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
        ],
        page,
    );
    assert!(
        out.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1280x2000 page compresses to a few kilobytes; a rendered report does not.
    assert!(bytes.len() > 20_000, "{} bytes only", bytes.len());
    png
}

/// The page's title as Chromium left it.
fn title(dom: &str) -> &str {
    let start = dom.find("<title>").unwrap() + "<title>".len();
    let end = dom[start..].find("</title>").unwrap() + start;
    &dom[start..end]
}

/// Verifies `transcript` with `--report report.html`; returns the exit code and the report path.
fn report(c: &Ceremony, transcript: &str, name: &str) -> (i32, PathBuf) {
    let out = c.verify(transcript, &["--policy", "policy.toml", "--report", name]);
    let without = c.verify(transcript, &["--policy", "policy.toml"]);
    // The exit code is the verdict's, with or without a report.
    assert_eq!(out.status.code(), without.status.code());
    assert_eq!(out.stdout, without.stdout);
    let path = c.dir().join(name);
    assert!(
        path.is_file(),
        "no report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), path)
}

/// The KCVs the transcript records for generated keys.
fn kcvs(c: &Ceremony, transcript: &str) -> Vec<String> {
    c.transcript(transcript)
        .iter()
        .filter(|(_, v)| v["step"] == "generated")
        .map(|(_, v)| v["data"]["key"]["kcv"].as_str().unwrap().to_owned())
        .collect()
}

/// What every report must show: the policy's custodians and witness, the checks, no script run.
fn assert_common(dom: &str) {
    for name in ["alice", "bob", "carol", "wendy"] {
        assert!(dom.contains(&format!("<td>{name}</td>")), "{name} missing");
    }
    for check in [
        "chain",
        "seal",
        "quorum",
        "plan",
        "steps",
        "kcv",
        "witnesses",
    ] {
        assert!(
            dom.contains(&format!("<th scope=\"row\">{check}</th>")),
            "check {check} missing"
        );
    }
    assert!(
        title(dom).contains("keyrite audit report"),
        "{}",
        title(dom)
    );
    assert!(!dom.contains("pwned</title>"));
    assert!(
        !dom.contains("<script"),
        "a script element made it into the DOM"
    );
    assert!(
        !dom.contains("<img"),
        "an image element made it into the DOM"
    );
}

/// A completed ceremony whose plan's operator is hostile free text: the report says VERIFIED
/// in green, lists who approved with which key, shows the KCV and the KMS key, and the
/// operator's text appears escaped while no script runs.
#[test]
fn a_completed_ceremony_reports_verified_and_escapes_the_operator() {
    let c = Ceremony::new(&["us-east-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let plan = plan.replace(
        "operator = \"Olivia\"",
        &format!("operator = \"{}\"", HOSTILE.replace('"', "\\\"")),
    );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.run_approved("t.jsonl");
    let (code, page) = report(&c, "t.jsonl", "report.html");
    assert_eq!(code, 0);
    let dom = dom(c.dir(), &page);
    assert!(
        dom.contains(
            "<p class=\"verdict verdict-verified\" id=\"verdict\" role=\"status\">VERIFIED — exit 0"
        ),
        "{dom}"
    );
    assert!(dom.contains("VERIFIED: sealed, completed, and every check that ran passed"));
    assert!(!dom.contains("first-broken"));
    assert_common(&dom);
    // The quorum: who approved with which key fingerprint, and who did not.
    for name in ["alice", "bob"] {
        let fp = run_ok(
            Command::new("ssh-keygen")
                .args(["-l", "-E", "sha256", "-f"])
                .arg(format!("{}.pub", c.person(name).key.display())),
        );
        let fp = String::from_utf8(fp).unwrap();
        let fp = fp.split_whitespace().nth(1).unwrap();
        assert!(
            dom.contains(&format!("<td>{name}</td><td class=\"mono\">{fp}</td>")),
            "{name}'s approval with {fp} missing"
        );
    }
    assert!(dom.contains("<strong>Did not approve: </strong>carol"));
    let kcvs = kcvs(&c, "t.jsonl");
    assert_eq!(kcvs.len(), 1);
    assert!(dom.contains(&format!("<dd class=\"mono\">{}</dd>", kcvs[0])));
    assert!(dom.contains("arn:aws:kms:us-east-1:111122223333:key/"));
    assert!(dom.contains("RSAES_OAEP_SHA_1"));
    // The hostile operator, shown as text in the plan and the timeline.
    assert!(
        dom.contains(&format!("<dd>{HOSTILE_ESCAPED}</dd>")),
        "{dom}"
    );
    screenshot(c.dir(), &page, "verified.png");

    // A report never replaces a file: a second one to the same path is refused (exit 2), and
    // the first is untouched.
    let before = std::fs::read(&page).unwrap();
    let out = c.verify(
        "t.jsonl",
        &["--policy", "policy.toml", "--report", "report.html"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "keyrite: {} already exists; keyrite never replaces an output\n\
             Choose a new --report path in an existing directory; keyrite never replaces a file.\n",
            "report.html"
        )
    );
    assert_eq!(std::fs::read(&page).unwrap(), before);
}

/// A ceremony that failed (SoftHSM2 cannot wrap with OAEP SHA-256): the report says so at the
/// top, in amber, with exit 3, and marks the failure in the timeline.
#[test]
fn a_failed_ceremony_reports_incomplete_and_marks_the_failure() {
    let c = Ceremony::new(&["us-east-1"]);
    c.write_plan("payments-2026", "RSAES_OAEP_SHA_256");
    c.approve_plan();
    assert_eq!(c.run("t.jsonl").status.code(), Some(1));
    let (code, page) = report(&c, "t.jsonl", "failed.html");
    assert_eq!(code, 3);
    let dom = dom(c.dir(), &page);
    assert!(dom.contains(
        "<p class=\"verdict verdict-incomplete\" id=\"verdict\" role=\"status\">INCOMPLETE — exit 3"
    ));
    assert!(dom.contains("FAILED CEREMONY: an intact, sealed record of a ceremony that failed"));
    assert!(dom.contains("<tr id=\"line-"));
    assert!(dom.contains("class=\"row-failed\""));
    assert!(dom.contains("<span class=\"failed\">✗ failed</span>"));
    assert!(dom.contains("CKR_ARGUMENTS_BAD"));
    assert!(dom.contains("RSAES_OAEP_SHA_256"));
    assert_common(&dom);
    screenshot(c.dir(), &page, "failed.png");
}

/// A transcript cut short before its seal: INCOMPLETE, exit 3, with the KCV of what was done.
#[test]
fn a_truncated_transcript_reports_incomplete() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let lines = c.transcript("t.jsonl");
    let cut = lines
        .iter()
        .position(|(_, v)| v["step"] == "finish")
        .unwrap();
    let text: String = lines[..cut].iter().map(|(l, _)| format!("{l}\n")).collect();
    std::fs::write(c.dir().join("cut.jsonl"), text).unwrap();
    let (code, page) = report(&c, "cut.jsonl", "cut.html");
    assert_eq!(code, 3);
    let dom = dom(c.dir(), &page);
    assert!(dom.contains(
        "<p class=\"verdict verdict-incomplete\" id=\"verdict\" role=\"status\">INCOMPLETE — exit 3"
    ));
    assert!(
        dom.contains("INCOMPLETE: an intact record without a seal: the ceremony did not finish")
    );
    assert!(dom.contains(&format!(
        "<dd class=\"mono\">{}</dd>",
        kcvs(&c, "t.jsonl")[0]
    )));
    assert!(dom.contains(&format!("{cut} line(s), in order")));
    assert_common(&dom);
    screenshot(c.dir(), &page, "cut.png");
}

/// A sealed transcript whose wrap line was altered to hostile text: INVALID in red, exit 1,
/// the first broken line named at the top and marked in the timeline, the text escaped.
#[test]
fn a_tampered_transcript_reports_invalid_at_the_first_broken_line() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let mut lines = c.transcript("t.jsonl");
    let i = lines.iter().position(|(_, v)| v["step"] == "wrap").unwrap();
    let mut v: Value = lines[i].1.clone();
    v["data"]["kms_key_id"] = Value::from(HOSTILE);
    lines[i].0 = serde_json::to_string(&v).unwrap();
    let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    std::fs::write(c.dir().join("tampered.jsonl"), text).unwrap();
    // The line after the altered one no longer chains to it: the report numbers it from 1,
    // as sed does.
    let broken = i + 2;
    let sed = run_ok(
        std::process::Command::new("sed")
            .arg("-n")
            .arg(format!("{broken}p"))
            .arg(c.dir().join("tampered.jsonl")),
    );
    assert_eq!(
        String::from_utf8(sed).unwrap(),
        format!("{}\n", lines[i + 1].0)
    );
    // The same number in the text and in --json.
    let text = c.verify("tampered.jsonl", &["--policy", "policy.toml"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "INVALID: chain check failed at line {broken}: prev is not the SHA-256"
        )),
        "{text}"
    );
    let json = c.verify("tampered.jsonl", &["--policy", "policy.toml", "--json"]);
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    let chain = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "chain")
        .unwrap();
    assert_eq!(chain["line"], broken, "{json}");
    let (code, page) = report(&c, "tampered.jsonl", "tampered.html");
    assert_eq!(code, 1);
    let dom = dom(c.dir(), &page);
    assert!(dom.contains(
        "<p class=\"verdict verdict-invalid\" id=\"verdict\" role=\"status\">INVALID — exit 1"
    ));
    assert!(
        dom.contains(&format!(
            "<p class=\"broken\" id=\"first-broken\">The first broken line is \
             <a href=\"#line-{broken}\">line {broken}</a>: chain check: prev is not the SHA-256 \
             of the previous line's bytes</p>"
        )),
        "{dom}"
    );
    assert!(dom.contains(&format!("<tr id=\"line-{broken}\" class=\"row-failed\">")));
    assert!(dom.contains(&format!("<dd class=\"mono\">{HOSTILE_ESCAPED}</dd>")));
    assert_common(&dom);
    screenshot(c.dir(), &page, "tampered.png");
}
