//! The ceremony signer's public key, as the token's key pair holds it and as an auditor's
//! `--signer` file gives it: ECDSA P-256 where the token has it, RSA-PSS 3072 (SHA-256,
//! MGF1-SHA-256, salt 32) on tokens without EC. Its PEM, its fingerprint (the SHA-256 of its
//! SubjectPublicKeyInfo DER, which a policy pins whichever the algorithm), and the check of a
//! signature over a 32-byte digest — the one check the token's proof and the seal share.
//!
//! It imports nothing of keyrite: `hsm` makes and proves signers with it, `verify` checks seals.

use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};

/// The size of an RSA-PSS signer's modulus, in bits.
pub const RSA_PSS_BITS: u32 = 3072;

/// The salt length of an RSA-PSS seal, in bytes (that of SHA-256).
pub const RSA_PSS_SALT: usize = 32;

/// A signer's signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerAlgorithm {
    /// ECDSA on P-256 over the digest; the signature is DER, low-S.
    EcdsaP256,
    /// RSASSA-PSS with a 3072-bit key over the digest: SHA-256, MGF1 with SHA-256, a 32-byte salt.
    RsaPss3072,
}

impl SignerAlgorithm {
    /// Both, ECDSA P-256 first (the one keyrite prefers).
    pub const ALL: [SignerAlgorithm; 2] = [SignerAlgorithm::EcdsaP256, SignerAlgorithm::RsaPss3072];

    /// Its name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            SignerAlgorithm::EcdsaP256 => "ecdsa-p256",
            SignerAlgorithm::RsaPss3072 => "rsa-pss-3072",
        }
    }

    /// Its short name: "ECDSA P-256", "RSA-PSS".
    pub const fn short(self) -> &'static str {
        match self {
            SignerAlgorithm::EcdsaP256 => "ECDSA P-256",
            SignerAlgorithm::RsaPss3072 => "RSA-PSS",
        }
    }

    /// Its name with its parameters, as keyrite prints it.
    pub const fn describe(self) -> &'static str {
        match self {
            SignerAlgorithm::EcdsaP256 => "ECDSA P-256",
            SignerAlgorithm::RsaPss3072 => "RSA-PSS 3072 (SHA-256, MGF1-SHA-256, salt 32)",
        }
    }
}

impl std::fmt::Display for SignerAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A name that is no signer algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no signer algorithm is called {0:?}: use ecdsa-p256 or rsa-pss-3072")]
pub struct UnknownAlgorithm(String);

impl std::str::FromStr for SignerAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SignerAlgorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}

/// Why bytes are not a signer's public key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not UTF-8 text.
    #[error("{0}")]
    NotText(#[source] std::str::Utf8Error),
    /// Neither an EC P-256 nor an RSA public key in PEM.
    #[error("not an ECDSA P-256 or RSA public key (PEM): {0}")]
    NotAKey(#[source] p256::pkcs8::spki::Error),
    /// An RSA key of another size than a signer's.
    #[error("an RSA key of {bits} bits, where a keyrite signer's RSA key has {RSA_PSS_BITS}")]
    RsaBits {
        /// Its modulus size.
        bits: u32,
    },
    /// Its SubjectPublicKeyInfo cannot be encoded.
    #[error("{0}")]
    Spki(#[source] p256::pkcs8::spki::Error),
    /// An RSA public key's SubjectPublicKeyInfo cannot be encoded.
    #[error("{0}")]
    RsaSpki(#[source] rsa::pkcs8::spki::Error),
    /// A modulus and exponent that make no RSA key.
    #[error("{0}")]
    Rsa(#[source] rsa::Error),
}

/// What a signature over a digest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signed {
    /// It verifies under the key.
    Verified,
    /// An ECDSA signature with s > n/2: the twin of a valid one, which keyrite never makes.
    HighS,
    /// It does not verify, or is not a signature of the key's algorithm.
    Refused,
}

/// A ceremony signer's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerKey {
    /// An ECDSA P-256 key.
    EcdsaP256(p256::PublicKey),
    /// An RSA key of [`RSA_PSS_BITS`] bits, for RSA-PSS.
    RsaPss(rsa::PublicKey),
}

impl SignerKey {
    /// An RSA-PSS signer's key from its modulus and public exponent (big-endian), as a token
    /// gives them.
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        let key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(modulus),
            rsa::BoxedUint::from_be_slice_vartime(exponent),
        )
        .map_err(KeyError::Rsa)?;
        Self::checked_rsa(key)
    }

    fn checked_rsa(key: rsa::PublicKey) -> Result<Self, KeyError> {
        let bits = key.n().bit_width();
        if bits != RSA_PSS_BITS {
            return Err(KeyError::RsaBits { bits });
        }
        Ok(SignerKey::RsaPss(key))
    }

    /// Parses a SubjectPublicKeyInfo PEM: an EC P-256 or a 3072-bit RSA public key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let pem = std::str::from_utf8(pem).map_err(KeyError::NotText)?;
        match p256::PublicKey::from_public_key_pem(pem) {
            Ok(key) => Ok(SignerKey::EcdsaP256(key)),
            Err(ec) => {
                match <rsa::PublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_pem(pem) {
                    Ok(key) => Self::checked_rsa(key),
                    Err(_) => Err(KeyError::NotAKey(ec)),
                }
            }
        }
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> SignerAlgorithm {
        match self {
            SignerKey::EcdsaP256(_) => SignerAlgorithm::EcdsaP256,
            SignerKey::RsaPss(_) => SignerAlgorithm::RsaPss3072,
        }
    }

    /// Its SubjectPublicKeyInfo, DER.
    pub fn der(&self) -> Result<Vec<u8>, KeyError> {
        match self {
            SignerKey::EcdsaP256(key) => key
                .to_public_key_der()
                .map(|d| d.as_bytes().to_vec())
                .map_err(KeyError::Spki),
            SignerKey::RsaPss(key) => rsa::pkcs8::EncodePublicKey::to_public_key_der(key)
                .map(|d| d.as_bytes().to_vec())
                .map_err(KeyError::RsaSpki),
        }
    }

    /// Its SubjectPublicKeyInfo, PEM.
    pub fn pem(&self) -> Result<String, KeyError> {
        match self {
            SignerKey::EcdsaP256(key) => key
                .to_public_key_pem(LineEnding::LF)
                .map_err(KeyError::Spki),
            SignerKey::RsaPss(key) => {
                rsa::pkcs8::EncodePublicKey::to_public_key_pem(key, rsa::pkcs8::LineEnding::LF)
                    .map_err(KeyError::RsaSpki)
            }
        }
    }

    /// SHA-256 (hex) of its SubjectPublicKeyInfo DER: the fingerprint a policy pins.
    pub fn fingerprint(&self) -> Result<String, KeyError> {
        Ok(hex::encode(Sha256::digest(self.der()?)))
    }

    /// Whether `signature` is this key's signature over `digest`: for ECDSA a DER signature,
    /// low-S only; for RSA-PSS the modulus-sized signature with SHA-256, MGF1-SHA-256 and a
    /// 32-byte salt.
    pub fn check(&self, digest: &[u8; 32], signature: &[u8]) -> Signed {
        match self {
            SignerKey::EcdsaP256(key) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
                let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
                    return Signed::Refused;
                };
                if sig.normalize_s().is_some() {
                    return Signed::HighS;
                }
                match p256::ecdsa::VerifyingKey::from(key).verify_prehash(digest, &sig) {
                    Ok(()) => Signed::Verified,
                    Err(_) => Signed::Refused,
                }
            }
            SignerKey::RsaPss(key) => {
                use rsa::signature::hazmat::PrehashVerifier as _;
                if signature.len() != key.size() {
                    return Signed::Refused;
                }
                let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                    return Signed::Refused;
                };
                let verifier =
                    rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(key.clone(), RSA_PSS_SALT);
                match verifier.verify_prehash(digest, &sig) {
                    Ok(()) => Signed::Verified,
                    Err(_) => Signed::Refused,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rsa_key_of_another_size_is_refused() {
        let mut modulus = vec![0xffu8; 256];
        modulus[255] = 0xfb;
        let Err(err) = SignerKey::rsa(&modulus, &[1, 0, 1]) else {
            unreachable!("a 2048-bit key is no signer's")
        };
        assert_eq!(
            err.to_string(),
            "an RSA key of 2048 bits, where a keyrite signer's RSA key has 3072"
        );
    }

    #[test]
    fn garbage_is_no_key() {
        let pem = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let Err(err) = SignerKey::from_pem(pem) else {
            unreachable!("no key")
        };
        assert!(
            err.to_string()
                .starts_with("not an ECDSA P-256 or RSA public key (PEM)"),
            "{err}"
        );
    }
}
