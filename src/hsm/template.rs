//! `CKA_UNWRAP_TEMPLATE`, which `cryptoki` 0.12 cannot express: its value is an array of
//! `CK_ATTRIBUTE`, each pointing at its own value. [`UnwrapTemplate`] lays that array out in a
//! byte buffer by the C struct's own offsets (from `cryptoki-sys`) and hands it to the token as
//! an attribute of that type; the token reads the values through the addresses written in it.
//!
//! No Rust code reads through those addresses, so this needs no `unsafe`; what it needs is that
//! the values outlive the call that passes the array. They are owned by the [`UnwrapTemplate`],
//! which lends the attribute only to a closure ([`UnwrapTemplate::with`]) while it is alive.

use std::mem::{offset_of, size_of};

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki_sys::{CK_ATTRIBUTE, CK_ATTRIBUTE_TYPE, CK_ULONG, CKA_UNWRAP_TEMPLATE};

/// One attribute of an unwrap template: a boolean, a class or a key type — all a template
/// that restricts unwrapped keys needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// `CKA_CLASS`.
    Class(ObjectClass),
    /// `CKA_KEY_TYPE`.
    KeyType(KeyType),
    /// A `CK_BBOOL` attribute.
    Bool(AttributeType, bool),
}

impl Element {
    /// The elements of a template of `cryptoki` attributes, or `None` if one is of a kind an
    /// unwrap template here does not carry.
    pub fn from_attributes(attributes: &[Attribute]) -> Option<Vec<Element>> {
        attributes
            .iter()
            .map(|a| match a {
                Attribute::Class(c) => Some(Element::Class(*c)),
                Attribute::KeyType(k) => Some(Element::KeyType(*k)),
                Attribute::Token(b)
                | Attribute::Private(b)
                | Attribute::Sensitive(b)
                | Attribute::Extractable(b)
                | Attribute::Modifiable(b)
                | Attribute::Encrypt(b)
                | Attribute::Decrypt(b)
                | Attribute::Sign(b)
                | Attribute::SignRecover(b)
                | Attribute::Verify(b)
                | Attribute::VerifyRecover(b)
                | Attribute::Wrap(b)
                | Attribute::Unwrap(b)
                | Attribute::Derive(b)
                | Attribute::WrapWithTrusted(b) => Some(Element::Bool(a.attribute_type(), *b)),
                _ => None,
            })
            .collect()
    }

    fn type_and_value(self) -> (CK_ATTRIBUTE_TYPE, Vec<u8>) {
        let ulong = |v: CK_ULONG| v.to_ne_bytes().to_vec();
        match self {
            Element::Class(c) => (AttributeType::Class.into(), ulong(CK_ULONG::from(c))),
            Element::KeyType(k) => (AttributeType::KeyType.into(), ulong(CK_ULONG::from(k))),
            Element::Bool(t, b) => (t.into(), vec![u8::from(b)]),
        }
    }
}

/// A `CKA_UNWRAP_TEMPLATE` value and the values its entries point at.
#[derive(Debug)]
pub struct UnwrapTemplate {
    /// Each entry's value. A `Box` never moves its contents, so the addresses in `array` stay
    /// good for as long as `self` lives.
    values: Vec<Box<[u8]>>,
    /// The `CK_ATTRIBUTE` array, laid out as the C struct is.
    array: Vec<u8>,
}

impl UnwrapTemplate {
    /// Lays out `elements` as a `CK_ATTRIBUTE` array.
    pub fn new(elements: &[Element]) -> Self {
        let values: Vec<Box<[u8]>> = elements
            .iter()
            .map(|e| e.type_and_value().1.into_boxed_slice())
            .collect();
        let size = size_of::<CK_ATTRIBUTE>();
        let mut array = vec![0u8; size * elements.len()];
        for (i, (element, value)) in elements.iter().zip(&values).enumerate() {
            let entry = &mut array[i * size..(i + 1) * size];
            let put = |entry: &mut [u8], offset: usize, bytes: &[u8]| {
                entry[offset..offset + bytes.len()].copy_from_slice(bytes);
            };
            put(
                entry,
                offset_of!(CK_ATTRIBUTE, type_),
                &element.type_and_value().0.to_ne_bytes(),
            );
            put(
                entry,
                offset_of!(CK_ATTRIBUTE, pValue),
                &(value.as_ptr() as usize).to_ne_bytes(),
            );
            put(
                entry,
                offset_of!(CK_ATTRIBUTE, ulValueLen),
                &(value.len() as CK_ULONG).to_ne_bytes(),
            );
        }
        UnwrapTemplate { values, array }
    }

    /// Runs `f` with the template as a `cryptoki` attribute, while the values it points at live.
    pub fn with<T>(&self, f: impl FnOnce(Attribute) -> T) -> T {
        debug_assert_eq!(
            self.array.len(),
            self.values.len() * size_of::<CK_ATTRIBUTE>()
        );
        f(Attribute::VendorDefined((
            AttributeType::VendorDefined(CKA_UNWRAP_TEMPLATE),
            self.array.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulong_at(bytes: &[u8], offset: usize) -> CK_ULONG {
        let mut b = [0u8; size_of::<CK_ULONG>()];
        b.copy_from_slice(&bytes[offset..offset + size_of::<CK_ULONG>()]);
        CK_ULONG::from_ne_bytes(b)
    }

    #[test]
    fn entries_carry_type_length_and_the_address_of_their_value() {
        let t = UnwrapTemplate::new(&[
            Element::Class(ObjectClass::SECRET_KEY),
            Element::Bool(AttributeType::Sensitive, true),
            Element::Bool(AttributeType::Decrypt, false),
        ]);
        let size = size_of::<CK_ATTRIBUTE>();
        assert_eq!(t.array.len(), 3 * size);
        let expected: [(CK_ULONG, Vec<u8>); 3] = [
            (
                0x0,
                CK_ULONG::from(ObjectClass::SECRET_KEY)
                    .to_ne_bytes()
                    .to_vec(),
            ),
            (0x103, vec![1]),
            (0x105, vec![0]),
        ];
        for (i, (ty, value)) in expected.iter().enumerate() {
            let entry = &t.array[i * size..(i + 1) * size];
            assert_eq!(ulong_at(entry, offset_of!(CK_ATTRIBUTE, type_)), *ty);
            assert_eq!(
                ulong_at(entry, offset_of!(CK_ATTRIBUTE, ulValueLen)) as usize,
                value.len()
            );
            assert_eq!(
                ulong_at(entry, offset_of!(CK_ATTRIBUTE, pValue)) as usize,
                t.values[i].as_ptr() as usize
            );
            assert_eq!(&*t.values[i], value.as_slice());
        }
        t.with(|a| {
            assert_eq!(
                a.attribute_type(),
                AttributeType::VendorDefined(0x4000_0212)
            );
        });
    }

    #[test]
    fn only_booleans_class_and_key_type_are_carried() {
        assert!(Element::from_attributes(&[Attribute::Label(b"x".to_vec())]).is_none());
        assert_eq!(
            Element::from_attributes(&[Attribute::Token(true), Attribute::KeyType(KeyType::AES)]),
            Some(vec![
                Element::Bool(AttributeType::Token, true),
                Element::KeyType(KeyType::AES)
            ])
        );
    }
}
