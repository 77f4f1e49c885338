//! What a run tells its caller as it goes: each trial wrap before anything changes on the
//! token, each step as it begins, and each as it finishes, in step order, to an [`Observer`]
//! the caller gives. The library prints nothing; what is shown, and where, is the caller's.

use std::path::Path;

use super::plan::Step;
use crate::spec::KeyLabel;
use crate::wrap::KeyRecord;

/// Told of a run's progress, step by step, on the thread that runs it.
pub trait Observer {
    /// Before anything changes on the token: a trial wrap for step `index` of `total`.
    fn checking(&mut self, index: usize, total: usize, step: &Step);
    /// Step `index` of `total` begins.
    fn starting(&mut self, index: usize, total: usize, step: &Step);
    /// Step `index` of `total` finished, as `done` says; it is recorded in the transcript.
    fn finished(&mut self, index: usize, total: usize, done: &Done<'_>);
    /// The run was asked for `asked` sessions of the token and runs its steps (from now on) on
    /// `running`, fewer, for the reason `why`: before the first step, or once it has measured
    /// that more do not pay.
    fn fewer_sessions(&mut self, asked: usize, running: usize, why: &FewerSessions);
}

/// Why a run has fewer sessions of the token than it was asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum FewerSessions {
    /// The module cannot lock for the application's threads (`C_Initialize` answered
    /// `CKF_OS_LOCKING_OK` with `CKR_CANT_LOCK`): its sessions are called from one thread.
    CannotLock,
    /// The token opened no more: the error it gave for the next.
    Refused(String),
    /// Every batch is of one step (`--batch-steps 1`): nothing to run in parallel.
    OneStepBatches,
    /// The plan's steps ended before a batch ran on more than one session (the run's first
    /// full batch runs on one, for the pace to measure more by).
    Unmeasured,
    /// More sessions did the token's steps too little faster than one to pay.
    NoFaster {
        /// The sessions the run had.
        sessions: usize,
        /// The pace (steps a second) of a full batch on one session.
        one: f64,
        /// The pace of the next full batch, on all the sessions.
        many: f64,
        /// The step from which the run keeps to one session.
        from: usize,
    },
}

impl std::fmt::Display for FewerSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FewerSessions::CannotLock => f.write_str(
                "the module cannot lock for threads (C_Initialize answered CKF_OS_LOCKING_OK with CKR_CANT_LOCK), so keyrite calls it from one",
            ),
            FewerSessions::Refused(e) => write!(f, "the token opened no more: {e}"),
            FewerSessions::OneStepBatches => f.write_str(
                "a batch of one step (--batch-steps 1) has nothing to run in parallel",
            ),
            FewerSessions::Unmeasured => f.write_str(
                "the plan's steps ended before a batch ran on more (a run's first full batch, closed by count or by time, runs on one session, for the pace to measure more by)",
            ),
            FewerSessions::NoFaster {
                sessions,
                one,
                many,
                from,
            } => write!(
                f,
                "from steps[{from}] on, as {sessions} sessions did the token's steps at {:.3}× the pace of one ({} against {} steps a second, a full batch each): the token or its module serializes calls",
                many / one,
                steps_a_second(*many),
                steps_a_second(*one)
            ),
        }
    }
}

/// What a step that finished did.
#[derive(Debug)]
pub enum Done<'a> {
    /// A key generated in the token.
    Generated(&'a KeyRecord),
    /// A key the interrupted run generated, proven on the token and taken over by the resumed
    /// run instead of being generated again.
    Resumed(&'a KeyRecord),
    /// A key wrapped and its output written: a generated key's wrap, or an existing key's
    /// rewrap.
    Wrapped {
        /// The key, as the token reports it.
        key: &'a KeyRecord,
        /// The output directory written.
        out: &'a Path,
        /// How the run came to hold the key it wrapped.
        held: Held,
    },
    /// An existing key destroyed, after its check value was found to be the one expected.
    Destroyed {
        /// The key's label.
        label: &'a KeyLabel,
        /// The check value the plan expected, and the key had.
        expect_kcv: &'a str,
    },
}

/// How a run holds the key a wrap step wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Generated (or taken over) by an earlier step of this run.
    Generated,
    /// An existing key, found on the token and proven by this step (a rewrap).
    Found,
    /// An existing key that an earlier rewrap step of this run found.
    FoundBefore,
}

/// A pace, in steps a second, with three significant digits or more: a slow token's below one
/// is not printed as 0.
fn steps_a_second(pace: f64) -> String {
    match pace {
        p if p >= 100.0 => format!("{p:.0}"),
        p if p >= 10.0 => format!("{p:.1}"),
        p if p >= 1.0 => format!("{p:.2}"),
        p => format!("{p:.3}"),
    }
}
