//! The policy: who may approve a plan (custodians and the threshold M), who witnesses, which
//! token key seals transcripts, optionally which token serial is production. It is the trust
//! anchor and comes from outside the plan: a plan never names who approves it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use ssh_key::{HashAlg, PublicKey};

use super::{Error, read_once};

/// The policy format version.
pub const VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    threshold: usize,
    signer_fingerprint: String,
    token_serial: Option<String>,
    #[serde(default)]
    custodians: Vec<PersonFile>,
    custodians_file: Option<String>,
    #[serde(default)]
    witnesses: Vec<PersonFile>,
    /// Any TOML values, so that one of another type is refused without TOML's message, which
    /// would repeat it (a PIN or a share given here).
    #[serde(default)]
    pin_shares: Vec<toml::Value>,
    pin_threshold: Option<u8>,
    module_sha256: Option<String>,
    module_path: Option<String>,
    #[serde(default)]
    require_trusted_wrapping: bool,
    #[serde(default)]
    witnesses_required: usize,
    #[serde(default)]
    accept_backup_unwrap_oracle: bool,
    #[serde(default)]
    require_attestation: bool,
    attestation_roots_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonFile {
    name: String,
    ssh_key: String,
}

/// A custodian or witness: a name and an SSH public key.
#[derive(Debug, Clone)]
pub struct Person {
    /// The name.
    pub name: String,
    /// The SSH public key.
    pub key: PublicKey,
}

impl Person {
    /// The key's OpenSSH fingerprint (`SHA256:…`).
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 (hex) of the file's bytes, as read.
    pub digest: String,
    /// M: how many distinct custodians must approve.
    pub threshold: usize,
    /// SHA-256 (hex) of the ceremony signer's SubjectPublicKeyInfo DER.
    pub signer_fingerprint: String,
    /// The production token's serial, if pinned.
    pub token_serial: Option<String>,
    /// The custodians.
    pub custodians: Vec<Person>,
    /// The witnesses.
    pub witnesses: Vec<Person>,
    /// SHA-256 (hex) of each PIN share, in share order (index 1 first).
    pub pin_shares: Vec<String>,
    /// The custodian who holds each of `pin_shares`, in the same order, when the policy names
    /// them (`{ custodian = "alice", sha256 = "…" }`).
    pub pin_share_custodians: Option<Vec<String>>,
    /// How many of `pin_shares` rebuild the PIN, when the policy says (`pin split --to-policy`
    /// prints it): a share made for another threshold is refused, and the prompts count to it.
    pub pin_threshold: Option<u8>,
    /// The `allowed_signers` file the custodians came from, with its SHA-256, if any.
    pub custodians_file: Option<(PathBuf, String)>,
    /// SHA-256 (hex) of the PKCS#11 module file a ceremony must load, if pinned.
    pub module_sha256: Option<String>,
    /// The absolute path a ceremony must load the module from, if pinned.
    pub module_path: Option<PathBuf>,
    /// Every generated key must be wrappable only under keys the security officer trusted.
    pub require_trusted_wrapping: bool,
    /// How many distinct witnesses of the policy must co-sign a transcript.
    pub witnesses_required: usize,
    /// `token backup-key create` may make a backup key whose PIN holder could unwrap a backup
    /// into a readable key (a key-pair backup key, or a token that ignores
    /// `CKA_UNWRAP_TEMPLATE`).
    pub accept_backup_unwrap_oracle: bool,
    /// Every wrap must be under a wrapping key whose attestation holds.
    pub require_attestation: bool,
    /// SHA-256 (hex) of the one roots file (`attestation_roots` in a plan) a plan may name:
    /// without it, attestations end in keyrite's pinned roots only.
    pub attestation_roots_sha256: Option<String>,
}

/// Which list of people an entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `custodians` (or the `custodians_file` they came from).
    Custodians,
    /// `witnesses`.
    Witnesses,
}

impl std::fmt::Display for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            List::Custodians => "custodians",
            List::Witnesses => "witnesses",
        })
    }
}

/// Why an SSH public key cannot stand for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyIdentity {
    /// A compressed EC point, which has a second encoding.
    #[error("an EC point must be uncompressed, as OpenSSH writes it")]
    CompressedPoint,
    /// An RSA key with a zero or negative number.
    #[error("an RSA key's modulus and exponent must be positive")]
    RsaNotPositive,
    /// A key `ssh-key` cannot encode.
    #[error("the key cannot be encoded")]
    Unencodable,
}

/// What is wrong with a custodian's or a witness's entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersonProblem {
    /// An empty name, or one with control characters.
    #[error("name: must be a non-empty name without control characters")]
    Name,
    /// Not an OpenSSH public key.
    #[error("ssh_key: not an OpenSSH public key ({0})")]
    NotAKey(#[source] ssh_key::Error),
    /// A name listed before.
    #[error("name: {0:?} is listed twice")]
    NameTwice(String),
    /// A key that cannot stand for one person.
    #[error("ssh_key: {0}")]
    Identity(#[source] KeyIdentity),
    /// The key of a person listed before, perhaps written another way.
    #[error(
        "ssh_key: the same key as {0:?}'s (written another way, perhaps as an sk- key): one key is one person"
    )]
    KeyTwice(String),
}

/// A line of an `allowed_signers` file keyrite cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignersProblem {
    /// Principals without a key.
    #[error("no key")]
    NoKey,
    /// A certificate authority, or a key valid only for a time.
    #[error(
        "cert-authority and valid-before/valid-after are not supported; list the custodian's own key"
    )]
    Unsupported,
}

/// What is wrong with a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file is not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// The file is not a policy's TOML.
    #[error("line {line}: {}", error.message())]
    Toml {
        /// Where.
        line: usize,
        /// What the TOML parser said.
        #[source]
        error: Box<toml::de::Error>,
    },
    /// Another format version.
    #[error("version: must be {VERSION}, not {0}")]
    Version(u32),
    /// Custodians both inline and in a file.
    #[error("custodians_file: give custodians either inline or in a file, not both")]
    CustodiansTwice,
    /// The custodians file is not UTF-8.
    #[error("custodians_file: {0} is not UTF-8 text")]
    SignersNotUtf8(String),
    /// A line of the custodians file cannot be used.
    #[error("custodians_file: {name}: line {line}: {problem}")]
    Signers {
        /// The file, as the policy names it.
        name: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        #[source]
        problem: SignersProblem,
    },
    /// A custodian's or a witness's entry.
    #[error("{list}[{index}].{problem}")]
    Person {
        /// The list.
        list: List,
        /// The entry.
        index: usize,
        /// What is wrong with it.
        #[source]
        problem: PersonProblem,
    },
    /// A witness who is a custodian.
    #[error(
        "witnesses[{index}].ssh_key: {witness:?}'s key is custodian {custodian:?}'s: a witness's signature must be evidence from someone other than the custodians"
    )]
    WitnessIsCustodian {
        /// The witness's entry.
        index: usize,
        /// The witness's name.
        witness: String,
        /// The custodian's name.
        custodian: String,
    },
    /// No custodians.
    #[error("custodians: at least one custodian is needed")]
    NoCustodians,
    /// M is zero or more than N.
    #[error(
        "threshold: must be between 1 and the number of custodians ({custodians}), not {threshold}"
    )]
    Threshold {
        /// M.
        threshold: usize,
        /// N.
        custodians: usize,
    },
    /// Not a signer fingerprint.
    #[error("signer_fingerprint: must be the 64 hex digits `keyrite token signer export` prints")]
    SignerFingerprint,
    /// Not a PIN share's digest.
    #[error("pin_shares[{0}]: must be the 64 hex digits `keyrite pin split` prints")]
    PinShare(usize),
    /// A table that is not a named share.
    #[error(
        "pin_shares[{0}]: a share with its custodian is {{ custodian = \"NAME\", sha256 = \"HEX\" }}, with nothing else"
    )]
    PinShareEntry(usize),
    /// A named share without a digest.
    #[error("pin_shares[{0}].sha256: must be the 64 hex digits `keyrite pin split` prints")]
    PinShareSha256(usize),
    /// A share named to someone who is not a custodian.
    #[error("pin_shares[{index}].custodian: not one of the policy's custodians ({custodians})")]
    PinShareCustodian {
        /// The entry.
        index: usize,
        /// The custodians' names, comma-separated.
        custodians: String,
    },
    /// A custodian named for two shares.
    #[error(
        "pin_shares[{index}].custodian: {name:?} holds pin_shares[{first}] already: one share per custodian"
    )]
    PinShareCustodianTwice {
        /// The entry.
        index: usize,
        /// The custodian.
        name: String,
        /// The entry that named them first.
        first: usize,
    },
    /// A digest pinned twice.
    #[error("pin_shares[{index}]: the same SHA-256 as pin_shares[{first}]: each share is another")]
    PinShareTwice {
        /// The entry.
        index: usize,
        /// The entry with it first.
        first: usize,
    },
    /// Some shares named, some not.
    #[error("pin_shares[{0}]: name the custodian of every share, or of none")]
    PinSharesMixed(usize),
    /// A share threshold that no split of the pinned shares can have.
    #[error(
        "pin_threshold: must be at least 2 and at most the {shares} pin_shares (it is {threshold})"
    )]
    PinThreshold {
        /// The threshold given.
        threshold: u8,
        /// How many shares are pinned.
        shares: usize,
    },
    /// Not a module file's digest.
    #[error("module_sha256: must be the 64 hex digits `sha256sum` prints of the module file")]
    ModuleSha256,
    /// Not a roots file's digest.
    #[error(
        "attestation_roots_sha256: must be the 64 hex digits `sha256sum` prints of the roots file"
    )]
    AttestationRootsSha256,
    /// A relative module path.
    #[error("module_path: must be an absolute path")]
    ModulePath,
    /// More witnesses required than listed.
    #[error(
        "witnesses_required: must be at most the number of witnesses ({witnesses}), not {required}"
    )]
    WitnessesRequired {
        /// witnesses_required.
        required: usize,
        /// How many are listed.
        witnesses: usize,
    },
}

/// Reads custodians from an OpenSSH `allowed_signers` file: each line is
/// `principals [options] key-type base64 [comment]`; the first principal is the name. A
/// refusal names the 1-based line.
fn allowed_signers(text: &str) -> Result<Vec<PersonFile>, (usize, SignersProblem)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (principals, rest) = line
            .split_once(char::is_whitespace)
            .ok_or((n + 1, SignersProblem::NoKey))?;
        let rest = rest.trim_start();
        let key = if PublicKey::from_openssh(rest).is_ok() {
            rest
        } else {
            let key = skip_options(rest).trim_start();
            let options = &rest[..rest.len() - key.len()];
            if options.contains("cert-authority") || options.contains("valid-") {
                return Err((n + 1, SignersProblem::Unsupported));
            }
            // A key restricted to other namespaces may not approve plans.
            if let Some(list) = options
                .split("namespaces=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
            {
                if !list.split(',').any(|ns| ns.trim() == "keyrite-plan") {
                    continue;
                }
            }
            key
        };
        let name = principals.split(',').next().unwrap_or_default();
        out.push(PersonFile {
            name: name.trim_matches('"').to_owned(),
            ssh_key: key.to_owned(),
        });
    }
    Ok(out)
}

/// Skips an options field (`cert-authority,namespaces="a,b"`), which may hold quoted spaces.
fn skip_options(s: &str) -> &str {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return &s[i..],
            _ => {}
        }
    }
    ""
}

/// What makes two SSH public keys one person's: the key itself, not its encoding. An Ed25519
/// key written as `ssh-ed25519` and as `sk-ssh-ed25519@openssh.com` (any FIDO application), or
/// a P-256 key as `ecdsa-sha2-nistp256` and as `sk-ecdsa-sha2-nistp256@openssh.com`, is one key:
/// whoever holds its private half can make signatures of either kind. RSA keys are compared by
/// modulus and exponent. An EC point must be uncompressed (as OpenSSH writes it), so that one
/// point has one encoding here.
fn identity(key: &PublicKey) -> Result<Vec<u8>, KeyIdentity> {
    use ssh_key::public::KeyData;
    let point = |curve: &str, sec1: &[u8]| {
        if sec1.first() == Some(&0x04) {
            Ok([curve.as_bytes(), b":", sec1].concat())
        } else {
            Err(KeyIdentity::CompressedPoint)
        }
    };
    match key.key_data() {
        KeyData::Ed25519(k) => Ok([b"ed25519:".as_slice(), &k.0].concat()),
        KeyData::SkEd25519(k) => Ok([b"ed25519:".as_slice(), &k.public_key().0].concat()),
        KeyData::Ecdsa(k) => point(k.curve().as_str(), k.as_sec1_bytes()),
        KeyData::SkEcdsaSha2NistP256(k) => point("nistp256", k.ec_point().as_bytes()),
        KeyData::Rsa(k) => {
            let (Some(e), Some(n)) = (k.e.as_positive_bytes(), k.n.as_positive_bytes()) else {
                return Err(KeyIdentity::RsaNotPositive);
            };
            Ok([b"rsa:".as_slice(), &(e.len() as u64).to_be_bytes(), e, n].concat())
        }
        _ => key
            .to_bytes()
            .map_err(|_| KeyIdentity::Unencodable)
            .map(|bytes| [b"other:".as_slice(), &bytes].concat()),
    }
}

/// A list of custodians or witnesses: names without control characters, OpenSSH public keys,
/// no name and no key twice.
fn people(list: Vec<PersonFile>, which: List) -> Result<Vec<Person>, Problem> {
    let mut out: Vec<Person> = Vec::new();
    for (index, p) in list.into_iter().enumerate() {
        let at = |problem| Problem::Person {
            list: which,
            index,
            problem,
        };
        if p.name.trim().is_empty() || p.name.chars().any(char::is_control) {
            return Err(at(PersonProblem::Name));
        }
        let key =
            PublicKey::from_openssh(p.ssh_key.trim()).map_err(|e| at(PersonProblem::NotAKey(e)))?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(at(PersonProblem::NameTwice(p.name)));
        }
        let id = identity(&key).map_err(|why| at(PersonProblem::Identity(why)))?;
        if let Some(o) = out.iter().find(|o| identity(&o.key).as_ref() == Ok(&id)) {
            return Err(at(PersonProblem::KeyTwice(o.name.clone())));
        }
        out.push(Person { name: p.name, key });
    }
    Ok(out)
}

/// A custodians file: its path and the SHA-256 (hex) of its bytes.
type SignersFile = (PathBuf, String);

/// The custodians as listed, inline or in the `custodians_file` beside the policy at `path`
/// (with that file's path and SHA-256).
fn listed_custodians(
    file: &mut PolicyFile,
    path: &Path,
) -> Result<(Vec<PersonFile>, Option<SignersFile>), Error> {
    let err = |problem| Error::Policy {
        path: path.to_path_buf(),
        problem: Box::new(problem),
    };
    let Some(name) = &file.custodians_file else {
        return Ok((std::mem::take(&mut file.custodians), None));
    };
    if !file.custodians.is_empty() {
        return Err(err(Problem::CustodiansTwice));
    }
    let signers_path = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join(name);
    let bytes = read_once(&signers_path)?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| err(Problem::SignersNotUtf8(name.clone())))?;
    let list = allowed_signers(text).map_err(|(line, problem)| {
        err(Problem::Signers {
            name: name.clone(),
            line,
            problem,
        })
    })?;
    Ok((
        list,
        Some((signers_path, hex::encode(Sha256::digest(&bytes)))),
    ))
}

/// No witness has a custodian's key: a witness's signature is evidence from someone else.
fn witnesses_apart(custodians: &[Person], witnesses: &[Person]) -> Result<(), Problem> {
    for (index, w) in witnesses.iter().enumerate() {
        if let Some(c) = custodians
            .iter()
            .find(|c| identity(&c.key).ok() == identity(&w.key).ok())
        {
            return Err(Problem::WitnessIsCustodian {
                index,
                witness: w.name.clone(),
                custodian: c.name.clone(),
            });
        }
    }
    Ok(())
}

/// M of N: at least one custodian, and M between 1 and N.
fn threshold(threshold: usize, custodians: &[Person]) -> Result<usize, Problem> {
    if custodians.is_empty() {
        return Err(Problem::NoCustodians);
    }
    if threshold == 0 || threshold > custodians.len() {
        return Err(Problem::Threshold {
            threshold,
            custodians: custodians.len(),
        });
    }
    Ok(threshold)
}

/// 64 hex digits, any case, returned lowercase.
fn sha256_hex(value: &str) -> Option<String> {
    (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

/// One `pin_shares` entry: a digest, or `{ custodian, sha256 }` with the custodian checked
/// against the policy's.
fn pin_share(
    i: usize,
    value: &toml::Value,
    custodians: &[Person],
) -> Result<(String, Option<String>), Problem> {
    let Some(table) = value.as_table() else {
        let digest = value
            .as_str()
            .and_then(sha256_hex)
            .ok_or(Problem::PinShare(i))?;
        return Ok((digest, None));
    };
    if table.len() != 2 || !table.contains_key("custodian") {
        return Err(Problem::PinShareEntry(i));
    }
    let digest = table
        .get("sha256")
        .and_then(toml::Value::as_str)
        .and_then(sha256_hex)
        .ok_or(Problem::PinShareSha256(i))?;
    let name = table
        .get("custodian")
        .and_then(toml::Value::as_str)
        .filter(|name| custodians.iter().any(|c| c.name == *name))
        .ok_or_else(|| Problem::PinShareCustodian {
            index: i,
            custodians: custodians
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Ok((digest, Some(name.to_owned())))
}

/// The SHA-256 of each PIN share, in share order, and, when the policy names them, who holds
/// each: named all or none, a digest once, a custodian once.
fn pin_shares(
    shares: &[toml::Value],
    custodians: &[Person],
) -> Result<(Vec<String>, Option<Vec<String>>), Problem> {
    let mut digests: Vec<String> = Vec::with_capacity(shares.len());
    let mut names: Vec<String> = Vec::new();
    let mut named = None;
    for (i, value) in shares.iter().enumerate() {
        let (digest, name) = pin_share(i, value, custodians)?;
        if *named.get_or_insert(name.is_some()) != name.is_some() {
            return Err(Problem::PinSharesMixed(i));
        }
        if let Some(first) = digests.iter().position(|d| *d == digest) {
            return Err(Problem::PinShareTwice { index: i, first });
        }
        if let Some(name) = name {
            if let Some(first) = names.iter().position(|n| *n == name) {
                return Err(Problem::PinShareCustodianTwice {
                    index: i,
                    name,
                    first,
                });
            }
            names.push(name);
        }
        digests.push(digest);
    }
    Ok((digests, named.filter(|&n| n).map(|_| names)))
}

/// The module's absolute path, if pinned.
fn module_path(value: Option<String>) -> Result<Option<PathBuf>, Problem> {
    let path = value.map(PathBuf::from);
    if path.as_ref().is_some_and(|p| !p.is_absolute()) {
        return Err(Problem::ModulePath);
    }
    Ok(path)
}

/// How many witnesses must co-sign: no more than are listed.
fn witnesses_required(required: usize, witnesses: &[Person]) -> Result<usize, Problem> {
    if required > witnesses.len() {
        return Err(Problem::WitnessesRequired {
            required,
            witnesses: witnesses.len(),
        });
    }
    Ok(required)
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::from_bytes(path, &read_once(path)?)
    }

    /// Checks a policy given as the bytes of the file at `path`. A `custodians_file` it names
    /// is read from beside `path`.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, Error> {
        let err = |problem| Error::Policy {
            path: path.to_path_buf(),
            problem: Box::new(problem),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| err(Problem::NotUtf8))?;
        let mut file: PolicyFile = toml::from_str(text).map_err(|e| {
            err(Problem::Toml {
                line: super::plan::line_of(text, e.span()),
                error: Box::new(e),
            })
        })?;
        if file.version != VERSION {
            return Err(err(Problem::Version(file.version)));
        }
        let (listed, custodians_file) = listed_custodians(&mut file, path)?;
        let custodians = people(listed, List::Custodians).map_err(err)?;
        let witnesses =
            people(std::mem::take(&mut file.witnesses), List::Witnesses).map_err(err)?;
        witnesses_apart(&custodians, &witnesses).map_err(err)?;
        let threshold = threshold(file.threshold, &custodians).map_err(err)?;
        let signer_fingerprint =
            sha256_hex(&file.signer_fingerprint).ok_or_else(|| err(Problem::SignerFingerprint))?;
        let (pin_shares, pin_share_custodians) =
            pin_shares(&file.pin_shares, &custodians).map_err(err)?;
        if let Some(t) = file.pin_threshold {
            if t < 2 || usize::from(t) > pin_shares.len() {
                return Err(err(Problem::PinThreshold {
                    threshold: t,
                    shares: pin_shares.len(),
                }));
            }
        }
        let module_sha256 = file
            .module_sha256
            .as_deref()
            .map(|h| sha256_hex(h).ok_or(Problem::ModuleSha256))
            .transpose()
            .map_err(err)?;
        let attestation_roots_sha256 = file
            .attestation_roots_sha256
            .as_deref()
            .map(|h| sha256_hex(h).ok_or(Problem::AttestationRootsSha256))
            .transpose()
            .map_err(err)?;
        // The module is given the PIN the shares rebuild: a quorum that any module could
        // receive would protect nothing.
        if !pin_shares.is_empty() && module_sha256.is_none() {
            return Err(Error::ModuleUnpinned {
                path: path.to_path_buf(),
            });
        }
        let module_path = module_path(file.module_path).map_err(err)?;
        let witnesses_required =
            witnesses_required(file.witnesses_required, &witnesses).map_err(err)?;
        Ok(Policy {
            path: path.to_path_buf(),
            digest: hex::encode(Sha256::digest(bytes)),
            threshold,
            signer_fingerprint,
            token_serial: file.token_serial,
            custodians,
            witnesses,
            custodians_file,
            pin_shares,
            pin_share_custodians,
            pin_threshold: file.pin_threshold,
            module_sha256,
            module_path,
            require_trusted_wrapping: file.require_trusted_wrapping,
            witnesses_required,
            accept_backup_unwrap_oracle: file.accept_backup_unwrap_oracle,
            require_attestation: file.require_attestation,
            attestation_roots_sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALICE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILI+HDNs4VR2HoIuY6y9Cfita+LuVJJ+SqLJmz0CoADf alice";
    const BOB: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAV339dPiE5s3wefEWCva+sos9lIoRBDqJQd9vb71emK bob";
    const CAROL: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINVJAfcG9MAqLIK04O29iPTCIooNXJyIKWBxICmWk3WJ carol";
    const WENDY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVdYYzrQoFI2eAgF+wlVQ85jzb29/0H1/04F4sOsi6+ wendy";
    /// Alice's key written as a FIDO key.
    const ALICE_SK: &str = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAILI+HDNs4VR2HoIuY6y9Cfita+LuVJJ+SqLJmz0CoADfAAAABHNzaDo=";
    /// A P-256 key, its point uncompressed.
    const EC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHeW4p8D7BlH8DkMj8zFF5d98KfqLUWn05YPIrQivDinHmXSy5S7cMIsRUcnTsg1t0o0+uHZ1iSWJTsbMknoBY0=";
    /// The same key, its point compressed.
    const EC_COMPRESSED: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAAAhA3eW4p8D7BlH8DkMj8zFF5d98KfqLUWn05YPIrQivDin";

    const TOP: &str = "version = 1\nthreshold = 2\nsigner_fingerprint = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";

    fn person(list: &str, name: &str, key: &str) -> String {
        format!("[[{list}]]\nname = \"{name}\"\nssh_key = \"{key}\"\n")
    }

    /// alice, bob and carol custodians, wendy a witness.
    fn people() -> String {
        [
            person("custodians", "alice", ALICE),
            person("custodians", "bob", BOB),
            person("custodians", "carol", CAROL),
            person("witnesses", "wendy", WENDY),
        ]
        .concat()
    }

    /// The top-level fields with `field`'s line replaced by `line` (added if `field` is not
    /// there), then `tables`.
    fn top(field: &str, line: &str, tables: &str) -> String {
        let mut out: String = TOP
            .lines()
            .filter(|l| !l.starts_with(&format!("{field} =")))
            .map(|l| format!("{l}\n"))
            .collect();
        if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
        out + tables
    }

    /// Runs a table: each row is a policy's text and the message it is refused with, or `None`
    /// for a policy accepted.
    fn table(rows: &[(String, Option<&str>)]) {
        for (text, want) in rows {
            let got = Policy::from_bytes(Path::new("policy.toml"), text.as_bytes())
                .map(|_| ())
                .map_err(|e| e.to_string());
            let want = want.map_or(Ok(()), |m| Err(format!("policy.toml: {m}")));
            assert_eq!(got, want, "for the policy\n{text}");
        }
    }

    #[test]
    fn a_pin_threshold_is_between_2_and_the_shares_pinned() {
        let shares = format!(
            "pin_shares = [\"{}\", \"{}\"]",
            "a".repeat(64),
            "b".repeat(64)
        );
        let module = format!("module_sha256 = \"{}\"", "c".repeat(64));
        let policy = |extra: &str| {
            let text = format!(
                "version = 1\nthreshold = 1\nsigner_fingerprint = \"{}\"\n{extra}\n{shares}\n{module}\n\n[[custodians]]\nname = \"alice\"\nssh_key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhvbm9yIHRoZSBjdXN0b2RpYW5zIGluIHRoZSByb29t\"\n",
                "0".repeat(64)
            );
            Policy::from_bytes(Path::new("policy.toml"), text.as_bytes())
        };
        assert_eq!(policy("").unwrap().pin_threshold, None);
        assert_eq!(policy("pin_threshold = 2").unwrap().pin_threshold, Some(2));
        for (t, shown) in [(1, 1), (3, 3)] {
            assert_eq!(
                policy(&format!("pin_threshold = {t}"))
                    .unwrap_err()
                    .to_string(),
                format!(
                    "policy.toml: pin_threshold: must be at least 2 and at most the 2 pin_shares (it is {shown})"
                )
            );
        }
    }

    #[test]
    fn the_file_and_field_refusals() {
        let share = "a".repeat(64);
        let module = format!("module_sha256 = \"{}\"\n", "B".repeat(64));
        table(&[
            (
                top("colour", "colour = 1", &people()),
                Some(
                    "line 4: unknown field `colour`, expected one of `version`, `threshold`, `signer_fingerprint`, `token_serial`, `custodians`, `custodians_file`, `witnesses`, `pin_shares`, `pin_threshold`, `module_sha256`, `module_path`, `require_trusted_wrapping`, `witnesses_required`, `accept_backup_unwrap_oracle`, `require_attestation`, `attestation_roots_sha256`",
                ),
            ),
            (
                top("version", "version = 2", &people()),
                Some("version: must be 1, not 2"),
            ),
            (
                top("threshold", "threshold = 0", &people()),
                Some("threshold: must be between 1 and the number of custodians (3), not 0"),
            ),
            (
                top("threshold", "threshold = 4", &people()),
                Some("threshold: must be between 1 and the number of custodians (3), not 4"),
            ),
            (top("threshold", "threshold = 3", &people()), None),
            (
                top(
                    "signer_fingerprint",
                    &format!("signer_fingerprint = \"{}\"", "0".repeat(63)),
                    &people(),
                ),
                Some(
                    "signer_fingerprint: must be the 64 hex digits `keyrite token signer export` prints",
                ),
            ),
            (
                top(
                    "signer_fingerprint",
                    &format!("signer_fingerprint = \"{}\"", "g".repeat(64)),
                    &people(),
                ),
                Some(
                    "signer_fingerprint: must be the 64 hex digits `keyrite token signer export` prints",
                ),
            ),
            (
                top(
                    "pin_shares",
                    &format!(
                        "pin_shares = [\"{share}\", \"{}\"]\n{module}",
                        "a".repeat(65)
                    ),
                    &people(),
                ),
                Some("pin_shares[1]: must be the 64 hex digits `keyrite pin split` prints"),
            ),
            (
                top(
                    "pin_shares",
                    &format!(
                        "pin_shares = [\"{share}\", \"{}\"]\n{module}",
                        share.to_uppercase()
                    ),
                    &people(),
                ),
                Some("pin_shares[1]: the same SHA-256 as pin_shares[0]: each share is another"),
            ),
            (
                top("module_sha256", "module_sha256 = \"abc\"", &people()),
                Some(
                    "module_sha256: must be the 64 hex digits `sha256sum` prints of the module file",
                ),
            ),
            (
                top(
                    "pin_shares",
                    &format!("pin_shares = [\"{share}\"]"),
                    &people(),
                ),
                Some(
                    "module_sha256: a policy with pin_shares must pin the PKCS#11 module, which is given the PIN the shares rebuild",
                ),
            ),
            (
                top(
                    "pin_shares",
                    &format!("pin_shares = [\"{share}\"]\n{module}"),
                    &people(),
                ),
                None,
            ),
            (
                top(
                    "module_path",
                    "module_path = \"lib/softhsm2.so\"",
                    &people(),
                ),
                Some("module_path: must be an absolute path"),
            ),
            (
                top(
                    "module_path",
                    "module_path = \"/usr/lib/softhsm/libsofthsm2.so\"",
                    &people(),
                ),
                None,
            ),
            (
                top("witnesses_required", "witnesses_required = 2", &people()),
                Some("witnesses_required: must be at most the number of witnesses (1), not 2"),
            ),
            (
                top("witnesses_required", "witnesses_required = 1", &people()),
                None,
            ),
        ]);
        assert_eq!(
            Policy::from_bytes(Path::new("policy.toml"), &[0xff])
                .unwrap_err()
                .to_string(),
            "policy.toml: not UTF-8 text"
        );
        let policy = Policy::from_bytes(
            Path::new("policy.toml"),
            top(
                "signer_fingerprint",
                &format!("signer_fingerprint = \"{}\"\n{module}", "A".repeat(64)),
                &people(),
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(policy.signer_fingerprint, "a".repeat(64));
        assert_eq!(policy.module_sha256, Some("b".repeat(64)));
    }

    #[test]
    fn pin_shares_named_with_their_custodians() {
        let module = format!("module_sha256 = \"{}\"\n", "b".repeat(64));
        let digest = |c: char| c.to_string().repeat(64);
        let named = |name: &str, c: char| {
            format!("{{ custodian = \"{name}\", sha256 = \"{}\" }}", digest(c))
        };
        let with = |entries: &[String]| {
            top(
                "pin_shares",
                &format!("pin_shares = [{}]\n{module}", entries.join(", ")),
                &people(),
            )
        };
        table(&[
            (
                with(&[named("alice", 'a'), named("dave", 'c')]),
                Some(
                    "pin_shares[1].custodian: not one of the policy's custodians (alice, bob, carol)",
                ),
            ),
            (
                with(&[named("wendy", 'a')]),
                Some(
                    "pin_shares[0].custodian: not one of the policy's custodians (alice, bob, carol)",
                ),
            ),
            (
                with(&[named("alice", 'a'), named("bob", 'c'), named("alice", 'd')]),
                Some(
                    "pin_shares[2].custodian: \"alice\" holds pin_shares[0] already: one share per custodian",
                ),
            ),
            (
                with(&[named("alice", 'a'), named("bob", 'a')]),
                Some("pin_shares[1]: the same SHA-256 as pin_shares[0]: each share is another"),
            ),
            (
                with(&[named("alice", 'a'), format!("\"{}\"", digest('c'))]),
                Some("pin_shares[1]: name the custodian of every share, or of none"),
            ),
            (
                with(&[format!("\"{}\"", digest('c')), named("alice", 'a')]),
                Some("pin_shares[1]: name the custodian of every share, or of none"),
            ),
            (
                with(&["{ custodian = \"alice\" }".to_owned()]),
                Some(
                    "pin_shares[0]: a share with its custodian is { custodian = \"NAME\", sha256 = \"HEX\" }, with nothing else",
                ),
            ),
            (
                with(&[format!(
                    "{{ custodian = \"alice\", sha256 = \"{}\", note = 1 }}",
                    digest('a')
                )]),
                Some(
                    "pin_shares[0]: a share with its custodian is { custodian = \"NAME\", sha256 = \"HEX\" }, with nothing else",
                ),
            ),
            (
                with(&["{ custodian = \"alice\", sha256 = \"abc\" }".to_owned()]),
                Some("pin_shares[0].sha256: must be the 64 hex digits `keyrite pin split` prints"),
            ),
            (
                with(&["{ custodian = 7, sha256 = 7 }".to_owned()]),
                Some("pin_shares[0].sha256: must be the 64 hex digits `keyrite pin split` prints"),
            ),
        ]);
        let policy = Policy::from_bytes(
            Path::new("policy.toml"),
            with(&[named("carol", 'C'), named("alice", 'a')]).as_bytes(),
        )
        .unwrap();
        assert_eq!(policy.pin_shares, [digest('c'), digest('a')]);
        assert_eq!(
            policy.pin_share_custodians,
            Some(vec!["carol".to_owned(), "alice".to_owned()])
        );
        let plain = Policy::from_bytes(
            Path::new("policy.toml"),
            with(&[format!("\"{}\"", digest('a'))]).as_bytes(),
        )
        .unwrap();
        assert_eq!(plain.pin_share_custodians, None);
    }

    #[test]
    fn the_people_refusals() {
        let with = |extra: &str| top("", "", &(people() + extra));
        table(&[
            (
                top("", "", &person("custodians", "", ALICE)),
                Some("custodians[0].name: must be a non-empty name without control characters"),
            ),
            (
                top("", "", &person("custodians", " ", ALICE)),
                Some("custodians[0].name: must be a non-empty name without control characters"),
            ),
            (
                with(&person("custodians", "dave\\u001b[2J", EC)),
                Some("custodians[3].name: must be a non-empty name without control characters"),
            ),
            (
                with(&person("custodians", "dave", "ssh-ed25519 AAAA")),
                Some(
                    "custodians[3].ssh_key: not an OpenSSH public key (Base64 encoding error: invalid Base64 length)",
                ),
            ),
            (
                with(&person("custodians", "bob", EC)),
                Some("custodians[3].name: \"bob\" is listed twice"),
            ),
            (
                with(&person("custodians", "dave", EC_COMPRESSED)),
                Some(
                    "custodians[3].ssh_key: an EC point must be uncompressed, as OpenSSH writes it",
                ),
            ),
            (
                with(&person("custodians", "dave", ALICE_SK)),
                Some(
                    "custodians[3].ssh_key: the same key as \"alice\"'s (written another way, perhaps as an sk- key): one key is one person",
                ),
            ),
            (
                with(&person("witnesses", "", EC)),
                Some("witnesses[1].name: must be a non-empty name without control characters"),
            ),
            (
                with(&person("witnesses", "wendy", EC)),
                Some("witnesses[1].name: \"wendy\" is listed twice"),
            ),
            (
                with(&person("witnesses", "walt", WENDY)),
                Some(
                    "witnesses[1].ssh_key: the same key as \"wendy\"'s (written another way, perhaps as an sk- key): one key is one person",
                ),
            ),
            (
                with(&person("witnesses", "walt", ALICE_SK)),
                Some(
                    "witnesses[1].ssh_key: \"walt\"'s key is custodian \"alice\"'s: a witness's signature must be evidence from someone other than the custodians",
                ),
            ),
            (
                top("", "", &person("witnesses", "wendy", WENDY)),
                Some("custodians: at least one custodian is needed"),
            ),
            (with(&person("custodians", "dave", EC)), None),
            (with(&person("witnesses", "walt", EC)), None),
        ]);
    }

    #[test]
    fn the_custodians_file_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        let signers = dir.path().join("allowed_signers");
        let refusal = |lines: &[u8]| {
            std::fs::write(&signers, lines).unwrap();
            Policy::load(&path)
                .map(|p| p.custodians.len())
                .map_err(|e| e.to_string())
        };
        std::fs::write(
            &path,
            top("", "custodians_file = \"allowed_signers\"", &people()),
        )
        .unwrap();
        assert_eq!(
            refusal(b"").unwrap_err(),
            format!(
                "{}: custodians_file: give custodians either inline or in a file, not both",
                path.display()
            )
        );
        std::fs::write(
            &path,
            top(
                "threshold",
                "threshold = 1\ncustodians_file = \"allowed_signers\"",
                "",
            ),
        )
        .unwrap();
        let key = |name: &str, options: &str, key: &str| format!("{name} {options}{key}\n");
        let rows: [(String, Result<usize, String>); 7] = [
            (
                "\u{ff}".to_owned(),
                Err("custodians_file: allowed_signers is not UTF-8 text".to_owned()),
            ),
            (
                format!("# custodians\n{}alice\n", key("bob", "", BOB)),
                Err("custodians_file: allowed_signers: line 3: no key".to_owned()),
            ),
            (
                key("alice", "cert-authority ", ALICE),
                Err("custodians_file: allowed_signers: line 1: cert-authority and valid-before/valid-after are not supported; list the custodian's own key".to_owned()),
            ),
            (
                key("alice", "valid-before=\"20300101\" ", ALICE),
                Err("custodians_file: allowed_signers: line 1: cert-authority and valid-before/valid-after are not supported; list the custodian's own key".to_owned()),
            ),
            (
                key("\"\"", "", ALICE),
                Err("custodians[0].name: must be a non-empty name without control characters".to_owned()),
            ),
            (
                [key("alice", "", ALICE), key("bob", "namespaces=\"file\" ", BOB)].concat(),
                Ok(1),
            ),
            (
                [key("alice", "", ALICE), key("bob,robert", "namespaces=\"file,keyrite-plan\" ", BOB)].concat(),
                Ok(2),
            ),
        ];
        for (lines, want) in rows {
            let want = want.map_err(|m| format!("{}: {m}", path.display()));
            let lines = if lines == "\u{ff}" {
                vec![0xff]
            } else {
                lines.into_bytes()
            };
            assert_eq!(refusal(&lines), want, "for the custodians file\n{lines:?}");
        }
        let policy = Policy::load(&path).unwrap();
        let bytes = std::fs::read(&signers).unwrap();
        assert_eq!(
            policy.custodians_file,
            Some((signers, hex::encode(Sha256::digest(bytes))))
        );
    }

    #[test]
    fn allowed_signers_lines() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILI+HDNs4VR2HoIuY6y9Cfita+LuVJJ+SqLJmz0CoADf";
        let text = format!(
            "# custodians\nalice {key} alice@laptop\n\nbob,robert namespaces=\"keyrite-plan,file x\" {key}\n"
        );
        let list = allowed_signers(&text).unwrap_or_default();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "alice");
        assert_eq!(list[0].ssh_key, format!("{key} alice@laptop"));
        assert_eq!(list[1].name, "bob");
        assert_eq!(list[1].ssh_key, key);
    }

    #[test]
    fn a_policy_and_its_custodians_file_are_read_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (crate::input::MAX_SMALL + 1) as usize]).unwrap();
        assert_eq!(
            Policy::load(&big).unwrap_err().to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                big.display()
            )
        );
        // A custodians file that never ends stops at the limit too.
        let endless = dir.path().join("endless.toml");
        std::fs::write(
            &endless,
            format!(
                "version = 1\nthreshold = 1\nsigner_fingerprint = \"{}\"\ncustodians_file = \"/dev/zero\"\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        assert_eq!(
            Policy::load(&endless).unwrap_err().to_string(),
            "cannot read /dev/zero: it is larger than 1 MiB, the most keyrite reads from such a file"
        );
    }
}
