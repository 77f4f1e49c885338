//! `keyrite pin split`: the user PIN split into shares for tokens without M-of-N login. The
//! library reads the PIN (through its `PinSource`) and writes the shares; this file prints
//! their digests for the policy.

use std::path::PathBuf;

use clap::{Subcommand, value_parser};

use super::out::outln;
use super::pin_source;
use keyrite::Error;

/// `keyrite pin …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::PIN)]
pub enum PinCommand {
    /// Split the user PIN into N shares, any M of which rebuild it; prints each share's SHA-256
    /// for the policy's pin_shares.
    #[command(after_help = super::examples::PIN_SPLIT)]
    Split {
        /// M: how many shares rebuild the PIN, 2 to N.
        #[arg(long, value_name = "M", value_parser = value_parser!(u8).range(2..=255))]
        threshold: u8,
        /// N: how many shares to make, 2 to 255.
        #[arg(long, value_name = "N", value_parser = value_parser!(u8).range(2..=255))]
        shares: u8,
        /// A new directory for the share files (mode 0700; files 0600).
        #[arg(long, value_name = "DIR", alias = "out-dir")]
        out: PathBuf,
        /// Read the PIN from the environment variable of this NAME (not the PIN itself) instead
        /// of prompting (twice).
        #[arg(long, value_name = "NAME", conflicts_with = "pin_file")]
        pin_env: Option<String>,
        /// Read the PIN from this file (mode 0600 or stricter) instead of prompting (twice).
        #[arg(long, value_name = "PATH")]
        pin_file: Option<PathBuf>,
    },
}

/// Runs a `pin` subcommand.
pub fn run(command: PinCommand) -> Result<(), Error> {
    let PinCommand::Split {
        threshold,
        shares,
        out,
        pin_env,
        pin_file,
    } = command;
    // Counts that make no split are a usage error before the PIN is asked for.
    if threshold > shares {
        return Err(keyrite::shares::Error::Counts.into());
    }
    let written =
        keyrite::shares::split_pin(&pin_source(pin_env, pin_file), threshold, shares, &out)?;
    outln!(
        "{} shares written; any {threshold} rebuild the PIN. Give each to one custodian.",
        written.len()
    );
    outln!("Put their SHA-256 in the policy, in this order:");
    outln!("pin_shares = [");
    for (path, digest) in &written {
        outln!("    \"{digest}\",  # {}", path.display());
    }
    outln!("]");
    Ok(())
}
