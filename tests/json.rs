//! Every `--json` output, pinned from both sides. For each schema, real runs on SoftHSM2 tokens
//! are compared whole with a snapshot (insta, `tests/snapshots/json__*.snap`), with what
//! differs from run to run replaced by a name in brackets. The same runs are held to
//! docs/json.md: every field printed is in the schema's tables with the type the table gives,
//! and every field the tables say is always there is there. A field added, removed or retyped
//! without the docs fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use common::backup::{self, Proof, backup_key, recorded_backup};
use common::ceremony::Ceremony;
use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::{Value, json};

/// One field of a schema as docs/json.md documents it.
#[derive(Debug)]
struct Field {
    /// The JSON types it may have (`string`, `integer or null` as two, …).
    types: Vec<String>,
    /// Whether the table says it is always there.
    always: bool,
}

/// docs/json.md's tables: each schema (its `## \`NAME\`` heading) with its fields by path.
fn documented() -> BTreeMap<String, BTreeMap<String, Field>> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap();
    let mut schemas: BTreeMap<String, BTreeMap<String, Field>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            current = heading
                .strip_prefix('`')
                .and_then(|h| h.strip_suffix('`'))
                .map(str::to_owned);
            continue;
        }
        let Some(schema) = &current else { continue };
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert!(
            cells.len() >= 5,
            "docs/json.md: a row of four cells: {line}"
        );
        let path = cells[1].trim_matches('`').to_owned();
        let field = Field {
            types: cells[2].split(" or ").map(str::to_owned).collect(),
            always: cells[3] == "always",
        };
        let fields = schemas.entry(schema.clone()).or_default();
        assert!(
            fields.insert(path.clone(), field).is_none(),
            "docs/json.md documents {schema} {path} twice"
        );
    }
    schemas
}

/// Whether `value` is of the documented `kind`.
fn is_kind(value: &Value, kind: &str) -> bool {
    let all = |test: fn(&Value) -> bool| value.as_array().is_some_and(|a| a.iter().all(test));
    match kind {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "map of strings" => value
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string)),
        "array of objects" => all(Value::is_object),
        "array of strings" => all(Value::is_string),
        "array of integers" => all(|v| v.is_u64() || v.is_i64()),
        other => panic!("docs/json.md: unknown type {other:?}"),
    }
}

/// Holds the object `object`, at `path` (`""` at the top, `keys[]` for each key), to the
/// schema's `fields`: each of its fields documented, of a documented type, and each field
/// documented as always there, there. Every path seen is added to `seen`; what is wrong, to
/// `wrong`.
fn check_object(
    object: &Value,
    path: &str,
    fields: &BTreeMap<String, Field>,
    seen: &mut BTreeSet<String>,
    wrong: &mut Vec<String>,
) {
    let object = object.as_object().unwrap();
    let full = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    for (name, field) in fields {
        let (parent, last) = name.rsplit_once('.').unwrap_or(("", name));
        if parent == path && field.always && !object.contains_key(last) {
            wrong.push(format!(
                "{name} is documented as always there, and is missing"
            ));
        }
    }
    for (name, value) in object {
        let at = full(name);
        seen.insert(at.clone());
        let Some(field) = fields.get(&at) else {
            wrong.push(format!("{at} is printed ({value}) but not documented"));
            continue;
        };
        if !field.types.iter().any(|kind| is_kind(value, kind)) {
            wrong.push(format!("{at} is {value}, not {}", field.types.join(" or ")));
            continue;
        }
        if field.types.iter().any(|t| t == "object") && value.is_object() {
            check_object(value, &at, fields, seen, wrong);
        }
        if field.types.iter().any(|t| t == "array of objects") {
            for element in value.as_array().into_iter().flatten() {
                check_object(element, &format!("{at}[]"), fields, seen, wrong);
            }
        }
    }
}

/// Asserts that each of `outputs` is `schema`'s, as docs/json.md documents it, and that together
/// they print every field the tables document but those in `not_printed` (fields these runs
/// cannot make, each named by the caller).
fn assert_documented(schema: &str, outputs: &[&Value], not_printed: &[&str]) {
    let docs = documented();
    let fields = docs
        .get(schema)
        .unwrap_or_else(|| panic!("docs/json.md has no section for {schema}"));
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for output in outputs {
        assert_eq!(output["schema"], schema, "{output}");
        check_object(output, "", fields, &mut seen, &mut wrong);
    }
    for name in fields.keys() {
        if !seen.contains(name) && !not_printed.contains(&name.as_str()) {
            wrong.push(format!(
                "{name} is documented, and none of the runs printed it"
            ));
        }
    }
    for name in not_printed {
        assert!(
            fields.contains_key(*name) && !seen.contains(*name),
            "{name}: said not to be printed, but it is, or it is not documented"
        );
    }
    assert!(
        wrong.is_empty(),
        "{schema} and docs/json.md differ:\n{}",
        wrong.join("\n")
    );
}

/// The fields whose values differ from run to run, with the name that replaces them. (Check
/// values and digests, in whichever field, are found by their form: [`shown`].)
const VOLATILE: [(&str, &str); 8] = [
    ("serial", "[SERIAL]"),
    ("token_serial", "[SERIAL]"),
    ("slot", "[SLOT]"),
    ("uninitialized_slots", "[SLOT]"),
    ("id", "[ID]"),
    ("CKA_ID", "[ID]"),
    ("key_fingerprint", "[FINGERPRINT]"),
    ("keyrite_version", "[VERSION]"),
];

/// Whether `s` is `n` lowercase hex digits.
fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `text` with every run of 64 hex digits (a SHA-256) named `[SHA-256]`, every RFC 3339 time
/// `[TIME]`, and every SSH key fingerprint's base64 `[FINGERPRINT]`.
fn redact_patterns(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    while i < bytes.len() {
        let rest = &text[i..];
        let run = rest.bytes().take_while(|&b| hex(b)).count();
        let starts_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if starts_word && run == 64 {
            out.push_str("[SHA-256]");
            i += 64;
            continue;
        }
        let time = rest.as_bytes();
        let is_time = time.len() >= 19
            && time[..19].iter().enumerate().all(|(k, &b)| match k {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                _ => b.is_ascii_digit(),
            });
        if is_time {
            let len = 19
                + rest[19..]
                    .bytes()
                    .take_while(|b| b.is_ascii_digit() || b"+-:.Z".contains(b))
                    .count();
            out.push_str("[TIME]");
            i += len;
            continue;
        }
        if let Some(after) = rest.strip_prefix("SHA256:") {
            let len = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
                .count();
            if len > 0 {
                out.push_str("SHA256:[FINGERPRINT]");
                i += 7 + len;
                continue;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The pretty JSON `stdout` of a run, shown for a snapshot: each [`VOLATILE`] field's value (but
/// `null`) and each six-hex check value replaced by its name, each of `names` (directories) by
/// its name, then [`redact_patterns`].
fn shown(stdout: &[u8], names: &[(String, &str)]) -> String {
    let text = String::from_utf8(stdout.to_vec()).unwrap();
    let mut lines = Vec::new();
    // Inside an array of volatile values: its elements are replaced too.
    let mut inside: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(name) = inside {
            if trimmed.starts_with(']') {
                inside = None;
                lines.push(line.to_owned());
            } else {
                let comma = if trimmed.ends_with(',') { "," } else { "" };
                lines.push(format!("{indent}\"{name}\"{comma}"));
            }
            continue;
        }
        let Some((key, value)) = trimmed.strip_prefix('"').and_then(|t| t.split_once("\": "))
        else {
            lines.push(line.to_owned());
            continue;
        };
        let comma = if value.ends_with(',') { "," } else { "" };
        let bare = value.trim_end_matches(',');
        let named = VOLATILE.iter().find(|(k, _)| *k == key).map(|(_, n)| *n);
        let replaced = match named {
            Some(name) if bare == "[" => {
                inside = Some(name);
                None
            }
            Some(name) if bare != "null" && bare != "[]" => Some(name),
            _ if bare.len() == 8 && is_hex(bare.trim_matches('"'), 6) => Some("[KCV]"),
            _ => None,
        };
        match replaced {
            Some(name) => lines.push(format!("{indent}\"{key}\": \"{name}\"{comma}")),
            None => lines.push(line.to_owned()),
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    for (value, name) in names {
        text = text.replace(value.as_str(), name);
    }
    redact_patterns(&text)
}

/// A token's directory, absolute and canonical, each named `name`.
fn dir_names(token: &TestToken, name: &'static str) -> Vec<(String, &'static str)> {
    let dir = token.dir.path();
    vec![
        (dir.canonicalize().unwrap().display().to_string(), name),
        (dir.display().to_string(), name),
    ]
}

/// A run that must exit `code` and print JSON: the output parsed, and its part of a snapshot
/// (`label`, then the redacted JSON).
fn json_run(
    label: &str,
    out: &Output,
    code: i32,
    names: &[(String, &str)],
    snapshot: &mut String,
) -> Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    snapshot.push_str(&format!(
        "$ keyrite {label}\n{}\n",
        shown(&out.stdout, names)
    ));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn docs_json_md_documents_exactly_the_five_schemas() {
    let names: Vec<String> = documented().into_keys().collect();
    assert_eq!(
        names,
        [
            "keyrite.keys.list/1",
            "keyrite.restore/1",
            "keyrite.token.info/1",
            "keyrite.verify/1",
            "keyrite.wrap/1",
        ]
    );
    for (schema, fields) in documented() {
        assert!(
            fields.contains_key("schema") && fields["schema"].always,
            "{schema}: schema is always there"
        );
    }
}

#[test]
fn verify_json_is_keyrite_verify_1_as_documented() {
    let c = Ceremony::new(&["us-east-1"]);
    c.run_approved("t.jsonl");
    let witnessed = c.witness_sign("t.jsonl", "wendy");
    assert!(witnessed.status.success());
    // A transcript with a line dropped: the chain breaks there.
    let text = std::fs::read_to_string(c.dir().join("t.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    std::fs::write(c.dir().join("dropped.jsonl"), lines.join("\n") + "\n").unwrap();
    let names = dir_names(&c.token, "[DIR]");
    let mut snapshot = String::new();
    let all = [
        "--policy",
        "policy.toml",
        "--plan",
        "plan.toml",
        "--outputs",
        ".",
    ];
    let mut runs = Vec::new();
    for (transcript, extra, code) in [
        ("t.jsonl", &all[..], 0),
        ("t.jsonl", &[][..], 4),
        ("dropped.jsonl", &["--policy", "policy.toml"][..], 1),
    ] {
        let mut args = extra.to_vec();
        args.push("--json");
        let out = c.verify(transcript, &args);
        let shown_args = if extra.is_empty() {
            "--no-policy --json".to_owned()
        } else {
            args.join(" ")
        };
        let label = format!("verify {transcript} --signer signer.pem {shown_args}");
        runs.push(json_run(&label, &out, code, &names, &mut snapshot));
    }
    assert_eq!(runs[0]["verdict"], "verified");
    assert_eq!(runs[0]["witnesses"][0]["verified"], true);
    assert_eq!(runs[1]["verdict"], "not_approved");
    assert_eq!(runs[1]["witnesses"][0]["verified"], Value::Null);
    assert_eq!(runs[2]["verdict"], "invalid");
    insta::assert_snapshot!("verify", snapshot);
    assert_documented("keyrite.verify/1", &runs.iter().collect::<Vec<_>>(), &[]);
}

#[test]
fn wrap_and_rewrap_json_are_keyrite_wrap_1_as_documented() {
    let token = TestToken::softhsm("ceremony");
    let _kms = aws_kms(token.dir.path(), "params.json");
    let vault = TestToken::softhsm("vault-b");
    let (pem, _) = backup_key(&vault);
    let mut names = dir_names(&token, "[DIR]");
    names.extend(dir_names(&vault, "[BACKUP DIR]"));
    let mut snapshot = String::new();
    let mut runs = Vec::new();
    let mut each = |label: &str, wrap: Wrap, snapshot: &mut String| {
        let out = wrap.arg("--json").run(&token);
        let value = json_run(label, &out, 0, &names, snapshot);
        runs.push(value.clone());
        value
    };
    let wrapped = each(
        "wrap --provider aws … --key-label payments --out first --json",
        Wrap::aws("params.json")
            .algorithm(OAEP_SHA1)
            .label("payments")
            .out("first")
            .pin(),
        &mut snapshot,
    );
    // The output is the manifest written, after its schema.
    let mut manifest = wrapped.clone();
    manifest.as_object_mut().unwrap().remove("schema");
    assert_eq!(manifest, common::manifest(&token.path("first")));
    let kcv = wrapped["key"]["kcv"].as_str().unwrap().to_owned();
    let rewrapped = each(
        "rewrap --provider aws … --key-label payments --out second --expect-kcv KCV --json",
        Wrap::rewrap()
            .aws_oaep_sha1("params.json", "payments", "second")
            .expect_kcv(&kcv)
            .pin(),
        &mut snapshot,
    );
    assert_eq!(rewrapped["action"], "rewrap");
    let backed_up = each(
        "wrap --provider pkcs11-backup … --key-label treasury --out backup --json",
        Wrap::new("wrap")
            .provider("pkcs11-backup", &pem)
            .algorithm(OAEP_SHA1)
            .label("treasury")
            .out("backup")
            .pin(),
        &mut snapshot,
    );
    assert!(backed_up["key"]["check_values"].is_object());
    insta::assert_snapshot!("wrap", snapshot);
    assert_documented(
        "keyrite.wrap/1",
        &runs.iter().collect::<Vec<_>>(),
        // Only gcp, azure and vault name a wrapping key apart from the KMS key; only kryoptic
        // makes P-521 keys whose encoding is not RFC 5915; an AWS or backup wrapping key is never
        // attested (tests/attest.rs checks an attested manifest's fields).
        &[
            "wrapping_key_id",
            "key.discarded",
            "wrapping_key_attestation.source",
            "wrapping_key_attestation.format",
            "wrapping_key_attestation.chains",
            "wrapping_key_attestation.partition_key_sha256",
            "wrapping_key_attestation.handle",
            "wrapping_key_attestation.attributes",
            "wrapping_key_attestation.wrapping_key_sha256",
        ],
    );
}

#[test]
fn restore_json_is_keyrite_restore_1_as_documented() {
    let src = TestToken::softhsm("primary");
    let dst = TestToken::softhsm("vault-b");
    let (pem, _) = backup_key(&dst);
    // One backup recorded, restored by its record; one not, restored by its full check value.
    let record = recorded_backup(
        &src,
        &pem,
        OAEP_SHA1,
        "payments",
        "AES_256",
        &dst.path("backup"),
    );
    let unrecorded: Value = serde_json::from_slice(
        &Wrap::new("wrap")
            .provider("pkcs11-backup", &pem)
            .algorithm(OAEP_SHA1)
            .label("treasury")
            .out(dst.path("treasury"))
            .pin()
            .arg("--json")
            .ok(&src),
    )
    .unwrap();
    let full = unrecorded["key"]["check_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut names = dir_names(&src, "[SOURCE DIR]");
    names.extend(dir_names(&dst, "[DIR]"));
    let mut snapshot = String::new();
    let by_record = backup::restore(
        &dst,
        "backup",
        "payments",
        Proof::Record(&record),
        &["--json", "--pin-env", PIN_ENV],
    );
    let by_record = json_run(
        "restore --backup backup --key-label payments --from-transcript T --signer PEM … --json",
        &by_record.out,
        0,
        &names,
        &mut snapshot,
    );
    let by_kcv = backup::restore(
        &dst,
        "treasury",
        "treasury",
        Proof::Kcv(&full),
        &["--json", "--pin-env", PIN_ENV],
    );
    let by_kcv = json_run(
        "restore --backup treasury --key-label treasury --expect-kcv HEX … --json",
        &by_kcv.out,
        0,
        &names,
        &mut snapshot,
    );
    assert_eq!(by_record["provenance"]["by"], "transcript");
    assert_eq!(by_kcv["provenance"]["by"], "expected_kcv");
    assert_eq!(by_kcv["expected"], full.as_str());
    insta::assert_snapshot!("restore", snapshot);
    assert_documented("keyrite.restore/1", &[&by_record, &by_kcv], &[]);
}

#[test]
fn keys_list_json_is_keyrite_keys_list_1_names_its_token_and_splits_each_kind() {
    let c = Ceremony::new(&["us-east-1"]);
    Wrap::aws("params/us-east-1.json")
        .algorithm(OAEP_SHA1)
        .label("payments")
        .out("payments")
        .pin()
        .ok(&c.token);
    // A secret key anyone could have made: a public object, of a value chosen.
    c.token.plant_key("planted", &[7; 32], false);
    let out = run(c
        .token
        .keyrite()
        .args(["keys", "list", "--json", "--pin-env", PIN_ENV]));
    assert!(out.stdout.is_ascii(), "keys list --json writes ASCII only");
    let mut snapshot = String::new();
    let listed = json_run(
        "keys list --json --pin-env KR_TEST_PIN",
        &out,
        0,
        &dir_names(&c.token, "[DIR]"),
        &mut snapshot,
    );
    let info = c.token.token_info();
    let token = &info["tokens"][0];
    for field in ["label", "serial", "manufacturer", "model", "firmware"] {
        assert_eq!(listed["token"][field], token[field], "token.{field}");
    }
    assert_eq!(listed["token"]["module"], info["module"]);
    let kinds: Vec<Value> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| json!([k["label"], k["spec"], k["type"], k["bits"], k["curve"]]))
        .collect();
    assert_eq!(
        kinds,
        [
            json!(["ceremony-signer", "EC_P256", "EC", 256, "P-256"]),
            json!(["payments", "AES_256", "AES", 256, null]),
            json!(["planted", "AES_256", "AES", 256, null]),
        ]
    );
    insta::assert_snapshot!("keys_list", snapshot);
    assert_documented("keyrite.keys.list/1", &[&listed], &[]);
}

#[test]
fn token_info_json_is_keyrite_token_info_1_as_documented() {
    let token = TestToken::softhsm("ceremony");
    let names = dir_names(&token, "[DIR]");
    let mut snapshot = String::new();
    let mut runs = Vec::new();
    for (label, args) in [
        ("token info --json", &["token", "info", "--json"][..]),
        (
            "token info --json --pin-env KR_TEST_PIN",
            &["token", "info", "--json", "--pin-env", PIN_ENV][..],
        ),
    ] {
        let out = run(token.keyrite().args(args));
        runs.push(json_run(label, &out, 0, &names, &mut snapshot));
    }
    insta::assert_snapshot!("token_info", snapshot);
    assert_documented(
        "keyrite.token.info/1",
        &runs.iter().collect::<Vec<_>>(),
        // A token that makes no object without a login, and a slot whose token info does not
        // read: tests/token_trials.rs and tests/slots.rs make them, with a shim.
        &["tokens[].login_needed", "warnings"],
    );
}
