//! Record before acting, and name only what is durable — seen from the outside, in the system
//! calls of a real ceremony traced by `strace`: no token object file is created while a written
//! transcript line is not yet fsynced, unless a durable `batch` line announced it (a batch's
//! steps write their lines once done on the token); no output directory moves into place before
//! its files, itself and the transcript are fsynced (a batch's outputs: all at once, by a
//! `syncfs` of their file system); and no transcript line naming an output is written before the
//! move is made durable by an fsync of the directory it moved into.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::ceremony::Ceremony;
use common::*;

/// One completed system call of the trace: its name, the path of its descriptor (`-y`), and
/// the whole line (arguments, string contents).
struct Call {
    name: String,
    path: String,
    line: String,
}

/// The calls in the order they completed. A call another thread interrupted shows as
/// `... <unfinished ...>` and later `<... name resumed> ...`: it counts when it resumes.
fn completed_calls(trace: &str) -> Vec<Call> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut calls = Vec::new();
    for line in trace.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(start) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_owned(), start.to_owned());
            continue;
        }
        let whole = match rest.strip_prefix("<... ") {
            Some(resumed) => match (pending.remove(pid), resumed.split_once(" resumed>")) {
                (Some(start), Some((_, end))) => format!("{start}{end}"),
                _ => continue,
            },
            None => rest.to_owned(),
        };
        let Some((name, args)) = whole.split_once('(') else {
            continue;
        };
        // The descriptor's path: the first argument's for write and fsync, the result's for
        // openat (`= 5</dir/file>`).
        let annotated = match name {
            "openat" => args.rsplit_once(") = ").map(|(_, r)| r).unwrap_or_default(),
            _ => args,
        };
        let path = annotated
            .split_once('<')
            .and_then(|(_, p)| p.split_once('>'))
            .map(|(p, _)| p.to_owned())
            .unwrap_or_default();
        calls.push(Call {
            name: name.to_owned(),
            path,
            line: whole.clone(),
        });
    }
    calls
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

#[test]
fn token_changes_wait_for_the_transcript_and_the_transcript_waits_for_the_outputs() {
    // One batch however slow the traced run: its two outputs share one syncfs.
    traced_run(&["--batch-ms", "600000"], 1);
}

#[test]
fn every_batch_boundary_keeps_the_order_when_each_step_is_a_batch() {
    traced_run(&["--batch-steps", "1"], 0);
}

/// Runs a two-wrap ceremony under `strace` with `extra` options and checks the order of its
/// calls, and that it made `syncfs` calls (a batch of two or more outputs makes one).
fn traced_run(extra: &[&str], syncfs_calls: usize) {
    let c = Ceremony::approved(&["us-east-1", "eu-west-1"]);
    let keyrite = c.token.keyrite();
    let trace = c.dir().join("calls.trace");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-y", "-s", "1000000"])
        .args(["-e", "trace=openat,write,fsync,syncfs,renameat2", "-o"])
        .arg(&trace)
        .arg(keyrite.get_program())
        .args([
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            "t.jsonl",
        ])
        .args(extra)
        .current_dir(c.dir());
    for (key, value) in keyrite.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    run_ok(&mut cmd);
    c.assert_verifies("t.jsonl");

    let calls = completed_calls(&std::fs::read_to_string(&trace).unwrap());
    let is_transcript = |path: &str| path.ends_with("/t.jsonl");
    // Written transcript lines not yet fsynced.
    let mut unsynced = 0;
    // A batch line written, and whether an fsync of the transcript has made it durable: until
    // the batch's commit line, its steps' token changes need no fsync of their own.
    let (mut batch_written, mut batch_durable) = (false, false);
    let mut batches = 0;
    // Every file and directory fsynced so far, by path.
    let mut synced: Vec<String> = Vec::new();
    let mut syncfs = 0;
    // Files created in each staging directory, by the directory's name.
    let mut staged: HashMap<String, Vec<String>> = HashMap::new();
    // Output directories moved into place, and whether their parent has been fsynced since.
    let mut moved: Vec<(String, bool)> = Vec::new();
    // Token object files opened so far.
    let mut seen: Vec<String> = Vec::new();
    let (mut objects, mut outputs, mut named) = (0, 0, 0);
    for call in &calls {
        match call.name.as_str() {
            "write" if is_transcript(&call.path) => {
                // A result line names an output: it must be in place, and the move durable.
                if call.line.contains(r#"\"step\":\"wrapped\""#) {
                    let (out, durable) = moved
                        .iter()
                        .find(|(out, _)| call.line.contains(&format!(r#"\"out\":\"{out}\""#)))
                        .unwrap_or_else(|| {
                            panic!("a wrapped line names no moved output: {}", call.line)
                        });
                    assert!(
                        durable,
                        "the line naming {out} was written before the move was fsynced"
                    );
                    named += 1;
                }
                if call.line.contains(r#"\"step\":\"batch\""#) {
                    assert!(!batch_written, "a batch line inside a batch: {}", call.line);
                    (batch_written, batches) = (true, batches + 1);
                }
                if call.line.contains(r#"\"step\":\"commit\""#) {
                    (batch_written, batch_durable) = (false, false);
                }
                unsynced += 1;
            }
            "fsync" => {
                if is_transcript(&call.path) {
                    unsynced = 0;
                    batch_durable = batch_written;
                }
                for (out, durable) in &mut moved {
                    if c.dir().join(&*out).parent().unwrap().to_str() == Some(&call.path) {
                        *durable = true;
                    }
                }
                synced.push(call.path.clone());
            }
            // Every file and directory written on the file system so far is durable (the
            // ceremony's are all on one). The transcript and the parents are left to their
            // fsyncs, which keyrite makes all the same.
            "syncfs" => {
                assert!(call.line.ends_with("= 0"), "a failed syncfs: {}", call.line);
                for files in staged.values() {
                    synced.extend(files.iter().cloned());
                }
                synced.extend(staged.keys().cloned());
                syncfs += 1;
            }
            "openat" => {
                // SoftHSM2 keeps each token object in a file: a new one is a change to the token.
                if call.path.contains("/tokens/")
                    && call.path.ends_with(".object")
                    && !call.path.ends_with("/token.object")
                    && !seen.contains(&call.path)
                {
                    seen.push(call.path.clone());
                    if call.line.contains("O_CREAT") {
                        assert!(
                            unsynced == 0 || batch_durable,
                            "a token object was created before the transcript line announcing it was durable: {}",
                            call.line
                        );
                        objects += 1;
                    }
                }
                if !call.line.contains("O_CREAT") {
                    continue;
                }
                if let Some(dir) = Path::new(&call.path)
                    .parent()
                    .and_then(|p| p.file_name())
                    .and_then(|n| n.to_str())
                    .filter(|n| n.contains(".keyrite-"))
                {
                    staged
                        .entry(dir.to_owned())
                        .or_default()
                        .push(call.path.clone());
                }
            }
            "renameat2" => {
                let staging = staged
                    .keys()
                    .find(|dir| call.line.contains(dir.as_str()))
                    .cloned()
                    .unwrap_or_else(|| panic!("a move of something not staged: {}", call.line));
                for file in &staged[&staging] {
                    assert!(
                        synced.contains(file),
                        "{file} was not fsynced before its directory moved"
                    );
                }
                assert!(
                    synced.iter().any(|p| file_name(p) == staging),
                    "{staging} was not fsynced before it moved"
                );
                assert_eq!(
                    unsynced, 0,
                    "an output moved before the transcript line announcing it was durable"
                );
                let target = call
                    .line
                    .rsplit_once(", \"")
                    .and_then(|(_, t)| t.split_once('"'))
                    .map(|(t, _)| t.to_owned())
                    .unwrap();
                moved.push((target, false));
                outputs += 1;
            }
            _ => {}
        }
    }
    // The ceremony's marker and its key are token objects; two outputs, each named once.
    assert!(objects >= 2, "{objects} token objects created");
    assert_eq!((outputs, named), (2, 2));
    assert!(batches >= 1, "no batch line in the transcript");
    // keyrite uses syncfs only where it reports every failure: ext4, XFS or Btrfs under Linux
    // 5.17 or later; elsewhere the batch's files are fsynced one by one, checked above.
    let file_system = String::from_utf8(run_ok(
        Command::new("stat").args(["-f", "-c", "%T"]).arg(c.dir()),
    ))
    .unwrap();
    let release = String::from_utf8(run_ok(Command::new("uname").arg("-r"))).unwrap();
    let version: Vec<u32> = release
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|p| p.parse().unwrap())
        .collect();
    let reports = ["ext2/ext3", "xfs", "btrfs"].contains(&file_system.trim())
        && (version[0], version[1]) >= (5, 17);
    assert_eq!(
        syncfs,
        if reports { syncfs_calls } else { 0 },
        "syncfs calls on {} under Linux {}",
        file_system.trim(),
        release.trim()
    );
}
