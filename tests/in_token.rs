//! Library-level checks inside a real token, where the CLI cannot reach: the RFC 5649
//! known-answer test refusing a wrong expected answer, and the ephemeral key of RSA-AES
//! destroyed when the second wrap fails.
//!
//! A token module reads its configuration once per process, from the environment. This test
//! binary therefore runs each test twice: the outer run creates a fresh SoftHSM2 token and
//! re-runs the binary for that one test with `SOFTHSM2_CONF` set; the inner run does the work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use keyrite::hsm::kwp::{KwpMechanism, kat_expected, known_answer_test};
use keyrite::hsm::wrapping::WrapMethod;
use keyrite::hsm::{Error, Module, Token};
use keyrite::spec::{KeySpec, WrappingAlgorithm, WrappingKey};
use libtest_mimic::{Arguments, Failed, Trial};
use secrecy::SecretString;

const INNER: &str = "KEYRITE_IN_TOKEN_INNER";

fn main() {
    let args = Arguments::from_args();
    let tests = vec![
        trial(
            "kat_refuses_a_wrong_expected_answer",
            kat_refuses_a_wrong_expected_answer,
        ),
        trial(
            "rsa_aes_destroys_the_ephemeral_key_when_the_second_wrap_fails",
            ephemeral_destroyed_when_the_second_wrap_fails,
        ),
    ];
    libtest_mimic::run(&args, tests).exit();
}

fn trial(name: &'static str, body: fn(&Token) -> Result<(), Failed>) -> Trial {
    Trial::test(name, move || {
        if std::env::var_os(INNER).is_some() {
            let module = Module::load(std::path::Path::new(SOFTHSM2))?;
            let token = module.open(module.find_token(Some("ceremony"))?)?;
            token.login(&SecretString::from(PIN))?;
            return body(&token);
        }
        let hsm = TestToken::softhsm("ceremony");
        let out = run(Command::new(std::env::current_exe()?)
            .args(["--exact", name, "--nocapture"])
            .env("SOFTHSM2_CONF", &hsm.conf)
            .env(INNER, "1")
            .current_dir(hsm.dir.path()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.contains("1 passed") {
            Ok(())
        } else {
            Err(format!(
                "inner run failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into())
        }
    })
}

fn kat_refuses_a_wrong_expected_answer(token: &Token) -> Result<(), Failed> {
    let session = token.session();
    let right = kat_expected(KeySpec::Aes256).unwrap();
    known_answer_test(
        session,
        KwpMechanism::Pad,
        KeySpec::Aes256,
        &right,
        "ceremony",
    )?;
    let mut wrong = right.clone();
    wrong[17] ^= 1;
    match known_answer_test(
        session,
        KwpMechanism::Pad,
        KeySpec::Aes256,
        &wrong,
        "ceremony",
    ) {
        Err(Error::KnownAnswer {
            mechanism, source, ..
        }) => {
            assert_eq!(mechanism, "CKM_AES_KEY_WRAP_PAD");
            assert_eq!(
                source.to_string(),
                "it wrapped a 32-byte AES_256 key of known value to 40 bytes that differ from RFC 5649"
            );
        }
        other => return Err(format!("a wrong expected answer was accepted: {other:?}").into()),
    }
    // The throw-away keys of the test are gone.
    assert!(
        session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])?
            .is_empty()
    );
    Ok(())
}

/// On SoftHSM2 the KWP half of RSA_AES_KEY_WRAP_SHA_256 succeeds and the OAEP-SHA-256 half fails:
/// a real failure between the two wraps.
fn ephemeral_destroyed_when_the_second_wrap_fails(token: &Token) -> Result<(), Failed> {
    let session = token.session();
    let secret_keys = || session.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]);
    let target = session.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32u64.into()),
            Attribute::Token(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
        ],
    )?;
    assert_eq!(secret_keys()?, [target]);
    let kms = Kms::new(std::path::Path::new("."), 2048);
    let public = token.import_wrapping_key(&WrappingKey::from_spki_der(&kms.public_der)?)?;
    let method = WrapMethod {
        algorithm: WrappingAlgorithm::RsaAesKeyWrapSha256,
        kwp: Some(KwpMechanism::Pad),
    };
    match token.wrap(&method, public.handle(), target, 256, KeySpec::Aes256) {
        Err(Error::Pkcs11(failure)) => {
            assert_eq!(failure.to_string(), "C_WrapKey returned CKR_ARGUMENTS_BAD")
        }
        other => return Err(format!("the wrap did not fail as expected: {other:?}").into()),
    }
    assert_eq!(
        secret_keys()?,
        [target],
        "the ephemeral key was left behind"
    );
    // The same composition with SHA-1 succeeds, and also leaves only the target.
    let method = WrapMethod {
        algorithm: WrappingAlgorithm::RsaAesKeyWrapSha1,
        kwp: Some(KwpMechanism::Pad),
    };
    assert_eq!(
        token
            .wrap(&method, public.handle(), target, 256, KeySpec::Aes256)?
            .len(),
        296
    );
    assert_eq!(secret_keys()?, [target]);
    Ok(())
}
