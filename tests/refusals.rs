//! Every refusal of `keyrite wrap`, with its exact message, and proof that nothing was created:
//! no object in the token (read back by PyKCS11), no output directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::wrap::Wrap;
use common::*;
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    /// Extra arguments and changes to the standard AWS parameters.
    args: Wrap,
    params: Value,
    /// The PIN the environment variable holds.
    pin: &'static str,
    /// The exit code: 2 for an input that does not parse or cannot be used as named, or an
    /// option missing; 1 for what the KMS's rules, the token or a check refuse.
    status: i32,
    stderr: String,
}

/// `keyrite wrap` of "payments-2026" for AWS with OAEP SHA-1, the PIN from where the caller
/// says.
fn wrap(params: &str, out: &str) -> Wrap {
    Wrap::new("wrap").aws_oaep_sha1(params, "payments-2026", out)
}

/// [`wrap`], the PIN from the environment.
fn std_args(params: &str, out: &str) -> Wrap {
    wrap(params, out).pin()
}

fn der_of(dir: &Path, genpkey_args: &[&str]) -> Vec<u8> {
    let pem = dir.join("other.pem");
    run_ok(
        std::process::Command::new("openssl")
            .arg("genpkey")
            .args(genpkey_args)
            .arg("-out")
            .arg(&pem),
    );
    run_ok(
        std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&pem),
    )
}

const KEY_ID_SYNTAX: &str =
    "is not an AWS KMS key id (1234abcd-12ab-34cd-56ef-1234567890ab, mrk-…) or key ARN";

#[test]
fn refusals_have_exact_messages_and_leave_nothing_behind() {
    let hsm = TestToken::softhsm("ceremony");
    let dir = hsm.dir.path();
    let kms = Kms::new(dir, 2048);
    let good = kms.aws_params(AWS_ARN, &hours_from_now(24));
    let base = std_args("params.json", "out");
    let edit = |field: &str, value: Value| {
        let mut p = good.clone();
        p[field] = value;
        p
    };

    // A first, successful wrap: its key is the only object the token may hold afterwards.
    write_json(dir, "params.json", &good);
    run_ok(hsm.keyrite().args(base.clone().set("--key-label", "taken")));
    std::fs::rename(hsm.path("out"), hsm.path("first-out")).unwrap();
    std::fs::create_dir(hsm.path("already-here")).unwrap();
    std::fs::write(hsm.path("pin-0644.txt"), format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(
        hsm.path("pin-0644.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let small = b64(&der_of(
        dir,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    ));
    let ec = b64(&der_of(
        dir,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ));
    let quote_arn = format!("{AWS_ARN}'");
    let alibaba = json!({
        "KeyId": "key-hzz62f1cb66fa42qo1234",
        "ImportToken": b64(b"t"),
        "PublicKey": b64(&kms.public_der),
        "TokenExpireTime": hours_from_now(24),
    });

    let cases = vec![
        Case {
            name: "KeyId with a quote",
            args: base.clone(),
            params: edit("KeyId", json!(quote_arn)),
            pin: PIN,
            status: 2,
            stderr: format!("keyrite: params.json: KeyId {quote_arn:?} {KEY_ID_SYNTAX}\n"),
        },
        Case {
            name: "KeyId with a command substitution",
            args: base.clone(),
            params: edit("KeyId", json!("$(touch pwned)")),
            pin: PIN,
            status: 2,
            stderr: format!("keyrite: params.json: KeyId \"$(touch pwned)\" {KEY_ID_SYNTAX}\n"),
        },
        Case {
            name: "expired parameters",
            args: base.clone(),
            params: edit("ParametersValidTo", json!("2020-01-01T00:00:00+00:00")),
            pin: PIN,
            status: 1,
            stderr: "keyrite: params.json: the import parameters expired at 2020-01-01T00:00:00Z\n\
                     Ask the KMS for new import parameters (get-parameters-for-import) and run again.\n"
                .into(),
        },
        Case {
            name: "1024-bit public key",
            args: base.clone(),
            params: edit("PublicKey", json!(small)),
            pin: PIN,
            status: 1,
            stderr: "keyrite: params.json: PublicKey is RSA-1024; keyrite needs at least RSA-2048\n"
                .into(),
        },
        Case {
            name: "non-RSA public key",
            args: base.clone(),
            params: edit("PublicKey", json!(ec)),
            pin: PIN,
            status: 2,
            stderr: "keyrite: params.json: PublicKey is not an RSA public key (SubjectPublicKeyInfo): \
                     unknown/unsupported algorithm OID: 1.2.840.10045.2.1\n"
                .into(),
        },
        Case {
            name: "malformed base64",
            args: base.clone(),
            params: edit("PublicKey", json!("MIIB!!notbase64")),
            pin: PIN,
            status: 2,
            stderr: "keyrite: params.json: PublicKey in the parameters file is not valid base64\n"
                .into(),
        },
        Case {
            name: "wrong JSON",
            args: base.clone(),
            params: json!("not an object"),
            pin: PIN,
            status: 2,
            stderr: "keyrite: params.json: the parameters file is not a JSON object\n".into(),
        },
        Case {
            name: "missing field",
            args: base.clone(),
            params: edit("ImportToken", Value::Null),
            pin: PIN,
            status: 2,
            stderr: "keyrite: params.json: the parameters file has no ImportToken\n".into(),
        },
        Case {
            name: "ParametersValidTo out of range",
            args: base.clone(),
            params: edit("ParametersValidTo", json!(1e15)),
            pin: PIN,
            status: 2,
            stderr: "keyrite: params.json: ParametersValidTo in the parameters file is not a valid time: 1000000000000000.0\n"
                .into(),
        },
        Case {
            name: "algorithm keyrite does not know",
            args: base.clone().set("--algorithm", "SM2PKE"),
            params: good.clone(),
            pin: PIN,
            status: 2,
            stderr: "error: invalid value 'SM2PKE' for '--algorithm <ALGORITHM>': unknown wrapping \
                     algorithm \"SM2PKE\"; known: RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, \
                     RSA_AES_KEY_WRAP_SHA_256, RSAES_PKCS1_V1_5\n\n\
                     For more information, try '--help'.\n"
                .into(),
        },
        Case {
            name: "wrapping key of a size the provider does not use",
            args: base.clone().set("--provider", "alibaba"),
            params: json!({
                "KeyId": "key-hzz62f1cb66fa42qo1234",
                "ImportToken": b64(b"t"),
                "PublicKey": b64(&Kms::new(dir, 3072).public_der),
                "TokenExpireTime": hours_from_now(24),
            }),
            pin: PIN,
            status: 1,
            stderr: "keyrite: params.json: Alibaba Cloud KMS does not use RSA_3072 wrapping keys\n".into(),
        },
        Case {
            name: "algorithm the provider does not accept",
            args: base.clone().set("--provider", "alibaba").set("--algorithm", "RSA_AES_KEY_WRAP_SHA_1"),
            params: alibaba.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: params.json: Alibaba Cloud KMS does not import key material wrapped with RSA_AES_KEY_WRAP_SHA_1\n"
                .into(),
        },
        Case {
            name: "key material the provider does not import",
            args: base.clone().set("--provider", "alibaba").set("--key-spec", "HMAC_256"),
            params: alibaba.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: params.json: Alibaba Cloud KMS does not import HMAC_256 key material\n".into(),
        },
        Case {
            name: "RSA_AES_KEY_WRAP_SHA_256 on SoftHSM2 (OAEP fails after the KWP half)",
            args: base.clone().set("--algorithm", "RSA_AES_KEY_WRAP_SHA_256"),
            params: good.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: token \"ceremony\" cannot wrap with CKM_RSA_PKCS_OAEP using SHA-256 \
                     (MGF1 with SHA-256): a trial wrap failed: C_WrapKey returned CKR_ARGUMENTS_BAD\n\
                     keyrite never falls back to another algorithm: use a token that supports this \
                     one (see `keyrite token info`), or ask the KMS for another wrapping algorithm.\n"
                .into(),
        },
        Case {
            name: "wrapping key not the spec asked for",
            args: base.clone().set("--wrapping-key-spec", "RSA_4096"),
            params: good.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: params.json: PublicKey is RSA_2048, not the RSA_4096 asked for\n\
                     Check that the parameters file belongs to the KMS key you meant, or fix --wrapping-key-spec.\n"
                .into(),
        },
        Case {
            name: "RSAES_OAEP_SHA_256 on SoftHSM2",
            args: base.clone().set("--algorithm", "RSAES_OAEP_SHA_256"),
            params: good.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: token \"ceremony\" cannot wrap with CKM_RSA_PKCS_OAEP using SHA-256 \
                     (MGF1 with SHA-256): a trial wrap failed: C_WrapKey returned CKR_ARGUMENTS_BAD\n\
                     keyrite never falls back to another algorithm: use a token that supports this \
                     one (see `keyrite token info`), or ask the KMS for another wrapping algorithm.\n"
                .into(),
        },
        Case {
            name: "PKCS#1 v1.5 without the flag",
            args: base.clone().set("--algorithm", "RSAES_PKCS1_V1_5"),
            params: good.clone(),
            pin: PIN,
            status: 2,
            stderr: "keyrite: RSAES_PKCS1_V1_5 is a retired wrapping algorithm and needs --allow-legacy-pkcs1\n\
                     Prefer RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1; pass --allow-legacy-pkcs1 only if the KMS accepts nothing else.\n"
                .into(),
        },
        Case {
            name: "existing label",
            args: base.clone().set("--key-label", "taken"),
            params: good.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: token \"ceremony\" already holds an object labelled \"taken\"\n\
                     Choose another --key-label; keyrite never reuses or replaces a key.\n"
                .into(),
        },
        Case {
            name: "existing output directory",
            args: base.clone().set("--out", "already-here"),
            params: good.clone(),
            pin: PIN,
            status: 2,
            stderr: "keyrite: already-here already exists; keyrite never replaces an output\n\
                     Choose a new --out directory; keyrite never replaces an output.\n"
                .into(),
        },
        Case {
            name: "--valid-to in the past",
            args: base.clone().set("--valid-to", "2020-01-01T00:00:00Z"),
            params: good.clone(),
            pin: PIN,
            status: 1,
            stderr: "keyrite: --valid-to 2020-01-01T00:00:00Z is not in the future\n".into(),
        },
        Case {
            name: "wrong PIN",
            args: base.clone(),
            params: good.clone(),
            pin: "not-the-pin",
            status: 1,
            stderr: "keyrite: token \"ceremony\" refused the PIN (CKR_PIN_INCORRECT)\n\
                     Check the PIN: most tokens lock the user PIN after a few wrong attempts (SoftHSM2 never does).\n"
                .into(),
        },
        Case {
            name: "missing token",
            args: base.clone().set("--token", "nope"),
            params: good.clone(),
            pin: PIN,
            status: 2,
            stderr: "keyrite: no token labelled \"nope\"; tokens found: \"ceremony\"\n\
                     Run `keyrite token info` to list the tokens, then pass --token LABEL.\n"
                .into(),
        },
        Case {
            name: "missing module",
            args: base.clone().set("--module", "/nonexistent/libpkcs11.so"),
            params: good.clone(),
            pin: PIN,
            status: 2,
            stderr: "keyrite: PKCS#11 module not found: /nonexistent/libpkcs11.so\n\
                     Pass --module the PKCS#11 module of the token, the .so its vendor installs (the one pkcs11-tool --module takes), or set KEYRITE_PKCS11_MODULE to it; SoftHSM2's is /usr/lib/softhsm/libsofthsm2.so (on Debian: apt-get install softhsm2).\n"
                .into(),
        },
        Case {
            name: "--pin-file with mode 0644",
            args: wrap("params.json", "out").args(["--pin-file", "pin-0644.txt"]),
            params: good.clone(),
            pin: PIN,
            status: 2,
            stderr: "keyrite: the PIN file pin-0644.txt has mode 0644; it must not be accessible to group or others\n\
                     Run: chmod 600 pin-0644.txt\n"
                .into(),
        },
    ];

    let count = cases.len();
    for case in cases {
        write_json(dir, "params.json", &case.params);
        let out = run(hsm.keyrite().env(PIN_ENV, case.pin).args(case.args));
        assert_refused(&out.stderr, &case.stderr, case.name);
        assert_eq!(
            out.status.code(),
            Some(case.status),
            "{}: status",
            case.name
        );
        assert!(out.stdout.is_empty(), "{}: stdout", case.name);
        assert!(
            !hsm.path("out").exists(),
            "{}: an output appeared",
            case.name
        );
        assert_eq!(
            std::fs::read_dir(hsm.path("already-here")).unwrap().count(),
            0,
            "{}",
            case.name
        );
        assert!(!hsm.path("pwned").exists(), "{}: a command ran", case.name);
        let labels: Vec<Value> = hsm.objects().iter().map(|o| o["label"].clone()).collect();
        assert_eq!(labels, [json!("taken")], "{}: token objects", case.name);
    }
    assert_eq!(count, 24);
}

#[test]
fn duplicate_keys_and_missing_files_are_refused() {
    let hsm = TestToken::softhsm("ceremony");
    let kms = Kms::new(hsm.dir.path(), 2048);
    let good = serde_json::to_string(&kms.aws_params(AWS_ARN, &hours_from_now(24))).unwrap();
    let doubled = good.replacen('{', &format!("{{\"KeyId\": {AWS_ARN:?}, "), 1);
    std::fs::write(hsm.path("params.json"), doubled).unwrap();
    let base = std_args("params.json", "out");
    let out = run(hsm.keyrite().args(base.clone()));
    assert_refused(
        &out.stderr,
        "keyrite: params.json: the parameters file has the key \"KeyId\" more than once\n",
        "duplicate KeyId",
    );
    assert_eq!(out.status.code(), Some(2), "duplicate KeyId");
    let out = run(hsm
        .keyrite()
        .args(base.clone().set("--params", "missing.json")));
    assert_refused(
        &out.stderr,
        "keyrite: cannot read missing.json: No such file or directory (os error 2)\n",
        "missing parameters file",
    );
    assert_eq!(out.status.code(), Some(2), "missing parameters file");
    assert!(hsm.objects().is_empty());
    assert!(!hsm.path("out").exists());
}

#[test]
fn a_token_must_be_named_when_there_are_several() {
    let hsm = TestToken::softhsm("first");
    hsm.init_token("second");
    aws_kms(hsm.dir.path(), "params.json");
    let out = run(hsm.keyrite().args(std_args("params.json", "out")));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "keyrite: name the token with --token LABEL; tokens found: \"first\", \"second\"\n\
         Run `keyrite token info` to list the tokens, then pass --token LABEL.\n"
    );
    run_ok(
        hsm.keyrite()
            .args(std_args("params.json", "out").set("--token", "second")),
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&std::fs::read(hsm.path("out/manifest.json")).unwrap())
            .unwrap()["token"]["label"],
        "second"
    );
}
