//! What a ceremony checks before the token acts: without the token, the policy, the plan and
//! every file it names, the window, the approvals, every wrap step's inputs and outputs, the
//! transcript path and the PKCS#11 module; then, logged in, the checks that need the token but
//! change nothing on it (the signer, a replayed or resumed ceremony, free labels, existing
//! keys). It trusts the policy only once loaded, and the token only for what it reports.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::error::{NotDestroy, Unresumable, Warning};
use super::plan::{PinSpec, Plan, Step};
use super::policy::Policy;
use super::quorum::{self, Quorum};
use super::{Error, resume};
use crate::hsm::{Module, Token};
use crate::spec::KeyLabel;
use crate::timestamp::format_time;
use crate::wrap::{self, PreparedWrap, WrapRequest};

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
    /// SSH private keys that open the encrypted share files among `pin_shares`.
    pub identities: Vec<PathBuf>,
    /// The unsealed transcript of an interrupted run of this plan, to continue from.
    pub resume_from: Option<PathBuf>,
    /// How the run groups its steps into batches.
    pub batching: super::run::Batching,
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
    pub(super) wraps: Vec<Option<PreparedWrap>>,
    pub(super) resume: Option<resume::Resume>,
}

/// Checks the policy, the plan and its files, the window, the approvals, every wrap step's
/// inputs and outputs, and the transcript path — all before any token is opened.
pub fn prepare(req: &RunRequest, now: OffsetDateTime) -> Result<Prepared, Error> {
    let policy = Policy::load(&req.policy)?;
    let plan = Plan::load(&req.plan)?;
    check_runnable(&policy, &plan, now)?;
    if now < plan.not_before {
        return Err(window(&plan, now));
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
        let existing: Vec<(PathBuf, usize)> = plan
            .steps
            .iter()
            .enumerate()
            .filter_map(|(index, step)| match step {
                Step::Wrap { out, .. } if std::fs::symlink_metadata(dir.join(out)).is_ok() => {
                    Some((dir.join(out), index))
                }
                _ => None,
            })
            .collect();
        if !existing.is_empty() {
            return Err(r.refuse(Unresumable::OutputsExist { existing }));
        }
    }
    let wraps = prepare_wraps(&plan, &policy, now)?;
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
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<Vec<Option<PreparedWrap>>, Error> {
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
            azure_attestation,
            require_attestation,
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
        // The plan's checks make every wrapped key generated earlier or existing (a rewrap).
        let key_spec = generated
            .map(|(spec, _)| spec)
            .or(existing.as_ref().map(|(_, spec)| *spec))
            .ok_or_else(|| crate::wrap::Error::Internal {
                what: format!("steps[{index}]: {key_label} is neither generated nor existing"),
            })?;
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
            attestation: attestation_request(
                plan,
                policy,
                index,
                azure_attestation.as_deref(),
                *require_attestation,
            )?,
        };
        let step_err = |e: crate::wrap::Error| Error::StepInput {
            path: plan.path.clone(),
            index,
            source: Box::new(e),
        };
        crate::output::check_absent(&request.out).map_err(|e| step_err(e.into()))?;
        let file = plan
            .file(params)
            .ok_or_else(|| crate::wrap::Error::Internal {
                what: format!("steps[{index}].params {params:?} was not read with the plan"),
            })?;
        wraps.push(Some(
            wrap::prepare_bytes(request, &file.bytes, now).map_err(step_err)?,
        ));
    }
    Ok(wraps)
}

/// Refuses a plan that no run under `policy` gets past, whatever the token holds: a generate
/// step the policy's trusted-wrapping rule forbids, a window over at `now`, or a PIN taken from
/// shares the policy does not pin. `ceremony run` and `plan check` both ask this; a window that
/// has not begun yet refuses only a run.
pub fn check_runnable(policy: &Policy, plan: &Plan, now: OffsetDateTime) -> Result<(), Error> {
    check_trusted_wrapping(policy, plan)?;
    check_attestation_roots(policy, plan)?;
    if now > plan.not_after {
        return Err(window(plan, now));
    }
    if let PinSpec::Shares = plan.pin {
        // The check the run makes when it takes the shares, made before anything else.
        crate::shares::Rebuilder::new(&policy.pin_shares)?;
    }
    Ok(())
}

/// The refusal of a run at `now`, outside the plan's window.
fn window(plan: &Plan, now: OffsetDateTime) -> Error {
    Error::Window {
        not_before: format_time(plan.not_before),
        not_after: format_time(plan.not_after),
        now: format_time(now),
        over: now > plan.not_after,
    }
}

/// Refuses a wrap step whose import parameters, or whose `valid_to` for the key material,
/// come before the plan's window opens (every run refuses them); returns a warning for each
/// that comes before the window closes.
pub fn check_params_expiry(
    plan: &Plan,
    wraps: &[Option<PreparedWrap>],
) -> Result<Vec<Warning>, Error> {
    let mut warnings = Vec::new();
    for (index, (step, wrap)) in plan.steps.iter().zip(wraps).enumerate() {
        let (
            Step::Wrap {
                params,
                valid_to: material_valid_to,
                ..
            },
            Some(wrap),
        ) = (step, wrap)
        else {
            continue;
        };
        if let Some(t) = material_valid_to {
            if *t <= plan.not_before {
                return Err(Error::ValidToBeforeWindow {
                    plan: plan.path.clone(),
                    index,
                    valid_to: format_time(*t),
                    not_before: format_time(plan.not_before),
                });
            }
            if *t < plan.not_after {
                warnings.push(Warning::ValidToInWindow {
                    plan: plan.path.clone(),
                    index,
                    valid_to: format_time(*t),
                    not_after: format_time(plan.not_after),
                });
            }
        }
        let Some(valid_to) = wrap.params().valid_to else {
            continue;
        };
        if valid_to <= plan.not_before {
            return Err(Error::ParamsExpireBeforeWindow {
                plan: plan.path.clone(),
                index,
                params: params.clone(),
                valid_to: format_time(valid_to),
                not_before: format_time(plan.not_before),
            });
        }
        if valid_to < plan.not_after {
            warnings.push(Warning::ParamsExpireInWindow {
                plan: plan.path.clone(),
                index,
                params: params.clone(),
                valid_to: format_time(valid_to),
                not_after: format_time(plan.not_after),
            });
        }
    }
    Ok(warnings)
}

/// What step `index` asks of its wrapping key's attestation: the Azure attestation file it
/// names and the roots file the plan names, as read with the plan (so the approved digest
/// covers both), required by the step or by the policy.
fn attestation_request(
    plan: &Plan,
    policy: &Policy,
    index: usize,
    azure: Option<&str>,
    required: bool,
) -> Result<crate::wrap::AttestationRequest, Error> {
    let dir = plan.dir();
    let read = |name: &str| {
        plan.file(name)
            .map(|f| (dir.join(name), f.bytes.clone()))
            .ok_or_else(|| crate::wrap::Error::Internal {
                what: format!("steps[{index}]: {name:?} was not read with the plan"),
            })
    };
    let roots = match &plan.attestation_roots {
        Some(name) => {
            let (path, bytes) = read(name)?;
            crate::attest::Roots::with_file(&path, &bytes).map_err(crate::wrap::Error::from)?
        }
        None => crate::attest::Roots::pinned(),
    };
    Ok(crate::wrap::AttestationRequest {
        azure: azure.map(read).transpose()?,
        roots,
        required: required || policy.require_attestation,
    })
}

/// Refuses a plan that names a roots file the policy does not accept: a roots file decides
/// which HSMs an attestation may come from, so only the policy's custodians choose one.
pub fn check_attestation_roots(policy: &Policy, plan: &Plan) -> Result<(), Error> {
    let Some(name) = &plan.attestation_roots else {
        return Ok(());
    };
    let actual = plan.file(name).map(|f| f.sha256.as_str());
    if actual.is_some() && actual == policy.attestation_roots_sha256.as_deref() {
        return Ok(());
    }
    Err(Error::AttestationRootsNotAccepted {
        plan: plan.path.clone(),
        roots: name.clone(),
        sha256: actual.unwrap_or("unread").to_owned(),
        policy: policy.path.clone(),
    })
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
    /// What may still stop a run in part of the window.
    pub warnings: Vec<Warning>,
}

/// Checks a plan, and every file it names, against a policy without a token, as `ceremony run`
/// does before it opens the token: the policy and the plan read and validated, what no run
/// gets past ([`check_runnable`]), and every wrap step's parameters, options and output (see
/// [`prepare_wraps`]); then the parameters' expiry against the window
/// ([`check_params_expiry`]). The approvals, the module and the transcript are the run's.
pub fn check_plan(plan: &Path, policy: &Path, now: OffsetDateTime) -> Result<CheckedPlan, Error> {
    let policy = Policy::load(policy)?;
    let plan = Plan::load(plan)?;
    check_runnable(&policy, &plan, now)?;
    let wraps = prepare_wraps(&plan, &policy, now)?;
    let warnings = check_params_expiry(&plan, &wraps)?;
    Ok(CheckedPlan {
        policy,
        plan,
        wraps,
        warnings,
    })
}

/// The PKCS#11 module for a run under `policy`: the path resolved as for every command, then
/// checked against the policy's `module_path`, read once and hashed, and checked against its
/// `module_sha256` — all before anything of it is loaded; then exactly the bytes hashed are
/// loaded (see [`crate::hsm::ModuleFile`]).
pub fn load_module(policy: &Policy, named: Option<&Path>) -> Result<Module, Error> {
    let path = Module::resolve(named)?;
    if let Some(expected) = &policy.module_path {
        if std::path::absolute(&path).ok().as_deref() != Some(expected.as_path()) {
            return Err(Error::ModulePath {
                module: path,
                expected: expected.clone(),
                policy: policy.path.clone(),
            });
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
            });
        }
    }
    crate::fault::point("module-checked");
    Ok(file.load()?)
}

/// Refuses, for `keys destroy`, a plan that does anything but destroy `label`: an operator who
/// means to end a key's life never runs a generate or a wrap by mistake.
pub fn check_destroys_only(plan: &Plan, label: &KeyLabel) -> Result<(), Error> {
    let refuse = |reason: NotDestroy| Error::NotADestroyPlan {
        plan: plan.path.clone(),
        label: label.to_string(),
        reason,
    };
    for (index, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Destroy { key_label, .. } if key_label == label => {}
            Step::Destroy { key_label, .. } => {
                return Err(refuse(NotDestroy::Other {
                    index,
                    label: key_label.to_string(),
                }));
            }
            other => {
                return Err(refuse(NotDestroy::Action {
                    index,
                    action: other.kind(),
                }));
            }
        }
    }
    if plan.steps.is_empty() {
        return Err(refuse(NotDestroy::NoSteps));
    }
    Ok(())
}

/// Refuses to resume unless the token holds exactly one marker of the plan's ceremony id, a
/// private object (which only a PIN holder can create) holding this plan's SHA-256.
fn check_marker(
    r: &resume::Resume,
    markers: &[crate::hsm::keys::CeremonyMarker],
    plan: &Plan,
    token: &str,
) -> Result<(), Error> {
    let id = || plan.ceremony_id.clone();
    let token = || token.to_owned();
    match markers {
        [] => Err(r.refuse(Unresumable::NoMarker {
            id: id(),
            token: token(),
        })),
        [marker] if marker.private != Some(true) => Err(r.refuse(Unresumable::PublicMarker {
            id: id(),
            token: token(),
        })),
        [marker] if !marker.this_plan => Err(r.refuse(Unresumable::OtherPlanMarker {
            id: id(),
            token: token(),
            plan_sha256: plan.sha256.clone(),
        })),
        [_] => Ok(()),
        more => Err(r.refuse(Unresumable::Markers {
            id: id(),
            token: token(),
            count: more.len(),
        })),
    }
}

/// Refuses a token whose serial is not the one the policy pins (checked before login).
pub(crate) fn check_serial(
    policy: &Policy,
    description: &crate::hsm::TokenDescription,
) -> Result<(), Error> {
    match &policy.token_serial {
        Some(expected) if *expected != description.serial => Err(Error::SerialMismatch {
            label: description.label.clone(),
            expected: expected.clone(),
            actual: description.serial.clone(),
        }),
        _ => Ok(()),
    }
}

/// What the checks on the logged-in token found.
pub(super) struct OnToken {
    /// The signer's fingerprint, the one the policy names.
    pub(super) signer_fp: String,
    /// The keys a resumed run takes over, proven on the token.
    pub(super) taken: Vec<resume::TakenKey>,
}

/// The checks that need the token but change nothing on it: the signer, a replayed ceremony or
/// the run resumed, then every step's labels and existing keys.
pub(super) fn check_on_token(
    token: &Token,
    policy: &Policy,
    plan: &Plan,
    resume: Option<&resume::Resume>,
) -> Result<OnToken, Error> {
    let signer_fp = token
        .signer_public_key(&plan.signing_key_label)?
        .fingerprint()?;
    if signer_fp != policy.signer_fingerprint {
        return Err(Error::SignerMismatch {
            label: plan.signing_key_label.to_string(),
            expected: policy.signer_fingerprint.clone(),
            actual: signer_fp,
        });
    }
    let markers = token.ceremony_markers(&plan.ceremony_id, &plan.sha256)?;
    let taken = match resume {
        Some(r) => take_over(r, &markers, token, plan)?,
        None if markers.is_empty() => Vec::new(),
        None => return Err(replay(token, plan)?),
    };
    check_steps(token, policy, plan, &taken)?;
    Ok(OnToken { signer_fp, taken })
}

/// A resumed run: the marker is this plan's, no key is half-generated, and every key the record
/// says was generated is proven on the token, before anything is recorded or changed.
fn take_over(
    r: &resume::Resume,
    markers: &[crate::hsm::keys::CeremonyMarker],
    token: &Token,
    plan: &Plan,
) -> Result<Vec<resume::TakenKey>, Error> {
    check_marker(r, markers, plan, token.label())?;
    for label in &r.announced {
        if !r.generated.contains_key(label) && !token.objects_labelled(label)?.is_empty() {
            return Err(r.refuse(Unresumable::HalfGenerated {
                label: label.clone(),
            }));
        }
    }
    let mut taken = Vec::new();
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
                    token,
                    key_label,
                    *key_spec,
                    recorded,
                    &plan.sha256,
                )?);
            }
        }
    }
    Ok(taken)
}

/// The refusal of a plan whose marker is on the token: it ran; the keys it generated that are
/// still there are named.
fn replay(token: &Token, plan: &Plan) -> Result<Error, Error> {
    let mut left = Vec::new();
    for step in &plan.steps {
        if let Step::Generate { key_label, .. } = step {
            if !token.objects_labelled(key_label.as_str())?.is_empty() {
                left.push(key_label.to_string());
            }
        }
    }
    Ok(Error::Replay {
        ceremony_id: plan.ceremony_id.clone(),
        token: token.label().to_owned(),
        left,
    })
}

/// Every label a step generates is free (unless taken over), and every key a rewrap or destroy
/// names exists with its KCV (and, under `require_trusted_wrapping`, a rewrapped key is
/// `CKA_WRAP_WITH_TRUSTED`).
fn check_steps(
    token: &Token,
    policy: &Policy,
    plan: &Plan,
    taken: &[resume::TakenKey],
) -> Result<(), Error> {
    let trusted_to_generate = plan.steps.iter().any(|step| {
        matches!(step, Step::Generate { key_label, wrap_with_trusted: true, .. }
            if !taken.iter().any(|k| &k.record.label == key_label))
    });
    if trusted_to_generate {
        token.check_wrap_with_trusted()?;
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
                wrap::existing_key(token, key_label, kcv, Some(*spec))?;
                if policy.require_trusted_wrapping && !wrap::is_wrap_with_trusted(token, key_label)?
                {
                    return Err(Error::ExistingNotTrusted {
                        plan: plan.path.clone(),
                        index,
                        label: key_label.to_string(),
                        token: token.label().to_owned(),
                        policy: policy.path.clone(),
                    });
                }
            }
            Step::Destroy {
                key_label,
                expect_kcv,
            } => {
                wrap::existing_key(token, key_label, expect_kcv, None)?;
            }
            Step::Wrap { .. } => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_destroy_refuses_a_plan_that_does_anything_else() {
        let header = "version = 1\nceremony_id = \"c\"\nnot_before = \"2026-01-01T00:00:00Z\"\n\
            not_after = \"2026-01-02T00:00:00Z\"\noperator = \"O\"\ntoken_label = \"t\"\n\
            signing_key_label = \"s\"\npin = \"prompt\"\n";
        let destroy = |label: &str| {
            format!(
                "[[steps]]\naction = \"destroy\"\nkey_label = \"{label}\"\nexpect_kcv = \"a1b2c3\"\n"
            )
        };
        let generate = "[[steps]]\naction = \"generate\"\nkey_label = \"new\"\n";
        let rows = [
            (destroy("old") + &destroy("old"), Ok(())),
            (
                destroy("old") + &destroy("other"),
                Err("steps[1] destroys \"other\""),
            ),
            (
                destroy("old") + generate,
                Err("steps[1] is a generate step"),
            ),
        ];
        let label: KeyLabel = "old".parse().unwrap();
        for (steps, want) in rows {
            let plan = Plan::from_bytes(
                Path::new("plan.toml"),
                format!("{header}{steps}").into_bytes(),
                false,
            )
            .unwrap();
            assert_eq!(
                check_destroys_only(&plan, &label).map_err(|e| e.to_string()),
                want.map_err(|m| format!(
                    "plan.toml: keys destroy runs only a plan whose steps destroy \"old\"; {m}"
                ))
            );
        }
    }
}
