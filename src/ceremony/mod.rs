//! Ceremonies: a declared plan, approved by an M-of-N quorum of custodians defined in a policy
//! from outside the plan, run step by step on the token, every step recorded in a signed,
//! hash-chained transcript.
//!
//! Everything that can be checked without the token is checked before it is opened: the policy,
//! the plan and every file it names, the time window, the approvals, the import parameters and
//! the outputs. The token is then opened read-only in effect until the checks that need it pass
//! (signer fingerprint, serial, a replayed ceremony id, free labels, the mechanisms); only then
//! is the transcript created and the first token object made.

pub mod plan;
pub mod policy;
pub mod quorum;
pub mod resume;

use std::path::{Path, PathBuf};

use cryptoki::object::ObjectHandle;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::hsm::keys::KeyLabel;
use crate::hsm::{Module, Token};
use crate::kms::format_time;
use crate::transcript::Transcript;
use crate::wrap::{self, CheckedWrap, KeyRecord, PreparedWrap, WrapRequest};
use plan::{PinSpec, Plan, Step};
use policy::Policy;
use quorum::Quorum;

/// Why a ceremony was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `keys destroy` was given a plan that does more, or other, than destroy its key.
    #[error("{}: keys destroy runs only a plan whose steps destroy {label:?}; {reason}", plan.display())]
    NotADestroyPlan {
        /// The plan.
        plan: PathBuf,
        /// The key to destroy.
        label: String,
        /// What the plan does instead.
        reason: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The policy is invalid.
    #[error("{}: {reason}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// The field and what is wrong.
        reason: String,
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
    #[error("{}: {field}: {reason}", path.display())]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// The field, by path.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A wrap step's inputs were refused.
    #[error("{}: steps[{index}]: {source}", path.display())]
    StepInput {
        /// The plan file.
        path: PathBuf,
        /// The step.
        index: usize,
        /// Why.
        source: Box<crate::Error>,
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

/// Reads a whole file once, up to [`crate::input::MAX_SMALL`].
pub(crate) fn read_once(path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read(path, crate::input::MAX_SMALL).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// What `ceremony run` needs.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The plan file.
    pub plan: PathBuf,
    /// The policy file.
    pub policy: PathBuf,
    /// The directory of approval signatures.
    pub approvals: PathBuf,
    /// The transcript to create.
    pub transcript: PathBuf,
    /// The PKCS#11 module; `None` for the default.
    pub module: Option<PathBuf>,
    /// PIN share files, when the plan takes the PIN from shares (none: typed on the terminal).
    pub pin_shares: Vec<PathBuf>,
    /// The unsealed transcript of an interrupted run of this plan, to continue from.
    pub resume_from: Option<PathBuf>,
}

/// A ceremony checked without the token.
#[derive(Debug)]
pub struct Prepared {
    /// The policy.
    pub policy: Policy,
    /// The plan.
    pub plan: Plan,
    /// The statement the custodians signed.
    pub statement: String,
    /// The approvals.
    pub quorum: Quorum,
    wraps: Vec<Option<PreparedWrap>>,
    resume: Option<resume::Resume>,
}

/// Checks the policy, the plan and its files, the window, the approvals, every wrap step's
/// inputs and outputs, and the transcript path — all before any token is opened.
pub fn prepare(req: &RunRequest, now: OffsetDateTime) -> Result<Prepared, crate::Error> {
    let policy = Policy::load(&req.policy)?;
    let plan = Plan::load(&req.plan)?;
    check_trusted_wrapping(&policy, &plan)?;
    if now < plan.not_before || now > plan.not_after {
        return Err(Error::Window {
            not_before: format_time(plan.not_before),
            not_after: format_time(plan.not_after),
            now: format_time(now),
        }
        .into());
    }
    let statement = plan.digest_statement();
    let quorum = quorum::verify(&policy, &statement, &req.approvals)?;
    let resume = match &req.resume_from {
        Some(path) => Some(resume::load(path, &plan, &policy)?),
        None => None,
    };
    // A resumed run re-does every wrap, so, as for a first run, no planned output may exist:
    // one the interrupted run left (or anyone put there) is refused by name, not vouched for.
    if let Some(r) = &resume {
        let dir = plan.dir();
        let existing: Vec<String> = plan
            .steps
            .iter()
            .enumerate()
            .filter_map(|(index, step)| match step {
                Step::Wrap { out, .. } if std::fs::symlink_metadata(dir.join(out)).is_ok() => {
                    Some(format!("{} (steps[{index}])", dir.join(out).display()))
                }
                _ => None,
            })
            .collect();
        if !existing.is_empty() {
            return Err(r
                .refuse(
                    format!(
                        "the output director{} {} already exist{}; a resumed run re-does every wrap, and keyrite vouches only for outputs it writes in this run",
                        if existing.len() == 1 { "y" } else { "ies" },
                        existing.join(", "),
                        if existing.len() == 1 { "s" } else { "" },
                    ),
                    resume::MOVE_OUTPUT_ASIDE,
                )
                .into());
        }
    }
    let wraps = prepare_wraps(&plan, now)?;
    if std::fs::symlink_metadata(&req.transcript).is_ok() {
        return Err(crate::transcript::Error::Exists {
            path: req.transcript.clone(),
        }
        .into());
    }
    Ok(Prepared {
        policy,
        plan,
        statement,
        quorum,
        wraps,
        resume,
    })
}

/// Checks every wrap step's parameters (as read for the digest), options and output path (the
/// output must not exist).
pub fn prepare_wraps(
    plan: &Plan,
    now: OffsetDateTime,
) -> Result<Vec<Option<PreparedWrap>>, crate::Error> {
    let dir = plan.dir();
    let mut wraps = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        let Step::Wrap {
            key_label,
            provider,
            params,
            algorithm,
            wrapping_key_spec,
            out,
            valid_to,
            allow_legacy_pkcs1,
            options,
            existing,
        } = step
        else {
            wraps.push(None);
            continue;
        };
        let generated = plan.steps.iter().find_map(|s| match s {
            Step::Generate {
                key_label: l,
                key_spec,
                wrap_with_trusted,
            } if l == key_label => Some((*key_spec, *wrap_with_trusted)),
            _ => None,
        });
        let key_spec = generated
            .map(|(spec, _)| spec)
            .or(existing.as_ref().map(|(_, spec)| *spec))
            .unwrap_or(crate::hsm::keys::KeySpec::Aes256);
        let request = WrapRequest {
            provider: *provider,
            params: dir.join(params),
            algorithm: Some(*algorithm),
            options: (**options).clone(),
            wrapping_key_spec: *wrapping_key_spec,
            key_label: key_label.clone(),
            key_spec,
            out: dir.join(out),
            material_valid_to: *valid_to,
            allow_legacy_pkcs1: *allow_legacy_pkcs1,
            wrap_with_trusted: generated.is_some_and(|(_, trusted)| trusted),
        };
        let step_err = |e: crate::Error| Error::StepInput {
            path: plan.path.clone(),
            index,
            source: Box::new(e),
        };
        crate::output::check_absent(&request.out).map_err(|e| step_err(e.into()))?;
        let bytes = plan
            .file(params)
            .map(|f| f.bytes.clone())
            .unwrap_or_default();
        wraps.push(Some(
            wrap::prepare_bytes(request, &bytes, now).map_err(step_err)?,
        ));
    }
    Ok(wraps)
}

/// Refuses, under a policy with `require_trusted_wrapping`, a plan with a generate step
/// without `wrap_with_trusted = true` (a wrap of an existing key is checked on the token).
pub fn check_trusted_wrapping(policy: &Policy, plan: &Plan) -> Result<(), Error> {
    if !policy.require_trusted_wrapping {
        return Ok(());
    }
    match plan.steps.iter().position(|s| {
        matches!(
            s,
            Step::Generate {
                wrap_with_trusted: false,
                ..
            }
        )
    }) {
        Some(index) => Err(Error::TrustedWrappingRequired {
            plan: plan.path.clone(),
            index,
            policy: policy.path.clone(),
        }),
        None => Ok(()),
    }
}

/// A plan checked against its policy without a token, as `plan check` shows it.
#[derive(Debug)]
pub struct CheckedPlan {
    /// The policy.
    pub policy: Policy,
    /// The plan.
    pub plan: Plan,
    /// Each step's prepared wrap, `None` for a step that wraps nothing.
    pub wraps: Vec<Option<PreparedWrap>>,
}

/// Checks a plan, and every file it names, against a policy without a token: the policy and
/// the plan read and validated, the policy's trusted-wrapping rule, and every wrap step's
/// parameters, options and output (see [`prepare_wraps`]).
pub fn check_plan(
    plan: &Path,
    policy: &Path,
    now: OffsetDateTime,
) -> Result<CheckedPlan, crate::Error> {
    let policy = Policy::load(policy)?;
    let plan = Plan::load(plan)?;
    check_trusted_wrapping(&policy, &plan)?;
    let wraps = prepare_wraps(&plan, now)?;
    Ok(CheckedPlan {
        policy,
        plan,
        wraps,
    })
}

/// The PKCS#11 module for a run under `policy`: the path resolved as for every command, then
/// checked against the policy's `module_path`, read once and hashed, and checked against its
/// `module_sha256` — all before anything of it is loaded; then exactly the bytes hashed are
/// loaded (see [`crate::hsm::ModuleFile`]).
pub fn load_module(policy: &Policy, named: Option<&Path>) -> Result<Module, crate::Error> {
    let path = Module::resolve(named)?;
    if let Some(expected) = &policy.module_path {
        if std::path::absolute(&path).ok().as_deref() != Some(expected.as_path()) {
            return Err(Error::ModulePath {
                module: path,
                expected: expected.clone(),
                policy: policy.path.clone(),
            }
            .into());
        }
    }
    let file = crate::hsm::ModuleFile::read(&path)?;
    if let Some(expected) = &policy.module_sha256 {
        if file.sha256() != expected {
            return Err(Error::ModuleDigest {
                module: path,
                expected: expected.clone(),
                actual: file.sha256().to_owned(),
                policy: policy.path.clone(),
            }
            .into());
        }
    }
    crate::fault::point("module-checked");
    Ok(file.load()?)
}

/// Refuses, for `keys destroy`, a plan that does anything but destroy `label`: an operator who
/// means to end a key's life never runs a generate or a wrap by mistake.
pub fn check_destroys_only(plan: &plan::Plan, label: &KeyLabel) -> Result<(), Error> {
    let refuse = |reason: String| Error::NotADestroyPlan {
        plan: plan.path.clone(),
        label: label.to_string(),
        reason,
    };
    for (i, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Destroy { key_label, .. } if key_label == label => {}
            Step::Destroy { key_label, .. } => {
                return Err(refuse(format!(
                    "steps[{i}] destroys {:?}",
                    key_label.as_str()
                )));
            }
            other => return Err(refuse(format!("steps[{i}] is a {} step", other.action()))),
        }
    }
    if plan.steps.is_empty() {
        return Err(refuse("it has no steps".into()));
    }
    Ok(())
}

/// The result of a completed ceremony.
#[derive(Debug)]
pub struct Outcome {
    /// The sealed transcript.
    pub transcript: PathBuf,
    /// Every output directory written.
    pub outputs: Vec<PathBuf>,
    /// The keys generated, with their check values.
    pub keys: Vec<KeyRecord>,
}

struct Generated {
    label: KeyLabel,
    handle: ObjectHandle,
    record: KeyRecord,
    wraps_done: usize,
    /// An existing key (rewrapped or destroyed), never destroyed because a step failed.
    existing: bool,
}

const ACTOR: &str = "keyrite";

/// Refuses to resume unless the token holds exactly one marker of the plan's ceremony id, a
/// private object (which only a PIN holder can create) holding this plan's SHA-256.
fn check_marker(
    r: &resume::Resume,
    markers: &[crate::hsm::keys::CeremonyMarker],
    plan: &Plan,
    token: &str,
) -> Result<(), Error> {
    let id = &plan.ceremony_id;
    match markers {
        [] => Err(r.refuse(
            format!("ceremony {id:?} never changed token {token:?} (no marker)"),
            "Run the plan without --resume-from.",
        )),
        [marker] if marker.private != Some(true) => Err(r.refuse(
            format!(
                "the marker of ceremony {id:?} on token {token:?} is a public object, which anyone can make without the PIN; keyrite makes its markers private"
            ),
            FOREIGN_MARKER,
        )),
        [marker] if !marker.this_plan => Err(r.refuse(
            format!(
                "the marker of ceremony {id:?} on token {token:?} was left by another plan (it does not hold this plan's SHA-256, {})",
                plan.sha256
            ),
            "Resume with the plan that ran (the marker holds its SHA-256); a new plan needs a new ceremony_id and new approvals.",
        )),
        [_] => Ok(()),
        more => Err(r.refuse(
            format!(
                "token {token:?} holds {} markers of ceremony {id:?}, not one",
                more.len()
            ),
            FOREIGN_MARKER,
        )),
    }
}

/// What to do about a marker keyrite did not leave.
const FOREIGN_MARKER: &str = "keyrite left no such object: have the token's objects checked (pkcs11-tool --list-objects --login) before a ceremony runs on it.";

/// Runs a prepared ceremony on the token.
pub fn run(prepared: Prepared, req: &RunRequest) -> Result<Outcome, crate::Error> {
    let Prepared {
        policy,
        plan,
        statement,
        quorum,
        wraps,
        resume,
    } = prepared;
    let module = load_module(&policy, req.module.as_deref())?;
    let description = module.find_token(Some(&plan.token_label))?;
    if let Some(expected) = &policy.token_serial {
        if *expected != description.serial {
            return Err(Error::SerialMismatch {
                label: description.label.clone(),
                expected: expected.clone(),
                actual: description.serial.clone(),
            }
            .into());
        }
    }
    let (pin, share_indexes) = match &plan.pin {
        PinSpec::Source(source) => (
            source.read(&format!("User PIN for token {:?}: ", description.label))?,
            None,
        ),
        PinSpec::Shares => {
            let (pin, indexes) = crate::shares::rebuild(&req.pin_shares, &policy.pin_shares)?;
            (pin, Some(indexes))
        }
    };
    let token = module.open(description)?;
    token.login(&pin)?;
    drop(pin);

    // Checks that need the token but change nothing on it.
    let signer = token.signer_public_key(&plan.signing_key_label)?;
    let signer_fp = signer.fingerprint()?;
    if signer_fp != policy.signer_fingerprint {
        return Err(Error::SignerMismatch {
            label: plan.signing_key_label.to_string(),
            expected: policy.signer_fingerprint.clone(),
            actual: signer_fp,
        }
        .into());
    }
    let markers = token.ceremony_markers(&plan.ceremony_id, &plan.sha256)?;
    let mut taken = Vec::new();
    if let Some(r) = &resume {
        check_marker(r, &markers, &plan, token.label())?;
        for label in &r.announced {
            if !r.generated.contains_key(label) && !token.objects_labelled(label)?.is_empty() {
                return Err(r
                    .refuse(
                        format!(
                            "key {label:?} is on the token, but the run stopped while generating it and recorded no KCV"
                        ),
                        "End the key with an approved destroy plan (keyrite keys destroy), then run the plan under a new ceremony_id.",
                    )
                    .into());
            }
        }
        // Every key the record says was generated, proven on the token before anything is
        // recorded or changed.
        for step in &plan.steps {
            if let Step::Generate {
                key_label,
                key_spec,
                ..
            } = step
            {
                if let Some(recorded) = r.generated.get(key_label.as_str()) {
                    taken.push(resume::prove(
                        r,
                        &token,
                        key_label,
                        *key_spec,
                        recorded,
                        &plan.sha256,
                    )?);
                }
            }
        }
    } else if !markers.is_empty() {
        let mut left = Vec::new();
        for step in &plan.steps {
            if let Step::Generate { key_label, .. } = step {
                if !token.objects_labelled(key_label.as_str())?.is_empty() {
                    left.push(key_label.to_string());
                }
            }
        }
        return Err(Error::Replay {
            ceremony_id: plan.ceremony_id.clone(),
            token: token.label().to_owned(),
            left,
        }
        .into());
    }
    for (index, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Generate { key_label, .. }
                if taken.iter().any(|k| &k.record.label == key_label) => {}
            Step::Generate { key_label, .. } => token.check_label_free(key_label)?,
            Step::Wrap {
                key_label,
                existing: Some((kcv, spec)),
                ..
            } => {
                wrap::existing_key(&token, key_label, kcv, Some(*spec))?;
                if policy.require_trusted_wrapping
                    && !wrap::is_wrap_with_trusted(&token, key_label)?
                {
                    return Err(Error::ExistingNotTrusted {
                        plan: plan.path.clone(),
                        index,
                        label: key_label.to_string(),
                        token: token.label().to_owned(),
                        policy: policy.path.clone(),
                    }
                    .into());
                }
            }
            Step::Destroy {
                key_label,
                expect_kcv,
            } => {
                wrap::existing_key(&token, key_label, expect_kcv, None)?;
            }
            Step::Wrap { .. } => {}
        }
    }
    // From here on, everything is recorded.
    let mut t = Transcript::create(&req.transcript)?;
    t.append_unsynced(
        "policy",
        ACTOR,
        json!({
            "file": policy.path.display().to_string(),
            "sha256": policy.digest,
            "threshold": policy.threshold,
            "custodians": policy.custodians.iter().map(|c| json!({"name": c.name, "key_fingerprint": c.fingerprint()})).collect::<Vec<_>>(),
            "witnesses": policy.witnesses.iter().map(|c| json!({"name": c.name, "key_fingerprint": c.fingerprint()})).collect::<Vec<_>>(),
            "signer_fingerprint": policy.signer_fingerprint,
            "token_serial": policy.token_serial,
            "custodians_file": policy.custodians_file.as_ref().map(|(p, d)| json!({"file": p.display().to_string(), "sha256": d})),
            "module_sha256": policy.module_sha256,
            "module_path": policy.module_path.as_ref().map(|p| p.display().to_string()),
            "require_trusted_wrapping": policy.require_trusted_wrapping,
            "witnesses_required": policy.witnesses_required,
        }),
    )?;
    t.append_unsynced(
        "plan",
        ACTOR,
        json!({
            "ceremony_id": plan.ceremony_id,
            "operator": plan.operator,
            "file": plan.path.display().to_string(),
            "sha256": plan.sha256,
            "text": plan.text,
            "digest_statement": statement,
            "files": plan.files.iter().map(|f| json!({"name": f.name, "sha256": f.sha256})).collect::<Vec<_>>(),
            "steps": plan.steps.iter().map(Step::action).collect::<Vec<_>>(),
        }),
    )?;
    t.append_unsynced("approvals", ACTOR, &quorum)?;
    token_line(
        &mut t,
        &token,
        &module,
        &plan.operator,
        &plan.signing_key_label,
        &signer_fp,
    )?;
    // How the operator logged in: the PIN's source, or which shares rebuilt it — never a value.
    t.append_unsynced(
        "login",
        &plan.operator,
        match (&plan.pin, &share_indexes) {
            (_, Some(indexes)) => json!({"pin": "shares", "share_indexes": indexes}),
            (PinSpec::Source(crate::pin::PinSource::Env(name)), None) => {
                json!({"pin": format!("environment variable {name}")})
            }
            _ => json!({"pin": "prompt"}),
        },
    )?;
    if let Some(r) = &resume {
        t.append(
            "resume",
            &plan.operator,
            json!({
                "from": r.path.display().to_string(),
                "sha256": r.sha256,
                "lines": r.lines,
                "keys": taken.iter().map(|k| &k.record.label).collect::<Vec<_>>(),
            }),
        )?;
    }
    execute(
        t,
        &token,
        &module,
        &plan.operator,
        (&plan.signing_key_label, &signer_fp),
        &plan.steps,
        &wraps,
        match &resume {
            Some(_) => Continue::Resume(&taken, &plan.sha256),
            None => Continue::Marker(&plan.ceremony_id, &plan.sha256),
        },
    )
}

/// `keyrite wrap --transcript T --signer-label L`: one key generated and wrapped, recorded and
/// sealed like a ceremony (CI runs are recorded the same way), without a plan or quorum.
pub fn wrap_recorded(
    prepared: PreparedWrap,
    access: &wrap::TokenAccess,
    transcript: &Path,
    signer_label: &KeyLabel,
) -> Result<Outcome, crate::Error> {
    if std::fs::symlink_metadata(transcript).is_ok() {
        return Err(crate::transcript::Error::Exists {
            path: transcript.to_path_buf(),
        }
        .into());
    }
    let (module, token) = wrap::open_logged_in(access)?;
    let signer_fp = token.signer_public_key(signer_label)?.fingerprint()?;
    let request = prepared.request().clone();
    token.check_label_free(&request.key_label)?;
    let operator = "keyrite wrap";
    let mut t = Transcript::create(transcript)?;
    t.append_unsynced(
        "request",
        operator,
        json!({
            "provider": request.provider.name(),
            "params": request.params.display().to_string(),
            "params_sha256": prepared.params_sha256(),
            "algorithm": prepared.algorithm().name(),
            "key_label": request.key_label,
            "key_spec": request.key_spec,
            "wrap_with_trusted": request.wrap_with_trusted,
            "out": request.out.display().to_string(),
            "key_material_valid_to": request.material_valid_to.map(format_time),
        }),
    )?;
    token_line(&mut t, &token, &module, operator, signer_label, &signer_fp)?;
    let steps = [
        Step::Generate {
            key_label: request.key_label.clone(),
            key_spec: request.key_spec,
            wrap_with_trusted: request.wrap_with_trusted,
        },
        Step::Wrap {
            key_label: request.key_label.clone(),
            provider: request.provider,
            params: request.params.display().to_string(),
            algorithm: prepared.algorithm(),
            wrapping_key_spec: request.wrapping_key_spec,
            out: request.out.display().to_string(),
            valid_to: request.material_valid_to,
            allow_legacy_pkcs1: request.allow_legacy_pkcs1,
            existing: None,
            options: Box::new(request.options.clone()),
        },
    ];
    execute(
        t,
        &token,
        &module,
        operator,
        (signer_label, &signer_fp),
        &steps,
        &[None, Some(prepared)],
        Continue::Single,
    )
}

/// Records which token, module and signer run the steps.
pub(crate) fn token_line(
    t: &mut Transcript,
    token: &Token,
    module: &Module,
    operator: &str,
    signer_label: &KeyLabel,
    signer_fp: &str,
) -> Result<(), crate::Error> {
    let d = token.description();
    let (keyrite_path, keyrite_sha256) = keyrite_binary()?;
    t.append_unsynced(
        "token",
        operator,
        json!({
            "module": module.path().display().to_string(),
            "module_sha256": module.sha256(),
            "keyrite_path": keyrite_path,
            "keyrite_sha256": keyrite_sha256,
            "library": module.library_description()?,
            "label": d.label,
            "serial": d.serial,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "firmware": d.firmware,
            "signer_label": signer_label,
            "signer_fingerprint": signer_fp,
        }),
    )?;
    Ok(())
}

/// The running keyrite binary: where `/proc/self/exe` points, and the SHA-256 of its bytes
/// (read through `/proc/self/exe`, so the file that runs, even if its path was replaced).
fn keyrite_binary() -> Result<(String, String), Error> {
    let exe = Path::new("/proc/self/exe");
    let err = |e: std::io::Error| Error::Read {
        path: exe.to_path_buf(),
        reason: e.to_string(),
    };
    let path = std::fs::read_link(exe).map_err(err)?;
    let mut file = std::fs::File::open(exe).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok((path.display().to_string(), hex::encode(hasher.finalize())))
}

/// How a run starts on the token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Continue<'a> {
    /// A single recorded wrap: no plan, no marker.
    Single,
    /// A plan's first run: the marker (ceremony id, plan digest) is left before the first change.
    Marker(&'a str, &'a str),
    /// A plan's run resumed (the plan's SHA-256): the keys the interrupted run generated,
    /// proven on the token, are taken over; every other step, every wrap included, runs again.
    Resume(&'a [resume::TakenKey], &'a str),
}

impl Continue<'_> {
    /// The SHA-256 of the plan that runs, which the `CKA_ID` of every key it generates is
    /// bound to; `None` for a single recorded wrap.
    fn plan(&self) -> Option<&str> {
        match self {
            Continue::Single => None,
            Continue::Marker(_, plan) | Continue::Resume(_, plan) => Some(plan),
        }
    }
}

/// Runs steps on the token, recording each, then the outcome, and seals the transcript with
/// the signer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn execute(
    mut t: Transcript,
    token: &Token,
    module: &Module,
    operator: &str,
    (signer_label, signer_fp): (&KeyLabel, &str),
    steps: &[Step],
    wraps: &[Option<PreparedWrap>],
    start: Continue<'_>,
) -> Result<Outcome, crate::Error> {
    let mut generated: Vec<Generated> = Vec::new();
    let mut outputs = Vec::new();
    let result = run_steps(
        &mut t,
        token,
        module,
        operator,
        steps,
        wraps,
        start,
        &mut generated,
        &mut outputs,
    );
    // A failed run is recorded, and its keys settled, whatever the transcript can still take:
    // a key nothing was wrapped from is destroyed even if the disk is full.
    let mut unrecorded = None;
    if let Err((index, e)) = &result {
        if let Err(w) = t.append(
            "failure",
            ACTOR,
            json!({
                "index": index,
                "action": steps.get(*index).map_or("", Step::action),
                "error": e.to_string(),
            }),
        ) {
            unrecorded = Some(w);
        }
    }
    let (outcome, keys) = match &result {
        Ok(()) => ("completed", keep_all(&generated)),
        Err(_) => (
            "failed",
            settle_failed(&mut t, token, operator, &generated, &mut unrecorded),
        ),
    };
    if let Some(e) = unrecorded {
        return Err(e.into());
    }
    let reason = result
        .as_ref()
        .err()
        .map(|(i, e)| json!({"step": i, "error": e.to_string()}));
    t.append(
        "finish",
        operator,
        json!({"outcome": outcome, "failure": reason, "keys": keys}),
    )?;
    let head = t.head();
    let path = t.path().to_path_buf();
    // A token that broke under the run may no longer sign: the failure is recorded all the same,
    // and said, in an unsealed transcript.
    let sealed = token
        .sign_digest(signer_label, &head)
        .map_err(crate::Error::from)
        .and_then(|signature| Ok(t.seal(signer_fp, &signature)?));
    match (result, sealed) {
        (Ok(()), Ok(transcript)) => Ok(Outcome {
            transcript,
            outputs,
            keys: generated.into_iter().map(|g| g.record).collect(),
        }),
        (Ok(()), Err(e)) => Err(e),
        (Err((index, e)), sealed) => Err(Error::Failed(Box::new(StepFailure {
            index,
            action: steps.get(index).map_or("", Step::action),
            reason: e.to_string(),
            keys: keys
                .iter()
                .map(|k| format!(" Key {}: {}.", k["label"], k["fate"].as_str().unwrap_or("")))
                .collect(),
            sealed: sealed.err().map(|e| e.to_string()),
            transcript: path,
        }))
        .into()),
    }
}

/// The key labelled `label`, if the run resumes and took it over from the interrupted run.
fn resumed_key<'a>(start: Continue<'a>, label: &KeyLabel) -> Option<&'a resume::TakenKey> {
    match start {
        Continue::Resume(taken, _) => taken.iter().find(|k| &k.record.label == label),
        _ => None,
    }
}

fn keep_all(generated: &[Generated]) -> Vec<serde_json::Value> {
    generated
        .iter()
        .map(|g| json!({"label": g.label, "kcv": g.record.kcv, "fate": format!("kept ({} wrap{} written)", g.wraps_done, if g.wraps_done == 1 { "" } else { "s" })}))
        .collect()
}

/// After a failure: a key nothing was wrapped from is destroyed; a key with wraps written is
/// kept, since those may already be on their way to a KMS.
fn settle_failed(
    t: &mut Transcript,
    token: &Token,
    operator: &str,
    generated: &[Generated],
    unrecorded: &mut Option<crate::transcript::Error>,
) -> Vec<serde_json::Value> {
    generated
        .iter()
        .map(|g| {
            let fate = if g.existing {
                "kept (it existed before this ceremony)".to_owned()
            } else if g.wraps_done > 0 {
                format!(
                    "kept ({} wrap{} written)",
                    g.wraps_done,
                    if g.wraps_done == 1 { "" } else { "s" }
                )
            } else {
                // Announced before the token acts, like every token action.
                if unrecorded.is_none() {
                    if let Err(e) = t.append(
                        "destroy",
                        operator,
                        json!({"key_label": g.label, "kcv": g.record.kcv, "check_sha256": g.record.check_sha256, "why": "the ceremony failed and nothing was wrapped from it"}),
                    ) {
                        *unrecorded = Some(e);
                    }
                }
                match token.destroy_key(g.handle) {
                    Ok(()) => "destroyed (nothing was wrapped from it)".to_owned(),
                    Err(e) => format!("NOT destroyed ({e}): remove it by hand"),
                }
            };
            json!({"label": g.label, "kcv": g.record.kcv, "fate": fate})
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn run_steps(
    t: &mut Transcript,
    token: &Token,
    module: &Module,
    operator: &str,
    steps: &[Step],
    wraps: &[Option<PreparedWrap>],
    start: Continue<'_>,
    generated: &mut Vec<Generated>,
    outputs: &mut Vec<PathBuf>,
) -> Result<(), (usize, crate::Error)> {
    // Before anything changes on the token: can it wrap every step exactly as planned?
    let mut checked: Vec<Option<CheckedWrap>> = Vec::new();
    for (index, w) in wraps.iter().enumerate() {
        let Some(prepared) = w else {
            checked.push(None);
            continue;
        };
        // An existing key's own attribute decides; a generated one's, its plan step.
        let trusted = match steps.get(index) {
            Some(Step::Wrap {
                key_label,
                existing: Some(_),
                ..
            }) => wrap::is_wrap_with_trusted(token, key_label).map_err(|e| (index, e))?,
            _ => prepared.request().wrap_with_trusted,
        };
        let c = wrap::check_on_token(token, prepared, trusted).map_err(|e| (index, e))?;
        t.append_unsynced(
            "check",
            ACTOR,
            json!({
                "index": index,
                "algorithm": prepared.algorithm().name(),
                "mechanism": c.method().mechanism(),
                "result": "a trial wrap with a throw-away key succeeded",
            }),
        )
        .map_err(|e| (index, e.into()))?;
        checked.push(Some(c));
    }
    if let Continue::Marker(ceremony_id, plan_sha256) = start {
        t.append(
            "marker",
            operator,
            json!({"label": format!("keyrite-ceremony:{ceremony_id}"), "value": plan_sha256}),
        )
        .map_err(|e| (0, e.into()))?;
        token
            .create_ceremony_marker(ceremony_id, plan_sha256)
            .map_err(|e| (0, e.into()))?;
    }
    for (index, step) in steps.iter().enumerate() {
        let fail = |e: crate::Error| (index, e);
        match step {
            Step::Generate {
                key_label,
                key_spec,
                wrap_with_trusted,
            } => {
                if let Some(key) = resumed_key(start, key_label) {
                    // Generated by the interrupted run, and proven on the token before this
                    // record began: recorded as the token reports it now.
                    generated.push(Generated {
                        label: key_label.clone(),
                        handle: key.handle,
                        record: key.record.clone(),
                        wraps_done: 0,
                        existing: true,
                    });
                    t.append(
                        "resumed",
                        operator,
                        json!({"index": index, "action": "generate", "key": key.record}),
                    )
                    .map_err(|e| fail(e.into()))?;
                    continue;
                }
                // Announced and fsynced before the token acts.
                t.append(
                    "generate",
                    operator,
                    json!({"index": index, "key_label": key_label, "key_spec": key_spec}),
                )
                .map_err(|e| fail(e.into()))?;
                let (handle, record) = wrap::generate(
                    token,
                    key_label,
                    *key_spec,
                    *wrap_with_trusted,
                    start.plan(),
                )
                .map_err(fail)?;
                // Known to the run before anything else can fail, so a failure settles it.
                generated.push(Generated {
                    label: key_label.clone(),
                    handle,
                    record: record.clone(),
                    wraps_done: 0,
                    existing: false,
                });
                t.append_unsynced("generated", ACTOR, json!({"index": index, "key": record}))
                    .map_err(|e| fail(e.into()))?;
            }
            Step::Destroy {
                key_label,
                expect_kcv,
            } => {
                let (handle, record) =
                    wrap::existing_key(token, key_label, expect_kcv, None).map_err(fail)?;
                t.append(
                    "destroy",
                    operator,
                    json!({"index": index, "key_label": key_label, "kcv": record.kcv, "check_sha256": record.check_sha256}),
                )
                .map_err(|e| fail(e.into()))?;
                token.destroy_key(handle).map_err(|e| fail(e.into()))?;
                generated.retain(|g| &g.label != key_label);
                t.append_unsynced(
                    "destroyed",
                    ACTOR,
                    json!({"index": index, "key_label": key_label, "kcv": record.kcv, "check_sha256": record.check_sha256}),
                )
                .map_err(|e| fail(e.into()))?;
            }
            Step::Wrap {
                key_label,
                existing,
                ..
            } => {
                if let Some((kcv, spec)) = existing {
                    if !generated.iter().any(|g| &g.label == key_label) {
                        let (handle, record) =
                            wrap::existing_key(token, key_label, kcv, Some(*spec)).map_err(fail)?;
                        generated.push(Generated {
                            label: key_label.clone(),
                            handle,
                            record,
                            wraps_done: 0,
                            existing: true,
                        });
                    }
                }
                let (announce, done) = step.record_names();
                let (Some(prepared), Some(checked)) = (&wraps[index], &checked[index]) else {
                    return Err(fail(crate::Error::Internal {
                        what: format!("steps[{index}] was not prepared"),
                    }));
                };
                let key = generated
                    .iter_mut()
                    .find(|g| &g.label == key_label)
                    .ok_or_else(|| {
                        fail(crate::Error::Internal {
                            what: format!("steps[{index}]: {key_label} was not generated"),
                        })
                    })?;
                let params = prepared.params();
                // Written now, before the token wraps; made durable with the output's files,
                // before the output appears (a wrap changes nothing on the token).
                t.append_unsynced(
                    announce,
                    operator,
                    json!({
                        "index": index,
                        "key_label": key_label,
                        "provider": prepared.request().provider.name(),
                        "kms_key_id": params.key_id,
                        "algorithm": prepared.algorithm().name(),
                        "mechanism": checked.method().mechanism(),
                        "mechanism_parameters": checked.method().parameters(),
                        "wrapping_key_sha256": params.public_key.fingerprint(),
                        "parameters_valid_to": params.valid_to.map(format_time),
                        "key_material_valid_to": prepared.request().material_valid_to.map(format_time),
                        "out": prepared.request().out.display().to_string(),
                    }),
                )
                .map_err(|e| fail(e.into()))?;
                let outcome = wrap::wrap_and_write(
                    token,
                    module,
                    prepared,
                    checked,
                    key.handle,
                    &key.record,
                    Some(&*t),
                )
                .map_err(|(step, e)| {
                    fail(crate::Error::StepFailed {
                        step,
                        source: Box::new(e),
                    })
                })?;
                key.wraps_done += 1;
                let mut files = outcome.manifest.files.clone();
                files.insert("manifest.json", outcome.manifest_sha256.clone());
                // Names the output only once it is durable; durable itself with the next line
                // that announces a token action, or the seal.
                t.append_unsynced(
                    done,
                    ACTOR,
                    json!({
                        "index": index,
                        "key_label": key_label,
                        "kcv": key.record.kcv,
                        "check_sha256": key.record.check_sha256,
                        "out": outcome.out.display().to_string(),
                        "files": files,
                        "warning": outcome.warning,
                    }),
                )
                .map_err(|e| fail(e.into()))?;
                outputs.push(outcome.out);
            }
        }
    }
    Ok(())
}
