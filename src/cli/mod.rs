//! The command line: the clap `Cli` and `Command` types, what every token command takes, and
//! the dispatch to one file per command (its arguments, its run, its printing). Trusts the
//! library for every check and every token action; here only requests are built and results
//! printed.

pub mod aloud;
pub mod ceremony;
pub mod completions;
pub mod examples;
pub mod hint;
pub mod keys;
pub mod man;
pub mod out;
pub mod pin;
pub mod plan;
pub mod print;
pub mod progress;
pub mod restore;
pub mod rewrap;
pub mod token;
pub mod verify;
pub mod witness;
pub mod wrap;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use keyrite::kms::Provider;
use keyrite::signer_key::SignerAlgorithm;
use keyrite::spec::{ALL_KEY_SPECS, KeySpec, WrappingKeySpec};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, Args, Parser, Subcommand, value_parser};

use keyrite::Error;
use keyrite::pin::PinSource;
use keyrite::wrap::TokenAccess;

use ceremony::CeremonyCommand;
use completions::CompletionsArgs;
use keys::KeysCommand;
use man::ManArgs;
use pin::PinCommand;
use plan::PlanCommand;
use restore::RestoreArgs;
use rewrap::RewrapArgs;
use token::TokenCommand;
use verify::VerifyArgs;
use witness::WitnessCommand;
use wrap::WrapArgs;

/// `keyrite --version`: the package's version and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("KEYRITE_BUILD_COMMIT"),
    ")"
);

/// Hardware-backed key ceremonies for cloud KMS key import.
#[derive(Debug, Parser)]
#[command(name = "keyrite", version = VERSION, about, after_help = examples::KEYRITE)]
// `--module` and `--trace` are taken by the commands that use a token (`ModuleArgs`), and shown
// in their help only. Given before the subcommand, as `keyrite --module PATH wrap …` (and every
// script written before they moved), they are still accepted, hidden: clap hands a global
// argument's value to the subcommand's own argument of the same id, and after the subcommand
// the command's own definition (with its environment variable) is the one parsed.
#[command(
    arg(before_subcommand("module", "PATH")),
    arg(before_subcommand("trace", "FILE"))
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tokens and what they can do.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Generate a key in the token and wrap it there for a KMS import.
    Wrap(Box<WrapArgs>),
    /// The token's ceremony keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Wrap a key already in the token under new import parameters (expired or deleted
    /// material, another region or provider), after proving by its KCV it is the same key.
    Rewrap(Box<RewrapArgs>),
    /// Unwrap a backup (made with --provider pkcs11-backup) inside this token, the backup
    /// token, prove by its key check values that it is the same key, and record the restore in
    /// a transcript sealed by this token's signer.
    ///
    /// Anyone can wrap a key of their own under the backup key's public key and write a
    /// manifest to match it, so restore believes a backup directory only with proof of where it
    /// came from, one of two. Either the sealed record of the run that wrote it:
    /// --from-transcript must verify under --signer, one of its wrapped or rewrapped lines must
    /// record this manifest.json, its token line must be the source token the manifest names, and the
    /// directory (a directory itself, not a symbolic link) must hold exactly the regular files
    /// that line records. Such a record comes from `keyrite wrap --provider pkcs11-backup
    /// --transcript T --signer-label L` or a ceremony plan's wrap step; `keyrite rewrap` writes
    /// none. --signer is the trust anchor, as for `keyrite verify`: pass the signer.pem the
    /// security team holds, never one that came with the backup. Or the key's check value,
    /// given out of band with --expect-kcv, which the restored key must have.
    ///
    /// The restore is recorded in a new transcript (--record), sealed by this token's signer
    /// (--signer-label): check it with `keyrite verify R --signer PEM --no-policy`.
    Restore(RestoreArgs),
    /// Check a ceremony plan, or print the digest custodians sign.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Run an approved ceremony.
    #[command(subcommand)]
    Ceremony(CeremonyCommand),
    /// PIN shares for tokens without M-of-N login.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Witnesses co-sign a sealed transcript with their own SSH keys.
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Replay a transcript without an HSM: exit 0 verified, 3 an intact record of a ceremony
    /// that failed or did not finish, 4 not approved (verified with --no-policy), 1 invalid,
    /// 2 usage.
    Verify(VerifyArgs),
    /// Print keyrite's completion script for bash, zsh or fish.
    Completions(CompletionsArgs),
    /// Write keyrite's manual pages: keyrite.1 and one per subcommand (keyrite-wrap.1, …).
    Man(ManArgs),
}

/// How to reach the token.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's label (may be left out when there is exactly one token).
    #[arg(long, value_name = "LABEL")]
    pub token: Option<String>,
    /// Read the user PIN from the environment variable of this NAME (not the PIN itself).
    #[arg(long, value_name = "NAME", conflicts_with = "pin_file")]
    pub pin_env: Option<String>,
    /// Read the user PIN from this file (mode 0600 or stricter).
    #[arg(long, value_name = "PATH")]
    pub pin_file: Option<PathBuf>,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// The PKCS#11 module, and a trace of its calls: what every command that uses a token takes.
#[derive(Debug, Args)]
pub struct ModuleArgs {
    /// The PKCS#11 module (default: Debian's SoftHSM2).
    #[arg(long, env = "KEYRITE_PKCS11_MODULE", value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Write every PKCS#11 call to this new file, one JSON object a line (function, arguments
    /// without PIN or key bytes, return code, microseconds), for the token vendor's support.
    #[arg(long, env = "KEYRITE_TRACE", value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

impl ModuleArgs {
    /// Starts the trace, when one is asked for, before anything is done on the token; returns
    /// the module to load.
    fn open(&self) -> Result<Option<PathBuf>, Error> {
        if let Some(path) = &self.trace {
            keyrite::hsm::trace::open(path).map_err(keyrite::token::Error::from)?;
        }
        Ok(self.module.clone())
    }
}

/// `--module` or `--trace` given before the subcommand: accepted for every command, as before
/// they moved into the commands that use a token, and never shown.
fn before_subcommand(id: &'static str, value_name: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name(value_name)
        .value_parser(value_parser!(PathBuf))
        .global(true)
        .hide(true)
}

/// Runs the command; its exit code on success (verify's is its verdict's).
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Verify(args) => return verify::run(args),
        Command::Restore(args) => return restore::run(args),
        Command::Pin(command) => pin::run(command),
        Command::Witness(command) => witness::run(command),
        Command::Keys(command) => keys::run(command),
        Command::Token(command) => token::run(command),
        Command::Plan(command) => plan::run(command),
        Command::Ceremony(command) => ceremony::run(command),
        Command::Wrap(args) => wrap::run(&args),
        Command::Rewrap(args) => rewrap::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => man::run(&args),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// How to reach the token the command line names.
fn token_access(module: Option<PathBuf>, token: &TokenArgs) -> TokenAccess {
    TokenAccess {
        module,
        token: token.token.clone(),
        pin: pin_source(token.pin_env.clone(), token.pin_file.clone()),
    }
}

/// Where a PIN comes from: the variable named, else the file, else the terminal.
fn pin_source(env: Option<String>, file: Option<PathBuf>) -> PinSource {
    match (env, file) {
        (Some(name), _) => PinSource::Env(name),
        (None, Some(path)) => PinSource::File(path),
        (None, None) => PinSource::Prompt,
    }
}

/// `--provider`: the names `Provider` parses, each with its help line.
pub(crate) fn provider_parser() -> impl TypedValueParser<Value = Provider> {
    let help = |p: Provider| match p {
        Provider::Aws => "AWS KMS (`aws kms import-key-material`)",
        Provider::Alibaba => "Alibaba Cloud KMS (`aliyun kms ImportKeyMaterial`)",
        Provider::Gcp => "Google Cloud KMS (`gcloud kms keys versions import`)",
        Provider::Azure => "Azure Key Vault Managed HSM (`az keyvault key import --byok-file`)",
        Provider::Vault => "HashiCorp Vault transit (`vault write transit/keys/NAME/import`)",
        Provider::Pkcs11Backup => {
            "A second PKCS#11 token (`keyrite restore`), under the backup key made there by `keyrite token backup-key create`"
        }
    };
    PossibleValuesParser::new(Provider::ALL.map(|p| PossibleValue::new(p.name()).help(help(p))))
        .try_map(|s| s.parse::<Provider>())
}

/// `--wrapping-key-spec`: the names `WrappingKeySpec` parses, each with its help line.
pub(crate) fn wrapping_key_spec_parser() -> impl TypedValueParser<Value = WrappingKeySpec> {
    PossibleValuesParser::new(
        WrappingKeySpec::ALL
            .map(|w| PossibleValue::new(w.name()).help(format!("RSA {} bits", w.bits()))),
    )
    .try_map(|s| s.parse::<WrappingKeySpec>())
}

/// `--key-spec`: the names and aliases `KeySpec` parses, each name with its help line.
/// The ceremony signer's algorithms, with their help lines.
pub(crate) fn signer_algorithm_parser() -> impl TypedValueParser<Value = SignerAlgorithm> {
    let help = |a: SignerAlgorithm| match a {
        SignerAlgorithm::EcdsaP256 => "ECDSA on NIST P-256 (the default where the token has it)",
        SignerAlgorithm::RsaPss3072 => {
            "RSA-PSS, 3072 bits, SHA-256, MGF1-SHA-256, salt 32 (the default on a token without EC)"
        }
    };
    PossibleValuesParser::new(
        SignerAlgorithm::ALL.map(|a| PossibleValue::new(a.name()).help(help(a))),
    )
    .try_map(|s| s.parse::<SignerAlgorithm>())
}

pub(crate) fn key_spec_parser() -> impl TypedValueParser<Value = KeySpec> {
    let help = |k: KeySpec| match k {
        KeySpec::Aes256 => "A 256-bit AES key (AWS `SYMMETRIC_DEFAULT`, Alibaba `Aliyun_AES_256`)",
        KeySpec::Hmac224 => "A 224-bit HMAC key (a generic secret of 28 bytes)",
        KeySpec::Hmac256 => "A 256-bit HMAC key (a generic secret of 32 bytes)",
        KeySpec::Hmac384 => "A 384-bit HMAC key (a generic secret of 48 bytes)",
        KeySpec::Hmac512 => "A 512-bit HMAC key (a generic secret of 64 bytes)",
        KeySpec::Rsa2048 => "An RSA key pair of 2048 bits (public exponent 65537)",
        KeySpec::Rsa3072 => "An RSA key pair of 3072 bits",
        KeySpec::Rsa4096 => "An RSA key pair of 4096 bits",
        KeySpec::EcP256 => "An EC key pair on NIST P-256 (AWS `ECC_NIST_P256`)",
        KeySpec::EcP384 => "An EC key pair on NIST P-384 (AWS `ECC_NIST_P384`)",
        KeySpec::EcP521 => "An EC key pair on NIST P-521 (AWS `ECC_NIST_P521`)",
        KeySpec::EcSecp256k1 => "An EC key pair on secp256k1 (AWS `ECC_SECG_P256K1`)",
    };
    PossibleValuesParser::new(ALL_KEY_SPECS.map(|k| {
        PossibleValue::new(k.name())
            .help(help(k))
            .aliases(k.aliases().iter().copied())
    }))
    .try_map(|s| s.parse::<KeySpec>())
}
