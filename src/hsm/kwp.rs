//! RFC 5649 AES key wrap with padding (KWP) in the token, trusted only after a known-answer test.
//!
//! Which mechanism means RFC 5649 differs by token: `CKM_AES_KEY_WRAP_PAD` (0x210A) is RFC 5649
//! on SoftHSM2 but RFC 3394 + PKCS#7 on others; kryoptic offers only `CKM_AES_KEY_WRAP_KWP`
//! (0x210B). Before either is used, a throw-away key of known value is wrapped under a
//! throw-away key of known value, in a session of its own that is closed before any ceremony key
//! is touched, and the result compared with RFC 5649 computed on the host by the `aes-kw` crate.

use std::os::raw::c_ulong;

use aes_kw::KeyInit as _;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use serde::Serialize;

use super::object::SessionObject;
use super::trace::TracedSession;
use super::{Error, KnownAnswerFailure, Pkcs11Failure, Token};
use crate::spec::KeySpec;

/// `CKM_AES_KEY_WRAP_KWP`, which `cryptoki` 0.12 has no constant for.
const CKM_AES_KEY_WRAP_KWP: c_ulong = 0x210B;

/// Builds a `MechanismType` for a standard mechanism `cryptoki` has no constant for.
///
/// This is keyrite's one `unsafe` (DESIGN.md, invariant 7), until `cryptoki` names the type.
#[allow(unsafe_code)]
fn mechanism_type(value: c_ulong) -> MechanismType {
    // SAFETY: `MechanismType` is `#[repr(transparent)]` over `CK_MECHANISM_TYPE` (a `CK_ULONG`,
    // i.e. `c_ulong`), and every `CK_MECHANISM_TYPE` value is a valid `MechanismType`: the type
    // only carries the number to the token. `transmute` checks the sizes are equal.
    unsafe { std::mem::transmute::<c_ulong, MechanismType>(value) }
}

/// A token mechanism that may implement RFC 5649.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KwpMechanism {
    /// `CKM_AES_KEY_WRAP_KWP` (0x210B).
    #[serde(rename = "CKM_AES_KEY_WRAP_KWP")]
    Kwp,
    /// `CKM_AES_KEY_WRAP_PAD` (0x210A).
    #[serde(rename = "CKM_AES_KEY_WRAP_PAD")]
    Pad,
}

impl KwpMechanism {
    /// The order in which they are tried: the unambiguous one first.
    pub const CANDIDATES: [KwpMechanism; 2] = [KwpMechanism::Kwp, KwpMechanism::Pad];

    /// The PKCS#11 name.
    pub fn name(self) -> &'static str {
        match self {
            KwpMechanism::Kwp => "CKM_AES_KEY_WRAP_KWP",
            KwpMechanism::Pad => "CKM_AES_KEY_WRAP_PAD",
        }
    }

    pub(crate) fn mechanism_type(self) -> MechanismType {
        match self {
            KwpMechanism::Kwp => mechanism_type(CKM_AES_KEY_WRAP_KWP),
            KwpMechanism::Pad => MechanismType::AES_KEY_WRAP_PAD,
        }
    }

    pub(crate) fn mechanism(self) -> Mechanism<'static> {
        match self {
            KwpMechanism::Kwp => Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(
                self.mechanism_type(),
                None,
            )),
            KwpMechanism::Pad => Mechanism::AesKeyWrapPad,
        }
    }
}

/// The length of RFC 5649 output for `len` bytes of key data.
pub fn kwp_len(len: usize) -> usize {
    8 + len.div_ceil(8) * 8
}

/// The length of the known-answer target for a private key: its PKCS#8 encoding may be of any
/// length, so the test wraps one that is not a multiple of 8.
const PKCS8_KAT_LEN: usize = 67;

/// The known-answer test's wrapping key, and a target of the kind and length of `spec`: a token
/// may be right for some lengths only (SoftHSM2 2.6.1's `CKM_AES_KEY_WRAP_PAD` zero-pads a
/// 28-byte key to 32 bytes before wrapping, and a private key's PKCS#8 just the same), so the
/// test uses the length about to be wrapped; for a private key, a generic secret of 67 bytes.
fn kat_keys(spec: KeySpec) -> ([u8; 32], KeyType, Vec<u8>) {
    let kek: [u8; 32] = std::array::from_fn(|i| i as u8);
    let (key_type, len) = match spec.secret_len() {
        Some(len) => (spec.key_type(), len),
        None => (KeyType::GENERIC_SECRET, PKCS8_KAT_LEN),
    };
    let target = (0..len).map(|i| 0xa0 ^ i as u8).collect();
    (kek, key_type, target)
}

/// RFC 5649 of the known-answer target for `spec` under the known-answer key, computed on the
/// host; `None` if the host cannot (then nothing is trusted).
pub fn kat_expected(spec: KeySpec) -> Option<Vec<u8>> {
    let (kek, _, target) = kat_keys(spec);
    let mut buf = vec![0u8; kwp_len(target.len())];
    let kwp = aes_kw::KwpAes256::new_from_slice(&kek).ok()?;
    let out = kwp.wrap_key(&target, &mut buf).ok()?;
    (out.len() == kwp_len(target.len())).then(|| out.to_vec())
}

/// The template of a throw-away key of known value for the known-answer test: a public session
/// object, created with `CKA_VALUE` set (no value is ever read), that can only wrap (`wrap`,
/// the wrapping key) or nothing at all (the target).
pub(crate) fn kat_key_template(value: &[u8], key_type: KeyType, wrap: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Wrap(wrap),
        Attribute::Unwrap(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Value(value.to_vec()),
    ]
}

/// Wraps the known-answer target with `mechanism` in `session` (session objects only, destroyed
/// afterwards) and compares with `expected`.
pub fn known_answer_test(
    session: &TracedSession,
    mechanism: KwpMechanism,
    spec: KeySpec,
    expected: &[u8],
    token: &str,
) -> Result<(), Error> {
    let (kek, target_type, target) = kat_keys(spec);
    let kek = SessionObject::make(session, "the known-answer test's AES key", |s| {
        s.create_object(&kat_key_template(&kek, KeyType::AES, true))
    })?;
    let target_handle = SessionObject::make(session, "the known-answer test's target key", |s| {
        s.create_object(&kat_key_template(&target, target_type, false))
    })?;
    let wrapped = session.wrap_key(&mechanism.mechanism(), kek.handle(), target_handle.handle());
    // After a refused wrap, the refusal is the answer: the keys go as their guards drop.
    if wrapped.is_ok() {
        target_handle.destroy()?;
        kek.destroy()?;
    }
    let refused = |source: KnownAnswerFailure| Error::KnownAnswer {
        token: token.to_owned(),
        mechanism: mechanism.name(),
        source,
    };
    match wrapped {
        Ok(bytes) if bytes == expected => Ok(()),
        Ok(bytes) => Err(refused(KnownAnswerFailure::Differs {
            len: target.len(),
            spec,
            wrapped_len: bytes.len(),
        })),
        Err(e) => Err(refused(KnownAnswerFailure::TrialWrap(
            Pkcs11Failure::from_error(e),
        ))),
    }
}

impl Token {
    /// Finds the token's RFC 5649 mechanism: each candidate the token offers for wrapping is
    /// checked by the known-answer test for key material of `spec` in a separate session, closed
    /// before returning.
    pub fn select_kwp(&self, spec: KeySpec) -> Result<KwpMechanism, Error> {
        let expected = kat_expected(spec).ok_or_else(|| Error::NoKwp {
            token: self.label().to_owned(),
            tried: "the host could not compute the known answer".to_owned(),
            tested: false,
        })?;
        let mut tried = Vec::new();
        for candidate in KwpMechanism::CANDIDATES {
            match self
                .ctx()
                .get_mechanism_info(self.slot(), candidate.mechanism_type())
            {
                Ok(info) if info.wrap() => {}
                _ => continue,
            }
            let session = self.ctx().open_rw_session(self.slot())?;
            let result = known_answer_test(&session, candidate, spec, &expected, self.label());
            let closed = session.close();
            match result {
                Ok(()) => {
                    closed?;
                    return Ok(candidate);
                }
                Err(Error::KnownAnswer { source, .. }) => {
                    tried.push(format!("{}: {source}", candidate.name()))
                }
                Err(e) => return Err(e),
            }
            closed?;
        }
        Err(Error::NoKwp {
            token: self.label().to_owned(),
            tested: !tried.is_empty(),
            tried: if tried.is_empty() {
                "the token offers neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD for wrapping"
                    .to_owned()
            } else {
                tried.join("; ")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// RFC 5649 section 6, second example: the host side of the known-answer test is right.
    #[test]
    fn aes_kw_matches_rfc5649() {
        let kek = hex::decode("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8").unwrap();
        let key = hex::decode("466f7250617369").unwrap();
        let kwp = aes_kw::KwpAes192::new_from_slice(&kek).unwrap();
        let mut buf = [0u8; 16];
        let out = kwp.wrap_key(&key, &mut buf).unwrap();
        assert_eq!(hex::encode(out), "afbeb0f07dfbf5419200f2ccb50bb24f");
    }

    #[test]
    fn kwp_lengths() {
        assert_eq!(kwp_len(32), 40);
        assert_eq!(kwp_len(28), 40);
        assert_eq!(kwp_len(48), 56);
        assert_eq!(kwp_len(64), 72);
        assert_eq!(kat_expected(KeySpec::Aes256).unwrap().len(), 40);
        assert_eq!(kat_expected(KeySpec::Hmac224).unwrap().len(), 40);
        assert_eq!(kat_expected(KeySpec::Hmac512).unwrap().len(), 72);
        assert_eq!(kat_expected(KeySpec::Rsa2048).unwrap().len(), 80);
    }

    #[test]
    fn the_mechanism_type_carries_the_number() {
        assert_eq!(*KwpMechanism::Kwp.mechanism_type(), 0x210B);
        assert_eq!(*KwpMechanism::Pad.mechanism_type(), 0x210A);
    }
}
