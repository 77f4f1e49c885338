//! Backups to a second token. `token backup-key create` makes an RSA key pair there whose
//! private key can only unwrap, never leaves the token, and carries a `CKA_UNWRAP_TEMPLATE`:
//! what it unwraps must take the template it prescribes, so its PIN holder cannot unwrap a
//! backup into a readable key.
//!
//! A backup key is of one of two kinds. For secret keys (the default), the first token wraps
//! the key directly with RSA-OAEP (`--provider pkcs11-backup --algorithm RSAES_OAEP_*`) and the
//! template is the ceremony template: whatever is unwrapped is a sensitive token key with no
//! usage. For key pairs, whose PKCS#8 encoding is too long for OAEP, the first token wraps with
//! RSA-AES, and [`Token::restore_backup`] unwraps OAEP to an ephemeral AES-256 session key that
//! can only unwrap, then RFC 5649 KWP of the key with the ceremony template, the ephemeral key
//! destroyed on every path. The template can bind only that ephemeral key: the key it unwraps
//! next would need a template inside the template, which SoftHSM2 2.6.1 and kryoptic 1.5.4 both
//! refuse. So the PIN holder of a key-pair backup key can unwrap any backup made for it into a
//! readable key, and keyrite makes one only where the policy accepts that in so many words.

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use serde::Serialize;

use super::keys::restore_key_template;
use super::kwp::KwpMechanism;
use super::object::SessionObject;
use super::template::{Element, UnwrapTemplate};
use super::wrapping::rsa_mechanism;
use super::{BackupKeyProblem, BackupUnproven, Error, Pkcs11Failure, Token};
use crate::spec::{KeyLabel, KeySpec, WrappingAlgorithm, WrappingKey};

/// An RSA public key's modulus and public exponent, big-endian, as a token gives them.
pub(crate) type RsaParts = (Vec<u8>, Vec<u8>);

/// The size of a backup key pair, in bits.
pub const BACKUP_KEY_BITS: u64 = 3072;

/// What a backup key unwraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupKeyKind {
    /// Secret keys, wrapped directly with RSA-OAEP: its unwrap template is the ceremony
    /// template.
    SecretKeys,
    /// Key pairs, wrapped with RSA-AES: its unwrap template binds only the ephemeral AES key.
    KeyPairs,
}

impl BackupKeyKind {
    /// The algorithms backups for this kind of backup key use.
    pub fn algorithms(self) -> [WrappingAlgorithm; 2] {
        match self {
            BackupKeyKind::SecretKeys => [
                WrappingAlgorithm::RsaesOaepSha256,
                WrappingAlgorithm::RsaesOaepSha1,
            ],
            BackupKeyKind::KeyPairs => [
                WrappingAlgorithm::RsaAesKeyWrapSha256,
                WrappingAlgorithm::RsaAesKeyWrapSha1,
            ],
        }
    }

    /// The kind of backup key a backup of `spec` needs.
    pub fn for_spec(spec: KeySpec) -> BackupKeyKind {
        if spec.is_asymmetric() {
            BackupKeyKind::KeyPairs
        } else {
            BackupKeyKind::SecretKeys
        }
    }

    /// The template everything this backup key unwraps must take (class, flags: no label, id
    /// or key type, which differ from key to key).
    fn unwrap_template(self) -> Vec<Element> {
        let template = match self {
            BackupKeyKind::SecretKeys => {
                restore_key_template(&KeyLabel::trial(), b"", KeySpec::Aes256)
            }
            BackupKeyKind::KeyPairs => ephemeral_unwrap_template().to_vec(),
        };
        let kept: Vec<Attribute> = template
            .into_iter()
            .filter(|a| {
                !matches!(
                    a,
                    Attribute::Label(_) | Attribute::Id(_) | Attribute::KeyType(_)
                )
            })
            .collect();
        Element::from_attributes(&kept).unwrap_or_default()
    }
}

/// A backup key's public half, and what its token was seen to do with it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupKey {
    /// The SubjectPublicKeyInfo, PEM.
    pub pem: String,
    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER.
    pub fingerprint: String,
    /// The algorithms a trial unwrap succeeded with.
    pub unwraps: Vec<&'static str>,
    /// The algorithms whose trial failed, and what the token said.
    pub refuses: Vec<(&'static str, String)>,
    /// How its PIN holder could unwrap a backup into a readable key, if they could.
    pub oracle: Option<String>,
}

/// Whether the token applies an unwrapping key's `CKA_UNWRAP_TEMPLATE` (`token info`).
#[derive(Debug, Clone, Serialize)]
pub struct UnwrapTemplateSupport {
    /// An unwrap that contradicted the template was refused, and one that kept it worked.
    pub applied: bool,
    /// What the trials showed, in words.
    pub detail: String,
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

/// The template of a throw-away AES-256 session key that the host could read: what a PIN holder
/// would ask an unwrap for.
fn readable_template() -> Vec<Attribute> {
    let mut template = ephemeral_unwrap_template().to_vec();
    for a in &mut template {
        match a {
            Attribute::Sensitive(b) | Attribute::Unwrap(b) => *b = false,
            Attribute::Extractable(b) => *b = true,
            _ => {}
        }
    }
    template
}

/// The template of a throw-away AES-256 public session key that is wrapped in a trial: of no
/// use, extractable.
fn throwaway_template() -> Vec<Attribute> {
    let mut template = readable_template();
    template.retain(|a| !matches!(a, Attribute::Private(_)));
    template.extend([Attribute::Private(false), Attribute::ValueLen(32u64.into())]);
    template
}

/// A backup key's public key object: a token object that can only wrap.
fn backup_public_template(label: &[u8], id: &[u8]) -> Vec<Attribute> {
    vec![
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
        Attribute::Label(label.to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

/// A backup key's private key, but for its `CKA_UNWRAP_TEMPLATE` and `CKA_MODIFIABLE=false`,
/// which come last: sensitive, never extractable, able only to unwrap.
fn backup_private_template(label: &[u8], id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Unwrap(true),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::SignRecover(false),
        Attribute::Derive(false),
        Attribute::Label(label.to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

/// The trial key pair of [`Token::unwrap_template_support`], or the token's refusal to make it.
enum TrialPair<'s> {
    /// Its public key and its private key, with the unwrap template.
    Made(SessionObject<'s>, SessionObject<'s>),
    /// What the token said.
    Refused(Pkcs11Failure),
}

impl TrialPair<'_> {
    /// Destroys a pair made; a refusal is returned as it is.
    fn destroy(self) -> Result<Result<(), Pkcs11Failure>, Error> {
        match self {
            TrialPair::Made(public, private) => {
                private.destroy()?;
                public.destroy()?;
                Ok(Ok(()))
            }
            TrialPair::Refused(failure) => Ok(Err(failure)),
        }
    }
}

/// The throw-away RSA-2048 public session key pair of [`Token::unwrap_template_support`]: the
/// public key wraps, the private key unwraps (its unwrap template is added to it).
fn trial_pair_templates() -> (Vec<Attribute>, Vec<Attribute>) {
    (
        vec![
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::ModulusBits(2048u64.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Wrap(true),
            Attribute::Encrypt(false),
            Attribute::Verify(false),
            Attribute::VerifyRecover(false),
            Attribute::Derive(false),
        ],
        vec![
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Sensitive(true),
            Attribute::Unwrap(true),
            Attribute::Decrypt(false),
            Attribute::Sign(false),
            Attribute::SignRecover(false),
            Attribute::Derive(false),
        ],
    )
}

impl Token {
    /// Makes a backup key pair of `kind`: the public key a token object that can only wrap, the
    /// private key sensitive, never extractable, able only to unwrap, with the kind's
    /// `CKA_UNWRAP_TEMPLATE`. Then tries, with throw-away keys, which algorithms the token
    /// unwraps with and whether an unwrap into a readable key is refused. A backup key whose PIN
    /// holder could unwrap a backup into a readable key is destroyed again unless
    /// `accept_oracle` (the policy's `accept_backup_unwrap_oracle`).
    pub fn create_backup_key(
        &self,
        label: &KeyLabel,
        kind: BackupKeyKind,
        accept_oracle: bool,
    ) -> Result<BackupKey, Error> {
        self.check_label_free(label)?;
        // The trial `token info` makes: a token that refuses a key pair with an unwrap template
        // is refused here, before anything is generated.
        if let Err(failure) = self.unwrap_template_pair()?.destroy()? {
            return Err(Error::NoUnwrapTemplate {
                token: self.label().to_owned(),
                failure,
            });
        }
        let id = self.session().generate_random_vec(16)?;
        let label_bytes = label.as_str().as_bytes().to_vec();
        let public_template = backup_public_template(&label_bytes, &id);
        let template = UnwrapTemplate::new(&kind.unwrap_template());
        let (public, private) = template.with(|unwrap_template| {
            self.session().generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &public_template,
                &[
                    backup_private_template(&label_bytes, &id),
                    vec![unwrap_template, Attribute::Modifiable(false)],
                ]
                .concat(),
            )
        })?;
        let key = self.backup_key(label);
        let refuse = match &key {
            Ok(k) if accept_oracle => return Ok(k.clone()),
            Ok(BackupKey {
                oracle: Some(why), ..
            }) => Some(why.clone()),
            Ok(_) => None,
            Err(_) => Some(String::new()),
        };
        if let Some(why) = refuse {
            self.discard([private, public], label, crate::interrupt::Made::Generated)?;
            if !why.is_empty() {
                return Err(Error::BackupKeyOracle {
                    token: self.label().to_owned(),
                    label: label.to_string(),
                    why,
                });
            }
        }
        key
    }

    /// The backup key labelled `label`: its public key, what the token unwraps with, and whether
    /// its PIN holder could unwrap a backup into a readable key.
    pub fn backup_key(&self, label: &KeyLabel) -> Result<BackupKey, Error> {
        let (public, private, (key, rsa_key)) = self.backup_pair(label)?;
        let pem = rsa_key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::BackupKey {
                source: BackupKeyProblem::Spki(e),
            })?;
        let mut unwraps = Vec::new();
        let mut refuses = Vec::new();
        for kind in [BackupKeyKind::SecretKeys, BackupKeyKind::KeyPairs] {
            for algorithm in kind.algorithms() {
                match self.trial_unwrap(kind, algorithm, public, private) {
                    Ok(()) => unwraps.push(algorithm.name()),
                    Err(e) => refuses.push((algorithm.name(), e.to_string())),
                }
            }
        }
        let key_pairs = BackupKeyKind::KeyPairs
            .algorithms()
            .iter()
            .any(|a| unwraps.contains(&a.name()));
        let oracle = match self.readable_unwrap(public, private)? {
            Some(how) => Some(how),
            None if key_pairs => Some(
                "it unwraps RSA-AES backups, so it gives its PIN holder an AES key that unwraps \
                 the backed-up key under any template, a readable one too: an unwrap template \
                 inside the template would forbid that, and this token refuses one"
                    .to_owned(),
            ),
            None => None,
        };
        Ok(BackupKey {
            pem,
            fingerprint: key.fingerprint().to_owned(),
            unwraps,
            refuses,
            oracle,
        })
    }

    /// Whether the backup key lets a throw-away key wrapped under it be unwrapped into one the
    /// host can read: how, if it does; `None` if the token refused (`CKR_TEMPLATE_INCONSISTENT`
    /// or another refusal) or could wrap with neither OAEP hash.
    fn readable_unwrap(
        &self,
        public: ObjectHandle,
        private: ObjectHandle,
    ) -> Result<Option<String>, Error> {
        let throwaway = self.throwaway_key()?;
        let mut found = None;
        for algorithm in BackupKeyKind::SecretKeys.algorithms() {
            let rsa = rsa_mechanism(algorithm);
            let Ok(wrapped) = self.session().wrap_key(&rsa, public, throwaway.handle()) else {
                continue;
            };
            if let Ok(readable) =
                self.session()
                    .unwrap_key(&rsa, private, &wrapped, &readable_template())
            {
                SessionObject::new(self.session(), readable, "the trial's readable key")
                    .destroy()?;
                found = Some(format!(
                    "a key wrapped under it with {algorithm} was unwrapped into a readable key: the \
                     token does not apply its CKA_UNWRAP_TEMPLATE, or the key has none"
                ));
            }
            break;
        }
        throwaway.destroy()?;
        Ok(found)
    }

    /// The throw-away RSA-2048 public session key pair whose private key's
    /// `CKA_UNWRAP_TEMPLATE` says `CKA_SENSITIVE=true`, or what the token said when it would not
    /// make one.
    fn unwrap_template_pair(&self) -> Result<TrialPair<'_>, Error> {
        let template = UnwrapTemplate::new(&[Element::Bool(AttributeType::Sensitive, true)]);
        let (public_template, private_template) = trial_pair_templates();
        let pair = template.with(|unwrap_template| {
            self.session().generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &public_template,
                &[private_template, vec![unwrap_template]].concat(),
            )
        });
        Ok(match pair {
            Ok((public, private)) => TrialPair::Made(
                SessionObject::new(self.session(), public, "the trial key pair's public key"),
                SessionObject::new(self.session(), private, "the trial key pair's private key"),
            ),
            Err(e) => TrialPair::Refused(Pkcs11Failure::from_error(e)),
        })
    }

    /// Whether the token applies `CKA_UNWRAP_TEMPLATE`, found with a throw-away RSA-2048 session
    /// key pair whose template says `CKA_SENSITIVE=true`: a throw-away key wrapped under it must
    /// unwrap as a sensitive key and be refused as a readable one.
    pub fn unwrap_template_support(&self) -> Result<UnwrapTemplateSupport, Error> {
        let (public, private) = match self.unwrap_template_pair()? {
            TrialPair::Made(public, private) => (public, private),
            TrialPair::Refused(failure) => {
                return Ok(UnwrapTemplateSupport {
                    applied: false,
                    detail: format!(
                        "NOT applied: a key pair with one could not be made ({failure}): no backup key here"
                    ),
                });
            }
        };
        let throwaway = self.throwaway_key()?;
        let mut public_template = readable_template().to_vec();
        public_template.retain(|a| !matches!(a, Attribute::Private(_)));
        public_template.push(Attribute::Private(false));
        let mut sensitive_template = public_template.clone();
        for a in &mut sensitive_template {
            if let Attribute::Sensitive(b) = a {
                *b = true;
            }
        }
        let mut outcome = None;
        for algorithm in BackupKeyKind::SecretKeys.algorithms() {
            let rsa = rsa_mechanism(algorithm);
            let Ok(wrapped) = self
                .session()
                .wrap_key(&rsa, public.handle(), throwaway.handle())
            else {
                continue;
            };
            let try_unwrap = |template: &[Attribute]| {
                let made = self
                    .session()
                    .unwrap_key(&rsa, private.handle(), &wrapped, template);
                if let Ok(handle) = made {
                    SessionObject::new(self.session(), handle, "the trial's unwrapped key")
                        .destroy()?;
                }
                Ok::<_, Error>(made.map(|_| ()))
            };
            outcome = Some((
                try_unwrap(&public_template)?,
                try_unwrap(&sensitive_template)?,
            ));
            break;
        }
        throwaway.destroy()?;
        private.destroy()?;
        public.destroy()?;
        let (applied, detail) = match outcome {
            None => (false, "not tried: the token wraps with neither OAEP hash".to_owned()),
            Some((Err(refused), Ok(()))) => (
                true,
                format!(
                    "applied: an unwrap into a readable key was refused ({}), so a backup key's PIN holder cannot read what it unwraps",
                    Pkcs11Failure::from_error(refused).code()
                ),
            ),
            Some((Ok(()), _)) => (
                false,
                "NOT applied: a key unwrapped under a key whose template says sensitive came out readable; a backup key here needs the policy's accept_backup_unwrap_oracle".to_owned(),
            ),
            Some((Err(_), Err(e))) => (
                false,
                format!(
                    "not known: the token refused the unwrap that kept the template too ({})",
                    Pkcs11Failure::from_error(e)
                ),
            ),
        };
        Ok(UnwrapTemplateSupport { applied, detail })
    }

    /// A throw-away AES-256 public session key that can be wrapped.
    fn throwaway_key(&self) -> Result<SessionObject<'_>, Error> {
        let handle = self
            .session()
            .generate_key(&Mechanism::AesKeyGen, &throwaway_template())?;
        Ok(SessionObject::new(
            self.session(),
            handle,
            "the trial's throw-away AES key",
        ))
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
        let unproven = |why: BackupUnproven| Error::BackupKeyUnproven {
            token: self.label().to_owned(),
            label: label.to_string(),
            why,
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
                return Err(unproven(BackupUnproven::PrivateObjects {
                    count: several.len(),
                }));
            }
        };
        if !self.is_private_object(private)? {
            return Err(unproven(BackupUnproven::PrivateIsPublic));
        }
        let Some(own) = self.rsa_public_key(private)? else {
            return Err(unproven(BackupUnproven::NoOwnPublicKey));
        };
        let public = match find(ObjectClass::PUBLIC_KEY)?.as_slice() {
            [one] => *one,
            [] => {
                return Err(unproven(BackupUnproven::NoPublicObject));
            }
            several => {
                return Err(unproven(BackupUnproven::PublicObjects {
                    count: several.len(),
                }));
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

    /// An RSA object's `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`, big-endian; `None` where the
    /// token gives either empty or not at all.
    pub(crate) fn modulus_and_exponent(
        &self,
        object: ObjectHandle,
    ) -> Result<Option<RsaParts>, Error> {
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
        Ok(n.zip(e))
    }

    /// The RSA public key an object carries in `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` (a public
    /// key object, or an RSA private key object, which keeps both), checked as a wrapping key;
    /// `None` where the token gives neither.
    fn rsa_public_key(
        &self,
        object: ObjectHandle,
    ) -> Result<Option<(WrappingKey, rsa::PublicKey)>, Error> {
        let Some((n, e)) = self.modulus_and_exponent(object)? else {
            return Ok(None);
        };
        let key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&n),
            rsa::BoxedUint::from_be_slice_vartime(&e),
        )
        .map_err(|e| Error::BackupKey {
            source: BackupKeyProblem::Rsa(e),
        })?;
        let der = key.to_public_key_der().map_err(|e| Error::BackupKey {
            source: BackupKeyProblem::Spki(e),
        })?;
        let checked = WrappingKey::from_spki_der(der.as_bytes()).map_err(|e| Error::BackupKey {
            source: BackupKeyProblem::Spec(e),
        })?;
        Ok(Some((checked, key)))
    }

    /// Wraps a throw-away AES-256 session key under the backup key with `algorithm`'s OAEP and
    /// unwraps it again as a backup of `kind` would be: for secret keys, to a token key with the
    /// ceremony template (destroyed at once); for key pairs, to an ephemeral session key.
    fn trial_unwrap(
        &self,
        kind: BackupKeyKind,
        algorithm: WrappingAlgorithm,
        public: ObjectHandle,
        private: ObjectHandle,
    ) -> Result<(), Error> {
        let rsa = rsa_mechanism(algorithm);
        let template = match kind {
            BackupKeyKind::SecretKeys => {
                restore_key_template(&KeyLabel::trial(), b"trial", KeySpec::Aes256)
            }
            BackupKeyKind::KeyPairs => ephemeral_unwrap_template().to_vec(),
        };
        let throwaway = self.throwaway_key()?;
        let result = self
            .session()
            .wrap_key(&rsa, public, throwaway.handle())
            .and_then(|wrapped| {
                self.session()
                    .unwrap_key(&rsa, private, &wrapped, &template)
            });
        let back = match result {
            Ok(back) => back,
            // The refusal is the answer: the throw-away key goes as its guard drops.
            Err(e) => return Err(trial_unwrap_error(kind, e)),
        };
        SessionObject::new(self.session(), back, "the trial unwrap's key").destroy()?;
        throwaway.destroy()
    }

    /// The private key of the backup key whose SubjectPublicKeyInfo has SHA-256 `fingerprint`,
    /// and that public key: the one the private key object itself carries (see
    /// `backup_pair`), never a public key object's. Only private objects are backup
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

    /// Unwraps a backup into a new token key with [`restore_key_template`], labelled `label`
    /// with `CKA_ID` `id`: with RSA-OAEP, `wrapped` is the key under the backup key; with
    /// RSA-AES, it is `rsa_part ‖ kwp_part` and the ephemeral key is destroyed on every path. If
    /// the unwrap fails, every secret or private key that appeared meanwhile is destroyed:
    /// SoftHSM2 2.6.1 leaves a half-made token object, without label or value, behind a failed
    /// `C_UnwrapKey`.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_backup(
        &self,
        private: ObjectHandle,
        algorithm: WrappingAlgorithm,
        kwp: Option<KwpMechanism>,
        wrapped: &[u8],
        modulus_len: usize,
        label: &KeyLabel,
        id: &[u8],
        spec: KeySpec,
    ) -> Result<ObjectHandle, Error> {
        let rsa = rsa_mechanism(algorithm);
        let template = restore_key_template(label, id, spec);
        let keys = || -> Result<Vec<ObjectHandle>, Error> {
            let mut keys = Vec::new();
            for class in [ObjectClass::SECRET_KEY, ObjectClass::PRIVATE_KEY] {
                keys.extend(self.session().find_objects(&[Attribute::Class(class)])?);
            }
            Ok(keys)
        };
        let before = keys()?;
        let restored = match (algorithm.is_rsa_aes(), kwp) {
            (false, _) => self
                .session()
                .unwrap_key(&rsa, private, wrapped, &template)
                .map_err(|e| Error::BackupUnwrap {
                    what: format!("the key (CKM_RSA_PKCS_OAEP, {algorithm})"),
                    failure: Pkcs11Failure::from_error(e),
                }),
            (true, Some(kwp)) => {
                let (rsa_part, kwp_part) = wrapped.split_at(modulus_len.min(wrapped.len()));
                self.unwrap_rsa_aes(private, algorithm, kwp, rsa_part, kwp_part, &template)
            }
            (true, None) => Err(Error::BackupKey {
                source: BackupKeyProblem::NoKwp,
            }),
        };
        if restored.is_err() {
            for left in keys()? {
                if !before.contains(&left) {
                    self.destroy(left)?;
                }
            }
        }
        restored
    }

    /// OAEP to the ephemeral key, then RFC 5649 of the key under it with `template`; the
    /// ephemeral key destroyed on every path.
    fn unwrap_rsa_aes(
        &self,
        private: ObjectHandle,
        algorithm: WrappingAlgorithm,
        kwp: KwpMechanism,
        rsa_part: &[u8],
        kwp_part: &[u8],
        template: &[Attribute],
    ) -> Result<ObjectHandle, Error> {
        let rsa = rsa_mechanism(algorithm);
        let ephemeral = self
            .session()
            .unwrap_key(&rsa, private, rsa_part, &ephemeral_unwrap_template())
            .map_err(|e| Error::BackupUnwrap {
                what: format!("the ephemeral key (CKM_RSA_PKCS_OAEP, {algorithm})"),
                failure: Pkcs11Failure::from_error(e),
            })?;
        let ephemeral = SessionObject::new(self.session(), ephemeral, "the ephemeral AES key");
        let restored = self
            .session()
            .unwrap_key(&kwp.mechanism(), ephemeral.handle(), kwp_part, template)
            .map_err(|e| Error::BackupUnwrap {
                what: format!("the key ({})", kwp.name()),
                failure: Pkcs11Failure::from_error(e),
            })?;
        let destroyed = ephemeral.destroy();
        if let Err(e) = destroyed {
            self.session().destroy_new_object(restored)?;
            return Err(e);
        }
        Ok(restored)
    }
}

/// What a refused trial unwrap of `kind` means: a template made for the other kind, or the
/// token's refusal.
fn trial_unwrap_error(kind: BackupKeyKind, e: cryptoki::error::Error) -> Error {
    match e {
        cryptoki::error::Error::Pkcs11(RvError::TemplateInconsistent, _) => Error::BackupKey {
            source: match kind {
                BackupKeyKind::SecretKeys => BackupKeyProblem::TemplateForKeyPairs,
                BackupKeyKind::KeyPairs => BackupKeyProblem::TemplateForSecretKeys,
            },
        },
        e => Error::Pkcs11(Pkcs11Failure::from_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hsm::usage::assert_usages;
    use cryptoki::object::AttributeType;

    #[test]
    fn every_backup_template_sets_every_usage() {
        let secret = ObjectClass::SECRET_KEY;
        let (public, private) = (ObjectClass::PUBLIC_KEY, ObjectClass::PRIVATE_KEY);
        let (wrap, unwrap) = ([AttributeType::Wrap], [AttributeType::Unwrap]);
        assert_usages("ephemeral", &ephemeral_unwrap_template(), secret, &unwrap);
        assert_usages("readable probe", &readable_template(), secret, &[]);
        assert_usages("throw-away", &throwaway_template(), secret, &[]);
        let (label, id) = (b"bk".as_slice(), [1u8; 16]);
        assert_usages(
            "backup public",
            &backup_public_template(label, &id),
            public,
            &wrap,
        );
        assert_usages(
            "backup private",
            &backup_private_template(label, &id),
            private,
            &unwrap,
        );
        let (trial_public, trial_private) = trial_pair_templates();
        assert_usages("trial public", &trial_public, public, &wrap);
        assert_usages("trial private", &trial_private, private, &unwrap);
    }

    #[test]
    fn a_secret_key_backup_key_prescribes_the_ceremony_template() {
        let elements = BackupKeyKind::SecretKeys.unwrap_template();
        for (attribute, value) in [
            (AttributeType::Token, true),
            (AttributeType::Private, true),
            (AttributeType::Sensitive, true),
            (AttributeType::Extractable, true),
            (AttributeType::Modifiable, false),
            (AttributeType::Decrypt, false),
            (AttributeType::Unwrap, false),
            (AttributeType::Derive, false),
        ] {
            assert!(
                elements.contains(&Element::Bool(attribute, value)),
                "{attribute}"
            );
        }
        assert!(elements.contains(&Element::Class(ObjectClass::SECRET_KEY)));
        let ephemeral = BackupKeyKind::KeyPairs.unwrap_template();
        assert!(ephemeral.contains(&Element::Bool(AttributeType::Token, false)));
        assert!(ephemeral.contains(&Element::Bool(AttributeType::Extractable, false)));
    }
}
