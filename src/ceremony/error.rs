//! The ceremony's errors: why a ceremony was refused before the token acted, and how a step
//! that failed left the keys and the transcript. It trusts nothing; it only words facts.

use std::path::PathBuf;

use super::plan::Action;
use super::quorum::Quorum;

/// Why a ceremony was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A wrap step, or the token access it shares with `keyrite wrap`, failed.
    #[error(transparent)]
    Wrap(#[from] crate::wrap::Error),
    /// The token refused or failed.
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    /// The transcript could not be written.
    #[error(transparent)]
    Transcript(#[from] crate::transcript::Error),
    /// No PIN.
    #[error(transparent)]
    Pin(#[from] crate::pin::Error),
    /// The PIN could not be rebuilt from its shares.
    #[error(transparent)]
    Shares(#[from] crate::shares::Error),
    /// `keys destroy` was given a plan that does more, or other, than destroy its key.
    #[error("{}: keys destroy runs only a plan whose steps destroy {label:?}; {reason}", plan.display())]
    NotADestroyPlan {
        /// The plan.
        plan: PathBuf,
        /// The key to destroy.
        label: String,
        /// What the plan does instead.
        reason: NotDestroy,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A transcript could not be locked to append to it.
    #[error("cannot read {}: cannot lock it: {source}", path.display())]
    Lock {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The policy is invalid.
    #[error("{}: {problem}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// The field and what is wrong.
        #[source]
        problem: Box<super::policy::Problem>,
    },
    /// A policy that takes the PIN from shares leaves the module free.
    #[error(
        "{}: module_sha256: a policy with pin_shares must pin the PKCS#11 module, which is given the PIN the shares rebuild",
        path.display()
    )]
    ModuleUnpinned {
        /// The policy file.
        path: PathBuf,
    },
    /// The module is not at the path the policy pins.
    #[error(
        "the PKCS#11 module {} is not the module_path {} that the policy {} pins; it was not loaded",
        module.display(),
        expected.display(),
        policy.display()
    )]
    ModulePath {
        /// The module path resolved for this run.
        module: PathBuf,
        /// The policy's module_path.
        expected: PathBuf,
        /// The policy file.
        policy: PathBuf,
    },
    /// The module file is not the one the policy pins.
    #[error(
        "the PKCS#11 module {} has SHA-256 {actual}, but the policy {} pins module_sha256 = {expected}; it was not loaded",
        module.display(),
        policy.display()
    )]
    ModuleDigest {
        /// The module path resolved for this run.
        module: PathBuf,
        /// The policy's module_sha256.
        expected: String,
        /// The SHA-256 of the file read.
        actual: String,
        /// The policy file.
        policy: PathBuf,
    },
    /// A generate step would make a key that can be wrapped under any key, where the policy
    /// requires trusted wrapping.
    #[error(
        "{}: steps[{index}].wrap_with_trusted: the policy {} sets require_trusted_wrapping = true, so every generate step must set wrap_with_trusted = true",
        plan.display(),
        policy.display()
    )]
    TrustedWrappingRequired {
        /// The plan file.
        plan: PathBuf,
        /// The step.
        index: usize,
        /// The policy file.
        policy: PathBuf,
    },
    /// A wrap or rewrap of an existing key that is not `CKA_WRAP_WITH_TRUSTED`, where the policy
    /// requires trusted wrapping.
    #[error(
        "{}: steps[{index}]: key {label:?} on token {token:?} is not CKA_WRAP_WITH_TRUSTED, and the policy {} sets require_trusted_wrapping = true",
        plan.display(),
        policy.display()
    )]
    ExistingNotTrusted {
        /// The plan file.
        plan: PathBuf,
        /// The step.
        index: usize,
        /// The key label.
        label: String,
        /// The token label.
        token: String,
        /// The policy file.
        policy: PathBuf,
    },
    /// The plan is invalid.
    #[error("{}: {field}: {problem}", path.display())]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// The field, by path.
        field: super::plan::Field,
        /// What is wrong.
        #[source]
        problem: Box<super::plan::Problem>,
    },
    /// A wrap step's inputs were refused.
    #[error("{}: steps[{index}]: {source}", path.display())]
    StepInput {
        /// The plan file.
        path: PathBuf,
        /// The step.
        index: usize,
        /// Why.
        source: Box<crate::wrap::Error>,
    },
    /// Now is outside the plan's window.
    #[error("the plan may run from {not_before} to {not_after}; it is now {now}")]
    Window {
        /// The plan's not_before.
        not_before: String,
        /// The plan's not_after.
        not_after: String,
        /// Now.
        now: String,
    },
    /// Too few custodians approved.
    #[error("{}", quorum_message(.0))]
    NoQuorum(Box<Quorum>),
    /// The token's signer is not the one the policy names.
    #[error(
        "the signer key {label:?} on the token has fingerprint {actual}, but the policy names {expected}"
    )]
    SignerMismatch {
        /// The signer label.
        label: String,
        /// The policy's fingerprint.
        expected: String,
        /// The token's.
        actual: String,
    },
    /// The token is not the production token the policy pins.
    #[error("the policy pins token serial {expected:?}, but token {label:?} has serial {actual:?}")]
    SerialMismatch {
        /// The token label.
        label: String,
        /// The policy's serial.
        expected: String,
        /// The token's.
        actual: String,
    },
    /// The ceremony already ran on this token.
    #[error(
        "ceremony {ceremony_id:?} already ran on token {token:?}; a plan runs once{}",
        match left.as_slice() {
            [] => String::new(),
            labels => format!(
                " (the key{} it generated, {}, {} on the token)",
                if labels.len() == 1 { "" } else { "s" },
                labels.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", "),
                if labels.len() == 1 { "is" } else { "are" }
            ),
        }
    )]
    Replay {
        /// The ceremony id.
        ceremony_id: String,
        /// The token label.
        token: String,
        /// The labels of the keys the plan generates that are on the token (a run that was
        /// interrupted leaves them).
        left: Vec<String>,
    },
    /// `--resume-from` names a transcript this run cannot continue.
    #[error("cannot resume from {}: {reason}", path.display())]
    Resume {
        /// The interrupted transcript.
        path: PathBuf,
        /// Why not.
        reason: String,
        /// What to do.
        advice: &'static str,
    },
    /// A step failed; the transcript records it, sealed if the token can still sign.
    #[error("{0}")]
    Failed(Box<StepFailure>),
}

/// What a plan given to `keys destroy` does instead of destroying only its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotDestroy {
    /// A step destroys another key.
    #[error("steps[{index}] destroys {label:?}")]
    Other {
        /// The step.
        index: usize,
        /// The key it destroys.
        label: String,
    },
    /// A step does something else.
    #[error("steps[{index}] is a {action} step")]
    Action {
        /// The step.
        index: usize,
        /// What it does.
        action: Action,
    },
    /// No steps at all.
    #[error("it has no steps")]
    NoSteps,
}

/// A ceremony step that failed, and what became of the keys and the transcript.
#[derive(Debug)]
pub struct StepFailure {
    /// The step.
    pub index: usize,
    /// Its action.
    pub action: &'static str,
    /// What went wrong.
    pub reason: String,
    /// What happened to the keys generated.
    pub keys: String,
    /// Why the transcript could not be sealed, if it could not.
    pub sealed: Option<String>,
    /// The transcript.
    pub transcript: PathBuf,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the ceremony failed at steps[{}] ({}): {}.{} ",
            self.index, self.action, self.reason, self.keys
        )?;
        match &self.sealed {
            None => write!(f, "The sealed transcript is {}.", self.transcript.display()),
            Some(e) => write!(
                f,
                "The transcript {} records the failure but could not be sealed: {e}.",
                self.transcript.display()
            ),
        }
    }
}

fn quorum_message(q: &Quorum) -> String {
    let names = |v: Vec<String>| {
        if v.is_empty() {
            "nobody".to_owned()
        } else {
            v.join(", ")
        }
    };
    let mut msg = format!(
        "the plan has {} valid approval{} of the {} the policy requires; approved by {}; not approved by {}",
        q.approvals.len(),
        if q.approvals.len() == 1 { "" } else { "s" },
        q.threshold,
        names(q.approvals.iter().map(|a| a.custodian.clone()).collect()),
        names(q.missing.clone()),
    );
    for r in &q.rejected {
        msg.push_str(&format!("; {} does not count: {}", r.file, r.reason));
    }
    msg
}
