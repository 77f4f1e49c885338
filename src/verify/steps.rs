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
use crate::transcript::entry::{Key, PlanData};

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

/// The lines the steps check reads: announcements, results and a recorded failure.
pub(super) const STEP_LINES: [&str; 10] = [
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

/// The steps check against known steps: the lines that ran, one after the other.
#[derive(Clone)]
struct StepsRun {
    steps: Vec<Step>,
    /// How many of the expected lines (an announcement and a result per step) have run.
    k: usize,
    /// The check, once a line broke the order.
    broken: Option<Check>,
    /// The step index a failure line records, once one is met: the lines stop there.
    failure: Option<Option<usize>>,
}

impl StepsRun {
    pub(super) fn new(steps: Vec<Step>) -> Self {
        StepsRun {
            steps,
            k: 0,
            broken: None,
            failure: None,
        }
    }

    fn feed(&mut self, line: usize, step: &str, entry: Option<&Entry>) {
        let name = "steps";
        if self.broken.is_some() || self.failure.is_some() {
            return;
        }
        let Some(entry) = entry else {
            self.broken = Some(unfit(name, step));
            return;
        };
        if let Entry::Failure(failure) = entry {
            self.failure = Some(failure.index);
            return;
        }
        let k = self.k;
        let Some((index, want)) = self.steps.get(k / 2).map(|s| {
            let (announce, done) = s.record_names();
            (k / 2, if k % 2 == 0 { announce } else { done }.as_str())
        }) else {
            self.broken = Some(failed(
                name,
                format!("a {step} line the plan does not have"),
                Some(line),
            ));
            return;
        };
        // A step the interrupted run finished, taken over by a resumed run: one line stands
        // for its announcement and its result.
        let resumed = step == "resumed" && k % 2 == 0;
        let recorded = step_index(entry);
        if (step != want && !resumed) || recorded != Some(index) {
            self.broken = Some(failed(
                name,
                format!(
                    "{step} of steps[{}] where the plan has {want} of steps[{index}]",
                    recorded.map_or_else(|| "null".to_owned(), |i| i.to_string())
                ),
                Some(line),
            ));
            return;
        }
        let label_ok = ran_as_planned(&self.steps[index], step, want, resumed, entry);
        if !label_ok {
            self.broken = Some(failed(
                name,
                format!("steps[{index}] did not run as planned"),
                Some(line),
            ));
            return;
        }
        self.k += if resumed { 2 } else { 1 };
    }

    fn check(self, sealed: bool) -> Check {
        let name = "steps";
        if let Some(broken) = self.broken {
            return broken;
        }
        match self.failure {
            None if self.k == 2 * self.steps.len() => passed(
                name,
                format!("all {} steps ran as planned, in order", self.steps.len()),
            ),
            None if !sealed => passed(
                name,
                format!(
                    "{} of {} steps ran as planned before the record ends",
                    self.k / 2,
                    self.steps.len()
                ),
            ),
            None => failed(
                name,
                "the transcript is sealed but not every step ran, and no failure is recorded",
                None,
            ),
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
