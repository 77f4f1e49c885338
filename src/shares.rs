//! PIN shares, for tokens without M-of-N login: the user PIN, padded to a fixed length, split
//! with Shamir's scheme over GF(256) into N shares of which any M rebuild it. Each share is one
//! line of text — groups of five characters, each group with its check character (the format
//! is in `src/shares/text.rs` and `docs/operators.md`) — whose SHA-256 the policy pins, so a
//! mistyped, corrupted or substituted share is caught the moment it is entered, without
//! involving the PIN, and a typo is found in its group. Shares of the first format,
//! `keyrite-pin-share-v1:INDEX:THRESHOLD:HEX`, are still read. The PIN is rebuilt in memory
//! only, zeroised after login.
//!
//! `pin split` logs in with the PIN it splits and proves the new shares rebuild it before it
//! writes them; with a policy, each custodian's share is encrypted to their SSH public key
//! (`share-NAME.age`, in the age format).

mod encrypted;
mod text;

pub use encrypted::Unusable;
pub use text::Typo;

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use blahaj::{Share, Sharks};
use rustix::fs::{CWD, RenameFlags, renameat_with};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::ceremony::policy::Policy;
use crate::hsm::Module;
use crate::pin::PinSource;

/// The longest padded length of a PIN (one length byte, the PIN, zeros), and the only one of
/// shares of the first format.
const PADDED: usize = 64;
const PREFIX: &str = "keyrite-pin-share-v1";
/// The most a share file may hold: a share is one line of about 160 bytes.
const MAX_SHARE_FILE: usize = 1024;

/// Why shares could not be made or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Threshold and count do not make sense.
    #[error("--threshold must be at least 2 and at most --shares, and --shares at most 255")]
    Counts,
    /// The PIN is too long to pad.
    #[error("the PIN is longer than {} bytes", PADDED - 1)]
    PinTooLong,
    /// The PIN to split could not be read.
    #[error(transparent)]
    Pin(#[from] crate::pin::Error),
    /// The two prompts differ.
    #[error("the two PINs typed differ")]
    Mismatch,
    /// The output directory exists.
    #[error("{} already exists; shares are written into a new directory", path.display())]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// A file system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said, or [`TooLarge`] (kind `FileTooLarge`).
        #[source]
        source: std::io::Error,
    },
    /// A share file could not be opened (its path is not repeated: it may be the share).
    #[error(
        "cannot open a file given to --pin-share: {source}; its name is not repeated here, in case it is the share itself"
    )]
    ShareFileOpen {
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A share is malformed.
    #[error("{source_name} is not a keyrite PIN share")]
    Malformed {
        /// Where it came from.
        source_name: String,
    },
    /// A share's text has a typo, found where it is.
    #[error("{source_name}: {typo}")]
    Typo {
        /// Where it came from.
        source_name: String,
        /// What is wrong, and where.
        #[source]
        typo: Typo,
    },
    /// A share is not one the policy pins.
    #[error(
        "{source_name} is not one of the policy's pin_shares (mistyped, corrupted, or from another split)"
    )]
    NotPinned {
        /// Where it came from.
        source_name: String,
    },
    /// A pinned share listed at another place in `pin_shares` than its index: the transcript
    /// records indexes, which verify reads as places in the policy's list.
    #[error(
        "{source_name} is share {index} of its split, but the policy pins it as pin_shares[{place}], the place of share {}; pin_shares lists a split's shares in order, from share 1",
        place + 1
    )]
    Misplaced {
        /// Where it came from.
        source_name: String,
        /// The share's index.
        index: u8,
        /// Its place in `pin_shares` (from 0).
        place: usize,
    },
    /// A pinned share made for another threshold than the policy's `pin_threshold`.
    #[error(
        "{source_name} is a share for {share} of its split, but the policy's pin_threshold is {policy}"
    )]
    OtherThreshold {
        /// Where it came from.
        source_name: String,
        /// The threshold the share carries.
        share: u8,
        /// The policy's.
        policy: u8,
    },
    /// The same share twice.
    #[error("{source_name} repeats share {index}")]
    Duplicate {
        /// Where it came from.
        source_name: String,
        /// Its index.
        index: u8,
    },
    /// A share the policy names another custodian as holder of.
    #[error("{source_name} is {holder}'s share, not {custodian}'s")]
    NotTheirs {
        /// Where it came from.
        source_name: String,
        /// Who holds it, by the policy.
        holder: String,
        /// Whose turn it was.
        custodian: String,
    },
    /// Every custodian the policy names was asked, and too few gave their share.
    #[error(
        "every custodian named in the policy's pin_shares was asked: {given} share(s) given{}",
        threshold.map_or_else(String::new, |m| format!("; {m} are needed"))
    )]
    NotHere {
        /// How many were given.
        given: usize,
        /// How many are needed, once a share has said.
        threshold: Option<u8>,
    },
    /// Not enough shares.
    #[error("{given} share(s) given; {threshold} are needed")]
    TooFew {
        /// How many were given.
        given: usize,
        /// How many are needed.
        threshold: usize,
    },
    /// The policy pins no shares.
    #[error("the plan takes the PIN from shares, but the policy pins no pin_shares")]
    NoPolicyShares,
    /// No TTY to prompt on.
    #[error(
        "the plan takes the PIN from shares: pass --pin-share FILE for each, or run on a terminal to type them"
    )]
    NoTerminal,
    /// The shares rebuild no valid padded PIN.
    #[error("the shares do not rebuild a PIN")]
    Rebuild,
    /// Neither recipients nor plaintext asked for.
    #[error(
        "pin split needs --to-policy POLICY (each custodian's share encrypted to their SSH key) or --plaintext (share files in the clear)"
    )]
    NoRecipients,
    /// The policy (read for its custodians) was refused, or the module or token is not the
    /// one it pins (boxed: a ceremony's error holds this one).
    #[error(transparent)]
    Policy(Box<crate::ceremony::Error>),
    /// The token could not be opened, or refused the PIN.
    #[error(transparent)]
    Token(#[from] crate::hsm::Error),
    /// `--shares` is not the number of the policy's custodians.
    #[error(
        "--shares {given}: the policy names {custodians} custodian(s), one share each; leave out --shares"
    )]
    SharesNotCustodians {
        /// `--shares`.
        given: u8,
        /// How many custodians the policy names.
        custodians: usize,
    },
    /// Too few or too many custodians for shares.
    #[error(
        "the policy names {0} custodian(s); shares to a policy need 2 to 255 custodians, one share each"
    )]
    Custodians(usize),
    /// A custodian whose name cannot be part of a file name.
    #[error(
        "custodian {0:?}: a name with '/' cannot name a share file (share-NAME.age); rename the custodian in the policy"
    )]
    CustodianName(String),
    /// A custodian whose key cannot receive a share.
    #[error("custodian {custodian:?}'s key is {reason}; nothing was written")]
    Recipient {
        /// The custodian.
        custodian: String,
        /// Why.
        reason: Unusable,
    },
    /// Encrypting a share failed.
    #[error("cannot encrypt the share of custodian {custodian:?}: {reason}")]
    Encrypt {
        /// The custodian.
        custodian: String,
        /// What age said.
        reason: String,
    },
    /// The new shares did not give back the PIN split.
    #[error("the new shares do not rebuild the PIN split; nothing was written")]
    Unproven,
    /// An encrypted share file, and no key to open it.
    #[error(
        "{} is encrypted to a custodian's SSH key: pass that custodian's private key with --identity KEY",
        path.display()
    )]
    NoIdentity {
        /// The share file.
        path: PathBuf,
    },
    /// None of the identities given opens an encrypted share file.
    #[error(
        "{}: none of the {count} --identity key(s) given opens it; it was encrypted to another custodian's key",
        path.display()
    )]
    NotForThese {
        /// The share file.
        path: PathBuf,
        /// How many identities were tried.
        count: usize,
    },
    /// An encrypted share file that does not decrypt (corrupted, truncated).
    #[error("{} is not an age file keyrite can decrypt (corrupted or truncated?)", path.display())]
    NotAge {
        /// The share file.
        path: PathBuf,
    },
    /// An `--identity` file keyrite cannot use.
    #[error("--identity {}: {reason}", path.display())]
    Identity {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A passphrase-protected identity and no terminal to ask on.
    #[error(
        "--identity {} is protected by a passphrase: run on a terminal to type it",
        path.display()
    )]
    Passphrase {
        /// The key file.
        path: PathBuf,
    },
    /// The passphrase typed does not unlock the identity.
    #[error("--identity {}: the passphrase typed does not unlock it", path.display())]
    WrongPassphrase {
        /// The key file.
        path: PathBuf,
    },
}

impl Error {
    /// Whether this is a usage error (exit 2): counts that make no split (or that are not the
    /// policy's custodians), neither `--to-policy` nor `--plaintext`, the PIN source or a share
    /// file named cannot be used, a share that is not one, an encrypted share without an
    /// identity that opens it, an identity that is no usable key or whose passphrase cannot be
    /// asked, a share given twice or too few, the output directory exists, no terminal to
    /// prompt on; the policy, module and token as their own errors say. Shares the policy does
    /// not pin, or that rebuild no PIN, a custodian whose key or name cannot take a share, a
    /// wrong passphrase, are not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Pin(e) => e.is_usage(),
            Error::Policy(e) => e.is_usage(),
            Error::Token(e) => e.is_usage(),
            Error::Counts
            | Error::Exists { .. }
            | Error::ShareFileOpen { .. }
            | Error::Malformed { .. }
            | Error::Typo { .. }
            | Error::NotTheirs { .. }
            | Error::Duplicate { .. }
            | Error::TooFew { .. }
            | Error::NoTerminal
            | Error::NoRecipients
            | Error::SharesNotCustodians { .. }
            | Error::Custodians(_)
            | Error::NoIdentity { .. }
            | Error::NotForThese { .. }
            | Error::NotAge { .. }
            | Error::Identity { .. }
            | Error::Passphrase { .. } => true,
            Error::PinTooLong
            | Error::Mismatch
            | Error::Io { .. }
            | Error::NotPinned { .. }
            | Error::OtherThreshold { .. }
            | Error::Misplaced { .. }
            | Error::NoPolicyShares
            | Error::Rebuild
            | Error::CustodianName(_)
            | Error::Recipient { .. }
            | Error::Encrypt { .. }
            | Error::Unproven
            | Error::WrongPassphrase { .. }
            | Error::NotHere { .. } => false,
        }
    }
}

/// One share, parsed.
pub struct ShareText {
    /// The canonical text: what is written, and what the policy's digest is of.
    text: Zeroizing<String>,
    index: u8,
    threshold: u8,
    /// The y values.
    y: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ShareText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShareText {{ index: {}, REDACTED }}", self.index)
    }
}

impl ShareText {
    /// Parses a share: the grouped text `split` writes (spaces, dashes and case aside), or a
    /// `keyrite-pin-share-v1:` line (surrounding whitespace ignored).
    pub fn parse(text: &str, source_name: &str) -> Result<Self, Error> {
        let malformed = || Error::Malformed {
            source_name: source_name.to_owned(),
        };
        let trimmed = text.trim();
        if trimmed.contains(':') {
            return Self::parse_v1(trimmed).ok_or_else(malformed);
        }
        match text::decode(trimmed) {
            Ok(d) => Ok(ShareText {
                text: d.canonical,
                index: d.index,
                threshold: d.threshold,
                y: d.y,
            }),
            Err(Typo::NotShare) => Err(malformed()),
            Err(typo) => Err(Error::Typo {
                source_name: source_name.to_owned(),
                typo,
            }),
        }
    }

    /// Parses `keyrite-pin-share-v1:INDEX:THRESHOLD:HEX`, its hex digits in either case (the
    /// canonical text has them in lowercase, as `split` wrote them).
    fn parse_v1(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split(':').collect();
        let [prefix, index, threshold, hex] = parts.as_slice() else {
            return None;
        };
        if *prefix != PREFIX || hex.len() != 2 * PADDED {
            return None;
        }
        let index: u8 = index.parse().ok()?;
        let threshold: u8 = threshold.parse().ok()?;
        if index == 0 || threshold < 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let y = Zeroizing::new(hex::decode(hex).ok()?);
        let lower = Zeroizing::new(hex.to_ascii_lowercase());
        let text = Zeroizing::new(format!("{PREFIX}:{index}:{threshold}:{}", lower.as_str()));
        Some(ShareText {
            text,
            index,
            threshold,
            y,
        })
    }

    /// The SHA-256 (hex) of the share's canonical text: what the policy pins.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }

    /// Its index (1..=N).
    pub fn index(&self) -> u8 {
        self.index
    }

    fn share(&self) -> Result<Share, Error> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(1 + self.y.len()));
        bytes.push(self.index);
        bytes.extend_from_slice(&self.y);
        Share::try_from(bytes.as_slice()).map_err(|_| Error::Rebuild)
    }
}

/// Splits a PIN into `count` shares, any `threshold` of which rebuild it.
pub fn split(pin: &SecretString, threshold: u8, count: u8) -> Result<Vec<ShareText>, Error> {
    if threshold < 2 || threshold > count {
        return Err(Error::Counts);
    }
    let bytes = pin.expose_secret().as_bytes();
    let padded_len = text::padded_len(bytes.len()).ok_or(Error::PinTooLong)?;
    let mut padded = Zeroizing::new(vec![0u8; padded_len]);
    padded[0] = bytes.len() as u8;
    padded[1..=bytes.len()].copy_from_slice(bytes);
    Sharks(threshold)
        .dealer(&padded)
        .take(usize::from(count))
        .map(|share| {
            let raw = Zeroizing::new(Vec::<u8>::from(&share));
            let text = text::encode(raw[0], threshold, &raw[1..]).ok_or(Error::Rebuild)?;
            ShareText::parse(&text, "a new share")
        })
        .collect()
}

/// Where `pin split` puts the shares.
#[derive(Debug, Clone)]
pub enum Recipients {
    /// `share-I.txt`, the share in the clear (`--plaintext`).
    Plaintext,
    /// `share-NAME.age`, one for each custodian of this policy, encrypted to their SSH key.
    Policy(PathBuf),
}

/// What `pin split` is asked to do.
#[derive(Debug)]
pub struct SplitRequest {
    /// The PKCS#11 module; `None` for the default.
    pub module: Option<PathBuf>,
    /// The token label; `None` when there is exactly one token.
    pub token: Option<String>,
    /// Where the PIN comes from (typed twice on the terminal when prompted).
    pub pin: PinSource,
    /// M; with a policy, `None` takes the policy's threshold.
    pub threshold: Option<u8>,
    /// N; with a policy, `None` (or the number of its custodians).
    pub shares: Option<u8>,
    /// The new directory for the share files.
    pub out: PathBuf,
    /// Plaintext files or a policy's custodians.
    pub to: Recipients,
}

/// One share file written.
#[derive(Debug)]
pub struct Written {
    /// Its path.
    pub path: PathBuf,
    /// The custodian it is encrypted to, if any.
    pub custodian: Option<String>,
    /// The share's SHA-256 ([`ShareText::sha256`]), for the policy's `pin_shares`.
    pub sha256: String,
}

/// What `pin split` did.
#[derive(Debug)]
pub struct Split {
    /// M: how many shares rebuild the PIN.
    pub threshold: u8,
    /// The share files, in share order.
    pub files: Vec<Written>,
}

/// Reads the user PIN — from `pin`'s environment variable or file, or typed twice on the
/// terminal, the two compared — logs in to the token with it (a wrong PIN is refused, and
/// counts toward the token's lockout), splits it into N shares, any M of which rebuild it,
/// rebuilds it in memory from M-sized windows of the new shares (every share in one) and
/// compares, then writes the shares into the new directory `out`, all at once: `share-I.txt`
/// in the clear, or, to a policy, `share-NAME.age` encrypted to each custodian's SSH public
/// key, the module and token checked against the policy's `module_sha256`, `module_path` and
/// `token_serial` as `ceremony run` does. Nothing is written unless everything before
/// succeeded. The PIN is dropped (zeroised) before anything is written.
pub fn split_pin(req: &SplitRequest) -> Result<Split, Error> {
    let policy_error = |e: crate::ceremony::Error| Error::Policy(Box::new(e));
    let policy = match &req.to {
        Recipients::Policy(path) => Some(Policy::load(path).map_err(policy_error)?),
        Recipients::Plaintext => None,
    };
    let recipients = policy
        .as_ref()
        .map(|p| custodians(p, req.shares))
        .transpose()?;
    let count = match (&recipients, req.shares) {
        (Some(r), _) => u8::try_from(r.len()).map_err(|_| Error::Custodians(r.len()))?,
        (None, Some(n)) => n,
        (None, None) => return Err(Error::Counts),
    };
    let threshold = match (req.threshold, &policy) {
        (Some(m), _) => m,
        (None, Some(p)) => u8::try_from(p.threshold).map_err(|_| Error::Counts)?,
        (None, None) => return Err(Error::Counts),
    };
    // Counts that make no split are a usage error before the PIN is asked for.
    if threshold < 2 || threshold > count {
        return Err(Error::Counts);
    }
    let pin = read_pin(&req.pin)?;
    if std::fs::symlink_metadata(&req.out).is_ok() {
        return Err(Error::Exists {
            path: req.out.clone(),
        });
    }
    let module = match &policy {
        Some(p) => crate::ceremony::load_module(p, req.module.as_deref()).map_err(policy_error)?,
        None => Module::load(&Module::resolve(req.module.as_deref())?)?,
    };
    let description = module.find_token(req.token.as_deref())?;
    if let Some(p) = &policy {
        crate::ceremony::check_serial(p, &description).map_err(policy_error)?;
    }
    module.open(description)?.login(&pin)?;
    let made = split(&pin, threshold, count)?;
    prove(&pin, &made, threshold)?;
    drop(pin);
    let mut files = Vec::new();
    for (i, share) in made.iter().enumerate() {
        let line = Zeroizing::new(format!("{}\n", share.text.as_str()));
        let (name, custodian, bytes) = match &recipients {
            None => (
                format!("share-{}.txt", share.index),
                None,
                Zeroizing::new(line.as_bytes().to_vec()),
            ),
            Some(r) => {
                let (custodian, recipient) = &r[i];
                let sealed = encrypted::encrypt(custodian, recipient, line.as_bytes())?;
                (
                    format!("share-{custodian}.age"),
                    Some(custodian.clone()),
                    Zeroizing::new(sealed),
                )
            }
        };
        files.push((name, custodian, bytes, share.sha256()));
    }
    let contents: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(name, _, bytes, _)| (name.as_str(), bytes.as_slice()))
        .collect();
    write(&req.out, &contents)?;
    Ok(Split {
        threshold,
        files: files
            .into_iter()
            .map(|(name, custodian, _, sha256)| Written {
                path: req.out.join(name),
                custodian,
                sha256,
            })
            .collect(),
    })
}

/// The PIN to split: from its variable or file, or typed twice and compared.
fn read_pin(pin: &PinSource) -> Result<SecretString, Error> {
    Ok(match pin {
        PinSource::Env(_) | PinSource::File(_) => pin.read("")?,
        PinSource::Prompt => {
            let first = PinSource::Prompt.read("User PIN to split: ")?;
            let again = PinSource::Prompt.read("The same PIN again: ")?;
            if first.expose_secret() != again.expose_secret() {
                return Err(Error::Mismatch);
            }
            first
        }
    })
}

/// The policy's custodians as recipients, one share each: `shares` (if given) must be their
/// number, each name must make a file name, each key must be one age encrypts to.
fn custodians(
    policy: &Policy,
    shares: Option<u8>,
) -> Result<Vec<(String, age::ssh::Recipient)>, Error> {
    let n = policy.custodians.len();
    if let Some(given) = shares {
        if usize::from(given) != n {
            return Err(Error::SharesNotCustodians {
                given,
                custodians: n,
            });
        }
    }
    if !(2..=255).contains(&n) {
        return Err(Error::Custodians(n));
    }
    if let Some(p) = policy.custodians.iter().find(|p| p.name.contains('/')) {
        return Err(Error::CustodianName(p.name.clone()));
    }
    encrypted::recipients(&policy.custodians)
}

/// Rebuilds the PIN from consecutive windows of `threshold` of the new shares (wrapping, so
/// every share is in one), each compared with the PIN split.
fn prove(pin: &SecretString, made: &[ShareText], threshold: u8) -> Result<(), Error> {
    let pinned: Vec<String> = made.iter().map(ShareText::sha256).collect();
    let (n, m) = (made.len(), usize::from(threshold));
    for start in (0..n).step_by(m.max(1)) {
        let mut r = Rebuilder::new(&pinned).map_err(|_| Error::Unproven)?;
        for share in made.iter().cycle().skip(start).take(m) {
            r.offer(&share.text, "a new share")
                .map_err(|_| Error::Unproven)?;
        }
        let rebuilt = r.pin().map_err(|_| Error::Unproven)?;
        if rebuilt.expose_secret() != pin.expose_secret() {
            return Err(Error::Unproven);
        }
    }
    Ok(())
}

/// Writes `files` (name, bytes), each mode 0600 and created new, into the new directory `dir`
/// (mode 0700), all at once: built under a temporary name beside it, fsynced, then moved into
/// place without replacing anything. On a failure before the move nothing is left.
fn write(dir: &Path, files: &[(&str, &[u8])]) -> Result<(), Error> {
    let io = |path: &Path, source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let exists = || Error::Exists {
        path: dir.to_path_buf(),
    };
    if std::fs::symlink_metadata(dir).is_ok() {
        return Err(exists());
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staged = tempfile::Builder::new()
        .prefix(&format!(".{name}.keyrite-"))
        .tempdir_in(parent)
        .map_err(|e| io(parent, e))?;
    let tmp = staged.path().to_path_buf();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io(&tmp, e))?;
    for (file_name, bytes) in files {
        let path = tmp.join(file_name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io(&dir.join(file_name), e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&dir.join(file_name), e))?;
    }
    std::fs::File::open(&tmp)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))?;
    match renameat_with(CWD, &tmp, CWD, dir, RenameFlags::NOREPLACE) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Err(exists()),
        Err(e) => return Err(io(dir, e.into())),
    }
    // The directory now lives at its final name.
    let _ = staged.keep();
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(parent, e))
}

/// Rebuilds the PIN from shares that the policy pins. Each share is checked the moment it is
/// read: pinned by the policy, not a repeat; reading stops at the threshold.
pub struct Rebuilder<'a> {
    pinned: &'a [String],
    /// Who holds each pinned share, when the policy names them.
    holders: Option<&'a [String]>,
    /// How many shares rebuild the PIN, when the policy says.
    expected: Option<u8>,
    taken: Vec<ShareText>,
}

impl<'a> Rebuilder<'a> {
    /// Starts with the policy's pinned share digests.
    pub fn new(pinned: &'a [String]) -> Result<Self, Error> {
        if pinned.is_empty() {
            return Err(Error::NoPolicyShares);
        }
        Ok(Rebuilder {
            pinned,
            holders: None,
            expected: None,
            taken: Vec::new(),
        })
    }

    /// Names the custodian who holds each pinned share, in the same order (the policy's
    /// `pin_share_custodians`), if it names them.
    pub fn held_by(self, holders: Option<&'a [String]>) -> Self {
        Rebuilder { holders, ..self }
    }

    /// Expects every share to be one of a split with this threshold (the policy's
    /// `pin_threshold`), so the count is known before the first share.
    pub fn expecting(self, expected: Option<u8>) -> Self {
        Rebuilder { expected, ..self }
    }

    /// How many shares rebuild the PIN: the policy's `pin_threshold`, or what the first share
    /// taken says.
    pub fn threshold(&self) -> Option<u8> {
        self.expected
            .or_else(|| self.taken.first().map(|s| s.threshold))
    }

    /// Checks and keeps the share `custodian` gives: as [`offer`](Self::offer), and the policy
    /// must not name another custodian as its holder.
    pub fn offer_from(
        &mut self,
        text: &str,
        source_name: &str,
        custodian: &str,
    ) -> Result<(), Error> {
        let share = self.check(text, source_name)?;
        let holder = self.holders.and_then(|holders| {
            let digest = share.sha256();
            self.pinned
                .iter()
                .position(|p| p.eq_ignore_ascii_case(&digest))
                .and_then(|i| holders.get(i))
        });
        if let Some(holder) = holder.filter(|h| *h != custodian) {
            return Err(Error::NotTheirs {
                source_name: source_name.to_owned(),
                holder: holder.clone(),
                custodian: custodian.to_owned(),
            });
        }
        self.taken.push(share);
        Ok(())
    }

    /// Whether the threshold is reached.
    pub fn complete(&self) -> bool {
        self.threshold()
            .is_some_and(|t| !self.taken.is_empty() && self.taken.len() >= usize::from(t))
    }

    /// Checks and keeps one share.
    pub fn offer(&mut self, text: &str, source_name: &str) -> Result<(), Error> {
        let share = self.check(text, source_name)?;
        self.taken.push(share);
        Ok(())
    }

    /// Parses a share and checks it is pinned and not a repeat.
    fn check(&self, text: &str, source_name: &str) -> Result<ShareText, Error> {
        let share = ShareText::parse(text, source_name)?;
        let digest = share.sha256();
        let Some(place) = self
            .pinned
            .iter()
            .position(|p| p.eq_ignore_ascii_case(&digest))
        else {
            return Err(Error::NotPinned {
                source_name: source_name.to_owned(),
            });
        };
        if place + 1 != usize::from(share.index) {
            return Err(Error::Misplaced {
                source_name: source_name.to_owned(),
                index: share.index,
                place,
            });
        }
        if let Some(policy) = self.expected.filter(|&t| t != share.threshold) {
            return Err(Error::OtherThreshold {
                source_name: source_name.to_owned(),
                share: share.threshold,
                policy,
            });
        }
        if self.taken.iter().any(|s| s.index == share.index) {
            return Err(Error::Duplicate {
                source_name: source_name.to_owned(),
                index: share.index,
            });
        }
        Ok(share)
    }

    /// The indexes taken, in order.
    pub fn indexes(&self) -> Vec<u8> {
        self.taken.iter().map(|s| s.index).collect()
    }

    /// Rebuilds the PIN.
    pub fn pin(&self) -> Result<SecretString, Error> {
        let threshold = self.taken.first().map_or(2, |s| s.threshold);
        if !self.complete() {
            return Err(Error::TooFew {
                given: self.taken.len(),
                threshold: usize::from(threshold),
            });
        }
        let shares = self
            .taken
            .iter()
            .map(ShareText::share)
            .collect::<Result<Vec<_>, _>>()?;
        let padded = Zeroizing::new(
            Sharks(threshold)
                .recover(shares.iter())
                .map_err(|_| Error::Rebuild)?,
        );
        let len = usize::from(*padded.first().ok_or(Error::Rebuild)?);
        if len >= padded.len() || padded[len + 1..].iter().any(|&b| b != 0) {
            return Err(Error::Rebuild);
        }
        let pin = std::str::from_utf8(&padded[1..=len]).map_err(|_| Error::Rebuild)?;
        Ok(SecretString::from(pin))
    }
}

/// A share file larger than the most keyrite reads from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("it is larger than {MAX_SHARE_FILE} bytes, the most keyrite reads from a share file")]
pub struct TooLarge;

/// An encrypted share file larger than the most keyrite reads from one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "it is larger than {} bytes, the most keyrite reads from an encrypted share file",
    encrypted::MAX_AGE_FILE
)]
pub struct TooLargeEncrypted;

/// Reads a share file: at most [`MAX_SHARE_FILE`] bytes of UTF-8, or an age file of at most
/// 8 KiB decrypted in memory with `identities` (read the first time one is needed), read into
/// room made beforehand so a growing buffer leaves no copy of the share behind.
fn read_share_file(
    path: &Path,
    identities: &mut Identities<'_>,
) -> Result<Zeroizing<String>, Error> {
    use std::io::Read as _;
    let io = |source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::ShareFileOpen { source })?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(encrypted::MAX_AGE_FILE + 1));
    file.take(encrypted::MAX_AGE_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if encrypted::is_age(&bytes) {
        if bytes.len() > encrypted::MAX_AGE_FILE {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                TooLargeEncrypted,
            )));
        }
        return identities.get()?.decrypt(&bytes, path);
    }
    if bytes.len() > MAX_SHARE_FILE {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            TooLarge,
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::Malformed {
        source_name: path.display().to_string(),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The `--identity` keys, read when the first encrypted share file needs them.
struct Identities<'a> {
    paths: &'a [PathBuf],
    loaded: Option<encrypted::Identities>,
}

impl Identities<'_> {
    fn get(&mut self) -> Result<&encrypted::Identities, Error> {
        match &mut self.loaded {
            Some(loaded) => Ok(loaded),
            slot => Ok(slot.insert(encrypted::Identities::load(self.paths)?)),
        }
    }
}

/// Rebuilds the PIN from share files — in the clear, or encrypted to a custodian's SSH key and
/// opened with one of `identities` (SSH private keys) — or, with none, from shares typed on
/// the terminal one custodian at a time (no echo, the screen cleared between), by name when the
/// policy names who holds each share. Every share must be one `policy` pins (and of its
/// `pin_threshold`, when it gives one). Returns the PIN and the indexes.
pub fn rebuild(
    files: &[PathBuf],
    identities: &[PathBuf],
    policy: &Policy,
) -> Result<(SecretString, Vec<u8>), Error> {
    let mut r = Rebuilder::new(&policy.pin_shares)?
        .held_by(policy.pin_share_custodians.as_deref())
        .expecting(policy.pin_threshold);
    if files.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(Error::NoTerminal);
        }
        prompt_shares(&mut r)?;
    } else {
        let mut identities = Identities {
            paths: identities,
            loaded: None,
        };
        for file in files {
            if r.complete() {
                break;
            }
            let text = read_share_file(file, &mut identities)?;
            r.offer(&text, &file.display().to_string())?;
        }
    }
    Ok((r.pin()?, r.indexes()))
}

/// Asks for shares on the terminal, without echo, until the threshold is reached. When the
/// policy names the holders, it asks each in turn, in the policy's order, by name — Enter alone
/// says they are not here — and a share held by another is refused as theirs; otherwise it
/// asks the next custodian. A typo is reported by its group and the same custodian asked again;
/// a repeat, or a share of another split, is said to be one. The screen is cleared after each
/// share accepted. What was typed is never shown.
fn prompt_shares(r: &mut Rebuilder<'_>) -> Result<(), Error> {
    let holders = r.holders;
    let mut asked = vec![false; holders.map_or(0, <[String]>::len)];
    while !r.complete() {
        let turn = match holders {
            Some(names) => {
                let Some(i) = asked.iter().position(|&done| !done) else {
                    return Err(Error::NotHere {
                        given: r.taken.len(),
                        threshold: r.threshold(),
                    });
                };
                Some((i, names[i].as_str()))
            }
            None => None,
        };
        // The name as shown: a bidi override in it must not reorder the prompt around it.
        let shown = turn.map(|(_, name)| crate::visible::visible(name));
        let shown = shown.as_deref();
        let k = r.taken.len() + 1;
        let of = r
            .threshold()
            .map_or_else(String::new, |m| format!(" of {m}"));
        let prompt = match shown {
            Some(name) => format!(
                "PIN share {k}{of} — {name}, type now (not shown), or Enter alone if {name} is not here: "
            ),
            None => format!("PIN share {k}{of} — next custodian, type now (not shown): "),
        };
        let typed = Zeroizing::new(
            crate::interrupt::prompting(|| rpassword::prompt_password(prompt))
                .map_err(|_| Error::NoTerminal)?,
        );
        let again = shown.map_or_else(
            || "type the share again".to_owned(),
            |name| format!("{name}, type your share again"),
        );
        if typed.trim().is_empty() {
            match turn {
                Some((i, _)) => {
                    asked[i] = true;
                    let name = shown.unwrap_or_default();
                    eprintln!("{name} is not here; on to the next custodian.");
                }
                None => eprintln!("Nothing was typed; type a share."),
            }
            continue;
        }
        let offered = match turn {
            Some((_, name)) => r.offer_from(&typed, "that share", name),
            None => r.offer(&typed, "that share"),
        };
        match offered {
            Ok(()) => {
                if let Some((i, _)) = turn {
                    asked[i] = true;
                }
                // Clear the screen for the next custodian.
                eprint!("\x1b[2J\x1b[H");
                let from = shown.map_or_else(String::new, |name| format!(" from {name}"));
                let m = r.threshold().map_or(0, usize::from);
                let given = r.taken.len();
                if given >= m {
                    eprintln!("Share {given} of {m} accepted{from}: the PIN can be rebuilt.");
                } else {
                    eprintln!(
                        "Share {given} of {m} accepted{from}; {} more needed.",
                        m - given
                    );
                }
            }
            Err(Error::Typo { typo, .. }) => {
                eprintln!("{}; {again}.", capitalized(&typo.to_string()))
            }
            Err(Error::Malformed { .. }) => {
                eprintln!("That is not a keyrite PIN share; {again}.");
            }
            Err(Error::Misplaced { index, place, .. }) => eprintln!(
                "That share (share {index}) is pinned at pin_shares[{place}], not in its split's order; {again}."
            ),
            Err(Error::OtherThreshold { share, policy, .. }) => eprintln!(
                "That share is of a split for {share} shares, not the policy's {policy}; {again}."
            ),
            Err(Error::NotPinned { .. }) => eprintln!(
                "That share is not one of the policy's pin_shares: a share of another split, or more than one typo; {again}."
            ),
            Err(Error::Duplicate { index, .. }) => {
                eprintln!("That share (share {index}) was given already; {again}.");
            }
            Err(Error::NotTheirs {
                holder, custodian, ..
            }) => eprintln!(
                "That is {}'s share, not {}'s; {again}.",
                crate::visible::visible(&holder),
                crate::visible::visible(&custodian)
            ),
            Err(e) => eprintln!("{e}; {again}."),
        }
    }
    Ok(())
}

/// `s` with its first letter a capital.
fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn any_threshold_of_the_shares_rebuild_the_pin_and_fewer_do_not() {
        let pin = SecretString::from("kr-Pin-7301-quince");
        let shares = split(&pin, 3, 5).unwrap();
        let pinned: Vec<String> = shares.iter().map(ShareText::sha256).collect();
        for combo in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let mut r = Rebuilder::new(&pinned).unwrap();
            for i in combo {
                r.offer(&shares[i].text, "t").unwrap();
            }
            assert_eq!(r.pin().unwrap().expose_secret(), "kr-Pin-7301-quince");
        }
        let mut r = Rebuilder::new(&pinned).unwrap();
        r.offer(&shares[0].text, "t").unwrap();
        r.offer(&shares[1].text, "t").unwrap();
        assert!(matches!(
            r.pin(),
            Err(Error::TooFew {
                given: 2,
                threshold: 3
            })
        ));
        assert!(matches!(
            r.offer(&shares[1].text, "t"),
            Err(Error::Duplicate { index: 2, .. })
        ));
    }

    #[test]
    fn the_policys_pin_threshold_counts_from_the_first_share_and_refuses_another_split() {
        let pin = SecretString::from("kr-Pin-7301-quince");
        let shares = split(&pin, 2, 3).unwrap();
        let pinned: Vec<String> = shares.iter().map(ShareText::sha256).collect();
        let r = Rebuilder::new(&pinned).unwrap();
        assert_eq!(r.threshold(), None);
        let mut r = Rebuilder::new(&pinned).unwrap().expecting(Some(2));
        assert_eq!(r.threshold(), Some(2));
        assert!(!r.complete());
        r.offer(&shares[2].text, "t").unwrap();
        assert!(!r.complete());
        r.offer(&shares[0].text, "t").unwrap();
        assert!(r.complete());
        assert_eq!(r.pin().unwrap().expose_secret(), "kr-Pin-7301-quince");
        // A policy that says 3 of these shares: each is refused for the threshold it carries.
        let mut r = Rebuilder::new(&pinned).unwrap().expecting(Some(3));
        assert_eq!(
            r.offer(&shares[0].text, "share-1.txt")
                .unwrap_err()
                .to_string(),
            "share-1.txt is a share for 2 of its split, but the policy's pin_threshold is 3"
        );
        assert!(r.indexes().is_empty());
    }

    /// Shares in the first format, as keyrite wrote them before.
    fn v1_split(pin: &str, threshold: u8, count: u8) -> Vec<String> {
        let mut padded = vec![0u8; PADDED];
        padded[0] = pin.len() as u8;
        padded[1..=pin.len()].copy_from_slice(pin.as_bytes());
        Sharks(threshold)
            .dealer(&padded)
            .take(usize::from(count))
            .map(|share| {
                let raw = Vec::<u8>::from(&share);
                format!("{PREFIX}:{}:{threshold}:{}", raw[0], hex::encode(&raw[1..]))
            })
            .collect()
    }

    #[test]
    fn shares_of_the_first_format_still_rebuild_the_pin_pinned_as_before() {
        let texts = v1_split("kr-Pin-7301-quince", 2, 3);
        let pinned: Vec<String> = texts
            .iter()
            .map(|t| hex::encode(Sha256::digest(t.as_bytes())))
            .collect();
        let mut r = Rebuilder::new(&pinned).unwrap();
        r.offer(&format!("  {}\n", texts[2]), "t").unwrap();
        // Its hex digits in capitals are the same share.
        let (head, hex) = texts[0].rsplit_once(':').unwrap();
        r.offer(&format!("{head}:{}", hex.to_ascii_uppercase()), "t")
            .unwrap();
        assert_eq!(r.pin().unwrap().expose_secret(), "kr-Pin-7301-quince");
        assert_eq!(r.indexes(), [3, 1]);
    }

    #[test]
    fn new_shares_are_grouped_short_for_short_pins_and_typed_in_any_case() {
        for (pin, groups) in [
            ("1234", 16),
            (&"p".repeat(31)[..], 16),
            (&"q".repeat(32)[..], 28),
            (&"r".repeat(63)[..], 28),
        ] {
            let shares = split(&SecretString::from(pin), 2, 3).unwrap();
            let pinned: Vec<String> = shares.iter().map(ShareText::sha256).collect();
            for share in &shares {
                assert_eq!(share.text.split('-').count(), groups, "{pin}");
                assert_eq!(
                    share.sha256(),
                    hex::encode(Sha256::digest(share.text.as_bytes()))
                );
            }
            let mut r = Rebuilder::new(&pinned).unwrap();
            let sloppy = shares[1].text.to_ascii_lowercase().replace('-', " ");
            r.offer(&sloppy, "t").unwrap();
            r.offer(&shares[0].text.replace('-', ""), "t").unwrap();
            assert_eq!(r.pin().unwrap().expose_secret(), pin);
        }
        assert!(matches!(
            split(&SecretString::from("s".repeat(64)), 2, 3),
            Err(Error::PinTooLong)
        ));
    }

    #[test]
    fn a_typo_is_refused_with_its_group_and_other_text_as_no_share() {
        let shares = split(&SecretString::from("kr-Pin-7301-quince"), 2, 3).unwrap();
        let pinned: Vec<String> = shares.iter().map(ShareText::sha256).collect();
        let mut r = Rebuilder::new(&pinned).unwrap();
        let text = shares[0].text.as_str();
        let at = 6 * 6 + 1;
        let typo = if &text[at..=at] == "7" { "8" } else { "7" };
        let typed = format!("{}{typo}{}", &text[..at], &text[at + 1..]);
        assert_eq!(
            r.offer(&typed, "share 1").unwrap_err().to_string(),
            "share 1: group 7 of 16 does not match its checksum"
        );
        for other in ["", " - ", "keyrite-pin-share-v9:1:2:00ff"] {
            assert_eq!(
                r.offer(other, "x").unwrap_err().to_string(),
                "x is not a keyrite PIN share"
            );
        }
    }

    #[test]
    fn a_share_given_by_a_custodian_must_be_theirs() {
        let shares = split(&SecretString::from("kr-Pin-7301-quince"), 2, 3).unwrap();
        let pinned: Vec<String> = shares.iter().map(ShareText::sha256).collect();
        let holders = ["alice", "bob", "carol"].map(str::to_owned);
        let mut r = Rebuilder::new(&pinned).unwrap().held_by(Some(&holders));
        assert_eq!(r.threshold(), None);
        assert_eq!(
            r.offer_from(&shares[1].text, "that share", "alice")
                .unwrap_err()
                .to_string(),
            "that share is bob's share, not alice's"
        );
        r.offer_from(&shares[2].text, "that share", "carol")
            .unwrap();
        assert_eq!(r.threshold(), Some(2));
        assert!(matches!(
            r.offer_from(&shares[2].text, "that share", "alice"),
            Err(Error::Duplicate { index: 3, .. })
        ));
        r.offer_from(&shares[0].text, "that share", "alice")
            .unwrap();
        assert_eq!(r.pin().unwrap().expose_secret(), "kr-Pin-7301-quince");
        // Without holders, anyone's share is taken.
        let mut r = Rebuilder::new(&pinned).unwrap().held_by(None);
        r.offer_from(&shares[1].text, "that share", "alice")
            .unwrap();
        assert_eq!(
            Error::NotHere {
                given: 1,
                threshold: Some(2)
            }
            .to_string(),
            "every custodian named in the policy's pin_shares was asked: 1 share(s) given; 2 are needed"
        );
    }

    #[test]
    fn the_new_shares_prove_the_pin_split_and_no_other() {
        let pin = SecretString::from("kr-Pin-7301-quince");
        for (m, n) in [(2, 2), (2, 3), (3, 5), (4, 4)] {
            let shares = split(&pin, m, n).unwrap();
            prove(&pin, &shares, m).unwrap();
            let other = SecretString::from("kr-Pin-7301-quincE");
            assert!(matches!(prove(&other, &shares, m), Err(Error::Unproven)));
        }
        // Every share is in a window: a last share of another split is caught.
        let mut shares = split(&pin, 2, 3).unwrap();
        let mut foreign = split(&SecretString::from("kr-Pin-0000-medlar"), 2, 3).unwrap();
        shares[2] = foreign.remove(2);
        assert!(matches!(prove(&pin, &shares, 2), Err(Error::Unproven)));
    }

    #[test]
    fn a_share_file_is_read_up_to_its_limit() {
        let pin = SecretString::from("kr-Pin-7301-quince");
        let shares = split(&pin, 2, 2).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("share.txt");
        std::fs::write(&good, format!("{}\n", shares[0].text.as_str())).unwrap();
        let none = || Identities {
            paths: &[],
            loaded: None,
        };
        let text = read_share_file(&good, &mut none()).unwrap();
        assert_eq!(text.trim(), shares[0].text.as_str());

        let big = dir.path().join("big.txt");
        std::fs::write(&big, vec![b' '; MAX_SHARE_FILE + 1]).unwrap();
        assert_eq!(
            read_share_file(&big, &mut none()).unwrap_err().to_string(),
            format!(
                "{}: it is larger than 1024 bytes, the most keyrite reads from a share file",
                big.display()
            )
        );
        let sealed = dir.path().join("big.age");
        let mut age_file = b"age-encryption.org/v1\n".to_vec();
        age_file.resize(encrypted::MAX_AGE_FILE + 1, b'A');
        std::fs::write(&sealed, age_file).unwrap();
        assert_eq!(
            read_share_file(&sealed, &mut none())
                .unwrap_err()
                .to_string(),
            format!(
                "{}: it is larger than 8192 bytes, the most keyrite reads from an encrypted share file",
                sealed.display()
            )
        );
        let small = dir.path().join("small.age");
        std::fs::write(&small, b"age-encryption.org/v1\n-> X25519 x\n").unwrap();
        assert_eq!(
            read_share_file(&small, &mut none())
                .unwrap_err()
                .to_string(),
            format!(
                "{} is encrypted to a custodian's SSH key: pass that custodian's private key with --identity KEY",
                small.display()
            )
        );
        let endless = Path::new("/dev/zero");
        assert!(matches!(
            read_share_file(endless, &mut none()),
            Err(Error::Io { .. })
        ));
    }
}
