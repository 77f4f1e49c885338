//! What an install puts beside the binary, made by the binary itself: `keyrite --version`
//! naming the commit it was built from (build.rs), the completion scripts (`keyrite
//! completions`), loaded by a real bash and asked to complete, and the manual pages (`keyrite
//! man`), one per command at every level. No token is used. `scripts/install-check` goes
//! further, from a clean clone: `cargo install`, `man` rendering every page, and the Debian
//! package installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const KEYRITE: &str = env!("CARGO_BIN_EXE_keyrite");

fn keyrite(args: &[&str]) -> Output {
    let out = Command::new(KEYRITE).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "keyrite {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// git's trimmed output in the package's directory, when git runs there and succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

#[test]
fn the_version_names_the_commit_of_this_checkout() {
    let version = String::from_utf8(keyrite(&["--version"]).stdout).unwrap();
    let prefix = format!("keyrite {} (", env!("CARGO_PKG_VERSION"));
    let inner = version
        .strip_prefix(&prefix)
        .and_then(|v| v.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("keyrite --version printed {version:?}"));
    let top = git(&["rev-parse", "--show-toplevel"]);
    let here = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    if top.is_some_and(|t| Path::new(&t).canonicalize().unwrap() == here) {
        let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap();
        let clean = format!("commit {head}");
        assert!(
            inner == clean || inner == format!("{clean}-dirty"),
            "keyrite --version printed {version:?}; HEAD is {head}"
        );
    } else {
        // A build outside a git checkout: the commit given at build time, or none.
        assert!(
            inner == "unknown commit" || inner.starts_with("commit "),
            "{version:?}"
        );
    }
}

/// What bash completes for the words of `line` with keyrite's bash script loaded, as it does
/// at a TAB after them.
fn bash_completes(script: &Path, line: &str) -> Vec<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(
            r#". "$1" || exit 1
            complete -p keyrite | grep -q -- '-F _keyrite' || exit 2
            COMP_LINE=$2 COMP_POINT=${#2}
            read -ra COMP_WORDS <<<"$2"
            [ "${2: -1}" = " " ] && COMP_WORDS+=("")
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            _keyrite keyrite "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
            printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(script)
        .arg(line)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash with {}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_subcommands_and_options_from_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("keyrite.bash");
    std::fs::write(&script, keyrite(&["completions", "bash"]).stdout).unwrap();
    assert_eq!(bash_completes(&script, "keyrite ver"), ["verify"]);
    assert_eq!(bash_completes(&script, "keyrite token in"), ["info"]);
    let shells: Vec<String> = bash_completes(&script, "keyrite completions ")
        .into_iter()
        .filter(|word| !word.starts_with('-'))
        .collect();
    assert_eq!(shells, ["bash", "zsh", "fish"]);
    assert!(
        bash_completes(&script, "keyrite wrap --prov").contains(&"--provider".to_owned()),
        "wrap's --provider"
    );

    let zsh = keyrite(&["completions", "zsh"]).stdout;
    assert!(zsh.starts_with(b"#compdef keyrite\n"));
    let fish = String::from_utf8(keyrite(&["completions", "fish"]).stdout).unwrap();
    assert!(fish.contains("complete -c keyrite "), "{fish}");
}

#[test]
fn man_writes_a_page_for_keyrite_and_for_every_command_at_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let out = keyrite(&["man", "--out", dir.path().to_str().unwrap()]);
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for page in [
        "keyrite.1",
        "keyrite-wrap.1",
        "keyrite-verify.1",
        "keyrite-token.1",
        "keyrite-token-info.1",
        "keyrite-token-backup-key-create.1",
        "keyrite-completions.1",
        "keyrite-man.1",
    ] {
        assert!(pages.contains(&page.to_owned()), "{page} in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "Wrote {} manual pages in {}: keyrite.1 and one per subcommand\n",
            pages.len(),
            dir.path().display()
        )
    );
    let version = String::from_utf8(keyrite(&["--version"]).stdout).unwrap();
    for page in &pages {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        let name = page.strip_suffix(".1").unwrap();
        // Title, section, a blank date, the source naming the build, the manual.
        let title = format!(".TH {name} 1 \" \" \"{}\" keyrite\n", version.trim_end());
        assert!(text.contains(&title), "{page}: {text}");
    }
    let wrap = std::fs::read_to_string(dir.path().join("keyrite-wrap.1")).unwrap();
    assert!(wrap.contains("\\-\\-provider"), "{wrap}");

    // A second run writes the same pages over the first's.
    keyrite(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), pages.len());
}

#[test]
fn man_into_a_directory_that_does_not_exist_fails_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("man1");
    let out = Command::new(KEYRITE)
        .args(["man", "--out", missing.to_str().unwrap()])
        .output()
        .unwrap();
    // A usage error, refused before any page is written.
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.lines().next(),
        Some(
            format!(
                "keyrite: the directory {} for the output does not exist",
                missing.display()
            )
            .as_str()
        ),
        "{stderr}"
    );
    assert!(!missing.exists());
}
