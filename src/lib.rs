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
pub mod token;
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
    #[error("cannot read {}: {source}", path.display())]
    ReadParams {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
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
        destroyed: Result<(), Box<hsm::Error>>,
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
