//! `keyrite ceremony run` (and the run behind `keys destroy`): an approved plan run on the
//! token. The library checks the plan, the policy and the quorum and runs the steps; this file
//! prints who approved it, then each step as it finishes (`progress`).

use std::ffi::OsStr;
use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, Args, Subcommand};
use time::OffsetDateTime;

use super::out::outln;
use keyrite::Error;
use keyrite::ceremony::{self, RunRequest};
use keyrite::spec::KeyLabel;
use keyrite::visible::visible;
use keyrite::words::digest_lines;

use super::ModuleArgs;
use super::progress::print_run;

/// What every approved run takes beside its plan: the policy, the approvals, the transcript.
/// `--pin-env` and `--pin-file`, hidden, are refused: the plan names where its PIN comes from.
#[derive(Debug, Args)]
#[command(args = [plan_pin("pin-env"), plan_pin("pin-file")])]
pub struct RunArgs {
    /// The policy file (who may approve, the threshold, the signer).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The directory of approvals (`ssh-keygen -Y sign -n keyrite-plan` signatures).
    #[arg(long, value_name = "DIR")]
    pub approvals: PathBuf,
    /// The transcript to create (must not exist).
    #[arg(long, value_name = "FILE")]
    pub transcript: PathBuf,
    /// A PIN share file, when the plan takes the PIN from shares (repeat for each; without
    /// any, custodians type their shares on the terminal).
    #[arg(long, value_name = "FILE")]
    pub pin_share: Vec<PathBuf>,
    /// An SSH private key that opens the --pin-share files encrypted to a custodian's key
    /// (share-NAME.age), repeat for each; one protected by a passphrase asks for it on the
    /// terminal.
    #[arg(long, value_name = "KEY", requires = "pin_share")]
    pub identity: Vec<PathBuf>,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// A hidden `--OPTION` (`pin-env` or `pin-file`) that a run of a plan (and `verify`, which
/// needs no PIN) refuses, with or without a value, as a usage error that never prints the
/// value: it may be the PIN itself.
pub(super) fn plan_pin(option: &'static str) -> Arg {
    Arg::new(option)
        .long(option)
        .hide(true)
        .num_args(0..=1)
        .default_missing_value("")
        .value_parser(PlanPin(option))
}

/// The parser of [`plan_pin`]'s option: refuses whatever it is given, unread.
#[derive(Debug, Clone, Copy)]
struct PlanPin(&'static str);

impl TypedValueParser for PlanPin {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&Arg>,
        _value: &OsStr,
    ) -> Result<String, clap::Error> {
        let option = self.0;
        let command = match cmd.get_name() {
            "verify" => {
                return Err(clap::Error::raw(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "verify needs no token and no PIN: it replays the transcript with the signer's public key (--signer PEM) alone; leave out --{option}\n"
                    ),
                )
                .with_cmd(cmd));
            }
            "destroy" => "keys destroy",
            _ => "ceremony run",
        };
        let what = match option {
            "pin-env" => "set pin = \"env:NAME\" in the plan, NAME the variable that holds the PIN",
            _ => {
                "a plan's pin is \"prompt\", \"env:NAME\" or \"shares\" (the share files given with --pin-share FILE)"
            }
        };
        Err(clap::Error::raw(
            ErrorKind::ArgumentConflict,
            format!(
                "{command} takes the PIN source from the plan, not from --{option}: {what}; a changed plan needs new approvals\n"
            ),
        )
        .with_cmd(cmd))
    }
}

/// `keyrite ceremony …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::CEREMONY)]
pub enum CeremonyCommand {
    /// Run a plan once a quorum of custodians approved it, recording a sealed transcript.
    #[command(after_help = super::examples::CEREMONY_RUN)]
    Run {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Continue an interrupted run of this plan from its unsealed transcript, into the new
        /// --transcript. That record is unsigned, so resume trusts nothing in it the token did
        /// not sign: it takes over only the keys it records as generated, each proven again on
        /// the token (generated there, always sensitive, with the KCV recorded), and re-does
        /// every wrap. Every planned output directory must be absent: move aside any the
        /// interrupted run left (they hold only wrapped material).
        #[arg(long, value_name = "FILE")]
        resume_from: Option<PathBuf>,
        /// Steps per batch at most (default 64): a batch's generate and wrap steps are
        /// announced by one fsynced line, and its outputs made durable together in one round
        /// with their lines before they move into place. 1 commits each step on its own. A
        /// batch also closes after 250 ms, at a destroy step and at the plan's end.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
        batch_steps: Option<u32>,
        /// How long (milliseconds) a batch takes new steps for, from its first (default 250):
        /// on a slow token, a finished output waits at most this long to be made durable.
        #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=600_000))]
        batch_ms: Option<u64>,
        /// Sessions of the token that run a batch's generate and wrap steps in parallel
        /// (default 1). The run's first batch runs on one session and the next on all; unless
        /// they did the token's steps 1.2 times as fast, the rest runs on one (a token or module
        /// that serializes calls gains nothing from more). A token that opens fewer runs on
        /// those it opens, a module that cannot lock for threads (CKR_CANT_LOCK) on one; keyrite
        /// says so. The transcript keeps the plan's order and records each batch's sessions.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
        sessions: Option<u32>,
    },
}

/// Runs a `ceremony` subcommand.
pub fn run(command: CeremonyCommand) -> Result<(), Error> {
    let CeremonyCommand::Run {
        plan,
        run,
        resume_from,
        batch_steps,
        batch_ms,
        sessions,
    } = command;
    let mut batching = ceremony::Batching::default();
    if let Some(n) = batch_steps {
        batching.max_steps = n as usize;
    }
    if let Some(ms) = batch_ms {
        batching.max_ms = ms;
    }
    if let Some(n) = sessions {
        batching.sessions = n as usize;
    }
    run_plan(plan, run, None, resume_from, batching)
}

/// Runs an approved plan; for `keys destroy`, only a plan that destroys `destroying` and nothing
/// else.
pub fn run_plan(
    plan: PathBuf,
    run: RunArgs,
    destroying: Option<&KeyLabel>,
    resume_from: Option<PathBuf>,
    batching: ceremony::Batching,
) -> Result<(), Error> {
    let module = run.module.open()?;
    let req = RunRequest {
        plan,
        policy: run.policy,
        approvals: run.approvals,
        transcript: run.transcript,
        module,
        pin_shares: run.pin_share,
        identities: run.identity,
        resume_from,
        batching,
    };
    let prepared = ceremony::prepare(&req, OffsetDateTime::now_utc())?;
    if let Some(label) = destroying {
        ceremony::check_destroys_only(&prepared.plan, label)?;
    }
    outln!(
        "Plan {:?} approved by {} of {} required: {}.",
        prepared.plan.ceremony_id,
        prepared.quorum.approvals.len(),
        prepared.quorum.threshold,
        prepared
            .quorum
            .approvals
            .iter()
            .map(|a| visible(&a.custodian))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for line in digest_lines(
        "  ",
        "Plan digest (SHA-256 of the statement they signed)",
        &prepared.plan.statement_sha256(),
    ) {
        outln!("{line}");
    }
    print_run(|observer| ceremony::run(prepared, &req, observer))
}
