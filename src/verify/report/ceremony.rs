//! What the report tells of the ceremony, read from the transcript's lines: each plan step with
//! what it did and how it ended, each key with its check value, each destination a key was
//! wrapped for, and where the seal is.
//!
//! It trusts nothing it reads: every string is the transcript's, shown through the page's
//! isolation and escapes. A line whose data does not fit its step adds nothing here (the
//! structure check fails it, and the raw lines show it).

use std::collections::BTreeMap;

use crate::transcript::Entry;
use crate::transcript::entry::{Key, WrapData};
use crate::verify::{Report, line_number};

/// What a plan step did, as announced.
pub(super) enum What<'a> {
    /// A key generated.
    Generate { label: &'a str, spec: &'a str },
    /// A key wrapped for a destination (`rewrap`: a key already on the token).
    Wrap { wrap: &'a WrapData, rewrap: bool },
    /// A key destroyed.
    Destroy { label: &'a str },
    /// A key taken over from the interrupted run this one resumes.
    Resumed { action: &'a str, key: &'a Key },
    /// Only the plan names it: the transcript records no line of it.
    Planned { action: &'a str },
}

/// How a plan step ended.
pub(super) enum Outcome<'a> {
    /// It was done, on this line (from 1), at this time.
    Done { line: usize, time: Option<&'a str> },
    /// It failed, on this line, with this error.
    Failed { line: usize, error: &'a str },
    /// The transcript records no end of it.
    NotDone,
}

/// One plan step as the transcript records it.
pub(super) struct StepView<'a> {
    /// Its index in the plan, from 0 (shown from 1).
    pub index: usize,
    /// What it did.
    pub what: What<'a>,
    /// The line announcing it (from 1), and its time.
    pub announced: Option<(usize, Option<&'a str>)>,
    /// How it ended.
    pub outcome: Outcome<'a>,
}

impl StepView<'_> {
    /// The plan's word for it: generate, wrap, rewrap, destroy, or what the plan says.
    pub fn action(&self) -> &str {
        match &self.what {
            What::Generate { .. } => "generate",
            What::Wrap { rewrap: false, .. } => "wrap",
            What::Wrap { rewrap: true, .. } => "rewrap",
            What::Destroy { .. } => "destroy",
            What::Resumed { action, .. } | What::Planned { action } => action,
        }
    }

    /// The key it acts on, where the transcript names one.
    pub fn key_label(&self) -> Option<&str> {
        match &self.what {
            What::Generate { label, .. } | What::Destroy { label } => Some(label),
            What::Wrap { wrap, .. } => Some(&wrap.key_label),
            What::Resumed { key, .. } => Some(&key.label),
            What::Planned { .. } => None,
        }
    }
}

/// A key the transcript records with its check value.
pub(super) struct KeyView<'a> {
    pub label: &'a str,
    pub spec: &'a str,
    pub kcv: Option<&'a str>,
    pub kcv_method: &'a str,
    /// How it came: generated, taken over from the interrupted run, restored.
    pub how: &'static str,
    pub line: usize,
}

/// A destination a key was wrapped for: the announced wrap and the files it wrote.
pub(super) struct Destination<'a> {
    /// The plan step, from 0.
    pub index: usize,
    pub wrap: &'a WrapData,
    /// The line announcing it, from 1.
    pub line: usize,
    /// The files written, by name, with their SHA-256, once the wrap was recorded done.
    pub files: Option<&'a BTreeMap<String, String>>,
    /// What its wrapping key's attestation line proved, checked again.
    pub attestation: Option<&'a crate::verify::attestations::StepAttestation>,
}

/// What the report tells of the ceremony.
pub(super) struct CeremonyView<'a> {
    /// Every plan step, in plan order.
    pub steps: Vec<StepView<'a>>,
    /// How many steps the plan has (or the transcript names, without a readable plan line).
    pub total: usize,
    pub keys: Vec<KeyView<'a>>,
    pub destinations: Vec<Destination<'a>>,
    /// The number of the first seal line, if there is one.
    pub seal: Option<usize>,
}

impl<'a> CeremonyView<'a> {
    /// Reads the ceremony from `report`'s lines.
    pub fn read(report: &'a Report) -> Self {
        let mut steps: BTreeMap<usize, StepView<'a>> = BTreeMap::new();
        let mut keys = Vec::new();
        let mut destinations: Vec<Destination<'a>> = Vec::new();
        let mut planned: &'a [String] = &[];
        let mut seal = None;
        for (i, l) in report.lines.iter().enumerate() {
            let number = line_number(i);
            let time = l.time.as_deref();
            let announce = |steps: &mut BTreeMap<usize, StepView<'a>>, index, what| {
                steps.entry(index).or_insert(StepView {
                    index,
                    what,
                    announced: Some((number, time)),
                    outcome: Outcome::NotDone,
                });
            };
            match &l.entry {
                Some(Entry::Plan(p)) if planned.is_empty() => planned = &p.steps,
                Some(Entry::Generate(g)) => announce(
                    &mut steps,
                    g.index,
                    What::Generate {
                        label: &g.key_label,
                        spec: &g.key_spec,
                    },
                ),
                Some(Entry::Generated(g)) => {
                    done(&mut steps, g.index, number, time);
                    keys.push(key_view(&g.key, "generated", number));
                }
                Some(Entry::Wrap(w) | Entry::Rewrap(w)) => {
                    let rewrap = matches!(&l.entry, Some(Entry::Rewrap(_)));
                    announce(&mut steps, w.index, What::Wrap { wrap: w, rewrap });
                    destinations.push(Destination {
                        index: w.index,
                        wrap: w,
                        line: number,
                        files: None,
                        attestation: report.attestations.iter().find(|a| a.index == w.index),
                    });
                }
                Some(Entry::Wrapped(w) | Entry::Rewrapped(w)) => {
                    done(&mut steps, w.index, number, time);
                    if let Some(d) = destinations.iter_mut().rev().find(|d| d.index == w.index) {
                        d.files.get_or_insert(&w.files);
                    }
                }
                Some(Entry::Destroy(d)) => {
                    if let Some(index) = d.index {
                        announce(
                            &mut steps,
                            index,
                            What::Destroy {
                                label: &d.key_label,
                            },
                        );
                    }
                }
                Some(Entry::Destroyed(d))
                    if steps
                        .get(&d.index)
                        .is_some_and(|s| matches!(s.what, What::Destroy { .. })) =>
                {
                    done(&mut steps, d.index, number, time);
                }
                Some(Entry::Resumed(r)) => {
                    announce(
                        &mut steps,
                        r.index,
                        What::Resumed {
                            action: &r.action,
                            key: &r.key,
                        },
                    );
                    done(&mut steps, r.index, number, time);
                    keys.push(key_view(
                        &r.key,
                        "taken over from the interrupted run",
                        number,
                    ));
                }
                Some(Entry::Restored(r)) => keys.push(KeyView {
                    label: &r.key.label,
                    spec: &r.key.spec,
                    kcv: Some(&r.key.kcv),
                    kcv_method: &r.key.kcv_method,
                    how: "restored",
                    line: number,
                }),
                Some(Entry::Failure(f)) => {
                    // A step may fail before it is announced (its trial wrap, a check first).
                    if let Some(index) = f.index {
                        let s = steps.entry(index).or_insert(StepView {
                            index,
                            what: What::Planned { action: &f.action },
                            announced: None,
                            outcome: Outcome::NotDone,
                        });
                        if matches!(s.outcome, Outcome::NotDone) {
                            s.outcome = Outcome::Failed {
                                line: number,
                                error: &f.error,
                            };
                        }
                    }
                }
                None if seal.is_none() && l.step.as_deref() == Some("seal") => seal = Some(number),
                _ => {}
            }
        }
        let total = planned
            .len()
            .max(steps.keys().next_back().map_or(0, |last| last + 1));
        for (index, action) in planned.iter().enumerate() {
            steps.entry(index).or_insert(StepView {
                index,
                what: What::Planned { action },
                announced: None,
                outcome: Outcome::NotDone,
            });
        }
        CeremonyView {
            steps: steps.into_values().collect(),
            total,
            keys,
            destinations,
            seal,
        }
    }
}

/// Marks step `index` done on line `number` at `time`, if it was announced and has not ended.
fn done<'a>(
    steps: &mut BTreeMap<usize, StepView<'a>>,
    index: usize,
    number: usize,
    time: Option<&'a str>,
) {
    if let Some(s) = steps.get_mut(&index) {
        if matches!(s.outcome, Outcome::NotDone) {
            s.outcome = Outcome::Done { line: number, time };
        }
    }
}

fn key_view<'a>(key: &'a Key, how: &'static str, line: usize) -> KeyView<'a> {
    KeyView {
        label: &key.label,
        spec: &key.spec,
        kcv: key.kcv.as_deref(),
        kcv_method: &key.kcv_method,
        how,
        line,
    }
}
