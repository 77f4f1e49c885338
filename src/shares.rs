//! PIN shares, for tokens without M-of-N login: the user PIN, padded to a fixed length, split
//! with Shamir's scheme over GF(256) into N shares of which any M rebuild it. Each share is one
//! line of text — groups of five characters, each group with its check character (the format
//! is in `src/shares/text.rs` and `docs/operators.md`) — whose SHA-256 the policy pins, so a
//! mistyped, corrupted or substituted share is caught the moment it is entered, without
//! involving the PIN, and a typo is found in its group. Shares of the first format,
//! `keyrite-pin-share-v1:INDEX:THRESHOLD:HEX`, are still read. The PIN is rebuilt in memory
//! only, zeroised after login.

mod text;

pub use text::Typo;

use std::fs::OpenOptions;
use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use blahaj::{Share, Sharks};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

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
}

impl Error {
    /// Whether this is a usage error (exit 2): counts that make no split, the PIN source or a
    /// share file named cannot be used, a share that is not one, a share given twice or too
    /// few, the output directory exists, no terminal to prompt on. Shares the policy does not
    /// pin, or that rebuild no PIN, are not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Pin(e) => e.is_usage(),
            Error::Counts
            | Error::Exists { .. }
            | Error::ShareFileOpen { .. }
            | Error::Malformed { .. }
            | Error::Typo { .. }
            | Error::NotTheirs { .. }
            | Error::Duplicate { .. }
            | Error::TooFew { .. }
            | Error::NoTerminal => true,
            Error::PinTooLong
            | Error::Mismatch
            | Error::Io { .. }
            | Error::NotPinned { .. }
            | Error::NoPolicyShares
            | Error::NotHere { .. }
            | Error::Rebuild => false,
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

/// Writes shares as `share-I.txt` (mode 0600, created new) in a new directory (mode 0700).
pub fn write(dir: &Path, shares: &[ShareText]) -> Result<Vec<(PathBuf, String)>, Error> {
    let io = |path: &Path, source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if std::fs::symlink_metadata(dir).is_ok() {
        return Err(Error::Exists {
            path: dir.to_path_buf(),
        });
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    let mut out = Vec::new();
    for share in shares {
        let path = dir.join(format!("share-{}.txt", share.index));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        file.write_all(share.text.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&path, e))?;
        out.push((path, share.sha256()));
    }
    Ok(out)
}

/// Reads the user PIN — from `pin`'s environment variable or file, or typed twice on the
/// terminal, the two compared — splits it into `count` shares, any `threshold` of which
/// rebuild it, and writes them to the new directory `dir` (see [`write()`]). The PIN is dropped
/// (zeroised) before anything is written. Returns each share file with its SHA-256.
pub fn split_pin(
    pin: &PinSource,
    threshold: u8,
    count: u8,
    dir: &Path,
) -> Result<Vec<(PathBuf, String)>, Error> {
    let pin = match pin {
        PinSource::Env(_) | PinSource::File(_) => pin.read("")?,
        PinSource::Prompt => {
            let first = PinSource::Prompt.read("User PIN to split: ")?;
            let again = PinSource::Prompt.read("The same PIN again: ")?;
            if first.expose_secret() != again.expose_secret() {
                return Err(Error::Mismatch);
            }
            first
        }
    };
    let made = split(&pin, threshold, count)?;
    drop(pin);
    write(dir, &made)
}

/// Rebuilds the PIN from shares that the policy pins. Each share is checked the moment it is
/// read: pinned by the policy, not a repeat; reading stops at the threshold.
pub struct Rebuilder<'a> {
    pinned: &'a [String],
    /// Who holds each pinned share, when the policy names them.
    holders: Option<&'a [String]>,
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
            taken: Vec::new(),
        })
    }

    /// Names the custodian who holds each pinned share, in the same order (the policy's
    /// `pin_share_custodians`), if it names them.
    pub fn held_by(self, holders: Option<&'a [String]>) -> Self {
        Rebuilder { holders, ..self }
    }

    /// How many shares rebuild the PIN, once one has said.
    pub fn threshold(&self) -> Option<u8> {
        self.taken.first().map(|s| s.threshold)
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
        self.taken
            .first()
            .is_some_and(|s| self.taken.len() >= usize::from(s.threshold))
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
        if !self.pinned.iter().any(|p| p.eq_ignore_ascii_case(&digest)) {
            return Err(Error::NotPinned {
                source_name: source_name.to_owned(),
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

/// Reads a share file: at most [`MAX_SHARE_FILE`] bytes of UTF-8, read into room made
/// beforehand so a growing buffer leaves no copy of the share behind.
fn read_share_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    use std::io::Read as _;
    let io = |source: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::ShareFileOpen { source })?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_SHARE_FILE + 1));
    file.take(MAX_SHARE_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
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

/// Rebuilds the PIN from share files, or, with none, from shares typed on the terminal one
/// custodian at a time, by name when `holders` (who holds each pinned share, when the policy
/// says) is given. Returns the PIN and the indexes.
pub fn rebuild(
    files: &[PathBuf],
    pinned: &[String],
    holders: Option<&[String]>,
) -> Result<(SecretString, Vec<u8>), Error> {
    let mut r = Rebuilder::new(pinned)?.held_by(holders);
    if files.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(Error::NoTerminal);
        }
        prompt_shares(&mut r)?;
    } else {
        for file in files {
            if r.complete() {
                break;
            }
            let text = read_share_file(file)?;
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
        let k = r.taken.len() + 1;
        let of = r
            .threshold()
            .map_or_else(String::new, |m| format!(" of {m}"));
        let prompt = match turn {
            Some((_, name)) => format!(
                "PIN share {k}{of} — {name}, type now (not shown), or Enter alone if {name} is not here: "
            ),
            None => format!("PIN share {k}{of} — next custodian, type now (not shown): "),
        };
        let typed = Zeroizing::new(
            crate::interrupt::prompting(|| rpassword::prompt_password(prompt))
                .map_err(|_| Error::NoTerminal)?,
        );
        let again = turn.map_or_else(
            || "type the share again".to_owned(),
            |(_, name)| format!("{name}, type your share again"),
        );
        if typed.trim().is_empty() {
            match turn {
                Some((i, name)) => {
                    asked[i] = true;
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
                let from = turn.map_or_else(String::new, |(_, name)| format!(" from {name}"));
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
            Err(Error::NotPinned { .. }) => eprintln!(
                "That share is not one of the policy's pin_shares: a share of another split, or more than one typo; {again}."
            ),
            Err(Error::Duplicate { index, .. }) => {
                eprintln!("That share (share {index}) was given already; {again}.");
            }
            Err(Error::NotTheirs {
                holder, custodian, ..
            }) => eprintln!("That is {holder}'s share, not {custodian}'s; {again}."),
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
    fn a_share_file_is_read_up_to_its_limit() {
        let pin = SecretString::from("kr-Pin-7301-quince");
        let shares = split(&pin, 2, 2).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("share.txt");
        std::fs::write(&good, format!("{}\n", shares[0].text.as_str())).unwrap();
        let text = read_share_file(&good).unwrap();
        assert_eq!(text.trim(), shares[0].text.as_str());

        let big = dir.path().join("big.txt");
        std::fs::write(&big, vec![b' '; MAX_SHARE_FILE + 1]).unwrap();
        assert_eq!(
            read_share_file(&big).unwrap_err().to_string(),
            format!(
                "{}: it is larger than 1024 bytes, the most keyrite reads from a share file",
                big.display()
            )
        );
        let endless = Path::new("/dev/zero");
        assert!(matches!(read_share_file(endless), Err(Error::Io { .. })));
    }
}
