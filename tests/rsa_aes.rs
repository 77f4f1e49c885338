//! RSA-AES key wrap composed in SoftHSM2 (SHA-1) and HMAC key material, unwrapped by the KMS
//! side with Python `cryptography` (OAEP, then RFC 5649 unwrap).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::wrap::Wrap;
use common::*;
use serde_json::Value;

fn wrap(
    hsm: &TestToken,
    kms: &Kms,
    algorithm: &str,
    key_spec: &str,
    label: &str,
) -> (Vec<u8>, Value) {
    let params = kms.write_aws_params(hsm.dir.path(), &format!("{label}.json"));
    let out = format!("{label}-out");
    Wrap::aws(&params)
        .algorithm(algorithm)
        .spec(key_spec)
        .label(label)
        .out(&out)
        .pin()
        .ok(hsm);
    let dir = hsm.path(&out);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let material = kms.unwrap_python(&dir.join("EncryptedKeyMaterial.bin"), algorithm);
    check_kcv(&material, key_spec, &manifest);
    (
        std::fs::read(dir.join("EncryptedKeyMaterial.bin")).unwrap(),
        manifest,
    )
}

fn check_kcv(material: &[u8], key_spec: &str, m: &Value) {
    let (len, method) = match key_spec {
        "AES_256" => (32, "aes-ecb-zero-3"),
        "HMAC_224" => (28, "sha1-3"),
        "HMAC_256" => (32, "sha1-3"),
        "HMAC_384" => (48, "sha1-3"),
        "HMAC_512" => (64, "sha1-3"),
        other => panic!("{other}"),
    };
    assert_eq!(material.len(), len, "{key_spec}");
    assert_eq!(m["key"]["kcv_method"], method, "{key_spec}");
    assert_eq!(
        m["key"]["kcv"].as_str().unwrap(),
        kcv_python(method, material),
        "{key_spec}"
    );
}

#[test]
fn rsa_aes_sha1_every_key_kind_unwraps_with_python() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    for (spec, kwp) in [
        ("AES_256", 40),
        ("HMAC_256", 40),
        ("HMAC_384", 56),
        ("HMAC_512", 72),
    ] {
        let label = spec.to_lowercase().replace('_', "-");
        let (wrapped, m) = wrap(&hsm, &kms, "RSA_AES_KEY_WRAP_SHA_1", spec, &label);
        assert_eq!(wrapped.len(), 256 + kwp, "{spec}");
        assert_eq!(m["key"]["spec"], spec);
        assert_eq!(
            m["mechanism"],
            "CKM_RSA_PKCS_OAEP + CKM_AES_KEY_WRAP_PAD (composed in the token)"
        );
    }
}

#[test]
fn rsa_aes_size_formula_for_each_rsa_size() {
    let hsm = TestToken::softhsm("ceremony");
    for bits in [2048usize, 3072, 4096] {
        let kms = Kms::new(hsm.dir.path(), bits as u32);
        let (wrapped, _) = wrap(
            &hsm,
            &kms,
            "RSA_AES_KEY_WRAP_SHA_1",
            "AES_256",
            &format!("k{bits}"),
        );
        assert_eq!(wrapped.len(), bits / 8 + 40, "RSA-{bits}");
    }
}

#[test]
fn hmac_material_with_direct_oaep() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    for spec in ["HMAC_224", "HMAC_512"] {
        let (wrapped, _) = wrap(
            &hsm,
            &kms,
            "RSAES_OAEP_SHA_1",
            spec,
            &spec.to_lowercase().replace('_', "-"),
        );
        assert_eq!(wrapped.len(), 256);
    }
    let objects = hsm.objects();
    for o in &objects {
        assert_eq!(o["key_type"], "CKK_GENERIC_SECRET");
        assert_eq!(o["sensitive"], true);
        assert_eq!(o["derive"], false);
        assert_eq!(o["sign"], false);
        assert_eq!(o["value_readable"], false);
    }
    assert_eq!(objects.len(), 2);
}

/// SoftHSM2 2.6.1's CKM_AES_KEY_WRAP_PAD zero-pads a 28-byte key to 32 bytes before wrapping,
/// so a KMS would import the wrong key: the known-answer test, run for the length about to be
/// wrapped, must refuse it before any key is generated.
#[test]
fn rsa_aes_of_hmac_224_is_refused_on_softhsm2_by_the_known_answer_test() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let params = kms.write_aws_params(hsm.dir.path(), "p.json");
    let out = Wrap::aws(&params)
        .algorithm("RSA_AES_KEY_WRAP_SHA_1")
        .spec("HMAC_224")
        .label("h")
        .out("out")
        .pin()
        .run(&hsm);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: token \"ceremony\" has no AES key wrap with padding (RFC 5649) keyrite can trust: \
         CKM_AES_KEY_WRAP_PAD: it wrapped a 28-byte HMAC_224 key of known value to 40 bytes that \
         differ from RFC 5649\n\
         keyrite never wraps with a mechanism that failed its known-answer test: use a token whose \
         AES key wrap with padding passes (see `keyrite token info`), or, for a secret key, \
         RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.\n"
    );
    assert!(hsm.objects().is_empty());
    assert!(!hsm.path("out").exists());
}
