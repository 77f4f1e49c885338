//! What the token commands do, each in one call: report what the tokens can do, list the
//! ceremony keys, make or export the signer and the backup key, and, as the security officer,
//! store a KMS wrapping key as trusted.
//!
//! Trusts the PKCS#11 module for what it reports, and the import parameters only once their
//! provider's parser accepted them (before the token is opened). PINs come through
//! [`PinSource`], never as values.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::ceremony::policy::Policy;
use crate::hsm::Module;
use crate::hsm::backup::{BackupKey, BackupKeyKind};
use crate::hsm::keys::KeyInfo;
use crate::hsm::signer::{CreatedSigner, SignerPublicKey};
use crate::info;
use crate::kms::{Provider, ProviderOptions};
use crate::pin::PinSource;
use crate::signer_key::SignerAlgorithm;
use crate::spec::KeyLabel;
use crate::wrap::{self, TokenAccess, TokenRecord, open_logged_in};

/// Why a token command was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening and logging in to the token, or reading the import parameters, failed.
    #[error(transparent)]
    Wrap(#[from] wrap::Error),
    /// The token refused or failed.
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    /// No PIN.
    #[error(transparent)]
    Pin(#[from] crate::pin::Error),
    /// The policy was refused.
    #[error(transparent)]
    Policy(#[from] crate::ceremony::Error),
}

impl Error {
    /// Whether this is a usage error (exit 2), as the error it holds says.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Wrap(e) => e.is_usage(),
            Error::Hsm(e) => e.is_usage(),
            Error::Pin(e) => e.is_usage(),
            Error::Policy(e) => e.is_usage(),
        }
    }
}

/// Reports every token of the module (or only the one labelled `token`) and what it can do;
/// with a PIN source, after logging in (see [`info::report`]).
pub fn info(
    module: Option<&Path>,
    token: Option<&str>,
    pin: Option<&PinSource>,
) -> Result<info::Report, Error> {
    let path = Module::resolve(module)?;
    let module = Module::load(&path)?;
    Ok(info::report(&module, token, pin)?)
}

/// A token's secret and private keys, as `keys list` shows them.
#[derive(Debug, Serialize)]
pub struct KeyList {
    /// The token, as a manifest names it: module, label, serial, manufacturer, model, firmware.
    pub token: TokenRecord,
    /// Its keys: attributes and check values, never a value.
    pub keys: Vec<KeyInfo>,
}

/// Lists the secret and private keys on the token, logged in.
pub fn keys(access: &TokenAccess) -> Result<KeyList, Error> {
    let (module, token) = open_logged_in(access)?;
    let keys = token.keys()?.into_iter().map(|(_, k)| k).collect();
    Ok(KeyList {
        token: TokenRecord::of(&module, token.description()),
        keys,
    })
}

/// Makes the signer key pair labelled `label` on the token, of `algorithm`, or of the one the
/// token can hold (ECDSA P-256 where it has EC).
pub fn create_signer(
    access: &TokenAccess,
    label: &KeyLabel,
    algorithm: Option<SignerAlgorithm>,
) -> Result<CreatedSigner, Error> {
    let (_module, token) = open_logged_in(access)?;
    let algorithm = match algorithm {
        Some(a) => a,
        None => token.signer_algorithm()?,
    };
    Ok(token.create_signer(label, algorithm)?)
}

/// The public key of the signer labelled `label`, once a fresh signature by its private key
/// verifies under it (logged in: both signer objects are private).
pub fn export_signer(access: &TokenAccess, label: &KeyLabel) -> Result<SignerPublicKey, Error> {
    let (_module, token) = open_logged_in(access)?;
    Ok(token.signer_public_key(label)?)
}

/// Makes the backup key pair labelled `label`. A backup key whose PIN holder could read what it
/// unwraps is made only under a policy (read before the token is opened) that says
/// `accept_backup_unwrap_oracle = true`.
pub fn create_backup_key(
    access: &TokenAccess,
    label: &KeyLabel,
    kind: BackupKeyKind,
    policy: Option<&Path>,
) -> Result<BackupKey, Error> {
    let accept = match policy {
        Some(path) => Policy::load(path)?.accept_backup_unwrap_oracle,
        None => false,
    };
    let (_module, token) = open_logged_in(access)?;
    Ok(token.create_backup_key(label, kind, accept)?)
}

/// The backup key labelled `label`, with what the token was seen to unwrap.
pub fn export_backup_key(access: &TokenAccess, label: &KeyLabel) -> Result<BackupKey, Error> {
    let (_module, token) = open_logged_in(access)?;
    Ok(token.backup_key(label)?)
}

/// What `token trust-wrapping-key` stores, and where.
#[derive(Debug)]
pub struct TrustRequest {
    /// The KMS whose import parameters hold the key.
    pub provider: Provider,
    /// The import parameters file.
    pub params: PathBuf,
    /// The provider's options (gcp: the key in the import job's key ring).
    pub options: ProviderOptions,
    /// The label of the trusted object to create.
    pub label: KeyLabel,
    /// The PKCS#11 module, if named.
    pub module: Option<PathBuf>,
    /// The token's label, if named.
    pub token: Option<String>,
    /// Where the security officer's PIN comes from.
    pub so_pin: PinSource,
}

/// The wrapping key stored as trusted.
#[derive(Debug)]
pub struct Trusted {
    /// The KMS key the import parameters name.
    pub key_id: String,
    /// SHA-256 (hex) of the wrapping key's SubjectPublicKeyInfo.
    pub fingerprint: String,
    /// The token's label.
    pub token: String,
}

/// Reads and checks the import parameters, then, logged in as the security officer, stores
/// their wrapping public key as a `CKA_TRUSTED` object labelled `req.label`.
pub fn trust_wrapping_key(req: &TrustRequest, now: OffsetDateTime) -> Result<Trusted, Error> {
    let bytes = std::fs::read(&req.params).map_err(|e| wrap::Error::ReadParams {
        path: req.params.clone(),
        source: e,
    })?;
    let params = req
        .provider
        .parse_params(&bytes, &req.options, now)
        .map_err(|source| wrap::Error::Params {
            path: req.params.clone(),
            source,
        })?;
    let path = Module::resolve(req.module.as_deref())?;
    let module = Module::load(&path)?;
    let description = module.find_token(req.token.as_deref())?;
    let pin = req.so_pin.read(&format!(
        "Security officer PIN for token {:?}: ",
        description.label
    ))?;
    let token = module.open(description)?;
    token.login_so(&pin)?;
    drop(pin);
    token.trust_wrapping_key(&params.public_key, &req.label)?;
    Ok(Trusted {
        key_id: params.key_id,
        fingerprint: params.public_key.fingerprint().to_owned(),
        token: token.label().to_owned(),
    })
}
