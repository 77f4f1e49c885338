//! The witnesses check: each witness line's signature verifies over the seal line's digest
//! under the key it carries, recorded under its name and fingerprint, no witness signs twice;
//! with a policy, each key is a witness of the policy by that name.
//!
//! It trusts the auditor's policy (its witness and custodian keys); without one, a witness is
//! only the key its signature carries.

use serde::Serialize;
use ssh_key::{HashAlg, SshSig};

use super::parsed::Parsed;
use super::{Check, failed, not_checked, passed, unfit};
use crate::ceremony::policy::Policy;
use crate::transcript::entry::WitnessData;
use crate::transcript::{WITNESS_NAMESPACE, witness_message};

/// A witness line, as found.
#[derive(Debug, Clone, Serialize)]
pub struct Witness {
    /// The name recorded.
    pub name: String,
    /// The key fingerprint recorded.
    pub key_fingerprint: String,
    /// Whether its signature verified under a witness key of the policy (`None`: no policy, and
    /// the signature verifies under the key it carries).
    pub verified: Option<bool>,
    /// Its line, from 1.
    pub line: usize,
}

/// What the witness lines prove: each signature verifies (namespace `keyrite-witness`, over the
/// seal line's digest) under the key it carries, whose fingerprint is the one recorded, and the
/// actor is the name recorded; with a policy, the key is a witness of the policy by that name.
/// No witness signs twice. Returns the check, the witnesses, and how many distinct witnesses of
/// the policy co-signed.
pub(super) fn witness_check(
    parsed: &Parsed,
    policy: Option<&Policy>,
) -> (Check, Vec<Witness>, usize) {
    let name = "witnesses";
    let (Some(_), Some(seal)) = (parsed.seal, &parsed.first_seal) else {
        return (not_checked(name, "a seal"), Vec::new(), 0);
    };
    if parsed.witnesses.iter().any(|(_, _, d)| d.is_none()) {
        return (unfit(name, "witness"), Vec::new(), 0);
    }
    let message = witness_message(&seal.raw);
    let mut witnesses = Vec::new();
    let mut problem: Option<(String, usize)> = None;
    for (line, actor, d) in &parsed.witnesses {
        let (line, Some(d)) = (*line, d) else {
            continue;
        };
        let (recorded_name, recorded_fp) = (d.name.as_str(), d.key_fingerprint.as_str());
        let why = signature_problem(actor.as_deref(), d, &message, policy);
        let repeated = witnesses
            .iter()
            .any(|w: &Witness| w.key_fingerprint == recorded_fp || w.name == recorded_name);
        let why = why.or_else(|| repeated.then(|| format!("{recorded_name:?} has signed twice")));
        if let (Some(why), None) = (&why, &problem) {
            problem = Some((why.clone(), line));
        }
        witnesses.push(Witness {
            name: recorded_name.to_owned(),
            key_fingerprint: recorded_fp.to_owned(),
            verified: match (&why, policy) {
                (Some(_), _) => Some(false),
                (None, Some(_)) => Some(true),
                (None, None) => None,
            },
            line: super::line_number(line),
        });
    }
    let count = witnesses.len();
    let valid = if problem.is_none() && policy.is_some() {
        count
    } else {
        0
    };
    let check = witnesses_verdict(name, problem, policy, &witnesses);
    (check, witnesses, valid)
}

/// What is wrong with one witness line's signature, if anything: it is an SSH signature in the
/// witness namespace over `message` (the seal's witness message), made by the key the line
/// records, by the `actor` the line names; with a policy, by that witness of the policy.
fn signature_problem(
    actor: Option<&str>,
    d: &WitnessData,
    message: &str,
    policy: Option<&Policy>,
) -> Option<String> {
    let (recorded_name, recorded_fp) = (d.name.as_str(), d.key_fingerprint.as_str());
    let Ok(sig) = &SshSig::from_pem(&d.signature) else {
        return Some("the witness signature is not an SSH signature".to_owned());
    };
    let key = ssh_key::PublicKey::from(sig.public_key().clone());
    let actual = key.fingerprint(HashAlg::Sha256).to_string();
    if sig.namespace() != WITNESS_NAMESPACE
        || key
            .verify(WITNESS_NAMESPACE, message.as_bytes(), sig)
            .is_err()
    {
        Some("the witness signature does not verify over this seal".to_owned())
    } else if recorded_fp != actual {
        Some(format!(
            "the witness line records the key {}, but the signature was made by {actual}",
            serde_json::Value::from(recorded_fp)
        ))
    } else if actor != Some(recorded_name) {
        Some("the witness line's actor is not its name".to_owned())
    } else {
        policy.and_then(|p| policy_problem(p, sig, recorded_name, &actual))
    }
}

/// Whether the key that made `sig` is the policy's witness named `recorded_name`; if it is not a
/// witness key at all, says whose custodian key it is, when it is one.
fn policy_problem(p: &Policy, sig: &SshSig, recorded_name: &str, actual: &str) -> Option<String> {
    let witness = p
        .witnesses
        .iter()
        .find(|w| w.key.key_data() == sig.public_key());
    match witness {
        Some(w) if w.name == recorded_name => None,
        Some(w) => Some(format!(
            "signed by {}'s key, recorded as {:?}",
            w.name, recorded_name
        )),
        None => Some(format!(
            "{actual} is not a witness key of the policy{}",
            p.custodians
                .iter()
                .find(|c| c.key.key_data() == sig.public_key())
                .map(|c| format!(" (it is custodian {}'s key)", c.name))
                .unwrap_or_default()
        )),
    }
}

/// The check's outcome: the first problem found, else how many witnesses co-signed (against the
/// policy's requirement, when it has one), noting a witness who is also a custodian.
fn witnesses_verdict(
    name: &'static str,
    problem: Option<(String, usize)>,
    policy: Option<&Policy>,
    witnesses: &[Witness],
) -> Check {
    let names = witnesses
        .iter()
        .map(|w| w.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let count = witnesses.len();
    let note = custodian_note(policy);
    match (problem, policy) {
        (Some((why, line)), _) => failed(name, why, Some(line)),
        (None, Some(p)) if p.witnesses_required > 0 => passed(
            name,
            format!(
                "{count} of {} required witnesses have co-signed{}{note}",
                p.witnesses_required,
                if count > 0 {
                    format!(": {names}")
                } else {
                    String::new()
                }
            ),
        ),
        (None, _) if witnesses.is_empty() => passed(name, format!("no witness has signed{note}")),
        (None, None) => not_checked(
            name,
            format!(
                "--policy (to verify the signatures of {names} against the policy's witnesses)"
            ),
        ),
        (None, Some(_)) => passed(
            name,
            format!("{count} witness signature(s) verify: {names}{note}"),
        ),
    }
}

/// A witness who is also a custodian is not independent evidence: the note that says so (empty,
/// or `"; witness W is custodian C (one key)"`, for each such witness of the policy).
fn custodian_note(policy: Option<&Policy>) -> String {
    let doubles: Vec<String> = policy
        .map(|p| {
            p.witnesses
                .iter()
                .filter_map(|w| {
                    p.custodians
                        .iter()
                        .find(|c| c.key.key_data() == w.key.key_data())
                        .map(|c| format!("witness {} is custodian {} (one key)", w.name, c.name))
                })
                .collect()
        })
        .unwrap_or_default();
    if doubles.is_empty() {
        String::new()
    } else {
        format!("; {}", doubles.join(", "))
    }
}
