//! The transcript lines that open a run, before any step: the policy, the plan, the approvals,
//! the token with the module and the keyrite binary that drive it, how the operator logged in
//! and what a resumed run takes over. It records what the checks before it accepted; it checks
//! nothing itself.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::plan::{PinSpec, Plan};
use super::policy::Policy;
use super::quorum::Quorum;
use super::{ACTOR, Error, resume};
use crate::hsm::{Module, Token};
use crate::spec::KeyLabel;
use crate::transcript::{Entry, Transcript, entry};

/// The persons a policy names, as its line records them.
fn persons(people: &[super::policy::Person]) -> Vec<entry::Person> {
    people
        .iter()
        .map(|c| entry::Person {
            name: c.name.clone(),
            key_fingerprint: c.fingerprint(),
        })
        .collect()
}

/// Records the policy, the plan and the approvals a ceremony runs under.
pub(super) fn ceremony_lines(
    t: &mut Transcript,
    policy: &Policy,
    plan: &Plan,
    statement: &str,
    quorum: &Quorum,
) -> Result<(), Error> {
    t.append_unsynced(
        ACTOR,
        &Entry::Policy(entry::PolicyData {
            file: policy.path.display().to_string(),
            sha256: policy.digest.clone(),
            threshold: policy.threshold,
            custodians: persons(&policy.custodians),
            witnesses: persons(&policy.witnesses),
            signer_fingerprint: policy.signer_fingerprint.clone(),
            token_serial: policy.token_serial.clone(),
            custodians_file: policy
                .custodians_file
                .as_ref()
                .map(|(p, d)| entry::FileDigest {
                    file: p.display().to_string(),
                    sha256: d.clone(),
                }),
            module_sha256: policy.module_sha256.clone(),
            module_path: policy.module_path.as_ref().map(|p| p.display().to_string()),
            require_trusted_wrapping: policy.require_trusted_wrapping,
            witnesses_required: policy.witnesses_required,
        }),
    )?;
    t.append_unsynced(
        ACTOR,
        &Entry::Plan(entry::PlanData {
            ceremony_id: plan.ceremony_id.clone(),
            operator: plan.operator.clone(),
            file: plan.path.display().to_string(),
            sha256: plan.sha256.clone(),
            text: plan.text.clone(),
            digest_statement: statement.to_owned(),
            files: plan
                .files
                .iter()
                .map(|f| entry::NamedDigest {
                    name: f.name.clone(),
                    sha256: f.sha256.clone(),
                })
                .collect(),
            steps: plan.steps.iter().map(|s| s.action().to_owned()).collect(),
        }),
    )?;
    t.append_unsynced(ACTOR, &Entry::Approvals(quorum.entry()))?;
    Ok(())
}

/// Records how the operator logged in: the PIN's source, or which shares rebuilt it — never a
/// value.
pub(super) fn login_line(
    t: &mut Transcript,
    plan: &Plan,
    share_indexes: Option<&[u8]>,
) -> Result<(), Error> {
    let pin = match (&plan.pin, share_indexes) {
        (_, Some(_)) => "shares".to_owned(),
        (PinSpec::Source(crate::pin::PinSource::Env(name)), None) => {
            format!("environment variable {name}")
        }
        _ => "prompt".to_owned(),
    };
    t.append_unsynced(
        &plan.operator,
        &Entry::Login(entry::LoginData {
            pin,
            share_indexes: share_indexes.map(<[u8]>::to_vec),
        }),
    )?;
    Ok(())
}

/// Records, for a resumed run, the interrupted transcript and the keys taken over from it.
pub(super) fn resume_line(
    t: &mut Transcript,
    plan: &Plan,
    r: &resume::Resume,
    taken: &[resume::TakenKey],
) -> Result<(), Error> {
    t.append(
        &plan.operator,
        &Entry::Resume(entry::ResumeData {
            from: r.path.display().to_string(),
            sha256: r.sha256.clone(),
            lines: r.lines,
            keys: taken
                .iter()
                .map(|k| k.record.label.as_str().to_owned())
                .collect(),
        }),
    )?;
    Ok(())
}

/// Records which token, module and signer run the steps.
pub(crate) fn token_line(
    t: &mut Transcript,
    token: &Token,
    module: &Module,
    operator: &str,
    signer_label: &KeyLabel,
    signer_fp: &str,
) -> Result<(), Error> {
    let d = token.description();
    let (keyrite_path, keyrite_sha256) = keyrite_binary()?;
    t.append_unsynced(
        operator,
        &Entry::Token(entry::TokenData {
            module: module.path().display().to_string(),
            module_sha256: module.sha256().to_owned(),
            keyrite_path,
            keyrite_sha256,
            library: module.library_description()?,
            label: d.label.clone(),
            serial: d.serial.clone(),
            manufacturer: d.manufacturer.clone(),
            model: d.model.clone(),
            firmware: d.firmware.clone(),
            signer_label: signer_label.as_str().to_owned(),
            signer_fingerprint: signer_fp.to_owned(),
        }),
    )?;
    Ok(())
}

/// The running keyrite binary: where `/proc/self/exe` points, and the SHA-256 of its bytes
/// (read through `/proc/self/exe`, so the file that runs, even if its path was replaced).
fn keyrite_binary() -> Result<(String, String), Error> {
    let exe = Path::new("/proc/self/exe");
    let err = |e: std::io::Error| Error::Read {
        path: exe.to_path_buf(),
        source: e,
    };
    let path = std::fs::read_link(exe).map_err(err)?;
    let mut file = std::fs::File::open(exe).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok((path.display().to_string(), hex::encode(hasher.finalize())))
}
