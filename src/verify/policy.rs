//! The policy checks, with `--policy`: the policy recorded is the auditor's and names this
//! signer, the token and module it pins; the quorum of custodians approved the plan digest the
//! transcript records; the PIN shares used are distinct shares of the policy.
//!
//! It trusts the auditor's policy (its custodian keys, threshold, pins and shares) and the
//! `--signer` fingerprint; the approvals and every other field it reads are the transcript's.

use std::path::Path;

use serde_json::Value;
use ssh_key::{HashAlg, SshSig};

use super::parsed::Parsed;
use super::{Check, failed, field, not_checked, passed};
use crate::ceremony::plan::{Plan, Step};
use crate::ceremony::policy::Policy;
use crate::ceremony::quorum::{PLAN_NAMESPACE, check_signature};

/// With `require_trusted_wrapping`: why the record does not show every key made wrappable only
/// under trusted keys — a generate step of the recorded plan without `wrap_with_trusted`, or a
/// generated (or resumed) key whose template lacks `CKA_WRAP_WITH_TRUSTED` (`untrusted`, the
/// first such line and its label).
fn untrusted_generate(parsed: &Parsed, untrusted: Option<&(usize, String)>) -> Option<String> {
    let text = parsed
        .data("plan")
        .and_then(|d| d["text"].as_str())
        .unwrap_or_default();
    if let Ok(plan) = Plan::from_bytes(Path::new("plan.toml"), text.as_bytes().to_vec(), false) {
        for (i, step) in plan.steps.iter().enumerate() {
            if let Step::Generate {
                key_label,
                wrap_with_trusted: false,
                ..
            } = step
            {
                return Some(format!(
                    "steps[{i}] of the plan generates {:?} without wrap_with_trusted, but the policy requires trusted wrapping",
                    key_label.as_str()
                ));
            }
        }
    }
    untrusted.map(|(line, label)| {
        format!(
            "the key {label:?} was generated without CKA_WRAP_WITH_TRUSTED (line {line}), but the policy requires trusted wrapping"
        )
    })
}

/// The policy, quorum and PIN shares checks, in that order: with `--policy`, against the
/// policy line the transcript records.
pub(super) fn policy_checks(
    parsed: &Parsed,
    policy: Option<&Policy>,
    signer_fp: &str,
    untrusted: Option<&(usize, String)>,
) -> Vec<Check> {
    let Some(policy) = policy else {
        return vec![
            not_checked("policy", "--policy"),
            not_checked("quorum", "--policy"),
            not_checked("pin_shares", "--policy"),
        ];
    };
    let Some((line, _)) = parsed.first("policy") else {
        return without_policy_line(parsed);
    };
    let problems = policy_problems(parsed, policy, signer_fp, untrusted);
    vec![
        match problems.first() {
            None => passed(
                "policy",
                "the policy's SHA-256 is the one recorded, and it names this signer",
            ),
            Some(p) => failed("policy", p.clone(), Some(line)),
        },
        quorum_check(parsed, policy),
        shares_check(parsed, policy),
    ]
}

/// The policy checks of a transcript without a policy line, when the auditor gave one.
fn without_policy_line(parsed: &Parsed) -> Vec<Check> {
    // The auditor asked for the policy: a transcript that records none was made without it —
    // unless it is the unsealed record of a run killed before it got that far.
    if parsed.seal.is_none() {
        let why = "the policy line, which the interrupted run did not reach";
        return vec![
            not_checked("policy", why),
            not_checked("quorum", why),
            not_checked("pin_shares", why),
        ];
    }
    let why = "the transcript records no policy, so no quorum approved what it records";
    vec![
        failed("policy", why, None),
        failed("quorum", why, None),
        not_checked("pin_shares", "a policy line"),
    ]
}

/// What the record says against the policy, in the order the policy check reports it: the
/// policy's and its custodians file's digests, the signer it names, what it pins of the token,
/// and trusted wrapping where it requires it.
fn policy_problems(
    parsed: &Parsed,
    policy: &Policy,
    signer_fp: &str,
    untrusted: Option<&(usize, String)>,
) -> Vec<String> {
    let recorded = parsed.data("policy").cloned().unwrap_or_default();
    let mut problems = Vec::new();
    if recorded["sha256"] != policy.digest {
        problems.push("the policy's SHA-256 differs from the one recorded".to_owned());
    }
    if let Some((_, digest)) = &policy.custodians_file {
        if recorded["custodians_file"]["sha256"] != *digest {
            problems.push("the custodians file's SHA-256 differs from the one recorded".to_owned());
        }
    }
    // The policy names the ceremony signer: --signer and the token that sealed must be it.
    if signer_fp != policy.signer_fingerprint {
        problems.push(format!(
            "--signer has fingerprint {signer_fp}, but the policy names {}",
            policy.signer_fingerprint
        ));
    }
    if parsed.first("token").is_some() || parsed.seal.is_some() {
        problems.extend(token_problems(parsed, policy));
    }
    if policy.require_trusted_wrapping {
        if let Some(why) = untrusted_generate(parsed, untrusted) {
            problems.push(why);
        }
    }
    problems
}

/// What the token line records against what the policy pins: the signer, and the serial, the
/// module's SHA-256 and its path where the policy pins them.
fn token_problems(parsed: &Parsed, policy: &Policy) -> Vec<String> {
    let token = parsed.data("token").cloned().unwrap_or_default();
    let mut problems = Vec::new();
    if token["signer_fingerprint"] != policy.signer_fingerprint.as_str() {
        problems.push("the token's signer recorded is not the policy's".to_owned());
    }
    if let Some(serial) = &policy.token_serial {
        if token["serial"] != serial.as_str() {
            problems.push(format!(
                "the token's serial is not {serial:?}, the one the policy pins"
            ));
        }
    }
    if let Some(pinned) = &policy.module_sha256 {
        if token["module_sha256"] != pinned.as_str() {
            problems.push(format!(
                "the token line records the module SHA-256 {}, but the policy pins module_sha256 = {pinned}",
                token["module_sha256"].as_str().unwrap_or("(none)")
            ));
        }
    }
    if let Some(pinned) = &policy.module_path {
        if token["module"] != pinned.display().to_string().as_str() {
            problems.push(format!(
                "the token line records the module {}, but the policy pins module_path = {}",
                token["module"]
                    .as_str()
                    .map_or_else(|| "(none)".to_owned(), |m| format!("{m:?}")),
                pinned.display()
            ));
        }
    }
    problems
}

/// PIN share indexes, if the PIN came from shares, are distinct and among the policy's shares.
fn shares_check(parsed: &Parsed, policy: &Policy) -> Check {
    let name = "pin_shares";
    let Some((line, login)) = parsed.first("login") else {
        return passed(name, "no login line (no PIN shares used)");
    };
    let Some(indexes) = field(login, "data")["share_indexes"].as_array() else {
        return passed(name, "the PIN did not come from shares");
    };
    let indexes: Vec<u64> = indexes.iter().filter_map(Value::as_u64).collect();
    let mut seen = indexes.clone();
    seen.sort_unstable();
    seen.dedup();
    let n = policy.pin_shares.len() as u64;
    if seen.len() != indexes.len() || indexes.iter().any(|&i| i == 0 || i > n) {
        return failed(
            name,
            format!("share indexes {indexes:?} are not distinct shares among the policy's {n}"),
            Some(line),
        );
    }
    passed(
        name,
        format!("the PIN was rebuilt from shares {indexes:?} of the policy's {n}"),
    )
}

fn quorum_check(parsed: &Parsed, policy: &Policy) -> Check {
    let name = "quorum";
    let Some((line, _)) = parsed.first("approvals") else {
        if parsed.seal.is_none() {
            return not_checked(
                name,
                "the approvals line, which the interrupted run did not reach",
            );
        }
        return failed(name, "the transcript has no approvals line", None);
    };
    let statement = parsed
        .data("plan")
        .and_then(|d| d["digest_statement"].as_str())
        .unwrap_or_default();
    let approvals = parsed
        .data("approvals")
        .and_then(|d| d["approvals"].as_array())
        .cloned()
        .unwrap_or_default();
    let who = match approvers(policy, statement, &approvals) {
        Ok(who) => who,
        Err(why) => return failed(name, why, Some(line)),
    };
    if who.len() < policy.threshold {
        return failed(
            name,
            format!(
                "{} valid approvals ({}), the policy requires {}",
                who.len(),
                who.join(", "),
                policy.threshold
            ),
            Some(line),
        );
    }
    passed(
        name,
        format!(
            "{} of {} required: {}",
            who.len(),
            policy.threshold,
            who.join(", ")
        ),
    )
}

/// The custodians whose `approvals` of the plan digest `statement` verify under their keys of
/// the policy, recorded under their names and keys, each once; or why one does not count.
fn approvers(policy: &Policy, statement: &str, approvals: &[Value]) -> Result<Vec<String>, String> {
    let mut who: Vec<String> = Vec::new();
    for a in approvals {
        let sig = a["signature"]
            .as_str()
            .and_then(|s| SshSig::from_pem(s).ok());
        let Some(sig) = sig else {
            return Err("an approval is not an SSH signature".to_owned());
        };
        let index = check_signature(policy, statement.as_bytes(), PLAN_NAMESPACE, &sig)
            .map_err(|refusal| refusal.to_string())?;
        let custodian = &policy.custodians[index];
        if a["custodian"] != custodian.name.as_str()
            || a["key_fingerprint"]
                != custodian
                    .key
                    .fingerprint(HashAlg::Sha256)
                    .to_string()
                    .as_str()
        {
            return Err(format!(
                "an approval by {} is recorded under another name or key",
                custodian.name
            ));
        }
        if who.contains(&custodian.name) {
            return Err(format!("{} is counted twice", custodian.name));
        }
        who.push(custodian.name.clone());
    }
    Ok(who)
}
