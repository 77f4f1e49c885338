//! The attestations check: each wrap step's `attestation` line checked again, offline, from the
//! line alone — the evidence against keyrite's pinned roots (and the roots file the line keeps,
//! which the plan's digest and the policy must name), the verdict recomputed and compared, the
//! wrapping key the one the step's `wrap` line used — and, under a policy that requires it, every
//! wrapping key attested.

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::{Check, failed, passed};
use crate::attest::{self, Evidence, Record, Roots};
use crate::ceremony::policy::Policy;
use crate::transcript::Entry;
use crate::transcript::entry::{AttestationData, PlanData};

const NAME: &str = "attested";

/// What one `attestation` line proved, for the report.
#[derive(Debug, Clone)]
pub struct StepAttestation {
    /// The plan step.
    pub index: usize,
    /// The verdict, as recomputed.
    pub record: Record,
    /// The roots file it was checked with: its path and SHA-256.
    pub roots_file: Option<(String, String)>,
}

/// The attestations check, fed line by line.
pub(super) struct Attestations {
    /// Each step's attestation, by plan step, with its line.
    seen: BTreeMap<usize, (usize, StepAttestation, String)>,
    broken: Option<Check>,
}

impl Attestations {
    pub(super) fn new() -> Self {
        Attestations {
            seen: BTreeMap::new(),
            broken: None,
        }
    }

    /// Feeds line `i`, with its entry if its data fits its step.
    pub(super) fn feed(&mut self, i: usize, step: &str, entry: Option<&Entry>) {
        if self.broken.is_some() {
            return;
        }
        let problem = match (step, entry) {
            ("attestation", Some(Entry::Attestation(a))) => self.attestation(i, a),
            ("attestation", _) => Some("an attestation line's data does not fit its step".into()),
            ("check", Some(Entry::Check(c))) => match self.seen.get(&c.index) {
                Some(_) => None,
                None => Some(format!(
                    "step {} is checked on the token without an attestation line before it: keyrite records what it found of every wrapping key's attestation before it wraps",
                    c.index + 1
                )),
            },
            ("wrap" | "rewrap", Some(Entry::Wrap(w) | Entry::Rewrap(w))) => {
                match self.seen.get(&w.index) {
                    None => Some(format!(
                        "step {} wraps without an attestation line before it: keyrite records what it found of every wrapping key's attestation before it wraps",
                        w.index + 1
                    )),
                    Some((_, _, key)) if *key != w.wrapping_key_sha256 => Some(format!(
                        "step {} wraps under the wrapping key {}, not the key {} its attestation line checked",
                        w.index + 1,
                        w.wrapping_key_sha256,
                        key
                    )),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(reason) = problem {
            self.broken = Some(failed(NAME, reason, Some(i)));
        }
    }

    /// Checks one attestation line again; `Some` says what does not hold.
    fn attestation(&mut self, i: usize, a: &AttestationData) -> Option<String> {
        let step = a.index + 1;
        let key = match base64::engine::general_purpose::STANDARD
            .decode(&a.wrapping_key)
            .ok()
            .and_then(|der| crate::spec::WrappingKey::from_spki_der(&der).ok())
        {
            Some(key) => key,
            None => {
                return Some(format!(
                    "step {step}'s wrapping key is not an RSA public key"
                ));
            }
        };
        if key.fingerprint() != a.wrapping_key_sha256 {
            return Some(format!(
                "step {step}'s wrapping key has SHA-256 {}, not the {} its line records",
                key.fingerprint(),
                a.wrapping_key_sha256
            ));
        }
        let roots = match &a.roots_file {
            None => Roots::pinned(),
            Some(f) => {
                if hex::encode(Sha256::digest(f.text.as_bytes())) != f.sha256 {
                    return Some(format!(
                        "step {step}'s roots file {:?} is not the text whose SHA-256 its line records",
                        f.path
                    ));
                }
                match Roots::with_file(std::path::Path::new(&f.path), f.text.as_bytes()) {
                    Ok(roots) => roots,
                    Err(e) => return Some(format!("step {step}: {e}")),
                }
            }
        };
        let recorded: Record = match serde_json::from_value(a.record.clone()) {
            Ok(r) => r,
            Err(e) => {
                return Some(format!(
                    "step {step}'s attestation record does not parse: {e}"
                ));
            }
        };
        let recomputed = match &a.evidence {
            None => match &recorded {
                Record::NotAttested { .. } => recorded.clone(),
                Record::Attested(_) => {
                    return Some(format!(
                        "step {step}'s line records an attested wrapping key, but no attestation to check"
                    ));
                }
            },
            Some(value) => {
                let evidence: Evidence = match serde_json::from_value(value.clone()) {
                    Ok(e) => e,
                    Err(e) => {
                        return Some(format!("step {step}'s attestation does not parse: {e}"));
                    }
                };
                match attest::check(&evidence, &key, &roots) {
                    Ok(attested) => Record::Attested(Box::new(attested)),
                    Err(refusal) => {
                        return Some(format!(
                            "step {step}'s wrapping key attestation does not hold: {refusal}"
                        ));
                    }
                }
            }
        };
        if recomputed != recorded {
            return Some(format!(
                "step {step}'s attestation record is not what its attestation proves: {} is recorded, {} is proven",
                recorded.summary(),
                recomputed.summary()
            ));
        }
        if self.seen.contains_key(&a.index) {
            return Some(format!("step {step} has two attestation lines"));
        }
        self.seen.insert(
            a.index,
            (
                i,
                StepAttestation {
                    index: a.index,
                    record: recomputed,
                    roots_file: a
                        .roots_file
                        .as_ref()
                        .map(|f| (f.path.clone(), f.sha256.clone())),
                },
                a.wrapping_key_sha256.clone(),
            ),
        );
        None
    }

    /// The check, once every line has been fed: the plan line must name (and so the custodians
    /// have approved) each roots file, the policy must accept it, and, under a policy that
    /// requires it, every wrapping key must be attested. With the attestations, for the report.
    pub(super) fn check(
        self,
        plan: Option<&PlanData>,
        policy: Option<&Policy>,
    ) -> (Check, Vec<StepAttestation>) {
        let found: Vec<StepAttestation> = self.seen.values().map(|(_, a, _)| a.clone()).collect();
        if let Some(broken) = self.broken {
            return (broken, found);
        }
        for (i, a, _) in self.seen.values() {
            let step = a.index + 1;
            if let Some((path, sha256)) = &a.roots_file {
                // A single recorded wrap has no plan line: its roots file is the operator's own,
                // as the roots' trust in the record (`roots file`) says.
                let approved = plan.is_none_or(|p| p.files.iter().any(|f| f.sha256 == *sha256));
                if !approved {
                    return (
                        failed(
                            NAME,
                            format!(
                                "step {step} was checked against the roots file {path:?} (sha256 {sha256}), which the approved plan does not name"
                            ),
                            Some(*i),
                        ),
                        found,
                    );
                }
                if let Some(policy) = policy {
                    if policy.attestation_roots_sha256.as_deref() != Some(sha256) {
                        return (
                            failed(
                                NAME,
                                format!(
                                    "step {step} was checked against the roots file {path:?} (sha256 {sha256}), which the policy does not accept (attestation_roots_sha256)"
                                ),
                                Some(*i),
                            ),
                            found,
                        );
                    }
                }
            }
            if let (Some(policy), Record::NotAttested { reason }) = (policy, &a.record) {
                if policy.require_attestation {
                    return (
                        failed(
                            NAME,
                            format!(
                                "the policy requires attested wrapping keys, and step {step}'s is not attested: {reason}"
                            ),
                            Some(*i),
                        ),
                        found,
                    );
                }
            }
        }
        if found.is_empty() {
            return (
                passed(NAME, "no wrap step, so no wrapping key to attest"),
                found,
            );
        }
        // One clause per distinct verdict, with the steps it holds for: a 300-step plan reads
        // in a line.
        let mut verdicts: Vec<(String, Vec<usize>)> = Vec::new();
        for a in &found {
            let summary = a.record.summary();
            match verdicts.iter_mut().find(|(s, _)| *s == summary) {
                Some((_, steps)) => steps.push(a.index + 1),
                None => verdicts.push((summary, vec![a.index + 1])),
            }
        }
        let attested = found.iter().filter(|a| a.record.is_attested()).count();
        let detail = format!(
            "{attested} of {} wrapping key(s) attested, each checked again from its line: {}",
            found.len(),
            verdicts
                .iter()
                .map(|(summary, steps)| format!("{} {summary}", steps_text(steps)))
                .collect::<Vec<_>>()
                .join("; ")
        );
        (passed(NAME, detail), found)
    }
}

/// `step 3`, `steps 2, 4 and 6`, `steps 2 to 201` (a run of consecutive steps).
fn steps_text(steps: &[usize]) -> String {
    match steps {
        [one] => format!("step {one}:"),
        [first, .., last] if last - first + 1 == steps.len() => format!("steps {first} to {last}:"),
        [rest @ .., last] => format!(
            "steps {} and {last}:",
            rest.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        [] => String::new(),
    }
}
