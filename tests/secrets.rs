//! Secrets never reach a file or a log: every command runs with a known PIN, SO PIN and PIN
//! shares, and every byte keyrite writes — standard output and error, outputs, transcripts, the
//! report, anything left in its temporary directory — is searched for them and for the key
//! material (which the test gets by unwrapping the outputs with the KMS private keys). And the
//! process is hardened while it holds a PIN: no core dumps, the PIN's pages locked in memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::backup::{self, Proof, Record, backup_command, restore_command};
use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;

/// Every file below `dir`, but the token's storage.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tokens") {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// Whether `needle` occurs in `bytes`.
fn found(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// Every needle found in what was written, as "NEEDLE in PLACE".
fn hits(written: &[(String, Vec<u8>)], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut hits = Vec::new();
    for (where_, bytes) in written {
        for (name, needle) in needles {
            if found(bytes, needle) {
                hits.push(format!("{name} in {where_}"));
            }
        }
    }
    hits
}

/// The forms a secret could leak in: raw, hex (both cases) and base64.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
    ]
}

#[test]
fn no_pin_share_or_key_material_in_anything_keyrite_writes() {
    let c = Ceremony::new(&["us-east-1"]);
    let dir = c.dir().to_path_buf();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let backup = TestToken::softhsm("vault-b");
    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = |what: &str, cmd: &mut Command| -> std::process::Output {
        let out = run(cmd.env("TMPDIR", &tmp).env("SO_PIN_FOR_TEST", SO_PIN));
        written.push((format!("{what}: stdout"), out.stdout.clone()));
        written.push((format!("{what}: stderr"), out.stderr.clone()));
        out
    };
    let k = || c.token.keyrite();

    // PIN shares, then a ceremony that takes its PIN from two of them.
    let digests = c.split_pin("shares", "2", "3");
    c.use_shares(&digests);
    record(
        "plan check",
        k().args(["plan", "check", "plan.toml", "--policy", "policy.toml"]),
    );
    record("plan digest", k().args(["plan", "digest", "plan.toml"]));
    let ran = record(
        "ceremony run",
        c.run_command("t.jsonl").env_remove(PIN_ENV).args([
            "--pin-share",
            "shares/share-1.txt",
            "--pin-share",
            "shares/share-3.txt",
        ]),
    );
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let material = c.regions[0].kms.unwrap_rsa_crate(
        &std::fs::read(dir.join("payments-2026-us-east-1/EncryptedKeyMaterial.bin")).unwrap(),
        "RSAES_OAEP_SHA_1",
    );

    // Single wraps: PIN from the environment, from a file, and a wrong one.
    let kms = aws_kms(&dir, "p.json");
    std::fs::write(dir.join("pin.txt"), PIN).unwrap();
    std::fs::set_permissions(dir.join("pin.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrap = |label: &str| Wrap::new("wrap").aws_oaep_sha1("p.json", label, label);
    record(
        "wrap --pin-file",
        k().args(wrap("second").args(["--pin-file", "pin.txt", "--json"])),
    );
    record(
        "wrap, wrong PIN",
        k().env(PIN_ENV, format!("{PIN}x"))
            .args(wrap("third").pin()),
    );
    let second = kms.unwrap_rsa_crate(
        &std::fs::read(dir.join("second/EncryptedKeyMaterial.bin")).unwrap(),
        "RSAES_OAEP_SHA_1",
    );
    let kcv = kcv_python("aes-ecb-zero-3", &second);
    record(
        "rewrap",
        k().args(
            Wrap::rewrap()
                .expect_kcv(&kcv)
                .aws_oaep_sha1("p.json", "second", "again")
                .pin(),
        ),
    );
    record(
        "keys list",
        k().args(["keys", "list", "--pin-env", PIN_ENV]),
    );
    record(
        "keys list --json",
        k().args(["keys", "list", "--json", "--pin-env", PIN_ENV]),
    );
    record(
        "token info",
        k().args(["token", "info", "--json", "--pin-env", PIN_ENV]),
    );
    record(
        "signer export",
        k().args([
            "token",
            "signer",
            "export",
            "--key-label",
            "ceremony-signer",
        ])
        .args(["--pin-env", PIN_ENV]),
    );
    record(
        "trust-wrapping-key",
        k().args([
            "token",
            "trust-wrapping-key",
            "--provider",
            "aws",
            "--params",
            "p.json",
        ])
        .args([
            "--key-label",
            "kms-trusted",
            "--so-pin-env",
            "SO_PIN_FOR_TEST",
        ]),
    );

    // A backup into a second token and its restore, recorded there.
    backup::signer(&backup, backup::RESTORE_SIGNER);
    let pem = record(
        "backup-key create",
        backup.keyrite().args([
            "token",
            "backup-key",
            "create",
            "--key-label",
            "bk",
            "--pin-env",
            PIN_ENV,
        ]),
    );
    std::fs::write(dir.join("bk.pem"), &pem.stdout).unwrap();
    record(
        "recorded wrap to backup",
        &mut backup_command(
            &c.token,
            &dir.join("bk.pem"),
            "RSAES_OAEP_SHA_1",
            "fourth",
            "AES_256",
            &dir.join("bk-out"),
            &dir.join("bk.jsonl"),
        ),
    );
    let restored = record(
        "restore",
        restore_command(
            &backup,
            dir.join("bk-out"),
            "fourth",
            Proof::Record(&Record {
                transcript: dir.join("bk.jsonl"),
                signer: dir.join("signer.pem"),
            }),
            &backup.path("restore.jsonl"),
        )
        .args(["--pin-env", PIN_ENV]),
    );
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    // The auditor's and the witness's side.
    let verified = record(
        "verify",
        k().args([
            "verify",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
        ])
        .args([
            "--plan",
            "plan.toml",
            "--outputs",
            ".",
            "--json",
            "--report",
            "report.html",
        ]),
    );
    assert_eq!(verified.status.code(), Some(0));
    record(
        "witness sign",
        k().args([
            "witness",
            "sign",
            "t.jsonl",
            "--signer",
            "signer.pem",
            "--policy",
            "policy.toml",
        ])
        .arg("--ssh-key")
        .arg(&c.person("wendy").key),
    );

    // The secrets, in every form.
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, secret) in [("PIN", PIN.as_bytes()), ("SO PIN", SO_PIN.as_bytes())] {
        needles.extend(forms(secret).into_iter().map(|f| (name.to_owned(), f)));
    }
    for i in 1..=3 {
        let share = std::fs::read_to_string(dir.join(format!("shares/share-{i}.txt"))).unwrap();
        let payload = share.trim().rsplit(':').next().unwrap().to_owned();
        needles.push((format!("share {i}"), share.trim().as_bytes().to_vec()));
        needles.push((format!("share {i} payload"), payload.as_bytes().to_vec()));
        needles.extend(
            forms(&share_bytes(share.trim()))
                .into_iter()
                .map(|f| (format!("share {i} bytes"), f)),
        );
    }
    for (name, m) in [("ceremony key", &material), ("wrapped key", &second)] {
        assert_eq!(m.len(), 32);
        needles.extend(forms(m).into_iter().map(|f| (name.to_owned(), f)));
    }

    // Every file keyrite wrote: both token directories, minus the token storage, the share files
    // (`pin split` writes them on purpose), and what the test itself put there (SSH and KMS
    // private keys, the PIN file).
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    files(backup.dir.path(), &mut paths);
    paths.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        !(p.starts_with(dir.join("shares"))
            || p.starts_with(dir.join("keys"))
            || name.starts_with("kms-")
            || name == "pin.txt")
    });
    assert!(
        paths.iter().any(|p| p.ends_with("report.html"))
            && paths.iter().any(|p| p.ends_with("t.jsonl"))
    );
    for p in &paths {
        written.push((p.display().to_string(), std::fs::read(p).unwrap()));
    }
    // The search finds what is there: the PIN file and a share file hold their secrets.
    assert!(found(
        &std::fs::read(dir.join("pin.txt")).unwrap(),
        PIN.as_bytes()
    ));
    let share2 = std::fs::read(dir.join("shares/share-2.txt")).unwrap();
    assert!(
        needles
            .iter()
            .any(|(n, needle)| n == "share 2 payload" && found(&share2, needle))
    );
    let hits = hits(&written, &needles);
    assert!(hits.is_empty(), "{hits:#?}");
    println!(
        "{} needles searched for in {} places ({} bytes): no hit",
        needles.len(),
        written.len(),
        written.iter().map(|(_, b)| b.len()).sum::<usize>()
    );
    assert!(written.len() > 40, "{} places searched", written.len());
}

/// While keyrite holds a PIN it cannot dump core and keeps the PIN's pages out of swap: it is
/// stopped waiting for the PIN on a FIFO, and its /proc entries are read.
#[test]
fn the_process_holding_a_pin_cannot_dump_core_and_locks_the_pin_in_memory() {
    let hsm = TestToken::softhsm("ceremony");
    aws_kms(hsm.dir.path(), "p.json");
    let fifo = hsm.path("pin.fifo");
    run_ok(Command::new("mkfifo").args(["-m", "600"]).arg(&fifo));
    let child = Wrap::new("wrap")
        .aws_oaep_sha1("p.json", "k", "out")
        .args(["--pin-file", "pin.fifo"])
        .command(&hsm)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "0"],
        "{core}"
    );
    // The PIN buffer is locked before the PIN is read into it (SoftHSM2 itself locks nothing:
    // VmLck stays 0 kB until keyrite has opened the PIN file).
    let locked_kb = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmLck:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while locked_kb() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no page locked while waiting for the PIN"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    writeln!(writer, "{PIN}").unwrap();
    drop(writer);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The private half of a key pair is in nothing keyrite writes either: key pairs generated on
/// kryoptic, wrapped for AWS and Vault, listed, and (RSA) backed up to a second token and
/// restored there. The needles are each private key's PKCS#8 (unwrapped from an output with the
/// KMS private key) and its private numbers (RSA d, p, q, d mod (p-1), d mod (q-1), q⁻¹ mod p,
/// any one of which gives the key away; the EC private value), as Python `cryptography` reads
/// them from that PKCS#8.
#[test]
fn no_private_key_of_a_key_pair_in_anything_keyrite_writes() {
    let src = TestToken::kryoptic("ceremony");
    let dst = TestToken::kryoptic("backup");
    let mut written: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = |what: &str, cmd: &mut Command| -> std::process::Output {
        let out = run(cmd);
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        written.push((format!("{what}: stdout"), out.stdout.clone()));
        written.push((format!("{what}: stderr"), out.stderr.clone()));
        out
    };
    let kms = Kms::new(src.dir.path(), 3072);
    kms.write_aws_params(src.dir.path(), "aws.json");
    let vault = Kms::new(src.dir.path(), 4096);
    write_json(src.dir.path(), "vault.json", &vault.vault_wrapping_key());
    backup::signer(&dst, backup::RESTORE_SIGNER);
    let created = record(
        "backup-key create",
        dst.keyrite()
            .args([
                "token",
                "backup-key",
                "create",
                "--key-label",
                "backup-2026",
            ])
            .args(["--for-key-pairs", "--policy"])
            .arg(common::ceremony::policy_accepting_backup_oracle(
                dst.dir.path(),
            ))
            .args(["--pin-env", PIN_ENV]),
    );
    std::fs::write(src.path("backup.pem"), &created.stdout).unwrap();

    let mut materials = Vec::new();
    let made = record(
        "signer create",
        src.keyrite()
            .args([
                "token",
                "signer",
                "create",
                "--key-label",
                "ceremony-signer",
            ])
            .args(["--pin-env", PIN_ENV]),
    );
    let signer = src.path("signer.pem");
    std::fs::write(&signer, &made.stdout).unwrap();
    for (spec, label) in [("RSA_2048", "rsa"), ("EC_P256", "ec")] {
        let aws = |wrap: Wrap| {
            wrap.provider("aws", "aws.json")
                .algorithm("RSA_AES_KEY_WRAP_SHA_256")
                .spec(spec)
        };
        let fingerprint = if spec.starts_with("RSA") {
            // The backup is recorded: generated and backed up in one run sealed by the signer,
            // then wrapped for AWS by its fingerprint.
            record(
                &format!("recorded backup {spec}"),
                &mut backup_command(
                    &src,
                    &src.path("backup.pem"),
                    "RSA_AES_KEY_WRAP_SHA_256",
                    label,
                    spec,
                    &dst.path(&format!("{label}-backup")),
                    &src.path(&format!("{label}-backup.jsonl")),
                ),
            );
            let fingerprint = manifest(&dst.path(&format!("{label}-backup")))["key"]
                ["check_values"]["spki-sha256"]
                .as_str()
                .unwrap()
                .to_owned();
            record(
                &format!("rewrap {spec}"),
                &mut aws(Wrap::rewrap())
                    .label(label)
                    .expect_kcv(&fingerprint)
                    .out(label)
                    .pin()
                    .command(&src),
            );
            fingerprint
        } else {
            // EC keys are not backed up (a restore could not prove them).
            record(
                &format!("wrap {spec}"),
                &mut aws(Wrap::new("wrap"))
                    .label(label)
                    .out(label)
                    .pin()
                    .command(&src),
            );
            manifest(&src.path(label))["key"]["kcv"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        record(
            &format!("rewrap {spec} for vault"),
            &mut Wrap::rewrap()
                .provider("vault", "vault.json")
                .args(["--vault-key", label])
                .spec(spec)
                .expect_kcv(&fingerprint)
                .label(label)
                .out(format!("{label}-vault"))
                .pin()
                .command(&src),
        );
        let wrapped = src.path(label).join("EncryptedKeyMaterial.bin");
        materials.push((
            spec,
            kms.unwrap_python(&wrapped, "RSA_AES_KEY_WRAP_SHA_256"),
        ));
    }
    record(
        "restore",
        restore_command(
            &dst,
            "rsa-backup",
            "rsa",
            Proof::Record(&Record {
                transcript: src.path("rsa-backup.jsonl"),
                signer: signer.clone(),
            }),
            &dst.path("restore.jsonl"),
        )
        .args(["--pin-env", PIN_ENV]),
    );
    for (token, name) in [(&src, "src"), (&dst, "dst")] {
        record(
            &format!("keys list {name}"),
            token.keyrite().args(["keys", "list", "--pin-env", PIN_ENV]),
        );
        record(
            &format!("keys list --json {name}"),
            token
                .keyrite()
                .args(["keys", "list", "--json", "--pin-env", PIN_ENV]),
        );
        record(
            &format!("token info {name}"),
            token
                .keyrite()
                .args(["token", "info", "--json", "--pin-env", PIN_ENV]),
        );
    }

    // The needles: each PKCS#8 and its private numbers, in every form.
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (spec, pkcs8) in &materials {
        needles.extend(
            forms(pkcs8)
                .into_iter()
                .map(|f| (format!("{spec} PKCS#8"), f)),
        );
        let mut python = Command::new(PYTHON)
            .arg("-c")
            .arg(concat!(
                "import sys\n",
                "from cryptography.hazmat.primitives import serialization\n",
                "from cryptography.hazmat.primitives.asymmetric import ec, rsa\n",
                "k = serialization.load_der_private_key(sys.stdin.buffer.read(), None)\n",
                "if isinstance(k, rsa.RSAPrivateKey):\n",
                "    n = k.private_numbers()\n",
                "    values = [n.d, n.p, n.q, n.dmp1, n.dmq1, n.iqmp]\n",
                "else:\n",
                "    values = [k.private_numbers().private_value]\n",
                "for v in values:\n",
                "    print(v.to_bytes((v.bit_length() + 7) // 8, 'big').hex())\n",
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        python.stdin.take().unwrap().write_all(pkcs8).unwrap();
        let out = python.wait_with_output().unwrap();
        assert!(out.status.success());
        let numbers: Vec<Vec<u8>> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| hex::decode(l).unwrap())
            .collect();
        assert_eq!(numbers.len(), if spec.starts_with("RSA") { 6 } else { 1 });
        for (i, number) in numbers.iter().enumerate() {
            // The search finds what is there: each number is inside its PKCS#8.
            assert!(pkcs8.windows(number.len()).any(|w| w == number.as_slice()));
            needles.extend(
                forms(number)
                    .into_iter()
                    .map(|f| (format!("{spec} private number {i}"), f)),
            );
        }
    }

    // Every file keyrite wrote in both token directories, but the tokens' own storage and the
    // KMS private keys the test made.
    let mut paths = Vec::new();
    files(src.dir.path(), &mut paths);
    files(dst.dir.path(), &mut paths);
    paths.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy();
        !(name.starts_with("kms-") || *p == src.conf || *p == dst.conf)
    });
    assert!(paths.iter().any(|p| p.ends_with("rsa-backup/public.pem")));
    for p in &paths {
        written.push((p.display().to_string(), std::fs::read(p).unwrap()));
    }
    let hits = hits(&written, &needles);
    assert!(hits.is_empty(), "{hits:#?}");
    assert!(written.len() > 40, "{} places searched", written.len());
    println!(
        "{} needles searched for in {} places: no hit",
        needles.len(),
        written.len()
    );
}

/// A share's y values: the hex of a first-format share (`keyrite-pin-share-v1:I:M:HEX`), or,
/// for a grouped one, its data characters (Crockford base32, the first four of each group of
/// five) read five bits each as bytes, less the kind, index and threshold before and the check
/// after.
fn share_bytes(share: &str) -> Vec<u8> {
    if let Some((_, hex)) = share.rsplit_once(':') {
        return hex::decode(hex).unwrap();
    }
    const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let (mut bits, mut held, mut bytes) = (0u32, 0, Vec::new());
    for group in share.split('-') {
        for c in group.chars().take(4) {
            bits = (bits << 5) | ALPHABET.find(c).unwrap() as u32;
            held += 5;
            if held >= 8 {
                held -= 8;
                bytes.push((bits >> held) as u8);
                bits &= (1 << held) - 1;
            }
        }
    }
    let y = if bytes[0] == 0x98 { 32 } else { 64 };
    bytes[3..3 + y].to_vec()
}
