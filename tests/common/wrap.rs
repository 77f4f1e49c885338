//! `keyrite wrap` and `keyrite rewrap` as the tests run them: one builder for their arguments,
//! so every test that imports key material names only what is particular to it. The builder
//! only writes arguments, in the order a test gives them; what keyrite does with them is the
//! tests' to check, and it trusts nothing but [`TestToken::keyrite`] to run them.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Output};

use super::*;

/// The algorithm most tests wrap with: the one SoftHSM2 and every AWS key take.
pub const OAEP_SHA1: &str = "RSAES_OAEP_SHA_1";

/// The label of the signer that seals the transcript of a recorded wrap.
pub const SIGNER: &str = "ceremony-signer";

/// The arguments of one `keyrite wrap` or `keyrite rewrap`, in the order they were given.
#[must_use]
#[derive(Clone)]
pub struct Wrap {
    args: Vec<OsString>,
}

impl Wrap {
    /// `keyrite COMMAND` (`wrap` or `rewrap`), with no arguments yet.
    pub fn new(command: &str) -> Self {
        Wrap {
            args: vec![command.into()],
        }
    }

    /// `keyrite rewrap`, with no arguments yet.
    pub fn rewrap() -> Self {
        Self::new("rewrap")
    }

    /// `keyrite wrap --provider aws --params PARAMS`.
    pub fn aws(params: impl AsRef<OsStr>) -> Self {
        Self::new("wrap").provider("aws", params)
    }

    /// `--provider PROVIDER --params PARAMS`.
    pub fn provider(self, provider: &str, params: impl AsRef<OsStr>) -> Self {
        self.args(["--provider", provider, "--params"]).arg(params)
    }

    /// `--provider aws --params PARAMS --algorithm RSAES_OAEP_SHA_1 --key-label LABEL --out OUT`:
    /// the import most tests make.
    pub fn aws_oaep_sha1(self, params: &str, label: &str, out: &str) -> Self {
        self.provider("aws", params)
            .algorithm(OAEP_SHA1)
            .label(label)
            .out(out)
    }

    /// `--algorithm ALGORITHM`.
    pub fn algorithm(self, algorithm: &str) -> Self {
        self.args(["--algorithm", algorithm])
    }

    /// `--key-label LABEL`.
    pub fn label(self, label: &str) -> Self {
        self.args(["--key-label", label])
    }

    /// `--key-spec SPEC`.
    pub fn spec(self, spec: &str) -> Self {
        self.args(["--key-spec", spec])
    }

    /// `--expect-kcv KCV`: the key to rewrap is the one with this check value.
    pub fn expect_kcv(self, kcv: &str) -> Self {
        self.args(["--expect-kcv", kcv])
    }

    /// `--out OUT`.
    pub fn out(self, out: impl AsRef<OsStr>) -> Self {
        self.arg("--out").arg(out)
    }

    /// `--pin-env KR_TEST_PIN`, the variable [`TestToken::keyrite`] sets.
    pub fn pin(self) -> Self {
        self.args(["--pin-env", PIN_ENV])
    }

    /// `--transcript TRANSCRIPT --signer-label ceremony-signer`: a recorded, sealed run.
    pub fn recorded(self, transcript: impl AsRef<OsStr>) -> Self {
        self.arg("--transcript")
            .arg(transcript)
            .args(["--signer-label", SIGNER])
    }

    /// `FLAG VALUE`, in place of the value given to `FLAG` before if there is one, else added.
    pub fn set(mut self, flag: &str, value: impl AsRef<OsStr>) -> Self {
        match self.args.iter().position(|a| a == flag) {
            Some(i) => {
                self.args[i + 1] = value.as_ref().to_owned();
                self
            }
            None => self.arg(flag).arg(value),
        }
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The command on `token`, for the caller to add to or to spawn.
    pub fn command(self, token: &TestToken) -> Command {
        let mut cmd = token.keyrite();
        cmd.args(self.args);
        cmd
    }

    /// Runs it on `token`.
    pub fn run(self, token: &TestToken) -> Output {
        run(&mut self.command(token))
    }

    /// Runs it on `token`, which must succeed; returns its standard output.
    pub fn ok(self, token: &TestToken) -> Vec<u8> {
        run_ok(&mut self.command(token))
    }
}

impl IntoIterator for Wrap {
    type Item = OsString;
    type IntoIter = std::vec::IntoIter<OsString>;

    fn into_iter(self) -> Self::IntoIter {
        self.args.into_iter()
    }
}
