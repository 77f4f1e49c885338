//! Wrapping inside the token: import the KMS public key as a session object, `C_WrapKey` the
//! ceremony key under it with exactly the mechanism and hash the KMS asked for, and find out by
//! trial what a token really supports (SoftHSM2 2.6.1 lists `CKM_RSA_PKCS_OAEP` but accepts
//! only SHA-1).
//!
//! RSA-AES key wrap is composed in the token, since no token here offers
//! `CKM_RSA_AES_KEY_WRAP`: an ephemeral AES-256 session key (sensitive, extractable, wrap-only)
//! wraps the target with RFC 5649 KWP, the KMS public key wraps the ephemeral key with OAEP, and
//! the ephemeral key is destroyed on every path.

use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use serde::Serialize;

use super::kwp::KwpMechanism;
use super::object::SessionObject;
use super::{Error, Pkcs11Failure, Token, WrappingUnsupported};
use crate::spec::{KeyLabel, KeySpec, OaepHash, WrappingAlgorithm, WrappingKey};

/// The RSA part of an algorithm: OAEP with its hash, or PKCS#1 v1.5.
pub(crate) fn rsa_mechanism(algorithm: WrappingAlgorithm) -> Mechanism<'static> {
    match algorithm.oaep_hash() {
        Some(hash) => {
            let (hash, mgf) = match hash {
                OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
                OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            };
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty()))
        }
        None => Mechanism::RsaPkcs,
    }
}

fn rsa_mechanism_name(algorithm: WrappingAlgorithm) -> &'static str {
    match algorithm.oaep_hash() {
        Some(_) => "CKM_RSA_PKCS_OAEP",
        None => "CKM_RSA_PKCS",
    }
}

/// How an algorithm is carried out on this token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapMethod {
    /// The algorithm the KMS asked for.
    pub algorithm: WrappingAlgorithm,
    /// For RSA-AES: the token's RFC 5649 mechanism, which passed the known-answer test.
    pub kwp: Option<KwpMechanism>,
}

impl WrapMethod {
    /// The PKCS#11 mechanisms, as recorded.
    pub fn mechanism(&self) -> String {
        match self.kwp {
            Some(kwp) => format!(
                "{} + {} (composed in the token)",
                rsa_mechanism_name(self.algorithm),
                kwp.name()
            ),
            None => rsa_mechanism_name(self.algorithm).to_owned(),
        }
    }

    /// The mechanism parameters in words, as recorded.
    pub fn parameters(&self) -> String {
        let rsa = match self.algorithm.oaep_hash() {
            Some(OaepHash::Sha1) => "hashAlg=CKM_SHA_1, mgf=CKG_MGF1_SHA1, source=empty",
            Some(OaepHash::Sha256) => "hashAlg=CKM_SHA256, mgf=CKG_MGF1_SHA256, source=empty",
            None => "none",
        };
        match self.kwp {
            Some(_) => {
                format!("OAEP of an ephemeral AES-256 key: {rsa}; KWP: RFC 5649, default IV")
            }
            None => rsa.to_owned(),
        }
    }
}

/// Whether a token can wrap with one algorithm, and how that was found out.
#[derive(Debug, Clone, Serialize)]
pub struct AlgorithmSupport {
    /// The algorithm.
    pub algorithm: &'static str,
    /// The PKCS#11 mechanism(s).
    pub mechanism: String,
    /// Whether a trial wrap succeeded.
    pub supported: bool,
    /// What the token said.
    pub detail: String,
}

impl AlgorithmSupport {
    /// Every algorithm unsupported, for a token on which the trials could not even start
    /// (`detail`: why).
    pub fn none_tried(detail: &str) -> Vec<AlgorithmSupport> {
        WrappingAlgorithm::ALL
            .into_iter()
            .map(|algorithm| AlgorithmSupport {
                algorithm: algorithm.name(),
                mechanism: rsa_mechanism_name(algorithm).to_owned(),
                supported: false,
                detail: format!("not tried: {detail}"),
            })
            .collect()
    }
}

fn check_len(actual: usize, expected: usize) -> Result<(), Error> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::WrappedLength { expected, actual })
    }
}

/// Checks the RFC 5649 part of an RSA-AES wrap: exact for a secret key; for a private key, a
/// multiple of 8 within the bounds of its PKCS#8 encoding.
fn check_kwp_len(actual: usize, spec: KeySpec) -> Result<(), Error> {
    match (spec.secret_len(), crate::spec::pkcs8_len_bounds(spec)) {
        (Some(len), _) => check_len(actual, super::kwp::kwp_len(len)),
        (None, Some((min, max))) => {
            let (min, max) = (super::kwp::kwp_len(min), super::kwp::kwp_len(max));
            if actual % 8 == 0 && (min..=max).contains(&actual) {
                Ok(())
            } else {
                Err(Error::WrappedLengthOutOfBounds { min, max, actual })
            }
        }
        (None, None) => Err(Error::PrivateKeyNeedsRsaAes),
    }
}

/// The modulus of the RSA-2048 public key trials wrap under: made once with `openssl genpkey`,
/// its private half discarded. Only throw-away keys are ever wrapped under it.
const TRIAL_MODULUS: [u8; 256] = [
    0x9a, 0x33, 0x88, 0x3c, 0xd4, 0x63, 0xbe, 0x0b, 0x1f, 0x55, 0x28, 0x82, 0x06, 0xbc, 0x24, 0x70,
    0x6e, 0xc4, 0xce, 0xcd, 0xb3, 0x79, 0x23, 0x37, 0xd9, 0x43, 0x61, 0x42, 0x53, 0xc9, 0xf1, 0x77,
    0xc2, 0x94, 0xcf, 0x0c, 0x07, 0x43, 0x8c, 0xb5, 0x5d, 0x7b, 0x85, 0x08, 0x13, 0x9c, 0x86, 0x40,
    0x21, 0xf7, 0x24, 0xfb, 0x36, 0xc2, 0x76, 0xe1, 0x12, 0xa0, 0xc0, 0x91, 0xe3, 0x1a, 0x4c, 0x74,
    0xb4, 0xaf, 0x71, 0x56, 0xd3, 0xd2, 0xcb, 0xc8, 0x55, 0x5d, 0x84, 0x72, 0xfb, 0x0f, 0x51, 0x9e,
    0xcd, 0xb5, 0xd9, 0x9f, 0xc8, 0xba, 0x27, 0xd0, 0xed, 0x62, 0x2c, 0x50, 0xf9, 0x56, 0x17, 0x83,
    0x59, 0x02, 0xd2, 0x59, 0xf1, 0xd1, 0x74, 0x3f, 0xd3, 0x17, 0xf9, 0x70, 0xd9, 0x98, 0x6a, 0x4e,
    0x4c, 0x88, 0x5d, 0xc6, 0x80, 0x17, 0xdd, 0xa1, 0xbb, 0x11, 0x97, 0xae, 0x99, 0xf9, 0x5d, 0xdd,
    0xc3, 0x5b, 0x47, 0x04, 0x9d, 0xa7, 0xa4, 0x16, 0x91, 0x12, 0xa8, 0x85, 0xe7, 0x75, 0xe8, 0xbb,
    0xf1, 0xfb, 0x27, 0x32, 0x98, 0xfc, 0x4d, 0x85, 0x1d, 0x1d, 0xfb, 0x7d, 0x19, 0xee, 0x98, 0x44,
    0x23, 0x93, 0xb3, 0x7d, 0xbb, 0xf5, 0x26, 0xad, 0xc3, 0x70, 0xb2, 0x6e, 0x0d, 0x92, 0xe0, 0x95,
    0x30, 0x72, 0x94, 0x3a, 0x83, 0x65, 0x30, 0x4d, 0xe1, 0x4e, 0xaf, 0x8a, 0x54, 0x58, 0xe3, 0xd9,
    0x02, 0x70, 0x9e, 0x5e, 0x97, 0xa8, 0x89, 0xab, 0x49, 0x07, 0x6d, 0x6e, 0x23, 0x98, 0x83, 0x02,
    0xc2, 0xe6, 0x8d, 0xac, 0xe0, 0x09, 0x10, 0x02, 0x65, 0xc6, 0x74, 0xb6, 0x90, 0xf4, 0xd6, 0xeb,
    0x4a, 0x59, 0xc3, 0x55, 0x90, 0x9b, 0x6b, 0x61, 0xf0, 0xbe, 0xd6, 0xeb, 0xb8, 0x77, 0xe5, 0x9f,
    0xef, 0xcc, 0xc6, 0x2d, 0x10, 0x70, 0x30, 0xb2, 0x12, 0x35, 0x6b, 0x3c, 0x94, 0xaa, 0x86, 0xf5,
];

/// The template of an AES-256 session key that exists only to wrap once. A session object is
/// visible to this process alone; it is public so the no-PIN trials of `token info` can make it.
pub(crate) fn ephemeral_template() -> [Attribute; 14] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32u64.into()),
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
    ]
}

/// The template of a throw-away AES-256 session key that a trial wraps: the ephemeral key's,
/// but of no use at all, not even to wrap.
pub(crate) fn throwaway_template() -> Vec<Attribute> {
    ephemeral_template()
        .into_iter()
        .map(|a| match a {
            Attribute::Wrap(_) => Attribute::Wrap(false),
            other => other,
        })
        .collect()
}

/// The template of an RSA public key as a session object that can only wrap: a KMS's wrapping
/// key, or the trials' key. It is public so the no-PIN trials of `token info` can make it.
pub(crate) fn wrapping_key_template(modulus: &[u8], exponent: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Modulus(modulus.to_vec()),
        Attribute::PublicExponent(exponent.to_vec()),
        Attribute::Wrap(true),
        Attribute::Encrypt(false),
        Attribute::Verify(false),
        Attribute::VerifyRecover(false),
        Attribute::Derive(false),
    ]
}

/// The template of the token object `token trust-wrapping-key` stores: the KMS's wrapping key,
/// able only to wrap, marked `CKA_TRUSTED`, public and not modifiable.
pub(crate) fn trusted_key_template(key: &WrappingKey, label: &KeyLabel) -> Vec<Attribute> {
    let mut template: Vec<Attribute> = wrapping_key_template(key.modulus(), key.exponent())
        .into_iter()
        .map(|a| match a {
            Attribute::Token(_) => Attribute::Token(true),
            other => other,
        })
        .collect();
    template.extend([
        Attribute::Label(label.as_str().as_bytes().to_vec()),
        Attribute::Trusted(true),
        Attribute::Modifiable(false),
    ]);
    template
}

/// The template of the trial's key that an ordinary session tries to mark `CKA_TRUSTED`.
pub(crate) fn trusted_trial_template() -> Vec<Attribute> {
    let mut template = wrapping_key_template(&TRIAL_MODULUS, &[1, 0, 1]);
    template.push(Attribute::Trusted(true));
    template
}

impl Token {
    /// Imports an RSA public key as a session object that can only wrap, destroyed when the
    /// guard returned is done with (see [`SessionObject`]).
    pub fn import_wrapping_key(&self, key: &WrappingKey) -> Result<SessionObject<'_>, Error> {
        let template = wrapping_key_template(key.modulus(), key.exponent());
        Ok(SessionObject::make(
            self.session(),
            "the imported KMS public key",
            |s| s.create_object(&template),
        )?)
    }

    /// Generates an AES-256 session key of `template` (ephemeral or throw-away), held by a
    /// guard that destroys it on every path.
    fn session_aes_key(
        &self,
        template: &[Attribute],
        what: &'static str,
    ) -> Result<SessionObject<'_>, Error> {
        Ok(SessionObject::make(self.session(), what, |s| {
            s.generate_key(&Mechanism::AesKeyGen, template)
        })?)
    }

    /// Decides how the algorithm runs on this token for key material of `spec`: for RSA-AES,
    /// finds the RFC 5649 mechanism by known-answer test (in a separate session, closed before any
    /// ceremony key is touched).
    pub fn wrap_method(
        &self,
        algorithm: WrappingAlgorithm,
        spec: KeySpec,
    ) -> Result<WrapMethod, Error> {
        let kwp = if algorithm.is_rsa_aes() {
            Some(self.select_kwp(spec)?)
        } else {
            None
        };
        Ok(WrapMethod { algorithm, kwp })
    }

    /// Checks the token offers the RSA mechanism for wrapping (`C_GetMechanismInfo`), then wraps
    /// a throw-away AES-256 session key under `wrapping_key` exactly as the ceremony key will be
    /// (`CKA_WRAP_WITH_TRUSTED` included), so an unsupported hash, or a token that will not wrap
    /// such a key, is found before any ceremony key exists.
    pub fn check_wrapping(
        &self,
        method: &WrapMethod,
        wrapping_key: ObjectHandle,
        modulus_len: usize,
        wrap_with_trusted: bool,
    ) -> Result<(), Error> {
        let algorithm = method.algorithm;
        let unsupported = |source: WrappingUnsupported| Error::UnsupportedWrapping {
            token: self.label().to_owned(),
            mechanism: rsa_mechanism_name(algorithm),
            hash: algorithm
                .oaep_hash()
                .map(|h| format!("{h} (MGF1 with {h})")),
            source,
        };
        let mech = rsa_mechanism(algorithm);
        match self
            .ctx()
            .get_mechanism_info(self.slot(), mech.mechanism_type())
        {
            Ok(info) if info.wrap() => {}
            Ok(_) => {
                return Err(unsupported(WrappingUnsupported::NotOffered));
            }
            Err(e) => {
                return Err(unsupported(WrappingUnsupported::MechanismInfo(
                    Pkcs11Failure::from_error(e),
                )));
            }
        }
        let mut template = throwaway_template();
        if wrap_with_trusted {
            template.push(Attribute::WrapWithTrusted(true));
        }
        let throwaway = self.session_aes_key(&template, "the trial wrap's throw-away AES key")?;
        let trial = self.wrap(
            method,
            wrapping_key,
            throwaway.handle(),
            modulus_len,
            KeySpec::Aes256,
        );
        // A refused trial is the answer: the key goes as its guard drops.
        match trial {
            Ok(_) => throwaway.destroy(),
            Err(Error::Pkcs11(failure)) => {
                Err(unsupported(WrappingUnsupported::TrialWrap(failure)))
            }
            Err(e) => Err(e),
        }
    }

    /// Wraps `key` (material of `spec`) under `wrapping_key` and checks the result has exactly
    /// the length due: for a private key, whose PKCS#8 is of the token's making, an RFC 5649
    /// output within the bounds for `spec`.
    pub fn wrap(
        &self,
        method: &WrapMethod,
        wrapping_key: ObjectHandle,
        key: ObjectHandle,
        modulus_len: usize,
        spec: KeySpec,
    ) -> Result<Vec<u8>, Error> {
        // A private key goes out only inside RSA-AES.
        if spec.is_asymmetric() && method.kwp.is_none() {
            return Err(Error::PrivateKeyNeedsRsaAes);
        }
        let rsa = rsa_mechanism(method.algorithm);
        // An EC private key's PKCS#8 is checked (RFC 5915) and its length learnt first.
        let exact = self.check_pkcs8(key, spec)?;
        let wrapped = match method.kwp {
            None => self.session().wrap_key(&rsa, wrapping_key, key)?,
            Some(kwp) => {
                let ephemeral =
                    self.session_aes_key(&ephemeral_template(), "the ephemeral AES key")?;
                let composed = self
                    .session()
                    .wrap_key(&kwp.mechanism(), ephemeral.handle(), key)
                    .map_err(|e| Error::KwpWrap {
                        mechanism: kwp.name(),
                        failure: Pkcs11Failure::from_error(e),
                    })
                    .and_then(|target| {
                        let rsa_part =
                            self.session()
                                .wrap_key(&rsa, wrapping_key, ephemeral.handle())?;
                        // Each part is checked on its own: the token's lengths are not trusted.
                        check_len(rsa_part.len(), modulus_len)?;
                        match exact {
                            Some(len) => check_len(target.len(), super::kwp::kwp_len(len))?,
                            None => check_kwp_len(target.len(), spec)?,
                        }
                        Ok([rsa_part, target].concat())
                    });
                ephemeral.finish(composed)?
            }
        };
        // A private key's RSA-AES parts were each checked above.
        if let Some(len) = spec.secret_len() {
            check_len(
                wrapped.len(),
                method.algorithm.wrapped_len(modulus_len, len),
            )?;
        }
        Ok(wrapped)
    }

    /// The RSA-2048 public key of [`TRIAL_MODULUS`] as a public session object that can only
    /// wrap, for trials: no login is needed, and no key pair is generated (RSA key generation
    /// takes a software token most of a second).
    fn trial_wrapping_key(&self) -> Result<SessionObject<'_>, Error> {
        let template = wrapping_key_template(&TRIAL_MODULUS, &[1, 0, 1]);
        Ok(SessionObject::make(
            self.session(),
            "the trials' RSA public key",
            |s| s.create_object(&template),
        )?)
    }

    /// What the token can really do, for every algorithm keyrite knows: each algorithm is tried
    /// under an RSA-2048 public key imported as a public session object (no login needed).
    pub fn wrapping_support(&self) -> Result<Vec<AlgorithmSupport>, Error> {
        let public = self.trial_wrapping_key()?;
        let support = WrappingAlgorithm::ALL
            .into_iter()
            .map(|algorithm| {
                let result = self.wrap_method(algorithm, KeySpec::Aes256).and_then(|m| {
                    self.check_wrapping(&m, public.handle(), 256, false)
                        .map(|()| m)
                });
                let (supported, mechanism, detail) = match result {
                    Ok(m) => {
                        let hash = algorithm.oaep_hash().map(|h| format!(" with {h}"));
                        let mut detail =
                            format!("trial wrap{} succeeded", hash.unwrap_or_default());
                        if let Some(kwp) = m.kwp {
                            detail.push_str(&format!(
                                "; {} passed the RFC 5649 known-answer test",
                                kwp.name()
                            ));
                        }
                        if algorithm.is_legacy() {
                            detail.push_str(" (legacy: needs --allow-legacy-pkcs1)");
                        }
                        (true, m.mechanism(), detail)
                    }
                    Err(e) => {
                        let detail = match e {
                            Error::UnsupportedWrapping { source, .. } => source.to_string(),
                            other => other.to_string(),
                        };
                        (false, rsa_mechanism_name(algorithm).to_owned(), detail)
                    }
                };
                AlgorithmSupport {
                    algorithm: algorithm.name(),
                    mechanism,
                    supported,
                    detail,
                }
            })
            .collect();
        public.destroy()?;
        Ok(support)
    }
}

/// Whether the token enforces `CKA_WRAP_WITH_TRUSTED`, found without the security officer.
#[derive(Debug, Clone, Serialize)]
pub struct TrustedWrapSupport {
    /// Whether a wrap of a `CKA_WRAP_WITH_TRUSTED` key under an untrusted key was refused.
    pub enforced: bool,
    /// Who may set `CKA_TRUSTED`: `security officer` (an ordinary session was refused),
    /// `anyone` (an ordinary session set it: no protection), or `nobody` (the token does not
    /// know the attribute: a `CKA_WRAP_WITH_TRUSTED` key can never be wrapped there).
    pub trusted_set_by: &'static str,
    /// What the trials showed, in words.
    pub detail: String,
    /// Why no key on the token can be wrapped only under a trusted key, when none can: it
    /// would not generate a `CKA_WRAP_WITH_TRUSTED` key, or it does not know `CKA_TRUSTED`.
    #[serde(skip)]
    pub lacking: Option<String>,
}

impl Token {
    /// Refuses, naming what the token lacks, where [`Token::trusted_wrap_support`] finds that no
    /// key on it can be wrapped only under a trusted key.
    pub fn check_wrap_with_trusted(&self) -> Result<(), Error> {
        match self.trusted_wrap_support()?.lacking {
            Some(why) => Err(Error::NoWrapWithTrusted {
                token: self.label().to_owned(),
                why,
            }),
            None => Ok(()),
        }
    }

    /// Finds the token object the security officer marked `CKA_TRUSTED` that holds `key`.
    pub fn trusted_wrapping_key(&self, key: &WrappingKey) -> Result<ObjectHandle, Error> {
        let candidates = self.session().find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
        ])?;
        for handle in candidates {
            let attrs = match self.session().get_attributes(
                handle,
                &[
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::Trusted,
                ],
            ) {
                Ok(attrs) => attrs,
                Err(_) => continue,
            };
            let (mut n, mut e, mut trusted) = (None, None, false);
            for a in attrs {
                match a {
                    Attribute::Modulus(v) => n = Some(v),
                    Attribute::PublicExponent(v) => e = Some(v),
                    Attribute::Trusted(b) => trusted = b,
                    _ => {}
                }
            }
            let strip =
                |v: &[u8]| -> Vec<u8> { v.iter().copied().skip_while(|&b| b == 0).collect() };
            if trusted
                && n.as_deref().map(strip).as_deref() == Some(strip(key.modulus()).as_slice())
                && e.as_deref().map(strip).as_deref() == Some(strip(key.exponent()).as_slice())
            {
                return Ok(handle);
            }
        }
        self.check_wrap_with_trusted()?;
        Err(Error::NoTrustedKey {
            token: self.label().to_owned(),
            fingerprint: key.fingerprint().to_owned(),
        })
    }

    /// Stores `key` as a public token object marked `CKA_TRUSTED`, able only to wrap: needs the
    /// security officer's login. Refuses a label already taken.
    pub fn trust_wrapping_key(&self, key: &WrappingKey, label: &KeyLabel) -> Result<(), Error> {
        self.check_label_free(label)?;
        self.session()
            .create_object(&trusted_key_template(key, label))
            .map_err(|e| Error::TrustRefused {
                token: self.label().to_owned(),
                failure: Pkcs11Failure::from_error(e),
            })?;
        Ok(())
    }

    /// Tries, with throw-away public session objects, whether the token refuses to wrap a
    /// `CKA_WRAP_WITH_TRUSTED` key under a key nobody trusted, and whether it knows `CKA_TRUSTED`.
    pub fn trusted_wrap_support(&self) -> Result<TrustedWrapSupport, Error> {
        let public = self.trial_wrapping_key()?;
        let set_trusted = SessionObject::make(self.session(), "the trial's CKA_TRUSTED key", |s| {
            s.create_object(&trusted_trial_template())
        });
        let trusted_set_by = match set_trusted {
            Ok(key) => {
                key.destroy()?;
                "anyone"
            }
            Err(e) if Pkcs11Failure::rv_is(&e, RvError::AttributeTypeInvalid) => "nobody",
            Err(_) => "security officer",
        };
        let mut template = throwaway_template();
        template.push(Attribute::WrapWithTrusted(true));
        let key = match SessionObject::make(
            self.session(),
            "the trial's CKA_WRAP_WITH_TRUSTED key",
            |s| s.generate_key(&Mechanism::AesKeyGen, &template),
        ) {
            Ok(key) => key,
            Err(e) => {
                public.destroy()?;
                let code = Pkcs11Failure::from_error(e).code();
                return Ok(TrustedWrapSupport {
                    enforced: false,
                    trusted_set_by,
                    detail: format!(
                        "no: the token would not generate a key with CKA_WRAP_WITH_TRUSTED ({code}), so wrap --wrap-with-trusted cannot be used here"
                    ),
                    lacking: Some(format!(
                        "it would not generate a key with CKA_WRAP_WITH_TRUSTED ({code})"
                    )),
                });
            }
        };
        let trial = self.session().wrap_key(
            &rsa_mechanism(WrappingAlgorithm::RsaesOaepSha1),
            public.handle(),
            key.handle(),
        );
        key.destroy()?;
        public.destroy()?;
        let mut lacking = None;
        let (enforced, detail) = match (trial, trusted_set_by) {
            (Ok(_), _) => (
                false,
                "NOT enforced: a key nobody trusted wrapped a CKA_WRAP_WITH_TRUSTED key".to_owned(),
            ),
            (Err(e), "security officer") => (
                true,
                format!(
                    "enforced: a key nobody trusted could not wrap a CKA_WRAP_WITH_TRUSTED key ({}), and only the security officer may mark a key CKA_TRUSTED (keyrite token trust-wrapping-key)",
                    Pkcs11Failure::from_error(e).code()
                ),
            ),
            (Err(_), "anyone") => (
                false,
                "NOT a protection: the token refuses untrusted wrapping keys, but an ordinary session may mark any key CKA_TRUSTED".to_owned(),
            ),
            (Err(e), _) => {
                let code = Pkcs11Failure::from_error(e).code();
                lacking = Some(format!(
                    "it does not know CKA_TRUSTED, and refused the trial wrap of a CKA_WRAP_WITH_TRUSTED key ({code}): such a key can never be wrapped there"
                ));
                (
                    true,
                    format!(
                        "every wrap refused: the token does not know CKA_TRUSTED ({code}), so a CKA_WRAP_WITH_TRUSTED key can never be wrapped here"
                    ),
                )
            }
        };
        Ok(TrustedWrapSupport {
            enforced,
            trusted_set_by,
            detail,
            lacking,
        })
    }
}
