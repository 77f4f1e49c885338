//! keyrite: hardware-backed key ceremonies for cloud KMS "bring your own key" imports.
//!
//! Key material is generated inside a PKCS#11 token and wrapped there under the KMS's import
//! public key, so the plaintext never leaves the token; keyrite writes exactly the files and the
//! next command the KMS's import call needs.
//!
//! At the bottom, importing nothing of keyrite:
//! - [`spec`]: key kinds, labels, wrapping algorithms and keys, the PKCS#8 size arithmetic;
//! - [`json`], [`timestamp`]: strict JSON and RFC 3339;
//! - [`signer_key`]: the ceremony signer's public key (ECDSA P-256 or RSA-PSS) and its check;
//! - [`pin`]: where a PIN comes from (never the command line), held as a secret;
//! - [`output`]: output directories that appear whole or not at all;
//! - [`interrupt`]: SIGINT, SIGTERM and SIGHUP, which wait for keyrite's own objects on a token
//!   to be destroyed;
//! - [`words`]: digests as PGP words, read aloud;
//! - [`html`]: what the report and the ceremony script share: their CSP, outside values isolated.
//!
//! Above them, neither importing the other:
//! - [`attest`]: Cloud HSM attestations of a KMS's wrapping key, checked offline;
//! - [`kms`]: import parameters in, import files out, one module per provider;
//! - [`hsm`]: the token: module, login, ceremony keys, key check values, wrapping;
//! - [`transcript`]: the hash-chained, signed record of a ceremony.
//!
//! The jobs, built on those:
//! - [`wrap`]: one wrap or rewrap, inputs checked before the token is opened;
//! - [`token`]: token information, signer and backup keys, trusted wrapping keys;
//! - [`ceremony`]: a quorum-approved plan run step by step into a transcript, and the script
//!   printed for the people who run it;
//! - [`restore`], [`shares`], [`witness`]: backups, PIN shares, witness signatures;
//! - [`verify`]: a transcript replayed without a token (it imports no [`hsm`]), and its report.
#![deny(unsafe_code)]

pub mod attest;
pub mod ceremony;
pub mod fault;
pub mod hsm;
pub mod html;
pub mod info;
mod input;
pub mod interrupt;
pub mod json;
pub mod kms;
pub mod output;
pub mod pin;
pub mod restore;
pub mod shares;
pub mod signer_key;
pub mod spec;
pub mod timestamp;
pub mod token;
pub mod transcript;
pub mod verify;
pub mod visible;
pub mod witness;
pub mod words;
pub mod wrap;

/// Everything that can stop keyrite: each module's own error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A wrap, a rewrap or a trust of a wrapping key was refused or failed.
    #[error(transparent)]
    Wrap(#[from] wrap::Error),
    /// A backup was refused or could not be restored.
    #[error(transparent)]
    Restore(#[from] restore::Error),
    /// A ceremony was refused or failed.
    #[error(transparent)]
    Ceremony(#[from] ceremony::Error),
    /// PIN shares could not be made or used.
    #[error(transparent)]
    Shares(#[from] shares::Error),
    /// A token command was refused or failed.
    #[error(transparent)]
    Token(#[from] token::Error),
    /// A witness signature was refused.
    #[error(transparent)]
    Witness(#[from] witness::Error),
    /// `verify` could not use its inputs.
    #[error(transparent)]
    Verify(#[from] verify::Error),
}

impl Error {
    /// The exit code keyrite ends with for this error (the table in docs/cli.md): 2 for a usage
    /// error, keyrite told what it cannot use (an input named cannot be read or does not parse
    /// as what it must be, an option is missing or does not apply, an output path is taken,
    /// the PIN source gives no PIN, the token is not named), else 1, refused or failed. Every
    /// error of `verify` is 2: its 1 means INVALID.
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            Error::Wrap(e) => e.is_usage(),
            Error::Restore(e) => e.is_usage(),
            Error::Ceremony(e) => e.is_usage(),
            Error::Shares(e) => e.is_usage(),
            Error::Token(e) => e.is_usage(),
            Error::Witness(e) => e.is_usage(),
            Error::Verify(_) => true,
        };
        if usage { 2 } else { 1 }
    }
}
