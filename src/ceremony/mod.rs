//! Ceremonies: a declared plan, approved by an M-of-N quorum of custodians defined in a policy
//! from outside the plan, run step by step on the token, every step recorded in a signed,
//! hash-chained transcript.
//!
//! Everything that can be checked without the token is checked before it is opened: the policy,
//! the plan and every file it names, the time window, the approvals, the import parameters and
//! the outputs. The token is then opened read-only in effect until the checks that need it pass
//! (signer fingerprint, serial, a replayed ceremony id, free labels, the mechanisms); only then
//! is the transcript created and the first token object made.
//!
//! `preflight` holds those checks, `record` the transcript lines that open a run, `run` the
//! steps on the token, `progress` what a run tells its caller step by step, `error` what can go
//! wrong, `script` the page printed before the day and read aloud while a plan runs.

mod error;
pub mod plan;
pub mod policy;
mod preflight;
pub mod progress;
pub mod quorum;
mod record;
pub mod resume;
mod run;
pub mod script;

use std::path::{Path, PathBuf};

pub use error::{Error, NotDestroy, StepFailure, Unresumable, Warning};
pub(crate) use preflight::check_serial;
pub use preflight::{
    CheckedPlan, Prepared, RunRequest, check_destroys_only, check_params_expiry, check_plan,
    check_runnable, check_trusted_wrapping, load_module, prepare, prepare_wraps,
};
pub use progress::{Done, FewerSessions, Held, Observer};
pub(crate) use record::token_line;
pub use run::{Batching, DEFAULT_BATCH_MS, DEFAULT_BATCH_STEPS, run, wrap_recorded};

/// The actor of the lines keyrite itself records (checks, results), as opposed to the operator's.
const ACTOR: &str = "keyrite";

/// Reads a whole file once, up to [`crate::input::MAX_SMALL`].
pub(crate) fn read_once(path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read(path, crate::input::MAX_SMALL).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        source: e,
    })
}

/// The result of a completed ceremony (what each step did was told to the run's
/// [`Observer`] as it finished).
#[derive(Debug)]
pub struct Outcome {
    /// The sealed transcript.
    pub transcript: PathBuf,
    /// The chain head at its seal line (hex), what witnesses sign.
    pub seal_sha256: String,
}
