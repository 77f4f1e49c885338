//! Names the commit keyrite is built from, for `keyrite --version`: `commit abcdef123456` (the
//! first 12 hex digits of HEAD, `-dirty` after them when what is compiled differs from it) when
//! this is a git checkout of keyrite itself, else `commit $KEYRITE_COMMIT` when that variable is
//! set (a build from a source archive), else `unknown commit`. Passed to the compiler as
//! `KEYRITE_BUILD_COMMIT`.
//!
//! The build reruns this when HEAD moves (`.git/HEAD`, the branch's ref, `packed-refs`) and when
//! a compiled source changes, so that the dirty marker is never stale; "dirty" counts only those
//! sources (`git status --porcelain` of them, untracked files too), so that an edited document
//! neither marks the binary nor recompiles it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What is compiled into the binary, relative to the package: a change there reruns this, and
/// makes a build from it `-dirty`.
const SOURCES: [&str; 5] = ["src", "vendor", "build.rs", "Cargo.toml", "Cargo.lock"];

fn main() {
    println!("cargo::rerun-if-env-changed=KEYRITE_COMMIT");
    let package = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = git_commit(&package)
        .or_else(|| {
            env::var("KEYRITE_COMMIT")
                .ok()
                .filter(|c| !c.trim().is_empty())
                .map(|c| c.trim().to_owned())
        })
        .map_or_else(|| "unknown commit".to_owned(), |c| format!("commit {c}"));
    println!("cargo::rustc-env=KEYRITE_BUILD_COMMIT={commit}");
}

/// HEAD's short hash, `-dirty` when a source differs from it; None unless `package` is the top
/// of a git work tree (not merely inside another project's repository) and git answers.
fn git_commit(package: &Path) -> Option<String> {
    let top = git(package, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != package.canonicalize().ok()? {
        return None;
    }
    let dirs = git(
        package,
        &[
            "rev-parse",
            "--path-format=absolute",
            "--git-dir",
            "--git-common-dir",
        ],
    )?;
    let mut dirs = dirs.lines().map(PathBuf::from);
    let (git_dir, common_dir) = (dirs.next()?, dirs.next()?);
    let mut watched = vec![git_dir.join("HEAD"), common_dir.join("packed-refs")];
    // The branch HEAD names, where a commit moves it (none when HEAD is detached).
    if let Some(branch) = git(package, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common_dir.join(branch));
    }
    watched.extend(SOURCES.iter().map(|s| package.join(s)));
    // A path that does not exist would rerun this on every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo::rerun-if-changed={}", path.display());
    }

    let head = git(package, &["rev-parse", "--short=12", "HEAD"])?;
    let mut status = vec!["--no-optional-locks", "status", "--porcelain", "--"];
    status.extend(SOURCES);
    let changed = git(package, &status)?;
    Some(if changed.is_empty() {
        head
    } else {
        format!("{head}-dirty")
    })
}

/// git's trimmed standard output in `dir`, or None when it cannot run or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8(output.stdout).ok()?.trim().to_owned())
}
