//! Share files encrypted to their custodian's SSH public key in the age format
//! (age-encryption.org/v1, with the `ssh-ed25519` and `ssh-rsa` recipient types), so that only
//! the custodian can open theirs: `age -d -i KEY share-NAME.age` (or `rage`) on their own
//! machine, or `ceremony run --pin-share share-NAME.age --identity KEY`. The share is encrypted
//! and decrypted in memory; its plaintext is never written by keyrite.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use ssh_key::{Algorithm, PublicKey};
use zeroize::Zeroizing;

use super::{Error, MAX_SHARE_FILE};
use crate::ceremony::policy::Person;

/// The first bytes of an age file, binary or armoured.
const MAGIC: [&[u8]; 2] = [
    b"age-encryption.org/",
    b"-----BEGIN AGE ENCRYPTED FILE-----",
];
/// The most keyrite reads of an encrypted share file: a share of about 160 bytes, its header
/// (an ssh-rsa stanza of a 16384-bit key is about 2.8 KB in base64) and, armoured, a third more.
pub(super) const MAX_AGE_FILE: usize = 8 * 1024;
/// The most keyrite reads of an SSH private key file (an RSA key of 16384 bits is about 12 KB).
const MAX_IDENTITY_FILE: usize = 64 * 1024;

/// Whether `bytes` begin as an age file does.
pub(super) fn is_age(bytes: &[u8]) -> bool {
    MAGIC.iter().any(|m| bytes.starts_with(m))
}

/// Why a custodian's key cannot receive a share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    /// A hardware (FIDO) key: it can sign, but nothing can be encrypted to it.
    #[error(
        "a hardware security key ({0}), to which nothing can be encrypted: give the custodian an ssh-ed25519 key kept for the share (`ssh-keygen -t ed25519`) and put it in the policy, or split with --plaintext and hand the share over in person"
    )]
    Hardware(String),
    /// A key type age has no recipient for (ECDSA, DSA).
    #[error(
        "{0}, which the age format cannot encrypt to (only ssh-ed25519 and ssh-rsa): give the custodian an ssh-ed25519 key (`ssh-keygen -t ed25519`) and put it in the policy, or split with --plaintext and hand the share over in person"
    )]
    Type(String),
    /// An ed25519 or RSA key that age does not take (an RSA modulus out of its range).
    #[error("a key the age format refuses ({0})")]
    Refused(&'static str),
}

/// Each custodian's age recipient, in the policy's order; the first custodian whose key cannot
/// receive a share is refused by name.
pub(super) fn recipients(
    custodians: &[Person],
) -> Result<Vec<(String, age::ssh::Recipient)>, Error> {
    custodians
        .iter()
        .map(|person| {
            let refuse = |reason: Unusable| Error::Recipient {
                custodian: person.name.clone(),
                reason,
            };
            recipient(&person.key)
                .map(|r| (person.name.clone(), r))
                .map_err(refuse)
        })
        .collect()
}

fn recipient(key: &PublicKey) -> Result<age::ssh::Recipient, Unusable> {
    let algorithm = key.algorithm();
    match algorithm {
        Algorithm::Ed25519 | Algorithm::Rsa { .. } => {}
        Algorithm::SkEd25519 | Algorithm::SkEcdsaSha2NistP256 => {
            return Err(Unusable::Hardware(algorithm.as_str().to_owned()));
        }
        other => return Err(Unusable::Type(other.as_str().to_owned())),
    }
    let line = key
        .to_openssh()
        .map_err(|_| Unusable::Refused("it cannot be encoded"))?;
    line.parse::<age::ssh::Recipient>().map_err(|e| {
        Unusable::Refused(match e {
            age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => "its RSA modulus is too large",
            age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => "its RSA modulus is too small",
            _ => "it does not parse as an age recipient",
        })
    })
}

/// `text` encrypted to `recipient`, in memory.
pub(super) fn encrypt(
    custodian: &str,
    recipient: &age::ssh::Recipient,
    text: &[u8],
) -> Result<Vec<u8>, Error> {
    let failed = |e: &dyn std::fmt::Display| Error::Encrypt {
        custodian: custodian.to_owned(),
        reason: e.to_string(),
    };
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| failed(&e))?;
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| failed(&e))?;
    writer.write_all(text).map_err(|e| failed(&e))?;
    writer.finish().map_err(|e| failed(&e))?;
    Ok(out)
}

/// The SSH private keys given with `--identity`, read once, before any share is opened.
pub(super) struct Identities {
    keys: Vec<age::ssh::Identity>,
}

impl Identities {
    /// Reads each key file; a passphrase-protected key asks for its passphrase on the terminal
    /// (or is refused without one).
    pub(super) fn load(paths: &[PathBuf]) -> Result<Self, Error> {
        let keys = paths
            .iter()
            .map(|path| identity(path))
            .collect::<Result<_, _>>()?;
        Ok(Identities { keys })
    }

    /// The share in the age file `bytes` (read from `path`), decrypted in memory with whichever
    /// identity opens it.
    pub(super) fn decrypt(&self, bytes: &[u8], path: &Path) -> Result<Zeroizing<String>, Error> {
        let file = || path.to_path_buf();
        if self.keys.is_empty() {
            return Err(Error::NoIdentity { path: file() });
        }
        let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(bytes))
            .map_err(|_| Error::NotAge { path: file() })?;
        let reader = decryptor
            .decrypt(self.keys.iter().map(|k| k as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => Error::NotForThese {
                    path: file(),
                    count: self.keys.len(),
                },
                _ => Error::NotAge { path: file() },
            })?;
        let mut plain = Zeroizing::new(Vec::with_capacity(MAX_SHARE_FILE + 1));
        reader
            .take(MAX_SHARE_FILE as u64 + 1)
            .read_to_end(&mut plain)
            .map_err(|_| Error::NotAge { path: file() })?;
        if plain.len() > MAX_SHARE_FILE {
            return Err(Error::Malformed {
                source_name: path.display().to_string(),
            });
        }
        let text = std::str::from_utf8(&plain).map_err(|_| Error::Malformed {
            source_name: path.display().to_string(),
        })?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

/// One `--identity` file: an OpenSSH (or PEM RSA) private key, unlocked with its passphrase
/// if it has one.
fn identity(path: &Path) -> Result<age::ssh::Identity, Error> {
    let refuse = |reason: &'static str| Error::Identity {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_IDENTITY_FILE + 1));
    file.take(MAX_IDENTITY_FILE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() > MAX_IDENTITY_FILE {
        return Err(refuse("it is larger than an SSH private key"));
    }
    let parsed = age::ssh::Identity::from_buffer(bytes.as_slice(), None)
        .map_err(|_| refuse("it is not an SSH private key (pass the private key, not KEY.pub)"))?;
    match parsed {
        age::ssh::Identity::Unencrypted(_) => Ok(parsed),
        age::ssh::Identity::Unsupported(_) => Err(refuse(
            "it is a key the age format cannot decrypt with (only ssh-ed25519 and ssh-rsa keys)",
        )),
        age::ssh::Identity::Encrypted(key) => {
            if !std::io::stdin().is_terminal() {
                return Err(Error::Passphrase {
                    path: path.to_path_buf(),
                });
            }
            let typed = Zeroizing::new(
                crate::interrupt::prompting(|| {
                    rpassword::prompt_password(format!(
                        "Passphrase for the SSH key {} (not shown): ",
                        path.display()
                    ))
                })
                .map_err(|_| Error::Passphrase {
                    path: path.to_path_buf(),
                })?,
            );
            let passphrase = SecretString::from(typed.as_str().to_owned());
            key.decrypt(passphrase)
                .map(age::ssh::Identity::Unencrypted)
                .map_err(|_| Error::WrongPassphrase {
                    path: path.to_path_buf(),
                })
        }
    }
}
