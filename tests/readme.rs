//! The README's "Try it in two minutes on SoftHSM2" is run as a new user would: its command
//! blocks in order, in one shell, with keyrite on the PATH. Every line of each output block the
//! README shows must appear, in order, in what the commands before it printed (hex digests, key
//! check values, serials, times and counts aside), and the KCV the KMS side computes with
//! `openssl` is the one keyrite printed; the window its sample `plan check` shows is as long as
//! the one its plan sets. A README that drifts from keyrite fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const SECTION: &str = "## Try it in two minutes on SoftHSM2";

/// The section's fenced blocks, in order: commands, then what they print, alternately.
fn blocks() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find(SECTION)
        .expect("the README has its try-it section");
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        if line.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(String::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(
        current.is_none(),
        "an unclosed block in the README's try-it section"
    );
    blocks
}

/// Runs of six or more lowercase hex digits become `#`, then runs of digits `0`: what differs
/// between runs (digests, KCVs, serials, times, slot numbers) reads the same.
fn normalise(line: &str) -> String {
    let line = words_gone(line.trim_end());
    let chars: Vec<char> = line.chars().collect();
    let mut hex_gone = String::new();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || ('a'..='f').contains(c))
            .count();
        if run >= 6 {
            hex_gone.push('#');
            i += run;
        } else {
            hex_gone.push(chars[i]);
            i += 1;
        }
    }
    let mut out = String::new();
    let mut in_digits = false;
    for c in hex_gone.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('0');
            }
            in_digits = true;
        } else {
            out.push(c);
            in_digits = false;
        }
    }
    out
}

/// `line` with its PGP words (which change with every digest) replaced by `WORDS`: an indented
/// line of words alone, or words in brackets after a KCV.
fn words_gone(line: &str) -> String {
    let words = |text: &str| {
        !text.is_empty()
            && text
                .split(' ')
                .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic()))
    };
    let trimmed = line.trim_start();
    if trimmed.len() < line.len() && words(trimmed) {
        return format!("{}WORDS", &line[..line.len() - trimmed.len()]);
    }
    match (line.find(" ["), line.find(']')) {
        (Some(open), Some(close)) if open < close && words(&line[open + 2..close]) => {
            format!("{} [WORDS]{}", &line[..open], &line[close + 1..])
        }
        _ => line.to_owned(),
    }
}

fn kcv_of(output: &str) -> String {
    let at = output.find("KCV ").expect("keyrite printed a KCV") + 4;
    output[at..at + 6].to_owned()
}

#[test]
fn the_readme_try_it_runs_as_written_and_prints_what_it_shows() {
    let blocks = blocks();
    assert_eq!(blocks.len(), 6, "commands and output, three times");
    let home = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_keyrite")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut outputs: Vec<String> = Vec::new();
    let mut script = String::from("set -e\n");
    for (i, commands) in blocks.iter().step_by(2).enumerate() {
        script.push_str(commands);
        script.push_str(&format!("echo '@@ block {i} done @@'\n"));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("exec 2>&1\n{script}"))
        .env_clear()
        .env("PATH", &path)
        .env("HOME", home.path())
        .env("TMPDIR", home.path())
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "the README's commands failed:\n{stdout}"
    );
    let mut rest = stdout.as_str();
    for i in 0..3 {
        let marker = format!("@@ block {i} done @@\n");
        let end = rest.find(&marker).expect("each block ran");
        outputs.push(rest[..end].to_owned());
        rest = &rest[end + marker.len()..];
    }

    for (i, shown) in blocks.iter().skip(1).step_by(2).enumerate() {
        let printed: Vec<String> = outputs[i].lines().map(normalise).collect();
        let mut from = 0;
        for line in shown.lines() {
            let want = normalise(line);
            let found = printed[from..].iter().position(|p| *p == want);
            let Some(at) = found else {
                panic!(
                    "the README shows {line:?} after command block {i}, which did not print it \
                     (in this order):\n{}",
                    outputs[i]
                );
            };
            from += at + 1;
        }
    }
    assert_eq!(
        outputs[1].trim(),
        kcv_of(&outputs[0]),
        "the KCV openssl computes from the unwrapped key is the one keyrite printed"
    );
}

/// The text between `before` and the next `after` in `text`.
fn between<'a>(text: &'a str, before: &str, after: &str) -> &'a str {
    let start = text.find(before).unwrap() + before.len();
    let end = text[start..].find(after).unwrap();
    &text[start..start + end]
}

#[test]
fn the_readme_sample_window_is_the_one_its_plan_sets() {
    let blocks = blocks();
    let commands = blocks.iter().step_by(2).cloned().collect::<String>();
    let shown = blocks
        .iter()
        .skip(1)
        .step_by(2)
        .cloned()
        .collect::<String>();
    let from_now = |field: &str| -> i64 {
        let line = between(&commands, &format!("{field} = \"$(date -u"), "\n");
        if !line.contains("-d") {
            return 0;
        }
        between(line, "-d \"+", " hours\"").parse().unwrap()
    };
    let window = between(&shown, "to run between ", " on token");
    let (start, end) = window.split_once(" and ").unwrap();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let start = time::OffsetDateTime::parse(start, rfc3339).unwrap();
    let end = time::OffsetDateTime::parse(end, rfc3339).unwrap();
    assert_eq!(
        (end - start).whole_hours(),
        from_now("not_after") - from_now("not_before"),
        "the README's sample plan check shows a window of another length than its plan's: {window}"
    );
}
