//! Witnesses: independent people who co-sign a sealed transcript with their own SSH keys, so
//! the record does not rest on the token alone. A witness signs, in namespace
//! `keyrite-witness`, the chain head at the seal line — the SHA-256 (hex) of the seal line —
//! and keyrite appends the signature as a witness line, chained like every line.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use ssh_key::{HashAlg, LineEnding, SshSig};

use crate::ceremony::policy::Policy;
use crate::transcript::{Transcript, WITNESS_NAMESPACE, witness_message};
use crate::verify::{self, Verdict};

/// Why a witness signature was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transcript is not an intact, sealed record.
    #[error("{} is not an intact sealed transcript: {summary}", path.display())]
    NotSealed {
        /// The transcript.
        path: PathBuf,
        /// What verify said.
        summary: String,
    },
    /// The signature file is not an SSH signature.
    #[error("{} is not an SSH signature: {reason}", path.display())]
    NotSignature {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Signed in another namespace.
    #[error("the signature is in namespace {namespace:?}, not \"keyrite-witness\"")]
    Namespace {
        /// The namespace used.
        namespace: String,
    },
    /// The key is not a witness's.
    #[error("the key {fingerprint} is not a witness's in the policy")]
    NotWitness {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The signature does not cover this transcript's seal.
    #[error("{name}'s signature does not verify over this transcript's seal")]
    BadSignature {
        /// The witness.
        name: String,
    },
    /// This witness already signed.
    #[error("{name} has already witnessed this transcript")]
    AlreadySigned {
        /// The witness.
        name: String,
    },
    /// `ssh-keygen` failed.
    #[error("ssh-keygen -Y sign failed: {reason}")]
    SshKeygen {
        /// What it said.
        reason: String,
    },
}

/// The message a witness signs for `transcript`, after checking it is intact and sealed.
pub fn message(transcript: &Path, signer: &Path) -> Result<String, crate::Error> {
    let (_, seal_line) = sealed(transcript, signer, None)?;
    Ok(witness_message(&seal_line))
}

fn sealed(
    transcript: &Path,
    signer: &Path,
    policy: Option<&Path>,
) -> Result<(verify::Report, Vec<u8>), crate::Error> {
    let report = verify::verify(&verify::Inputs {
        transcript: transcript.to_path_buf(),
        signer: signer.to_path_buf(),
        policy: policy.map(Path::to_path_buf),
        plan: None,
        outputs: None,
        keep_lines: false,
    })?;
    let not_sealed = |summary: String| Error::NotSealed {
        path: transcript.to_path_buf(),
        summary,
    };
    if report.verdict == Verdict::Invalid {
        return Err(not_sealed(report.summary.clone()).into());
    }
    let Some(seal_line) = report.seal_line.clone() else {
        return Err(not_sealed(report.summary.clone()).into());
    };
    Ok((report, seal_line))
}

/// Appends a witness line for `signature_file` (made with `ssh-keygen -Y sign -n
/// keyrite-witness` over [`message`]), after checking the transcript is intact and sealed by
/// `signer`, and the signature is by a witness of the policy over its seal. Returns the name.
pub fn add(
    transcript: &Path,
    signer: &Path,
    policy: &Path,
    signature_file: &Path,
) -> Result<String, crate::Error> {
    let policy_loaded = Policy::load(policy)?;
    // One witness at a time: held until the line is appended, so two never chain from the
    // same last line.
    let lock = std::fs::File::open(transcript).map_err(|e| crate::ceremony::Error::Read {
        path: transcript.to_path_buf(),
        reason: e.to_string(),
    })?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
        crate::ceremony::Error::Read {
            path: transcript.to_path_buf(),
            reason: format!("cannot lock it: {e}"),
        }
    })?;
    let (report, seal_line) = sealed(transcript, signer, Some(policy))?;
    let text = crate::input::read(signature_file, crate::input::MAX_SMALL).map_err(|e| {
        crate::ceremony::Error::Read {
            path: signature_file.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    let sig = SshSig::from_pem(&text).map_err(|e| Error::NotSignature {
        path: signature_file.to_path_buf(),
        reason: e.to_string(),
    })?;
    if sig.namespace() != WITNESS_NAMESPACE {
        return Err(Error::Namespace {
            namespace: sig.namespace().to_owned(),
        }
        .into());
    }
    let witness = policy_loaded
        .witnesses
        .iter()
        .find(|w| w.key.key_data() == sig.public_key())
        .ok_or_else(|| Error::NotWitness {
            fingerprint: sig.public_key().fingerprint(HashAlg::Sha256).to_string(),
        })?;
    let message = witness_message(&seal_line);
    witness
        .key
        .verify(WITNESS_NAMESPACE, message.as_bytes(), &sig)
        .map_err(|_| Error::BadSignature {
            name: witness.name.clone(),
        })?;
    if report.witnesses.iter().any(|w| w.name == witness.name) {
        return Err(Error::AlreadySigned {
            name: witness.name.clone(),
        }
        .into());
    }
    // Verified under the lock just now: the chain continues from its last line.
    let mut t = Transcript::reopen(transcript, &report.last_line, report.line_count as u64)?;
    t.append(
        "witness",
        &witness.name,
        json!({
            "name": witness.name,
            "key_fingerprint": witness.fingerprint(),
            "message": message.trim_end(),
            "signature": sig.to_pem(LineEnding::LF).unwrap_or_default(),
        }),
    )?;
    Ok(witness.name.clone())
}

/// Signs the transcript's seal with `ssh-keygen -Y sign` and the witness's key (ssh-keygen
/// handles passphrases, agents and hardware keys), then appends it as [`add`] does.
pub fn sign(
    transcript: &Path,
    signer: &Path,
    policy: &Path,
    ssh_key: &Path,
) -> Result<String, crate::Error> {
    let message = message(transcript, signer)?;
    let dir = tempfile::tempdir().map_err(|e| Error::SshKeygen {
        reason: e.to_string(),
    })?;
    let file = dir.path().join("seal.head");
    std::fs::write(&file, &message).map_err(|e| Error::SshKeygen {
        reason: e.to_string(),
    })?;
    let out = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", WITNESS_NAMESPACE, "-f"])
        .arg(ssh_key)
        .arg(&file)
        .output()
        .map_err(|e| Error::SshKeygen {
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::SshKeygen {
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
        .into());
    }
    add(
        transcript,
        signer,
        policy,
        &dir.path().join("seal.head.sig"),
    )
}
