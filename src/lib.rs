//! keyrite: hardware-backed key ceremonies for cloud KMS "bring your own key" imports.
//!
//! Key material is generated inside a PKCS#11 token and wrapped there under the KMS's import
//! public key, so the plaintext never leaves the token; keyrite writes exactly the files and the
//! next command the KMS's import call needs.
//!
//! - [`kms`]: import parameters in, import files out, one module per provider;
//! - [`hsm`]: the token: module, login, ceremony keys, key check values, wrapping;
//! - [`wrap`]: the whole job, inputs checked before the token is opened;
//! - [`output`]: output directories that appear whole or not at all;
//! - [`pin`]: where a PIN comes from (never the command line).
#![deny(unsafe_code)]

pub mod ceremony;
pub mod fault;
pub mod hsm;
pub mod info;
mod input;
pub mod json;
pub mod kms;
pub mod output;
pub mod pin;
pub mod restore;
pub mod shares;
pub mod spec;
pub mod timestamp;
pub mod transcript;
pub mod verify;
pub mod visible;
pub mod witness;
pub mod wrap;

use std::fmt;
use std::path::PathBuf;

use spec::WrappingAlgorithm;

/// A step of a wrap after the key exists; a failure there destroys the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the key check value.
    KeyCheckValue,
    /// `C_WrapKey`.
    Wrap,
    /// Writing the output directory.
    Write,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::KeyCheckValue => "reading the key check value",
            Step::Wrap => "wrapping the key (C_WrapKey)",
            Step::Write => "writing the output directory",
        })
    }
}

/// Everything that can stop keyrite.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parameters file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    ReadParams {
        /// The path.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The parameters file or the options were refused.
    #[error("{}: {source}", path.display())]
    Params {
        /// The parameters file.
        path: PathBuf,
        /// Why.
        source: kms::Error,
    },
    /// The options were refused for the provider, before any file was read.
    #[error(transparent)]
    Options(kms::Error),
    /// PKCS#1 v1.5 without `--allow-legacy-pkcs1`.
    #[error("{algorithm} is a retired wrapping algorithm and needs --allow-legacy-pkcs1")]
    LegacyRefused {
        /// The algorithm.
        algorithm: WrappingAlgorithm,
    },
    /// `--valid-to` is not in the future.
    #[error("--valid-to {valid_to} is not in the future")]
    ValidToPast {
        /// The time given.
        valid_to: String,
    },
    /// An output path problem.
    #[error(transparent)]
    Output(#[from] output::Error),
    /// No PIN.
    #[error(transparent)]
    Pin(#[from] pin::Error),
    /// The token refused or failed.
    #[error(transparent)]
    Hsm(#[from] hsm::Error),
    /// A step after key generation failed; the key was destroyed (or says why not).
    #[error(
        "{step} failed: {source}; {}",
        match destroyed {
            Ok(()) => format!("the new key {key_label:?} was destroyed and nothing was written"),
            Err(e) => format!("destroying the new key {key_label:?} also failed ({e}): remove it by hand"),
        }
    )]
    Step {
        /// The step.
        step: Step,
        /// What went wrong.
        source: Box<Error>,
        /// The label of the key generated.
        key_label: String,
        /// Whether the key was destroyed.
        destroyed: Result<(), String>,
    },
    /// `rewrap` was given no KCV to prove the key.
    #[error(
        "rewrap needs the KCV the key must have: --expect-kcv HEX, or --from-transcript T --signer PEM"
    )]
    RewrapNeedsKcv,
    /// `rewrap --wrap-with-trusted`: the existing key's attribute decides.
    #[error(
        "rewrap takes no --wrap-with-trusted: it reads CKA_WRAP_WITH_TRUSTED from the existing key"
    )]
    RewrapTrusted,
    /// `rewrap` cannot record its own transcript.
    #[error(
        "keyrite rewrap does not write transcripts; record a rewrap with a ceremony plan's rewrap step"
    )]
    RewrapRecording,
    /// The existing key's KCV is not the one expected: it is not the same material.
    #[error(
        "key {label:?} on the token has KCV {actual}, not the {expected} expected; nothing was wrapped"
    )]
    KcvMismatch {
        /// The key label.
        label: String,
        /// The KCV expected.
        expected: String,
        /// The KCV the token gives.
        actual: String,
    },
    /// The check value a rewrap or destroy was given is neither a KCV nor a full check value.
    #[error(
        "{value:?} is not a check value: give the key's 6-hex KCV, or its 64-hex full check value (keys list shows both)"
    )]
    BadExpectedKcv {
        /// What was given.
        value: String,
    },
    /// A 3-byte KCV was given for a key that was not generated in this token: whoever knows
    /// the material can make such a key match any KCV.
    #[error(
        "key {label:?} on the token was not generated in it ({origin}): anyone with the PIN can create a key of a value they know whose 3-byte KCV is any they want (about 2^24 tries), so keyrite proves such a key only by its full check value: give --expect-kcv (or the plan's expect_kcv) the 64-hex check_sha256 recorded for it, or --from-transcript a record of it"
    )]
    KcvTooShort {
        /// The key label.
        label: String,
        /// Its `CKA_LOCAL` and `CKA_ALWAYS_SENSITIVE`, as the token reports them.
        origin: String,
    },
    /// A full check value was asked for, but the token computes none for the key.
    #[error(
        "key {label:?} on the token has no full check value (the token gives no SHA-256 by C_DigestKey for it), so it cannot be proven by one; nothing was wrapped"
    )]
    NoCheckSha256 {
        /// The key label.
        label: String,
    },
    /// The existing key's full check value is not the one expected: it is not the same
    /// material.
    #[error(
        "key {label:?} on the token has the SHA-256 check value {actual}, not the {expected} expected; nothing was wrapped"
    )]
    CheckValueMismatch {
        /// The key label.
        label: String,
        /// The check value expected.
        expected: String,
        /// The check value the token gives.
        actual: String,
    },
    /// The existing key differs from what a sealed record says of it.
    #[error(
        "key {label:?} on the token has {what} {actual}, but the transcript records {recorded}: it is not the key recorded; nothing was wrapped"
    )]
    NotTheRecordedKey {
        /// The key label.
        label: String,
        /// What differs (`CKA_ID`, the KCV method, the full check value).
        what: &'static str,
        /// What the record says.
        recorded: String,
        /// What the token says.
        actual: String,
    },
    /// The existing key no longer has a ceremony key's protections.
    #[error(
        "key {label:?} is not a ceremony key (it must be sensitive since it was made or restored, extractable only by wrapping, of no other use, and not modifiable)"
    )]
    NotCeremonyKey {
        /// The key label.
        label: String,
    },
    /// An earlier transcript was sealed by a key that is not this token's signer.
    #[error(
        "the transcript was sealed by the key {sealed}, but the signer {signer:?} of token {token:?} is {actual}: keyrite believes a recorded KCV only from a record this token sealed"
    )]
    RecordOfAnotherToken {
        /// The token.
        token: String,
        /// The signer label the transcript names.
        signer: String,
        /// The fingerprint of the key that sealed the transcript.
        sealed: String,
        /// The fingerprint of the token's signer.
        actual: String,
    },
    /// The key under a ceremony label is a public object, which anyone can create without the
    /// PIN.
    #[error(
        "key {label:?} on the token is a public object (CKA_PRIVATE false), which anyone can create without the PIN: keyrite never takes it for a ceremony key"
    )]
    PublicKeyObject {
        /// The key label.
        label: String,
    },
    /// The existing key is of another kind.
    #[error("key {label:?} is {actual}, not {expected}")]
    ExistingSpec {
        /// The key label.
        label: String,
        /// The kind expected.
        expected: String,
        /// What the token holds.
        actual: String,
    },
    /// A step failed after its key existed; the caller decides the key's fate.
    #[error("{step} failed: {source}")]
    StepFailed {
        /// The step.
        step: Step,
        /// What went wrong.
        source: Box<Error>,
    },
    /// `--wrap-with-trusted` for a key pair, which only RSA-AES can carry.
    #[error("{}", ceremony::plan::TRUSTED_PAIR)]
    TrustedKeyPair,
    /// `--wrap-with-trusted` with RSA-AES, whose ephemeral key nobody can mark trusted.
    #[error(
        "{algorithm} cannot wrap a CKA_WRAP_WITH_TRUSTED key: its ephemeral AES key would itself need CKA_TRUSTED, which only the security officer can set; use RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1"
    )]
    TrustedNeedsDirect {
        /// The algorithm.
        algorithm: WrappingAlgorithm,
    },
    /// A backup's key gave no check value, so no second token could prove it restored it.
    #[error("the token gives no key check value to record in a backup ({why})")]
    BackupWithoutKcv {
        /// Why not.
        why: hsm::NoKcv,
    },
    /// A backup was refused or could not be restored.
    #[error(transparent)]
    Restore(#[from] restore::Error),
    /// A ceremony was refused or failed.
    #[error(transparent)]
    Ceremony(#[from] ceremony::Error),
    /// PIN shares could not be made or used.
    #[error(transparent)]
    Shares(#[from] shares::Error),
    /// A witness signature was refused.
    #[error(transparent)]
    Witness(#[from] witness::Error),
    /// `verify` could not use its inputs.
    #[error(transparent)]
    Verify(#[from] verify::Error),
    /// The transcript could not be written.
    #[error(transparent)]
    Transcript(#[from] transcript::Error),
    /// Something that cannot happen with valid data.
    #[error("internal error: {what}")]
    Internal {
        /// What.
        what: String,
    },
}

impl Error {
    /// One sentence on what to do about it.
    pub fn hint(&self) -> Option<String> {
        use hsm::Error as H;
        Some(match self {
            Error::Params {
                source: kms::Error::Expired { .. },
                ..
            } => "Ask the KMS for new import parameters (get-parameters-for-import) and run again."
                .to_owned(),
            Error::Params {
                source: kms::Error::KeySpecMismatch { .. },
                ..
            } => "Check that the parameters file belongs to the KMS key you meant, or fix --wrapping-key-spec."
                .to_owned(),
            Error::Params {
                source: kms::Error::JobNotActive { .. } | kms::Error::JobExpired { .. },
                ..
            } => "Create a new import job (gcloud kms import-jobs create), describe it again and run again."
                .to_owned(),
            Error::Params {
                source: kms::Error::NoImportOperation { .. },
                ..
            } => "Make the key exchange key with import as its only operation (az keyvault key create --kty RSA-HSM --ops import) and show it again."
                .to_owned(),
            Error::Params {
                source: kms::Error::KekDisabled { .. } | kms::Error::KekExpired { .. },
                ..
            } => "Make a new key exchange key (az keyvault key create --kty RSA-HSM --ops import) and show it again."
                .to_owned(),
            Error::Params {
                source: kms::Error::PrivateKeyNeedsRsaAes { .. },
                ..
            } => "Ask the KMS for import parameters for RSA_AES_KEY_WRAP_SHA_256 (or _SHA_1) and pass that --algorithm."
                .to_owned(),
            Error::Params {
                source: kms::Error::WrappingKeyTooSmallFor { .. },
                ..
            } => "Ask the KMS for import parameters with an RSA_3072 or RSA_4096 wrapping key (get-parameters-for-import --wrapping-key-spec) and run again."
                .to_owned(),
            Error::Params {
                source: kms::Error::GcpAlgorithmMismatch { .. } | kms::Error::OptionRequired { provider: kms::Provider::Gcp, .. },
                ..
            } => "Pass --gcp-algorithm with the algorithm of the Google key (gcloud kms keys describe shows its versionTemplate), one that takes this --key-spec."
                .to_owned(),
            Error::Params {
                source: kms::Error::KeyVaultNoSecretKeys { .. },
                ..
            } => "Import AES keys into a Managed HSM: use a key exchange key made there (az keyvault key create --hsm-name …)."
                .to_owned(),
            Error::TrustedKeyPair => {
                "Leave out --wrap-with-trusted (or wrap_with_trusted in the plan) for a key pair."
                    .to_owned()
            }
            Error::Hsm(H::BackupKeyUnproven { .. } | H::BackupPublicKeySwapped { .. } | H::BackupKeyCopies { .. }) => {
                "Nothing was exported or restored: have the backup token's objects checked (pkcs11-tool --list-objects --login); a backup key is an RSA private key, a private object, and one public key object of its label holding its public key."
                    .to_owned()
            }
            Error::Hsm(H::PublicKey { .. }) => {
                "A key pair keeps its public key object beside its private key, with the same label and CKA_ID: check the token's objects (keyrite keys list)."
                    .to_owned()
            }
            Error::RecordOfAnotherToken { .. } => {
                "Pass the transcript a ceremony on this token wrote (with its signer's --signer), or --expect-kcv with the KCV the custodians approved."
                    .to_owned()
            }
            Error::Hsm(H::SameLabel { .. }) => {
                "keyrite makes one key per label, always private: have the token's objects checked (pkcs11-tool --list-objects --login) and remove the one that is not the ceremony key before running again."
                    .to_owned()
            }
            Error::KcvTooShort { .. } => {
                "Take the full check value from the record of the key (the backup's manifest or the transcript that made it), never from the token itself."
                    .to_owned()
            }
            Error::PublicKeyObject { .. } => {
                "keyrite makes every key private: have the token's objects checked (pkcs11-tool --list-objects --login) and remove the public one before running again."
                    .to_owned()
            }
            Error::LegacyRefused { .. } => {
                "Prefer RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1; pass --allow-legacy-pkcs1 only if the KMS accepts nothing else."
                    .to_owned()
            }
            Error::Output(output::Error::Exists { .. }) => {
                "Choose a new --out directory; keyrite never replaces an output.".to_owned()
            }
            Error::Pin(pin::Error::FileMode { path, .. }) => {
                format!("Run: chmod 600 {}", path.display())
            }
            Error::Pin(pin::Error::NoTerminal) => {
                "Pass --pin-env NAME (the name of a variable holding the PIN) or --pin-file PATH."
                    .to_owned()
            }
            Error::Hsm(H::NoModule | H::ModuleNotFound { .. } | H::ModuleRead { .. } | H::ModuleNotRegular { .. }) => {
                format!("Pass --module PATH or set {}; for SoftHSM2 on Debian: apt-get install softhsm2.", hsm::MODULE_ENV)
            }
            Error::Hsm(H::NoSuchToken { .. } | H::TokenRequired { .. } | H::AmbiguousToken { .. }) => {
                "Run `keyrite token info` to list the tokens, then pass --token LABEL.".to_owned()
            }
            Error::Hsm(H::WrongPin { .. }) => {
                "Check the PIN: most tokens lock the user PIN after a few wrong attempts (SoftHSM2 never does).".to_owned()
            }
            Error::Hsm(H::PinLocked { .. } | H::PinFinalTry { .. }) => {
                "The token's security officer must reset the user PIN before keyrite logs in.".to_owned()
            }
            Error::Hsm(H::LabelExists { .. }) => {
                "Choose another --key-label; keyrite never reuses or replaces a key.".to_owned()
            }
            Error::Hsm(H::KnownAnswer { .. } | H::NoKwp { .. }) => {
                "keyrite never wraps with a mechanism that failed its known-answer test: use a token whose AES key wrap with padding passes (see `keyrite token info`), or, for a secret key, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256."
                    .to_owned()
            }
            Error::Hsm(H::NoTrustedKey { .. }) => {
                "The security officer stores the KMS key first (keyrite token trust-wrapping-key); `keyrite token info` says whether the token can trust a key at all."
                    .to_owned()
            }
            Error::Hsm(H::UnsupportedWrapping { .. }) => {
                "keyrite never falls back to another algorithm: use a token that supports this one (see `keyrite token info`), or ask the KMS for another wrapping algorithm."
                    .to_owned()
            }
            Error::Hsm(H::BackupUnwrap { .. }) => {
                "Make the backup again with an algorithm this token unwraps: `keyrite token backup-key export` on it lists them."
                    .to_owned()
            }
            Error::Hsm(H::BackupKeyOracle { .. }) => {
                "Nothing was left on the token. For secret keys, make the backup key without --for-key-pairs on a token whose `keyrite token info` says it applies unwrap templates; to accept the risk, name a policy with accept_backup_unwrap_oracle = true (--policy)."
                    .to_owned()
            }
            Error::Hsm(H::NoBackupKeyFor { .. } | H::NoBackupKey { .. }) => {
                "Restore on the token that made the backup key (--token LABEL), or make the backup again under this token's key."
                    .to_owned()
            }
            Error::Output(output::Error::NotWritable { .. } | output::Error::NoRoom { .. }) => {
                "Choose an --out on a writable file system with room; nothing was generated."
                    .to_owned()
            }
            Error::Output(output::Error::NoParent { .. }) => {
                "Create the parent directory first, or choose another --out.".to_owned()
            }
            Error::ReadParams { .. } => {
                "Pass the file the KMS's CLI printed (see the README's provider table).".to_owned()
            }
            Error::Params { .. } | Error::Options(_) => {
                "Pass the import parameters exactly as the KMS's CLI printed them, with the options that provider takes (README: Providers, Options of keyrite wrap)."
                    .to_owned()
            }
            Error::Restore(restore::Error::KcvMismatch { .. } | restore::Error::NoCommonKcv { .. }) => {
                "Check the backup against the sealed transcript of the run that made it (keyrite verify T --outputs DIR) before trusting it again."
                    .to_owned()
            }
            Error::Restore(restore::Error::ShortExpectedKcv { pair: true, .. }) => {
                "Pass --expect-kcv with the key pair's spki-sha256 (64 hex digits, as `keyrite keys list` on the source token shows it), or --transcript T --signer PEM, the sealed record of the run that made the backup."
                    .to_owned()
            }
            Error::Restore(restore::Error::ShortExpectedKcv { pair: false, .. }) => {
                "Pass --expect-kcv with the key's full check value (64 hex digits, the check_sha256 the source token reports), or --transcript T --signer PEM, the sealed record of the run that made the backup."
                    .to_owned()
            }
            Error::Restore(restore::Error::NoFullCheckValue { .. }) => {
                "On this token pass the key's 6-digit KCV with --expect-kcv, or --transcript T --signer PEM, the sealed record of the run that made the backup."
                    .to_owned()
            }
            Error::Restore(restore::Error::ExpectedKcvMismatch { .. }) => {
                "This backup does not hold the key expected: find out where the directory came from before restoring anything from it."
                    .to_owned()
            }
            Error::Restore(restore::Error::OtherSource { .. }) => {
                "Pass the transcript of the run on the token that made this backup, and check the directory with `keyrite verify T --outputs DIR`."
                    .to_owned()
            }
            Error::Restore(_) => {
                "Pass the directory a recorded wrap with --provider pkcs11-backup wrote, unchanged, and the key label it holds."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::Plan { .. } | ceremony::Error::StepInput { .. }) => {
                "Fix the plan (ceremony/README.md documents every field); a changed plan needs new approvals."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::Replay { left, .. }) if !left.is_empty() => {
                "If that run was interrupted, check its transcript (keyrite verify) and end its keys with an approved destroy plan (keyrite keys destroy); a new run needs a new ceremony_id and new approvals."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::Replay { .. }) => {
                "A plan runs once per token: give a new ceremony_id, and have it approved again."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::Resume { advice, .. }) => (*advice).to_owned(),
            Error::Ceremony(ceremony::Error::Read { .. }) => {
                "Check the path names the plan, policy or approval meant; keyrite reads at most 1 MiB of each."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::ModuleUnpinned { .. }) => {
                "Put the SHA-256 of the module file the ceremony loads there, as `sha256sum MODULE` prints it (for SoftHSM2 on Debian: sha256sum /usr/lib/softhsm/libsofthsm2.so)."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::ModulePath { expected, .. }) => format!(
                "Run with --module {} (or {} set to it), the module the policy pins.",
                expected.display(),
                hsm::MODULE_ENV
            ),
            Error::Ceremony(ceremony::Error::ModuleDigest { .. }) => format!(
                "Run with the module the policy pins (--module PATH or {}); if this module is the one meant, the security team puts its sha256sum in the policy's module_sha256.",
                hsm::MODULE_ENV
            ),
            Error::Ceremony(ceremony::Error::TrustedWrappingRequired { .. }) => {
                "Set wrap_with_trusted = true on every generate step (a changed plan needs new approvals); the security officer marks each KMS wrapping key trusted first (keyrite token trust-wrapping-key)."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::ExistingNotTrusted { .. }) => {
                "A key made without CKA_WRAP_WITH_TRUSTED never gains it: leave it out of this plan, or wrap it under a policy without require_trusted_wrapping."
                    .to_owned()
            }
            Error::Hsm(H::SignerUnproven { .. }) => {
                "Nothing was printed or signed. A session without the PIN can add public objects to a token: list the token's objects of that label, remove what is not the signer's with the security team, or make a new signer (keyrite token signer create) and pin its fingerprint."
                    .to_owned()
            }
            Error::Ceremony(ceremony::Error::Policy { .. }) => {
                "Fix the policy (ceremony/README.md documents every field).".to_owned()
            }
            Error::Ceremony(ceremony::Error::NoQuorum(_)) => {
                "Each custodian signs the output of `keyrite plan digest` with ssh-keygen -Y sign -n keyrite-plan; put the signatures in the approvals directory."
                    .to_owned()
            }
            Error::Shares(
                shares::Error::Malformed { .. }
                | shares::Error::NotPinned { .. }
                | shares::Error::Duplicate { .. }
                | shares::Error::TooFew { .. }
                | shares::Error::Io { .. },
            ) => "Use the share files `keyrite pin split` wrote, unchanged, from as many custodians as the threshold."
                .to_owned(),
            Error::ValidToPast { .. } => {
                "Give a --valid-to in the future (RFC 3339), or leave it out for material that never expires."
                    .to_owned()
            }
            Error::Verify(verify::Error::Read { .. }) => {
                "Pass the transcript and signer files keyrite wrote; it reads at most 16 MiB of one transcript line."
                    .to_owned()
            }
            Error::Verify(verify::Error::NotRecorded { .. }) => {
                "Pass the sealed transcript of the run that made the backup (keyrite wrap --provider pkcs11-backup --transcript, or a ceremony's wrap step), and check the directory with `keyrite verify T --outputs DIR`."
                    .to_owned()
            }
            Error::Verify(verify::Error::NotVerified { .. }) => {
                "Pass a transcript that `keyrite verify T --signer PEM` reports VERIFIED, with the signer.pem the security team holds: a transcript sealed by any other key proves nothing."
                    .to_owned()
            }
            Error::Verify(verify::Error::Signer { .. }) => {
                "Pass the signer's public key as `keyrite token signer export` printed it.".to_owned()
            }
            Error::Witness(
                witness::Error::NotSignature { .. }
                | witness::Error::Namespace { .. }
                | witness::Error::NotWitness { .. }
                | witness::Error::BadSignature { .. },
            ) => {
                "Sign with `keyrite witness sign` (or ssh-keygen -Y sign -n keyrite-witness over `keyrite witness message`) with a witness key of the policy."
                    .to_owned()
            }
            _ => return None,
        })
    }
}
