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

impl Quorum {
    /// As the `approvals` line records it.
    pub fn entry(&self) -> crate::transcript::entry::ApprovalsData {
        use crate::transcript::entry;
        entry::ApprovalsData {
            approvals: self
                .approvals
                .iter()
                .map(|a| entry::Approval {
                    custodian: a.custodian.clone(),
                    key_fingerprint: a.key_fingerprint.clone(),
                    file: a.file.clone(),
                    signature: a.signature.clone(),
                })
                .collect(),
            rejected: self
                .rejected
                .iter()
                .map(|r| entry::Rejected {
                    file: r.file.clone(),
                    reason: r.reason.clone(),
                })
                .collect(),
            missing: self.missing.clone(),
            threshold: self.threshold,
        }
    }
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

/// Checks the approval file named `file`, whose bytes are `bytes`: an SSH signature (PEM) in
/// the plan namespace over `statement` by one of the policy's custodians. Says why not, as the
/// rejection recorded for the file.
pub fn check_approval(
    policy: &Policy,
    statement: &str,
    file: &str,
    bytes: &[u8],
) -> Result<Approval, String> {
    let sig = SshSig::from_pem(bytes).map_err(|e| format!("not an SSH signature ({e})"))?;
    let index = check_signature(policy, statement.as_bytes(), PLAN_NAMESPACE, &sig)?;
    let custodian = &policy.custodians[index];
    Ok(Approval {
        custodian: custodian.name.clone(),
        key_fingerprint: custodian.key.fingerprint(HashAlg::Sha256).to_string(),
        file: file.to_owned(),
        signature: sig
            .to_pem(LineEnding::LF)
            .map_err(|e| format!("cannot re-encode the signature: {e}"))?,
    })
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
        let bytes = crate::input::read(&path, crate::input::MAX_SMALL)
            .map_err(|e| read_err(path.clone(), e))?;
        let outcome = check_approval(policy, statement, &file, &bytes).and_then(|a| {
            if approvals.iter().any(|b| b.custodian == a.custodian) {
                return Err(format!("a second approval by {}", a.custodian));
            }
            Ok(a)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_approval_file_is_read_up_to_1_mib() {
        let policy = Policy::from_bytes(
            Path::new("policy.toml"),
            include_bytes!("../../ceremony/policy.toml"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("alice.sig");
        std::fs::write(&big, vec![b'-'; (crate::input::MAX_SMALL + 1) as usize]).unwrap();
        assert_eq!(
            verify(&policy, "statement", dir.path())
                .unwrap_err()
                .to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                big.display()
            )
        );
        std::fs::write(&big, b"not a signature").unwrap();
        let Err(Error::NoQuorum(q)) = verify(&policy, "statement", dir.path()) else {
            panic!("a quorum from nothing");
        };
        assert_eq!(q.rejected[0].file, "alice.sig");
    }
}
