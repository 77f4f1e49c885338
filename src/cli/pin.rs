//! `keyrite pin split`: the user PIN split into shares for tokens without M-of-N login. The
//! library reads the PIN (through its `PinSource`), logs in with it, proves the shares and
//! writes them (in the clear or encrypted to the policy's custodians); this file prints their
//! digests for the policy.

use std::path::PathBuf;

use clap::{Args, Subcommand, value_parser};

use super::out::outln;
use super::{ModuleArgs, pin_source};
use keyrite::Error;
use keyrite::shares::{Recipients, SplitRequest};

/// `keyrite pin …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::PIN)]
pub enum PinCommand {
    /// Split the user PIN into N shares, any M of which rebuild it, after logging in with it
    /// (a wrong PIN is refused, and counts toward the token's lockout) and rebuilding it from
    /// the new shares; prints each share's SHA-256 for the policy's pin_shares. With
    /// --to-policy, one share per custodian of the policy, encrypted to their SSH key
    /// (share-NAME.age); with --plaintext, share files in the clear (share-I.txt).
    #[command(after_help = super::examples::PIN_SPLIT)]
    Split(Box<SplitArgs>),
}

/// `keyrite pin split`'s arguments.
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// M: how many shares rebuild the PIN, 2 to N (with --to-policy, default: the policy's
    /// threshold of approvals).
    #[arg(long, value_name = "M", value_parser = value_parser!(u8).range(2..=255),
        required_unless_present = "to_policy")]
    threshold: Option<u8>,
    /// N: how many shares to make, 2 to 255 (with --to-policy, the number of its custodians:
    /// leave it out).
    #[arg(long, value_name = "N", value_parser = value_parser!(u8).range(2..=255),
        required_unless_present = "to_policy")]
    shares: Option<u8>,
    /// A new directory for the share files (mode 0700; files 0600), written all at once.
    #[arg(long, value_name = "DIR", alias = "out-dir")]
    out: PathBuf,
    /// One share for each custodian of this policy, encrypted to their SSH public key in the
    /// age format (ssh-ed25519 and ssh-rsa keys): share-NAME.age, which only they can open
    /// (`age -d -i KEY`). The module and token are checked against the policy's module_sha256,
    /// module_path and token_serial.
    #[arg(long, value_name = "POLICY", conflicts_with = "plaintext")]
    to_policy: Option<PathBuf>,
    /// Write the shares in the clear (share-I.txt), for custodians to be handed in person.
    #[arg(long)]
    plaintext: bool,
    /// The token's label (may be left out when there is exactly one token).
    #[arg(long, value_name = "LABEL")]
    token: Option<String>,
    /// Read the PIN from the environment variable of this NAME (not the PIN itself) instead
    /// of prompting (twice).
    #[arg(long, value_name = "NAME", conflicts_with = "pin_file")]
    pin_env: Option<String>,
    /// Read the PIN from this file (mode 0600 or stricter) instead of prompting (twice).
    #[arg(long, value_name = "PATH")]
    pin_file: Option<PathBuf>,
    #[command(flatten)]
    module: ModuleArgs,
}

/// Runs a `pin` subcommand.
pub fn run(command: PinCommand) -> Result<(), Error> {
    let PinCommand::Split(args) = command;
    let SplitArgs {
        threshold,
        shares,
        out,
        to_policy,
        plaintext,
        token,
        pin_env,
        pin_file,
        module,
    } = *args;
    let to = match (to_policy, plaintext) {
        (Some(policy), _) => Recipients::Policy(policy),
        (None, true) => Recipients::Plaintext,
        (None, false) => return Err(keyrite::shares::Error::NoRecipients.into()),
    };
    let encrypted = matches!(to, Recipients::Policy(_));
    let request = SplitRequest {
        module: module.open()?,
        token,
        pin: pin_source(pin_env, pin_file),
        threshold,
        shares,
        out,
        to,
    };
    let split = keyrite::shares::split_pin(&request)?;
    let (n, m) = (split.files.len(), split.threshold);
    if encrypted {
        outln!(
            "{n} shares written, each encrypted to its custodian's SSH key; any {m} rebuild the PIN. Give each custodian their file: they open it with `age -d -i KEY FILE`, or give it to `ceremony run --pin-share FILE --identity KEY`."
        );
    } else {
        outln!("{n} shares written; any {m} rebuild the PIN. Give each to one custodian.");
    }
    outln!(
        "Put their SHA-256 and the threshold in the policy, above its first [[custodians]] table (TOML puts a key after a table inside it), the shares in this order:"
    );
    outln!("pin_threshold = {m}");
    outln!("pin_shares = [");
    for file in &split.files {
        match &file.custodian {
            Some(name) => outln!(
                "    {{ custodian = {}, sha256 = \"{}\" }},  # {}",
                toml::Value::String(name.clone()),
                file.sha256,
                file.path.display()
            ),
            None => outln!("    \"{}\",  # {}", file.sha256, file.path.display()),
        }
    }
    outln!("]");
    Ok(())
}
