//! Ceremonies on a real SoftHSM2 token with custodians' keys and approvals made by `ssh-keygen`,
//! checked from the other side: the chain recomputed with `sha2`, the seal verified by
//! `openssl pkeyutl`, approvals by `ssh-keygen -Y verify`, outputs unwrapped by the KMS side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};

use base64::Engine as _;
use common::ceremony::Ceremony;
use common::wrap::Wrap;
use common::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Recomputes the chain and checks the seal with openssl; returns the lines.
fn check_chain_and_seal(c: &Ceremony, name: &str) -> Vec<(String, Value)> {
    let lines = c.transcript(name);
    let mut prev = hex::encode(Sha256::digest(b""));
    for (i, (text, value)) in lines.iter().enumerate() {
        assert_eq!(value["seq"], i as u64, "line {i}");
        assert_eq!(value["prev"], prev, "line {i}");
        prev = hex::encode(Sha256::digest(text.as_bytes()));
    }
    let (_, seal) = lines.last().unwrap();
    assert_eq!(seal["step"], "seal");
    assert_eq!(
        seal.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["prev", "seq", "signature", "signer", "step", "time", "v"]
    );
    assert_eq!(seal["signer"], c.signer_fingerprint);
    assert_eq!(lines[lines.len() - 2].1["step"], "finish");
    let head = c.dir().join("head.bin");
    let sig = c.dir().join("seal.der");
    std::fs::write(&head, hex::decode(seal["prev"].as_str().unwrap()).unwrap()).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(seal["signature"].as_str().unwrap())
        .unwrap();
    std::fs::write(&sig, der).unwrap();
    let out = run(Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&c.signer_pem)
        .arg("-in")
        .arg(&head)
        .arg("-sigfile")
        .arg(&sig));
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    lines
}

fn step<'a>(lines: &'a [(String, Value)], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|(_, v)| v["step"] == name)
        .map(|(_, v)| &v["data"])
        .collect()
}

#[test]
fn three_wraps_for_three_kms_keys_unwrap_to_the_same_key_and_the_record_checks_out() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1", "ap-south-1"]);
    let objects_before = c.token.objects().len();
    let digest = c.approve_plan();
    let out = c.run("t.jsonl");
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("approved by 2 of 2 required: alice, bob"),
        "{stdout}"
    );

    // Three outputs, three KMS keys, one key.
    let mut materials = Vec::new();
    for r in &c.regions {
        let dir = c.dir().join(format!("payments-2026-{}", r.name));
        let wrapped = std::fs::read(dir.join("EncryptedKeyMaterial.bin")).unwrap();
        materials.push(r.kms.unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1"));
    }
    assert_eq!(materials[0].len(), 32);
    assert!(materials.iter().all(|m| *m == materials[0]));

    let lines = check_chain_and_seal(&c, "t.jsonl");
    let steps: Vec<&str> = lines
        .iter()
        .map(|(_, v)| v["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "policy",
            "plan",
            "approvals",
            "token",
            "login",
            "attestation",
            "check",
            "attestation",
            "check",
            "attestation",
            "check",
            "marker",
            "batch",
            "generate",
            "generated",
            "wrap",
            "wrap",
            "wrap",
            "commit",
            "wrapped",
            "wrapped",
            "wrapped",
            "finish",
            "seal"
        ]
    );
    let kcv = step(&lines, "generated")[0]["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kcv, kcv_python("aes-ecb-zero-3", &materials[0]));
    for wrapped in step(&lines, "wrapped") {
        assert_eq!(wrapped["kcv"], kcv);
        let out = std::path::PathBuf::from(wrapped["out"].as_str().unwrap());
        for (name, digest) in wrapped["files"].as_object().unwrap() {
            let bytes = std::fs::read(c.dir().join(&out).join(name)).unwrap();
            assert_eq!(
                hex::encode(Sha256::digest(bytes)),
                digest.as_str().unwrap(),
                "{name}"
            );
        }
    }
    let plan = step(&lines, "plan")[0];
    assert_eq!(
        plan["digest_statement"].as_str().unwrap().as_bytes(),
        digest.as_slice()
    );
    assert_eq!(
        plan["text"].as_str().unwrap(),
        std::fs::read_to_string(c.dir().join("plan.toml")).unwrap()
    );
    let policy_bytes = std::fs::read(c.dir().join("policy.toml")).unwrap();
    assert_eq!(
        step(&lines, "policy")[0]["sha256"],
        hex::encode(Sha256::digest(policy_bytes))
    );
    let finish = step(&lines, "finish")[0];
    assert_eq!(finish["outcome"], "completed");

    // The embedded approvals verify with ssh-keygen, over the recorded statement.
    let approvals = step(&lines, "approvals")[0]["approvals"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(approvals.len(), 2);
    for a in &approvals {
        let name = a["custodian"].as_str().unwrap();
        let allowed = c.dir().join("allowed_signers");
        std::fs::write(&allowed, format!("{name} {}\n", c.person(name).public())).unwrap();
        let sig = c.dir().join("embedded.sig");
        std::fs::write(&sig, a["signature"].as_str().unwrap()).unwrap();
        let mut child = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", "keyrite-plan", "-I", name, "-f"])
            .arg(&allowed)
            .arg("-s")
            .arg(&sig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plan["digest_statement"].as_str().unwrap().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "ssh-keygen -Y verify for {name}");
    }

    // The token: the signer pair, the new key and the run's marker; the PIN nowhere.
    let objects = c.token.objects();
    assert_eq!(objects.len(), objects_before + 2, "{objects:?}");
    let key = objects
        .iter()
        .find(|o| o["label"] == "payments-2026")
        .unwrap();
    assert_ceremony_key(key);
    assert!(
        objects
            .iter()
            .any(|o| o["class"] == "CKO_DATA" && o["label"] == "keyrite-ceremony:payments-2026")
    );
    let mut written = vec![std::fs::read(c.dir().join("t.jsonl")).unwrap()];
    for r in &c.regions {
        let dir = c.dir().join(format!("payments-2026-{}", r.name));
        for e in std::fs::read_dir(dir).unwrap() {
            written.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    for bytes in written {
        assert!(!bytes.windows(PIN.len()).any(|w| w == PIN.as_bytes()));
    }
}

/// `verify` ends with what the room compares aloud, each value computed here from the files
/// themselves: the SHA-256 of the statement `plan digest` prints, the KCV the KMS side gets
/// from the unwrapped key (Python), the signer's fingerprint (openssl), and the SHA-256 of the
/// seal line; then the verdict. A record that fails a check shows none of it.
#[test]
fn verify_shows_the_values_compared_aloud_in_hex_and_pgp_words() {
    let c = Ceremony::new(&["us-east-1"]);
    c.write_plan("payments-2026", "RSAES_OAEP_SHA_1");
    let statement = c.approve_plan();
    let out = c.run("t.jsonl");
    assert!(out.status.success(), "{}", stderr(&out));
    let wrapped = std::fs::read(
        c.dir()
            .join("payments-2026-us-east-1/EncryptedKeyMaterial.bin"),
    )
    .unwrap();
    let material = c.regions[0]
        .kms
        .unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1");
    let kcv = kcv_python("aes-ecb-zero-3", &material);
    let spki = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubin", "-outform", "DER", "-in"])
            .arg(&c.signer_pem),
    );
    let seal = std::fs::read_to_string(c.dir().join("t.jsonl"))
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let expected = format!(
        "To compare aloud:\n{}  key \"payments-2026\": KCV {}\n{}{}\
         VERIFIED: sealed, completed, and every check that ran passed (exit 0)\n",
        aloud(
            "  ",
            "plan digest",
            &hex::encode(Sha256::digest(&statement))
        ),
        kcv_aloud(&kcv),
        aloud(
            "  ",
            "signer fingerprint",
            &hex::encode(Sha256::digest(&spki))
        ),
        aloud(
            "  ",
            "chain head at the seal (what witnesses sign)",
            &hex::encode(Sha256::digest(seal.as_bytes()))
        ),
    );
    let verified = String::from_utf8(c.verify_all("t.jsonl").stdout).unwrap();
    assert!(verified.ends_with(&expected), "{verified}");
    // One byte changed in the plan line: INVALID, and nothing to compare.
    let text = std::fs::read_to_string(c.dir().join("t.jsonl")).unwrap();
    std::fs::write(
        c.dir().join("t.jsonl"),
        text.replacen("payments-2026", "payments-2027", 1),
    )
    .unwrap();
    let tampered = String::from_utf8(c.verify_all("t.jsonl").stdout).unwrap();
    assert!(tampered.contains("INVALID"), "{tampered}");
    assert!(!tampered.contains("To compare aloud"), "{tampered}");
}

#[test]
fn quorum_and_input_refusals_happen_before_the_token_is_touched() {
    let c = Ceremony::new(&["us-east-1"]);
    let objects = c.token.objects();
    let reset = |c: &Ceremony| {
        for e in std::fs::read_dir(c.dir().join("approvals")).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        c.write_plan("payments-2026", "RSAES_OAEP_SHA_1");
        c.digest();
    };
    type Setup = fn(&Ceremony);
    let cases: Vec<(&str, Setup, &str)> = vec![
        (
            "M-1 approvals",
            |c| c.approve("alice", "keyrite-plan", "alice.sig"),
            "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol\n",
        ),
        (
            "a duplicate custodian",
            |c| {
                c.approve("alice", "keyrite-plan", "a1.sig");
                c.approve("alice", "keyrite-plan", "a2.sig");
            },
            "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; a2.sig does not count: a second approval by alice\n",
        ),
        (
            "a key outside the policy",
            |c| {
                c.approve("alice", "keyrite-plan", "alice.sig");
                c.approve("dave", "keyrite-plan", "dave.sig");
            },
            "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; dave.sig does not count: signed by a key that is not a custodian's in the policy\n",
        ),
        (
            "the wrong namespace",
            |c| {
                c.approve("alice", "keyrite-plan", "alice.sig");
                c.approve("bob", "file", "bob.sig");
            },
            "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; bob.sig does not count: signed in namespace \"file\", not \"keyrite-plan\"\n",
        ),
        (
            "an approval of another plan",
            |c| {
                c.approve("alice", "keyrite-plan", "alice.sig");
                c.write_plan("payments-2027", "RSAES_OAEP_SHA_1");
                c.digest();
                c.approve("bob", "keyrite-plan", "bob.sig");
                c.write_plan("payments-2026", "RSAES_OAEP_SHA_1");
            },
            "keyrite: the plan has 1 valid approval of the 2 the policy requires; approved by alice; not approved by bob, carol; bob.sig does not count: bob's signature does not verify over this plan's digest (another plan, or a file changed since)\n",
        ),
        (
            "a parameters file changed after approval",
            |c| {
                c.approve("alice", "keyrite-plan", "alice.sig");
                c.approve("bob", "keyrite-plan", "bob.sig");
                let p = c.dir().join("params/us-east-1.json");
                let mut bytes = std::fs::read(&p).unwrap();
                bytes.push(b'\n');
                std::fs::write(&p, bytes).unwrap();
            },
            "keyrite: the plan has 0 valid approvals of the 2 the policy requires; approved by nobody; not approved by alice, bob, carol; alice.sig does not count: alice's signature does not verify over this plan's digest (another plan, or a file changed since); bob.sig does not count: bob's signature does not verify over this plan's digest (another plan, or a file changed since)\n",
        ),
    ];
    for (name, setup, expected) in cases {
        reset(&c);
        setup(&c);
        let out = c.run("t.jsonl");
        assert_refused(&out.stderr, expected, name);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            !c.dir().join("t.jsonl").exists(),
            "{name}: a transcript was written"
        );
        assert!(!c.dir().join("payments-2026-us-east-1").exists(), "{name}");
        assert_eq!(c.token.objects(), objects, "{name}: the token changed");
    }

    // An expired plan, approved by a quorum.
    reset(&c);
    c.write_plan_window(
        "payments-2026",
        &hours_from_now(-48),
        &hours_from_now(-24),
        "RSAES_OAEP_SHA_1",
    );
    c.approve_plan();
    let out = c.run("t.jsonl");
    assert!(
        stderr(&out).starts_with("keyrite: the plan may run from "),
        "{}",
        stderr(&out)
    );
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), objects);

    // A ceremony id that already ran: refused on the second run, the token read but unchanged.
    reset(&c);
    c.approve("alice", "keyrite-plan", "alice.sig");
    c.approve("carol", "keyrite-plan", "carol.sig");
    let first = c.run("first.jsonl");
    assert!(first.status.success(), "{}", stderr(&first));
    let after_first = c.token.objects();
    std::fs::rename(
        c.dir().join("payments-2026-us-east-1"),
        c.dir().join("moved"),
    )
    .unwrap();
    let out = c.run("second.jsonl");
    assert_refused(
        &out.stderr,
        "keyrite: ceremony \"payments-2026\" already ran on token \"ceremony\"; a plan runs once (the key it generated, \"payments-2026\", is on the token)\n",
        "replay",
    );
    assert!(!c.dir().join("second.jsonl").exists());
    assert!(!c.dir().join("payments-2026-us-east-1").exists());
    assert_eq!(c.token.objects(), after_first);
}

/// A step the token cannot do (OAEP with SHA-256 on SoftHSM2) is found by the trial before any
/// key exists: the transcript records the failure, says `failed`, and is sealed.
#[test]
fn a_failed_ceremony_is_recorded_and_sealed() {
    let c = Ceremony::new(&["us-east-1"]);
    let objects = c.token.objects();
    c.write_plan("payments-2026", "RSAES_OAEP_SHA_256");
    c.approve_plan();
    let out = c.run("t.jsonl");
    assert_eq!(out.status.code(), Some(1));
    // It failed in the trial wraps, before any step: no step is printed.
    assert_eq!(
        String::from_utf8(out.stdout.clone()).unwrap(),
        format!(
            "Plan \"payments-2026\" approved by 2 of 2 required: alice, bob.\n{}",
            c.plan_digest_aloud()
        )
    );
    assert_eq!(
        stderr(&out),
        "keyrite: the ceremony failed at steps[1] (wrap): token \"ceremony\" cannot wrap with \
         CKM_RSA_PKCS_OAEP using SHA-256 (MGF1 with SHA-256): a trial wrap failed: C_WrapKey \
         returned CKR_ARGUMENTS_BAD. The sealed transcript is t.jsonl.\n"
    );
    let lines = check_chain_and_seal(&c, "t.jsonl");
    let failure = step(&lines, "failure")[0];
    assert_eq!(failure["index"], 1);
    assert_eq!(step(&lines, "finish")[0]["outcome"], "failed");
    assert!(step(&lines, "generate").is_empty());
    // Nothing happened on the token, so the ceremony id is not spent.
    assert_eq!(c.token.objects(), objects);
}

/// `keyrite wrap --transcript --signer-label`: a CI run recorded and sealed like a ceremony.
#[test]
fn a_single_wrap_can_be_recorded_and_sealed() {
    let c = Ceremony::new(&["us-east-1"]);
    let out = Wrap::new("wrap")
        .aws_oaep_sha1("params/us-east-1.json", "ci-key", "ci-out")
        .pin()
        .recorded("w.jsonl")
        .run(&c.token);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = check_chain_and_seal(&c, "w.jsonl");
    let steps: Vec<&str> = lines
        .iter()
        .map(|(_, v)| v["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "request",
            "token",
            "attestation",
            "check",
            "batch",
            "generate",
            "generated",
            "wrap",
            "commit",
            "wrapped",
            "finish",
            "seal"
        ]
    );
    let wrapped = std::fs::read(c.dir().join("ci-out/EncryptedKeyMaterial.bin")).unwrap();
    let material = c.regions[0]
        .kms
        .unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1");
    assert_eq!(
        step(&lines, "generated")[0]["key"]["kcv"].as_str().unwrap(),
        kcv_python("aes-ecb-zero-3", &material)
    );
    // Its two steps, each as it finished, then the sealed transcript.
    assert_eq!(
        String::from_utf8(out.stdout.clone()).unwrap(),
        format!(
            "Key \"ci-key\" (AES_256): KCV {} (aes-ecb-zero-3).\n\
             Wrote ci-out/ — next: sh ci-out/import.sh\n\
             Completed. Sealed transcript: w.jsonl\n{}",
            kcv_aloud(step(&lines, "generated")[0]["key"]["kcv"].as_str().unwrap()),
            seal_aloud(&c.dir().join("w.jsonl"))
        )
    );
    let params = std::fs::read(c.dir().join("params/us-east-1.json")).unwrap();
    assert_eq!(
        step(&lines, "request")[0]["params_sha256"],
        hex::encode(Sha256::digest(params))
    );
}

/// Custodians may come from an OpenSSH `allowed_signers` file, the same one
/// `ssh-keygen -Y verify` reads.
#[test]
fn custodians_from_an_allowed_signers_file() {
    let c = Ceremony::new(&["us-east-1"]);
    let mut signers = String::from("# who may approve keyrite plans\n");
    for name in ["alice", "bob", "carol"] {
        signers.push_str(&format!(
            "{name} namespaces=\"keyrite-plan\" {}\n",
            c.person(name).public()
        ));
    }
    std::fs::write(c.dir().join("custodians.allowed_signers"), &signers).unwrap();
    std::fs::write(
        c.dir().join("policy.toml"),
        format!(
            "version = 1\nthreshold = 2\nsigner_fingerprint = \"{}\"\ncustodians_file = \"custodians.allowed_signers\"\n",
            c.signer_fingerprint
        ),
    )
    .unwrap();
    c.digest();
    c.approve("carol", "keyrite-plan", "carol.sig");
    c.approve("bob", "keyrite-plan", "bob.sig");
    // ssh-keygen agrees with the same file.
    let sig = c.dir().join("approvals/bob.sig");
    let out = run(
        Command::new("sh").arg("-c").arg(format!(
            "ssh-keygen -Y verify -f custodians.allowed_signers -I bob -n keyrite-plan -s {} < plan.digest",
            sig.display()
        ))
        .current_dir(c.dir()),
    );
    assert!(out.status.success());
    let out = c.run("t.jsonl");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = check_chain_and_seal(&c, "t.jsonl");
    let policy = step(&lines, "policy")[0];
    assert_eq!(
        policy["custodians_file"]["sha256"],
        hex::encode(Sha256::digest(signers.as_bytes()))
    );
    let approved: Vec<&str> = step(&lines, "approvals")[0]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["custodian"].as_str().unwrap())
        .collect();
    assert_eq!(approved, ["bob", "carol"]);
}

/// `keyrite plan check` calls "valid" only a plan that can still run: what `ceremony run`
/// refuses before the token is opened, it refuses too, with the same message; parameters that
/// expire inside the window are a warning.
#[test]
fn plan_check_refuses_a_plan_that_can_never_run() {
    let c = Ceremony::new(&["us-east-1"]);
    let objects = c.token.objects();
    let lines = |out: &std::process::Output| {
        stderr(out)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    let params = |valid_to: &str| {
        write_json(
            c.dir(),
            "params/us-east-1.json",
            &c.regions[0].kms.aws_params(
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                valid_to,
            ),
        );
    };

    // A window already over: refused by plan check and by ceremony run, in the same words.
    let (start, end) = ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z");
    c.write_plan_window("payments-2026", start, end, "RSAES_OAEP_SHA_1");
    c.approve_plan();
    let hint = "A plan never runs after its not_after: write a new plan with a new window and a new ceremony_id, and have it approved.";
    for (name, out) in [
        ("plan check", c.plan_check()),
        ("ceremony run", c.run("t.jsonl")),
    ] {
        let got = lines(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {got:?}");
        assert_eq!(got.len(), 2, "{name}: {got:?}");
        let now = got[0]
            .strip_prefix(&format!(
                "keyrite: the plan may run from {start} to {end}; it is now "
            ))
            .unwrap_or_else(|| panic!("{name}: {got:?}"));
        assert!(now.starts_with("20") && now.ends_with('Z'), "{name}: {now}");
        assert_eq!(got[1], hint, "{name}");
    }

    // A window that has not begun is a plan custodians may approve; only the run waits.
    let (start, end) = (hours_from_now(1), hours_from_now(23));
    c.write_plan_window("payments-2026", &start, &end, "RSAES_OAEP_SHA_1");
    c.approve_plan();
    let out = c.plan_check();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = c.run("t.jsonl");
    let got = lines(&out);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("keyrite: the plan may run from "),
        "{got:?}"
    );
    assert_eq!(
        got[1],
        "Run the plan once its window has opened; moving the window changes the plan, which then needs new approvals."
    );

    // The PIN from shares, under a policy that pins none: refused before the module is loaded.
    c.write_plan("payments-2026", "RSAES_OAEP_SHA_1");
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    std::fs::write(
        c.dir().join("plan.toml"),
        plan.replace(&format!("pin = \"env:{PIN_ENV}\""), "pin = \"shares\""),
    )
    .unwrap();
    c.approve_plan();
    let expected = "keyrite: the plan takes the PIN from shares, but the policy pins no pin_shares\n\
        Put the pin_shares line `keyrite pin split` printed in the policy (with module_sha256), or have the plan take the PIN another way (pin = \"prompt\" or \"env:NAME\"), which needs new approvals.\n";
    let out = c.plan_check();
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(1), expected)
    );
    let out = run(c
        .run_command("t.jsonl")
        .args(["--module", "/nonexistent/module.so"]));
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (Some(1), expected)
    );

    // Parameters that expire inside the window: a warning naming the step, the file and both
    // times; the plan is still shown.
    c.write_plan_window(
        "payments-2026",
        "2020-01-01T00:00:00Z",
        "2031-01-01T00:00:00Z",
        "RSAES_OAEP_SHA_1",
    );
    params("2030-01-01T00:00:00Z");
    let out = c.plan_check();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "keyrite: warning: plan.toml: steps[1]: the import parameters params/us-east-1.json expire at 2030-01-01T00:00:00Z, before the plan's window closes at 2031-01-01T00:00:00Z: a run after 2030-01-01T00:00:00Z is refused\n\
         Run the ceremony before the parameters expire, or get new ones from the KMS (the plan then needs new approvals).\n"
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("Plan \"payments-2026\" (plan.toml) is valid: 2 steps,")
    );

    // Parameters that expire before the window opens: no run can use them.
    c.write_plan_window(
        "payments-2026",
        "2030-06-01T00:00:00Z",
        "2031-01-01T00:00:00Z",
        "RSAES_OAEP_SHA_1",
    );
    let out = c.plan_check();
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (
            Some(1),
            "keyrite: plan.toml: steps[1]: the import parameters params/us-east-1.json expire at 2030-01-01T00:00:00Z, before the plan's window opens at 2030-06-01T00:00:00Z: no run can use them\n\
             Get new import parameters from the KMS close to the ceremony (they expire: AWS's after 24 hours, a Google import job after 3 days), or open the window earlier; either change needs new approvals.\n"
        )
    );

    // The same for a step's valid_to, the key material's expiry in the KMS.
    params("2032-01-01T00:00:00Z");
    let with_valid_to = |not_before: &str| {
        c.write_plan_window(
            "payments-2026",
            not_before,
            "2031-01-01T00:00:00Z",
            "RSAES_OAEP_SHA_1",
        );
        let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
        std::fs::write(
            c.dir().join("plan.toml"),
            plan.replace(
                "out = \"payments-2026-us-east-1\"",
                "out = \"payments-2026-us-east-1\"\nvalid_to = \"2030-01-01T00:00:00Z\"",
            ),
        )
        .unwrap();
        c.plan_check()
    };
    let out = with_valid_to("2020-01-01T00:00:00Z");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "keyrite: warning: plan.toml: steps[1].valid_to: 2030-01-01T00:00:00Z is before the plan's window closes at 2031-01-01T00:00:00Z: a run after 2030-01-01T00:00:00Z is refused\n\
         Run the ceremony before the step's valid_to, or give a later one (the plan then needs new approvals).\n"
    );
    let out = with_valid_to("2030-06-01T00:00:00Z");
    assert_eq!(
        (out.status.code(), stderr(&out).as_str()),
        (
            Some(1),
            "keyrite: plan.toml: steps[1].valid_to: 2030-01-01T00:00:00Z is before the plan's window opens at 2030-06-01T00:00:00Z: every run refuses material that expires before it is wrapped\n\
             Give a valid_to after the plan's window (RFC 3339), or leave it out for material that never expires; a changed plan needs new approvals.\n"
        )
    );
    assert!(!c.dir().join("t.jsonl").exists());
    assert_eq!(c.token.objects(), objects, "the token changed");
}

/// `keyrite plan check` names the field by its path and the accepted values.
#[test]
fn plan_errors_name_the_field() {
    let c = Ceremony::new(&["us-east-1"]);
    let plan = std::fs::read_to_string(c.dir().join("plan.toml")).unwrap();
    let cases = [
        (
            plan.replace("params/us-east-1.json", "params/eu.json"),
            "keyrite: plan.toml:18:10: steps[1].params: file not found: params/eu.json\n",
        ),
        (
            plan.replace("provider = \"aws\"", "provider = \"oci\""),
            "keyrite: plan.toml:17:12: steps[1].provider: \"oci\" is not one of aws, alibaba, gcp, azure, vault, pkcs11-backup\n",
        ),
        (
            plan.replace(
                "params = \"params/us-east-1.json\"",
                "params = \"../params/us-east-1.json\"",
            ),
            "keyrite: plan.toml:18:10: steps[1].params: \"../params/us-east-1.json\" must be a path relative to the plan's directory, without `..`\n",
        ),
        (
            plan.replace(
                "key_label = \"payments-2026\"\nprovider",
                "key_label = \"other\"\nprovider",
            ),
            "keyrite: plan.toml:16:13: steps[1].key_label: \"other\" is not generated by an earlier step (to wrap a key already on the token, use rewrap)\n",
        ),
        (
            plan.replace("pin = \"env:KR_TEST_PIN\"", "pin = \"1234\""),
            "keyrite: plan.toml:8:7: pin: the value is not \"prompt\", \"env:NAME\" or \"shares\"; it is not repeated here, in case it is the PIN
",
        ),
        (
            plan.replace(
                "operator = \"Olivia\"",
                "operator = \"Olivia\"\ncustodians = []",
            ),
            "keyrite: plan.toml:6:1: unknown field `custodians`, expected one of `version`, `ceremony_id`, `not_before`, `not_after`, `operator`, `token_label`, `signing_key_label`, `pin`, `attestation_roots`, `steps`\n",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(c.dir().join("plan.toml"), text).unwrap();
        let out = c.plan_check();
        assert_refused(&out.stderr, expected, "plan check");
        assert_eq!(out.status.code(), Some(2));
    }
}

/// No character that could redraw a terminal line or reorder what is read: controls other
/// than the newline ending each line, bidi embeddings, overrides, isolates and marks.
fn assert_plain(text: &str, context: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&ch| {
            (ch.is_control() && ch != '\n')
                || matches!(ch, '\u{200e}' | '\u{200f}' | '\u{61c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "{context}: {bad:?} in {text:?}");
}

#[test]
fn plan_check_shows_names_escaped_and_each_wraps_kms_key_and_wrapping_key() {
    let c = Ceremony::new(&["us-east-1", "eu-west-1"]);
    // A parameters file and an output named with a right-to-left override, in a plan whose own
    // name holds a newline and one too.
    let params = "params/us-east-1\u{202e}nosj.json";
    std::fs::rename(c.dir().join("params/us-east-1.json"), c.dir().join(params)).unwrap();
    let plan_name = "plan\n\u{202e}.toml";
    let text = std::fs::read_to_string(c.dir().join("plan.toml"))
        .unwrap()
        .replace("params/us-east-1.json", params)
        .replace(
            "out = \"payments-2026-us-east-1\"",
            "out = \"payments-2026-us-east-1\u{202e}txt\"",
        );
    std::fs::write(c.dir().join(plan_name), &text).unwrap();
    let out = run(c
        .token
        .keyrite()
        .args(["plan", "check", plan_name, "--policy", "policy.toml"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_plain(&shown, "plan check");

    // The wrapping keys' fingerprints, computed from the KMS side's private keys by openssl.
    let fingerprint = |kms: &Kms| {
        let out = run_ok(Command::new("sh").arg("-c").arg(format!(
            "openssl pkey -in '{}' -pubout -outform DER | sha256sum",
            kms.private_pem.display()
        )));
        String::from_utf8(out).unwrap()[..64].to_owned()
    };
    let arn = |region: &str| {
        format!("arn:aws:kms:{region}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    };
    let sha = |name: &str| hex::encode(Sha256::digest(std::fs::read(c.dir().join(name)).unwrap()));
    let lines: Vec<&str> = shown.lines().collect();
    assert!(
        lines[0].starts_with("Plan \"payments-2026\" (plan\\n\\u{202e}.toml) is valid: 3 steps,"),
        "{}",
        lines[0]
    );
    let mut expected = vec![
        "  steps[0] generate AES_256 key \"payments-2026\"".to_owned(),
        "  steps[1] wrap \"payments-2026\" for AWS KMS (params/us-east-1\\u{202e}nosj.json) \
         with RSAES_OAEP_SHA_1 into payments-2026-us-east-1\\u{202e}txt"
            .to_owned(),
        format!("    KMS key {}", arn("us-east-1")),
    ];
    expected.extend(
        aloud(
            "    ",
            "wrapping key SHA-256",
            &fingerprint(&c.regions[0].kms),
        )
        .lines()
        .map(str::to_owned),
    );
    let not_attested = "    the wrapping key is not attested: AWS KMS's GetParametersForImport \
         carries no attestation of its wrapping key";
    expected.extend([
        not_attested.to_owned(),
        "  steps[2] wrap \"payments-2026\" for AWS KMS (params/eu-west-1.json) \
         with RSAES_OAEP_SHA_1 into payments-2026-eu-west-1"
            .to_owned(),
        format!("    KMS key {}", arn("eu-west-1")),
    ]);
    expected.extend(
        aloud(
            "    ",
            "wrapping key SHA-256",
            &fingerprint(&c.regions[1].kms),
        )
        .lines()
        .map(str::to_owned),
    );
    expected.push(not_attested.to_owned());
    assert_eq!(lines[1..18], expected);
    // The plan digest: the SHA-256 of the statement `plan digest` prints (the bytes to sign).
    let statement = run_ok(c.token.keyrite().args(["plan", "digest", plan_name]));
    assert_eq!(
        lines[19..24].join("\n") + "\n",
        aloud(
            "",
            "Plan digest (SHA-256 of the statement below)",
            &hex::encode(Sha256::digest(&statement)),
        )
    );
    assert_eq!(
        lines[24..],
        [
            "Digest to sign, its names shown escaped (keyrite plan digest prints the bytes to sign):"
                .to_owned(),
            "keyrite plan digest v1".to_owned(),
            "ceremony_id payments-2026".to_owned(),
            format!("{}  plan\\n\\u{{202e}}.toml", sha(plan_name)),
            format!("{}  params/us-east-1\\u{{202e}}nosj.json", sha(params)),
            format!("{}  params/eu-west-1.json", sha("params/eu-west-1.json")),
        ]
    );

    // A newline in a path the plan names is refused, and the refusal shows it escaped too.
    std::fs::write(c.dir().join("plan.toml"), text.replace("txt\"", "\\ntxt\"")).unwrap();
    let out = c.plan_check();
    assert_eq!(out.status.code(), Some(2));
    let refusal = stderr(&out);
    assert_plain(&refusal, "refusal");
    assert!(
        refusal.starts_with(
            "keyrite: plan.toml:20:7: steps[1].out: \"payments-2026-us-east-1\\u{202e}\\ntxt\" must be a path"
        ),
        "{refusal}"
    );
}

/// Writes and has alice and bob approve plan "many": `keys` keys, each generated, then wrapped
/// for the one region into `out-KK`.
fn write_many_steps(c: &Ceremony, keys: usize) {
    let steps: Vec<String> = (0..keys)
        .map(|k| {
            format!(
                "action = \"generate\"\nkey_label = \"key-{k:02}\"\n\n[[steps]]\naction = \"wrap\"\n\
                 key_label = \"key-{k:02}\"\nprovider = \"aws\"\nparams = \"params/us-east-1.json\"\n\
                 algorithm = \"RSAES_OAEP_SHA_1\"\nout = \"out-{k:02}\"\n"
            )
        })
        .collect();
    c.write_approved_plan("many", &steps.join("\n[[steps]]\n"));
}

/// What a completed run of [`write_many_steps`] prints: who approved it, one line a step in step
/// order (each key with the KCV its transcript records), and where the sealed transcript is.
fn many_steps_lines(c: &Ceremony, transcript: &str, keys: usize) -> Vec<String> {
    let lines = c.transcript(transcript);
    let generated = step(&lines, "generated");
    assert_eq!(generated.len(), keys);
    let mut expected = vec!["Plan \"many\" approved by 2 of 2 required: alice, bob.".to_owned()];
    expected.extend(c.plan_digest_aloud().lines().map(str::to_owned));
    for (k, g) in generated.iter().enumerate() {
        assert_eq!(g["key"]["label"], format!("key-{k:02}"));
        expected.push(format!(
            "Key \"key-{k:02}\" (AES_256): KCV {} (aes-ecb-zero-3).",
            kcv_aloud(g["key"]["kcv"].as_str().unwrap())
        ));
        expected.push(format!("Wrote out-{k:02}/ — next: sh out-{k:02}/import.sh"));
    }
    expected.push(format!("Completed. Sealed transcript: {transcript}"));
    expected.extend(
        seal_aloud(&c.dir().join(transcript))
            .lines()
            .map(str::to_owned),
    );
    expected
}

/// Waits until process `pid` has stopped itself at a `KEYRITE_FAULT=…:stop` point.
fn wait_stopped(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        if stat.split_whitespace().nth(2) == Some("T") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "keyrite did not stop (is it built with --features fault-injection, as scripts/test builds it?)"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `ceremony run` into `t.jsonl`, stdout to `stdout.txt`, stopped at fault point `stop`; what
/// it had printed by then, and its output once `meanwhile` ran and it was let go on.
fn run_stopped(
    c: &Ceremony,
    stop: &str,
    batch_steps: &str,
    meanwhile: impl FnOnce(),
) -> (String, std::process::Output, String) {
    let printed = c.dir().join("stdout.txt");
    let child = c
        .run_command("t.jsonl")
        .args(["--batch-steps", batch_steps, "--batch-ms", "600000"])
        .env("KEYRITE_FAULT", format!("{stop}:stop"))
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_stopped(pid);
    let so_far = std::fs::read_to_string(&printed).unwrap();
    meanwhile();
    run_ok(Command::new("kill").args(["-CONT", &pid.to_string()]));
    let out = child.wait_with_output().unwrap();
    (so_far, out, std::fs::read_to_string(&printed).unwrap())
}

/// A 30-step ceremony prints each step the moment its batch is committed, in step order, one
/// line a step: in batches of two steps (a key and its wrap), stopped while its sixth output is
/// staged, it has printed the ten steps of the five batches before and nothing after; in one
/// batch, nothing until the batch's outputs are in place. Piped, not a byte of terminal
/// control is written.
#[test]
fn a_long_ceremony_prints_each_step_as_it_finishes_in_step_order() {
    for (batch_steps, stop, printed_before) in
        [("2", "output-staged:6", 10), ("64", "output-staged:1", 0)]
    {
        let c = Ceremony::new(&["us-east-1"]);
        write_many_steps(&c, 15);
        let (so_far, out, printed) = run_stopped(&c, stop, batch_steps, || {});
        assert!(out.status.success(), "{}", stderr(&out));
        let expected = many_steps_lines(&c, "t.jsonl", 15);
        assert_eq!(expected.len(), 42);
        assert_eq!(printed.lines().collect::<Vec<_>>(), expected);
        assert_eq!(
            so_far.lines().collect::<Vec<_>>(),
            expected[..6 + printed_before]
        );
        assert!(printed.ends_with('\n') && so_far.ends_with('\n'));
        assert!(!printed.contains('\u{1b}'), "{printed:?}");
        assert_eq!(stderr(&out), "");
        c.assert_verifies("t.jsonl");
    }
}

/// A ceremony that fails mid-run has printed the steps it did, in step order, and then says
/// why it failed: here an output directory that appeared under the run, after the checks.
#[test]
fn a_ceremony_failing_mid_run_printed_the_steps_done_then_the_error() {
    let c = Ceremony::new(&["us-east-1"]);
    write_many_steps(&c, 3);
    let (so_far, out, printed) = run_stopped(&c, "output-staged:1", "2", || {
        std::fs::create_dir(c.dir().join("out-01")).unwrap();
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = c.transcript("t.jsonl");
    let kcv = |k: usize| {
        step(&lines, "generated")[k]["key"]["kcv"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut expected = vec!["Plan \"many\" approved by 2 of 2 required: alice, bob.".to_owned()];
    expected.extend(c.plan_digest_aloud().lines().map(str::to_owned));
    expected.extend([
        format!(
            "Key \"key-00\" (AES_256): KCV {} (aes-ecb-zero-3).",
            kcv_aloud(&kcv(0))
        ),
        "Wrote out-00/ — next: sh out-00/import.sh".to_owned(),
        format!(
            "Key \"key-01\" (AES_256): KCV {} (aes-ecb-zero-3).",
            kcv_aloud(&kcv(1))
        ),
    ]);
    assert_eq!(printed.lines().collect::<Vec<_>>(), expected);
    assert_eq!(so_far.lines().count(), 6, "{so_far}");
    assert!(
        stderr(&out).starts_with("keyrite: the ceremony failed at steps[3] (wrap): "),
        "{}",
        stderr(&out)
    );
    assert_eq!(step(&lines, "finish")[0]["outcome"], "failed");
}

/// Two sessions of the token run a batch's steps in parallel, once the run's first batch has
/// run on one for a measure; the record and the printed lines keep the plan's order, every
/// batch line says how many sessions ran it (after the second, two if they paid, else one and
/// keyrite says so), the three verifiers accept it, and each output unwraps (with the KMS key,
/// in Rust's `rsa`) to a key whose KCV, computed by Python, is the one recorded.
#[test]
fn two_sessions_run_the_batches_in_parallel_and_the_record_keeps_the_plans_order() {
    let c = Ceremony::new(&["us-east-1"]);
    write_many_steps(&c, 12);
    let out = run(c.run_command("t.jsonl").args([
        "--sessions",
        "2",
        "--batch-steps",
        "8",
        "--batch-ms",
        "600000",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stderr(&out);
    assert_eq!(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .collect::<Vec<_>>()[..30],
        many_steps_lines(&c, "t.jsonl", 12)[..30]
    );
    let lines = c.transcript("t.jsonl");
    let batches: Vec<&Value> = step(&lines, "batch")
        .iter()
        .map(|b| &b["sessions"])
        .collect();
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_eq!(batches[..2], [1, 2], "{batches:?}");
    let kept = batches[2] == 2;
    if kept {
        assert_eq!(printed, "");
    } else {
        assert!(
            printed.starts_with(
                "keyrite: warning: 2 sessions were asked for; the steps run on 1: from steps[16] on, as 2 sessions did the token's steps at "
            ) && printed.ends_with(": the token or its module serializes calls\n"),
            "{printed}"
        );
    }
    c.assert_verifies("t.jsonl");
    for (name, out) in common::verifiers::VERIFIERS
        .iter()
        .zip(common::verifiers::verifiers(
            &c.dir().join("t.jsonl"),
            &c.dir().join("signer.pem"),
            Some(&c.dir().join("policy.toml")),
            Some(c.dir()),
            &[],
        ))
    {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for (k, generated) in step(&lines, "generated").iter().enumerate() {
        let wrapped =
            std::fs::read(c.dir().join(format!("out-{k:02}/EncryptedKeyMaterial.bin"))).unwrap();
        let material = c.regions[0]
            .kms
            .unwrap_rsa_crate(&wrapped, "RSAES_OAEP_SHA_1");
        assert_eq!(
            kcv_python("aes-ecb-zero-3", &material),
            generated["key"]["kcv"].as_str().unwrap()
        );
    }
}

/// How a run asked for four sessions goes on a module in front of the token
/// (`tests/shim/cant_lock.c`, its `C_GenerateKey` and `C_WrapKey` 20 ms slower, so that sessions
/// pay where calls overlap).
struct SessionsCase {
    /// The shim's settings.
    shim: &'static [(&'static str, &'static str)],
    /// What keyrite says on stderr: all of it, or (`…` at the end) how it begins.
    warning: &'static str,
    /// The lines the shim logs for `C_Initialize`.
    initialized: &'static [&'static str],
    /// The sessions each batch line records.
    batches: &'static [u64],
    /// Whether two calls were ever in flight at once.
    overlap: bool,
}

/// A module that cannot lock for threads (its `C_Initialize` answers `CKF_OS_LOCKING_OK` with
/// `CKR_CANT_LOCK`) is initialised for one thread, and a run asked for four sessions says so and
/// runs on one: no two calls overlap. A token that opens only two sessions runs on two, and says
/// so. On a module that locks, the run's first batch runs on one session and the next on all
/// four, which pay there and are kept; on a module that serializes its calls they do not pay,
/// and the run says so and keeps to one. Every batch line records its sessions, and every
/// transcript verifies.
#[test]
fn a_module_that_cannot_lock_or_serializes_runs_on_one_session_and_says_so() {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shim/cant_lock.c");
    let cases = [
        SessionsCase {
            shim: &[],
            warning: "keyrite: warning: 4 sessions were asked for; the steps run on 1: the module cannot lock for threads (C_Initialize answered CKF_OS_LOCKING_OK with CKR_CANT_LOCK), so keyrite calls it from one\n",
            initialized: &["initialize refused", "initialize one thread"],
            batches: &[1, 1, 1, 1],
            overlap: false,
        },
        SessionsCase {
            shim: &[("CANT_LOCK_LOCKS", "1"), ("CANT_LOCK_SESSIONS", "2")],
            warning: "keyrite: warning: 4 sessions were asked for; the steps run on 2: the token opened no more: C_OpenSession returned CKR_SESSION_COUNT\n",
            initialized: &["initialize locking"],
            batches: &[1, 2, 2, 2],
            overlap: true,
        },
        SessionsCase {
            shim: &[("CANT_LOCK_LOCKS", "1")],
            warning: "",
            initialized: &["initialize locking"],
            batches: &[1, 4, 4, 4],
            overlap: true,
        },
        SessionsCase {
            shim: &[("CANT_LOCK_LOCKS", "1"), ("CANT_LOCK_SERIAL", "1")],
            warning: "keyrite: warning: 4 sessions were asked for; the steps run on 1: from steps[12] on, as 4 sessions did the token's steps at …",
            initialized: &["initialize locking"],
            batches: &[1, 4, 1, 1],
            overlap: false,
        },
    ];
    for case in cases {
        let shim_env = case.shim;
        let c = Ceremony::new(&["us-east-1"]);
        write_many_steps(&c, 12);
        let shim = c.dir().join("cant_lock.so");
        run_ok(
            Command::new("gcc")
                .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o"])
                .arg(&shim)
                .arg(source),
        );
        let log = c.dir().join("calls.log");
        let mut cmd = c.run_command("t.jsonl");
        // Batches closed by count alone, not by time, on a machine however busy.
        cmd.args([
            "--sessions",
            "4",
            "--batch-steps",
            "6",
            "--batch-ms",
            "600000",
        ])
        .arg("--module")
        .arg(&shim)
        .env("CANT_LOCK_REAL", c.token.keyrite_module())
        .env("CANT_LOCK_LOG", &log)
        .envs(shim_env.iter().copied());
        let out = run(&mut cmd);
        assert!(out.status.success(), "{shim_env:?}: {}", stderr(&out));
        let printed = stderr(&out);
        match case.warning.strip_suffix('…') {
            Some(begins) => {
                assert!(printed.starts_with(begins), "{shim_env:?}: {printed}");
                assert!(
                    printed.ends_with("the token or its module serializes calls\n"),
                    "{printed}"
                );
                assert_eq!(printed.lines().count(), 1, "{printed}");
            }
            None => assert_eq!(printed, case.warning, "{shim_env:?}"),
        }
        let calls = std::fs::read_to_string(&log).unwrap();
        let inits: Vec<&str> = calls
            .lines()
            .filter(|l| l.starts_with("initialize"))
            .collect();
        assert_eq!(inits, case.initialized, "{shim_env:?}");
        assert_eq!(
            calls.lines().any(|l| l == "concurrent"),
            case.overlap,
            "{shim_env:?}"
        );
        let lines = c.transcript("t.jsonl");
        let batches: Vec<&Value> = step(&lines, "batch")
            .iter()
            .map(|b| &b["sessions"])
            .collect();
        assert_eq!(batches, case.batches, "{shim_env:?}");
        assert_eq!(step(&lines, "wrapped").len(), 12);
        c.assert_verifies("t.jsonl");
    }
}

/// Sessions asked for where nothing can run in parallel keep to one session, and keyrite says
/// so: a plan that ends within its first batch (no full batch gave the pace of one session to
/// measure more by; said at its end), and batches of one step.
#[test]
fn sessions_that_cannot_pay_keep_to_one_and_say_so() {
    let cases: [(&[&str], &str, &[u64]); 2] = [
        (
            &["--batch-ms", "600000"],
            "the plan's steps ended before a batch ran on more (a run's first full batch, closed by count or by time, runs on one session, for the pace to measure more by)",
            &[1],
        ),
        (
            &["--batch-steps", "1"],
            "a batch of one step (--batch-steps 1) has nothing to run in parallel",
            &[1; 6],
        ),
    ];
    for (args, why, sessions) in cases {
        let c = Ceremony::new(&["us-east-1"]);
        write_many_steps(&c, 3);
        let out = run(c
            .run_command("t.jsonl")
            .args(["--sessions", "2"])
            .args(args));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!("keyrite: warning: 2 sessions were asked for; the steps run on 1: {why}\n")
        );
        let lines = c.transcript("t.jsonl");
        let batches: Vec<&Value> = step(&lines, "batch")
            .iter()
            .map(|b| &b["sessions"])
            .collect();
        assert_eq!(batches, sessions, "{args:?}");
        c.assert_verifies("t.jsonl");
    }
}

/// An output directory someone else makes while a one-session batch runs (after the run's
/// checks found it absent) fails the wrap step that writes it, where its move would have: the
/// outputs before it are in place, whole and named; the keys they wrap are kept and every
/// other is destroyed (those of the steps the batch began before its writer thread reported
/// the failure included); the other directory is left as it was, no staging directory is left;
/// and the three verifiers agree that the ceremony failed.
#[test]
fn an_output_made_by_someone_else_mid_batch_fails_its_step_and_settles_every_key() {
    let c = Ceremony::new(&["us-east-1"]);
    write_many_steps(&c, 6);
    let dir = c.dir().to_path_buf();
    // Stopped while the writer writes the first output's last file; out-02 made meanwhile.
    let child = c
        .run_command("t.jsonl")
        .args(["--batch-steps", "12", "--batch-ms", "600000"])
        .env("KEYRITE_FAULT", "output-file:5:stop")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_stopped(child.id());
    std::fs::create_dir(dir.join("out-02")).unwrap();
    std::fs::write(dir.join("out-02/theirs.txt"), b"not keyrite's").unwrap();
    run_ok(Command::new("kill").args(["-CONT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("keyrite: the ceremony failed at steps[5] (wrap): "),
        "{}",
        stderr(&out)
    );
    let lines = c.transcript("t.jsonl");
    assert_eq!(step(&lines, "failure")[0]["index"], 5);
    let wrapped: Vec<&Value> = step(&lines, "wrapped")
        .iter()
        .map(|w| &w["index"])
        .collect();
    assert_eq!(wrapped, [1, 3]);
    // In label order: a token lists its objects in an order of its own.
    let kept: std::collections::BTreeSet<String> = c
        .token
        .objects()
        .iter()
        .filter_map(|o| o["label"].as_str().map(str::to_owned))
        .filter(|l| l.starts_with("key-"))
        .collect();
    assert_eq!(kept.iter().collect::<Vec<_>>(), ["key-00", "key-01"]);
    for k in 0..2 {
        let out = dir.join(format!("out-{k:02}"));
        let manifest = std::fs::read(out.join("manifest.json")).unwrap();
        assert_eq!(
            step(&lines, "wrapped")[k]["files"]["manifest.json"],
            hex::encode(Sha256::digest(&manifest)).as_str()
        );
    }
    assert_eq!(std::fs::read_dir(dir.join("out-02")).unwrap().count(), 1);
    for k in 3..6 {
        assert!(!dir.join(format!("out-{k:02}")).exists());
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains("keyrite-"), "{name} is left");
    }
    assert_eq!(c.verify_against_plan("t.jsonl"), Some(3));
    assert_eq!(
        common::verifiers::verifier_codes(
            &dir.join("t.jsonl"),
            &dir.join("signer.pem"),
            Some(&dir.join("policy.toml")),
            None,
        ),
        [3, 3, 3]
    );
}

/// A step that fails in one session of a parallel batch stops the other at its next step: the
/// steps before it are committed and printed, the failure names it, and the key it would have
/// wrapped, wrapped nowhere, is destroyed.
#[test]
fn a_failure_in_one_session_stops_the_batch_and_the_record_says_which_steps_completed() {
    let c = Ceremony::new(&["us-east-1"]);
    write_many_steps(&c, 6);
    let printed = c.dir().join("stdout.txt");
    let child = c
        .run_command("t.jsonl")
        .args([
            "--sessions",
            "2",
            "--batch-steps",
            "4",
            "--batch-ms",
            "600000",
        ])
        .env("KEYRITE_FAULT", "output-staged:1:stop")
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_stopped(child.id());
    std::fs::create_dir(c.dir().join("out-03")).unwrap();
    run_ok(Command::new("kill").args(["-CONT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("keyrite: the ceremony failed at steps[7] (wrap): "),
        "{}",
        stderr(&out)
    );
    let lines = c.transcript("t.jsonl");
    let wrapped: Vec<u64> = step(&lines, "wrapped")
        .iter()
        .map(|w| w["index"].as_u64().unwrap())
        .collect();
    assert_eq!(wrapped, [1, 3, 5]);
    assert_eq!(step(&lines, "failure")[0]["index"], 7);
    let finish = &step(&lines, "finish")[0];
    let fate = |label: &str| {
        finish["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["label"] == label)
            .map(|k| k["fate"].as_str().unwrap().to_owned())
    };
    assert!(fate("key-03").unwrap().starts_with("destroyed"), "{finish}");
    assert!(fate("key-02").unwrap().starts_with("kept"), "{finish}");
    assert!(!c.token.objects().iter().any(|o| o["label"] == "key-03"));
    let printed = std::fs::read_to_string(&printed).unwrap();
    assert_eq!(printed.lines().count(), 6 + 7, "{printed}");
    assert_eq!(c.verify_against_plan("t.jsonl"), Some(3));
}

/// A resumed run says which steps it took over from the interrupted one, and prints the rest as
/// a first run does.
#[test]
fn a_resumed_ceremony_says_which_steps_were_resumed() {
    let c = Ceremony::approved(&["us-east-1"]);
    let killed = run(c
        .run_command("t.jsonl")
        .env("KEYRITE_FAULT", "output-file:1"));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "{}",
        stderr(&killed)
    );
    let lines = c.transcript("t.jsonl");
    let kcv = step(&lines, "generated")[0]["key"]["kcv"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!(
        "Key \"payments-2026\" (AES_256): KCV {} (aes-ecb-zero-3)",
        kcv_aloud(&kcv)
    );
    let approved = format!(
        "Plan \"payments-2026\" approved by 2 of 2 required: alice, bob.\n{}",
        c.plan_digest_aloud().trim_end()
    );
    // Killed inside the batch: its steps are told once it commits, so none was.
    assert_eq!(
        String::from_utf8(killed.stdout).unwrap(),
        format!("{approved}\n")
    );
    let resumed = run(c.run_command("t2.jsonl").args(["--resume-from", "t.jsonl"]));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(
        String::from_utf8(resumed.stdout).unwrap(),
        format!(
            "{approved}\n{key}, resumed: generated by the interrupted run.\n\
             Wrote payments-2026-us-east-1/ — next: sh payments-2026-us-east-1/import.sh\n\
             Completed. Sealed transcript: t2.jsonl\n{}",
            seal_aloud(&c.dir().join("t2.jsonl"))
        )
    );
}

/// What a ceremony of three keys, each wrapped once, shows on a pseudo-terminal (`script`)
/// whose line is `columns` wide (the terminal's own width if `None`).
fn many_steps_on_a_terminal(columns: Option<u16>) -> (Ceremony, String) {
    let c = Ceremony::new(&["us-east-1"]);
    write_many_steps(&c, 3);
    let keyrite = c.run_command("t.jsonl");
    let mut line = columns.map_or_else(String::new, |n| format!("stty cols {n} && "));
    for word in std::iter::once(keyrite.get_program()).chain(keyrite.get_args()) {
        line.push_str(&format!("'{}' ", word.to_str().unwrap()));
    }
    let out = run(Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .envs(
            keyrite
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("TERM", "xterm")
        .current_dir(c.dir())
        .stdin(Stdio::null()));
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen:?}");
    (c, screen)
}

/// On a terminal (`script` gives the run a pseudo-terminal), a progress bar on stderr shows
/// "step k/N" and the step under way, then that it is done, and every step's line is printed
/// above it, in order.
#[test]
fn on_a_terminal_a_progress_bar_shows_the_step_under_way() {
    let (c, screen) = many_steps_on_a_terminal(None);
    // indicatif draws at most 20 frames a second, so a step under way may be skipped when steps
    // are quick; a step's line printed above the bar redraws it at once, so every "done" shows.
    let steps: Vec<String> = (0..3)
        .flat_map(|k| {
            [
                format!("generate AES_256 key \"key-0{k}\""),
                format!("wrap \"key-0{k}\" into out-0{k}"),
            ]
        })
        .collect();
    assert!(
        screen.contains("step 0/6 checking step 2: a trial wrap"),
        "{screen:?}"
    );
    for (k, label) in steps.iter().enumerate() {
        let done = format!("step {}/6 done: {label}", k + 1);
        assert!(screen.contains(&done), "{done:?} not shown: {screen:?}");
    }
    assert!(
        steps
            .iter()
            .enumerate()
            .any(|(k, label)| screen.contains(&format!("step {}/6 {label} ", k + 1))),
        "no step shown under way: {screen:?}"
    );
    // A step's label is never shown with the number of the step before or after it.
    for never in [
        "step 2/6 generate AES_256 key \"key-00\"",
        "step 1/6 wrap \"key-00\"",
    ] {
        assert!(!screen.contains(never), "{never:?} shown: {screen:?}");
    }
    let mut rest = screen.as_str();
    for expected in many_steps_lines(&c, "t.jsonl", 3) {
        let at = rest
            .find(&format!("{expected}\r\n"))
            .unwrap_or_else(|| panic!("{expected:?} not printed in order: {screen:?}"));
        rest = &rest[at + expected.len()..];
    }
}

/// On a narrow terminal the bar's label is cut after a whole word, with "…", never mid-word.
#[test]
fn on_a_narrow_terminal_the_progress_label_is_cut_at_a_word() {
    let (_, screen) = many_steps_on_a_terminal(Some(70));
    assert!(
        screen.contains("step 0/6 checking step 2: a trial…"),
        "{screen:?}"
    );
    assert!(!screen.contains("a trial wra"), "{screen:?}");
}

/// `ceremony run` shows what came from the plan and the policy as `plan check` does, through
/// `visible`: an output directory and a custodian's name with a bidi override or isolate,
/// which `plan check` shows escaped, must not reorder the run's own lines (the approvers, each
/// "Wrote …/ — next: sh …/import.sh") on the screen the room reads.
#[test]
fn ceremony_run_shows_names_escaped_as_plan_check_does() {
    let c = Ceremony::new(&["us-east-1"]);
    let text = std::fs::read_to_string(c.dir().join("plan.toml"))
        .unwrap()
        .replace(
            "out = \"payments-2026-us-east-1\"",
            "out = \"payments-2026-us-east-1\u{202e}txt\"",
        );
    std::fs::write(c.dir().join("plan.toml"), text).unwrap();
    let policy = std::fs::read_to_string(c.dir().join("policy.toml"))
        .unwrap()
        .replace("name = \"bob\"", "name = \"bob\u{2067}\"");
    assert!(policy.contains('\u{2067}'));
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
    let checked = c.plan_check();
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert_plain(&String::from_utf8(checked.stdout).unwrap(), "plan check");
    c.approve_plan();
    let out = c.run("t.jsonl");
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("bob\\u{2067}"), "{shown}");
    assert_plain(&shown, "ceremony run");
}

/// `verify` prints its checks' details with the policy's names in them (the approvers of the
/// quorum check, the holders of the PIN shares): a custodian's name with a bidi isolate must be
/// shown escaped there too, as `plan check` and `ceremony run` show it.
#[test]
fn verify_shows_the_policys_names_escaped_in_its_checks() {
    let c = Ceremony::new(&["us-east-1"]);
    let policy = std::fs::read_to_string(c.dir().join("policy.toml"))
        .unwrap()
        .replace("name = \"bob\"", "name = \"bob\u{2067}\"");
    std::fs::write(c.dir().join("policy.toml"), policy).unwrap();
    c.approve_plan();
    let out = c.run("t.jsonl");
    assert!(out.status.success(), "{}", stderr(&out));
    let verified = c.verify_all("t.jsonl");
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    let shown = String::from_utf8(verified.stdout).unwrap();
    assert_plain(&shown, "verify");
}
