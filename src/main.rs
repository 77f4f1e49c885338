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

use clap::error::{ContextKind, ContextValue, ErrorKind};
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
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(e) => return command_line_error(&e),
    };
    let name = command_name(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return command_line_error(&e),
    };
    let context = cli::hint::Context::of(&cli.command);
    let verifying = matches!(cli.command, Command::Verify(_));
    let result = cli::run(cli);
    let unwritten = cli::out::finish();
    match (result, unwritten) {
        (Ok(code), None) => code,
        (Ok(_), Some(e)) => {
            errln!(
                "keyrite: {name} finished, but its report could not be written to standard output: {e}; anything it did (files written, keys made on the token) stands"
            );
            match name.as_str() {
                "pin split" => errln!(
                    "The policy's pin_shares are each share file's SHA-256 without its newline, in order: tr -d '\\n' < DIR/share-1.txt | sha256sum (DIR is --out)."
                ),
                "token signer create" => errln!(
                    "The signer was made: `keyrite token signer export --key-label L` prints its PEM again."
                ),
                _ => {}
            }
            ExitCode::from(if verifying { 2 } else { 1 })
        }
        (Err(e), _) => {
            errln!("keyrite: {e}");
            if let Some(hint) = cli::hint::hint(&e, context) {
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

/// Prints clap's error (or help, or version) and returns its exit code: 2, or 0 for `--help`
/// and `--version`. An error that would quote a word of the command line that is no option
/// (an unexpected argument, an unknown subcommand) is printed without it: that word may be
/// the PIN, typed where its variable's name or file's path belongs.
fn command_line_error(e: &clap::Error) -> ExitCode {
    let word = match e.kind() {
        ErrorKind::UnknownArgument => e.get(ContextKind::InvalidArg),
        ErrorKind::InvalidSubcommand => e.get(ContextKind::InvalidSubcommand),
        _ => None,
    };
    let quoted = matches!(word, Some(ContextValue::String(word)) if !word.starts_with('-'));
    if quoted {
        let usage = match e.get(ContextKind::Usage) {
            Some(ContextValue::StyledStr(usage)) => format!("\n{usage}\n"),
            _ => String::new(),
        };
        // A suggestion is one of keyrite's own names, never the word typed.
        let tip = match e.get(ContextKind::SuggestedSubcommand) {
            Some(ContextValue::Strings(names)) if !names.is_empty() => format!(
                "\n  tip: a similar subcommand exists: {}\n",
                names
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => String::new(),
        };
        errln!(
            "error: an unexpected argument, not repeated here in case it is a PIN\n{tip}{usage}\nFor more information, try '--help'."
        );
    } else {
        // A closed standard output ends `--help` quietly, as it ends every command.
        let _ = e.print();
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
