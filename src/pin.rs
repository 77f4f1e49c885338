//! Where a PIN comes from: an environment variable the user names, a file only its owner can
//! read, or a no-echo prompt on a terminal. Never a command-line value, never logged: the PIN
//! is a `SecretString` from the moment it is read (zeroised on drop, `Debug` prints REDACTED).
//!
//! Nor is the value given where a PIN's source belongs ever repeated in an error: the most
//! likely mistake is the PIN itself given as the variable's name or the file's path. A file's
//! path is named only once the file is open, which a PIN typed in its place never is.

use std::fs::File;
use std::io::{IsTerminal as _, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

/// The most a PIN file may hold, in bytes.
const MAX_PIN_FILE: usize = 1024;

/// How the PIN is obtained.
#[derive(Debug, Clone)]
pub enum PinSource {
    /// The environment variable of this name.
    Env(String),
    /// A file of mode 0600 or stricter.
    File(PathBuf),
    /// A no-echo prompt on the terminal.
    Prompt,
}

/// Why no PIN could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The value given for the variable's name is not an environment variable's name: often
    /// the PIN itself, so it is never repeated.
    #[error(
        "the value given for the PIN's environment variable is not a variable name (letters, digits and _, not starting with a digit); it is not repeated here, in case it is the PIN"
    )]
    EnvName,
    /// The named variable is unset or not UTF-8 (its name is not repeated: it may be the PIN).
    #[error("the environment variable named to hold the PIN is not set")]
    EnvUnset,
    /// The PIN file could not be opened (its path is not repeated: it may be the PIN).
    #[error(
        "cannot open the file named to hold the PIN: {source}; its name is not repeated here, in case it is the PIN"
    )]
    FileOpen {
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The PIN file, once open, could not be read.
    #[error("cannot read the PIN file {}: {source}", path.display())]
    File {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The PIN file is readable by others.
    #[error("the PIN file {} has mode {mode:04o}; it must not be accessible to group or others", path.display())]
    FileMode {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The PIN is empty.
    #[error("the PIN from {source_name} is empty")]
    Empty {
        /// Where it came from.
        source_name: String,
    },
    /// The PIN file is longer than any PIN.
    #[error("the PIN from {source_name} is longer than 1024 bytes")]
    TooLong {
        /// Where it came from.
        source_name: String,
    },
    /// The PIN is not UTF-8.
    #[error("the PIN from {source_name} is not UTF-8 text")]
    NotText {
        /// Where it came from.
        source_name: String,
    },
    /// No source was given and there is no terminal to prompt on.
    #[error(
        "no PIN: standard input is not a terminal to prompt on, and neither --pin-env nor --pin-file was given"
    )]
    NoTerminal,
    /// The prompt failed.
    #[error("cannot read the PIN from the terminal: {0}")]
    Prompt(String),
}

impl Error {
    /// Whether this is a usage error (exit 2): the PIN source named gives no PIN (a name that
    /// is not a variable's, an unset variable, a file that cannot be read or is open to others,
    /// an empty or overlong PIN, no terminal to prompt on). A prompt that fails is not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::EnvName
            | Error::EnvUnset
            | Error::FileOpen { .. }
            | Error::File { .. }
            | Error::FileMode { .. }
            | Error::Empty { .. }
            | Error::TooLong { .. }
            | Error::NotText { .. }
            | Error::NoTerminal => true,
            Error::Prompt(_) => false,
        }
    }
}

impl PinSource {
    /// Reads the PIN. `prompt` is shown on the terminal when prompting. A read that may block
    /// (the prompt, a file that is a pipe) ends at once on SIGINT, SIGTERM or SIGHUP, the
    /// terminal's mode put back as the prompt found it.
    pub fn read(&self, prompt: &str) -> Result<SecretString, Error> {
        match self {
            PinSource::Prompt => crate::interrupt::prompting(|| self.read_now(prompt)),
            PinSource::Env(_) | PinSource::File(_) => {
                crate::interrupt::reading(|| self.read_now(prompt))
            }
        }
    }

    fn read_now(&self, prompt: &str) -> Result<SecretString, Error> {
        match self {
            PinSource::Env(name) => {
                if !is_env_name(name) {
                    return Err(Error::EnvName);
                }
                let value = std::env::var(name).map_err(|_| Error::EnvUnset)?;
                finish(Zeroizing::new(value), || {
                    "the environment variable named to hold it".to_owned()
                })
            }
            PinSource::File(path) => {
                let file_err = |source: std::io::Error| Error::File {
                    path: path.clone(),
                    source,
                };
                let mut file = File::open(path).map_err(|source| Error::FileOpen { source })?;
                // The mode is checked on the opened file, so a swap after the check cannot slip by.
                let mode = file.metadata().map_err(file_err)?.permissions().mode() & 0o7777;
                if mode & 0o077 != 0 {
                    return Err(Error::FileMode {
                        path: path.clone(),
                        mode,
                    });
                }
                // Read into room made (and locked in memory) beforehand, so no copy of the PIN
                // is left behind by a growing buffer, and never more than a PIN can be.
                let mut bytes = Zeroizing::new(vec![0u8; MAX_PIN_FILE + 1]);
                lock_in_memory(&bytes);
                bytes.clear();
                (&mut file)
                    .take(MAX_PIN_FILE as u64 + 1)
                    .read_to_end(&mut bytes)
                    .map_err(file_err)?;
                let source_name = || format!("the PIN file {}", path.display());
                if bytes.len() > MAX_PIN_FILE {
                    return Err(Error::TooLong {
                        source_name: source_name(),
                    });
                }
                let text = std::str::from_utf8(&bytes).map_err(|_| Error::NotText {
                    source_name: source_name(),
                })?;
                let line = text.strip_suffix('\n').unwrap_or(text);
                let line = line.strip_suffix('\r').unwrap_or(line);
                finish(Zeroizing::new(line.to_owned()), source_name)
            }
            PinSource::Prompt => {
                if !std::io::stdin().is_terminal() {
                    return Err(Error::NoTerminal);
                }
                let value =
                    rpassword::prompt_password(prompt).map_err(|e| Error::Prompt(e.to_string()))?;
                finish(Zeroizing::new(value), || "the prompt".to_owned())
            }
        }
    }
}

/// Whether `name` is an environment variable's name as the shell writes one: letters, digits
/// and `_`, not starting with a digit. A PIN of digits given in its place is not.
pub fn is_env_name(name: &str) -> bool {
    name.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn finish(
    value: Zeroizing<String>,
    source_name: impl Fn() -> String,
) -> Result<SecretString, Error> {
    if value.is_empty() {
        return Err(Error::Empty {
            source_name: source_name(),
        });
    }
    let pin = SecretString::from(value.as_str());
    lock_in_memory(pin.expose_secret().as_bytes());
    Ok(pin)
}

/// Locks the pages holding `secret` in memory (`mlock`) so they are never written to swap, where
/// the platform and `RLIMIT_MEMLOCK` allow; best effort, since a refusal must not stop a
/// ceremony. The lock is kept until the process exits (a CLI run lives seconds), so the pages
/// stay locked while the secret, then its zeroised remains, are in them.
pub fn lock_in_memory(secret: &[u8]) {
    if let Ok(guard) = region::lock(secret.as_ptr(), secret.len()) {
        std::mem::forget(guard);
    }
}

/// Hardens the process before any secret is read: no core dumps (`RLIMIT_CORE` 0) and not
/// dumpable (`PR_SET_DUMPABLE` 0: no core file, no ptrace attach or `/proc/PID/mem` read by
/// other processes of the same user). Best effort: both calls only lower what the process may
/// do, and a kernel that refuses one leaves the run as it was.
pub fn harden_process() {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    let _ = setrlimit(Resource::Core, zero);
    let _ = set_dumpable_behavior(DumpableBehavior::NotDumpable);
}
