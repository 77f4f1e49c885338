//! `keyrite ceremony run` (and the run behind `keys destroy`): an approved plan run on the
//! token. The library checks the plan, the policy and the quorum and runs the steps; this file
//! prints who approved it, then each step as it finishes (`progress`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::out::outln;
use keyrite::Error;
use keyrite::ceremony::{self, RunRequest};
use keyrite::spec::KeyLabel;

use super::ModuleArgs;
use super::progress::print_run;

/// What every approved run takes beside its plan: the policy, the approvals, the transcript.
#[derive(Debug, Args)]
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
    #[command(flatten)]
    pub module: ModuleArgs,
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
    },
}

/// Runs a `ceremony` subcommand.
pub fn run(command: CeremonyCommand) -> Result<(), Error> {
    let CeremonyCommand::Run {
        plan,
        run,
        resume_from,
    } = command;
    run_plan(plan, run, None, resume_from)
}

/// Runs an approved plan; for `keys destroy`, only a plan that destroys `destroying` and nothing
/// else.
pub fn run_plan(
    plan: PathBuf,
    run: RunArgs,
    destroying: Option<&KeyLabel>,
    resume_from: Option<PathBuf>,
) -> Result<(), Error> {
    let module = run.module.open()?;
    let req = RunRequest {
        plan,
        policy: run.policy,
        approvals: run.approvals,
        transcript: run.transcript,
        module,
        pin_shares: run.pin_share,
        resume_from,
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
            .map(|a| a.custodian.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    print_run(|observer| ceremony::run(prepared, &req, observer))
}
