//! The plan and steps checks: the plan text recorded rebuilds the digest the custodians signed
//! (with `--plan`, the auditor's plan and its files do), and the steps that ran are the plan's,
//! in order, each with the key, algorithm and check value it names, up to the seal or a recorded
//! failure.
//!
//! It trusts the plan the auditor gives with `--plan`; without it, the plan recorded, once it
//! matches its digest. The step lines are the transcript's.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::{Check, failed, not_checked, passed, unfit};
use crate::ceremony::plan::{Plan, Step};
use crate::transcript::Entry;
use crate::transcript::entry::{self, Key, PlanData};

/// The plan check at the first plan line: the plan's digest, recomputed from its text and the
/// recorded file digests (with `--plan`, the auditor's plan and its files); and the steps the
/// steps check compares the transcript with, or that check's result when it cannot run.
fn plan_check(
    line: usize,
    data: &PlanData,
    plan_file: Option<&Path>,
) -> (Check, Result<Vec<Step>, Check>) {
    let (text, statement) = (data.text.as_str(), data.digest_statement.as_str());
    let path = Path::new(&data.file);
    let embedded = match Plan::from_bytes(path, text.as_bytes().to_vec(), false) {
        Ok(p) => p,
        Err(e) => {
            return (
                failed(
                    "plan",
                    format!("the recorded plan text is not a valid plan: {e}"),
                    Some(line),
                ),
                Err(not_checked("steps", "a valid plan")),
            );
        }
    };
    // The recorded text must be the plan the custodians signed: its SHA-256 and the recorded
    // files' rebuild the recorded statement exactly.
    if recorded_statement(&embedded, text, path, data) != statement {
        return (
            failed(
                "plan",
                "the recorded plan text does not match the recorded digest",
                Some(line),
            ),
            Err(not_checked("steps", "a plan that matches its digest")),
        );
    }
    let Some(file) = plan_file else {
        return (
            passed(
                "plan",
                "the recorded plan text matches the digest the custodians signed (give --plan to check the files too)",
            ),
            Ok(embedded.steps),
        );
    };
    auditor_plan_check(line, statement, file)
}

/// The digest statement the recorded plan text and the recorded file digests rebuild, in the
/// form the custodians signed.
fn recorded_statement(embedded: &Plan, text: &str, path: &Path, data: &PlanData) -> String {
    let mut expected = format!(
        "keyrite plan digest v1\nceremony_id {}\n{}  {}\n",
        embedded.ceremony_id,
        hex::encode(Sha256::digest(text.as_bytes())),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    for f in &data.files {
        expected.push_str(&format!("{}  {}\n", f.sha256, f.name));
    }
    expected
}

/// With --plan, the auditor's plan and its files are the reference, steps included: its digest
/// statement must be the one recorded (`statement`, at `line`).
fn auditor_plan_check(
    line: usize,
    statement: &str,
    file: &Path,
) -> (Check, Result<Vec<Step>, Check>) {
    match Plan::load(file) {
        Ok(p) if p.digest_statement() == statement => (
            passed(
                "plan",
                "the plan and every file it names match the digest the custodians signed",
            ),
            Ok(p.steps),
        ),
        Ok(_) => (
            failed(
                "plan",
                "the plan's digest (with its files) differs from the one recorded",
                Some(line),
            ),
            Err(not_checked("steps", "a plan that matches the transcript")),
        ),
        Err(e) => (
            failed("plan", format!("--plan: {e}"), None),
            Err(not_checked("steps", "a valid --plan")),
        ),
    }
}

/// The lines the steps check reads: batches, announcements, results and a recorded failure.
pub(super) const STEP_LINES: [&str; 12] = [
    "batch",
    "commit",
    "generate",
    "generated",
    "wrap",
    "wrapped",
    "rewrap",
    "rewrapped",
    "destroy",
    "destroyed",
    "resumed",
    "failure",
];

/// The plan and steps checks, fed line by line: the steps that ran, compared with the plan's,
/// in order, up to the seal. Nothing is kept per line, so memory stays flat.
pub(super) struct Steps {
    /// Decided at the first plan line: the plan check, and the steps run (or why not).
    plan: Option<(Check, Result<StepsRun, Check>)>,
    /// The first step line before the plan line, if any: keyrite records the plan first, so
    /// the steps check fails there.
    early: Option<(usize, String)>,
    /// The steps run as it stood at the first seal line (if the plan came before): lines after
    /// the seal count only if that line turns out not to be the seal.
    at_seal: Option<Option<StepsRun>>,
}

impl Steps {
    pub(super) fn new() -> Self {
        Steps {
            plan: None,
            early: None,
            at_seal: None,
        }
    }

    /// Feeds the first plan line, with its data if it fits a plan line.
    pub(super) fn on_plan(
        &mut self,
        line: usize,
        data: Option<&PlanData>,
        plan_file: Option<&Path>,
    ) {
        let (check, steps) = match data {
            Some(data) => plan_check(line, data, plan_file),
            None => (unfit("plan", "plan"), Err(unfit("steps", "plan"))),
        };
        let mut run = steps.map(StepsRun::new);
        if let (Ok(run), Some((early, step))) = (&mut run, &self.early) {
            run.broken = Some(failed(
                "steps",
                format!("a {step} line before the plan line"),
                Some(*early),
            ));
        }
        self.plan = Some((check, run));
    }

    /// Whether the first plan line has been fed.
    pub(super) fn has_plan(&self) -> bool {
        self.plan.is_some()
    }

    /// Feeds a line of one of [`STEP_LINES`], with its entry if its data fits its step.
    pub(super) fn feed(&mut self, line: usize, step: &str, entry: Option<&Entry>) {
        match &mut self.plan {
            None if self.early.is_none() => self.early = Some((line, step.to_owned())),
            Some((_, Ok(run))) => run.feed(line, step, entry),
            _ => {}
        }
    }

    /// Notes the first seal line.
    pub(super) fn on_seal(&mut self) {
        if self.at_seal.is_none() {
            self.at_seal = Some(match &self.plan {
                Some((_, Ok(run))) => Some(run.clone()),
                _ => None,
            });
        }
    }

    /// The plan and steps checks, once every line has been fed and the seal found (or not).
    pub(super) fn checks(self, seal: Option<usize>, plan_file: Option<&Path>) -> Vec<Check> {
        match self.plan {
            None if plan_file.is_some() && seal.is_none() => {
                let why = "the plan line, which the interrupted run did not reach";
                vec![not_checked("plan", why), not_checked("steps", why)]
            }
            None if plan_file.is_some() => {
                let why = "the transcript records no plan, so it is not a run of --plan";
                vec![failed("plan", why, None), failed("steps", why, None)]
            }
            None => vec![
                not_checked("plan", "a plan line (this transcript records no ceremony)"),
                not_checked("steps", "a plan"),
            ],
            Some((plan, Err(steps))) => vec![plan, steps],
            Some((plan, Ok(run))) => {
                // With a seal, the steps are those before it (only witness lines follow a
                // seal, so the plan line came before it).
                let run = match (seal, self.at_seal) {
                    (Some(_), Some(Some(at_seal))) => at_seal,
                    _ => run,
                };
                vec![plan, run.check(seal.is_some())]
            }
        }
    }
}

/// The steps check against known steps: the lines that ran, one after the other. Outside a
/// batch a step is its announcement, then its result; inside a batch (`batch` … `commit`), each
/// step's lines once it is done on the token, a wrap's result deferred until after the commit.
#[derive(Clone)]
struct StepsRun {
    steps: Vec<Step>,
    /// The next plan step to begin.
    next: usize,
    /// How many steps have their result recorded.
    results: usize,
    /// An unbatched step announced, or a batched generate step, whose result comes next.
    open: Option<usize>,
    /// A batched generate step announced whose batch committed the steps before it: the token
    /// failed it, so once the batch's results are in, its failure must follow.
    unfinished: Option<usize>,
    /// The batch the lines are in, if any.
    batch: Option<Batch>,
    /// The check, once a line broke the order.
    broken: Option<Check>,
    /// The step index a failure line records, once one is met: the lines stop there.
    failure: Option<Option<usize>>,
}

/// A batch being read.
#[derive(Clone)]
struct Batch {
    /// Its `batch` line.
    line: usize,
    first: usize,
    max_steps: usize,
    /// Its wrap steps, announced, in order.
    wraps: Vec<usize>,
    /// Once its `commit` line is read: how many of the wraps' results have followed.
    committed: Option<usize>,
}

impl StepsRun {
    pub(super) fn new(steps: Vec<Step>) -> Self {
        StepsRun {
            steps,
            next: 0,
            results: 0,
            open: None,
            unfinished: None,
            batch: None,
            broken: None,
            failure: None,
        }
    }

    fn feed(&mut self, line: usize, step: &str, entry: Option<&Entry>) {
        if self.broken.is_some() || self.failure.is_some() {
            return;
        }
        let Some(entry) = entry else {
            self.broken = Some(unfit("steps", step));
            return;
        };
        if let Err(why) = self.take(step, entry) {
            self.broken = Some(failed("steps", why, Some(line)));
        } else if let (Entry::Batch(_), Some(b)) = (entry, &mut self.batch) {
            b.line = line;
        }
    }

    /// Takes the next line, or says why it breaks the order.
    fn take(&mut self, step: &str, entry: &Entry) -> Result<(), String> {
        match entry {
            Entry::Failure(failure) => {
                // A step fails inside a batch once the steps before it are committed; only the
                // batch's first step (its generate line at most written) fails before a commit.
                if let Some(b) = self.batch.as_ref().filter(|b| b.committed.is_none()) {
                    let only_first_announced =
                        self.open == Some(b.first) && self.next == b.first + 1;
                    if self.next > b.first && !only_first_announced {
                        return Err(format!(
                            "a failure line inside the batch from steps[{}] (line {}), which has steps but no commit line",
                            b.first,
                            b.line + 1
                        ));
                    }
                }
                // After a commit, a failure stands at the result due at most: the commit round
                // (the batch's first wrap), a move (the wrap whose move failed, once those
                // before it are recorded), or a wrap recorded but not finished before it.
                if let Some(due) = self
                    .batch
                    .as_ref()
                    .and_then(|b| b.committed.and_then(|c| b.wraps.get(c)))
                {
                    if failure.index.is_none_or(|i| i > *due) {
                        return Err(format!(
                            "a failure of steps[{}] where the result of steps[{due}] is due",
                            failure
                                .index
                                .map_or_else(|| "null".to_owned(), |i| i.to_string())
                        ));
                    }
                }
                self.failure = Some(failure.index);
                Ok(())
            }
            _ if self.unfinished.is_some() && self.batch.is_none() => Err(format!(
                "a {step} line where the failure of steps[{}] is due",
                self.unfinished.unwrap_or_default()
            )),
            Entry::Batch(b) => self.begin_batch(b),
            Entry::Commit(c) => self.commit(c),
            _ => self.step_line(step, entry),
        }
    }

    fn begin_batch(&mut self, b: &entry::BatchData) -> Result<(), String> {
        if let Some(open) = self.open {
            return Err(format!("a batch line before the result of steps[{open}]"));
        }
        if let Some(batch) = &self.batch {
            return Err(match batch.committed {
                None => format!(
                    "a batch line where the batch from steps[{}] has no commit line",
                    batch.first
                ),
                Some(c) => format!(
                    "a batch line before the result of steps[{}]",
                    batch.wraps[c]
                ),
            });
        }
        if b.first != self.next {
            return Err(format!(
                "a batch from steps[{}] where the next step is steps[{}]",
                b.first, self.next
            ));
        }
        if b.max_steps == 0 || b.sessions == 0 {
            return Err("a batch of no steps or no sessions".to_owned());
        }
        self.batch = Some(Batch {
            line: 0,
            first: b.first,
            max_steps: b.max_steps,
            wraps: Vec::new(),
            committed: None,
        });
        Ok(())
    }

    fn commit(&mut self, c: &entry::CommitData) -> Result<(), String> {
        let Some(batch) = self.batch.as_mut().filter(|b| b.committed.is_none()) else {
            return Err("a commit line outside a batch".to_owned());
        };
        // A generate step the token failed: the steps before it are committed, then it fails.
        let ran = match self.open.take() {
            Some(open) => {
                self.unfinished = Some(open);
                open
            }
            None => self.next,
        };
        if c.first != batch.first || ran == batch.first || c.last != ran - 1 {
            return Err(format!(
                "a commit of steps[{}..={}] where the batch (line {}) ran steps[{}..{}]",
                c.first, c.last, batch.line, batch.first, ran
            ));
        }
        if c.outputs != batch.wraps.len() {
            return Err(format!(
                "a commit of {} outputs where the batch wrapped {}",
                c.outputs,
                batch.wraps.len()
            ));
        }
        batch.committed = Some(0);
        if batch.wraps.is_empty() {
            self.batch = None;
        }
        Ok(())
    }

    /// An announcement or a result of a step.
    fn step_line(&mut self, step: &str, entry: &Entry) -> Result<(), String> {
        let recorded = step_index(entry);
        let mismatch = |want: &str, index: usize| {
            format!(
                "{step} of steps[{}] where the plan has {want} of steps[{index}]",
                recorded.map_or_else(|| "null".to_owned(), |i| i.to_string())
            )
        };
        // The result due next: an open step's, or, after a batch's commit, its next wrap's.
        let due = self.open.or_else(|| {
            self.batch
                .as_ref()
                .and_then(|b| b.committed.map(|c| b.wraps[c]))
        });
        if let Some(index) = due {
            let want = self.steps[index].record_names().1;
            if step != want.as_str() || recorded != Some(index) {
                return Err(mismatch(want.as_str(), index));
            }
            if !ran_as_planned(&self.steps[index], step, want.as_str(), false, entry) {
                return Err(format!("steps[{index}] did not run as planned"));
            }
            self.results += 1;
            if self.open.take().is_none() {
                if let Some(b) = &mut self.batch {
                    let c = b.committed.unwrap_or_default() + 1;
                    b.committed = Some(c);
                    if c == b.wraps.len() {
                        self.batch = None;
                    }
                }
            }
            return Ok(());
        }
        let index = self.next;
        let Some(planned) = self.steps.get(index) else {
            return Err(format!("a {step} line the plan does not have"));
        };
        let want = planned.record_names().0;
        // A step the interrupted run finished, taken over by a resumed run: one line stands
        // for its announcement and its result.
        let resumed = step == "resumed";
        if (step != want.as_str() && !resumed) || recorded != Some(index) {
            return Err(mismatch(want.as_str(), index));
        }
        if !ran_as_planned(planned, step, want.as_str(), resumed, entry) {
            return Err(format!("steps[{index}] did not run as planned"));
        }
        if let Some(b) = &mut self.batch {
            if index >= b.first.saturating_add(b.max_steps) {
                return Err(format!(
                    "steps[{index}] in the batch of at most {} steps from steps[{}]",
                    b.max_steps, b.first
                ));
            }
            if matches!(planned, Step::Destroy { .. }) {
                return Err(format!("the destroy of steps[{index}] inside a batch"));
            }
            if matches!(planned, Step::Wrap { .. }) {
                b.wraps.push(index);
                self.next += 1;
                return Ok(());
            }
        }
        self.next += 1;
        if resumed {
            self.results += 1;
        } else {
            self.open = Some(index);
        }
        Ok(())
    }

    fn check(self, sealed: bool) -> Check {
        let name = "steps";
        if let Some(broken) = self.broken {
            return broken;
        }
        let all = self.results == self.steps.len();
        // A batch with steps but no commit line, in a sealed record (a batch of generate steps
        // has all its results before its commit).
        let uncommitted = self
            .batch
            .as_ref()
            .filter(|b| b.committed.is_none() && self.next > b.first);
        match self.failure {
            None if sealed && uncommitted.is_some() => {
                let b = uncommitted.map_or((0, 0), |b| (b.first, b.line));
                failed(
                    name,
                    format!(
                        "the transcript is sealed but the batch from steps[{}] has no commit line",
                        b.0
                    ),
                    Some(b.1),
                )
            }
            None if all => passed(
                name,
                format!("all {} steps ran as planned, in order", self.steps.len()),
            ),
            None if !sealed => passed(
                name,
                format!(
                    "{} of {} steps ran as planned before the record ends",
                    self.results,
                    self.steps.len()
                ),
            ),
            None => match self.batch {
                Some(b) if b.committed.is_none() => failed(
                    name,
                    format!(
                        "the transcript is sealed but the batch from steps[{}] has no commit line",
                        b.first
                    ),
                    Some(b.line),
                ),
                _ => failed(
                    name,
                    "the transcript is sealed but not every step ran, and no failure is recorded",
                    None,
                ),
            },
            Some(index) => passed(
                name,
                format!(
                    "the steps ran as planned until steps[{}] failed",
                    index.unwrap_or_default()
                ),
            ),
        }
    }
}

/// Whether a `step` line (`want`, the line the plan expects; `resumed`, a resumed run's line
/// standing for an announcement and its result) records the key, algorithm and check value the
/// `planned` step names.
fn ran_as_planned(planned: &Step, step: &str, want: &str, resumed: bool, entry: &Entry) -> bool {
    let action_is = |want: &str| !resumed || matches!(entry, Entry::Resumed(r) if r.action == want);
    match planned {
        Step::Generate { key_label, .. } => {
            (key_label_of(entry) == Some(key_label.as_str())
                || key_of(entry).is_some_and(|k| k.label == key_label.as_str()))
                && action_is("generate")
        }
        Step::Wrap {
            key_label,
            algorithm,
            existing,
            ..
        } => {
            let algorithm_of = match entry {
                Entry::Wrap(w) | Entry::Rewrap(w) => Some(w.algorithm.as_str()),
                _ => None,
            };
            key_label_of(entry) == Some(key_label.as_str())
                && action_is(want)
                && (step.ends_with("ed") || algorithm_of == Some(algorithm.name()))
                && existing.as_ref().is_none_or(|(expected, _)| {
                    check_values(entry).is_none() || proves(entry, expected)
                })
        }
        Step::Destroy {
            key_label,
            expect_kcv,
        } => key_label_of(entry) == Some(key_label.as_str()) && proves(entry, expect_kcv),
    }
}

/// The plan step a step line records.
fn step_index(entry: &Entry) -> Option<usize> {
    match entry {
        Entry::Generate(d) => Some(d.index),
        Entry::Generated(d) => Some(d.index),
        Entry::Wrap(d) | Entry::Rewrap(d) => Some(d.index),
        Entry::Wrapped(d) | Entry::Rewrapped(d) => Some(d.index),
        Entry::Destroy(d) => d.index,
        Entry::Destroyed(d) => Some(d.index),
        Entry::Resumed(d) => Some(d.index),
        _ => None,
    }
}

/// The key label a step line's data names (its `key_label`).
fn key_label_of(entry: &Entry) -> Option<&str> {
    match entry {
        Entry::Generate(d) => Some(&d.key_label),
        Entry::Wrap(d) | Entry::Rewrap(d) => Some(&d.key_label),
        Entry::Wrapped(d) | Entry::Rewrapped(d) => Some(&d.key_label),
        Entry::Destroy(d) => Some(&d.key_label),
        Entry::Destroyed(d) => Some(&d.key_label),
        _ => None,
    }
}

/// The key a generated or resumed line records.
fn key_of(entry: &Entry) -> Option<&Key> {
    match entry {
        Entry::Generated(d) => Some(&d.key),
        Entry::Resumed(d) => Some(&d.key),
        _ => None,
    }
}

/// The KCV and full check value (`check_sha256`) a line's data records, where it has them.
fn check_values(entry: &Entry) -> Option<(Option<&str>, Option<&str>)> {
    match entry {
        Entry::Wrapped(d) | Entry::Rewrapped(d) => {
            Some((d.kcv.as_deref(), d.check_sha256.as_deref()))
        }
        Entry::Destroy(d) => Some((d.kcv.as_deref(), d.check_sha256.as_deref())),
        Entry::Destroyed(d) => Some((d.kcv.as_deref(), d.check_sha256.as_deref())),
        _ => None,
    }
}

/// Whether a line records the key by the check value a plan step expects: its KCV (a key
/// pair's public key SHA-256), or its full check value (`check_sha256`) for 64 hex digits.
fn proves(entry: &Entry, expected: &str) -> bool {
    check_values(entry).is_some_and(|(kcv, full)| {
        kcv == Some(expected) || (expected.len() == 64 && full == Some(expected))
    })
}
