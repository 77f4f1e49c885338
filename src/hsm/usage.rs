//! The usage attributes PKCS#11 gives each class of key, for the tests of keyrite's templates:
//! every template sets each of them explicitly, true only where the object needs it — a token
//! fills an attribute left out with its own default, and SoftHSM2's default is true for most.

use cryptoki::object::{Attribute, AttributeType, ObjectClass};

/// The usages of a secret key.
const SECRET: [AttributeType; 7] = [
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
    AttributeType::Wrap,
    AttributeType::Unwrap,
    AttributeType::Derive,
];

/// The usages of a private key.
const PRIVATE: [AttributeType; 5] = [
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::SignRecover,
    AttributeType::Unwrap,
    AttributeType::Derive,
];

/// The usages of a public key.
const PUBLIC: [AttributeType; 5] = [
    AttributeType::Encrypt,
    AttributeType::Verify,
    AttributeType::VerifyRecover,
    AttributeType::Wrap,
    AttributeType::Derive,
];

fn flag(a: &Attribute) -> Option<bool> {
    match a {
        Attribute::Encrypt(b)
        | Attribute::Decrypt(b)
        | Attribute::Sign(b)
        | Attribute::SignRecover(b)
        | Attribute::Verify(b)
        | Attribute::VerifyRecover(b)
        | Attribute::Wrap(b)
        | Attribute::Unwrap(b)
        | Attribute::Derive(b) => Some(*b),
        _ => None,
    }
}

/// Asserts `template`, for an object of `class`, sets every usage of that class exactly once:
/// true for those in `granted`, false for the others, and no usage of another class.
pub(crate) fn assert_usages(
    what: &str,
    template: &[Attribute],
    class: ObjectClass,
    granted: &[AttributeType],
) {
    let usages: &[AttributeType] = if class == ObjectClass::SECRET_KEY {
        &SECRET
    } else if class == ObjectClass::PRIVATE_KEY {
        &PRIVATE
    } else if class == ObjectClass::PUBLIC_KEY {
        &PUBLIC
    } else {
        panic!("{what}: {class} has no usages")
    };
    for usage in usages {
        let set: Vec<bool> = template
            .iter()
            .filter(|a| a.attribute_type() == *usage)
            .filter_map(flag)
            .collect();
        assert_eq!(
            set,
            [granted.contains(usage)],
            "{what}: {usage} must be set once, to {}",
            granted.contains(usage)
        );
    }
    for a in template {
        if flag(a).is_some() {
            assert!(
                usages.contains(&a.attribute_type()),
                "{what}: {} is not a usage of {class}",
                a.attribute_type()
            );
        }
    }
    for g in granted {
        assert!(usages.contains(g), "{what}: {g} is not a usage of {class}");
    }
    let classes: Vec<ObjectClass> = template
        .iter()
        .filter_map(|a| match a {
            Attribute::Class(c) => Some(*c),
            _ => None,
        })
        .collect();
    assert!(
        classes.is_empty() || classes == [class],
        "{what}: the template's class is {classes:?}, not {class}"
    );
}

#[test]
fn a_template_missing_a_usage_or_granting_one_fails() {
    let full = [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Encrypt(false),
        Attribute::Verify(false),
        Attribute::VerifyRecover(false),
        Attribute::Wrap(true),
        Attribute::Derive(false),
    ];
    assert_usages(
        "full",
        &full,
        ObjectClass::PUBLIC_KEY,
        &[AttributeType::Wrap],
    );
    let fails = |template: Vec<Attribute>, granted: &'static [AttributeType]| {
        std::panic::catch_unwind(move || {
            assert_usages("t", &template, ObjectClass::PUBLIC_KEY, granted)
        })
        .is_err()
    };
    // One usage left out; one granted that should not be; one of another class; a wrong class.
    assert!(fails(full[..5].to_vec(), &[AttributeType::Wrap]));
    assert!(fails(full.to_vec(), &[]));
    assert!(fails(
        [&full[..], &[Attribute::Decrypt(false)]].concat(),
        &[AttributeType::Wrap]
    ));
    assert!(fails(
        [&full[1..], &[Attribute::Class(ObjectClass::SECRET_KEY)]].concat(),
        &[AttributeType::Wrap]
    ));
}

#[test]
fn every_template_keyrite_makes_objects_with_sets_every_usage() {
    use super::keys::{ceremony_key_template, restore_key_template};
    use super::kwp::kat_key_template;
    use super::wrapping::{
        ephemeral_template, throwaway_template, trusted_key_template, trusted_trial_template,
        wrapping_key_template,
    };
    use crate::spec::{ALL_KEY_SPECS, KeyLabel};
    use cryptoki::object::KeyType;
    let label: KeyLabel = "k".parse().unwrap_or_else(|_| unreachable!());
    for spec in ALL_KEY_SPECS {
        let class = if spec.is_asymmetric() {
            ObjectClass::PRIVATE_KEY
        } else {
            ObjectClass::SECRET_KEY
        };
        for trusted in [false, true] {
            let t = ceremony_key_template(&label, &[1], spec, trusted);
            assert_usages(&format!("ceremony key {spec}"), &t, class, &[]);
        }
        let t = restore_key_template(&label, &[1], spec);
        assert_usages(&format!("restored key {spec}"), &t, class, &[]);
    }
    let secret = ObjectClass::SECRET_KEY;
    assert_usages(
        "ephemeral key",
        &ephemeral_template(),
        secret,
        &[AttributeType::Wrap],
    );
    assert_usages("trial target", &throwaway_template(), secret, &[]);
    for key_type in [KeyType::AES, KeyType::GENERIC_SECRET] {
        let kek = kat_key_template(&[0; 32], key_type, true);
        assert_usages("known-answer key", &kek, secret, &[AttributeType::Wrap]);
        let target = kat_key_template(&[0; 32], key_type, false);
        assert_usages("known-answer target", &target, secret, &[]);
    }
    let public = ObjectClass::PUBLIC_KEY;
    let wrap = [AttributeType::Wrap];
    let kms = wrapping_key_template(&[0xc5; 256], &[1, 0, 1]);
    assert_usages("KMS wrapping key", &kms, public, &wrap);
    assert_usages(
        "trusted trial key",
        &trusted_trial_template(),
        public,
        &wrap,
    );
    let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(
        &rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&[0xc5; 256]),
            rsa::BoxedUint::from_be_slice_vartime(&[1, 0, 1]),
        )
        .unwrap_or_else(|_| unreachable!()),
    )
    .unwrap_or_else(|_| unreachable!());
    let key =
        crate::spec::WrappingKey::from_spki_der(der.as_bytes()).unwrap_or_else(|_| unreachable!());
    assert_usages(
        "trusted wrapping key",
        &trusted_key_template(&key, &label),
        public,
        &wrap,
    );
}
