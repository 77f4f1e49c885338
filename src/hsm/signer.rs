//! The ceremony signer: a key pair in the token that seals transcripts. ECDSA P-256 where the
//! token has it, because every HSM vendor supports it and `openssl` verifies it; RSA-PSS 3072
//! (SHA-256, MGF1-SHA-256, salt 32) on a token without EC. The token signs a 32-byte digest
//! (`CKM_ECDSA`, which returns r‖s that keyrite converts to DER, or `CKM_RSA_PKCS_PSS`), and
//! every signature is checked under the public key object before it is used.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};

use super::{Error, SignerProblem, Token, Unproven};
use crate::interrupt::Made;
use crate::signer_key::{
    RSA_PSS_BITS, RSA_PSS_EXPONENT, RSA_PSS_SALT, Signed, SignerAlgorithm, SignerKey,
};
use crate::spec::KeyLabel;

/// DER of the OID of the P-256 curve (prime256v1), as `CKA_EC_PARAMS` takes it.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The signer's public key.
#[derive(Debug, Clone)]
pub struct SignerPublicKey {
    key: SignerKey,
}

impl SignerPublicKey {
    /// The SubjectPublicKeyInfo, PEM.
    pub fn pem(&self) -> Result<String, Error> {
        self.key.pem().map_err(key_problem)
    }

    /// SHA-256 (hex) of the SubjectPublicKeyInfo DER: the fingerprint a policy pins.
    pub fn fingerprint(&self) -> Result<String, Error> {
        self.key.fingerprint().map_err(key_problem)
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> SignerAlgorithm {
        self.key.algorithm()
    }
}

fn key_problem(e: crate::signer_key::KeyError) -> Error {
    Error::Signer {
        source: SignerProblem::Key(e),
    }
}

/// Parses `CKA_EC_POINT`: a DER OCTET STRING around the SEC1 point (PKCS#11), or the bare point
/// (some tokens).
fn parse_ec_point(raw: &[u8]) -> Result<p256::PublicKey, Error> {
    let bare = super::pair::bare_ec_point(raw, 32).unwrap_or(raw);
    p256::PublicKey::from_sec1_bytes(bare).map_err(|e| Error::Signer {
        source: SignerProblem::EcPoint(e),
    })
}

/// The token's key type and key pair generation mechanism for a signer of `algorithm`.
fn key_type(algorithm: SignerAlgorithm) -> KeyType {
    match algorithm {
        SignerAlgorithm::EcdsaP256 => KeyType::EC,
        SignerAlgorithm::RsaPss3072 => KeyType::RSA,
    }
}

/// The mechanisms a signer of `algorithm` needs: its key pair generation, then its signature.
fn mechanisms(algorithm: SignerAlgorithm) -> [MechanismType; 2] {
    match algorithm {
        SignerAlgorithm::EcdsaP256 => [MechanismType::ECC_KEY_PAIR_GEN, MechanismType::ECDSA],
        SignerAlgorithm::RsaPss3072 => [
            MechanismType::RSA_PKCS_KEY_PAIR_GEN,
            MechanismType::RSA_PKCS_PSS,
        ],
    }
}

/// What a signer's key kind is called in messages.
fn kind(algorithm: SignerAlgorithm) -> &'static str {
    match algorithm {
        SignerAlgorithm::EcdsaP256 => "EC",
        SignerAlgorithm::RsaPss3072 => "RSA",
    }
}

/// The signature mechanism of a signer of `algorithm`.
fn signature_mechanism(algorithm: SignerAlgorithm) -> Mechanism<'static> {
    match algorithm {
        SignerAlgorithm::EcdsaP256 => Mechanism::Ecdsa,
        SignerAlgorithm::RsaPss3072 => Mechanism::RsaPkcsPss(PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: (RSA_PSS_SALT as u64).into(),
        }),
    }
}

/// An attribute keyrite asks of both signer objects, which a token may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protection {
    /// `CKA_PRIVATE=true` on the public key object: only a logged-in session sees it, so no
    /// session without the PIN can destroy or shadow it.
    PublicPrivate,
    /// `CKA_MODIFIABLE=false` on the public key object.
    PublicFixed,
    /// `CKA_MODIFIABLE=false` on the private key object.
    PrivateFixed,
    /// The usages that no mechanism of the signer's key type uses (`CKA_DECRYPT` on an EC key,
    /// `CKA_DERIVE` on an RSA key), which keyrite sets to false only to be explicit: a token that
    /// refuses them in a template gets a template without them, and they are read back instead.
    ExplicitUsages,
}

impl Protection {
    const ALL: [Protection; 4] = [
        Protection::PublicPrivate,
        Protection::PublicFixed,
        Protection::PrivateFixed,
        Protection::ExplicitUsages,
    ];

    fn describe(self) -> &'static str {
        match self {
            Protection::PublicPrivate => "CKA_PRIVATE=true on the public key object",
            Protection::PublicFixed => "CKA_MODIFIABLE=false on the public key object",
            Protection::PrivateFixed => "CKA_MODIFIABLE=false on the private key object",
            Protection::ExplicitUsages => {
                "the usages no mechanism of its key type uses, set to false in the template"
            }
        }
    }
}

/// A new signer: its public key, and what the token would not do.
#[derive(Debug)]
pub struct CreatedSigner {
    /// The public key, proven by a signature of the new private key.
    pub public: SignerPublicKey,
    /// Each protection the token refused or did not keep, said in a sentence.
    pub weakened: Vec<String>,
}

/// A token's refusal of an attribute value in a template. tpm2-pkcs11 answers
/// `CKR_GENERAL_ERROR` to a usage it does not take (`CKA_DECRYPT=false` on an EC key), so that
/// counts too: the templates tried next only leave out what keyrite sets to be explicit, and
/// where all fail the first error is the one reported.
fn refuses_template(e: &cryptoki::error::Error) -> bool {
    use cryptoki::error::RvError;
    [
        RvError::GeneralError,
        RvError::AttributeValueInvalid,
        RvError::AttributeTypeInvalid,
        RvError::TemplateInconsistent,
        RvError::AttributeReadOnly,
    ]
    .into_iter()
    .any(|rv| super::Pkcs11Failure::rv_is(e, rv))
}

/// What a signer's private key reports, and must: generated in the token (`CKA_LOCAL`), never
/// readable or extractable since, able to sign. A private key a PIN holder created or unwrapped
/// under the signer's label, whose value they may keep, differs in one of them at least.
const ORIGIN: [(AttributeType, bool); 6] = [
    (AttributeType::Local, true),
    (AttributeType::NeverExtractable, true),
    (AttributeType::AlwaysSensitive, true),
    (AttributeType::Sensitive, true),
    (AttributeType::Extractable, false),
    (AttributeType::Sign, true),
];

/// The value of one of the [`ORIGIN`] attributes read back.
fn origin_value(a: &Attribute) -> Option<bool> {
    match a {
        Attribute::Local(b)
        | Attribute::NeverExtractable(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::Sensitive(b)
        | Attribute::Extractable(b)
        | Attribute::Sign(b) => Some(*b),
        _ => None,
    }
}

/// The usages a signer's public key must not have.
const PUBLIC_NOT: [AttributeType; 4] = [
    AttributeType::VerifyRecover,
    AttributeType::Encrypt,
    AttributeType::Wrap,
    AttributeType::Derive,
];

/// The usages a signer's private key must not have.
const PRIVATE_NOT: [AttributeType; 4] = [
    AttributeType::SignRecover,
    AttributeType::Decrypt,
    AttributeType::Derive,
    AttributeType::Unwrap,
];

/// Whether no mechanism of a signer's key type uses `usage`: EC keys only sign, verify and
/// derive (ECDH); RSA keys do everything but derive.
fn inert(algorithm: SignerAlgorithm, usage: AttributeType) -> bool {
    match algorithm {
        SignerAlgorithm::EcdsaP256 => usage != AttributeType::Derive,
        SignerAlgorithm::RsaPss3072 => usage == AttributeType::Derive,
    }
}

/// `attribute` set to false.
fn unset(attribute: AttributeType) -> Attribute {
    match attribute {
        AttributeType::VerifyRecover => Attribute::VerifyRecover(false),
        AttributeType::Encrypt => Attribute::Encrypt(false),
        AttributeType::Wrap => Attribute::Wrap(false),
        AttributeType::SignRecover => Attribute::SignRecover(false),
        AttributeType::Decrypt => Attribute::Decrypt(false),
        AttributeType::Unwrap => Attribute::Unwrap(false),
        _ => Attribute::Derive(false),
    }
}

/// The signer's templates, public key then private key: the public key can only verify, the
/// private key only sign and never leaves the token; both private and not modifiable, but for
/// the protection `without`, which the token refused.
fn signer_templates(
    algorithm: SignerAlgorithm,
    label: &KeyLabel,
    id: &[u8],
    without: Option<Protection>,
) -> (Vec<Attribute>, Vec<Attribute>) {
    let label_bytes = label.as_str().as_bytes().to_vec();
    let wanted = |p: Protection| without != Some(p);
    let mut public = vec![Attribute::Token(true)];
    match algorithm {
        SignerAlgorithm::EcdsaP256 => public.push(Attribute::EcParams(P256_PARAMS.to_vec())),
        SignerAlgorithm::RsaPss3072 => public.extend([
            Attribute::ModulusBits(u64::from(RSA_PSS_BITS).into()),
            Attribute::PublicExponent(RSA_PSS_EXPONENT.to_vec()),
        ]),
    }
    public.extend([
        Attribute::Verify(true),
        Attribute::Label(label_bytes.clone()),
        Attribute::Id(id.to_vec()),
    ]);
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label_bytes),
        Attribute::Id(id.to_vec()),
    ];
    let kept =
        |usage: &&AttributeType| wanted(Protection::ExplicitUsages) || !inert(algorithm, **usage);
    public.extend(PUBLIC_NOT.iter().filter(kept).copied().map(unset));
    private.extend(PRIVATE_NOT.iter().filter(kept).copied().map(unset));
    if wanted(Protection::PublicPrivate) {
        public.push(Attribute::Private(true));
    }
    if wanted(Protection::PublicFixed) {
        public.push(Attribute::Modifiable(false));
    }
    if wanted(Protection::PrivateFixed) {
        private.push(Attribute::Modifiable(false));
    }
    (public, private)
}

impl Token {
    fn signer_objects(
        &self,
        label: &KeyLabel,
        class: ObjectClass,
        algorithm: SignerAlgorithm,
    ) -> Result<Vec<ObjectHandle>, Error> {
        Ok(self.session().find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(key_type(algorithm)),
            Attribute::Label(label.as_str().as_bytes().to_vec()),
        ])?)
    }

    /// The signer algorithm this token can hold: ECDSA P-256 where it generates EC key pairs
    /// and signs with `CKM_ECDSA`, RSA-PSS 3072 where it has no EC but RSA key pairs and
    /// `CKM_RSA_PKCS_PSS`; refused, naming what is missing, where it has neither.
    pub fn signer_algorithm(&self) -> Result<SignerAlgorithm, Error> {
        let offered = self.ctx().get_mechanism_list(self.slot())?;
        let missing = |algorithm| {
            mechanisms(algorithm)
                .into_iter()
                .filter(|m| !offered.contains(m))
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
        };
        let ec = missing(SignerAlgorithm::EcdsaP256);
        if ec.is_empty() {
            return Ok(SignerAlgorithm::EcdsaP256);
        }
        let rsa = missing(SignerAlgorithm::RsaPss3072);
        if rsa.is_empty() {
            return Ok(SignerAlgorithm::RsaPss3072);
        }
        Err(Error::NoSignerMechanism {
            token: self.label().to_owned(),
            ec: ec.join(" and "),
            rsa: rsa.join(" and "),
        })
    }

    fn generate_signer(
        &self,
        algorithm: SignerAlgorithm,
        label: &KeyLabel,
        without: Option<Protection>,
    ) -> Result<(ObjectHandle, ObjectHandle), cryptoki::error::Error> {
        let id = self.session().generate_random_vec(16)?;
        let (public, private) = signer_templates(algorithm, label, &id, without);
        let mechanism = match algorithm {
            SignerAlgorithm::EcdsaP256 => Mechanism::EccKeyPairGen,
            SignerAlgorithm::RsaPss3072 => Mechanism::RsaPkcsKeyPairGen,
        };
        self.session()
            .generate_key_pair(&mechanism, &public, &private)
    }

    /// Generates a signer key pair of `algorithm` (see [`Token::signer_algorithm`]): the
    /// private key never leaves the token and can only sign; both objects are private (seen
    /// only after a login) and not modifiable, where the token allows — a protection it refuses
    /// is left out of the template alone, and said in [`CreatedSigner::weakened`]. The new pair
    /// is proven like [`Token::signer_public_key`].
    pub fn create_signer(
        &self,
        label: &KeyLabel,
        algorithm: SignerAlgorithm,
    ) -> Result<CreatedSigner, Error> {
        self.check_label_free(label)?;
        let mut weakened = Vec::new();
        let (public, private) = match self.generate_signer(algorithm, label, None) {
            Ok(pair) => pair,
            Err(first) if refuses_template(&first) => {
                let mut found = None;
                for p in Protection::ALL {
                    match self.generate_signer(algorithm, label, Some(p)) {
                        Ok(pair) => {
                            found = Some((pair, p));
                            break;
                        }
                        Err(e) if refuses_template(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let Some((pair, p)) = found else {
                    return Err(first.into());
                };
                weakened.push(format!(
                    "token {:?} refused {} ({}); the signer was made without it",
                    self.label(),
                    p.describe(),
                    super::Pkcs11Failure::from_error(first).code()
                ));
                if p == Protection::ExplicitUsages {
                    self.check_usages_unset(label, algorithm, pair, &mut weakened)?;
                }
                pair
            }
            Err(e) => return Err(e.into()),
        };
        self.read_back_protections(public, private, &mut weakened);
        if let Err(e) = self.check_origin(label, private) {
            self.discard([public, private], label, Made::Generated)?;
            return Err(e);
        }
        let public = self.read_signer_public(public, algorithm)?;
        self.prove(label, private, &public, &challenge()?)?;
        Ok(CreatedSigner { public, weakened })
    }

    /// Reads back the usages of a signer made without the inert ones (see
    /// [`Protection::ExplicitUsages`]): where the token gave it one it must not have, destroys
    /// the pair and refuses; an inert one the token set is said in `weakened`.
    fn check_usages_unset(
        &self,
        label: &KeyLabel,
        algorithm: SignerAlgorithm,
        (public, private): (ObjectHandle, ObjectHandle),
        weakened: &mut Vec<String>,
    ) -> Result<(), Error> {
        let mut granted = Vec::new();
        for (object, attributes) in [(public, &PUBLIC_NOT[..]), (private, &PRIVATE_NOT[..])] {
            for &attribute in attributes {
                // A usage the token does not keep for the key type reads as no attribute.
                let set = self
                    .session()
                    .get_attributes(object, &[attribute])
                    .ok()
                    .is_some_and(|attrs| attrs.iter().any(is_true));
                if !set {
                    continue;
                }
                if inert(algorithm, attribute) {
                    weakened.push(format!(
                        "token {:?} set {attribute}=true on the new {} signer, which no {} mechanism uses",
                        self.label(),
                        kind(algorithm),
                        kind(algorithm)
                    ));
                } else {
                    granted.push(attribute.to_string());
                }
            }
        }
        if granted.is_empty() {
            return Ok(());
        }
        self.discard([public, private], label, Made::Generated)?;
        Err(Error::SignerUsages {
            token: self.label().to_owned(),
            label: label.to_string(),
            usages: granted.join(", "),
        })
    }

    /// Adds to `weakened` each protection the token accepted in the template but does not
    /// report on the new objects: a token may accept a template and ignore part of it.
    fn read_back_protections(
        &self,
        public: ObjectHandle,
        private: ObjectHandle,
        weakened: &mut Vec<String>,
    ) {
        for (object, p, attribute) in [
            (public, Protection::PublicPrivate, AttributeType::Private),
            (public, Protection::PublicFixed, AttributeType::Modifiable),
            (private, Protection::PrivateFixed, AttributeType::Modifiable),
        ] {
            let wanted = attribute == AttributeType::Private;
            let kept = self
                .session()
                .get_attributes(object, &[attribute])
                .ok()
                .and_then(|attrs| {
                    attrs.into_iter().find_map(|a| match a {
                        Attribute::Private(b) | Attribute::Modifiable(b) => Some(b),
                        _ => None,
                    })
                });
            if kept != Some(wanted) && !weakened.iter().any(|w| w.contains(p.describe())) {
                weakened.push(format!(
                    "token {:?} does not report {} on the new signer",
                    self.label(),
                    p.describe()
                ));
            }
        }
    }

    /// Refuses a signer whose private key does not report each of the [`ORIGIN`] attributes as
    /// a key the token generated and kept secret since does, naming the first that differs or
    /// that the token does not report.
    fn check_origin(&self, label: &KeyLabel, private: ObjectHandle) -> Result<(), Error> {
        let read = self
            .session()
            .get_attributes(private, &ORIGIN.map(|(attribute, _)| attribute))?;
        for (attribute, expected) in ORIGIN {
            let reported = read
                .iter()
                .find(|a| a.attribute_type() == attribute)
                .and_then(origin_value);
            let why = match reported {
                Some(actual) if actual == expected => continue,
                Some(actual) => Unproven::NotMadeInToken {
                    attribute,
                    expected,
                    actual,
                },
                None => Unproven::OriginUnreported { attribute },
            };
            return Err(Error::SignerUnproven {
                token: self.label().to_owned(),
                label: label.to_string(),
                why,
            });
        }
        Ok(())
    }

    fn read_signer_public(
        &self,
        public: ObjectHandle,
        algorithm: SignerAlgorithm,
    ) -> Result<SignerPublicKey, Error> {
        let key = match algorithm {
            SignerAlgorithm::EcdsaP256 => {
                let attrs = self
                    .session()
                    .get_attributes(public, &[AttributeType::EcPoint])?;
                let point = attrs
                    .into_iter()
                    .find_map(|a| match a {
                        Attribute::EcPoint(p) => Some(p),
                        _ => None,
                    })
                    .ok_or(Error::Signer {
                        source: SignerProblem::NoEcPoint,
                    })?;
                SignerKey::EcdsaP256(parse_ec_point(&point)?)
            }
            SignerAlgorithm::RsaPss3072 => {
                let (n, e) = self.modulus_and_exponent(public)?.ok_or(Error::Signer {
                    source: SignerProblem::NoModulus,
                })?;
                SignerKey::rsa(&n, &e).map_err(key_problem)?
            }
        };
        Ok(SignerPublicKey { key })
    }

    /// The signer's private key object and the public key its public key object holds, not yet
    /// proven to be a pair: an EC signer of that label, or else an RSA one, whose private key
    /// reports that the token generated it and kept it secret since. Needs a login: both
    /// objects are private.
    /// A label held by key pairs of both kinds names no signer: a PIN holder can plant a
    /// pair of the other kind beside the one the token made.
    fn signer_pair(&self, label: &KeyLabel) -> Result<(ObjectHandle, SignerPublicKey), Error> {
        let ec = self.signer_pair_of(label, SignerAlgorithm::EcdsaP256)?;
        let rsa = self.signer_pair_of(label, SignerAlgorithm::RsaPss3072)?;
        match (ec, rsa) {
            (Some(pair), None) | (None, Some(pair)) => {
                self.check_origin(label, pair.0)?;
                Ok(pair)
            }
            (Some(_), Some(_)) => Err(Error::SignerUnproven {
                token: self.label().to_owned(),
                label: label.to_string(),
                why: Unproven::BothKinds,
            }),
            (None, None) => Err(Error::NoSigner {
                token: self.label().to_owned(),
                label: label.to_string(),
            }),
        }
    }

    /// [`Token::signer_pair`] for one algorithm: `None` where no private key of its kind has
    /// the label.
    fn signer_pair_of(
        &self,
        label: &KeyLabel,
        algorithm: SignerAlgorithm,
    ) -> Result<Option<(ObjectHandle, SignerPublicKey)>, Error> {
        let kind = kind(algorithm);
        let unproven = |why: Unproven| Error::SignerUnproven {
            token: self.label().to_owned(),
            label: label.to_string(),
            why,
        };
        let private = match self
            .signer_objects(label, ObjectClass::PRIVATE_KEY, algorithm)?
            .as_slice()
        {
            [one] => *one,
            [] => return Ok(None),
            several => {
                return Err(unproven(Unproven::PrivateObjects {
                    kind,
                    count: several.len(),
                }));
            }
        };
        let public = match self
            .signer_objects(label, ObjectClass::PUBLIC_KEY, algorithm)?
            .as_slice()
        {
            [one] => *one,
            [] => {
                return Err(unproven(Unproven::NoPublicObject { kind }));
            }
            several => {
                return Err(unproven(Unproven::PublicObjects {
                    kind,
                    count: several.len(),
                }));
            }
        };
        Ok(Some((private, self.read_signer_public(public, algorithm)?)))
    }

    /// Signs `digest` with `private`; returns the signature once it verifies under `public`
    /// (an ECDSA one as DER, low-S): the proof that the two are one key pair.
    fn prove(
        &self,
        label: &KeyLabel,
        private: ObjectHandle,
        public: &SignerPublicKey,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        let algorithm = public.algorithm();
        let raw = self
            .session()
            .sign(&signature_mechanism(algorithm), private, digest)?;
        let signature = match algorithm {
            SignerAlgorithm::EcdsaP256 => {
                let signature =
                    p256::ecdsa::Signature::from_slice(&raw).map_err(|e| Error::Signer {
                        source: SignerProblem::NotRs {
                            len: raw.len(),
                            source: e,
                        },
                    })?;
                // (r, n - s) verifies as well as (r, s): the seal carries the low one only, so
                // that no one can make a second valid seal line from the first.
                let signature = signature.normalize_s().unwrap_or(signature);
                signature.to_der().as_bytes().to_vec()
            }
            SignerAlgorithm::RsaPss3072 => raw,
        };
        if public.key.check(digest, &signature) != Signed::Verified {
            return Err(Error::SignerUnproven {
                token: self.label().to_owned(),
                label: label.to_string(),
                why: Unproven::NotAPair,
            });
        }
        Ok(signature)
    }

    /// The signer's public key, proven: a fresh random challenge signed with the signer's
    /// private key verifies under it. Needs a login (both signer objects are private); refused
    /// when the token holds anything but exactly one private and one public key of that label
    /// and kind that make a pair — a public object anyone could have made is never believed.
    pub fn signer_public_key(&self, label: &KeyLabel) -> Result<SignerPublicKey, Error> {
        let (private, public) = self.signer_pair(label)?;
        self.prove(label, private, &public, &challenge()?)?;
        Ok(public)
    }

    /// Signs a 32-byte digest with the signer's private key; returns the signature (an ECDSA
    /// one as the DER of its low-S form), checked against the signer's public key object
    /// before it is returned. The signer must still be the one of fingerprint `expected`, as
    /// a run read it when it began: a signer swapped since is refused, not used.
    pub fn sign_digest(
        &self,
        label: &KeyLabel,
        expected: &str,
        digest: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        let (private, public) = self.signer_pair(label)?;
        let actual = public.fingerprint()?;
        if actual != expected {
            return Err(Error::SignerChanged {
                token: self.label().to_owned(),
                label: label.to_string(),
                fingerprints: Box::new((expected.to_owned(), actual)),
            });
        }
        self.prove(label, private, &public, digest)
    }
}

/// Whether a usage attribute read back is true.
fn is_true(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::VerifyRecover(true)
            | Attribute::Encrypt(true)
            | Attribute::Wrap(true)
            | Attribute::Derive(true)
            | Attribute::SignRecover(true)
            | Attribute::Decrypt(true)
            | Attribute::Unwrap(true)
    )
}

/// 32 random bytes from the operating system (`getrandom`): a challenge the token cannot
/// have seen before.
fn challenge() -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    let mut filled = 0;
    while filled < out.len() {
        filled +=
            rustix::rand::getrandom(&mut out[filled..], rustix::rand::GetRandomFlags::empty())
                .map_err(|e| Error::Signer {
                    source: SignerProblem::NoChallenge(e.into()),
                })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_can_only_sign_and_verify() {
        use crate::hsm::usage::assert_usages;
        let label: KeyLabel = "s".parse().unwrap_or_else(|_| unreachable!());
        let explicit = [
            Protection::PublicPrivate,
            Protection::PublicFixed,
            Protection::PrivateFixed,
        ];
        for algorithm in SignerAlgorithm::ALL {
            for without in [None].into_iter().chain(explicit.map(Some)) {
                let (public, private) = signer_templates(algorithm, &label, &[1], without);
                assert_usages(
                    "signer public key",
                    &public,
                    ObjectClass::PUBLIC_KEY,
                    &[AttributeType::Verify],
                );
                assert_usages(
                    "signer private key",
                    &private,
                    ObjectClass::PRIVATE_KEY,
                    &[AttributeType::Sign],
                );
            }
            // Without the explicit usages, the template grants only verify and sign; the usages
            // it leaves out are the ones read back.
            let (public, private) =
                signer_templates(algorithm, &label, &[1], Some(Protection::ExplicitUsages));
            let left_out = |template: &[Attribute], not: &[AttributeType]| {
                not.iter()
                    .all(|n| template.iter().all(|a| a.attribute_type() != *n))
            };
            let inert_of = |not: &[AttributeType]| {
                not.iter()
                    .copied()
                    .filter(|u| inert(algorithm, *u))
                    .collect::<Vec<_>>()
            };
            assert!(left_out(&public, &inert_of(&PUBLIC_NOT)));
            assert!(left_out(&private, &inert_of(&PRIVATE_NOT)));
            for (template, not) in [(&public, &PUBLIC_NOT), (&private, &PRIVATE_NOT)] {
                for usage in not.iter().filter(|u| !inert(algorithm, **u)) {
                    assert!(template.contains(&unset(*usage)), "{usage} stays false");
                }
            }
            assert!(public.contains(&Attribute::Verify(true)));
            assert!(private.contains(&Attribute::Sign(true)));
        }
    }

    #[test]
    fn ec_points_with_and_without_the_octet_string() {
        let key = p256::SecretKey::from_slice(&[7u8; 32]).map(|k| k.public_key());
        let Ok(key) = key else {
            unreachable!("a valid scalar")
        };
        let point = p256::EncodedPoint::from(&key);
        let bare = point.as_bytes().to_vec();
        let mut wrapped = vec![0x04, bare.len() as u8];
        wrapped.extend_from_slice(&bare);
        assert!(matches!(parse_ec_point(&bare), Ok(k) if k == key));
        assert!(matches!(parse_ec_point(&wrapped), Ok(k) if k == key));
    }
}
