//! Kill the ceremony at every step: a real ceremony (SoftHSM2, three custodians, three wrap
//! steps) is killed with SIGKILL after each transcript line and in the middle of each output
//! write (the `fault-injection` build of `scripts/test`). After each kill: the transcript
//! verifies as incomplete (exit 3), every output directory is whole with the digests its
//! manifest names or absent, nothing but hidden staging directories is left, and a re-run of the
//! same plan either completes (the kill came before the token changed) or is refused, naming the
//! key the interrupted run left. Then `--resume-from` completes the interrupted ceremony: it is
//! refused while an output the killed run left is in place (a resumed run re-does every wrap
//! and vouches only for outputs it writes), and with those moved aside it completes, its outputs
//! unwrapping to the one key whose KCV the interrupted run recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::Command;

use common::ceremony::Ceremony;
use common::*;
use serde_json::Value;
use sha2::Digest as _;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-south-1"];

/// The four steps (generate, three wraps) in two batches of two, whatever the machine's speed:
/// one batch of a key and its first wrap, one of two wraps sharing a commit round, and a
/// boundary between them to kill at.
const BATCHES: [&str; 4] = ["--batch-steps", "2", "--batch-ms", "600000"];

fn copy_dir(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("-a").arg(from).arg(to));
}

fn ceremony(c: &Ceremony, transcript: &str, fault: Option<&str>) -> std::process::Output {
    let mut cmd = c.run_command(transcript);
    cmd.args(BATCHES);
    if let Some(f) = fault {
        cmd.env("KEYRITE_FAULT", f);
    }
    run(&mut cmd)
}

/// An output directory is whole: every file its manifest lists has the digest listed, and
/// nothing else is in it.
fn assert_whole(dir: &Path) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_object().unwrap();
    for (name, digest) in files {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            digest.as_str().unwrap(),
            "{}",
            dir.display()
        );
    }
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        files.len() + 1,
        "{}",
        dir.display()
    );
}

#[test]
fn a_ceremony_killed_at_any_point_leaves_a_state_to_reason_about() {
    let c = Ceremony::new(&REGIONS);
    let dir = c.dir().to_path_buf();
    c.digest();
    for who in ["alice", "bob", "carol"] {
        c.approve(who, "keyrite-plan", &format!("{who}.sig"));
    }
    copy_dir(&dir.join("tokens"), &dir.join("pristine-tokens"));
    let reset = || {
        std::fs::remove_dir_all(dir.join("tokens")).unwrap();
        copy_dir(&dir.join("pristine-tokens"), &dir.join("tokens"));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("payments-2026-")
                || name.starts_with("kept-")
                || name.contains("keyrite")
            {
                std::fs::remove_dir_all(&path).unwrap();
            } else if name.ends_with(".jsonl") {
                std::fs::remove_file(&path).unwrap();
            }
        }
    };

    // A run without faults: how many transcript lines and output files there are to kill at.
    let out = ceremony(&c, "t.jsonl", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = std::fs::read_to_string(dir.join("t.jsonl"))
        .unwrap()
        .lines()
        .count();
    let mut points: Vec<String> = (1..lines).map(|n| format!("transcript-line:{n}")).collect();
    points.extend((1..=3 * 4).map(|n| format!("output-file:{n}")));
    points.extend((1..=2).map(|n| format!("output-staged:{n}")));
    points.extend((1..=3).map(|n| format!("output-moved:{n}")));

    let mut outcomes = Vec::new();
    let mut refusals = 0;
    for point in &points {
        reset();
        let out = ceremony(&c, "t.jsonl", Some(point));
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{point}: keyrite was not killed (is it built with --features fault-injection, as scripts/test builds it?): {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // The transcript is an intact record of a ceremony that did not finish.
        let verified = c.verify(
            "t.jsonl",
            &["--policy", "policy.toml", "--plan", "plan.toml"],
        );
        assert_eq!(
            verified.status.code(),
            Some(3),
            "{point}: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
        let transcript: Vec<Value> = std::fs::read_to_string(dir.join("t.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();

        // Each output is whole or absent; a whole one is the one the transcript names, if it
        // got that far; nothing a user could take for an output is left.
        for region in REGIONS {
            let name = format!("payments-2026-{region}");
            let out_dir = dir.join(&name);
            if !out_dir.exists() {
                continue;
            }
            assert_whole(&out_dir);
            let manifest_sha = hex::encode(sha2::Sha256::digest(
                std::fs::read(out_dir.join("manifest.json")).unwrap(),
            ));
            if let Some(wrapped) = transcript.iter().find(|l| {
                l["step"] == "wrapped"
                    && l["data"]["out"]
                        .as_str()
                        .is_some_and(|o| o.ends_with(&name))
            }) {
                assert_eq!(
                    wrapped["data"]["files"]["manifest.json"],
                    manifest_sha.as_str(),
                    "{point}"
                );
            }
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.contains("keyrite") {
                assert!(
                    name.starts_with('.'),
                    "{point}: {name} is left beside the outputs"
                );
            }
        }

        // The same plan again, into a new transcript.
        let key_left = c
            .token
            .objects()
            .iter()
            .any(|o| o["label"] == "payments-2026");
        let mut again = ceremony(&c, "t2.jsonl", None);
        if String::from_utf8_lossy(&again.stderr)
            .contains("already exists; keyrite never replaces an output")
        {
            // An output the interrupted run finished is refused before the token is opened;
            // with the outputs moved aside, the token's state decides.
            for region in REGIONS {
                let name = format!("payments-2026-{region}");
                if dir.join(&name).exists() {
                    std::fs::rename(dir.join(&name), dir.join(format!("kept-{name}"))).unwrap();
                }
            }
            again = ceremony(&c, "t2.jsonl", None);
        }
        let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
        if again.status.success() {
            assert!(
                !key_left,
                "{point}: a re-run succeeded although a key was left"
            );
            assert_eq!(
                c.verify("t2.jsonl", &["--policy", "policy.toml", "--outputs", "."])
                    .status
                    .code(),
                Some(0),
                "{point}"
            );
            outcomes.push(format!("{point}: re-run completed"));
        } else {
            let expected = if key_left {
                "keyrite: ceremony \"payments-2026\" already ran on token \"ceremony\"; a plan runs once (the key it generated, \"payments-2026\", is on the token)\n"
            } else {
                "keyrite: ceremony \"payments-2026\" already ran on token \"ceremony\"; a plan runs once\n"
            };
            assert_refused(again.stderr.as_slice(), expected, point);
            assert!(!dir.join("t2.jsonl").exists(), "{point}: {stderr}");

            // With --resume-from, the run continues, re-doing every wrap: while an output the
            // killed run left is in place, resume is refused before the token is opened, naming
            // it; moved aside, the run completes.
            let left: Vec<String> = REGIONS
                .iter()
                .enumerate()
                .filter(|(_, region)| dir.join(format!("kept-payments-2026-{region}")).exists())
                .map(|(i, region)| format!("payments-2026-{region} (steps[{}])", i + 1))
                .collect();
            if !left.is_empty() {
                for region in REGIONS {
                    let kept = dir.join(format!("kept-payments-2026-{region}"));
                    if kept.exists() {
                        std::fs::rename(&kept, dir.join(format!("payments-2026-{region}")))
                            .unwrap();
                    }
                }
                let objects = c.token.objects();
                let refused = run(c.run_command("t3.jsonl").args(["--resume-from", "t.jsonl"]));
                let expected = format!(
                    "keyrite: cannot resume from t.jsonl: the output director{} {} already exist{}; a resumed run re-does every wrap, and keyrite vouches only for outputs it writes in this run\n",
                    if left.len() == 1 { "y" } else { "ies" },
                    left.join(", "),
                    if left.len() == 1 { "s" } else { "" },
                );
                assert_refused(&refused.stderr, &expected, point);
                assert!(!dir.join("t3.jsonl").exists(), "{point}");
                assert_eq!(c.token.objects(), objects, "{point}");
                for region in REGIONS {
                    let name = format!("payments-2026-{region}");
                    if dir.join(&name).exists() {
                        std::fs::rename(dir.join(&name), dir.join(format!("kept-{name}"))).unwrap();
                    }
                }
                refusals += 1;
            }
            let resumed = run(c.run_command("t3.jsonl").args(["--resume-from", "t.jsonl"]));
            assert!(
                resumed.status.success(),
                "{point}: {}",
                String::from_utf8_lossy(&resumed.stderr)
            );
            let verified = c.verify_all("t3.jsonl");
            assert_eq!(
                verified.status.code(),
                Some(0),
                "{point}: {}",
                String::from_utf8_lossy(&verified.stdout)
            );
            // One key material in all three outputs, with the KCV the interrupted run recorded.
            let materials: Vec<Vec<u8>> = REGIONS
                .iter()
                .zip(&c.regions)
                .map(|(region, r)| {
                    let wrapped = std::fs::read(
                        dir.join(format!("payments-2026-{region}/EncryptedKeyMaterial.bin")),
                    )
                    .unwrap();
                    r.kms.unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1")
                })
                .collect();
            assert!(materials.iter().all(|m| m == &materials[0]), "{point}");
            if let Some(g) = transcript.iter().find(|l| l["step"] == "generated") {
                assert_eq!(
                    g["data"]["key"]["kcv"],
                    kcv_python("aes-ecb-zero-3", &materials[0]).as_str(),
                    "{point}"
                );
            }
            outcomes.push(format!(
                "{point}: re-run refused{}, {}resumed",
                if key_left { ", key named" } else { "" },
                if left.is_empty() {
                    ""
                } else {
                    "resume refused while outputs were left, "
                }
            ));
        }
    }
    println!("{} kill points:\n{}", points.len(), outcomes.join("\n"));
    assert!(points.len() >= 30, "{} kill points", points.len());
    assert!(
        refusals > 0,
        "no kill point left an output for resume to refuse"
    );
}

/// A ceremony interrupted (SIGTERM) in the middle of its steps — just after the second wrap is
/// announced, while the third step's imported KMS public key is held as well — destroys the
/// imported KMS keys it holds, records nothing more and keeps its key, as after a power cut, so
/// that its transcript verifies as incomplete and `--resume-from` completes it.
#[test]
fn a_ceremony_interrupted_at_a_step_destroys_its_own_objects_and_resumes() {
    let announced = |c: &Ceremony, transcript: &str| {
        c.transcript(transcript)
            .iter()
            .position(|(_, l)| l["step"] == "wrap" && l["data"]["index"] == 2)
            .unwrap()
            + 1
    };
    let line = {
        let c = Ceremony::approved(&REGIONS);
        run_ok(c.run_command("t.jsonl").args(BATCHES));
        announced(&c, "t.jsonl")
    };
    let c = Ceremony::approved(&REGIONS);
    let dir = c.dir().to_path_buf();
    let left = dir.join("left.txt");
    // Interrupted in the second batch, once its first wrap is staged and recorded: the first
    // batch's output is in place, the second's staged outputs are removed.
    let out = interrupted(
        c.run_command("t.jsonl")
            .args(BATCHES)
            .env("KEYRITE_OBJECTS_LEFT", &left),
        &format!("transcript-line:{line}"),
        "TERM",
    );
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "keyrite: interrupted (SIGTERM); 2 objects keyrite made for itself on the token were destroyed\n"
    );
    assert_eq!(
        std::fs::read_to_string(&left).unwrap(),
        "token \"ceremony\": \n",
        "session objects left behind"
    );
    // Nothing recorded after the signal: the last line is the announcement.
    assert_eq!(c.transcript("t.jsonl").len(), line);
    assert_eq!(announced(&c, "t.jsonl"), line);
    assert_eq!(c.verify_against_plan("t.jsonl"), Some(3));
    assert!(
        c.token
            .objects()
            .iter()
            .any(|o| o["label"] == "payments-2026"),
        "the key was not kept"
    );

    // The first wrap's output is moved aside (a resumed run re-does every wrap), then the run
    // resumes and completes.
    let first = format!("payments-2026-{}", REGIONS[0]);
    std::fs::rename(dir.join(&first), dir.join(format!("kept-{first}"))).unwrap();
    assert!(
        !dir.join(format!("payments-2026-{}", REGIONS[1])).exists(),
        "a staged output of the interrupted batch was moved into place"
    );
    let resumed = run(c.run_command("t2.jsonl").args(["--resume-from", "t.jsonl"]));
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    c.assert_verifies("t2.jsonl");
}

/// A ceremony interrupted (SIGTERM) once the last step of a batch is done on the token — its
/// wrap staged and its `wrap` line written — but before the batch commits. No further step
/// makes a token call that the signal refuses, so the batch ends without a failure; its commit
/// is skipped (the run records nothing after a signal) but the run goes on as if the batch had
/// committed: at the end of the first batch it writes the next `batch` line, at the end of the
/// plan a `finish` line saying "completed" while the batch's outputs were removed unmoved. It
/// should end as every interrupted run does: exit 143, nothing recorded after the signal, a
/// transcript that verifies as incomplete.
#[test]
fn a_ceremony_interrupted_after_a_batchs_last_step_records_nothing_more() {
    let announced = |c: &Ceremony, transcript: &str, index: u64| {
        c.transcript(transcript)
            .iter()
            .position(|(_, l)| l["step"] == "wrap" && l["data"]["index"] == index)
            .unwrap()
            + 1
    };
    let lines = {
        let c = Ceremony::approved(&REGIONS);
        run_ok(c.run_command("t.jsonl").args(BATCHES));
        [announced(&c, "t.jsonl", 1), announced(&c, "t.jsonl", 3)]
    };
    let mut seen = Vec::new();
    for (index, line) in [1, 3].into_iter().zip(lines) {
        let what = format!("interrupted at the wrap line of steps[{index}] (line {line})");
        let c = Ceremony::approved(&REGIONS);
        let out = interrupted(
            c.run_command("t.jsonl").args(BATCHES),
            &format!("transcript-line:{line}"),
            "TERM",
        );
        let t = c.transcript("t.jsonl");
        let after: Vec<String> = t[line..]
            .iter()
            .map(|(_, l)| l["step"].as_str().unwrap().to_owned())
            .collect();
        let verified = c
            .verify(
                "t.jsonl",
                &["--policy", "policy.toml", "--plan", "plan.toml"],
            )
            .status
            .code();
        seen.push((what, after, out.status.code(), verified));
    }
    let want: Vec<_> = seen
        .iter()
        .map(|(what, ..)| (what.clone(), Vec::<String>::new(), Some(143), Some(3)))
        .collect();
    // (what, the lines recorded after the signal, keyrite's exit status, verify's)
    assert_eq!(seen, want);
}
