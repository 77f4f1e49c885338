//! `keyrite restore`: a backup made with `--provider pkcs11-backup` unwrapped inside the backup
//! token, proven to be the same material by the key check values its manifest records.
//!
//! [`load`] reads and checks the backup directory before any token is opened; [`run`] finds the
//! backup key by its public key's fingerprint, unwraps, compares every check value the two
//! tokens have in common, and checks the restored key's protections. Anything wrong after the
//! key exists destroys it.
//!
//! The manifest is believed only as far as its provenance: before any token is opened, `keyrite
//! restore` checks the directory against the sealed transcript of the run that wrote it
//! ([`crate::verify::recorded_output`], over [`Backup::manifest_sha256`] and
//! [`Backup::listing`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cryptoki::object::ObjectHandle;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::hsm::Token;
use crate::hsm::keys::{KcvMethod, KeyLabel, KeySpec};
use crate::hsm::pair::PublicKey;
use crate::kms::{self, WrappingAlgorithm, backup::WRAPPED};
use crate::wrap::{TokenAccess, open_logged_in};

/// The most a backup manifest may hold.
const MAX_MANIFEST: u64 = 1 << 20;

/// Why a backup was refused or not restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the backup could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The backup directory is not a plain directory of regular files.
    #[error("{}: {reason}", path.display())]
    NotPlain {
        /// The directory, or the entry in it.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The manifest is not a backup manifest keyrite wrote.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The backup holds another key.
    #[error("the backup holds key {holds:?}, not {asked:?}")]
    OtherKey {
        /// The label asked for.
        asked: String,
        /// The label the manifest records.
        holds: String,
    },
    /// A file differs from the digest the manifest records.
    #[error("{} does not match the SHA-256 the manifest records for it", path.display())]
    Digest {
        /// The file.
        path: PathBuf,
    },
    /// The wrapped key has the wrong length.
    #[error("{} is {actual} bytes; a {spec} key wrapped with {algorithm} under an RSA-{bits} key is {expected}", path.display())]
    Length {
        /// The file.
        path: PathBuf,
        /// Its length.
        actual: usize,
        /// The length due, or its bounds.
        expected: String,
        /// The key kind.
        spec: KeySpec,
        /// The algorithm.
        algorithm: WrappingAlgorithm,
        /// The backup key's size.
        bits: usize,
    },
    /// The backup token gives no check value the backup records.
    #[error(
        "the restored key's check values ({token}) share no method with the backup's ({backup}): nothing proves it is the same key, so it was destroyed"
    )]
    NoCommonKcv {
        /// What the backup token gives.
        token: String,
        /// What the manifest records.
        backup: String,
    },
    /// A check value differs.
    #[error(
        "the restored key's {method} check value is {actual}, the backup records {expected}: it is not the same key, so it was destroyed"
    )]
    KcvMismatch {
        /// The method.
        method: String,
        /// The value recorded.
        expected: String,
        /// The value the token gives.
        actual: String,
    },
    /// The token does not say which public key a restored private key has.
    #[error(
        "the token does not report the public key of the restored {spec} key {label:?}, so nothing proves it is the key the backup records; it was destroyed"
    )]
    PairUnproven {
        /// The key label.
        label: String,
        /// The key kind.
        spec: KeySpec,
    },
    /// The restored key lacks a ceremony key's protections.
    #[error(
        "the restored key {label:?} is not protected as a ceremony key on this token (sensitive, extractable only by wrapping, of no other use, not modifiable), so it was destroyed"
    )]
    Unprotected {
        /// The key label.
        label: String,
    },
}

#[derive(Debug, Deserialize)]
struct ManifestKey {
    label: String,
    id: String,
    spec: String,
    #[serde(default)]
    check_values: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct BackupManifest {
    provider: String,
    algorithm: String,
    wrapping_key_sha256: String,
    key: ManifestKey,
    files: BTreeMap<String, String>,
}

/// A backup directory, read and checked.
#[derive(Debug)]
pub struct Backup {
    dir: PathBuf,
    label: KeyLabel,
    id: Vec<u8>,
    spec: KeySpec,
    algorithm: WrappingAlgorithm,
    backup_key_sha256: String,
    check_values: BTreeMap<String, String>,
    wrapped: Vec<u8>,
    /// SHA-256 (hex) of the manifest's bytes, as read and parsed.
    manifest_sha256: String,
    /// SHA-256 (hex) of every file the directory held, by name, as listed before the manifest
    /// was read.
    listing: BTreeMap<String, String>,
    /// For a key pair: its public key, from the backup's `public.pem`, whose fingerprint the
    /// manifest records.
    public_key: Option<PublicKey>,
}

fn read(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let fail = |reason: String| Error::Read {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(fail(format!("it is larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// The SHA-256 (hex) of every file in `dir`, by name. `dir` must be a directory itself, not a
/// symbolic link to one, and hold only regular files: nothing is opened that could block (a
/// FIFO) or lead elsewhere (a symbolic link).
fn list(dir: &Path) -> Result<BTreeMap<String, String>, Error> {
    let not_plain = |path: &Path, reason: &str| Error::NotPlain {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let cannot = |e: std::io::Error| Error::Read {
        path: dir.to_owned(),
        reason: e.to_string(),
    };
    let meta = std::fs::symlink_metadata(dir).map_err(cannot)?;
    if meta.file_type().is_symlink() {
        return Err(not_plain(
            dir,
            "it is a symbolic link, not the backup directory itself",
        ));
    }
    if !meta.is_dir() {
        return Err(not_plain(dir, "it is not a directory"));
    }
    let mut listing = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let path = entry.path();
        if !entry.file_type().map_err(cannot)?.is_file() {
            return Err(not_plain(
                &path,
                "it is not a regular file (a backup holds only the files keyrite wrote)",
            ));
        }
        let bytes = read(&path, MAX_MANIFEST)?;
        listing.insert(
            entry.file_name().to_string_lossy().into_owned(),
            hex::encode(Sha256::digest(bytes)),
        );
    }
    Ok(listing)
}

/// Reads a backup directory and checks it holds `label`, before any token is opened: the
/// manifest, the digests of its files, the algorithm, the key kind and the wrapped length.
pub fn load(dir: &Path, label: &KeyLabel) -> Result<Backup, Error> {
    let listing = list(dir)?;
    let manifest_path = dir.join("manifest.json");
    let bad = |reason: String| Error::Manifest {
        path: manifest_path.clone(),
        reason,
    };
    let bytes = read(&manifest_path, MAX_MANIFEST)?;
    let map = kms::parse_json_object(&bytes).map_err(|e| {
        bad(match e {
            kms::Error::Json { reason } => format!("it is not valid JSON: {reason}"),
            kms::Error::DuplicateKey { key } => format!("it has the key {key:?} more than once"),
            _ => "it is not a JSON object".to_owned(),
        })
    })?;
    let m: BackupManifest = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| bad(format!("it is not a keyrite manifest: {e}")))?;
    if m.provider != kms::Provider::Pkcs11Backup.name() {
        return Err(bad(format!(
            "it records a wrap for {:?}, not a backup (--provider pkcs11-backup)",
            m.provider
        )));
    }
    if m.key.label != label.as_str() {
        return Err(Error::OtherKey {
            asked: label.to_string(),
            holds: m.key.label,
        });
    }
    let algorithm: WrappingAlgorithm = m
        .algorithm
        .parse()
        .ok()
        .filter(|a| kms::Provider::Pkcs11Backup.algorithms().contains(a))
        .ok_or_else(|| {
            bad(format!(
                "algorithm {:?} is not one a backup uses",
                m.algorithm
            ))
        })?;
    let spec = <KeySpec as clap::ValueEnum>::value_variants()
        .iter()
        .copied()
        .find(|s| s.name() == m.key.spec)
        .ok_or_else(|| {
            bad(format!(
                "key spec {:?} is not one keyrite makes",
                m.key.spec
            ))
        })?;
    if !kms::Provider::Pkcs11Backup.key_specs().contains(&spec) {
        return Err(bad(format!(
            "it holds a {spec} key, which keyrite does not back up: a restored EC private key \
             reports no public key, so nothing could prove it is the key backed up"
        )));
    }
    let id = hex::decode(&m.key.id).map_err(|_| bad("key.id is not hex".into()))?;
    if m.key.check_values.is_empty() {
        return Err(bad("it records no check values for the key".into()));
    }
    let is_hex = |v: &str, len| v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit());
    let check_values_ok = m.key.check_values.iter().all(|(method, v)| {
        if method == KcvMethod::SpkiSha256.name() {
            spec.is_asymmetric() && is_hex(v, 64)
        } else {
            !spec.is_asymmetric() && is_hex(v, 6)
        }
    });
    if !check_values_ok {
        return Err(bad(
            "a check value is not six hex digits (for a key pair: the 64 of its public key's SHA-256)"
                .into(),
        ));
    }
    let mut wrapped = None;
    let mut public_pem = None;
    for (name, digest) in &m.files {
        if name.contains('/') || name == "manifest.json" {
            return Err(bad(format!("it names a file {name:?} outside the backup")));
        }
        let path = dir.join(name);
        let contents = read(&path, MAX_MANIFEST)?;
        if !hex::encode(Sha256::digest(&contents)).eq_ignore_ascii_case(digest) {
            return Err(Error::Digest { path });
        }
        if name == WRAPPED {
            wrapped = Some(contents);
        } else if name == kms::PUBLIC_PEM {
            public_pem = Some(contents);
        }
    }
    let wrapped = wrapped.ok_or_else(|| bad(format!("it lists no {WRAPPED}")))?;
    let public_key = match (spec.is_asymmetric(), public_pem) {
        (false, _) => None,
        (true, None) => {
            return Err(bad(format!(
                "it lists no {} for the key pair",
                kms::PUBLIC_PEM
            )));
        }
        (true, Some(pem)) => {
            let public =
                PublicKey::from_pem(&pem).map_err(|e| bad(format!("{}: {e}", kms::PUBLIC_PEM)))?;
            if m.key.check_values.get(KcvMethod::SpkiSha256.name()) != Some(&public.fingerprint()) {
                return Err(bad(format!(
                    "{} is not the public key whose SHA-256 it records",
                    kms::PUBLIC_PEM
                )));
            }
            Some(public)
        }
    };
    Ok(Backup {
        dir: dir.to_owned(),
        label: label.clone(),
        id,
        spec,
        algorithm,
        backup_key_sha256: m.wrapping_key_sha256,
        check_values: m.key.check_values,
        wrapped,
        manifest_sha256: hex::encode(Sha256::digest(&bytes)),
        listing,
        public_key,
    })
}

impl Backup {
    /// SHA-256 (hex) of the manifest as read: the files it lists were checked against it, so a
    /// sealed record of this digest vouches for every byte restored.
    pub fn manifest_sha256(&self) -> &str {
        &self.manifest_sha256
    }

    /// SHA-256 (hex) of every file the directory held, by name.
    pub fn listing(&self) -> &BTreeMap<String, String> {
        &self.listing
    }
}

/// A key restored into the backup token.
#[derive(Debug, Serialize)]
pub struct Restored {
    /// The key label.
    pub label: KeyLabel,
    /// `CKA_ID`, hex (the same as on the first token).
    pub id: String,
    /// The kind of material.
    pub spec: KeySpec,
    /// The token it was restored into.
    pub token: String,
    /// Its serial.
    pub token_serial: String,
    /// The algorithm the backup was wrapped with.
    pub algorithm: &'static str,
    /// The check values the two tokens share, which matched.
    pub matched: BTreeMap<String, String>,
    /// The key's check value on this token, as `keys list` and `rewrap --expect-kcv` use it.
    pub kcv: String,
    /// Its method.
    pub kcv_method: String,
}

/// Restores a backup into the token: see the module documentation.
pub fn run(backup: Backup, access: &TokenAccess) -> Result<Restored, crate::Error> {
    let (_module, token) = open_logged_in(access)?;
    token.check_label_free(&backup.label)?;
    let (private, backup_key) = token.backup_private_key(&backup.backup_key_sha256)?;
    let modulus_len = backup_key.modulus_len();
    let bits = backup_key.spec().bits();
    let bounds = backup
        .algorithm
        .wrapped_len_bounds(modulus_len, backup.spec);
    let fits = bounds.is_some_and(|(min, max)| {
        (min..=max).contains(&backup.wrapped.len()) && (backup.wrapped.len() - modulus_len) % 8 == 0
    });
    if !fits {
        return Err(Error::Length {
            path: backup.dir.join(WRAPPED),
            actual: backup.wrapped.len(),
            expected: match bounds {
                Some((min, max)) if min == max => min.to_string(),
                Some((min, max)) => format!("{min} to {max}"),
                None => "impossible".to_owned(),
            },
            spec: backup.spec,
            algorithm: backup.algorithm,
            bits,
        }
        .into());
    }
    let kwp = if backup.algorithm.is_rsa_aes() {
        Some(token.select_kwp(backup.spec)?)
    } else {
        None
    };
    let handle = token.restore_backup(
        private,
        backup.algorithm,
        kwp,
        &backup.wrapped,
        modulus_len,
        &backup.label,
        &backup.id,
        backup.spec,
    )?;
    if let Some(public) = &backup.public_key {
        if let Err(e) = store_public_key(&token, handle, &backup, public) {
            token.destroy_key(handle)?;
            return Err(e);
        }
    }
    match prove(&token, handle, &backup) {
        Ok(restored) => Ok(restored),
        Err(e) => {
            token.destroy_key(handle)?;
            Err(e)
        }
    }
}

/// For a key pair: the public key the restored private key reports must be the backup's, which
/// is then stored beside it as its public key object. A token that reports none for the key (an
/// EC key: PKCS#11 has no way to ask for it without a usage the ceremony template denies)
/// proves nothing, and the key is not kept.
fn store_public_key(
    token: &Token,
    handle: ObjectHandle,
    backup: &Backup,
    public: &PublicKey,
) -> Result<(), crate::Error> {
    match token.own_public_key(handle)? {
        Some(own) if own == *public => {}
        Some(own) => {
            return Err(Error::KcvMismatch {
                method: KcvMethod::SpkiSha256.name().to_owned(),
                expected: public.fingerprint(),
                actual: own.fingerprint(),
            }
            .into());
        }
        None => {
            return Err(Error::PairUnproven {
                label: backup.label.to_string(),
                spec: backup.spec,
            }
            .into());
        }
    }
    token.create_public_key(&backup.label, &backup.id, backup.spec, public)?;
    Ok(())
}

/// Compares the restored key's check values with the backup's and checks its protections.
fn prove(token: &Token, handle: ObjectHandle, backup: &Backup) -> Result<Restored, crate::Error> {
    let (values, why) = token.check_values(handle, backup.spec.key_type())?;
    let mut matched = BTreeMap::new();
    for kcv in &values {
        if let Some(expected) = backup.check_values.get(kcv.method.name()) {
            if !expected.eq_ignore_ascii_case(&kcv.value) {
                return Err(Error::KcvMismatch {
                    method: kcv.method.name().to_owned(),
                    expected: expected.to_ascii_lowercase(),
                    actual: kcv.value.clone(),
                }
                .into());
            }
            matched.insert(kcv.method.name().to_owned(), kcv.value.clone());
        }
    }
    let Some(first) = values.first().filter(|_| !matched.is_empty()) else {
        return Err(Error::NoCommonKcv {
            token: if values.is_empty() {
                why
            } else {
                values
                    .iter()
                    .map(|k| k.method.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            backup: backup
                .check_values
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    };
    let (_, info) = token.key(&backup.label)?;
    if !info.is_ceremony_key() || !info.may_be(backup.spec) {
        return Err(Error::Unprotected {
            label: backup.label.to_string(),
        }
        .into());
    }
    let description = token.description();
    Ok(Restored {
        label: backup.label.clone(),
        id: hex::encode(&backup.id),
        spec: backup.spec,
        token: description.label.clone(),
        token_serial: description.serial.clone(),
        algorithm: backup.algorithm.name(),
        matched,
        kcv: first.value.clone(),
        kcv_method: first.method.name().to_owned(),
    })
}
