//! Cloud KMS import formats: parse the import parameters a KMS hands out, check them, and
//! write the files its import call takes.
//!
//! Everything here runs before a token is opened. It trusts nothing in the parameters file: the
//! JSON is parsed strictly (duplicate keys refused), every identifier that reaches a generated
//! shell script is checked against the provider's syntax and single-quoted, the wrapping public
//! key must be RSA of at least 2048 bits, and expired parameters are refused.

pub mod alibaba;
pub mod aws;

use std::fmt;

use crate::hsm::keys::KeySpec;
use base64::Engine as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The smallest RSA wrapping key keyrite accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// A KMS keyrite writes import files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// AWS KMS (`aws kms import-key-material`).
    Aws,
    /// Alibaba Cloud KMS (`aliyun kms ImportKeyMaterial`).
    Alibaba,
}

impl Provider {
    /// The provider's name on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Alibaba => "alibaba",
        }
    }

    /// The provider's name for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Provider::Aws => "AWS KMS",
            Provider::Alibaba => "Alibaba Cloud KMS",
        }
    }

    /// The wrapping algorithms this provider imports.
    pub fn algorithms(self) -> &'static [WrappingAlgorithm] {
        use WrappingAlgorithm::*;
        match self {
            Provider::Aws => &[
                RsaesOaepSha1,
                RsaesOaepSha256,
                RsaAesKeyWrapSha1,
                RsaAesKeyWrapSha256,
                RsaesPkcs1V15,
            ],
            Provider::Alibaba => &[RsaesOaepSha1, RsaesOaepSha256, RsaesPkcs1V15],
        }
    }

    /// The kinds of key material this provider imports.
    pub fn key_specs(self) -> &'static [KeySpec] {
        use KeySpec::*;
        match self {
            Provider::Aws => &[Aes256, Hmac224, Hmac256, Hmac384, Hmac512],
            Provider::Alibaba => &[Aes256],
        }
    }

    /// The RSA wrapping key sizes this provider hands out.
    pub fn wrapping_key_specs(self) -> &'static [WrappingKeySpec] {
        use WrappingKeySpec::*;
        match self {
            Provider::Aws => &[Rsa2048, Rsa3072, Rsa4096],
            Provider::Alibaba => &[Rsa2048],
        }
    }

    /// Parses the import parameters file of this provider.
    pub fn parse_params(self, bytes: &[u8], now: OffsetDateTime) -> Result<ImportParams, Error> {
        match self {
            Provider::Aws => aws::parse(bytes, now),
            Provider::Alibaba => alibaba::parse(bytes, now),
        }
    }

    /// The files the provider's import call takes, `import.sh` included.
    pub fn import_files(self, import: &Import<'_>) -> Vec<OutputFile> {
        match self {
            Provider::Aws => aws::files(import),
            Provider::Alibaba => alibaba::files(import),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrappingKeySpec {
    /// RSA 2048 bits.
    #[value(name = "RSA_2048")]
    Rsa2048,
    /// RSA 3072 bits.
    #[value(name = "RSA_3072")]
    Rsa3072,
    /// RSA 4096 bits.
    #[value(name = "RSA_4096")]
    Rsa4096,
}

impl WrappingKeySpec {
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

/// The KMS's RSA wrapping public key, checked.
#[derive(Debug, Clone)]
pub struct WrappingKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    spec: WrappingKeySpec,
    spki_sha256: String,
}

impl WrappingKey {
    /// Parses a DER SubjectPublicKeyInfo and checks it is RSA of a size KMSs use (2048, 3072 or
    /// 4096 bits).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        use rsa::pkcs8::DecodePublicKey as _;
        let key = rsa::PublicKey::from_public_key_der(der).map_err(|e| Error::PublicKey {
            reason: e.to_string(),
        })?;
        let bits = usize::try_from(key.n().bit_width()).unwrap_or(usize::MAX);
        if bits < MIN_RSA_BITS {
            return Err(Error::KeyTooSmall { bits });
        }
        let spec = WrappingKeySpec::from_bits(bits).ok_or(Error::KeySizeUnusual { bits })?;
        Ok(WrappingKey {
            modulus: key.n_bytes().to_vec(),
            exponent: key.e_bytes().to_vec(),
            spec,
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

    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER: the key's fingerprint in manifests.
    pub fn fingerprint(&self) -> &str {
        &self.spki_sha256
    }
}

/// Import parameters as a KMS handed them out, checked.
#[derive(Debug, Clone)]
pub struct ImportParams {
    /// The KMS key id (or ARN) exactly as the KMS printed it; safe to single-quote in a script.
    pub key_id: String,
    /// The import token, raw bytes.
    pub import_token: Vec<u8>,
    /// The RSA wrapping public key.
    pub public_key: WrappingKey,
    /// When the import token and wrapping key expire.
    pub valid_to: OffsetDateTime,
}

impl ImportParams {
    /// Checks the parameters against what the user asked for: the algorithm is one the provider
    /// imports, the wrapping key has the size the user named and the provider hands out.
    pub fn check(
        &self,
        provider: Provider,
        algorithm: WrappingAlgorithm,
        spec: Option<WrappingKeySpec>,
        key_spec: KeySpec,
    ) -> Result<(), Error> {
        if !provider.key_specs().contains(&key_spec) {
            return Err(Error::KeySpecNotImported { provider, key_spec });
        }
        if !provider.algorithms().contains(&algorithm) {
            return Err(Error::AlgorithmNotAllowed {
                provider,
                algorithm,
            });
        }
        let actual = self.public_key.spec();
        if !provider.wrapping_key_specs().contains(&actual) {
            return Err(Error::KeySpecNotAllowed { provider, actual });
        }
        if let Some(expected) = spec {
            if expected != actual {
                return Err(Error::KeySpecMismatch { expected, actual });
            }
        }
        Ok(())
    }
}

/// Everything a provider needs to write its import files.
#[derive(Debug)]
pub struct Import<'a> {
    /// The checked import parameters.
    pub params: &'a ImportParams,
    /// The algorithm the material was wrapped with.
    pub algorithm: WrappingAlgorithm,
    /// The wrapped key material, exactly as the token produced it.
    pub wrapped: &'a [u8],
    /// When the imported material should expire in the KMS; `None` for never.
    pub material_valid_to: Option<OffsetDateTime>,
}

/// One file of an output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The file name (no directories).
    pub name: &'static str,
    /// The file's bytes.
    pub contents: Vec<u8>,
    /// Whether the file is a script to run.
    pub executable: bool,
}

/// Why import parameters or options were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parameters file is not JSON.
    #[error("the parameters file is not valid JSON: {reason}")]
    Json {
        /// What the parser said.
        reason: String,
    },
    /// The parameters file names a key twice.
    #[error("the parameters file has the key {key:?} more than once")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// The parameters file is JSON but not an object.
    #[error("the parameters file is not a JSON object")]
    NotAnObject,
    /// A field the provider always prints is missing.
    #[error("the parameters file has no {field}")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{field} in the parameters file must be {expected}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A field is not valid base64.
    #[error("{field} in the parameters file is not valid base64")]
    Base64 {
        /// The field name.
        field: &'static str,
    },
    /// A timestamp is malformed or out of range.
    #[error("{field} in the parameters file is not a valid time: {value}")]
    BadTime {
        /// The field name.
        field: &'static str,
        /// The value, as found.
        value: String,
    },
    /// The key id is not of the provider's syntax.
    #[error("KeyId {value:?} is not {expected}")]
    InvalidKeyId {
        /// The value, as found.
        value: String,
        /// What a key id of this provider looks like.
        expected: &'static str,
    },
    /// The parameters have expired.
    #[error("the import parameters expired at {valid_to}")]
    Expired {
        /// When they expired (RFC 3339).
        valid_to: String,
    },
    /// The public key is not an RSA SubjectPublicKeyInfo.
    #[error("PublicKey is not an RSA public key (SubjectPublicKeyInfo): {reason}")]
    PublicKey {
        /// What the parser said.
        reason: String,
    },
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
    /// The public key is not the size the user named.
    #[error("PublicKey is {}, not the {} asked for", actual.name(), expected.name())]
    KeySpecMismatch {
        /// What the user asked for.
        expected: WrappingKeySpec,
        /// What the parameters hold.
        actual: WrappingKeySpec,
    },
    /// The provider does not hand out wrapping keys of that size.
    #[error("{} does not use {} wrapping keys", provider.display_name(), actual.name())]
    KeySpecNotAllowed {
        /// The provider.
        provider: Provider,
        /// What the parameters hold.
        actual: WrappingKeySpec,
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
    /// The provider does not import that kind of key material.
    #[error("{} does not import {key_spec} key material", provider.display_name())]
    KeySpecNotImported {
        /// The provider.
        provider: Provider,
        /// The key material.
        key_spec: KeySpec,
    },
    /// The provider does not import material wrapped that way.
    #[error("{} does not import key material wrapped with {algorithm}", provider.display_name())]
    AlgorithmNotAllowed {
        /// The provider.
        provider: Provider,
        /// The algorithm.
        algorithm: WrappingAlgorithm,
    },
}

/// Parses JSON, refusing duplicate keys at any depth (serde_json keeps the last one silently).
pub fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde::de::DeserializeSeed::deserialize(strict::StrictValue, &mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| match strict::duplicate_key(&e) {
            Some(key) => Error::DuplicateKey { key },
            None => Error::Json {
                reason: e.to_string(),
            },
        })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::NotAnObject),
    }
}

mod strict {
    //! A `serde_json::Value` that refuses duplicate object keys.
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use std::fmt;

    const DUPLICATE: &str = "duplicate key ";

    pub(super) fn duplicate_key(e: &serde_json::Error) -> Option<String> {
        let msg = e.to_string();
        let rest = msg.strip_prefix(DUPLICATE)?;
        let end = rest.find(" at line ").unwrap_or(rest.len());
        serde_json::from_str(&rest[..end]).ok()
    }

    pub(super) struct StrictValue;

    impl<'de> DeserializeSeed<'de> for StrictValue {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for StrictValue {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(StrictValue)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    let quoted = serde_json::to_string(&key).unwrap_or_default();
                    return Err(de::Error::custom(format_args!("{DUPLICATE}{quoted}")));
                }
                let value = map.next_value_seed(StrictValue)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }
}

/// Lowercase letters, digits and `-`: a cloud region.
pub(crate) fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One or more ASCII digits.
pub(crate) fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `KeyId`, `ImportToken` and `PublicKey`, which AWS and Alibaba print under the same names:
/// the key id checked with `key_id_ok` (it goes into a shell script), the token and the
/// wrapping key decoded and checked.
pub(crate) fn key_id_token_and_public_key(
    map: &Map<String, Value>,
    key_id_ok: fn(&str) -> bool,
    key_id_syntax: &'static str,
) -> Result<(String, Vec<u8>, WrappingKey), Error> {
    let key_id = string_field(map, "KeyId")?;
    if !key_id_ok(key_id) {
        return Err(Error::InvalidKeyId {
            value: key_id.to_owned(),
            expected: key_id_syntax,
        });
    }
    let import_token = base64_field(map, "ImportToken")?;
    let public_key = WrappingKey::from_spki_der(&base64_field(map, "PublicKey")?)?;
    Ok((key_id.to_owned(), import_token, public_key))
}

/// Reads a required string field.
pub(crate) fn string_field<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Err(Error::MissingField { field }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// Reads a required standard-base64 field.
pub(crate) fn base64_field(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Vec<u8>, Error> {
    let text = string_field(map, field)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Error::Base64 { field })?;
    if bytes.is_empty() {
        return Err(Error::Base64 { field });
    }
    Ok(bytes)
}

/// Parses an RFC 3339 time.
pub(crate) fn rfc3339(field: &'static str, text: &str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| Error::BadTime {
        field,
        value: text.to_owned(),
    })
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Refuses parameters whose expiry has passed.
pub(crate) fn check_not_expired(
    valid_to: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), Error> {
    if valid_to <= now {
        return Err(Error::Expired {
            valid_to: format_time(valid_to),
        });
    }
    Ok(())
}

/// Quotes a value for a POSIX shell: single quotes, with `'` written as `'\''`.
///
/// Callers validate identifiers first; quoting is the second line of defence.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The shell prologue every `import.sh` starts with: strict mode and the directory the script
/// lives in, so it runs from anywhere and finds its files beside itself.
pub(crate) fn script_prologue(comment: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by keyrite {version}. {comment}\n\
         # Arguments are passed on to the CLI (for example --profile NAME or --endpoint-url URL).\n\
         set -eu\n\
         here=$(CDPATH='' cd -- \"$(dirname -- \"$0\")\" && pwd)\n",
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let e = parse_json_object(br#"{"a": 1, "b": {"c": 1, "c": 2}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"the parameters file has the key "c" more than once"#
        );
        let e = parse_json_object(br#"{"KeyId": "x", "KeyId": "y"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"the parameters file has the key "KeyId" more than once"#
        );
        assert!(parse_json_object(br#"{"a": [{"c": 1}, {"c": 2}]}"#).is_ok());
    }

    #[test]
    fn trailing_bytes_and_non_objects_are_refused() {
        assert!(matches!(
            parse_json_object(b"{} {}"),
            Err(Error::Json { .. })
        ));
        assert!(matches!(parse_json_object(b"[1]"), Err(Error::NotAnObject)));
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
        assert_eq!(shell_quote("$(x)"), "'$(x)'");
    }
}
