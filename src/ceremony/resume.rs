//! `ceremony run --resume-from T`: a ceremony killed part-way (power cut, SIGKILL) continues
//! from its unsealed transcript `T` into a new one, with the keys `T` records as generated —
//! each proven by the KCV `T` recorded — and the wraps `T` records as written, whose outputs are
//! checked on disk. Everything else runs as planned.
//!
//! `T` must be an intact, unsealed, unfinished record of this plan under this policy: its chain
//! is recomputed, its plan digest and policy digest compared. The new transcript names `T` by
//! its SHA-256, so an auditor verifies both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::Error;
use super::plan::Plan;
use super::policy::Policy;

/// What an interrupted transcript records, checked against the plan and policy.
#[derive(Debug)]
pub struct Resume {
    /// The interrupted transcript.
    pub path: PathBuf,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// How many lines it has.
    pub lines: usize,
    /// The keys it records as generated: label → the `generated` line's key record.
    pub generated: BTreeMap<String, Value>,
    /// The labels it announced for generation (a key may exist without a recorded KCV).
    pub announced: Vec<String>,
    /// The wraps it records as written: step index → the `wrapped`/`rewrapped` line's data.
    pub wrapped: BTreeMap<usize, Value>,
}

/// Reads and checks the interrupted transcript at `path`.
pub fn load(path: &Path, plan: &Plan, policy: &Policy) -> Result<Resume, Error> {
    let refuse = |reason: String| Error::Resume {
        path: path.to_path_buf(),
        reason,
    };
    let bytes =
        crate::input::read(path, crate::input::MAX_TRANSCRIPT).map_err(|e| Error::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return Err(refuse("it is empty or its last line is cut short".into()));
    };
    let mut head: [u8; 32] = Sha256::digest(b"").into();
    let mut resume = Resume {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        lines: 0,
        generated: BTreeMap::new(),
        announced: Vec::new(),
        wrapped: BTreeMap::new(),
    };
    let (mut plan_ok, mut policy_ok) = (false, false);
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line: Value = serde_json::from_slice(raw)
            .map_err(|_| refuse(format!("line {} is not JSON", i + 1)))?;
        if line["prev"] != hex::encode(head).as_str() {
            return Err(refuse(format!(
                "line {} is not chained to the one before",
                i + 1
            )));
        }
        head = Sha256::digest(raw).into();
        resume.lines += 1;
        let data = &line["data"];
        match line["step"].as_str().unwrap_or_default() {
            "seal" => {
                return Err(refuse(
                    "it is sealed: its run ended, there is nothing to resume".into(),
                ));
            }
            // A run that completed every step but was stopped before its seal: resuming takes
            // every step over and seals the new record.
            "finish" if data["outcome"] != "completed" => {
                return Err(refuse(
                    "its run failed and settled its keys (its finish line says so): there is nothing to resume"
                        .into(),
                ));
            }
            "policy" => policy_ok = data["sha256"] == policy.digest.as_str(),
            "plan" => plan_ok = data["digest_statement"] == plan.digest_statement().as_str(),
            "generate" => resume
                .announced
                .push(data["key_label"].as_str().unwrap_or_default().to_owned()),
            "generated" => {
                let label = data["key"]["label"].as_str().unwrap_or_default().to_owned();
                resume.generated.insert(label, data["key"].clone());
            }
            "wrapped" | "rewrapped" => {
                if let Some(index) = data["index"].as_u64() {
                    resume.wrapped.insert(index as usize, data.clone());
                }
            }
            _ => {}
        }
    }
    if !policy_ok {
        return Err(refuse("it is not a run under this policy".into()));
    }
    if !plan_ok {
        return Err(refuse("it is not a run of this plan".into()));
    }
    Ok(resume)
}

impl Resume {
    /// Whether the output of a wrap `T` records is on disk as `T` recorded it.
    pub fn output_intact(&self, data: &Value) -> bool {
        let out = Path::new(data["out"].as_str().unwrap_or_default());
        data["files"].as_object().is_some_and(|files| {
            files.iter().all(|(name, digest)| {
                crate::input::read(&out.join(name), crate::input::MAX_SMALL)
                    .is_ok_and(|b| hex::encode(Sha256::digest(b)) == digest.as_str().unwrap_or(""))
            })
        })
    }
}
