//! Cloud KMS import formats: parse the import parameters a KMS hands out, check them, and
//! write the files its import call takes.
//!
//! Everything here runs before a token is opened. It trusts nothing in the parameters file: the
//! JSON is parsed strictly (duplicate keys refused), every identifier that reaches a generated
//! shell script is checked against the provider's syntax and single-quoted, the wrapping public
//! key must be RSA of at least 2048 bits, and expired parameters are refused.
//!
//! Providers differ in what their parameters hold: AWS and Alibaba hand out an import token and
//! an expiry for one KMS key; a Google import job fixes the wrapping algorithm and expires but
//! has no token; an Azure key exchange key or a Vault wrapping key may never expire. What the
//! parameters do not name (the key to import into, an Azure `kid` beside a bare PEM) comes from
//! [`ProviderOptions`], checked as strictly as the parameters.

pub mod alibaba;
pub mod aws;
pub mod azure;
pub mod backup;
mod error;
pub mod gcp;
pub mod vault;

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::json::string_field;
use crate::spec::{KeySpec, WrappingAlgorithm, WrappingKey, WrappingKeySpec};
use crate::timestamp::format_time;

pub use error::{Error, JwkKeyProblem, PemProblem};

/// The public key of a key pair whose private key was wrapped, written beside the import files.
pub const PUBLIC_PEM: &str = "public.pem";

/// A KMS keyrite writes import files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// AWS KMS (`aws kms import-key-material`).
    Aws,
    /// Alibaba Cloud KMS (`aliyun kms ImportKeyMaterial`).
    Alibaba,
    /// Google Cloud KMS (`gcloud kms keys versions import`).
    Gcp,
    /// Azure Key Vault Managed HSM (`az keyvault key import --byok-file`).
    Azure,
    /// HashiCorp Vault transit (`vault write transit/keys/NAME/import`).
    Vault,
    /// A second PKCS#11 token (`keyrite restore`), under the backup key made there by
    /// `keyrite token backup-key create`.
    Pkcs11Backup,
}

impl Provider {
    /// Every provider, in the order help lists them.
    pub const ALL: [Provider; 6] = [
        Provider::Aws,
        Provider::Alibaba,
        Provider::Gcp,
        Provider::Azure,
        Provider::Vault,
        Provider::Pkcs11Backup,
    ];

    /// The provider's name on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Alibaba => "alibaba",
            Provider::Gcp => "gcp",
            Provider::Azure => "azure",
            Provider::Vault => "vault",
            Provider::Pkcs11Backup => "pkcs11-backup",
        }
    }

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Aws => "AWS KMS",
            Provider::Alibaba => "Alibaba Cloud KMS",
            Provider::Gcp => "Google Cloud KMS",
            Provider::Azure => "Azure Key Vault",
            Provider::Vault => "HashiCorp Vault transit",
            Provider::Pkcs11Backup => "backup token",
        }
    }

    /// The wrapping algorithms this provider imports.
    pub fn algorithms(self) -> &'static [WrappingAlgorithm] {
        use WrappingAlgorithm::*;
        match self {
            Provider::Aws => &[
                RsaesOaepSha1,
                RsaesOaepSha256,
                RsaAesKeyWrapSha1,
                RsaAesKeyWrapSha256,
                RsaesPkcs1V15,
            ],
            Provider::Alibaba => &[RsaesOaepSha1, RsaesOaepSha256, RsaesPkcs1V15],
            Provider::Gcp => &[RsaesOaepSha256, RsaAesKeyWrapSha1, RsaAesKeyWrapSha256],
            Provider::Azure => &[RsaAesKeyWrapSha1],
            Provider::Vault => &[RsaAesKeyWrapSha256, RsaAesKeyWrapSha1],
            // Secret keys directly with OAEP, key pairs with RSA-AES: see crate::hsm::backup.
            Provider::Pkcs11Backup => &[
                RsaesOaepSha256,
                RsaesOaepSha1,
                RsaAesKeyWrapSha256,
                RsaAesKeyWrapSha1,
            ],
        }
    }

    /// The algorithm used when neither `--algorithm` nor the parameters name one: Azure's BYOK
    /// takes only RSA-AES with SHA-1, Vault's import defaults to SHA-256. `None` where the user
    /// must say (AWS, Alibaba) or the parameters do (a Google import job's method).
    pub fn default_algorithm(self) -> Option<WrappingAlgorithm> {
        match self {
            Provider::Azure => Some(WrappingAlgorithm::RsaAesKeyWrapSha1),
            Provider::Vault | Provider::Pkcs11Backup => {
                Some(WrappingAlgorithm::RsaAesKeyWrapSha256)
            }
            Provider::Aws | Provider::Alibaba | Provider::Gcp => None,
        }
    }

    /// The algorithm used for `key_spec` material when neither `--algorithm` nor the parameters
    /// name one: [`Provider::default_algorithm`], but for a backup, whose algorithm follows the
    /// kind of key (a secret key directly with RSA-OAEP, a key pair with RSA-AES).
    pub fn default_algorithm_for(self, key_spec: KeySpec) -> Option<WrappingAlgorithm> {
        match self {
            Provider::Pkcs11Backup if !key_spec.is_asymmetric() => {
                Some(WrappingAlgorithm::RsaesOaepSha256)
            }
            _ => self.default_algorithm(),
        }
    }

    /// Whether the provider's import call can set an expiry for the imported material
    /// (`--valid-to`).
    pub fn material_expiry(self) -> bool {
        matches!(self, Provider::Aws | Provider::Alibaba | Provider::Azure)
    }

    /// Something to tell the user about this provider's import of `spec` material, beside the
    /// command to run.
    pub fn import_note(self, spec: KeySpec) -> Option<String> {
        match self {
            Provider::Azure if !spec.is_asymmetric() => Some(azure::AES_NOTE.to_owned()),
            Provider::Pkcs11Backup => Some(backup::NOTE.to_owned()),
            Provider::Aws => aws::key_spec(spec).map(|(aws_spec, usage)| {
                format!(
                    "The AWS KMS key must have been created for this material: \
                     aws kms create-key --origin EXTERNAL --key-spec {aws_spec} --key-usage {usage}"
                )
            }),
            _ => None,
        }
    }

    /// Checks the options of a request before the parameters are read: the provider gets the
    /// options it needs and no others, each of its syntax; an algorithm is named where nothing
    /// else names one; `--valid-to` only where the import call can carry it.
    pub fn check_options(
        self,
        options: &ProviderOptions,
        algorithm: Option<WrappingAlgorithm>,
        material_expires: bool,
    ) -> Result<(), Error> {
        let given = [
            ("--gcp-key", options.gcp_key.is_some(), Provider::Gcp),
            (
                "--gcp-algorithm",
                options.gcp_algorithm.is_some(),
                Provider::Gcp,
            ),
            ("--azure-key", options.azure_key.is_some(), Provider::Azure),
            ("--azure-kid", options.azure_kid.is_some(), Provider::Azure),
            ("--vault-key", options.vault_key.is_some(), Provider::Vault),
            (
                "--vault-mount",
                options.vault_mount.is_some(),
                Provider::Vault,
            ),
        ];
        for (option, is_given, owner) in given {
            if is_given && owner != self {
                return Err(Error::OptionNotForProvider {
                    option,
                    provider: self,
                    owner,
                });
            }
        }
        let missing = match self {
            Provider::Gcp if options.gcp_key.is_none() => Some(gcp::KEY_OPTION),
            Provider::Azure if options.azure_key.is_none() => Some(azure::KEY_OPTION),
            Provider::Vault if options.vault_key.is_none() => Some(vault::KEY_OPTION),
            _ => None,
        };
        if let Some((option, meaning)) = missing {
            return Err(Error::OptionRequired {
                option,
                meaning,
                provider: self,
            });
        }
        if let Some(name) = &options.gcp_key {
            gcp::check_key_name(name)?;
        }
        if let Some(name) = &options.gcp_algorithm {
            gcp::check_algorithm_name(name)?;
        }
        if let Some(name) = &options.azure_key {
            azure::check_key_name(name)?;
        }
        if let Some(kid) = &options.azure_kid {
            azure::store_of("--azure-kid", kid)?;
        }
        if let Some(name) = &options.vault_key {
            vault::check_key_name(name)?;
        }
        if let Some(mount) = &options.vault_mount {
            vault::check_mount(mount)?;
        }
        if algorithm.is_none() && self.default_algorithm().is_none() && self != Provider::Gcp {
            return Err(Error::AlgorithmRequired { provider: self });
        }
        if material_expires && !self.material_expiry() {
            return Err(Error::ValidToUnsupported { provider: self });
        }
        Ok(())
    }

    /// The kinds of key material this provider imports.
    pub fn key_specs(self) -> &'static [KeySpec] {
        use KeySpec::*;
        match self {
            Provider::Aws => &crate::spec::ALL_KEY_SPECS,
            // A restored EC private key reports no public key on the tokens keyrite knows, so
            // nothing could prove it is the key backed up: EC keys are not backed up.
            Provider::Pkcs11Backup => &[
                Aes256, Hmac224, Hmac256, Hmac384, Hmac512, Rsa2048, Rsa3072, Rsa4096,
            ],
            Provider::Alibaba => &[Aes256],
            // Google imports no P-521 key.
            Provider::Gcp => &[
                Aes256,
                Rsa2048,
                Rsa3072,
                Rsa4096,
                EcP256,
                EcP384,
                EcSecp256k1,
            ],
            Provider::Azure => &[
                Aes256,
                Rsa2048,
                Rsa3072,
                Rsa4096,
                EcP256,
                EcP384,
                EcP521,
                EcSecp256k1,
            ],
            // Vault's HMAC keys are 32 to 512 bytes: HMAC_224's 28 bytes are refused there. Its
            // transit engine has no secp256k1 keys.
            Provider::Vault => &[
                Aes256, Hmac256, Hmac384, Hmac512, Rsa2048, Rsa3072, Rsa4096, EcP256, EcP384,
                EcP521,
            ],
        }
    }

    /// The RSA wrapping key sizes this provider hands out.
    pub fn wrapping_key_specs(self) -> &'static [WrappingKeySpec] {
        use WrappingKeySpec::*;
        match self {
            Provider::Aws => &[Rsa2048, Rsa3072, Rsa4096],
            Provider::Alibaba => &[Rsa2048],
            Provider::Gcp => &[Rsa3072, Rsa4096],
            Provider::Azure | Provider::Pkcs11Backup => &[Rsa2048, Rsa3072, Rsa4096],
            // Vault's import reads the first 512 bytes as the RSA part.
            Provider::Vault => &[Rsa4096],
        }
    }

    /// Parses the import parameters file of this provider, with the options
    /// [`Provider::check_options`] accepted.
    pub fn parse_params(
        self,
        bytes: &[u8],
        options: &ProviderOptions,
        now: OffsetDateTime,
    ) -> Result<ImportParams, Error> {
        let parsed = match self {
            Provider::Aws => aws::parse(bytes, now),
            Provider::Alibaba => alibaba::parse(bytes, now),
            Provider::Gcp => gcp::parse(bytes, options, now),
            Provider::Azure => azure::parse(bytes, options, now),
            Provider::Vault => vault::parse(bytes, options),
            Provider::Pkcs11Backup => backup::parse(bytes),
        };
        // Refused parameters that are plainly another provider's are named as such.
        parsed.map_err(|e| match ParamsShape::of(bytes) {
            Some(ParamsShape::Of(detected)) if detected != self => Error::OtherProvider {
                provider: self,
                detected,
            },
            Some(ParamsShape::PemPublicKey) if !self.takes_pem() => {
                Error::PemParams { provider: self }
            }
            _ => e,
        })
    }

    /// Whether a bare PEM public key can be this provider's parameters.
    fn takes_pem(self) -> bool {
        matches!(
            self,
            Provider::Azure | Provider::Vault | Provider::Pkcs11Backup
        )
    }

    /// What this provider's parameters file is, for people.
    pub fn params_name(self) -> &'static str {
        match self {
            Provider::Aws => "AWS KMS import parameters",
            Provider::Alibaba => "Alibaba Cloud KMS import parameters",
            Provider::Gcp => "a Google Cloud KMS import job",
            Provider::Azure => "an Azure Key Vault key exchange key",
            Provider::Vault => "a HashiCorp Vault transit wrapping key",
            Provider::Pkcs11Backup => "a backup key's public key",
        }
    }
}

/// What a parameters file looks like, by the fields only one provider's parameters have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParamsShape {
    /// That provider's parameters (`KeyId`, `ImportToken`, `PublicKey` and AWS's
    /// `ParametersValidTo` or Alibaba's `TokenExpireTime`; a Google job's `importMethod` or
    /// `name`; an Azure key's `key.kid` or `key.kty`; Vault's `data.public_key`).
    Of(Provider),
    /// A bare PEM public key: a backup key's, a Vault wrapping key or an Azure key exchange key.
    PemPublicKey,
}

impl ParamsShape {
    /// The shape of `bytes`, if they have one of a provider's; `None` for anything else.
    fn of(bytes: &[u8]) -> Option<Self> {
        if is_pem(bytes) {
            let text = std::str::from_utf8(bytes).ok()?;
            return text
                .trim_start()
                .starts_with("-----BEGIN PUBLIC KEY-----")
                .then_some(ParamsShape::PemPublicKey);
        }
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            return None;
        };
        let has = |field: &str| map.contains_key(field);
        let object_has = |field: &str, inner: &[&str]| {
            map.get(field)
                .and_then(Value::as_object)
                .is_some_and(|o| inner.iter().any(|f| o.contains_key(*f)))
        };
        let job_name = map
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.contains("/importJobs/"));
        let provider = if has("KeyId") && has("ImportToken") && has("PublicKey") {
            if has("ParametersValidTo") {
                Provider::Aws
            } else if has("TokenExpireTime") {
                Provider::Alibaba
            } else {
                return None;
            }
        } else if has("importMethod") || job_name {
            Provider::Gcp
        } else if object_has("key", &["kid", "kty"]) {
            Provider::Azure
        } else if object_has("data", &["public_key"]) {
            Provider::Vault
        } else {
            return None;
        };
        Some(ParamsShape::Of(provider))
    }
}

/// What a provider needs beyond its parameters file. Each is for one provider only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    /// Google: the key (in the import job's key ring) a new version is imported into.
    pub gcp_key: Option<String>,
    /// Google: the imported version's algorithm, for a key pair.
    pub gcp_algorithm: Option<String>,
    /// Azure: the name of the key the import creates in the Managed HSM.
    pub azure_key: Option<String>,
    /// Azure: the key exchange key's full versioned id, when the parameters are a bare PEM.
    pub azure_kid: Option<String>,
    /// Vault: the name of the transit key the import creates.
    pub vault_key: Option<String>,
    /// Vault: the transit mount's path (default `transit`).
    pub vault_mount: Option<String>,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Provider {
    type Err = Error;

    /// Parses the name on the command line, exactly as spelt.
    fn from_str(s: &str) -> Result<Self, Error> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::UnknownProvider {
                value: s.to_owned(),
            })
    }
}

/// Import parameters as a KMS handed them out, checked.
#[derive(Debug, Clone)]
pub struct ImportParams {
    /// The KMS key the material goes into, as manifests record it: an AWS or Alibaba key id or
    /// ARN exactly as printed, a Google `cryptoKeys` name, an Azure key URL, a Vault key path.
    pub key_id: String,
    /// The RSA wrapping public key.
    pub public_key: WrappingKey,
    /// When the parameters (import token, import job, key exchange key) expire; `None` for never.
    pub valid_to: Option<OffsetDateTime>,
    /// The algorithm the parameters themselves fix (a Google import job's method).
    pub fixed_algorithm: Option<FixedAlgorithm>,
    /// What the wrapping key belongs to, where that is not the KMS key itself: a Google import
    /// job, an Azure key exchange key, a Vault mount's wrapping key.
    pub wrapping_key_id: Option<String>,
    /// What the provider's import call needs, each value checked against the provider's syntax.
    pub target: Target,
    /// The wrapping key's attestation the parameters carry (a Google HSM import job's), or why
    /// there is none.
    pub attestation: crate::attest::Offered,
}

/// An algorithm fixed by the parameters, and what fixed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedAlgorithm {
    /// The algorithm.
    pub algorithm: WrappingAlgorithm,
    /// What fixed it, in the provider's words (`importMethod RSA_OAEP_3072_SHA1_AES_256`).
    pub by: String,
}

/// The provider-specific half of checked import parameters.
#[derive(Debug, Clone)]
pub enum Target {
    /// AWS KMS: the import token, raw bytes.
    Aws {
        /// The import token.
        import_token: Vec<u8>,
    },
    /// Alibaba Cloud KMS: the import token, raw bytes.
    Alibaba {
        /// The import token.
        import_token: Vec<u8>,
    },
    /// Google Cloud KMS: the import job and the key.
    Gcp(gcp::Target),
    /// Azure Managed HSM or Key Vault: the key exchange key and the key to create.
    Azure(azure::Target),
    /// HashiCorp Vault transit: the mount and the key to create.
    Vault(vault::Target),
    /// A second PKCS#11 token, which restores the key itself.
    Backup,
}

impl ImportParams {
    /// Checks the parameters against what the user asked for and settles the algorithm: the one
    /// asked for, which must agree with one the parameters fix, else the one they fix, else the
    /// provider's default. It must be one the provider imports, and the wrapping key must have
    /// the size the user named and the provider hands out.
    pub fn check(
        &self,
        provider: Provider,
        requested: Option<WrappingAlgorithm>,
        spec: Option<WrappingKeySpec>,
        key_spec: KeySpec,
    ) -> Result<WrappingAlgorithm, Error> {
        if !provider.key_specs().contains(&key_spec) {
            return Err(Error::KeySpecNotImported { provider, key_spec });
        }
        let algorithm = match (requested, &self.fixed_algorithm) {
            (Some(requested), Some(fixed)) if requested != fixed.algorithm => {
                return Err(Error::AlgorithmMismatch {
                    requested,
                    fixed: fixed.clone(),
                });
            }
            (Some(requested), _) => requested,
            (None, Some(fixed)) => fixed.algorithm,
            (None, None) => provider
                .default_algorithm_for(key_spec)
                .ok_or(Error::AlgorithmRequired { provider })?,
        };
        if !provider.algorithms().contains(&algorithm) {
            return Err(Error::AlgorithmNotAllowed {
                provider,
                algorithm,
            });
        }
        let actual = self.public_key.spec();
        if !provider.wrapping_key_specs().contains(&actual) {
            return Err(Error::KeySpecNotAllowed { provider, actual });
        }
        if let Some(expected) = spec {
            if expected != actual {
                return Err(Error::KeySpecMismatch { expected, actual });
            }
        }
        match &self.target {
            Target::Gcp(target) => {
                target.algorithm_for(key_spec)?;
            }
            Target::Azure(target) => target.check_spec(key_spec)?,
            _ => {}
        }
        if key_spec.is_asymmetric() && !algorithm.is_rsa_aes() {
            return Err(Error::PrivateKeyNeedsRsaAes {
                key_spec,
                algorithm,
            });
        }
        if provider == Provider::Pkcs11Backup && !key_spec.is_asymmetric() && algorithm.is_rsa_aes()
        {
            return Err(Error::BackupOfSecretKeyNeedsOaep {
                key_spec,
                algorithm,
            });
        }
        // AWS KMS: "You cannot use the RSA_2048 wrapping key spec with the RSA_AES_KEY_WRAP_SHA_*
        // wrapping algorithms to wrap ECC_NIST_P521 key material."
        if provider == Provider::Aws
            && key_spec == KeySpec::EcP521
            && actual == WrappingKeySpec::Rsa2048
        {
            return Err(Error::WrappingKeyTooSmallFor { provider, key_spec });
        }
        Ok(algorithm)
    }
}

/// Everything a provider needs to write its import files.
#[derive(Debug)]
pub struct Import<'a> {
    /// The checked import parameters.
    pub params: &'a ImportParams,
    /// The algorithm the material was wrapped with.
    pub algorithm: WrappingAlgorithm,
    /// The kind of key material wrapped.
    pub key_spec: KeySpec,
    /// The key's label in the token.
    pub key_label: &'a str,
    /// The wrapped key material, exactly as the token produced it.
    pub wrapped: &'a [u8],
    /// When the imported material should expire in the KMS; `None` for never.
    pub material_valid_to: Option<OffsetDateTime>,
    /// The token that wrapped it, for the record: manufacturer, model and firmware.
    pub token: &'a str,
}

impl Import<'_> {
    /// The files the provider's import call takes, `import.sh` included.
    pub fn files(&self) -> Vec<OutputFile> {
        match &self.params.target {
            Target::Aws { import_token } => aws::files(self, import_token),
            Target::Alibaba { import_token } => alibaba::files(self, import_token),
            Target::Gcp(target) => gcp::files(self, target),
            Target::Azure(target) => azure::files(self, target),
            Target::Vault(target) => vault::files(self, target),
            Target::Backup => backup::files(self),
        }
    }
}

/// One file of an output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The file name (no directories).
    pub name: &'static str,
    /// The file's bytes.
    pub contents: Vec<u8>,
    /// Whether the file is a script to run.
    pub executable: bool,
}

impl OutputFile {
    /// A data file.
    pub fn data(name: &'static str, contents: Vec<u8>) -> Self {
        OutputFile {
            name,
            contents,
            executable: false,
        }
    }

    /// The provider's `import.sh`.
    pub fn script(text: String) -> Self {
        OutputFile {
            name: "import.sh",
            contents: text.into_bytes(),
            executable: true,
        }
    }
}

/// Lowercase letters, digits and `-`: a cloud region.
pub(crate) fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One or more ASCII digits.
pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `KeyId`, `ImportToken` and `PublicKey`, which AWS and Alibaba print under the same names:
/// the key id checked with `key_id_ok` (it goes into a shell script), the token and the
/// wrapping key decoded and checked.
pub(crate) fn key_id_token_and_public_key(
    map: &Map<String, Value>,
    key_id_ok: fn(&str) -> bool,
    key_id_syntax: &'static str,
) -> Result<(String, Vec<u8>, WrappingKey), Error> {
    let key_id = string_field(map, "KeyId")?;
    if !key_id_ok(key_id) {
        return Err(Error::InvalidKeyId {
            value: key_id.to_owned(),
            expected: key_id_syntax,
        });
    }
    let import_token = base64_field(map, "ImportToken")?;
    let public_key = WrappingKey::from_spki_der(&base64_field(map, "PublicKey")?)?;
    Ok((key_id.to_owned(), import_token, public_key))
}

/// Whether a parameters file is a bare PEM rather than JSON.
pub(crate) fn is_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN ")
}

/// Decodes a PEM `PUBLIC KEY` block (a SubjectPublicKeyInfo) strictly: one block, nothing but
/// whitespace around it, a body of standard base64.
pub(crate) fn spki_from_pem(field: &'static str, text: &str) -> Result<WrappingKey, Error> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let bad = |problem: PemProblem| Error::Pem { field, problem };
    let body = text
        .trim()
        .strip_prefix(BEGIN)
        .ok_or_else(|| bad(PemProblem::NoBegin))?
        .strip_suffix(END)
        .ok_or_else(|| bad(PemProblem::NoEnd))?;
    if body.contains('-') {
        return Err(bad(PemProblem::MoreThanOneBlock));
    }
    let b64: String = body.split_ascii_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad(PemProblem::Base64))?;
    if der.is_empty() {
        return Err(bad(PemProblem::Empty));
    }
    Ok(WrappingKey::from_spki_der(&der)?)
}

/// Reads a required standard-base64 field.
pub(crate) fn base64_field(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Vec<u8>, Error> {
    let text = string_field(map, field)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Error::Base64 { field })?;
    if bytes.is_empty() {
        return Err(Error::Empty { field });
    }
    Ok(bytes)
}

/// Refuses parameters whose expiry has passed.
pub(crate) fn check_not_expired(
    valid_to: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if valid_to <= now {
        return Err(Error::Expired {
            valid_to: format_time(valid_to),
        });
    }
    Ok(())
}

/// Quotes a value for a POSIX shell: single quotes, with `'` written as `'\''`.
///
/// Callers validate identifiers first; quoting is the second line of defence.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The shell prologue every `import.sh` starts with: strict mode and the directory the script
/// lives in, so it runs from anywhere and finds its files beside itself. `arguments` gives
/// examples of what the script passes on to the CLI.
pub(crate) fn script_prologue(comment: &str, arguments: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by keyrite {version}. {comment}\n\
         # Arguments are passed on to the CLI (for example {arguments}).\n\
         set -eu\n\
         here=$(CDPATH='' cd -- \"$(dirname -- \"$0\")\" && pwd)\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_parameters_file_has_a_provider_s_shape_only_by_that_provider_s_fields() {
        let json = |v: serde_json::Value| v.to_string().into_bytes();
        let aws = serde_json::json!({
            "KeyId": "k", "ImportToken": "t", "PublicKey": "p", "ParametersValidTo": 0
        });
        let alibaba = serde_json::json!({
            "KeyId": "k", "ImportToken": "t", "PublicKey": "p", "TokenExpireTime": "x"
        });
        for (bytes, shape) in [
            (json(aws), Some(ParamsShape::Of(Provider::Aws))),
            (json(alibaba), Some(ParamsShape::Of(Provider::Alibaba))),
            (
                json(serde_json::json!({"KeyId": "k", "ImportToken": "t", "PublicKey": "p"})),
                None,
            ),
            (
                json(serde_json::json!({"importMethod": "RSA_OAEP_3072_SHA256"})),
                Some(ParamsShape::Of(Provider::Gcp)),
            ),
            (
                json(serde_json::json!({"name": "projects/p/locations/l/keyRings/r/importJobs/j"})),
                Some(ParamsShape::Of(Provider::Gcp)),
            ),
            (
                json(serde_json::json!({"key": {"kid": "https://v/keys/k/1"}})),
                Some(ParamsShape::Of(Provider::Azure)),
            ),
            (
                json(serde_json::json!({"data": {"public_key": "p"}})),
                Some(ParamsShape::Of(Provider::Vault)),
            ),
            (json(serde_json::json!({"key": "k", "data": "d"})), None),
            (json(serde_json::json!(["KeyId"])), None),
            (
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_vec(),
                Some(ParamsShape::PemPublicKey),
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
                None,
            ),
            (b"not json".to_vec(), None),
        ] {
            assert_eq!(
                ParamsShape::of(&bytes),
                shape,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }
}
