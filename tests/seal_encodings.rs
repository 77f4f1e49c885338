//! One seal, one encoding: a seal line whose signature is written another way — its base64
//! with padding bits set, or an RSA signature without its leading zero byte — is not the seal
//! keyrite wrote, and all three verifiers say INVALID. Either would otherwise let anyone, with
//! no key, write a second seal line that verifies, with another SHA-256 for witnesses to sign.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use common::ceremony::Ceremony;
use common::verifiers::verifier_codes;
use common::*;

/// Runs `tests/independent/NAME` with `args`; its exit status.
fn python(name: &str, args: &[&OsStr]) -> std::process::ExitStatus {
    Command::new(PYTHON)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/independent")
                .join(name),
        )
        .args(args)
        .status()
        .unwrap()
}

fn sealed(signer_args: &[&str]) -> Ceremony {
    let c = Ceremony::signed_by(TestToken::softhsm("ceremony"), &["us-east-1"], signer_args);
    c.approve_plan();
    c.run_approved("t.jsonl");
    c
}

/// The token's own ECDSA seal, its base64 rewritten with non-zero padding bits: the same
/// signature bytes, another encoding, no key needed.
#[test]
fn an_ecdsa_seal_in_non_canonical_base64_is_invalid_in_all_three() {
    // A DER ECDSA signature of 72 bytes leaves no padding bits; 70 and 71 (nearly all) do.
    for attempt in 0..4 {
        let c = sealed(&[]);
        let policy = c.dir().join("policy.toml");
        let honest = c.dir().join("t.jsonl");
        assert_eq!(
            verifier_codes(&honest, &c.signer_pem, Some(&policy), None),
            [0, 0, 0]
        );
        let edited = c.dir().join("noncanonical.jsonl");
        let status = python(
            "noncanonical_seal.py",
            &[honest.as_os_str(), edited.as_os_str()],
        );
        if status.code() == Some(3) {
            assert!(attempt < 3, "four signatures of 72 bytes in a row");
            continue;
        }
        assert!(status.success());
        assert_eq!(
            verifier_codes(&edited, &c.signer_pem, Some(&policy), None),
            [1, 1, 1]
        );
        return;
    }
}

/// An RSA-PSS seal with a leading zero byte, the byte stripped (383 bytes). A token's seal has
/// a leading zero once in 256; here the seal is made by a key of the test's own, found by
/// signing until one has it, and checked under `--no-policy` with that key as the signer.
#[test]
fn an_rsa_pss_seal_shorter_than_the_modulus_is_invalid_in_all_three() {
    let c = sealed(&["--algorithm", "rsa-pss-3072"]);
    let kms = Kms::new(c.dir(), 3072);
    let public = c.dir().join("own-public.pem");
    std::fs::write(&public, kms.public_pem()).unwrap();
    let honest = c.dir().join("t.jsonl");
    let full = c.dir().join("full.jsonl");
    let short = c.dir().join("short.jsonl");
    for (out, mode) in [(&full, "pss32"), (&short, "short")] {
        let args = [
            honest.as_os_str(),
            out.as_os_str(),
            kms.private_pem.as_os_str(),
            OsStr::new(mode),
        ];
        assert!(python("reseal_rsa.py", &args).success());
    }
    // Verified without a policy: every check that ran passed.
    assert_eq!(verifier_codes(&full, &public, None, None), [4, 4, 4]);
    assert_eq!(verifier_codes(&short, &public, None, None), [1, 1, 1]);
}
