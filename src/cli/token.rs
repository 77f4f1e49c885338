//! `keyrite token …`: what the tokens can do, the signer, the backup key, and a KMS wrapping
//! key stored as trusted. The library opens the token and does the work; this file builds its
//! requests and prints what it returns (public keys on standard output, the report beside them
//! on standard error).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use keyrite::hsm::backup::{BackupKey, BackupKeyKind};
use keyrite::hsm::signer::SignerPublicKey;
use keyrite::kms::{Provider, ProviderOptions};
use keyrite::signer_key::SignerAlgorithm;
use keyrite::spec::KeyLabel;
use keyrite::token::TrustRequest;
use keyrite::{Error, info};

use super::out::{errln, out, outln};
use super::print::{Schema, print_json};
use super::{ModuleArgs, TokenArgs, pin_source, token_access};

/// `keyrite token …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::TOKEN)]
pub enum TokenCommand {
    /// List the tokens and, for each, which wrapping algorithms it can really do (by trial).
    #[command(after_help = super::examples::TOKEN_INFO)]
    Info(InfoArgs),
    /// The ceremony signer: a key pair in the token that seals transcripts (ECDSA P-256, or
    /// RSA-PSS on a token without EC).
    #[command(subcommand)]
    Signer(SignerCommand),
    /// As the security officer, store a KMS wrapping public key as a CKA_TRUSTED token object,
    /// so keys made with --wrap-with-trusted can be wrapped under it (and under nothing else).
    #[command(after_help = super::examples::TOKEN_TRUST_WRAPPING_KEY)]
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
    #[arg(long, value_parser = super::provider_parser())]
    pub provider: Provider,
    /// The import parameters, as the KMS's CLI printed them.
    #[arg(long, value_name = "FILE")]
    pub params: PathBuf,
    /// gcp: the key in the import job's key ring (as for wrap).
    #[arg(long, value_name = "NAME")]
    pub gcp_key: Option<String>,
    /// The label of the trusted object to create.
    #[arg(long = "key-label", alias = "label", value_name = "LABEL")]
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
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// `keyrite token backup-key …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::TOKEN_BACKUP_KEY)]
pub enum BackupKeyCommand {
    /// Make the backup key pair in this token; prints its public key (PEM) on standard output
    /// (the --params of `wrap`/`rewrap --provider pkcs11-backup`) and, on standard error, its
    /// fingerprint and the algorithms the token was seen to unwrap. Its private key can unwrap
    /// only into the ceremony template: what it unwraps is never readable.
    #[command(after_help = super::examples::TOKEN_BACKUP_KEY_CREATE)]
    Create {
        /// The backup key's label.
        #[arg(long = "key-label", alias = "label", value_name = "LABEL")]
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
    #[command(after_help = super::examples::TOKEN_BACKUP_KEY_EXPORT)]
    Export {
        /// The backup key's label.
        #[arg(long = "key-label", alias = "label", value_name = "LABEL")]
        label: KeyLabel,
        #[command(flatten)]
        token: TokenArgs,
    },
}

/// `keyrite token signer …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::TOKEN_SIGNER)]
pub enum SignerCommand {
    /// Make the signer key pair in the token; prints its public key (PEM) on standard output
    /// and its fingerprint, for the policy, on standard error.
    #[command(after_help = super::examples::TOKEN_SIGNER_CREATE)]
    Create {
        /// The signer's label.
        #[arg(long = "key-label", alias = "label", value_name = "LABEL")]
        label: KeyLabel,
        /// The signer's algorithm (default: ECDSA P-256 where the token has it, RSA-PSS where
        /// it has no EC).
        #[arg(long, value_parser = super::signer_algorithm_parser())]
        algorithm: Option<SignerAlgorithm>,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Print the signer's public key (PEM) again, and its fingerprint on standard error, once a
    /// fresh signature by the signer's private key verifies under it (a login is needed: both
    /// signer objects are private).
    #[command(after_help = super::examples::TOKEN_SIGNER_EXPORT)]
    Export {
        /// The signer's label.
        #[arg(long = "key-label", alias = "label", value_name = "LABEL")]
        label: KeyLabel,
        #[command(flatten)]
        token: TokenArgs,
    },
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
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Runs a `token` subcommand.
pub fn run(command: TokenCommand) -> Result<(), Error> {
    match command {
        TokenCommand::Info(args) => {
            let module = args.module.open()?;
            let pin = (args.pin_env.is_some() || args.pin_file.is_some())
                .then(|| pin_source(args.pin_env, args.pin_file));
            let report =
                keyrite::token::info(module.as_deref(), args.token.as_deref(), pin.as_ref())?;
            keyrite::hsm::warn_once(&report.warnings);
            if args.json {
                print_json(Schema::TokenInfo, &report)
            } else {
                print_report(&report);
                Ok(())
            }
        }
        TokenCommand::Signer(SignerCommand::Create {
            label,
            algorithm,
            token,
        }) => {
            let module = token.module.open()?;
            let created =
                keyrite::token::create_signer(&token_access(module, &token), &label, algorithm)?;
            if algorithm.is_none() && created.public.algorithm() != SignerAlgorithm::EcdsaP256 {
                errln!(
                    "keyrite: the token has no ECDSA P-256, so the signer is {}",
                    created.public.algorithm()
                );
            }
            for weakened in &created.weakened {
                errln!("keyrite: warning: {weakened}");
            }
            print_signer(&created.public)
        }
        TokenCommand::Signer(SignerCommand::Export { label, token }) => {
            let module = token.module.open()?;
            // Both signer objects are private: the public key is read, and proven, logged in.
            print_signer(&keyrite::token::export_signer(
                &token_access(module, &token),
                &label,
            )?)
        }
        TokenCommand::TrustWrappingKey(args) => {
            let module = args.module.open()?;
            let request = TrustRequest {
                provider: args.provider,
                params: args.params,
                options: ProviderOptions {
                    gcp_key: args.gcp_key,
                    ..ProviderOptions::default()
                },
                label: args.label,
                module,
                token: args.token,
                so_pin: pin_source(args.so_pin_env, args.so_pin_file),
            };
            let trusted = keyrite::token::trust_wrapping_key(&request, OffsetDateTime::now_utc())?;
            outln!(
                "Stored {} wrapping key {} (SHA-256 {}) on token {:?} as trusted object {:?}: keys made with --wrap-with-trusted can be wrapped under it.",
                request.provider.display_name(),
                trusted.key_id,
                trusted.fingerprint,
                trusted.token,
                request.label.as_str()
            );
            Ok(())
        }
        TokenCommand::BackupKey(BackupKeyCommand::Create {
            label,
            for_key_pairs,
            policy,
            token,
        }) => {
            let module = token.module.open()?;
            let kind = if for_key_pairs {
                BackupKeyKind::KeyPairs
            } else {
                BackupKeyKind::SecretKeys
            };
            let key = keyrite::token::create_backup_key(
                &token_access(module, &token),
                &label,
                kind,
                policy.as_deref(),
            )?;
            print_backup_key(&key, &label);
            Ok(())
        }
        TokenCommand::BackupKey(BackupKeyCommand::Export { label, token }) => {
            let module = token.module.open()?;
            let key = keyrite::token::export_backup_key(&token_access(module, &token), &label)?;
            print_backup_key(&key, &label);
            Ok(())
        }
    }
}

/// Prints what each token can do, and the slots without a token.
fn print_report(report: &info::Report) {
    outln!("Module {}: {}", report.module, report.library);
    for t in &report.tokens {
        let d = &t.token;
        outln!();
        outln!("Token {:?} (slot {})", d.label, d.slot);
        outln!(
            "  serial {}, manufacturer {}, model {}, firmware {}, hardware {}",
            d.serial,
            d.manufacturer,
            d.model,
            d.firmware,
            d.hardware
        );
        if let Some(refused) = &t.login_needed {
            outln!(
                "  login needed: the token makes no object before a login, not even a session object ({refused}), so the trials below could not run; run again with --token {:?} --pin-env NAME (or --pin-file PATH)",
                d.label
            );
        }
        outln!("  wrapping algorithms:");
        for a in &t.wrapping {
            outln!(
                "    {:<24} {:<4} {}: {}",
                a.algorithm,
                if a.supported { "yes" } else { "no" },
                a.mechanism,
                a.detail
            );
        }
        outln!("  key check values: {}", t.kcv);
        outln!("  CKA_WRAP_WITH_TRUSTED: {}", t.wrap_with_trusted.detail);
        outln!(
            "  key pairs: {}: {}",
            match (t.key_pairs.rsa, t.key_pairs.ec) {
                (true, true) => "yes",
                (true, false) => "RSA only",
                _ => "no",
            },
            t.key_pairs.detail
        );
        outln!("  CKA_UNWRAP_TEMPLATE: {}", t.unwrap_template.detail);
        outln!("  ceremony signer: {}", t.signer);
    }
    for slot in &report.uninitialized_slots {
        outln!();
        outln!("Slot {slot}: token not initialised");
    }
}

/// Prints the signer's public key, and its fingerprint on standard error.
fn print_signer(key: &SignerPublicKey) -> Result<(), Error> {
    let token = keyrite::token::Error::from;
    out!("{}", key.pem().map_err(token)?);
    errln!(
        "Signer fingerprint (the policy's signer_fingerprint): {}",
        key.fingerprint().map_err(token)?
    );
    Ok(())
}

/// Prints the backup key's public key, and on standard error what the token unwraps with it.
fn print_backup_key(key: &BackupKey, label: &KeyLabel) {
    out!("{}", key.pem);
    errln!(
        "Backup key {:?}: SHA-256 {}",
        label.as_str(),
        key.fingerprint
    );
    for algorithm in &key.unwraps {
        errln!("  this token unwraps backups made with --algorithm {algorithm}");
    }
    for (algorithm, why) in &key.refuses {
        errln!("  this token cannot unwrap {algorithm}: {why}");
    }
    match &key.oracle {
        Some(why) => errln!(
            "  WARNING: whoever holds this token's PIN can unwrap a backup made for this key into a key they can read: {why}"
        ),
        None => errln!(
            "  what it unwraps takes the ceremony template (CKA_UNWRAP_TEMPLATE, applied by this token): never readable, of no use but to be wrapped"
        ),
    }
}
