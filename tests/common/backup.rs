//! Backups as tests make them: the backup key on a second token, a backup recorded on the first
//! (`keyrite wrap --provider pkcs11-backup --transcript`, or a plan's wrap step), and restores,
//! each recorded in its own transcript sealed by the backup token's signer. Every backup a test
//! makes goes through [`backup_command`] or [`plan_step`], so how a backup is made is decided
//! here.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::wrap::Wrap;
use super::*;

/// The backup key's label on the backup token.
pub const BACKUP_KEY: &str = "backup-2026";

/// The label of the signer that seals a recorded backup on the source token.
pub use super::wrap::SIGNER;

/// The label of the signer that seals a restore's record on the backup token.
pub const RESTORE_SIGNER: &str = "restore-signer";

/// `token backup-key create` on `dst`: the PEM's path, and what it said on standard error. The
/// signer that seals restores there ([`RESTORE_SIGNER`]) is made too, so a test that compares
/// the token's objects before and after a restore sees only what the restore did.
pub fn backup_key(dst: &TestToken) -> (PathBuf, String) {
    make_backup_key(dst, &[])
}

/// [`backup_key`] for key pairs (`--for-key-pairs`), under a policy that accepts what its PIN
/// holder can do with it.
pub fn backup_key_for_pairs(dst: &TestToken) -> (PathBuf, String) {
    let policy = super::ceremony::policy_accepting_backup_oracle(dst.dir.path());
    make_backup_key(
        dst,
        &["--for-key-pairs", "--policy", policy.to_str().unwrap()],
    )
}

fn make_backup_key(dst: &TestToken, extra: &[&str]) -> (PathBuf, String) {
    signer(dst, RESTORE_SIGNER);
    let out = run(dst
        .keyrite()
        .args(["token", "backup-key", "create", "--key-label", BACKUP_KEY])
        .args(["--pin-env", PIN_ENV])
        .args(extra));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let pem = dst.path(&format!("{BACKUP_KEY}.pem"));
    std::fs::write(&pem, &out.stdout).unwrap();
    (pem, stderr)
}

/// The public PEM of the signer `label` on `token`, made there (`token signer create`) on
/// first use and kept in the token's directory as `LABEL.pem`.
pub fn signer(token: &TestToken, label: &str) -> PathBuf {
    let pem = token.path(&format!("{label}.pem"));
    if !pem.exists() {
        let made = run(token
            .keyrite()
            .args(["token", "signer", "create", "--key-label", label])
            .args(["--pin-env", PIN_ENV]));
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        std::fs::write(&pem, &made.stdout).unwrap();
    }
    pem
}

/// The sealed transcript of a recorded backup and the PEM of the signer that sealed it.
pub struct Record {
    pub transcript: PathBuf,
    pub signer: PathBuf,
}

/// `keyrite wrap --provider pkcs11-backup` on `src`: generates `label` (of `spec`) and writes its
/// backup under the backup key `pem` to `out`, recorded in `transcript` sealed by [`SIGNER`],
/// which must exist on `src`.
pub fn backup_command(
    src: &TestToken,
    pem: &Path,
    algorithm: &str,
    label: &str,
    spec: &str,
    out: &Path,
    transcript: &Path,
) -> Command {
    Wrap::new("wrap")
        .provider("pkcs11-backup", pem)
        .algorithm(algorithm)
        .label(label)
        .spec(spec)
        .out(out)
        .recorded(transcript)
        .pin()
        .command(src)
}

/// A recorded backup: [`SIGNER`] made on `src` if it is not there yet, then [`backup_command`],
/// which must succeed, with the transcript `LABEL-backup.jsonl` in `src`'s directory.
pub fn recorded_backup(
    src: &TestToken,
    pem: &Path,
    algorithm: &str,
    label: &str,
    spec: &str,
    out: &Path,
) -> Record {
    let signer = signer(src, SIGNER);
    let transcript = src.path(&format!("{label}-backup.jsonl"));
    run_ok(&mut backup_command(
        src,
        pem,
        algorithm,
        label,
        spec,
        out,
        &transcript,
    ));
    Record { transcript, signer }
}

/// A plan's wrap step that backs `label` up under the backup key at `params` (relative to the
/// plan) into `out`.
pub fn plan_step(label: &str, params: &str, algorithm: &str, out: &str) -> String {
    format!(
        "\n[[steps]]\naction = \"wrap\"\nkey_label = \"{label}\"\nprovider = \"pkcs11-backup\"\n\
         params = \"{params}\"\nalgorithm = \"{algorithm}\"\nout = \"{out}\"\n"
    )
}

/// What proves where a backup came from, for [`restore`].
#[derive(Clone, Copy)]
pub enum Proof<'a> {
    /// The sealed record of the run that made it (`--from-transcript`, `--signer`).
    Record(&'a Record),
    /// A check value given out of band (`--expect-kcv`).
    Kcv(&'a str),
}

/// A restore that ran: its output, and where its record is (a file only if the restore got as
/// far as the token) with the PEM of the signer that seals it.
pub struct Restore {
    pub out: Output,
    pub record: PathBuf,
    pub signer: PathBuf,
}

/// A new record path in `dst`'s directory for each restore.
fn next_record(dst: &TestToken) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    dst.path(&format!(
        "restore-{}.jsonl",
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// `keyrite restore` on `dst` of `dir` (relative to `dst`'s directory, or absolute) for
/// `label`, proven by `proof`, recorded in `record` and sealed by [`RESTORE_SIGNER`] (made on
/// `dst` if it is not there yet); `--pin-env` is for the caller to add.
pub fn restore_command(
    dst: &TestToken,
    dir: impl AsRef<OsStr>,
    label: &str,
    proof: Proof<'_>,
    record: &Path,
) -> Command {
    signer(dst, RESTORE_SIGNER);
    let mut cmd = dst.keyrite();
    cmd.args(["restore", "--backup"])
        .arg(dir)
        .args(["--key-label", label]);
    match proof {
        Proof::Record(r) => cmd
            .arg("--from-transcript")
            .arg(&r.transcript)
            .arg("--signer")
            .arg(&r.signer),
        Proof::Kcv(kcv) => cmd.args(["--expect-kcv", kcv]),
    };
    cmd.arg("--record")
        .arg(record)
        .args(["--signer-label", RESTORE_SIGNER]);
    cmd
}

/// [`restore_command`] run with `extra` arguments, recorded in a new `restore-N.jsonl`.
pub fn restore(
    dst: &TestToken,
    dir: impl AsRef<OsStr>,
    label: &str,
    proof: Proof<'_>,
    extra: &[&str],
) -> Restore {
    let record = next_record(dst);
    let out = run(restore_command(dst, dir, label, proof, &record).args(extra));
    Restore {
        out,
        record,
        signer: dst.path(&format!("{RESTORE_SIGNER}.pem")),
    }
}
