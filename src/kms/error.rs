//! Why import parameters or options were refused, as facts; the words for what to do about it
//! are the command line's.

use super::{FixedAlgorithm, Provider, gcp};
use crate::spec::{KeySpec, WrappingAlgorithm, WrappingKeySpec};

/// What is wrong with a PEM public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemProblem {
    /// The file is not UTF-8.
    #[error("it is not UTF-8 text")]
    NotUtf8,
    /// A backup key file that is not a PEM block at all.
    #[error("it is not a PEM public key (keyrite token backup-key create prints one)")]
    NotBackupKey,
    /// No `-----BEGIN PUBLIC KEY-----` line first.
    #[error("it does not start with -----BEGIN PUBLIC KEY-----")]
    NoBegin,
    /// No `-----END PUBLIC KEY-----` line last.
    #[error("it does not end with -----END PUBLIC KEY-----")]
    NoEnd,
    /// Another block or headers inside.
    #[error("it holds more than one PEM block or PEM headers")]
    MoreThanOneBlock,
    /// The body is not standard base64.
    #[error("its body is not valid base64")]
    Base64,
    /// The body is empty.
    #[error("it is empty")]
    Empty,
}

/// Why a JWK modulus and exponent make no RSA public key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwkKeyProblem {
    /// The RSA code refused the modulus or exponent.
    #[error(transparent)]
    Rsa(#[from] rsa::Error),
    /// The key could not be encoded as a SubjectPublicKeyInfo.
    #[error(transparent)]
    Spki(#[from] spki::Error),
}

/// Why import parameters or options were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parameters file is not strict JSON, or a field of it is missing or of the wrong type.
    #[error(transparent)]
    Json(#[from] crate::json::Error),
    /// A time in the parameters file is not RFC 3339.
    #[error(transparent)]
    Time(#[from] crate::timestamp::Error),
    /// The wrapping key is not one keyrite wraps under.
    #[error(transparent)]
    Spec(#[from] crate::spec::Error),
    /// A field is not valid base64.
    #[error("{field} in the parameters file is not valid base64")]
    Base64 {
        /// The field name.
        field: &'static str,
    },
    /// A field that must hold data is empty.
    #[error("{field} in the parameters file is empty")]
    Empty {
        /// The field name.
        field: &'static str,
    },
    /// The key id is not of the provider's syntax.
    #[error("KeyId {value:?} is not {expected}")]
    InvalidKeyId {
        /// The value, as found.
        value: String,
        /// What a key id of this provider looks like.
        expected: &'static str,
    },
    /// The parameters have expired.
    #[error("the import parameters expired at {valid_to}")]
    Expired {
        /// When they expired (RFC 3339).
        valid_to: String,
    },
    /// The public key is not an RSA SubjectPublicKeyInfo.
    #[error("PublicKey is not an RSA public key (SubjectPublicKeyInfo): {source}")]
    PublicKey {
        /// What the RSA or DER code said.
        #[source]
        source: JwkKeyProblem,
    },
    /// The public key is not the size the user named.
    #[error("PublicKey is {}, not the {} asked for", actual.name(), expected.name())]
    KeySpecMismatch {
        /// What the user asked for.
        expected: WrappingKeySpec,
        /// What the parameters hold.
        actual: WrappingKeySpec,
    },
    /// The provider does not hand out wrapping keys of that size.
    #[error("{} does not use {} wrapping keys", provider.display_name(), actual.name())]
    KeySpecNotAllowed {
        /// The provider.
        provider: Provider,
        /// What the parameters hold.
        actual: WrappingKeySpec,
    },
    /// The provider name is unknown.
    #[error(
        "unknown provider {value:?}; known: {}",
        Provider::ALL.map(Provider::name).join(", ")
    )]
    UnknownProvider {
        /// The name given.
        value: String,
    },
    /// The provider does not import that kind of key material.
    #[error("{} does not import {key_spec} key material", provider.display_name())]
    KeySpecNotImported {
        /// The provider.
        provider: Provider,
        /// The key material.
        key_spec: KeySpec,
    },
    /// A Key Vault imports key pairs only.
    #[error(
        "{key_spec} key material cannot be imported into the Azure Key Vault {vault:?}: a Key Vault imports RSA and EC keys only, AES keys go into a Managed HSM"
    )]
    KeyVaultNoSecretKeys {
        /// The Key Vault's name.
        vault: String,
        /// The key material.
        key_spec: KeySpec,
    },
    /// The Google algorithm named does not take this material.
    #[error("the Google Cloud KMS algorithm {algorithm} does not take {key_spec} key material")]
    GcpAlgorithmMismatch {
        /// The algorithm given.
        algorithm: String,
        /// The key material.
        key_spec: KeySpec,
    },
    /// Direct RSA cannot carry a private key.
    #[error(
        "an {key_spec} private key cannot be wrapped with {algorithm}: its PKCS#8 encoding is longer than one RSA block can carry, so a key pair needs RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256"
    )]
    PrivateKeyNeedsRsaAes {
        /// The key material.
        key_spec: KeySpec,
        /// The algorithm asked for.
        algorithm: WrappingAlgorithm,
    },
    /// A backup of a secret key with RSA-AES.
    #[error(
        "a backup of a {key_spec} key is wrapped directly with RSA-OAEP (RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1), not {algorithm}: RSA-AES would hand the backup token's PIN holder an AES key that unwraps the backup into a key they can read"
    )]
    BackupOfSecretKeyNeedsOaep {
        /// The key material.
        key_spec: KeySpec,
        /// The algorithm asked for.
        algorithm: WrappingAlgorithm,
    },
    /// The provider refuses this material under a wrapping key of this size.
    #[error(
        "{} does not import {key_spec} key material under an RSA_2048 wrapping key",
        provider.display_name()
    )]
    WrappingKeyTooSmallFor {
        /// The provider.
        provider: Provider,
        /// The key material.
        key_spec: KeySpec,
    },
    /// The provider does not import material wrapped that way.
    #[error("{} does not import key material wrapped with {algorithm}", provider.display_name())]
    AlgorithmNotAllowed {
        /// The provider.
        provider: Provider,
        /// The algorithm.
        algorithm: WrappingAlgorithm,
    },
    /// Neither the user, the parameters nor the provider name an algorithm.
    #[error(
        "{} needs --algorithm: the wrapping algorithm the import parameters were requested for",
        provider.display_name()
    )]
    AlgorithmRequired {
        /// The provider.
        provider: Provider,
    },
    /// The algorithm asked for is not the one the parameters fix.
    #[error("{} wraps with {}, not the {requested} asked for", fixed.by, fixed.algorithm)]
    AlgorithmMismatch {
        /// What the user asked for.
        requested: WrappingAlgorithm,
        /// What the parameters fix.
        fixed: FixedAlgorithm,
    },
    /// An option the provider needs is missing.
    #[error("{} needs {option}: {meaning}", provider.display_name())]
    OptionRequired {
        /// The option.
        option: &'static str,
        /// What it names.
        meaning: &'static str,
        /// The provider.
        provider: Provider,
    },
    /// An option of another provider was given.
    #[error("{option} is for --provider {owner}, not {provider}")]
    OptionNotForProvider {
        /// The option.
        option: &'static str,
        /// The provider of the request.
        provider: Provider,
        /// The provider the option is for.
        owner: Provider,
    },
    /// `--valid-to` for a provider whose import sets no expiry.
    #[error("{} sets no expiry on imported key material: leave out --valid-to", provider.display_name())]
    ValidToUnsupported {
        /// The provider.
        provider: Provider,
    },
    /// A name that reaches the import script is not of the provider's syntax.
    #[error("{field} {value:?} is not {expected}")]
    InvalidName {
        /// Where it came from (a field of the parameters, or an option).
        field: &'static str,
        /// The value, as found.
        value: String,
        /// What a valid one looks like.
        expected: &'static str,
    },
    /// A PEM public key is malformed.
    #[error("{field} is not a PEM public key (-----BEGIN PUBLIC KEY-----): {problem}")]
    Pem {
        /// Where it came from.
        field: &'static str,
        /// What is wrong.
        #[source]
        problem: PemProblem,
    },
    /// A Google import job is not `ACTIVE`.
    #[error("the import job {name} is {state}, not ACTIVE")]
    JobNotActive {
        /// The job's name.
        name: String,
        /// Its state.
        state: String,
    },
    /// The wrapping key's attestation is not as the KMS gives one.
    #[error(transparent)]
    Attestation(Box<crate::attest::Refusal>),
    /// A Google import job has expired.
    #[error("the import job {name} expired at {expire_time}")]
    JobExpired {
        /// The job's name.
        name: String,
        /// When it expired (RFC 3339).
        expire_time: String,
    },
    /// A Google import method keyrite does not implement.
    #[error(
        "importMethod {value:?} is not one keyrite wraps for; known: {}",
        gcp::ImportMethod::ALL.map(gcp::ImportMethod::name).join(", ")
    )]
    UnknownImportMethod {
        /// The method, as found.
        value: String,
    },
    /// The job's public key is not the size its method names.
    #[error("the import job's public key is {}, but importMethod {} names RSA-{}", actual.name(), method.name(), method.bits())]
    ImportMethodKeySize {
        /// The method.
        method: gcp::ImportMethod,
        /// The key's size.
        actual: WrappingKeySpec,
    },
    /// An Azure key exchange key that does not allow `import`.
    #[error(
        "the key exchange key's key.keyOps are {ops}; a BYOK key exchange key must allow import"
    )]
    NoImportOperation {
        /// The operations it allows, as JSON.
        ops: String,
    },
    /// An Azure key exchange key that is not RSA-HSM.
    #[error("key.kty is {kty:?}; a BYOK key exchange key is RSA-HSM")]
    KeyTypeNotRsaHsm {
        /// The key type, as found.
        kty: String,
    },
    /// An Azure key exchange key that is disabled.
    #[error("the key exchange key {kid} is disabled (attributes.enabled is false)")]
    KekDisabled {
        /// Its id.
        kid: String,
    },
    /// An Azure key exchange key that has expired.
    #[error("the key exchange key {kid} expired at {expires}")]
    KekExpired {
        /// Its id.
        kid: String,
        /// When (RFC 3339).
        expires: String,
    },
    /// `--azure-kid` differs from the `kid` the parameters hold.
    #[error("--azure-kid {given:?} is not the key exchange key's key.kid {kid:?}")]
    KidMismatch {
        /// The option's value.
        given: String,
        /// The parameters' value.
        kid: String,
    },
    /// The parameters file is another provider's.
    #[error("the parameters file is {}, not {}", detected.params_name(), provider.params_name())]
    OtherProvider {
        /// The provider of the request.
        provider: Provider,
        /// The provider whose parameters the file holds.
        detected: Provider,
    },
    /// A bare PEM public key given to a provider whose parameters are JSON.
    #[error("the parameters file is a PEM public key, not {}", provider.params_name())]
    PemParams {
        /// The provider of the request.
        provider: Provider,
    },
    /// A bare PEM key exchange key without its id.
    #[error("a PEM key exchange key needs --azure-kid URL: its full versioned key id")]
    KidRequired,
}

impl Error {
    /// Whether this is a usage error (exit 2): the parameters file does not parse as the
    /// provider's (not its JSON, a field missing, of the wrong type or syntax), or an option is
    /// missing or not for this provider. What the provider's rules refuse in parameters that
    /// parse (expired, a key or an algorithm it does not take) is not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Spec(e) => e.is_usage(),
            Error::Json(_)
            | Error::Time(_)
            | Error::Base64 { .. }
            | Error::Empty { .. }
            | Error::InvalidKeyId { .. }
            | Error::PublicKey { .. }
            | Error::UnknownProvider { .. }
            | Error::AlgorithmRequired { .. }
            | Error::OptionRequired { .. }
            | Error::OptionNotForProvider { .. }
            | Error::ValidToUnsupported { .. }
            | Error::InvalidName { .. }
            | Error::Pem { .. }
            | Error::OtherProvider { .. }
            | Error::PemParams { .. }
            | Error::KidRequired => true,
            Error::Expired { .. }
            | Error::KeySpecMismatch { .. }
            | Error::KeySpecNotAllowed { .. }
            | Error::KeySpecNotImported { .. }
            | Error::KeyVaultNoSecretKeys { .. }
            | Error::GcpAlgorithmMismatch { .. }
            | Error::PrivateKeyNeedsRsaAes { .. }
            | Error::BackupOfSecretKeyNeedsOaep { .. }
            | Error::WrappingKeyTooSmallFor { .. }
            | Error::AlgorithmNotAllowed { .. }
            | Error::AlgorithmMismatch { .. }
            | Error::JobNotActive { .. }
            | Error::JobExpired { .. }
            | Error::UnknownImportMethod { .. }
            | Error::ImportMethodKeySize { .. }
            | Error::NoImportOperation { .. }
            | Error::KeyTypeNotRsaHsm { .. }
            | Error::KekDisabled { .. }
            | Error::KekExpired { .. }
            | Error::KidMismatch { .. }
            | Error::Attestation(_) => false,
        }
    }
}
