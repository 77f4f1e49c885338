//! The `--signer` file, judged by one rule in all three verifiers (`keyrite verify`,
//! `scripts/verify-with-openssl`, `tests/independent/verify_transcript.py`): one
//! `-----BEGIN PUBLIC KEY-----` block with only whitespace around it, whose base64 is in lines of
//! 64 characters, holding exactly the canonical SubjectPublicKeyInfo DER of an ECDSA P-256 key
//! (uncompressed point on the curve) or of an RSA key (rsaEncryption with NULL parameters, an odd
//! 3072-bit modulus, exponent 65537). The token's own signer, written with CRLF line ends and
//! whitespace around it, verifies in all three under the fingerprint the policy pins; every other
//! encoding of it, and every other key, is a usage error (exit 2) in all three, as an attacker's
//! review found them judged differently: an id-RSASSA-PSS SPKI (another fingerprint for
//! openssl), rsaEncryption without NULL, two blocks, text after the block, PKCS#1, a compressed
//! point, the exponent 2^64 + 1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::ceremony::Ceremony;
use common::verifiers::{VERIFIERS, verifiers};
use common::*;
use sha2::{Digest as _, Sha256};

/// The canonical SubjectPublicKeyInfo of a 3072-bit RSA key of exponent 65537, before its
/// modulus (384 bytes) and after it.
const RSA_PREFIX: &str = "308201a2300d06092a864886f70d01010105000382018f003082018a0282018100";
const RSA_SUFFIX: &str = "0203010001";
/// The canonical SubjectPublicKeyInfo of a P-256 key, before its uncompressed point.
const EC_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

const RSA_ENCRYPTION: &str = "06092a864886f70d010101";
const RSASSA_PSS: &str = "06092a864886f70d01010a";
const EC_PUBLIC_KEY: &str = "06072a8648ce3d0201";
const PRIME256V1: &str = "06082a8648ce3d030107";
const SECP384R1: &str = "06052b81040022";
const ED25519: &str = "06032b6570";

/// A DER element: tag, minimal length, content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..=127 => out.push(len as u8),
        128..=255 => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// A DER INTEGER of a big-endian unsigned value with no leading zero bytes.
fn uint(bytes: &[u8]) -> Vec<u8> {
    if bytes[0] & 0x80 != 0 {
        tlv(2, &[&[0][..], bytes].concat())
    } else {
        tlv(2, bytes)
    }
}

/// A SubjectPublicKeyInfo of `algorithm` (its AlgorithmIdentifier's content, hex) and `key`.
fn spki(algorithm: &str, key: &[u8]) -> Vec<u8> {
    seq(&[
        &tlv(0x30, &hex::decode(algorithm).unwrap()),
        &tlv(3, &[&[0][..], key].concat()),
    ])
}

/// A PKCS#1 RSAPublicKey.
fn rsa_public(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    seq(&[&uint(modulus), &uint(exponent)])
}

/// An RSA SubjectPublicKeyInfo with rsaEncryption and NULL.
fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    spki(
        &format!("{RSA_ENCRYPTION}0500"),
        &rsa_public(modulus, exponent),
    )
}

/// PEM of `label` around `der`, in lines of `width`, LF.
fn pem_of(label: &str, der: &[u8], width: usize) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(width)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
    .into_bytes()
}

fn pem(der: &[u8]) -> Vec<u8> {
    pem_of("PUBLIC KEY", der, 64)
}

/// The DER in a PEM as `token signer export` writes it.
fn der_of(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// A sealed ceremony signed by the token's signer made with `signer_args`, and its signer's DER.
fn sealed(signer_args: &[&str]) -> (Ceremony, Vec<u8>) {
    let c = Ceremony::signed_by(TestToken::softhsm("ceremony"), &["us-east-1"], signer_args);
    c.approve_plan();
    c.run_approved("t.jsonl");
    let pem = std::fs::read(&c.signer_pem).unwrap();
    assert_eq!(
        pem,
        self::pem(&der_of(&pem)),
        "the signer PEM keyrite exports"
    );
    let der = der_of(&pem);
    assert_eq!(hex::encode(Sha256::digest(&der)), c.signer_fingerprint);
    (c, der)
}

/// The token's signer PEM, as is and written otherwise but by the rule (CRLF, whitespace around
/// it), verifies in all three under the policy (which pins its fingerprint); the two scripts
/// print that fingerprint.
fn assert_accepted(c: &Ceremony, der: &[u8]) {
    let good = pem(der);
    let crlf = String::from_utf8(good.clone())
        .unwrap()
        .replace('\n', "\r\n");
    for (name, bytes) in [
        ("as exported", good.clone()),
        (
            "CRLF, whitespace around",
            format!("\n \t{crlf}\r\n\n").into_bytes(),
        ),
    ] {
        let file = c.dir().join("accepted.pem");
        std::fs::write(&file, &bytes).unwrap();
        let outs = verifiers(
            &c.dir().join("t.jsonl"),
            &file,
            Some(&c.dir().join("policy.toml")),
            None,
            &[],
        );
        for (verifier, out) in VERIFIERS.iter().zip(&outs) {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{name}: {verifier}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // keyrite prints no fingerprint; its exit 0 under the policy is its own.
            assert!(
                *verifier == VERIFIERS[0] || stdout.contains(&c.signer_fingerprint),
                "{name}: {verifier}: {stdout}"
            );
        }
    }
}

/// Each file is refused by all three as no signer's key (exit 2), each naming `why`.
fn assert_refused(c: &Ceremony, cases: &[(&str, Vec<u8>, &str)]) {
    let mut wrong = Vec::new();
    for (i, (name, bytes, why)) in cases.iter().enumerate() {
        let file = c.dir().join(format!("refused-{i}.pem"));
        std::fs::write(&file, bytes).unwrap();
        let outs = verifiers(
            &c.dir().join("t.jsonl"),
            &file,
            Some(&c.dir().join("policy.toml")),
            None,
            &[],
        );
        for (verifier, out) in VERIFIERS.iter().zip(&outs) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let named = stderr.contains("is not a ceremony signer's public key: ");
            if out.status.code() != Some(2) || !named || !stderr.contains(why) {
                wrong.push(format!(
                    "{name}: {verifier}: exit {:?}: {stderr}",
                    out.status.code()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn with(text: &[u8], before: &str, after: &str) -> Vec<u8> {
    [before.as_bytes(), text, after.as_bytes()].concat()
}

fn rsa_cases(der: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let hex = hex::encode(der);
    assert!(hex.starts_with(RSA_PREFIX) && hex.ends_with(RSA_SUFFIX));
    let n = &der[RSA_PREFIX.len() / 2..der.len() - RSA_SUFFIX.len() / 2];
    assert_eq!((n.len(), n[0] >> 7), (384, 1));
    let e = [1, 0, 1];
    let good = pem(der);
    let mut even = n.to_vec();
    *even.last_mut().unwrap() &= 0xfe;
    let mut small = n[..256].to_vec();
    *small.last_mut().unwrap() |= 1;
    let long_form = [&[0x30, 0x83, 0x00][..], &der[2..]].concat();
    let padded_modulus = spki(
        &format!("{RSA_ENCRYPTION}0500"),
        &seq(&[&tlv(2, &[&[0, 0][..], n].concat()), &uint(&e)]),
    );
    // The subject public key's BIT STRING: tag at 19, its unused-bits count at 23.
    let unused_bits = {
        let mut d = der.to_vec();
        assert_eq!((d[19], d[23]), (3, 0));
        d[23] = 1;
        d
    };
    // 422 bytes: the base64 ends in one `=`, and its last character before it has two bits
    // that decode to nothing.
    let noncanonical = {
        let text = String::from_utf8(good.clone()).unwrap();
        let at = text.find("=\n").unwrap() - 1;
        let mut bytes = text.into_bytes();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let index = alphabet.iter().position(|&c| c == bytes[at]).unwrap();
        assert_eq!(index & 3, 0);
        bytes[at] = alphabet[index | 1];
        bytes
    };
    vec![
        (
            "id-RSASSA-PSS",
            pem(&spki(RSASSA_PSS, &rsa_public(n, &e))),
            "its algorithm is id-RSASSA-PSS",
        ),
        (
            "rsaEncryption without NULL",
            pem(&spki(RSA_ENCRYPTION, &rsa_public(n, &e))),
            "its rsaEncryption algorithm has no NULL parameters",
        ),
        (
            "two PEM blocks",
            [good.clone(), good.clone()].concat(),
            "PEM blocks, where a signer's file holds one",
        ),
        (
            "text after the block",
            with(&good, "", "trailing text\n"),
            "does not end with",
        ),
        (
            "text before the block",
            with(&good, "signer:\n", ""),
            "does not begin with",
        ),
        (
            "PKCS#1 RSA PUBLIC KEY",
            pem_of("RSA PUBLIC KEY", &rsa_public(n, &e), 64),
            "PKCS#1",
        ),
        (
            "exponent 2^64 + 1",
            pem(&rsa_spki(n, &[1, 0, 0, 0, 0, 0, 0, 0, 1])),
            "an RSA key of public exponent 0x10000000000000001, where a keyrite signer's has 65537",
        ),
        (
            "exponent 3",
            pem(&rsa_spki(n, &[3])),
            "an RSA key of public exponent 0x3",
        ),
        (
            "even modulus",
            pem(&rsa_spki(&even, &e)),
            "its RSA modulus is even",
        ),
        (
            "2048-bit modulus",
            pem(&rsa_spki(&small, &e)),
            "an RSA key of 2048 bits",
        ),
        ("long-form length", pem(&long_form), ""),
        ("a byte after the DER", pem(&[der, &[0]].concat()), ""),
        (
            "modulus with a zero byte too many",
            pem(&padded_modulus),
            "",
        ),
        ("bit string with unused bits", pem(&unused_bits), ""),
        (
            "lines of 76 characters",
            pem_of("PUBLIC KEY", der, 76),
            "its base64 is not in lines of 64 characters",
        ),
        (
            "non-canonical base64",
            noncanonical,
            "its body is not canonical standard base64",
        ),
        (
            "a lone CR ending a line",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen('\n', "\r", 1)
                .into_bytes(),
            "does not begin with",
        ),
    ]
}

fn ec_cases(der: &[u8]) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let hex = hex::encode(der);
    assert!(hex.starts_with(EC_PREFIX) && der.len() == 91);
    let point = &der[EC_PREFIX.len() / 2..];
    assert_eq!(point[0], 4);
    let compressed = [&[2 | (point[64] & 1)][..], &point[1..33]].concat();
    let mut off_curve = point.to_vec();
    off_curve[64] ^= 1;
    let ec = |params: &str| format!("{EC_PUBLIC_KEY}{params}");
    vec![
        (
            "compressed point",
            pem(&spki(&ec(PRIME256V1), &compressed)),
            "its EC point is compressed",
        ),
        (
            "point off the curve",
            pem(&spki(&ec(PRIME256V1), &off_curve)),
            "its EC point is not a point of P-256",
        ),
        (
            "curve secp384r1",
            pem(&spki(&ec(SECP384R1), point)),
            "an EC key whose parameters are not the named curve prime256v1",
        ),
        (
            "no curve",
            pem(&spki(&ec(""), point)),
            "an EC key whose parameters are not the named curve prime256v1",
        ),
        (
            "Ed25519",
            pem(&spki(ED25519, &point[1..33])),
            "its algorithm is",
        ),
        ("nothing", Vec::new(), "does not begin with"),
        (
            "no base64",
            b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n".to_vec(),
            "its base64 is not in lines of 64 characters",
        ),
        ("not text", with(&pem(der), "\u{0}", ""), ""),
    ]
}

#[test]
fn an_ecdsa_signer_pem_is_judged_alike_by_all_three() {
    let (c, der) = sealed(&[]);
    assert_accepted(&c, &der);
    assert_refused(&c, &ec_cases(&der));
}

#[test]
fn an_rsa_pss_signer_pem_is_judged_alike_by_all_three() {
    let (c, der) = sealed(&["--algorithm", "rsa-pss-3072"]);
    assert_accepted(&c, &der);
    assert_refused(&c, &rsa_cases(&der));
}
