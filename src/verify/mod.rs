//! `keyrite verify`: replays a transcript without an HSM and without a network, and says, check
//! by check, whether everything happened as planned, by whom, with which keys, and that nothing
//! was altered.
//!
//! It trusts only what the auditor supplies: the signer's public key (never taken from the
//! transcript), and optionally the policy, the plan and the output files. Everything in the
//! transcript is untrusted input.
//!
//! This file holds the API (the inputs, the report and its checks, the entry points); one pass
//! over the lines (`stream`) feeds each check family its file:
//!
//! - `chain`: each line's format and its link to the one before, and the seal;
//! - `structure`: known steps only, each line's data its step's [`Entry`](crate::transcript::Entry),
//!   where finish, failure, resume and restore lines may stand;
//! - `policy`: the policy, the quorum of approvals and the PIN shares;
//! - `steps`: the plan against its digest, and the steps run against the plan's;
//! - `kcv`: one KCV and one full check value per key label;
//! - `outputs`: the output files against the transcript (`--outputs`);
//! - `witnesses`: the witness signatures over the seal;
//! - `recorded`: facts an earlier, verified transcript carries into another command;
//! - [`report`]: the HTML audit report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::ceremony::policy::Policy;
use crate::signer_key::SignerKey;

pub mod attestations;
mod chain;
mod head;
mod kcv;
mod outputs;
mod parsed;
mod policy;
mod recorded;
pub mod report;
mod steps;
mod stream;
mod structure;
mod witnesses;

pub use chain::{Encoding, LineError, MAX_DEPTH, check_line, parse_line};
pub use outputs::Unfound;
pub use parsed::Line;
pub use recorded::{RecordedKcv, RecordedOutput, recorded_kcv, recorded_output};
pub use structure::KNOWN_STEPS;
pub use witnesses::Witness;

use stream::{Batch, Stream, read_batches};

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// It passed.
    Passed {
        /// What was found, in a few words.
        detail: String,
    },
    /// It failed.
    Failed {
        /// Why.
        reason: String,
        /// The line it concerns, if one: its number from 1, as editors, `sed -n Np` and
        /// `grep -n` count (the transcript's `seq` counts from 0).
        line: Option<usize>,
    },
    /// It could not run.
    NotChecked {
        /// The input it needs.
        missing: String,
    },
}

/// One named check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Its name.
    pub name: &'static str,
    /// What it found.
    #[serde(flatten)]
    pub status: Status,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sealed, completed, and every check that ran passed.
    Verified,
    /// An intact record of a ceremony that failed, or that did not finish (no seal).
    Incomplete,
    /// Something was altered or does not verify.
    Invalid,
    /// Sealed, completed, and every check that ran passed, but verified without a policy
    /// (`--no-policy`): nothing says a quorum approved it.
    NotApproved,
}

impl Verdict {
    /// The documented exit code: 0, 3, 1 or 4.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Verified => 0,
            Verdict::Incomplete => 3,
            Verdict::Invalid => 1,
            Verdict::NotApproved => 4,
        }
    }
}

/// Everything `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Its exit code.
    pub exit_code: u8,
    /// What the verdict means, in one sentence.
    pub summary: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The witnesses.
    pub witnesses: Vec<Witness>,
    /// The transcript's lines, read (for reports), when [`Inputs::keep_lines`] asked for
    /// them; a line cut short at the end of the input is an empty one.
    #[serde(skip)]
    pub lines: Vec<Line>,
    /// How many lines the transcript has.
    #[serde(skip)]
    pub line_count: usize,
    /// The exact bytes of the first seal line, if there is one: witnesses sign its digest.
    #[serde(skip)]
    pub seal_line: Option<Vec<u8>>,
    /// The exact bytes of the last line (without its newline).
    #[serde(skip)]
    pub last_line: Vec<u8>,
    /// The policy given with `--policy`, as checked (for reports).
    #[serde(skip)]
    pub policy: Option<Policy>,
    /// The SHA-256 (hex) of the `--signer` key's SubjectPublicKeyInfo DER (for reports).
    #[serde(skip)]
    pub signer_fingerprint: String,
    /// The SHA-256 (hex) of the transcript's bytes, as read and verified.
    #[serde(skip)]
    pub sha256: String,
    /// The plan digest the plan line records: the SHA-256 (hex) of the statement the
    /// custodians signed.
    #[serde(skip)]
    pub plan_digest: Option<String>,
    /// Each key label the transcript names, with the KCV its first line gives.
    #[serde(skip)]
    pub kcvs: BTreeMap<String, String>,
    /// What each wrap step's attestation line proved, checked again (for reports).
    #[serde(skip)]
    pub attestations: Vec<attestations::StepAttestation>,
}

impl Report {
    /// The chain head at the first seal line (hex): what witnesses sign.
    pub fn seal_sha256(&self) -> Option<String> {
        self.seal_line
            .as_deref()
            .map(|seal| hex::encode(Sha256::digest(seal)))
    }
}

/// What the auditor supplies.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The transcript.
    pub transcript: PathBuf,
    /// The signer's public key (PEM): the trust anchor.
    pub signer: PathBuf,
    /// The policy.
    pub policy: Option<PathBuf>,
    /// The plan.
    pub plan: Option<PathBuf>,
    /// The directory holding the output directories.
    pub outputs: Option<PathBuf>,
    /// Keep every parsed line in [`Report::lines`] (for the HTML report): memory then grows
    /// with the transcript.
    pub keep_lines: bool,
}

/// Inputs that cannot be used at all (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why not.
        reason: ReadProblem,
    },
    /// The signer file is not a signer's public key.
    #[error("{} is not a ceremony signer's public key: {reason}", path.display())]
    Signer {
        /// The path.
        path: PathBuf,
        /// What the parser said.
        reason: crate::signer_key::KeyError,
    },
    /// The policy file is invalid.
    #[error(transparent)]
    Ceremony(#[from] crate::ceremony::Error),
    /// An earlier transcript does not verify.
    #[error("{} does not verify: {summary}", path.display())]
    NotVerified {
        /// The transcript.
        path: PathBuf,
        /// What verify said.
        summary: String,
    },
    /// An output directory is not one an earlier transcript records.
    #[error("{} is not an output {} records: {reason}", dir.display(), transcript.display())]
    NotRecorded {
        /// The directory.
        dir: PathBuf,
        /// The transcript.
        transcript: PathBuf,
        /// What does not match.
        reason: Unrecorded,
    },
    /// `--outputs` names a directory under which none of the recorded output directories is:
    /// a wrong path, not altered outputs.
    #[error("{0}")]
    NoOutputs(Box<Unfound>),
    /// An earlier transcript names no token signer.
    #[error("{} names no token signer (its token line has no signer_label)", path.display())]
    NoSignerLabel {
        /// The transcript.
        path: PathBuf,
    },
    /// An earlier transcript records no KCV for the key.
    #[error("{} records no KCV for a key labelled {label:?}", path.display())]
    NoKcv {
        /// The transcript.
        path: PathBuf,
        /// The key label.
        label: String,
    },
}

impl Error {
    /// Whether this is a usage error where another command checks a record (a rewrap's
    /// `--from-transcript`, a restore's record, a witness's transcript): a file named cannot be
    /// read, the signer is not a public key, the policy does not parse, `--outputs` names no
    /// recorded output. A record that does not verify, or does not record what it must, is not.
    /// (`keyrite verify` exits 2 for every one of these: its 1 means INVALID.)
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Ceremony(e) => e.is_usage(),
            Error::Read { .. } | Error::Signer { .. } | Error::NoOutputs(_) => true,
            Error::NotVerified { .. }
            | Error::NotRecorded { .. }
            | Error::NoSignerLabel { .. }
            | Error::NoKcv { .. } => false,
        }
    }
}

/// Why a file `verify` reads could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadProblem {
    /// What the system said.
    #[error("{0}")]
    Io(std::io::Error),
    /// A transcript line is longer than keyrite reads.
    #[error(
        "line {line} is larger than {}, the most keyrite reads of one transcript line",
        crate::input::describe(*limit)
    )]
    LongLine {
        /// The line, from 1.
        line: usize,
        /// The most keyrite reads of one line, in bytes.
        limit: u64,
    },
    /// The thread reading the transcript stopped before its end.
    #[error("the thread reading it stopped")]
    ReaderStopped,
}

/// Why an output directory is not one an earlier transcript records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unrecorded {
    /// No wrap the transcript records wrote its manifest.
    #[error("no wrap it records wrote this manifest.json")]
    NoManifest,
    /// A file in it is not the one the transcript records.
    #[error("{0} is not the file the transcript records")]
    OtherFile(String),
    /// A file in it is in no record.
    #[error("{0} is in no record of this output")]
    ExtraFile(String),
    /// The transcript has no token line.
    #[error("it records no token line")]
    NoToken,
}

/// A failed check; `index` is the 0-based index of the line it concerns, shown from 1.
fn failed(name: &'static str, reason: impl Into<String>, index: Option<usize>) -> Check {
    Check {
        name,
        status: Status::Failed {
            reason: reason.into(),
            line: index.map(line_number),
        },
    }
}

/// The number keyrite shows for the line at 0-based `index`: from 1, as editors, `sed -n Np`
/// and `grep -n` count.
pub(super) fn line_number(index: usize) -> usize {
    index + 1
}

fn passed(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Passed {
            detail: detail.into(),
        },
    }
}

fn not_checked(name: &'static str, missing: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::NotChecked {
            missing: missing.into(),
        },
    }
}

/// The check `name`, which reads the `step` line, when that line's data does not fit its step:
/// the structure check fails it, saying why.
fn unfit(name: &'static str, step: &str) -> Check {
    not_checked(name, format!("a {step} line whose data fits a {step} line"))
}

fn read(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    crate::input::read(path, limit).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        reason: ReadProblem::Io(e),
    })
}

/// The auditor's trust anchor: the ceremony signer's public key (ECDSA P-256 or RSA-PSS 3072).
#[derive(Debug, Clone)]
pub struct Signer {
    key: SignerKey,
    fingerprint: String,
}

impl Signer {
    /// Parses the signer's public key, as `keyrite token signer export` prints it (PEM), from
    /// the bytes of the file at `path`.
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<Self, Error> {
        let signer_err = |reason: crate::signer_key::KeyError| Error::Signer {
            path: path.to_path_buf(),
            reason,
        };
        let key = SignerKey::from_pem(pem).map_err(&signer_err)?;
        let fingerprint = key.fingerprint().map_err(signer_err)?;
        Ok(Signer { key, fingerprint })
    }

    /// The SHA-256 (hex) of its SubjectPublicKeyInfo DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Verifies a transcript, reading it line by line: memory stays flat however many lines it has
/// (no line may be longer than 16 MiB).
pub fn verify(inputs: &Inputs) -> Result<Report, Error> {
    let file = std::fs::File::open(&inputs.transcript).map_err(|e| Error::Read {
        path: inputs.transcript.clone(),
        reason: ReadProblem::Io(e),
    })?;
    verify_open(file, inputs)
}

/// Verifies the transcript read from `file`, from where its offset is to its end, as [`verify`]
/// does; `inputs.transcript` only names it. `witness` verifies and appends through one open file.
pub fn verify_open(file: std::fs::File, inputs: &Inputs) -> Result<Report, Error> {
    let signer = Signer::from_pem(
        &inputs.signer,
        &read(&inputs.signer, crate::input::MAX_SMALL)?,
    )?;
    let policy = inputs.policy.as_deref().map(Policy::load).transpose()?;
    let mut stream = Stream::new(
        inputs.plan.as_deref(),
        inputs.outputs.as_deref(),
        inputs.keep_lines,
    );
    // One thread reads the lines and hashes them while this one checks them: each byte is
    // hashed once, beside the parsing rather than before it.
    let mut last = Vec::new();
    let (cut_short, sha256) = std::thread::scope(|scope| {
        let (batches, received) = std::sync::mpsc::sync_channel::<Batch>(4);
        let reader = scope.spawn(|| read_batches(file, &inputs.transcript, batches));
        for batch in received {
            for &(start, end, digest) in &batch.lines {
                stream.line(&batch.bytes[start..end], digest);
            }
            if let Some(&(start, end, _)) = batch.lines.last() {
                last.clear();
                last.extend_from_slice(&batch.bytes[start..end]);
            }
        }
        reader.join().unwrap_or_else(|_| {
            Err(Error::Read {
                path: inputs.transcript.clone(),
                reason: ReadProblem::ReaderStopped,
            })
        })
    })?;
    let unfound = stream.outputs_unfound();
    let report = stream.finish(cut_short, &last, &signer, policy, sha256);
    // A wrong --outputs is a usage error, unless the transcript is invalid anyway.
    match unfound {
        Some(unfound) if report.verdict != Verdict::Invalid => {
            Err(Error::NoOutputs(Box::new(unfound)))
        }
        _ => Ok(report),
    }
}

/// Verifies the transcript `bytes` once [`verify`] has read its inputs: under `signer`, with
/// the policy, the plan (read from its path, with the files it names) and the output files (read
/// from their directory) where given. The report keeps every parsed line.
pub fn verify_transcript(
    bytes: &[u8],
    signer: &Signer,
    policy: Option<Policy>,
    plan: Option<&Path>,
    outputs: Option<&Path>,
) -> Report {
    let mut stream = Stream::new(plan, outputs, true);
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // What follows the last newline: nothing, or a line cut short.
    let cut_short = lines.pop().is_some_and(|rest| !rest.is_empty());
    for line in &lines {
        stream.line(line, Sha256::digest(line).into());
    }
    let last = lines.last().copied().unwrap_or_default();
    let sha256 = hex::encode(Sha256::digest(bytes));
    stream.finish(cut_short, last, signer, policy, sha256)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_transcript_line_is_read_up_to_16_mib_and_a_signer_key_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let transcript = dir.path().join("t.jsonl");
        let signer = dir.path().join("signer.pem");
        // One line of zeros, one byte longer than a line may be.
        std::fs::File::create(&transcript)
            .unwrap()
            .set_len(crate::input::MAX_TRANSCRIPT_LINE + 1)
            .unwrap();
        std::fs::File::create(&signer)
            .unwrap()
            .set_len(crate::input::MAX_SMALL + 1)
            .unwrap();
        let inputs = Inputs {
            transcript: transcript.clone(),
            signer: signer.clone(),
            policy: None,
            plan: None,
            outputs: None,
            keep_lines: false,
        };
        assert_eq!(
            verify(&inputs).unwrap_err().to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                signer.display()
            )
        );
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        let key = p256::SecretKey::from_slice(&[7u8; 32])
            .unwrap()
            .public_key();
        std::fs::write(&signer, key.to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
        assert_eq!(
            verify(&inputs).unwrap_err().to_string(),
            format!(
                "cannot read {}: line 1 is larger than 16 MiB, the most keyrite reads of one transcript line",
                transcript.display()
            )
        );
        // A whole transcript may be longer: it is read a line at a time.
        let line = [vec![b' '; 1 << 20], vec![b'\n']].concat();
        std::fs::write(&transcript, line.repeat(17)).unwrap();
        let report = verify(&inputs).unwrap();
        assert_eq!(report.line_count, 17);
        assert_eq!(report.verdict, Verdict::Invalid);
    }
}
