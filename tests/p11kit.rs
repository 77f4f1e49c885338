//! p11-kit remoting (`p11-kit server` in front of SoftHSM2, keyrite on `p11-kit-client.so`), the
//! way a network HSM or a token forwarded into a container looks: keyrite reaches the token
//! through the server the harness starts, the server is gone with the test's token, and with the
//! server down the client module shows no token, which keyrite says plainly.
//!
//! The suite's token-facing tests run through p11-kit too, in `scripts/test`'s p11-kit families
//! (`KEYRITE_TEST_FAMILY`, tests/common/p11kit.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::p11kit::P11KIT_CLIENT;
use common::wrap::Wrap;
use common::*;
use serde_json::Value;

#[test]
fn keyrite_reaches_the_token_through_the_server_and_the_server_ends_with_the_token() {
    let token = TestToken::softhsm("ceremony").through_p11kit();
    let out = run_ok(token.keyrite().args(["token", "info", "--json"]));
    let report: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["module"], P11KIT_CLIENT, "{report}");
    assert!(
        report["library"]
            .as_str()
            .unwrap()
            .contains("PKCS#11 Kit Proxy Module"),
        "{report}"
    );
    assert_eq!(report["tokens"][0]["label"], "ceremony", "{report}");
    assert_eq!(token.keyrite_module(), Path::new(P11KIT_CLIENT));
    let pid = token.remote.as_ref().unwrap().pid();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(token);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the p11-kit server {pid} outlived its token"
    );
}

/// With its server down, p11-kit's client module shows no token: `token info` and `wrap` fail
/// saying so, and do not send the user to `token info` for a list that is empty.
#[test]
fn with_the_server_down_keyrite_says_the_module_shows_no_token() {
    let mut token = TestToken::softhsm("ceremony").through_p11kit();
    aws_kms(token.dir.path(), "params.json");
    let address = token.remote.as_ref().unwrap().address.clone();
    drop(token.remote.take());
    let keyrite = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyrite"));
        cmd.current_dir(token.dir.path())
            .env("KEYRITE_PKCS11_MODULE", P11KIT_CLIENT)
            .env("P11_KIT_SERVER_ADDRESS", &address)
            .env(PIN_ENV, PIN);
        cmd
    };
    let wrap = [
        "wrap",
        "--provider",
        "aws",
        "--params",
        "params.json",
        "--algorithm",
        "RSAES_OAEP_SHA_1",
        "--key-label",
        "k",
        "--out",
        "out",
        "--token",
        "ceremony",
        "--pin-env",
        PIN_ENV,
    ];
    for (what, args) in [
        ("token info", &["token", "info"][..]),
        ("token info --json", &["token", "info", "--json"][..]),
        ("wrap", &wrap[..]),
    ] {
        let out = run(keyrite().args(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{what} exited 0 with no token: {}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.contains("no token"),
            "{what}: stderr does not say the module shows no token: {stderr}"
        );
        assert!(
            !stderr.contains("keyrite token info"),
            "{what}: sends the user to token info, which lists nothing: {stderr}"
        );
        assert!(!token.path("out").exists(), "{what}: an output directory");
    }
}

/// Through p11-kit in front of kryoptic, which has SHA-256: an OAEP SHA-256 wrap of every key
/// kind, unwrapped by three independent implementations with the KCV checked, each key on the
/// token with the ceremony template (read back by PyKCS11 from kryoptic itself, in a session of
/// its own) and nothing else added; RSA-AES, whose AES key wraps p11-kit's RPC does not carry,
/// is refused before anything is made, naming the missing mechanisms, and leaves nothing.
#[test]
fn oaep_sha256_every_key_kind_through_p11kit_on_kryoptic_and_rsa_aes_refused() {
    let token = TestToken::kryoptic("ceremony").through_p11kit();
    let kms = Kms::new(token.dir.path(), 2048);
    let params = kms.write_aws_params(token.dir.path(), "p.json");
    let algorithm = "RSAES_OAEP_SHA_256";
    let before = token.objects();
    let mut labels = Vec::new();
    for (spec, len) in [
        ("AES_256", 32),
        ("HMAC_224", 28),
        ("HMAC_256", 32),
        ("HMAC_384", 48),
        ("HMAC_512", 64),
    ] {
        let label = format!("oaep256-{spec}").to_lowercase().replace('_', "-");
        Wrap::aws(&params)
            .algorithm(algorithm)
            .spec(spec)
            .label(&label)
            .out(&label)
            .pin()
            .ok(&token);
        let file = token.path(&label).join("EncryptedKeyMaterial.bin");
        let material = kms.unwrap_python(&file, algorithm);
        assert_eq!(material.len(), len, "{label}");
        assert_eq!(
            kms.unwrap_rsa_crate(&std::fs::read(&file).unwrap(), algorithm),
            material,
            "{label}"
        );
        assert_eq!(kms.unwrap_openssl(&file, algorithm), material, "{label}");
        let m = manifest(&token.path(&label));
        assert_eq!(m["key"]["kcv_method"], "sha256-3", "{label}");
        assert_eq!(
            m["key"]["kcv"].as_str().unwrap(),
            kcv_python("sha256-3", &material),
            "{label}"
        );
        labels.push(label);
    }
    let after = token.objects();
    let added: Vec<&Value> = after.iter().filter(|o| !before.contains(o)).collect();
    let mut added_labels: Vec<&str> = added.iter().map(|o| o["label"].as_str().unwrap()).collect();
    added_labels.sort_unstable();
    labels.sort_unstable();
    assert_eq!(added_labels, labels, "{added:?}");
    for key in added {
        assert_ceremony_key(key);
    }

    for algorithm in ["RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"] {
        let out = Wrap::aws(&params)
            .algorithm(algorithm)
            .label("rsa-aes")
            .out("rsa-aes")
            .pin()
            .run(&token);
        assert_eq!(out.status.code(), Some(1), "{algorithm}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut lines = stderr.lines();
        assert_eq!(
            lines.next(),
            Some(
                "keyrite: token \"ceremony\" has no AES key wrap with padding (RFC 5649) keyrite can trust: the token offers neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD for wrapping"
            ),
            "{algorithm}: {stderr}"
        );
        assert_eq!(lines.count(), 1, "{algorithm}: {stderr}");
        assert!(
            !stderr.contains("known-answer"),
            "{algorithm}: no known-answer test ran, yet the message names one: {stderr}"
        );
        assert!(!token.path("rsa-aes").exists(), "{algorithm}");
        assert_eq!(token.objects(), after, "{algorithm} left an object");
    }
}
