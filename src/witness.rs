//! Witnesses: independent people who co-sign a sealed transcript with their own SSH keys, so
//! the record does not rest on the token alone. A witness signs, in namespace
//! `keyrite-witness`, the chain head at the seal line — the SHA-256 (hex) of the seal line —
//! and keyrite appends the signature as a witness line, chained like every line.
//!
//! The transcript is opened once, never through a symbolic link, and locked; it is verified,
//! and the witness line appended, through that one open file, so the line goes into the file
//! that was verified whatever its path names meanwhile. It trusts the policy for who the
//! witnesses are and `--signer` for whose seal they witness.

use std::fs::File;
use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ssh_key::{HashAlg, LineEnding, SshSig};

use crate::ceremony::policy::Policy;
use crate::transcript::entry::WitnessData;
use crate::transcript::{Entry, Transcript, WITNESS_NAMESPACE, witness_message};
use crate::verify::{self, Verdict};

/// How `ssh-keygen -Y sign` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshKeygenFailure {
    /// It could not be started.
    #[error("{0}")]
    Spawn(#[source] std::io::Error),
    /// Waiting for it failed.
    #[error("{0}")]
    Wait(#[source] std::io::Error),
    /// It exited with an error.
    #[error("{stderr}")]
    Refused {
        /// What it printed on standard error, trimmed.
        stderr: String,
    },
    /// The message could not be written to it.
    #[error("cannot give it the message: {0}")]
    Stdin(#[source] std::io::Error),
    /// It had no standard input.
    #[error("it has no standard input")]
    NoStdin,
    /// Its output is not an SSH signature.
    #[error("it printed no SSH signature: {0}")]
    NoSignature(#[source] ssh_key::Error),
}

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
    #[error("{} is not an SSH signature: {source}", path.display())]
    NotSignature {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        #[source]
        source: ssh_key::Error,
    },
    /// Signed in another namespace.
    #[error("the signature is in namespace {namespace:?}, not \"keyrite-witness\"")]
    Namespace {
        /// The namespace used.
        namespace: String,
    },
    /// The policy names no witness at all.
    #[error("the policy lists no witnesses ([[witnesses]]), so it takes no witness signature")]
    NoWitnesses,
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
    #[error("ssh-keygen -Y sign failed: {source}")]
    SshKeygen {
        /// What went wrong.
        #[source]
        source: SshKeygenFailure,
    },
    /// The transcript's path is a symbolic link.
    #[error(
        "{} is a symbolic link: keyrite reads and appends to a transcript only by its own name; name the file itself",
        path.display()
    )]
    Symlink {
        /// The path.
        path: PathBuf,
    },
    /// The transcript is not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The transcript could not be locked to append to it.
    #[error("cannot read {}: cannot lock it: {source}", path.display())]
    Lock {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The policy naming the witnesses was refused.
    #[error(transparent)]
    Policy(#[from] crate::ceremony::Error),
    /// The transcript could not be verified at all.
    #[error(transparent)]
    Verify(#[from] crate::verify::Error),
    /// The witness line could not be appended.
    #[error(transparent)]
    Transcript(#[from] crate::transcript::Error),
    /// The transcript changed after it was verified.
    #[error(
        "{} changed while it was being verified (written by something that does not take its lock); nothing was appended: run the command again",
        path.display()
    )]
    Changed {
        /// The path.
        path: PathBuf,
    },
}

impl Error {
    /// Whether this is a usage error (exit 2): a file named cannot be read, or the policy does
    /// not parse. A transcript or a signature that does not hold up (a transcript reached by a
    /// symbolic link or not a regular file among them), and `ssh-keygen` failing, are not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Policy(e) => e.is_usage(),
            Error::Verify(e) => e.is_usage(),
            Error::Transcript(e) => e.is_usage(),
            Error::Read { .. } => true,
            Error::Symlink { .. }
            | Error::NotRegular { .. }
            | Error::NotSealed { .. }
            | Error::NotSignature { .. }
            | Error::Namespace { .. }
            | Error::NotWitness { .. }
            | Error::NoWitnesses
            | Error::BadSignature { .. }
            | Error::AlreadySigned { .. }
            | Error::SshKeygen { .. }
            | Error::Lock { .. }
            | Error::Changed { .. } => false,
        }
    }
}

/// The message a witness signs for `transcript`, after checking it is intact and sealed.
pub fn message(transcript: &Path, signer: &Path) -> Result<String, Error> {
    let file = open(transcript, Access::Read)?;
    let sealed = sealed(file, transcript, signer, None)?;
    Ok(witness_message(&sealed.seal_line))
}

/// How the transcript is opened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// To read it.
    Read,
    /// To verify it and append a witness line, holding its lock.
    Append,
}

/// Opens the transcript once: never through a symbolic link (`O_NOFOLLOW`), never waiting on
/// a FIFO (`O_NONBLOCK`), a regular file only. To append, it is opened `O_APPEND` and locked
/// (`flock`), held until the line is appended, so two witnesses never chain from the same last
/// line.
fn open(transcript: &Path, access: Access) -> Result<File, Error> {
    use rustix::fs::{FlockOperation, Mode, OFlags};
    let read_err = |source: std::io::Error| Error::Read {
        path: transcript.to_path_buf(),
        source,
    };
    let flags = match access {
        Access::Read => OFlags::RDONLY,
        Access::Append => OFlags::RDWR | OFlags::APPEND,
    };
    let fd = rustix::fs::open(
        transcript,
        flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        let link = std::fs::symlink_metadata(transcript).is_ok_and(|m| m.file_type().is_symlink());
        if e == rustix::io::Errno::LOOP && link {
            Error::Symlink {
                path: transcript.to_path_buf(),
            }
        } else {
            read_err(std::io::Error::from(e))
        }
    })?;
    let file = File::from(fd);
    let metadata = file.metadata().map_err(read_err)?;
    if !metadata.is_file() {
        return Err(Error::NotRegular {
            path: transcript.to_path_buf(),
        });
    }
    if access == Access::Append {
        rustix::fs::flock(&file, FlockOperation::LockExclusive).map_err(|e| Error::Lock {
            path: transcript.to_path_buf(),
            source: std::io::Error::from(e),
        })?;
    }
    Ok(file)
}

/// A transcript verified as intact and sealed through its open file.
struct Sealed {
    file: File,
    report: verify::Report,
    seal_line: Vec<u8>,
    /// How many bytes were verified: the file's length then.
    verified_len: u64,
}

/// The policy, and the transcript opened to append a witness line, once verified as sealed by
/// `signer` under that policy.
fn sealed_for_witness(
    transcript: &Path,
    signer: &Path,
    policy: &Path,
) -> Result<(Policy, Sealed), Error> {
    let loaded = Policy::load(policy)?;
    let sealed = sealed(
        open(transcript, Access::Append)?,
        transcript,
        signer,
        Some(policy),
    )?;
    Ok((loaded, sealed))
}

fn sealed(
    file: File,
    transcript: &Path,
    signer: &Path,
    policy: Option<&Path>,
) -> Result<Sealed, Error> {
    let read_err = |e: std::io::Error| Error::Read {
        path: transcript.to_path_buf(),
        source: e,
    };
    // The same open file (a duplicate descriptor shares its offset): read to its end.
    let reader = file.try_clone().map_err(read_err)?;
    let report = verify::verify_open(
        reader,
        &verify::Inputs {
            transcript: transcript.to_path_buf(),
            signer: signer.to_path_buf(),
            policy: policy.map(Path::to_path_buf),
            plan: None,
            outputs: None,
            keep_lines: false,
        },
    )?;
    let verified_len = (&file).stream_position().map_err(read_err)?;
    let not_sealed = |summary: String| Error::NotSealed {
        path: transcript.to_path_buf(),
        summary,
    };
    if report.verdict == Verdict::Invalid {
        return Err(not_sealed(report.summary.clone()));
    }
    let Some(seal_line) = report.seal_line.clone() else {
        return Err(not_sealed(report.summary.clone()));
    };
    Ok(Sealed {
        file,
        report,
        seal_line,
        verified_len,
    })
}

/// Appends a witness line for `signature_file` (made with `ssh-keygen -Y sign -n
/// keyrite-witness` over [`message`]), after checking the transcript is intact and sealed by
/// `signer`, and the signature is by a witness of the policy over its seal.
pub fn add(
    transcript: &Path,
    signer: &Path,
    policy: &Path,
    signature_file: &Path,
) -> Result<Witnessed, Error> {
    let (policy_loaded, sealed) = sealed_for_witness(transcript, signer, policy)?;
    let text =
        crate::input::read(signature_file, crate::input::MAX_SMALL).map_err(|e| Error::Read {
            path: signature_file.to_path_buf(),
            source: e,
        })?;
    let sig = SshSig::from_pem(&text).map_err(|e| Error::NotSignature {
        path: signature_file.to_path_buf(),
        source: e,
    })?;
    append(sealed, transcript, &policy_loaded, &sig)
}

/// Checks `sig` is a witness's of the policy over the verified transcript's seal, then appends
/// its witness line through the open file that was verified.
fn append(
    sealed: Sealed,
    transcript: &Path,
    policy: &Policy,
    sig: &SshSig,
) -> Result<Witnessed, Error> {
    if sig.namespace() != WITNESS_NAMESPACE {
        return Err(Error::Namespace {
            namespace: sig.namespace().to_owned(),
        });
    }
    if policy.witnesses.is_empty() {
        return Err(Error::NoWitnesses);
    }
    let witness = policy
        .witnesses
        .iter()
        .find(|w| w.key.key_data() == sig.public_key())
        .ok_or_else(|| Error::NotWitness {
            fingerprint: sig.public_key().fingerprint(HashAlg::Sha256).to_string(),
        })?;
    let message = witness_message(&sealed.seal_line);
    witness
        .key
        .verify(WITNESS_NAMESPACE, message.as_bytes(), sig)
        .map_err(|_| Error::BadSignature {
            name: witness.name.clone(),
        })?;
    if sealed
        .report
        .witnesses
        .iter()
        .any(|w| w.name == witness.name)
    {
        return Err(Error::AlreadySigned {
            name: witness.name.clone(),
        });
    }
    crate::fault::point("witness-verified");
    // Verified under the lock: the chain continues from its last line, unless something that
    // ignores the lock wrote to the file meanwhile.
    let len = sealed
        .file
        .metadata()
        .map_err(|e| Error::Read {
            path: transcript.to_path_buf(),
            source: e,
        })?
        .len();
    if len != sealed.verified_len {
        return Err(Error::Changed {
            path: transcript.to_path_buf(),
        });
    }
    let mut t = Transcript::reopen(
        sealed.file,
        transcript,
        &sealed.report.last_line,
        sealed.report.line_count as u64,
    );
    t.append(
        &witness.name,
        &Entry::Witness(WitnessData {
            name: witness.name.clone(),
            key_fingerprint: witness.fingerprint(),
            message: message.trim_end().to_owned(),
            signature: sig.to_pem(LineEnding::LF).unwrap_or_default(),
        }),
    )?;
    Ok(Witnessed {
        name: witness.name.clone(),
        chain_head: message.trim_end().to_owned(),
    })
}

/// A witness line appended.
#[derive(Debug)]
pub struct Witnessed {
    /// The witness's name, as the policy gives it.
    pub name: String,
    /// What they signed: the chain head at the seal (hex), as `ceremony run` showed it.
    pub chain_head: String,
}

/// Signs the transcript's seal with `ssh-keygen -Y sign` and the witness's key (ssh-keygen
/// handles passphrases, agents and hardware keys), then appends it as [`add`] does. The message
/// goes to ssh-keygen on its standard input and the signature comes back on its standard
/// output: no file is written anywhere else than the transcript.
pub fn sign(
    transcript: &Path,
    signer: &Path,
    policy: &Path,
    ssh_key: &Path,
) -> Result<Witnessed, Error> {
    let (policy_loaded, sealed) = sealed_for_witness(transcript, signer, policy)?;
    let message = witness_message(&sealed.seal_line);
    let failed = |source: SshKeygenFailure| Error::SshKeygen { source };
    let mut child = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", WITNESS_NAMESPACE, "-f"])
        .arg(ssh_key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(SshKeygenFailure::Spawn(e)))?;
    // The message is 65 bytes, far less than a pipe holds: written whole before ssh-keygen reads.
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(message.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| failed(SshKeygenFailure::Wait(e)))?;
    if !out.status.success() {
        return Err(failed(SshKeygenFailure::Refused {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }));
    }
    match written {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(failed(SshKeygenFailure::Stdin(e))),
        None => return Err(failed(SshKeygenFailure::NoStdin)),
    }
    let sig =
        SshSig::from_pem(&out.stdout).map_err(|e| failed(SshKeygenFailure::NoSignature(e)))?;
    append(sealed, transcript, &policy_loaded, &sig)
}
