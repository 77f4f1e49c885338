//! Hostile input: a table of bad inputs across every command, each refused with its exact
//! message (what went wrong, and where keyrite knows it, what to do) and never a panic — and
//! after each, nothing changed: the token's objects (read by PyKCS11) and every file.
//!
//! A case is one line: its name, the files it writes (removed afterwards), the arguments, the
//! exit code and the first line of standard error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;
use serde_json::{Value, json};
use sha2::Digest as _;

/// Every file below `dir` (token storage left out: the token is compared by its objects) with
/// its SHA-256, and every directory and symlink.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if rel.starts_with("tokens") || rel.starts_with("mnt") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()))
            };
            out.insert(rel, what);
        }
    }
    out
}

/// A tmpfs of `size` mounted at `dir`, read-only if asked; unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn new(dir: &Path, options: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        run_ok(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", options, "tmpfs"])
                .arg(dir),
        );
        Mount(dir.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A case's arguments.
fn args<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Vec<OsString> {
    args.into_iter().map(|a| a.as_ref().to_owned()).collect()
}

/// `keyrite wrap` of key "hostile": `provider`'s parameters `params`, under `algorithm`, into
/// `out`, the PIN from the environment.
fn wrap_args(params: &str, provider: &str, algorithm: &str, out: &str) -> Wrap {
    Wrap::new("wrap")
        .provider(provider, params)
        .algorithm(algorithm)
        .label("hostile")
        .out(out)
        .pin()
}

#[test]
fn bad_inputs_are_refused_with_their_message_and_change_nothing() {
    let c = Ceremony::new(&["us-east-1"]);
    let dir = c.dir().to_path_buf();
    let kms = &c.regions[0].kms;

    // A sealed transcript to tamper with, from a first ceremony.
    c.write_plan("seed", "RSAES_OAEP_SHA_1");
    c.run_approved("good.jsonl");
    for f in std::fs::read_dir(dir.join("approvals")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }

    std::fs::copy(dir.join("policy.toml"), dir.join("seed-policy.toml")).unwrap();

    // The plan the ceremony cases run: PIN from shares, approved by alice and bob.
    c.write_plan("payments-2026", "RSAES_OAEP_SHA_1");
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    let plan = std::fs::read_to_string(dir.join("plan.toml")).unwrap();
    let policy = std::fs::read_to_string(dir.join("policy.toml")).unwrap();
    let share1 = std::fs::read(dir.join("shares/share-1.txt")).unwrap();

    // Inputs derived from good ones.
    let good = kms.aws_params(AWS_ARN, &hours_from_now(24));
    let edit = |field: &str, value: Value| {
        let mut p = good.clone();
        p[field] = value;
        serde_json::to_vec(&p).unwrap()
    };
    let good_bytes = serde_json::to_vec(&good).unwrap();
    let truncated = good_bytes[..40].to_vec();
    let public_b64 = good["PublicKey"].as_str().unwrap().to_owned();
    let duplicate = format!(
        "{{\"KeyId\": {AWS_ARN:?}, \"KeyId\": {AWS_ARN:?}, \"ImportToken\": \"dA==\", \"PublicKey\": {public_b64:?}, \"ParametersValidTo\": {:?}}}",
        hours_from_now(24)
    )
    .into_bytes();
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(&good_bytes);
    let nul = String::from_utf8(good_bytes.clone())
        .unwrap()
        .replacen("arn:aws", "arn:\u{0}aws", 1)
        .into_bytes();
    let ec_der = run_ok(Command::new("sh").arg("-c").arg(
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkey -pubout -outform DER",
    ));
    let small_der = run_ok(Command::new("sh").arg("-c").arg(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 | openssl pkey -pubout -outform DER",
    ));
    let alibaba = |expire: &str| {
        serde_json::to_vec(&json!({
            "KeyId": "key-hzz62f1cb66fa42qo1234", "ImportToken": b64(b"t"),
            "PublicKey": public_b64, "TokenExpireTime": expire,
        }))
        .unwrap()
    };
    let job = |state: &str, expire: &str| {
        serde_json::to_vec(&json!({
            "name": "projects/payments-prod/locations/us-east1/keyRings/byok/importJobs/job-1",
            "importMethod": "RSA_OAEP_3072_SHA256", "state": state, "expireTime": expire,
            "publicKey": {"pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
        }))
        .unwrap()
    };
    let plan_with = |from: &str, to: &str| plan.replacen(from, to, 1).into_bytes();
    let policy_with = |from: &str, to: &str| policy.replacen(from, to, 1).into_bytes();
    let transcript = std::fs::read_to_string(dir.join("good.jsonl")).unwrap();
    let crlf = transcript.replace('\n', "\r\n").into_bytes();
    let mut t_bom = b"\xef\xbb\xbf".to_vec();
    t_bom.extend(transcript.as_bytes());
    let t_cut = transcript.as_bytes()[..transcript.len() - 20].to_vec();
    let t_garbage = transcript.replacen("{\"", "{not json", 1).into_bytes();
    let mut t_bin = transcript.as_bytes().to_vec();
    t_bin[10] = 0xff;
    let t_nul = transcript
        .replacen("\"prev\"", "\"pr\u{0}ev\"", 1)
        .into_bytes();
    let share_hex_cut = {
        let s = String::from_utf8(share1.clone()).unwrap();
        let s = s.trim_end().as_bytes();
        s[..s.len() - 4].to_vec()
    };

    // Mounts: read-only and full filesystems for outputs.
    let _ro = Mount::new(&dir.join("mnt/ro"), "ro,size=1m");
    let full = Mount::new(&dir.join("mnt/full"), "size=64k");
    std::fs::write(full.0.join("filler"), vec![0u8; 60 * 1024]).ok();
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("linked-out")).unwrap();
    std::fs::create_dir(dir.join("elsewhere")).unwrap();

    // `ceremony run` of `plan` with PIN shares 1 and `second`, then `extra`.
    let run_with = |plan: &'static str, second: &'static str, extra: &[&'static str]| {
        let mut v = vec![
            "ceremony",
            "run",
            plan,
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            "new.jsonl",
            "--pin-share",
            "shares/share-1.txt",
            "--pin-share",
            second,
        ];
        v.extend(extra);
        args(v)
    };
    let ceremony = |extra: &[&'static str]| run_with("plan.toml", "shares/share-2.txt", extra);
    let ceremony_one_share = |share: &'static str| run_with("plan.toml", share, &[]);
    let run_plan = |p: &'static str| run_with(p, "shares/share-2.txt", &[]);
    let verify = |t: &'static str| args(["verify", t, "--signer", "signer.pem", "--no-policy"]);
    let check = |p: &'static str, pol: &'static str| args(["plan", "check", p, "--policy", pol]);
    let p = |name: &'static str| args(wrap_args(name, "aws", "RSAES_OAEP_SHA_1", "out"));

    type Files = Vec<(&'static str, Vec<u8>)>;
    let none: Files = Vec::new();
    let f = |name: &'static str, bytes: Vec<u8>| -> Files { vec![(name, bytes)] };

    #[rustfmt::skip]
    let cases: Vec<(&str, Files, Vec<OsString>, i32, &str)> = vec![
        // Import parameters.
        ("params: empty file", f("x.json", vec![]), p("x.json"), 2, "keyrite: x.json: the parameters file is not valid JSON: it is empty"),
        ("params: truncated JSON", f("x.json", truncated.clone()), p("x.json"), 2, "keyrite: x.json: the parameters file is not valid JSON: EOF while parsing a string at line 1 column 40"),
        ("params: not JSON", f("x.json", b"hello".to_vec()), p("x.json"), 2, "keyrite: x.json: the parameters file is not valid JSON: expected value at line 1 column 1"),
        ("params: a JSON array", f("x.json", b"[1,2]".to_vec()), p("x.json"), 2, "keyrite: x.json: the parameters file is not a JSON object"),
        ("params: KeyId a number", f("x.json", edit("KeyId", json!(7))), p("x.json"), 2, "keyrite: x.json: KeyId in the parameters file must be a string"),
        ("params: PublicKey an object", f("x.json", edit("PublicKey", json!({}))), p("x.json"), 2, "keyrite: x.json: PublicKey in the parameters file must be a string"),
        ("params: ParametersValidTo a bool", f("x.json", edit("ParametersValidTo", json!(true))), p("x.json"), 2, "keyrite: x.json: ParametersValidTo in the parameters file must be an RFC 3339 string or a Unix time"),
        ("params: duplicate KeyId", f("x.json", duplicate.clone()), p("x.json"), 2, "keyrite: x.json: the parameters file has the key \"KeyId\" more than once"),
        ("params: not UTF-8", f("x.json", vec![0xff, 0xfe, b'{', b'}']), p("x.json"), 2, "keyrite: x.json: the parameters file is not valid JSON: expected value at line 1 column 1"),
        ("params: NUL in a value", f("x.json", nul.clone()), p("x.json"), 2, "keyrite: x.json: the parameters file is not valid JSON: control character (\\u0000-\\u001F) found while parsing a string at line 1 column 72"),
        ("params: byte order mark", f("x.json", bom.clone()), p("x.json"), 2, "keyrite: x.json: the parameters file is not valid JSON: it starts with a byte order mark (save it as UTF-8 without one)"),
        ("params: PublicKey not base64", f("x.json", edit("PublicKey", json!("%%%"))), p("x.json"), 2, "keyrite: x.json: PublicKey in the parameters file is not valid base64"),
        ("params: PublicKey an EC key", f("x.json", edit("PublicKey", json!(b64(&ec_der)))), p("x.json"), 2, "keyrite: x.json: PublicKey is not an RSA public key (SubjectPublicKeyInfo): unknown/unsupported algorithm OID: 1.2.840.10045.2.1"),
        ("params: PublicKey RSA-1024", f("x.json", edit("PublicKey", json!(b64(&small_der)))), p("x.json"), 1, "keyrite: x.json: PublicKey is RSA-1024; keyrite needs at least RSA-2048"),
        ("params: expired", f("x.json", edit("ParametersValidTo", json!("2020-01-01T00:00:00Z"))), p("x.json"), 1, "keyrite: x.json: the import parameters expired at 2020-01-01T00:00:00Z"),
        ("params: a date that is not one", f("x.json", edit("ParametersValidTo", json!("tomorrow"))), p("x.json"), 2, "keyrite: x.json: ParametersValidTo in the parameters file is not a valid time: tomorrow"),
        ("params: empty ImportToken", f("x.json", edit("ImportToken", json!(""))), p("x.json"), 2, "keyrite: x.json: ImportToken in the parameters file is empty"),
        ("params: larger than 1 MiB", f("x.json", vec![b' '; (1 << 20) + 1]), p("x.json"), 2, "keyrite: cannot read x.json: it is larger than 1 MiB, the most keyrite reads from such a file"),
        ("params: a directory", none.clone(), p("approvals"), 2, "keyrite: cannot read approvals: Is a directory (os error 21)"),
        ("params: missing", none.clone(), p("nowhere.json"), 2, "keyrite: cannot read nowhere.json: No such file or directory (os error 2)"),
        ("alibaba: expired", f("x.json", alibaba("2020-01-01T00:00:00Z")), args(wrap_args("x.json", "alibaba", "RSAES_OAEP_SHA_1", "out")), 1, "keyrite: x.json: the import parameters expired at 2020-01-01T00:00:00Z"),
        ("alibaba: RSA-AES is not an Alibaba algorithm", f("x.json", alibaba(&hours_from_now(24))), args(wrap_args("x.json", "alibaba", "RSA_AES_KEY_WRAP_SHA_1", "out")), 1, "keyrite: x.json: Alibaba Cloud KMS does not import key material wrapped with RSA_AES_KEY_WRAP_SHA_1"),
        ("gcp: job expired", f("x.json", job("ACTIVE", "2020-01-01T00:00:00Z")), args(wrap_args("x.json", "gcp", "RSAES_OAEP_SHA_256", "out").args(["--gcp-key", "k"])), 1, "keyrite: x.json: the import job projects/payments-prod/locations/us-east1/keyRings/byok/importJobs/job-1 expired at 2020-01-01T00:00:00Z"),
        ("gcp: job pending", f("x.json", job("PENDING_GENERATION", "2099-01-01T00:00:00Z")), args(wrap_args("x.json", "gcp", "RSAES_OAEP_SHA_256", "out").args(["--gcp-key", "k"])), 1, "keyrite: x.json: the import job projects/payments-prod/locations/us-east1/keyRings/byok/importJobs/job-1 is PENDING_GENERATION, not ACTIVE"),
        ("azure: an option of another provider", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "azure", "RSA_AES_KEY_WRAP_SHA_1", "out").args(["--gcp-key", "k"])), 2, "keyrite: --gcp-key is for --provider gcp, not azure"),
        ("vault: a 2048-bit wrapping key", f("x.json", serde_json::to_vec(&json!({"data": {"public_key": "-----BEGIN PUBLIC KEY-----\n".to_owned() + &public_b64 + "\n-----END PUBLIC KEY-----\n"}})).unwrap()), args(wrap_args("x.json", "vault", "RSA_AES_KEY_WRAP_SHA_256", "out").args(["--vault-key", "k"])), 1, "keyrite: x.json: HashiCorp Vault transit does not use RSA_2048 wrapping keys"),
        ("wrong wrapping key size named", f("x.json", good_bytes.clone()), [p("x.json"), args(["--wrapping-key-spec", "RSA_4096"])].concat(), 1, "keyrite: x.json: PublicKey is RSA_2048, not the RSA_4096 asked for"),
        ("--valid-to in the past", f("x.json", good_bytes.clone()), [p("x.json"), args(["--valid-to", "2020-01-01T00:00:00Z"])].concat(), 1, "keyrite: --valid-to 2020-01-01T00:00:00Z is not in the future"),
        ("unknown algorithm", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "aws", "RSAES_OAEP_SHA_512", "out")), 2, "error: invalid value 'RSAES_OAEP_SHA_512' for '--algorithm <ALGORITHM>': unknown wrapping algorithm \"RSAES_OAEP_SHA_512\"; known: RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256, RSAES_PKCS1_V1_5"),
        // Outputs.
        ("out: exists", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "aws", "RSAES_OAEP_SHA_1", "approvals")), 2, "keyrite: approvals already exists; keyrite never replaces an output"),
        ("out: a symlink to a directory", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "aws", "RSAES_OAEP_SHA_1", "linked-out")), 2, "keyrite: linked-out already exists; keyrite never replaces an output"),
        ("out: on a read-only filesystem", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "aws", "RSAES_OAEP_SHA_1", "mnt/ro/out")), 2, "keyrite: the directory mnt/ro for the output is not writable: Read-only file system (os error 30)"),
        ("out: on a full filesystem", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "aws", "RSAES_OAEP_SHA_1", "mnt/full/out")), 1, "keyrite: the file system of mnt/full has 4096 bytes free; keyrite wants at least 1048576 before it writes outputs"),
        ("out: parent missing", f("x.json", good_bytes.clone()), args(wrap_args("x.json", "aws", "RSAES_OAEP_SHA_1", "no/such/out")), 2, "keyrite: the directory no/such for the output does not exist"),
        // Plans.
        ("plan: larger than 1 MiB", f("bad.toml", [plan.as_bytes(), &vec![b'#'; 1 << 20]].concat()), check("bad.toml", "policy.toml"), 2, "keyrite: cannot read bad.toml: it is larger than 1 MiB, the most keyrite reads from such a file"),
        ("plan: empty", f("bad.toml", vec![]), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:1:1: missing field `version`"),
        ("plan: not TOML", f("bad.toml", b"[[steps\naction =".to_vec()), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:1:8: unclosed array table, expected `]]`"),
        ("plan: unknown field", f("bad.toml", plan_with("operator =", "colour = \"red\"\noperator =")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:5:1: unknown field `colour`, expected one of `version`, `ceremony_id`, `not_before`, `not_after`, `operator`, `token_label`, `signing_key_label`, `pin`, `attestation_roots`, `steps`"),
        ("plan: unknown step field", f("bad.toml", plan_with("action = \"generate\"\n", "action = \"generate\"\nsize = 9\n")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:12:1: steps[0]: unknown field `size`, expected one of `key_label`, `key_spec`, `wrap_with_trusted`"),
        ("plan: unknown action", f("bad.toml", plan_with("action = \"generate\"", "action = \"export\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:11:10: steps[0].action: unknown variant `export`, expected one of `generate`, `wrap`, `rewrap`, `destroy`"),
        ("plan: output outside its directory", f("bad.toml", plan_with("out = \"payments-2026-us-east-1\"", "out = \"../escape\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:20:7: steps[1].out: \"../escape\" must be a path relative to the plan's directory, without `..`"),
        ("plan: absolute output", f("bad.toml", plan_with("out = \"payments-2026-us-east-1\"", "out = \"/tmp/escape\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:20:7: steps[1].out: \"/tmp/escape\" must be a path relative to the plan's directory, without `..`"),
        ("plan: params outside its directory", f("bad.toml", plan_with("params = \"params/us-east-1.json\"", "params = \"../params.json\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:18:10: steps[1].params: \"../params.json\" must be a path relative to the plan's directory, without `..`"),
        ("plan: absolute params", f("bad.toml", plan_with("params = \"params/us-east-1.json\"", "params = \"/etc/passwd\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:18:10: steps[1].params: \"/etc/passwd\" must be a path relative to the plan's directory, without `..`"),
        ("plan: a wrong type", f("bad.toml", plan_with("version = 1", "version = \"1\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:1:11: invalid type: string \"1\", expected u32"),
        ("plan: duplicate key", f("bad.toml", plan_with("version = 1", "version = 1\nversion = 1")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:2:1: duplicate key"),
        ("plan: not UTF-8", f("bad.toml", [plan.as_bytes(), b"\n# \xff\n"].concat()), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:22:3: not UTF-8 text"),
        ("plan: NUL byte", f("bad.toml", plan_with("Olivia", "Oli\u{0}via")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:5:16: invalid basic string, expected non-double-quote visible characters, `\\`"),
        ("plan: invalid key label", f("bad.toml", plan_with("key_label = \"payments-2026\"", "key_label = \"a b\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:12:13: steps[0].key_label: key label \"a b\" is not valid: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"),
        ("plan: window ends before it starts", f("bad.toml", plan_with(&format!("not_after = \"{}\"", c.window.1), "not_after = \"2000-01-01T00:00:00Z\"")), check("bad.toml", "policy.toml"), 2, "keyrite: bad.toml:4:13: not_after: must be later than not_before"),
        ("plan: run with changed bytes", f("bad.toml", plan_with("Olivia", "Oliver")), run_plan("bad.toml"), 1, "keyrite: the plan has 0 valid approvals of the 2 the policy requires; approved by nobody; not approved by alice, bob, carol; alice.sig does not count: alice's signature does not verify over this plan's digest (another plan, or a file changed since); bob.sig does not count: bob's signature does not verify over this plan's digest (another plan, or a file changed since)"),
        // Policies.
        ("policy: larger than 1 MiB", f("bad-policy.toml", [policy.as_bytes(), &vec![b'#'; 1 << 20]].concat()), check("plan.toml", "bad-policy.toml"), 2, "keyrite: cannot read bad-policy.toml: it is larger than 1 MiB, the most keyrite reads from such a file"),
        ("policy: empty", f("bad-policy.toml", vec![]), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: line 1: missing field `version`"),
        ("policy: unknown field", f("bad-policy.toml", policy_with("threshold", "quorum = 2\nthreshold")), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: line 2: unknown field `quorum`, expected one of `version`, `threshold`, `signer_fingerprint`, `token_serial`, `custodians`, `custodians_file`, `witnesses`, `pin_shares`, `pin_threshold`, `module_sha256`, `module_path`, `require_trusted_wrapping`, `witnesses_required`, `accept_backup_unwrap_oracle`, `require_attestation`, `attestation_roots_sha256`"),
        ("policy: threshold 0", f("bad-policy.toml", policy_with("threshold = 2", "threshold = 0")), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: threshold: must be between 1 and the number of custodians (3), not 0"),
        ("policy: threshold above the custodians", f("bad-policy.toml", policy_with("threshold = 2", "threshold = 4")), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: threshold: must be between 1 and the number of custodians (3), not 4"),
        ("policy: a custodian twice", f("bad-policy.toml", policy_with("name = \"bob\"", "name = \"alice\"")), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: custodians[1].name: \"alice\" is listed twice"),
        ("policy: an SSH key that is not one", f("bad-policy.toml", policy_with("ssh_key = \"", "ssh_key = \"ssh-ed25519 AAAA")), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: custodians[0].ssh_key: not an OpenSSH public key (Base64 encoding error: invalid Base64 encoding)"),
        ("policy: signer fingerprint not hex", f("bad-policy.toml", policy_with("signer_fingerprint = \"", "signer_fingerprint = \"zz")), check("plan.toml", "bad-policy.toml"), 2, "keyrite: bad-policy.toml: signer_fingerprint: must be the 64 hex digits `keyrite token signer export` prints"),
        // Approvals and PIN shares.
        ("approval: empty", f("approvals/bob.sig", vec![]), ceremony(&[]), 1, "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; bob.sig does not count: not an SSH signature (PEM preamble contains invalid data (NUL byte))"),
        ("approval: not a signature", f("approvals/bob.sig", b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n".to_vec()), ceremony(&[]), 1, "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; bob.sig does not count: not an SSH signature (PEM Base64 error: invalid Base64 length)"),
        ("approval: not UTF-8", f("approvals/bob.sig", vec![0xff; 40]), ceremony(&[]), 1, "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; bob.sig does not count: not an SSH signature (PEM preamble contains invalid data (NUL byte))"),
        ("approval: larger than 1 MiB", f("approvals/bob.sig", vec![b'A'; (1 << 20) + 1]), ceremony(&[]), 2, "keyrite: cannot read approvals/bob.sig: it is larger than 1 MiB, the most keyrite reads from such a file"),
        ("share: larger than 1 KiB", f("s.txt", vec![b'0'; 2048]), ceremony_one_share("s.txt"), 1, "keyrite: s.txt: it is larger than 1024 bytes, the most keyrite reads from a share file"),
        ("share: empty", f("s.txt", vec![]), ceremony_one_share("s.txt"), 2, "keyrite: s.txt is not a keyrite PIN share"),
        ("share: truncated", f("s.txt", share_hex_cut.clone()), ceremony_one_share("s.txt"), 2, "keyrite: s.txt: 76 characters (not counting spaces and dashes) where a share has 80, in 16 groups of 5"),
        ("share: another format", f("s.txt", b"keyrite-pin-share-v9:1:2:00ff\n".to_vec()), ceremony_one_share("s.txt"), 2, "keyrite: s.txt is not a keyrite PIN share"),
        ("share: not UTF-8", f("s.txt", vec![0xff; 16]), ceremony_one_share("s.txt"), 2, "keyrite: s.txt is not a keyrite PIN share"),
        ("share: NUL byte", f("s.txt", b"keyrite-pin-share-v1:1:2:\x0000\n".to_vec()), ceremony_one_share("s.txt"), 2, "keyrite: s.txt is not a keyrite PIN share"),
        // Transcripts.
        ("transcript: a line larger than 16 MiB", f("t.jsonl", [transcript.as_bytes(), &vec![b' '; (16 << 20) + 1]].concat()), verify("t.jsonl"), 2, "keyrite: cannot read t.jsonl: line 17 is larger than 16 MiB, the most keyrite reads of one transcript line"),
        ("transcript: empty", f("t.jsonl", vec![]), verify("t.jsonl"), 1, "chain      FAILED       the transcript is empty"),
        ("transcript: CRLF line ends", f("t.jsonl", crlf.clone()), verify("t.jsonl"), 1, "chain      FAILED       line 1: not in keyrite's encoding: whitespace between tokens"),
        ("transcript: byte order mark", f("t.jsonl", t_bom.clone()), verify("t.jsonl"), 1, "chain      FAILED       line 1: not a JSON object (or a key appears twice)"),
        ("transcript: cut inside the last line", f("t.jsonl", t_cut.clone()), verify("t.jsonl"), 1, "chain      FAILED       line 16: the last line has no newline (cut short)"),
        ("transcript: a line not JSON", f("t.jsonl", t_garbage.clone()), verify("t.jsonl"), 1, "chain      FAILED       line 1: not a JSON object (or a key appears twice)"),
        ("transcript: not UTF-8", f("t.jsonl", t_bin.clone()), verify("t.jsonl"), 1, "chain      FAILED       line 1: not a JSON object (or a key appears twice)"),
        ("transcript: NUL byte", f("t.jsonl", t_nul.clone()), verify("t.jsonl"), 1, "chain      FAILED       line 1: not a JSON object (or a key appears twice)"),
        ("verify: signer not a PEM key", f("s.pem", b"hello".to_vec()), args(["verify", "good.jsonl", "--signer", "s.pem", "--no-policy"]), 2, "keyrite: s.pem is not a ceremony signer's public key: not a public key PEM as `keyrite token signer export` writes it: it does not begin with `-----BEGIN PUBLIC KEY-----` (only whitespace may come before it)"),
        // Backups and witnesses.
        ("restore: not a backup", none.clone(), args(["restore", "--backup", "seed-us-east-1", "--key-label", "seed", "--from-transcript", "good.jsonl", "--signer", "signer.pem", "--record", "r.jsonl", "--signer-label", "ceremony-signer", "--pin-env", PIN_ENV]), 1, "keyrite: seed-us-east-1/manifest.json: it records a wrap for \"aws\", not a backup (--provider pkcs11-backup)"),
        ("restore: manifest truncated", f("b/manifest.json", b"{\"provider\": \"pkcs11-".to_vec()), args(["restore", "--backup", "b", "--key-label", "seed", "--transcript", "good.jsonl", "--signer", "signer.pem", "--record", "r.jsonl", "--signer-label", "ceremony-signer", "--pin-env", PIN_ENV]), 1, "keyrite: b/manifest.json: it is not valid JSON: EOF while parsing a string at line 1 column 21"),
        ("witness: a signature that is not one", f("w.sig", b"garbage".to_vec()), args(["witness", "add", "good.jsonl", "--signature", "w.sig", "--signer", "signer.pem", "--policy", "seed-policy.toml"]), 1, "keyrite: w.sig is not an SSH signature: PEM preamble contains invalid data (NUL byte)"),
    ];

    let objects_before = c.token.objects();
    let tree_before = tree(&dir);
    let mut wrong = Vec::new();
    for (name, files, args, status, expected) in &cases {
        let mut saved = Vec::new();
        for (path, bytes) in files {
            let path = dir.join(path);
            saved.push(std::fs::read(&path).ok());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let out = run(c.token.keyrite().args(args));
        for ((path, _), before) in files.iter().zip(saved) {
            match before {
                Some(bytes) => std::fs::write(dir.join(path), bytes).unwrap(),
                None => std::fs::remove_file(dir.join(path)).unwrap(),
            }
            if path.starts_with("b/") {
                std::fs::remove_dir(dir.join("b")).unwrap();
            }
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{name}: {stderr}"
        );
        // What went wrong on the first line, what to do on the second.
        // verify reports on standard output: its failed check is the message.
        let got = match stderr.lines().next() {
            Some(first) => first.to_owned(),
            None => stdout
                .lines()
                .find(|l| l.contains("FAILED"))
                .unwrap_or("")
                .trim()
                .to_owned(),
        };
        let lines = stderr.lines().count();
        let one_line_what_to_do = lines == 2 || (lines == 0 && args[0] == "verify");
        if out.status.code() != Some(*status)
            || got != *expected
            || ((*status == 1
                || (*status == 2 && args[0] != "verify" && got.starts_with("keyrite: ")))
                && !one_line_what_to_do)
        {
            wrong.push(format!("{name}\t{:?}\t{got}\t{lines}", out.status.code()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(cases.len(), 81);

    assert_eq!(tree(&dir), tree_before, "files changed");
    assert_eq!(c.token.objects(), objects_before, "token changed");
}

/// An output file replaced by a FIFO: `verify --outputs` reads only regular files, so it reports
/// the file as not one instead of waiting forever for a writer.
#[test]
fn verify_outputs_never_waits_on_a_fifo() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let token_file = c.dir().join("payments-2026-us-east-1/ImportToken.bin");
    std::fs::remove_file(&token_file).unwrap();
    run_ok(Command::new("mkfifo").arg(&token_file));
    let out = run(c
        .token
        .keyrite()
        .args([
            "verify",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
            "--outputs",
            ".",
        ])
        .stdin(std::process::Stdio::null()));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("payments-2026-us-east-1/ImportToken.bin is not a regular file"),
        "{stdout}"
    );
}
