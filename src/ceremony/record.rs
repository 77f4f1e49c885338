//! The transcript lines that open a run, before any step: the policy, the plan, the approvals,
//! the token with the module and the keyrite binary that drive it, how the operator logged in
//! and what a resumed run takes over. It records what the checks before it accepted; it checks
//! nothing itself.

use std::path::Path;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::plan::{PinSpec, Plan, Step};
use super::policy::Policy;
use super::quorum::Quorum;
use super::{ACTOR, Error, resume};
use crate::hsm::{Module, Token};
use crate::spec::KeyLabel;
use crate::transcript::Transcript;

/// Records the policy, the plan and the approvals a ceremony runs under.
pub(super) fn ceremony_lines(
    t: &mut Transcript,
    policy: &Policy,
    plan: &Plan,
    statement: &str,
    quorum: &Quorum,
) -> Result<(), Error> {
    t.append_unsynced(
        "policy",
        ACTOR,
        json!({
            "file": policy.path.display().to_string(),
            "sha256": policy.digest,
            "threshold": policy.threshold,
            "custodians": policy.custodians.iter().map(|c| json!({"name": c.name, "key_fingerprint": c.fingerprint()})).collect::<Vec<_>>(),
            "witnesses": policy.witnesses.iter().map(|c| json!({"name": c.name, "key_fingerprint": c.fingerprint()})).collect::<Vec<_>>(),
            "signer_fingerprint": policy.signer_fingerprint,
            "token_serial": policy.token_serial,
            "custodians_file": policy.custodians_file.as_ref().map(|(p, d)| json!({"file": p.display().to_string(), "sha256": d})),
            "module_sha256": policy.module_sha256,
            "module_path": policy.module_path.as_ref().map(|p| p.display().to_string()),
            "require_trusted_wrapping": policy.require_trusted_wrapping,
            "witnesses_required": policy.witnesses_required,
        }),
    )?;
    t.append_unsynced(
        "plan",
        ACTOR,
        json!({
            "ceremony_id": plan.ceremony_id,
            "operator": plan.operator,
            "file": plan.path.display().to_string(),
            "sha256": plan.sha256,
            "text": plan.text,
            "digest_statement": statement,
            "files": plan.files.iter().map(|f| json!({"name": f.name, "sha256": f.sha256})).collect::<Vec<_>>(),
            "steps": plan.steps.iter().map(Step::action).collect::<Vec<_>>(),
        }),
    )?;
    t.append_unsynced("approvals", ACTOR, quorum)?;
    Ok(())
}

/// Records how the operator logged in: the PIN's source, or which shares rebuilt it — never a
/// value.
pub(super) fn login_line(
    t: &mut Transcript,
    plan: &Plan,
    share_indexes: Option<&[u8]>,
) -> Result<(), Error> {
    t.append_unsynced(
        "login",
        &plan.operator,
        match (&plan.pin, share_indexes) {
            (_, Some(indexes)) => json!({"pin": "shares", "share_indexes": indexes}),
            (PinSpec::Source(crate::pin::PinSource::Env(name)), None) => {
                json!({"pin": format!("environment variable {name}")})
            }
            _ => json!({"pin": "prompt"}),
        },
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
        "resume",
        &plan.operator,
        json!({
            "from": r.path.display().to_string(),
            "sha256": r.sha256,
            "lines": r.lines,
            "keys": taken.iter().map(|k| &k.record.label).collect::<Vec<_>>(),
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
        "token",
        operator,
        json!({
            "module": module.path().display().to_string(),
            "module_sha256": module.sha256(),
            "keyrite_path": keyrite_path,
            "keyrite_sha256": keyrite_sha256,
            "library": module.library_description()?,
            "label": d.label,
            "serial": d.serial,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "firmware": d.firmware,
            "signer_label": signer_label,
            "signer_fingerprint": signer_fp,
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
