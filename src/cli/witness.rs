//! `keyrite witness …`: witnesses co-sign a sealed transcript with their own SSH keys. The
//! library verifies the seal and the policy's witnesses; this file only prints what it did.

use std::path::PathBuf;

use clap::Subcommand;

use super::out::{out, outln};
use keyrite::words::digest_lines;
use keyrite::{Error, witness};

/// `keyrite witness …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::WITNESS)]
pub enum WitnessCommand {
    /// Sign the transcript's seal with your SSH key (via ssh-keygen) and append the witness line.
    #[command(after_help = super::examples::WITNESS_SIGN)]
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
    #[command(after_help = super::examples::WITNESS_ADD)]
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
    #[command(after_help = super::examples::WITNESS_MESSAGE)]
    Message {
        /// The sealed transcript.
        transcript: PathBuf,
        /// The ceremony signer's public key.
        #[arg(long, value_name = "PEM")]
        signer: PathBuf,
    },
}

/// Runs a `witness` subcommand.
pub fn run(command: WitnessCommand) -> Result<(), Error> {
    match command {
        WitnessCommand::Message { transcript, signer } => {
            out!("{}", witness::message(&transcript, &signer)?);
        }
        WitnessCommand::Sign {
            transcript,
            ssh_key,
            signer,
            policy,
        } => {
            let witnessed = witness::sign(&transcript, &signer, &policy, &ssh_key)?;
            outln!(
                "Witness {:?} signed {}.",
                witnessed.name,
                transcript.display()
            );
            print_signed(&witnessed);
        }
        WitnessCommand::Add {
            transcript,
            signature,
            signer,
            policy,
        } => {
            let witnessed = witness::add(&transcript, &signer, &policy, &signature)?;
            outln!(
                "Witness {:?} added to {}.",
                witnessed.name,
                transcript.display()
            );
            print_signed(&witnessed);
        }
    }
    Ok(())
}

/// What the witness signed, to compare with what was read aloud at the seal.
fn print_signed(witnessed: &witness::Witnessed) {
    for line in digest_lines(
        "  ",
        "chain head at the seal (what the witness signed)",
        &witnessed.chain_head,
    ) {
        outln!("{line}");
    }
}
