//! The quorum: approvals are OpenSSH signatures (`ssh-keygen -Y sign -n keyrite-plan`) over the
//! plan's digest statement, one file per custodian. keyrite counts only valid signatures, in
//! that namespace, over that statement, by keys of the policy's custodians, each custodian once.

use std::path::{Path, PathBuf};

use serde::Serialize;
use ssh_key::{HashAlg, LineEnding, SshSig};

use super::Error;
use super::policy::Policy;

/// The namespace custodians sign plan digests in.
pub const PLAN_NAMESPACE: &str = "keyrite-plan";

/// One counted approval.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// The custodian's name in the policy.
    pub custodian: String,
    /// The key's OpenSSH fingerprint.
    pub key_fingerprint: String,
    /// The approval's file name.
    pub file: String,
    /// The signature, as `ssh-keygen` wrote it.
    pub signature: String,
}

/// An approval file that did not count, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// The file name.
    pub file: String,
    /// Why it does not count.
    pub reason: String,
}

/// The approvals found.
#[derive(Debug, Clone, Serialize)]
pub struct Quorum {
    /// The approvals that count, one per custodian.
    pub approvals: Vec<Approval>,
    /// The files that do not count.
    pub rejected: Vec<Rejected>,
    /// The custodians who did not approve.
    pub missing: Vec<String>,
    /// M.
    pub threshold: usize,
}

/// Checks one signature against the policy; returns the custodian's index.
pub fn check_signature(
    policy: &Policy,
    statement: &[u8],
    namespace: &str,
    sig: &SshSig,
) -> Result<usize, String> {
    if sig.namespace() != namespace {
        return Err(format!(
            "signed in namespace {:?}, not {namespace:?}",
            sig.namespace()
        ));
    }
    let index = policy
        .custodians
        .iter()
        .position(|c| c.key.key_data() == sig.public_key())
        .ok_or_else(|| "signed by a key that is not a custodian's in the policy".to_owned())?;
    policy.custodians[index]
        .key
        .verify(namespace, statement, sig)
        .map_err(|_| {
            format!(
                "{}'s signature does not verify over this plan's digest (another plan, or a file changed since)",
                policy.custodians[index].name
            )
        })?;
    Ok(index)
}

/// Reads every file in `dir` and counts the approvals of the statement.
pub fn verify(policy: &Policy, statement: &str, dir: &Path) -> Result<Quorum, Error> {
    let read_err = |path: PathBuf, e: std::io::Error| Error::Read {
        path,
        reason: e.to_string(),
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| read_err(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    let mut approvals: Vec<Approval> = Vec::new();
    let mut rejected = Vec::new();
    for path in entries {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&path).map_err(|e| read_err(path.clone(), e))?;
        let outcome = SshSig::from_pem(&bytes)
            .map_err(|e| format!("not an SSH signature ({e})"))
            .and_then(|sig| {
                let index = check_signature(policy, statement.as_bytes(), PLAN_NAMESPACE, &sig)?;
                let custodian = &policy.custodians[index];
                if approvals.iter().any(|a| a.custodian == custodian.name) {
                    return Err(format!("a second approval by {}", custodian.name));
                }
                Ok(Approval {
                    custodian: custodian.name.clone(),
                    key_fingerprint: custodian.key.fingerprint(HashAlg::Sha256).to_string(),
                    file: file.clone(),
                    signature: sig
                        .to_pem(LineEnding::LF)
                        .map_err(|e| format!("cannot re-encode the signature: {e}"))?,
                })
            });
        match outcome {
            Ok(a) => approvals.push(a),
            Err(reason) => rejected.push(Rejected { file, reason }),
        }
    }
    let missing = policy
        .custodians
        .iter()
        .filter(|c| !approvals.iter().any(|a| a.custodian == c.name))
        .map(|c| c.name.clone())
        .collect();
    let quorum = Quorum {
        approvals,
        rejected,
        missing,
        threshold: policy.threshold,
    };
    if quorum.approvals.len() < policy.threshold {
        return Err(Error::NoQuorum(Box::new(quorum)));
    }
    Ok(quorum)
}
