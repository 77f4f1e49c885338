//! A real headless Chromium for the pages keyrite writes (the audit report, the ceremony
//! script): their DOM after loading (and running whatever it would run), a screenshot, and a
//! print to PDF with its pages counted by `pdfinfo`. Free text a hostile operator could put in
//! a plan, a policy or a transcript, and how Chromium shows it when it stayed text.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::run;

/// Free text a hostile operator could put in a plan, a policy or a transcript: must stay text.
pub const HOSTILE: &str =
    "<script>document.title='pwned'</script><img src=x onerror=document.title='pwned'>";
/// How Chromium serialises it back as a text node.
pub const HOSTILE_ESCAPED: &str = "&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x onerror=document.title='pwned'&gt;";

/// Headless Chromium, isolated (an empty profile in `dir`, no network services), which must
/// succeed.
pub fn chromium(dir: &Path, args: &[&str], page: &Path) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let out = Command::new("chromium")
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
        .unwrap_or_else(|e| panic!("cannot run chromium: {e} (scripts/test installs chromium)"));
    assert!(
        out.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM after Chromium loaded the page (and ran whatever it would run).
pub fn dom(dir: &Path, page: &Path) -> String {
    let dom = String::from_utf8(chromium(dir, &["--dump-dom"], page).stdout).unwrap();
    assert!(dom.contains("</html>"), "no DOM dumped: {dom}");
    dom
}

/// A screenshot of the page in a window `size` wide and high (`1280,2000`), checked to be a
/// real PNG with something on it.
pub fn screenshot(dir: &Path, page: &Path, name: &str, size: &str) -> PathBuf {
    let png = dir.join(name);
    chromium(
        dir,
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size={size}"),
        ],
        page,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank page that size compresses to a few kilobytes; a rendered one does not.
    assert!(bytes.len() > 20_000, "{} bytes only", bytes.len());
    png
}

/// The page printed to PDF `name` in `dir` by Chromium (no header or footer), and its page
/// count by `pdfinfo`.
pub fn printed_pages(dir: &Path, page: &Path, name: &str) -> (PathBuf, usize) {
    let pdf = dir.join(name);
    chromium(
        dir,
        &[
            &format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer",
        ],
        page,
    );
    let info = run(Command::new("pdfinfo").arg(&pdf));
    assert!(
        info.status.success(),
        "pdfinfo failed (scripts/test installs poppler-utils): {}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8(info.stdout).unwrap();
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap_or_else(|| panic!("no page count: {info}"))
        .trim()
        .parse()
        .unwrap();
    (pdf, pages)
}
