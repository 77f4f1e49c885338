//! `keyrite wrap`: generate a key in the token and wrap it there for a KMS import. This file
//! builds the library's [`WrapRequest`] from the command line and prints the outcome: the
//! summary or the manifest as JSON, or, recorded, what the ceremony made.

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use keyrite::kms::{Provider, ProviderOptions, shell_quote};
use keyrite::spec::{KeyLabel, KeySpec};
use keyrite::spec::{WrappingAlgorithm, WrappingKeySpec};
use keyrite::timestamp::format_time;
use keyrite::wrap::{self, WrapOutcome, WrapRequest};
use keyrite::{Error, ceremony};

use super::out::{errln, outln};
use super::print::{Schema, print_json};
use super::progress::print_run;
use super::{TokenArgs, token_access};

/// `keyrite wrap`
#[derive(Debug, Args)]
#[command(after_help = super::examples::WRAP)]
pub struct WrapArgs {
    /// The KMS.
    #[arg(long, value_parser = super::provider_parser())]
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
    /// azure: the key exchange key's attestation, as `az keyvault key get-attestation` printed
    /// it; checked, chain and key, before the token is opened.
    #[arg(long, value_name = "FILE")]
    pub azure_attestation: Option<PathBuf>,
    /// A roots file (TOML) adding roots an attestation may end in, or replacing keyrite's pinned
    /// ones: for a test PKI or a rotated root (docs/attestation.md).
    #[arg(long, value_name = "FILE")]
    pub attestation_roots: Option<PathBuf>,
    /// Refuse to wrap under a wrapping key that is not attested (only Google HSM import jobs
    /// and Azure key exchange keys with --azure-attestation can be).
    #[arg(long)]
    pub require_attestation: bool,
    /// The wrapping key size the parameters were requested for; checked against the key.
    #[arg(long, value_parser = super::wrapping_key_spec_parser(), value_name = "SPEC")]
    pub wrapping_key_spec: Option<WrappingKeySpec>,
    /// The kind of key material to generate.
    #[arg(
        long,
        value_parser = super::key_spec_parser(),
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
    /// Print the manifest as JSON instead of a summary. Not with --transcript: a recorded wrap
    /// prints its steps on stdout as they are recorded; its manifest is OUT/manifest.json.
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

/// Generates and wraps the key, recorded in a sealed transcript when one is asked for.
pub fn run(args: &WrapArgs) -> Result<(), Error> {
    let module = args.token.module.open()?;
    let prepared = wrap::prepare(request(args)?, OffsetDateTime::now_utc())?;
    let access = token_access(module, &args.token);
    let valid_to = prepared.params().valid_to;
    if let (Some(transcript), Some(signer)) = (&args.transcript, &args.signer_label) {
        return print_run(|observer| {
            ceremony::wrap_recorded(prepared, &access, transcript, signer, observer)
        });
    }
    let outcome = wrap::run(prepared, &access)?;
    finish(args, &outcome, valid_to)
}

/// The library's request for the wrap the command line describes.
pub fn request(args: &WrapArgs) -> Result<WrapRequest, Error> {
    Ok(WrapRequest {
        provider: args.provider,
        params: args.params.clone(),
        algorithm: args.algorithm,
        options: ProviderOptions {
            gcp_key: args.gcp_key.clone(),
            gcp_algorithm: args.gcp_algorithm.clone(),
            azure_key: args.azure_key.clone(),
            azure_kid: args.azure_kid.clone(),
            vault_key: args.vault_key.clone(),
            vault_mount: args.vault_mount.clone(),
        },
        wrapping_key_spec: args.wrapping_key_spec,
        key_label: args.key_label.clone(),
        key_spec: args.key_spec,
        out: args.out.clone(),
        material_valid_to: args.valid_to,
        allow_legacy_pkcs1: args.allow_legacy_pkcs1,
        wrap_with_trusted: args.wrap_with_trusted,
        attestation: wrap::AttestationRequest::read(
            args.azure_attestation.as_deref(),
            args.attestation_roots.as_deref(),
            args.require_attestation,
        )?,
    })
}

/// Prints a wrap's (or a rewrap's) warning, then its manifest as JSON or its summary.
pub fn finish(
    args: &WrapArgs,
    outcome: &WrapOutcome,
    valid_to: Option<OffsetDateTime>,
) -> Result<(), Error> {
    if let Some(warning) = &outcome.warning {
        errln!("keyrite: warning: {warning}");
    }
    if args.json {
        print_json(Schema::Wrap, &outcome.manifest)
    } else {
        print_summary(outcome, valid_to);
        Ok(())
    }
}

fn print_summary(outcome: &WrapOutcome, params_valid_to: Option<OffsetDateTime>) {
    let m = &outcome.manifest;
    let kcv = match &m.key.kcv {
        Some(v) if m.key.spec.is_asymmetric() => format!("public key SHA-256 {v}"),
        Some(v) => format!("KCV {v} ({})", m.key.kcv_method),
        None => format!("no KCV: {}", m.key.kcv_method),
    };
    let rewrap = m.key.existing;
    outln!(
        "{} {} key{} {:?} in token {:?} (serial {}): {kcv}{}.",
        if rewrap {
            "Found the existing"
        } else {
            "Generated"
        },
        m.key.spec,
        if m.key.spec.is_asymmetric() {
            " pair"
        } else {
            ""
        },
        m.key.label.as_str(),
        m.token.label,
        m.token.serial,
        if rewrap {
            ", the check value expected; nothing was generated"
        } else {
            ""
        }
    );
    if m.key.discarded > 0 {
        outln!(
            "The token made {} {} key pair(s) before it whose private key it encodes other than by RFC 5915 (a private key shorter than the curve's size); keyrite destroyed them.",
            m.key.discarded,
            m.key.spec
        );
    }
    outln!(
        "Wrapped it in the token with {} ({}) under the {} wrapping key of {} key {}.",
        m.algorithm,
        m.mechanism,
        m.wrapping_key_spec,
        outcome.provider.display_name(),
        m.kms_key_id
    );
    outln!(
        "The wrapping key is {}.",
        m.wrapping_key_attestation.summary()
    );
    outln!("Wrote {}/", outcome.out.display());
    for (name, digest) in &m.files {
        outln!("  {name:<26} sha256 {digest}");
    }
    outln!(
        "  {:<26} (the record of this {})",
        "manifest.json",
        if rewrap { "rewrap" } else { "wrap" }
    );
    if let Some(valid_to) = params_valid_to {
        outln!(
            "The import parameters expire at {}: import before then.",
            format_time(valid_to)
        );
    }
    if let Some(note) = outcome.provider.import_note(m.key.spec) {
        outln!("{note}");
    }
    let script = outcome.out.join("import.sh");
    let shown = script.display().to_string();
    let safe = shown
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@".contains(&b));
    outln!(
        "Next: sh {}",
        if safe { shown } else { shell_quote(&shown) }
    );
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time such as 2027-01-31T00:00:00Z ({e})"))
}
