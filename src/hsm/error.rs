//! What can go wrong with a token, as facts: which token, which object, and for a PKCS#11 call
//! that failed, the function and the return value as cryptoki's own values
//! ([`Pkcs11Failure`]). The words for what to do about it are the command line's.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};

use super::SOFTHSM2_DEBIAN;
use crate::spec;

/// A PKCS#11 call that failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Failure {
    /// The function returned an error code.
    #[error("C_{function:?} returned {}", ckr_name(*rv))]
    Returned {
        /// The function, as cryptoki names it (`Function::WrapKey` for `C_WrapKey`).
        function: Function,
        /// Its return value.
        rv: RvError,
    },
    /// cryptoki failed without a PKCS#11 return value (a value it could not convert, a
    /// function the module lacks).
    #[error("cryptoki returned {0}")]
    Cryptoki(#[source] Arc<CkError>),
    /// `C_WrapKey` with `CKM_AES_GCM` returned less than its 16-byte tag.
    #[error("C_WrapKey returned an AES-GCM output shorter than its tag")]
    ShortGcmOutput,
}

impl Pkcs11Failure {
    pub(super) fn from_error(e: CkError) -> Self {
        match e {
            CkError::Pkcs11(rv, function) => Pkcs11Failure::Returned { function, rv },
            other => Pkcs11Failure::Cryptoki(Arc::new(other)),
        }
    }

    /// The return value, if the call returned one.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Pkcs11Failure::Returned { rv, .. } => Some(*rv),
            _ => None,
        }
    }

    /// What the call returned, as `CKR_ARGUMENTS_BAD`, or what cryptoki said.
    pub fn code(&self) -> String {
        match self {
            Pkcs11Failure::Returned { rv, .. } => ckr_name(*rv).into_owned(),
            Pkcs11Failure::Cryptoki(e) => e.to_string(),
            Pkcs11Failure::ShortGcmOutput => "an AES-GCM output shorter than its tag".to_owned(),
        }
    }

    pub(super) fn rv_is(e: &CkError, wanted: RvError) -> bool {
        matches!(e, CkError::Pkcs11(rv, _) if *rv == wanted)
    }
}

/// Why a key pair's public key cannot be established from its token objects.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyProblem {
    /// Not exactly one public key object has the private key's label and `CKA_ID`.
    #[error(
        "the token holds {count} public key objects with its label and CKA_ID; keyrite keeps exactly one"
    )]
    PublicObjects {
        /// How many there are.
        count: usize,
    },
    /// An RSA public key object without `CKA_MODULUS` or `CKA_PUBLIC_EXPONENT`.
    #[error("the public key object has no modulus or exponent")]
    NoModulus,
    /// A public key object that is neither RSA nor EC with `CKA_EC_PARAMS` and `CKA_EC_POINT`.
    #[error("it is neither RSA nor EC with a curve and a point")]
    NotRsaOrEc,
    /// An EC key on a curve keyrite does not make keys on.
    #[error("it is on a curve keyrite does not make keys on")]
    UnknownCurve,
    /// The public key object's `CKA_EC_PARAMS` differ from the private key's.
    #[error("the public key object's curve differs from the private key's")]
    CurveDiffers,
    /// The private key reports a public key, and it is another one.
    #[error("the public key object is not the one the private key reports")]
    NotReported,
    /// The private key reports none, and was not generated in this token.
    #[error(
        "the private key reports no public key of its own and was not generated in this token (CKA_LOCAL, CKA_ALWAYS_SENSITIVE), so its public key object proves nothing"
    )]
    NotGeneratedHere,
    /// The private key reports none, and its public key object is a public object.
    #[error(
        "the private key reports no public key of its own, and its public key object is a public object anyone can create without the PIN, so it proves nothing"
    )]
    PublicObject,
    /// `CKA_EC_POINT` is not an uncompressed point of the curve's size.
    #[error("CKA_EC_POINT is not an uncompressed point of {len} bytes")]
    EcPoint {
        /// The length of an uncompressed point on the curve.
        len: usize,
    },
    /// A public key to store for a key of `spec` is of another kind.
    #[error("it is not a {spec} public key")]
    NotOfSpec {
        /// The kind of key it was to be.
        spec: spec::KeySpec,
    },
    /// The attributes do not make a well-formed key.
    #[error("{0}")]
    Der(#[from] der::Error),
    /// The key could not be written as PEM.
    #[error("cannot encode the public key as PEM: {0}")]
    Pem(#[source] der::pem::Error),
}

/// Why a PEM file holds no public key.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PemKeyProblem {
    /// It is not PEM.
    #[error("{0}")]
    Pem(#[source] der::pem::Error),
    /// A PEM block of another kind.
    #[error("a PEM {label:?}, not a PUBLIC KEY")]
    Label {
        /// The block's label.
        label: String,
    },
    /// Its body is not a SubjectPublicKeyInfo.
    #[error("{0}")]
    Der(#[source] der::Error),
}

/// Why the token gives no check value for a key.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NoKcv {
    /// A key pair whose public key cannot be established: its identity.
    #[error("{0}")]
    PublicKey(PublicKeyProblem),
    /// `C_DigestKey` returned fewer bytes than a check value takes.
    #[error("no CKA_CHECK_VALUE; C_DigestKey returned a short digest")]
    ShortDigest,
    /// `C_DigestKey` returned fewer than the 32 bytes of a SHA-256, where the full value is due.
    #[error("C_DigestKey returned {len} bytes, not the 32 of a SHA-256")]
    NotSha256 {
        /// How many it returned.
        len: usize,
    },
    /// The token has no `CKA_CHECK_VALUE` for the key and refused `C_DigestKey`.
    #[error("no CKA_CHECK_VALUE; C_DigestKey refused: {0}")]
    DigestRefused(Pkcs11Failure),
    /// The token refused `C_DigestKey`, where the full value is due.
    #[error("C_DigestKey refused: {0}")]
    FullDigestRefused(Pkcs11Failure),
}

/// Why a token cannot wrap with an RSA mechanism.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WrappingUnsupported {
    /// The token does not list the mechanism for wrapping.
    #[error("the token does not offer it for wrapping")]
    NotOffered,
    /// `C_GetMechanismInfo` failed.
    #[error("C_GetMechanismInfo: {}", .0.code())]
    MechanismInfo(Pkcs11Failure),
    /// A wrap of a throw-away key failed.
    #[error("a trial wrap failed: {0}")]
    TrialWrap(Pkcs11Failure),
}

/// How a token failed the RFC 5649 known-answer test.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KnownAnswerFailure {
    /// It wrapped the known key to other bytes.
    #[error(
        "it wrapped a {len}-byte {} of known value to {wrapped_len} bytes that differ from RFC 5649",
        known_material(*spec)
    )]
    Differs {
        /// The length of the known key material.
        len: usize,
        /// The kind of key the material stands for.
        spec: spec::KeySpec,
        /// The length of what it returned.
        wrapped_len: usize,
    },
    /// The wrap itself failed.
    #[error("the trial wrap failed: {0}")]
    TrialWrap(Pkcs11Failure),
}

fn known_material(spec: spec::KeySpec) -> String {
    if spec.is_asymmetric() {
        format!("secret (standing for the PKCS#8 of an {spec} private key)")
    } else {
        format!("{spec} key")
    }
}

/// Why a signer's public key object is not proven to be its private key's. `kind` is the
/// signer's key type as messages name it ("EC", "RSA").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unproven {
    /// Several private keys have the label.
    #[error("{count} {kind} private key objects have that label, where a signer has one")]
    PrivateObjects {
        /// The key type.
        kind: &'static str,
        /// How many.
        count: usize,
    },
    /// No public key has the label.
    #[error("no {kind} public key object has that label")]
    NoPublicObject {
        /// The key type.
        kind: &'static str,
    },
    /// Several public keys have the label.
    #[error("{count} {kind} public key objects have that label, where a signer has one")]
    PublicObjects {
        /// The key type.
        kind: &'static str,
        /// How many.
        count: usize,
    },
    /// Key pairs of both kinds have the label.
    #[error(
        "both an EC and an RSA key pair have that label, where a signer is one key pair: one of them was not made by `token signer create`"
    )]
    BothKinds,
    /// The private key does not show that the token made it and kept it secret since: a PIN
    /// holder can create (`C_CreateObject`) or unwrap a private key they know under the
    /// signer's label.
    #[error(
        "its private key has {attribute}={actual}, where the private key `token signer create` makes in the token has {attribute}={expected}: this one was not generated there and kept secret since, so someone may hold a copy"
    )]
    NotMadeInToken {
        /// The attribute that differs.
        attribute: cryptoki::object::AttributeType,
        /// What a signer made in the token has.
        expected: bool,
        /// What the token reports.
        actual: bool,
    },
    /// The token does not report an attribute that shows where the private key was made.
    #[error(
        "the token does not report {attribute} on its private key, so nothing shows that the token generated it and kept it secret since"
    )]
    OriginUnreported {
        /// The attribute the token does not report.
        attribute: cryptoki::object::AttributeType,
    },
    /// A signature by the private key does not verify under the public key object.
    #[error(
        "a signature by its private key does not verify under the public key object of that label, which is therefore not the signer's"
    )]
    NotAPair,
}

/// Why a backup key's public key is not proven to be its private key's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupUnproven {
    /// Several private keys have the label.
    #[error("{count} RSA private key objects have that label, where a backup key has one")]
    PrivateObjects {
        /// How many.
        count: usize,
    },
    /// The private key object is a public object.
    #[error("its private key object is a public object, which anyone can create without the PIN")]
    PrivateIsPublic,
    /// The private key object carries no public key.
    #[error(
        "the token gives no modulus and public exponent on its private key object, so nothing proves which public key is its own"
    )]
    NoOwnPublicKey,
    /// No public key has the label.
    #[error("no RSA public key object has that label, where a backup key has one")]
    NoPublicObject,
    /// Several public keys have the label.
    #[error("{count} RSA public key objects have that label, where a backup key has one")]
    PublicObjects {
        /// How many.
        count: usize,
    },
}

/// What is wrong with the signer key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerProblem {
    /// Its public key is not a signer's, or cannot be encoded.
    #[error("{0}")]
    Key(#[source] crate::signer_key::KeyError),
    /// The token gave no `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` on an RSA signer.
    #[error("the token gave no CKA_MODULUS and CKA_PUBLIC_EXPONENT")]
    NoModulus,
    /// The token gave no `CKA_EC_POINT`.
    #[error("the token gave no CKA_EC_POINT")]
    NoEcPoint,
    /// `CKA_EC_POINT` is not a P-256 point.
    #[error("CKA_EC_POINT is not a P-256 point: {0}")]
    EcPoint(#[source] p256::elliptic_curve::Error),
    /// `CKM_ECDSA` returned something other than `r||s`.
    #[error("CKM_ECDSA returned {len} bytes that are not r||s: {source}")]
    NotRs {
        /// How many bytes it returned.
        len: usize,
        /// What the ECDSA code said.
        #[source]
        source: p256::ecdsa::Error,
    },
    /// `getrandom` failed.
    #[error("no random challenge from the system (getrandom): {0}")]
    NoChallenge(#[source] std::io::Error),
}

/// What is wrong with the backup key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupKeyProblem {
    /// Its modulus and exponent make no RSA key.
    #[error("{0}")]
    Rsa(#[source] rsa::Error),
    /// Its public key cannot be encoded.
    #[error("{0}")]
    Spki(#[source] spki::Error),
    /// It is not a key keyrite wraps under.
    #[error("{0}")]
    Spec(#[source] spec::Error),
    /// A secret-key backup with a key-pair backup key.
    #[error("its unwrap template is a key-pair backup key's (made with --for-key-pairs)")]
    TemplateForKeyPairs,
    /// A key-pair backup with a secret-key backup key.
    #[error("its unwrap template is a secret-key backup key's (made without --for-key-pairs)")]
    TemplateForSecretKeys,
    /// An RSA-AES backup where the token has no RFC 5649.
    #[error("an RSA-AES backup needs RFC 5649 in the token")]
    NoKwp,
}

/// The part of reading a module file that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleReadStep {
    /// Opening or reading the file.
    Read,
    /// `memfd_create`.
    MakeCopy,
    /// Writing the copy.
    WriteCopy,
    /// `F_ADD_SEALS`.
    SealCopy,
}

impl ModuleReadStep {
    fn prefix(self) -> &'static str {
        match self {
            ModuleReadStep::Read => "",
            ModuleReadStep::MakeCopy => "cannot make its sealed copy (memfd_create): ",
            ModuleReadStep::WriteCopy => "cannot write its sealed copy: ",
            ModuleReadStep::SealCopy => "cannot seal its copy (F_ADD_SEALS): ",
        }
    }
}

/// Why a module file is no PKCS#11 module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotModule {
    /// The file is no ELF object: a text file, a script, an archive.
    #[error("it is not a shared library: a PKCS#11 module is an ELF .so file")]
    NotElf,
    /// A program, which the loader refused as a library.
    #[error("it is a program, not a shared library")]
    Program,
    /// A shared library that exports no `C_GetFunctionList`, as every PKCS#11 module does.
    #[error("it has no C_GetFunctionList")]
    NoFunctionList,
}

/// The PKCS#11 name of a return value: the constant cryptoki maps to it (cryptoki 0.12.1,
/// `src/error/rv.rs`), one arm per variant, so a new variant fails to compile here rather than
/// print a made-up name.
pub fn ckr_name(rv: RvError) -> Cow<'static, str> {
    Cow::Borrowed(match rv {
        RvError::Cancel => "CKR_CANCEL",
        RvError::HostMemory => "CKR_HOST_MEMORY",
        RvError::SlotIdInvalid => "CKR_SLOT_ID_INVALID",
        RvError::GeneralError => "CKR_GENERAL_ERROR",
        RvError::FunctionFailed => "CKR_FUNCTION_FAILED",
        RvError::ArgumentsBad => "CKR_ARGUMENTS_BAD",
        RvError::NoEvent => "CKR_NO_EVENT",
        RvError::NeedToCreateThreads => "CKR_NEED_TO_CREATE_THREADS",
        RvError::CantLock => "CKR_CANT_LOCK",
        RvError::AttributeReadOnly => "CKR_ATTRIBUTE_READ_ONLY",
        RvError::AttributeSensitive => "CKR_ATTRIBUTE_SENSITIVE",
        RvError::AttributeTypeInvalid => "CKR_ATTRIBUTE_TYPE_INVALID",
        RvError::AttributeValueInvalid => "CKR_ATTRIBUTE_VALUE_INVALID",
        RvError::ActionProhibited => "CKR_ACTION_PROHIBITED",
        RvError::DataInvalid => "CKR_DATA_INVALID",
        RvError::DataLenRange => "CKR_DATA_LEN_RANGE",
        RvError::DeviceError => "CKR_DEVICE_ERROR",
        RvError::DeviceMemory => "CKR_DEVICE_MEMORY",
        RvError::DeviceRemoved => "CKR_DEVICE_REMOVED",
        RvError::EncryptedDataInvalid => "CKR_ENCRYPTED_DATA_INVALID",
        RvError::EncryptedDataLenRange => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        RvError::FunctionCanceled => "CKR_FUNCTION_CANCELED",
        RvError::FunctionNotParallel => "CKR_FUNCTION_NOT_PARALLEL",
        RvError::FunctionNotSupported => "CKR_FUNCTION_NOT_SUPPORTED",
        RvError::CurveNotSupported => "CKR_CURVE_NOT_SUPPORTED",
        RvError::KeyHandleInvalid => "CKR_KEY_HANDLE_INVALID",
        RvError::KeySizeRange => "CKR_KEY_SIZE_RANGE",
        RvError::KeyTypeInconsistent => "CKR_KEY_TYPE_INCONSISTENT",
        RvError::KeyNotNeeded => "CKR_KEY_NOT_NEEDED",
        RvError::KeyChanged => "CKR_KEY_CHANGED",
        RvError::KeyNeeded => "CKR_KEY_NEEDED",
        RvError::KeyIndigestible => "CKR_KEY_INDIGESTIBLE",
        RvError::KeyFunctionNotPermitted => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        RvError::KeyNotWrappable => "CKR_KEY_NOT_WRAPPABLE",
        RvError::KeyUnextractable => "CKR_KEY_UNEXTRACTABLE",
        RvError::MechanismInvalid => "CKR_MECHANISM_INVALID",
        RvError::MechanismParamInvalid => "CKR_MECHANISM_PARAM_INVALID",
        RvError::ObjectHandleInvalid => "CKR_OBJECT_HANDLE_INVALID",
        RvError::OperationActive => "CKR_OPERATION_ACTIVE",
        RvError::OperationNotInitialized => "CKR_OPERATION_NOT_INITIALIZED",
        RvError::PinIncorrect => "CKR_PIN_INCORRECT",
        RvError::PinInvalid => "CKR_PIN_INVALID",
        RvError::PinLenRange => "CKR_PIN_LEN_RANGE",
        RvError::PinExpired => "CKR_PIN_EXPIRED",
        RvError::PinLocked => "CKR_PIN_LOCKED",
        RvError::SessionClosed => "CKR_SESSION_CLOSED",
        RvError::SessionCount => "CKR_SESSION_COUNT",
        RvError::SessionHandleInvalid => "CKR_SESSION_HANDLE_INVALID",
        RvError::SessionParallelNotSupported => "CKR_SESSION_PARALLEL_NOT_SUPPORTED",
        RvError::SessionReadOnly => "CKR_SESSION_READ_ONLY",
        RvError::SessionExists => "CKR_SESSION_EXISTS",
        RvError::SessionReadOnlyExists => "CKR_SESSION_READ_ONLY_EXISTS",
        RvError::SessionReadWriteSoExists => "CKR_SESSION_READ_WRITE_SO_EXISTS",
        RvError::SignatureInvalid => "CKR_SIGNATURE_INVALID",
        RvError::SignatureLenRange => "CKR_SIGNATURE_LEN_RANGE",
        RvError::TemplateIncomplete => "CKR_TEMPLATE_INCOMPLETE",
        RvError::TemplateInconsistent => "CKR_TEMPLATE_INCONSISTENT",
        RvError::TokenNotPresent => "CKR_TOKEN_NOT_PRESENT",
        RvError::TokenNotRecognized => "CKR_TOKEN_NOT_RECOGNIZED",
        RvError::TokenWriteProtected => "CKR_TOKEN_WRITE_PROTECTED",
        RvError::UnwrappingKeyHandleInvalid => "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        RvError::UnwrappingKeySizeRange => "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        RvError::UserAlreadyLoggedIn => "CKR_USER_ALREADY_LOGGED_IN",
        RvError::UserNotLoggedIn => "CKR_USER_NOT_LOGGED_IN",
        RvError::UserPinNotInitialized => "CKR_USER_PIN_NOT_INITIALIZED",
        RvError::UserTypeInvalid => "CKR_USER_TYPE_INVALID",
        RvError::UserAnotherAlreadyLoggedIn => "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
        RvError::UserTooManyTypes => "CKR_USER_TOO_MANY_TYPES",
        RvError::WrappedKeyInvalid => "CKR_WRAPPED_KEY_INVALID",
        RvError::WrappedKeyLenRange => "CKR_WRAPPED_KEY_LEN_RANGE",
        RvError::WrappingKeyHandleInvalid => "CKR_WRAPPING_KEY_HANDLE_INVALID",
        RvError::WrappingKeySizeRange => "CKR_WRAPPING_KEY_SIZE_RANGE",
        RvError::WrappingKeyTypeInconsistent => "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        RvError::RandomSeedNotSupported => "CKR_RANDOM_SEED_NOT_SUPPORTED",
        RvError::RandomNoRng => "CKR_RANDOM_NO_RNG",
        RvError::DomainParamsInvalid => "CKR_DOMAIN_PARAMS_INVALID",
        RvError::BufferTooSmall => "CKR_BUFFER_TOO_SMALL",
        RvError::SavedStateInvalid => "CKR_SAVED_STATE_INVALID",
        RvError::InformationSensitive => "CKR_INFORMATION_SENSITIVE",
        RvError::StateUnsaveable => "CKR_STATE_UNSAVEABLE",
        RvError::CryptokiNotInitialized => "CKR_CRYPTOKI_NOT_INITIALIZED",
        RvError::CryptokiAlreadyInitialized => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        RvError::MutexBad => "CKR_MUTEX_BAD",
        RvError::MutexNotLocked => "CKR_MUTEX_NOT_LOCKED",
        RvError::NewPinMode => "CKR_NEW_PIN_MODE",
        RvError::NextOtp => "CKR_NEXT_OTP",
        RvError::ExceededMaxIterations => "CKR_EXCEEDED_MAX_ITERATIONS",
        RvError::FipsSelfTestFailed => "CKR_FIPS_SELF_TEST_FAILED",
        RvError::LibraryLoadFailed => "CKR_LIBRARY_LOAD_FAILED",
        RvError::PinTooWeak => "CKR_PIN_TOO_WEAK",
        RvError::PublicKeyInvalid => "CKR_PUBLIC_KEY_INVALID",
        RvError::FunctionRejected => "CKR_FUNCTION_REJECTED",
        RvError::UnwrappingKeyTypeInconsistent => "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        RvError::VendorDefined(code) => {
            return Cow::Owned(format!("vendor-defined return value {code:#x}"));
        }
        RvError::UnknownErrorCode(code) => {
            return Cow::Owned(format!("undefined return value {code:#x}"));
        }
    })
}

/// What went wrong with a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No module was named and the default is absent.
    #[error("no PKCS#11 module: none was named and {SOFTHSM2_DEBIAN} does not exist")]
    NoModule,
    /// The named module does not exist.
    #[error("PKCS#11 module not found: {}", path.display())]
    ModuleNotFound {
        /// The path.
        path: PathBuf,
    },
    /// The PKCS#11 call trace (`--trace`) could not be created.
    #[error("cannot create the PKCS#11 trace {}: {source}", path.display())]
    TraceOpen {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The module file could not be read into the sealed copy keyrite loads.
    #[error("cannot read PKCS#11 module {}: {}{source}", path.display(), step.prefix())]
    ModuleRead {
        /// The path.
        path: PathBuf,
        /// Which part of reading it failed.
        step: ModuleReadStep,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The module path names something other than a regular file (a FIFO, a device).
    #[error("cannot read PKCS#11 module {}: it is not a regular file", path.display())]
    ModuleNotRegular {
        /// The path.
        path: PathBuf,
    },
    /// The module file is no PKCS#11 module at all.
    #[error("{} is not a PKCS#11 module ({why})", path.display())]
    NotModule {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        why: NotModule,
    },
    /// The module exists but could not be loaded or initialised.
    #[error("could not load PKCS#11 module {}: {source}", path.display())]
    ModuleLoad {
        /// The path.
        path: PathBuf,
        /// What the loader or `C_Initialize` said.
        #[source]
        source: CkError,
    },
    /// The module shows no token at all: no slot has one present (a p11-kit client whose server
    /// is down, a network HSM out of reach).
    #[error("the module shows no token: no slot of {} ({library}) has a token present", module.display())]
    NoToken {
        /// The module path.
        module: PathBuf,
        /// The module's own description, as `C_GetInfo` gave it.
        library: String,
    },
    /// Every token the module shows is not initialised.
    #[error("the module shows no initialised token: each token it shows is not initialised")]
    NoInitializedToken,
    /// No token has the label.
    #[error("no token labelled {label:?}; tokens found: {}", list_or_none(found))]
    NoSuchToken {
        /// The label asked for.
        label: String,
        /// The labels of the tokens present.
        found: Vec<String>,
    },
    /// Several tokens have the label.
    #[error("{} tokens are labelled {label:?} (serials {})", serials.len(), serials.join(", "))]
    AmbiguousToken {
        /// The label asked for.
        label: String,
        /// Their serial numbers.
        serials: Vec<String>,
    },
    /// No token was named and there is not exactly one.
    #[error(
        "name the token with --token LABEL; tokens found: {}",
        list_or_none(found)
    )]
    TokenRequired {
        /// The labels of the tokens present.
        found: Vec<String>,
    },
    /// The token refused the PIN.
    #[error("token {token:?} refused the PIN (CKR_PIN_INCORRECT)")]
    WrongPin {
        /// The token label.
        token: String,
    },
    /// The user PIN is locked.
    #[error("the user PIN of token {token:?} is locked")]
    PinLocked {
        /// The token label.
        token: String,
    },
    /// One more wrong PIN would lock the token.
    #[error("token {token:?} reports that one more wrong PIN locks it (CKF_USER_PIN_FINAL_TRY)")]
    PinFinalTry {
        /// The token label.
        token: String,
    },
    /// The token has no user PIN yet.
    #[error("token {token:?} has no user PIN set")]
    PinNotInitialized {
        /// The token label.
        token: String,
    },
    /// An object already has the label.
    #[error("token {token:?} already holds an object labelled {label:?}")]
    LabelExists {
        /// The token label.
        token: String,
        /// The key label.
        label: String,
    },
    /// The token cannot wrap the way the KMS asked.
    #[error(
        "token {token:?} cannot wrap with {mechanism}{}: {source}",
        hash.as_deref().map(|h| format!(" using {h}")).unwrap_or_default()
    )]
    UnsupportedWrapping {
        /// The token label.
        token: String,
        /// The PKCS#11 mechanism, as `CKM_RSA_PKCS_OAEP`.
        mechanism: &'static str,
        /// The hash, for OAEP.
        hash: Option<String>,
        /// What the token said.
        #[source]
        source: WrappingUnsupported,
    },
    /// The token's AES key wrap with padding failed the known-answer test.
    #[error("token {token:?} failed the RFC 5649 known-answer test with {mechanism}: {source}")]
    KnownAnswer {
        /// The token label.
        token: String,
        /// The mechanism tested.
        mechanism: &'static str,
        /// What happened.
        #[source]
        source: KnownAnswerFailure,
    },
    /// No mechanism of the token passed as RFC 5649.
    #[error(
        "token {token:?} has no AES key wrap with padding (RFC 5649) keyrite can trust: {tried}"
    )]
    NoKwp {
        /// The token label.
        token: String,
        /// What each candidate did.
        tried: String,
        /// Whether a known-answer test ran (and failed): `false` when the token offers no
        /// candidate for wrapping, or the host could not compute the answer.
        tested: bool,
    },
    /// Wrapping the key under the ephemeral AES key (the KWP half of RSA-AES) failed.
    #[error("C_WrapKey with {mechanism} failed: {failure}")]
    KwpWrap {
        /// The KWP mechanism.
        mechanism: &'static str,
        /// What the token said.
        failure: Pkcs11Failure,
    },
    /// Two or more secret or private keys have the label.
    #[error(
        "token {token:?} holds more than one key labelled {label:?}: {keys}; keyrite takes a key by its label only when one key has it"
    )]
    SameLabel {
        /// The token label.
        token: String,
        /// The key label.
        label: String,
        /// Each key, as [`super::keys::KeyInfo::describe`] names it.
        keys: String,
    },
    /// No secret or private key has the label.
    #[error("token {token:?} holds no secret or private key labelled {label:?}")]
    NoSuchKey {
        /// The token label.
        token: String,
        /// The key label.
        label: String,
    },
    /// The token has no ceremony signer of that label.
    #[error("token {token:?} has no signer key labelled {label:?}")]
    NoSigner {
        /// The token label.
        token: String,
        /// The signer label.
        label: String,
    },
    /// The signer is not the one a run began with.
    #[error(
        "token {token:?}: the signer {label:?} has the fingerprint {}, not {}, which it had when the run began: it was replaced, and nothing was signed",
        fingerprints.1,
        fingerprints.0
    )]
    SignerChanged {
        /// The token label.
        token: String,
        /// The signer label.
        label: String,
        /// The fingerprint the run began with, and the one now (boxed: errors stay small).
        fingerprints: Box<(String, String)>,
    },
    /// The token can hold no signer.
    #[error(
        "token {token:?} can hold no ceremony signer: it lacks {ec} for ECDSA P-256, and {rsa} for RSA-PSS"
    )]
    NoSignerMechanism {
        /// The token label.
        token: String,
        /// The mechanisms missing for ECDSA P-256.
        ec: String,
        /// The mechanisms missing for RSA-PSS.
        rsa: String,
    },
    /// A signer came with usages it must not have; it was destroyed.
    #[error(
        "token {token:?} made the signer {label:?} with {usages}, which a signer must not have: it was destroyed"
    )]
    SignerUsages {
        /// The token label.
        token: String,
        /// The signer label.
        label: String,
        /// The usages it had.
        usages: String,
    },
    /// The signer's public key object is not proven to belong to its private key.
    #[error("token {token:?}: the signer {label:?} is not proven: {why}")]
    SignerUnproven {
        /// The token label.
        token: String,
        /// The signer label.
        label: String,
        /// Why not.
        why: Unproven,
    },
    /// The backup key's public half is not proven to be its private key's.
    #[error("token {token:?}: the backup key {label:?} is not proven: {why}")]
    BackupKeyUnproven {
        /// The token label.
        token: String,
        /// The backup key label.
        label: String,
        /// Why not.
        why: BackupUnproven,
    },
    /// The backup key's public key object holds another public key than its private key.
    #[error(
        "token {token:?}: the public key object labelled {label:?} is not the private key's: a public object anyone can create without the PIN"
    )]
    BackupPublicKeySwapped {
        /// The token label.
        token: String,
        /// The backup key label.
        label: String,
    },
    /// More than one private key holds the public key a backup was made for.
    #[error(
        "token {token:?} holds {count} private keys whose public key has SHA-256 {fingerprint}, where a backup key has one"
    )]
    BackupKeyCopies {
        /// The token label.
        token: String,
        /// The public key's fingerprint.
        fingerprint: String,
        /// How many there are.
        count: usize,
    },
    /// The signer key is unusable.
    #[error("the signer key: {source}")]
    Signer {
        /// What is wrong.
        #[source]
        source: SignerProblem,
    },
    /// The token returned a wrapped key of the wrong size.
    #[error("the token returned {actual} bytes of wrapped key where {expected} were due")]
    WrappedLength {
        /// The length due.
        expected: usize,
        /// The length returned.
        actual: usize,
    },
    /// The token returned an RFC 5649 wrap of a private key of an impossible size.
    #[error(
        "the token returned {actual} bytes of AES-wrapped private key where a multiple of 8 between {min} and {max} was due"
    )]
    WrappedLengthOutOfBounds {
        /// The least length due.
        min: usize,
        /// The greatest length due.
        max: usize,
        /// The length returned.
        actual: usize,
    },
    /// A private key was to be wrapped without RSA-AES.
    #[error("a private key can be wrapped only with RSA-AES (RSA_AES_KEY_WRAP_SHA_1 or _SHA_256)")]
    PrivateKeyNeedsRsaAes,
    /// The token has no backup key of that label.
    #[error("token {token:?} has no backup key pair labelled {label:?}")]
    NoBackupKey {
        /// The token label.
        token: String,
        /// The backup key label.
        label: String,
    },
    /// The token's PKCS#8 length could not be learnt.
    #[error(
        "the token cannot show the length of its PKCS#8 encoding of an EC private key (C_WrapKey with CKM_AES_GCM under an ephemeral key): {failure}"
    )]
    Pkcs8Probe {
        /// What the token said.
        failure: Pkcs11Failure,
    },
    /// The token's PKCS#8 of an EC key is not RFC 5915.
    #[error(
        "token {token:?} encodes this {spec} private key as {len} bytes of PKCS#8, where RFC 5915 (a private key of exactly the curve's size) gives {expected}"
    )]
    NotRfc5915 {
        /// The token label.
        token: String,
        /// The key kind.
        spec: spec::KeySpec,
        /// The length the token makes.
        len: usize,
        /// The lengths RFC 5915 allows.
        expected: String,
    },
    /// A key pair's public key could not be established.
    #[error("the public key of {label:?}: {problem}")]
    PublicKey {
        /// The key label.
        label: String,
        /// What is wrong.
        problem: PublicKeyProblem,
    },
    /// The token has no backup key with the public key a backup was made for.
    #[error("token {token:?} holds no backup key whose public key has SHA-256 {fingerprint}")]
    NoBackupKeyFor {
        /// The token label.
        token: String,
        /// The public key's fingerprint.
        fingerprint: String,
    },
    /// The backup key would let its PIN holder unwrap a backup into a readable key.
    #[error(
        "the backup key {label:?} on token {token:?} would let whoever holds the token's PIN unwrap a backup into a key they can read: {why}"
    )]
    BackupKeyOracle {
        /// The token label.
        token: String,
        /// The backup key label.
        label: String,
        /// How.
        why: String,
    },
    /// The token would not make a key pair with a `CKA_UNWRAP_TEMPLATE`, which a backup key
    /// needs: found before anything was generated.
    #[error(
        "token {token:?} cannot make a backup key: it would not make a key pair with CKA_UNWRAP_TEMPLATE ({failure}), and nothing was generated"
    )]
    NoUnwrapTemplate {
        /// The token label.
        token: String,
        /// What the token said to the trial key pair.
        failure: Pkcs11Failure,
    },
    /// The backup key is unusable.
    #[error("the backup key: {source}")]
    BackupKey {
        /// What is wrong.
        #[source]
        source: BackupKeyProblem,
    },
    /// Unwrapping a backup failed.
    #[error("C_UnwrapKey of {what} failed: {failure}")]
    BackupUnwrap {
        /// What was being unwrapped, and with which mechanism.
        what: String,
        /// What the token said.
        failure: Pkcs11Failure,
    },
    /// No trusted token object holds the KMS key a wrap-with-trusted key must be wrapped under.
    #[error(
        "token {token:?} holds no key marked CKA_TRUSTED with the wrapping public key of SHA-256 {fingerprint}"
    )]
    NoTrustedKey {
        /// The token label.
        token: String,
        /// The KMS public key's fingerprint.
        fingerprint: String,
    },
    /// No key on the token can be wrapped only under a trusted key, as its trials show.
    #[error("token {token:?} lacks CKA_WRAP_WITH_TRUSTED: {why}")]
    NoWrapWithTrusted {
        /// The token label.
        token: String,
        /// What the trial showed.
        why: String,
    },
    /// The token would not store a trusted wrapping key.
    #[error("token {token:?} would not store a CKA_TRUSTED wrapping key: {failure}")]
    TrustRefused {
        /// The token label.
        token: String,
        /// What the token said.
        failure: Pkcs11Failure,
    },
    /// An object keyrite made for itself (the imported KMS public key, an ephemeral or trial
    /// key) could not be destroyed once its work was done.
    #[error("cannot destroy {what}, which keyrite made for itself: {failure}")]
    ObjectNotDestroyed {
        /// The object, as "the imported KMS public key".
        what: &'static str,
        /// What the token said.
        failure: Pkcs11Failure,
    },
    /// A PKCS#11 call failed.
    #[error("{0}")]
    Pkcs11(Pkcs11Failure),
}

impl Error {
    /// Whether this is a usage error (exit 2): the module or trace path named cannot be used,
    /// or the token is not named when it must be or names none. All the token and the module
    /// refuse or fail is not.
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::NoModule
                | Error::ModuleNotFound { .. }
                | Error::TraceOpen { .. }
                | Error::ModuleRead { .. }
                | Error::ModuleNotRegular { .. }
                | Error::NotModule { .. }
                | Error::NoSuchToken { .. }
                | Error::TokenRequired { .. }
                | Error::NoInitializedToken
        )
    }
}

fn list_or_none(found: &[String]) -> String {
    if found.is_empty() {
        "none".to_owned()
    } else {
        found
            .iter()
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl From<CkError> for Error {
    fn from(e: CkError) -> Self {
        Error::Pkcs11(Pkcs11Failure::from_error(e))
    }
}

#[cfg(test)]
mod tests {
    use cryptoki::error::Rv;

    use super::*;

    /// A return value as the module returns it, through cryptoki's own mapping.
    fn returned(code: cryptoki_sys::CK_RV) -> RvError {
        match Rv::from(code) {
            Rv::Error(rv) => rv,
            Rv::Ok => panic!("{code:#x} is CKR_OK"),
        }
    }

    #[test]
    fn return_values_are_named_as_pkcs11_names_them() {
        for (code, name) in [
            (cryptoki_sys::CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"),
            (cryptoki_sys::CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT"),
            (
                cryptoki_sys::CKR_MECHANISM_PARAM_INVALID,
                "CKR_MECHANISM_PARAM_INVALID",
            ),
            (cryptoki_sys::CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"),
            (
                cryptoki_sys::CKR_TEMPLATE_INCONSISTENT,
                "CKR_TEMPLATE_INCONSISTENT",
            ),
            (
                cryptoki_sys::CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
                "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
            ),
            (cryptoki_sys::CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"),
        ] {
            assert_eq!(ckr_name(returned(code)), name);
        }
        assert_eq!(
            ckr_name(returned(cryptoki_sys::CKR_VENDOR_DEFINED + 2)),
            "vendor-defined return value 0x80000002"
        );
    }

    #[test]
    fn a_failure_keeps_the_function_and_the_return_value() {
        let failure = Pkcs11Failure::from_error(CkError::Pkcs11(
            RvError::KeyUnextractable,
            Function::WrapKey,
        ));
        assert_eq!(failure.rv(), Some(RvError::KeyUnextractable));
        assert!(matches!(
            failure,
            Pkcs11Failure::Returned {
                function: Function::WrapKey,
                ..
            }
        ));
        assert_eq!(
            failure.to_string(),
            "C_WrapKey returned CKR_KEY_UNEXTRACTABLE"
        );
    }
}
