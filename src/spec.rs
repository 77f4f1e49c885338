//! The kinds of key material and of wrapping, shared by the token side (`hsm`), the KMS side
//! (`kms`) and the verifiers: [`KeySpec`], [`KeyLabel`], the wrapping algorithms and the KMS's RSA
//! wrapping key, and the size arithmetic of a private key's PKCS#8 encoding.
//!
//! This module imports nothing of keyrite's other modules. It trusts nothing it parses: a label
//! is checked against its syntax, a wrapping key is parsed as DER and must be RSA of a size KMSs
//! use.

use std::fmt;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::KeyType;
use der::asn1::ObjectIdentifier;
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The smallest RSA wrapping key keyrite accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// The kind of key material a ceremony generates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum KeySpec {
    /// A 256-bit AES key (AWS `SYMMETRIC_DEFAULT`, Alibaba `Aliyun_AES_256`).
    #[serde(rename = "AES_256")]
    #[default]
    Aes256,
    /// A 224-bit HMAC key (a generic secret of 28 bytes).
    #[serde(rename = "HMAC_224")]
    Hmac224,
    /// A 256-bit HMAC key (a generic secret of 32 bytes).
    #[serde(rename = "HMAC_256")]
    Hmac256,
    /// A 384-bit HMAC key (a generic secret of 48 bytes).
    #[serde(rename = "HMAC_384")]
    Hmac384,
    /// A 512-bit HMAC key (a generic secret of 64 bytes).
    #[serde(rename = "HMAC_512")]
    Hmac512,
    /// An RSA key pair of 2048 bits (public exponent 65537).
    #[serde(rename = "RSA_2048")]
    Rsa2048,
    /// An RSA key pair of 3072 bits.
    #[serde(rename = "RSA_3072")]
    Rsa3072,
    /// An RSA key pair of 4096 bits.
    #[serde(rename = "RSA_4096")]
    Rsa4096,
    /// An EC key pair on NIST P-256 (AWS `ECC_NIST_P256`).
    #[serde(rename = "EC_P256")]
    EcP256,
    /// An EC key pair on NIST P-384 (AWS `ECC_NIST_P384`).
    #[serde(rename = "EC_P384")]
    EcP384,
    /// An EC key pair on NIST P-521 (AWS `ECC_NIST_P521`).
    #[serde(rename = "EC_P521")]
    EcP521,
    /// An EC key pair on secp256k1 (AWS `ECC_SECG_P256K1`).
    #[serde(rename = "EC_SECP256K1")]
    EcSecp256k1,
}

/// Every kind of key material, in the order help and tables list them.
pub const ALL_KEY_SPECS: [KeySpec; 12] = [
    KeySpec::Aes256,
    KeySpec::Hmac224,
    KeySpec::Hmac256,
    KeySpec::Hmac384,
    KeySpec::Hmac512,
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::Rsa4096,
    KeySpec::EcP256,
    KeySpec::EcP384,
    KeySpec::EcP521,
    KeySpec::EcSecp256k1,
];

impl KeySpec {
    /// The name on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            KeySpec::Aes256 => "AES_256",
            KeySpec::Hmac224 => "HMAC_224",
            KeySpec::Hmac256 => "HMAC_256",
            KeySpec::Hmac384 => "HMAC_384",
            KeySpec::Hmac512 => "HMAC_512",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EcP256 => "EC_P256",
            KeySpec::EcP384 => "EC_P384",
            KeySpec::EcP521 => "EC_P521",
            KeySpec::EcSecp256k1 => "EC_SECP256K1",
        }
    }

    /// The length of secret material in bytes; `None` for a key pair, whose private key is
    /// wrapped as a PKCS#8 encoding of the token's making.
    pub fn secret_len(self) -> Option<usize> {
        match self {
            KeySpec::Aes256 => Some(32),
            KeySpec::Hmac224 => Some(28),
            KeySpec::Hmac256 => Some(32),
            KeySpec::Hmac384 => Some(48),
            KeySpec::Hmac512 => Some(64),
            _ => None,
        }
    }

    /// Whether this is a key pair (RSA or EC) rather than a secret key.
    pub fn is_asymmetric(self) -> bool {
        self.secret_len().is_none()
    }

    /// The PKCS#11 key type (of the private key, for a key pair).
    pub fn key_type(self) -> KeyType {
        match self {
            KeySpec::Aes256 => KeyType::AES,
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                KeyType::GENERIC_SECRET
            }
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => KeyType::RSA,
            KeySpec::EcP256 | KeySpec::EcP384 | KeySpec::EcP521 | KeySpec::EcSecp256k1 => {
                KeyType::EC
            }
        }
    }

    /// The generation mechanism.
    pub(crate) fn mechanism(self) -> Mechanism<'static> {
        match self.key_type() {
            KeyType::AES => Mechanism::AesKeyGen,
            KeyType::RSA => Mechanism::RsaPkcsKeyPairGen,
            KeyType::EC => Mechanism::EccKeyPairGen,
            _ => Mechanism::GenericSecretKeyGen,
        }
    }
}

impl KeySpec {
    /// The other names a KMS gives this kind of key material, accepted wherever its name is.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            KeySpec::Aes256 => &["SYMMETRIC_DEFAULT", "Aliyun_AES_256"],
            KeySpec::EcP256 => &["ECC_NIST_P256"],
            KeySpec::EcP384 => &["ECC_NIST_P384"],
            KeySpec::EcP521 => &["ECC_NIST_P521"],
            KeySpec::EcSecp256k1 => &["ECC_SECG_P256K1"],
            _ => &[],
        }
    }
}

impl std::str::FromStr for KeySpec {
    type Err = Error;

    /// Parses a name or an alias, exactly as spelt.
    fn from_str(s: &str) -> Result<Self, Error> {
        ALL_KEY_SPECS
            .into_iter()
            .find(|k| k.name() == s || k.aliases().contains(&s))
            .ok_or_else(|| Error::UnknownKeySpec {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key label: 1 to 64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KeyLabel(String);

/// A key label that breaks the rules.
#[derive(Debug, thiserror::Error)]
#[error(
    "key label {0:?} is not valid: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
)]
pub struct BadKeyLabel(String);

impl std::str::FromStr for KeyLabel {
    type Err = BadKeyLabel;

    fn from_str(s: &str) -> Result<Self, BadKeyLabel> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(KeyLabel(s.to_owned()))
        } else {
            Err(BadKeyLabel(s.to_owned()))
        }
    }
}

impl KeyLabel {
    /// The label of keyrite's throw-away trial objects.
    pub(crate) fn trial() -> KeyLabel {
        KeyLabel("keyrite-trial".to_owned())
    }

    /// The label of the throw-away session key a token's key check values are learnt on.
    pub(crate) fn kcv_trial() -> KeyLabel {
        KeyLabel("keyrite-kcv-trial".to_owned())
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The named curve of an EC key spec and the size of its field elements in bytes.
pub fn curve(spec: KeySpec) -> Option<(ObjectIdentifier, usize)> {
    match spec {
        KeySpec::EcP256 => Some((ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"), 32)),
        KeySpec::EcP384 => Some((ObjectIdentifier::new_unwrap("1.3.132.0.34"), 48)),
        KeySpec::EcP521 => Some((ObjectIdentifier::new_unwrap("1.3.132.0.35"), 66)),
        KeySpec::EcSecp256k1 => Some((ObjectIdentifier::new_unwrap("1.3.132.0.10"), 32)),
        _ => None,
    }
}

/// The name of an EC key spec's curve, as `keys list --json` gives it, and its size in bits.
pub fn curve_name(spec: KeySpec) -> Option<(&'static str, usize)> {
    match spec {
        KeySpec::EcP256 => Some(("P-256", 256)),
        KeySpec::EcP384 => Some(("P-384", 384)),
        KeySpec::EcP521 => Some(("P-521", 521)),
        KeySpec::EcSecp256k1 => Some(("secp256k1", 256)),
        _ => None,
    }
}

/// The modulus size of an RSA key spec in bits.
pub fn rsa_bits(spec: KeySpec) -> Option<usize> {
    match spec {
        KeySpec::Rsa2048 => Some(2048),
        KeySpec::Rsa3072 => Some(3072),
        KeySpec::Rsa4096 => Some(4096),
        _ => None,
    }
}

/// The bounds on the length of a private key's PKCS#8 encoding, for the length check of an RSA
/// key's wrap and of a backup before it is restored: the token chooses the encoding (an EC key's
/// public point and curve are optional inside it, an RSA integer may be a byte shorter), so the
/// bounds are wide. An EC key's exact length is learnt and checked too (`hsm::pair::rfc5915_lens`).
pub fn pkcs8_len_bounds(spec: KeySpec) -> Option<(usize, usize)> {
    if let Some(bits) = rsa_bits(spec) {
        // n, d and e, then five half-size integers, with their headers.
        let m = bits / 8;
        return Some((m * 9 / 2 - 16, m * 9 / 2 + 100));
    }
    // The scalar alone, up to the scalar, the curve and the public point with their headers.
    curve(spec).map(|(_, f)| (f + 30, 3 * f + 60))
}

/// The hash OAEP uses, for both the label digest and MGF1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl fmt::Display for OaepHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OaepHash::Sha1 => "SHA-1",
            OaepHash::Sha256 => "SHA-256",
        })
    }
}

/// How key material is wrapped under the KMS public key (AWS spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    /// RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label.
    RsaesOaepSha1,
    /// RSA-OAEP with SHA-256 and MGF1-SHA-256, empty label.
    RsaesOaepSha256,
    /// RSA-OAEP (SHA-1) of an ephemeral AES-256 key, then RFC 5649 KWP of the key under it.
    RsaAesKeyWrapSha1,
    /// RSA-OAEP (SHA-256) of an ephemeral AES-256 key, then RFC 5649 KWP of the key under it.
    RsaAesKeyWrapSha256,
    /// RSAES-PKCS1-v1_5 (legacy; only with `--allow-legacy-pkcs1`).
    RsaesPkcs1V15,
}

impl WrappingAlgorithm {
    /// Every algorithm keyrite knows, in the order `token info` lists them.
    pub const ALL: [WrappingAlgorithm; 5] = [
        WrappingAlgorithm::RsaesOaepSha1,
        WrappingAlgorithm::RsaesOaepSha256,
        WrappingAlgorithm::RsaAesKeyWrapSha1,
        WrappingAlgorithm::RsaAesKeyWrapSha256,
        WrappingAlgorithm::RsaesPkcs1V15,
    ];

    /// The AWS name of the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            WrappingAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            WrappingAlgorithm::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            WrappingAlgorithm::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
            WrappingAlgorithm::RsaesPkcs1V15 => "RSAES_PKCS1_V1_5",
        }
    }

    /// The OAEP hash, or `None` for PKCS#1 v1.5.
    pub fn oaep_hash(self) -> Option<OaepHash> {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                Some(OaepHash::Sha1)
            }
            WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                Some(OaepHash::Sha256)
            }
            WrappingAlgorithm::RsaesPkcs1V15 => None,
        }
    }

    /// Whether the key is wrapped under an ephemeral AES key (RSA-AES key wrap).
    pub fn is_rsa_aes(self) -> bool {
        matches!(
            self,
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }

    /// Whether the algorithm is retired and needs `--allow-legacy-pkcs1`.
    pub fn is_legacy(self) -> bool {
        self == WrappingAlgorithm::RsaesPkcs1V15
    }

    /// The size of the wrapped output for a wrapping key of `modulus_len` bytes and key
    /// material of `key_len` bytes: the modulus length, plus RFC 5649's output for RSA-AES
    /// (RSA-2048 and AES-256: 256 + 40 = 296).
    pub fn wrapped_len(self, modulus_len: usize, key_len: usize) -> usize {
        if self.is_rsa_aes() {
            modulus_len + 8 + key_len.div_ceil(8) * 8
        } else {
            modulus_len
        }
    }
}

impl WrappingAlgorithm {
    /// The least and greatest size of the wrapped output for key material of `spec` under a
    /// wrapping key of `modulus_len` bytes: one size for a secret key; for a private key, whose
    /// PKCS#8 encoding the token makes, the RSA part and RFC 5649 of the encoding's bounds.
    /// `None` where the algorithm cannot carry the material (a private key without RSA-AES).
    pub fn wrapped_len_bounds(self, modulus_len: usize, spec: KeySpec) -> Option<(usize, usize)> {
        match (spec.secret_len(), pkcs8_len_bounds(spec)) {
            (Some(len), _) => {
                let len = self.wrapped_len(modulus_len, len);
                Some((len, len))
            }
            (None, Some((min, max))) if self.is_rsa_aes() => Some((
                self.wrapped_len(modulus_len, min),
                self.wrapped_len(modulus_len, max),
            )),
            (None, _) => None,
        }
    }
}

impl fmt::Display for WrappingAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for WrappingAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        WrappingAlgorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::UnknownAlgorithm {
                value: s.to_owned(),
            })
    }
}

/// The size of the KMS's RSA wrapping key (AWS spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingKeySpec {
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
}

impl WrappingKeySpec {
    /// Every wrapping key size, smallest first.
    pub const ALL: [WrappingKeySpec; 3] = [
        WrappingKeySpec::Rsa2048,
        WrappingKeySpec::Rsa3072,
        WrappingKeySpec::Rsa4096,
    ];

    /// The modulus size in bits.
    pub fn bits(self) -> usize {
        match self {
            WrappingKeySpec::Rsa2048 => 2048,
            WrappingKeySpec::Rsa3072 => 3072,
            WrappingKeySpec::Rsa4096 => 4096,
        }
    }

    /// The AWS name.
    pub fn name(self) -> &'static str {
        match self {
            WrappingKeySpec::Rsa2048 => "RSA_2048",
            WrappingKeySpec::Rsa3072 => "RSA_3072",
            WrappingKeySpec::Rsa4096 => "RSA_4096",
        }
    }

    fn from_bits(bits: usize) -> Option<Self> {
        match bits {
            2048 => Some(WrappingKeySpec::Rsa2048),
            3072 => Some(WrappingKeySpec::Rsa3072),
            4096 => Some(WrappingKeySpec::Rsa4096),
            _ => None,
        }
    }
}

impl fmt::Display for WrappingKeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for WrappingKeySpec {
    type Err = Error;

    /// Parses the AWS name, exactly as spelt.
    fn from_str(s: &str) -> Result<Self, Error> {
        WrappingKeySpec::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::UnknownWrappingKeySpec {
                value: s.to_owned(),
            })
    }
}

/// The KMS's RSA wrapping public key, checked.
#[derive(Debug, Clone)]
pub struct WrappingKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    spec: WrappingKeySpec,
    spki_der: Vec<u8>,
    spki_sha256: String,
}

impl WrappingKey {
    /// Parses a DER SubjectPublicKeyInfo and checks it is RSA of a size KMSs use (2048, 3072 or
    /// 4096 bits).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        use rsa::pkcs8::DecodePublicKey as _;
        let key = rsa::PublicKey::from_public_key_der(der).map_err(Error::PublicKey)?;
        let bits = usize::try_from(key.n().bit_width()).unwrap_or(usize::MAX);
        if bits < MIN_RSA_BITS {
            return Err(Error::KeyTooSmall { bits });
        }
        let spec = WrappingKeySpec::from_bits(bits).ok_or(Error::KeySizeUnusual { bits })?;
        Ok(WrappingKey {
            modulus: key.n_bytes().to_vec(),
            exponent: key.e_bytes().to_vec(),
            spec,
            spki_der: der.to_vec(),
            spki_sha256: hex::encode(Sha256::digest(der)),
        })
    }

    /// The modulus, big-endian, without leading zeros.
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    /// The public exponent, big-endian.
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }

    /// The key's size.
    pub fn spec(&self) -> WrappingKeySpec {
        self.spec
    }

    /// The modulus length in bytes: the exact length of an RSA ciphertext under this key.
    pub fn modulus_len(&self) -> usize {
        self.spec.bits() / 8
    }

    /// The SubjectPublicKeyInfo DER, as the KMS gave it.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER: the key's fingerprint in manifests.
    pub fn fingerprint(&self) -> &str {
        &self.spki_sha256
    }
}

/// Why a wrapping key or an algorithm name was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The public key is not an RSA SubjectPublicKeyInfo.
    #[error("PublicKey is not an RSA public key (SubjectPublicKeyInfo): {0}")]
    PublicKey(#[source] rsa::pkcs8::spki::Error),
    /// The public key is too small.
    #[error("PublicKey is RSA-{bits}; keyrite needs at least RSA-2048")]
    KeyTooSmall {
        /// Its size.
        bits: usize,
    },
    /// The public key has a size no KMS hands out.
    #[error("PublicKey is RSA-{bits}; wrapping keys are RSA-2048, RSA-3072 or RSA-4096")]
    KeySizeUnusual {
        /// Its size.
        bits: usize,
    },
    /// The algorithm name is unknown.
    #[error(
        "unknown wrapping algorithm {value:?}; known: {}",
        WrappingAlgorithm::ALL.map(WrappingAlgorithm::name).join(", ")
    )]
    UnknownAlgorithm {
        /// The name given.
        value: String,
    },
    /// The kind of key material is unknown.
    #[error(
        "unknown key spec {value:?}; known: {}",
        ALL_KEY_SPECS.map(KeySpec::name).join(", ")
    )]
    UnknownKeySpec {
        /// The name given.
        value: String,
    },
    /// The wrapping key size is unknown.
    #[error(
        "unknown wrapping key spec {value:?}; known: {}",
        WrappingKeySpec::ALL.map(WrappingKeySpec::name).join(", ")
    )]
    UnknownWrappingKeySpec {
        /// The name given.
        value: String,
    },
}

impl Error {
    /// Whether this is a usage error (exit 2): a name keyrite does not know, or a public key
    /// that is not an RSA key at all; a size keyrite refuses is not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::PublicKey(_)
            | Error::UnknownAlgorithm { .. }
            | Error::UnknownKeySpec { .. }
            | Error::UnknownWrappingKeySpec { .. } => true,
            Error::KeyTooSmall { .. } | Error::KeySizeUnusual { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_parse_back() {
        for spec in ALL_KEY_SPECS {
            assert_eq!(spec.name().parse::<KeySpec>().unwrap(), spec);
            for alias in spec.aliases() {
                assert_eq!(alias.parse::<KeySpec>().unwrap(), spec);
            }
        }
        for spec in WrappingKeySpec::ALL {
            assert_eq!(spec.name().parse::<WrappingKeySpec>().unwrap(), spec);
        }
        assert!("aes_256".parse::<KeySpec>().is_err());
        assert!("RSA_1024".parse::<WrappingKeySpec>().is_err());
    }

    #[test]
    fn key_labels() {
        for good in ["payments-2026", "a", "K.1_x"] {
            assert!(good.parse::<KeyLabel>().is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a b", "a'b", "é", &"x".repeat(65)] {
            assert!(bad.parse::<KeyLabel>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pkcs8_bounds_hold_what_the_tokens_wrote() {
        // Lengths of the PKCS#8 kryoptic 1.5.4 and SoftHSM2 2.6.1 produced (measured).
        for (spec, len) in [
            (KeySpec::Rsa2048, 1217),
            (KeySpec::Rsa4096, 2374),
            (KeySpec::EcP256, 67),
            (KeySpec::EcP384, 80),
            (KeySpec::EcP521, 98),
            (KeySpec::EcSecp256k1, 64),
        ] {
            let (min, max) = pkcs8_len_bounds(spec).unwrap();
            assert!(
                (min..=max).contains(&len),
                "{spec}: {len} not in {min}..={max}"
            );
        }
        assert_eq!(pkcs8_len_bounds(KeySpec::Aes256), None);
    }
}
