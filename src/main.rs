//! The `keyrite` binary: parse the command line, run the command, print its error with what to
//! do about it, and exit (0 success, 1 refused or failed, 2 usage: `keyrite::Error::exit_code`;
//! the table of every command's codes is docs/cli.md). The only place that exits, but for
//! SIGINT, SIGTERM and SIGHUP (130, 143, 129), which `keyrite::interrupt` handles.
//!
//! A closed standard output ends a command quietly with the exit code it would have had
//! (`cli::out`); another failure to write it is reported here as the command finished and its
//! report lost, exit 1 (2 for `verify`, whose 1 means INVALID).

mod cli;

use std::process::ExitCode;

use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};

use cli::out::errln;
use cli::{Cli, Command};

fn main() -> ExitCode {
    keyrite::pin::harden_process();
    // SIGINT, SIGTERM and SIGHUP exit (128 + the signal) once keyrite's own objects on a token
    // are destroyed; without the thread that waits for them, they end keyrite as before.
    if let Err(e) = keyrite::interrupt::install() {
        errln!(
            "keyrite: warning: SIGINT, SIGTERM and SIGHUP cannot be caught ({e}); they end keyrite at once"
        );
    }
    let matches = Cli::command().get_matches();
    let name = command_name(&matches);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let verifying = matches!(cli.command, Command::Verify(_));
    let result = cli::run(cli);
    let unwritten = cli::out::finish();
    match (result, unwritten) {
        (Ok(code), None) => code,
        (Ok(_), Some(e)) => {
            errln!(
                "keyrite: {name} finished, but its report could not be written to standard output: {e}; what it did (files written, keys made on the token) stands"
            );
            if name == "pin split" {
                errln!(
                    "The policy's pin_shares are each share file's SHA-256 without its newline, in order: tr -d '\\n' < DIR/share-1.txt | sha256sum (DIR is --out)."
                );
            }
            ExitCode::from(if verifying { 2 } else { 1 })
        }
        (Err(e), _) => {
            errln!("keyrite: {e}");
            if let Some(hint) = cli::hint::hint(&e) {
                errln!("{hint}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// The command's words as typed (`wrap`, `pin split`), subcommands included.
fn command_name(matches: &ArgMatches) -> String {
    let mut words = Vec::new();
    let mut at = matches;
    while let Some((word, sub)) = at.subcommand() {
        words.push(word);
        at = sub;
    }
    words.join(" ")
}
