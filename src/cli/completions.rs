//! `keyrite completions SHELL`: the shell's completion script for keyrite on standard output,
//! made by clap_complete from the same definitions as `--help`, so it offers exactly the
//! commands and options this binary takes.

use clap::{Args, CommandFactory as _, ValueEnum};

use super::Cli;
use super::out::out;
use keyrite::Error;

/// `keyrite completions …`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyrite completions bash > ~/.local/share/bash-completion/completions/keyrite
  keyrite completions zsh > ~/.zfunc/_keyrite     # a directory on $fpath
  keyrite completions fish > ~/.config/fish/completions/keyrite.fish")]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// The shells keyrite's completion scripts are made and tested for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// With or without the bash-completion package.
    Bash,
    /// The completion function `_keyrite`, for a directory on `$fpath`.
    Zsh,
    /// For fish's completions directory.
    Fish,
}

/// Prints the completion script for `args.shell`.
pub fn run(args: &CompletionsArgs) -> Result<(), Error> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "keyrite", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(())
}
