//! Cloud HSM key attestations: proof, signed by the HSM and certified up to roots keyrite pins,
//! that a KMS's wrapping key was made in an HSM and can never leave it. keyrite checks it before
//! it wraps anything under the key, and records it so `verify` can check it again offline.
//!
//! Google Cloud KMS attests an HSM import job's key (`attestation` in `gcloud kms import-jobs
//! describe --format=json`), Azure Managed HSM a key exchange key (`az keyvault key
//! get-attestation`). Both are Marvell LiquidSecurity attestations ([`marvell`]) signed by the
//! HSM partition's key, which two chains certify: Marvell's (root → card → partition) and the
//! cloud's own (Google's owner card and partition certificates, or Microsoft's partition
//! certificate), whose keys must be the very card and partition keys Marvell certified.
//!
//! The attested object must be the job's or the key exchange key's private key, and one that
//! was generated in the HSM (`CKA_LOCAL`), was never extractable, always sensitive, and unwraps;
//! its public key must be the wrapping key keyrite is about to use.
//!
//! It imports nothing of keyrite but `crate::input` (the roots file's size limit),
//! [`crate::json`] (the attestation JSON) and [`crate::spec::WrappingKey`].

pub mod chain;
pub mod marvell;
pub mod roots;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use chain::ChainError;
pub use marvell::ParseError;
pub use roots::{Role, Root, Roots, RootsError, RootsFileText, Trust};

/// Where an attestation comes from, and so how its chains are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A Google Cloud KMS import job of protection level HSM.
    #[serde(rename = "google-import-job")]
    GoogleImportJob,
    /// An Azure Managed HSM key.
    #[serde(rename = "azure-managed-hsm-key")]
    AzureManagedHsmKey,
}

impl Source {
    /// For people.
    pub fn display_name(self) -> &'static str {
        match self {
            Source::GoogleImportJob => "Google Cloud HSM (import job attestation)",
            Source::AzureManagedHsmKey => "Azure Managed HSM (key attestation)",
        }
    }
}

/// The attestation as the KMS handed it out, all keyrite needs to check it again: the transcript
/// keeps it whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Where it comes from.
    pub source: Source,
    /// Its format as the KMS names it (`CAVIUM_V2_COMPRESSED`, `MRVL-1`).
    pub format: String,
    /// The signed blob(s), base64, exactly as the KMS gave them (Google's gzipped).
    pub blobs: Vec<String>,
    /// The certificate chains, PEM, leaf first, by the KMS's name for them.
    pub chains: BTreeMap<String, Vec<String>>,
}

/// What the KMS's parameters offer: an attestation to check, or none, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// An attestation.
    Evidence(Box<Evidence>),
    /// None.
    None {
        /// Why, in the KMS's terms.
        reason: String,
    },
}

impl Offered {
    /// None, for `reason`.
    pub fn none(reason: impl Into<String>) -> Self {
        Offered::None {
            reason: reason.into(),
        }
    }
}

/// A string member of a JSON object, or a refusal naming it.
fn json_string<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    path: &str,
    field: &str,
    of: Source,
) -> Result<&'a str, Refusal> {
    object
        .get(field)
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| Refusal::Shape {
            of,
            problem: format!("{path}.{field} is missing or not a string"),
        })
}

impl Evidence {
    /// A Google import job's attestation, from the job as `gcloud kms import-jobs describe
    /// --format=json` prints it (`attestation {format, content, certChains}`).
    pub fn from_google_job(
        job: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Offered, Refusal> {
        let of = Source::GoogleImportJob;
        let level = job
            .get("protectionLevel")
            .and_then(serde_json::Value::as_str);
        let Some(attestation) = job.get("attestation").filter(|v| !v.is_null()) else {
            return Ok(Offered::none(match level {
                Some("HSM") => {
                    "the import job's protection level is HSM, but it carries no attestation: \
                     describe the job again (gcloud kms import-jobs describe --format=json) for one"
                        .to_owned()
                }
                Some(level) => format!(
                    "the import job's protection level is {level}: Google attests the wrapping keys of HSM import jobs only"
                ),
                None => {
                    "the import job carries no attestation (and no protection level)".to_owned()
                }
            }));
        };
        if level != Some("HSM") {
            return Err(Refusal::Shape {
                of,
                problem: format!(
                    "it carries an attestation, but its protection level is {}, not HSM",
                    level.unwrap_or("absent")
                ),
            });
        }
        let shape = |problem: &str| Refusal::Shape {
            of,
            problem: problem.to_owned(),
        };
        let attestation = attestation
            .as_object()
            .ok_or_else(|| shape("attestation is not an object"))?;
        let format = json_string(attestation, "attestation", "format", of)?;
        let content = json_string(attestation, "attestation", "content", of)?;
        let chains = attestation
            .get("certChains")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| shape("attestation.certChains is missing or not an object"))?
            .iter()
            .map(|(name, list)| {
                let pems = list
                    .as_array()
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|pem| pem.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| {
                        shape(&format!(
                            "attestation.certChains.{name} is not a list of PEM strings"
                        ))
                    })?;
                Ok((name.clone(), pems))
            })
            .collect::<Result<_, Refusal>>()?;
        Ok(Offered::Evidence(Box::new(Evidence {
            source: of,
            format: format.to_owned(),
            blobs: vec![content.to_owned()],
            chains,
        })))
    }

    /// An Azure Managed HSM key's attestation, from what `az keyvault key get-attestation`
    /// prints (`attributes.attestation {certificatePemFile, privateKeyAttestation,
    /// publicKeyAttestation, version}`, base64url), with the key's `kid` where it names one.
    pub fn from_azure(bytes: &[u8]) -> Result<(Evidence, Option<String>), Refusal> {
        let of = Source::AzureManagedHsmKey;
        let shape = |problem: String| Refusal::Shape { of, problem };
        let root = crate::json::parse_json_object(bytes).map_err(|e| shape(e.to_string()))?;
        let kid = crate::json::value_at(&root, "key.kid")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let (path, attestation) = [
            (
                "attributes.attestation",
                crate::json::value_at(&root, "attributes.attestation"),
            ),
            ("attestation", crate::json::value_at(&root, "attestation")),
        ]
        .into_iter()
        .find_map(|(path, v)| v.map(|v| (path, v)))
        .ok_or_else(|| shape("it has no attributes.attestation".into()))?;
        let attestation = attestation
            .as_object()
            .ok_or_else(|| shape(format!("{path} is not an object")))?;
        let format = json_string(attestation, path, "version", of)?;
        let pem_field = json_string(attestation, path, "certificatePemFile", of)?;
        let pem = if pem_field.trim_start().starts_with("-----BEGIN") {
            pem_field.to_owned()
        } else {
            base64_bytes(pem_field)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    shape(format!(
                        "{path}.certificatePemFile is not base64url PEM text"
                    ))
                })?
        };
        let mut blobs =
            vec![json_string(attestation, path, "privateKeyAttestation", of)?.to_owned()];
        if let Some(public) = attestation
            .get("publicKeyAttestation")
            .filter(|v| !v.is_null())
        {
            blobs.push(
                public
                    .as_str()
                    .ok_or_else(|| shape(format!("{path}.publicKeyAttestation is not a string")))?
                    .to_owned(),
            );
        }
        let evidence = Evidence {
            source: of,
            format: format.to_owned(),
            blobs,
            chains: BTreeMap::from([(AZURE_CERTS.to_owned(), vec![pem])]),
        };
        Ok((evidence, kid))
    }
}

/// A chain as the record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainRecord {
    /// What it certifies, and the KMS's name for the list it came in (`Marvell card and
    /// partition (caviumCerts)`).
    pub name: String,
    /// Its certificates, leaf first, without the root.
    pub certificates: Vec<CertRecord>,
    /// The root it ends in.
    pub root: RootRecord,
}

/// A certificate as the record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertRecord {
    /// Its subject.
    pub subject: String,
    /// SHA-256 (hex) of its DER.
    pub sha256: String,
}

/// A root as the record names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootRecord {
    /// Its role.
    pub role: Role,
    /// Its name.
    pub name: String,
    /// SHA-256 (hex) of its SubjectPublicKeyInfo DER.
    pub spki_sha256: String,
    /// Why keyrite trusts it.
    pub trust: Trust,
}

/// An attestation that holds: what it proves, for the manifest and the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attested {
    /// Where it comes from.
    pub source: Source,
    /// Its format.
    pub format: String,
    /// The chains, each checked to its root.
    pub chains: Vec<ChainRecord>,
    /// SHA-256 (hex) of the partition key's SubjectPublicKeyInfo, which signed the blob.
    pub partition_key_sha256: String,
    /// The attested private key's handle in the partition.
    pub handle: u32,
    /// The attested private key's attributes, by PKCS#11 name (hex for bytes, `true`/`false`
    /// for flags; an attribute keyrite has no name for by its type in hex).
    pub attributes: BTreeMap<String, String>,
    /// SHA-256 (hex) of the attested public key's SubjectPublicKeyInfo: the wrapping key's.
    pub wrapping_key_sha256: String,
}

/// What the manifest and the transcript say of a wrapping key's attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", deny_unknown_fields)]
pub enum Record {
    /// Checked, and it holds.
    #[serde(rename = "attested")]
    Attested(Box<Attested>),
    /// There is none to check.
    #[serde(rename = "not attested")]
    NotAttested {
        /// Why, in the KMS's terms.
        reason: String,
    },
}

impl Record {
    /// Whether the key is attested.
    pub fn is_attested(&self) -> bool {
        matches!(self, Record::Attested(_))
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        match self {
            Record::Attested(a) => format!(
                "attested by {}: a key made in the HSM that never leaves it (handle {:#x}); {}",
                a.source.display_name(),
                a.handle,
                a.chains
                    .iter()
                    .map(|c| {
                        let trust = match c.root.trust {
                            Trust::Pinned => String::new(),
                            other => format!(" ({})", other.describe()),
                        };
                        format!("{} to {}{trust}", c.name, c.root.name)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Record::NotAttested { reason } => format!("not attested: {reason}"),
        }
    }
}

/// Why an attestation does not hold: each names the link that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A blob is not base64.
    #[error("the attestation's {what} is not base64")]
    Base64 {
        /// Which.
        what: &'static str,
    },
    /// A blob does not parse.
    #[error("the attestation's {what} does not parse: {problem}")]
    Blob {
        /// Which.
        what: &'static str,
        /// Why.
        problem: ParseError,
    },
    /// A format keyrite does not read.
    #[error(
        "the attestation's format is {0:?}; keyrite reads CAVIUM_V2_COMPRESSED (Google) and MRVL-1 (Azure)"
    )]
    Format(String),
    /// The attestation is not laid out as its source gives it.
    #[error("the attestation is not as {} gives it: {problem}", .of.display_name())]
    Shape {
        /// Its source.
        of: Source,
        /// What is wrong.
        problem: String,
    },
    /// A list of certificates the source must have is missing.
    #[error("the attestation has no {0} certificates")]
    MissingChain(&'static str),
    /// A list of certificates the source does not have.
    #[error("the attestation has {0} certificates, which its source does not give")]
    UnknownChain(String),
    /// The certificates do not hold.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The cloud's certificate is not for the key Marvell certified.
    #[error(
        "the {owner} certificate ({owner_subject}) certifies another key than the Marvell {maker} certificate ({maker_subject}): the KMS's certificates are not for the HSM Marvell certified"
    )]
    KeyMismatch {
        /// The cloud's certificate (`Google card`, …).
        owner: &'static str,
        /// Its leaf's subject.
        owner_subject: String,
        /// Which of Marvell's certificates (`card`, `partition`).
        maker: &'static str,
        /// That certificate's subject.
        maker_subject: String,
    },
    /// The blob's signature does not verify under the partition key.
    #[error(
        "the attestation's {what} is not signed by the partition key Marvell certified ({partition}; RSA PKCS#1 v1.5 with SHA-256)"
    )]
    BlobSignature {
        /// Which blob.
        what: &'static str,
        /// The partition certificate's subject.
        partition: String,
    },
    /// The blob does not attest one RSA key pair.
    #[error("the attestation's {what} holds no {class} object")]
    NoObject {
        /// Which blob.
        what: &'static str,
        /// `private key`, `public key`.
        class: &'static str,
    },
    /// An attribute of the attested key is not what a wrapping key that never leaves the HSM has.
    #[error(
        "the attested private key has {attribute} {actual}, not {expected}: keyrite wraps only under an RSA key made in the HSM that can never leave it"
    )]
    Attribute {
        /// The attribute.
        attribute: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it is (`absent` if so).
        actual: String,
    },
    /// The attested public key is not the wrapping key.
    #[error(
        "the attested public key (modulus SHA-256 {attested}) is not the wrapping key keyrite was given (modulus SHA-256 {given}): the wrapping key is not the HSM's"
    )]
    NotTheWrappingKey {
        /// SHA-256 (hex) of the attested modulus.
        attested: String,
        /// SHA-256 (hex) of the wrapping key's modulus.
        given: String,
    },
}

/// A number as big-endian bytes without leading zeros.
fn trimmed(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// How an attribute reads in the record: flags as `true`/`false`, numbers in decimal, the ID and
/// label as text (the HSM pads them with NULs), anything else in hex.
fn attribute_text(kind: u32, value: &[u8]) -> String {
    use marvell::*;
    match kind {
        TOKEN | PRIVATE | TRUSTED | SENSITIVE | ENCRYPT | DECRYPT | WRAP | UNWRAP | SIGN
        | VERIFY | DERIVE | EXTRACTABLE | LOCAL | NEVER_EXTRACTABLE | ALWAYS_SENSITIVE
        | WRAP_WITH_TRUSTED
            if matches!(value, [0 | 1]) =>
        {
            (value == [1]).to_string()
        }
        CLASS | KEY_TYPE | MODULUS_BITS | VALUE_LEN if (1..=8).contains(&value.len()) => value
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b))
            .to_string(),
        ID | LABEL => {
            let text = value
                .iter()
                .rposition(|b| *b != 0)
                .map_or(&value[..0], |last| &value[..=last]);
            if text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                String::from_utf8_lossy(text).into_owned()
            } else {
                hex::encode(value)
            }
        }
        _ => hex::encode(value),
    }
}

/// The flags a wrapping key that never leaves the HSM must have: (attribute, name, value).
const REQUIRED_FLAGS: [(u32, &str, bool); 6] = [
    (marvell::EXTRACTABLE, "CKA_EXTRACTABLE", false),
    (marvell::NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE", true),
    (marvell::LOCAL, "CKA_LOCAL", true),
    (marvell::ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE", true),
    (marvell::SENSITIVE, "CKA_SENSITIVE", true),
    (marvell::UNWRAP, "CKA_UNWRAP", true),
];

/// Decodes base64 as the KMSs write it: standard or URL-safe, padded or not.
fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let text = text.trim();
    STANDARD
        .decode(text)
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
}

/// A blob, decoded and parsed, checked to be signed by `partition`'s key.
fn signed_blob(
    what: &'static str,
    text: &str,
    partition: &chain::Cert,
) -> Result<marvell::Blob, Refusal> {
    let bytes = base64_bytes(text).ok_or(Refusal::Base64 { what })?;
    let blob = marvell::parse(&bytes).map_err(|problem| Refusal::Blob { what, problem })?;
    chain::verify_pkcs1_sha256(&partition.spki_der, &blob.signed, &blob.signature).map_err(
        |()| Refusal::BlobSignature {
            what,
            partition: partition.subject.clone(),
        },
    )?;
    Ok(blob)
}

/// The object of `class` in a blob, if it holds one.
fn object_of<'b>(
    blob: &'b marvell::Blob,
    class: u64,
    what: &'static str,
) -> Result<&'b marvell::Object, Refusal> {
    blob.objects
        .iter()
        .find(|o| o.number(marvell::CLASS) == Some(class))
        .ok_or(Refusal::NoObject {
            what,
            class: if class == marvell::CKO_PRIVATE_KEY {
                "private key"
            } else {
                "public key"
            },
        })
}

/// A chain as the record names it.
fn chain_record(name: String, certificates: &[&chain::Cert], root: &Root) -> ChainRecord {
    ChainRecord {
        name,
        certificates: cert_records(certificates),
        root: root_record(root),
    }
}

/// What an attestation that holds proves: its chains, the partition key that signed it, and the
/// attested key ([`check_binding`]'s handle and attributes), which is `wrapping_key`.
fn attested(
    evidence: &Evidence,
    chains: Vec<ChainRecord>,
    partition: &chain::Cert,
    (handle, attributes): (u32, BTreeMap<String, String>),
    wrapping_key: &crate::spec::WrappingKey,
) -> Attested {
    Attested {
        source: evidence.source,
        format: evidence.format.clone(),
        chains,
        partition_key_sha256: hex::encode(Sha256::digest(&partition.spki_der)),
        handle,
        attributes,
        wrapping_key_sha256: wrapping_key.fingerprint().to_owned(),
    }
}

/// Checks the attested private key's flags and that its public key (as the private object and
/// the public object, where there is one, give it) is `wrapping_key`; returns its handle and
/// attributes for the record.
fn check_binding(
    private: &marvell::Object,
    public: Option<&marvell::Object>,
    wrapping_key: &crate::spec::WrappingKey,
) -> Result<(u32, BTreeMap<String, String>), Refusal> {
    let actual = |kind: u32| {
        private
            .get(kind)
            .map_or_else(|| "absent".to_owned(), |v| attribute_text(kind, v))
    };
    if private.number(marvell::KEY_TYPE) != Some(marvell::CKK_RSA) {
        return Err(Refusal::Attribute {
            attribute: "CKA_KEY_TYPE",
            expected: "CKK_RSA (0)",
            actual: actual(marvell::KEY_TYPE),
        });
    }
    for (kind, name, want) in REQUIRED_FLAGS {
        if private.flag(kind) != Some(want) {
            return Err(Refusal::Attribute {
                attribute: name,
                expected: if want { "true" } else { "false" },
                actual: actual(kind),
            });
        }
    }
    let modulus_sha = |m: &[u8]| hex::encode(Sha256::digest(trimmed(m)));
    let given = modulus_sha(wrapping_key.modulus());
    // The private key's own modulus binds it: a public object, attested apart, may be any
    // key's.
    if private.get(marvell::MODULUS).is_none() || private.get(marvell::PUBLIC_EXPONENT).is_none() {
        return Err(Refusal::Attribute {
            attribute: "CKA_MODULUS",
            expected: "its modulus and public exponent",
            actual: "absent".into(),
        });
    }
    let keys: Vec<_> = [Some(private), public]
        .into_iter()
        .flatten()
        .filter_map(|o| {
            o.get(marvell::MODULUS)
                .map(|m| (m, o.get(marvell::PUBLIC_EXPONENT)))
        })
        .collect();
    for (modulus, exponent) in keys {
        let same_exponent =
            exponent.is_some_and(|e| trimmed(e) == trimmed(wrapping_key.exponent()));
        if trimmed(modulus) != trimmed(wrapping_key.modulus()) || !same_exponent {
            return Err(Refusal::NotTheWrappingKey {
                attested: modulus_sha(modulus),
                given,
            });
        }
    }
    let attributes = private
        .attributes
        .iter()
        .map(|(kind, value)| {
            let name = marvell::attribute_name(*kind)
                .map_or_else(|| format!("{kind:#06x}"), str::to_owned);
            (name, attribute_text(*kind, value))
        })
        .collect();
    Ok((private.handle, attributes))
}

fn cert_records(certs: &[&chain::Cert]) -> Vec<CertRecord> {
    certs
        .iter()
        .map(|c| CertRecord {
            subject: c.subject.clone(),
            sha256: c.sha256.clone(),
        })
        .collect()
}

fn root_record(root: &Root) -> RootRecord {
    RootRecord {
        role: root.role,
        name: root.name.clone(),
        spki_sha256: root.spki_sha256.clone(),
        trust: root.trust,
    }
}

/// The certificates of `evidence`'s list `name`, parsed.
fn pool(evidence: &Evidence, name: &'static str) -> Result<chain::Pool, Refusal> {
    let pems = evidence
        .chains
        .get(name)
        .ok_or(Refusal::MissingChain(name))?;
    Ok(chain::Pool::parse(name, pems)?)
}

/// Refuses a list of certificates other than `known`.
fn only_chains(evidence: &Evidence, known: &[&str]) -> Result<(), Refusal> {
    match evidence
        .chains
        .keys()
        .find(|k| !known.contains(&k.as_str()))
    {
        Some(other) => Err(Refusal::UnknownChain(other.clone())),
        None => Ok(()),
    }
}

/// Marvell's chain in `pool`: a card certificate issued by a Marvell root keyrite trusts, and the
/// partition certificate the card issued.
fn marvell_chain<'r>(
    pool: &mut chain::Pool,
    roots: &'r Roots,
) -> Result<(chain::Cert, chain::Cert, &'r Root), Refusal> {
    let marvell = roots.of(Role::Marvell);
    pool.take_root_copies(&marvell);
    let (card, root) = pool.take_issued_by_root(&marvell, "Marvell card", Role::Marvell)?;
    let partition = pool.take_issued(chain::Issuer::Cert(&card), "Marvell partition")?;
    Ok((card, partition, root))
}

/// Refuses `owner` unless it certifies the key `maker` does.
fn same_key(
    owner: &chain::Cert,
    owner_name: &'static str,
    maker: &chain::Cert,
    maker_name: &'static str,
) -> Result<(), Refusal> {
    if owner.spki_der == maker.spki_der {
        Ok(())
    } else {
        Err(Refusal::KeyMismatch {
            owner: owner_name,
            owner_subject: owner.subject.clone(),
            maker: maker_name,
            maker_subject: maker.subject.clone(),
        })
    }
}

/// Google's lists of certificates.
const CAVIUM: &str = "caviumCerts";
const GOOGLE_CARD: &str = "googleCardCerts";
const GOOGLE_PARTITION: &str = "googlePartitionCerts";

/// Checks a Google import job's attestation, as Google's `verify_attestation_chains.py` does:
/// Marvell's card and partition certificates (`caviumCerts`) up to a Marvell root; Google's card
/// and partition certificates, each issued by Google's root, for the same keys; no certificate
/// left over; the blob signed by the partition key; and the attested key, against
/// `wrapping_key`.
fn check_google(
    evidence: &Evidence,
    wrapping_key: &crate::spec::WrappingKey,
    roots: &Roots,
) -> Result<Attested, Refusal> {
    if evidence.format != "CAVIUM_V2_COMPRESSED" {
        return Err(Refusal::Format(evidence.format.clone()));
    }
    only_chains(evidence, &[CAVIUM, GOOGLE_CARD, GOOGLE_PARTITION])?;
    let mut cavium = pool(evidence, CAVIUM)?;
    let (card, partition, marvell_root) = marvell_chain(&mut cavium, roots)?;
    cavium.finish()?;
    let google = roots.of(Role::Google);
    let owner = |list: &'static str, what: &'static str| -> Result<_, Refusal> {
        let mut pool = pool(evidence, list)?;
        pool.take_root_copies(&google);
        let found = pool.take_issued_by_root(&google, what, Role::Google)?;
        pool.finish()?;
        Ok(found)
    };
    let (owner_card, card_root) = owner(GOOGLE_CARD, "Google card")?;
    let (owner_partition, partition_root) = owner(GOOGLE_PARTITION, "Google partition")?;
    same_key(&owner_card, "Google card", &card, "card")?;
    same_key(
        &owner_partition,
        "Google partition",
        &partition,
        "partition",
    )?;
    let [content] = evidence.blobs.as_slice() else {
        return Err(Refusal::Shape {
            of: evidence.source,
            problem: format!("it holds {} blobs, not one content", evidence.blobs.len()),
        });
    };
    let blob = signed_blob("content", content, &partition)?;
    let private = object_of(&blob, marvell::CKO_PRIVATE_KEY, "content")?;
    let public = object_of(&blob, marvell::CKO_PUBLIC_KEY, "content")?;
    let binding = check_binding(private, Some(public), wrapping_key)?;
    let chains = vec![
        chain_record(
            format!("Marvell card and partition ({CAVIUM})"),
            &[&partition, &card],
            marvell_root,
        ),
        chain_record(
            format!("Google card ({GOOGLE_CARD})"),
            &[&owner_card],
            card_root,
        ),
        chain_record(
            format!("Google partition ({GOOGLE_PARTITION})"),
            &[&owner_partition],
            partition_root,
        ),
    ];
    Ok(attested(
        evidence,
        chains,
        &partition,
        binding,
        wrapping_key,
    ))
}

/// Azure's one list of certificates.
const AZURE_CERTS: &str = "certificatePemFile";

/// Checks an Azure Managed HSM key attestation, as Azure's `azure-managed-hsm-key-attestation`
/// validator does: Marvell's card and partition certificates up to a Marvell root; Microsoft's
/// partition certificate, for the same key as Marvell's, issued by a Microsoft root (one a roots
/// file adds, else the self-signed one the bundle carries, which the record says no one pins);
/// no certificate left over; each blob signed by the partition key; and the attested key,
/// against `wrapping_key`.
fn check_azure(
    evidence: &Evidence,
    wrapping_key: &crate::spec::WrappingKey,
    roots: &Roots,
) -> Result<Attested, Refusal> {
    if evidence.format != "MRVL-1" {
        return Err(Refusal::Format(evidence.format.clone()));
    }
    only_chains(evidence, &[AZURE_CERTS])?;
    let mut certs = pool(evidence, AZURE_CERTS)?;
    let (card, partition, marvell_root) = marvell_chain(&mut certs, roots)?;
    let microsoft = roots.of(Role::Microsoft);
    let (owner_partition, owner_root) = if microsoft.is_empty() {
        let (leaf, root) =
            certs.take_with_key_under_own_root(&partition.spki_der, "Microsoft partition")?;
        let root = Root::new(
            Role::Microsoft,
            &root.subject,
            root.spki_der,
            Trust::Carried,
        );
        (leaf, root)
    } else {
        certs.take_root_copies(&microsoft);
        let (leaf, root) =
            certs.take_issued_by_root(&microsoft, "Microsoft partition", Role::Microsoft)?;
        (leaf, root.clone())
    };
    certs.finish()?;
    same_key(
        &owner_partition,
        "Microsoft partition",
        &partition,
        "partition",
    )?;
    let (private_text, public_text) = match evidence.blobs.as_slice() {
        [private] => (private, None),
        [private, public] => (private, Some(public)),
        other => {
            return Err(Refusal::Shape {
                of: evidence.source,
                problem: format!(
                    "it holds {} blobs, not a private key attestation and at most a public key one",
                    other.len()
                ),
            });
        }
    };
    let private_blob = signed_blob("privateKeyAttestation", private_text, &partition)?;
    let private = object_of(
        &private_blob,
        marvell::CKO_PRIVATE_KEY,
        "privateKeyAttestation",
    )?;
    let public_blob = public_text
        .map(|text| signed_blob("publicKeyAttestation", text, &partition))
        .transpose()?;
    let public = public_blob
        .as_ref()
        .map(|blob| object_of(blob, marvell::CKO_PUBLIC_KEY, "publicKeyAttestation"))
        .transpose()?;
    let binding = check_binding(private, public, wrapping_key)?;
    let chains = vec![
        chain_record(
            format!("Marvell card and partition ({AZURE_CERTS})"),
            &[&partition, &card],
            marvell_root,
        ),
        chain_record(
            format!("Microsoft partition ({AZURE_CERTS})"),
            &[&owner_partition],
            &owner_root,
        ),
    ];
    Ok(attested(
        evidence,
        chains,
        &partition,
        binding,
        wrapping_key,
    ))
}

/// Checks `evidence` for `wrapping_key` against `roots`.
pub fn check(
    evidence: &Evidence,
    wrapping_key: &crate::spec::WrappingKey,
    roots: &Roots,
) -> Result<Attested, Refusal> {
    match evidence.source {
        Source::GoogleImportJob => check_google(evidence, wrapping_key, roots),
        Source::AzureManagedHsmKey => check_azure(evidence, wrapping_key, roots),
    }
}
