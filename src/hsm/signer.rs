//! The ceremony signer: an ECDSA P-256 key pair in the token that seals transcripts. P-256
//! because every HSM vendor supports it and `openssl` verifies it. The token signs a 32-byte
//! digest with `CKM_ECDSA` (it returns r‖s); keyrite converts that to DER.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};

use super::keys::KeyLabel;
use super::{Error, Token};

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
                reason: e.to_string(),
            })
    }

    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER: the fingerprint a policy pins.
    pub fn fingerprint(&self) -> Result<String, Error> {
        let der = self.key.to_public_key_der().map_err(|e| Error::Signer {
            reason: e.to_string(),
        })?;
        Ok(hex::encode(Sha256::digest(der.as_bytes())))
    }
}

/// Parses `CKA_EC_POINT`: a DER OCTET STRING around the SEC1 point (PKCS#11), or the bare point
/// (some tokens).
fn parse_ec_point(raw: &[u8]) -> Result<p256::PublicKey, Error> {
    let bare = super::pair::bare_ec_point(raw, 32).unwrap_or(raw);
    p256::PublicKey::from_sec1_bytes(bare).map_err(|e| Error::Signer {
        reason: format!("CKA_EC_POINT is not a P-256 point: {e}"),
    })
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

    /// Generates the signer key pair: the private key never leaves the token and can only sign.
    pub fn create_signer(&self, label: &KeyLabel) -> Result<SignerPublicKey, Error> {
        self.check_label_free(label)?;
        let id = self.session().generate_random_vec(16)?;
        let label_bytes = label.as_str().as_bytes().to_vec();
        let (public, _private) = self.session().generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::EcParams(P256_PARAMS.to_vec()),
                Attribute::Verify(true),
                Attribute::Label(label_bytes.clone()),
                Attribute::Id(id.clone()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Decrypt(false),
                Attribute::Derive(false),
                Attribute::Unwrap(false),
                Attribute::Label(label_bytes),
                Attribute::Id(id),
            ],
        )?;
        self.read_signer_public(public)
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
                reason: "the token gave no CKA_EC_POINT".to_owned(),
            })?;
        Ok(SignerPublicKey {
            key: parse_ec_point(&point)?,
        })
    }

    /// The signer's public key (no login needed: it is a public object).
    pub fn signer_public_key(&self, label: &KeyLabel) -> Result<SignerPublicKey, Error> {
        match self
            .signer_objects(label, ObjectClass::PUBLIC_KEY)?
            .as_slice()
        {
            [one] => self.read_signer_public(*one),
            [] => Err(Error::NoSigner {
                token: self.label().to_owned(),
                label: label.to_string(),
            }),
            _ => Err(Error::Signer {
                reason: format!("several EC public keys are labelled {label:?}"),
            }),
        }
    }

    /// Signs a 32-byte digest with the signer's private key; returns the DER signature, checked
    /// against the public key before it is returned.
    pub fn sign_digest(&self, label: &KeyLabel, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
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
            _ => {
                return Err(Error::Signer {
                    reason: format!("several EC private keys are labelled {label:?}"),
                });
            }
        };
        let raw = self.session().sign(&Mechanism::Ecdsa, private, digest)?;
        let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(|e| Error::Signer {
            reason: format!(
                "CKM_ECDSA returned {} bytes that are not r||s: {e}",
                raw.len()
            ),
        })?;
        let public = self.signer_public_key(label)?;
        p256::ecdsa::VerifyingKey::from(&public.key)
            .verify_prehash(digest, &signature)
            .map_err(|_| Error::Signer {
                reason: "the token's signature does not verify under its own public key".to_owned(),
            })?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
