//! The audit report: what `keyrite verify` found, rendered as one self-contained HTML page for
//! auditors who read evidence in a browser or on paper.
//!
//! At the top: the verdict and each check's result, one line each; then a summary table (each
//! key with its check value, each destination, the transcript's SHA-256, when it was verified,
//! the chain head at the seal, the plan digest, every digest in hex and in PGP words); then a
//! timeline drawn as inline SVG and each plan step in words; then the policy, the plan, the
//! quorum and the witnesses; the raw transcript lines last, collapsed.
//!
//! Everything from the transcript, the policy and the file names is untrusted input: every
//! value goes through `maud`, which escapes it, inside a `<bdi>` (in the SVG, an element whose
//! style isolates it) so that it cannot reorder the page's own text around it, with its control,
//! bidi and other invisible characters shown as escapes ([`crate::visible::visible`]). The page
//! carries a Content-Security-Policy that forbids scripts and every remote load (its one
//! stylesheet is inline, allowed by its SHA-256); it needs no network: no fonts, scripts or
//! images. Its print stylesheet keeps a few steps on a few pages and many similar steps in
//! compact rows. It is written like every keyrite output: created new beside its final place,
//! fsynced, then moved into place without ever replacing a file.

mod ceremony;

use std::collections::BTreeSet;
use std::path::Path;

use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;

use crate::attest::Record;
use crate::html::{code, ext};
use crate::kms::Provider;
use crate::transcript::entry::{
    Approval, ApprovalsData, FinishData, PlanData, PolicyData, Provenance, RestoreData,
    RestoredData,
};
use crate::transcript::{Entry, Step};
use crate::verify::{Line, Report, Status, Verdict};
use crate::visible::visible;
use crate::words::pgp_words_hex;
use ceremony::{CeremonyView, Destination, Outcome, StepView, What};

/// The stylesheet: inline (the page loads nothing), allowed by its hash in the CSP.
const STYLE: &str = r#"
:root { color-scheme: light; --ok: #0b6b2e; --ok-bg: #e3f3e8; --warn: #7a4500; --warn-bg: #fff1d6;
  --bad: #a4111c; --bad-bg: #fde6e8; --muted: #4a4f57; --line: #c9ced6; --seal: #4b2a86; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; font: 16px/1.5 system-ui, -apple-system,
  "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif; color: #16181d; background: #fff; }
bdi, .ext { unicode-bidi: isolate; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; padding-bottom: .2rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1rem 0 .25rem; }
.verdict { font-size: 1.2rem; font-weight: 700; padding: .75rem 1rem; border-radius: .4rem;
  border: 2px solid; margin: 0 0 .5rem; }
.verdict-verified { color: var(--ok); background: var(--ok-bg); }
.verdict-incomplete { color: var(--warn); background: var(--warn-bg); }
.verdict-not-approved { color: var(--warn); background: var(--warn-bg); }
.verdict-invalid { color: var(--bad); background: var(--bad-bg); }
.summary { margin: .25rem 0; }
.broken { font-weight: 700; color: var(--bad); }
.muted { color: var(--muted); }
.mono, code, pre { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
  font-size: .875rem; }
.mono, code { overflow-wrap: anywhere; }
.words { display: block; font-size: .875rem; font-style: italic; color: #2b2f36; }
.words.inline { display: inline; }
table.destinations td:first-child { width: 3rem; }
table.destinations .file { white-space: nowrap; margin-right: .5em; }
.print-only { display: none; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f4f5f7; padding: .75rem;
  border: 1px solid var(--line); border-radius: .3rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
thead th { background: #eef0f3; }
tbody th { font-weight: 600; }
table.facts th { width: 14rem; color: var(--muted); }
td > span.muted { display: block; font-size: .875rem; }
table.checks td.result { width: 9rem; }
table.checks th { width: 8rem; }
table.lines td.raw { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace;
  font-size: .75rem; overflow-wrap: anywhere; word-break: break-all; }
dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.result { font-weight: 700; white-space: nowrap; }
.passed { color: var(--ok); }
.failed { color: var(--bad); }
.not-checked { color: var(--muted); }
tr.row-failed td, tr.row-failed th { background: var(--bad-bg); }
tr.row-failed > :first-child { border-left: 4px solid var(--bad); }
ul.steps { list-style: none; padding: 0; margin: .5rem 0; }
ul.steps > li { padding: .3rem .5rem; border-bottom: 1px solid var(--line); }
ul.steps > li.step-failed { background: var(--bad-bg); border-left: 4px solid var(--bad); }
ul.steps details summary { font-weight: 400; margin: .25rem 0 0; }
ul.steps ul { margin: .25rem 0; padding-left: 1.25rem; }
svg.timeline { display: block; width: 100%; height: auto; margin: .5rem 0; }
svg.timeline text { font: 13px system-ui, "Liberation Sans", Arial, sans-serif; fill: #16181d; }
svg.timeline text.at { font: 12px ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; fill: #4a4f57; }
svg.timeline line { stroke: #c9ced6; stroke-width: 2; }
svg.timeline circle { stroke-width: 2; }
svg.timeline .ok { fill: #0b6b2e; stroke: #0b6b2e; }
svg.timeline .bad { fill: #a4111c; stroke: #a4111c; }
svg.timeline .seal { fill: #4b2a86; stroke: #4b2a86; }
svg.timeline .open { fill: #fff; stroke: #4a4f57; }
a { color: #0645ad; }
summary { cursor: pointer; font-weight: 600; margin: .75rem 0 .25rem; }
nav { margin: .5rem 0; }
@media (max-width: 40rem) {
  body { padding: .5rem; font-size: 15px; }
  dl { grid-template-columns: 1fr; }
  dt { margin-top: .25rem; }
  table.facts th { width: auto; }
}
@media print {
  @page { margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 9pt; line-height: 1.3; color: #000; }
  h1 { font-size: 14pt; margin: 0 0 .4rem; }
  h2 { font-size: 11pt; margin: .8rem 0 .3rem; break-after: avoid; }
  h3 { font-size: 10pt; margin: .5rem 0 .2rem; }
  .verdict { border-width: 3px; font-size: 11pt; padding: .3rem .6rem; }
  .mono, code, pre, .words { font-size: 7.5pt; }
  .print-only { display: block; }
  table.destinations { font-size: 7.5pt; line-height: 1.2; }
  table.destinations code, table.destinations .words { font-size: 7pt; }
  table.compact { font-size: 6.5pt; line-height: 1.15; }
  table.compact code, table.compact .words { font-size: 6.5pt; }
  table.compact td { padding: .05rem .2rem; }
  table.compact .file.other, table.compact .attestation { display: none; }
  th, td { padding: .1rem .3rem; }
  ul.steps > li { padding: .1rem .3rem; }
  tr, .verdict, svg.timeline { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .scroll { overflow: visible; }
  thead th { background: none; }
  nav { display: none; }
  details[open] > :not(summary) { display: none; }
  summary { margin: .2rem 0; font-weight: 400; }
}
"#;

/// A run of this many similar plan steps or more is one row of its own, its steps listed
/// beneath it collapsed (and so not printed).
const RUN: usize = 5;

/// [`digest`] with its words in the same line of text.
fn digest_inline(hex: &str) -> Markup {
    html! {
        code { bdi { (visible(hex)) } }
        @if let Some(words) = pgp_words_hex(hex).filter(|w| !w.is_empty()) {
            " " span class="words inline" { (words) }
        }
    }
}

/// A digest or fingerprint from outside in hex, with its PGP words beneath (when it is hex).
fn digest(hex: &str) -> Markup {
    html! {
        code { bdi { (visible(hex)) } }
        @if let Some(words) = pgp_words_hex(hex).filter(|w| !w.is_empty()) {
            span class="words" { (words) }
        }
    }
}

/// A person of the policy: a name and an SSH key fingerprint.
struct Person {
    name: String,
    fingerprint: String,
}

/// The policy as shown: from `--policy` when given, else from the transcript's policy line.
struct PolicyView {
    source: String,
    threshold: String,
    custodians: Vec<Person>,
    witnesses: Vec<Person>,
    signer_fingerprint: String,
}

fn people(recorded: &[crate::transcript::entry::Person]) -> Vec<Person> {
    recorded
        .iter()
        .map(|p| Person {
            name: p.name.clone(),
            fingerprint: p.key_fingerprint.clone(),
        })
        .collect()
}

/// The first line of a step, with its number (from 1), and its entry if its data fits the step.
fn first(report: &Report, step: Step) -> Option<(usize, Option<&Entry>)> {
    report
        .lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.step.as_deref() == Some(step.as_str()))
        .map(|(i, l)| (super::line_number(i), l.entry.as_ref()))
}

/// The first line of a step, with its number (from 1), and its data if it fits the step.
macro_rules! first_data {
    ($report:expr, $variant:ident) => {
        first($report, Step::$variant).map(|(i, e)| match e {
            Some(Entry::$variant(d)) => (i, Some(d)),
            _ => (i, None),
        })
    };
}

fn first_policy(report: &Report) -> Option<(usize, Option<&PolicyData>)> {
    first_data!(report, Policy)
}

fn first_plan(report: &Report) -> Option<(usize, Option<&PlanData>)> {
    first_data!(report, Plan)
}

fn first_approvals(report: &Report) -> Option<(usize, Option<&ApprovalsData>)> {
    first_data!(report, Approvals)
}

fn first_restore(report: &Report) -> Option<(usize, Option<&RestoreData>)> {
    first_data!(report, Restore)
}

fn first_restored(report: &Report) -> Option<(usize, Option<&RestoredData>)> {
    first_data!(report, Restored)
}

fn first_finish(report: &Report) -> Option<(usize, Option<&FinishData>)> {
    first_data!(report, Finish)
}

/// What a section shows of a line whose data does not fit its step.
fn unfit_section(id: &str, title: &str, step: &str, line: usize) -> Markup {
    html! {
        section aria-labelledby=(id) {
            h2 id=(id) { (title) }
            p class="failed" {
                "The " (step) " line (" (line_link(line)) ") is not shown: its data does not fit a "
                (step) " line."
            }
        }
    }
}

/// The policy as shown: from `--policy` when given, else from the transcript's policy line
/// (`Err` with its index if its data does not fit a policy line).
fn policy_view(report: &Report) -> Option<Result<PolicyView, usize>> {
    if let Some(p) = &report.policy {
        return Some(Ok(PolicyView {
            source: format!(
                "{} (given with --policy)",
                visible(&p.path.display().to_string())
            ),
            threshold: p.threshold.to_string(),
            custodians: p
                .custodians
                .iter()
                .map(|c| Person {
                    name: c.name.clone(),
                    fingerprint: c.fingerprint(),
                })
                .collect(),
            witnesses: p
                .witnesses
                .iter()
                .map(|c| Person {
                    name: c.name.clone(),
                    fingerprint: c.fingerprint(),
                })
                .collect(),
            signer_fingerprint: p.signer_fingerprint.clone(),
        }));
    }
    let (line, d) = first_policy(report)?;
    let Some(d) = d else {
        return Some(Err(line));
    };
    Some(Ok(PolicyView {
        source: format!(
            "{} (as recorded in the transcript, line {line}; give --policy to check it)",
            visible(&d.file)
        ),
        threshold: d.threshold.to_string(),
        custodians: people(&d.custodians),
        witnesses: people(&d.witnesses),
        signer_fingerprint: d.signer_fingerprint.clone(),
    }))
}

fn verdict_words(v: Verdict) -> (&'static str, &'static str, &'static str) {
    match v {
        Verdict::Verified => (
            "VERIFIED",
            "verdict-verified",
            "exit 0: sealed, completed, and every check that ran passed",
        ),
        Verdict::Incomplete => (
            "INCOMPLETE",
            "verdict-incomplete",
            "exit 3: an intact record of a ceremony that failed or did not finish",
        ),
        Verdict::Invalid => (
            "INVALID",
            "verdict-invalid",
            "exit 1: something was altered or does not verify",
        ),
        Verdict::NotApproved => (
            "NOT APPROVED (no policy: quorum not checked)",
            "verdict-not-approved",
            "exit 4: sealed, completed, and every check that ran passed, but verified without a policy",
        ),
    }
}

/// The first line a failed check points at, with the check's name and reason.
fn first_broken(report: &Report) -> Option<(&'static str, &str, Option<usize>)> {
    report.checks.iter().find_map(|c| match &c.status {
        Status::Failed { reason, line } => Some((c.name, reason.as_str(), *line)),
        _ => None,
    })
}

/// A link to the row of the line numbered `line` (from 1) among the raw lines.
fn line_link(line: usize) -> Markup {
    html! { a href={ "#line-" (line) } { "line " (line) } }
}

fn is_failure_line(l: &Line) -> bool {
    let completed = matches!(&l.entry, Some(Entry::Finish(f)) if f.outcome == "completed");
    match l.step.as_deref() {
        Some("failure") => true,
        Some("finish") => !completed,
        _ => false,
    }
}

/// The provider's name for people, where the transcript names one keyrite knows.
fn provider_name(provider: &str) -> Markup {
    match provider.parse::<Provider>() {
        Ok(p) => html! { (p.display_name()) },
        Err(_) => html! { "provider " (code(provider)) },
    }
}

/// The time of a transcript line as the timeline shows it: its date and time, without the `T`.
fn short_time(time: Option<&str>) -> String {
    time.map(|t| visible(t).replacen('T', " ", 1))
        .unwrap_or_default()
}

fn head(title: &str) -> Markup {
    crate::html::head(title, STYLE)
}

fn checks_section(report: &Report) -> Markup {
    html! {
        section aria-labelledby="checks" {
            h2 id="checks" { "Checks" }
            div class="scroll" {
                table class="checks" {
                    caption class="muted" { "Every check verify ran, in order, one line each" }
                    tbody {
                        @for c in &report.checks {
                            @match &c.status {
                                Status::Passed { detail } => tr {
                                    th scope="row" { (c.name) }
                                    td class="result passed" { "✓ passed" }
                                    td { (ext(detail)) }
                                },
                                Status::Failed { reason, line } => tr class="row-failed" {
                                    th scope="row" { (c.name) }
                                    td class="result failed" { "✗ FAILED" }
                                    td {
                                        (ext(reason))
                                        @if let Some(l) = line { " (" (line_link(*l)) ")" }
                                    }
                                },
                                Status::NotChecked { missing } => tr {
                                    th scope="row" { (c.name) }
                                    td class="result not-checked" { "– not checked" }
                                    td { "needs " (ext(missing)) }
                                },
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The summary: the transcript, when it was verified, the plan digest, the chain head, the
/// signer; each key; each destination.
fn summary_section(
    report: &Report,
    view: &CeremonyView<'_>,
    transcript: &Path,
    verified_at: &str,
) -> Markup {
    let plan = first_plan(report).and_then(|(line, d)| d.map(|d| (line, d)));
    html! {
        section aria-labelledby="summary" {
            h2 id="summary" { "Summary" }
            div class="scroll" {
                table class="facts" {
                    tbody {
                        tr {
                            th scope="row" { "Transcript" }
                            td { (code(&transcript.display().to_string())) ", " (report.lines.len()) " line(s)" }
                        }
                        tr {
                            th scope="row" { "Transcript SHA-256" }
                            td id="transcript-sha256" { (digest(&report.sha256)) }
                        }
                        tr {
                            th scope="row" { "Verified at" }
                            td { time id="verified-at" datetime=(verified_at) { (verified_at) } " (UTC, by keyrite " (env!("CARGO_PKG_VERSION")) ")" }
                        }
                        tr {
                            th scope="row" { "Plan digest" }
                            td id="plan-digest" {
                                @match (&report.plan_digest, plan) {
                                    (Some(plan_digest), Some((line, d))) => {
                                        (digest(plan_digest))
                                        span class="muted" {
                                            "SHA-256 of the digest statement the custodians signed "
                                            "(keyrite plan digest " (code(&d.file)) "), as recorded on " (line_link(line))
                                        }
                                    }
                                    _ => span class="muted" { "no plan recorded" },
                                }
                            }
                        }
                        tr {
                            th scope="row" { "Chain head at the seal" }
                            td id="chain-head" {
                                @match (report.seal_sha256(), view.seal) {
                                    (Some(head), Some(line)) => {
                                        (digest(&head))
                                        span class="muted" { "SHA-256 of the seal line (" (line_link(line)) "): what witnesses sign" }
                                    }
                                    _ => span class="muted" { "no seal: the transcript has no seal line" },
                                }
                            }
                        }
                        tr {
                            th scope="row" { "Signer (--signer)" }
                            td { (digest(&report.signer_fingerprint)) span class="muted" { "SHA-256 of its SubjectPublicKeyInfo" } }
                        }
                    }
                }
            }
            (keys_table(view))
            (destinations_table(view))
        }
    }
}

fn keys_table(view: &CeremonyView<'_>) -> Markup {
    html! {
        h3 { "Keys" }
        div class="scroll" {
            table class="keys" {
                thead { tr {
                    th scope="col" { "Key" }
                    th scope="col" { "Spec" }
                    th scope="col" { "Check value (KCV)" }
                    th scope="col" { "Recorded" }
                } }
                tbody {
                    @for k in &view.keys {
                        tr {
                            td { (code(k.label)) }
                            td { (ext(k.spec)) }
                            td class="kcv" {
                                @match k.kcv {
                                    Some(kcv) => { (digest(kcv)) span class="muted" { (ext(k.kcv_method)) } }
                                    None => span class="muted" { "none recorded" },
                                }
                            }
                            td { (k.how) " on " (line_link(k.line)) }
                        }
                    }
                    @if view.keys.is_empty() {
                        tr { td colspan="4" class="muted" { "The transcript records no key." } }
                    }
                }
            }
        }
    }
}

fn destinations_table(view: &CeremonyView<'_>) -> Markup {
    if view.destinations.is_empty() {
        return html! {};
    }
    // Many destinations print compact: each output's manifest.json digest only.
    let compact = view.destinations.len() >= RUN;
    html! {
        h3 { "Destinations" }
        @if compact {
            p class="print-only muted" {
                "Printed, each output shows the SHA-256 of its manifest.json, which records the "
                "SHA-256 of every file written; on screen, and among the transcript lines, each "
                "file's is shown."
            }
            @let attested = view.destinations.iter().filter(|d| d.attestation.is_some_and(|a| a.record.is_attested())).count();
            p class="print-only muted" {
                "Printed, the wrapping keys' attestations are counted here: " (attested) " of "
                (view.destinations.len()) " attested; on screen each output shows its own."
            }
        }
        div class="scroll" {
            table class=(if compact { "destinations compact" } else { "destinations" }) {
                thead { tr {
                    th scope="col" { "Step" }
                    th scope="col" { "The key, where it was wrapped for, the wrapping key, the files written" }
                } }
                tbody {
                    @for d in &view.destinations {
                        (destination_row(d))
                    }
                }
            }
        }
    }
}

fn destination_row(d: &Destination<'_>) -> Markup {
    let w = d.wrap;
    html! {
        tr {
            td { (d.index + 1) }
            td {
                div {
                    (code(&w.key_label)) " → " (provider_name(&w.provider)) " key "
                    (code(&w.kms_key_id)) " with " (ext(&w.algorithm))
                }
                div { "Wrapping key SHA-256 " (digest_inline(&w.wrapping_key_sha256)) }
                @if let Some(a) = d.attestation {
                    div class="attestation" {
                        @match &a.record {
                            Record::Attested(_) => { span class="passed" { "Attested" } }
                            Record::NotAttested { .. } => { span class="muted" { "Not attested" } }
                        }
                        ": " (ext(&a.record.summary())) "."
                        @if let Some((path, sha256)) = &a.roots_file {
                            " Checked with the plan's roots file " (code(path)) " (SHA-256 "
                            (digest_inline(sha256)) "), not only keyrite's pinned roots."
                        }
                    }
                }
                div class="files" {
                    "Written to " (code(&w.out)) ":"
                    @match d.files {
                        Some(files) => {
                            @for (name, sha256) in files {
                                " " span class=(if name == "manifest.json" { "file" } else { "file other" }) {
                                    (code(name)) " " code { bdi { (visible(sha256)) } }
                                }
                            }
                        }
                        None => { " " span class="failed" { "nothing (" (line_link(d.line)) " announced it)" } }
                    }
                }
            }
        }
    }
}

/// A run of consecutive plan steps: one step, or [`RUN`] or more similar ones.
struct Run<'v, 'a> {
    steps: &'v [StepView<'a>],
}

/// Two steps are similar when they do the same to the same key and both were done.
fn similar(a: &StepView<'_>, b: &StepView<'_>) -> bool {
    a.action() == b.action()
        && a.key_label() == b.key_label()
        && matches!(a.outcome, Outcome::Done { .. })
        && matches!(b.outcome, Outcome::Done { .. })
}

/// The plan steps in runs: each long run of similar steps one run, every other step its own.
fn runs<'v, 'a>(steps: &'v [StepView<'a>]) -> Vec<Run<'v, 'a>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < steps.len() {
        let mut end = start + 1;
        while end < steps.len() && similar(&steps[start], &steps[end]) {
            end += 1;
        }
        if end - start >= RUN {
            runs.push(Run {
                steps: &steps[start..end],
            });
        } else {
            end = start + 1;
            runs.push(Run {
                steps: &steps[start..end],
            });
        }
        start = end;
    }
    runs
}

/// What a step does, in words (after "Step N of M — ").
fn step_words(s: &StepView<'_>) -> Markup {
    match &s.what {
        What::Generate { label, spec } => {
            html! { "generate " (code(label)) " (" (ext(spec)) ") on the token" }
        }
        What::Wrap { wrap, rewrap } => html! {
            (if *rewrap { "wrap the existing key " } else { "wrap " }) (code(&wrap.key_label))
            " for " (provider_name(&wrap.provider)) " key " (code(&wrap.kms_key_id))
            " with " (ext(&wrap.algorithm)) " into " (code(&wrap.out))
        },
        What::Destroy { label } => html! { "destroy " (code(label)) " on the token" },
        What::Resumed { action, key } => html! {
            "take over " (code(&key.label)) " from the interrupted run (its step: " (ext(action)) ")"
        },
        What::Planned { action } => html! { (ext(action)) " (as the plan names it)" },
    }
}

/// How a step ended, in words.
fn step_outcome(s: &StepView<'_>) -> Markup {
    match &s.outcome {
        Outcome::Done { line, time } => html! {
            span class="passed" { "✓ done" }
            @if let Some(t) = time { " at " (ext(t)) } " (" (line_link(*line)) ")"
        },
        Outcome::Failed { line, error } => html! {
            span class="failed" { "✗ FAILED: " } (ext(error)) " (" (line_link(*line)) ")"
        },
        Outcome::NotDone => match s.announced {
            Some((line, _)) => html! {
                span class="failed" { "not done" } ": announced on " (line_link(line)) ", no end recorded"
            },
            None => {
                html! { span class="not-checked" { "not run" } ": the transcript records no line of it" }
            }
        },
    }
}

/// One step in words: "Step 2 of 3 — wrap … : ✓ done at … (line 9)".
fn step_sentence(s: &StepView<'_>, total: usize) -> Markup {
    html! {
        strong { "Step " (s.index + 1) " of " (total) } " — " (step_words(s)) ": " (step_outcome(s))
    }
}

fn steps_list(view: &CeremonyView<'_>) -> Markup {
    let total = view.total;
    html! {
        ul class="steps" {
            @for run in runs(&view.steps) {
                @match run.steps {
                    [s] => li class=(if matches!(s.outcome, Outcome::Failed { .. }) { "step-failed" } else { "" }) {
                        (step_sentence(s, total))
                    },
                    [first, .., last] => li {
                        strong { "Steps " (first.index + 1) "–" (last.index + 1) " of " (total) }
                        " — " (run.steps.len()) " × " (ext(first.action())) " "
                        @if let Some(label) = first.key_label() { (code(label)) " " }
                        @if matches!(first.what, What::Wrap { .. }) { "(each destination is a row of the summary's Destinations)" }
                        ": " span class="passed" { "✓ all done" }
                        @if let (Some(from), Some(to)) = (announced_time(first), done_time(last)) {
                            ", " (ext(from)) " to " (ext(to))
                        }
                        details {
                            summary { "Each of the " (run.steps.len()) " steps" }
                            ul { @for s in run.steps { li { (step_sentence(s, total)) } } }
                        }
                    },
                    [] => {},
                }
            }
            @if view.steps.is_empty() {
                li class="muted" { "The transcript records no plan step." }
            }
        }
    }
}

fn announced_time<'a>(s: &StepView<'a>) -> Option<&'a str> {
    s.announced.and_then(|(_, t)| t)
}

fn done_time<'a>(s: &StepView<'a>) -> Option<&'a str> {
    match s.outcome {
        Outcome::Done { time, .. } => time,
        _ => None,
    }
}

/// One point of the drawn timeline.
struct Event {
    time: String,
    /// `ok`, `bad`, `seal` or `open` (not done).
    class: &'static str,
    label: Markup,
}

/// The most characters of an outside value the drawing shows (the steps' words show it all):
/// a row of the drawing stays within its width whatever the transcript holds.
const SVG_VALUE: usize = 32;

/// An outside value in the drawing: isolated, escaped, and cut to [`SVG_VALUE`] characters.
fn svg_ext(s: &str) -> Markup {
    let shown = visible(s);
    let cut: String = shown.chars().take(SVG_VALUE).collect();
    let more = shown.chars().count() > SVG_VALUE;
    html! { tspan class="ext" { (cut) @if more { "…" } } }
}

/// The most approvers the drawing names; the quorum section names them all.
const APPROVERS: usize = 5;

fn events(report: &Report, view: &CeremonyView<'_>) -> Vec<Event> {
    let mut events = Vec::new();
    let time_of = |line: usize| {
        report
            .lines
            .get(line.wrapping_sub(1))
            .and_then(|l| l.time.as_deref())
    };
    if let Some((line, Some(a))) = first_approvals(report) {
        let quorum = report.checks.iter().find(|c| c.name == "quorum");
        let failed = matches!(quorum.map(|c| &c.status), Some(Status::Failed { .. }));
        events.push(Event {
            time: short_time(time_of(line)),
            class: if failed { "bad" } else { "ok" },
            label: html! {
                "Plan approved by "
                @for (k, ap) in a.approvals.iter().take(APPROVERS).enumerate() {
                    @if k > 0 { ", " } (svg_ext(&ap.custodian))
                }
                @if a.approvals.len() > APPROVERS { ", …" }
                @if a.approvals.is_empty() { "no one" }
                " (" (a.approvals.len()) " of " (a.threshold) " required)"
            },
        });
    }
    for run in runs(&view.steps) {
        let [first, .., last] = run.steps else {
            if let [s] = run.steps {
                events.push(step_event(s, view.total));
            }
            continue;
        };
        events.push(Event {
            time: short_time(announced_time(first)),
            class: "ok",
            label: html! {
                "Steps " (first.index + 1) "–" (last.index + 1) ": " (run.steps.len()) " × "
                (svg_ext(first.action())) @if let Some(l) = first.key_label() { " " (svg_ext(l)) }
                ", done by " (short_time(done_time(last)))
            },
        });
    }
    if let Some((line, finish)) = first_finish(report) {
        let outcome = finish.map_or("unreadable", |f| f.outcome.as_str());
        events.push(Event {
            time: short_time(time_of(line)),
            class: if outcome == "completed" { "ok" } else { "bad" },
            label: html! { "Finished: " (svg_ext(outcome)) },
        });
    }
    if let Some(line) = &view.seal {
        let seal = report.checks.iter().find(|c| c.name == "seal");
        let passed = matches!(seal.map(|c| &c.status), Some(Status::Passed { .. }));
        events.push(Event {
            time: short_time(time_of(*line)),
            class: if passed { "seal" } else { "bad" },
            label: html! { "Sealed: " (if passed { "the signer's signature verifies" } else { "the seal does not verify" }) },
        });
    }
    for w in &report.witnesses {
        events.push(Event {
            time: short_time(time_of(w.line)),
            class: match w.verified {
                Some(false) => "bad",
                _ => "seal",
            },
            label: html! {
                "Witness " (svg_ext(&w.name)) " signed the seal"
                (match w.verified {
                    Some(true) => " (verified)",
                    Some(false) => " (does NOT verify)",
                    None => " (not checked: no --policy)",
                })
            },
        });
    }
    events
}

fn step_event(s: &StepView<'_>, total: usize) -> Event {
    let (class, end) = match &s.outcome {
        Outcome::Done { .. } => ("ok", ""),
        Outcome::Failed { .. } => ("bad", " — FAILED"),
        Outcome::NotDone if s.announced.is_some() => ("open", " — not done"),
        Outcome::NotDone => ("open", " — not run"),
    };
    let label = html! {
        "Step " (s.index + 1) " of " (total) ": " (svg_ext(s.action()))
        @if let Some(l) = s.key_label() { " " (svg_ext(l)) }
        @if let What::Wrap { wrap, .. } = &s.what {
            " for " (svg_ext(&wrap.kms_key_id))
        }
        (end)
    };
    Event {
        time: short_time(announced_time(s)),
        class,
        label,
    }
}

/// The timeline drawn: one row per event, in order, its time on the left.
fn timeline_svg(events: &[Event]) -> Markup {
    const ROW: usize = 26;
    let height = events.len() * ROW + 12;
    html! {
        svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={ "0 0 960 " (height) } aria-labelledby="timeline-title" {
            title id="timeline-title" { "The ceremony's timeline: approval, steps, finish, seal and witnesses, in order" }
            @if !events.is_empty() {
                line x1="190" y1="14" x2="190" y2=(height - 14) {}
            }
            @for (k, e) in events.iter().enumerate() {
                @let y = 19 + k * ROW;
                text class="at" x="176" y=(y + 4) text-anchor="end" { (e.time) }
                circle class=(e.class) cx="190" cy=(y) r="6" {}
                text x="206" y=(y + 5) { (e.label) }
            }
        }
    }
}

fn timeline_section(report: &Report, view: &CeremonyView<'_>) -> Markup {
    html! {
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Timeline" }
            (timeline_svg(&events(report, view)))
            h3 { "The plan's steps" }
            (steps_list(view))
        }
    }
}

fn policy_section(report: &Report) -> Markup {
    let p = match policy_view(report) {
        Some(Ok(p)) => p,
        Some(Err(line)) => return unfit_section("policy", "Policy", "policy", line),
        None => {
            return html! {
                section aria-labelledby="policy" {
                    h2 id="policy" { "Policy" }
                    p { "No policy: no --policy was given and the transcript records none." }
                }
            };
        }
    };
    html! {
        section aria-labelledby="policy" {
            h2 id="policy" { "Policy" }
            dl {
                dt { "Source" } dd { bdi { (p.source) } }
                dt { "Threshold" } dd { (ext(&p.threshold)) " of " (p.custodians.len()) " custodians must approve" }
                dt { "Signer fingerprint" } dd { (digest(&p.signer_fingerprint)) }
            }
            (people_table("Custodians", &p.custodians))
            (people_table("Witnesses", &p.witnesses))
        }
    }
}

fn people_table(caption: &str, people: &[Person]) -> Markup {
    html! {
        div class="scroll" {
            table {
                caption { (caption) }
                thead { tr { th scope="col" { "Name" } th scope="col" { "SSH key fingerprint" } } }
                tbody {
                    @for p in people {
                        tr { td { (ext(&p.name)) } td class="mono" { (ext(&p.fingerprint)) } }
                    }
                    @if people.is_empty() {
                        tr { td colspan="2" class="muted" { "none" } }
                    }
                }
            }
        }
    }
}

fn plan_section(report: &Report) -> Markup {
    let Some((line, d)) = first_plan(report) else {
        return html! {
            section aria-labelledby="plan" {
                h2 id="plan" { "Plan" }
                p { "The transcript records no plan." }
            }
        };
    };
    let Some(d) = d else {
        return unfit_section("plan", "Plan", "plan", line);
    };
    html! {
        section aria-labelledby="plan" {
            h2 id="plan" { "Plan" }
            dl {
                dt { "Ceremony" } dd { (ext(&d.ceremony_id)) }
                dt { "Operator" } dd { (ext(&d.operator)) }
                dt { "File" } dd { (code(&d.file)) " (recorded on " (line_link(line)) ")" }
                dt { "SHA-256" } dd { (digest(&d.sha256)) }
                dt { "Steps" } dd {
                    (d.steps.len()) ": "
                    @for (k, s) in d.steps.iter().enumerate() {
                        @if k < RUN || k + 1 == d.steps.len() {
                            @if k > 0 { ", " } (k + 1) ". " (ext(s))
                        } @else if k == RUN {
                            ", … (" (d.steps.len() - RUN - 1) " more)"
                        }
                    }
                    " (each in words under Timeline)"
                }
            }
            @if !d.files.is_empty() {
                div class="scroll" {
                    table {
                        caption { "Files the plan names" }
                        thead { tr { th scope="col" { "File" } th scope="col" { "SHA-256" } } }
                        tbody {
                            @for f in &d.files {
                                tr { td { (code(&f.name)) } td { (digest(&f.sha256)) } }
                            }
                        }
                    }
                }
            }
            details {
                summary { "The plan text, as recorded (" (d.text.lines().count()) " lines)" }
                pre { (visible_lines(&d.text)) }
            }
        }
    }
}

/// A text of several lines from outside, each line shown through [`visible`].
fn visible_lines(text: &str) -> String {
    text.lines().map(visible).collect::<Vec<_>>().join("\n")
}

/// What proved where a backup came from, in words.
fn provenance(p: &Provenance) -> Markup {
    match p {
        Provenance::Transcript(t) => html! {
            "the sealed transcript " (code(&t.transcript))
            " (SHA-256 " (code(&t.sha256))
            ", chain head " (code(&t.chain_head))
            ", signer " (code(&t.signer_fingerprint))
            "), whose token line records token " (ext(&t.token_label))
            ", serial " (code(&t.token_serial))
        },
        Provenance::ExpectedKcv { value } => html! {
            "the check value " (code(value))
            " given out of band; the source token is the manifest's claim"
        },
    }
}

/// A recorded restore: the backup as read, what proved where it came from, and the key restored.
fn restore_section(report: &Report) -> Markup {
    let Some((line, d)) = first_restore(report) else {
        return html! {};
    };
    let Some(d) = d else {
        return unfit_section("restore", "Restore", "restore", line);
    };
    html! {
        section aria-labelledby="restore" {
            h2 id="restore" { "Restore" }
            dl {
                dt { "Backup" } dd { (code(&d.backup)) " (recorded on " (line_link(line)) ")" }
                dt { "Key" } dd { (code(&d.key_label)) }
                dt { "Manifest SHA-256" } dd { (digest(&d.manifest_sha256)) }
                dt { "Source token" } dd { (ext(&d.source.label)) ", serial " (code(&d.source.serial)) }
                dt { "Proven by" } dd { (provenance(&d.provenance)) }
                @match first_restored(report) {
                    Some((rline, Some(done))) => {
                        dt { "Restored" } dd {
                            (code(&done.key.label)) " (" (ext(&done.key.spec)) ", id "
                            (code(&done.key.id)) ") on " (line_link(rline))
                        }
                        dt { "Check values matched" } dd {
                            @for (method, value) in &done.matched {
                                (code(value)) " (" (ext(method)) ") "
                            }
                            @if let Some(expected) = &done.expected { (code(expected)) " (--expect-kcv)" }
                        }
                    }
                    Some((rline, None)) => {
                        dt { "Restored" } dd class="failed" {
                            "not shown: the restored line (" (line_link(rline)) ") does not fit a restored line"
                        }
                    }
                    None => { dt { "Restored" } dd class="failed" { "nothing: the transcript records no restored line" } }
                }
            }
        }
    }
}

fn approvals_table(approvals: &[Approval]) -> Markup {
    html! {
        div class="scroll" {
            table {
                caption { "Approvals" }
                thead { tr {
                    th scope="col" { "Custodian" }
                    th scope="col" { "SSH key fingerprint" }
                    th scope="col" { "Approval file" }
                } }
                tbody {
                    @for a in approvals {
                        tr {
                            td { (ext(&a.custodian)) }
                            td class="mono" { (ext(&a.key_fingerprint)) }
                            td { (code(&a.file)) }
                        }
                    }
                    @if approvals.is_empty() {
                        tr { td colspan="3" class="muted" { "none" } }
                    }
                }
            }
        }
    }
}

fn quorum_section(report: &Report) -> Markup {
    let Some((line, d)) = first_approvals(report) else {
        return html! {
            section aria-labelledby="quorum" {
                h2 id="quorum" { "Quorum" }
                p { "The transcript records no approvals." }
            }
        };
    };
    let Some(d) = d else {
        return unfit_section("quorum", "Quorum", "approvals", line);
    };
    let approved: BTreeSet<&str> = d.approvals.iter().map(|a| a.custodian.as_str()).collect();
    let custodians: Vec<String> = match policy_view(report) {
        Some(Ok(p)) => p.custodians.into_iter().map(|c| c.name).collect(),
        _ => Vec::new(),
    };
    let mut did_not: Vec<String> = custodians
        .into_iter()
        .filter(|c| !approved.contains(c.as_str()))
        .collect();
    if did_not.is_empty() {
        did_not = d.missing.clone();
    }
    let check = report.checks.iter().find(|c| c.name == "quorum");
    html! {
        section aria-labelledby="quorum" {
            h2 id="quorum" { "Quorum" }
            p {
                (d.approvals.len()) " approval(s) recorded on " (line_link(line))
                "; the policy requires " (d.threshold) "."
                @if let Some(c) = check { " " (status_sentence(&c.status)) }
            }
            (approvals_table(&d.approvals))
            p {
                strong { "Did not approve: " }
                @for (k, name) in did_not.iter().enumerate() {
                    @if k > 0 { ", " } (ext(name))
                }
                @if did_not.is_empty() { "none" }
            }
            @if !d.rejected.is_empty() {
                div class="scroll" {
                    table {
                        caption { "Rejected approval files" }
                        thead { tr { th scope="col" { "File" } th scope="col" { "Why" } } }
                        tbody {
                            @for r in &d.rejected {
                                tr { td { (code(&r.file)) } td { (ext(&r.reason)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_sentence(s: &Status) -> Markup {
    match s {
        Status::Passed { detail } => {
            html! { span class="passed" { "Check passed: " (ext(detail)) "." } }
        }
        Status::Failed { reason, line } => html! {
            span class="failed" { "Check FAILED: " (ext(reason))
                @if let Some(l) = line { " (" (line_link(*l)) ")" } "." }
        },
        Status::NotChecked { missing } => {
            html! { span class="muted" { "Not checked: needs " (ext(missing)) "." } }
        }
    }
}

fn witnesses_section(report: &Report) -> Markup {
    html! {
        section aria-labelledby="witnesses" {
            h2 id="witnesses" { "Witnesses" }
            div class="scroll" {
                table {
                    caption { "Witness signatures over the seal" }
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "SSH key fingerprint" }
                        th scope="col" { "Signature" }
                        th scope="col" { "Line" }
                    } }
                    tbody {
                        @for w in &report.witnesses {
                            tr class=(if w.verified == Some(false) { "row-failed" } else { "" }) {
                                td { (ext(&w.name)) }
                                td class="mono" { (ext(&w.key_fingerprint)) }
                                @match w.verified {
                                    Some(true) => td class="result passed" { "✓ verified" },
                                    Some(false) => td class="result failed" { "✗ does NOT verify" },
                                    None => td class="result not-checked" { "not checked (no --policy)" },
                                }
                                td { (line_link(w.line)) }
                            }
                        }
                        @if report.witnesses.is_empty() {
                            tr { td colspan="4" class="muted" { "No witness has signed." } }
                        }
                    }
                }
            }
        }
    }
}

/// A raw line as shown: its bytes as text, every control, bidi and other invisible character
/// written as an escape (backslashes and quotes kept as they are, so JSON reads as JSON).
fn raw_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '"' | '\'' => shown.push(c),
            _ => shown.extend(c.escape_debug()),
        }
    }
    shown
}

/// Every line of the transcript, as recorded, collapsed: each row anchored for the links, the
/// failed steps and the lines a check broke on marked.
fn lines_section(report: &Report) -> Markup {
    let broken: Vec<(usize, String)> = report
        .checks
        .iter()
        .filter_map(|c| match &c.status {
            Status::Failed {
                reason,
                line: Some(l),
            } => Some((*l, format!("{} check failed: {reason}", c.name))),
            _ => None,
        })
        .collect();
    html! {
        section aria-labelledby="lines" {
            h2 id="lines" { "Transcript lines" }
            details {
                summary {
                    "The " (report.lines.len()) " line(s) of the transcript, as recorded"
                    @if !broken.is_empty() { " (" (broken.len()) " marked broken)" }
                }
                p { (report.lines.len()) " line(s), in order. Line numbers count from 1, as editors, sed -n Np and grep -n count them (seq counts from 0)." }
                div class="scroll" {
                    table class="lines" {
                        thead { tr {
                            th scope="col" { "Line" }
                            th scope="col" { "Step" }
                            th scope="col" { "The line" }
                        } }
                        tbody {
                            @for (i, l) in report.lines.iter().enumerate() {
                                @let number = super::line_number(i);
                                @let problems: Vec<&String> = broken.iter().filter(|(b, _)| *b == number).map(|(_, r)| r).collect();
                                @let failed_step = is_failure_line(l);
                                @let class = if problems.is_empty() && !failed_step { "" } else { "row-failed" };
                                tr id={ "line-" (number) } class=(class) {
                                    th scope="row" { (number) }
                                    td {
                                        @if let Some(step) = &l.step { (ext(step)) }
                                        @if failed_step { br; span class="failed" { "✗ failed" } }
                                    }
                                    td class="raw" {
                                        @for p in &problems { p class="broken" { "✗ " (ext(p)) } }
                                        @if crate::verify::parse_line(&l.raw).is_none() {
                                            p class="failed" { "This line does not parse as a transcript line." }
                                        }
                                        bdi { (raw_line(&l.raw)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The links to the report's sections.
fn sections_nav(report: &Report) -> Markup {
    html! {
        nav aria-label="Sections" {
            a href="#checks" { "Checks" } " · "
            a href="#summary" { "Summary" } " · "
            a href="#timeline" { "Timeline" } " · "
            a href="#policy" { "Policy" } " · "
            a href="#plan" { "Plan" } " · "
            @if first(report, Step::Restore).is_some() { a href="#restore" { "Restore" } " · " }
            a href="#quorum" { "Quorum" } " · "
            a href="#witnesses" { "Witnesses" } " · "
            a href="#lines" { "Transcript lines" }
        }
    }
}

/// Where a ceremony failed, from its failure line: the step and the error.
fn ceremony_failure(report: &Report, view: &CeremonyView<'_>) -> Option<Markup> {
    let step = view.steps.iter().find_map(|s| match &s.outcome {
        Outcome::Failed { line, error } => Some((s, *line, *error)),
        _ => None,
    });
    if let Some((s, line, error)) = step {
        return Some(html! {
            "The ceremony failed at step " (s.index + 1) " of " (view.total) " (" (ext(s.action()))
            @if let Some(l) = s.key_label() { " " (code(l)) }
            "): " (ext(error)) " (" (line_link(line)) ")."
        });
    }
    report
        .lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| match &l.entry {
            Some(Entry::Failure(f)) => Some(html! {
                "The run failed (" (ext(&f.action)) "): " (ext(&f.error)) " ("
                (line_link(super::line_number(i))) ")."
            }),
            _ => None,
        })
}

/// Renders the report of `transcript` as one self-contained HTML page, verified now.
pub fn render(report: &Report, transcript: &Path) -> String {
    render_at(report, transcript, OffsetDateTime::now_utc())
}

/// Renders the report of `transcript` as one self-contained HTML page, verified at
/// `verified_at`: the page's only value that is not the transcript's or verify's.
pub fn render_at(report: &Report, transcript: &Path, verified_at: OffsetDateTime) -> String {
    let (word, class, meaning) = verdict_words(report.verdict);
    let ceremony = first_plan(report)
        .and_then(|(_, d)| d)
        .map(|d| d.ceremony_id.as_str());
    let ceremony = ceremony.unwrap_or_default();
    let title = if ceremony.is_empty() {
        format!("{word}: keyrite audit report")
    } else {
        format!("{word}: keyrite audit report of {}", visible(ceremony))
    };
    let broken = first_broken(report);
    let view = CeremonyView::read(report);
    let failure = ceremony_failure(report, &view);
    let verified_at = crate::timestamp::format_time(verified_at);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&title))
            body {
                header {
                    h1 { "Audit report"
                        @if !ceremony.is_empty() { ": " (ext(ceremony)) } }
                    p class={ "verdict " (class) } id="verdict" role="status" {
                        (word) " — " (meaning)
                    }
                    p class="summary" { (visible(&report.summary)) }
                    @if let Some((name, reason, line)) = broken {
                        p class="broken" id="first-broken" {
                            @match line {
                                Some(l) => { "The first broken line is " (line_link(l)) ": " }
                                None => { "The first failure: " }
                            }
                            (name) " check: " (ext(reason))
                        }
                    }
                    @if let Some(failure) = failure {
                        p class="broken" id="ceremony-failure" { (failure) }
                    }
                    (sections_nav(report))
                }
                main {
                    (checks_section(report))
                    (summary_section(report, &view, transcript, &verified_at))
                    (timeline_section(report, &view))
                    (policy_section(report))
                    (plan_section(report))
                    (restore_section(report))
                    (quorum_section(report))
                    (witnesses_section(report))
                    (lines_section(report))
                }
            }
        }
    };
    markup.into_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_csp_allows_only_this_stylesheet() {
        let csp = crate::html::csp(STYLE);
        assert!(csp.contains("script-src 'none'"));
        assert!(csp.starts_with("default-src 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn outside_values_are_isolated_and_their_bidi_controls_shown() {
        assert_eq!(
            code("out\u{202e}txt.exe").into_string(),
            "<code><bdi>out\\u{202e}txt.exe</bdi></code>"
        );
        assert_eq!(
            ext("<b>x</b>").into_string(),
            "<bdi>&lt;b&gt;x&lt;/b&gt;</bdi>"
        );
        assert_eq!(
            raw_line(b"{\"a\":\"x\\\"\xe2\x80\xae\"}"),
            "{\"a\":\"x\\\"\\u{202e}\"}"
        );
    }

    #[test]
    fn the_time_of_verification_is_the_one_given_and_the_rest_is_the_transcripts() {
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        let key = p256::SecretKey::from_slice(&[7u8; 32])
            .unwrap()
            .public_key();
        let pem = key.to_public_key_pem(LineEnding::LF).unwrap();
        let signer =
            crate::verify::Signer::from_pem(Path::new("signer.pem"), pem.as_bytes()).unwrap();
        let report = crate::verify::verify_transcript(b"{}\n", &signer, None, None, None);
        // 2026-12-03T18:00:00.25Z: shown to the second.
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_796_320_800_250_000_000).unwrap();
        let page = render_at(&report, Path::new("t.jsonl"), at);
        assert!(page.contains(
            "<time id=\"verified-at\" datetime=\"2026-12-03T18:00:00Z\">2026-12-03T18:00:00Z</time>"
        ));
        assert_eq!(page, render_at(&report, Path::new("t.jsonl"), at));
        assert!(page.contains(&digest(&report.sha256).into_string()));
    }

    #[test]
    fn a_digest_shows_its_pgp_words_and_other_text_none() {
        assert_eq!(
            digest("e58294").into_string(),
            "<code><bdi>e58294</bdi></code><span class=\"words\">topmost Istanbul Pluto</span>"
        );
        assert_eq!(
            digest("not hex").into_string(),
            "<code><bdi>not hex</bdi></code>"
        );
    }
}
