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

    /// The backup key labelled `label`: its public key, as its private key object carries it,
    /// and what the token unwraps with.
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

    /// The backup key pair labelled `label`: its public and private key objects, and the public
    /// key the private key object itself carries (`CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`, which
    /// PKCS#11 keeps on an RSA private key, sensitive or not). The public key object is only
    /// compared with it: anyone who can open a session may destroy a public object and create
    /// another of the same label and `CKA_ID` without the PIN. Refused unless the token holds
    /// exactly one private key, a private object, and one public key object of that label, and
    /// both hold the same public key.
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
        let unproven = |reason: String| Error::BackupKeyUnproven {
            token: self.label().to_owned(),
            label: label.to_string(),
            reason,
        };
        let private = match find(ObjectClass::PRIVATE_KEY)?.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::NoBackupKey {
                    token: self.label().to_owned(),
                    label: label.to_string(),
                });
            }
            several => {
                return Err(unproven(format!(
                    "{} RSA private key objects have that label, where a backup key has one",
                    several.len()
                )));
            }
        };
        if !self.is_private_object(private)? {
            return Err(unproven(
                "its private key object is a public object, which anyone can create without the PIN"
                    .to_owned(),
            ));
        }
        let Some(own) = self.rsa_public_key(private)? else {
            return Err(unproven(
                "the token gives no modulus and public exponent on its private key object, so nothing proves which public key is its own"
                    .to_owned(),
            ));
        };
        let public = match find(ObjectClass::PUBLIC_KEY)?.as_slice() {
            [one] => *one,
            [] => {
                return Err(unproven(
                    "no RSA public key object has that label, where a backup key has one"
                        .to_owned(),
                ));
            }
            several => {
                return Err(unproven(format!(
                    "{} RSA public key objects have that label, where a backup key has one",
                    several.len()
                )));
            }
        };
        // A public key object the token cannot read as a wrapping key is not the private key's.
        let theirs = self.rsa_public_key(public).ok().flatten();
        if theirs.is_none_or(|(key, _)| key.fingerprint() != own.0.fingerprint()) {
            return Err(Error::BackupPublicKeySwapped {
                token: self.label().to_owned(),
                label: label.to_string(),
            });
        }
        Ok((public, private, own))
    }

    /// The RSA public key an object carries in `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` (a public
    /// key object, or an RSA private key object, which keeps both), checked as a wrapping key;
    /// `None` where the token gives neither.
    fn rsa_public_key(
        &self,
        object: ObjectHandle,
    ) -> Result<Option<(WrappingKey, rsa::PublicKey)>, Error> {
        let attrs = self.session().get_attributes(
            object,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )?;
        let (mut n, mut e) = (None, None);
        for a in attrs {
            match a {
                Attribute::Modulus(v) if !v.is_empty() => n = Some(v),
                Attribute::PublicExponent(v) if !v.is_empty() => e = Some(v),
                _ => {}
            }
        }
        let (Some(n), Some(e)) = (n, e) else {
            return Ok(None);
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
        Ok(Some((checked, key)))
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
    /// and that public key: the one the private key object itself carries (see
    /// [`Token::backup_pair`]), never a public key object's. Only private objects are backup
    /// keys: one a session without the PIN created is passed over.
    pub fn backup_private_key(
        &self,
        fingerprint: &str,
    ) -> Result<(ObjectHandle, WrappingKey), Error> {
        let privates = self.session().find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
        ])?;
        let mut found = Vec::new();
        for private in privates {
            // An RSA key that is not of a wrapping key's size, or that carries no public key,
            // is no backup key.
            let Ok(Some((key, _))) = self.rsa_public_key(private) else {
                continue;
            };
            if key.fingerprint() == fingerprint && self.is_private_object(private)? {
                found.push((private, key));
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::NoBackupKeyFor {
                token: self.label().to_owned(),
                fingerprint: fingerprint.to_owned(),
            }),
            count => Err(Error::BackupKeyCopies {
                token: self.label().to_owned(),
                fingerprint: fingerprint.to_owned(),
                count,
            }),
        }
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
