//! Key pairs (RSA and EC): generated in the token, the private key with the ceremony template,
//! the public key kept beside it as a token object with the same label and `CKA_ID`.
//!
//! A private key has no key check value; its identity is the SHA-256 of its public key's
//! SubjectPublicKeyInfo DER, which the team can compare with what the KMS reports after the
//! import (`aws kms get-public-key`, `gcloud kms keys versions get-public-key`). The
//! SubjectPublicKeyInfo is built here from the public key object's attributes (`CKA_MODULUS`
//! and `CKA_PUBLIC_EXPONENT`, or `CKA_EC_PARAMS` and `CKA_EC_POINT`), and checked against what
//! the private key object itself reports (an RSA private key's modulus and exponent;
//! `CKA_PUBLIC_KEY_INFO` where the token fills it), so a public key object that does not belong
//! to the private key is refused. An EC private key that reports nothing is believed only if it
//! was generated in this token and never left it sensitive.

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use der::asn1::{BitString, ObjectIdentifier, UintRef};
use der::{Decode as _, Encode as _};
use sha2::{Digest as _, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::object::SessionObject;
use super::{Error, PemKeyProblem, Pkcs11Failure, PublicKeyProblem, Token};
use crate::spec::{ALL_KEY_SPECS, KeyLabel, KeySpec, curve, rsa_bits};

/// `rsaEncryption`.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// The key spec of an RSA key of `bits`, or of the EC curve whose `CKA_EC_PARAMS` are `params`.
pub fn spec_of_pair(
    key_type: KeyType,
    bits: Option<usize>,
    params: Option<&[u8]>,
) -> Option<KeySpec> {
    ALL_KEY_SPECS.into_iter().find(|&s| {
        s.key_type() == key_type
            && match (rsa_bits(s), curve(s)) {
                (Some(b), _) => bits == Some(b),
                (_, Some((oid, _))) => params.is_some_and(|p| oid.to_der().is_ok_and(|d| d == p)),
                _ => false,
            }
    })
}

/// The length of a DER element whose content is `len` bytes.
fn tlv(len: usize) -> usize {
    1 + match len {
        0..=127 => 1,
        128..=255 => 2,
        _ => 3,
    } + len
}

/// The lengths an RFC 5915 encoding of an EC private key of `spec` can have inside PKCS#8:
/// `ECPrivateKey` with its private key of exactly the curve's size, with or without the
/// optional curve and public key.
pub fn rfc5915_lens(spec: KeySpec) -> Vec<usize> {
    let Some((oid, field)) = curve(spec) else {
        return Vec::new();
    };
    let oid_len = oid.to_der().map_or(0, |d| d.len());
    let mut lens = Vec::new();
    for params in [0, tlv(oid_len)] {
        for public in [0, tlv(tlv(2 * field + 2))] {
            let ec_private_key = tlv(3 + tlv(field) + params + public);
            // version, AlgorithmIdentifier { id-ecPublicKey, curve }, OCTET STRING.
            lens.push(tlv(3 + tlv(9 + oid_len) + tlv(ec_private_key)));
        }
    }
    lens
}

/// How many key pairs of an EC spec keyrite generates at most to get one whose PKCS#8 is RFC
/// 5915: a token that drops a leading zero byte of the private key (kryoptic 1.5.4 does) makes a
/// short encoding for one P-521 key in two and one P-256 or P-384 key in 256.
pub const EC_ATTEMPTS: usize = 32;

/// The public key object's template: a token object, private (only a session that knew the PIN
/// can make, see or destroy it), not modifiable, of no use to the token (the KMS holds the
/// working copy), with the label and `CKA_ID` of its private key.
fn public_template(label: &KeyLabel, id: &[u8], spec: KeySpec) -> Vec<Attribute> {
    let mut template = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(spec.key_type()),
        Attribute::Label(label.as_str().as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Encrypt(false),
        Attribute::Verify(false),
        Attribute::VerifyRecover(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
    ];
    if let Some(bits) = rsa_bits(spec) {
        template.push(Attribute::ModulusBits((bits as u64).into()));
        template.push(Attribute::PublicExponent(vec![1, 0, 1]));
    }
    if let Some((oid, _)) = curve(spec) {
        if let Ok(params) = oid.to_der() {
            template.push(Attribute::EcParams(params));
        }
    }
    template.push(Attribute::Modifiable(false));
    template
}

/// Whether a token can wrap key pairs, as `token info` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyPairSupport {
    /// RSA key pairs.
    pub rsa: bool,
    /// EC key pairs.
    pub ec: bool,
    /// How that was found out.
    pub detail: String,
}

/// A public key, as the token holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
}

impl PublicKey {
    /// SHA-256 of the SubjectPublicKeyInfo, 64 lowercase hex digits: the key pair's identity.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.spki))
    }

    /// A public key from PEM (`-----BEGIN PUBLIC KEY-----`), checked to be SubjectPublicKeyInfo.
    pub fn from_pem(pem: &[u8]) -> Result<Self, PemKeyProblem> {
        let (label, der) = der::pem::decode_vec(pem).map_err(PemKeyProblem::Pem)?;
        if label != "PUBLIC KEY" {
            return Err(PemKeyProblem::Label {
                label: label.to_owned(),
            });
        }
        SubjectPublicKeyInfoOwned::from_der(&der).map_err(PemKeyProblem::Der)?;
        Ok(PublicKey { spki: der })
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`), as `openssl pkey -pubin` reads it.
    pub fn pem(&self) -> Result<String, Error> {
        der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &self.spki).map_err(|e| {
            Error::PublicKey {
                label: String::new(),
                problem: PublicKeyProblem::Pem(e),
            }
        })
    }
}

/// The SubjectPublicKeyInfo DER of an RSA public key.
fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>, der::Error> {
    let key = pkcs1::RsaPublicKey {
        modulus: UintRef::new(modulus)?,
        public_exponent: UintRef::new(exponent)?,
    };
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        },
        subject_public_key: BitString::from_bytes(&key.to_der()?)?,
    }
    .to_der()
}

/// The uncompressed point (`04 ‖ x ‖ y`, coordinates of `field` bytes) in `CKA_EC_POINT`: a DER
/// OCTET STRING around it, as PKCS#11 says (SoftHSM2 and kryoptic), or the bare point (some
/// tokens). `None` if it is neither.
pub(crate) fn bare_ec_point(raw: &[u8], field: usize) -> Option<&[u8]> {
    let len = 1 + 2 * field;
    let point = match <&der::asn1::OctetStringRef>::from_der(raw) {
        Ok(o) if o.as_bytes().len() == len => o.as_bytes(),
        _ if raw.len() == len => raw,
        _ => return None,
    };
    (point.first() == Some(&0x04)).then_some(point)
}

/// The SubjectPublicKeyInfo DER of an EC public key on the named curve `oid`, from `CKA_EC_POINT`: the uncompressed point, which PKCS#11 says is wrapped in a DER
/// OCTET STRING (SoftHSM2 and kryoptic do) and some tokens give bare.
fn ec_spki(
    oid: ObjectIdentifier,
    ec_point: &[u8],
    field: usize,
) -> Result<Vec<u8>, PublicKeyProblem> {
    let point =
        bare_ec_point(ec_point, field).ok_or(PublicKeyProblem::EcPoint { len: 1 + 2 * field })?;
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: EC_PUBLIC_KEY,
            parameters: Some(oid.into()),
        },
        subject_public_key: BitString::from_bytes(point)?,
    }
    .to_der()?)
}

/// What a private key object may say about its public key, and about where it was made.
const OWN_ATTRIBUTES: [AttributeType; 9] = [
    AttributeType::Local,
    AttributeType::AlwaysSensitive,
    AttributeType::KeyType,
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::Modulus,
    AttributeType::PublicExponent,
    AttributeType::EcParams,
    AttributeType::PublicKeyInfo,
];

/// The SubjectPublicKeyInfo a private key object reports itself: `CKA_PUBLIC_KEY_INFO` where the
/// token fills it (kryoptic), else an RSA key's modulus and exponent (every token keeps them);
/// `None` for an EC key without `CKA_PUBLIC_KEY_INFO` (SoftHSM2; kryoptic for a key it
/// unwrapped).
fn own_spki(attrs: &[Attribute]) -> Result<Option<Vec<u8>>, der::Error> {
    if let Some(info) = bytes_of(attrs, AttributeType::PublicKeyInfo).filter(|i| !i.is_empty()) {
        return Ok(Some(info.to_vec()));
    }
    match (
        bytes_of(attrs, AttributeType::Modulus),
        bytes_of(attrs, AttributeType::PublicExponent),
    ) {
        (Some(n), Some(e)) if !n.is_empty() => rsa_spki(n, e).map(Some),
        _ => Ok(None),
    }
}

fn bytes_of(attrs: &[Attribute], want: AttributeType) -> Option<&[u8]> {
    attrs.iter().find_map(|a| match (a, want) {
        (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent)
        | (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint)
        | (Attribute::PublicKeyInfo(v), AttributeType::PublicKeyInfo)
        | (Attribute::Id(v), AttributeType::Id)
        | (Attribute::Label(v), AttributeType::Label) => Some(v.as_slice()),
        _ => None,
    })
}

/// The templates of the throw-away EC key pair on the curve `params` of
/// [`Token::check_pair_support`], public key then private key: session objects, visible to this
/// process alone, public so `token info` can make them without a PIN, and of no use at all.
fn trial_pair_templates(params: Vec<u8>) -> (Vec<Attribute>, Vec<Attribute>) {
    (
        vec![
            Attribute::Token(false),
            Attribute::EcParams(params),
            Attribute::Encrypt(false),
            Attribute::Verify(false),
            Attribute::VerifyRecover(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
        ],
        vec![
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
            Attribute::Sign(false),
            Attribute::SignRecover(false),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ],
    )
}

impl Token {
    /// Generates a key pair: the private key with `private` (the ceremony template), the public
    /// key as a token object beside it with the same label and `CKA_ID`. Returns the private key.
    pub(crate) fn generate_pair(
        &self,
        private: &[Attribute],
        label: &KeyLabel,
        id: &[u8],
        spec: KeySpec,
    ) -> Result<ObjectHandle, Error> {
        let (_, private) = self.session().generate_key_pair(
            &spec.mechanism(),
            &public_template(label, id, spec),
            private,
        )?;
        Ok(private)
    }

    /// The public key of the private key `private`: built from the public key object with its
    /// label and `CKA_ID`, and checked against what the private key object reports.
    pub fn public_key_of(&self, private: ObjectHandle) -> Result<PublicKey, Error> {
        let own = self.session().get_attributes(private, &OWN_ATTRIBUTES)?;
        let label =
            String::from_utf8_lossy(bytes_of(&own, AttributeType::Label).unwrap_or_default())
                .into_owned();
        let bad = |problem: PublicKeyProblem| Error::PublicKey {
            label: label.clone(),
            problem,
        };
        let key_type = own.iter().find_map(|a| match a {
            Attribute::KeyType(t) => Some(*t),
            _ => None,
        });
        let id = bytes_of(&own, AttributeType::Id)
            .unwrap_or_default()
            .to_vec();
        let publics = self.session().find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id),
        ])?;
        let [public] = publics.as_slice() else {
            return Err(bad(PublicKeyProblem::PublicObjects {
                count: publics.len(),
            }));
        };
        let attrs = self.session().get_attributes(
            *public,
            &[
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Private,
            ],
        )?;
        let public_is_private = attrs.contains(&Attribute::Private(true));
        let spki = if key_type == Some(KeyType::RSA) {
            let (Some(n), Some(e)) = (
                bytes_of(&attrs, AttributeType::Modulus),
                bytes_of(&attrs, AttributeType::PublicExponent),
            ) else {
                return Err(bad(PublicKeyProblem::NoModulus));
            };
            rsa_spki(n, e).map_err(|e| bad(e.into()))?
        } else {
            let (Some(params), Some(point)) = (
                bytes_of(&attrs, AttributeType::EcParams),
                bytes_of(&attrs, AttributeType::EcPoint),
            ) else {
                return Err(bad(PublicKeyProblem::NotRsaOrEc));
            };
            let Some((oid, field)) = spec_of_pair(KeyType::EC, None, Some(params)).and_then(curve)
            else {
                return Err(bad(PublicKeyProblem::UnknownCurve));
            };
            if bytes_of(&own, AttributeType::EcParams).is_some_and(|p| p != params) {
                return Err(bad(PublicKeyProblem::CurveDiffers));
            }
            ec_spki(oid, point, field).map_err(bad)?
        };
        // Where the private key says what its public key is, it must be this one. Where it
        // says nothing (an EC key, on most tokens), only a pair generated in this token, never
        // out of it, is taken at its public key object's word: an imported private key (known
        // outside) beside a copied public key object would otherwise pass for the real one. And
        // only a public key object that is itself private: anyone may destroy a public one and
        // create another in its place, with the same label and CKA_ID, without the PIN.
        match own_spki(&own).map_err(|e| bad(e.into()))? {
            Some(o) if o != spki => {
                return Err(bad(PublicKeyProblem::NotReported));
            }
            Some(_) => {}
            None => {
                let generated_here = [AttributeType::Local, AttributeType::AlwaysSensitive]
                    .iter()
                    .all(|t| {
                        own.iter().any(|a| match (a, t) {
                            (Attribute::Local(b), AttributeType::Local)
                            | (Attribute::AlwaysSensitive(b), AttributeType::AlwaysSensitive) => *b,
                            _ => false,
                        })
                    });
                if !generated_here {
                    return Err(bad(PublicKeyProblem::NotGeneratedHere));
                }
                if !public_is_private {
                    return Err(bad(PublicKeyProblem::PublicObject));
                }
            }
        }
        Ok(PublicKey { spki })
    }

    /// The public key the private key object itself reports: `CKA_PUBLIC_KEY_INFO` where the
    /// token fills it, else an RSA key's modulus and exponent; `None` where it reports none, as
    /// an EC key the token unwrapped.
    pub fn own_public_key(&self, private: ObjectHandle) -> Result<Option<PublicKey>, Error> {
        let own = self.session().get_attributes(private, &OWN_ATTRIBUTES)?;
        own_spki(&own)
            .map(|spki| spki.map(|spki| PublicKey { spki }))
            .map_err(|e| Error::PublicKey {
                label: String::from_utf8_lossy(
                    bytes_of(&own, AttributeType::Label).unwrap_or_default(),
                )
                .into_owned(),
                problem: e.into(),
            })
    }

    /// Stores `public` as the public key object of the private key labelled `label` with
    /// `CKA_ID` `id` (a key restored from a backup), with the template a generated pair's
    /// public key gets.
    pub fn create_public_key(
        &self,
        label: &KeyLabel,
        id: &[u8],
        spec: KeySpec,
        public: &PublicKey,
    ) -> Result<ObjectHandle, Error> {
        let bad = |problem: PublicKeyProblem| Error::PublicKey {
            label: label.to_string(),
            problem,
        };
        let info = SubjectPublicKeyInfoOwned::from_der(&public.spki).map_err(|e| bad(e.into()))?;
        let key = info.subject_public_key.raw_bytes();
        let mut template = public_template(label, id, spec);
        template.retain(|a| {
            !matches!(
                a,
                Attribute::ModulusBits(_) | Attribute::PublicExponent(_) | Attribute::Modifiable(_)
            )
        });
        if info.algorithm.oid == RSA_ENCRYPTION && rsa_bits(spec).is_some() {
            let rsa = pkcs1::RsaPublicKey::<UintRef>::from_der(key).map_err(|e| bad(e.into()))?;
            template.push(Attribute::Modulus(rsa.modulus.as_bytes().to_vec()));
            template.push(Attribute::PublicExponent(
                rsa.public_exponent.as_bytes().to_vec(),
            ));
        } else if info.algorithm.oid == EC_PUBLIC_KEY && curve(spec).is_some() {
            let point = der::asn1::OctetString::new(key).and_then(|o| o.to_der());
            template.push(Attribute::EcPoint(point.map_err(|e| bad(e.into()))?));
        } else {
            return Err(bad(PublicKeyProblem::NotOfSpec { spec }));
        }
        template.push(Attribute::Modifiable(false));
        Ok(self.session().create_object(&template)?)
    }

    /// The exact length of the PKCS#8 encoding the token makes of the private key `key`, learnt
    /// inside the token: `C_WrapKey` with AES-GCM (16-byte tag) under an ephemeral AES-256
    /// session key, destroyed on every path, and the output thrown away. Nothing but the length
    /// leaves the token, and it is not recorded.
    pub fn pkcs8_len(&self, key: ObjectHandle) -> Result<usize, Error> {
        let ephemeral = SessionObject::new(
            self.session(),
            self.session().generate_key(
                &Mechanism::AesKeyGen,
                &super::wrapping::ephemeral_template(),
            )?,
            "the PKCS#8 length probe's AES key",
        );
        let result = self.session().generate_random_vec(12).and_then(|mut iv| {
            let params = GcmParams::new(&mut iv, &[], 128.into())?;
            self.session()
                .wrap_key(&Mechanism::AesGcm(params), ephemeral.handle(), key)
                .map(|out| zeroize::Zeroizing::new(out).len())
        });
        let len = ephemeral.finish(result.map_err(|e| Error::Pkcs8Probe {
            failure: Pkcs11Failure::from_error(e),
        }))?;
        len.checked_sub(16).ok_or(Error::Pkcs8Probe {
            failure: Pkcs11Failure::ShortGcmOutput,
        })
    }

    /// Checks the PKCS#8 the token makes of the private key `key` of `spec` is what the KMS
    /// expects, and returns its length: for an EC key, RFC 5915 (a private key of exactly the
    /// curve's size). An RSA key's PKCS#8 is plain DER whatever its length, and is not probed.
    pub fn check_pkcs8(&self, key: ObjectHandle, spec: KeySpec) -> Result<Option<usize>, Error> {
        if curve(spec).is_none() {
            return Ok(None);
        }
        let len = self.pkcs8_len(key)?;
        let expected = rfc5915_lens(spec);
        if expected.contains(&len) {
            Ok(Some(len))
        } else {
            Err(Error::NotRfc5915 {
                token: self.label().to_owned(),
                spec,
                len,
                expected: expected
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// Whether the token can make and check an EC key pair of `spec` before a ceremony key
    /// exists: a throw-away session key pair of the curve is generated, its PKCS#8 length
    /// probed (see [`Token::pkcs8_len`]), and both halves destroyed.
    pub fn check_pair_support(&self, spec: KeySpec) -> Result<(), Error> {
        let Some((oid, _)) = curve(spec) else {
            return Ok(());
        };
        let params = oid.to_der().map_err(|e| Error::PublicKey {
            label: String::new(),
            problem: e.into(),
        })?;
        let (public, private) = trial_pair_templates(params);
        let (public, private) =
            self.session()
                .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)?;
        let public = SessionObject::new(self.session(), public, "the trial key pair's public key");
        let private =
            SessionObject::new(self.session(), private, "the trial key pair's private key");
        let probed = self.pkcs8_len(private.handle());
        let probed = private.finish(probed);
        public.finish(probed).map(|_| ())
    }

    /// Whether keyrite can wrap key pairs on this token, in words, for `token info`: the RFC
    /// 5649 mechanism must pass the known-answer test for a length that is not a multiple of 8,
    /// and an EC key's PKCS#8 length must be learnt (AES-GCM) to check it is RFC 5915.
    pub fn key_pair_support(&self) -> Result<KeyPairSupport, Error> {
        let no = |detail: String| KeyPairSupport {
            rsa: false,
            ec: false,
            detail,
        };
        let kwp = match self.select_kwp(KeySpec::EcP256) {
            Ok(kwp) => kwp,
            Err(e @ (Error::NoKwp { .. } | Error::KnownAnswer { .. })) => {
                return Ok(no(format!(
                    "a key pair's PKCS#8 is not a multiple of 8 bytes long, so it needs AES key wrap with padding (RFC 5649), tried on a 67-byte secret: {e}"
                )));
            }
            Err(e) => return Err(e),
        };
        let passed = format!(
            "{} passed the RFC 5649 known-answer test for a length that is not a multiple of 8",
            kwp.name()
        );
        Ok(match self.check_pair_support(KeySpec::EcP256) {
            Ok(()) => KeyPairSupport {
                rsa: true,
                ec: true,
                detail: format!(
                    "{passed}; EC encodings are checked for RFC 5915 by an AES-GCM length trial"
                ),
            },
            Err(e @ (Error::Pkcs8Probe { .. } | Error::Pkcs11(_))) => KeyPairSupport {
                rsa: true,
                ec: false,
                detail: format!("RSA only: {passed}; a P-256 trial failed: {e}"),
            },
            Err(e) => return Err(e),
        })
    }

    /// Destroys a ceremony key; for a private key, its public key object too. The key itself
    /// goes first, so its failure is the one reported.
    pub fn destroy_key(&self, handle: ObjectHandle) -> Result<(), Error> {
        let publics = self.public_objects_of(handle);
        self.destroy(handle)?;
        for public in publics? {
            self.destroy(public)?;
        }
        Ok(())
    }

    /// Destroys a key this command made (`made`: generated or unwrapped here) on its failure
    /// path: for a private key, its public key object too. Unlike [`Token::destroy_key`], this
    /// is done even once SIGINT, SIGTERM or SIGHUP came, for the objects this session made only
    /// ([`super::trace::TracedSession::destroy_new_object`]), and keyrite's last line then says
    /// what became of the key.
    pub(crate) fn discard_key(
        &self,
        handle: ObjectHandle,
        label: &KeyLabel,
        made: crate::interrupt::Made,
    ) -> Result<(), Error> {
        match self.public_objects_of(handle) {
            Ok(publics) => self.discard([vec![handle], publics].concat(), label, made),
            // The key itself is destroyed all the same, and a failure to is the one reported;
            // only then the search for its public objects.
            Err(search) => {
                self.discard([handle], label, made)?;
                Err(search)
            }
        }
    }

    /// Destroys `objects`, made by this command (`made`), labelled `label`, as
    /// [`Token::discard_key`] does: the first failure is the one reported.
    pub(crate) fn discard(
        &self,
        objects: impl IntoIterator<Item = ObjectHandle>,
        label: &KeyLabel,
        made: crate::interrupt::Made,
    ) -> Result<(), Error> {
        let destroyed = objects
            .into_iter()
            .try_for_each(|object| self.session().destroy_new_object(object));
        crate::interrupt::key_discarded(label.as_str(), made, destroyed.is_ok());
        Ok(destroyed?)
    }

    /// Whether `object` is a private object (`CKA_PRIVATE` true): one that only a session that
    /// knew the PIN can create, see or destroy.
    pub(crate) fn is_private_object(&self, object: ObjectHandle) -> Result<bool, Error> {
        Ok(self
            .session()
            .get_attributes(object, &[AttributeType::Private])?
            .contains(&Attribute::Private(true)))
    }

    /// The public key objects beside a private key (its label and `CKA_ID`); none for a
    /// secret key.
    fn public_objects_of(&self, handle: ObjectHandle) -> Result<Vec<ObjectHandle>, Error> {
        let attrs = self.session().get_attributes(
            handle,
            &[
                AttributeType::Class,
                AttributeType::Label,
                AttributeType::Id,
            ],
        )?;
        let is_private = attrs
            .iter()
            .any(|a| matches!(a, Attribute::Class(c) if *c == ObjectClass::PRIVATE_KEY));
        Ok(
            match (
                is_private,
                bytes_of(&attrs, AttributeType::Label),
                bytes_of(&attrs, AttributeType::Id),
            ) {
                (true, Some(label), Some(id)) => self.session().find_objects(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::Label(label.to_vec()),
                    Attribute::Id(id.to_vec()),
                ])?,
                _ => Vec::new(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The SubjectPublicKeyInfo built here is the one `openssl` writes for the same key.
    #[test]
    fn spki_matches_openssl() {
        // openssl ecparam -name prime256v1 -genkey | openssl ec -pubout -outform DER | xxd -p
        let openssl = hex::decode(concat!(
            "3059301306072a8648ce3d020106082a8648ce3d030107034200",
            "0496162f6233c094b76b4296952b19d4b20e24ff66774cc3b74fcedc2ed581d7a8",
            "2b37ccd93e0f145eb385fabe13db048e67d40147132f5baf316443bad402f484"
        ))
        .unwrap();
        let point = &openssl[openssl.len() - 65..];
        let oid = curve(KeySpec::EcP256).unwrap().0;
        let wrapped = der::asn1::OctetString::new(point)
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(ec_spki(oid, &wrapped, 32).unwrap(), openssl);
        assert_eq!(ec_spki(oid, point, 32).unwrap(), openssl);
        assert!(ec_spki(oid, &point[1..], 32).is_err());
    }

    #[test]
    fn rsa_spki_has_the_standard_prefix() {
        let n = [0xc5u8; 256];
        let der = rsa_spki(&n, &[1, 0, 1]).unwrap();
        assert_eq!(
            hex::encode(&der[..24]),
            "30820122300d06092a864886f70d01010105000382010f00"
        );
        assert_eq!(der.len(), 294);
    }

    #[test]
    fn rfc5915_lengths() {
        // Without curve and public key: what kryoptic 1.5.4 and SoftHSM2 2.6.1 write (measured);
        // with the public key: what `openssl pkcs8 -topk8 -nocrypt` writes for a key `openssl
        // ecparam -genkey` made (P-256: 138 bytes, measured).
        assert_eq!(rfc5915_lens(KeySpec::EcP256), [67, 138, 79, 150]);
        assert_eq!(rfc5915_lens(KeySpec::EcP384)[0], 80);
        assert_eq!(rfc5915_lens(KeySpec::EcP521)[0], 98);
        assert_eq!(rfc5915_lens(KeySpec::EcSecp256k1)[0], 64);
        assert!(rfc5915_lens(KeySpec::Rsa2048).is_empty());
    }

    #[test]
    fn key_pair_templates_grant_no_usage() {
        use crate::hsm::usage::assert_usages;
        let label: KeyLabel = "k".parse().unwrap();
        for spec in [KeySpec::Rsa2048, KeySpec::EcP256] {
            let public = public_template(&label, &[1], spec);
            assert_usages("public key object", &public, ObjectClass::PUBLIC_KEY, &[]);
            assert!(public.contains(&Attribute::Private(true)), "{spec}");
            assert!(public.contains(&Attribute::Modifiable(false)), "{spec}");
        }
        let (public, private) = trial_pair_templates(vec![6, 1, 0]);
        assert_usages("trial public key", &public, ObjectClass::PUBLIC_KEY, &[]);
        assert_usages("trial private key", &private, ObjectClass::PRIVATE_KEY, &[]);
    }

    #[test]
    fn specs_of_pairs() {
        assert_eq!(
            spec_of_pair(KeyType::RSA, Some(3072), None),
            Some(KeySpec::Rsa3072)
        );
        assert_eq!(spec_of_pair(KeyType::RSA, Some(1024), None), None);
        let p384 = curve(KeySpec::EcP384).unwrap().0.to_der().unwrap();
        assert_eq!(
            spec_of_pair(KeyType::EC, None, Some(&p384)),
            Some(KeySpec::EcP384)
        );
        assert_eq!(spec_of_pair(KeyType::EC, None, Some(&[6, 1, 0])), None);
    }
}
