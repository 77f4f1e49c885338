//! The ceremony signer: an ECDSA P-256 key pair in the token that seals transcripts. P-256
//! because every HSM vendor supports it and `openssl` verifies it. The token signs a 32-byte
//! digest with `CKM_ECDSA` (it returns r‖s); keyrite converts that to DER.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};

use super::{Error, SignerProblem, Token, Unproven};
use crate::spec::KeyLabel;

/// DER of the OID of the P-256 curve (prime256v1), as `CKA_EC_PARAMS` takes it.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The signer's public key.
#[derive(Debug, Clone)]
pub struct SignerPublicKey {
    key: p256::PublicKey,
}

impl SignerPublicKey {
    /// The SubjectPublicKeyInfo, PEM.
    pub fn pem(&self) -> Result<String, Error> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::Signer {
                source: SignerProblem::Spki(e),
            })
    }

    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER: the fingerprint a policy pins.
    pub fn fingerprint(&self) -> Result<String, Error> {
        let der = self.key.to_public_key_der().map_err(|e| Error::Signer {
            source: SignerProblem::Spki(e),
        })?;
        Ok(hex::encode(Sha256::digest(der.as_bytes())))
    }
}

/// Parses `CKA_EC_POINT`: a DER OCTET STRING around the SEC1 point (PKCS#11), or the bare point
/// (some tokens).
fn parse_ec_point(raw: &[u8]) -> Result<p256::PublicKey, Error> {
    let bare = super::pair::bare_ec_point(raw, 32).unwrap_or(raw);
    p256::PublicKey::from_sec1_bytes(bare).map_err(|e| Error::Signer {
        source: SignerProblem::EcPoint(e),
    })
}

/// An attribute keyrite asks of both signer objects, which a token may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protection {
    /// `CKA_PRIVATE=true` on the public key object: only a logged-in session sees it, so no
    /// session without the PIN can destroy or shadow it.
    PublicPrivate,
    /// `CKA_MODIFIABLE=false` on the public key object.
    PublicFixed,
    /// `CKA_MODIFIABLE=false` on the private key object.
    PrivateFixed,
}

impl Protection {
    const ALL: [Protection; 3] = [
        Protection::PublicPrivate,
        Protection::PublicFixed,
        Protection::PrivateFixed,
    ];

    fn describe(self) -> &'static str {
        match self {
            Protection::PublicPrivate => "CKA_PRIVATE=true on the public key object",
            Protection::PublicFixed => "CKA_MODIFIABLE=false on the public key object",
            Protection::PrivateFixed => "CKA_MODIFIABLE=false on the private key object",
        }
    }
}

/// A new signer: its public key, and what the token would not do.
#[derive(Debug)]
pub struct CreatedSigner {
    /// The public key, proven by a signature of the new private key.
    pub public: SignerPublicKey,
    /// Each protection the token refused or did not keep, said in a sentence.
    pub weakened: Vec<String>,
}

/// A token's refusal of an attribute value in a template.
fn refuses_template(e: &cryptoki::error::Error) -> bool {
    use cryptoki::error::RvError;
    [
        RvError::AttributeValueInvalid,
        RvError::AttributeTypeInvalid,
        RvError::TemplateInconsistent,
        RvError::AttributeReadOnly,
    ]
    .into_iter()
    .any(|rv| super::Pkcs11Failure::rv_is(e, rv))
}

/// The signer's templates, public key then private key: the public key can only verify, the
/// private key only sign and never leaves the token; both private and not modifiable, but for
/// the protection `without`, which the token refused.
fn signer_templates(
    label: &KeyLabel,
    id: &[u8],
    without: Option<Protection>,
) -> (Vec<Attribute>, Vec<Attribute>) {
    let label_bytes = label.as_str().as_bytes().to_vec();
    let wanted = |p: Protection| without != Some(p);
    let mut public = vec![
        Attribute::Token(true),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::Verify(true),
        Attribute::VerifyRecover(false),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
        Attribute::Label(label_bytes.clone()),
        Attribute::Id(id.to_vec()),
    ];
    if wanted(Protection::PublicPrivate) {
        public.push(Attribute::Private(true));
    }
    if wanted(Protection::PublicFixed) {
        public.push(Attribute::Modifiable(false));
    }
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::SignRecover(false),
        Attribute::Decrypt(false),
        Attribute::Derive(false),
        Attribute::Unwrap(false),
        Attribute::Label(label_bytes),
        Attribute::Id(id.to_vec()),
    ];
    if wanted(Protection::PrivateFixed) {
        private.push(Attribute::Modifiable(false));
    }
    (public, private)
}

impl Token {
    fn signer_objects(
        &self,
        label: &KeyLabel,
        class: ObjectClass,
    ) -> Result<Vec<ObjectHandle>, Error> {
        Ok(self.session().find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC),
            Attribute::Label(label.as_str().as_bytes().to_vec()),
        ])?)
    }

    fn generate_signer(
        &self,
        label: &KeyLabel,
        without: Option<Protection>,
    ) -> Result<(ObjectHandle, ObjectHandle), cryptoki::error::Error> {
        let id = self.session().generate_random_vec(16)?;
        let (public, private) = signer_templates(label, &id, without);
        self.session()
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
    }

    /// Generates the signer key pair: the private key never leaves the token and can only sign;
    /// both objects are private (seen only after a login) and not modifiable, where the token
    /// allows — a protection it refuses is left out of the template alone, and said in
    /// [`CreatedSigner::weakened`]. The new pair is proven like [`Token::signer_public_key`].
    pub fn create_signer(&self, label: &KeyLabel) -> Result<CreatedSigner, Error> {
        self.check_label_free(label)?;
        let mut weakened = Vec::new();
        let (public, private) = match self.generate_signer(label, None) {
            Ok(pair) => pair,
            Err(first) if refuses_template(&first) => {
                let mut found = None;
                for p in Protection::ALL {
                    match self.generate_signer(label, Some(p)) {
                        Ok(pair) => {
                            found = Some((pair, p));
                            break;
                        }
                        Err(e) if refuses_template(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let Some((pair, p)) = found else {
                    return Err(first.into());
                };
                weakened.push(format!(
                    "token {:?} refused {} ({}); the signer was made without it",
                    self.label(),
                    p.describe(),
                    super::Pkcs11Failure::from_error(first).code()
                ));
                pair
            }
            Err(e) => return Err(e.into()),
        };
        // What the token kept, read back: a token may accept a template and ignore part of it.
        for (object, p, attribute) in [
            (public, Protection::PublicPrivate, AttributeType::Private),
            (public, Protection::PublicFixed, AttributeType::Modifiable),
            (private, Protection::PrivateFixed, AttributeType::Modifiable),
        ] {
            let wanted = attribute == AttributeType::Private;
            let kept = self
                .session()
                .get_attributes(object, &[attribute])
                .ok()
                .and_then(|attrs| {
                    attrs.into_iter().find_map(|a| match a {
                        Attribute::Private(b) | Attribute::Modifiable(b) => Some(b),
                        _ => None,
                    })
                });
            if kept != Some(wanted) && !weakened.iter().any(|w| w.contains(p.describe())) {
                weakened.push(format!(
                    "token {:?} does not report {} on the new signer",
                    self.label(),
                    p.describe()
                ));
            }
        }
        let public = self.read_signer_public(public)?;
        self.prove(label, private, &public, &challenge()?)?;
        Ok(CreatedSigner { public, weakened })
    }

    fn read_signer_public(&self, public: ObjectHandle) -> Result<SignerPublicKey, Error> {
        let attrs = self
            .session()
            .get_attributes(public, &[AttributeType::EcPoint])?;
        let point = attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| Error::Signer {
                source: SignerProblem::NoEcPoint,
            })?;
        Ok(SignerPublicKey {
            key: parse_ec_point(&point)?,
        })
    }

    /// The signer's private key object and the public key its public key object holds, not yet
    /// proven to be a pair. Needs a login: both objects are private.
    fn signer_pair(&self, label: &KeyLabel) -> Result<(ObjectHandle, SignerPublicKey), Error> {
        let unproven = |why: Unproven| Error::SignerUnproven {
            token: self.label().to_owned(),
            label: label.to_string(),
            why,
        };
        let private = match self
            .signer_objects(label, ObjectClass::PRIVATE_KEY)?
            .as_slice()
        {
            [one] => *one,
            [] => {
                return Err(Error::NoSigner {
                    token: self.label().to_owned(),
                    label: label.to_string(),
                });
            }
            several => {
                return Err(unproven(Unproven::PrivateObjects {
                    count: several.len(),
                }));
            }
        };
        let public = match self
            .signer_objects(label, ObjectClass::PUBLIC_KEY)?
            .as_slice()
        {
            [one] => *one,
            [] => {
                return Err(unproven(Unproven::NoPublicObject));
            }
            several => {
                return Err(unproven(Unproven::PublicObjects {
                    count: several.len(),
                }));
            }
        };
        Ok((private, self.read_signer_public(public)?))
    }

    /// Signs `digest` with `private`; returns the low-S signature once it verifies under
    /// `public`: the proof that the two are one key pair.
    fn prove(
        &self,
        label: &KeyLabel,
        private: ObjectHandle,
        public: &SignerPublicKey,
        digest: &[u8; 32],
    ) -> Result<p256::ecdsa::Signature, Error> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let raw = self.session().sign(&Mechanism::Ecdsa, private, digest)?;
        let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(|e| Error::Signer {
            source: SignerProblem::NotRs {
                len: raw.len(),
                source: e,
            },
        })?;
        // (r, n - s) verifies as well as (r, s): the seal carries the low one only, so that no
        // one can make a second valid seal line from the first.
        let signature = signature.normalize_s().unwrap_or(signature);
        p256::ecdsa::VerifyingKey::from(&public.key)
            .verify_prehash(digest, &signature)
            .map_err(|_| Error::SignerUnproven {
                token: self.label().to_owned(),
                label: label.to_string(),
                why: Unproven::NotAPair,
            })?;
        Ok(signature)
    }

    /// The signer's public key, proven: a fresh random challenge signed with the signer's
    /// private key verifies under it. Needs a login (both signer objects are private); refused
    /// when the token holds anything but exactly one private and one public EC key of that
    /// label that make a pair — a public object anyone could have made is never believed.
    pub fn signer_public_key(&self, label: &KeyLabel) -> Result<SignerPublicKey, Error> {
        let (private, public) = self.signer_pair(label)?;
        self.prove(label, private, &public, &challenge()?)?;
        Ok(public)
    }

    /// Signs a 32-byte digest with the signer's private key; returns the DER of the low-S
    /// signature, checked against the signer's public key object before it is returned.
    pub fn sign_digest(&self, label: &KeyLabel, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        let (private, public) = self.signer_pair(label)?;
        let signature = self.prove(label, private, &public, digest)?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// 32 random bytes from the operating system (`getrandom`): a challenge the token cannot
/// have seen before.
fn challenge() -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    let mut filled = 0;
    while filled < out.len() {
        filled +=
            rustix::rand::getrandom(&mut out[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| Error::Signer {
                    source: SignerProblem::NoChallenge(e.into()),
                })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_can_only_sign_and_verify() {
        use crate::hsm::usage::assert_usages;
        let label: KeyLabel = "s".parse().unwrap_or_else(|_| unreachable!());
        for without in [None].into_iter().chain(Protection::ALL.map(Some)) {
            let (public, private) = signer_templates(&label, &[1], without);
            assert_usages(
                "signer public key",
                &public,
                ObjectClass::PUBLIC_KEY,
                &[AttributeType::Verify],
            );
            assert_usages(
                "signer private key",
                &private,
                ObjectClass::PRIVATE_KEY,
                &[AttributeType::Sign],
            );
        }
    }

    #[test]
    fn ec_points_with_and_without_the_octet_string() {
        let key = p256::SecretKey::from_slice(&[7u8; 32]).map(|k| k.public_key());
        let Ok(key) = key else {
            unreachable!("a valid scalar")
        };
        let point = p256::EncodedPoint::from(&key);
        let bare = point.as_bytes().to_vec();
        let mut wrapped = vec![0x04, bare.len() as u8];
        wrapped.extend_from_slice(&bare);
        assert!(matches!(parse_ec_point(&bare), Ok(k) if k == key));
        assert!(matches!(parse_ec_point(&wrapped), Ok(k) if k == key));
    }
}
