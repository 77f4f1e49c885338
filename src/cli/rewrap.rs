//! `keyrite rewrap`: a key already in the token wrapped under new import parameters, once
//! proven the same key. This file says where what the key must be comes from (a check value or
//! an earlier transcript) and prints the outcome as `wrap` does.

use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use keyrite::Error;
use keyrite::wrap::{self, ExpectedSource};

use super::token_access;
use super::wrap::{WrapArgs, finish, request};

/// `keyrite rewrap`: the options of `keyrite wrap`, `--key-label` naming the existing key, each
/// described as rewrap uses it. Those of wrap that rewrap refuses (a key's CKA_WRAP_WITH_TRUSTED
/// is the key's own; a rewrap writes no transcript) are not shown.
#[derive(Debug, Args)]
#[command(
    after_help = super::examples::REWRAP,
    mut_arg("params", |a| a.help(
        "The new import parameters, as the KMS's CLI printed them (JSON; for azure and vault also a bare PEM public key)"
    )),
    mut_arg("key_spec", |a| a.help(
        "What the existing key is: checked against the key in the token, never generated"
    )),
    mut_arg("key_label", |a| a.help(
        "The label of the existing key in the token (the --key-label it was wrapped or restored with)"
    )),
    mut_arg("out", |a| a.help(
        "The output directory to create (must not exist) for the key wrapped again"
    )),
    mut_arg("valid_to", |a| a.help(
        "When the material imported again expires in the KMS (RFC 3339); it never does if left out"
    )),
    mut_arg("json", |a| a.help("Print the rewrap's manifest as JSON instead of a summary")),
    mut_arg("wrap_with_trusted", |a| a.hide(true)),
    mut_arg("transcript", |a| a.hide(true)),
    mut_arg("signer_label", |a| a.hide(true)),
)]
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

/// Re-wraps the existing key, after proving it is the key expected.
pub fn run(args: &RewrapArgs) -> Result<(), Error> {
    let module = args.wrap.token.module.open()?;
    if args.wrap.transcript.is_some() {
        return Err(wrap::Error::RewrapRecording.into());
    }
    if args.wrap.wrap_with_trusted {
        return Err(wrap::Error::RewrapTrusted.into());
    }
    // The check value expected: given, or recorded in an earlier transcript that verifies
    // (with the key's CKA_ID and KCV method).
    let source = match (&args.expect_kcv, &args.from_transcript, &args.signer) {
        (Some(value), _, _) => ExpectedSource::Given(value.clone()),
        (None, Some(transcript), Some(signer)) => ExpectedSource::Transcript {
            transcript: transcript.clone(),
            signer: signer.clone(),
        },
        _ => return Err(wrap::Error::RewrapNeedsKcv.into()),
    };
    let (prepared, expected) =
        wrap::prepare_rewrap(request(&args.wrap)?, source, OffsetDateTime::now_utc())?;
    let access = token_access(module, &args.wrap.token);
    let valid_to = prepared.params().valid_to;
    let outcome = wrap::rewrap(prepared, &access, &expected)?;
    finish(&args.wrap, &outcome, valid_to)
}
