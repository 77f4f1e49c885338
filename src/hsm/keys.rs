//! Ceremony keys: the attribute template, generation in the token, lookup by label, and key
//! check values read from the token.

use std::fmt;

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use serde::Serialize;

use super::{Error, NoKcv, Pkcs11Failure, Token};

/// The kind of key material a ceremony generates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum KeySpec {
    /// A 256-bit AES key (AWS `SYMMETRIC_DEFAULT`, Alibaba `Aliyun_AES_256`).
    #[value(name = "AES_256", aliases = ["SYMMETRIC_DEFAULT", "Aliyun_AES_256"])]
    #[serde(rename = "AES_256")]
    #[default]
    Aes256,
    /// A 224-bit HMAC key (a generic secret of 28 bytes).
    #[value(name = "HMAC_224")]
    #[serde(rename = "HMAC_224")]
    Hmac224,
    /// A 256-bit HMAC key (a generic secret of 32 bytes).
    #[value(name = "HMAC_256")]
    #[serde(rename = "HMAC_256")]
    Hmac256,
    /// A 384-bit HMAC key (a generic secret of 48 bytes).
    #[value(name = "HMAC_384")]
    #[serde(rename = "HMAC_384")]
    Hmac384,
    /// A 512-bit HMAC key (a generic secret of 64 bytes).
    #[value(name = "HMAC_512")]
    #[serde(rename = "HMAC_512")]
    Hmac512,
    /// An RSA key pair of 2048 bits (public exponent 65537).
    #[value(name = "RSA_2048")]
    #[serde(rename = "RSA_2048")]
    Rsa2048,
    /// An RSA key pair of 3072 bits.
    #[value(name = "RSA_3072")]
    #[serde(rename = "RSA_3072")]
    Rsa3072,
    /// An RSA key pair of 4096 bits.
    #[value(name = "RSA_4096")]
    #[serde(rename = "RSA_4096")]
    Rsa4096,
    /// An EC key pair on NIST P-256 (AWS `ECC_NIST_P256`).
    #[value(name = "EC_P256", aliases = ["ECC_NIST_P256"])]
    #[serde(rename = "EC_P256")]
    EcP256,
    /// An EC key pair on NIST P-384 (AWS `ECC_NIST_P384`).
    #[value(name = "EC_P384", aliases = ["ECC_NIST_P384"])]
    #[serde(rename = "EC_P384")]
    EcP384,
    /// An EC key pair on NIST P-521 (AWS `ECC_NIST_P521`).
    #[value(name = "EC_P521", aliases = ["ECC_NIST_P521"])]
    #[serde(rename = "EC_P521")]
    EcP521,
    /// An EC key pair on secp256k1 (AWS `ECC_SECG_P256K1`).
    #[value(name = "EC_SECP256K1", aliases = ["ECC_SECG_P256K1"])]
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

/// How the token's `CKA_CHECK_VALUE` is computed for a key type (PKCS#11 3.0); `None` for types
/// keyrite does not make.
fn check_value_method(key_type: KeyType) -> Option<KcvMethod> {
    if key_type == KeyType::AES {
        Some(KcvMethod::AesEcbZero3)
    } else if key_type == KeyType::GENERIC_SECRET {
        Some(KcvMethod::Sha1First3)
    } else {
        None
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

/// How a key check value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KcvMethod {
    /// First 3 bytes of AES-ECB(K, 16 zero bytes): `CKA_CHECK_VALUE` of an AES key.
    #[serde(rename = "aes-ecb-zero-3")]
    AesEcbZero3,
    /// First 3 bytes of SHA-1(K): `CKA_CHECK_VALUE` of a generic secret.
    #[serde(rename = "sha1-3")]
    Sha1First3,
    /// First 3 bytes of SHA-256(K), by `C_DigestKey`.
    #[serde(rename = "sha256-3")]
    Sha256First3,
    /// A key pair's identity: SHA-256 of its public key's SubjectPublicKeyInfo DER (64 hex
    /// digits), in place of a check value, which a private key does not have.
    #[serde(rename = "spki-sha256")]
    SpkiSha256,
}

impl KcvMethod {
    /// The method's name in manifests and transcripts.
    pub fn name(self) -> &'static str {
        match self {
            KcvMethod::AesEcbZero3 => "aes-ecb-zero-3",
            KcvMethod::Sha1First3 => "sha1-3",
            KcvMethod::Sha256First3 => "sha256-3",
            KcvMethod::SpkiSha256 => "spki-sha256",
        }
    }
}

/// A key check value: identifies material without revealing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kcv {
    /// Six lowercase hex digits; for a key pair, the 64 of its public key's SHA-256.
    pub value: String,
    /// How it was computed.
    pub method: KcvMethod,
}

impl fmt::Display for Kcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.value, self.method.name())
    }
}

/// The outcome of asking the token for a key check value.
#[derive(Debug, Clone)]
pub enum KcvResult {
    /// The token gave one.
    Known(Kcv),
    /// The token gave none; why.
    Unavailable(NoKcv),
}

/// The `CKA_ID` of a key a plan generates: 8 random bytes, then the first 8 bytes of
/// SHA-256(`keyrite-plan-key v1`, NUL, the plan's SHA-256 in hex, the random bytes). A key that is
/// not modifiable keeps it for life, and only a PIN holder can make a private key, so a resumed
/// run proves by it that a key on the token was generated by a run of this plan — not by another
/// plan's run under the same label ([`plan_key_id_binds`]).
pub fn plan_key_id(nonce: &[u8], plan_sha256: &str) -> Vec<u8> {
    use sha2::{Digest as _, Sha256};
    let mut digest = Sha256::new();
    digest.update(b"keyrite-plan-key v1\0");
    digest.update(plan_sha256.as_bytes());
    digest.update(nonce);
    let mut id = nonce.to_vec();
    id.extend_from_slice(&digest.finalize()[..8]);
    id
}

/// Whether `id_hex` (a `CKA_ID`, hex) is one [`plan_key_id`] made for the plan `plan_sha256`.
pub fn plan_key_id_binds(id_hex: &str, plan_sha256: &str) -> bool {
    hex::decode(id_hex).is_ok_and(|id| id.len() == 16 && plan_key_id(&id[..8], plan_sha256) == id)
}

fn marker_label(ceremony_id: &str) -> Vec<u8> {
    format!("keyrite-ceremony:{ceremony_id}").into_bytes()
}

/// A ceremony's marker object on the token, as [`Token::ceremony_markers`] reads it.
#[derive(Debug)]
pub struct CeremonyMarker {
    /// `CKA_PRIVATE`: a private object needs the user PIN to be created or destroyed.
    pub private: Option<bool>,
    /// Whether it holds the SHA-256 of the plan asked about: found by that value, which is
    /// never read back (keyrite asks a token for no object's `CKA_VALUE`).
    pub this_plan: bool,
}

/// A ceremony key just generated.
#[derive(Debug)]
pub struct GeneratedKey {
    /// Its handle in this session.
    pub handle: ObjectHandle,
    /// Its `CKA_ID`.
    pub id: Vec<u8>,
    /// The template it was generated with, as recorded.
    pub template: Vec<(String, String)>,
    /// EC key pairs generated and destroyed before this one because the token's PKCS#8 of
    /// their private key was not RFC 5915 (see [`super::pair::EC_ATTEMPTS`]).
    pub discarded: usize,
}

/// The attribute template of a ceremony key (DESIGN.md, invariant 1): a token object, private,
/// sensitive, extractable only so it can be wrapped, not modifiable, and of no use for anything
/// else — SoftHSM2 defaults several usage flags to true, so each is set false explicitly. With
/// `wrap_with_trusted`, also `CKA_WRAP_WITH_TRUSTED`: only keys the security officer marked
/// `CKA_TRUSTED` may wrap it.
pub fn ceremony_key_template(
    label: &KeyLabel,
    id: &[u8],
    spec: KeySpec,
    wrap_with_trusted: bool,
) -> Vec<Attribute> {
    let mut template = vec![
        Attribute::Class(if spec.is_asymmetric() {
            ObjectClass::PRIVATE_KEY
        } else {
            ObjectClass::SECRET_KEY
        }),
        Attribute::KeyType(spec.key_type()),
    ];
    if let Some(len) = spec.secret_len() {
        template.push(Attribute::ValueLen((len as u64).into()));
    }
    template.extend([
        Attribute::Label(label.as_str().as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::Modifiable(false),
    ]);
    if spec.is_asymmetric() {
        // A private key can sign, recover, decrypt, unwrap and derive: none of it.
        template.extend([
            Attribute::Sign(false),
            Attribute::SignRecover(false),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
    } else {
        template.extend([
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
    }
    if wrap_with_trusted {
        template.push(Attribute::WrapWithTrusted(true));
    }
    template
}

/// The template of a key restored from a backup by `C_UnwrapKey`: the ceremony template without
/// `CKA_VALUE_LEN`, which an unwrap takes from the material, and with `CKA_MODIFIABLE=false`
/// last. SoftHSM2 2.6.1 applies an unwrap template in order, so an attribute after
/// `CKA_MODIFIABLE=false` (or `CKA_VALUE_LEN` anywhere) fails with `CKR_ATTRIBUTE_READ_ONLY`.
pub fn restore_key_template(label: &KeyLabel, id: &[u8], spec: KeySpec) -> Vec<Attribute> {
    let mut template = ceremony_key_template(label, id, spec, false);
    template.retain(|a| !matches!(a, Attribute::ValueLen(_) | Attribute::Modifiable(_)));
    template.push(Attribute::Modifiable(false));
    template
}

/// The template as recorded in manifests: attribute names and values, never a key value.
pub fn describe_template(template: &[Attribute]) -> Vec<(String, String)> {
    template
        .iter()
        .map(|a| {
            let value = match a {
                Attribute::Class(c) => c.to_string(),
                Attribute::KeyType(k) => k.to_string(),
                Attribute::ValueLen(n) => u64::from(*n).to_string(),
                Attribute::Label(l) => String::from_utf8_lossy(l).into_owned(),
                Attribute::Id(id) => hex::encode(id),
                Attribute::Token(b)
                | Attribute::Private(b)
                | Attribute::Sensitive(b)
                | Attribute::Extractable(b)
                | Attribute::Modifiable(b)
                | Attribute::Encrypt(b)
                | Attribute::Decrypt(b)
                | Attribute::Sign(b)
                | Attribute::Verify(b)
                | Attribute::Wrap(b)
                | Attribute::Unwrap(b)
                | Attribute::Derive(b)
                | Attribute::SignRecover(b)
                | Attribute::VerifyRecover(b)
                | Attribute::WrapWithTrusted(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            (a.attribute_type().to_string(), value)
        })
        .collect()
}

impl Token {
    /// Every object on the token (visible to this session) labelled `label`.
    pub fn objects_labelled(&self, label: &str) -> Result<Vec<ObjectHandle>, Error> {
        Ok(self
            .session()
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])?)
    }

    /// Refuses a label that already names an object.
    pub fn check_label_free(&self, label: &KeyLabel) -> Result<(), Error> {
        if self.objects_labelled(label.as_str())?.is_empty() {
            Ok(())
        } else {
            Err(Error::LabelExists {
                token: self.label().to_owned(),
                label: label.to_string(),
            })
        }
    }

    /// Generates a ceremony key in the token with [`ceremony_key_template`] and a 16-byte
    /// `CKA_ID` from the token's RNG — for a plan's key, bound to the plan's SHA-256 `plan` (see
    /// [`plan_key_id`]); for a key pair, the public key object beside it. An EC key pair whose
    /// private key the token would encode other than by RFC 5915 is destroyed and another
    /// generated, up to [`super::pair::EC_ATTEMPTS`] in all.
    pub fn generate_ceremony_key(
        &self,
        label: &KeyLabel,
        spec: KeySpec,
        wrap_with_trusted: bool,
        plan: Option<&str>,
    ) -> Result<GeneratedKey, Error> {
        let id = match plan {
            Some(plan) => plan_key_id(&self.session().generate_random_vec(8)?, plan),
            None => self.session().generate_random_vec(16)?,
        };
        let template = ceremony_key_template(label, &id, spec, wrap_with_trusted);
        let mut discarded = 0;
        let handle = if spec.is_asymmetric() {
            loop {
                let private = self.generate_pair(&template, label, &id, spec)?;
                match self.check_pkcs8(private, spec) {
                    Ok(_) => break private,
                    Err(e) => {
                        self.destroy_key(private)?;
                        discarded += 1;
                        if !matches!(e, Error::NotRfc5915 { .. })
                            || discarded == super::pair::EC_ATTEMPTS
                        {
                            return Err(e);
                        }
                    }
                }
            }
        } else {
            self.session().generate_key(&spec.mechanism(), &template)?
        };
        Ok(GeneratedKey {
            handle,
            id,
            template: describe_template(&template),
            discarded,
        })
    }

    /// The markers of ceremony `ceremony_id` on the token (none: it never ran here; normally
    /// one otherwise): whether each is a private object, and whether it holds `plan_sha256`.
    pub fn ceremony_markers(
        &self,
        ceremony_id: &str,
        plan_sha256: &str,
    ) -> Result<Vec<CeremonyMarker>, Error> {
        let labelled = [
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(marker_label(ceremony_id)),
        ];
        let this_plan = self.session().find_objects(
            &[
                labelled.to_vec(),
                vec![Attribute::Value(plan_sha256.as_bytes().to_vec())],
            ]
            .concat(),
        )?;
        let mut markers = Vec::new();
        for handle in self.session().find_objects(&labelled)? {
            let private = self
                .session()
                .get_attributes(handle, &[AttributeType::Private])?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Private(b) => Some(b),
                    _ => None,
                });
            markers.push(CeremonyMarker {
                private,
                this_plan: this_plan.contains(&handle),
            });
        }
        Ok(markers)
    }

    /// Leaves the marker of a ceremony run on the token: a `CKO_DATA` object labelled
    /// `keyrite-ceremony:ID` holding the plan's SHA-256, made before the run's first change to
    /// the token. A plan id that already ran is refused, and `--resume-from` continues only the
    /// plan whose SHA-256 the marker holds. The marker is private (`CKA_PRIVATE`) and not
    /// modifiable: nobody can create, change or destroy one without the user PIN, so a
    /// marker is evidence that a PIN holder ran the plan it names. Every token keyrite runs on
    /// (SoftHSM2, kryoptic) makes it private; a token that could not would fail here, before
    /// any key is made.
    pub fn create_ceremony_marker(
        &self,
        ceremony_id: &str,
        plan_sha256: &str,
    ) -> Result<(), Error> {
        self.session().create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Modifiable(false),
            Attribute::Label(marker_label(ceremony_id)),
            Attribute::Application(b"keyrite".to_vec()),
            // A data object's value, written (the plan's digest): never a key's, never read.
            Attribute::Value(plan_sha256.as_bytes().to_vec()),
        ])?;
        Ok(())
    }

    /// Destroys an object.
    pub fn destroy(&self, handle: ObjectHandle) -> Result<(), Error> {
        Ok(self.session().destroy_object(handle)?)
    }

    /// The key check value, read from the token: `CKA_CHECK_VALUE` where the token computes it,
    /// else SHA-256 by `C_DigestKey` where the token allows that on a sensitive key. Never the
    /// key's value, and never a usage granted just for this.
    pub fn key_check_value(
        &self,
        key: ObjectHandle,
        key_type: KeyType,
    ) -> Result<KcvResult, Error> {
        match self.public_key_kcv(key, key_type) {
            Ok(Some(kcv)) => return Ok(KcvResult::Known(kcv)),
            Ok(None) => {}
            Err(Error::PublicKey { problem, .. }) => {
                return Ok(KcvResult::Unavailable(NoKcv::PublicKey(problem)));
            }
            Err(e) => return Err(e),
        }
        // The token's own check value is the best; C_DigestKey is asked only without one.
        if let Some(kcv) = self.check_value_attribute(key, key_type)? {
            return Ok(KcvResult::Known(kcv));
        }
        Ok(match self.digest_kcv(key) {
            Ok(kcv) => KcvResult::Known(kcv),
            Err(why) => KcvResult::Unavailable(why),
        })
    }

    /// A private key's identity, its public key's fingerprint; `None` for a secret key. An
    /// `Error::PublicKey` says why a private key has none (a key another tool made without its
    /// public key object beside it, say): the key is then listed without one, and nothing that
    /// needs its identity accepts it.
    fn public_key_kcv(&self, key: ObjectHandle, key_type: KeyType) -> Result<Option<Kcv>, Error> {
        if key_type != KeyType::RSA && key_type != KeyType::EC {
            return Ok(None);
        }
        Ok(Some(Kcv {
            value: self.public_key_of(key)?.fingerprint(),
            method: KcvMethod::SpkiSha256,
        }))
    }

    /// `CKA_CHECK_VALUE` as a KCV, where the token computes one for this key type.
    fn check_value_attribute(
        &self,
        key: ObjectHandle,
        key_type: KeyType,
    ) -> Result<Option<Kcv>, Error> {
        let Some(method) = check_value_method(key_type) else {
            return Ok(None);
        };
        let value = match self
            .session()
            .get_attributes(key, &[AttributeType::CheckValue])
        {
            Ok(attrs) => attrs.into_iter().find_map(|a| match a {
                Attribute::CheckValue(v) if v.len() >= 3 => Some(v),
                _ => None,
            }),
            Err(cryptoki::error::Error::Pkcs11(
                RvError::AttributeTypeInvalid | RvError::AttributeSensitive,
                _,
            )) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(value.map(|v| Kcv {
            value: hex::encode(&v[..3]),
            method,
        }))
    }

    /// Every key check value the token gives for `key`, best first: `CKA_CHECK_VALUE`, then
    /// SHA-256 by `C_DigestKey`. A backup records them all, so a second token that computes only
    /// one of them can still prove it holds the same material. With none, says why: the inner
    /// `Ok` is never empty.
    pub fn check_values(
        &self,
        key: ObjectHandle,
        key_type: KeyType,
    ) -> Result<Result<Vec<Kcv>, NoKcv>, Error> {
        match self.public_key_kcv(key, key_type) {
            Ok(Some(kcv)) => return Ok(Ok(vec![kcv])),
            Ok(None) => {}
            Err(Error::PublicKey { problem, .. }) => return Ok(Err(NoKcv::PublicKey(problem))),
            Err(e) => return Err(e),
        }
        let attribute = self.check_value_attribute(key, key_type)?;
        Ok(match (attribute, self.digest_kcv(key)) {
            (Some(a), Ok(d)) => Ok(vec![a, d]),
            (Some(a), Err(_)) => Ok(vec![a]),
            (None, Ok(d)) => Ok(vec![d]),
            (None, Err(why)) => Err(why),
        })
    }

    /// The first 3 bytes of SHA-256 of the key by `C_DigestKey`, or why the token gives none.
    fn digest_kcv(&self, key: ObjectHandle) -> Result<Kcv, NoKcv> {
        match self.digest_key_sha256(key) {
            Ok(digest) if digest.len() >= 3 => Ok(Kcv {
                value: hex::encode(&digest[..3]),
                method: KcvMethod::Sha256First3,
            }),
            Ok(_) => Err(NoKcv::ShortDigest),
            Err(e) => Err(NoKcv::DigestRefused(Pkcs11Failure::from_error(e))),
        }
    }

    /// The full check value of a secret key: the SHA-256 (64 hex digits) of its value by
    /// `C_DigestKey`, or why the token gives none.
    pub fn full_check_value(&self, key: ObjectHandle) -> Result<String, NoKcv> {
        match self.digest_key_sha256(key) {
            Ok(digest) if digest.len() == 32 => Ok(hex::encode(digest)),
            Ok(digest) => Err(NoKcv::NotSha256 { len: digest.len() }),
            Err(e) => Err(NoKcv::FullDigestRefused(Pkcs11Failure::from_error(e))),
        }
    }

    /// How the token reports key check values, found on a throw-away session key of `spec`
    /// with the ceremony template (but not a token object, not private).
    pub fn kcv_support(&self, spec: KeySpec) -> Result<KcvResult, Error> {
        let label: KeyLabel = KeyLabel("keyrite-kcv-trial".to_owned());
        let mut template = ceremony_key_template(&label, b"kcv-trial", spec, false);
        for a in &mut template {
            match a {
                Attribute::Token(b) | Attribute::Private(b) => *b = false,
                _ => {}
            }
        }
        let key = self.session().generate_key(&spec.mechanism(), &template)?;
        let result = self.key_check_value(key, spec.key_type());
        self.destroy(key)?;
        result
    }

    /// The full-length check value of a secret key: SHA-256 of its material by `C_DigestKey`
    /// (64 hex digits), or `None` where the token computes none. SoftHSM2 and kryoptic both
    /// digest a sensitive key; the key is granted no usage for it.
    pub fn check_sha256(&self, key: ObjectHandle) -> Option<String> {
        self.digest_key_sha256(key)
            .ok()
            .filter(|d| d.len() == 32)
            .map(hex::encode)
    }

    fn digest_key_sha256(&self, key: ObjectHandle) -> Result<Vec<u8>, cryptoki::error::Error> {
        self.session().digest_init(&Mechanism::Sha256)?;
        self.session().digest_key(key)?;
        self.session().digest_final()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_key_id_binds_its_plan_only() {
        let (plan, other) = ("a".repeat(64), "b".repeat(64));
        let id = hex::encode(plan_key_id(&[7; 8], &plan));
        assert_eq!(id.len(), 32);
        assert!(id.starts_with("0707070707070707"));
        assert!(plan_key_id_binds(&id, &plan));
        assert!(!plan_key_id_binds(&id, &other));
        // Another nonce with the same tag, a random id, a shorter one, no hex: none binds.
        let forged = format!("0808080808080808{}", &id[16..]);
        for id in [
            forged.as_str(),
            "00112233445566778899aabbccddeeff",
            &id[..30],
            "zz",
        ] {
            assert!(!plan_key_id_binds(id, &plan), "{id}");
        }
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
    fn template_denies_every_usage() {
        let label: KeyLabel = "k".parse().unwrap_or_else(|_| unreachable!());
        let secret = [
            AttributeType::Encrypt,
            AttributeType::Decrypt,
            AttributeType::Sign,
            AttributeType::Verify,
            AttributeType::Wrap,
            AttributeType::Unwrap,
            AttributeType::Derive,
            AttributeType::Modifiable,
        ];
        let private = [
            AttributeType::Sign,
            AttributeType::SignRecover,
            AttributeType::Decrypt,
            AttributeType::Unwrap,
            AttributeType::Derive,
            AttributeType::Modifiable,
        ];
        for (spec, denied) in [
            (KeySpec::Aes256, &secret[..]),
            (KeySpec::Rsa2048, &private[..]),
            (KeySpec::EcP256, &private[..]),
        ] {
            let t = ceremony_key_template(&label, &[1], spec, false);
            for &denied in denied {
                let found = t.iter().find(|a| a.attribute_type() == denied);
                assert!(
                    matches!(found, Some(a) if describe_template(std::slice::from_ref(a))[0].1 == "false"),
                    "{spec}: {denied} must be false"
                );
            }
            // Sensitive, extractable only to be wrapped, a token object.
            for granted in [
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Token,
            ] {
                let found = t.iter().find(|a| a.attribute_type() == granted);
                assert!(
                    matches!(found, Some(a) if describe_template(std::slice::from_ref(a))[0].1 == "true"),
                    "{spec}: {granted} must be true"
                );
            }
        }
    }
}

/// A secret or private key on the token as `keys list` shows it: attributes and check value (a
/// key pair's public key fingerprint), never a value.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The kind of material, when keyrite knows it (`AES_256`, `HMAC_256`…).
    pub spec: Option<KeySpec>,
    /// The PKCS#11 key type and length, as the token reports them.
    pub key_type: String,
    /// `CKA_VALUE_LEN` in bytes, where the token reports it (SoftHSM2 does not for keys it
    /// unwrapped).
    pub value_len: Option<usize>,
    /// The key check value, six hex digits, when the token gives one; for a private key, its
    /// public key's SHA-256 fingerprint.
    pub kcv: Option<String>,
    /// How it was computed, or why there is none.
    pub kcv_method: String,
    /// The full-length check value of a secret key: SHA-256 of its material by `C_DigestKey`
    /// (64 hex digits), where the token computes it. A 3-byte KCV is matched by a key of one's
    /// choosing in about 2^24 tries; this is not. `None` for a key pair, whose `kcv` is already
    /// its public key's full SHA-256.
    pub check_sha256: Option<String>,
    /// Why the key is not what it seems, when it is a secret or private key that is a public
    /// object ([`PLANTED`]): nobody needs the PIN to make one.
    pub planted: Option<&'static str>,
    /// `CKA_START_DATE`, where the token records one.
    pub start_date: Option<String>,
    /// `CKA_SENSITIVE`.
    pub sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`.
    pub extractable: Option<bool>,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: Option<bool>,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: Option<bool>,
    /// `CKA_MODIFIABLE`.
    pub modifiable: Option<bool>,
    /// `CKA_WRAP_WITH_TRUSTED`.
    pub wrap_with_trusted: Option<bool>,
    /// `CKA_LOCAL`: generated in this token (`true`), or unwrapped or imported (`false`).
    pub local: Option<bool>,
    /// `CKA_PRIVATE`: only a logged-in session sees or makes it. A public key object can be made
    /// by anyone who can open a session, without the PIN.
    pub private: Option<bool>,
    /// The usages the key allows (`CKA_ENCRYPT`, `CKA_DERIVE`, …): none, for a ceremony key.
    pub usages: Vec<&'static str>,
    #[serde(skip)]
    pkcs11_type: Option<KeyType>,
}

/// What `keys list` says of a secret or private key that is a public object (`CKA_PRIVATE`
/// false): a read-write session that never logged in can create one, of a value it chose.
pub const PLANTED: &str = "public object: anyone can create it without the PIN; not a ceremony key";

impl KeyInfo {
    /// Whether the key still has a ceremony key's protections: private (made by a session that
    /// knew the PIN), sensitive, extractable only by
    /// wrapping, of no other use, not modifiable; and either generated in this token and
    /// sensitive ever since ([`KeyInfo::generated_here`]), or unwrapped or created in it
    /// (`CKA_LOCAL` false: restored from a backup — PKCS#11 never marks an unwrapped key
    /// always-sensitive — whose material someone may know, so only its full check value proves
    /// it).
    pub fn is_ceremony_key(&self) -> bool {
        self.private == Some(true)
            && self.sensitive == Some(true)
            && self.extractable == Some(true)
            && self.modifiable != Some(true)
            && self.usages.is_empty()
            && (self.generated_here() || self.local == Some(false))
    }

    /// Generated in this token and sensitive since (`CKA_LOCAL` and `CKA_ALWAYS_SENSITIVE`
    /// true): nobody ever chose or saw its value, so nobody can make such a key have a KCV they
    /// want. A key unwrapped into the token or created from a value (`C_CreateObject`) is neither.
    pub fn generated_here(&self) -> bool {
        self.local == Some(true) && self.always_sensitive == Some(true)
    }

    /// How `keys list` and refusals describe the key among others of its label: its `CKA_ID`,
    /// whether it is a private object, and where it came from.
    pub fn describe(&self) -> String {
        format!(
            "id {} ({}, {})",
            if self.id.is_empty() {
                "(none)"
            } else {
                &self.id
            },
            match self.private {
                Some(true) => "private",
                Some(false) => "public object",
                None => "CKA_PRIVATE not reported",
            },
            match self.local {
                Some(true) => "generated in this token",
                Some(false) => "unwrapped or created (CKA_LOCAL false)",
                None => "CKA_LOCAL not reported",
            }
        )
    }

    /// Whether the key may be of `spec`: it is, or the token does not report its length and the
    /// key type agrees (a key SoftHSM2 unwrapped). The KCV, over the whole material, and the
    /// length check of every wrap settle the rest.
    pub fn may_be(&self, spec: KeySpec) -> bool {
        self.spec == Some(spec)
            || (self.spec.is_none()
                && self.value_len.is_none()
                && self.pkcs11_type == Some(spec.key_type()))
    }
}

fn spec_of(key_type: KeyType, len: usize) -> Option<KeySpec> {
    ALL_KEY_SPECS
        .into_iter()
        .find(|s| s.key_type() == key_type && s.secret_len() == Some(len))
}

impl Token {
    /// Every secret key and private key on the token, by label (needs a login for private
    /// objects).
    pub fn keys(&self) -> Result<Vec<(ObjectHandle, KeyInfo)>, Error> {
        let mut out = Vec::new();
        for class in [ObjectClass::SECRET_KEY, ObjectClass::PRIVATE_KEY] {
            for handle in self.session().find_objects(&[Attribute::Class(class)])? {
                out.push((handle, self.key_info(handle)?));
            }
        }
        out.sort_by(|a, b| a.1.label.cmp(&b.1.label).then(a.1.id.cmp(&b.1.id)));
        Ok(out)
    }

    /// The one secret or private key labelled `label`. Two or more (a private key and a public
    /// object planted beside it, say) are refused, each named by [`KeyInfo::describe`]: keyrite
    /// never picks one of them.
    pub fn key(&self, label: &KeyLabel) -> Result<(ObjectHandle, KeyInfo), Error> {
        let mut found: Vec<_> = self
            .keys()?
            .into_iter()
            .filter(|(_, k)| k.label == label.as_str())
            .collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::KeyCount {
                token: self.label().to_owned(),
                label: label.to_string(),
                count: 0,
            }),
            _ => Err(Error::SameLabel {
                token: self.label().to_owned(),
                label: label.to_string(),
                keys: found
                    .iter()
                    .map(|(_, k)| k.describe())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }

    fn key_info(&self, handle: ObjectHandle) -> Result<KeyInfo, Error> {
        let attrs = self.session().get_attributes(
            handle,
            &[
                AttributeType::Label,
                AttributeType::Id,
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::StartDate,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Modifiable,
                AttributeType::WrapWithTrusted,
                AttributeType::Local,
                AttributeType::Private,
                AttributeType::Encrypt,
                AttributeType::Decrypt,
                AttributeType::Sign,
                AttributeType::Verify,
                AttributeType::Wrap,
                AttributeType::Unwrap,
                AttributeType::Derive,
                AttributeType::SignRecover,
                AttributeType::Modulus,
                AttributeType::EcParams,
            ],
        )?;
        let mut modulus_bits = None;
        let mut ec_params = None;
        let mut info = KeyInfo {
            label: String::new(),
            id: String::new(),
            spec: None,
            key_type: String::new(),
            value_len: None,
            kcv: None,
            kcv_method: String::new(),
            check_sha256: None,
            planted: None,
            start_date: None,
            sensitive: None,
            extractable: None,
            always_sensitive: None,
            never_extractable: None,
            modifiable: None,
            wrap_with_trusted: None,
            local: None,
            private: None,
            usages: Vec::new(),
            pkcs11_type: None,
        };
        for a in attrs {
            match a {
                Attribute::Label(l) => info.label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::Id(id) => info.id = hex::encode(id),
                Attribute::KeyType(t) => info.pkcs11_type = Some(t),
                Attribute::ValueLen(n) => {
                    // SoftHSM2 reports 0 for a key it unwrapped: no length, not an empty key.
                    info.value_len = usize::try_from(u64::from(n)).ok().filter(|&n| n > 0)
                }
                Attribute::StartDate(d) if !d.is_empty() => info.start_date = Some(d.to_string()),
                Attribute::Sensitive(b) => info.sensitive = Some(b),
                Attribute::Extractable(b) => info.extractable = Some(b),
                Attribute::AlwaysSensitive(b) => info.always_sensitive = Some(b),
                Attribute::NeverExtractable(b) => info.never_extractable = Some(b),
                Attribute::Modifiable(b) => info.modifiable = Some(b),
                Attribute::WrapWithTrusted(b) => info.wrap_with_trusted = Some(b),
                Attribute::Local(b) => info.local = Some(b),
                Attribute::Private(b) => info.private = Some(b),
                Attribute::Encrypt(true) => info.usages.push("encrypt"),
                Attribute::Decrypt(true) => info.usages.push("decrypt"),
                Attribute::Sign(true) => info.usages.push("sign"),
                Attribute::Verify(true) => info.usages.push("verify"),
                Attribute::Wrap(true) => info.usages.push("wrap"),
                Attribute::Unwrap(true) => info.usages.push("unwrap"),
                Attribute::Derive(true) => info.usages.push("derive"),
                Attribute::SignRecover(true) => info.usages.push("sign-recover"),
                Attribute::Modulus(m) => modulus_bits = Some(m.len() * 8),
                Attribute::EcParams(p) => ec_params = Some(p),
                _ => {}
            }
        }
        if let Some(t) = info.pkcs11_type {
            let pair = super::pair::spec_of_pair(t, modulus_bits, ec_params.as_deref());
            info.key_type = match (info.value_len, pair) {
                (_, Some(spec)) => format!("{t} ({spec})"),
                (Some(len), None) => format!("{t} ({len} bytes)"),
                (None, None) => format!("{t} (length not reported)"),
            };
            info.spec = pair.or_else(|| info.value_len.and_then(|len| spec_of(t, len)));
            if check_value_method(t).is_some() {
                info.check_sha256 = self.check_sha256(handle);
            }
            if check_value_method(t).is_some() || pair.is_some() {
                match self.key_check_value(handle, t)? {
                    KcvResult::Known(k) => {
                        info.kcv = Some(k.value);
                        info.kcv_method = k.method.name().to_owned();
                    }
                    KcvResult::Unavailable(why) => info.kcv_method = why.to_string(),
                }
            } else {
                info.kcv_method = "not a kind of key keyrite makes".to_owned();
            }
        }
        if info.private == Some(false) {
            info.planted = Some(PLANTED);
        }
        Ok(info)
    }
}
