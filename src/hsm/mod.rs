//! PKCS#11 tokens: load a module, pick a token by label, log in, and do keyrite's few token
//! operations (generate a ceremony key, read its check value, wrap it under a KMS public key).
//!
//! It trusts the token to keep key material inside and to do what its mechanisms promise, and
//! checks what it can from outside: output lengths, attributes, mechanism parameters by trial.
//! It never asks a token for the value of a ceremony key.

pub mod backup;
mod error;
pub mod keys;
pub mod kwp;
pub mod object;
pub mod pair;
pub mod signer;
pub mod template;
pub mod trace;
#[cfg(test)]
mod usage;
pub mod wrapping;

pub use error::{
    BackupKeyProblem, BackupUnproven, Error, KnownAnswerFailure, ModuleReadStep, NoKcv, NotModule,
    PemKeyProblem, Pkcs11Failure, PublicKeyProblem, SignerProblem, Unproven, WrappingUnsupported,
    ckr_name,
};

use std::fmt;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use trace::{TracedContext, TracedSession};

/// Where Debian's `softhsm2` package installs the module; the default when none is named.
pub const SOFTHSM2_DEBIAN: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The environment variable naming the PKCS#11 module.
pub const MODULE_ENV: &str = "KEYRITE_PKCS11_MODULE";

/// A module file read once, hashed, and copied into a sealed anonymous file (a `memfd` that
/// nothing can write, grow or shrink any more): what [`ModuleFile::load`] maps is exactly the
/// bytes [`ModuleFile::sha256`] names. Replacing the file on disk, or writing into it, after it
/// was read changes nothing that keyrite loads.
pub struct ModuleFile {
    path: PathBuf,
    sha256: String,
    /// What kind of file it is, by its ELF header.
    kind: FileKind,
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
        let err = |step: ModuleReadStep| {
            move |source: std::io::Error| Error::ModuleRead {
                path: path.to_path_buf(),
                step,
                source,
            }
        };
        // Non-blocking, so that a FIFO put where the module belongs is refused, not waited on.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(err(ModuleReadStep::Read))?;
        let meta = file.metadata().map_err(err(ModuleReadStep::Read))?;
        if !meta.is_file() {
            return Err(Error::ModuleNotRegular {
                path: path.to_path_buf(),
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(err(ModuleReadStep::Read))?;
        drop(file);
        let kind = FileKind::of(&bytes);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        // MFD_EXEC says the copy is to be mapped executable (Linux 6.3 and later, where a
        // memfd made without it may be refused execution); older kernels do not know it.
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        let image = rustix::fs::memfd_create("keyrite-module", flags | MemfdFlags::EXEC)
            .or_else(|e| match e {
                rustix::io::Errno::INVAL => rustix::fs::memfd_create("keyrite-module", flags),
                e => Err(e),
            })
            .map_err(|e| err(ModuleReadStep::MakeCopy)(e.into()))?;
        let mut copy = std::fs::File::from(image);
        copy.write_all(&bytes)
            .map_err(err(ModuleReadStep::WriteCopy))?;
        drop(bytes);
        rustix::fs::fcntl_add_seals(
            &copy,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
        )
        .map_err(|e| err(ModuleReadStep::SealCopy)(e.into()))?;
        Ok(ModuleFile {
            path: path.to_path_buf(),
            sha256,
            kind,
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
        if self.kind == FileKind::NotElf {
            return Err(Error::NotModule {
                path: self.path,
                why: NotModule::NotElf,
            });
        }
        let load_err = |source: CkError| Error::ModuleLoad {
            path: self.path.clone(),
            source,
        };
        let not_module = |why| Error::NotModule {
            path: self.path.clone(),
            why,
        };
        let library = Pkcs11::new(self.loaded_path()).map_err(|e| match e {
            CkError::MissingSymbol("C_GetFunctionList") => not_module(NotModule::NoFunctionList),
            // What the loader refused is named a program only then: a program can be a library
            // too (libc is), and a module that loads is never refused for its header.
            CkError::LibraryLoading(_) if self.kind == FileKind::Program => {
                not_module(NotModule::Program)
            }
            e => load_err(e),
        })?;
        let ctx = TracedContext::new(library);
        // A module that cannot lock for the application's threads says so (CKR_CANT_LOCK); it
        // is initialised again for one thread at a time, and keyrite calls it from one.
        let threads = match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => true,
            Err(CkError::Pkcs11(RvError::CantLock, _)) => {
                ctx.initialize(CInitializeArgs::new(CInitializeFlags::empty()))
                    .map_err(load_err)?;
                false
            }
            Err(e) => return Err(load_err(e)),
        };
        Ok(Module {
            ctx,
            threads,
            path: self.path,
            sha256: self.sha256,
            image: Arc::new(self.image),
        })
    }
}

/// What a module file is, by its ELF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// No ELF object at all: a text file, a script, an archive.
    NotElf,
    /// An ELF program: of type `ET_EXEC`, or with an interpreter (`PT_INTERP`), as executables
    /// have and libraries (but for the C library and the loader) do not.
    Program,
    /// Any other ELF object, a shared library among them.
    Object,
}

impl FileKind {
    /// `ET_EXEC`, an ELF file's type of a program loaded at a fixed address.
    const ET_EXEC: u64 = 2;
    /// `PT_INTERP`, the program header that names a program's interpreter.
    const PT_INTERP: u64 = 3;

    /// The kind of `bytes`, from the ELF header and program headers (32 or 64 bits, either
    /// byte order); headers cut short say no more than an ELF object.
    fn of(bytes: &[u8]) -> Self {
        if !bytes.starts_with(b"\x7fELF") {
            return FileKind::NotElf;
        }
        let wide = bytes.get(4) == Some(&2);
        let big = bytes.get(5) == Some(&2);
        // An unsigned field of `len` bytes at `at`, if the file has it.
        let field = |at: usize, len: usize| -> Option<u64> {
            let b = bytes.get(at..at.checked_add(len)?)?;
            let fold = |v: u64, x: &u8| (v << 8) | u64::from(*x);
            Some(if big {
                b.iter().fold(0, fold)
            } else {
                b.iter().rev().fold(0, fold)
            })
        };
        let (phoff, entsize, count) = if wide {
            (field(32, 8), field(54, 2), field(56, 2))
        } else {
            (field(28, 4), field(42, 2), field(44, 2))
        };
        let interpreter = || -> Option<bool> {
            let (phoff, entsize) = (
                usize::try_from(phoff?).ok()?,
                usize::try_from(entsize?).ok()?,
            );
            Some((0..usize::try_from(count?).ok()?).any(|i| {
                i.checked_mul(entsize)
                    .and_then(|o| o.checked_add(phoff))
                    .and_then(|at| field(at, 4))
                    == Some(Self::PT_INTERP)
            }))
        };
        if field(16, 2) == Some(Self::ET_EXEC) || interpreter() == Some(true) {
            FileKind::Program
        } else {
            FileKind::Object
        }
    }
}

/// A loaded and initialised PKCS#11 module.
pub struct Module {
    ctx: TracedContext,
    /// Whether the module locks for the application's threads (`CKF_OS_LOCKING_OK` taken), so
    /// that sessions may be used from several at once; if not, keyrite calls it from one.
    threads: bool,
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
    /// What keyrite could not read in the token's info, each naming the slot and the field; the
    /// token is usable all the same.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// A fixed-width token info field without its padding: spaces, as PKCS#11 pads, and NULs, as
/// tpm2-pkcs11 pads its model ("SW   TPM" and eight NULs).
fn unpadded(field: &str) -> String {
    field.trim_end_matches(['\0', ' ']).to_owned()
}

/// The slots with a token present, as [`Module::tokens`] found them.
#[derive(Debug)]
pub struct TokenList {
    /// The tokens whose info could be read.
    pub tokens: Vec<TokenDescription>,
    /// One warning per slot whose token info could not be read at all, naming the slot; those
    /// slots are left out, so one odd slot never stops a command that needs another.
    pub unreadable: Vec<String>,
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

    /// Whether the module's sessions may be used from several threads at once: false for one
    /// that cannot lock for them (`C_Initialize` answered `CKF_OS_LOCKING_OK` with
    /// `CKR_CANT_LOCK`).
    pub fn threads(&self) -> bool {
        self.threads
    }

    /// The module's own description: manufacturer, library and version.
    pub fn library_description(&self) -> Result<String, Error> {
        let info = self.ctx.get_library_info()?;
        Ok(format!(
            "{} {} {} (Cryptoki {})",
            unpadded(info.manufacturer_id()),
            unpadded(info.library_description()),
            info.library_version(),
            info.cryptoki_version()
        ))
    }

    /// Every slot with a token present; none at all is [`Error::NoToken`].
    pub fn tokens(&self) -> Result<TokenList, Error> {
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        for slot in self.ctx.get_slots_with_token()? {
            let info = match self.ctx.get_token_info(slot) {
                Ok(info) => info,
                Err(e) => {
                    unreadable.push(format!(
                        "slot {}: its token info could not be read ({}): slot skipped",
                        slot.id(),
                        Pkcs11Failure::from_error(e)
                    ));
                    continue;
                }
            };
            // The patched cryptoki (vendor/cryptoki) hands back a clock it cannot parse.
            let warnings = info
                .unparsed_utc_time()
                .map(|raw| {
                    format!(
                        "slot {}: the token info field utcTime is {:?}, not YYYYMMDDhhmmss: ignored",
                        slot.id(),
                        String::from_utf8_lossy(&raw)
                    )
                })
                .into_iter()
                .collect();
            out.push(TokenDescription {
                slot: slot.id(),
                label: unpadded(info.label()),
                serial: unpadded(info.serial_number()),
                manufacturer: unpadded(info.manufacturer_id()),
                model: unpadded(info.model()),
                firmware: info.firmware_version().to_string(),
                hardware: info.hardware_version().to_string(),
                initialized: info.token_initialized(),
                slot_handle: slot,
                pin_locked: info.user_pin_locked(),
                pin_final_try: info.user_pin_final_try(),
                pin_initialized: info.user_pin_initialized(),
                so_pin_locked: info.so_pin_locked(),
                so_pin_final_try: info.so_pin_final_try(),
                warnings,
            });
        }
        if out.is_empty() && unreadable.is_empty() {
            return Err(Error::NoToken {
                module: self.path.clone(),
                library: self
                    .library_description()
                    .unwrap_or_else(|e| format!("its description unreadable: {e}")),
            });
        }
        Ok(TokenList {
            tokens: out,
            unreadable,
        })
    }

    /// Finds the one initialised token with `label`, or the only initialised token when no label
    /// is given. A slot whose token info cannot be read may hold another token, so without a
    /// label no token is "the only one" while such a slot is there.
    ///
    /// Every command finds its token here, so the slot warnings are printed here (standard
    /// error, once): those of slots that could not be read, and the token's own.
    pub fn find_token(&self, label: Option<&str>) -> Result<TokenDescription, Error> {
        let list = self.tokens()?;
        warn_once(&list.unreadable);
        let unreadable = !list.unreadable.is_empty();
        let tokens: Vec<TokenDescription> =
            list.tokens.into_iter().filter(|t| t.initialized).collect();
        let found = || {
            let mut labels: Vec<String> = tokens.iter().map(|t| t.label.clone()).collect();
            labels.sort();
            labels
        };
        let mut matching: Vec<&TokenDescription> = match label {
            Some(l) => tokens.iter().filter(|t| t.label == l).collect(),
            None => tokens.iter().collect(),
        };
        if tokens.is_empty() && !unreadable {
            return Err(Error::NoInitializedToken);
        }
        match (matching.len(), label) {
            (1, None) if unreadable => Err(Error::TokenRequired { found: found() }),
            (1, _) => {
                let token = matching.remove(0).clone();
                warn_once(&token.warnings);
                Ok(token)
            }
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

/// Prints each of `warnings` (what a slot's token info did not let keyrite read) on standard
/// error as `keyrite: warning: …`, each once in the process however often the slots are
/// listed.
pub fn warn_once(warnings: &[String]) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut said) = SAID.lock() else {
        return;
    };
    let mut stderr = std::io::stderr().lock();
    for warning in warnings {
        if !said.contains(warning) {
            let _ = writeln!(stderr, "keyrite: warning: {warning}");
            said.push(warning.clone());
        }
    }
}

/// An open session on one token.
pub struct Token {
    ctx: TracedContext,
    session: TracedSession,
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

/// For the tests of "nothing left behind" (a session object is invisible to any other process,
/// so only keyrite itself can list its own): with the `fault-injection` feature,
/// `KEYRITE_OBJECTS_LEFT=FILE` appends to FILE, as the session closes, one line naming the
/// token and the classes of the session objects still on it (`token "L": ` and nothing after
/// it when none is left).
#[cfg(feature = "fault-injection")]
impl Drop for Token {
    fn drop(&mut self) {
        use cryptoki::object::{Attribute, AttributeType};
        let Some(path) = std::env::var_os("KEYRITE_OBJECTS_LEFT") else {
            return;
        };
        let classes: Vec<String> = match self.session.find_objects(&[Attribute::Token(false)]) {
            Ok(handles) => handles
                .into_iter()
                .map(
                    |h| match self.session.get_attributes(h, &[AttributeType::Class]) {
                        Ok(attrs) => match attrs.first() {
                            Some(Attribute::Class(c)) => c.to_string(),
                            _ => "an object of no class".to_owned(),
                        },
                        Err(e) => Pkcs11Failure::from_error(e).to_string(),
                    },
                )
                .collect(),
            Err(e) => vec![Pkcs11Failure::from_error(e).to_string()],
        };
        let line = format!("token {:?}: {}\n", self.info.label, classes.join(", "));
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
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

    /// The underlying `cryptoki` session, traced (see [`trace`]), for what keyrite's own
    /// methods do not cover.
    pub fn session(&self) -> &TracedSession {
        &self.session
    }

    pub(crate) fn slot(&self) -> Slot {
        self.info.slot_handle
    }

    pub(crate) fn ctx(&self) -> &TracedContext {
        &self.ctx
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A 64-bit little-endian ELF header of type `e_type` with one program header of type
    /// `p_type` right after it.
    fn elf64(e_type: u16, p_type: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&p_type.to_le_bytes());
        b
    }

    #[test]
    fn a_module_file_is_told_from_a_program_and_from_what_is_no_elf_object() {
        // ET_DYN with a PT_LOAD: a library; with PT_INTERP: a position-independent program.
        assert_eq!(FileKind::of(&elf64(3, 1)), FileKind::Object);
        assert_eq!(FileKind::of(&elf64(3, 3)), FileKind::Program);
        assert_eq!(FileKind::of(&elf64(2, 1)), FileKind::Program);
        let mut big = elf64(3, 3);
        big[5] = 2;
        assert_eq!(FileKind::of(&big), FileKind::Object);
        assert_eq!(FileKind::of(&elf64(3, 3)[..66]), FileKind::Object);
        assert_eq!(FileKind::of(b"\x7fELF"), FileKind::Object);
        assert_eq!(FileKind::of(b"#!/bin/sh\n"), FileKind::NotElf);
        assert_eq!(FileKind::of(b""), FileKind::NotElf);
    }

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
    fn token_info_fields_lose_their_padding_of_spaces_and_nuls() {
        assert_eq!(unpadded("SW   TPM\0\0\0\0\0\0\0\0"), "SW   TPM");
        assert_eq!(unpadded("SoftHSM v2      "), "SoftHSM v2");
        assert_eq!(unpadded("\0"), "");
    }
}
