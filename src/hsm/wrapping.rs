//! Wrapping inside the token: import the KMS public key as a session object, `C_WrapKey` the
//! ceremony key under it with exactly the mechanism and hash the KMS asked for, and find out by
//! trial what a token really supports (SoftHSM2 2.6.1 lists `CKM_RSA_PKCS_OAEP` but accepts
//! only SHA-1).

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use serde::Serialize;

use super::{Error, Pkcs11Failure, Token};
use crate::kms::{OaepHash, WrappingAlgorithm, WrappingKey};

/// The PKCS#11 mechanism behind an algorithm, and its parameters.
fn mechanism(algorithm: WrappingAlgorithm) -> Mechanism<'static> {
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

/// The mechanism's PKCS#11 name.
pub fn mechanism_name(algorithm: WrappingAlgorithm) -> &'static str {
    match algorithm.oaep_hash() {
        Some(_) => "CKM_RSA_PKCS_OAEP",
        None => "CKM_RSA_PKCS",
    }
}

/// The mechanism parameters in words, for manifests and transcripts.
pub fn mechanism_parameters(algorithm: WrappingAlgorithm) -> String {
    match algorithm.oaep_hash() {
        Some(OaepHash::Sha1) => "hashAlg=CKM_SHA_1, mgf=CKG_MGF1_SHA1, source=empty".to_owned(),
        Some(OaepHash::Sha256) => {
            "hashAlg=CKM_SHA256, mgf=CKG_MGF1_SHA256, source=empty".to_owned()
        }
        None => "none".to_owned(),
    }
}

/// Whether a token can wrap with one algorithm, and how that was found out.
#[derive(Debug, Clone, Serialize)]
pub struct AlgorithmSupport {
    /// The algorithm.
    pub algorithm: &'static str,
    /// The PKCS#11 mechanism.
    pub mechanism: &'static str,
    /// Whether a trial wrap succeeded.
    pub supported: bool,
    /// What the token said.
    pub detail: String,
}

impl Token {
    /// Imports an RSA public key as a session object that can only wrap.
    pub fn import_wrapping_key(&self, key: &WrappingKey) -> Result<ObjectHandle, Error> {
        let template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Modulus(key.modulus().to_vec()),
            Attribute::PublicExponent(key.exponent().to_vec()),
            Attribute::Wrap(true),
            Attribute::Encrypt(false),
            Attribute::Verify(false),
        ];
        Ok(self.session().create_object(&template)?)
    }

    /// Checks the token offers the algorithm's mechanism for wrapping (`C_GetMechanismInfo`),
    /// then wraps a throw-away session key under `wrapping_key` with the exact mechanism and
    /// parameters, so an unsupported hash is found before any ceremony key exists.
    pub fn check_wrapping(
        &self,
        algorithm: WrappingAlgorithm,
        wrapping_key: ObjectHandle,
        modulus_len: usize,
    ) -> Result<(), Error> {
        let unsupported = |reason: String| Error::UnsupportedWrapping {
            token: self.label().to_owned(),
            mechanism: mechanism_name(algorithm),
            hash: algorithm
                .oaep_hash()
                .map(|h| format!("{h} (MGF1 with {h})")),
            reason,
        };
        let mech = mechanism(algorithm);
        match self
            .ctx()
            .get_mechanism_info(self.slot(), mech.mechanism_type())
        {
            Ok(info) if info.wrap() => {}
            Ok(_) => {
                return Err(unsupported(
                    "the token does not offer it for wrapping".into(),
                ));
            }
            Err(e) => {
                return Err(unsupported(format!(
                    "C_GetMechanismInfo: {}",
                    Pkcs11Failure::from_error(&e).rv
                )));
            }
        }
        let throwaway = self.session().generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32.into()),
                Attribute::Token(false),
                Attribute::Private(false),
                Attribute::Sensitive(true),
                Attribute::Extractable(true),
            ],
        )?;
        let trial = self.session().wrap_key(&mech, wrapping_key, throwaway);
        self.destroy(throwaway)?;
        match trial {
            Ok(bytes) if bytes.len() == algorithm.wrapped_len(modulus_len) => Ok(()),
            Ok(bytes) => Err(Error::WrappedLength {
                expected: algorithm.wrapped_len(modulus_len),
                actual: bytes.len(),
            }),
            Err(e) => Err(unsupported(format!(
                "a trial wrap failed: {}",
                Pkcs11Failure::from_error(&e)
            ))),
        }
    }

    /// Wraps `key` under `wrapping_key` and checks the result has exactly the length due.
    pub fn wrap(
        &self,
        algorithm: WrappingAlgorithm,
        wrapping_key: ObjectHandle,
        key: ObjectHandle,
        modulus_len: usize,
    ) -> Result<Vec<u8>, Error> {
        let wrapped = self
            .session()
            .wrap_key(&mechanism(algorithm), wrapping_key, key)?;
        let expected = algorithm.wrapped_len(modulus_len);
        if wrapped.len() != expected {
            return Err(Error::WrappedLength {
                expected,
                actual: wrapped.len(),
            });
        }
        Ok(wrapped)
    }

    /// What the token can really do, for every algorithm keyrite knows: a throw-away RSA-2048
    /// key pair is generated as public session objects (no login needed) and each algorithm is
    /// tried with it.
    pub fn wrapping_support(&self) -> Result<Vec<AlgorithmSupport>, Error> {
        let (public, private) = self.session().generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(false),
                Attribute::Private(false),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Wrap(true),
            ],
            &[
                Attribute::Token(false),
                Attribute::Private(false),
                Attribute::Sensitive(true),
                Attribute::Unwrap(true),
            ],
        )?;
        let support = WrappingAlgorithm::ALL
            .into_iter()
            .map(|algorithm| {
                let result = self.check_wrapping(algorithm, public, 256);
                AlgorithmSupport {
                    algorithm: algorithm.name(),
                    mechanism: mechanism_name(algorithm),
                    supported: result.is_ok(),
                    detail: match result {
                        Ok(()) => match algorithm.oaep_hash() {
                            Some(h) => format!("trial wrap with {h} succeeded"),
                            None => "trial wrap succeeded (legacy: needs --allow-legacy-pkcs1)"
                                .to_owned(),
                        },
                        Err(Error::UnsupportedWrapping { reason, .. }) => reason,
                        Err(other) => other.to_string(),
                    },
                }
            })
            .collect();
        self.destroy(public)?;
        self.destroy(private)?;
        Ok(support)
    }
}
