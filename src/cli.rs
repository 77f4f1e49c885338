//! The command line: clap types only, no logic.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use keyrite::kms::Provider;
use keyrite::restore::ExpectedKcv;
use keyrite::spec::{ALL_KEY_SPECS, KeyLabel, KeySpec, WrappingAlgorithm, WrappingKeySpec};

/// Hardware-backed key ceremonies for cloud KMS key import.
#[derive(Debug, Parser)]
#[command(name = "keyrite", version, about)]
pub struct Cli {
    /// The PKCS#11 module (default: Debian's SoftHSM2).
    #[arg(
        long,
        global = true,
        env = "KEYRITE_PKCS11_MODULE",
        value_name = "PATH"
    )]
    pub module: Option<PathBuf>,

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
    /// came from, one of two. Either the sealed record of the run that wrote it: --transcript
    /// must verify under --signer, one of its wrapped or rewrapped lines must record this
    /// manifest.json, its token line must be the source token the manifest names, and the
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
    /// that failed or did not finish, 1 invalid, 2 usage.
    Verify(VerifyArgs),
}

/// `keyrite witness …`
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Sign the transcript's seal with your SSH key (via ssh-keygen) and append the witness line.
    Sign {
        /// The sealed transcript.
        transcript: PathBuf,
        /// Your SSH private key (a witness key of the policy; hardware keys work).
        #[arg(long, value_name = "FILE")]
        ssh_key: PathBuf,
        /// The ceremony signer's public key: the seal is verified before anything is signed.
        #[arg(long, value_name = "PEM")]
        signer: PathBuf,
        /// The policy naming the witnesses.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Append a witness signature made elsewhere with
    /// `ssh-keygen -Y sign -n keyrite-witness` over `keyrite witness message`.
    Add {
        /// The sealed transcript.
        transcript: PathBuf,
        /// The signature file ssh-keygen wrote.
        #[arg(long, value_name = "FILE")]
        signature: PathBuf,
        /// The ceremony signer's public key.
        #[arg(long, value_name = "PEM")]
        signer: PathBuf,
        /// The policy naming the witnesses.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Print what a witness signs: the SHA-256 of the seal line, after verifying the seal.
    Message {
        /// The sealed transcript.
        transcript: PathBuf,
        /// The ceremony signer's public key.
        #[arg(long, value_name = "PEM")]
        signer: PathBuf,
    },
}

/// `keyrite verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The transcript.
    pub transcript: PathBuf,
    /// The ceremony signer's public key (PEM): the trust anchor, never taken from the transcript.
    #[arg(long, value_name = "PEM")]
    pub signer: PathBuf,
    /// The policy: checks its digest, the quorum and the witnesses. Required unless
    /// --no-policy is given.
    #[arg(long, value_name = "FILE", conflicts_with = "no_policy")]
    pub policy: Option<PathBuf>,
    /// Verify without a policy: no quorum is checked, so the verdict is at best NOT APPROVED
    /// (exit 4), never VERIFIED.
    #[arg(long)]
    pub no_policy: bool,
    /// The plan: checks it and every file it names against the digest the custodians signed.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// The directory holding the output directories: checks every file's SHA-256.
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// Print the verdict and every check as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the audit report, one self-contained HTML page, to FILE (created new; never
    /// replaces a file). The exit code stays the verdict's.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// `keyrite rewrap`: the options of `keyrite wrap`, `--key-label` naming the existing key.
#[derive(Debug, Args)]
pub struct RewrapArgs {
    /// The check value the existing key must have, any case: its 6-hex KCV (accepted only for a
    /// key generated in this token), or its 64-hex full check value (check_sha256 in keys list
    /// and manifests; required for a key unwrapped or created in the token; for a key pair, its
    /// public key's SHA-256).
    #[arg(long, value_name = "HEX", conflicts_with = "from_transcript")]
    pub expect_kcv: Option<String>,
    /// Take what the key must be from an earlier transcript (verified first, with --signer):
    /// its CKA_ID, its KCV by the same method, and its full check value where recorded.
    #[arg(long, value_name = "FILE", requires = "signer")]
    pub from_transcript: Option<PathBuf>,
    /// The signer's public key that sealed --from-transcript.
    #[arg(long, value_name = "PEM")]
    pub signer: Option<PathBuf>,
    #[command(flatten)]
    pub wrap: WrapArgs,
}

/// `keyrite keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the token's secret keys: label, id, kind, KCV and the attributes that matter —
    /// never a value.
    List {
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Destroy a key on purpose, ending its life: runs an approved plan whose only steps
    /// destroy this key (after checking its KCV), and records a sealed transcript.
    Destroy {
        /// The key to destroy; the plan must destroy it and nothing else.
        #[arg(long, value_name = "LABEL")]
        key_label: KeyLabel,
        /// The plan file.
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// What every approved run takes beside its plan: the policy, the approvals, the transcript.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The policy file (who may approve, the threshold, the signer).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The directory of approvals (`ssh-keygen -Y sign -n keyrite-plan` signatures).
    #[arg(long, value_name = "DIR")]
    pub approvals: PathBuf,
    /// The transcript to create (must not exist).
    #[arg(long, value_name = "FILE")]
    pub transcript: PathBuf,
    /// A PIN share file, when the plan takes the PIN from shares (repeat for each; without
    /// any, custodians type their shares on the terminal).
    #[arg(long, value_name = "FILE")]
    pub pin_share: Vec<PathBuf>,
}

/// `keyrite plan …`
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Check a plan (and every file it names) against a policy, without a token.
    Check {
        /// The plan file.
        plan: PathBuf,
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
    },
    /// Print the statement custodians sign: the SHA-256 of the plan and every file it names.
    Digest {
        /// The plan file.
        plan: PathBuf,
    },
}

/// `keyrite ceremony …`
#[derive(Debug, Subcommand)]
pub enum CeremonyCommand {
    /// Run a plan once a quorum of custodians approved it, recording a sealed transcript.
    Run {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Continue an interrupted run of this plan from its unsealed transcript, into the new
        /// --transcript. That record is unsigned, so resume trusts nothing in it the token did
        /// not sign: it takes over only the keys it records as generated, each proven again on
        /// the token (generated there, always sensitive, with the KCV recorded), and re-does
        /// every wrap. Every planned output directory must be absent: move aside any the
        /// interrupted run left (they hold only wrapped material).
        #[arg(long, value_name = "FILE")]
        resume_from: Option<PathBuf>,
    },
}

/// `keyrite pin …`
#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Split the user PIN into N shares, any M of which rebuild it; prints each share's SHA-256
    /// for the policy's pin_shares.
    Split {
        /// M: how many shares rebuild the PIN.
        #[arg(long, value_name = "M")]
        threshold: u8,
        /// N: how many shares to make.
        #[arg(long, value_name = "N")]
        shares: u8,
        /// A new directory for the share files (mode 0700; files 0600).
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
        /// Read the PIN from this environment variable instead of prompting (twice).
        #[arg(long, value_name = "NAME")]
        pin_env: Option<String>,
    },
}

/// `keyrite token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List the tokens and, for each, which wrapping algorithms it can really do (by trial).
    Info(InfoArgs),
    /// The ceremony signer: an ECDSA P-256 key pair in the token that seals transcripts.
    #[command(subcommand)]
    Signer(SignerCommand),
    /// As the security officer, store a KMS wrapping public key as a CKA_TRUSTED token object,
    /// so keys made with --wrap-with-trusted can be wrapped under it (and under nothing else).
    TrustWrappingKey(TrustArgs),
    /// The backup key: an RSA-3072 key pair in a second token that receives backups, its
    /// private key able only to unwrap.
    #[command(subcommand)]
    BackupKey(BackupKeyCommand),
}

/// `keyrite token trust-wrapping-key`
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The KMS whose import parameters hold the key.
    #[arg(long, value_parser = provider_parser())]
    pub provider: Provider,
    /// The import parameters, as the KMS's CLI printed them.
    #[arg(long, value_name = "FILE")]
    pub params: PathBuf,
    /// gcp: the key in the import job's key ring (as for wrap).
    #[arg(long, value_name = "NAME")]
    pub gcp_key: Option<String>,
    /// The label of the trusted object to create.
    #[arg(long, value_name = "LABEL")]
    pub label: KeyLabel,
    /// The token's label (may be left out when there is exactly one token).
    #[arg(long, value_name = "LABEL")]
    pub token: Option<String>,
    /// Read the security officer's PIN from the environment variable of this NAME.
    #[arg(long, value_name = "NAME", conflicts_with = "so_pin_file")]
    pub so_pin_env: Option<String>,
    /// Read the security officer's PIN from this file (mode 0600 or stricter).
    #[arg(long, value_name = "PATH")]
    pub so_pin_file: Option<PathBuf>,
}

/// `keyrite token backup-key …`
#[derive(Debug, Subcommand)]
pub enum BackupKeyCommand {
    /// Make the backup key pair in this token; prints its public key (PEM) on standard output
    /// (the --params of `wrap`/`rewrap --provider pkcs11-backup`) and, on standard error, its
    /// fingerprint and the algorithms the token was seen to unwrap. Its private key can unwrap
    /// only into the ceremony template: what it unwraps is never readable.
    Create {
        /// The backup key's label.
        #[arg(long, value_name = "LABEL")]
        label: KeyLabel,
        /// For backups of key pairs (RSA-AES). Its PIN holder can unwrap any backup made for it
        /// into a readable key, so it is made only under a policy that says
        /// `accept_backup_unwrap_oracle = true` (--policy).
        #[arg(long)]
        for_key_pairs: bool,
        /// The policy whose `accept_backup_unwrap_oracle = true` accepts a backup key whose PIN
        /// holder could read what it unwraps.
        #[arg(long, value_name = "POLICY")]
        policy: Option<PathBuf>,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Print the backup key's public key (PEM) again, with the same report on standard error.
    Export {
        /// The backup key's label.
        #[arg(long, value_name = "LABEL")]
        label: KeyLabel,
        #[command(flatten)]
        token: TokenArgs,
    },
}

/// `keyrite restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory (`--out` of the recorded wrap that made it).
    #[arg(long, value_name = "DIR")]
    pub backup: PathBuf,
    /// The key's label: must be the one the backup holds, and free on this token.
    #[arg(long, value_name = "LABEL")]
    pub key_label: KeyLabel,
    /// The sealed transcript of the run that wrote the backup: the backup directory must be an
    /// output it records, file for file, and its token line the source token the manifest
    /// names (needs --signer).
    #[arg(long, value_name = "FILE", requires = "signer")]
    pub transcript: Option<PathBuf>,
    /// The public key (PEM) of the signer that sealed --transcript: the one the security team
    /// holds (the trust anchor; a transcript verifies under whatever key sealed it).
    #[arg(long, value_name = "PEM", requires = "transcript")]
    pub signer: Option<PathBuf>,
    /// Instead of --transcript: the key's check value, given out of band, which the restored
    /// key must have. The 64 hex digits of its full check value (a secret key's SHA-256 by
    /// C_DigestKey, a key pair's spki-sha256); the 6 of a KCV only where this token computes no
    /// full value, since anyone who chooses the key matches 3 bytes in about 2^24 tries.
    #[arg(long, value_name = "HEX", conflicts_with = "transcript")]
    pub expect_kcv: Option<ExpectedKcv>,
    /// Record the restore in this new transcript, sealed by this token's signer (required,
    /// with --signer-label).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// The label of this token's signer key, which seals --record.
    #[arg(long, value_name = "LABEL")]
    pub signer_label: Option<KeyLabel>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub token: TokenArgs,
}

/// `keyrite token signer …`
#[derive(Debug, Subcommand)]
pub enum SignerCommand {
    /// Make the signer key pair in the token; prints its public key (PEM) on standard output
    /// and its fingerprint, for the policy, on standard error.
    Create {
        /// The signer's label.
        #[arg(long, value_name = "LABEL")]
        label: KeyLabel,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Print the signer's public key (PEM) again, and its fingerprint on standard error, once a
    /// fresh signature by the signer's private key verifies under it (a login is needed: both
    /// signer objects are private).
    Export {
        /// The signer's label.
        #[arg(long, value_name = "LABEL")]
        label: KeyLabel,
        #[command(flatten)]
        token: TokenArgs,
    },
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
}

/// `keyrite token info`
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Report only the token with this label.
    #[arg(long, value_name = "LABEL")]
    pub token: Option<String>,
    /// Log in with the PIN from this variable first (for tokens that demand a login); needs
    /// --token when there are several tokens.
    #[arg(long, value_name = "NAME", conflicts_with = "pin_file")]
    pub pin_env: Option<String>,
    /// Log in with the PIN from this file first (mode 0600 or stricter).
    #[arg(long, value_name = "PATH")]
    pub pin_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `keyrite wrap`
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// The KMS.
    #[arg(long, value_parser = provider_parser())]
    pub provider: Provider,
    /// The import parameters, as the KMS's CLI printed them (JSON; for azure and vault also a
    /// bare PEM public key).
    #[arg(long, value_name = "FILE")]
    pub params: PathBuf,
    /// The wrapping algorithm: for aws and alibaba the one the parameters were requested for;
    /// for gcp the import job's method decides (checked if given); azure takes
    /// RSA_AES_KEY_WRAP_SHA_1 only; vault defaults to RSA_AES_KEY_WRAP_SHA_256; pkcs11-backup
    /// wraps a secret key with RSAES_OAEP_SHA_256 (default) or RSAES_OAEP_SHA_1 and a key pair
    /// with RSA_AES_KEY_WRAP_SHA_256 (default) or RSA_AES_KEY_WRAP_SHA_1.
    #[arg(long, value_name = "ALGORITHM")]
    pub algorithm: Option<WrappingAlgorithm>,
    /// gcp: the key in the import job's key ring that the new version is imported into.
    #[arg(long, value_name = "NAME")]
    pub gcp_key: Option<String>,
    /// gcp: the new version's algorithm, for a key pair (rsa-sign-pss-2048-sha256,
    /// ec-sign-p256-sha256, …); it must take the --key-spec.
    #[arg(long, value_name = "NAME")]
    pub gcp_algorithm: Option<String>,
    /// azure: the name of the key the import creates in the Managed HSM.
    #[arg(long, value_name = "NAME")]
    pub azure_key: Option<String>,
    /// azure: the key exchange key's full versioned id, needed when --params is a bare PEM.
    #[arg(long, value_name = "URL")]
    pub azure_kid: Option<String>,
    /// vault: the name of the transit key the import creates.
    #[arg(long, value_name = "NAME")]
    pub vault_key: Option<String>,
    /// vault: the transit mount's path [default: transit].
    #[arg(long, value_name = "PATH")]
    pub vault_mount: Option<String>,
    /// The wrapping key size the parameters were requested for; checked against the key.
    #[arg(long, value_parser = wrapping_key_spec_parser(), value_name = "SPEC")]
    pub wrapping_key_spec: Option<WrappingKeySpec>,
    /// The kind of key material to generate.
    #[arg(
        long,
        value_parser = key_spec_parser(),
        default_value = "AES_256",
        value_name = "SPEC"
    )]
    pub key_spec: KeySpec,
    /// The label of the new key in the token.
    #[arg(long, value_name = "LABEL")]
    pub key_label: KeyLabel,
    /// The output directory to create (must not exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// When the imported material expires in the KMS (RFC 3339); it never does if left out.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub valid_to: Option<OffsetDateTime>,
    /// Allow RSAES_PKCS1_V1_5, a retired algorithm.
    #[arg(long)]
    pub allow_legacy_pkcs1: bool,
    /// Generate the key with CKA_WRAP_WITH_TRUSTED: the token will wrap it only under a KMS key
    /// the security officer stored as trusted (`keyrite token trust-wrapping-key`), never under
    /// any other. Direct RSA-OAEP only. (A rewrap reads the attribute from the key.)
    #[arg(long)]
    pub wrap_with_trusted: bool,
    /// Print the manifest as JSON instead of a summary.
    #[arg(long, conflicts_with = "transcript")]
    pub json: bool,
    /// Record the run in a new transcript, sealed by the token's signer (needs --signer-label).
    #[arg(long, value_name = "FILE", requires = "signer_label")]
    pub transcript: Option<PathBuf>,
    /// The label of the token's signer key that seals the transcript.
    #[arg(long, value_name = "LABEL", requires = "transcript")]
    pub signer_label: Option<KeyLabel>,
    #[command(flatten)]
    pub token: TokenArgs,
}

/// `--provider`: the names `Provider` parses, each with its help line.
fn provider_parser() -> impl TypedValueParser<Value = Provider> {
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
fn wrapping_key_spec_parser() -> impl TypedValueParser<Value = WrappingKeySpec> {
    PossibleValuesParser::new(
        WrappingKeySpec::ALL
            .map(|w| PossibleValue::new(w.name()).help(format!("RSA {} bits", w.bits()))),
    )
    .try_map(|s| s.parse::<WrappingKeySpec>())
}

/// `--key-spec`: the names and aliases `KeySpec` parses, each name with its help line.
fn key_spec_parser() -> impl TypedValueParser<Value = KeySpec> {
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

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time such as 2027-01-31T00:00:00Z ({e})"))
}
