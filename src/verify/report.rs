//! The audit report: what `keyrite verify` found, rendered as one self-contained HTML page for
//! auditors who read evidence in a browser.
//!
//! Everything from the transcript is untrusted input: every value goes through `maud`, which
//! escapes it, and the page carries a Content-Security-Policy that forbids scripts and every
//! remote load (its one stylesheet is inline, allowed by its SHA-256). The page needs no network:
//! no fonts, scripts or images. It is written like every keyrite output: created new beside its
//! final place, fsynced, then moved into place without ever replacing a file.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::transcript::entry::{
    Approval, ApprovalsData, PlanData, PolicyData, Provenance, RestoreData, RestoredData,
};
use crate::transcript::{Entry, Step};
use crate::verify::{Line, Report, Status, Verdict, parse_line};

/// Writes `html` to `path`, created new (see [`crate::output::write_new_file`]).
pub fn write(path: &Path, html: &str) -> Result<(), crate::output::Error> {
    crate::output::write_new_file(path, html.as_bytes())
}

/// The stylesheet: inline (the page loads nothing), allowed by its hash in the CSP.
const STYLE: &str = r#"
:root { color-scheme: light; --ok: #0b6b2e; --ok-bg: #e3f3e8; --warn: #7a4500; --warn-bg: #fff1d6;
  --bad: #a4111c; --bad-bg: #fde6e8; --muted: #4a4f57; --line: #c9ced6; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; font: 16px/1.5 system-ui, -apple-system,
  "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif; color: #16181d; background: #fff; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; padding-bottom: .2rem; border-bottom: 2px solid var(--line); }
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
.mono { overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f4f5f7; padding: .75rem;
  border: 1px solid var(--line); border-radius: .3rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid var(--line); }
th { background: #eef0f3; }
dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.result { font-weight: 700; white-space: nowrap; }
.passed { color: var(--ok); }
.failed { color: var(--bad); }
.not-checked { color: var(--muted); }
tr.row-failed td { background: var(--bad-bg); }
tr.row-failed td:first-child { border-left: 4px solid var(--bad); }
a { color: #0645ad; }
summary { cursor: pointer; font-weight: 600; margin: .75rem 0 .25rem; }
@media (max-width: 40rem) {
  body { padding: .5rem; font-size: 15px; }
  dl { grid-template-columns: 1fr; }
  dt { margin-top: .25rem; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; color: #000; }
  .verdict { border-width: 3px; }
  h2 { break-after: avoid; }
  tr, .verdict, pre { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .scroll { overflow: visible; }
  th { background: none; }
}
"#;

/// The Content-Security-Policy: nothing may load or run, except the inline stylesheet.
fn csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; script-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; \
         font-src 'none'; connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
    )
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

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
            source: format!("{} (given with --policy)", p.path.display()),
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
            d.file
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

/// A link to the timeline's row of the line numbered `line` (from 1).
fn line_link(line: usize) -> Markup {
    html! { a href={ "#line-" (line) } { "line " (line) } }
}

/// Flattens a line's data into (path, value) pairs; long signatures and the plan text (shown
/// in the plan section) are abbreviated.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            out.push((
                prefix.to_owned(),
                a.iter().map(text).collect::<Vec<_>>().join(", "),
            ));
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::Null => {}
        other => {
            let mut s = text(other);
            let last = prefix.rsplit('.').next().unwrap_or_default();
            if matches!(last, "text" | "digest_statement") {
                s = format!("({} characters, shown under Plan)", s.chars().count());
            } else if last == "signature" && s.chars().count() > 48 {
                s = format!(
                    "{}… ({} characters)",
                    s.chars().take(40).collect::<String>(),
                    s.chars().count()
                );
            }
            out.push((prefix.to_owned(), s));
        }
    }
}

/// What a line's data cell shows: its data, and for the seal its signer and signature.
fn line_pairs(l: &Map<String, Value>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    flatten("", l.get("data").unwrap_or(&Value::Null), &mut pairs);
    if l.get("step").and_then(Value::as_str) == Some("seal") {
        for name in ["signer", "signature"] {
            flatten(name, l.get(name).unwrap_or(&Value::Null), &mut pairs);
        }
    }
    pairs
}

fn is_failure_line(l: &Line) -> bool {
    let completed = matches!(&l.entry, Some(Entry::Finish(f)) if f.outcome == "completed");
    match l.step.as_deref() {
        Some("failure") => true,
        Some("finish") => !completed,
        _ => false,
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta http-equiv="Content-Security-Policy" content=(csp());
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) }
            style { (PreEscaped(STYLE)) }
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
                dt { "Source" } dd { (p.source) }
                dt { "Threshold" } dd { (p.threshold) " of " (p.custodians.len()) " custodians must approve" }
                dt { "Signer fingerprint" } dd class="mono" { (p.signer_fingerprint) }
                dt { "--signer fingerprint" } dd class="mono" { (report.signer_fingerprint) }
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
                        tr { td { (p.name) } td class="mono" { (p.fingerprint) } }
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
                dt { "Ceremony" } dd { (d.ceremony_id) }
                dt { "Operator" } dd { (d.operator) }
                dt { "File" } dd { (d.file) " (recorded on " (line_link(line)) ")" }
                dt { "SHA-256" } dd class="mono" { (d.sha256) }
                dt { "Steps" } dd {
                    ol start="0" {
                        @for s in &d.steps { li { (s) } }
                    }
                }
            }
            @if !d.files.is_empty() {
                div class="scroll" {
                    table {
                        caption { "Files the plan names" }
                        thead { tr { th scope="col" { "File" } th scope="col" { "SHA-256" } } }
                        tbody {
                            @for f in &d.files {
                                tr { td { (f.name) } td class="mono" { (f.sha256) } }
                            }
                        }
                    }
                }
            }
            details {
                summary { "The plan text, as recorded (" (d.text.lines().count()) " lines)" }
                pre { (d.text) }
            }
        }
    }
}

/// What proved where a backup came from, in words.
fn provenance(p: &Provenance) -> Markup {
    match p {
        Provenance::Transcript(t) => html! {
            "the sealed transcript " span class="mono" { (t.transcript) }
            " (SHA-256 " span class="mono" { (t.sha256) }
            ", chain head " span class="mono" { (t.chain_head) }
            ", signer " span class="mono" { (t.signer_fingerprint) }
            "), whose token line records token " (t.token_label)
            ", serial " span class="mono" { (t.token_serial) }
        },
        Provenance::ExpectedKcv { value } => html! {
            "the check value " span class="mono" { (value) }
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
                dt { "Backup" } dd { (d.backup) " (recorded on " (line_link(line)) ")" }
                dt { "Key" } dd { (d.key_label) }
                dt { "Manifest SHA-256" } dd class="mono" { (d.manifest_sha256) }
                dt { "Source token" } dd { (d.source.label) ", serial " span class="mono" { (d.source.serial) } }
                dt { "Proven by" } dd { (provenance(&d.provenance)) }
                @match first_restored(report) {
                    Some((rline, Some(done))) => {
                        dt { "Restored" } dd {
                            (done.key.label) " (" (done.key.spec) ", id "
                            span class="mono" { (done.key.id) } ") on " (line_link(rline))
                        }
                        dt { "Check values matched" } dd class="mono" {
                            @for (method, value) in &done.matched {
                                (value) " (" (method) ") "
                            }
                            @if let Some(expected) = &done.expected { (expected) " (--expect-kcv)" }
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
                            td { (a.custodian) }
                            td class="mono" { (a.key_fingerprint) }
                            td { (a.file) }
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
                @if did_not.is_empty() { "none" } @else { (did_not.join(", ")) }
            }
            @if !d.rejected.is_empty() {
                div class="scroll" {
                    table {
                        caption { "Rejected approval files" }
                        thead { tr { th scope="col" { "File" } th scope="col" { "Why" } } }
                        tbody {
                            @for r in &d.rejected {
                                tr { td { (r.file) } td { (r.reason) } }
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
            html! { span class="passed" { "Check passed: " (detail) "." } }
        }
        Status::Failed { reason, line } => html! {
            span class="failed" { "Check FAILED: " (reason)
                @if let Some(l) = line { " (" (line_link(*l)) ")" } "." }
        },
        Status::NotChecked { missing } => {
            html! { span class="muted" { "Not checked: needs " (missing) "." } }
        }
    }
}

fn timeline_section(report: &Report) -> Markup {
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
        section aria-labelledby="timeline" {
            h2 id="timeline" { "Timeline" }
            p { (report.lines.len()) " line(s), in order. Line numbers count from 1, as editors, sed -n Np and grep -n count them (seq counts from 0)." }
            div class="scroll" {
                table {
                    caption { "Every line of the transcript" }
                    thead { tr {
                        th scope="col" { "Line" }
                        th scope="col" { "Time" }
                        th scope="col" { "Step" }
                        th scope="col" { "Actor" }
                        th scope="col" { "Data" }
                    } }
                    tbody {
                        @for (i, l) in report.lines.iter().enumerate() {
                            @let number = super::line_number(i);
                            @let problems: Vec<&String> = broken.iter().filter(|(b, _)| *b == number).map(|(_, r)| r).collect();
                            @let failed_step = is_failure_line(l);
                            @let class = if problems.is_empty() && !failed_step { "" } else { "row-failed" };
                            tr id={ "line-" (number) } class=(class) {
                                th scope="row" { (number) }
                                @if let Some(l) = parse_line(&l.raw) {
                                    td class="mono" { (text(l.get("time").unwrap_or(&Value::Null))) }
                                    td {
                                        (text(l.get("step").unwrap_or(&Value::Null)))
                                        @if failed_step { br; span class="failed" { "✗ failed" } }
                                    }
                                    td { (text(l.get("actor").unwrap_or(&Value::Null))) }
                                    td {
                                        @for p in &problems { p class="broken" { "✗ " (p) } }
                                        @let pairs = line_pairs(&l);
                                        @if !pairs.is_empty() {
                                            dl {
                                                @for (k, v) in &pairs { dt { (k) } dd class="mono" { (v) } }
                                            }
                                        }
                                    }
                                } @else {
                                    td colspan="4" {
                                        @for p in &problems { p class="broken" { "✗ " (p) } }
                                        span class="failed" { "This line is not shown: it does not parse as a transcript line." }
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

fn checks_section(report: &Report) -> Markup {
    html! {
        section aria-labelledby="checks" {
            h2 id="checks" { "Checks" }
            div class="scroll" {
                table {
                    caption { "Every check verify ran, in order" }
                    thead { tr {
                        th scope="col" { "Check" }
                        th scope="col" { "Result" }
                        th scope="col" { "Detail or reason" }
                        th scope="col" { "Line" }
                    } }
                    tbody {
                        @for c in &report.checks {
                            @match &c.status {
                                Status::Passed { detail } => tr {
                                    th scope="row" { (c.name) }
                                    td class="result passed" { "✓ passed" }
                                    td { (detail) } td {}
                                },
                                Status::Failed { reason, line } => tr class="row-failed" {
                                    th scope="row" { (c.name) }
                                    td class="result failed" { "✗ FAILED" }
                                    td { (reason) }
                                    td { @if let Some(l) = line { (line_link(*l)) } }
                                },
                                Status::NotChecked { missing } => tr {
                                    th scope="row" { (c.name) }
                                    td class="result not-checked" { "– not checked" }
                                    td { "needs " (missing) } td {}
                                },
                            }
                        }
                    }
                }
            }
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
                                td { (w.name) }
                                td class="mono" { (w.key_fingerprint) }
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

/// The links to the report's sections.
fn sections_nav(report: &Report) -> Markup {
    html! {
        nav aria-label="Sections" {
            a href="#policy" { "Policy" } " · "
            a href="#plan" { "Plan" } " · "
            @if first(report, Step::Restore).is_some() { a href="#restore" { "Restore" } " · " }
            a href="#quorum" { "Quorum" } " · "
            a href="#timeline" { "Timeline" } " · "
            a href="#checks" { "Checks" } " · "
            a href="#witnesses" { "Witnesses" }
        }
    }
}

/// Renders the report of `transcript` as one self-contained HTML page.
pub fn render(report: &Report, transcript: &Path) -> String {
    let (word, class, meaning) = verdict_words(report.verdict);
    let ceremony = first_plan(report)
        .and_then(|(_, d)| d)
        .map(|d| d.ceremony_id.as_str());
    let ceremony = ceremony.unwrap_or_default();
    let title = if ceremony.is_empty() {
        format!("{word}: keyrite audit report")
    } else {
        format!("{word}: keyrite audit report of {ceremony}")
    };
    let broken = first_broken(report);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&title))
            body {
                header {
                    h1 { "Audit report"
                        @if !ceremony.is_empty() { ": " (ceremony) } }
                    p class={ "verdict " (class) } id="verdict" role="status" {
                        (word) " — " (meaning)
                    }
                    p class="summary" { (report.summary) }
                    @if let Some((name, reason, line)) = broken {
                        p class="broken" id="first-broken" {
                            @match line {
                                Some(l) => { "The first broken line is " (line_link(l)) ": " }
                                None => { "The first failure: " }
                            }
                            (name) " check: " (reason)
                        }
                    }
                    p class="muted" {
                        "Transcript " span class="mono" { (transcript.display()) }
                        ", " (report.lines.len()) " line(s). Made by keyrite "
                        (env!("CARGO_PKG_VERSION")) " verify."
                    }
                    (sections_nav(report))
                }
                main {
                    (policy_section(report))
                    (plan_section(report))
                    (restore_section(report))
                    (quorum_section(report))
                    (timeline_section(report))
                    (checks_section(report))
                    (witnesses_section(report))
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
        let csp = csp();
        assert!(csp.contains("script-src 'none'"));
        assert!(csp.starts_with("default-src 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
