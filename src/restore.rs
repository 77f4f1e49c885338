//! `keyrite restore`: a backup made with `--provider pkcs11-backup` unwrapped inside the backup
//! token, proven to be the same material by the key check values its manifest records, and
//! recorded in a transcript sealed by the backup token's signer.
//!
//! [`load`] reads and checks the backup directory before any token is opened; [`Backup::proven`]
//! then proves where it came from, still before any token is opened; [`run`] finds the backup
//! key by its public key's fingerprint, unwraps, compares every check value the two tokens have
//! in common (and the one given out of band), and checks the restored key's protections.
//! Anything wrong after the key exists destroys it.
//!
//! The manifest is believed only as far as its provenance, which is one of two:
//! - the sealed transcript of the run that wrote it ([`crate::verify::recorded_output`], over
//!   [`Backup::manifest_sha256`] and [`Backup::listing`]), whose token line must name the
//!   source token the manifest claims;
//! - a check value given out of band (`--expect-kcv`), which the restored key must have. Anyone
//!   who chooses the key finds one with a given 3-byte check value in about 2^24 tries, so where
//!   the token computes the key's full check value (the SHA-256 of a secret key by
//!   `C_DigestKey`, a key pair's public key SHA-256), only that is accepted.
//!
//! The restore is recorded, in a new transcript sealed by the backup token's signer: the token
//! line, a `restore` line (the backup's files and their digests, the manifest's SHA-256, the
//! provenance, the source token), fsynced before the token acts, then a `restored` line (the key
//! and every check value matched) or a `failure` line, the finish line and the seal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cryptoki::object::ObjectHandle;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::hsm::keys::{Kcv, KcvMethod};
use crate::hsm::pair::PublicKey;
use crate::hsm::{NoKcv, PemKeyProblem, Token};
use crate::interrupt::Made;
use crate::json;
use crate::kms::{self, backup::WRAPPED};
use crate::spec::{ALL_KEY_SPECS, KeyLabel, KeySpec, WrappingAlgorithm};
use crate::transcript::{Entry, Transcript, entry};
use crate::verify::RecordedOutput;
use crate::wrap::{TokenAccess, open_logged_in};

/// Who writes the lines of a restore's transcript.
const OPERATOR: &str = "keyrite restore";

/// The most a backup manifest may hold.
const MAX_MANIFEST: u64 = 1 << 20;

/// What a backup directory, or an entry in it, is instead of a plain directory or file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotPlain {
    /// The directory is a symbolic link.
    #[error("it is a symbolic link, not the backup directory itself")]
    Symlink,
    /// The path is not a directory.
    #[error("it is not a directory")]
    NotDirectory,
    /// An entry is not a regular file.
    #[error("it is not a regular file (a backup holds only the files keyrite wrote)")]
    NotRegularFile,
}

/// Why a manifest is not a backup manifest keyrite wrote.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// It is not JSON.
    #[error("it is not valid JSON: {0}")]
    NotJson(#[source] json::Syntax),
    /// It names a key twice.
    #[error("it has the key {key:?} more than once")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// It is JSON but not an object.
    #[error("it is not a JSON object")]
    NotAnObject,
    /// Its fields are not a manifest's.
    #[error("it is not a keyrite manifest: {0}")]
    NotKeyrite(#[source] serde_json::Error),
    /// It records a wrap for a KMS.
    #[error("it records a wrap for {provider:?}, not a backup (--provider pkcs11-backup)")]
    NotABackup {
        /// The provider it records.
        provider: String,
    },
    /// Its algorithm is not a backup's.
    #[error("algorithm {algorithm:?} is not one a backup uses")]
    Algorithm {
        /// The algorithm, as recorded.
        algorithm: String,
    },
    /// Its key spec is unknown.
    #[error("key spec {spec:?} is not one keyrite makes")]
    KeySpec {
        /// The key spec, as recorded.
        spec: String,
    },
    /// It holds a kind of key keyrite does not back up.
    #[error(
        "it holds an {spec} key, which keyrite does not back up: a restored EC private key reports no public key, so nothing could prove it is the key backed up"
    )]
    NotBackedUp {
        /// The key spec.
        spec: KeySpec,
    },
    /// `key.id` is not hex.
    #[error("key.id is not hex")]
    IdNotHex,
    /// It records no check value.
    #[error("it records no check values for the key")]
    NoCheckValues,
    /// A check value of the wrong form.
    #[error(
        "a check value is not six hex digits (for a key pair: the 64 of its public key's SHA-256)"
    )]
    CheckValue,
    /// It names a file outside the backup directory.
    #[error("it names a file {name:?} outside the backup")]
    Outside {
        /// The name.
        name: String,
    },
    /// It lists no wrapped key.
    #[error("it lists no {WRAPPED}")]
    NoWrapped,
    /// It lists no public key for a key pair.
    #[error("it lists no {} for the key pair", kms::PUBLIC_PEM)]
    NoPublicPem,
    /// Its public key file holds no public key.
    #[error("{}: {source}", kms::PUBLIC_PEM)]
    PublicPem {
        /// Why not.
        #[source]
        source: PemKeyProblem,
    },
    /// Its public key file is not the key whose fingerprint it records.
    #[error("{} is not the public key whose SHA-256 it records", kms::PUBLIC_PEM)]
    PublicPemNotRecorded,
}

/// Why a backup was refused or not restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sealed record of the run that made the backup could not be verified (boxed: it is
    /// large).
    #[error(transparent)]
    Verify(Box<crate::verify::Error>),
    /// A file of the backup could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file of the backup is larger than any file a backup holds.
    #[error("cannot read {}: it is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The most it may hold.
        limit: u64,
    },
    /// The backup directory is not a plain directory of regular files.
    #[error("{}: {what}", path.display())]
    NotPlain {
        /// The directory, or the entry in it.
        path: PathBuf,
        /// What it is instead.
        what: NotPlain,
    },
    /// The manifest is not a backup manifest keyrite wrote.
    #[error("{}: {problem}", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        #[source]
        problem: ManifestProblem,
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
    /// The sealed record names another source token than the manifest claims.
    #[error(
        "the backup's manifest claims source token {:?} (serial {}), but the token line of {} records token {:?} (serial {})",
        claimed.label, claimed.serial, transcript.display(), recorded.label, recorded.serial
    )]
    OtherSource {
        /// The transcript.
        transcript: PathBuf,
        /// The source token the manifest claims.
        claimed: Box<Source>,
        /// The token the transcript records.
        recorded: Box<Source>,
    },
    /// A 3-byte check value was given where a full one is needed.
    #[error(
        "--expect-kcv {value} is a 3-byte check value, which anyone who chooses the key matches in about 2^24 tries (seconds); {}, so only that proves the key, and nothing was left on the token",
        if *pair { "a key pair's full check value is its public key's SHA-256 (spki-sha256)" } else { "this token computes the key's full check value, the SHA-256 of its value by C_DigestKey" }
    )]
    ShortExpectedKcv {
        /// The value given.
        value: String,
        /// Whether the key is a key pair.
        pair: bool,
    },
    /// The full check value given cannot be compared: the token computes none.
    #[error(
        "--expect-kcv gives a full SHA-256 check value, but this token computes none for the restored key ({why}), so it was destroyed"
    )]
    NoFullCheckValue {
        /// Why the token gives none.
        why: NoKcv,
    },
    /// The restored key does not have the check value given out of band.
    #[error(
        "the restored key's {method} check value is {actual}, not the {expected} given with --expect-kcv: it is not the key expected, so it was destroyed"
    )]
    ExpectedKcvMismatch {
        /// The method compared.
        method: String,
        /// The value given.
        expected: String,
        /// The value the token gives (for a 3-byte value given: every one it gives).
        actual: String,
    },
    /// The backup token could not be opened or logged in to.
    #[error(transparent)]
    Open(#[from] crate::wrap::Error),
    /// The backup token refused or failed.
    #[error(transparent)]
    Hsm(#[from] crate::hsm::Error),
    /// The restore could not be recorded.
    #[error(transparent)]
    Transcript(#[from] crate::transcript::Error),
    /// The token line could not be recorded.
    #[error(transparent)]
    TokenLine(#[from] crate::ceremony::Error),
    /// The restored key lacks a ceremony key's protections.
    #[error(
        "the restored key {label:?} is not protected as a ceremony key on this token (sensitive, extractable only by wrapping, of no other use, not modifiable), so it was destroyed"
    )]
    Unprotected {
        /// The key label.
        label: String,
    },
}

impl Error {
    /// Whether this is a usage error (exit 2): the backup directory or a file in it cannot be
    /// read, or the restore's own inputs (its record, the token, the PIN source) cannot be used.
    /// A backup that does not hold up (not a plain directory of regular files, its manifest, its
    /// files, its check values) is not: the check said no.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Verify(e) => e.is_usage(),
            Error::Open(e) => e.is_usage(),
            Error::Hsm(e) => e.is_usage(),
            Error::Transcript(e) => e.is_usage(),
            Error::TokenLine(e) => e.is_usage(),
            Error::Read { .. } | Error::TooLarge { .. } => true,
            Error::NotPlain { .. }
            | Error::Manifest { .. }
            | Error::OtherKey { .. }
            | Error::Digest { .. }
            | Error::Length { .. }
            | Error::NoCommonKcv { .. }
            | Error::KcvMismatch { .. }
            | Error::PairUnproven { .. }
            | Error::OtherSource { .. }
            | Error::ShortExpectedKcv { .. }
            | Error::NoFullCheckValue { .. }
            | Error::ExpectedKcvMismatch { .. }
            | Error::Unprotected { .. } => false,
        }
    }
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
    token: Source,
    key: ManifestKey,
    files: BTreeMap<String, String>,
}

/// The token a backup came from, as its manifest claims it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Source {
    /// The token label.
    pub label: String,
    /// Its serial.
    pub serial: String,
}

/// A check value given out of band (`--expect-kcv`): six hex digits (a 3-byte KCV) or 64 (a
/// full check value: the SHA-256 of a secret key by `C_DigestKey`, a key pair's public key
/// SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedKcv {
    /// A 3-byte check value, lowercase.
    Short(String),
    /// A full check value, lowercase.
    Full(String),
}

impl ExpectedKcv {
    /// The value, lowercase hex.
    pub fn value(&self) -> &str {
        match self {
            ExpectedKcv::Short(v) | ExpectedKcv::Full(v) => v,
        }
    }
}

impl Serialize for ExpectedKcv {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.value())
    }
}

/// A value given as a check value that is neither 6 nor 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a check value: give the 64 hex digits of the key's full check value (or, where the token computes none, the 6 of its KCV)"
)]
pub struct NotACheckValue;

impl std::str::FromStr for ExpectedKcv {
    type Err = NotACheckValue;

    fn from_str(s: &str) -> Result<Self, NotACheckValue> {
        let hex = s.bytes().all(|b| b.is_ascii_hexdigit());
        match s.len() {
            6 if hex => Ok(ExpectedKcv::Short(s.to_ascii_lowercase())),
            64 if hex => Ok(ExpectedKcv::Full(s.to_ascii_lowercase())),
            _ => Err(NotACheckValue),
        }
    }
}

/// What proves where a backup came from, as asked for.
#[derive(Debug, Clone)]
pub enum Proof {
    /// The sealed transcript of the run that wrote it, and the public key (PEM) of the signer
    /// the restorer trusts.
    Recorded {
        /// The transcript.
        transcript: PathBuf,
        /// The signer's public key.
        signer: PathBuf,
    },
    /// A check value given out of band.
    Expected(ExpectedKcv),
}

/// What proved where a backup came from, before any token was opened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Provenance {
    /// The sealed transcript of the run that wrote it, whose token line is the source token the
    /// manifest claims.
    Transcript(RecordedOutput),
    /// A check value given out of band, which the restored key must have.
    ExpectedKcv {
        /// The value.
        value: ExpectedKcv,
    },
}

/// Where the restore is recorded: a new transcript, sealed by this token's signer.
#[derive(Debug, Clone)]
pub struct RecordTo {
    /// The transcript to create.
    pub path: PathBuf,
    /// The label of the backup token's signer.
    pub signer_label: KeyLabel,
}

/// A backup directory, read and checked.
#[derive(Debug)]
pub struct Backup {
    dir: PathBuf,
    source: Source,
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
    let fail = |source: std::io::Error| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// The SHA-256 (hex) of every file in `dir`, by name. `dir` must be a directory itself, not a
/// symbolic link to one, and hold only regular files: nothing is opened that could block (a
/// FIFO) or lead elsewhere (a symbolic link).
fn list(dir: &Path) -> Result<BTreeMap<String, String>, Error> {
    let not_plain = |path: &Path, what: NotPlain| Error::NotPlain {
        path: path.to_owned(),
        what,
    };
    let cannot = |source: std::io::Error| Error::Read {
        path: dir.to_owned(),
        source,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(cannot)?;
    if meta.file_type().is_symlink() {
        return Err(not_plain(dir, NotPlain::Symlink));
    }
    if !meta.is_dir() {
        return Err(not_plain(dir, NotPlain::NotDirectory));
    }
    let mut listing = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let path = entry.path();
        if !entry.file_type().map_err(cannot)?.is_file() {
            return Err(not_plain(&path, NotPlain::NotRegularFile));
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
    let manifest = dir.join("manifest.json");
    let (m, bytes) = read_manifest(&manifest)?;
    if m.key.label != label.as_str() {
        return Err(Error::OtherKey {
            asked: label.to_string(),
            holds: m.key.label,
        });
    }
    let (algorithm, spec) = algorithm_and_spec(&manifest, &m)?;
    let id = check_key(&manifest, &m.key, spec)?;
    let (wrapped, public_pem) = read_files(dir, &manifest, &m.files)?;
    let public_key = public_key(&manifest, spec, public_pem, &m.key.check_values)?;
    Ok(Backup {
        dir: dir.to_owned(),
        source: m.token,
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

/// The manifest at `path` is not a backup manifest keyrite wrote: `problem`.
fn bad(path: &Path, problem: ManifestProblem) -> Error {
    Error::Manifest {
        path: path.to_owned(),
        problem,
    }
}

/// The manifest at `path`, parsed strictly, a backup's, with its bytes.
fn read_manifest(path: &Path) -> Result<(BackupManifest, Vec<u8>), Error> {
    let bytes = read(path, MAX_MANIFEST)?;
    let map = json::parse_json_object(&bytes).map_err(|e| {
        bad(
            path,
            match e {
                json::Error::Syntax { source } => ManifestProblem::NotJson(source),
                json::Error::DuplicateKey { key } => ManifestProblem::DuplicateKey { key },
                _ => ManifestProblem::NotAnObject,
            },
        )
    })?;
    let m: BackupManifest = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| bad(path, ManifestProblem::NotKeyrite(e)))?;
    if m.provider != kms::Provider::Pkcs11Backup.name() {
        return Err(bad(
            path,
            ManifestProblem::NotABackup {
                provider: m.provider,
            },
        ));
    }
    Ok((m, bytes))
}

/// The manifest's algorithm and key kind, each one a backup is made with.
fn algorithm_and_spec(
    path: &Path,
    m: &BackupManifest,
) -> Result<(WrappingAlgorithm, KeySpec), Error> {
    let algorithm: WrappingAlgorithm = m
        .algorithm
        .parse()
        .ok()
        .filter(|a| kms::Provider::Pkcs11Backup.algorithms().contains(a))
        .ok_or_else(|| {
            bad(
                path,
                ManifestProblem::Algorithm {
                    algorithm: m.algorithm.clone(),
                },
            )
        })?;
    let spec = ALL_KEY_SPECS
        .into_iter()
        .find(|s| s.name() == m.key.spec)
        .ok_or_else(|| {
            bad(
                path,
                ManifestProblem::KeySpec {
                    spec: m.key.spec.clone(),
                },
            )
        })?;
    if !kms::Provider::Pkcs11Backup.key_specs().contains(&spec) {
        return Err(bad(path, ManifestProblem::NotBackedUp { spec }));
    }
    Ok((algorithm, spec))
}

/// The key's `CKA_ID` (hex in the manifest), once its check values are those of a `spec` key:
/// a key pair's public key SHA-256 (64 hex digits), a secret key's 3-byte KCVs.
fn check_key(path: &Path, key: &ManifestKey, spec: KeySpec) -> Result<Vec<u8>, Error> {
    let id = hex::decode(&key.id).map_err(|_| bad(path, ManifestProblem::IdNotHex))?;
    if key.check_values.is_empty() {
        return Err(bad(path, ManifestProblem::NoCheckValues));
    }
    let is_hex = |v: &str, len| v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit());
    let check_values_ok = key.check_values.iter().all(|(method, v)| {
        if method == KcvMethod::SpkiSha256.name() {
            spec.is_asymmetric() && is_hex(v, 64)
        } else {
            !spec.is_asymmetric() && is_hex(v, 6)
        }
    });
    if !check_values_ok {
        return Err(bad(path, ManifestProblem::CheckValue));
    }
    Ok(id)
}

/// Reads every file the manifest lists, in the directory, each matching its digest: the
/// wrapped key, and the public key if there is one.
fn read_files(
    dir: &Path,
    manifest: &Path,
    files: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
    let mut wrapped = None;
    let mut public_pem = None;
    for (name, digest) in files {
        if name.contains('/') || name == "manifest.json" {
            return Err(bad(
                manifest,
                ManifestProblem::Outside { name: name.clone() },
            ));
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
    let wrapped = wrapped.ok_or_else(|| bad(manifest, ManifestProblem::NoWrapped))?;
    Ok((wrapped, public_pem))
}

/// For a key pair, its public key from `public.pem`, whose fingerprint the manifest records.
fn public_key(
    manifest: &Path,
    spec: KeySpec,
    public_pem: Option<Vec<u8>>,
    check_values: &BTreeMap<String, String>,
) -> Result<Option<PublicKey>, Error> {
    match (spec.is_asymmetric(), public_pem) {
        (false, _) => Ok(None),
        (true, None) => Err(bad(manifest, ManifestProblem::NoPublicPem)),
        (true, Some(pem)) => {
            let public = PublicKey::from_pem(&pem)
                .map_err(|e| bad(manifest, ManifestProblem::PublicPem { source: e }))?;
            if check_values.get(KcvMethod::SpkiSha256.name()) != Some(&public.fingerprint()) {
                return Err(bad(manifest, ManifestProblem::PublicPemNotRecorded));
            }
            Ok(Some(public))
        }
    }
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

    /// The token the backup came from, as the manifest claims it.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Proves where the backup came from, before any token is opened: with the sealed
    /// transcript, the directory must be an output it records and its token line the source
    /// token the manifest claims; with a check value given out of band, a key pair (whose full
    /// check value, its public key's SHA-256, is always known) needs the full value.
    pub fn proven(self, proof: Proof) -> Result<Proven, Error> {
        let provenance = match proof {
            Proof::Recorded { transcript, signer } => {
                let recorded = crate::verify::recorded_output(
                    &transcript,
                    &signer,
                    &self.dir,
                    &self.manifest_sha256,
                    &self.listing,
                )
                .map_err(|e| Error::Verify(Box::new(e)))?;
                if recorded.token_serial != self.source.serial
                    || recorded.token_label != self.source.label
                {
                    return Err(Error::OtherSource {
                        transcript,
                        claimed: Box::new(self.source.clone()),
                        recorded: Box::new(Source {
                            label: recorded.token_label,
                            serial: recorded.token_serial,
                        }),
                    });
                }
                Provenance::Transcript(recorded)
            }
            Proof::Expected(ExpectedKcv::Short(value)) if self.spec.is_asymmetric() => {
                return Err(Error::ShortExpectedKcv { value, pair: true });
            }
            Proof::Expected(value) => Provenance::ExpectedKcv { value },
        };
        Ok(Proven {
            backup: self,
            provenance,
        })
    }
}

/// A backup whose provenance was proven: the only kind [`run`] restores.
#[derive(Debug)]
pub struct Proven {
    backup: Backup,
    provenance: Provenance,
}

impl Proven {
    /// The check value given out of band, if that is the provenance.
    fn expected(&self) -> Option<&ExpectedKcv> {
        match &self.provenance {
            Provenance::ExpectedKcv { value } => Some(value),
            Provenance::Transcript(_) => None,
        }
    }

    /// The `restore` line: the backup as read, and what proved it.
    fn entry(&self) -> Entry {
        let b = &self.backup;
        Entry::Restore(entry::RestoreData {
            backup: b.dir.display().to_string(),
            key_label: b.label.as_str().to_owned(),
            files: b.listing.clone(),
            manifest_sha256: b.manifest_sha256.clone(),
            source: entry::Source {
                label: b.source.label.clone(),
                serial: b.source.serial.clone(),
            },
            algorithm: b.algorithm.name().to_owned(),
            backup_key_sha256: b.backup_key_sha256.clone(),
            provenance: match &self.provenance {
                Provenance::Transcript(r) => {
                    entry::Provenance::Transcript(entry::RecordedTranscript {
                        transcript: r.transcript.display().to_string(),
                        sha256: r.sha256.clone(),
                        chain_head: r.chain_head.clone(),
                        signer_fingerprint: r.signer_fingerprint.clone(),
                        token_label: r.token_label.clone(),
                        token_serial: r.token_serial.clone(),
                    })
                }
                Provenance::ExpectedKcv { value } => entry::Provenance::ExpectedKcv {
                    value: value.value().to_owned(),
                },
            },
        })
    }
}

/// A key restored into the backup token.
#[derive(Debug, Clone, Serialize)]
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
    /// The key's full check value on this token: for a secret key the SHA-256 of its value by
    /// `C_DigestKey`, for a key pair its public key's SHA-256; `None` where the token computes
    /// none.
    pub check_sha256: Option<String>,
    /// The check value given with `--expect-kcv`, which the key has, if one was.
    pub expected: Option<String>,
    /// The token the backup came from, as the manifest claims it (with a transcript: as its
    /// token line records it too).
    pub source: Source,
    /// What proved where the backup came from.
    pub provenance: Provenance,
    /// The sealed transcript of this restore.
    pub record: PathBuf,
    /// The key's check value on this token, as `keys list` and `rewrap --expect-kcv` use it.
    pub kcv: String,
    /// Its method.
    pub kcv_method: String,
}

/// Reads the backup directory `dir` holding the key labelled `label` ([`load`]), proves where
/// it came from ([`Backup::proven`]), both before any token is opened, then restores it and
/// records the restore ([`run`]).
pub fn restore(
    dir: &Path,
    label: &KeyLabel,
    proof: Proof,
    access: &TokenAccess,
    record: &RecordTo,
) -> Result<Restored, Error> {
    let proven = load(dir, label)?.proven(proof)?;
    run(proven, access, record)
}

/// Restores a proven backup into the token and records it: see the module documentation. A
/// restore that fails is recorded as failed, and leaves the token as it was.
pub fn run(proven: Proven, access: &TokenAccess, record: &RecordTo) -> Result<Restored, Error> {
    if std::fs::symlink_metadata(&record.path).is_ok() {
        return Err(crate::transcript::Error::Exists {
            path: record.path.clone(),
        }
        .into());
    }
    let (module, token) = open_logged_in(access)?;
    let signer_fp = token
        .signer_public_key(&record.signer_label)?
        .fingerprint()?;
    token.check_label_free(&proven.backup.label)?;
    let mut t = Transcript::create(&record.path)?;
    crate::ceremony::token_line(
        &mut t,
        &token,
        &module,
        OPERATOR,
        &record.signer_label,
        &signer_fp,
    )?;
    // Durable before the token acts.
    t.append(OPERATOR, &proven.entry())?;
    let result = unwrap_proven(&token, &proven, &record.path);
    let recorded = record_outcome(&mut t, &result);
    let sealed = recorded.map_err(Error::from).and_then(|()| {
        let signature = token.sign_digest(&record.signer_label, &signer_fp, &t.head())?;
        Ok(t.seal(&signer_fp, &signature)?)
    });
    match (result, sealed) {
        (Ok((_, restored)), Ok(_)) => Ok(restored),
        // A restore its record does not seal is not kept.
        (Ok((handle, _)), Err(e)) => {
            token.discard_key(handle, &proven.backup.label, Made::Restored)?;
            Err(e)
        }
        (Err(e), _) => Err(e),
    }
}

/// Records how the unwrap ended: the `restored` and `finish` lines, or the `failure` and
/// `finish` lines.
fn record_outcome(
    t: &mut Transcript,
    result: &Result<(ObjectHandle, Restored), Error>,
) -> Result<(), crate::transcript::Error> {
    match result {
        Ok((_, restored)) => t
            .append_unsynced(
                OPERATOR,
                &Entry::Restored(entry::RestoredData {
                    key: entry::RestoredKey {
                        label: restored.label.as_str().to_owned(),
                        id: restored.id.clone(),
                        spec: restored.spec.name().to_owned(),
                        kcv: restored.kcv.clone(),
                        kcv_method: restored.kcv_method.clone(),
                    },
                    matched: restored.matched.clone(),
                    check_sha256: restored.check_sha256.clone(),
                    expected: restored.expected.clone(),
                }),
            )
            .and_then(|()| {
                t.append(
                    OPERATOR,
                    &Entry::Finish(entry::FinishData {
                        outcome: "completed".to_owned(),
                        failure: None,
                        keys: vec![entry::Settled {
                            label: restored.label.as_str().to_owned(),
                            kcv: Some(restored.kcv.clone()),
                            fate: "restored".to_owned(),
                        }],
                    }),
                )
            }),
        Err(e) => t
            .append(
                OPERATOR,
                &Entry::Failure(entry::FailureData {
                    index: None,
                    action: "restore".to_owned(),
                    error: e.to_string(),
                }),
            )
            .and_then(|()| {
                t.append(
                    OPERATOR,
                    &Entry::Finish(entry::FinishData {
                        outcome: "failed".to_owned(),
                        failure: Some(entry::FinishFailure {
                            step: None,
                            error: e.to_string(),
                        }),
                        keys: vec![],
                    }),
                )
            }),
    }
}

/// Unwraps the backup inside the token and proves the key: the key's handle and what was
/// restored. Anything wrong after the key exists destroys it.
fn unwrap_proven(
    token: &Token,
    proven: &Proven,
    record: &Path,
) -> Result<(ObjectHandle, Restored), Error> {
    let backup = &proven.backup;
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
        });
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
        if let Err(e) = store_public_key(token, handle, backup, public) {
            token.discard_key(handle, &backup.label, Made::Restored)?;
            return Err(e);
        }
    }
    match prove(token, handle, proven, record) {
        Ok(restored) => Ok((handle, restored)),
        Err(e) => {
            token.discard_key(handle, &backup.label, Made::Restored)?;
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
) -> Result<(), Error> {
    match token.own_public_key(handle)? {
        Some(own) if own == *public => {}
        Some(own) => {
            return Err(Error::KcvMismatch {
                method: KcvMethod::SpkiSha256.name().to_owned(),
                expected: public.fingerprint(),
                actual: own.fingerprint(),
            });
        }
        None => {
            return Err(Error::PairUnproven {
                label: backup.label.to_string(),
                spec: backup.spec,
            });
        }
    }
    token.create_public_key(&backup.label, &backup.id, backup.spec, public)?;
    Ok(())
}

/// Compares the restored key's check values with the backup's and with the one given out of
/// band, and checks its protections.
fn prove(
    token: &Token,
    handle: ObjectHandle,
    proven: &Proven,
    record: &Path,
) -> Result<Restored, Error> {
    let backup = &proven.backup;
    let given = token.check_values(handle, backup.spec.key_type())?;
    let values: &[Kcv] = given.as_deref().unwrap_or_default();
    let (matched, first) = match_backup(backup, &given)?;
    let check_sha256 = full_check_value(token, handle, backup)?;
    let expected = proven.expected();
    check_expected(backup, expected, &check_sha256, values)?;
    let (_, info) = token.key(&backup.label)?;
    if !info.is_ceremony_key() || !info.may_be(backup.spec) {
        return Err(Error::Unprotected {
            label: backup.label.to_string(),
        });
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
        check_sha256: check_sha256.ok(),
        expected: expected.map(|e| e.value().to_owned()),
        source: backup.source.clone(),
        provenance: proven.provenance.clone(),
        record: record.to_owned(),
        kcv: first.value.clone(),
        kcv_method: first.method.name().to_owned(),
    })
}

/// Every check value the token `given` for the restored key that the backup records too must
/// be the one recorded, and there must be one: those matched, and the token's first.
fn match_backup<'a>(
    backup: &Backup,
    given: &'a Result<Vec<Kcv>, NoKcv>,
) -> Result<(BTreeMap<String, String>, &'a Kcv), Error> {
    let values: &[Kcv] = given.as_deref().unwrap_or_default();
    let mut matched = BTreeMap::new();
    for kcv in values {
        if let Some(expected) = backup.check_values.get(kcv.method.name()) {
            if !expected.eq_ignore_ascii_case(&kcv.value) {
                return Err(Error::KcvMismatch {
                    method: kcv.method.name().to_owned(),
                    expected: expected.to_ascii_lowercase(),
                    actual: kcv.value.clone(),
                });
            }
            matched.insert(kcv.method.name().to_owned(), kcv.value.clone());
        }
    }
    let Some(first) = values.first().filter(|_| !matched.is_empty()) else {
        return Err(Error::NoCommonKcv {
            token: match given {
                Err(why) => why.to_string(),
                Ok(values) => values
                    .iter()
                    .map(|k| k.method.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            backup: backup
                .check_values
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    Ok((matched, first))
}

/// The restored key's full check value on this token (a key pair's public key SHA-256, a
/// secret key's SHA-256 by `C_DigestKey`), or why the token gives none.
fn full_check_value(
    token: &Token,
    handle: ObjectHandle,
    backup: &Backup,
) -> Result<Result<String, NoKcv>, Error> {
    if !backup.spec.is_asymmetric() {
        return Ok(token.full_check_value(handle));
    }
    match token.public_key_of(handle) {
        Ok(public) => Ok(Ok(public.fingerprint())),
        Err(crate::hsm::Error::PublicKey { problem, .. }) => Ok(Err(NoKcv::PublicKey(problem))),
        Err(e) => Err(e.into()),
    }
}

/// The restored key has the check value given out of band, if one was: a full one where the
/// token computes it (a 3-byte one is refused there), else one of its 3-byte KCVs `values`.
fn check_expected(
    backup: &Backup,
    expected: Option<&ExpectedKcv>,
    check_sha256: &Result<String, NoKcv>,
    values: &[Kcv],
) -> Result<(), Error> {
    match (expected, check_sha256) {
        (None, _) => Ok(()),
        (Some(ExpectedKcv::Full(value)), Ok(actual)) if value == actual => Ok(()),
        (Some(ExpectedKcv::Full(value)), Ok(actual)) => Err(Error::ExpectedKcvMismatch {
            method: if backup.spec.is_asymmetric() {
                KcvMethod::SpkiSha256.name().to_owned()
            } else {
                "full SHA-256 (C_DigestKey)".to_owned()
            },
            expected: value.clone(),
            actual: actual.clone(),
        }),
        (Some(ExpectedKcv::Full(_)), Err(why)) => Err(Error::NoFullCheckValue { why: why.clone() }),
        (Some(ExpectedKcv::Short(value)), Ok(_)) => Err(Error::ShortExpectedKcv {
            value: value.clone(),
            pair: false,
        }),
        (Some(ExpectedKcv::Short(value)), Err(_)) if !values.iter().any(|k| k.value == *value) => {
            Err(Error::ExpectedKcvMismatch {
                method: "3-byte".to_owned(),
                expected: value.clone(),
                actual: values
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
        (Some(ExpectedKcv::Short(_)), Err(_)) => Ok(()),
    }
}
