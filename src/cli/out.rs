//! Standard output and standard error, for every command: what `outln!`, `out!` and `errln!`
//! write through, in place of `println!`, `print!` and `eprintln!`, which panic when a write
//! fails.
//!
//! A closed standard output (its reader went away: `keyrite verify … | head -1`) is not an
//! error, as for ripgrep and the GNU tools' `head`: keyrite stops writing to it, finishes what
//! it was doing (a token action or a ceremony step is never cut short by a reader that left),
//! and exits with the code it would have had — 0, or `verify`'s verdict. Any other write
//! failure (a full disk behind `> file`) is kept, and [`finish`] returns it for `main` to
//! report. Standard error carries messages only: a failed write to it is ignored.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::{Mutex, PoisonError};

/// What writing to standard output has met so far.
enum State {
    /// Every write succeeded.
    Open,
    /// The reader went away (EPIPE): nothing more is written.
    Closed,
    /// A write failed otherwise: nothing more is written, and `main` reports it.
    Failed(io::Error),
}

static STDOUT: Mutex<State> = Mutex::new(State::Open);

/// Writes to standard output, unless an earlier write found it closed or failing.
pub fn write_out(args: fmt::Arguments<'_>) {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if matches!(*state, State::Open) {
        if let Err(e) = io::stdout().lock().write_fmt(args) {
            *state = stopped(e);
        }
    }
}

/// Writes to standard error; a failure is ignored (there is nowhere left to say it).
pub fn write_err(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Flushes standard output (what `out!` left without a newline); the write failure to report,
/// if one was not a closed pipe.
pub fn finish() -> Option<io::Error> {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if matches!(*state, State::Open) {
        if let Err(e) = io::stdout().lock().flush() {
            *state = stopped(e);
        }
    }
    match std::mem::replace(&mut *state, State::Closed) {
        State::Failed(e) => Some(e),
        State::Open | State::Closed => None,
    }
}

/// The state after the write failure `e`.
fn stopped(e: io::Error) -> State {
    if e.kind() == io::ErrorKind::BrokenPipe {
        State::Closed
    } else {
        State::Failed(e)
    }
}

/// `println!` to standard output through [`write_out`].
macro_rules! outln {
    () => {
        $crate::cli::out::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to standard output through [`write_out`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write_out(format_args!($($arg)*))
    };
}

/// `eprintln!` to standard error through [`write_err`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
