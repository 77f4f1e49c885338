//! PKCS#11 tokens: load a module, pick a token by label, log in, and do keyrite's few token
//! operations (generate a ceremony key, read its check value, wrap it under a KMS public key).
//!
//! It trusts the token to keep key material inside and to do what its mechanisms promise, and
//! checks what it can from outside: output lengths, attributes, mechanism parameters by trial.
//! It never asks a token for the value of a ceremony key.

pub mod backup;
pub mod keys;
pub mod kwp;
pub mod pair;
pub mod signer;
pub mod template;
#[cfg(test)]
mod usage;
pub mod wrapping;

use std::fmt;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// Where Debian's `softhsm2` package installs the module; the default when none is named.
pub const SOFTHSM2_DEBIAN: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The environment variable naming the PKCS#11 module.
pub const MODULE_ENV: &str = "KEYRITE_PKCS11_MODULE";

/// A PKCS#11 call that failed: the function and the `CKR_` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Failure {
    /// The function, as `C_WrapKey`.
    pub op: String,
    /// The return value, as `CKR_ARGUMENTS_BAD`.
    pub rv: String,
}

impl fmt::Display for Pkcs11Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} returned {}", self.op, self.rv)
    }
}

/// The `CKR_` name of a return value: `ArgumentsBad` → `CKR_ARGUMENTS_BAD`.
fn ckr_name(rv: RvError) -> String {
    let debug = format!("{rv:?}");
    if !debug.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return debug;
    }
    let mut out = String::from("CKR");
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl Pkcs11Failure {
    fn from_error(e: &CkError) -> Self {
        match e {
            CkError::Pkcs11(rv, function) => Pkcs11Failure {
                op: format!("C_{function:?}"),
                rv: ckr_name(*rv),
            },
            other => Pkcs11Failure {
                op: "cryptoki".to_owned(),
                rv: other.to_string(),
            },
        }
    }

    fn rv_is(e: &CkError, wanted: RvError) -> bool {
        matches!(e, CkError::Pkcs11(rv, _) if *rv == wanted)
    }
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
    /// The module file could not be read into the sealed copy keyrite loads.
    #[error("cannot read PKCS#11 module {}: {reason}", path.display())]
    ModuleRead {
        /// The path.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The module exists but could not be loaded or initialised.
    #[error("could not load PKCS#11 module {}: {reason}", path.display())]
    ModuleLoad {
        /// The path.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
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
        "token {token:?} cannot wrap with {mechanism}{}: {reason}",
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
        reason: String,
    },
    /// The token's AES key wrap with padding failed the known-answer test.
    #[error("token {token:?} failed the RFC 5649 known-answer test with {mechanism}: {reason}")]
    KnownAnswer {
        /// The token label.
        token: String,
        /// The mechanism tested.
        mechanism: &'static str,
        /// What happened.
        reason: String,
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
        /// Each key, as [`keys::KeyInfo::describe`] names it.
        keys: String,
    },
    /// Not exactly one secret key has the label.
    #[error("token {token:?} holds {count} secret keys labelled {label:?}, not one")]
    KeyCount {
        /// The token label.
        token: String,
        /// The key label.
        label: String,
        /// How many there are.
        count: usize,
    },
    /// The token has no ceremony signer of that label.
    #[error("token {token:?} has no signer key labelled {label:?}")]
    NoSigner {
        /// The token label.
        token: String,
        /// The signer label.
        label: String,
    },
    /// The signer's public key object is not proven to belong to its private key.
    #[error("token {token:?}: the signer {label:?} is not proven: {reason}")]
    SignerUnproven {
        /// The token label.
        token: String,
        /// The signer label.
        label: String,
        /// Why not.
        reason: String,
    },
    /// The backup key's public half is not proven to be its private key's.
    #[error("token {token:?}: the backup key {label:?} is not proven: {reason}")]
    BackupKeyUnproven {
        /// The token label.
        token: String,
        /// The backup key label.
        label: String,
        /// Why not.
        reason: String,
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
    #[error("the signer key: {reason}")]
    Signer {
        /// What is wrong.
        reason: String,
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
        spec: crate::spec::KeySpec,
        /// The length the token makes.
        len: usize,
        /// The lengths RFC 5915 allows.
        expected: String,
    },
    /// A key pair's public key could not be established.
    #[error("the public key of {label:?}: {reason}")]
    PublicKey {
        /// The key label.
        label: String,
        /// What is wrong.
        reason: String,
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
    /// The backup key is unusable.
    #[error("the backup key: {reason}")]
    BackupKey {
        /// What is wrong.
        reason: String,
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
    /// The token would not store a trusted wrapping key.
    #[error("token {token:?} would not store a CKA_TRUSTED wrapping key: {failure}")]
    TrustRefused {
        /// The token label.
        token: String,
        /// What the token said.
        failure: Pkcs11Failure,
    },
    /// A PKCS#11 call failed.
    #[error("{0}")]
    Pkcs11(Pkcs11Failure),
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
        Error::Pkcs11(Pkcs11Failure::from_error(&e))
    }
}

/// A module file read once, hashed, and copied into a sealed anonymous file (a `memfd` that
/// nothing can write, grow or shrink any more): what [`ModuleFile::load`] maps is exactly the
/// bytes [`ModuleFile::sha256`] names. Replacing the file on disk, or writing into it, after it
/// was read changes nothing that keyrite loads.
pub struct ModuleFile {
    path: PathBuf,
    sha256: String,
    image: OwnedFd,
}

impl fmt::Debug for ModuleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleFile")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl ModuleFile {
    /// Reads the module file at `path` (a regular file) once into a sealed copy, and hashes it.
    pub fn read(path: &Path) -> Result<Self, Error> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let err = |reason: String| Error::ModuleRead {
            path: path.to_path_buf(),
            reason,
        };
        // Non-blocking, so that a FIFO put where the module belongs is refused, not waited on.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(|e| err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| err(e.to_string()))?;
        if !meta.is_file() {
            return Err(err("it is not a regular file".to_owned()));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(|e| err(e.to_string()))?;
        drop(file);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // MFD_EXEC says the copy is to be mapped executable (Linux 6.3 and later, where a
        // memfd made without it may be refused execution); older kernels do not know it.
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        let image = rustix::fs::memfd_create("keyrite-module", flags | MemfdFlags::EXEC)
            .or_else(|e| match e {
                rustix::io::Errno::INVAL => rustix::fs::memfd_create("keyrite-module", flags),
                e => Err(e),
            })
            .map_err(|e| err(format!("cannot make its sealed copy (memfd_create): {e}")))?;
        let mut copy = std::fs::File::from(image);
        copy.write_all(&bytes)
            .map_err(|e| err(format!("cannot write its sealed copy: {e}")))?;
        drop(bytes);
        rustix::fs::fcntl_add_seals(
            &copy,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| err(format!("cannot seal its copy (F_ADD_SEALS): {e}")))?;
        Ok(ModuleFile {
            path: path.to_path_buf(),
            sha256,
            image: OwnedFd::from(copy),
        })
    }

    /// The path the module was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 (hex) of the module file's bytes as read: what `sha256sum` prints of it.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The path the dynamic loader opens: the sealed copy, `/proc/self/fd/N`.
    pub fn loaded_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.image.as_raw_fd()))
    }

    /// Loads and initialises the sealed copy, and nothing else.
    pub fn load(self) -> Result<Module, Error> {
        let load_err = |e: CkError| Error::ModuleLoad {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let ctx = Pkcs11::new(self.loaded_path()).map_err(load_err)?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(load_err)?;
        Ok(Module {
            ctx,
            path: self.path,
            sha256: self.sha256,
            image: Arc::new(self.image),
        })
    }
}

/// A loaded and initialised PKCS#11 module.
pub struct Module {
    ctx: Pkcs11,
    path: PathBuf,
    sha256: String,
    /// The sealed copy the library was loaded from, open as long as the library may be: the
    /// loader knows the library by the name `/proc/self/fd/N`, which must not name another file
    /// meanwhile.
    image: Arc<OwnedFd>,
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// What a token says about itself.
#[derive(Debug, Clone, Serialize)]
pub struct TokenDescription {
    /// The slot id (random on SoftHSM2; never use it to pick a token).
    pub slot: u64,
    /// The token label.
    pub label: String,
    /// The serial number.
    pub serial: String,
    /// The manufacturer.
    pub manufacturer: String,
    /// The model.
    pub model: String,
    /// The firmware version.
    pub firmware: String,
    /// The hardware version.
    pub hardware: String,
    /// Whether the token has been initialised.
    pub initialized: bool,
    #[serde(skip)]
    slot_handle: Slot,
    #[serde(skip)]
    pin_locked: bool,
    #[serde(skip)]
    pin_final_try: bool,
    #[serde(skip)]
    pin_initialized: bool,
    #[serde(skip)]
    so_pin_locked: bool,
    #[serde(skip)]
    so_pin_final_try: bool,
}

impl Module {
    /// Resolves the module path: the one named, else `KEYRITE_PKCS11_MODULE` (the CLI reads it),
    /// else Debian's SoftHSM2.
    pub fn resolve(named: Option<&Path>) -> Result<PathBuf, Error> {
        match named {
            Some(p) if p.exists() => Ok(p.to_path_buf()),
            Some(p) => Err(Error::ModuleNotFound {
                path: p.to_path_buf(),
            }),
            None if Path::new(SOFTHSM2_DEBIAN).exists() => Ok(PathBuf::from(SOFTHSM2_DEBIAN)),
            None => Err(Error::NoModule),
        }
    }

    /// Reads the module file once and loads exactly what was read (see [`ModuleFile`]).
    pub fn load(path: &Path) -> Result<Self, Error> {
        ModuleFile::read(path)?.load()
    }

    /// The module's path, as resolved.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 (hex) of the module file's bytes that were loaded.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The module's own description: manufacturer, library and version.
    pub fn library_description(&self) -> Result<String, Error> {
        let info = self.ctx.get_library_info()?;
        Ok(format!(
            "{} {} {} (Cryptoki {})",
            info.manufacturer_id(),
            info.library_description(),
            info.library_version(),
            info.cryptoki_version()
        ))
    }

    /// Every slot with a token present.
    pub fn tokens(&self) -> Result<Vec<TokenDescription>, Error> {
        let mut out = Vec::new();
        for slot in self.ctx.get_slots_with_token()? {
            let info = self.ctx.get_token_info(slot)?;
            out.push(TokenDescription {
                slot: slot.id(),
                label: info.label().to_owned(),
                serial: info.serial_number().to_owned(),
                manufacturer: info.manufacturer_id().to_owned(),
                model: info.model().to_owned(),
                firmware: info.firmware_version().to_string(),
                hardware: info.hardware_version().to_string(),
                initialized: info.token_initialized(),
                slot_handle: slot,
                pin_locked: info.user_pin_locked(),
                pin_final_try: info.user_pin_final_try(),
                pin_initialized: info.user_pin_initialized(),
                so_pin_locked: info.so_pin_locked(),
                so_pin_final_try: info.so_pin_final_try(),
            });
        }
        Ok(out)
    }

    /// Finds the one initialised token with `label`, or the only initialised token when no label
    /// is given.
    pub fn find_token(&self, label: Option<&str>) -> Result<TokenDescription, Error> {
        let tokens: Vec<TokenDescription> = self
            .tokens()?
            .into_iter()
            .filter(|t| t.initialized)
            .collect();
        let found = || {
            let mut labels: Vec<String> = tokens.iter().map(|t| t.label.clone()).collect();
            labels.sort();
            labels
        };
        let mut matching: Vec<&TokenDescription> = match label {
            Some(l) => tokens.iter().filter(|t| t.label == l).collect(),
            None => tokens.iter().collect(),
        };
        match (matching.len(), label) {
            (1, _) => Ok(matching.remove(0).clone()),
            (0, Some(l)) => Err(Error::NoSuchToken {
                label: l.to_owned(),
                found: found(),
            }),
            (_, None) => Err(Error::TokenRequired { found: found() }),
            (_, Some(l)) => Err(Error::AmbiguousToken {
                label: l.to_owned(),
                serials: matching.iter().map(|t| t.serial.clone()).collect(),
            }),
        }
    }

    /// Opens a read-write session on the token.
    pub fn open(&self, token: TokenDescription) -> Result<Token, Error> {
        let session = self.ctx.open_rw_session(token.slot_handle)?;
        Ok(Token {
            ctx: self.ctx.clone(),
            session,
            info: token,
            _image: Arc::clone(&self.image),
        })
    }
}

/// An open session on one token.
pub struct Token {
    ctx: Pkcs11,
    session: Session,
    info: TokenDescription,
    /// The module's sealed copy, open while the token's library is loaded.
    _image: Arc<OwnedFd>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.info.label)
            .finish()
    }
}

impl Token {
    /// What the token said about itself when it was found.
    pub fn description(&self) -> &TokenDescription {
        &self.info
    }

    /// The token label.
    pub fn label(&self) -> &str {
        &self.info.label
    }

    /// Logs the user in. Refuses before trying when the PIN is locked, uninitialised, or one
    /// wrong attempt from locking.
    pub fn login(&self, pin: &SecretString) -> Result<(), Error> {
        let token = || self.info.label.clone();
        if self.info.pin_locked {
            return Err(Error::PinLocked { token: token() });
        }
        if !self.info.pin_initialized {
            return Err(Error::PinNotInitialized { token: token() });
        }
        if self.info.pin_final_try {
            return Err(Error::PinFinalTry { token: token() });
        }
        match self.session.login(UserType::User, Some(pin)) {
            Ok(()) => Ok(()),
            Err(e) if Pkcs11Failure::rv_is(&e, RvError::UserAlreadyLoggedIn) => Ok(()),
            Err(e) if Pkcs11Failure::rv_is(&e, RvError::PinIncorrect) => {
                Err(Error::WrongPin { token: token() })
            }
            Err(e) if Pkcs11Failure::rv_is(&e, RvError::PinLocked) => {
                Err(Error::PinLocked { token: token() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Logs the security officer in (for `token trust-wrapping-key`), with the same refusals as
    /// [`Token::login`] where the token reports them for the SO PIN.
    pub fn login_so(&self, pin: &SecretString) -> Result<(), Error> {
        let token = || self.info.label.clone();
        if self.info.so_pin_locked {
            return Err(Error::PinLocked { token: token() });
        }
        if self.info.so_pin_final_try {
            return Err(Error::PinFinalTry { token: token() });
        }
        match self.session.login(UserType::So, Some(pin)) {
            Ok(()) => Ok(()),
            Err(e) if Pkcs11Failure::rv_is(&e, RvError::PinIncorrect) => {
                Err(Error::WrongPin { token: token() })
            }
            Err(e) if Pkcs11Failure::rv_is(&e, RvError::PinLocked) => {
                Err(Error::PinLocked { token: token() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The underlying `cryptoki` session, for what keyrite's own methods do not cover.
    pub fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn slot(&self) -> Slot {
        self.info.slot_handle
    }

    pub(crate) fn ctx(&self) -> &Pkcs11 {
        &self.ctx
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_module_file_is_loaded_from_a_sealed_copy_of_the_bytes_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("module.so");
        std::fs::write(&path, b"the module as hashed").unwrap();
        let file = ModuleFile::read(&path).unwrap();
        assert_eq!(
            file.sha256(),
            hex::encode(Sha256::digest(b"the module as hashed"))
        );
        // The file changed in place, then replaced: the copy the loader opens is as hashed.
        std::fs::write(&path, b"a shim written in place").unwrap();
        let other = dir.path().join("other.so");
        std::fs::write(&other, b"a shim renamed over it").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let loaded = file.loaded_path();
        assert!(loaded.starts_with("/proc/self/fd"));
        assert_eq!(
            std::fs::read_link(&loaded).unwrap(),
            Path::new("/memfd:keyrite-module (deleted)")
        );
        assert_eq!(std::fs::read(&loaded).unwrap(), b"the module as hashed");
        // Sealed: nothing writes it, through any path.
        let write = std::fs::OpenOptions::new()
            .write(true)
            .open(&loaded)
            .and_then(|mut f| f.write_all(b"x"));
        assert!(write.is_err());
        assert_eq!(std::fs::read(&loaded).unwrap(), b"the module as hashed");
    }

    #[test]
    fn a_module_path_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("module.so");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(
            ModuleFile::read(&fifo).unwrap_err().to_string(),
            format!(
                "cannot read PKCS#11 module {}: it is not a regular file",
                fifo.display()
            )
        );
        assert_eq!(
            ModuleFile::read(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string(),
            "cannot read PKCS#11 module /dev/zero: it is not a regular file"
        );
    }

    #[test]
    fn ckr_names() {
        assert_eq!(ckr_name(RvError::ArgumentsBad), "CKR_ARGUMENTS_BAD");
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::MechanismParamInvalid),
            "CKR_MECHANISM_PARAM_INVALID"
        );
    }
}
