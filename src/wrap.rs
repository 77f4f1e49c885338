//! A wrap: turn a KMS's import parameters into the files its import call takes, with the key
//! generated and wrapped inside the token.
//!
//! [`prepare`] checks every input without touching a token; [`run`] then opens the token, logs
//! in, generates the key, reads its check value, wraps it and writes the output directory. If
//! anything fails after the key exists, the key is destroyed and no output directory remains.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cryptoki::object::ObjectHandle;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::hsm::keys::{GeneratedKey, KcvResult, KeyInfo};
use crate::hsm::object::SessionObject;
use crate::hsm::wrapping::WrapMethod;
use crate::hsm::{Module, Token};
use crate::interrupt::Made;
use crate::kms::{ImportParams, OutputFile, Provider, ProviderOptions};
use crate::pin::PinSource;
use crate::spec::{KeyLabel, KeySpec, WrappingAlgorithm, WrappingKeySpec};
use crate::timestamp::format_time;
use crate::transcript::Transcript;
use crate::{hsm, kms, output, pin, transcript};

/// Why a key pair cannot be wrapped only under trusted keys.
pub const TRUSTED_PAIR: &str = "a key pair cannot have CKA_WRAP_WITH_TRUSTED: its private key is wrapped with RSA-AES, whose ephemeral AES key would itself need CKA_TRUSTED, which only the security officer can set";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct WrapRequest {
    /// The KMS.
    pub provider: Provider,
    /// The import parameters file, as the provider's CLI printed it.
    pub params: PathBuf,
    /// The wrapping algorithm; `None` to take the one the parameters fix (a Google import job)
    /// or the provider's default (Azure, Vault).
    pub algorithm: Option<WrappingAlgorithm>,
    /// What the provider needs beyond the parameters file (`--gcp-key`, `--azure-key`, …).
    pub options: ProviderOptions,
    /// The wrapping key size the user expects, if they named one.
    pub wrapping_key_spec: Option<WrappingKeySpec>,
    /// The label of the key to generate.
    pub key_label: KeyLabel,
    /// The kind of key material.
    pub key_spec: KeySpec,
    /// The output directory to create.
    pub out: PathBuf,
    /// When the imported material should expire in the KMS.
    pub material_valid_to: Option<OffsetDateTime>,
    /// Whether RSAES-PKCS1-v1_5 is allowed.
    pub allow_legacy_pkcs1: bool,
    /// Generate the key with `CKA_WRAP_WITH_TRUSTED`: it can then be wrapped only under a KMS
    /// key the security officer stored as trusted (`token trust-wrapping-key`); direct RSA only.
    pub wrap_with_trusted: bool,
    /// What is asked of the wrapping key's attestation.
    pub attestation: AttestationRequest,
}

/// What a wrap asks of the wrapping key's attestation: checked, where there is one, before any
/// token is opened.
#[derive(Debug, Clone)]
pub struct AttestationRequest {
    /// Azure: the key exchange key's attestation (`az keyvault key get-attestation`), as read,
    /// with where it was read from.
    pub azure: Option<(PathBuf, Vec<u8>)>,
    /// The roots its chains must end in.
    pub roots: crate::attest::Roots,
    /// Refuse a wrapping key that is not attested.
    pub required: bool,
}

impl AttestationRequest {
    /// As the command line asks: an Azure attestation file, a roots file, required or not.
    pub fn read(azure: Option<&Path>, roots: Option<&Path>, required: bool) -> Result<Self, Error> {
        let azure = azure
            .map(|path| {
                crate::input::read(path, crate::input::MAX_SMALL)
                    .map(|bytes| (path.to_path_buf(), bytes))
                    .map_err(|source| Error::ReadAttestation {
                        path: path.to_path_buf(),
                        source,
                    })
            })
            .transpose()?;
        let roots = match roots {
            Some(path) => crate::attest::Roots::load(path)?,
            None => crate::attest::Roots::pinned(),
        };
        Ok(AttestationRequest {
            azure,
            roots,
            required,
        })
    }
}

impl Default for AttestationRequest {
    /// None given, keyrite's pinned roots, none required.
    fn default() -> Self {
        AttestationRequest {
            azure: None,
            roots: crate::attest::Roots::pinned(),
            required: false,
        }
    }
}

/// Which token to use and how to log in.
#[derive(Debug, Clone)]
pub struct TokenAccess {
    /// The PKCS#11 module; `None` for the default.
    pub module: Option<PathBuf>,
    /// The token label; `None` when there is exactly one token.
    pub token: Option<String>,
    /// Where the PIN comes from.
    pub pin: PinSource,
}

/// A request whose inputs have all been checked.
#[derive(Debug)]
pub struct PreparedWrap {
    request: WrapRequest,
    params: ImportParams,
    algorithm: WrappingAlgorithm,
    params_sha256: String,
    attestation: crate::attest::Record,
    evidence: Option<crate::attest::Evidence>,
}

impl PreparedWrap {
    /// The wrapping algorithm, settled: the one asked for, else the one the parameters fix,
    /// else the provider's default.
    pub fn algorithm(&self) -> WrappingAlgorithm {
        self.algorithm
    }

    /// The checked import parameters.
    pub fn params(&self) -> &ImportParams {
        &self.params
    }

    /// What the wrapping key's attestation proved, or why there is none.
    pub fn attestation(&self) -> &crate::attest::Record {
        &self.attestation
    }

    /// The attestation checked, as the KMS gave it; `None` if there is none.
    pub fn evidence(&self) -> Option<&crate::attest::Evidence> {
        self.evidence.as_ref()
    }

    /// SHA-256 (hex) of the parameters file, as read.
    pub fn params_sha256(&self) -> &str {
        &self.params_sha256
    }

    /// The request.
    pub fn request(&self) -> &WrapRequest {
        &self.request
    }
}

/// A prepared wrap that the token has shown it can do: the KMS key imported as a session
/// object, the mechanism tried on a throw-away key. The imported key is destroyed by
/// [`CheckedWrap::finish`] once the wrap is done, or, on an error path, when this is dropped.
#[derive(Debug)]
pub struct CheckedWrap<'t> {
    method: WrapMethod,
    wrapping_key: ObjectHandle,
    /// The imported KMS key; `None` for the security officer's trusted token object, which
    /// stays.
    imported: Option<SessionObject<'t>>,
}

/// How a checked wrap wraps: its method and wrapping key, for a session of the same token
/// (session objects are the application's, in every session).
#[derive(Debug, Clone, Copy)]
pub struct WrapWith {
    method: WrapMethod,
    wrapping_key: ObjectHandle,
}

impl CheckedWrap<'_> {
    /// How the token will wrap.
    pub fn method(&self) -> &WrapMethod {
        &self.method
    }

    /// Its method and wrapping key.
    pub fn with(&self) -> WrapWith {
        WrapWith {
            method: self.method,
            wrapping_key: self.wrapping_key,
        }
    }

    /// Destroys the imported KMS key, the wrap done: a failure is an error naming it.
    pub fn finish(self) -> Result<(), Error> {
        match self.imported {
            Some(imported) => Ok(imported.destroy()?),
            None => Ok(()),
        }
    }
}

/// Imports the KMS public key and tries the exact mechanism before any ceremony key exists. For
/// a key with `CKA_WRAP_WITH_TRUSTED` (`trusted`), the KMS key is instead the token object the
/// security officer stored as trusted, and the trial key carries the attribute too.
pub fn check_on_token<'t>(
    token: &'t Token,
    prepared: &PreparedWrap,
    trusted: bool,
) -> Result<CheckedWrap<'t>, Error> {
    let request = &prepared.request;
    let public_key = &prepared.params.public_key;
    if trusted && prepared.algorithm.is_rsa_aes() {
        return Err(Error::TrustedNeedsDirect {
            algorithm: prepared.algorithm,
        });
    }
    let method = token.wrap_method(prepared.algorithm, request.key_spec)?;
    token.check_pair_support(request.key_spec)?;
    let (wrapping_key, imported) = if trusted {
        (token.trusted_wrapping_key(public_key)?, None)
    } else {
        let imported = token.import_wrapping_key(public_key)?;
        (imported.handle(), Some(imported))
    };
    // A refused trial drops `imported`, which destroys it.
    token.check_wrapping(&method, wrapping_key, public_key.modulus_len(), trusted)?;
    Ok(CheckedWrap {
        method,
        wrapping_key,
        imported,
    })
}

/// Generates a ceremony key and reads what the records need: its id, template and KCV. If the
/// KCV cannot be read, the key is destroyed. `plan`: the SHA-256 of the plan generating it,
/// which its `CKA_ID` is bound to.
pub fn generate(
    token: &Token,
    label: &KeyLabel,
    spec: KeySpec,
    wrap_with_trusted: bool,
    plan: Option<&str>,
) -> Result<(ObjectHandle, KeyRecord), Error> {
    let key = token.generate_ceremony_key(label, spec, wrap_with_trusted, plan)?;
    let kcv = match token.key_check_value(key.handle, spec.key_type()) {
        // A key pair without its identity cannot be proven later: it is not kept.
        Ok(KcvResult::Unavailable(crate::hsm::NoKcv::PublicKey(problem))) => {
            Err(crate::hsm::Error::PublicKey {
                label: label.to_string(),
                problem,
            })
        }
        other => other,
    };
    let check_sha256 = if spec.is_asymmetric() {
        None
    } else {
        token.check_sha256(key.handle)
    };
    match kcv {
        Ok(kcv) => Ok((
            key.handle,
            KeyRecord::new(label, spec, key, kcv, check_sha256),
        )),
        Err(e) => Err(Error::Step {
            step: Step::KeyCheckValue,
            source: Box::new(e.into()),
            key_label: label.to_string(),
            destroyed: token
                .discard_key(key.handle, label, Made::Generated)
                .map_err(Box::new),
        }),
    }
}

impl KeyRecord {
    fn new(
        label: &KeyLabel,
        spec: KeySpec,
        key: GeneratedKey,
        kcv: KcvResult,
        check_sha256: Option<String>,
    ) -> Self {
        KeyRecord {
            label: label.clone(),
            id: hex::encode(&key.id),
            spec,
            kcv: match &kcv {
                KcvResult::Known(k) => Some(k.value.clone()),
                KcvResult::Unavailable(_) => None,
            },
            kcv_method: match kcv {
                KcvResult::Known(k) => k.method.name().to_owned(),
                KcvResult::Unavailable(why) => why.to_string(),
            },
            check_sha256,
            template: key.template.into_iter().collect(),
            check_values: BTreeMap::new(),
            discarded: key.discarded,
            existing: false,
        }
    }
}

/// Checks every input before any token is opened.
pub fn prepare(request: WrapRequest, now: OffsetDateTime) -> Result<PreparedWrap, Error> {
    output::check_absent(&request.out)?;
    let bytes = crate::input::read(&request.params, crate::input::MAX_SMALL).map_err(|e| {
        Error::ReadParams {
            path: request.params.clone(),
            source: e,
        }
    })?;
    prepare_bytes(request, &bytes, now)
}

/// Checks a request whose parameters file has been read already (a ceremony reads each file
/// once, and hashes and parses the same bytes).
pub fn prepare_bytes(
    request: WrapRequest,
    bytes: &[u8],
    now: OffsetDateTime,
) -> Result<PreparedWrap, Error> {
    if let Some(algorithm) = request.algorithm {
        if algorithm.is_legacy() && !request.allow_legacy_pkcs1 {
            return Err(Error::LegacyRefused { algorithm });
        }
    }
    if request.wrap_with_trusted && request.key_spec.is_asymmetric() {
        return Err(Error::TrustedKeyPair);
    }
    if let (true, Some(algorithm)) = (request.wrap_with_trusted, request.algorithm) {
        if algorithm.is_rsa_aes() {
            return Err(Error::TrustedNeedsDirect { algorithm });
        }
    }
    if let Some(t) = request.material_valid_to {
        if t <= now {
            return Err(Error::ValidToPast {
                valid_to: format_time(t),
            });
        }
    }
    request
        .provider
        .check_options(
            &request.options,
            request.algorithm,
            request.material_valid_to.is_some(),
        )
        .map_err(Error::Options)?;
    let params_err = |source| Error::Params {
        path: request.params.clone(),
        source,
    };
    let params = request
        .provider
        .parse_params(bytes, &request.options, now)
        .map_err(params_err)?;
    let algorithm = params
        .check(
            request.provider,
            request.algorithm,
            request.wrapping_key_spec,
            request.key_spec,
        )
        .map_err(params_err)?;
    if request.wrap_with_trusted && algorithm.is_rsa_aes() {
        return Err(Error::TrustedNeedsDirect { algorithm });
    }
    let (attestation, evidence) = check_attestation(&request, &params)?;
    Ok(PreparedWrap {
        request,
        params,
        algorithm,
        params_sha256: hex::encode(Sha256::digest(bytes)),
        attestation,
        evidence,
    })
}

/// Checks the wrapping key's attestation, the parameters' own or the one given for Azure, and
/// refuses a key without one if one is required.
fn check_attestation(
    request: &WrapRequest,
    params: &ImportParams,
) -> Result<(crate::attest::Record, Option<crate::attest::Evidence>), Error> {
    use crate::attest::{Evidence, Offered, Record};
    let wanted = &request.attestation;
    let offered = match &wanted.azure {
        None => params.attestation.clone(),
        Some((path, _)) if request.provider != Provider::Azure => {
            return Err(Error::AttestationNotForProvider {
                path: path.clone(),
                provider: request.provider,
            });
        }
        Some((path, bytes)) => {
            let refused = |source| Error::Attestation {
                path: path.clone(),
                source: Box::new(source),
            };
            let (evidence, kid) = Evidence::from_azure(bytes).map_err(refused)?;
            if let (Some(kid), Some(kek)) = (kid, &params.wrapping_key_id) {
                if &kid != kek {
                    return Err(Error::AttestationOfAnotherKey {
                        path: path.clone(),
                        kid,
                        kek: kek.clone(),
                    });
                }
            }
            Offered::Evidence(Box::new(evidence))
        }
    };
    match offered {
        Offered::Evidence(evidence) => {
            let attested = crate::attest::check(&evidence, &params.public_key, &wanted.roots)
                .map_err(|source| Error::Attestation {
                    path: wanted
                        .azure
                        .as_ref()
                        .map_or_else(|| request.params.clone(), |(path, _)| path.clone()),
                    source: Box::new(source),
                })?;
            Ok((Record::Attested(Box::new(attested)), Some(*evidence)))
        }
        Offered::None { reason } if wanted.required => Err(Error::AttestationRequired { reason }),
        Offered::None { reason } => Ok((Record::NotAttested { reason }, None)),
    }
}

/// The key as the manifest records it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    /// The key label.
    pub label: KeyLabel,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The kind of material.
    pub spec: KeySpec,
    /// The key check value, six hex digits, or `null` when the token gives none; for a key pair,
    /// the SHA-256 of its public key (SubjectPublicKeyInfo DER), 64 hex digits.
    pub kcv: Option<String>,
    /// How the check value was computed, or why there is none.
    pub kcv_method: String,
    /// A secret key's full-length check value: SHA-256 of the material by `C_DigestKey`, 64
    /// hex digits, where the token computes it; `null` otherwise, and for a key pair (whose
    /// `kcv` is its public key's full SHA-256).
    pub check_sha256: Option<String>,
    /// The attribute template the key was generated with.
    pub template: BTreeMap<String, String>,
    /// For a backup: every check value the token gives, by method, so the token that restores
    /// it can compare whichever it computes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub check_values: BTreeMap<String, String>,
    /// EC key pairs the token made and keyrite destroyed before this one, because the token's
    /// PKCS#8 of their private key was not RFC 5915.
    #[serde(skip_serializing_if = "is_zero")]
    pub discarded: usize,
    /// Whether the key was on the token before this run (a rewrap), found and proven by its
    /// check value: the manifest then says `"action": "rewrap"`.
    #[serde(skip)]
    pub existing: bool,
}

impl KeyRecord {
    /// As a transcript line records it.
    pub fn entry(&self) -> crate::transcript::entry::Key {
        crate::transcript::entry::Key {
            label: self.label.as_str().to_owned(),
            id: self.id.clone(),
            spec: self.spec.name().to_owned(),
            kcv: self.kcv.clone(),
            kcv_method: self.kcv_method.clone(),
            check_sha256: self.check_sha256.clone(),
            template: self.template.clone(),
            check_values: self.check_values.clone(),
            discarded: self.discarded,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The token as the manifest records it.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRecord {
    /// The module path.
    pub module: String,
    /// The token label.
    pub label: String,
    /// The serial number.
    pub serial: String,
    /// Manufacturer, model and firmware.
    pub manufacturer: String,
    /// The model.
    pub model: String,
    /// The firmware version.
    pub firmware: String,
}

impl TokenRecord {
    /// The token `description` of `module`, as a manifest records it.
    pub fn of(module: &Module, description: &crate::hsm::TokenDescription) -> Self {
        TokenRecord {
            module: module.path().display().to_string(),
            label: description.label.clone(),
            serial: description.serial.clone(),
            manufacturer: description.manufacturer.clone(),
            model: description.model.clone(),
            firmware: description.firmware.clone(),
        }
    }
}

/// `manifest.json`: what was wrapped, how, by which token, and the SHA-256 of every file.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// The keyrite version that wrote it.
    pub keyrite_version: &'static str,
    /// `"rewrap"` when the key was not generated by this run but found on the token, proven by
    /// its check value (its `template` is then `{}`: the one it was made with is in the record
    /// of the run that made it); absent for a wrap of a key generated by the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// The KMS.
    pub provider: &'static str,
    /// The KMS key id, as the import parameters gave it.
    pub kms_key_id: String,
    /// The wrapping algorithm.
    pub algorithm: &'static str,
    /// The PKCS#11 mechanism(s).
    pub mechanism: String,
    /// Its parameters.
    pub mechanism_parameters: String,
    /// The wrapping key's size.
    pub wrapping_key_spec: &'static str,
    /// SHA-256 of the wrapping key's SubjectPublicKeyInfo.
    pub wrapping_key_sha256: String,
    /// What the wrapping key belongs to, where that is not the KMS key: a Google import job, an
    /// Azure key exchange key, a Vault mount's wrapping key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrapping_key_id: Option<String>,
    /// What proves the wrapping key lives in the KMS's HSM: the attestation keyrite checked
    /// (`"verdict": "attested"`, with its chains' certificates and roots and the attested key's
    /// attributes), or `"verdict": "not attested"` and why.
    pub wrapping_key_attestation: crate::attest::Record,
    /// When the import parameters expire; `null` for never.
    pub parameters_valid_to: Option<String>,
    /// When the imported material expires in the KMS; `null` for never.
    pub key_material_valid_to: Option<String>,
    /// The token.
    pub token: TokenRecord,
    /// The key.
    pub key: KeyRecord,
    /// SHA-256 (hex) of every other file in the directory.
    pub files: BTreeMap<&'static str, String>,
}

/// The result of a wrap.
#[derive(Debug)]
pub struct WrapOutcome {
    /// The KMS.
    pub provider: Provider,
    /// The output directory.
    pub out: PathBuf,
    /// The manifest written into it.
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.json` as written.
    pub manifest_sha256: String,
    /// Something to tell the user although the wrap succeeded.
    pub warning: Option<String>,
}

/// Finds the token, reads the PIN (asking for it by the token's label), opens a session and
/// logs in; the PIN is dropped (zeroised) as soon as the token has it.
pub fn open_logged_in(access: &TokenAccess) -> Result<(Module, Token), Error> {
    let (module, description) = find_token(access)?;
    let pin = access
        .pin
        .read(&format!("User PIN for token {:?}: ", description.label))?;
    let token = module.open(description)?;
    token.login(&pin)?;
    drop(pin);
    Ok((module, token))
}

/// Opens the module and finds the token (no session, no login yet).
pub fn find_token(access: &TokenAccess) -> Result<(Module, crate::hsm::TokenDescription), Error> {
    let path = Module::resolve(access.module.as_deref())?;
    let module = Module::load(&path)?;
    let token = module.find_token(access.token.as_deref())?;
    Ok((module, token))
}

/// The existing key labelled `label`, for a rewrap or a destroy, proven to be the key meant
/// before anything is wrapped or destroyed: the one secret or private key of that label (two
/// are refused, each named), a private object (a public one anyone can make), with a ceremony
/// key's protections, of the kind expected (`None`: whatever the token says it is), and with
/// the check value expected. `expected` is the 6-hex KCV, accepted only for a key generated in
/// this token ([`KeyInfo::generated_here`]: nobody chose its value), or the 64-hex full check
/// value (`check_sha256`; a key pair's public key SHA-256), required for a key unwrapped or
/// created in it: whoever knows a key's material can make it match a 3-byte KCV in about 2^24
/// tries.
pub fn existing_key(
    token: &Token,
    label: &KeyLabel,
    expected: &str,
    spec: Option<KeySpec>,
) -> Result<(ObjectHandle, KeyRecord), Error> {
    let (handle, info, spec) = ceremony_key(token, label, spec)?;
    check_expected(label, spec, &info, expected)?;
    Ok((handle, existing_record(label, spec, &info)))
}

/// [`existing_key`] for a rewrap `--from-transcript`: the key must be the one a sealed record
/// made — its `CKA_ID`, its KCV by the same method, and its full check value where the record
/// has one (required for a key not generated in this token).
pub fn recorded_key(
    token: &Token,
    label: &KeyLabel,
    recorded: &crate::verify::RecordedKcv,
    spec: Option<KeySpec>,
) -> Result<(ObjectHandle, KeyRecord), Error> {
    let (handle, info, spec) = ceremony_key(token, label, spec)?;
    let differs = |what, recorded: &str, actual: Option<&str>| {
        if actual.is_some_and(|a| a.eq_ignore_ascii_case(recorded)) {
            Ok(())
        } else {
            Err(Error::NotTheRecordedKey {
                label: label.to_string(),
                what,
                recorded: recorded.to_owned(),
                actual: actual.unwrap_or("none").to_owned(),
            })
        }
    };
    differs("CKA_ID", &recorded.id, Some(&info.id))?;
    differs(
        "a KCV computed by",
        &recorded.kcv_method,
        Some(&info.kcv_method),
    )?;
    match &recorded.check_sha256 {
        Some(full) => {
            check_expected(label, spec, &info, full)?;
            differs("KCV", &recorded.kcv, info.kcv.as_deref())?;
        }
        None => check_expected(label, spec, &info, &recorded.kcv)?,
    }
    Ok((handle, existing_record(label, spec, &info)))
}

/// The one key labelled `label`, a private object with a ceremony key's protections, of `spec`
/// (or of a kind keyrite makes); its check value is not yet compared.
fn ceremony_key(
    token: &Token,
    label: &KeyLabel,
    spec: Option<KeySpec>,
) -> Result<(ObjectHandle, KeyInfo, KeySpec), Error> {
    let (handle, info) = token.key(label)?;
    if info.private != Some(true) {
        return Err(Error::PublicKeyObject {
            label: label.to_string(),
        });
    }
    if !info.is_ceremony_key() {
        return Err(Error::NotCeremonyKey {
            label: label.to_string(),
            role: info.keyrite_role(),
        });
    }
    // A token that does not report the length of an unwrapped key leaves AES_256 as the only
    // AES kind keyrite makes; the check value proves the material.
    let spec = match spec.or(info.spec) {
        Some(spec) if info.may_be(spec) => spec,
        None if info.may_be(KeySpec::Aes256) => KeySpec::Aes256,
        expected => {
            return Err(Error::ExistingSpec {
                label: label.to_string(),
                expected: expected.map_or("a kind keyrite makes".to_owned(), |s| s.to_string()),
                actual: info.key_type.clone(),
            });
        }
    };
    Ok((handle, info, spec))
}

/// Compares the key's check value with `expected`: a 6-hex KCV only for a key generated in
/// this token, else the 64-hex full check value (a key pair's public key SHA-256 is its `kcv`).
fn check_expected(
    label: &KeyLabel,
    spec: KeySpec,
    info: &KeyInfo,
    expected: &str,
) -> Result<(), Error> {
    let expected = expected.to_ascii_lowercase();
    if !matches!(expected.len(), 6 | 64) || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::BadExpectedKcv { value: expected });
    }
    if expected.len() == 64 && !spec.is_asymmetric() {
        return match &info.check_sha256 {
            Some(full) if *full == expected => Ok(()),
            Some(full) => Err(Error::CheckValueMismatch {
                label: label.to_string(),
                expected,
                actual: full.clone(),
            }),
            None => Err(Error::NoCheckSha256 {
                label: label.to_string(),
            }),
        };
    }
    if expected.len() == 6 && !info.generated_here() {
        let show = |b: Option<bool>| b.map_or("not reported".to_owned(), |b| b.to_string());
        return Err(Error::KcvTooShort {
            label: label.to_string(),
            origin: format!(
                "CKA_LOCAL {}, CKA_ALWAYS_SENSITIVE {}",
                show(info.local),
                show(info.always_sensitive)
            ),
        });
    }
    match &info.kcv {
        Some(kcv) if kcv.eq_ignore_ascii_case(&expected) => Ok(()),
        actual => Err(Error::KcvMismatch {
            label: label.to_string(),
            expected,
            actual: actual.clone().unwrap_or_else(|| "none".to_owned()),
        }),
    }
}

/// The record of a key that exists on the token, as the token reports it now (no template:
/// the one it was made with is not the token's to tell).
pub(crate) fn key_record(label: &KeyLabel, spec: KeySpec, info: &KeyInfo) -> KeyRecord {
    KeyRecord {
        label: label.clone(),
        id: info.id.clone(),
        spec,
        kcv: info.kcv.clone(),
        kcv_method: info.kcv_method.clone(),
        check_sha256: info.check_sha256.clone(),
        template: BTreeMap::new(),
        check_values: BTreeMap::new(),
        discarded: 0,
        existing: false,
    }
}

/// [`key_record`] of a key found on the token for a rewrap (or a destroy), proven the key meant.
fn existing_record(label: &KeyLabel, spec: KeySpec, info: &KeyInfo) -> KeyRecord {
    KeyRecord {
        existing: true,
        ..key_record(label, spec, info)
    }
}

/// Whether the existing key labelled `label` can be wrapped only under trusted keys.
pub fn is_wrap_with_trusted(token: &Token, label: &KeyLabel) -> Result<bool, Error> {
    Ok(token.key(label)?.1.wrap_with_trusted == Some(true))
}

/// How a rewrap proves the existing key is the one meant.
#[derive(Debug)]
pub enum Expected {
    /// A check value given out of band: the 6-hex KCV or the 64-hex full check value (see
    /// [`existing_key`]).
    Given(String),
    /// What an earlier transcript records of the key, believed only if this token's signer
    /// sealed it (see [`recorded_key`]).
    Recorded(crate::verify::RecordedKcv),
}

/// Where a rewrap is told to take what the existing key must be.
#[derive(Debug)]
pub enum ExpectedSource {
    /// A check value given out of band.
    Given(String),
    /// An earlier transcript, verified under the signer's public key (PEM) first.
    Transcript {
        /// The sealed transcript.
        transcript: PathBuf,
        /// The signer's public key that sealed it.
        signer: PathBuf,
    },
}

/// Checks a rewrap's inputs before any token is opened: what the key must be (an earlier
/// transcript verified and read first), then the request as [`prepare`] checks it.
pub fn prepare_rewrap(
    request: WrapRequest,
    source: ExpectedSource,
    now: OffsetDateTime,
) -> Result<(PreparedWrap, Expected), Error> {
    let expected = match source {
        ExpectedSource::Given(value) => Expected::Given(value),
        ExpectedSource::Transcript { transcript, signer } => Expected::Recorded(
            crate::verify::recorded_kcv(&transcript, &signer, &request.key_label)
                .map_err(|e| Error::Verify(Box::new(e)))?,
        ),
    };
    Ok((prepare(request, now)?, expected))
}

/// Re-wraps an existing key under new import parameters: the same material, proven by its
/// check value (and, from a record, its `CKA_ID` and KCV method). A failure never destroys the
/// key: it existed before this run.
pub fn rewrap(
    prepared: PreparedWrap,
    access: &TokenAccess,
    expected: &Expected,
) -> Result<WrapOutcome, Error> {
    let (module, token) = open_logged_in(access)?;
    if let Expected::Recorded(r) = expected {
        let actual = token.signer_public_key(&r.signer_label)?.fingerprint()?;
        if actual != r.signer_fingerprint {
            return Err(Error::RecordOfAnotherToken {
                token: token.label().to_owned(),
                signer: r.signer_label.to_string(),
                sealed: r.signer_fingerprint.clone(),
                actual,
            });
        }
    }
    let request = &prepared.request;
    let spec = Some(request.key_spec);
    let (handle, key) = match expected {
        Expected::Given(value) => existing_key(&token, &request.key_label, value, spec)?,
        Expected::Recorded(r) => recorded_key(&token, &request.key_label, r, spec)?,
    };
    let trusted = is_wrap_with_trusted(&token, &request.key_label)?;
    let checked = check_on_token(&token, &prepared, trusted)?;
    let outcome = wrap_and_write(&token, &module, &prepared, &checked, handle, &key, None)
        .map_err(|(step, source)| Error::StepFailed {
            step,
            source: Box::new(source),
        })?;
    checked.finish()?;
    Ok(outcome)
}

/// Runs a prepared wrap on a token: log in, check, generate, wrap, write. Any failure after the
/// key exists destroys it.
pub fn run(prepared: PreparedWrap, access: &TokenAccess) -> Result<WrapOutcome, Error> {
    let (module, token) = open_logged_in(access)?;
    let request = &prepared.request;
    token.check_label_free(&request.key_label)?;
    let checked = check_on_token(&token, &prepared, request.wrap_with_trusted)?;
    let (handle, key) = generate(
        &token,
        &request.key_label,
        request.key_spec,
        request.wrap_with_trusted,
        None,
    )?;
    let outcome = wrap_and_write(&token, &module, &prepared, &checked, handle, &key, None)
        .map_err(|(step, source)| Error::Step {
            step,
            source: Box::new(source),
            key_label: request.key_label.to_string(),
            destroyed: token
                .discard_key(handle, &request.key_label, Made::Generated)
                .map_err(Box::new),
        })?;
    checked.finish()?;
    Ok(outcome)
}

/// Wraps an existing key as checked and writes the provider's files and the manifest. An error
/// names its step; the caller decides what happens to the key.
///
/// `announced`: the transcript whose last line announces this wrap. That line is made durable
/// in the same round as the output's files, before the output directory appears, so no output
/// ever exists that the transcript does not announce.
pub fn wrap_and_write(
    token: &Token,
    module: &Module,
    prepared: &PreparedWrap,
    checked: &CheckedWrap<'_>,
    handle: ObjectHandle,
    key: &KeyRecord,
    announced: Option<&Transcript>,
) -> Result<WrapOutcome, (Step, Error)> {
    let staged = wrap_and_stage(token, module, prepared, &checked.with(), handle, key)?;
    let StagedWrap {
        dir,
        provider,
        manifest,
        manifest_sha256,
    } = staged;
    let (out, warning) = dir
        .commit_with(|| match announced {
            Some(t) => sync_transcript(t),
            None => Ok(()),
        })
        .map_err(|e| (Step::Write, e.into()))?;
    Ok(WrapOutcome {
        provider,
        out,
        manifest,
        manifest_sha256,
        warning,
    })
}

/// A wrap's output written under a temporary name, not yet durable: [`output::sync_round`]
/// makes it durable (with the outputs of the same batch and the transcript lines announcing
/// them), then it moves into place.
#[derive(Debug)]
pub struct StagedWrap {
    /// The output directory, staged.
    pub dir: output::StagedDir,
    /// The KMS.
    pub provider: Provider,
    /// The manifest written into it.
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.json` as written.
    pub manifest_sha256: String,
}

/// The transcript `t` fsynced, as a step of an output's commit round.
pub fn sync_transcript(t: &Transcript) -> Result<(), output::Error> {
    t.sync().map_err(|e| output::Error::Io {
        action: "cannot sync the transcript",
        path: t.path().to_path_buf(),
        source: match e {
            crate::transcript::Error::Io { source, .. } => source,
            other => std::io::Error::other(other),
        },
    })
}

/// [`wrap_and_write`] up to the output staged: the key wrapped as checked, the provider's files
/// and the manifest written under a temporary name beside the output, nothing fsynced.
pub fn wrap_and_stage(
    token: &Token,
    module: &Module,
    prepared: &PreparedWrap,
    with: &WrapWith,
    handle: ObjectHandle,
    key: &KeyRecord,
) -> Result<StagedWrap, (Step, Error)> {
    let WrappedOutput {
        files,
        provider,
        manifest,
        manifest_sha256,
    } = wrap_for_output(token, module, prepared, with, handle, key)?;
    Ok(StagedWrap {
        dir: files.stage().map_err(|e| (Step::Write, e.into()))?,
        provider,
        manifest,
        manifest_sha256,
    })
}

/// [`wrap_and_stage`] but for the writing: the key wrapped as checked, the provider's files and
/// the manifest made, for [`OutputFiles::stage`] to write (on another thread if the caller will).
pub fn wrap_for_output(
    token: &Token,
    module: &Module,
    prepared: &PreparedWrap,
    with: &WrapWith,
    handle: ObjectHandle,
    key: &KeyRecord,
) -> Result<WrappedOutput, (Step, Error)> {
    let request = &prepared.request;
    let params = &prepared.params;
    let method = &with.method;
    let wrapped = token
        .wrap(
            method,
            with.wrapping_key,
            handle,
            params.public_key.modulus_len(),
            key.spec,
        )
        .map_err(|e| (Step::Wrap, e.into()))?;
    let mut key = key.clone();
    if request.provider == Provider::Pkcs11Backup {
        let values = token
            .check_values(handle, key.spec.key_type())
            .map_err(|e| (Step::KeyCheckValue, e.into()))?
            .map_err(|why| (Step::KeyCheckValue, Error::BackupWithoutKcv { why }))?;
        key.check_values = values
            .into_iter()
            .map(|k| (k.method.name().to_owned(), k.value))
            .collect();
    }
    let description = token.description();
    let token_model = format!(
        "{}, {}, firmware {}",
        description.manufacturer, description.model, description.firmware
    );
    let mut files = crate::kms::Import {
        params,
        algorithm: prepared.algorithm,
        key_spec: key.spec,
        key_label: key.label.as_str(),
        wrapped: &wrapped,
        material_valid_to: request.material_valid_to,
        token: &token_model,
    }
    .files();
    if key.spec.is_asymmetric() {
        files.push(public_pem(token, handle, &key).map_err(|e| (Step::Wrap, e))?);
    }
    let manifest = Manifest {
        keyrite_version: env!("CARGO_PKG_VERSION"),
        action: key.existing.then_some("rewrap"),
        provider: request.provider.name(),
        kms_key_id: params.key_id.clone(),
        algorithm: prepared.algorithm.name(),
        mechanism: method.mechanism(),
        mechanism_parameters: method.parameters(),
        wrapping_key_spec: params.public_key.spec().name(),
        wrapping_key_sha256: params.public_key.fingerprint().to_owned(),
        wrapping_key_id: params.wrapping_key_id.clone(),
        wrapping_key_attestation: prepared.attestation.clone(),
        parameters_valid_to: params.valid_to.map(format_time),
        key_material_valid_to: request.material_valid_to.map(format_time),
        token: TokenRecord::of(module, description),
        key,
        files: files
            .iter()
            .map(|f| (f.name, hex::encode(Sha256::digest(&f.contents))))
            .collect(),
    };
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| {
        (
            Step::Write,
            Error::Internal {
                what: format!("cannot serialise the manifest: {e}"),
            },
        )
    })?;
    json.push(b'\n');
    let manifest_sha256 = hex::encode(Sha256::digest(&json));
    files.push(OutputFile::data("manifest.json", json));
    Ok(WrappedOutput {
        files: OutputFiles {
            out: request.out.clone(),
            files,
        },
        provider: request.provider,
        manifest,
        manifest_sha256,
    })
}

/// A wrap done on the token, its output's files made but not written.
#[derive(Debug)]
pub struct WrappedOutput {
    /// The files, `manifest.json` last.
    pub files: OutputFiles,
    /// The KMS.
    pub provider: Provider,
    /// The manifest among the files.
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.json`.
    pub manifest_sha256: String,
}

/// The files of an output directory, to write under a temporary name beside it.
#[derive(Debug)]
pub struct OutputFiles {
    out: PathBuf,
    files: Vec<OutputFile>,
}

impl OutputFiles {
    /// Writes the files under a temporary name beside the output, nothing fsynced.
    pub fn stage(&self) -> Result<output::StagedDir, output::Error> {
        let mut staged = output::StagedDir::new(&self.out)?;
        for f in &self.files {
            staged.write(f.name, &f.contents, f.executable)?;
        }
        Ok(staged)
    }
}

/// `public.pem`: the public key of the key pair whose private key was wrapped, to compare with
/// what the KMS reports after the import. Its fingerprint must be the identity recorded.
fn public_pem(token: &Token, handle: ObjectHandle, key: &KeyRecord) -> Result<OutputFile, Error> {
    let public = token.public_key_of(handle)?;
    if key.kcv.as_deref() != Some(public.fingerprint().as_str()) {
        return Err(Error::KcvMismatch {
            label: key.label.to_string(),
            expected: key.kcv.clone().unwrap_or_else(|| "none".to_owned()),
            actual: public.fingerprint(),
        });
    }
    Ok(OutputFile::data(
        crate::kms::PUBLIC_PEM,
        public.pem()?.into_bytes(),
    ))
}

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

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::KeyCheckValue => "reading the key check value",
            Step::Wrap => "wrapping the key (C_WrapKey)",
            Step::Write => "writing the output directory",
        })
    }
}

/// Why a wrap, a rewrap or a trust of a wrapping key was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sealed record a rewrap takes its key from could not be verified (boxed: verify's
    /// error holds the ceremony's, which holds this one).
    #[error(transparent)]
    Verify(Box<crate::verify::Error>),
    /// The wrapping key's attestation does not hold.
    #[error("the wrapping key's attestation in {} does not hold: {source}; keyrite wraps nothing under a key it cannot trust", path.display())]
    Attestation {
        /// The file it came in.
        path: PathBuf,
        /// The link that failed.
        #[source]
        source: Box<crate::attest::Refusal>,
    },
    /// An attestation is required, and the wrapping key has none.
    #[error("an attestation of the wrapping key is required, and there is none: {reason}")]
    AttestationRequired {
        /// Why there is none.
        reason: String,
    },
    /// A key attestation given for a provider that takes none.
    #[error("{} is a key attestation, which keyrite takes for --provider azure only ({} attests in its parameters, or not at all)", path.display(), provider.name())]
    AttestationNotForProvider {
        /// The file.
        path: PathBuf,
        /// The provider.
        provider: Provider,
    },
    /// The Azure attestation is of another key than the key exchange key.
    #[error("{} attests the key {kid}, not the key exchange key {kek}", path.display())]
    AttestationOfAnotherKey {
        /// The file.
        path: PathBuf,
        /// The key it attests.
        kid: String,
        /// The key exchange key.
        kek: String,
    },
    /// The attestation file could not be read.
    #[error("cannot read the key attestation {}: {source}", path.display())]
    ReadAttestation {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The roots file was refused.
    #[error(transparent)]
    Roots(#[from] crate::attest::RootsError),
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
    /// The existing key no longer has a ceremony key's protections, or is one of keyrite's
    /// other keys (`role`).
    #[error("key {label:?} is {}", match role {
        Some(role) => format!("{role}, not a ceremony key"),
        None => "not a ceremony key (it must be sensitive since it was made or restored, extractable only by wrapping, of no other use, and not modifiable)".to_owned(),
    })]
    NotCeremonyKey {
        /// The key label.
        label: String,
        /// What keyrite key it is instead, when it has the protections of one
        /// ([`KeyInfo::keyrite_role`](crate::hsm::keys::KeyInfo::keyrite_role)).
        role: Option<&'static str>,
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
    #[error("{TRUSTED_PAIR}")]
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
    /// Whether this is a usage error (exit 2): an input named cannot be read or does not parse,
    /// an option is missing or does not apply, an output path cannot be used, the PIN source
    /// gives no PIN, the token is not named. What the parameters' provider, the token or a
    /// check refuses, and a step that fails, are not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Verify(e) => e.is_usage(),
            Error::ReadParams { .. }
            | Error::LegacyRefused { .. }
            | Error::RewrapNeedsKcv
            | Error::RewrapTrusted
            | Error::RewrapRecording
            | Error::AttestationNotForProvider { .. }
            | Error::ReadAttestation { .. }
            | Error::Roots(_)
            | Error::BadExpectedKcv { .. } => true,
            Error::Params { source, .. } | Error::Options(source) => source.is_usage(),
            Error::Output(e) => e.is_usage(),
            Error::Pin(e) => e.is_usage(),
            Error::Hsm(e) => e.is_usage(),
            Error::Transcript(e) => e.is_usage(),
            Error::ValidToPast { .. }
            | Error::Step { .. }
            | Error::KcvMismatch { .. }
            | Error::KcvTooShort { .. }
            | Error::NoCheckSha256 { .. }
            | Error::CheckValueMismatch { .. }
            | Error::NotTheRecordedKey { .. }
            | Error::NotCeremonyKey { .. }
            | Error::RecordOfAnotherToken { .. }
            | Error::PublicKeyObject { .. }
            | Error::ExistingSpec { .. }
            | Error::StepFailed { .. }
            | Error::TrustedKeyPair
            | Error::TrustedNeedsDirect { .. }
            | Error::BackupWithoutKcv { .. }
            | Error::Attestation { .. }
            | Error::AttestationRequired { .. }
            | Error::AttestationOfAnotherKey { .. }
            | Error::Internal { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_parameters_file_is_read_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let params = dir.path().join("params.json");
        std::fs::write(&params, vec![b' '; (crate::input::MAX_SMALL + 1) as usize]).unwrap();
        let request = WrapRequest {
            provider: Provider::Aws,
            params: params.clone(),
            algorithm: Some(WrappingAlgorithm::RsaesOaepSha1),
            options: ProviderOptions::default(),
            wrapping_key_spec: None,
            key_label: "k".parse().unwrap(),
            key_spec: KeySpec::Aes256,
            out: dir.path().join("out"),
            material_valid_to: None,
            allow_legacy_pkcs1: false,
            wrap_with_trusted: false,
            attestation: AttestationRequest::default(),
        };
        assert_eq!(
            prepare(request, OffsetDateTime::now_utc())
                .unwrap_err()
                .to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                params.display()
            )
        );
    }
}
