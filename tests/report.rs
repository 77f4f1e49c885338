//! `keyrite verify --report`: reports of real ceremonies — completed, failed, cut short and
//! tampered — opened in a real headless Chromium, their DOM checked for what an auditor must
//! see at the top (the verdict, each check, the summary with its digests in hex and PGP words),
//! a screenshot taken, printed to PDF and its pages counted with `pdfinfo`, and hostile
//! transcript text shown as text, isolated and escaped, with no script run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::ceremony::Ceremony;
use common::chromium::*;
use common::*;
use keyrite::words::pgp_words_hex;
use serde_json::Value;

/// The page's title as Chromium left it.
fn title(dom: &str) -> &str {
    let start = dom.find("<title>").unwrap() + "<title>".len();
    let end = dom[start..].find("</title>").unwrap() + start;
    &dom[start..end]
}

/// A digest as the report shows it: its hex, then its PGP words.
fn digest_html(hex: &str) -> String {
    format!(
        "<code><bdi>{hex}</bdi></code><span class=\"words\">{}</span>",
        pgp_words_hex(hex).unwrap()
    )
}

/// The SHA-256 of `bytes`, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Where `needle` is in the DOM (panics if it is not).
fn at(dom: &str, needle: &str) -> usize {
    dom.find(needle)
        .unwrap_or_else(|| panic!("{needle} missing from the report"))
}

/// Verifies `transcript` with `--report report.html`; returns the exit code and the report path.
fn report(c: &Ceremony, transcript: &str, name: &str) -> (i32, PathBuf) {
    let before = now_rfc3339();
    let out = c.verify(transcript, &["--policy", "policy.toml", "--report", name]);
    let after = now_rfc3339();
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
    // The one value that depends on the run: when it was verified, in UTC, RFC 3339, between
    // the start and the end of the verify run.
    let html = std::fs::read_to_string(&path).unwrap();
    let attribute = "<time id=\"verified-at\" datetime=\"";
    let start = at(&html, attribute) + attribute.len();
    let verified_at = &html[start..start + 20];
    assert!(
        html.contains(&format!(
            "<time id=\"verified-at\" datetime=\"{verified_at}\">{verified_at}</time>"
        )),
        "{verified_at}"
    );
    assert!(verified_at.ends_with('Z'), "{verified_at}");
    assert!(
        before.as_str() <= verified_at && verified_at <= after.as_str(),
        "{before} {verified_at} {after}"
    );
    (out.status.code().unwrap(), path)
}

/// Now in UTC, to the second, as RFC 3339.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The KCVs the transcript records for generated keys.
fn kcvs(c: &Ceremony, transcript: &str) -> Vec<String> {
    c.transcript(transcript)
        .iter()
        .filter(|(_, v)| v["step"] == "generated")
        .map(|(_, v)| v["data"]["key"]["kcv"].as_str().unwrap().to_owned())
        .collect()
}

/// What every report must show: at the top the verdict, then each check (one row each), then
/// the summary with the transcript's SHA-256 in hex and words, then the timeline, and after them
/// the policy's custodians and witness; the raw lines collapsed, no flattened JSON, no script run.
fn assert_common(dom: &str, c: &Ceremony, transcript: &str) {
    for name in ["alice", "bob", "carol", "wendy"] {
        assert!(
            dom.contains(&format!("<td><bdi>{name}</bdi></td>")),
            "{name} missing"
        );
    }
    let sha256 = sha256sum(&c.dir().join(transcript));
    assert!(
        dom.contains(&format!(
            "<td id=\"transcript-sha256\">{}</td>",
            digest_html(&sha256)
        )),
        "the transcript's SHA-256 {sha256} missing"
    );
    let order = [
        at(dom, "id=\"verdict\""),
        at(dom, "<h2 id=\"checks\">"),
        at(dom, "<h2 id=\"summary\">"),
        at(dom, "<h2 id=\"timeline\">"),
        at(dom, "<h2 id=\"policy\">"),
        at(dom, "<h2 id=\"lines\">"),
    ];
    assert!(order.is_sorted(), "sections out of order: {order:?}");
    // The timeline is drawn inline: nothing in it loads or links anything.
    let svg = &dom[at(dom, "<svg class=\"timeline\"")..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    for external in ["href", "<image", "<foreignObject", "url(", "<use"] {
        assert!(!svg.contains(external), "{external} in the timeline: {svg}");
    }
    // The raw lines are one click away, collapsed; no line is flattened into paths.
    let lines = &dom[order[5]..];
    assert!(lines.contains("<details><summary>The "), "{lines}");
    assert!(!dom.contains("<details open"));
    for flattened in ["key.template", "approvals[0]", "CKA_CLASS</dt>"] {
        assert!(!dom.contains(flattened), "{flattened} in the report");
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
        let row = at(dom, &format!("<th scope=\"row\">{check}</th>"));
        assert!(row < order[2], "check {check} below the summary");
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

/// A completed ceremony of three steps, witnessed, whose plan's operator is hostile free text:
/// the report says VERIFIED in green; at the top each check, then the summary: the key's KCV,
/// each destination with its wrapping key's fingerprint and the output files' digests (checked
/// against the files), the plan digest and the chain head at the seal, each in hex and PGP
/// words; the steps in words from 1; a drawn timeline with the approval, the seal and the
/// witness; who approved with which key; the operator's text escaped while no script runs; and
/// printed, three pages at most.
#[test]
fn a_completed_ceremony_reports_verified_and_escapes_the_operator() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let plan = plan.replace(
        "operator = \"Olivia\"",
        &format!("operator = \"{}\"", HOSTILE.replace('"', "\\\"")),
    );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.run_approved("t.jsonl");
    let witnessed = c.witness_sign("t.jsonl", "wendy");
    assert!(
        witnessed.status.success(),
        "{}",
        String::from_utf8_lossy(&witnessed.stderr)
    );
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
    assert!(!dom.contains("ceremony-failure"));
    assert_common(&dom, &c, "t.jsonl");
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
            dom.contains(&format!(
                "<td><bdi>{name}</bdi></td><td class=\"mono\"><bdi>{fp}</bdi></td>"
            )),
            "{name}'s approval with {fp} missing"
        );
    }
    assert!(dom.contains("<strong>Did not approve: </strong><bdi>carol</bdi>"));
    let lines = c.transcript("t.jsonl");
    // The key, with its KCV in hex and words.
    let kcvs = kcvs(&c, "t.jsonl");
    assert_eq!(kcvs.len(), 1);
    assert!(
        dom.contains(&format!(
            "<td><code><bdi>payments-2026</bdi></code></td><td><bdi>AES_256</bdi></td>\
             <td class=\"kcv\">{}",
            digest_html(&kcvs[0])
        )),
        "{dom}"
    );
    // Each destination: the KMS key, the wrapping key's fingerprint in hex and words, and the
    // SHA-256 of each file written, which is that of the file in the output directory.
    let wraps: Vec<&Value> = lines
        .iter()
        .filter(|(_, v)| v["step"] == "wrap")
        .map(|(_, v)| &v["data"])
        .collect();
    assert_eq!(wraps.len(), 2);
    for (r, w) in c.regions.iter().zip(&wraps) {
        let arn = format!(
            "arn:aws:kms:{}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            r.name
        );
        assert_eq!(w["kms_key_id"], arn.as_str());
        let fingerprint = w["wrapping_key_sha256"].as_str().unwrap();
        assert_eq!(fingerprint, sha256_hex(&r.kms.public_der));
        let out = format!("payments-2026-{}", r.name);
        let cell = at(
            &dom,
            &format!(
                "<code><bdi>payments-2026</bdi></code> → AWS KMS key <code><bdi>{arn}</bdi></code> \
                 with <bdi>RSAES_OAEP_SHA_1</bdi>"
            ),
        );
        let row = &dom[dom[..cell].rfind("<tr>").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(&format!(
                "Wrapping key SHA-256 <code><bdi>{fingerprint}</bdi></code> <span class=\"words inline\">{}</span>",
                pgp_words_hex(fingerprint).unwrap()
            )),
            "{row}"
        );
        assert!(row.contains(&format!("Written to <code><bdi>{out}</bdi></code>:")));
        for f in std::fs::read_dir(c.dir().join(&out)).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().into_string().unwrap();
            // Printed, many destinations show only the manifest's (which names every file's).
            let class = if name == "manifest.json" {
                "file"
            } else {
                "file other"
            };
            let shown = format!(
                "<span class=\"{class}\"><code><bdi>{name}</bdi></code> <code><bdi>{}</bdi></code></span>",
                sha256sum(&f.path())
            );
            assert!(row.contains(&shown), "{shown} missing from {row}");
        }
        // The step in words, numbered from 1.
        let step = if r.name == "us-east-1" { 2 } else { 3 };
        assert!(
            dom.contains(&format!(
                "<strong>Step {step} of 3</strong> — wrap <code><bdi>payments-2026</bdi></code> \
                 for AWS KMS key <code><bdi>{arn}</bdi></code> with <bdi>RSAES_OAEP_SHA_1</bdi> \
                 into <code><bdi>{out}</bdi></code>: <span class=\"passed\">✓ done</span>"
            )),
            "step {step} missing"
        );
    }
    assert!(dom.contains(
        "<strong>Step 1 of 3</strong> — generate <code><bdi>payments-2026</bdi></code> \
         (<bdi>AES_256</bdi>) on the token: <span class=\"passed\">✓ done</span>"
    ));
    // The plan digest (the SHA-256 of the statement the custodians signed) and the chain head
    // at the seal (the SHA-256 of the seal line, what witnesses sign), as verify's text gives
    // them to compare aloud.
    let plan_digest = sha256sum(&c.dir().join("plan.digest"));
    let seal = lines.iter().position(|(_, v)| v["step"] == "seal").unwrap();
    let head = sha256_hex(lines[seal].0.as_bytes());
    let text = c.verify("t.jsonl", &["--policy", "policy.toml"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!("  plan digest: {plan_digest}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  chain head at the seal (what witnesses sign): {head}\n"
        )),
        "{text}"
    );
    assert!(dom.contains(&format!(
        "<td id=\"plan-digest\">{}",
        digest_html(&plan_digest)
    )));
    assert!(
        dom.contains(&format!("<td id=\"chain-head\">{}", digest_html(&head))),
        "{dom}"
    );
    // The plan file's own SHA-256, in the plan section.
    assert!(dom.contains(&format!(
        "<dt>SHA-256</dt><dd>{}</dd>",
        digest_html(&sha256sum(&c.dir().join("plan.toml")))
    )));
    // The drawn timeline: the approval, the steps, the seal, the witness.
    let svg = &dom[at(&dom, "<svg class=\"timeline\"")..];
    let svg = &svg[..svg.find("</svg>").unwrap()];
    for event in [
        "Plan approved by <tspan class=\"ext\">alice</tspan>, <tspan class=\"ext\">bob</tspan> (2 of 2 required)",
        "Step 1 of 3: <tspan class=\"ext\">generate</tspan>",
        "Step 3 of 3: <tspan class=\"ext\">wrap</tspan>",
        "Finished: <tspan class=\"ext\">completed</tspan>",
        "Sealed: the signer's signature verifies",
        "Witness <tspan class=\"ext\">wendy</tspan> signed the seal (verified)",
    ] {
        assert!(svg.contains(event), "{event} missing from {svg}");
    }
    // The hostile operator, shown as text in the plan.
    assert!(
        dom.contains(&format!("<dd><bdi>{HOSTILE_ESCAPED}</bdi></dd>")),
        "{dom}"
    );
    let (_, pages) = printed_pages(c.dir(), &page, "report.pdf");
    assert!(pages <= 3, "a 3-step ceremony printed on {pages} pages");
    screenshot(c.dir(), &page, "verified.png", "1280,2000");

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
    assert_common(&dom, &c, "t.jsonl");
    // At the top, under the verdict: the step that failed, in words, with its error.
    let failure = at(
        &dom,
        "<p class=\"broken\" id=\"ceremony-failure\">The ceremony failed at step 2 of 2 \
         (<bdi>wrap</bdi>): <bdi>token \"ceremony\" cannot wrap with CKM_RSA_PKCS_OAEP using \
         SHA-256",
    );
    assert!(failure < at(&dom, "<h2 id=\"checks\">"));
    let failure = &dom[failure..];
    let failure = &failure[..failure.find("</p>").unwrap()];
    assert!(failure.contains("CKR_ARGUMENTS_BAD"), "{failure}");
    assert!(dom.contains(
        "<li class=\"step-failed\"><strong>Step 2 of 2</strong> — <bdi>wrap</bdi> (as the plan \
         names it): <span class=\"failed\">✗ FAILED: </span><bdi>token \"ceremony\" cannot wrap"
    ));
    assert!(dom.contains("<circle class=\"bad\""));
    // The trial wrap failed before anything was generated: step 1 never ran.
    assert!(dom.contains(
        "<strong>Step 1 of 2</strong> — <bdi>generate</bdi> (as the plan names it): \
         <span class=\"not-checked\">not run</span>"
    ));
    assert!(dom.contains("Step 1 of 2: <tspan class=\"ext\">generate</tspan> — not run"));
    assert!(dom.contains("Step 2 of 2: <tspan class=\"ext\">wrap</tspan> — FAILED"));
    screenshot(c.dir(), &page, "failed.png", "1280,2000");
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
        "<td class=\"kcv\">{}",
        digest_html(&kcvs(&c, "t.jsonl")[0])
    )));
    assert!(dom.contains(&format!("{cut} line(s), in order")));
    assert_common(&dom, &c, "cut.jsonl");
    // At the top: the seal not checked, and no chain head at a seal.
    assert!(dom.contains(
        "<tr><th scope=\"row\">seal</th><td class=\"result not-checked\">– not checked</td>"
    ));
    assert!(dom.contains(
        "<td id=\"chain-head\"><span class=\"muted\">no seal: the transcript has no seal line"
    ));
    screenshot(c.dir(), &page, "cut.png", "1280,2000");
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
             <a href=\"#line-{broken}\">line {broken}</a>: chain check: <bdi>prev is not the \
             SHA-256 of the previous line's bytes</bdi></p>"
        )),
        "{dom}"
    );
    assert!(dom.contains(&format!("<tr id=\"line-{broken}\" class=\"row-failed\">")));
    // The failing check at the top, before the summary, linked to the broken line.
    let check = at(
        &dom,
        &format!(
            "<tr class=\"row-failed\"><th scope=\"row\">chain</th><td class=\"result failed\">\
             ✗ FAILED</td><td><bdi>prev is not the SHA-256 of the previous line's bytes</bdi> \
             (<a href=\"#line-{broken}\">line {broken}</a>)</td></tr>"
        ),
    );
    assert!(check < at(&dom, "<h2 id=\"summary\">"));
    // The altered KMS key id, shown as text among the destinations and in the step's words.
    assert!(dom.contains(&format!(
        "→ AWS KMS key <code><bdi>{HOSTILE_ESCAPED}</bdi></code> with"
    )));
    assert!(dom.contains(&format!(
        "for AWS KMS key <code><bdi>{HOSTILE_ESCAPED}</bdi></code> with"
    )));
    assert_common(&dom, &c, "tampered.jsonl");
    screenshot(c.dir(), &page, "tampered.png", "1280,2000");
}

/// A ceremony of 200 wraps (one key, one KMS key's parameters, 200 output directories), run on
/// the token and sealed: each destination is a compact row of the summary, the 200 similar steps
/// one row of the steps with each step one click away, and printed, it takes at most 15 pages.
#[test]
fn a_ceremony_of_200_wraps_prints_on_at_most_15_pages() {
    const WRAPS: usize = 200;
    let c = Ceremony::new(&["us-east-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let wrap = &plan[plan.rfind("\n[[steps]]\naction = \"wrap\"").unwrap()..];
    let mut many = plan.replace(wrap, "");
    for k in 1..=WRAPS {
        many.push_str(&wrap.replace(
            "out = \"payments-2026-us-east-1\"",
            &format!("out = \"payments-2026-{k:03}\""),
        ));
    }
    std::fs::write(c.dir().join("plan.toml"), many).unwrap();
    c.run_approved("t.jsonl");
    let (code, page) = report(&c, "t.jsonl", "report.html");
    assert_eq!(code, 0);
    let dom = dom(c.dir(), &page);
    assert_common(&dom, &c, "t.jsonl");
    assert_eq!(
        dom.matches("<div class=\"files\">Written to ").count(),
        WRAPS
    );
    assert!(dom.contains(&format!(
        "<li><strong>Steps 2–{} of {}</strong> — {WRAPS} × <bdi>wrap</bdi> \
         <code><bdi>payments-2026</bdi></code> (each destination is a row of the summary's \
         Destinations): <span class=\"passed\">✓ all done</span>",
        WRAPS + 1,
        WRAPS + 1
    )));
    assert!(dom.contains(&format!(
        "<strong>Step {} of {}</strong> — wrap <code><bdi>payments-2026</bdi></code>",
        WRAPS + 1,
        WRAPS + 1
    )));
    let (_, pages) = printed_pages(c.dir(), &page, "report.pdf");
    assert!(
        pages <= 15,
        "a {WRAPS}-wrap ceremony printed on {pages} pages"
    );
}

/// A bidi override (U+202E) in an output directory's name: the report shows it as the escape
/// `\u{202e}`, isolated in a `<bdi>`, so keyrite's own sentence around it reads in order, in the
/// DOM and on the printed page (as `pdftotext` reads it back), and no U+202E reaches the page.
#[test]
fn a_bidi_override_in_a_file_name_is_shown_escaped_and_reorders_nothing() {
    let c = Ceremony::new(&["us-east-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let plan = plan.replace(
        "out = \"payments-2026-us-east-1\"",
        "out = \"payments-\u{202e}txt.exe\"",
    );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    c.run_approved("t.jsonl");
    assert!(c.dir().join("payments-\u{202e}txt.exe").is_dir());
    let (code, page) = report(&c, "t.jsonl", "report.html");
    assert_eq!(code, 0);
    let dom = dom(c.dir(), &page);
    assert!(!dom.contains('\u{202e}'), "a U+202E reached the page");
    assert!(
        dom.contains(
            "into <code><bdi>payments-\\u{202e}txt.exe</bdi></code>: <span class=\"passed\">✓ done</span> at"
        ),
        "{dom}"
    );
    assert!(dom.contains("Written to <code><bdi>payments-\\u{202e}txt.exe</bdi></code>:"));
    assert_common(&dom, &c, "t.jsonl");
    // Printed, the sentence reads in order: the name's escape, then keyrite's words after it.
    let (pdf, _) = printed_pages(c.dir(), &page, "report.pdf");
    let text = run_ok(Command::new("pdftotext").arg(&pdf).arg("-"));
    let text = String::from_utf8(text).unwrap().replace('\n', " ");
    assert!(!text.contains('\u{202e}'));
    assert!(
        text.contains("into payments-\\u{202e}txt.exe: ✓ done at"),
        "{text}"
    );
    assert!(
        text.contains("Written to payments-\\u{202e}txt.exe:"),
        "{text}"
    );
}
