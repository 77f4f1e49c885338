//! `keyrite verify`: a transcript replayed without an HSM. The library verifies and renders the
//! audit report; this file refuses unusable inputs (exit 2), prints the checks and the verdict,
//! and exits with the verdict's code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use keyrite::Error;
use keyrite::verify::{self, Status};

use super::ceremony::plan_pin;
use super::out::{errln, outln};
use super::print::{Schema, print_json};
use keyrite::visible::visible_sentence;
use keyrite::words::{digest_lines, inline_words};

/// `keyrite verify`. `--pin-env` and `--pin-file`, hidden, are refused: verify needs no PIN.
#[derive(Debug, Args)]
#[command(after_help = super::examples::VERIFY)]
#[command(args = [plan_pin("pin-env"), plan_pin("pin-file")])]
pub struct VerifyArgs {
    /// The transcript.
    pub transcript: PathBuf,
    /// The ceremony signer's public key (PEM): the trust anchor, never taken from the transcript.
    #[arg(long, value_name = "PEM")]
    pub signer: PathBuf,
    /// The policy: checks its digest, the quorum and the witnesses. Required unless
    /// --no-policy is given.
    #[arg(long, value_name = "FILE", conflicts_with = "no_policy")]
    pub policy: Option<PathBuf>,
    /// Verify without a policy: no quorum is checked, so the verdict is at best NOT APPROVED
    /// (exit 4), never VERIFIED.
    #[arg(long)]
    pub no_policy: bool,
    /// The plan: checks it and every file it names against the digest the custodians signed.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// The directory holding the output directories, each found there by the last name of its
    /// recorded path: for a plan's `out = "out/us-east-1"`, --outputs out (from the plan's
    /// directory); for `wrap --out full1`, the directory holding full1. Checks every file's
    /// SHA-256.
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// Print the verdict and every check as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the audit report, one self-contained HTML page, to FILE (created new; never
    /// replaces a file). The exit code stays the verdict's.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Verifies the transcript and prints the verdict; the exit code is the verdict's.
pub fn run(args: VerifyArgs) -> Result<ExitCode, Error> {
    // A report that cannot be written is a usage error (exit 2), like verify's other unusable
    // inputs; it is refused before anything is verified.
    let report_failed = |e: keyrite::output::Error| {
        errln!("keyrite: {e}");
        errln!(
            "Choose a new --report path in an existing directory; keyrite never replaces a file."
        );
        Ok(ExitCode::from(2))
    };
    if args.policy.is_none() && !args.no_policy {
        errln!(
            "keyrite: verify needs the policy: without it no quorum is checked, and nothing says who approved the transcript"
        );
        errln!(
            "Give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)."
        );
        return Ok(ExitCode::from(2));
    }
    if let Some(path) = &args.report {
        if let Err(e) = keyrite::output::check_absent(path) {
            return report_failed(e);
        }
    }
    let report = verify::verify(&verify::Inputs {
        transcript: args.transcript.clone(),
        signer: args.signer,
        policy: args.policy,
        plan: args.plan,
        outputs: args.outputs,
        // Only the HTML report shows every line; without it, memory stays flat.
        keep_lines: args.report.is_some(),
    })?;
    if args.json {
        print_json(Schema::Verify, &report)?;
    } else {
        print_report(&report, &args.transcript);
    }
    if let Some(path) = &args.report {
        let html = keyrite::verify::report::render(&report, &args.transcript);
        if let Err(e) = keyrite::html::write(path, &html) {
            return report_failed(e);
        }
        errln!("Wrote the audit report {}", path.display());
    }
    Ok(ExitCode::from(report.exit_code))
}

/// Prints every check, every witness and the verdict.
fn print_report(report: &verify::Report, transcript: &std::path::Path) {
    outln!("Transcript {}", transcript.display());
    for c in &report.checks {
        let (status, text) = match &c.status {
            Status::Passed { detail } => ("passed", detail.clone()),
            Status::Failed { reason, line } => (
                "FAILED",
                match line {
                    Some(l) => format!("line {l}: {reason}"),
                    None => reason.clone(),
                },
            ),
            Status::NotChecked { missing } => ("not checked", format!("needs {missing}")),
        };
        // Names from the policy or the transcript inside a detail: shown escaped, as plan check
        // shows them, so none reorders or breaks the line.
        outln!(
            "  {:<10} {:<12} {}",
            c.name,
            status,
            visible_sentence(&text)
        );
    }
    for w in &report.witnesses {
        let state = match w.verified {
            Some(true) => "signature verified",
            Some(false) => "signature does NOT verify",
            None => {
                "signature verifies under the key it carries (no --policy: not held to the policy's witnesses)"
            }
        };
        outln!(
            "  witness {:?} ({}), line {}: {state}",
            w.name,
            w.key_fingerprint,
            w.line
        );
    }
    print_aloud(report);
    outln!("{} (exit {})", report.summary, report.exit_code);
}

/// What the room compares aloud — the plan digest, each key's KCV, the signer's fingerprint,
/// the chain head at the seal — in hex and PGP words; only when no check failed, as values of
/// a record that does not hold up are nothing to compare.
fn print_aloud(report: &verify::Report) {
    if report
        .checks
        .iter()
        .any(|c| matches!(c.status, Status::Failed { .. }))
    {
        return;
    }
    outln!("To compare aloud:");
    let mut lines = Vec::new();
    if let Some(digest) = &report.plan_digest {
        lines.extend(digest_lines("  ", "plan digest", digest));
    }
    for (label, kcv) in &report.kcvs {
        lines.push(format!("  key {label:?}: KCV {kcv}{}", inline_words(kcv)));
    }
    lines.extend(digest_lines(
        "  ",
        "signer fingerprint",
        &report.signer_fingerprint,
    ));
    if let Some(seal) = report.seal_sha256() {
        lines.extend(digest_lines(
            "  ",
            "chain head at the seal (what witnesses sign)",
            &seal,
        ));
    }
    for line in lines {
        outln!("{line}");
    }
}
