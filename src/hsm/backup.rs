//! Backups to a second token. `token backup-key create` makes an RSA key pair there whose
//! private key can only unwrap and never leaves the token; a first token wraps a ceremony key
//! under its public key with RSA-AES (`--provider pkcs11-backup`); [`Token::restore_backup`]
//! unwraps it in the second token: OAEP to an ephemeral AES-256 session key that can only
//! unwrap, then RFC 5649 KWP of the key with the ceremony template, the ephemeral key destroyed
//! on every path.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use serde::Serialize;

use super::keys::{KeyLabel, KeySpec, restore_key_template};
use super::kwp::KwpMechanism;
use super::wrapping::rsa_mechanism;
use super::{Error, Pkcs11Failure, Token};
use crate::kms::{WrappingAlgorithm, WrappingKey};

/// The size of a backup key pair, in bits.
pub const BACKUP_KEY_BITS: u64 = 3072;

/// A backup key's public half, and which RSA-AES algorithms its token was seen to unwrap.
#[derive(Debug, Clone, Serialize)]
pub struct BackupKey {
    /// The SubjectPublicKeyInfo, PEM.
    pub pem: String,
    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER.
    pub fingerprint: String,
    /// The RSA-AES algorithms a trial unwrap succeeded with.
    pub unwraps: Vec<&'static str>,
    /// The algorithms whose trial failed, and what the token said.
    pub refuses: Vec<(&'static str, String)>,
}

/// The template of the ephemeral AES-256 key a backup's RSA part unwraps to: a session object
/// that can only unwrap, and never be read or wrapped.
fn ephemeral_unwrap_template() -> [Attribute; 13] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Unwrap(true),
        Attribute::Wrap(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
    ]
}

/// The RSA-AES algorithms a backup may use.
const BACKUP_ALGORITHMS: [WrappingAlgorithm; 2] = [
    WrappingAlgorithm::RsaAesKeyWrapSha256,
    WrappingAlgorithm::RsaAesKeyWrapSha1,
];

impl Token {
    /// Makes a backup key pair: the public key a token object that can only wrap, the private
    /// key sensitive, never extractable, able only to unwrap. Then tries, with throw-away session
    /// keys, which OAEP hashes the token unwraps with.
    pub fn create_backup_key(&self, label: &KeyLabel) -> Result<BackupKey, Error> {
        self.check_label_free(label)?;
        let id = self.session().generate_random_vec(16)?;
        let label_bytes = label.as_str().as_bytes().to_vec();
        self.session().generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Modifiable(false),
                Attribute::ModulusBits(BACKUP_KEY_BITS.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Wrap(true),
                Attribute::Encrypt(false),
                Attribute::Verify(false),
                Attribute::VerifyRecover(false),
                Attribute::Derive(false),
                Attribute::Label(label_bytes.clone()),
                Attribute::Id(id.clone()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Modifiable(false),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Unwrap(true),
                Attribute::Decrypt(false),
                Attribute::Sign(false),
                Attribute::SignRecover(false),
                Attribute::Derive(false),
                Attribute::Label(label_bytes),
                Attribute::Id(id),
            ],
        )?;
        self.backup_key(label)
    }

    /// The backup key labelled `label`: its public key and what the token unwraps with.
    pub fn backup_key(&self, label: &KeyLabel) -> Result<BackupKey, Error> {
        let (public, private, (key, rsa_key)) = self.backup_pair(label)?;
        let pem = rsa_key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::BackupKey {
                reason: e.to_string(),
            })?;
        let mut unwraps = Vec::new();
        let mut refuses = Vec::new();
        for algorithm in BACKUP_ALGORITHMS {
            match self.trial_unwrap(algorithm, public, private) {
                Ok(()) => unwraps.push(algorithm.name()),
                Err(e) => refuses.push((algorithm.name(), e.to_string())),
            }
        }
        Ok(BackupKey {
            pem,
            fingerprint: key.fingerprint().to_owned(),
            unwraps,
            refuses,
        })
    }

    fn backup_pair(
        &self,
        label: &KeyLabel,
    ) -> Result<(ObjectHandle, ObjectHandle, (WrappingKey, rsa::PublicKey)), Error> {
        let find = |class| {
            self.session().find_objects(&[
                Attribute::Class(class),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Label(label.as_str().as_bytes().to_vec()),
            ])
        };
        match (
            find(ObjectClass::PUBLIC_KEY)?.as_slice(),
            find(ObjectClass::PRIVATE_KEY)?.as_slice(),
        ) {
            ([public], [private]) => Ok((*public, *private, self.rsa_public_key(*public)?)),
            _ => Err(Error::NoBackupKey {
                token: self.label().to_owned(),
                label: label.to_string(),
            }),
        }
    }

    /// The RSA public key object's key, checked as a wrapping key.
    fn rsa_public_key(&self, public: ObjectHandle) -> Result<(WrappingKey, rsa::PublicKey), Error> {
        let attrs = self.session().get_attributes(
            public,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )?;
        let (mut n, mut e) = (None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(v) => n = Some(v),
                Attribute::PublicExponent(v) => e = Some(v),
                _ => {}
            }
        }
        let (Some(n), Some(e)) = (n, e) else {
            return Err(Error::BackupKey {
                reason: "the token did not return the public key's modulus and exponent".into(),
            });
        };
        let key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&n),
            rsa::BoxedUint::from_be_slice_vartime(&e),
        )
        .map_err(|e| Error::BackupKey {
            reason: e.to_string(),
        })?;
        let der = key.to_public_key_der().map_err(|e| Error::BackupKey {
            reason: e.to_string(),
        })?;
        let checked = WrappingKey::from_spki_der(der.as_bytes()).map_err(|e| Error::BackupKey {
            reason: e.to_string(),
        })?;
        Ok((checked, key))
    }

    /// Wraps a throw-away AES-256 session key under the backup key and unwraps it again.
    fn trial_unwrap(
        &self,
        algorithm: WrappingAlgorithm,
        public: ObjectHandle,
        private: ObjectHandle,
    ) -> Result<(), Error> {
        let rsa = rsa_mechanism(algorithm);
        let mut template = ephemeral_unwrap_template().to_vec();
        template.retain(|a| !matches!(a, Attribute::Extractable(_) | Attribute::Private(_)));
        template.extend([
            Attribute::ValueLen(32u64.into()),
            Attribute::Extractable(true),
        ]);
        let throwaway = self
            .session()
            .generate_key(&Mechanism::AesKeyGen, &template)?;
        let result = self
            .session()
            .wrap_key(&rsa, public, throwaway)
            .and_then(|wrapped| {
                let back = self.session().unwrap_key(
                    &rsa,
                    private,
                    &wrapped,
                    &ephemeral_unwrap_template(),
                )?;
                self.session().destroy_object(back)
            });
        self.destroy(throwaway)?;
        result.map_err(|e| Error::Pkcs11(Pkcs11Failure::from_error(&e)))
    }

    /// The private key of the backup key whose SubjectPublicKeyInfo has SHA-256 `fingerprint`,
    /// and that public key.
    pub fn backup_private_key(
        &self,
        fingerprint: &str,
    ) -> Result<(ObjectHandle, WrappingKey), Error> {
        let publics = self.session().find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
        ])?;
        for public in publics {
            let Ok((key, _)) = self.rsa_public_key(public) else {
                continue;
            };
            if key.fingerprint() != fingerprint {
                continue;
            }
            let id = self
                .session()
                .get_attributes(public, &[AttributeType::Id])?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Id(id) => Some(id),
                    _ => None,
                });
            if let Some(id) = id {
                if let [private] = self
                    .session()
                    .find_objects(&[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::KeyType(KeyType::RSA),
                        Attribute::Id(id),
                    ])?
                    .as_slice()
                {
                    return Ok((*private, key));
                }
            }
        }
        Err(Error::NoBackupKeyFor {
            token: self.label().to_owned(),
            fingerprint: fingerprint.to_owned(),
        })
    }

    /// Unwraps a backup (`rsa_part ‖ kwp_part`) into a new token key with
    /// [`restore_key_template`], labelled `label` with `CKA_ID` `id`. The ephemeral key is
    /// destroyed on every path. If the unwrap fails, every secret or private key that appeared meanwhile is
    /// destroyed: SoftHSM2 2.6.1 leaves a half-made token object, without label or value, behind
    /// a failed `C_UnwrapKey`.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_backup(
        &self,
        private: ObjectHandle,
        algorithm: WrappingAlgorithm,
        kwp: KwpMechanism,
        rsa_part: &[u8],
        kwp_part: &[u8],
        label: &KeyLabel,
        id: &[u8],
        spec: KeySpec,
    ) -> Result<ObjectHandle, Error> {
        let rsa = rsa_mechanism(algorithm);
        let keys = || -> Result<Vec<ObjectHandle>, Error> {
            let mut keys = Vec::new();
            for class in [ObjectClass::SECRET_KEY, ObjectClass::PRIVATE_KEY] {
                keys.extend(self.session().find_objects(&[Attribute::Class(class)])?);
            }
            Ok(keys)
        };
        let before = keys()?;
        let ephemeral = self
            .session()
            .unwrap_key(&rsa, private, rsa_part, &ephemeral_unwrap_template())
            .map_err(|e| Error::BackupUnwrap {
                what: format!("the ephemeral key (CKM_RSA_PKCS_OAEP, {algorithm})"),
                failure: Pkcs11Failure::from_error(&e),
            })?;
        let restored = self
            .session()
            .unwrap_key(
                &kwp.mechanism(),
                ephemeral,
                kwp_part,
                &restore_key_template(label, id, spec),
            )
            .map_err(|e| Error::BackupUnwrap {
                what: format!("the key ({})", kwp.name()),
                failure: Pkcs11Failure::from_error(&e),
            });
        let destroyed = self.destroy(ephemeral);
        if restored.is_err() {
            for left in keys()? {
                if !before.contains(&left) {
                    self.destroy(left)?;
                }
            }
        }
        let restored = restored?;
        if let Err(e) = destroyed {
            self.destroy(restored)?;
            return Err(e);
        }
        Ok(restored)
    }
}
