//! The ceremony signer's public key, as the token's key pair holds it and as an auditor's
//! `--signer` file gives it: ECDSA P-256 where the token has it, RSA-PSS 3072 (SHA-256,
//! MGF1-SHA-256, salt 32) on tokens without EC. Its PEM, its fingerprint (the SHA-256 of its
//! SubjectPublicKeyInfo DER, which a policy pins whichever the algorithm), and the check of a
//! signature over a 32-byte digest — the one check the token's proof and the seal share.
//!
//! A `--signer` file is read by one rule, which `scripts/verify-with-openssl` and
//! `tests/independent/verify_transcript.py` apply in their own code: whitespace (space, tab, CR,
//! LF) around exactly one `-----BEGIN PUBLIC KEY-----` block whose lines end in LF or CRLF and
//! whose body is the standard base64 of its DER in lines of 64 characters; that DER is a
//! SubjectPublicKeyInfo of id-ecPublicKey on prime256v1 with an uncompressed point on the curve,
//! or of rsaEncryption with NULL parameters, an odd 3072-bit modulus and the exponent 65537; and
//! it is exactly the canonical DER of that key. The fingerprint is the SHA-256 of those bytes.
//!
//! It imports nothing of keyrite: `hsm` makes and proves signers with it, `verify` checks seals.

use base64::Engine as _;
use der::Decode as _;
use der::asn1::{ObjectIdentifier, UintRef};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};

/// The size of an RSA-PSS signer's modulus, in bits.
pub const RSA_PSS_BITS: u32 = 3072;

/// The salt length of an RSA-PSS seal, in bytes (that of SHA-256).
pub const RSA_PSS_SALT: usize = 32;

/// The public exponent of an RSA-PSS signer, big-endian: 65537.
pub const RSA_PSS_EXPONENT: [u8; 3] = [1, 0, 1];

/// The line that opens a signer's PEM block.
const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
/// The line that closes it.
const PEM_END: &str = "-----END PUBLIC KEY-----";
/// The length of each base64 line of the block but the last.
const PEM_WIDTH: usize = 64;

/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` (P-256).
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `rsaEncryption`.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-RSASSA-PSS`.
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

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

/// What is wrong with a signer file's PEM text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemProblem {
    /// A PKCS#1 block.
    #[error(
        "it is a PKCS#1 `-----BEGIN RSA PUBLIC KEY-----` block, where a signer's is \
         `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo)"
    )]
    Pkcs1,
    /// More than one block.
    #[error("it holds {0} PEM blocks, where a signer's file holds one")]
    Blocks(usize),
    /// Something else than whitespace before the block, or no block.
    #[error(
        "it does not begin with `-----BEGIN PUBLIC KEY-----` (only whitespace may come before it)"
    )]
    NoBegin,
    /// Something else than whitespace after the block, or no end to it.
    #[error("it does not end with `-----END PUBLIC KEY-----` (only whitespace may come after it)")]
    NoEnd,
    /// Its base64 is not in lines of 64 characters.
    #[error("its base64 is not in lines of 64 characters (the last 1 to 64)")]
    Lines,
    /// Its body is not canonical standard base64.
    #[error("its body is not canonical standard base64")]
    Base64,
    /// An SSH public key line (`ssh-ed25519 AAAA…`), as custodians and witnesses have.
    #[error(
        "it is an SSH public key ({0}), where a signer's is a `-----BEGIN PUBLIC KEY-----` block"
    )]
    SshPublicKey(String),
    /// An OpenSSH private key.
    #[error(
        "it is an OpenSSH private key, where a signer's is a `-----BEGIN PUBLIC KEY-----` block"
    )]
    SshPrivateKey,
    /// An X.509 certificate.
    #[error("it is an X.509 certificate, where a signer's is a `-----BEGIN PUBLIC KEY-----` block")]
    Certificate,
    /// A private key of PEM, the block's label given.
    #[error(
        "it is a private key (`-----BEGIN {0}-----`), where a signer's is a `-----BEGIN PUBLIC KEY-----` block"
    )]
    PrivateKey(String),
}

/// The algorithms of SSH public key lines.
const SSH_KEY_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// What a signer file that is some other kind of key holds, by its first line: an SSH public
/// key, an OpenSSH private key, a certificate or a private key.
fn other_key(text: &str) -> Option<PemProblem> {
    let first = text
        .trim_start_matches([' ', '\t', '\r', '\n'])
        .lines()
        .next()?
        .trim_end();
    if let Some(kind) = first
        .split_ascii_whitespace()
        .next()
        .filter(|word| SSH_KEY_TYPES.contains(word))
    {
        return Some(PemProblem::SshPublicKey(kind.to_owned()));
    }
    let label = first.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
    match label {
        "OPENSSH PRIVATE KEY" => Some(PemProblem::SshPrivateKey),
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => Some(PemProblem::Certificate),
        _ if label.ends_with("PRIVATE KEY") => Some(PemProblem::PrivateKey(label.to_owned())),
        _ => None,
    }
}

/// Why bytes are not a signer's public key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not UTF-8 text.
    #[error("{0}")]
    NotText(#[source] std::str::Utf8Error),
    /// Not one `PUBLIC KEY` PEM block as a signer's file holds it.
    #[error("not a public key PEM as `keyrite token signer export` writes it: {0}")]
    Pem(#[source] PemProblem),
    /// Its DER is not a SubjectPublicKeyInfo.
    #[error("its DER is not a SubjectPublicKeyInfo: {0}")]
    NotSpki(#[source] der::Error),
    /// A key of another algorithm than a signer's.
    #[error(
        "its algorithm is {0}, where a signer's is id-ecPublicKey (ECDSA P-256) or rsaEncryption \
         (RSA-PSS 3072)"
    )]
    Algorithm(String),
    /// An EC key on another curve, or without a named curve.
    #[error("an EC key whose parameters are not the named curve prime256v1 (P-256)")]
    Curve,
    /// An EC point in compressed form.
    #[error("its EC point is compressed, where a signer's is uncompressed (04 || x || y)")]
    Compressed,
    /// An EC point that is not one of P-256.
    #[error("its EC point is not a point of P-256")]
    EcPoint,
    /// rsaEncryption without its NULL parameters.
    #[error("its rsaEncryption algorithm has no NULL parameters")]
    RsaParameters,
    /// The key inside is not a PKCS#1 RSAPublicKey.
    #[error("its RSA public key is not an RSAPublicKey: {0}")]
    RsaKey(#[source] der::Error),
    /// An RSA key of another size than a signer's.
    #[error("an RSA key of {bits} bits, where a keyrite signer's RSA key has {RSA_PSS_BITS}")]
    RsaBits {
        /// Its modulus size.
        bits: u32,
    },
    /// An RSA key of another public exponent than a signer's.
    #[error("an RSA key of public exponent 0x{exponent}, where a keyrite signer's has 65537")]
    RsaExponent {
        /// Its exponent, hex.
        exponent: String,
    },
    /// An even modulus.
    #[error("its RSA modulus is even")]
    EvenModulus,
    /// DER that is not the canonical encoding of the key it holds.
    #[error("its DER is not the canonical encoding of its key (minimal lengths, nothing after it)")]
    NotCanonical,
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

/// The body of a signer file's one PEM block, decoded, by the rule the module says.
fn pem_der(text: &str) -> Result<Vec<u8>, PemProblem> {
    if let Some(problem) = other_key(text) {
        return Err(problem);
    }
    if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        return Err(PemProblem::Pkcs1);
    }
    let blocks = text.matches("-----BEGIN ").count();
    if blocks > 1 {
        return Err(PemProblem::Blocks(blocks));
    }
    let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let Some((&first, rest)) = lines.split_first() else {
        return Err(PemProblem::NoBegin);
    };
    if first != PEM_BEGIN {
        return Err(PemProblem::NoBegin);
    }
    let Some((&last, body)) = rest.split_last() else {
        return Err(PemProblem::NoEnd);
    };
    if last != PEM_END {
        return Err(PemProblem::NoEnd);
    }
    let Some((&final_line, full)) = body.split_last() else {
        return Err(PemProblem::Lines);
    };
    if full.iter().any(|l| l.len() != PEM_WIDTH) || !(1..=PEM_WIDTH).contains(&final_line.len()) {
        return Err(PemProblem::Lines);
    }
    let b64 = body.concat();
    let engine = base64::engine::general_purpose::STANDARD;
    let der = engine.decode(&b64).map_err(|_| PemProblem::Base64)?;
    if engine.encode(&der) != b64 {
        return Err(PemProblem::Base64);
    }
    Ok(der)
}

/// The bit length of a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> u32 {
    match bytes.first() {
        None => 0,
        Some(&top) => {
            let whole = u32::try_from(bytes.len() - 1).unwrap_or(u32::MAX / 16);
            whole.saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

/// Refuses an RSA modulus and exponent (big-endian, no leading zero bytes) that are not a
/// signer's: [`RSA_PSS_BITS`] bits, odd, exponent 65537.
fn check_rsa_numbers(modulus: &[u8], exponent: &[u8]) -> Result<(), KeyError> {
    let bits = bit_length(modulus);
    if bits != RSA_PSS_BITS {
        return Err(KeyError::RsaBits { bits });
    }
    if exponent != RSA_PSS_EXPONENT {
        let hex = hex::encode(exponent);
        return Err(KeyError::RsaExponent {
            exponent: hex.trim_start_matches('0').to_owned(),
        });
    }
    if modulus.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::EvenModulus);
    }
    Ok(())
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
    /// gives them: an odd modulus of [`RSA_PSS_BITS`] bits and the exponent 65537.
    pub fn rsa(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        let unpadded =
            |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|&x| x == 0).collect() };
        let (modulus, exponent) = (unpadded(modulus), unpadded(exponent));
        check_rsa_numbers(&modulus, &exponent)?;
        let key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&modulus),
            rsa::BoxedUint::from_be_slice_vartime(&exponent),
        )
        .map_err(KeyError::Rsa)?;
        Ok(SignerKey::RsaPss(key))
    }

    /// Parses a signer file: one SubjectPublicKeyInfo PEM of an EC P-256 or a 3072-bit RSA
    /// public key, by the rule the module says.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(pem).map_err(KeyError::NotText)?;
        let der = pem_der(text).map_err(KeyError::Pem)?;
        let key = Self::from_spki(&der)?;
        if key.der()? != der {
            return Err(KeyError::NotCanonical);
        }
        Ok(key)
    }

    /// The key a SubjectPublicKeyInfo holds, if it is a signer's (its encoding not yet checked
    /// to be canonical).
    fn from_spki(der: &[u8]) -> Result<Self, KeyError> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(KeyError::NotSpki)?;
        let params = spki.algorithm.parameters;
        let bits = spki.subject_public_key.as_bytes();
        match spki.algorithm.oid {
            EC_PUBLIC_KEY => {
                let curve = params.and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
                if curve != Some(PRIME256V1) {
                    return Err(KeyError::Curve);
                }
                let point = bits.ok_or(KeyError::EcPoint)?;
                if matches!(point.first(), Some(2 | 3)) {
                    return Err(KeyError::Compressed);
                }
                if point.len() != 65 || point.first() != Some(&4) {
                    return Err(KeyError::EcPoint);
                }
                p256::PublicKey::from_sec1_bytes(point)
                    .map(SignerKey::EcdsaP256)
                    .map_err(|_| KeyError::EcPoint)
            }
            RSA_ENCRYPTION => {
                if !params.is_some_and(|p| p.is_null()) {
                    return Err(KeyError::RsaParameters);
                }
                let key = bits
                    .ok_or(der::Tag::BitString.value_error().to_error())
                    .and_then(pkcs1::RsaPublicKey::<UintRef<'_>>::from_der)
                    .map_err(KeyError::RsaKey)?;
                Self::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes())
            }
            RSASSA_PSS => Err(KeyError::Algorithm("id-RSASSA-PSS".to_owned())),
            other => Err(KeyError::Algorithm(other.to_string())),
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
    fn an_rsa_key_of_another_exponent_is_refused() {
        let mut modulus = vec![0xffu8; 384];
        modulus[383] = 0xfb;
        let Err(err) = SignerKey::rsa(&modulus, &[0, 3]) else {
            unreachable!("exponent 3 is no signer's")
        };
        assert_eq!(
            err.to_string(),
            "an RSA key of public exponent 0x3, where a keyrite signer's has 65537"
        );
    }

    #[test]
    fn the_pem_is_one_block_of_64_character_lines() {
        let der = |text: &str| pem_der(text).map_err(|e| e.to_string());
        let body = "QUJD".repeat(16);
        let good = format!("\r\n {PEM_BEGIN}\r\n{body}\nAAAA\r\n{PEM_END}\t\n\n");
        assert_eq!(der(&good), Ok([b"ABC".repeat(16), vec![0; 3]].concat()));
        for (text, problem) in [
            (format!("x{good}"), PemProblem::NoBegin),
            (format!("{good}x"), PemProblem::NoEnd),
            (format!("{good}{good}"), PemProblem::Blocks(2)),
            (good.replace("PUBLIC", "RSA PUBLIC"), PemProblem::Pkcs1),
            (good.replace("\nAAAA", "AAAA"), PemProblem::Lines),
            (good.replace("QUJD\n", "QUJD\r\r\n"), PemProblem::Lines),
            (good.replace("QUJDQUJD", "QUJD"), PemProblem::Lines),
            (good.replace("AAAA\r", "AAAA \r"), PemProblem::Base64),
            (good.replace("AAAA\r", "AAB=\r"), PemProblem::Base64),
            (good.replace("AAAA\r", "AB==\r"), PemProblem::Base64),
            (format!("{PEM_BEGIN}\n{PEM_END}\n"), PemProblem::Lines),
            (String::new(), PemProblem::NoBegin),
            (
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 wendy@laptop\n".to_owned(),
                PemProblem::SshPublicKey("ssh-ed25519".to_owned()),
            ),
            (
                "\necdsa-sha2-nistp256 AAAAE2VjZHNh\n".to_owned(),
                PemProblem::SshPublicKey("ecdsa-sha2-nistp256".to_owned()),
            ),
            (
                good.replace("PUBLIC KEY", "OPENSSH PRIVATE KEY"),
                PemProblem::SshPrivateKey,
            ),
            (
                good.replace("PUBLIC KEY", "CERTIFICATE"),
                PemProblem::Certificate,
            ),
            (
                good.replace("PUBLIC KEY", "EC PRIVATE KEY"),
                PemProblem::PrivateKey("EC PRIVATE KEY".to_owned()),
            ),
        ] {
            assert_eq!(der(&text), Err(problem.to_string()), "{text:?}");
        }
    }

    #[test]
    fn garbage_is_no_key() {
        let pem = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let Err(err) = SignerKey::from_pem(pem) else {
            unreachable!("no key")
        };
        assert_eq!(
            err.to_string(),
            "its DER is not a SubjectPublicKeyInfo: unknown/unsupported ASN.1 DER tag: 0x00 at DER byte 1"
        );
    }
}
