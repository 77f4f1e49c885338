//! A file editor's backup: whoever can replace a backup directory wraps an AES key of their own
//! under the backup token's public key (which anyone may hold) and writes a manifest whose check
//! values match it. `restore` believes no manifest on its own: the directory must be one that a
//! transcript sealed by the signer the restorer trusts records, file for file, so the forged
//! directory is refused before the backup token is opened and nothing is put into it. Without
//! that record, the key's full check value given out of band decides, never a 3-byte one; the
//! source token the record names must be the manifest's; and every restore is itself recorded,
//! sealed by the backup token's signer, in a transcript the three verifiers check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::backup::{self, Proof, Record, backup_key, recorded_backup};
use common::wrap::{OAEP_SHA1, Wrap};
use common::*;
use serde_json::{Value, json};

const NOT_RECORDED_HINT: &str = "Pass the sealed transcript of the run that made the backup \
     (keyrite wrap --provider pkcs11-backup --transcript, or a ceremony's wrap step), and check \
     the directory with `keyrite verify T --outputs DIR`.\n";

/// `keyrite restore` on `dst` of `dir` for "payments", with `transcript` and `signer`.
fn restore(dst: &TestToken, dir: &Path, transcript: &Path, signer: &Path) -> std::process::Output {
    let record = Record {
        transcript: transcript.to_owned(),
        signer: signer.to_owned(),
    };
    backup::restore(
        dst,
        dir,
        "payments",
        Proof::Record(&record),
        &["--json", "--pin-env", PIN_ENV],
    )
    .out
}

fn refused(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Every file in `dir`, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for (name, bytes) in files(from) {
        std::fs::write(to.join(name), bytes).unwrap();
    }
}

/// The key a forger wraps in place of the real one.
const ATTACKER_KEY: [u8; 32] = [0x5a; 32];

/// The attacker's copy of `backup` in `dst`'s directory: their own AES-256 key
/// ([`ATTACKER_KEY`]) wrapped in software (Python `cryptography`) under the backup key `pem`,
/// with the real manifest's check values recomputed for it and the digest updated.
fn forge(dst: &TestToken, backup: &Path, pem: &Path) -> PathBuf {
    let forged = dst.path("attacker");
    copy_dir(backup, &forged);
    run_ok(
        Command::new(PYTHON)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/independent/forge_backup.py"
            ))
            .arg(pem)
            .arg(hex::encode(ATTACKER_KEY))
            .arg(forged.join("backup.bin")),
    );
    let mut m = manifest(&forged);
    let methods: Vec<String> = m["key"]["check_values"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(!methods.is_empty());
    for method in methods {
        m["key"]["check_values"][&method] = json!(kcv_python(&method, &ATTACKER_KEY));
    }
    m["files"]["backup.bin"] = json!(sha256sum(&forged.join("backup.bin")));
    write_json(&forged, "manifest.json", &m);
    assert_ne!(
        std::fs::read(forged.join("backup.bin")).unwrap(),
        std::fs::read(backup.join("backup.bin")).unwrap()
    );
    forged
}

/// A P-256 key of the forger's own, and its public PEM.
fn forger_key(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("forger.pem");
    let public = dir.join("forger.pub.pem");
    run_ok(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&key),
    );
    run_ok(
        Command::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public),
    );
    (key, public)
}

#[test]
fn a_backup_directory_no_sealed_record_wrote_is_refused_and_the_backup_token_is_unchanged() {
    let src = TestToken::softhsm("primary");
    let dst = TestToken::softhsm("vault-b");

    // The backup token's key; its public half is no secret.
    let (pem, _) = backup_key(&dst);

    // The real, recorded backup: generated and backed up in one run sealed by the source
    // token's signer, whose public key the security team holds.
    let backup = dst.path("backup");
    let Record { transcript, signer } = recorded_backup(
        &src,
        &pem,
        "RSAES_OAEP_SHA_1",
        "payments",
        "AES_256",
        &backup,
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();

    // The attacker's directory.
    let forged = forge(&dst, &backup, &pem);

    let objects = dst.objects();
    let not_recorded = |dir: &Path, transcript: &Path, reason: &str| {
        format!(
            "keyrite: {} is not an output {} records: {reason}\n{NOT_RECORDED_HINT}",
            dir.display(),
            transcript.display()
        )
    };

    // The attack: refused, nothing put into the backup token.
    let out = restore(&dst, &forged, &transcript, &signer);
    assert_eq!(
        refused(&out),
        not_recorded(
            &forged,
            &transcript,
            "no wrap it records wrote this manifest.json"
        )
    );
    assert_eq!(
        dst.objects(),
        objects,
        "the forged restore changed the token"
    );

    // An extra file in the real backup directory: refused.
    std::fs::write(backup.join("notes.txt"), b"restore me\n").unwrap();
    let out = restore(&dst, &backup, &transcript, &signer);
    assert_eq!(
        refused(&out),
        not_recorded(
            &backup,
            &transcript,
            "notes.txt is in no record of this output"
        )
    );
    std::fs::remove_file(backup.join("notes.txt")).unwrap();

    // A FIFO in it, or the directory a symbolic link: refused before anything is opened.
    let fifo = backup.join("pipe");
    run_ok(Command::new("mkfifo").arg(&fifo));
    let out = restore(&dst, &backup, &transcript, &signer);
    assert_eq!(
        refused(&out).lines().next().unwrap(),
        format!(
            "keyrite: {}: it is not a regular file (a backup holds only the files keyrite wrote)",
            fifo.display()
        )
    );
    std::fs::remove_file(&fifo).unwrap();
    let link = dst.path("link");
    std::os::unix::fs::symlink(&backup, &link).unwrap();
    let out = restore(&dst, &link, &transcript, &signer);
    assert_eq!(
        refused(&out).lines().next().unwrap(),
        format!(
            "keyrite: {}: it is a symbolic link, not the backup directory itself",
            link.display()
        )
    );

    // A transcript sealed again by a forger's key. Under the real signer it does not verify;
    // under the forger's own --signer it verifies, but still records the real backup, not the
    // attacker's. (The restorer's --signer is their trust anchor, as verify's is: a forger who
    // writes a whole transcript of their own verifies under their own key, which is why restore
    // takes the signer.pem the security team holds, never one that came with the backup.)
    let (forger, forger_pub) = forger_key(src.dir.path());
    let resealed = src.path("resealed.jsonl");
    run_ok(
        Command::new(PYTHON)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/independent/reseal.py"
            ))
            .arg(&transcript)
            .arg(&resealed)
            .arg(&forger),
    );
    let out = restore(&dst, &forged, &resealed, &signer);
    let stderr = refused(&out);
    assert!(
        stderr.starts_with(&format!(
            "keyrite: {} does not verify: ",
            resealed.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            "Pass a transcript that `keyrite verify T --signer PEM` reports VERIFIED, with the \
             signer.pem the security team holds: a transcript sealed by any other key proves \
             nothing.\n"
        ),
        "{stderr}"
    );
    let out = restore(&dst, &forged, &resealed, &forger_pub);
    assert_eq!(
        refused(&out),
        not_recorded(
            &forged,
            &resealed,
            "no wrap it records wrote this manifest.json"
        )
    );

    // The transcript without its seal: refused.
    let unsealed = src.path("unsealed.jsonl");
    let text = std::fs::read_to_string(&transcript).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).unwrap()["step"] != "seal")
        .collect();
    std::fs::write(&unsealed, kept.join("\n") + "\n").unwrap();
    let out = restore(&dst, &backup, &unsealed, &signer);
    let stderr = refused(&out);
    assert!(
        stderr.starts_with(&format!(
            "keyrite: {} does not verify: ",
            unsealed.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        dst.objects(),
        objects,
        "a refused restore changed the token"
    );

    // Everything right: the real backup restores, the same key as on the source token.
    let out = restore(&dst, &backup, &transcript, &signer);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
    let payments = src.listed_key("payments");
    assert_eq!(restored["id"], payments["id"]);
    let matched = restored["matched"].as_object().unwrap();
    assert!(!matched.is_empty(), "{restored}");
    for (method, value) in matched {
        assert_eq!(
            value, &manifest["key"]["check_values"][method],
            "{method}: the key the source token backed up"
        );
        assert_ne!(
            value.as_str().unwrap(),
            kcv_python(method, &ATTACKER_KEY),
            "{method}: not the attacker's key"
        );
    }
}

/// The material of the key `label` on `src`, as a KMS receives it: rewrapped there for AWS
/// under a fresh KMS key and unwrapped with its private key (the `rsa` crate).
fn material(src: &TestToken, label: &str) -> Vec<u8> {
    let kcv = src.listed_key(label)["kcv"].as_str().unwrap().to_owned();
    let kms = aws_kms(src.dir.path(), "kms.json");
    Wrap::rewrap()
        .provider("aws", "kms.json")
        .algorithm(OAEP_SHA1)
        .label(label)
        .expect_kcv(&kcv)
        .out("kms-out")
        .pin()
        .ok(src);
    kms.unwrap_rsa_crate(
        &std::fs::read(src.path("kms-out/EncryptedKeyMaterial.bin")).unwrap(),
        "RSAES_OAEP_SHA_1",
    )
}

/// The lines of a transcript, parsed.
fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A restore without a record, or without proof of where the backup came from, is refused
/// before anything is read or opened.
#[test]
fn a_restore_without_a_record_or_a_proof_is_refused() {
    let dst = TestToken::softhsm("vault-b");
    let bare = |args: &[&str]| {
        run(dst
            .keyrite()
            .args(["--module", "/nonexistent/module.so", "restore"])
            .args(["--backup", "nowhere", "--key-label", "payments"])
            .args(args))
    };
    let out = bare(&["--expect-kcv", &"ab".repeat(32)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "keyrite: restore needs --record R.jsonl and --signer-label S: a restore puts a key under \
         a ceremony label on this token, and is believed only from its sealed record\n\
         Give --record (a new transcript file) and --signer-label (this token's signer, from \
         `keyrite token signer create`); check the record with `keyrite verify R.jsonl --signer \
         PEM --no-policy`.\n"
    );
    let out = bare(&["--record", "r.jsonl", "--signer-label", "restore-signer"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "keyrite: restore needs proof of where the backup came from: --from-transcript T --signer PEM \
         (the sealed record of the run that made it), or --expect-kcv HEX (the key's check \
         value, given out of band)\n\
         Anyone can write a backup directory under the backup key's public key: pass one of the \
         two.\n"
    );
    let out = bare(&[
        "--expect-kcv",
        "22a48",
        "--record",
        "r.jsonl",
        "--signer-label",
        "s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a check value: give the 64 hex digits"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dst.path("r.jsonl").exists());
}

/// Without the backup's sealed record, the check value given out of band decides: a forged
/// backup (the attacker's key, wrapped by Python `cryptography` under the backup public key,
/// with a manifest to match) is refused against the genuine key's full check value, and
/// destroyed; a 3-byte value, which a forger who chooses the key matches in 2^24 tries, is
/// refused where the token computes the full value; the genuine backup restores against its
/// full value, which is the SHA-256 of the material a KMS receives. Each restore that reached
/// the token is in a sealed record that the three verifiers check.
#[test]
fn out_of_band_the_full_check_value_decides_and_a_3_byte_one_is_not_enough() {
    let src = TestToken::softhsm("primary");
    let dst = TestToken::softhsm("vault-b");
    let (pem, _) = backup_key(&dst);
    let backup = dst.path("backup");
    recorded_backup(
        &src,
        &pem,
        "RSAES_OAEP_SHA_1",
        "payments",
        "AES_256",
        &backup,
    );
    let genuine = sha256_hex(&material(&src, "payments"));
    let attacker = sha256_hex(&ATTACKER_KEY);
    let forged = forge(&dst, &backup, &pem);
    let objects = dst.objects();
    let by_kcv = |dir: &Path, kcv: &str| {
        backup::restore(
            &dst,
            dir,
            "payments",
            Proof::Kcv(kcv),
            &["--json", "--pin-env", PIN_ENV],
        )
    };
    let failed_and_sealed = |done: &backup::Restore| {
        let steps: Vec<String> = lines(&done.record)
            .iter()
            .map(|l| l["step"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(steps, ["token", "restore", "failure", "finish", "seal"]);
        assert_eq!(
            common::verifiers::verifier_codes(&done.record, &done.signer, None, None),
            [3, 3, 3],
            "a failed restore, sealed"
        );
    };

    // The forged backup against the genuine key's full check value: unwrapped, compared,
    // destroyed.
    let done = by_kcv(&forged, &genuine);
    assert_refused(
        &done.out.stderr,
        &format!(
            "keyrite: the restored key's full SHA-256 (C_DigestKey) check value is {attacker}, not \
             the {genuine} given with --expect-kcv: it is not the key expected, so it was \
             destroyed\n"
        ),
        "forged backup, full value",
    );
    assert_eq!(
        dst.objects(),
        objects,
        "the forged key was left on the token"
    );
    failed_and_sealed(&done);
    let restore_line = &lines(&done.record)[1];
    assert_eq!(
        restore_line["data"]["provenance"],
        json!({"by": "expected_kcv", "value": genuine})
    );

    // A 3-byte value that the forged key matches (a forger picks keys until one does: about
    // 2^24 tries): refused, since this token computes the full value; the forged key is gone.
    let short = kcv_python("sha256-3", &ATTACKER_KEY);
    for dir in [&forged, &backup] {
        let done = by_kcv(dir, &short);
        assert_refused(
            &done.out.stderr,
            &format!(
                "keyrite: --expect-kcv {short} is a 3-byte check value, which anyone who chooses \
                 the key matches in about 2^24 tries (seconds); this token computes the key's \
                 full check value, the SHA-256 of its value by C_DigestKey, so only that proves \
                 the key, and nothing was left on the token\n"
            ),
            "3-byte value",
        );
        assert_eq!(dst.objects(), objects);
        failed_and_sealed(&done);
    }

    // The genuine backup against its full value: restored, and recorded.
    let done = by_kcv(&backup, &genuine.to_uppercase());
    assert!(
        done.out.status.success(),
        "{}",
        String::from_utf8_lossy(&done.out.stderr)
    );
    let restored: Value = serde_json::from_slice(&done.out.stdout).unwrap();
    assert_eq!(restored["check_sha256"], genuine.as_str());
    assert_eq!(restored["expected"], genuine.as_str());
    assert_eq!(restored["provenance"]["by"], "expected_kcv");
    let record = lines(&done.record);
    assert_eq!(record[2]["step"], "restored");
    assert_eq!(record[2]["data"]["expected"], genuine.as_str());
    assert_eq!(record[2]["data"]["check_sha256"], genuine.as_str());
    assert_eq!(
        common::verifiers::verifier_codes(&done.record, &done.signer, None, None),
        [4, 4, 4],
        "the recorded restore verifies (NOT APPROVED: no policy approves a restore)"
    );
}

/// The source token: the manifest names it, the backup's sealed record names it in its token
/// line, and they must agree. A manifest edited to claim another source is in no record; a
/// record whose token line a PIN holder of the source token rewrote and resealed names another
/// source than the manifest and is refused. A real restore shows the source token's serial and
/// records it with everything that proved the backup: the three verifiers check that record,
/// and refuse it once a restored line is edited, or a PIN holder of the backup token reseals it
/// with its restore line dropped or its restored line naming another key.
#[test]
fn the_source_token_is_checked_and_the_restore_is_recorded_and_verified() {
    use common::verifiers::{VERIFIERS, pin_holder_reseal, verifiers, write_lines};
    let src = TestToken::softhsm("primary");
    let dst = TestToken::softhsm("vault-b");
    let (pem, _) = backup_key(&dst);
    let backup = dst.path("backup");
    let record = recorded_backup(
        &src,
        &pem,
        "RSAES_OAEP_SHA_1",
        "payments",
        "AES_256",
        &backup,
    );
    let m = manifest(&backup);
    let source_lines = lines(&record.transcript);
    let token_line = source_lines.iter().find(|l| l["step"] == "token").unwrap();
    let serial = token_line["data"]["serial"].as_str().unwrap().to_owned();
    assert_eq!(m["token"]["serial"], serial.as_str());
    assert_eq!(m["token"]["label"], "primary");
    let objects = dst.objects();
    let by_record = |dir: &Path, record: &Record, extra: &[&str]| {
        backup::restore(
            &dst,
            dir,
            "payments",
            Proof::Record(record),
            &[extra, &["--pin-env", PIN_ENV]].concat(),
        )
    };

    // The manifest made to claim another source token, re-digested: no record wrote it.
    let claimed = dst.path("claimed");
    copy_dir(&backup, &claimed);
    let mut cm = m.clone();
    cm["token"]["serial"] = json!("0000000000000000");
    write_json(&claimed, "manifest.json", &cm);
    let done = by_record(&claimed, &record, &[]);
    assert_eq!(
        refused(&done.out),
        format!(
            "keyrite: {} is not an output {} records: no wrap it records wrote this manifest.json\n{NOT_RECORDED_HINT}",
            claimed.display(),
            record.transcript.display()
        )
    );
    assert!(!done.record.exists(), "refused before the token is opened");

    // The source token's PIN holder rewrites the record's token line and reseals it with the
    // token's own signer: it verifies, but names another source than the manifest.
    let mut rewritten = source_lines.clone();
    let at = rewritten.iter().position(|l| l["step"] == "token").unwrap();
    rewritten[at]["data"]["serial"] = json!("0000000000000000");
    rewritten[at]["data"]["label"] = json!("elsewhere");
    let resealed = src.path("resealed.jsonl");
    write_lines(
        &resealed,
        &pin_holder_reseal(&src, backup::SIGNER, &rewritten),
    );
    let other = Record {
        transcript: resealed.clone(),
        signer: record.signer.clone(),
    };
    let done = by_record(&backup, &other, &[]);
    assert_eq!(
        refused(&done.out),
        format!(
            "keyrite: the backup's manifest claims source token \"primary\" (serial {serial}), but \
             the token line of {} records token \"elsewhere\" (serial 0000000000000000)\n\
             Pass the transcript of the run on the token that made this backup, and check the \
             directory with `keyrite verify T --outputs DIR`.\n",
            resealed.display()
        )
    );
    assert_eq!(dst.objects(), objects);

    // The real restore: the source token shown, and everything that proved the backup recorded.
    let done = by_record(&backup, &record, &[]);
    assert!(
        done.out.status.success(),
        "{}",
        String::from_utf8_lossy(&done.out.stderr)
    );
    let stdout = String::from_utf8(done.out.stdout.clone()).unwrap();
    assert!(
        stdout.contains(&format!(
            "  From token \"primary\" (serial {serial}), as the manifest and the token line of {} (sealed by {}) record it\n",
            record.transcript.display(),
            sha256_hex(&pem_der(&record.signer))
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with(&format!(
        "Recorded and sealed in {}.\n",
        done.record.display()
    )));
    let r = lines(&done.record);
    let steps: Vec<&str> = r.iter().map(|l| l["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["token", "restore", "restored", "finish", "seal"]);
    assert_eq!(r[0]["data"]["label"], "vault-b");
    assert_eq!(r[0]["data"]["signer_label"], backup::RESTORE_SIGNER);
    let d = &r[1]["data"];
    assert_eq!(
        d["manifest_sha256"],
        sha256sum(&backup.join("manifest.json"))
    );
    for (name, digest) in d["files"].as_object().unwrap() {
        assert_eq!(digest, &json!(sha256sum(&backup.join(name))), "{name}");
    }
    assert_eq!(d["files"].as_object().unwrap().len(), files(&backup).len());
    assert_eq!(d["source"], json!({"label": "primary", "serial": serial}));
    let p = &d["provenance"];
    assert_eq!(p["by"], "transcript");
    assert_eq!(p["sha256"], sha256sum(&record.transcript));
    assert_eq!(p["chain_head"], source_lines.last().unwrap()["prev"]);
    assert_eq!(p["token_serial"], serial.as_str());
    assert_eq!(
        p["signer_fingerprint"],
        sha256_hex(&pem_der(&record.signer))
    );
    let k = &r[2]["data"]["key"];
    assert_eq!(k["label"], "payments");
    assert_eq!(k["id"], m["key"]["id"]);
    assert_eq!(k["spec"], "AES_256");
    assert_eq!(
        r[2]["data"]["matched"]["sha256-3"],
        m["key"]["check_values"]["sha256-3"]
    );
    assert_eq!(r[3]["data"]["outcome"], "completed");

    // The three verifiers agree the record is intact (NOT APPROVED without a policy), and the
    // report shows the restore.
    let html = dst.path("report.html");
    let outs = verifiers(
        &done.record,
        &done.signer,
        None,
        None,
        &["--report", html.to_str().unwrap()],
    );
    for (name, out) in VERIFIERS.iter().zip(&outs) {
        assert_eq!(
            out.status.code(),
            Some(4),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(html.contains("<h2 id=\"restore\">Restore</h2>"), "{html}");
    assert!(html.contains(&serial));
    assert!(html.contains(p["chain_head"].as_str().unwrap()));

    // Tampered records, each refused by all three.
    let fails_everywhere = |what: &str, lines: &[String]| {
        let path = dst.path(&format!("{what}.jsonl"));
        write_lines(&path, lines);
        for (name, out) in VERIFIERS
            .iter()
            .zip(verifiers(&path, &done.signer, None, None, &[]))
        {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{what}: {name}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        path
    };
    let text: Vec<String> = std::fs::read_to_string(&done.record)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut edited = text.clone();
    edited[2] = edited[2].replacen(k["id"].as_str().unwrap(), &"0".repeat(32), 1);
    assert_ne!(edited[2], text[2]);
    fails_everywhere("edited", &edited);
    // A PIN holder of the backup token reseals with its signer: every signature holds, and the
    // structure check catches what the record says.
    let mut dropped = r.clone();
    dropped.remove(1);
    let dropped = fails_everywhere(
        "no-restore-line",
        &pin_holder_reseal(&dst, backup::RESTORE_SIGNER, &dropped),
    );
    let json = run(dst
        .keyrite()
        .arg("verify")
        .arg(&dropped)
        .arg("--signer")
        .arg(&done.signer)
        .arg("--no-policy"));
    assert!(
        String::from_utf8_lossy(&json.stdout)
            .contains("line 2: a restored line without a restore line before it"),
        "{}",
        String::from_utf8_lossy(&json.stdout)
    );
    let mut renamed = r.clone();
    renamed[2]["data"]["key"]["label"] = json!("payments-2027");
    fails_everywhere(
        "other-key",
        &pin_holder_reseal(&dst, backup::RESTORE_SIGNER, &renamed),
    );
    let mut unanswered = r.clone();
    unanswered.remove(2);
    fails_everywhere(
        "no-restored-line",
        &pin_holder_reseal(&dst, backup::RESTORE_SIGNER, &unanswered),
    );
    // Untampered, resealed the same way: all three still pass it (the cases above fail for what
    // they say, not for the resealing).
    let same = dst.path("same.jsonl");
    write_lines(&same, &pin_holder_reseal(&dst, backup::RESTORE_SIGNER, &r));
    assert_eq!(
        common::verifiers::verifier_codes(&same, &done.signer, None, None),
        [4, 4, 4]
    );
}

/// The DER of a PEM public key, by `openssl`.
fn pem_der(pem: &Path) -> Vec<u8> {
    run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(pem),
    )
}
