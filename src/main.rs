//! The `keyrite` binary: parse the command line, run the command, print its error with what to
//! do about it, and exit (0 success, 1 refused or failed, 2 usage: `keyrite::Error::exit_code`;
//! the table of every command's codes is docs/cli.md). The only place that exits, but for
//! SIGINT, SIGTERM and SIGHUP (130, 143, 129), which `keyrite::interrupt` handles.
//!
//! A closed standard output ends a command quietly with the exit code it would have had
//! (`cli::out`); another failure to write it is reported here, exit 1 (2 for `verify`, whose 1
//! means INVALID).

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

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
    let cli = Cli::parse();
    let verifying = matches!(cli.command, Command::Verify(_));
    let result = cli::run(cli);
    let unwritten = cli::out::finish();
    match (result, unwritten) {
        (Ok(code), None) => code,
        (Ok(_), Some(e)) => {
            errln!("keyrite: cannot write to standard output: {e}");
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
