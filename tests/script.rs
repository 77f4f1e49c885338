//! `keyrite plan script`: the ceremony script of real plans and policies, opened in a real
//! headless Chromium, its DOM checked for every section a ceremony team reads aloud, printed to
//! PDF and its pages counted with `pdfinfo`; the same bytes each time; hostile names shown as
//! text and isolated; a taken `--out` refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::ceremony::Ceremony;
use common::chromium::*;
use common::*;
use keyrite::words::{pgp_words, pgp_words_hex};
use sha2::{Digest as _, Sha256};

/// `keyrite plan script plan.toml --policy policy.toml --out NAME` and more arguments.
fn script(c: &Ceremony, name: &str, extra: &[&str]) -> Output {
    run(c
        .token
        .keyrite()
        .args([
            "plan",
            "script",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--out",
            name,
        ])
        .args(extra))
}

/// [`script`], which must succeed; the page's path.
fn script_ok(c: &Ceremony, name: &str) -> PathBuf {
    let out = script(c, name, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.dir().join(name)
}

/// The SSH key fingerprint of `name`, as `ssh-keygen -l -E sha256` prints it.
fn ssh_fingerprint(c: &Ceremony, name: &str) -> String {
    let fp = run_ok(
        Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(format!("{}.pub", c.person(name).key.display())),
    );
    String::from_utf8(fp)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// The hex digest and its PGP words, as the page shows them.
fn shown_digest(hex: &str) -> String {
    format!(
        "<span class=\"hex\"><bdi>{hex}</bdi></span><span class=\"words\">{}</span>",
        pgp_words_hex(hex).unwrap()
    )
}

/// Pins the module (path and digest) in the policy.
fn pin_module(c: &Ceremony) {
    let module = c.token.keyrite_module();
    let policy = std::fs::read_to_string(c.dir().join("policy.toml"))
        .unwrap()
        .replacen(
            "\n[[custodians]]",
            &format!(
                "module_sha256 = \"{}\"\nmodule_path = \"{}\"\n\n[[custodians]]",
                sha256sum(module),
                std::path::absolute(module).unwrap().display()
            ),
            1,
        );
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
}

/// A three-step plan (generate, two wraps): every section, the plan digest the custodians
/// signed in hex and words, the roles with their fingerprints, the checklist with what the
/// policy pins and blanks for the rest, each step in words with what to compare, the signature
/// block; printed on at most three pages.
#[test]
fn a_three_step_script_has_every_section_and_prints_on_at_most_three_pages() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1"]);
    pin_module(&c);
    let statement = c.digest();
    let page = script_ok(&c, "script.html");
    let dom = dom(c.dir(), &page);
    assert!(
        dom.contains("<title>Ceremony script: payments-2026</title>"),
        "{dom}"
    );
    assert!(!dom.contains("<script"));
    for id in [
        "title",
        "plan-digest",
        "roles",
        "checklist",
        "start",
        "steps",
        "close",
        "signatures",
    ] {
        assert!(
            dom.contains(&format!(" id=\"{id}\"")),
            "section {id} missing"
        );
    }
    // The plan digest the custodians signed: the SHA-256 of `plan digest`'s statement, in hex
    // and in PGP words (the published list: pgp-words, lower case, agrees).
    let signed = Sha256::digest(&statement);
    assert_eq!(
        pgp_words(&signed).to_lowercase(),
        pgp_words::to_words(&signed).join(" ")
    );
    assert!(
        dom.contains(&format!(
            "<div class=\"digest-main\">{}</div>",
            shown_digest(&hex::encode(signed))
        )),
        "{dom}"
    );
    // The roles: threshold, operator, administrator, each custodian and the witness with their
    // key fingerprints.
    assert!(dom.contains("Approval: <strong>2 of 3</strong> custodians must have signed"));
    assert!(dom.contains("<td>Operator</td><td><bdi>Olivia</bdi></td>"));
    assert!(dom.contains("<td>Ceremony administrator</td>"));
    for (role, name) in [
        ("Custodian", "alice"),
        ("Custodian", "bob"),
        ("Custodian", "carol"),
        ("Witness", "wendy"),
    ] {
        let fp = ssh_fingerprint(&c, name);
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            fp.strip_prefix("SHA256:").unwrap(),
        )
        .unwrap();
        assert!(
            dom.contains(&format!(
                "<td>{role}</td><td><bdi>{name}</bdi></td><td><code><bdi>{fp}</bdi></code><br><span class=\"hex\">{}</span><span class=\"words\">{}</span></td>",
                hex::encode(&raw),
                pgp_words(&raw)
            )),
            "{name} missing"
        );
    }
    // The checklist: a box for each item; the module and the signer as the policy pins them,
    // a blank for the serial it does not pin, the version of the keyrite that made the script.
    assert_eq!(dom.matches("aria-label=\"checkbox\"").count(), 8);
    assert!(dom.contains(&shown_digest(&sha256sum(c.token.keyrite_module()))));
    assert!(dom.contains(&shown_digest(&c.signer_fingerprint)));
    assert!(dom.contains("<span class=\"blank\"></span> (not pinned: write what is seen)"));
    let version = String::from_utf8(run_ok(c.token.keyrite().arg("--version"))).unwrap();
    assert!(
        dom.contains(&format!("made by <bdi>{}</bdi>", version.trim())),
        "{version}"
    );
    // The command the operator types: no PIN, the module the policy pins.
    let module = std::path::absolute(c.token.keyrite_module()).unwrap();
    assert!(dom.contains(&format!(
        "<pre id=\"run-command\"><bdi>keyrite ceremony run plan.toml --policy policy.toml --approvals approvals --transcript payments-2026.jsonl --module {}</bdi></pre>",
        module.display()
    )), "{dom}");
    // Each step in words, numbered from 1, with what the screen shows and what to compare.
    assert!(
        dom.contains("Step 1 of 3 — generate AES-256 key <code><bdi>payments-2026</bdi></code>")
    );
    for (n, region) in [(2, "us-east-1"), (3, "eu-west-1")] {
        assert!(dom.contains(&format!(
            "Step {n} of 3 — wrap <code><bdi>payments-2026</bdi></code> for AWS KMS into <code><bdi>payments-2026-{region}</bdi></code>"
        )));
        assert!(dom.contains(&format!(
            "Wrote <bdi>payments-2026-{region}</bdi>/ — next: sh <bdi>payments-2026-{region}</bdi>/import.sh"
        )));
        let kms = &c.regions.iter().find(|r| r.name == region).unwrap().kms;
        assert!(dom.contains(&format!(
            "Wrapping key SHA-256 (parameters file): {}",
            shown_digest(&hex::encode(Sha256::digest(&kms.public_der)))
        )));
        assert!(dom.contains(&format!(
            "arn:aws:kms:{region}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        )));
    }
    assert!(dom.contains("Files written: <code>EncryptedKeyMaterial.bin</code>"));
    assert!(dom.contains("<code>manifest.json</code>"));
    // The start's screen: the approval line, then the plan digest as `ceremony run` prints it.
    assert!(
        dom.contains(
            aloud(
                "  ",
                "Plan digest (SHA-256 of the statement they signed)",
                &hex::encode(signed)
            )
            .trim_end()
        ),
        "the start's screen shows the plan digest as ceremony run prints it"
    );
    assert!(dom.contains("Completed. Sealed transcript: <bdi>payments-2026.jsonl</bdi>"));
    assert!(dom.contains(
        "keyrite verify payments-2026.jsonl --signer signer.pem --policy policy.toml --plan plan.toml --outputs ."
    ));
    // Boxes for initials and time: the start, each step and the close.
    assert_eq!(dom.matches("<div class=\"initials\">").count(), 5);
    // The signature block: each role's row.
    let signatures = &dom[dom.find("id=\"signatures\"").unwrap()..];
    for name in ["Olivia", "alice", "bob", "carol", "wendy"] {
        assert!(signatures.contains(&format!("<td><bdi>{name}</bdi></td><td></td><td></td>")));
    }
    let (_, pages) = printed_pages(c.dir(), &page, "script.pdf");
    assert!((1..=3).contains(&pages), "{pages} pages");
    screenshot(c.dir(), &page, "script.png", "1200,1600");
}

/// The same plan and policy give the same bytes, which name no path but the ones typed.
#[test]
fn the_script_is_the_same_bytes_each_time() {
    let c = Ceremony::new(&["us-east-1"]);
    let one = std::fs::read(script_ok(&c, "one.html")).unwrap();
    let two = std::fs::read(script_ok(&c, "two.html")).unwrap();
    assert!(one == two, "two runs differ");
    let text = String::from_utf8(one).unwrap();
    assert!(!text.contains(&c.dir().display().to_string()));
    // --approvals and --transcript name what the ceremony run line names.
    let out = script(
        &c,
        "three.html",
        &["--approvals", "signed", "--transcript", "day 1.jsonl"],
    );
    assert_eq!(out.status.code(), Some(0));
    let three = std::fs::read_to_string(c.dir().join("three.html")).unwrap();
    assert!(three.contains("--approvals signed --transcript 'day 1.jsonl'"));
}

/// HTML and a right-to-left override in the operator, a custodian's name and an output
/// directory stay text, each in its own `<bdi>`, the override shown as an escape.
#[test]
fn hostile_names_stay_text_and_isolated() {
    let c = Ceremony::new(&["us-east-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml"))
        .unwrap()
        .replace(
            "operator = \"Olivia\"",
            &format!("operator = \"{}\\u202e\"", HOSTILE.replace('"', "\\\"")),
        )
        .replace(
            "out = \"payments-2026-us-east-1\"",
            "out = \"out\\u202elmth.exe\"",
        );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    let policy = std::fs::read_to_string(c.dir().join("policy.toml"))
        .unwrap()
        .replace("name = \"carol\"", "name = \"<b>carol</b>\\u202e\"");
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
    let page = script_ok(&c, "script.html");
    let dom = dom(c.dir(), &page);
    assert!(
        !dom.contains("<script"),
        "a script element made it into the DOM"
    );
    assert!(
        !dom.contains("<img"),
        "an image element made it into the DOM"
    );
    assert!(!dom.contains("<b>"));
    assert!(!dom.contains("pwned</title>"));
    assert!(
        !dom.contains('\u{202e}'),
        "an override reached the page unescaped"
    );
    assert!(dom.contains(&format!("<td><bdi>{HOSTILE_ESCAPED}\\u{{202e}}</bdi></td>")));
    assert!(dom.contains("<td><bdi>&lt;b&gt;carol&lt;/b&gt;\\u{202e}</bdi></td>"));
    assert!(dom.contains("into <code><bdi>out\\u{202e}lmth.exe</bdi></code>"));
}

/// An `--out` that exists is refused (exit 2) before anything is read, and left as it was.
#[test]
fn a_taken_out_is_refused_and_left_alone() {
    let c = Ceremony::new(&["us-east-1"]);
    std::fs::write(c.dir().join("script.html"), "mine").unwrap();
    let out = script(&c, "script.html", &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr,
        "keyrite: script.html already exists; keyrite never replaces an output\n\
         Choose a new --out file; keyrite never replaces a file.\n"
    );
    assert_eq!(
        std::fs::read_to_string(c.dir().join("script.html")).unwrap(),
        "mine"
    );
    assert!(out.stdout.is_empty());
}

/// A plan of 50 steps (a key wrapped for 49 destinations) prints on a sane number of pages.
#[test]
fn fifty_steps_print_on_at_most_twelve_pages() {
    let c = Ceremony::new(&["us-east-1"]);
    let mut plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    for n in 2..=49 {
        plan.push_str(&format!(
            "\n[[steps]]\naction = \"wrap\"\nkey_label = \"payments-2026\"\nprovider = \"aws\"\n\
             params = \"params/us-east-1.json\"\nalgorithm = \"RSAES_OAEP_SHA_1\"\nout = \"out-{n}\"\n"
        ));
    }
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    let page = script_ok(&c, "script.html");
    let text = std::fs::read_to_string(&page).unwrap();
    assert!(text.contains("Step 50 of 50 — wrap"));
    let (_, pages) = printed_pages(c.dir(), &page, "script.pdf");
    assert!((1..=12).contains(&pages), "{pages} pages");
}

/// A plan that rewraps and destroys existing keys, under a policy that pins the token's serial
/// and takes the PIN from shares: the KCVs the plan pins in hex and words, the serial printed,
/// and how the shares come.
#[test]
fn pinned_kcvs_the_serial_and_pin_shares_are_printed() {
    let c = Ceremony::new(&["us-east-1"]);
    let policy = std::fs::read_to_string(c.dir().join("policy.toml"))
        .unwrap()
        .replacen(
            "\n[[custodians]]",
            &format!(
                "token_serial = \"SERIAL-1234\"\npin_shares = [\"{}\", \"{}\", \"{}\"]\nmodule_sha256 = \"{}\"\n\n[[custodians]]",
                "aa".repeat(32),
                "bb".repeat(32),
                "cc".repeat(32),
                sha256sum(c.token.keyrite_module())
            ),
            1,
        );
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
    let plan = format!(
        "version = 1\nceremony_id = \"legacy-reimport\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
         operator = \"Olivia\"\ntoken_label = \"ceremony\"\nsigning_key_label = \"ceremony-signer\"\n\
         pin = \"shares\"\n\n[[steps]]\naction = \"rewrap\"\nkey_label = \"legacy\"\n\
         expect_kcv = \"0a1b2c\"\nprovider = \"aws\"\nparams = \"params/us-east-1.json\"\n\
         algorithm = \"RSAES_OAEP_SHA_1\"\nout = \"again\"\n\n[[steps]]\naction = \"destroy\"\n\
         key_label = \"old\"\nexpect_kcv = \"00aa11\"\n",
        c.window.0, c.window.1
    );
    std::fs::write(c.dir().join("plan.toml"), plan).unwrap();
    let html = std::fs::read_to_string(script_ok(&c, "script.html")).unwrap();
    assert!(html.contains(
        "Step 1 of 2 — rewrap the existing key <code><bdi>legacy</bdi></code> for AWS KMS into <code><bdi>again</bdi></code>"
    ));
    assert!(html.contains(&format!(
        "The KCV the plan pins for <code><bdi>legacy</bdi></code>: {}",
        shown_digest("0a1b2c")
    )));
    assert!(html.contains(&format!(
        "Key &quot;<bdi>legacy</bdi>&quot; (AES_256): KCV <bdi>0a1b2c</bdi> [{}] (…).\nWrote",
        keyrite::words::pgp_words_hex("0a1b2c").unwrap()
    )));
    assert!(html.contains("Step 2 of 2 — destroy the existing key <code><bdi>old</bdi></code>"));
    assert!(html.contains(&format!(
        "Destroyed key &quot;<bdi>old</bdi>&quot; (KCV <bdi>00aa11</bdi> [{}], checked first).",
        keyrite::words::pgp_words_hex("00aa11").unwrap()
    )));
    assert!(html.contains(&shown_digest("00aa11")));
    assert!(html.contains("<code><bdi>SERIAL-1234</bdi></code> (pinned by the policy)"));
    assert!(html.contains("The PIN is rebuilt from 2 PIN shares"));
    assert!(!html.contains("KR_TEST_PIN"));
}
