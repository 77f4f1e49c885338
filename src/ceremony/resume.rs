//! `ceremony run --resume-from T`: a ceremony killed part-way (power cut, SIGKILL) continues
//! from its unsealed transcript `T` into a new one.
//!
//! `T` is unsealed, so anyone who can write the file can rewrite it and recompute its chain:
//! resume trusts nothing in it that the token did not sign. From `T` it takes only which keys
//! the interrupted run generated and what it recorded of each; every such key is proven
//! again on the token — generated in this token (`CKA_LOCAL` and `CKA_ALWAYS_SENSITIVE`), by a
//! run of this plan (its `CKA_ID`, the one recorded, is bound to the plan's SHA-256), with a
//! ceremony key's protections, of the plan's key spec and with the KCV recorded, by the method
//! recorded, and the full check value where one is recorded — before it is taken over. No wrap is
//! ever carried over: every wrap step runs again, into output directories that must not exist
//! when the resumed run starts, so the sealed record vouches only for outputs the resumed run
//! made itself.
//!
//! `T` must be an intact, unsealed record of this plan under this policy: its chain is
//! recomputed, its plan digest and policy digest compared, and the token's ceremony marker must
//! hold this plan's SHA-256. The new transcript names `T` by its SHA-256 and line count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cryptoki::object::ObjectHandle;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::Error;
use super::plan::{Plan, Step};
use super::policy::Policy;
use crate::hsm::Token;
use crate::spec::{KeyLabel, KeySpec};
use crate::transcript::{Entry, Step as LineStep, entry};
use crate::wrap::KeyRecord;

/// What to do about a transcript that is not an intact record of this plan's interrupted run.
const PASS_THE_RECORD: &str = "Pass the transcript the interrupted run of this plan left, as it left it; keyrite verify T --policy POLICY --plan PLAN says whether it is intact.";

/// What to do about a run that ended.
const RUN_ENDED: &str = "That run ended: a new run needs a new ceremony_id and new approvals.";

/// What to do when the token does not prove a key the interrupted record claims.
pub(super) const KEY_NOT_PROVEN: &str = "Resume only from the transcript the interrupted run wrote, unaltered; if it is that one, the token's key is not the key that run generated: end it with an approved destroy plan (keyrite keys destroy).";

/// What to do about a planned output that exists.
pub(super) const MOVE_OUTPUT_ASIDE: &str = "Move it aside (it holds only wrapped material) and resume again: the resumed run writes every output anew.";

/// What an interrupted transcript records, checked against the plan and policy.
#[derive(Debug)]
pub struct Resume {
    /// The interrupted transcript.
    pub path: PathBuf,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// How many lines it has.
    pub lines: usize,
    /// The keys it records as generated, by label.
    pub generated: BTreeMap<String, RecordedKey>,
    /// The labels it announced for generation (a key may exist without a recorded KCV).
    pub announced: Vec<String>,
}

/// What the interrupted run recorded of a key it generated.
#[derive(Debug)]
pub struct RecordedKey {
    /// The KCV.
    pub kcv: String,
    /// How it was computed.
    pub kcv_method: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The full check value, where recorded.
    pub check_sha256: Option<String>,
}

/// A key the interrupted run generated, proven on the token and taken over.
#[derive(Debug)]
pub struct TakenKey {
    /// Its handle in this session.
    pub handle: ObjectHandle,
    /// Its record, as the token reports it now.
    pub record: KeyRecord,
}

impl Resume {
    /// A refusal of this resume, with what to do.
    pub fn refuse(&self, reason: String, advice: &'static str) -> Error {
        Error::Resume {
            path: self.path.clone(),
            reason,
            advice,
        }
    }
}

/// Reads and checks the interrupted transcript at `path`.
pub fn load(path: &Path, plan: &Plan, policy: &Policy) -> Result<Resume, Error> {
    let refuse = |reason: String, advice: &'static str| Error::Resume {
        path: path.to_path_buf(),
        reason,
        advice,
    };
    let bytes =
        crate::input::read(path, crate::input::MAX_TRANSCRIPT).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return Err(refuse(
            "it is empty or its last line is cut short".into(),
            PASS_THE_RECORD,
        ));
    };
    let generates: Vec<&str> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Generate { key_label, .. } => Some(key_label.as_str()),
            _ => None,
        })
        .collect();
    let mut head: [u8; 32] = Sha256::digest(b"").into();
    let mut resume = Resume {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        lines: 0,
        generated: BTreeMap::new(),
        announced: Vec::new(),
    };
    let (mut plan_ok, mut policy_ok) = (false, false);
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let line: Value = serde_json::from_slice(raw)
            .map_err(|_| refuse(format!("line {n} is not JSON"), PASS_THE_RECORD))?;
        if line["prev"] != hex::encode(head).as_str() {
            return Err(refuse(
                format!("line {n} is not chained to the one before"),
                PASS_THE_RECORD,
            ));
        }
        head = Sha256::digest(raw).into();
        resume.lines += 1;
        let step = line["step"].as_str().unwrap_or_default();
        if step == LineStep::Seal.as_str() {
            return Err(refuse(
                "it is sealed: its run ended, there is nothing to resume".into(),
                RUN_ENDED,
            ));
        }
        // Only the lines it takes something from are read as their entries.
        if !matches!(
            LineStep::from_name(step),
            Some(
                LineStep::Policy
                    | LineStep::Plan
                    | LineStep::Generate
                    | LineStep::Generated
                    | LineStep::Finish
            )
        ) {
            continue;
        }
        let entry = Entry::from_line(raw).map_err(|e| {
            refuse(
                format!(
                    "line {n}'s data does not fit a {step} line: {}",
                    entry::misfit(&e)
                ),
                PASS_THE_RECORD,
            )
        })?;
        match entry {
            // A run that completed every step but was stopped before its seal (or whose seal
            // was cut off): resuming re-does every wrap and seals a new record of its own.
            Entry::Finish(f) if f.outcome != "completed" => {
                return Err(refuse(
                    "its run failed and settled its keys (its finish line says so): there is nothing to resume"
                        .into(),
                    RUN_ENDED,
                ));
            }
            Entry::Policy(p) => policy_ok = p.sha256 == policy.digest,
            Entry::Plan(p) => plan_ok = p.digest_statement == plan.digest_statement(),
            Entry::Generate(g) => resume.announced.push(g.key_label),
            Entry::Generated(g) => {
                let label = g.key.label.as_str();
                if !generates.contains(&label) {
                    return Err(refuse(
                        format!(
                            "line {n} records key {label:?} generated, which the plan does not generate"
                        ),
                        PASS_THE_RECORD,
                    ));
                }
                let Some(kcv) = g.key.kcv.as_deref().filter(|k| !k.is_empty()) else {
                    return Err(refuse(
                        format!(
                            "line {n} records key {label:?} generated without a KCV, and resume takes over only a key the token proves by its KCV"
                        ),
                        PASS_THE_RECORD,
                    ));
                };
                if !kcv.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(refuse(
                        format!(
                            "line {n} records key {label:?} generated with a KCV that is not hex digits"
                        ),
                        PASS_THE_RECORD,
                    ));
                }
                let key = RecordedKey {
                    kcv: kcv.to_owned(),
                    kcv_method: g.key.kcv_method.clone(),
                    id: g.key.id.clone(),
                    check_sha256: g.key.check_sha256.clone(),
                };
                if resume.generated.insert(label.to_owned(), key).is_some() {
                    return Err(refuse(
                        format!("line {n} records key {label:?} generated a second time"),
                        PASS_THE_RECORD,
                    ));
                }
            }
            _ => {}
        }
    }
    if !policy_ok {
        return Err(refuse(
            "it is not a run under this policy".into(),
            PASS_THE_RECORD,
        ));
    }
    if !plan_ok {
        return Err(refuse(
            "it is not a run of this plan".into(),
            PASS_THE_RECORD,
        ));
    }
    Ok(resume)
}

/// Proves on the token the key labelled `label` that the interrupted record says it generated
/// as `recorded`: the one key of that label, a ceremony key, generated in this token and
/// sensitive ever since (`CKA_LOCAL` and `CKA_ALWAYS_SENSITIVE` true: a key unwrapped into the
/// token or created from a known value is neither), by a run of the plan `plan_sha256` (its
/// `CKA_ID`, the one recorded, see [`crate::hsm::keys::plan_key_id`]: not another plan's key
/// under the same label), of `spec`, with the KCV recorded by the method recorded, and the full
/// check value where one is recorded. Changes nothing on the token.
pub fn prove(
    resume: &Resume,
    token: &Token,
    label: &KeyLabel,
    spec: KeySpec,
    recorded: &RecordedKey,
    plan_sha256: &str,
) -> Result<TakenKey, Error> {
    let kcv = recorded.kcv.as_str();
    let refuse = |reason: String| resume.refuse(reason, KEY_NOT_PROVEN);
    let key = label;
    let label = label.as_str();
    let (handle, info) = token
        .key(key)
        .map_err(|e| refuse(format!("it records key {label:?} generated, but {e}")))?;
    if info.private != Some(true) {
        return Err(refuse(format!(
            "key {label:?} on the token is a public object (CKA_PRIVATE false), which anyone can create without the PIN"
        )));
    }
    if !info.is_ceremony_key() {
        return Err(refuse(format!(
            "key {label:?} on the token is not a ceremony key (sensitive, extractable only by wrapping, of no other use, not modifiable)"
        )));
    }
    if info.local != Some(true) || info.always_sensitive != Some(true) {
        let show = |b: Option<bool>| b.map_or("not reported".to_owned(), |b| b.to_string());
        return Err(refuse(format!(
            "key {label:?} on the token was not generated in this token (CKA_LOCAL {}, CKA_ALWAYS_SENSITIVE {}), but the plan generates it",
            show(info.local),
            show(info.always_sensitive)
        )));
    }
    if !info.id.eq_ignore_ascii_case(&recorded.id) {
        return Err(refuse(format!(
            "it records key {label:?} generated with CKA_ID {}, but the token's key has CKA_ID {}",
            recorded.id, info.id
        )));
    }
    if !crate::hsm::keys::plan_key_id_binds(&info.id, plan_sha256) {
        return Err(refuse(format!(
            "key {label:?} on the token was not generated by a run of this plan (its CKA_ID {} is not bound to the plan's SHA-256)",
            info.id
        )));
    }
    if !info.may_be(spec) {
        return Err(refuse(format!(
            "key {label:?} on the token is {}, but the plan generates {spec}",
            info.key_type
        )));
    }
    if !info
        .kcv
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(kcv))
    {
        return Err(refuse(format!(
            "it records key {label:?} generated with KCV {}, but the token's key has KCV {}",
            kcv.to_ascii_lowercase(),
            info.kcv.as_deref().unwrap_or("none")
        )));
    }
    if info.kcv_method != recorded.kcv_method {
        return Err(refuse(format!(
            "it records key {label:?} generated with a KCV computed by {}, but the token's key's is computed by {}",
            recorded.kcv_method, info.kcv_method
        )));
    }
    if let Some(full) = &recorded.check_sha256 {
        if !info
            .check_sha256
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(full))
        {
            return Err(refuse(format!(
                "it records key {label:?} generated with the SHA-256 check value {}, but the token's key has {}",
                full.to_ascii_lowercase(),
                info.check_sha256.as_deref().unwrap_or("none")
            )));
        }
    }
    Ok(TakenKey {
        handle,
        record: crate::wrap::key_record(key, spec, &info),
    })
}
