//! The ceremony's errors: why a ceremony was refused before the token acted, and how a step
//! that failed left the keys and the transcript. It trusts nothing; it only words facts.

use std::path::PathBuf;

use super::plan::Action;
use super::quorum::Quorum;
use crate::spec::{KeyLabel, KeySpec};

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
    /// A plan names a roots file the policy does not accept.
    #[error(
        "{}: attestation_roots: the roots file {roots:?} (sha256 {sha256}) is not the one the policy {} accepts; a roots file decides which HSMs an attestation may come from, so the policy pins it (attestation_roots_sha256)",
        plan.display(),
        policy.display()
    )]
    AttestationRootsNotAccepted {
        /// The plan file.
        plan: PathBuf,
        /// The roots file, as the plan names it.
        roots: String,
        /// Its SHA-256.
        sha256: String,
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
    #[error("{}:{at}: {}{problem}", path.display(), field.prefix())]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// Where in it: the offending key or value, else the table that lacks it.
        at: super::plan::Position,
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
        /// Whether the window is over (else it has not begun).
        over: bool,
    },
    /// A wrap step's import parameters expire before the plan's window opens.
    #[error(
        "{}: steps[{index}]: the import parameters {} expire at {valid_to}, before the plan's window opens at {not_before}: no run can use them",
        plan.display(),
        crate::visible::visible(params)
    )]
    ParamsExpireBeforeWindow {
        /// The plan file.
        plan: PathBuf,
        /// The step.
        index: usize,
        /// The parameters file, as the plan names it.
        params: String,
        /// When they expire.
        valid_to: String,
        /// The plan's not_before.
        not_before: String,
    },
    /// A wrap step's `valid_to` for the key material comes before the plan's window opens.
    #[error(
        "{}: steps[{index}].valid_to: {valid_to} is before the plan's window opens at {not_before}: every run refuses material that expires before it is wrapped",
        plan.display()
    )]
    ValidToBeforeWindow {
        /// The plan file.
        plan: PathBuf,
        /// The step.
        index: usize,
        /// The step's valid_to.
        valid_to: String,
        /// The plan's not_before.
        not_before: String,
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
        #[source]
        reason: Box<Unresumable>,
    },
    /// A step failed; the transcript records it, sealed if the token can still sign.
    #[error(transparent)]
    Failed(Box<StepFailure>),
}

impl Error {
    /// Whether this is a usage error (exit 2): a file named (by the command line or the plan)
    /// cannot be read, the plan or the policy does not parse or fails its own checks, a plan
    /// given to `keys destroy` does more, or a wrap step's inputs are unusable as `keyrite wrap`
    /// finds them. What the policy, the quorum, the window or the token refuse in a plan that
    /// parses, and a step that fails, are not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Wrap(e) => e.is_usage(),
            Error::Hsm(e) => e.is_usage(),
            Error::Transcript(e) => e.is_usage(),
            Error::Pin(e) => e.is_usage(),
            Error::Shares(e) => e.is_usage(),
            Error::StepInput { source, .. } => source.is_usage(),
            Error::NotADestroyPlan { .. }
            | Error::Read { .. }
            | Error::Policy { .. }
            | Error::ModuleUnpinned { .. }
            | Error::Plan { .. } => true,
            Error::Lock { .. }
            | Error::ModulePath { .. }
            | Error::ModuleDigest { .. }
            | Error::TrustedWrappingRequired { .. }
            | Error::AttestationRootsNotAccepted { .. }
            | Error::ExistingNotTrusted { .. }
            | Error::Window { .. }
            | Error::ParamsExpireBeforeWindow { .. }
            | Error::ValidToBeforeWindow { .. }
            | Error::NoQuorum(_)
            | Error::SignerMismatch { .. }
            | Error::SerialMismatch { .. }
            | Error::Replay { .. }
            | Error::Resume { .. }
            | Error::Failed(_) => false,
        }
    }
}

/// What may stop a run of a plan `plan check` accepts, in part of its window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// A wrap step's import parameters expire before the plan's window closes.
    #[error(
        "{}: steps[{index}]: the import parameters {} expire at {valid_to}, before the plan's window closes at {not_after}: a run after {valid_to} is refused",
        plan.display(),
        crate::visible::visible(params)
    )]
    ParamsExpireInWindow {
        /// The plan file.
        plan: PathBuf,
        /// The step.
        index: usize,
        /// The parameters file, as the plan names it.
        params: String,
        /// When they expire.
        valid_to: String,
        /// The plan's not_after.
        not_after: String,
    },
    /// A wrap step's `valid_to` for the key material comes before the plan's window closes.
    #[error(
        "{}: steps[{index}].valid_to: {valid_to} is before the plan's window closes at {not_after}: a run after {valid_to} is refused",
        plan.display()
    )]
    ValidToInWindow {
        /// The plan file.
        plan: PathBuf,
        /// The step.
        index: usize,
        /// The step's valid_to.
        valid_to: String,
        /// The plan's not_after.
        not_after: String,
    },
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

/// Why an interrupted transcript cannot be resumed: it is not an intact, unsealed record of
/// this plan's run, the token does not hold what it records, or the run's outputs exist.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unresumable {
    /// The file is empty or its last line has no newline.
    #[error("it is empty or its last line is cut short")]
    CutShort,
    /// A line is not JSON.
    #[error("line {line} is not JSON")]
    NotJson {
        /// The line, from 1.
        line: usize,
    },
    /// A line's `prev` is not the digest of the line before.
    #[error("line {line} is not chained to the one before")]
    NotChained {
        /// The line, from 1.
        line: usize,
    },
    /// The transcript is sealed.
    #[error("it is sealed: its run ended, there is nothing to resume")]
    Sealed,
    /// A line's data does not fit its step.
    #[error("line {line}'s data does not fit a {step} line: {}", crate::transcript::entry::misfit(.source))]
    Misfit {
        /// The line, from 1.
        line: usize,
        /// Its step.
        step: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The run's finish line says it failed and settled its keys.
    #[error(
        "its run failed and settled its keys (its finish line says so): there is nothing to resume"
    )]
    Settled,
    /// A key recorded generated that the plan does not generate.
    #[error("line {line} records key {label:?} generated, which the plan does not generate")]
    NotPlanned {
        /// The line, from 1.
        line: usize,
        /// The key label.
        label: String,
    },
    /// A key recorded generated without a KCV.
    #[error(
        "line {line} records key {label:?} generated without a KCV, and resume takes over only a key the token proves by its KCV"
    )]
    NoKcv {
        /// The line, from 1.
        line: usize,
        /// The key label.
        label: String,
    },
    /// A key recorded generated with a KCV that is not hex.
    #[error("line {line} records key {label:?} generated with a KCV that is not hex digits")]
    KcvNotHex {
        /// The line, from 1.
        line: usize,
        /// The key label.
        label: String,
    },
    /// A key recorded generated twice.
    #[error("line {line} records key {label:?} generated a second time")]
    GeneratedTwice {
        /// The line, from 1.
        line: usize,
        /// The key label.
        label: String,
    },
    /// The transcript's policy digest is not this policy's.
    #[error("it is not a run under this policy")]
    OtherPolicy,
    /// The transcript's plan digest is not this plan's.
    #[error("it is not a run of this plan")]
    OtherPlan,
    /// Planned output directories exist.
    #[error(
        "the output director{} {} already exist{}; a resumed run re-does every wrap, and keyrite vouches only for outputs it writes in this run",
        if .existing.len() == 1 { "y" } else { "ies" },
        .existing.iter().map(|(path, index)| format!("{} (steps[{index}])", path.display())).collect::<Vec<_>>().join(", "),
        if .existing.len() == 1 { "s" } else { "" }
    )]
    OutputsExist {
        /// Each existing output directory, with its wrap step.
        existing: Vec<(PathBuf, usize)>,
    },
    /// The token holds no marker of the ceremony.
    #[error("ceremony {id:?} never changed token {token:?} (no marker)")]
    NoMarker {
        /// The ceremony id.
        id: String,
        /// The token label.
        token: String,
    },
    /// The ceremony's marker is a public object.
    #[error(
        "the marker of ceremony {id:?} on token {token:?} is a public object, which anyone can make without the PIN; keyrite makes its markers private"
    )]
    PublicMarker {
        /// The ceremony id.
        id: String,
        /// The token label.
        token: String,
    },
    /// The ceremony's marker holds another plan's SHA-256.
    #[error(
        "the marker of ceremony {id:?} on token {token:?} was left by another plan (it does not hold this plan's SHA-256, {plan_sha256})"
    )]
    OtherPlanMarker {
        /// The ceremony id.
        id: String,
        /// The token label.
        token: String,
        /// This plan's SHA-256.
        plan_sha256: String,
    },
    /// The token holds more than one marker of the ceremony.
    #[error("token {token:?} holds {count} markers of ceremony {id:?}, not one")]
    Markers {
        /// The ceremony id.
        id: String,
        /// The token label.
        token: String,
        /// How many.
        count: usize,
    },
    /// A key announced but not recorded generated is on the token.
    #[error(
        "key {label:?} is on the token, but the run stopped while generating it and recorded no KCV"
    )]
    HalfGenerated {
        /// The key label.
        label: String,
    },
    /// The token has no one key of a label recorded generated.
    #[error("it records key {label:?} generated, but {source}")]
    KeyNotFound {
        /// The key label.
        label: String,
        /// What the token said.
        #[source]
        source: crate::hsm::Error,
    },
    /// The key is a public object.
    #[error(
        "key {label:?} on the token is a public object (CKA_PRIVATE false), which anyone can create without the PIN"
    )]
    PublicKeyObject {
        /// The key label.
        label: String,
    },
    /// The key lacks a ceremony key's protections.
    #[error(
        "key {label:?} on the token is not a ceremony key (sensitive, extractable only by wrapping, of no other use, not modifiable)"
    )]
    NotCeremonyKey {
        /// The key label.
        label: String,
    },
    /// The key was not generated in the token.
    #[error(
        "key {label:?} on the token was not generated in this token (CKA_LOCAL {}, CKA_ALWAYS_SENSITIVE {}), but the plan generates it",
        reported(*.local),
        reported(*.always_sensitive)
    )]
    NotLocal {
        /// The key label.
        label: String,
        /// Its `CKA_LOCAL`, if reported.
        local: Option<bool>,
        /// Its `CKA_ALWAYS_SENSITIVE`, if reported.
        always_sensitive: Option<bool>,
    },
    /// The key's `CKA_ID` is not the one recorded.
    #[error(
        "it records key {label:?} generated with CKA_ID {recorded}, but the token's key has CKA_ID {actual}"
    )]
    IdDiffers {
        /// The key label.
        label: String,
        /// The `CKA_ID` recorded, hex.
        recorded: String,
        /// The token key's, hex.
        actual: String,
    },
    /// The key's `CKA_ID` is not bound to this plan.
    #[error(
        "key {label:?} on the token was not generated by a run of this plan (its CKA_ID {id} is not bound to the plan's SHA-256)"
    )]
    IdNotBound {
        /// The key label.
        label: String,
        /// Its `CKA_ID`, hex.
        id: String,
    },
    /// The key is not of the plan's key spec.
    #[error("key {label:?} on the token is {key_type}, but the plan generates {spec}")]
    OtherSpec {
        /// The key label.
        label: String,
        /// The token key's type.
        key_type: String,
        /// The plan's key spec.
        spec: KeySpec,
    },
    /// The key's KCV is not the one recorded.
    #[error(
        "it records key {label:?} generated with KCV {}, but the token's key has KCV {}",
        .recorded.to_ascii_lowercase(),
        .actual.as_deref().unwrap_or("none")
    )]
    KcvDiffers {
        /// The key label.
        label: String,
        /// The KCV recorded.
        recorded: String,
        /// The token key's, if any.
        actual: Option<String>,
    },
    /// The key's KCV is computed by another method than the one recorded.
    #[error(
        "it records key {label:?} generated with a KCV computed by {recorded}, but the token's key's is computed by {actual}"
    )]
    KcvMethodDiffers {
        /// The key label.
        label: String,
        /// The method recorded.
        recorded: String,
        /// The token key's.
        actual: String,
    },
    /// The key's full check value is not the one recorded.
    #[error(
        "it records key {label:?} generated with the SHA-256 check value {}, but the token's key has {}",
        .recorded.to_ascii_lowercase(),
        .actual.as_deref().unwrap_or("none")
    )]
    CheckValueDiffers {
        /// The key label.
        label: String,
        /// The check value recorded.
        recorded: String,
        /// The token key's, if any.
        actual: Option<String>,
    },
}

/// A boolean attribute as a refusal words it.
fn reported(b: Option<bool>) -> String {
    b.map_or("not reported".to_owned(), |b| b.to_string())
}

/// A ceremony step that failed, and what became of the keys and the transcript.
#[derive(Debug)]
pub struct StepFailure {
    /// The step.
    pub index: usize,
    /// Its action.
    pub action: &'static str,
    /// What went wrong.
    pub reason: Error,
    /// What happened to each key the run held, by label.
    pub keys: Vec<(KeyLabel, Fate)>,
    /// Why the transcript could not be sealed, if it could not.
    pub sealed: Option<Error>,
    /// The transcript.
    pub transcript: PathBuf,
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the ceremony failed at steps[{}] ({}): {}.",
            self.index, self.action, self.reason
        )?;
        for (label, fate) in &self.keys {
            write!(
                f,
                " Key {}: {fate}.",
                serde_json::Value::from(label.as_str())
            )?;
        }
        f.write_str(" ")?;
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

impl std::error::Error for StepFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

/// What became of a key the run held when it ended, as the transcript's `finish` line records
/// it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Fate {
    /// Kept, for the wraps written from it (which may be on their way to a KMS).
    #[error("kept ({wraps} wrap{} written)", if *.wraps == 1 { "" } else { "s" })]
    Kept {
        /// How many wraps were written.
        wraps: usize,
    },
    /// Kept: it existed before the ceremony.
    #[error("kept (it existed before this ceremony)")]
    Existing,
    /// Destroyed: nothing was wrapped from it.
    #[error("destroyed (nothing was wrapped from it)")]
    Destroyed,
    /// Nothing was wrapped from it, and the token did not destroy it.
    #[error("NOT destroyed ({0}): remove it by hand")]
    NotDestroyed(#[source] crate::hsm::Error),
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
