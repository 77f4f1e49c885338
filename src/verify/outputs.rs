//! The outputs check, with `--outputs`: every file a wrap recorded is in its output directory
//! with the recorded SHA-256, nothing else is, and the manifest records the KCV and the full
//! check value the transcript does.
//!
//! It trusts the directory the auditor names, and reads in it only regular files directly in
//! each output directory, never through a symlink: the names come from the transcript.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{Check, failed, not_checked, passed, unfit};
use crate::transcript::Entry;
use crate::transcript::entry::WrappedData;

/// The outputs check, fed line by line (with `--outputs`): every output file's SHA-256 matches
/// and each manifest's KCV is the one recorded. The failure reported is the first of the wrapped
/// lines, else of the rewrapped lines.
pub(super) struct Outputs<'a> {
    dir: Option<&'a Path>,
    files: usize,
    /// The first failure among wrapped lines, and among rewrapped lines.
    broken: [Option<Check>; 2],
}

impl<'a> Outputs<'a> {
    pub(super) fn new(dir: Option<&'a Path>) -> Self {
        Outputs {
            dir,
            files: 0,
            broken: [None, None],
        }
    }

    /// Feeds a line of `step`, with its entry if its data fits its step.
    pub(super) fn feed(&mut self, line: usize, step: &str, entry: Option<&Entry>) {
        let Some(dir) = self.dir else { return };
        let kind = match step {
            "wrapped" => 0,
            "rewrapped" => 1,
            _ => return,
        };
        if self.broken[kind].is_some() {
            return;
        }
        let (Some(Entry::Wrapped(d)) | Some(Entry::Rewrapped(d))) = entry else {
            self.broken[kind] = Some(unfit("outputs", step));
            return;
        };
        let out = Path::new(&d.out);
        let Some(base) = out.file_name() else {
            self.broken[kind] = Some(failed(
                "outputs",
                "a wrap records no output directory",
                Some(line),
            ));
            return;
        };
        if let Some(why) = self.directory_problem(&dir.join(base), d) {
            self.broken[kind] = Some(failed("outputs", why, Some(line)));
        }
    }

    /// What is wrong with the output directory `here` of the wrap recorded as `d`, if anything:
    /// it is a directory (not a symlink), each recorded file has its recorded SHA-256 (counted
    /// as it matches), nothing else is in it, and its manifest records the wrap's check values.
    fn directory_problem(&mut self, here: &Path, d: &WrappedData) -> Option<String> {
        if let Some(why) = not_a_directory(here) {
            return Some(why);
        }
        let files = &d.files;
        for (file, digest) in files {
            let path = here.join(file);
            if let Some(why) = file_problem(&path, file, digest) {
                return Some(format!("{} {why}", path.display()));
            }
            self.files += 1;
        }
        extra_file(here, files).or_else(|| manifest_problem(here, d))
    }

    pub(super) fn check(self) -> Check {
        if self.dir.is_none() {
            return not_checked("outputs", "--outputs");
        }
        let files = self.files;
        self.broken.into_iter().flatten().next().unwrap_or_else(|| {
            passed(
                "outputs",
                format!("{files} output files match the transcript"),
            )
        })
    }
}

/// Why `here` is not an output directory, if it is not: the directory itself is never followed
/// through a symlink.
fn not_a_directory(here: &Path) -> Option<String> {
    match std::fs::symlink_metadata(here) {
        Ok(m) if m.file_type().is_symlink() => Some(format!(
            "{} is a symlink: an output directory is never followed",
            here.display()
        )),
        Ok(m) if m.is_dir() => None,
        _ => Some(format!(
            "{} is not a directory (or is missing)",
            here.display()
        )),
    }
}

/// What is wrong with the output file `file` at `path`, if anything, against its recorded
/// `digest`. The names come from the transcript: only a regular file directly in the output
/// directory is read, never through a symlink and never waiting (a FIFO, a device).
fn file_problem(path: &Path, file: &str, digest: &str) -> Option<String> {
    let plain = !file.is_empty() && file != "." && file != ".." && !file.contains('/');
    let read = if plain {
        crate::input::read_regular(path, crate::input::MAX_SMALL)
    } else {
        Err(std::io::Error::other("not a file name"))
    };
    match read {
        Ok(b) if hex::encode(Sha256::digest(&b)) == digest => None,
        Ok(_) => Some("differs from the transcript".to_owned()),
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            Some("is a symlink: an output file is never followed".to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            Some("is not a regular file".to_owned())
        }
        Err(_) => Some("differs from the transcript (or is missing)".to_owned()),
    }
}

/// The first file (by name) in `here` that `files` does not list, if any: an extra script is not
/// what the ceremony wrote.
fn extra_file(here: &Path, files: &BTreeMap<String, String>) -> Option<String> {
    let mut extra: Vec<String> = std::fs::read_dir(here)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !files.contains_key(name))
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    extra.first().map(|name| {
        format!(
            "{} holds {name:?}, which the transcript does not list",
            here.display()
        )
    })
}

/// What is wrong with the manifest in `here`, if anything: it records the KCV and the full check
/// value (`check_sha256`) the wrap `d` does.
fn manifest_problem(here: &Path, d: &WrappedData) -> Option<String> {
    // The manifest's values, as JSON: a value of another type is another value.
    let recorded = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::from);
    let manifest_key =
        crate::input::read_regular(&here.join("manifest.json"), crate::input::MAX_SMALL)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|m| m["key"].clone());
    match manifest_key {
        Some(key) if key["kcv"] != recorded(&d.kcv) => {}
        // Absent and null alike: no full check value.
        Some(key) if key["check_sha256"] == recorded(&d.check_sha256) => return None,
        Some(_) => {
            return Some(format!(
                "{}'s manifest records another full check value (check_sha256)",
                here.display()
            ));
        }
        None => {}
    }
    Some(format!("{}'s manifest records another KCV", here.display()))
}
