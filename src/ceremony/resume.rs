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
use super::error::Unresumable;
use super::plan::{Plan, Step};
use super::policy::Policy;
use crate::hsm::Token;
use crate::hsm::keys::KeyInfo;
use crate::spec::{KeyLabel, KeySpec};
use crate::transcript::{Entry, Step as LineStep, entry};
use crate::wrap::KeyRecord;

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
    /// A refusal of this resume.
    pub fn refuse(&self, reason: Unresumable) -> Error {
        Error::Resume {
            path: self.path.clone(),
            reason: Box::new(reason),
        }
    }
}

/// Reads and checks the interrupted transcript at `path`.
pub fn load(path: &Path, plan: &Plan, policy: &Policy) -> Result<Resume, Error> {
    let refuse = |reason: Unresumable| Error::Resume {
        path: path.to_path_buf(),
        reason: Box::new(reason),
    };
    let bytes =
        crate::input::read(path, crate::input::MAX_TRANSCRIPT).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
    let body = bytes
        .strip_suffix(b"\n")
        .ok_or_else(|| refuse(Unresumable::CutShort))?;
    let mut reading = Reading {
        plan,
        policy,
        head: Sha256::digest(b"").into(),
        resume: Resume {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            lines: 0,
            generated: BTreeMap::new(),
            announced: Vec::new(),
        },
        plan_ok: false,
        policy_ok: false,
    };
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        reading.line(i + 1, raw).map_err(refuse)?;
    }
    reading.finish().map_err(refuse)
}

/// An interrupted transcript part-read: the chain's head and what the lines so far recorded.
struct Reading<'a> {
    plan: &'a Plan,
    policy: &'a Policy,
    head: [u8; 32],
    resume: Resume,
    plan_ok: bool,
    policy_ok: bool,
}

impl Reading<'_> {
    /// Line `n`, `raw`: chained to the one before, not a seal, and read as its entry if resume
    /// takes something from it.
    fn line(&mut self, n: usize, raw: &[u8]) -> Result<(), Unresumable> {
        let line: Value =
            serde_json::from_slice(raw).map_err(|_| Unresumable::NotJson { line: n })?;
        if line["prev"] != hex::encode(self.head).as_str() {
            return Err(Unresumable::NotChained { line: n });
        }
        self.head = Sha256::digest(raw).into();
        self.resume.lines += 1;
        let step = line["step"].as_str().unwrap_or_default();
        if step == LineStep::Seal.as_str() {
            return Err(Unresumable::Sealed);
        }
        // Only the lines it takes something from are read as their entries.
        if !matches!(
            LineStep::from_name(step),
            Some(
                LineStep::Policy
                    | LineStep::Plan
                    | LineStep::Batch
                    | LineStep::Generate
                    | LineStep::Generated
                    | LineStep::Finish
            )
        ) {
            return Ok(());
        }
        let entry = Entry::from_line(raw).map_err(|source| Unresumable::Misfit {
            line: n,
            step: step.to_owned(),
            source,
        })?;
        match entry {
            // A run that completed every step but was stopped before its seal (or whose seal
            // was cut off): resuming re-does every wrap and seals a new record of its own.
            Entry::Finish(f) if f.outcome != "completed" => return Err(Unresumable::Settled),
            Entry::Policy(p) => self.policy_ok = p.sha256 == self.policy.digest,
            Entry::Plan(p) => self.plan_ok = p.digest_statement == self.plan.digest_statement(),
            Entry::Batch(b) => self.batch(&b),
            Entry::Generate(g) => self.resume.announced.push(g.key_label),
            Entry::Generated(g) => self.generated(n, &g.key)?,
            _ => {}
        }
        Ok(())
    }

    /// A `batch` line announces the generate steps it may take (up to its size, and not past
    /// a destroy step, which no batch takes): a key of theirs may be on the token although the
    /// interrupted run wrote no line of its own for it.
    fn batch(&mut self, b: &entry::BatchData) {
        let window = self.plan.steps.iter().skip(b.first).take(b.max_steps);
        for step in window {
            match step {
                Step::Generate { key_label, .. } => {
                    self.resume.announced.push(key_label.as_str().to_owned());
                }
                Step::Destroy { .. } => break,
                Step::Wrap { .. } => {}
            }
        }
    }

    /// Line `n` records `key` generated: a key of the plan, once, with a KCV of hex digits.
    fn generated(&mut self, n: usize, key: &entry::Key) -> Result<(), Unresumable> {
        let label = key.label.as_str();
        let planned =
            self.plan.steps.iter().any(
                |s| matches!(s, Step::Generate { key_label, .. } if key_label.as_str() == label),
            );
        if !planned {
            return Err(Unresumable::NotPlanned {
                line: n,
                label: label.to_owned(),
            });
        }
        let Some(kcv) = key.kcv.as_deref().filter(|k| !k.is_empty()) else {
            return Err(Unresumable::NoKcv {
                line: n,
                label: label.to_owned(),
            });
        };
        if !kcv.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Unresumable::KcvNotHex {
                line: n,
                label: label.to_owned(),
            });
        }
        let recorded = RecordedKey {
            kcv: kcv.to_owned(),
            kcv_method: key.kcv_method.clone(),
            id: key.id.clone(),
            check_sha256: key.check_sha256.clone(),
        };
        if self
            .resume
            .generated
            .insert(label.to_owned(), recorded)
            .is_some()
        {
            return Err(Unresumable::GeneratedTwice {
                line: n,
                label: label.to_owned(),
            });
        }
        Ok(())
    }

    /// The whole transcript read: a run under this policy, of this plan.
    fn finish(self) -> Result<Resume, Unresumable> {
        if !self.policy_ok {
            return Err(Unresumable::OtherPolicy);
        }
        if !self.plan_ok {
            return Err(Unresumable::OtherPlan);
        }
        Ok(self.resume)
    }
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
    let (handle, info) = token.key(label).map_err(|source| {
        resume.refuse(Unresumable::KeyNotFound {
            label: label.as_str().to_owned(),
            source,
        })
    })?;
    generated_here(&info, label, spec, recorded, plan_sha256).map_err(|r| resume.refuse(r))?;
    recorded_values(&info, label, recorded).map_err(|r| resume.refuse(r))?;
    Ok(TakenKey {
        handle,
        record: crate::wrap::key_record(label, spec, &info),
    })
}

/// The token's key `info` labelled `label` is a private ceremony key generated in this token,
/// under the `CKA_ID` recorded, bound to the plan `plan_sha256`, of `spec`.
fn generated_here(
    info: &KeyInfo,
    label: &KeyLabel,
    spec: KeySpec,
    recorded: &RecordedKey,
    plan_sha256: &str,
) -> Result<(), Unresumable> {
    let label = || label.as_str().to_owned();
    if info.private != Some(true) {
        return Err(Unresumable::PublicKeyObject { label: label() });
    }
    if !info.is_ceremony_key() {
        return Err(Unresumable::NotCeremonyKey { label: label() });
    }
    if info.local != Some(true) || info.always_sensitive != Some(true) {
        return Err(Unresumable::NotLocal {
            label: label(),
            local: info.local,
            always_sensitive: info.always_sensitive,
        });
    }
    if !info.id.eq_ignore_ascii_case(&recorded.id) {
        return Err(Unresumable::IdDiffers {
            label: label(),
            recorded: recorded.id.clone(),
            actual: info.id.clone(),
        });
    }
    if !crate::hsm::keys::plan_key_id_binds(&info.id, plan_sha256) {
        return Err(Unresumable::IdNotBound {
            label: label(),
            id: info.id.clone(),
        });
    }
    if !info.may_be(spec) {
        return Err(Unresumable::OtherSpec {
            label: label(),
            key_type: info.key_type.clone(),
            spec,
        });
    }
    Ok(())
}

/// The token's key `info` labelled `label` has the KCV recorded, by the method recorded, and
/// the full check value where one is recorded.
fn recorded_values(
    info: &KeyInfo,
    label: &KeyLabel,
    recorded: &RecordedKey,
) -> Result<(), Unresumable> {
    let label = || label.as_str().to_owned();
    if !info
        .kcv
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(&recorded.kcv))
    {
        return Err(Unresumable::KcvDiffers {
            label: label(),
            recorded: recorded.kcv.clone(),
            actual: info.kcv.clone(),
        });
    }
    if info.kcv_method != recorded.kcv_method {
        return Err(Unresumable::KcvMethodDiffers {
            label: label(),
            recorded: recorded.kcv_method.clone(),
            actual: info.kcv_method.clone(),
        });
    }
    if let Some(full) = &recorded.check_sha256 {
        if !info
            .check_sha256
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(full))
        {
            return Err(Unresumable::CheckValueDiffers {
                label: label(),
                recorded: full.clone(),
                actual: info.check_sha256.clone(),
            });
        }
    }
    Ok(())
}
