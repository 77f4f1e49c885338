//! A backup to a second PKCS#11 token: the key wrapped with RSA-AES under the RSA public key that
//! `keyrite token backup-key create` made in that token, restored there by `keyrite restore`,
//! which unwraps it inside the token. The material is never in the clear between the two.
//!
//! The parameters are the backup key's public key as that command printed it (PEM); a backup
//! key never expires. The output is `backup.bin` (the RSA-OAEP part, exactly the modulus long,
//! then RFC 5649 KWP of the key), the manifest, whose key record holds every check value the
//! first token gives so the second can prove it holds the same material, and `import.sh`.

use super::{
    Error, Import, ImportParams, OutputFile, PemProblem, Target, is_pem, script_prologue,
    shell_quote, spki_from_pem,
};

/// The wrapped key: RSA-OAEP of an ephemeral AES-256 key, then RFC 5649 of the key under it.
pub const WRAPPED: &str = "backup.bin";

/// What to tell the user beside the command to run.
pub const NOTE: &str = "Carry the directory to the backup token's machine, with the sealed transcript of the run that wrote it if it was recorded (wrap --transcript, or a ceremony); there its import.sh runs the restore (--from-transcript T --signer PEM, or --expect-kcv HEX for a wrap that was not recorded, and --record R --signer-label S), which unwraps it inside that token, checks the key check values and records itself.";

/// Parses the backup key's public key (a PEM `PUBLIC KEY` block).
pub fn parse(bytes: &[u8]) -> Result<ImportParams, Error> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|_| is_pem(bytes))
        .ok_or(Error::Pem {
            field: "the backup key file",
            problem: PemProblem::NotBackupKey,
        })?;
    let public_key = spki_from_pem("the backup key file", text)?;
    Ok(ImportParams {
        key_id: format!("backup key sha256:{}", public_key.fingerprint()),
        public_key,
        valid_to: None,
        fixed_algorithm: None,
        wrapping_key_id: None,
        target: Target::Backup,
        attestation: crate::attest::Offered::none(
            "a backup key is the user's own key, not a KMS's: there is no attestation to check",
        ),
    })
}

/// `backup.bin` and `import.sh`, which runs `keyrite restore` on the backup token.
pub fn files(import: &Import<'_>) -> Vec<OutputFile> {
    let script = format!(
        "{prologue}exec keyrite restore --backup \"$here\" --key-label {label} \"$@\"\n",
        prologue = script_prologue(
            &format!(
                "Restores the {} key wrapped in an HSM with {} into the backup token, inside it.",
                import.key_spec, import.algorithm
            ),
            "--from-transcript T --signer PEM (the sealed record of this backup and its signer's key) or --expect-kcv HEX, and --record R --signer-label S, with --token LABEL --pin-env NAME",
        ),
        label = shell_quote(import.key_label),
    );
    vec![
        OutputFile::data(WRAPPED, import.wrapped.to_vec()),
        OutputFile::script(script),
    ]
}
