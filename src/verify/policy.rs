//! The policy checks, with `--policy`: the policy recorded is the auditor's and names this
//! signer, the token and module it pins; the quorum of custodians approved the plan digest the
//! transcript records; the PIN shares used are distinct shares of the policy.
//!
//! It trusts the auditor's policy (its custodian keys, threshold, pins and shares) and the
//! `--signer` fingerprint; the approvals and every other field it reads are the transcript's.

use std::path::Path;

use ssh_key::{HashAlg, SshSig};

use super::parsed::{Parsed, TokenPins};
use super::{Check, failed, not_checked, passed, unfit};
use crate::ceremony::plan::{Plan, Step};
use crate::ceremony::policy::Policy;
use crate::ceremony::quorum::{PLAN_NAMESPACE, Refusal, check_signature};
use crate::transcript::entry::{Approval, PolicyData};

/// With `require_trusted_wrapping`: why the record does not show every key made wrappable only
/// under trusted keys — a generate step of the recorded plan without `wrap_with_trusted`, or a
/// generated (or resumed) key whose template lacks `CKA_WRAP_WITH_TRUSTED` (`untrusted`, the
/// first such line and its label).
fn untrusted_generate(parsed: &Parsed, untrusted: Option<&(usize, String)>) -> Option<String> {
    let text = parsed
        .plan()
        .and_then(|(_, d)| d)
        .map_or("", |d| d.text.as_str());
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
            "the key {label:?} was generated without CKA_WRAP_WITH_TRUSTED (line {}), but the policy requires trusted wrapping",
            super::line_number(*line)
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
    let Some((line, recorded)) = parsed.policy() else {
        return without_policy_line(parsed);
    };
    let policy_check = match recorded {
        None => unfit("policy", "policy"),
        Some(recorded) => {
            match policy_problems(parsed, recorded, policy, signer_fp, untrusted).first() {
                None => passed(
                    "policy",
                    "the policy's SHA-256 is the one recorded, and it names this signer",
                ),
                Some(p) => failed("policy", p.clone(), Some(line)),
            }
        }
    };
    vec![
        policy_check,
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
    recorded: &PolicyData,
    policy: &Policy,
    signer_fp: &str,
    untrusted: Option<&(usize, String)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if recorded.sha256 != policy.digest {
        problems.push("the policy's SHA-256 differs from the one recorded".to_owned());
    }
    if let Some((_, digest)) = &policy.custodians_file {
        if recorded.custodians_file.as_ref().map(|f| &f.sha256) != Some(digest) {
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
    if parsed.token_pins.is_some() || parsed.seal.is_some() {
        let none = TokenPins::default();
        problems.extend(token_problems(
            parsed.token_pins.as_ref().unwrap_or(&none),
            policy,
        ));
    }
    if policy.require_trusted_wrapping {
        if let Some(why) = untrusted_generate(parsed, untrusted) {
            problems.push(why);
        }
    }
    problems
}

/// What the token line records (`null` throughout: there is none) against what the policy
/// pins: the signer, and the serial, the module's SHA-256 and its path where the policy pins them.
fn token_problems(token: &TokenPins, policy: &Policy) -> Vec<String> {
    let mut problems = Vec::new();
    if token.signer_fingerprint != policy.signer_fingerprint.as_str() {
        problems.push("the token's signer recorded is not the policy's".to_owned());
    }
    if let Some(serial) = &policy.token_serial {
        if token.serial != serial.as_str() {
            problems.push(format!(
                "the token's serial is not {serial:?}, the one the policy pins"
            ));
        }
    }
    if let Some(pinned) = &policy.module_sha256 {
        if token.module_sha256 != pinned.as_str() {
            problems.push(format!(
                "the token line records the module SHA-256 {}, but the policy pins module_sha256 = {pinned}",
                token.module_sha256.as_str().unwrap_or("(none)")
            ));
        }
    }
    if let Some(pinned) = &policy.module_path {
        if token.module != pinned.display().to_string().as_str() {
            problems.push(format!(
                "the token line records the module {}, but the policy pins module_path = {}",
                token
                    .module
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
    let Some((line, login)) = parsed.login() else {
        return passed(name, "no login line (no PIN shares used)");
    };
    let Some(login) = login else {
        return unfit(name, "login");
    };
    let Some(indexes) = &login.share_indexes else {
        return passed(name, "the PIN did not come from shares");
    };
    let indexes: Vec<u64> = indexes.iter().map(|&i| u64::from(i)).collect();
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
    // When the policy names who holds each share, the detail names them too.
    let holders = policy
        .pin_share_custodians
        .as_ref()
        .map(|names| {
            let held: Vec<String> = indexes
                .iter()
                .filter_map(|&i| usize::try_from(i - 1).ok().and_then(|i| names.get(i)))
                .map(|name| format!("{name}'s"))
                .collect();
            format!(" ({})", held.join(", "))
        })
        .unwrap_or_default();
    passed(
        name,
        format!("the PIN was rebuilt from shares {indexes:?} of the policy's {n}{holders}"),
    )
}

fn quorum_check(parsed: &Parsed, policy: &Policy) -> Check {
    let name = "quorum";
    let Some((line, approvals)) = parsed.approvals() else {
        if parsed.seal.is_none() {
            return not_checked(
                name,
                "the approvals line, which the interrupted run did not reach",
            );
        }
        return failed(name, "the transcript has no approvals line", None);
    };
    let (Some(approvals), None | Some((_, Some(_)))) = (approvals, parsed.plan()) else {
        let step = if approvals.is_none() {
            "approvals"
        } else {
            "plan"
        };
        return unfit(name, step);
    };
    let statement = parsed
        .plan()
        .and_then(|(_, d)| d)
        .map_or("", |d| d.digest_statement.as_str());
    let who = match approvers(policy, statement, &approvals.approvals) {
        Ok(who) => who,
        Err(why) => return failed(name, why.to_string(), Some(line)),
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

/// Why an approval the transcript records does not count.
#[derive(Debug, thiserror::Error)]
enum ApprovalProblem {
    /// Its signature is not an SSH signature.
    #[error("an approval is not an SSH signature")]
    NotSignature,
    /// Its signature is not a custodian's over the plan digest.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// It is recorded under another custodian's name or key.
    #[error("an approval by {0} is recorded under another name or key")]
    Misrecorded(String),
    /// The custodian approved twice.
    #[error("{0} is counted twice")]
    Twice(String),
}

/// The custodians whose `approvals` of the plan digest `statement` verify under their keys of
/// the policy, recorded under their names and keys, each once; or why one does not count.
fn approvers(
    policy: &Policy,
    statement: &str,
    approvals: &[Approval],
) -> Result<Vec<String>, ApprovalProblem> {
    let mut who: Vec<String> = Vec::new();
    for a in approvals {
        let sig = SshSig::from_pem(&a.signature).map_err(|_| ApprovalProblem::NotSignature)?;
        let index = check_signature(policy, statement.as_bytes(), PLAN_NAMESPACE, &sig)?;
        let custodian = &policy.custodians[index];
        if a.custodian != custodian.name
            || a.key_fingerprint != custodian.key.fingerprint(HashAlg::Sha256).to_string()
        {
            return Err(ApprovalProblem::Misrecorded(custodian.name.clone()));
        }
        if who.contains(&custodian.name) {
            return Err(ApprovalProblem::Twice(custodian.name.clone()));
        }
        who.push(custodian.name.clone());
    }
    Ok(who)
}
