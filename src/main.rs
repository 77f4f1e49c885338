//! The `keyrite` binary: parse the command line, run the command, print its error with what to
//! do about it, and exit (0 success, 1 refused or failed, 2 usage). The only place that exits,
//! but for SIGINT, SIGTERM and SIGHUP (130, 143, 129), which `keyrite::interrupt` handles.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use keyrite::Error;

use cli::{Cli, Command};

fn main() -> ExitCode {
    keyrite::pin::harden_process();
    // SIGINT, SIGTERM and SIGHUP exit (128 + the signal) once keyrite's own objects on a token
    // are destroyed; without the thread that waits for them, they end keyrite as before.
    if let Err(e) = keyrite::interrupt::install() {
        let _ = writeln!(
            std::io::stderr(),
            "keyrite: warning: SIGINT, SIGTERM and SIGHUP cannot be caught ({e}); they end keyrite at once"
        );
    }
    let cli = Cli::parse();
    let verifying = matches!(cli.command, Command::Verify(_));
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "keyrite: {e}");
            if let Some(hint) = cli::hint::hint(&e) {
                let _ = writeln!(stderr, "{hint}");
            }
            // verify's inputs that cannot be used at all are a usage error.
            ExitCode::from(if verifying && matches!(e, Error::Verify(_)) {
                2
            } else {
                1
            })
        }
    }
}
