//! Facts an earlier transcript carries into another command (`wrap --existing`, `restore`): the
//! KCV it recorded for a key, and the wrap that wrote an output directory.
//!
//! It believes a transcript only once it verifies — sealed, completed and intact — under the
//! signer key the caller gives; the caller compares that signer with the token it acts on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{Error, Inputs, Report, Verdict, field, parse_line, verify};

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
fn verified(transcript: &Path, signer: &Path) -> Result<Report, crate::Error> {
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
        }
        .into());
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
) -> Result<RecordedOutput, crate::Error> {
    let report = verified(transcript, signer)?;
    let refuse = |reason: String| Error::NotRecorded {
        dir: dir.to_path_buf(),
        transcript: transcript.to_path_buf(),
        reason,
    };
    let recorded = report
        .lines
        .iter()
        .flatten()
        .filter(|l| {
            matches!(
                l.get("step").and_then(Value::as_str),
                Some("wrapped" | "rewrapped")
            )
        })
        .map(|l| &field(l, "data")["files"])
        .find(|files| files["manifest.json"] == manifest_sha256)
        .and_then(Value::as_object)
        .ok_or_else(|| refuse("no wrap it records wrote this manifest.json".to_owned()))?;
    for (name, digest) in recorded {
        if found.get(name).map(String::as_str) != digest.as_str() {
            return Err(refuse(format!("{name} is not the file the transcript records")).into());
        }
    }
    if let Some(extra) = found.keys().find(|name| !recorded.contains_key(*name)) {
        return Err(refuse(format!("{extra} is in no record of this output")).into());
    }
    let token = report
        .lines
        .iter()
        .flatten()
        .find(|l| l.get("step").and_then(Value::as_str) == Some("token"))
        .map(|l| field(l, "data"))
        .ok_or_else(|| refuse("it records no token line".to_owned()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let chain_head = report
        .seal_line
        .as_deref()
        .and_then(parse_line)
        .map(|seal| text(field(&seal, "prev")))
        .unwrap_or_default();
    Ok(RecordedOutput {
        transcript: transcript.to_path_buf(),
        sha256: report.sha256.clone(),
        chain_head,
        signer_fingerprint: report.signer_fingerprint.clone(),
        token_label: text(&token["label"]),
        token_serial: text(&token["serial"]),
    })
}

/// The KCV an earlier transcript recorded for `label`, after verifying that transcript: it must
/// be verified (sealed, completed, intact) under `signer`. Anyone can seal a transcript with a
/// key of their own: the caller compares [`RecordedKcv::signer_fingerprint`] with the signer of
/// the token it acts on.
pub fn recorded_kcv(
    transcript: &Path,
    signer: &Path,
    label: &crate::spec::KeyLabel,
) -> Result<RecordedKcv, crate::Error> {
    let report = verified(transcript, signer)?;
    let no_kcv = || Error::NoKcv {
        path: transcript.to_path_buf(),
        label: label.to_string(),
    };
    let key = report
        .lines
        .iter()
        .flatten()
        .find_map(|l| {
            let d = field(l, "data");
            match l.get("step").and_then(Value::as_str) {
                Some("generated") if d["key"]["label"] == label.as_str() => Some(&d["key"]),
                _ => None,
            }
        })
        .ok_or_else(no_kcv)?;
    let text = |name: &str| key[name].as_str().map(str::to_owned);
    let kcv = text("kcv").ok_or_else(no_kcv)?;
    let (kcv_method, id, check_sha256) = (
        text("kcv_method").unwrap_or_default(),
        text("id").unwrap_or_default(),
        text("check_sha256"),
    );
    let signer_label = report
        .lines
        .iter()
        .flatten()
        .find(|l| l.get("step").and_then(Value::as_str) == Some("token"))
        .and_then(|l| field(l, "data")["signer_label"].as_str())
        .and_then(|s| s.parse::<crate::spec::KeyLabel>().ok())
        .ok_or_else(|| Error::NoSignerLabel {
            path: transcript.to_path_buf(),
        })?;
    Ok(RecordedKcv {
        kcv,
        kcv_method,
        id,
        check_sha256,
        signer_label,
        signer_fingerprint: report.signer_fingerprint,
    })
}
