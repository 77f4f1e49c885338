//! `keyrite plan check`, `keyrite plan digest` and `keyrite plan script`: a ceremony plan checked
//! against its policy without a token, the statement custodians sign, or the script printed for
//! the day. The library reads, checks and renders; this file shows what custodians read, every
//! name from a file or the command line through `visible`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use time::OffsetDateTime;

use super::out::{errln, out, outln};
use keyrite::Error;
use keyrite::ceremony::{self, CheckedPlan, plan::Step, script};
use keyrite::timestamp::format_time;
use keyrite::visible::visible;
use keyrite::words::digest_lines;

/// `keyrite plan …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::PLAN)]
pub enum PlanCommand {
    /// Check a plan (and every file it names) against a policy, without a token.
    #[command(after_help = super::examples::PLAN_CHECK)]
    Check {
        /// The plan file.
        plan: PathBuf,
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Print the statement custodians sign: the SHA-256 of the plan and every file it names.
    #[command(after_help = super::examples::PLAN_DIGEST)]
    Digest {
        /// The plan file.
        plan: PathBuf,
    },
    /// Write the ceremony script: one HTML page to print and read aloud on the day.
    ///
    /// Made from the plan and the policy alone, checked as `plan check` checks them: the plan
    /// digest the custodians signed, the roles, a checklist, each step with what the operator
    /// runs, what the screen shows and what to compare, boxes for initials and times, and a
    /// signature block; every digest and fingerprint in hex and in PGP words. The same plan and
    /// policy give the same bytes.
    #[command(after_help = super::examples::PLAN_SCRIPT)]
    Script {
        /// The plan file.
        plan: PathBuf,
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The HTML file to write (created new; never replaces a file).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The approvals directory the script's `ceremony run` line names.
        #[arg(long, value_name = "DIR", default_value = "approvals")]
        approvals: PathBuf,
        /// The transcript the script's `ceremony run` line names (default: CEREMONY_ID.jsonl).
        #[arg(long, value_name = "FILE")]
        transcript: Option<PathBuf>,
    },
}

/// Runs a `plan` subcommand.
pub fn run(command: PlanCommand) -> Result<(), Error> {
    match command {
        PlanCommand::Digest { plan } => {
            let plan = ceremony::plan::Plan::load(&plan)?;
            out!("{}", plan.digest_statement());
        }
        PlanCommand::Check { plan, policy } => {
            let checked = ceremony::check_plan(&plan, &policy, OffsetDateTime::now_utc())?;
            for warning in &checked.warnings {
                eprintln!("keyrite: warning: {warning}");
                eprintln!("{}", super::hint::warning(warning));
            }
            print_check(&checked);
        }
        PlanCommand::Script {
            plan,
            policy,
            out,
            approvals,
            transcript,
        } => write_script(&plan, &policy, &out, approvals, transcript)?,
    }
    Ok(())
}

/// Writes the ceremony script of a plan checked as `plan check` checks it; the output path is
/// refused before anything is read if it is taken.
fn write_script(
    plan: &Path,
    policy: &Path,
    out: &Path,
    approvals: PathBuf,
    transcript: Option<PathBuf>,
) -> Result<(), Error> {
    let output = |e| Error::from(keyrite::wrap::Error::Output(e));
    keyrite::output::check_absent(out).map_err(output)?;
    let checked = ceremony::check_plan(plan, policy, OffsetDateTime::now_utc())?;
    for warning in &checked.warnings {
        errln!("keyrite: warning: {warning}");
        errln!("{}", super::hint::warning(warning));
    }
    let invocation = script::Invocation {
        approvals,
        transcript: transcript
            .unwrap_or_else(|| PathBuf::from(format!("{}.jsonl", checked.plan.ceremony_id))),
        keyrite_version: format!("keyrite {}", super::VERSION),
    };
    keyrite::html::write(out, &script::render(&checked, &invocation)).map_err(output)?;
    outln!(
        "Wrote the ceremony script {} ({} steps); print it with headless Chromium (docs/operators.md).",
        visible(&out.to_string_lossy()),
        checked.plan.steps.len()
    );
    Ok(())
}

/// Prints a checked plan: its steps, the approval it needs, and the digest to sign.
fn print_check(checked: &CheckedPlan) {
    let CheckedPlan {
        policy,
        plan,
        wraps,
        ..
    } = checked;
    // Everything shown that came from a file or the command line goes through visible():
    // a newline or a bidi override in a name must not redraw what the custodians read.
    outln!(
        "Plan {:?} ({}) is valid: {} step{}, to run between {} and {} on token {:?} by {}.",
        plan.ceremony_id,
        visible(&plan.path.to_string_lossy()),
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" },
        format_time(plan.not_before),
        format_time(plan.not_after),
        plan.token_label,
        visible(&plan.operator)
    );
    for (i, (step, wrap)) in plan.steps.iter().zip(wraps).enumerate() {
        outln!("  steps[{i}] {}", describe_step(step));
        if let Some(wrap) = wrap {
            let params = wrap.params();
            outln!(
                "    KMS key {}{}",
                visible(&params.key_id),
                params
                    .wrapping_key_id
                    .as_deref()
                    .map(|id| format!(", wrapping key {}", visible(id)))
                    .unwrap_or_default()
            );
            for line in digest_lines(
                "    ",
                "wrapping key SHA-256",
                params.public_key.fingerprint(),
            ) {
                outln!("{line}");
            }
            outln!(
                "    the wrapping key is {}",
                visible(&wrap.attestation().summary())
            );
        }
    }
    outln!(
        "Approval needs {} of the policy's {} custodians: {}.",
        policy.threshold,
        policy.custodians.len(),
        policy
            .custodians
            .iter()
            .map(|c| visible(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for line in digest_lines(
        "",
        "Plan digest (SHA-256 of the statement below)",
        &plan.statement_sha256(),
    ) {
        outln!("{line}");
    }
    let statement = plan.digest_statement_visible();
    if statement == plan.digest_statement() {
        outln!("Digest to sign (keyrite plan digest):");
    } else {
        outln!(
            "Digest to sign, its names shown escaped (keyrite plan digest prints the bytes to sign):"
        );
    }
    out!("{statement}");
}

/// One line on what a step does, its names through `visible`.
fn describe_step(step: &Step) -> String {
    match step {
        Step::Generate {
            key_label,
            key_spec,
            wrap_with_trusted,
        } => format!(
            "generate {key_spec} key {:?}{}",
            key_label.as_str(),
            if *wrap_with_trusted {
                " with CKA_WRAP_WITH_TRUSTED"
            } else {
                ""
            }
        ),
        Step::Wrap {
            key_label,
            provider,
            params,
            algorithm,
            out,
            existing,
            ..
        } => format!(
            "{} {:?} for {} ({}) with {algorithm} into {}{}",
            step.action(),
            key_label.as_str(),
            provider.display_name(),
            visible(params),
            visible(out),
            existing
                .as_ref()
                .map(|(kcv, _)| format!(" (the existing key, KCV {kcv})"))
                .unwrap_or_default()
        ),
        Step::Destroy {
            key_label,
            expect_kcv,
        } => format!(
            "destroy the existing key {:?} (KCV {expect_kcv})",
            key_label.as_str()
        ),
    }
}
