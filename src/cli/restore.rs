//! `keyrite restore`: a backup unwrapped in this token, proven by its sealed record or a check
//! value given out of band, and the restore recorded. This file refuses a restore without a
//! record or a proof (exit 2), builds the library's request and prints what was restored.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use keyrite::Error;
use keyrite::restore::{ExpectedKcv, Proof, Provenance, RecordTo, Restored};
use keyrite::spec::KeyLabel;

use super::out::{errln, outln};
use super::print::{Schema, print_json};
use super::{TokenArgs, token_access};

/// `keyrite restore`
#[derive(Debug, Args)]
#[command(after_help = super::examples::RESTORE)]
pub struct RestoreArgs {
    /// The backup directory (`--out` of the recorded wrap that made it).
    #[arg(long, value_name = "DIR")]
    pub backup: PathBuf,
    /// The key's label: must be the one the backup holds, and free on this token.
    #[arg(long, value_name = "LABEL")]
    pub key_label: KeyLabel,
    /// The sealed transcript of the run that wrote the backup: the backup directory must be an
    /// output it records, file for file, and its token line the source token the manifest
    /// names (needs --signer). Read, never written: the restore's own record is --record.
    #[arg(long, value_name = "FILE", requires = "signer", alias = "transcript")]
    pub from_transcript: Option<PathBuf>,
    /// The public key (PEM) of the signer that sealed --from-transcript: the one the security
    /// team holds (the trust anchor; a transcript verifies under whatever key sealed it).
    #[arg(long, value_name = "PEM", requires = "from_transcript")]
    pub signer: Option<PathBuf>,
    /// Instead of --from-transcript: the key's check value, given out of band, which the restored
    /// key must have. The 64 hex digits of its full check value (a secret key's SHA-256 by
    /// C_DigestKey, a key pair's spki-sha256); the 6 of a KCV only where this token computes no
    /// full value, since anyone who chooses the key matches 3 bytes in about 2^24 tries.
    #[arg(long, value_name = "HEX", conflicts_with = "from_transcript")]
    pub expect_kcv: Option<ExpectedKcv>,
    /// Record the restore in this new transcript, sealed by this token's signer (required,
    /// with --signer-label).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// The label of this token's signer key, which seals --record.
    #[arg(long, value_name = "LABEL")]
    pub signer_label: Option<KeyLabel>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub token: TokenArgs,
}

/// Restores the backup once proven, and prints what was restored.
pub fn run(args: RestoreArgs) -> Result<ExitCode, Error> {
    let module = args.token.module.open()?;
    let (Some(record), Some(signer_label)) = (args.record, args.signer_label) else {
        errln!(
            "keyrite: restore needs --record R.jsonl and --signer-label S: a restore puts a key under a ceremony label on this token, and is believed only from its sealed record"
        );
        errln!(
            "Give --record (a new transcript file) and --signer-label (this token's signer, from `keyrite token signer create`); check the record with `keyrite verify R.jsonl --signer PEM --no-policy`."
        );
        return Ok(ExitCode::from(2));
    };
    let proof = match (args.from_transcript, args.signer, args.expect_kcv) {
        (Some(transcript), Some(signer), None) => Proof::Recorded { transcript, signer },
        (None, None, Some(kcv)) => Proof::Expected(kcv),
        _ => {
            errln!(
                "keyrite: restore needs proof of where the backup came from: --from-transcript T --signer PEM (the sealed record of the run that made it), or --expect-kcv HEX (the key's check value, given out of band)"
            );
            errln!(
                "Anyone can write a backup directory under the backup key's public key: pass one of the two."
            );
            return Ok(ExitCode::from(2));
        }
    };
    let restored = keyrite::restore::restore(
        &args.backup,
        &args.key_label,
        proof,
        &token_access(module, &args.token),
        &RecordTo {
            path: record,
            signer_label,
        },
    )?;
    if args.json {
        print_json(Schema::Restore, &restored)?;
    } else {
        print_restored(&restored);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the restored key, where it came from, and the check values that match.
fn print_restored(restored: &Restored) {
    outln!(
        "Restored {} key {:?} (id {}) into token {:?} (serial {}), unwrapped there from {}.",
        restored.spec,
        restored.label.as_str(),
        restored.id,
        restored.token,
        restored.token_serial,
        restored.algorithm
    );
    match &restored.provenance {
        Provenance::Transcript(t) => outln!(
            "  From token {:?} (serial {}), as the manifest and the token line of {} (sealed by {}) record it",
            restored.source.label,
            restored.source.serial,
            t.transcript.display(),
            t.signer_fingerprint
        ),
        Provenance::ExpectedKcv { value } => outln!(
            "  The manifest names token {:?} (serial {}), unproven; the key has the check value {} given with --expect-kcv",
            restored.source.label,
            restored.source.serial,
            value.value()
        ),
    }
    for (method, value) in &restored.matched {
        outln!("  KCV {value} ({method}) matches the backup's record");
    }
    if let Some(full) = &restored.check_sha256 {
        outln!("  Full check value (SHA-256) {full}");
    }
    outln!(
        "Its KCV on this token is {} ({}); a restored key is proven by its full check value: give rewrap --expect-kcv the check_sha256 its backup's manifest records.",
        restored.kcv,
        restored.kcv_method
    );
    outln!("Recorded and sealed in {}.", restored.record.display());
}
