//! `keyrite man`: keyrite's manual pages, made by clap_mangen from the same definitions as
//! `--help`: `keyrite.1`, and one page per subcommand at every level, named by its path
//! (`keyrite-wrap.1`, `keyrite-token-info.1`, `keyrite-token-backup-key-create.1`). A page of the
//! same name in the directory is replaced: the directory is where pages are installed, and a
//! newer keyrite writes its pages over an older one's.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory as _};
use clap_mangen::Man;

use super::out::outln;
use super::{Cli, VERSION};
use keyrite::Error;
use keyrite::output;

/// `keyrite man …`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  mkdir -p ~/.local/share/man/man1 && keyrite man --out ~/.local/share/man/man1")]
pub struct ManArgs {
    /// The directory the pages are written into (it must exist).
    #[arg(long, value_name = "DIR", default_value = ".", alias = "out-dir")]
    pub out: PathBuf,
}

/// Writes every page into `args.out`, and says how many.
pub fn run(args: &ManArgs) -> Result<(), Error> {
    if !args.out.is_dir() {
        return Err(keyrite::wrap::Error::Output(output::Error::NoParent {
            path: args.out.clone(),
        })
        .into());
    }
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Gives every subcommand its display name, `keyrite-token-info`: its page's title and file.
    cli.build();
    let written = write_pages(&cli, &args.out)?;
    outln!(
        "Wrote {written} manual pages in {}: keyrite.1 and one per subcommand",
        args.out.display()
    );
    Ok(())
}

/// Writes the page of `command` and of each of its visible subcommands, at every level, into
/// `dir`; how many.
fn write_pages(command: &clap::Command, dir: &Path) -> Result<usize, Error> {
    let mut written = 0;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += write_pages(sub, dir)?;
    }
    // No date (the version names the build), but a blank one: clap_mangen writes an empty
    // date as nothing at all, which moves the source and the manual into the wrong fields.
    let man = Man::new(command.clone())
        .date(" ")
        .source(format!("keyrite {VERSION}"))
        .manual("keyrite");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .and_then(|()| std::fs::write(&path, &page))
        .map_err(|source| {
            keyrite::wrap::Error::Output(output::Error::Io {
                action: "cannot write",
                path,
                source,
            })
        })?;
    Ok(written + 1)
}
