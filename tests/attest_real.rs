//! keyrite's attestation checks on real Marvell LiquidSecurity attestations: the blobs and chains
//! published in smallstep/crypto and PeculiarVentures/attestation (tests/fixtures/attest,
//! SOURCES.md names each), parsed field by field and checked against the pinned roots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use keyrite::attest::{self, Evidence, Offered, Refusal, Roots, Trust, marvell};
use keyrite::spec::WrappingKey;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/attest")
            .join(name),
    )
    .unwrap()
}

/// The PEM certificates of a bundle, in its order.
fn bundle(name: &str) -> Vec<String> {
    let text = String::from_utf8(fixture(name)).unwrap();
    text.split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|p| p.contains("BEGIN"))
        .map(str::to_owned)
        .collect()
}

/// An import job as `gcloud kms import-jobs describe --format=json` prints it, holding a smallstep
/// blob and its bundle ([Marvell root, card, partition, Google root, Google card, Google
/// partition]) split into Google's three lists.
fn job(blob: &str, certs: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64::Engine as _;
    let pems = bundle(certs);
    assert_eq!(pems.len(), 6);
    serde_json::json!({
        "protectionLevel": "HSM",
        "attestation": {
            "format": "CAVIUM_V2_COMPRESSED",
            "content": base64::engine::general_purpose::STANDARD.encode(fixture(blob)),
            "certChains": {
                "caviumCerts": [pems[1], pems[2], pems[0]],
                "googleCardCerts": [pems[4]],
                "googlePartitionCerts": [pems[5], pems[3]],
            }
        }
    })
    .as_object()
    .unwrap()
    .clone()
}

fn evidence(blob: &str, certs: &str) -> Evidence {
    match Evidence::from_google_job(&job(blob, certs)).unwrap() {
        Offered::Evidence(e) => *e,
        Offered::None { reason } => panic!("{reason}"),
    }
}

/// The RSA public key a blob's public object holds, as a wrapping key.
fn attested_key(blob: &marvell::Blob) -> WrappingKey {
    rsa_key(blob, marvell::CKO_PUBLIC_KEY)
}

/// The RSA public key an object of `class` holds.
fn rsa_key(blob: &marvell::Blob, class: u64) -> WrappingKey {
    use rsa::pkcs8::EncodePublicKey as _;
    let public = blob
        .objects
        .iter()
        .find(|o| o.number(marvell::CLASS) == Some(class))
        .unwrap();
    let key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(public.get(marvell::MODULUS).unwrap()),
        rsa::BoxedUint::from_be_slice_vartime(public.get(marvell::PUBLIC_EXPONENT).unwrap()),
    )
    .unwrap();
    WrappingKey::from_spki_der(key.to_public_key_der().unwrap().as_bytes()).unwrap()
}

#[test]
fn smallstep_rsa_blob_parses_field_by_field() {
    let blob = marvell::parse(&fixture("smallstep_rsa.dat")).unwrap();
    assert!(blob.compressed);
    assert_eq!((blob.flags, blob.version), (3, 1));
    assert_eq!(blob.signed.len() + blob.signature.len(), 2528);
    let [public, private] = blob.objects.as_slice() else {
        panic!("{} objects", blob.objects.len())
    };
    assert_eq!((public.handle, private.handle), (0xa37, 0xf49));
    assert_eq!(
        (public.attributes.len(), private.attributes.len()),
        (36, 37)
    );
    assert_eq!(public.number(marvell::CLASS), Some(marvell::CKO_PUBLIC_KEY));
    assert_eq!(
        private.number(marvell::CLASS),
        Some(marvell::CKO_PRIVATE_KEY)
    );
    for object in [public, private] {
        assert_eq!(object.number(marvell::KEY_TYPE), Some(marvell::CKK_RSA));
        assert_eq!(object.number(marvell::MODULUS_BITS), Some(2048));
        assert_eq!(object.get(marvell::PUBLIC_EXPONENT), Some(&[1, 0, 1][..]));
        assert_eq!(
            object.get(marvell::TOKEN),
            Some(&[2][..]),
            "CKA_TOKEN is 0x02 on these HSMs"
        );
        assert_eq!(object.flag(marvell::LOCAL), Some(true));
        let label = object.get(marvell::LABEL).unwrap();
        assert_eq!((label.len(), &label[..7]), (128, &b"app_key"[..]));
    }
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            public.get(marvell::MODULUS).unwrap()
        )),
        "1018ae1d9c80b1f75b3be164f4a63a9cb47162d3bc4873d34050ce2f02d9638d"
    );
    for (kind, public_value, private_value) in [
        (marvell::EXTRACTABLE, true, false),
        (marvell::NEVER_EXTRACTABLE, false, true),
        (marvell::ALWAYS_SENSITIVE, false, true),
        (marvell::SENSITIVE, false, true),
        (marvell::UNWRAP, false, true),
        (marvell::WRAP, true, false),
    ] {
        assert_eq!(public.flag(kind), Some(public_value), "{kind:#x}");
        assert_eq!(private.flag(kind), Some(private_value), "{kind:#x}");
    }
}

#[test]
fn smallstep_rsa_attestation_holds_under_the_pinned_roots() {
    let blob = marvell::parse(&fixture("smallstep_rsa.dat")).unwrap();
    let key = attested_key(&blob);
    let attested = attest::check(
        &evidence("smallstep_rsa.dat", "smallstep_rsa.pem"),
        &key,
        &Roots::pinned(),
    )
    .unwrap();
    assert_eq!(attested.handle, 0xf49);
    assert_eq!(attested.wrapping_key_sha256, key.fingerprint());
    assert_eq!(
        attested.partition_key_sha256,
        "e47ff93cb2617cdb4da0adfc6a1b9abe3b05b5797564ede6e1303a991341aeac"
    );
    let roots: Vec<_> = attested
        .chains
        .iter()
        .map(|c| (c.root.spki_sha256.as_str(), c.root.trust))
        .collect();
    assert_eq!(
        roots,
        [
            (
                "78adcba1f38bee304bc44d6a086503f2940037d4b3d58a1bf66a3282ef58cd41",
                Trust::Pinned
            ),
            (
                "11fa0c80423f28ee497a189bed4f7043629be7a7642d20eee9347a73c1ff46e8",
                Trust::Pinned
            ),
            (
                "11fa0c80423f28ee497a189bed4f7043629be7a7642d20eee9347a73c1ff46e8",
                Trust::Pinned
            ),
        ]
    );
    let subjects: Vec<_> = attested.chains[0]
        .certificates
        .iter()
        .map(|c| c.subject.as_str())
        .collect();
    assert_eq!(
        subjects,
        [
            "CN=HSM:5.3G2041-ICM002696:PARTN:1\\, for FIPS mode,C=US+ST=CA+O=Cavium+OU=N3FIPS+L=SanJose",
            "CN=HSM:5.3G2041-ICM002696\\, for FIPS mode,C=US+ST=CA+O=Cavium+OU=N3FIPS+L=SanJose",
        ]
    );
    for (name, value) in [
        ("CKA_CLASS", "3"),
        ("CKA_KEY_TYPE", "0"),
        ("CKA_EXTRACTABLE", "false"),
        ("CKA_NEVER_EXTRACTABLE", "true"),
        ("CKA_LOCAL", "true"),
        ("CKA_UNWRAP", "true"),
        ("CKA_LABEL", "app_key"),
        ("CKA_MODULUS_BITS", "2048"),
        ("CKA_TOKEN", "02"),
    ] {
        assert_eq!(
            attested.attributes.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
}

#[test]
fn smallstep_rsa_attestation_is_refused_for_another_key() {
    // The RSA-4096 key of PeculiarVentures' blob: a real HSM key, but not this job's.
    let other = rsa_key(
        &marvell::parse(&fixture("pv_rsa4096.bin")).unwrap(),
        marvell::CKO_PRIVATE_KEY,
    );
    let refusal = attest::check(
        &evidence("smallstep_rsa.dat", "smallstep_rsa.pem"),
        &other,
        &Roots::pinned(),
    )
    .unwrap_err();
    assert!(
        matches!(refusal, Refusal::NotTheWrappingKey { .. }),
        "{refusal}"
    );
}

#[test]
fn ec_and_aes_attestations_hold_their_chains_but_are_no_rsa_wrapping_key() {
    let key = attested_key(&marvell::parse(&fixture("smallstep_rsa.dat")).unwrap());
    for name in ["smallstep_ec", "smallstep_aes"] {
        let refusal = attest::check(
            &evidence(&format!("{name}.dat"), &format!("{name}.pem")),
            &key,
            &Roots::pinned(),
        )
        .unwrap_err();
        // The chains and the signature held: what is refused is the key.
        assert!(
            matches!(
                refusal,
                Refusal::Attribute {
                    attribute: "CKA_KEY_TYPE",
                    ..
                } | Refusal::NoObject { .. }
            ),
            "{name}: {refusal}"
        );
    }
}

#[test]
fn peculiar_ventures_blobs_parse() {
    let ecc = marvell::parse(&fixture("pv_ecc.bin")).unwrap();
    let handles: Vec<_> = ecc.objects.iter().map(|o| o.handle).collect();
    assert_eq!(handles, [0x7e6, 0x22a6]);
    let rsa = marvell::parse(&fixture("pv_rsa4096.bin")).unwrap();
    let [private] = rsa.objects.as_slice() else {
        panic!()
    };
    assert_eq!(
        private.number(marvell::CLASS),
        Some(marvell::CKO_PRIVATE_KEY)
    );
    assert_eq!(private.number(marvell::MODULUS_BITS), Some(4096));
    assert_eq!(private.flag(marvell::LOCAL), Some(false), "an imported key");
}

#[test]
fn a_bundle_without_the_google_root_chain_is_refused() {
    let mut job = job("smallstep_rsa.dat", "smallstep_rsa.pem");
    job["attestation"]["certChains"]
        .as_object_mut()
        .unwrap()
        .remove("googleCardCerts");
    let Offered::Evidence(evidence) = Evidence::from_google_job(&job).unwrap() else {
        panic!()
    };
    let key = attested_key(&marvell::parse(&fixture("smallstep_rsa.dat")).unwrap());
    assert_eq!(
        attest::check(&evidence, &key, &Roots::pinned()).unwrap_err(),
        Refusal::MissingChain("googleCardCerts")
    );
}
