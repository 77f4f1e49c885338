//! A file editor's backup: whoever can replace a backup directory wraps an AES key of their own
//! under the backup token's public key (which anyone may hold) and writes a manifest whose check
//! values match it. `restore` believes no manifest on its own: the directory must be one that a
//! transcript sealed by the signer the restorer trusts records, file for file, so the forged
//! directory is refused before the backup token is opened and nothing is put into it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{Value, json};

const NOT_RECORDED_HINT: &str = "Pass the sealed transcript of the run that made the backup \
     (keyrite wrap --provider pkcs11-backup --transcript, or a ceremony's wrap step), and check \
     the directory with `keyrite verify T --outputs DIR`.\n";

/// `keyrite restore` on `dst` of `dir` for "payments", with `transcript` and `signer`.
fn restore(dst: &TestToken, dir: &Path, transcript: &Path, signer: &Path) -> std::process::Output {
    run(dst
        .keyrite()
        .args(["restore", "--backup"])
        .arg(dir)
        .args(["--key-label", "payments", "--transcript"])
        .arg(transcript)
        .arg("--signer")
        .arg(signer)
        .args(["--json", "--pin-env", PIN_ENV]))
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
    let created = run(dst
        .keyrite()
        .args(["token", "backup-key", "create", "--label", "backup-2026"])
        .args(["--pin-env", PIN_ENV]));
    assert!(created.status.success());
    let pem = dst.path("backup-2026.pem");
    std::fs::write(&pem, &created.stdout).unwrap();

    // The real, recorded backup: generated and backed up in one run sealed by the source
    // token's signer, whose public key the security team holds.
    let made = run(src
        .keyrite()
        .args(["token", "signer", "create", "--label", "ceremony-signer"])
        .args(["--pin-env", PIN_ENV]));
    assert!(made.status.success());
    let signer = src.path("signer.pem");
    std::fs::write(&signer, &made.stdout).unwrap();
    let backup = dst.path("backup");
    let transcript = src.path("backup.jsonl");
    run_ok(
        src.keyrite()
            .args(["wrap", "--provider", "pkcs11-backup", "--params"])
            .arg(&pem)
            .args(["--algorithm", "RSAES_OAEP_SHA_1"])
            .args(["--key-label", "payments", "--key-spec", "AES_256", "--out"])
            .arg(&backup)
            .arg("--transcript")
            .arg(&transcript)
            .args(["--signer-label", "ceremony-signer", "--pin-env", PIN_ENV]),
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();

    // The attacker's directory: their own AES-256 key wrapped in software under the backup
    // key, with the real manifest's check values recomputed for it and the digest updated.
    let attacker_key = [0x5a_u8; 32];
    let forged = dst.path("attacker");
    copy_dir(&backup, &forged);
    run_ok(
        Command::new(PYTHON)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/independent/forge_backup.py"
            ))
            .arg(&pem)
            .arg(hex::encode(attacker_key))
            .arg(forged.join("backup.bin")),
    );
    let mut m = manifest.clone();
    let methods: Vec<String> = m["key"]["check_values"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert!(!methods.is_empty());
    for method in methods {
        m["key"]["check_values"][&method] = json!(kcv_python(&method, &attacker_key));
    }
    m["files"]["backup.bin"] = json!(sha256sum(&forged.join("backup.bin")));
    write_json(&forged, "manifest.json", &m);
    assert_ne!(
        std::fs::read(forged.join("backup.bin")).unwrap(),
        std::fs::read(backup.join("backup.bin")).unwrap()
    );

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
    let listed: Value = serde_json::from_slice(&run_ok(src.keyrite().args([
        "keys",
        "list",
        "--json",
        "--pin-env",
        PIN_ENV,
    ])))
    .unwrap();
    let payments = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "payments")
        .unwrap();
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
            kcv_python(method, &attacker_key),
            "{method}: not the attacker's key"
        );
    }
}
