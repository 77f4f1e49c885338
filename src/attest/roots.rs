//! The roots an attestation chain must end in, pinned by public key: the ones keyrite carries,
//! and the ones a roots file (`--attestation-roots`, a plan's `attestation_roots`) adds or puts
//! in their place.
//!
//! A roots file is TOML:
//!
//! ```toml
//! # Drop keyrite's pinned roots of the roles this file names (default: add to them).
//! replace_pinned = false
//!
//! [[roots]]
//! role = "marvell"            # or "google", "microsoft"
//! name = "Test Marvell root"
//! public_key = """
//! -----BEGIN PUBLIC KEY-----
//! …
//! -----END PUBLIC KEY-----
//! """                          # or certificate = "-----BEGIN CERTIFICATE-----…"
//! ```

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// What a root vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The HSM's maker: Marvell's root, which certifies each LiquidSecurity card and partition.
    Marvell,
    /// Google's root for its Cloud HSM cards and partitions ("Hawksbill Root v1 prod").
    Google,
    /// Microsoft's root for its Managed HSM partitions.
    Microsoft,
}

impl Role {
    /// Its name in a roots file and in records.
    pub fn name(self) -> &'static str {
        match self {
            Role::Marvell => "marvell",
            Role::Google => "google",
            Role::Microsoft => "microsoft",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Marvell => "Marvell",
            Role::Google => "Google",
            Role::Microsoft => "Microsoft",
        })
    }
}

/// Why keyrite trusts a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum Trust {
    /// keyrite pins it.
    #[serde(rename = "pinned")]
    Pinned,
    /// A roots file added it: a test PKI, a rotated root, a root keyrite does not pin.
    #[serde(rename = "roots file")]
    RootsFile,
    /// It does not: the attestation itself carries it, self-signed, and no root of its role is
    /// pinned or added (Microsoft publishes none for its Managed HSM partitions).
    #[serde(rename = "carried by the attestation")]
    Carried,
}

impl Trust {
    /// For people.
    pub fn describe(self) -> &'static str {
        match self {
            Trust::Pinned => "pinned by keyrite",
            Trust::RootsFile => "added by a roots file, not pinned by keyrite",
            Trust::Carried => "carried by the attestation itself, trusted by no one",
        }
    }
}

/// A root: its role, a name for people, and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// What it vouches for.
    pub role: Role,
    /// Its name, for people.
    pub name: String,
    /// Its SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// SHA-256 (hex) of that DER: how records name it.
    pub spki_sha256: String,
    /// Why keyrite trusts it.
    pub trust: Trust,
}

impl Root {
    /// A root of `role` by its key.
    pub fn new(role: Role, name: &str, spki_der: Vec<u8>, trust: Trust) -> Self {
        Root {
            role,
            name: name.to_owned(),
            spki_sha256: hex::encode(Sha256::digest(&spki_der)),
            spki_der,
            trust,
        }
    }
}

/// The roots in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    roots: Vec<Root>,
    file: Option<RootsFileText>,
}

/// A roots file as read: a record keeps it whole, so an auditor rebuilds the same roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootsFileText {
    /// Where it was read from, as named.
    pub path: String,
    /// Its text.
    pub text: String,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
}

/// The roots keyrite pins: (role, name, SubjectPublicKeyInfo PEM), each pinned by its key, not
/// by a certificate, so a root re-issued with the same key still anchors (docs/attestation.md
/// lists each with its SHA-256):
///
/// - Marvell's LiquidSecurity root, RSA-2048 (SPKI SHA-256 `78adcba1…58cd41`): the key of the
///   `localca.liquidsecurity.cavium.com` certificate Google's `kms/attestations` sample embeds
///   (GoogleCloudPlatform/python-docs-samples), which expired on 2025-11-16, and of its 2024
///   re-issue (smallstep/crypto `kms/cloudkms/attestation.go`; Azure's
///   `azure-managed-hsm-key-attestation`).
/// - Marvell's LiquidSecurity 2 root, RSA-4096 (`f84b0610…b97d7c`), which Azure's
///   `azure-managed-hsm-key-attestation` ships for its newer partitions.
/// - Google's "Hawksbill Root v1 prod", RSA-2048 (`11fa0c80…ff46e8`), the owner root of
///   Google's card and partition certificates, embedded in Google's sample (valid to 2030).
const PINNED: &[(Role, &str, &str)] = &[
    (
        Role::Marvell,
        "Marvell LiquidSecurity root (localca.liquidsecurity.cavium.com)",
        include_str!("roots/marvell.pem"),
    ),
    (
        Role::Marvell,
        "Marvell LiquidSecurity 2 root",
        include_str!("roots/marvell-ls2.pem"),
    ),
    (
        Role::Google,
        "Google Hawksbill Root v1 prod",
        include_str!("roots/google-hawksbill.pem"),
    ),
];

/// Why a roots file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RootsError {
    /// It cannot be read.
    #[error("cannot read the attestation roots file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a roots file.
    #[error("the attestation roots file {path} is not valid: {problem}")]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootsFile {
    #[serde(default)]
    replace_pinned: bool,
    #[serde(default)]
    roots: Vec<RootEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootEntry {
    role: Role,
    name: String,
    public_key: Option<String>,
    certificate: Option<String>,
}

/// The SubjectPublicKeyInfo DER of a PEM public key, or of a PEM certificate's key.
fn spki_of_pem(pem: &str) -> Result<Vec<u8>, String> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes()).map_err(|e| e.to_string())?;
    match label {
        "PUBLIC KEY" => {
            use der::Decode as _;
            spki::SubjectPublicKeyInfoOwned::from_der(&der).map_err(|e| e.to_string())?;
            Ok(der)
        }
        "CERTIFICATE" => Ok(super::chain::Cert::from_der(&der)?.spki_der),
        other => Err(format!("a PEM {other}, not a PUBLIC KEY or a CERTIFICATE")),
    }
}

impl Roots {
    /// The roots keyrite pins.
    pub fn pinned() -> Self {
        Roots {
            roots: PINNED
                .iter()
                .filter_map(|(role, name, pem)| {
                    // A pinned root that does not parse is a build defect; tests/attest.rs
                    // parses every one.
                    spki_of_pem(pem)
                        .ok()
                        .map(|der| Root::new(*role, name, der, Trust::Pinned))
                })
                .collect(),
            file: None,
        }
    }

    /// The pinned roots with a roots file's added, or in place of those of the roles it names.
    pub fn with_file(path: &Path, bytes: &[u8]) -> Result<Self, RootsError> {
        let invalid = |problem: String| RootsError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8".into()))?;
        let file: RootsFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if file.roots.is_empty() {
            return Err(invalid("it names no [[roots]]".into()));
        }
        let mut added = Vec::new();
        for (i, entry) in file.roots.into_iter().enumerate() {
            let pem = match (&entry.public_key, &entry.certificate) {
                (Some(pem), None) | (None, Some(pem)) => pem,
                _ => {
                    return Err(invalid(format!(
                        "roots[{i}] ({}) must have exactly one of public_key and certificate",
                        entry.name
                    )));
                }
            };
            let der = spki_of_pem(pem)
                .map_err(|e| invalid(format!("roots[{i}] ({}): {e}", entry.name)))?;
            added.push(Root::new(entry.role, &entry.name, der, Trust::RootsFile));
        }
        let mut roots = Roots::pinned().roots;
        if file.replace_pinned {
            roots.retain(|r| !added.iter().any(|a| a.role == r.role));
        }
        roots.extend(added);
        Ok(Roots {
            roots,
            file: Some(RootsFileText {
                path: path.display().to_string(),
                text: text.to_owned(),
                sha256: hex::encode(Sha256::digest(bytes)),
            }),
        })
    }

    /// Reads a roots file.
    pub fn load(path: &Path) -> Result<Self, RootsError> {
        let bytes = crate::input::read(path, crate::input::MAX_SMALL).map_err(|source| {
            RootsError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Roots::with_file(path, &bytes)
    }

    /// The roots of `role`.
    pub fn of(&self, role: Role) -> Vec<&Root> {
        self.roots.iter().filter(|r| r.role == role).collect()
    }

    /// Every root.
    pub fn all(&self) -> &[Root] {
        &self.roots
    }

    /// The roots file these came from, if any.
    pub fn file(&self) -> Option<&RootsFileText> {
        self.file.as_ref()
    }
}
