//! Facts an earlier transcript carries into another command (`rewrap --from-transcript`,
//! `restore --from-transcript`): the KCV it recorded for a key, and the wrap that wrote an
//! output directory.
//!
//! It believes a transcript only once it verifies — sealed, completed and intact — under the
//! signer key the caller gives; the caller compares that signer with the token it acts on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::parsed::SealHead;
use super::{Error, Inputs, Report, Unrecorded, Verdict, verify};
use crate::transcript::Entry;
use crate::transcript::entry::Key;
/// A key as an earlier, verified transcript records its generation, with the token signer that
/// sealed that transcript: the record is believed only on the token whose signer this is.
#[derive(Debug)]
pub struct RecordedKcv {
    /// The KCV.
    pub kcv: String,
    /// How it was computed (`aes-ecb-zero-3`, `sha256-3`, `spki-sha256`…).
    pub kcv_method: String,
    /// The key's `CKA_ID`, hex.
    pub id: String,
    /// Its full check value, where the record has one.
    pub check_sha256: Option<String>,
    /// The label of the signer that sealed the transcript, as its `token` line records it.
    pub signer_label: crate::spec::KeyLabel,
    /// The SHA-256 (hex) of that signer's SubjectPublicKeyInfo: the `--signer` key verify used.
    pub signer_fingerprint: String,
}

/// An earlier transcript that carries facts into this run, verified under `signer` with every
/// line kept: it must be sealed, completed and intact.
fn verified(transcript: &Path, signer: &Path) -> Result<Report, Error> {
    let report = verify(&Inputs {
        transcript: transcript.to_path_buf(),
        signer: signer.to_path_buf(),
        policy: None,
        plan: None,
        outputs: None,
        keep_lines: true,
    })?;
    if report.verdict != Verdict::NotApproved {
        return Err(Error::NotVerified {
            path: transcript.to_path_buf(),
            summary: report.summary,
        });
    }
    Ok(report)
}

/// The sealed record an output directory was found in, as [`recorded_output`] checked it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedOutput {
    /// The transcript.
    pub transcript: PathBuf,
    /// The SHA-256 (hex) of its bytes, as verified.
    pub sha256: String,
    /// The chain head its seal signs (the seal line's `prev`).
    pub chain_head: String,
    /// The SHA-256 (hex) of the SubjectPublicKeyInfo of the signer that sealed it.
    pub signer_fingerprint: String,
    /// The label of the token that ran it, as its token line records it.
    pub token_label: String,
    /// That token's serial, as its token line records it.
    pub token_serial: String,
}

/// Checks that the output directory `dir`, whose `manifest.json` was read with the SHA-256
/// `manifest_sha256` and which held the files `found` (name to SHA-256, hex), is one an earlier
/// transcript records as written: `transcript` verifies under `signer`, one of its
/// `wrapped`/`rewrapped` lines records that manifest, and `found` is exactly the files that line
/// records, with their digests. A directory anyone
/// assembled — their own key wrapped under the same public key, with a manifest to match — is in
/// no sealed record. Returns the record, with the token its token line names.
pub fn recorded_output(
    transcript: &Path,
    signer: &Path,
    dir: &Path,
    manifest_sha256: &str,
    found: &BTreeMap<String, String>,
) -> Result<RecordedOutput, Error> {
    let report = verified(transcript, signer)?;
    let refuse = |reason: Unrecorded| Error::NotRecorded {
        dir: dir.to_path_buf(),
        transcript: transcript.to_path_buf(),
        reason,
    };
    let recorded = entries(&report)
        .find_map(|e| match e {
            Entry::Wrapped(w) | Entry::Rewrapped(w)
                if w.files.get("manifest.json").map(String::as_str) == Some(manifest_sha256) =>
            {
                Some(&w.files)
            }
            _ => None,
        })
        .ok_or_else(|| refuse(Unrecorded::NoManifest))?;
    for (name, digest) in recorded {
        if found.get(name) != Some(digest) {
            return Err(refuse(Unrecorded::OtherFile(name.clone())));
        }
    }
    if let Some(extra) = found.keys().find(|name| !recorded.contains_key(*name)) {
        return Err(refuse(Unrecorded::ExtraFile(extra.clone())));
    }
    let token = entries(&report)
        .find_map(|e| match e {
            Entry::Token(t) => Some(t),
            _ => None,
        })
        .ok_or_else(|| refuse(Unrecorded::NoToken))?;
    let chain_head = report
        .seal_line
        .as_deref()
        .and_then(|seal| SealHead::parse(seal).prev)
        .unwrap_or_default();
    Ok(RecordedOutput {
        transcript: transcript.to_path_buf(),
        sha256: report.sha256.clone(),
        chain_head,
        signer_fingerprint: report.signer_fingerprint.clone(),
        token_label: token.label.clone(),
        token_serial: token.serial.clone(),
    })
}

/// The entries of a verified transcript's lines, in order.
fn entries(report: &Report) -> impl Iterator<Item = &Entry> {
    report.lines.iter().filter_map(|l| l.entry.as_ref())
}

/// The KCV an earlier transcript recorded for `label`, after verifying that transcript: it must
/// be verified (sealed, completed, intact) under `signer`. Anyone can seal a transcript with a
/// key of their own: the caller compares [`RecordedKcv::signer_fingerprint`] with the signer of
/// the token it acts on.
pub fn recorded_kcv(
    transcript: &Path,
    signer: &Path,
    label: &crate::spec::KeyLabel,
) -> Result<RecordedKcv, Error> {
    let report = verified(transcript, signer)?;
    let no_kcv = || Error::NoKcv {
        path: transcript.to_path_buf(),
        label: label.to_string(),
    };
    let key: &Key = entries(&report)
        .find_map(|e| match e {
            Entry::Generated(g) if g.key.label == label.as_str() => Some(&g.key),
            _ => None,
        })
        .ok_or_else(no_kcv)?;
    let kcv = key.kcv.clone().ok_or_else(no_kcv)?;
    let signer_label = entries(&report)
        .find_map(|e| match e {
            Entry::Token(t) => Some(t),
            _ => None,
        })
        .and_then(|t| t.signer_label.parse::<crate::spec::KeyLabel>().ok())
        .ok_or_else(|| Error::NoSignerLabel {
            path: transcript.to_path_buf(),
        })?;
    Ok(RecordedKcv {
        kcv,
        kcv_method: key.kcv_method.clone(),
        id: key.id.clone(),
        check_sha256: key.check_sha256.clone(),
        signer_label,
        signer_fingerprint: report.signer_fingerprint,
    })
}
