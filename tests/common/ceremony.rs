//! A ceremony set up as a team would: a SoftHSM2 token with its signer, custodians' SSH keys
//! made by `ssh-keygen`, a policy, KMS keys with their import parameters, a plan, and approvals
//! signed with `ssh-keygen -Y sign`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::*;

/// A custodian (or outsider) with an SSH key pair made by `ssh-keygen`.
pub struct Person {
    pub name: &'static str,
    pub key: PathBuf,
}

impl Person {
    pub fn public(&self) -> String {
        std::fs::read_to_string(format!("{}.pub", self.key.display()))
            .unwrap()
            .trim()
            .to_owned()
    }
}

/// A policy in `dir` whose one custodian is a new SSH key and that says
/// `accept_backup_unwrap_oracle = true`: what `token backup-key create --for-key-pairs` needs.
pub fn policy_accepting_backup_oracle(dir: &Path) -> PathBuf {
    let alice = ssh_keygen(dir, "alice", &["-t", "ed25519"]);
    let policy = dir.join("backup-policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\nthreshold = 1\nsigner_fingerprint = \"{}\"\naccept_backup_unwrap_oracle = true\n\n[[custodians]]\nname = \"alice\"\nssh_key = \"{}\"\n",
            "0".repeat(64),
            alice.public()
        ),
    )
    .unwrap();
    policy
}

/// One wrap step of the plan, with its own KMS key.
pub struct Region {
    pub name: String,
    pub kms: Kms,
}

pub struct Ceremony {
    /// The plan's window, fixed when the ceremony is set up so a rewritten plan is the same.
    pub window: (String, String),
    pub token: TestToken,
    pub signer_pem: PathBuf,
    pub signer_fingerprint: String,
    pub people: Vec<Person>,
    pub regions: Vec<Region>,
}

pub fn ssh_keygen(dir: &Path, name: &'static str, kind: &[&str]) -> Person {
    let key = dir.join(format!("{name}.key"));
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", name])
            .args(kind)
            .arg("-f")
            .arg(&key),
    );
    Person { name, key }
}

impl Ceremony {
    /// A token with a signer, custodians alice (Ed25519), bob (ECDSA P-256) and carol
    /// (Ed25519), an outsider dave, and `regions` KMS keys with parameters.
    pub fn new(regions: &[&str]) -> Self {
        Self::on(TestToken::softhsm("ceremony"), regions)
    }

    /// [`Ceremony::new`] with its plan approved by alice and bob.
    pub fn approved(regions: &[&str]) -> Self {
        let c = Self::new(regions);
        c.approve_plan();
        c
    }

    /// The same on `token` (labelled "ceremony").
    pub fn on(token: TestToken, regions: &[&str]) -> Self {
        Self::signed_by(token, regions, &[])
    }

    /// [`Ceremony::on`], with `signer_args` given to `token signer create` (`--algorithm …`).
    pub fn signed_by(token: TestToken, regions: &[&str], signer_args: &[&str]) -> Self {
        let dir = token.dir.path().to_path_buf();
        let out = run(token
            .keyrite()
            .args([
                "token",
                "signer",
                "create",
                "--key-label",
                "ceremony-signer",
            ])
            .args(signer_args)
            .args(["--pin-env", PIN_ENV]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signer_pem = dir.join("signer.pem");
        std::fs::write(&signer_pem, &out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        let signer_fingerprint = stderr.trim().rsplit(' ').next().unwrap().to_owned();
        std::fs::create_dir(dir.join("keys")).unwrap();
        std::fs::create_dir(dir.join("params")).unwrap();
        std::fs::create_dir(dir.join("approvals")).unwrap();
        let keys = dir.join("keys");
        let people = vec![
            ssh_keygen(&keys, "alice", &["-t", "ed25519"]),
            ssh_keygen(&keys, "bob", &["-t", "ecdsa", "-b", "256"]),
            ssh_keygen(&keys, "carol", &["-t", "ed25519"]),
            ssh_keygen(&keys, "dave", &["-t", "ed25519"]),
            ssh_keygen(&keys, "wendy", &["-t", "ed25519"]),
        ];
        let regions = regions
            .iter()
            .map(|r| {
                let kms = Kms::new(&dir, 2048);
                let key_id = format!(
                    "arn:aws:kms:{r}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                );
                write_json(
                    &dir,
                    &format!("params/{r}.json"),
                    &kms.aws_params(&key_id, &hours_from_now(24)),
                );
                Region {
                    name: (*r).to_owned(),
                    kms,
                }
            })
            .collect();
        let c = Ceremony {
            // Closing before the parameters expire (a day from now), as a plan should.
            window: (hours_from_now(-1), hours_from_now(23)),
            token,
            signer_pem,
            signer_fingerprint,
            people,
            regions,
        };
        c.write_policy(2);
        c.write_plan("payments-2026", "RSAES_OAEP_SHA_1");
        c
    }

    pub fn dir(&self) -> &Path {
        self.token.dir.path()
    }

    pub fn person(&self, name: &str) -> &Person {
        self.people.iter().find(|p| p.name == name).unwrap()
    }

    /// A policy with alice, bob and carol as custodians and wendy as witness.
    pub fn write_policy(&self, threshold: usize) {
        let mut text = format!(
            "version = 1\nthreshold = {threshold}\nsigner_fingerprint = \"{}\"\n",
            self.signer_fingerprint
        );
        for name in ["alice", "bob", "carol"] {
            text.push_str(&format!(
                "\n[[custodians]]\nname = \"{name}\"\nssh_key = \"{}\"\n",
                self.person(name).public()
            ));
        }
        text.push_str(&format!(
            "\n[[witnesses]]\nname = \"wendy\"\nssh_key = \"{}\"\n",
            self.person("wendy").public()
        ));
        std::fs::write(self.dir().join("policy.toml"), text).unwrap();
    }

    /// A plan: generate one key, wrap it for every region with `algorithm`, in the window.
    pub fn write_plan(&self, id: &str, algorithm: &str) {
        self.write_plan_window(id, &self.window.0, &self.window.1, algorithm);
    }

    /// A plan with its own window.
    pub fn write_plan_window(&self, id: &str, not_before: &str, not_after: &str, algorithm: &str) {
        let mut text = format!(
            "version = 1\nceremony_id = \"{id}\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
             operator = \"Olivia\"\ntoken_label = \"{}\"\nsigning_key_label = \"ceremony-signer\"\n\
             pin = \"env:{PIN_ENV}\"\n\n[[steps]]\naction = \"generate\"\nkey_label = \"{id}\"\n",
            not_before, not_after, self.token.label,
        );
        for r in &self.regions {
            text.push_str(&format!(
                "\n[[steps]]\naction = \"wrap\"\nkey_label = \"{id}\"\nprovider = \"aws\"\n\
                 params = \"params/{}.json\"\nalgorithm = \"{algorithm}\"\nout = \"{id}-{}\"\n",
                r.name, r.name
            ));
        }
        std::fs::write(self.dir().join("plan.toml"), text).unwrap();
    }

    /// Writes `plan.toml` for ceremony `id` with the one step `step` (TOML after `[[steps]]`),
    /// and has alice and bob approve it (earlier approvals removed).
    pub fn write_approved_plan(&self, id: &str, step: &str) {
        let plan = format!(
            "version = 1\nceremony_id = \"{id}\"\nnot_before = \"{}\"\nnot_after = \"{}\"\n\
             operator = \"Olivia\"\ntoken_label = \"{}\"\nsigning_key_label = \"ceremony-signer\"\n\
             pin = \"env:{PIN_ENV}\"\n\n[[steps]]\n{step}",
            self.window.0, self.window.1, self.token.label
        );
        std::fs::write(self.dir().join("plan.toml"), plan).unwrap();
        for f in std::fs::read_dir(self.dir().join("approvals")).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        self.approve_plan();
    }

    /// The command `keyrite plan check plan.toml --policy policy.toml`, for the caller to add
    /// to.
    pub fn plan_check_command(&self) -> Command {
        let mut cmd = self.token.keyrite();
        cmd.args(["plan", "check", "plan.toml", "--policy", "policy.toml"]);
        cmd
    }

    /// `keyrite plan check plan.toml --policy policy.toml`.
    pub fn plan_check(&self) -> Output {
        run(&mut self.plan_check_command())
    }

    /// `keyrite keys destroy --key-label LABEL` by the approved `plan.toml`, recorded in
    /// `transcript`.
    pub fn destroy(&self, label: &str, transcript: &str) -> Output {
        run(self.token.keyrite().args([
            "keys",
            "destroy",
            "--key-label",
            label,
            "--plan",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            transcript,
        ]))
    }

    /// The command `keyrite witness ARGS --signer signer.pem`, and `--policy policy.toml` but
    /// for `witness message`.
    pub fn witness_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.token.keyrite();
        cmd.arg("witness")
            .args(args)
            .args(["--signer", "signer.pem"]);
        if args[0] != "message" {
            cmd.args(["--policy", "policy.toml"]);
        }
        cmd
    }

    /// `keyrite witness sign TRANSCRIPT --ssh-key KEY` with the SSH key of `who`.
    pub fn witness_sign(&self, transcript: &str, who: &str) -> Output {
        let key = self.person(who).key.display().to_string();
        run(&mut self.witness_command(&["sign", transcript, "--ssh-key", &key]))
    }

    /// `keyrite plan digest plan.toml`, written to `plan.digest`.
    pub fn digest(&self) -> Vec<u8> {
        let digest = run_ok(self.token.keyrite().args(["plan", "digest", "plan.toml"]));
        std::fs::write(self.dir().join("plan.digest"), &digest).unwrap();
        digest
    }

    /// What `ceremony run` prints after its approval line: the plan digest, the SHA-256 of
    /// what `keyrite plan digest plan.toml` prints, and its words (lines, each with its newline).
    pub fn plan_digest_aloud(&self) -> String {
        super::aloud(
            "  ",
            "Plan digest (SHA-256 of the statement they signed)",
            &hex::encode(sha2::Sha256::digest(self.digest())),
        )
    }

    /// `keyrite plan digest plan.toml`, signed by alice and bob (`approvals/alice.sig`,
    /// `approvals/bob.sig`): the plan approved by the policy's threshold. Returns the digest.
    pub fn approve_plan(&self) -> Vec<u8> {
        let digest = self.digest();
        self.approve("alice", "keyrite-plan", "alice.sig");
        self.approve("bob", "keyrite-plan", "bob.sig");
        digest
    }

    /// `ssh-keygen -Y sign` of `plan.digest` by `name` in `namespace`, saved as
    /// `approvals/FILE`.
    pub fn approve(&self, name: &str, namespace: &str, file: &str) {
        let dir = self.dir();
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
                .arg(&self.person(name).key)
                .arg(dir.join("plan.digest")),
        );
        std::fs::rename(
            dir.join("plan.digest.sig"),
            dir.join("approvals").join(file),
        )
        .unwrap();
    }

    /// The command `keyrite ceremony run plan.toml` with a transcript named `transcript`, for
    /// the caller to add to.
    pub fn run_command(&self, transcript: &str) -> Command {
        let mut cmd = self.token.keyrite();
        cmd.args([
            "ceremony",
            "run",
            "plan.toml",
            "--policy",
            "policy.toml",
            "--approvals",
            "approvals",
            "--transcript",
            transcript,
        ]);
        cmd
    }

    /// `keyrite ceremony run plan.toml` with a transcript named `transcript` and `extra`
    /// arguments, on a pseudo-terminal (`script`) that is given `typed`: what the screen
    /// showed, and how keyrite exited. The PIN comes from no environment variable.
    pub fn run_on_a_terminal(&self, transcript: &str, extra: &str, typed: &str) -> Output {
        let command = format!(
            "{} ceremony run plan.toml --policy policy.toml --approvals approvals --transcript {transcript} {extra}",
            env!("CARGO_BIN_EXE_keyrite")
        );
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(self.dir())
            .env(self.token.conf_env(), &self.token.conf)
            .env_remove("KEYRITE_PKCS11_MODULE")
            .env_remove(PIN_ENV)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(typed.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `keyrite ceremony run plan.toml` with a transcript named `transcript`.
    pub fn run(&self, transcript: &str) -> Output {
        run(&mut self.run_command(transcript))
    }

    /// The transcript's lines, parsed, with their exact bytes.
    pub fn transcript(&self, name: &str) -> Vec<(String, serde_json::Value)> {
        std::fs::read_to_string(self.dir().join(name))
            .unwrap()
            .lines()
            .map(|l| (l.to_owned(), serde_json::from_str(l).unwrap()))
            .collect()
    }
}

impl Ceremony {
    /// Sets up, approves (alice and bob) and runs the plan; panics unless it completes.
    pub fn run_approved(&self, transcript: &str) {
        self.approve_plan();
        let out = self.run(transcript);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `keyrite verify` with the policy, the plan and the outputs (this directory).
    pub fn verify_all(&self, transcript: &str) -> Output {
        self.verify(
            transcript,
            &[
                "--policy",
                "policy.toml",
                "--plan",
                "plan.toml",
                "--outputs",
                ".",
            ],
        )
    }

    /// Asserts [`Ceremony::verify_all`] exits 0.
    pub fn assert_verifies(&self, transcript: &str) {
        let out = self.verify_all(transcript);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// `keyrite verify` of `transcript` with the policy and the plan: its exit code.
    pub fn verify_against_plan(&self, transcript: &str) -> Option<i32> {
        self.verify(
            transcript,
            &["--policy", "policy.toml", "--plan", "plan.toml"],
        )
        .status
        .code()
    }

    /// `keyrite verify` with the given extra arguments (and `--no-policy` unless they give
    /// `--policy`).
    pub fn verify(&self, transcript: &str, extra: &[&str]) -> Output {
        let mut cmd = self.token.keyrite();
        cmd.args(["verify", transcript, "--signer", "signer.pem"])
            .args(extra);
        if !extra.contains(&"--policy") {
            cmd.arg("--no-policy");
        }
        run(&mut cmd)
    }

    /// Splits the PIN into `dir` and returns the digests printed for the policy.
    pub fn split_pin(&self, dir: &str, threshold: &str, shares: &str) -> Vec<String> {
        let out = String::from_utf8(run_ok(self.token.keyrite().args([
            "pin",
            "split",
            "--plaintext",
            "--threshold",
            threshold,
            "--shares",
            shares,
            "--out",
            dir,
            "--pin-env",
            PIN_ENV,
        ])))
        .unwrap();
        out.lines()
            .filter_map(|l| l.trim().strip_prefix('"'))
            .map(|l| l[..64].to_owned())
            .collect()
    }

    /// Pins the shares' digests and the token's module (which a policy with shares must pin)
    /// in the policy, makes the plan take its PIN from shares, and has alice and bob approve it.
    pub fn use_shares(&self, digests: &[String]) {
        let module = format!(
            "\nmodule_sha256 = \"{}\"",
            sha256sum(self.token.keyrite_module())
        );
        self.take_pin_from_shares(digests, &module);
        self.approve_plan();
    }

    /// Pins `digests` as the policy's pin_shares (followed by the policy lines `more`, before
    /// its first custodian) and has the plan take its PIN from shares; the plan then needs
    /// approving again.
    pub fn take_pin_from_shares<D: AsRef<str> + std::fmt::Debug>(&self, digests: &[D], more: &str) {
        let policy = std::fs::read_to_string(self.dir().join("policy.toml"))
            .unwrap()
            .replacen(
                "\n[[custodians]]",
                &format!("pin_shares = {digests:?}{more}\n\n[[custodians]]"),
                1,
            );
        std::fs::write(self.dir().join("policy.toml"), policy).unwrap();
        let plan = std::fs::read_to_string(self.dir().join("plan.toml"))
            .unwrap()
            .replace(&format!("pin = \"env:{PIN_ENV}\""), "pin = \"shares\"");
        std::fs::write(self.dir().join("plan.toml"), plan).unwrap();
    }
}
