//! The outputs check, with `--outputs`: every file a wrap recorded is in its output directory
//! with the recorded SHA-256, nothing else is, and the manifest records the KCV and the full
//! check value the transcript does.
//!
//! It trusts the directory the auditor names, and reads in it only regular files directly in
//! each output directory, never through a symlink: the names come from the transcript.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// How many output directories the transcript records, and the first of them.
    recorded: (usize, Option<String>),
    /// Whether any of them is under the directory named (anything of its name).
    present: bool,
    /// Whether the transcript has any wrapped or rewrapped line: without one there are no
    /// outputs to check, `--outputs` or not.
    any: bool,
}

/// No output directory the transcript records is under the directory named: a wrong
/// `--outputs`, not altered outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfound {
    /// The directory named.
    pub dir: PathBuf,
    /// How many output directories the transcript records.
    pub count: usize,
    /// The first, as recorded.
    pub first: String,
    /// Where the first was looked for: its name under the directory named.
    pub looked: PathBuf,
    /// Where they seem to be, if an output directory of that name is found nearby: the
    /// `--outputs` meant.
    pub suggestion: Option<PathBuf>,
}

impl<'a> Outputs<'a> {
    pub(super) fn new(dir: Option<&'a Path>) -> Self {
        Outputs {
            dir,
            files: 0,
            broken: [None, None],
            recorded: (0, None),
            present: false,
            any: false,
        }
    }

    /// Counts the output directory a wrap records, and whether anything of its name is there
    /// (a record of no directory's name counts as there: its failure is the record's).
    fn note(&mut self, dir: &Path, d: &WrappedData) {
        self.recorded.0 += 1;
        self.recorded.1.get_or_insert_with(|| d.out.clone());
        self.present |= Path::new(&d.out)
            .file_name()
            .is_none_or(|base| std::fs::symlink_metadata(dir.join(base)).is_ok());
    }

    /// With `--outputs`, when the transcript records output directories and none of them is
    /// there: the directory named is not where the outputs are.
    pub(super) fn unfound(&self) -> Option<Unfound> {
        let (dir, (count, Some(first))) = (self.dir?, &self.recorded) else {
            return None;
        };
        (!self.present).then(|| Unfound {
            dir: dir.to_path_buf(),
            count: *count,
            first: first.clone(),
            looked: Path::new(first)
                .file_name()
                .map_or_else(|| dir.to_path_buf(), |base| dir.join(base)),
            suggestion: suggestion(dir, Path::new(first)),
        })
    }

    /// Feeds a line of `step`, with its entry if its data fits its step.
    pub(super) fn feed(&mut self, line: usize, step: &str, entry: Option<&Entry>) {
        let kind = match step {
            "wrapped" => 0,
            "rewrapped" => 1,
            _ => return,
        };
        self.any = true;
        let Some(dir) = self.dir else { return };
        if let Some(Entry::Wrapped(d) | Entry::Rewrapped(d)) = entry {
            self.note(dir, d);
        }
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
        if !self.any {
            return passed(
                "outputs",
                "no outputs recorded (nothing was wrapped): nothing to check",
            );
        }
        let Some(dir) = self.dir else {
            return not_checked("outputs", "--outputs");
        };
        if self.unfound().is_some() {
            return not_checked(
                "outputs",
                format!(
                    "--outputs naming the directory that holds the output directories: none is under {}",
                    dir.display()
                ),
            );
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

impl std::fmt::Display for Unfound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no outputs found under {}: ", self.dir.display())?;
        match self.count {
            1 => write!(
                f,
                "the transcript records the output directory {:?}, and {} is not there",
                self.first,
                self.looked.display()
            ),
            n => write!(
                f,
                "the transcript records {n} output directories, such as {:?}, and none is there ({} is not)",
                self.first,
                self.looked.display()
            ),
        }
    }
}

/// The `--outputs` that holds the output directory recorded as `out`, found from `dir`: the
/// recorded path's parent under `dir`, `dir`'s own parent when `dir` is the output directory
/// itself, or the recorded path's parent (the current directory if none).
fn suggestion(dir: &Path, out: &Path) -> Option<PathBuf> {
    let base = out.file_name()?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    let under = parent.filter(|_| out.is_relative()).map(|p| {
        if dir == Path::new(".") {
            p.to_path_buf()
        } else {
            dir.join(p)
        }
    });
    let above = (dir.file_name() == Some(base)).then(|| {
        dir.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let here = parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    [under, above, Some(here)]
        .into_iter()
        .flatten()
        .find(|p| p.join(base).is_dir())
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
