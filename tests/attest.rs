//! keyrite's attestation checks on a synthetic test PKI that `openssl` makes in each test: a
//! Marvell root, card and partition; Google's root with its card and partition certificates for
//! the same keys; a Microsoft partition root and certificate; and Marvell LiquidSecurity blobs
//! built here byte by byte per the layout (src/attest/marvell.rs, tests/fixtures/attest/FIELDS.md)
//! and signed by the partition key with `openssl dgst`. Each link of the chains is broken in
//! turn, each refusal checked for its variant and for naming the link; and an independent peer
//! in Python `cryptography` (tests/independent/verify_attestation.py) must agree with keyrite on
//! the synthetic PKI and on a real published attestation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::cell::Cell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyrite::attest::{
    self, Attested, ChainError, Evidence, Offered, ParseError, Refusal, Roots, Trust, marvell,
};
use keyrite::spec::WrappingKey;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The test PKI, made by the openssl CLI.

/// Keys and certificates in a temporary directory: `NAME.key`, `NAME.pem`.
struct Files {
    dir: tempfile::TempDir,
    serial: Cell<u32>,
}

/// The test PKI, with the import job's wrapping key (RSA-3072), whose private key the blobs
/// attest.
struct Pki {
    files: Files,
    wrap: WrappingKey,
}

impl std::ops::Deref for Pki {
    type Target = Files;
    fn deref(&self) -> &Files {
        &self.files
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let out = common::run(Command::new("openssl").args(args).current_dir(dir));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    fn new() -> Pki {
        let pki = Files::new();
        for key in ["mroot", "card", "part", "groot", "msroot"] {
            pki.key(key, 2048);
        }
        pki.key("wrap", 3072);
        pki.self_signed("mroot", "/CN=Test Marvell LiquidSecurity root");
        pki.issue("card", "card", "/CN=HSM:TEST0001, for FIPS mode", "mroot");
        pki.issue(
            "part",
            "part",
            "/CN=HSM:TEST0001:PARTN:1, for FIPS mode",
            "card",
        );
        pki.self_signed("groot", "/CN=Test Hawksbill Root");
        pki.issue("gcard", "card", "/CN=Test Google card TEST0001", "groot");
        pki.issue("gpart", "part", "/CN=Test Google partition 1", "groot");
        pki.self_signed("msroot", "/CN=Test Microsoft partition root");
        pki.issue("mspart", "part", "/CN=Test Microsoft partition 1", "msroot");
        Pki {
            wrap: pki.wrapping_key("wrap"),
            files: pki,
        }
    }
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::TempDir::new().unwrap(),
            serial: Cell::new(1),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key(&self, name: &str, bits: u32) {
        let bits = format!("rsa_keygen_bits:{bits}");
        let out = format!("{name}.key");
        openssl(
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &bits,
                "-out",
                &out,
            ],
            self.dir.path(),
        );
    }

    /// `NAME.pem`: a self-signed certificate of `NAME.key`.
    fn self_signed(&self, name: &str, subject: &str) {
        let (key, out) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            &[
                "req", "-new", "-x509", "-key", &key, "-subj", subject, "-days", "3650", "-sha256",
                "-out", &out,
            ],
            self.dir.path(),
        );
    }

    /// `CERT.pem`: `KEY.key`'s public key certified by `ISSUER` (`ISSUER.pem`, `ISSUER.key`).
    fn issue(&self, cert: &str, key: &str, subject: &str, issuer: &str) {
        let (key, csr, out) = (
            format!("{key}.key"),
            format!("{cert}.csr"),
            format!("{cert}.pem"),
        );
        let (ca, ca_key) = (format!("{issuer}.pem"), format!("{issuer}.key"));
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        let dir = self.dir.path();
        openssl(
            &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
            dir,
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-set_serial",
                &serial.to_string(),
                "-days",
                "3650",
                "-sha256",
                "-out",
                &out,
            ],
            dir,
        );
    }

    fn pem(&self, cert: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{cert}.pem"))).unwrap()
    }

    /// `KEY.key`'s public key, PEM.
    fn public_pem(&self, key: &str) -> String {
        let out = format!("{key}.pub.pem");
        openssl(
            &[
                "pkey",
                "-in",
                &format!("{key}.key"),
                "-pubout",
                "-out",
                &out,
            ],
            self.dir.path(),
        );
        std::fs::read_to_string(self.path(&out)).unwrap()
    }

    fn wrapping_key(&self, key: &str) -> WrappingKey {
        let out = format!("{key}.pub.der");
        openssl(
            &[
                "pkey",
                "-in",
                &format!("{key}.key"),
                "-pubout",
                "-outform",
                "DER",
                "-out",
                &out,
            ],
            self.dir.path(),
        );
        WrappingKey::from_spki_der(&std::fs::read(self.path(&out)).unwrap()).unwrap()
    }

    /// `unsigned` with `KEY.key`'s RSA PKCS#1 v1.5 SHA-256 signature over it appended.
    fn signed(&self, unsigned: &[u8], key: &str) -> Vec<u8> {
        std::fs::write(self.path("blob.unsigned"), unsigned).unwrap();
        openssl(
            &[
                "dgst",
                "-sha256",
                "-sign",
                &format!("{key}.key"),
                "-out",
                "blob.sig",
                "blob.unsigned",
            ],
            self.dir.path(),
        );
        let signature = std::fs::read(self.path("blob.sig")).unwrap();
        assert_eq!(signature.len(), marvell::SIGNATURE_LEN);
        [unsigned, &signature].concat()
    }
}

impl Pki {
    /// A roots file of the test roots, in place of the pinned ones; the Microsoft root if asked.
    fn roots(&self, microsoft: bool) -> Roots {
        Roots::with_file(
            Path::new("test-roots.toml"),
            self.roots_text(microsoft).as_bytes(),
        )
        .unwrap()
    }

    /// The text of [`Pki::roots`].
    fn roots_text(&self, microsoft: bool) -> String {
        let mut text = format!(
            "replace_pinned = true\n\n[[roots]]\nrole = \"marvell\"\nname = \"Test Marvell root\"\n\
             certificate = \"\"\"\n{}\"\"\"\n\n[[roots]]\nrole = \"google\"\nname = \"Test Google root\"\n\
             public_key = \"\"\"\n{}\"\"\"\n",
            self.pem("mroot"),
            self.public_pem("groot"),
        );
        if microsoft {
            text += &format!(
                "\n[[roots]]\nrole = \"microsoft\"\nname = \"Test Microsoft root\"\n\
                 public_key = \"\"\"\n{}\"\"\"\n",
                self.public_pem("msroot")
            );
        }
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Blobs, built per the layout.

type Attributes = Vec<(u32, Vec<u8>)>;

const PUBLIC_HANDLE: u32 = 0x1a2;
const PRIVATE_HANDLE: u32 = 0x1a3;

fn rsa_attributes(key: &WrappingKey, class: u8) -> Attributes {
    vec![
        (marvell::CLASS, vec![class]),
        (marvell::KEY_TYPE, vec![0]),
        (marvell::TOKEN, vec![1]),
        (marvell::LABEL, b"test wrapping key".to_vec()),
        (marvell::MODULUS, key.modulus().to_vec()),
        (
            marvell::MODULUS_BITS,
            u32::try_from(key.modulus().len() * 8)
                .unwrap()
                .to_be_bytes()
                .to_vec(),
        ),
        (marvell::PUBLIC_EXPONENT, key.exponent().to_vec()),
    ]
}

/// The attributes of the public object of `key`.
fn public_object(key: &WrappingKey) -> Attributes {
    let mut attributes = rsa_attributes(key, 2);
    attributes.extend([
        (marvell::EXTRACTABLE, vec![1]),
        (marvell::WRAP, vec![1]),
        (marvell::LOCAL, vec![1]),
    ]);
    attributes
}

/// The attributes of the private object of `key`: one that never leaves the HSM.
fn private_object(key: &WrappingKey) -> Attributes {
    let mut attributes = rsa_attributes(key, 3);
    attributes.extend([
        (marvell::EXTRACTABLE, vec![0]),
        (marvell::NEVER_EXTRACTABLE, vec![1]),
        (marvell::LOCAL, vec![1]),
        (marvell::ALWAYS_SENSITIVE, vec![1]),
        (marvell::SENSITIVE, vec![1]),
        (marvell::UNWRAP, vec![1]),
    ]);
    attributes
}

/// Sets (or adds) an attribute.
fn with(mut attributes: Attributes, kind: u32, value: &[u8]) -> Attributes {
    match attributes.iter_mut().find(|(k, _)| *k == kind) {
        Some((_, v)) => *v = value.to_vec(),
        None => attributes.push((kind, value.to_vec())),
    }
    attributes
}

fn be32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap().to_be_bytes()
}

/// Everything a blob's signature covers: the response header, a u64 handle per object, then the
/// attestation data (info header and objects).
fn unsigned_blob(objects: &[(u32, Attributes)]) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = objects
        .iter()
        .map(|(handle, attributes)| {
            let values: Vec<u8> = attributes
                .iter()
                .flat_map(|(kind, value)| {
                    [&kind.to_be_bytes()[..], &be32(value.len()), value].concat()
                })
                .collect();
            [
                &handle.to_be_bytes()[..],
                &be32(attributes.len()),
                &be32(values.len()),
                &values,
            ]
            .concat()
        })
        .collect();
    let second = match bodies.as_slice() {
        [first, _] => 8 + first.len(),
        _ => 0,
    };
    let mut data = [1u16, 3, 8, u16::try_from(second).unwrap()]
        .iter()
        .flat_map(|n| n.to_be_bytes())
        .collect::<Vec<u8>>();
    data.extend(bodies.concat());
    let total = 16 + 8 * objects.len() + data.len() + marvell::SIGNATURE_LEN;
    let mut blob: Vec<u8> = [0, 3, total, data.len()]
        .iter()
        .flat_map(|n| be32(*n))
        .collect();
    for (handle, _) in objects {
        blob.extend(u64::from(*handle).to_be_bytes());
    }
    blob.extend(data);
    blob
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The unsigned blob Google gives for a job whose key is `key`: its public and private objects.
fn google_unsigned(key: &WrappingKey) -> Vec<u8> {
    unsigned_blob(&[
        (PUBLIC_HANDLE, public_object(key)),
        (PRIVATE_HANDLE, private_object(key)),
    ])
}

// ---------------------------------------------------------------------------------------------
// Google import jobs and Azure key attestations.

/// Google's three lists of certificates for the test PKI, in no particular order, root copies
/// included.
fn google_chains(pki: &Pki) -> Value {
    json!({
        "caviumCerts": [pki.pem("part"), pki.pem("mroot"), pki.pem("card")],
        "googleCardCerts": [pki.pem("gcard"), pki.pem("groot")],
        "googlePartitionCerts": [pki.pem("gpart")],
    })
}

/// An import job as `gcloud kms import-jobs describe --format=json` prints it.
fn google_job(pki: &Pki, content: &[u8]) -> Value {
    json!({
        "name": "projects/p/locations/global/keyRings/r/importJobs/test-job",
        "importMethod": "RSA_OAEP_3072_SHA256_AES_256",
        "protectionLevel": "HSM",
        "state": "ACTIVE",
        "publicKey": {"pem": pki.public_pem("wrap")},
        "attestation": {
            "format": "CAVIUM_V2_COMPRESSED",
            "content": STANDARD.encode(content),
            "certChains": google_chains(pki),
        }
    })
}

fn google_evidence(job: &Value) -> Evidence {
    match Evidence::from_google_job(job.as_object().unwrap()).unwrap() {
        Offered::Evidence(e) => *e,
        Offered::None { reason } => panic!("{reason}"),
    }
}

/// Checks the job holding `content` (as Google gives it: gzipped), its JSON edited by `edit`,
/// against the test roots.
fn google(pki: &Pki, content: &[u8], edit: impl FnOnce(&mut Value)) -> Result<Attested, Refusal> {
    let mut job = google_job(pki, content);
    edit(&mut job);
    attest::check(&google_evidence(&job), &pki.wrap, &pki.roots(true))
}

/// The job's signed, gzipped blob.
fn good_content(pki: &Pki) -> Vec<u8> {
    gzip(&pki.signed(&google_unsigned(&pki.wrap), "part"))
}

fn chain_list<'a>(job: &'a mut Value, list: &str) -> &'a mut Vec<Value> {
    job["attestation"]["certChains"][list]
        .as_array_mut()
        .unwrap()
}

/// What `az keyvault key get-attestation` prints: base64url throughout, blobs not gzipped.
fn azure_json(pki: &Pki, private: &[u8], public: &[u8]) -> Vec<u8> {
    let bundle = ["card", "part", "mspart", "msroot"]
        .iter()
        .map(|c| pki.pem(c))
        .collect::<String>();
    serde_json::to_vec_pretty(&json!({
        "key": {"kid": "https://test.managedhsm.azure.net/keys/kek/0123456789abcdef", "kty": "RSA-HSM"},
        "attributes": {
            "enabled": true,
            "exportable": false,
            "attestation": {
                "certificatePemFile": URL_SAFE_NO_PAD.encode(bundle),
                "privateKeyAttestation": URL_SAFE_NO_PAD.encode(private),
                "publicKeyAttestation": URL_SAFE_NO_PAD.encode(public),
                "version": "MRVL-1",
            }
        }
    }))
    .unwrap()
}

fn azure_good(pki: &Pki) -> Vec<u8> {
    let private = pki.signed(
        &unsigned_blob(&[(PRIVATE_HANDLE, private_object(&pki.wrap))]),
        "part",
    );
    let public = pki.signed(
        &unsigned_blob(&[(PUBLIC_HANDLE, public_object(&pki.wrap))]),
        "part",
    );
    azure_json(pki, &private, &public)
}

/// Asserts `refusal`'s message names each of `words`.
fn says(refusal: &Refusal, words: &[&str]) {
    let text = refusal.to_string();
    for word in words {
        assert!(text.contains(word), "{word:?} not in: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The attestations that hold.

#[test]
fn the_pinned_roots_all_parse() {
    let pinned = Roots::pinned();
    assert_eq!(pinned.all().len(), 3);
    assert!(pinned.all().iter().all(|r| r.trust == Trust::Pinned));
}

#[test]
fn a_google_job_attestation_holds_under_the_test_roots() {
    let pki = Pki::new();
    let attested = google(&pki, &good_content(&pki), |_| {}).unwrap();
    assert_eq!(attested.format, "CAVIUM_V2_COMPRESSED");
    assert_eq!(attested.handle, PRIVATE_HANDLE);
    assert_eq!(attested.wrapping_key_sha256, pki.wrap.fingerprint());
    let chains: Vec<_> = attested
        .chains
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.certificates
                    .iter()
                    .map(|cert| cert.subject.as_str())
                    .collect::<Vec<_>>(),
                c.root.name.as_str(),
                c.root.trust,
            )
        })
        .collect();
    assert_eq!(
        chains,
        [
            (
                "Marvell card and partition (caviumCerts)",
                vec![
                    "CN=HSM:TEST0001:PARTN:1\\, for FIPS mode",
                    "CN=HSM:TEST0001\\, for FIPS mode"
                ],
                "Test Marvell root",
                Trust::RootsFile
            ),
            (
                "Google card (googleCardCerts)",
                vec!["CN=Test Google card TEST0001"],
                "Test Google root",
                Trust::RootsFile
            ),
            (
                "Google partition (googlePartitionCerts)",
                vec!["CN=Test Google partition 1"],
                "Test Google root",
                Trust::RootsFile
            ),
        ]
    );
    for (name, value) in [
        ("CKA_CLASS", "3"),
        ("CKA_KEY_TYPE", "0"),
        ("CKA_EXTRACTABLE", "false"),
        ("CKA_NEVER_EXTRACTABLE", "true"),
        ("CKA_LOCAL", "true"),
        ("CKA_ALWAYS_SENSITIVE", "true"),
        ("CKA_SENSITIVE", "true"),
        ("CKA_UNWRAP", "true"),
        ("CKA_MODULUS_BITS", "3072"),
        ("CKA_LABEL", "test wrapping key"),
    ] {
        assert_eq!(
            attested.attributes.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
    assert_eq!(
        attested.attributes["CKA_MODULUS"],
        hex::encode(pki.wrap.modulus())
    );
}

#[test]
fn an_azure_key_attestation_holds_under_a_microsoft_root_of_the_roots_file() {
    let pki = Pki::new();
    let (evidence, kid) = Evidence::from_azure(&azure_good(&pki)).unwrap();
    assert_eq!(
        kid.as_deref(),
        Some("https://test.managedhsm.azure.net/keys/kek/0123456789abcdef")
    );
    let attested = attest::check(&evidence, &pki.wrap, &pki.roots(true)).unwrap();
    assert_eq!(attested.handle, PRIVATE_HANDLE);
    assert_eq!(attested.wrapping_key_sha256, pki.wrap.fingerprint());
    let roots: Vec<_> = attested
        .chains
        .iter()
        .map(|c| (c.name.as_str(), c.root.name.as_str(), c.root.trust))
        .collect();
    assert_eq!(
        roots,
        [
            (
                "Marvell card and partition (certificatePemFile)",
                "Test Marvell root",
                Trust::RootsFile
            ),
            (
                "Microsoft partition (certificatePemFile)",
                "Test Microsoft root",
                Trust::RootsFile
            ),
        ]
    );
    assert_eq!(
        attested.chains[1].certificates[0].subject,
        "CN=Test Microsoft partition 1"
    );
}

#[test]
fn an_azure_key_attestation_without_a_microsoft_root_rests_on_the_root_it_carries() {
    let pki = Pki::new();
    let (evidence, _) = Evidence::from_azure(&azure_good(&pki)).unwrap();
    let attested = attest::check(&evidence, &pki.wrap, &pki.roots(false)).unwrap();
    let microsoft = &attested.chains[1];
    assert_eq!(microsoft.root.trust, Trust::Carried);
    assert_eq!(microsoft.root.name, "CN=Test Microsoft partition root");
    assert_eq!(attested.chains[0].root.trust, Trust::RootsFile);
}

// ---------------------------------------------------------------------------------------------
// The chains.

#[test]
fn the_pinned_roots_alone_refuse_the_test_pki() {
    let pki = Pki::new();
    let evidence = google_evidence(&google_job(&pki, &good_content(&pki)));
    let refusal = attest::check(&evidence, &pki.wrap, &Roots::pinned()).unwrap_err();
    assert!(
        matches!(
            &refusal,
            Refusal::Chain(ChainError::Missing { list, what: "Marvell card", .. }) if list == "caviumCerts"
        ),
        "{refusal:?}"
    );
    says(
        &refusal,
        &["caviumCerts", "Marvell card", "Marvell root keyrite trusts"],
    );
}

#[test]
fn a_certificate_left_unused_is_refused() {
    let pki = Pki::new();
    pki.key("stray", 2048);
    pki.self_signed("stray", "/CN=Unrelated certificate");
    // The Marvell root's key, certified by another CA: not the root, so not a root copy.
    pki.issue("fake", "mroot", "/CN=Anything the editor wants", "groot");
    for (cert, name) in [
        ("stray", "CN=Unrelated certificate"),
        ("fake", "CN=Anything the editor wants"),
    ] {
        let refusal = google(&pki, &good_content(&pki), |job| {
            chain_list(job, "caviumCerts").push(pki.pem(cert).into());
        })
        .unwrap_err();
        assert!(
            matches!(
                &refusal,
                Refusal::Chain(ChainError::Unused { list, position: 4, subject })
                    if list == "caviumCerts" && subject == name
            ),
            "{refusal:?}"
        );
        says(&refusal, &["certificate 4 of caviumCerts", &name[3..]]);
    }
}

#[test]
fn a_missing_partition_certificate_is_refused() {
    let pki = Pki::new();
    let refusal = google(&pki, &good_content(&pki), |job| {
        chain_list(job, "caviumCerts").remove(0);
    })
    .unwrap_err();
    assert!(
        matches!(
            &refusal,
            Refusal::Chain(ChainError::Missing { what: "Marvell partition", issuer, .. })
                if issuer == "CN=HSM:TEST0001\\, for FIPS mode"
        ),
        "{refusal:?}"
    );
    says(&refusal, &["caviumCerts", "Marvell partition", "TEST0001"]);
}

#[test]
fn a_google_partition_certificate_for_another_key_is_refused() {
    let pki = Pki::new();
    pki.key("other", 2048);
    pki.issue("gother", "other", "/CN=Test Google partition 2", "groot");
    let refusal = google(&pki, &good_content(&pki), |job| {
        *chain_list(job, "googlePartitionCerts") = vec![pki.pem("gother").into()];
    })
    .unwrap_err();
    assert!(
        matches!(
            &refusal,
            Refusal::KeyMismatch {
                owner: "Google partition",
                maker: "partition",
                ..
            }
        ),
        "{refusal:?}"
    );
    says(
        &refusal,
        &[
            "Google partition certificate (CN=Test Google partition 2)",
            "Marvell partition",
        ],
    );
}

#[test]
fn two_candidate_card_certificates_are_ambiguous() {
    let pki = Pki::new();
    pki.key("card2", 2048);
    pki.issue("card2", "card2", "/CN=HSM:TEST0002, for FIPS mode", "mroot");
    let refusal = google(&pki, &good_content(&pki), |job| {
        chain_list(job, "caviumCerts").push(pki.pem("card2").into());
    })
    .unwrap_err();
    assert!(
        matches!(
            &refusal,
            Refusal::Chain(ChainError::Ambiguous {
                what: "Marvell card",
                first: 3,
                second: 4,
                ..
            })
        ),
        "{refusal:?}"
    );
    says(&refusal, &["two Marvell card certificates", "caviumCerts"]);
}

#[test]
fn an_unknown_list_of_certificates_is_refused() {
    let pki = Pki::new();
    let refusal = google(&pki, &good_content(&pki), |job| {
        job["attestation"]["certChains"]["extraCerts"] = json!([pki.pem("mroot")]);
    })
    .unwrap_err();
    assert_eq!(refusal, Refusal::UnknownChain("extraCerts".into()));
    says(&refusal, &["extraCerts", "its source does not give"]);
}

#[test]
fn a_format_keyrite_does_not_read_is_refused() {
    let pki = Pki::new();
    let refusal = google(&pki, &good_content(&pki), |job| {
        job["attestation"]["format"] = json!("CAVIUM_V1_COMPRESSED");
    })
    .unwrap_err();
    assert_eq!(refusal, Refusal::Format("CAVIUM_V1_COMPRESSED".into()));
    says(&refusal, &["CAVIUM_V1_COMPRESSED", "keyrite reads"]);
}

// ---------------------------------------------------------------------------------------------
// The blob's signature.

fn is_bad_signature(refusal: &Refusal) {
    assert!(
        matches!(
            refusal,
            Refusal::BlobSignature { what: "content", partition }
                if partition == "CN=HSM:TEST0001:PARTN:1\\, for FIPS mode"
        ),
        "{refusal:?}"
    );
    says(refusal, &["content", "not signed by the partition key"]);
}

#[test]
fn a_blob_with_a_byte_flipped_is_refused() {
    let pki = Pki::new();
    let mut raw = pki.signed(&google_unsigned(&pki.wrap), "part");
    let modulus = pki.wrap.modulus();
    let at = raw
        .windows(modulus.len())
        .position(|w| w == modulus)
        .unwrap();
    raw[at + 100] ^= 0x01;
    is_bad_signature(&google(&pki, &gzip(&raw), |_| {}).unwrap_err());
}

#[test]
fn a_blob_signed_by_the_card_key_is_refused() {
    let pki = Pki::new();
    let content = gzip(&pki.signed(&google_unsigned(&pki.wrap), "card"));
    is_bad_signature(&google(&pki, &content, |_| {}).unwrap_err());
}

// ---------------------------------------------------------------------------------------------
// The attested key.

/// The job's content with its private object's attributes `edit`ed, signed by the partition.
fn content_with_private(pki: &Pki, edit: impl FnOnce(Attributes) -> Attributes) -> Vec<u8> {
    let unsigned = unsigned_blob(&[
        (PUBLIC_HANDLE, public_object(&pki.wrap)),
        (PRIVATE_HANDLE, edit(private_object(&pki.wrap))),
    ]);
    gzip(&pki.signed(&unsigned, "part"))
}

#[test]
fn a_private_key_extractable_or_not_made_in_the_hsm_is_refused() {
    let pki = Pki::new();
    for (kind, value, attribute, expected, actual) in [
        (marvell::EXTRACTABLE, 1, "CKA_EXTRACTABLE", "false", "true"),
        (marvell::LOCAL, 0, "CKA_LOCAL", "true", "false"),
    ] {
        let content = content_with_private(&pki, |a| with(a, kind, &[value]));
        let refusal = google(&pki, &content, |_| {}).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::Attribute {
                attribute,
                expected,
                actual: actual.into()
            }
        );
        says(
            &refusal,
            &[&format!("{attribute} {actual}, not {expected}")],
        );
    }
}

#[test]
fn a_blob_attesting_another_rsa_key_is_refused() {
    let pki = Pki::new();
    pki.key("other", 3072);
    let other = pki.wrapping_key("other");
    let content = gzip(&pki.signed(&google_unsigned(&other), "part"));
    let refusal = google(&pki, &content, |_| {}).unwrap_err();
    let sha = |m: &[u8]| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(m));
    assert_eq!(
        refusal,
        Refusal::NotTheWrappingKey {
            attested: sha(other.modulus()),
            given: sha(pki.wrap.modulus()),
        }
    );
    says(&refusal, &["not the wrapping key"]);
}

// ---------------------------------------------------------------------------------------------
// The blob's layout.

fn blob_problem(refusal: &Refusal) -> &ParseError {
    match refusal {
        Refusal::Blob {
            what: "content",
            problem,
        } => problem,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_truncated_blob_is_refused() {
    let pki = Pki::new();
    let raw = pki.signed(&google_unsigned(&pki.wrap), "part");
    let cut = &raw[..raw.len() - 10];
    let refusal = google(&pki, &gzip(cut), |_| {}).unwrap_err();
    assert_eq!(
        blob_problem(&refusal),
        &ParseError::TotalSize {
            said: u32::try_from(raw.len()).unwrap(),
            len: cut.len()
        }
    );
    says(
        &refusal,
        &["content does not parse", "response header says"],
    );
    // Cut short of its headers and signature, and as a gzip stream cut short.
    let refusal = google(&pki, &gzip(&raw[..100]), |_| {}).unwrap_err();
    assert_eq!(blob_problem(&refusal), &ParseError::TooShort(100));
    let gz = gzip(&raw);
    let refusal = google(&pki, &gz[..gz.len() / 2], |_| {}).unwrap_err();
    assert!(
        matches!(blob_problem(&refusal), ParseError::Gzip(_)),
        "{refusal:?}"
    );
}

#[test]
fn an_oversized_blob_is_refused_raw_and_as_a_gzip_bomb() {
    let pki = Pki::new();
    let raw = vec![0u8; marvell::MAX_BLOB + 1];
    let refusal = google(&pki, &raw, |_| {}).unwrap_err();
    assert_eq!(blob_problem(&refusal), &ParseError::TooLarge);
    says(&refusal, &["larger than 65536 bytes"]);
    let bomb = gzip(&vec![0u8; 64 * marvell::MAX_BLOB]);
    assert!(bomb.len() < marvell::MAX_BLOB / 8, "{}", bomb.len());
    let refusal = google(&pki, &bomb, |_| {}).unwrap_err();
    assert_eq!(blob_problem(&refusal), &ParseError::TooLarge);
}

#[test]
fn a_duplicate_attribute_is_refused() {
    let pki = Pki::new();
    let content = content_with_private(&pki, |mut a| {
        a.push((marvell::EXTRACTABLE, vec![0]));
        a
    });
    let refusal = google(&pki, &content, |_| {}).unwrap_err();
    assert_eq!(
        blob_problem(&refusal),
        &ParseError::AttributeTwice {
            which: "second",
            kind: marvell::EXTRACTABLE
        }
    );
    says(
        &refusal,
        &["attribute 0x0162 appears twice", "second object"],
    );
}

#[test]
fn an_object_size_field_that_lies_is_refused() {
    let pki = Pki::new();
    let mut unsigned = google_unsigned(&pki.wrap);
    // The first object's size: after the response header, two handles, the info header, and
    // the object's handle and attribute count.
    let at = 16 + 16 + 8 + 8;
    let size = u32::from_be_bytes(unsigned[at..at + 4].try_into().unwrap());
    unsigned[at..at + 4].copy_from_slice(&(size + 8).to_be_bytes());
    let content = gzip(&pki.signed(&unsigned, "part"));
    let refusal = google(&pki, &content, |_| {}).unwrap_err();
    assert!(
        matches!(
            blob_problem(&refusal),
            ParseError::ObjectSize { which: "first", said, span, actual }
                if *said == size + 8 && *span == size as usize && *actual == size as usize
        ),
        "{refusal:?}"
    );
    says(&refusal, &["first object says its attributes take"]);
}

// ---------------------------------------------------------------------------------------------
// An independent peer: tests/independent/verify_attestation.py, in Python `cryptography`.

/// Runs the Python verifier on `attestation` (JSON) with `roots` ((role, PEM)) and
/// `wrapping_pem`; its verdict.
fn python_verdict(
    dir: &Path,
    attestation: &[u8],
    roots: &[(&str, String)],
    wrapping_pem: &str,
) -> Value {
    let (json_path, wrap_path) = (dir.join("peer.json"), dir.join("peer-wrap.pem"));
    std::fs::write(&json_path, attestation).unwrap();
    std::fs::write(&wrap_path, wrapping_pem).unwrap();
    let mut cmd = Command::new(common::PYTHON);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/independent/verify_attestation.py"
    ))
    .arg(&json_path)
    .arg(&wrap_path);
    for (i, (role, pem)) in roots.iter().enumerate() {
        let path = dir.join(format!("peer-root-{i}.pem"));
        std::fs::write(&path, pem).unwrap();
        cmd.arg(format!("--{role}-root")).arg(path);
    }
    let out = common::run(&mut cmd);
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        out.status.success(),
        verdict["verdict"] == "attested",
        "{verdict}"
    );
    verdict
}

/// Asserts the peer's verdict is keyrite's: the same key, handle and partition key when it holds;
/// a refusal at the same link when not.
fn agree(peer: &Value, keyrite: &Result<Attested, Refusal>) {
    match keyrite {
        Ok(a) => {
            assert_eq!(peer["verdict"], "attested", "{peer}");
            assert_eq!(peer["handle"], a.handle, "{peer}");
            assert_eq!(
                peer["partition_key_sha256"], a.partition_key_sha256,
                "{peer}"
            );
            assert_eq!(peer["wrapping_key_sha256"], a.wrapping_key_sha256, "{peer}");
        }
        Err(refusal) => {
            let link = match refusal {
                Refusal::Chain(ChainError::Unused { .. }) => "unused",
                Refusal::Chain(_) => "chain",
                Refusal::KeyMismatch { .. } => "key-mismatch",
                Refusal::BlobSignature { .. } => "signature",
                Refusal::Attribute { .. } => "attribute",
                Refusal::NotTheWrappingKey { .. } => "wrapping-key",
                Refusal::Blob { .. } | Refusal::Base64 { .. } => "blob",
                other => panic!("no peer link for {other:?}"),
            };
            assert_eq!(peer["verdict"], "refused", "{peer}");
            assert_eq!(peer["link"], link, "{peer}");
        }
    }
}

fn test_roots(pki: &Pki) -> Vec<(&'static str, String)> {
    vec![
        ("marvell", pki.public_pem("mroot")),
        ("google", pki.public_pem("groot")),
        ("microsoft", pki.public_pem("msroot")),
    ]
}

#[test]
fn the_python_peer_agrees_on_the_test_pki() {
    let pki = Pki::new();
    let wrap_pem = pki.public_pem("wrap");
    let roots = test_roots(&pki);
    let cases = [
        good_content(&pki),
        gzip(&pki.signed(&google_unsigned(&pki.wrap), "card")),
        content_with_private(&pki, |a| with(a, marvell::EXTRACTABLE, &[1])),
    ];
    for (i, content) in cases.iter().enumerate() {
        let job = google_job(&pki, content);
        let keyrite = attest::check(&google_evidence(&job), &pki.wrap, &pki.roots(true));
        assert_eq!(keyrite.is_ok(), i == 0, "{keyrite:?}");
        let peer = python_verdict(
            pki.dir.path(),
            &serde_json::to_vec(&job).unwrap(),
            &roots,
            &wrap_pem,
        );
        agree(&peer, &keyrite);
    }
    // A certificate left over, and a Google partition certificate for another key.
    pki.key("other", 2048);
    pki.issue("gother", "other", "/CN=Test Google partition 2", "groot");
    let edits: [fn(&Pki, &mut Value); 2] = [
        |pki, job| chain_list(job, "googleCardCerts").push(pki.pem("gpart").into()),
        |pki, job| *chain_list(job, "googlePartitionCerts") = vec![pki.pem("gother").into()],
    ];
    for edit in edits {
        let mut job = google_job(&pki, &good_content(&pki));
        edit(&pki, &mut job);
        let keyrite = attest::check(&google_evidence(&job), &pki.wrap, &pki.roots(true));
        let peer = python_verdict(
            pki.dir.path(),
            &serde_json::to_vec(&job).unwrap(),
            &roots,
            &wrap_pem,
        );
        agree(&peer, &keyrite);
    }
    // Azure, with the Microsoft root and without it.
    let azure = azure_good(&pki);
    let (evidence, _) = Evidence::from_azure(&azure).unwrap();
    for with_microsoft in [true, false] {
        let keyrite = attest::check(&evidence, &pki.wrap, &pki.roots(with_microsoft));
        let peer = python_verdict(
            pki.dir.path(),
            &azure,
            &roots[..if with_microsoft { 3 } else { 2 }],
            &wrap_pem,
        );
        agree(&peer, &keyrite);
    }
}

#[test]
fn the_python_peer_agrees_on_a_real_attestation() {
    use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
    let fixture =
        |name: &str| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap();
    let content = fixture("tests/fixtures/attest/smallstep_rsa.dat");
    let text = String::from_utf8(fixture("tests/fixtures/attest/smallstep_rsa.pem")).unwrap();
    let pems: Vec<_> = text
        .split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|p| p.contains("BEGIN"))
        .collect();
    let job = json!({
        "protectionLevel": "HSM",
        "attestation": {
            "format": "CAVIUM_V2_COMPRESSED",
            "content": STANDARD.encode(&content),
            "certChains": {
                "caviumCerts": [pems[1], pems[2], pems[0]],
                "googleCardCerts": [pems[4]],
                "googlePartitionCerts": [pems[5], pems[3]],
            }
        }
    });
    let blob = marvell::parse(&content).unwrap();
    let public = blob
        .objects
        .iter()
        .find(|o| o.number(marvell::CLASS) == Some(marvell::CKO_PUBLIC_KEY))
        .unwrap();
    let key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(public.get(marvell::MODULUS).unwrap()),
        rsa::BoxedUint::from_be_slice_vartime(public.get(marvell::PUBLIC_EXPONENT).unwrap()),
    )
    .unwrap();
    let wrap_pem = key.to_public_key_pem(LineEnding::LF).unwrap();
    let wrap = WrappingKey::from_spki_der(key.to_public_key_der().unwrap().as_bytes()).unwrap();
    let pinned =
        |name: &str| String::from_utf8(fixture(&format!("src/attest/roots/{name}"))).unwrap();
    let roots = [
        ("marvell", pinned("marvell.pem")),
        ("marvell", pinned("marvell-ls2.pem")),
        ("google", pinned("google-hawksbill.pem")),
    ];
    let dir = tempfile::TempDir::new().unwrap();
    let keyrite = attest::check(&google_evidence(&job), &wrap, &Roots::pinned());
    assert!(keyrite.is_ok(), "{keyrite:?}");
    let peer = python_verdict(
        dir.path(),
        &serde_json::to_vec(&job).unwrap(),
        &roots,
        &wrap_pem,
    );
    agree(&peer, &keyrite);
    // Another key: both refuse it.
    let other = Files::new();
    other.key("wrap", 2048);
    let keyrite = attest::check(
        &google_evidence(&job),
        &other.wrapping_key("wrap"),
        &Roots::pinned(),
    );
    let peer = python_verdict(
        dir.path(),
        &serde_json::to_vec(&job).unwrap(),
        &roots,
        &other.public_pem("wrap"),
    );
    agree(&peer, &keyrite);
}

// ---------------------------------------------------------------------------------------------
// keyrite wrap and a ceremony on a real token, under an attested Google HSM import job.

/// The test PKI's wrapping key as a KMS key: its private key unwraps what keyrite wrapped.
fn kms_of(pki: &Pki) -> common::Kms {
    let public_der = common::run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(pki.path("wrap.key")),
    );
    common::Kms {
        private_pem: pki.path("wrap.key"),
        public_der,
    }
}

/// An HSM import job for `kms`, as the test helpers write one, carrying `pki`'s attestation of
/// the wrapping key (which is `kms`'s only if `kms` is [`kms_of`]).
fn attested_job(pki: &Pki, kms: &common::Kms) -> Value {
    let mut job = kms.gcp_job(
        "RSA_OAEP_3072_SHA1_AES_256",
        "ACTIVE",
        &common::hours_from_now(72),
    );
    job["protectionLevel"] = json!("HSM");
    job["attestation"] = google_job(pki, &good_content(pki))["attestation"].clone();
    job
}

#[test]
fn wrap_checks_a_google_jobs_attestation_before_the_token_and_records_it() {
    let token = common::TestToken::softhsm("ceremony");
    let dir = token.dir.path();
    let pki = Pki::new();
    let kms = kms_of(&pki);
    std::fs::write(dir.join("roots.toml"), pki.roots_text(false)).unwrap();
    let job = common::write_json(dir, "job.json", &attested_job(&pki, &kms));
    let wrap = |job: &Path, out: &str| {
        common::wrap::Wrap::new("wrap")
            .provider("gcp", job)
            .args([
                "--gcp-key",
                "payments-2026",
                "--attestation-roots",
                "roots.toml",
            ])
            .arg("--require-attestation")
            .label(out)
            .out(out)
            .pin()
            .run(&token)
    };
    let out = wrap(&job, "attested");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "The wrapping key is attested by Google Cloud HSM (import job attestation): a key made in the HSM that never leaves it (handle 0x1a3); \
             Marvell card and partition (caviumCerts) to Test Marvell root (added by a roots file, not pinned by keyrite)"
        ),
        "{stdout}"
    );
    let m = common::manifest(&dir.join("attested"));
    let a = &m["wrapping_key_attestation"];
    assert_eq!(a["verdict"], "attested");
    assert_eq!(a["source"], "google-import-job");
    assert_eq!(a["wrapping_key_sha256"], m["wrapping_key_sha256"]);
    assert_eq!(a["attributes"]["CKA_NEVER_EXTRACTABLE"], "true");
    assert_eq!(a["chains"][0]["root"]["trust"], "roots file");
    // What was wrapped under the attested key unwraps with its private key.
    let wrapped = std::fs::read(dir.join("attested/wrapped-key.bin")).unwrap();
    assert_eq!(
        kms.unwrap_python(
            &dir.join("attested/wrapped-key.bin"),
            "RSA_AES_KEY_WRAP_SHA_1"
        )
        .len(),
        32,
        "{} bytes wrapped",
        wrapped.len()
    );

    // The same attestation in front of another wrapping key: refused before the token is opened,
    // so nothing is generated.
    let other = common::Kms::new(dir, 3072);
    let mut swapped = attested_job(&pki, &kms);
    swapped["publicKey"]["pem"] = json!(other.public_pem());
    let job = common::write_json(dir, "swapped.json", &swapped);
    let before = token.objects().len();
    let out = wrap(&job, "swapped");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not hold: the attested public key (modulus SHA-256")
            && stderr.contains("is not the wrapping key keyrite was given"),
        "{stderr}"
    );
    assert_eq!(token.objects().len(), before);
    assert!(!dir.join("swapped").exists());

    // A SOFTWARE job has no attestation: required, it is refused; not required, it is recorded.
    let job = common::write_json(
        dir,
        "software.json",
        &kms.gcp_job(
            "RSA_OAEP_3072_SHA1_AES_256",
            "ACTIVE",
            &common::hours_from_now(72),
        ),
    );
    let out = wrap(&job, "software");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next().unwrap(),
        "keyrite: an attestation of the wrapping key is required, and there is none: the import job's protection level is SOFTWARE: Google attests the wrapping keys of HSM import jobs only"
    );
}

#[test]
fn a_ceremony_records_the_attestation_and_verify_checks_it_again() {
    let c = common::ceremony::Ceremony::new(&[]);
    let dir = c.dir().to_path_buf();
    let pki = Pki::new();
    let kms = kms_of(&pki);
    let roots = pki.roots_text(false);
    std::fs::write(dir.join("roots.toml"), &roots).unwrap();
    common::write_json(&dir, "job.json", &attested_job(&pki, &kms));
    c.write_policy(2);
    let roots_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(roots.as_bytes()));
    let policy = dir.join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap().replacen(
        "signer_fingerprint",
        &format!("require_attestation = true\nattestation_roots_sha256 = \"{roots_sha256}\"\nsigner_fingerprint"),
        1,
    );
    std::fs::write(&policy, text).unwrap();
    c.write_approved_plan(
        "attested",
        "action = \"generate\"\nkey_label = \"attested\"\n\n[[steps]]\naction = \"wrap\"\n\
         key_label = \"attested\"\nprovider = \"gcp\"\nparams = \"job.json\"\n\
         algorithm = \"RSA_AES_KEY_WRAP_SHA_1\"\ngcp_key = \"payments-2026\"\nout = \"out\"\n",
    );
    // Without the roots file the test PKI's attestation does not hold: the run refuses it.
    let out = c.run("refused.jsonl");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("caviumCerts holds no Marvell card certificate issued (by name and sha256WithRSA signature) by a Marvell root keyrite trusts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The plan names the roots file the policy pins, and is approved again.
    let plan = dir.join("plan.toml");
    let text = std::fs::read_to_string(&plan).unwrap().replacen(
        "pin = ",
        "attestation_roots = \"roots.toml\"\npin = ",
        1,
    );
    std::fs::write(&plan, text).unwrap();
    for f in std::fs::read_dir(dir.join("approvals")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    c.run_approved("t.jsonl");
    let lines = c.transcript("t.jsonl");
    let (_, line) = lines
        .iter()
        .find(|(_, v)| v["step"] == "attestation")
        .unwrap();
    assert_eq!(line["data"]["index"], 1);
    assert_eq!(line["data"]["record"]["verdict"], "attested");
    assert_eq!(line["data"]["roots_file"]["sha256"], roots_sha256.as_str());
    let out = c.verify_all("t.jsonl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("1 of 1 wrapping key(s) attested, each checked again from its line"),
        "{stdout}"
    );
    // A policy that does not pin the roots file refuses what the transcript checked against it.
    let text = std::fs::read_to_string(&policy)
        .unwrap()
        .replace(&roots_sha256, &"0".repeat(64));
    std::fs::write(dir.join("other-policy.toml"), text).unwrap();
    let out = c.verify("t.jsonl", &["--policy", "other-policy.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("which the policy does not accept (attestation_roots_sha256)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn bytes_after_the_gzip_stream_are_refused() {
    let pki = Pki::new();
    let content = [good_content(&pki), b"appended".to_vec()].concat();
    assert_eq!(
        google(&pki, &content, |_| {}).unwrap_err(),
        Refusal::Blob {
            what: "content",
            problem: marvell::ParseError::Gzip("bytes follow the gzip stream".into())
        }
    );
}

#[test]
fn a_private_key_without_its_modulus_is_not_bound_by_a_public_blob_of_another_key() {
    let pki = Pki::new();
    pki.key("other", 3072);
    let other = pki.wrapping_key("other");
    let private: Attributes = private_object(&pki.wrap)
        .into_iter()
        .filter(|(kind, _)| *kind != marvell::MODULUS)
        .collect();
    let private = pki.signed(&unsigned_blob(&[(PRIVATE_HANDLE, private)]), "part");
    let public = pki.signed(&unsigned_blob(&[(0x777, public_object(&other))]), "part");
    let (evidence, _) = Evidence::from_azure(&azure_json(&pki, &private, &public)).unwrap();
    assert_eq!(
        attest::check(&evidence, &other, &pki.roots(true)).unwrap_err(),
        Refusal::Attribute {
            attribute: "CKA_MODULUS",
            expected: "its modulus and public exponent",
            actual: "absent".into()
        }
    );
}
