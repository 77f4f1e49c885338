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
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The file name.
    pub file: String,
    /// Why it does not count.
    pub reason: Refusal,
}

/// The approvals found.
#[derive(Debug, Clone)]
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

/// Why an approval does not count.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Not an SSH signature.
    #[error("not an SSH signature ({0})")]
    NotASignature(#[source] ssh_key::Error),
    /// Signed in another namespace.
    #[error("signed in namespace {found:?}, not {expected:?}")]
    Namespace {
        /// The signature's namespace.
        found: String,
        /// The namespace required.
        expected: String,
    },
    /// Signed by a key that is not a custodian's.
    #[error("signed by a key that is not a custodian's in the policy")]
    NotACustodian,
    /// A custodian's signature over something else.
    #[error(
        "{0}'s signature does not verify over this plan's digest (another plan, or a file changed since)"
    )]
    DoesNotVerify(String),
    /// The signature cannot be written back as PEM.
    #[error("cannot re-encode the signature: {0}")]
    Reencode(#[source] ssh_key::Error),
    /// A custodian who approved already.
    #[error("a second approval by {0}")]
    SecondApproval(String),
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
                    reason: r.reason.to_string(),
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
) -> Result<usize, Refusal> {
    if sig.namespace() != namespace {
        return Err(Refusal::Namespace {
            found: sig.namespace().to_owned(),
            expected: namespace.to_owned(),
        });
    }
    let index = policy
        .custodians
        .iter()
        .position(|c| c.key.key_data() == sig.public_key())
        .ok_or(Refusal::NotACustodian)?;
    let custodian = &policy.custodians[index];
    custodian
        .key
        .verify(namespace, statement, sig)
        .map_err(|_| Refusal::DoesNotVerify(custodian.name.clone()))?;
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
) -> Result<Approval, Refusal> {
    let sig = SshSig::from_pem(bytes).map_err(Refusal::NotASignature)?;
    let index = check_signature(policy, statement.as_bytes(), PLAN_NAMESPACE, &sig)?;
    let custodian = &policy.custodians[index];
    Ok(Approval {
        custodian: custodian.name.clone(),
        key_fingerprint: custodian.key.fingerprint(HashAlg::Sha256).to_string(),
        file: file.to_owned(),
        signature: sig.to_pem(LineEnding::LF).map_err(Refusal::Reencode)?,
    })
}

/// Reads every file in `dir` and counts the approvals of the statement.
pub fn verify(policy: &Policy, statement: &str, dir: &Path) -> Result<Quorum, Error> {
    let read_err = |path: PathBuf, e: std::io::Error| Error::Read { path, source: e };
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
                return Err(Refusal::SecondApproval(a.custodian));
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

    use ssh_key::PrivateKey;
    use ssh_key::private::Ed25519Keypair;

    /// A custodian's (or anyone's) key, made from a seed so the tests need no files.
    fn key(seed: u8) -> PrivateKey {
        PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
    }

    /// alice (seed 1), bob (2) and carol (3) are custodians, M = 2; wendy (4) witnesses.
    fn policy() -> Policy {
        let person = |list: &str, name: &str, seed: u8| {
            format!(
                "[[{list}]]\nname = \"{name}\"\nssh_key = \"{}\"\n",
                key(seed).public_key().to_openssh().unwrap()
            )
        };
        let text = format!(
            "version = 1\nthreshold = 2\nsigner_fingerprint = \"{}\"\n{}{}{}{}",
            "0".repeat(64),
            person("custodians", "alice", 1),
            person("custodians", "bob", 2),
            person("custodians", "carol", 3),
            person("witnesses", "wendy", 4),
        );
        Policy::from_bytes(Path::new("policy.toml"), text.as_bytes()).unwrap()
    }

    /// The signature by `seed`'s key over `statement` in `namespace`, as PEM.
    fn signed(seed: u8, namespace: &str, statement: &str) -> Vec<u8> {
        key(seed)
            .sign(namespace, HashAlg::Sha512, statement.as_bytes())
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn the_approval_refusals() {
        let policy = policy();
        let statement = "keyrite plan digest v1\nceremony_id c\n";
        let rows: [(Vec<u8>, Result<&str, &str>); 7] = [
            (
                b"not a signature".to_vec(),
                Err("not an SSH signature (PEM preamble contains invalid data (NUL byte))"),
            ),
            (
                signed(1, "file", statement),
                Err("signed in namespace \"file\", not \"keyrite-plan\""),
            ),
            (
                signed(4, PLAN_NAMESPACE, statement),
                Err("signed by a key that is not a custodian's in the policy"),
            ),
            (
                signed(9, PLAN_NAMESPACE, statement),
                Err("signed by a key that is not a custodian's in the policy"),
            ),
            (
                signed(2, PLAN_NAMESPACE, "keyrite plan digest v1\nceremony_id d\n"),
                Err(
                    "bob's signature does not verify over this plan's digest (another plan, or a file changed since)",
                ),
            ),
            (signed(1, PLAN_NAMESPACE, statement), Ok("alice")),
            (signed(3, PLAN_NAMESPACE, statement), Ok("carol")),
        ];
        for (bytes, want) in rows {
            let got = check_approval(&policy, statement, "a.sig", &bytes)
                .map(|a| a.custodian)
                .map_err(|r| r.to_string());
            assert_eq!(got, want.map(str::to_owned).map_err(str::to_owned));
        }
        let a = check_approval(
            &policy,
            statement,
            "a.sig",
            &signed(1, PLAN_NAMESPACE, statement),
        )
        .unwrap();
        assert_eq!(a.key_fingerprint, policy.custodians[0].fingerprint());
        assert_eq!(a.file, "a.sig");
        assert_eq!(a.signature.as_bytes(), signed(1, PLAN_NAMESPACE, statement));
    }

    #[test]
    fn a_custodian_counts_once_and_too_few_approvals_are_refused() {
        let policy = policy();
        let statement = "keyrite plan digest v1\nceremony_id c\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("1.sig"),
            signed(1, PLAN_NAMESPACE, statement),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("2.sig"),
            signed(1, PLAN_NAMESPACE, statement),
        )
        .unwrap();
        std::fs::write(dir.path().join("3.sig"), signed(3, "file", statement)).unwrap();
        assert_eq!(
            verify(&policy, statement, dir.path())
                .unwrap_err()
                .to_string(),
            "the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; 2.sig does not count: a second approval by alice; 3.sig does not count: signed in namespace \"file\", not \"keyrite-plan\""
        );
        std::fs::write(
            dir.path().join("4.sig"),
            signed(2, PLAN_NAMESPACE, statement),
        )
        .unwrap();
        let quorum = verify(&policy, statement, dir.path()).unwrap();
        let approved: Vec<_> = quorum
            .approvals
            .iter()
            .map(|a| a.custodian.as_str())
            .collect();
        assert_eq!(
            (approved, quorum.missing),
            (vec!["alice", "bob"], vec!["carol".to_owned()])
        );
        assert_eq!(quorum.rejected.len(), 2);
    }

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
