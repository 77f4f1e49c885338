//! SIGINT, SIGTERM and SIGHUP: keyrite ends with the conventional exit status (128 + the
//! signal's number: 130, 143, 129) and one line on standard error, but never before the objects
//! it made for itself on a token (imported KMS public keys, ephemeral AES keys, trial keys, each
//! a [`crate::hsm::object::SessionObject`]) are destroyed: some tokens keep session objects
//! beyond the process (tpm2-pkcs11 persists them).
//!
//! A thread of its own waits for the signals ([`install`]). When one comes and no token
//! session is open, or the main thread waits on its input (a PIN prompt) while no object of
//! its own exists, keyrite exits at once, as the signal's default would end it: a transcript
//! or an output directory is then in a state a power cut could leave, which `ceremony run
//! --resume-from` takes. Otherwise the signal is only noted ([`received`]): from then on no
//! session opens and every PKCS#11 call is refused but those that only read (`C_FindObjects`,
//! `C_GetAttributeValue`), `C_CloseSession`, the destruction of keyrite's own objects, and
//! that of a key the same session made (`src/hsm/trace.rs`). The main thread's next call is
//! refused, and its error takes the command's failure path: it unwinds through the guards that
//! destroy keyrite's own objects, and a key the command made is destroyed where its failure
//! destroys it (a plain `wrap`'s, a `restore`'s; never one that existed before, as a rewrap's),
//! which the last line names (`key_discarded`). When the last session closes keyrite exits,
//! saying how many objects it destroyed. A ceremony's run alone ends otherwise: it records
//! nothing after the signal (its transcript stays resumable, as after a power cut), and its
//! keys stay for `--resume-from`.
//!
//! A signal during a no-echo PIN prompt (`prompting`) ends keyrite at once, the terminal's
//! mode first put back as the prompt found it.
//!
//! It trusts `signal-hook` to deliver the signals to its thread.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::termios::{OptionalActions, Termios, tcgetattr, tcsetattr};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// What the process is doing that a signal must not cut short, and what it did since one came.
struct State {
    /// The first signal received.
    signal: Option<i32>,
    /// Whether a token session was open when it came.
    in_session: bool,
    /// Token sessions open, or being opened.
    sessions: usize,
    /// Objects keyrite made for itself and has not destroyed yet.
    objects: usize,
    /// Blocking reads of the user's input in progress.
    reading: usize,
    /// Of the objects alive when the signal came, how many were destroyed, and how many could
    /// not be.
    destroyed: usize,
    not_destroyed: usize,
    /// The keys the command made (generated, restored) that its failure path destroyed after
    /// the signal came, or tried to: their labels, how each was made, and whether it is gone.
    keys: Vec<(String, Made, bool)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    signal: None,
    in_session: false,
    sessions: 0,
    objects: 0,
    reading: 0,
    destroyed: 0,
    not_destroyed: 0,
    keys: Vec::new(),
});

/// Set with [`State::signal`], for the check before every PKCS#11 call.
static RECEIVED: AtomicBool = AtomicBool::new(false);

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The terminal a no-echo prompt is on, and its mode as the prompt found it: put back before
/// keyrite exits on a signal during the prompt, which would otherwise leave echo off.
static TERMINAL: Mutex<Option<(std::fs::File, Termios)>> = Mutex::new(None);

fn terminal() -> MutexGuard<'static, Option<(std::fs::File, Termios)>> {
    TERMINAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the thread that waits for SIGINT, SIGTERM and SIGHUP; from then on they no longer
/// end the process by themselves.
pub fn install() -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            for signal in signals.forever() {
                arrived(signal);
            }
        })?;
    Ok(())
}

/// A signal came: noted, and the process ends at once if nothing of keyrite's is on a token.
fn arrived(signal: i32) {
    let mut s = state();
    if s.signal.is_none() {
        s.signal = Some(signal);
        s.in_session = s.sessions > 0;
        RECEIVED.store(true, Ordering::SeqCst);
    }
    if s.sessions == 0 || (s.reading > 0 && s.objects == 0) {
        exit(s);
    }
}

/// Whether SIGINT, SIGTERM or SIGHUP came.
pub fn received() -> bool {
    RECEIVED.load(Ordering::SeqCst)
}

/// Says why keyrite stops, and ends the process with 128 + the signal's number, without
/// running anything else (`_exit`).
fn exit(s: MutexGuard<'_, State>) -> ! {
    let signal = s.signal.unwrap_or(SIGINT);
    let message = message(&s, signal);
    drop(s);
    if let Some((tty, mode)) = terminal().take() {
        // The prompt's line was left unfinished: the line below starts on a line of its own.
        let _ = tcsetattr(&tty, OptionalActions::Now, &mode);
        let _ = (&tty).write_all(b"\n");
    }
    // A terminal that hung up (SIGHUP) may refuse the line: keyrite exits all the same.
    let _ = writeln!(std::io::stderr(), "{message}");
    signal_hook::low_level::exit(128 + signal)
}

/// The line said on the way out.
fn message(s: &State, signal: i32) -> String {
    let name = signal_hook::low_level::signal_name(signal).unwrap_or("a signal");
    let mut line = format!("keyrite: interrupted ({name})");
    if !s.in_session {
        return line;
    }
    let objects = |n: usize| if n == 1 { "object" } else { "objects" };
    match (s.destroyed, s.not_destroyed) {
        (0, 0) => line.push_str("; no object keyrite made for itself was on the token"),
        (n, 0) => line.push_str(&format!(
            "; {n} {} keyrite made for itself on the token {} destroyed",
            objects(n),
            if n == 1 { "was" } else { "were" },
        )),
        (n, failed) => line.push_str(&format!(
            "; {n} {} keyrite made for itself on the token {} destroyed, {failed} could not be: remove {} by hand",
            objects(n),
            if n == 1 { "was" } else { "were" },
            if failed == 1 { "it" } else { "them" },
        )),
    }
    for (label, made, destroyed) in &s.keys {
        line.push_str(&if *destroyed {
            format!("; the key {label:?} it {made} was destroyed")
        } else {
            format!("; the key {label:?} it {made} could not be destroyed: remove it by hand")
        });
    }
    line
}

/// A token session open (or being opened): while one is, a signal waits for the session to
/// close. Dropped after the session closes.
#[derive(Debug)]
pub(crate) struct Session(());

impl Session {
    /// Before a session opens: `None` once a signal came (no session opens then).
    pub(crate) fn opening() -> Option<Session> {
        let mut s = state();
        if s.signal.is_some() {
            return None;
        }
        s.sessions += 1;
        Some(Session(()))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let mut s = state();
        s.sessions = s.sessions.saturating_sub(1);
        if s.signal.is_some() && s.sessions == 0 {
            exit(s);
        }
    }
}

/// An object keyrite made for itself exists.
pub(crate) fn object_made() {
    state().objects += 1;
}

/// An object keyrite made for itself is gone: `destroyed` says whether its destruction
/// succeeded.
pub(crate) fn object_released(destroyed: bool) {
    let mut s = state();
    s.objects = s.objects.saturating_sub(1);
    if s.signal.is_some() {
        if destroyed {
            s.destroyed += 1;
        } else {
            s.not_destroyed += 1;
        }
    }
}

/// How a key the command destroys on its failure path came to be on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    /// Generated by this command (`wrap`, a ceremony's `generate`, a signer, a backup key).
    Generated,
    /// Unwrapped into the token by this command (`restore`).
    Restored,
}

impl std::fmt::Display for Made {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Made::Generated => "generated",
            Made::Restored => "restored",
        })
    }
}

/// A key the command made was destroyed on its failure path (`destroyed`: or could not be):
/// said on the way out when a signal came before.
pub(crate) fn key_discarded(label: &str, made: Made, destroyed: bool) {
    let mut s = state();
    if s.signal.is_some() && !s.keys.iter().any(|(l, _, _)| l == label) {
        s.keys.push((label.to_owned(), made, destroyed));
    }
}

/// Runs `read`, a read of the user's input that may block (a PIN prompt): a signal during it
/// ends the process at once unless an object keyrite made for itself exists.
pub(crate) fn reading<T>(read: impl FnOnce() -> T) -> T {
    {
        let mut s = state();
        if s.signal.is_some() && s.objects == 0 {
            exit(s);
        }
        s.reading += 1;
    }
    let value = read();
    let mut s = state();
    s.reading = s.reading.saturating_sub(1);
    value
}

/// Runs `prompt`, a no-echo prompt on the terminal (`rpassword`, which turns echo off while it
/// reads), as [`reading`] runs a read: when the process has a terminal, its mode is saved first
/// and, should a signal end keyrite during the prompt, put back before it exits.
pub(crate) fn prompting<T>(prompt: impl FnOnce() -> T) -> T {
    *terminal() = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
        .and_then(|tty| tcgetattr(&tty).ok().map(|mode| (tty, mode)));
    let value = reading(prompt);
    *terminal() = None;
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(in_session: bool, destroyed: usize, not_destroyed: usize) -> State {
        State {
            signal: Some(SIGINT),
            in_session,
            sessions: 0,
            objects: 0,
            reading: 0,
            destroyed,
            not_destroyed,
            keys: Vec::new(),
        }
    }

    #[test]
    fn the_line_says_the_signal_and_what_was_destroyed() {
        for (state, signal, expected) in [
            (
                after(false, 0, 0),
                SIGTERM,
                "keyrite: interrupted (SIGTERM)",
            ),
            (
                after(true, 0, 0),
                SIGINT,
                "keyrite: interrupted (SIGINT); no object keyrite made for itself was on the token",
            ),
            (
                after(true, 1, 0),
                SIGHUP,
                "keyrite: interrupted (SIGHUP); 1 object keyrite made for itself on the token was destroyed",
            ),
            (
                after(true, 3, 0),
                SIGINT,
                "keyrite: interrupted (SIGINT); 3 objects keyrite made for itself on the token were destroyed",
            ),
            (
                after(true, 1, 2),
                SIGINT,
                "keyrite: interrupted (SIGINT); 1 object keyrite made for itself on the token was destroyed, 2 could not be: remove them by hand",
            ),
            (
                State {
                    keys: vec![("payments".to_owned(), Made::Generated, true)],
                    ..after(true, 1, 0)
                },
                SIGINT,
                "keyrite: interrupted (SIGINT); 1 object keyrite made for itself on the token was destroyed; the key \"payments\" it generated was destroyed",
            ),
            (
                State {
                    keys: vec![("old".to_owned(), Made::Restored, false)],
                    ..after(true, 0, 0)
                },
                SIGTERM,
                "keyrite: interrupted (SIGTERM); no object keyrite made for itself was on the token; the key \"old\" it restored could not be destroyed: remove it by hand",
            ),
        ] {
            assert_eq!(message(&state, signal), expected);
        }
    }
}
