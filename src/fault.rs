//! Fault injection for the kill and token-fault tests: with the `fault-injection` feature —
//! which only the test suite's build enables (`scripts/test`); a release build has none of it —
//! `KEYRITE_FAULT=NAME:N` makes the process kill itself with SIGKILL the N-th time it passes the
//! point NAME, as a power cut or `kill -9` would, leaving no chance to clean up; with
//! `NAME:N:stop` it stops itself (SIGSTOP) there, so a test can break the token under it and let
//! it continue; with `NAME:N:pause` it stops itself there too and, once continued, waits (a
//! minute at most) for the SIGINT, SIGTERM or SIGHUP the test sent meanwhile to be received
//! ([`crate::interrupt`]), so that keyrite goes on from exactly that point, interrupted.
//!
//! The points: `transcript-line` (a transcript line written, and fsynced if it announces a token
//! action), `output-file` (a file of a staged output directory written), `output-staged` (a
//! staged directory complete and fsynced, before its move into place), `output-moved` (moved,
//! before the parent is fsynced), `module-checked` (a ceremony's PKCS#11 module read, hashed
//! and found as the policy pins it, before it is loaded) and `witness-verified` (a transcript
//! verified and a witness signature checked against it, before the witness line is appended)
//! and `session-object` (an object keyrite makes for itself on a token made and held; a wrap's
//! first is the imported KMS public key).

/// Passes the fault point `name`.
#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    use std::sync::Mutex;
    static PASSED: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());
    let Ok(spec) = std::env::var("KEYRITE_FAULT") else {
        return;
    };
    let mut parts = spec.split(':');
    let (Some(target), Some(nth)) = (parts.next(), parts.next()) else {
        return;
    };
    let mode = parts.next();
    let signal = match mode {
        Some("stop" | "pause") => rustix::process::Signal::STOP,
        _ => rustix::process::Signal::KILL,
    };
    if target != name {
        return;
    }
    let Ok(mut passed) = PASSED.lock() else {
        return;
    };
    let count = match passed.iter_mut().find(|(n, _)| n == name) {
        Some((_, c)) => {
            *c += 1;
            *c
        }
        None => {
            passed.push((name.to_owned(), 1));
            1
        }
    };
    if nth.parse() == Ok(count) {
        drop(passed);
        let _ = rustix::process::kill_process(rustix::process::getpid(), signal);
        if mode == Some("pause") {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !crate::interrupt::received() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// Passes the fault point `name`: nothing, in a build without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}
