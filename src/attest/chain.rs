//! Certificates as a KMS hands them out, and the links keyrite draws between them.
//!
//! A KMS gives its certificates as named lists (Google's `caviumCerts`, `googleCardCerts`,
//! `googlePartitionCerts`; Azure's one `certificatePemFile`) whose order nobody promises. As in
//! Google's own validator, keyrite does not walk a list in order: it looks in it for the one
//! certificate issued by a given issuer (a root it trusts by public key, or a certificate it has
//! already placed), and refuses a list with a certificate it did not place, or two candidates
//! for one place.
//!
//! A link holds when the certificate's issuer name is the issuer certificate's subject (for a
//! root known only by its key, the name is not compared) and its `sha256WithRSAEncryption`
//! signature verifies under the issuer's RSA key. Validity periods are not enforced, as in
//! Google's and Microsoft's validators: roots are pinned by key (Marvell's root certificate
//! expired in 2025 and was re-issued with the same key), and the HSM's certificates are device
//! identities that outlive their dates.

use der::{Decode as _, Encode as _};
use rsa::signature::Verifier as _;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;

use super::roots::Root;

/// `sha256WithRSAEncryption`.
const SHA256_WITH_RSA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// The most certificates one list may hold.
pub const MAX_CERTS: usize = 16;

/// A certificate: parsed, with its DER, fingerprint and key.
#[derive(Debug, Clone)]
pub struct Cert {
    /// The parsed certificate.
    pub cert: Certificate,
    /// SHA-256 (hex) of its DER.
    pub sha256: String,
    /// Its subject, as RFC 4514 text.
    pub subject: String,
    /// Its SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
}

impl Cert {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
        let spki_der = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())?;
        Ok(Cert {
            subject: cert.tbs_certificate().subject().to_string(),
            sha256: hex::encode(Sha256::digest(der)),
            spki_der,
            cert,
        })
    }

    /// Whether `key` (a SubjectPublicKeyInfo, DER) signed this certificate, with
    /// `sha256WithRSAEncryption`.
    fn signed_by(&self, key: &[u8]) -> bool {
        if self.cert.signature_algorithm().oid != SHA256_WITH_RSA {
            return false;
        }
        let (Ok(tbs), Some(signature)) = (
            self.cert.tbs_certificate().to_der(),
            self.cert.signature().as_bytes(),
        ) else {
            return false;
        };
        verify_pkcs1_sha256(key, &tbs, signature).is_ok()
    }

    /// Whether `issuer` issued this certificate.
    fn issued_by(&self, issuer: Issuer<'_>) -> bool {
        match issuer {
            Issuer::Root(root) => self.signed_by(&root.spki_der),
            Issuer::Cert(cert) => {
                self.cert.tbs_certificate().issuer() == cert.cert.tbs_certificate().subject()
                    && self.signed_by(&cert.spki_der)
            }
        }
    }
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature under `key` (SubjectPublicKeyInfo DER).
pub(super) fn verify_pkcs1_sha256(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), ()> {
    use rsa::pkcs8::DecodePublicKey as _;
    let key = rsa::PublicKey::from_public_key_der(key).map_err(|_| ())?;
    let signature = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| ())?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
        .verify(message, &signature)
        .map_err(|_| ())
}

/// What issues a certificate: a root trusted by its key, or a certificate already placed.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// A root.
    Root(&'a Root),
    /// A certificate.
    Cert(&'a Cert),
}

impl Issuer<'_> {
    fn name(&self) -> String {
        match self {
            Issuer::Root(root) => format!("the {} root {}", root.role, root.name),
            Issuer::Cert(cert) => cert.subject.clone(),
        }
    }
}

/// Why the certificates were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// A list holds more certificates than keyrite reads.
    #[error("{list} holds more than the {MAX_CERTS} certificates keyrite reads")]
    TooMany {
        /// The list's name.
        list: String,
    },
    /// A certificate does not parse.
    #[error("certificate {position} of {list} does not parse: {problem}")]
    Unparsable {
        /// The list's name.
        list: String,
        /// Its position, from 1.
        position: usize,
        /// Why.
        problem: String,
    },
    /// No certificate of the list is issued by the issuer.
    #[error(
        "{list} holds no {what} certificate issued (by name and sha256WithRSA signature) by {issuer}"
    )]
    Missing {
        /// The list's name.
        list: String,
        /// The place (`Marvell card`, `Google partition`, …).
        what: &'static str,
        /// The issuer, for people.
        issuer: String,
    },
    /// Two certificates of the list are issued by the issuer.
    #[error(
        "{list} holds two {what} certificates issued by {issuer}: certificates {first} and {second}"
    )]
    Ambiguous {
        /// The list's name.
        list: String,
        /// The place.
        what: &'static str,
        /// The issuer, for people.
        issuer: String,
        /// One, from 1.
        first: usize,
        /// The other, from 1.
        second: usize,
    },
    /// A certificate of the list has no place in the chains.
    #[error(
        "certificate {position} of {list} ({subject}) is not part of the chains keyrite checks: an attestation carries only the certificates that certify its key"
    )]
    Unused {
        /// The list's name.
        list: String,
        /// Its position, from 1.
        position: usize,
        /// Its subject.
        subject: String,
    },
}

/// The certificates of one list, each to be placed exactly once.
#[derive(Debug)]
pub struct Pool {
    list: String,
    certs: Vec<Cert>,
    used: Vec<bool>,
}

/// Splits PEM text into its `CERTIFICATE` blocks' DER.
fn pem_blocks(text: &str) -> Result<Vec<Vec<u8>>, String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find(END) {
        let block = &rest[..end + END.len()];
        let (label, der) =
            der::pem::decode_vec(block.trim().as_bytes()).map_err(|e| e.to_string())?;
        if label != "CERTIFICATE" {
            return Err(format!("a PEM {label}, not a CERTIFICATE"));
        }
        blocks.push(der);
        rest = &rest[end + END.len()..];
    }
    if !rest.trim().is_empty() || blocks.is_empty() {
        return Err("it is not PEM certificates".into());
    }
    Ok(blocks)
}

impl Pool {
    /// Parses a list: each entry PEM text holding one certificate or more.
    pub fn parse(list: &str, pems: &[String]) -> Result<Pool, ChainError> {
        let mut certs = Vec::new();
        for (entry, pem) in pems.iter().enumerate() {
            let unparsable = |problem| ChainError::Unparsable {
                list: list.to_owned(),
                position: entry + 1,
                problem,
            };
            for der in pem_blocks(pem).map_err(unparsable)? {
                if certs.len() == MAX_CERTS {
                    return Err(ChainError::TooMany {
                        list: list.to_owned(),
                    });
                }
                let position = certs.len() + 1;
                certs.push(
                    Cert::from_der(&der).map_err(|problem| ChainError::Unparsable {
                        list: list.to_owned(),
                        position,
                        problem,
                    })?,
                );
            }
        }
        Ok(Pool {
            list: list.to_owned(),
            used: vec![false; certs.len()],
            certs,
        })
    }

    /// Places the copies of `roots` the list carries (a root certificate is often included):
    /// a certificate with a root's public key, signed by that key, is that root.
    pub fn take_root_copies(&mut self, roots: &[&Root]) {
        for (cert, used) in self.certs.iter().zip(self.used.iter_mut()) {
            if roots
                .iter()
                .any(|r| r.spki_der == cert.spki_der && cert.signed_by(&r.spki_der))
            {
                *used = true;
            }
        }
    }

    /// Places the one unplaced certificate `issuer` issued, and the only one: `what` names the
    /// place for a refusal.
    pub fn take_issued(
        &mut self,
        issuer: Issuer<'_>,
        what: &'static str,
    ) -> Result<Cert, ChainError> {
        let mut found = None;
        for (i, cert) in self.certs.iter().enumerate() {
            if self.used[i] || !cert.issued_by(issuer) {
                continue;
            }
            if let Some(first) = found {
                return Err(ChainError::Ambiguous {
                    list: self.list.clone(),
                    what,
                    issuer: issuer.name(),
                    first: first + 1,
                    second: i + 1,
                });
            }
            found = Some(i);
        }
        let i = found.ok_or_else(|| ChainError::Missing {
            list: self.list.clone(),
            what,
            issuer: issuer.name(),
        })?;
        self.used[i] = true;
        Ok(self.certs[i].clone())
    }

    /// Places the one certificate issued by any of `roots`, and says which root issued it.
    pub fn take_issued_by_root<'r>(
        &mut self,
        roots: &[&'r Root],
        what: &'static str,
        role: super::Role,
    ) -> Result<(Cert, &'r Root), ChainError> {
        let issuer = roots
            .iter()
            .find(|root| {
                self.certs
                    .iter()
                    .zip(&self.used)
                    .any(|(c, used)| !used && c.issued_by(Issuer::Root(root)))
            })
            .ok_or_else(|| ChainError::Missing {
                list: self.list.clone(),
                what,
                issuer: if roots.is_empty() {
                    format!("a {role} root (keyrite pins none; add one with --attestation-roots)")
                } else {
                    format!(
                        "a {role} root keyrite trusts: {}. A test PKI or a rotated root is added with --attestation-roots",
                        roots.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(" or ")
                    )
                },
            })?;
        Ok((self.take_issued(Issuer::Root(issuer), what)?, issuer))
    }

    /// The unplaced certificate with `spki_der` and issued by a self-signed certificate of the
    /// list, with that issuer: a chain that ends in a root the list itself carries.
    pub fn take_with_key_under_own_root(
        &mut self,
        spki_der: &[u8],
        what: &'static str,
    ) -> Result<(Cert, Cert), ChainError> {
        let missing = || ChainError::Missing {
            list: self.list.clone(),
            what,
            issuer: "a self-signed certificate it carries".into(),
        };
        let leaf = self
            .certs
            .iter()
            .zip(&self.used)
            .position(|(c, used)| !used && c.spki_der == spki_der)
            .ok_or_else(missing)?;
        let root = self
            .certs
            .iter()
            .enumerate()
            .find(|(i, c)| {
                *i != leaf
                    && !self.used[*i]
                    && c.issued_by(Issuer::Cert(c))
                    && self.certs[leaf].issued_by(Issuer::Cert(c))
            })
            .map(|(i, _)| i)
            .ok_or_else(missing)?;
        self.used[leaf] = true;
        self.used[root] = true;
        Ok((self.certs[leaf].clone(), self.certs[root].clone()))
    }

    /// Refuses a certificate left unplaced.
    pub fn finish(self) -> Result<(), ChainError> {
        match self.used.iter().position(|used| !used) {
            Some(i) => Err(ChainError::Unused {
                list: self.list,
                position: i + 1,
                subject: self.certs[i].subject.clone(),
            }),
            None => Ok(()),
        }
    }
}
