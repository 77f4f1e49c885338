//! A ceremony's run on the token: `run` (a prepared plan) and `wrap_recorded` (one recorded
//! wrap) open the token, check it, and record the opening lines; a [`Run`] then carries the
//! steps out one method per kind — `generate`, `wrap`, `destroy` — each announced before the
//! token acts and recorded after, then reported to the caller's [`Observer`]; it settles the
//! keys if a step fails, and seals the transcript. It trusts what the preflight checked, and the
//! token for what it reports.

use std::path::Path;

use cryptoki::object::ObjectHandle;

use super::error::Fate;
use super::plan::{PinSpec, Step};
use super::preflight::{self, OnToken, Prepared, RunRequest};
use super::progress::{Done, FewerSessions, Held, Observer};
use super::record::{self, token_line};
use super::{ACTOR, Error, Outcome, StepFailure, resume};
use crate::hsm::{Module, Token};
use crate::interrupt::Made;
use crate::spec::{KeyLabel, KeySpec};
use crate::timestamp::format_time;
use crate::transcript::{Entry, Transcript, entry};
use crate::wrap::{self, CheckedWrap, KeyRecord, PreparedWrap};

/// Runs a prepared ceremony on the token, telling `observer` of each step in order.
pub fn run(
    prepared: Prepared,
    req: &RunRequest,
    observer: &mut dyn Observer,
) -> Result<Outcome, Error> {
    let Prepared {
        policy,
        plan,
        statement,
        quorum,
        wraps,
        resume,
    } = prepared;
    let module = preflight::load_module(&policy, req.module.as_deref())?;
    let description = module.find_token(Some(&plan.token_label))?;
    preflight::check_serial(&policy, &description)?;
    let (pin, share_indexes) = match &plan.pin {
        PinSpec::Source(source) => (
            source.read(&format!("User PIN for token {:?}: ", description.label))?,
            None,
        ),
        PinSpec::Shares => {
            let (pin, indexes) = crate::shares::rebuild(&req.pin_shares, &req.identities, &policy)?;
            (pin, Some(indexes))
        }
    };
    let token = module.open(description.clone())?;
    token.login(&pin)?;
    // More sessions for parallel batches, as many as the token opens (the batch lines record
    // how many ran); the login is the application's, each session takes it.
    let mut extra = Vec::new();
    let mut fewer = None;
    if req.batching.sessions > 1 && req.batching.max_steps < 2 {
        fewer = Some(FewerSessions::OneStepBatches);
    } else if req.batching.sessions > 1 && !module.threads() {
        fewer = Some(FewerSessions::CannotLock);
    }
    while fewer.is_none() && 1 + extra.len() < req.batching.sessions {
        match module.open(description.clone()) {
            Ok(session) => {
                session.login(&pin)?;
                extra.push(session);
            }
            Err(e) => fewer = Some(FewerSessions::Refused(e.to_string())),
        }
    }
    if let Some(why) = &fewer {
        observer.fewer_sessions(req.batching.sessions, 1 + extra.len(), why);
    }
    drop(pin);
    let OnToken { signer_fp, taken } =
        preflight::check_on_token(&token, &policy, &plan, resume.as_ref())?;
    // From here on, everything is recorded.
    let mut t = Transcript::create(&req.transcript)?;
    record::ceremony_lines(&mut t, &policy, &plan, &statement, &quorum)?;
    token_line(
        &mut t,
        &token,
        &module,
        &plan.operator,
        &plan.signing_key_label,
        &signer_fp,
    )?;
    record::login_line(&mut t, &plan, share_indexes.as_deref())?;
    if let Some(r) = &resume {
        record::resume_line(&mut t, &plan, r, &taken)?;
    }
    Run {
        t,
        token: &token,
        extra: &mut extra,
        module: &module,
        operator: &plan.operator,
        steps: &plan.steps,
        wraps: &wraps,
        start: match &resume {
            Some(_) => Continue::Resume(&taken, &plan.sha256),
            None => Continue::Marker(&plan.ceremony_id, &plan.sha256),
        },
        batching: req.batching,
        generated: Vec::new(),
        observer,
        pace: Pace::Unmeasured,
        parallel_ran: false,
    }
    .execute(&plan.signing_key_label, &signer_fp)
}

/// `keyrite wrap --transcript T --signer-label L`: one key generated and wrapped, recorded and
/// sealed like a ceremony (CI runs are recorded the same way), without a plan or quorum; its
/// two steps (generate, wrap) told to `observer` like a ceremony's.
pub fn wrap_recorded(
    prepared: PreparedWrap,
    access: &wrap::TokenAccess,
    transcript: &Path,
    signer_label: &KeyLabel,
    observer: &mut dyn Observer,
) -> Result<Outcome, Error> {
    if std::fs::symlink_metadata(transcript).is_ok() {
        return Err(crate::transcript::Error::Exists {
            path: transcript.to_path_buf(),
        }
        .into());
    }
    let (module, token) = wrap::open_logged_in(access)?;
    let signer_fp = token.signer_public_key(signer_label)?.fingerprint()?;
    let request = prepared.request().clone();
    token.check_label_free(&request.key_label)?;
    let operator = "keyrite wrap";
    let mut t = Transcript::create(transcript)?;
    t.append_unsynced(
        operator,
        &Entry::Request(entry::RequestData {
            provider: request.provider.name().to_owned(),
            params: request.params.display().to_string(),
            params_sha256: prepared.params_sha256().to_owned(),
            algorithm: prepared.algorithm().name().to_owned(),
            key_label: request.key_label.as_str().to_owned(),
            key_spec: request.key_spec.name().to_owned(),
            wrap_with_trusted: request.wrap_with_trusted,
            out: request.out.display().to_string(),
            key_material_valid_to: request.material_valid_to.map(format_time),
        }),
    )?;
    token_line(&mut t, &token, &module, operator, signer_label, &signer_fp)?;
    let steps = [
        Step::Generate {
            key_label: request.key_label.clone(),
            key_spec: request.key_spec,
            wrap_with_trusted: request.wrap_with_trusted,
        },
        Step::Wrap {
            key_label: request.key_label.clone(),
            provider: request.provider,
            params: request.params.display().to_string(),
            algorithm: prepared.algorithm(),
            wrapping_key_spec: request.wrapping_key_spec,
            out: request.out.display().to_string(),
            valid_to: request.material_valid_to,
            allow_legacy_pkcs1: request.allow_legacy_pkcs1,
            existing: None,
            options: Box::new(request.options.clone()),
            azure_attestation: request
                .attestation
                .azure
                .as_ref()
                .map(|(path, _)| path.display().to_string()),
            require_attestation: request.attestation.required,
        },
    ];
    Run {
        t,
        token: &token,
        extra: &mut Vec::new(),
        module: &module,
        operator,
        steps: &steps,
        wraps: &[None, Some(prepared)],
        start: Continue::Single,
        batching: Batching::default(),
        generated: Vec::new(),
        observer,
        pace: Pace::Unmeasured,
        parallel_ran: false,
    }
    .execute(signer_label, &signer_fp)
}

/// How a run starts on the token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Continue<'a> {
    /// A single recorded wrap: no plan, no marker.
    Single,
    /// A plan's first run: the marker (ceremony id, plan digest) is left before the first change.
    Marker(&'a str, &'a str),
    /// A plan's run resumed (the plan's SHA-256): the keys the interrupted run generated,
    /// proven on the token, are taken over; every other step, every wrap included, runs again.
    Resume(&'a [resume::TakenKey], &'a str),
}

impl Continue<'_> {
    /// The SHA-256 of the plan that runs, which the `CKA_ID` of every key it generates is
    /// bound to; `None` for a single recorded wrap.
    fn plan(&self) -> Option<&str> {
        match self {
            Continue::Single => None,
            Continue::Marker(_, plan) | Continue::Resume(_, plan) => Some(plan),
        }
    }
}

/// A key the run holds: generated by it, taken over from an interrupted run, or existing.
struct Generated {
    label: KeyLabel,
    handle: ObjectHandle,
    record: KeyRecord,
    wraps_done: usize,
    /// An existing key (rewrapped or destroyed), never destroyed because a step failed.
    existing: bool,
}

/// What became of a key when the run ended.
struct Settled {
    label: KeyLabel,
    kcv: Option<String>,
    fate: Fate,
}

impl Settled {
    /// As the `finish` line records it.
    fn entry(&self) -> entry::Settled {
        entry::Settled {
            label: self.label.as_str().to_owned(),
            kcv: self.kcv.clone(),
            fate: self.fate.to_string(),
        }
    }
}

/// A wrap step done on the token in a batch, its output staged until the batch commits (or
/// the error staging it, which fails the step where its move would).
struct StagedStep<'a> {
    dir: Result<crate::output::StagedDir, crate::output::Error>,
    pending: PendingWrap<'a>,
}

/// A step of a one-session batch done on the token: finished, or a wrap whose output the
/// batch's writer thread is staging.
enum Queued<'a> {
    Done(Finished<'a>),
    Writing(Box<PendingWrap<'a>>),
}

/// A step of a batch done on the token, told to the observer once the batch has committed.
enum Finished<'a> {
    /// A key generated, or (`resumed`) taken over from the interrupted run.
    Key {
        index: usize,
        record: KeyRecord,
        resumed: bool,
    },
    /// A wrap, its output staged.
    Wrap(Box<StagedStep<'a>>),
}

/// A step of a committed batch, to tell the observer of: a key, or the wrap at this position
/// among the batch's outputs.
enum Told {
    Key {
        index: usize,
        record: KeyRecord,
        resumed: bool,
    },
    Wrap(usize),
}

/// What a staged wrap step's `wrapped` line and the observer are told once its output is in
/// place.
struct PendingWrap<'a> {
    index: usize,
    label: KeyLabel,
    rewrap: bool,
    held: Held,
    key: KeyRecord,
    manifest: crate::wrap::Manifest,
    manifest_sha256: String,
    /// The step's check: its imported KMS key, destroyed once the output is in place (or as
    /// this drops).
    checked: CheckedWrap<'a>,
}

/// How a run groups its steps into batches: a batch takes new steps until it has `max_steps`
/// or `max_ms` have passed since its first began.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    /// Steps per batch at most (1: each step committed on its own).
    pub max_steps: usize,
    /// Milliseconds a batch takes new steps for at most.
    pub max_ms: u64,
    /// Sessions of the token that run a batch's steps in parallel (1: one after the other).
    pub sessions: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_steps: DEFAULT_BATCH_STEPS,
            max_ms: DEFAULT_BATCH_MS,
            sessions: 1,
        }
    }
}

/// Steps per batch unless the run says otherwise: a batch's outputs share one fsync round.
pub const DEFAULT_BATCH_STEPS: usize = 64;

/// How long a batch takes new steps for: a slow token never holds a finished output back for
/// longer.
pub const DEFAULT_BATCH_MS: u64 = 250;

/// How much faster than one session a run's sessions must do the token's steps for the run to
/// keep them: a token or module that serializes calls (p11-kit's client; SoftHSM2 for the most
/// part) gains nothing from more, and loses to their contention.
const SESSIONS_PAY: f64 = 1.2;

/// Whether a run's extra sessions pay, measured on its first full batches (closed by count or
/// by time): one on one session, the next on all of them.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// No full batch has run: the next runs on one session, its pace the measure of one.
    Unmeasured,
    /// A full batch ran on one session at this pace (steps a second): the next runs on all.
    One(f64),
    /// Decided: the run keeps the sessions it has.
    Settled,
}

/// The step that failed, and why.
struct Failed {
    index: usize,
    action: &'static str,
    error: Error,
}

/// Step `index`, `step`, failed with `error`.
fn failed(index: usize, step: &Step, error: Error) -> Box<Failed> {
    Box::new(Failed {
        index,
        action: step.action(),
        error,
    })
}

/// A run of steps on a logged-in token, recorded in its transcript.
pub(super) struct Run<'a> {
    /// The transcript, its opening lines written.
    t: Transcript,
    token: &'a Token,
    /// More sessions of the token, for batches run in parallel (none: one session).
    extra: &'a mut Vec<Token>,
    /// Whether the extra sessions pay, as measured on the run's first batches.
    pace: Pace,
    /// Whether a batch has run on the extra sessions.
    parallel_ran: bool,
    module: &'a Module,
    /// Who the steps' announcements name.
    operator: &'a str,
    steps: &'a [Step],
    /// For each step, its wrap prepared without the token (`None` for a step that wraps nothing).
    wraps: &'a [Option<PreparedWrap>],
    start: Continue<'a>,
    /// How its steps are grouped into batches.
    batching: Batching,
    /// The keys the run holds, in the order it came to hold them.
    generated: Vec<Generated>,
    /// Told of each step as it begins and as it finishes.
    observer: &'a mut dyn Observer,
}

impl<'a> Run<'a> {
    /// Runs the steps, recording each, then the outcome, and seals the transcript with the
    /// signer.
    fn execute(mut self, signer_label: &KeyLabel, signer_fp: &str) -> Result<Outcome, Error> {
        let result = match self.run_steps() {
            // A plan's run interrupted (SIGINT, SIGTERM, SIGHUP): nothing more is recorded and
            // no key settled, as after a power cut, so that `--resume-from` takes the
            // transcript; the imported KMS keys were destroyed as the steps' guards dropped. A
            // single recorded wrap, which nothing resumes, ends as its failure does: recorded
            // as failed and its key destroyed if nothing was wrapped from it (the seal, which
            // the token would have to make, is refused after the signal).
            Err(f) if crate::interrupt::received() && self.start.plan().is_some() => {
                return Err(f.error);
            }
            result => result,
        };
        // A failed run is recorded, and its keys settled, whatever the transcript can still
        // take: a key nothing was wrapped from is destroyed even if the disk is full.
        let mut unrecorded = None;
        if let Err(f) = &result {
            if let Err(w) = self.t.append(
                ACTOR,
                &Entry::Failure(entry::FailureData {
                    index: Some(f.index),
                    action: f.action.to_owned(),
                    error: f.error.to_string(),
                }),
            ) {
                unrecorded = Some(w);
            }
        }
        let (outcome, keys) = match &result {
            Ok(()) => ("completed", self.keep_all()),
            Err(_) => ("failed", self.settle_failed(&mut unrecorded)),
        };
        if let Some(e) = unrecorded {
            return Err(e.into());
        }
        let failure = result.as_ref().err().map(|f| entry::FinishFailure {
            step: Some(f.index),
            error: f.error.to_string(),
        });
        self.t.append(
            self.operator,
            &Entry::Finish(entry::FinishData {
                outcome: outcome.to_owned(),
                failure,
                keys: keys.iter().map(Settled::entry).collect(),
            }),
        )?;
        let head = self.t.head();
        let path = self.t.path().to_path_buf();
        // A token that broke under the run may no longer sign: the failure is recorded all the
        // same, and said, in an unsealed transcript.
        let sealed = self
            .token
            .sign_digest(signer_label, signer_fp, &head)
            .map_err(Error::from)
            .and_then(|signature| Ok(self.t.seal(signer_fp, &signature)?));
        match (result, sealed) {
            (Ok(()), Ok(sealed)) => Ok(Outcome {
                transcript: sealed.path,
                seal_sha256: sealed.seal_sha256,
            }),
            (Ok(()), Err(e)) => Err(e),
            (Err(f), sealed) => Err(Error::Failed(Box::new(StepFailure {
                index: f.index,
                action: f.action,
                reason: f.error,
                keys: keys.into_iter().map(|k| (k.label, k.fate)).collect(),
                sealed: sealed.err(),
                transcript: path,
            }))),
        }
    }

    /// Checks every wrap on the token, leaves the marker, then runs the steps in order: a
    /// destroy step on its own, the others in batches; each step told to the observer as it
    /// begins and once it is recorded.
    fn run_steps(&mut self) -> Result<(), Box<Failed>> {
        let mut checked = self.check_wraps()?;
        let steps = self.steps;
        let total = steps.len();
        let mut index = 0;
        while let Some(step) = steps.get(index) {
            let fail = |error: Error| failed(index, step, error);
            if index == 0 {
                self.leave_marker().map_err(fail)?;
            }
            if let Step::Destroy {
                key_label,
                expect_kcv,
            } = step
            {
                self.observer.starting(index, total, step);
                self.destroy(index, key_label, expect_kcv).map_err(fail)?;
                index += 1;
            } else {
                index = self.batch(index, &mut checked)?;
            }
        }
        if !self.extra.is_empty() && !self.parallel_ran {
            self.observer
                .fewer_sessions(self.batching.sessions, 1, &FewerSessions::Unmeasured);
        }
        Ok(())
    }

    /// Runs the batch of steps from `first`: its `batch` line fsynced, then generate and wrap
    /// steps until the batch is full (by count or by time), a destroy step or the plan's end
    /// comes, or a step fails; then the steps done are committed (their outputs made durable
    /// with their lines in one round, then moved into place). Returns the next step to run.
    fn batch(
        &mut self,
        first: usize,
        checked: &mut [Option<CheckedWrap<'a>>],
    ) -> Result<usize, Box<Failed>> {
        if !self.extra.is_empty() && !matches!(self.pace, Pace::Unmeasured) {
            return self.batch_parallel(first, checked);
        }
        let steps = self.steps;
        let total = steps.len();
        self.batch_line(first, 1)?;
        let started = std::time::Instant::now();
        let max = std::time::Duration::from_millis(self.batching.max_ms);
        let mut queued = Vec::new();
        let mut index = first;
        let mut failure = None;
        // The outputs' files are written by a thread of the batch's own while the token works
        // on the next steps; the batch waits for them before it commits.
        let mut full = false;
        // Set by the writer once an output could not be staged: the batch takes no more steps,
        // and that step fails when the batch commits.
        let unstaged = std::sync::atomic::AtomicBool::new(false);
        let written = std::thread::scope(|scope| {
            let (queue, jobs) = std::sync::mpsc::channel::<wrap::OutputFiles>();
            let unstaged = &unstaged;
            let writer = scope.spawn(move || {
                jobs.into_iter()
                    .map(|files| {
                        let staged = files.stage();
                        if staged.is_err() {
                            unstaged.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        staged
                    })
                    .collect::<Vec<_>>()
            });
            while let Some(step) = steps.get(index) {
                full = index - first >= self.batching.max_steps
                    || (index > first && started.elapsed() >= max);
                if full
                    || matches!(step, Step::Destroy { .. })
                    || unstaged.load(std::sync::atomic::Ordering::SeqCst)
                {
                    break;
                }
                self.observer.starting(index, total, step);
                let result = match step {
                    Step::Generate {
                        key_label,
                        key_spec,
                        wrap_with_trusted,
                    } => self
                        .generate(index, key_label, *key_spec, *wrap_with_trusted)
                        .map(Queued::Done),
                    Step::Wrap {
                        key_label,
                        existing,
                        ..
                    } => self
                        .stage(index, key_label, existing.as_ref(), checked, &queue)
                        .map(|p| Queued::Writing(Box::new(p))),
                    Step::Destroy { .. } => break,
                };
                match result {
                    Ok(q) => queued.push(q),
                    Err(error) => {
                        failure = Some(failed(index, step, error));
                        break;
                    }
                }
                index += 1;
            }
            drop(queue);
            writer.join()
        });
        let mut written = written
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .into_iter();
        let mut done = Vec::with_capacity(queued.len());
        for q in queued {
            done.push(match q {
                Queued::Done(f) => f,
                Queued::Writing(pending) => match written.next() {
                    Some(dir) => Finished::Wrap(Box::new(StagedStep {
                        dir,
                        pending: *pending,
                    })),
                    None => {
                        let i = pending.index;
                        failure = Some(failed(i, &steps[i], not_prepared(i)));
                        break;
                    }
                },
            });
        }
        if failure.is_none() {
            self.weigh(index - first, started.elapsed(), full, index);
        }
        self.close_batch(first, index, done, failure)
    }

    /// Weighs a batch of `steps` that took `took` on the token (to the steps' lines, before the
    /// commit), `full` if it closed by count or by time, the next step `next`: while a run with
    /// several sessions measures whether they pay, the first full batch (on one session) gives
    /// the pace of one, and the second (on all) decides; if they are not [`SESSIONS_PAY`] times
    /// as fast, the extra sessions are closed, and the observer told.
    fn weigh(&mut self, steps: usize, took: std::time::Duration, full: bool, next: usize) {
        // A batch of one step has nothing to run in parallel, nor to measure a pace by; after
        // the plan's last step there is nothing to decide.
        if self.extra.is_empty() || !full || steps < 2 || took.is_zero() || next >= self.steps.len()
        {
            return;
        }
        let pace = steps as f64 / took.as_secs_f64();
        match self.pace {
            Pace::Unmeasured => self.pace = Pace::One(pace),
            Pace::One(one) => {
                self.pace = Pace::Settled;
                if pace < one * SESSIONS_PAY {
                    let sessions = 1 + self.extra.len();
                    self.extra.clear();
                    self.observer.fewer_sessions(
                        self.batching.sessions,
                        1,
                        &FewerSessions::NoFaster {
                            sessions,
                            one,
                            many: pace,
                            from: next,
                        },
                    );
                }
            }
            Pace::Settled => {}
        }
    }

    /// The `batch` line of the batch from `first`, run on `sessions` sessions, fsynced before
    /// any of its steps changes the token.
    fn batch_line(&mut self, first: usize, sessions: usize) -> Result<(), Box<Failed>> {
        let step = &self.steps[first];
        self.t
            .append(
                ACTOR,
                &Entry::Batch(entry::BatchData {
                    first,
                    max_steps: self.batching.max_steps,
                    max_ms: self.batching.max_ms,
                    sessions,
                }),
            )
            .map_err(|e| failed(first, step, e.into()))
    }

    /// Ends the batch from `first`, its steps before `next` done: they are committed (after a
    /// signal a plan's run records nothing more, and the staged outputs are removed as they
    /// drop; a single recorded wrap records its failure, as `execute` says), then the step
    /// that failed, if one did, is the batch's result; or the next step to run.
    fn close_batch(
        &mut self,
        first: usize,
        next: usize,
        done: Vec<Finished<'a>>,
        failure: Option<Box<Failed>>,
    ) -> Result<usize, Box<Failed>> {
        let recording = !crate::interrupt::received() || self.start.plan().is_none();
        if !recording {
            // Interrupted, even if no step failed (the signal came once the batch's last step
            // was done on the token): the run ends here, as interrupted, recording nothing more.
            return Err(failure.unwrap_or_else(|| {
                failed(
                    first,
                    &self.steps[first],
                    crate::wrap::Error::Internal {
                        what: "interrupted before the batch committed".to_owned(),
                    }
                    .into(),
                )
            }));
        }
        if next > first {
            self.commit(first, next - 1, done)?;
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(next),
        }
    }

    /// Commits the batch of steps `first..=last`, `done` on the token: the `commit` line,
    /// fsynced in one round with every file and directory of their staged outputs; then each
    /// output moved into place, the parents fsynced, and only then the lines naming the outputs
    /// written. The observer is told of the steps, in order, up to the first that failed.
    fn commit(
        &mut self,
        first: usize,
        last: usize,
        done: Vec<Finished<'a>>,
    ) -> Result<(), Box<Failed>> {
        let steps = self.steps;
        let fail_at = |index: usize, error: Error| failed(index, &steps[index], error);
        let write_failed = |index: usize, e: crate::output::Error| {
            fail_at(
                index,
                crate::wrap::Error::StepFailed {
                    step: crate::wrap::Step::Write,
                    source: Box::new(e.into()),
                }
                .into(),
            )
        };
        let mut dirs = Vec::new();
        let mut pending = Vec::new();
        let mut told = Vec::new();
        for f in done {
            match f {
                Finished::Key {
                    index,
                    record,
                    resumed,
                } => told.push(Told::Key {
                    index,
                    record,
                    resumed,
                }),
                Finished::Wrap(s) => {
                    let StagedStep { dir, pending: p } = *s;
                    dirs.push(dir);
                    told.push(Told::Wrap(pending.len()));
                    pending.push(p);
                }
            }
        }
        let first_wrap = pending.first().map_or(first, |p| p.index);
        let outputs = dirs.len();
        // The outputs staged, up to the first that could not be: its step fails where its move
        // would have, once the outputs before it are in place.
        let mut unstaged = None;
        let mut staged = Vec::with_capacity(outputs);
        for dir in dirs {
            match dir {
                Ok(dir) => staged.push(dir),
                Err(e) => {
                    unstaged = Some(e);
                    break;
                }
            }
        }
        self.t
            .append_unsynced(
                ACTOR,
                &Entry::Commit(entry::CommitData {
                    first,
                    last,
                    outputs,
                }),
            )
            .map_err(|e| fail_at(first_wrap, e.into()))?;
        let mut failure = None;
        let mut moved = Vec::new();
        if !staged.is_empty() {
            let t = &self.t;
            crate::output::sync_round(&staged, || crate::wrap::sync_transcript(t))
                .map_err(|e| write_failed(first_wrap, e))?;
        }
        let mut pending = pending.into_iter();
        for (dir, p) in staged.into_iter().zip(pending.by_ref()) {
            match dir.move_into_place() {
                Ok(out) => {
                    // The output exists: whatever it wraps is kept from now on.
                    if let Some(key) = self.generated.iter_mut().find(|g| g.label == p.label) {
                        key.wraps_done += 1;
                    }
                    moved.push((out, p));
                }
                Err(e) => {
                    failure = Some(write_failed(p.index, e));
                    break;
                }
            }
        }
        if let (None, Some(e), Some(p)) = (&failure, unstaged, pending.next()) {
            failure = Some(write_failed(p.index, e));
        }
        let warnings = crate::output::sync_parents(moved.iter().map(|(out, _)| out.as_path()));
        let mut wrapped = Vec::new();
        for ((out, p), warning) in moved.into_iter().zip(warnings) {
            let index = p.index;
            // Names the output only once it is durable; durable itself with the next batch
            // line, or the seal. The step's imported KMS key is destroyed once it has wrapped;
            // only then is the step done.
            let recorded = self.record_wrapped(&out, &p, warning);
            let PendingWrap {
                key, held, checked, ..
            } = p;
            if let Err(e) = recorded.and_then(|()| Ok(checked.finish()?)) {
                failure.get_or_insert_with(|| fail_at(index, e));
            }
            wrapped.push((index, key, out, held));
        }
        let until = failure.as_ref().map_or(usize::MAX, |f| f.index);
        for t in told {
            let total = steps.len();
            match t {
                Told::Key {
                    index,
                    record,
                    resumed,
                } if index < until => self.observer.finished(
                    index,
                    total,
                    &if resumed {
                        Done::Resumed(&record)
                    } else {
                        Done::Generated(&record)
                    },
                ),
                Told::Wrap(n) => {
                    if let Some((index, key, out, held)) =
                        wrapped.get(n).filter(|(index, ..)| *index < until)
                    {
                        self.observer.finished(
                            *index,
                            total,
                            &Done::Wrapped {
                                key,
                                out,
                                held: *held,
                            },
                        );
                    }
                }
                Told::Key { .. } => {}
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The `wrapped` (or `rewrapped`) line of a wrap step whose output `out` is in place.
    fn record_wrapped(
        &mut self,
        out: &Path,
        p: &PendingWrap<'_>,
        warning: Option<String>,
    ) -> Result<(), Error> {
        let mut files: std::collections::BTreeMap<String, String> = p
            .manifest
            .files
            .iter()
            .map(|(name, sha256)| ((*name).to_owned(), sha256.clone()))
            .collect();
        files.insert("manifest.json".to_owned(), p.manifest_sha256.clone());
        let done = entry::WrappedData {
            index: p.index,
            key_label: p.label.as_str().to_owned(),
            kcv: p.key.kcv.clone(),
            check_sha256: p.key.check_sha256.clone(),
            out: out.display().to_string(),
            files,
            warning,
        };
        self.t.append_unsynced(
            ACTOR,
            &if p.rewrap {
                Entry::Rewrapped(done)
            } else {
                Entry::Wrapped(done)
            },
        )?;
        Ok(())
    }

    /// Before anything changes on the token: can it wrap every step exactly as planned? Each
    /// check is recorded.
    fn check_wraps(&mut self) -> Result<Vec<Option<CheckedWrap<'a>>>, Box<Failed>> {
        let mut checked = Vec::new();
        let total = self.steps.len();
        for (index, (step, w)) in self.steps.iter().zip(self.wraps).enumerate() {
            let Some(prepared) = w else {
                checked.push(None);
                continue;
            };
            self.observer.checking(index, total, step);
            let fail = |error: Error| failed(index, step, error);
            // An existing key's own attribute decides; a generated one's, its plan step.
            let trusted = match step {
                Step::Wrap {
                    key_label,
                    existing: Some(_),
                    ..
                } => {
                    wrap::is_wrap_with_trusted(self.token, key_label).map_err(|e| fail(e.into()))?
                }
                _ => prepared.request().wrap_with_trusted,
            };
            let c =
                wrap::check_on_token(self.token, prepared, trusted).map_err(|e| fail(e.into()))?;
            self.t
                .append_unsynced(
                    ACTOR,
                    &Entry::Attestation(attestation_data(index, prepared)),
                )
                .map_err(|e| fail(e.into()))?;
            self.t
                .append_unsynced(
                    ACTOR,
                    &Entry::Check(entry::CheckData {
                        index,
                        algorithm: prepared.algorithm().name().to_owned(),
                        mechanism: c.method().mechanism(),
                        result: "a trial wrap with a throw-away key succeeded".to_owned(),
                    }),
                )
                .map_err(|e| fail(e.into()))?;
            checked.push(Some(c));
        }
        Ok(checked)
    }

    /// A plan's first run leaves its marker, announced first, before the first change.
    fn leave_marker(&mut self) -> Result<(), Error> {
        if let Continue::Marker(ceremony_id, plan_sha256) = self.start {
            self.t.append(
                self.operator,
                &Entry::Marker(entry::MarkerData {
                    label: format!("keyrite-ceremony:{ceremony_id}"),
                    value: plan_sha256.to_owned(),
                }),
            )?;
            self.token
                .create_ceremony_marker(ceremony_id, plan_sha256)?;
        }
        Ok(())
    }

    /// Generates a key (or records the one the interrupted run generated).
    fn generate(
        &mut self,
        index: usize,
        key_label: &KeyLabel,
        key_spec: KeySpec,
        wrap_with_trusted: bool,
    ) -> Result<Finished<'a>, Error> {
        if let Some(key) = self.resumed_key(key_label) {
            // Generated by the interrupted run, and proven on the token before this record
            // began: recorded as the token reports it now.
            let (handle, record) = (key.handle, key.record.clone());
            self.generated.push(Generated {
                label: key_label.clone(),
                handle,
                record: record.clone(),
                wraps_done: 0,
                existing: true,
            });
            self.t.append_unsynced(
                self.operator,
                &Entry::Resumed(entry::ResumedData {
                    index,
                    action: "generate".to_owned(),
                    key: record.entry(),
                }),
            )?;
            return Ok(Finished::Key {
                index,
                record,
                resumed: true,
            });
        }
        // Announced by the batch's line, fsynced before this step began; its own line, in
        // order, before the token acts, made durable with the batch's commit.
        self.generate_line(index, key_label, key_spec)?;
        let (handle, record) = wrap::generate(
            self.token,
            key_label,
            key_spec,
            wrap_with_trusted,
            self.start.plan(),
        )?;
        // Known to the run before anything else can fail, so a failure settles it.
        self.generated.push(Generated {
            label: key_label.clone(),
            handle,
            record: record.clone(),
            wraps_done: 0,
            existing: false,
        });
        self.t.append_unsynced(
            ACTOR,
            &Entry::Generated(entry::GeneratedData {
                index,
                key: record.entry(),
            }),
        )?;
        Ok(Finished::Key {
            index,
            record,
            resumed: false,
        })
    }

    /// The key labelled `label`, if the run resumes and took it over from the interrupted run.
    fn resumed_key(&self, label: &KeyLabel) -> Option<&resume::TakenKey> {
        match self.start {
            Continue::Resume(taken, _) => taken.iter().find(|k| &k.record.label == label),
            _ => None,
        }
    }

    /// Destroys an existing key that has the KCV the plan names.
    fn destroy(
        &mut self,
        index: usize,
        key_label: &KeyLabel,
        expect_kcv: &str,
    ) -> Result<(), Error> {
        let (handle, record) = wrap::existing_key(self.token, key_label, expect_kcv, None)?;
        self.t.append(
            self.operator,
            &Entry::Destroy(entry::DestroyData {
                index: Some(index),
                key_label: key_label.as_str().to_owned(),
                kcv: record.kcv.clone(),
                check_sha256: record.check_sha256.clone(),
                why: None,
            }),
        )?;
        self.token.destroy_key(handle)?;
        self.generated.retain(|g| &g.label != key_label);
        self.t.append_unsynced(
            ACTOR,
            &Entry::Destroyed(entry::DestroyedData {
                index,
                key_label: key_label.as_str().to_owned(),
                kcv: record.kcv,
                check_sha256: record.check_sha256,
            }),
        )?;
        self.observer.finished(
            index,
            self.steps.len(),
            &Done::Destroyed {
                label: key_label,
                expect_kcv,
            },
        );
        Ok(())
    }

    /// Wraps a key the run holds (or, for a rewrap, an existing key it finds) as its step was
    /// checked, queues its output's files for the batch's writer thread to stage and writes the
    /// `wrap` (or `rewrap`) line; the batch's commit makes both durable and moves the output
    /// into place.
    fn stage(
        &mut self,
        index: usize,
        key_label: &KeyLabel,
        existing: Option<&(String, KeySpec)>,
        checked: &mut [Option<CheckedWrap<'a>>],
        writer: &std::sync::mpsc::Sender<wrap::OutputFiles>,
    ) -> Result<PendingWrap<'a>, Error> {
        let (prepared, checked) = take_checked(self.wraps, checked, index)?;
        let held = self.hold(key_label, existing)?;
        let key = self.held_key(index, key_label)?;
        let (handle, record) = (key.handle, key.record.clone());
        let wrapped = wrap::wrap_for_output(
            self.token,
            self.module,
            prepared,
            &checked.with(),
            handle,
            &record,
        )
        .map_err(step_failed)?;
        let pending = self.record_staged(
            index,
            key_label,
            existing.is_some(),
            held,
            prepared,
            checked,
            (wrapped.manifest, wrapped.manifest_sha256),
            record,
        )?;
        // Queued once its line is written: a run killed while its files are written has
        // announced them.
        writer.send(wrapped.files).map_err(|_| {
            Error::from(crate::wrap::Error::Internal {
                what: format!("steps[{index}]: the batch's writer thread has ended"),
            })
        })?;
        Ok(pending)
    }

    /// How the run holds the key a wrap step wraps: a rewrap's existing key is found on the
    /// token (and held from then on) the first time a step needs it.
    fn hold(
        &mut self,
        key_label: &KeyLabel,
        existing: Option<&(String, KeySpec)>,
    ) -> Result<Held, Error> {
        let Some((kcv, spec)) = existing else {
            return Ok(Held::Generated);
        };
        if self.generated.iter().any(|g| &g.label == key_label) {
            return Ok(Held::FoundBefore);
        }
        let (handle, record) = wrap::existing_key(self.token, key_label, kcv, Some(*spec))?;
        self.generated.push(Generated {
            label: key_label.clone(),
            handle,
            record,
            wraps_done: 0,
            existing: true,
        });
        Ok(Held::Found)
    }

    /// The key labelled `key_label` the run holds, for wrap step `index`.
    fn held_key(&self, index: usize, key_label: &KeyLabel) -> Result<&Generated, Error> {
        self.generated
            .iter()
            .find(|g| &g.label == key_label)
            .ok_or_else(|| {
                crate::wrap::Error::Internal {
                    what: format!("steps[{index}]: {key_label} was not generated"),
                }
                .into()
            })
    }

    /// The `wrap` (or `rewrap`) line of wrap step `index`, its output's manifest and that
    /// file's SHA-256 `made`; made durable with the output's files, before the output appears
    /// (a wrap changes nothing on the token).
    #[allow(clippy::too_many_arguments)]
    fn record_staged(
        &mut self,
        index: usize,
        key_label: &KeyLabel,
        rewrap: bool,
        held: Held,
        prepared: &PreparedWrap,
        checked: CheckedWrap<'a>,
        made: (crate::wrap::Manifest, String),
        record: KeyRecord,
    ) -> Result<PendingWrap<'a>, Error> {
        let params = prepared.params();
        let announce = entry::WrapData {
            index,
            key_label: key_label.as_str().to_owned(),
            provider: prepared.request().provider.name().to_owned(),
            kms_key_id: params.key_id.clone(),
            algorithm: prepared.algorithm().name().to_owned(),
            mechanism: checked.method().mechanism(),
            mechanism_parameters: checked.method().parameters(),
            wrapping_key_sha256: params.public_key.fingerprint().to_owned(),
            parameters_valid_to: params.valid_to.map(format_time),
            key_material_valid_to: prepared.request().material_valid_to.map(format_time),
            out: prepared.request().out.display().to_string(),
        };
        self.t.append_unsynced(
            self.operator,
            &if rewrap {
                Entry::Rewrap(announce)
            } else {
                Entry::Wrap(announce)
            },
        )?;
        let (manifest, manifest_sha256) = made;
        Ok(PendingWrap {
            index,
            label: key_label.clone(),
            rewrap,
            held,
            key: record,
            manifest,
            manifest_sha256,
            checked,
        })
    }

    /// [`Run::batch`] on several sessions of the token: the batch's steps are taken in plan
    /// order by one worker per session (a wrap waits for its key's generate), until the batch
    /// is full, its time is up or a step fails (the others stop at their next step); then the
    /// steps done before the first that failed are recorded in plan order and committed. A key
    /// generated after that step is held, so that the failure destroys it.
    fn batch_parallel(
        &mut self,
        first: usize,
        checked: &mut [Option<CheckedWrap<'a>>],
    ) -> Result<usize, Box<Failed>> {
        let steps = self.steps;
        let total = steps.len();
        let sessions = 1 + self.extra.len();
        self.batch_line(first, sessions)?;
        // Timed from here, as a one-session batch is: the preparation's token calls (a rewrap's
        // key found) included.
        let started = std::time::Instant::now();
        let end = steps
            .iter()
            .enumerate()
            .skip(first)
            .take(self.batching.max_steps)
            .find(|(_, s)| matches!(s, Step::Destroy { .. }))
            .map_or((first + self.batching.max_steps).min(total), |(i, _)| i);
        // What each worker needs of a step, found before they start: the existing keys of the
        // batch's rewraps, and each wrap's key (held, or generated by a step of the batch).
        let mut work = Vec::with_capacity(end - first);
        // A step that cannot be prepared (a rewrap's key not on the token) ends the batch before
        // it: the steps before it run, then it fails.
        let mut unprepared = None;
        for (index, step) in steps.iter().enumerate().take(end).skip(first) {
            let item = match step {
                Step::Generate {
                    key_label,
                    key_spec,
                    wrap_with_trusted,
                } => Ok(match self.resumed_key(key_label) {
                    Some(_) => Work::Resumed,
                    None => Work::Generate {
                        label: key_label,
                        spec: *key_spec,
                        trusted: *wrap_with_trusted,
                    },
                }),
                Step::Wrap {
                    key_label,
                    existing,
                    ..
                } => self.wrap_work(first, index, key_label, existing.as_ref(), checked),
                Step::Destroy { .. } => break,
            };
            match item {
                Ok(w) => work.push(w),
                Err(error) => {
                    unprepared = Some(failed(index, step, error));
                    break;
                }
            }
        }
        let pool = Pool::new(first, work.len(), self.batching.max_ms);
        let plan = self.start.plan();
        let module = self.module;
        std::thread::scope(|scope| {
            for token in self.extra.iter_mut() {
                let (pool, work) = (&pool, &work);
                scope.spawn(move || pool.run(&*token, module, work, plan));
            }
            pool.run(self.token, module, &work, plan);
        });
        let results = pool.into_results();
        // Every key generated is held, whatever became of the steps around it.
        for r in &results {
            if let Some(Ok(Output::Generated(label, handle, record))) = r {
                self.generated.push(Generated {
                    label: (*label).clone(),
                    handle: *handle,
                    record: record.clone(),
                    wraps_done: 0,
                    existing: false,
                });
            }
        }
        let mut done = Vec::new();
        let mut failure = None;
        let mut index = first;
        for (r, w) in results.into_iter().zip(&work) {
            let step = &steps[index];
            self.observer.starting(index, total, step);
            let recorded = match (r, w) {
                (None, _) => break,
                (Some(Err(e)), _) => Err(e),
                (Some(Ok(Output::Generated(label, _, record))), Work::Generate { spec, .. }) => {
                    self.record_generated(index, label, *spec, record)
                        .map(|f| done.push(f))
                }
                (Some(Ok(Output::Resumed)), _) => match step {
                    Step::Generate {
                        key_label,
                        key_spec,
                        wrap_with_trusted,
                    } => self
                        .generate(index, key_label, *key_spec, *wrap_with_trusted)
                        .map(|f| done.push(f)),
                    _ => Err(not_prepared(index)),
                },
                (Some(Ok(Output::Staged(staged, record, held))), Work::Wrap { prepared, .. }) => {
                    let (key_label, existing) = match step {
                        Step::Wrap {
                            key_label,
                            existing,
                            ..
                        } => (key_label, existing.is_some()),
                        _ => return Err(failed(index, step, not_prepared(index))),
                    };
                    match checked.get_mut(index).and_then(Option::take) {
                        Some(c) => {
                            let wrap::StagedWrap {
                                dir,
                                manifest,
                                manifest_sha256,
                                ..
                            } = *staged;
                            self.record_staged(
                                index,
                                key_label,
                                existing,
                                held,
                                prepared,
                                c,
                                (manifest, manifest_sha256),
                                record,
                            )
                            .map(|pending| {
                                done.push(Finished::Wrap(Box::new(StagedStep {
                                    dir: Ok(dir),
                                    pending,
                                })))
                            })
                        }
                        None => Err(not_prepared(index)),
                    }
                }
                _ => Err(not_prepared(index)),
            };
            if let Err(error) = recorded {
                failure = Some(failed(index, step, error));
                break;
            }
            index += 1;
        }
        // The step that could not be prepared fails once every step before it has run.
        if failure.is_none() && index == first + work.len() {
            failure = unprepared;
        }
        if failure.is_none() {
            let took = started.elapsed();
            // Closed by count or by time, as a one-session batch is full: not cut short by a
            // destroy step or the plan's end.
            let cut = steps
                .get(index)
                .is_none_or(|s| matches!(s, Step::Destroy { .. }));
            let full = !cut
                && (index - first == self.batching.max_steps
                    || took >= std::time::Duration::from_millis(self.batching.max_ms));
            self.parallel_ran = true;
            self.weigh(index - first, took, full, index);
        }
        self.close_batch(first, index, done, failure)
    }

    /// What a worker of a parallel batch needs for wrap step `index`: its prepared wrap, how it
    /// wraps, and its key — held (a rewrap's existing key found on the token now), taken over by
    /// a resumed run, or generated by a step of the batch from `first`.
    fn wrap_work(
        &mut self,
        first: usize,
        index: usize,
        key_label: &'a KeyLabel,
        existing: Option<&(String, KeySpec)>,
        checked: &[Option<CheckedWrap<'a>>],
    ) -> Result<Work<'a>, Error> {
        let steps = self.steps;
        let (Some(Some(prepared)), Some(Some(check))) = (self.wraps.get(index), checked.get(index))
        else {
            return Err(not_prepared(index));
        };
        let resumed = self
            .resumed_key(key_label)
            .map(|k| (k.handle, k.record.clone()));
        let generated_at = (first..index).find(|&g| {
            matches!(&steps[g], Step::Generate { key_label: l, .. } if l == key_label)
                && resumed.is_none()
        });
        let key = match (generated_at, resumed) {
            (Some(g), _) => KeyOf::Step(g),
            (None, Some((handle, record))) => {
                KeyOf::Held(handle, Box::new(record), Held::Generated)
            }
            (None, None) => {
                let held = self.hold(key_label, existing)?;
                let key = self.held_key(index, key_label)?;
                KeyOf::Held(key.handle, Box::new(key.record.clone()), held)
            }
        };
        Ok(Work::Wrap {
            prepared,
            with: check.with(),
            key,
        })
    }

    /// The `generate` line of step `index`.
    fn generate_line(
        &mut self,
        index: usize,
        key_label: &KeyLabel,
        key_spec: KeySpec,
    ) -> Result<(), Error> {
        self.t.append_unsynced(
            self.operator,
            &Entry::Generate(entry::GenerateData {
                index,
                key_label: key_label.as_str().to_owned(),
                key_spec: key_spec.name().to_owned(),
            }),
        )?;
        Ok(())
    }

    /// The lines of generate step `index`, its key generated by a worker of a parallel batch.
    fn record_generated(
        &mut self,
        index: usize,
        key_label: &KeyLabel,
        key_spec: KeySpec,
        record: KeyRecord,
    ) -> Result<Finished<'a>, Error> {
        self.generate_line(index, key_label, key_spec)?;
        self.t.append_unsynced(
            ACTOR,
            &Entry::Generated(entry::GeneratedData {
                index,
                key: record.entry(),
            }),
        )?;
        Ok(Finished::Key {
            index,
            record,
            resumed: false,
        })
    }

    /// After success: every key is kept.
    fn keep_all(&self) -> Vec<Settled> {
        self.generated
            .iter()
            .map(|g| Settled {
                label: g.label.clone(),
                kcv: g.record.kcv.clone(),
                fate: Fate::Kept {
                    wraps: g.wraps_done,
                },
            })
            .collect()
    }

    /// After a failure: a key nothing was wrapped from is destroyed; a key with wraps written
    /// is kept, since those may already be on their way to a KMS.
    fn settle_failed(&mut self, unrecorded: &mut Option<crate::transcript::Error>) -> Vec<Settled> {
        let mut settled = Vec::new();
        for g in &self.generated {
            let fate = if g.existing {
                Fate::Existing
            } else if g.wraps_done > 0 {
                Fate::Kept {
                    wraps: g.wraps_done,
                }
            } else {
                // Announced before the token acts, like every token action.
                if unrecorded.is_none() {
                    if let Err(e) = self.t.append(
                        self.operator,
                        &Entry::Destroy(entry::DestroyData {
                            index: None,
                            key_label: g.label.as_str().to_owned(),
                            kcv: g.record.kcv.clone(),
                            check_sha256: g.record.check_sha256.clone(),
                            why: Some(
                                "the ceremony failed and nothing was wrapped from it".to_owned(),
                            ),
                        }),
                    ) {
                        *unrecorded = Some(e);
                    }
                }
                match self.token.discard_key(g.handle, &g.label, Made::Generated) {
                    Ok(()) => Fate::Destroyed,
                    Err(e) => Fate::NotDestroyed(e),
                }
            };
            settled.push(Settled {
                label: g.label.clone(),
                kcv: g.record.kcv.clone(),
                fate,
            });
        }
        settled
    }
}

/// Wrap step `index`'s prepared wrap and its check, taken for the step.
fn take_checked<'a>(
    wraps: &'a [Option<PreparedWrap>],
    checked: &mut [Option<CheckedWrap<'a>>],
    index: usize,
) -> Result<(&'a PreparedWrap, CheckedWrap<'a>), Error> {
    match (
        wraps.get(index),
        checked.get_mut(index).and_then(Option::take),
    ) {
        (Some(Some(prepared)), Some(checked)) => Ok((prepared, checked)),
        _ => Err(not_prepared(index)),
    }
}

/// A step the run did not prepare as it runs it: keyrite's own error.
fn not_prepared(index: usize) -> Error {
    crate::wrap::Error::Internal {
        what: format!("steps[{index}] was not prepared"),
    }
    .into()
}

/// A wrap's failure, named by the part of the wrap that failed.
fn step_failed((step, e): (crate::wrap::Step, crate::wrap::Error)) -> crate::wrap::Error {
    crate::wrap::Error::StepFailed {
        step,
        source: Box::new(e),
    }
}

/// A step of a parallel batch, as a worker runs it.
enum Work<'a> {
    /// A key the interrupted run generated: nothing for the token to do.
    Resumed,
    Generate {
        label: &'a KeyLabel,
        spec: KeySpec,
        trusted: bool,
    },
    Wrap {
        prepared: &'a PreparedWrap,
        with: wrap::WrapWith,
        key: KeyOf,
    },
}

/// The key a wrap step of a parallel batch wraps.
enum KeyOf {
    /// Held by the run before the batch.
    Held(ObjectHandle, Box<KeyRecord>, Held),
    /// Generated by the batch's step at this plan index.
    Step(usize),
}

/// What a worker's step did on the token.
enum Output<'a> {
    Generated(&'a KeyLabel, ObjectHandle, KeyRecord),
    Resumed,
    Staged(Box<wrap::StagedWrap>, KeyRecord, Held),
}

/// A parallel batch's steps, taken in plan order by its workers, and what each did.
struct Pool<'a> {
    first: usize,
    started: std::time::Instant,
    max: std::time::Duration,
    state: std::sync::Mutex<PoolState<'a>>,
    /// Told when a step's result is in.
    done: std::sync::Condvar,
}

struct PoolState<'a> {
    /// The next step to take, from the batch's first.
    next: usize,
    /// No more steps are taken: the time is up, or a step failed.
    closed: bool,
    results: Vec<Option<Result<Output<'a>, Error>>>,
}

impl<'a> Pool<'a> {
    fn new(first: usize, steps: usize, max_ms: u64) -> Self {
        Pool {
            first,
            started: std::time::Instant::now(),
            max: std::time::Duration::from_millis(max_ms),
            state: std::sync::Mutex::new(PoolState {
                next: 0,
                closed: false,
                results: (0..steps).map(|_| None).collect(),
            }),
            done: std::sync::Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState<'a>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next step to take, if the batch takes more.
    fn take(&self) -> Option<usize> {
        let mut st = self.lock();
        if st.closed || st.next >= st.results.len() {
            return None;
        }
        if st.next > 0 && self.started.elapsed() >= self.max {
            st.closed = true;
            return None;
        }
        st.next += 1;
        Some(st.next - 1)
    }

    /// The key generated by the batch's step `at` (an offset), once it is; `None` if it failed.
    fn generated(&self, at: usize) -> Option<(ObjectHandle, KeyRecord)> {
        let mut st = self.lock();
        loop {
            match st.results.get(at) {
                Some(Some(Ok(Output::Generated(_, handle, record)))) => {
                    return Some((*handle, record.clone()));
                }
                Some(None) => {
                    st = self
                        .done
                        .wait(st)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                _ => return None,
            }
        }
    }

    /// A worker on `token`: takes steps until none is left for it, or one fails.
    fn run(&self, token: &Token, module: &Module, work: &[Work<'a>], plan: Option<&str>) {
        while let Some(at) = self.take() {
            let out = match &work[at] {
                Work::Resumed => Ok(Output::Resumed),
                Work::Generate {
                    label,
                    spec,
                    trusted,
                } => wrap::generate(token, label, *spec, *trusted, plan)
                    .map(|(handle, record)| Output::Generated(label, handle, record))
                    .map_err(Error::from),
                Work::Wrap {
                    prepared,
                    with,
                    key,
                } => {
                    let (handle, record, held) = match key {
                        KeyOf::Held(handle, record, held) => (*handle, (**record).clone(), *held),
                        KeyOf::Step(g) => match self.generated(g - self.first) {
                            Some((handle, record)) => (handle, record, Held::Generated),
                            // Its key's step failed: the batch ends there.
                            None => return,
                        },
                    };
                    wrap::wrap_and_stage(token, module, prepared, with, handle, &record)
                        .map(|staged| Output::Staged(Box::new(staged), record, held))
                        .map_err(|e| step_failed(e).into())
                }
            };
            let mut st = self.lock();
            st.closed |= out.is_err();
            st.results[at] = Some(out);
            self.done.notify_all();
        }
    }

    fn into_results(self) -> Vec<Option<Result<Output<'a>, Error>>> {
        self.state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .results
    }
}

/// The `attestation` line of wrap step `index`: the verdict keyrite reached before the token was
/// opened, with the evidence, the wrapping key and the roots file it was reached from.
fn attestation_data(index: usize, prepared: &PreparedWrap) -> entry::AttestationData {
    use base64::Engine as _;
    let key = &prepared.params().public_key;
    // Both serialise as JSON objects of strings, numbers and maps: to_value cannot fail.
    let value = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
    entry::AttestationData {
        index,
        wrapping_key: base64::engine::general_purpose::STANDARD.encode(key.spki_der()),
        wrapping_key_sha256: key.fingerprint().to_owned(),
        record: value(serde_json::to_value(prepared.attestation())),
        evidence: prepared.evidence().map(|e| value(serde_json::to_value(e))),
        roots_file: prepared
            .request()
            .attestation
            .roots
            .file()
            .map(|f| entry::RootsFileData {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
                text: f.text.clone(),
            }),
    }
}
