//! `keyrite pin split`: the user PIN split into shares for tokens without M-of-N login. The
//! library reads the PIN (through its `PinSource`) and writes the shares; this file prints
//! their digests for the policy.

use std::path::PathBuf;

use clap::Subcommand;

use super::out::outln;
use keyrite::Error;

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

/// Runs a `pin` subcommand.
pub fn run(command: PinCommand) -> Result<(), Error> {
    let PinCommand::Split {
        threshold,
        shares,
        out_dir,
        pin_env,
    } = command;
    let written = keyrite::shares::split_pin(pin_env, threshold, shares, &out_dir)?;
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
