//! The structure check: only the step names keyrite records, each line's data fitting its step
//! ([`Entry`]; a generated or resumed key with its `kcv` and `check_sha256` fields, `null` or
//! not); one finish line, consistent with the failure lines, followed by nothing but the seal;
//! resumed keys only under a resume line that names the interrupted record; each restore line
//! answered by its restored line.
//!
//! It trusts nothing: every line it reads is the transcript's.

use serde_json::Value;

use super::head::{DataView, Scalar};
use super::parsed::Placement;
use super::{Check, failed, line_number, passed};
use crate::transcript::{Entry, Step};

/// The step names keyrite records ([`Step::ALL`]); a line under any other name is refused.
pub const KNOWN_STEPS: [&str; Step::ALL.len()] = crate::transcript::entry::STEP_NAMES;

/// A line of `step` read as its [`Entry`] ([`Entry::from_line_of`]) from its exact bytes `raw`
/// (read as `data` by the one-pass reader); else, for a step that has an entry, why its data
/// does not fit: serde's words, which name the field, without its position in the line.
pub(super) fn read_entry(
    step: &str,
    raw: &[u8],
    data: &DataView<'_>,
) -> (Option<Entry>, Option<String>) {
    let step_of = match Step::from_name(step) {
        None | Some(Step::Seal) => return (None, None),
        Some(step_of) => step_of,
    };
    let why = match Entry::from_line_of(step_of, raw) {
        Ok(entry) => match absent_check_value(&entry, data) {
            None => return (Some(entry), None),
            Some(field) => format!("missing field `{field}`"),
        },
        Err(e) => crate::transcript::entry::misfit(&e),
    };
    let misfit = format!("the {step} line's data does not fit a {step} line: {why}");
    (None, Some(misfit))
}

/// The check value a generated or resumed key lacks, if it lacks one: its entry reads an absent
/// `kcv` or `check_sha256` as `null` (for resume's own words), but keyrite always writes both,
/// so an absent one does not fit.
fn absent_check_value(entry: &Entry, data: &DataView<'_>) -> Option<&'static str> {
    if !matches!(entry, Entry::Generated(_) | Entry::Resumed(_)) {
        return None;
    }
    if data.kcv_in_key == Scalar::Absent {
        Some("kcv")
    } else if data.check_sha256_in_key == Scalar::Absent {
        Some("check_sha256")
    } else {
        None
    }
}

/// Whether a resume line names the interrupted record by its SHA-256 (64 hex digits).
fn names_a_record(data: &Placement) -> bool {
    data.sha256
        .as_str()
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The structure check, fed line by line: only known step names; at most one finish line, and
/// nothing but the seal after it; a failure line if and only if the finish says `failed`;
/// `resumed` lines only after a `resume` line that names the interrupted record by its SHA-256,
/// and only for a generated key (a resume re-does every wrap); a `restored` line only after the
/// `restore` line of the same key, one for one, and a completed finish only once every restore
/// line has its restored line. Where a line stands is judged before whether its data fits its
/// step, so it reads what it needs of the data ([`Placement`]) as the line holds it.
pub(super) struct Structure {
    /// The first problem found, and its line.
    broken: Option<(String, usize)>,
    /// The first line whose data does not fit its step, and why: reported when no other
    /// problem is.
    misfit: Option<(String, usize)>,
    /// The finish line: its index and outcome.
    finish: Option<(usize, Value)>,
    /// The first failure line.
    failure: Option<usize>,
    /// The first resume line that names a record.
    resume: Option<usize>,
    /// The line before, if it is a finish line.
    after_finish: Option<usize>,
    /// The restore line no restored line has answered yet, and the key label it restores.
    restoring: Option<(usize, Value)>,
}

impl Structure {
    pub(super) fn new() -> Self {
        Structure {
            broken: None,
            misfit: None,
            finish: None,
            failure: None,
            resume: None,
            after_finish: None,
            restoring: None,
        }
    }

    /// Feeds a `step` line with what it holds of its data (`data`, read for the steps
    /// [`Placement::STEPS`]), and why the data does not fit the step ([`read_entry`]), if it
    /// does not.
    pub(super) fn feed(
        &mut self,
        line: usize,
        step: &str,
        data: &Placement,
        misfit: Option<String>,
    ) {
        if self.broken.is_none() {
            self.broken = self.problem(step, data).map(|why| (why, line));
        }
        if self.misfit.is_none() {
            self.misfit = misfit.map(|why| (why, line));
        }
        if step == "finish" && self.finish.is_none() {
            let outcome = data.outcome.clone();
            self.finish = Some((line, outcome));
        }
        self.after_finish = (step == "finish").then_some(line);
        match step {
            "failure" => {
                self.failure.get_or_insert(line);
            }
            "resume" if names_a_record(data) => {
                self.resume.get_or_insert(line);
            }
            "restore" => {
                let label = data.key_label.clone();
                self.restoring = Some((line, label));
            }
            "restored" => self.restoring = None,
            _ => {}
        }
    }

    /// What is wrong with a `step` line with `data` where it stands, if anything (before
    /// whether its data fits its step).
    fn problem(&self, step: &str, data: &Placement) -> Option<String> {
        if Step::from_name(step).is_none() {
            return Some(format!(
                "unknown step {:?}: keyrite records no such step",
                step.chars().take(40).collect::<String>()
            ));
        }
        if let (Some((first, _)), "finish") = (&self.finish, step) {
            return Some(format!(
                "a second finish line (the first is line {})",
                line_number(*first)
            ));
        }
        if let (Some(finish), false) = (self.after_finish, step == "seal") {
            return Some(format!(
                "a {step:?} line after the finish line (line {}): only the seal may follow it",
                line_number(finish)
            ));
        }
        match step {
            "resumed" if self.resume.is_none() => Some(
                "a resumed line without a resume line before it naming the interrupted record (data.sha256)"
                    .to_owned(),
            ),
            "resumed" if data.action != "generate" => Some(format!(
                "a resumed line with data.action {}: a resume carries over only generated keys and re-does every wrap",
                data.action
            )),
            "restore" => self.restoring.as_ref().map(|(first, _)| {
                format!(
                    "a second restore line before the restored line of the first (line {})",
                    line_number(*first)
                )
            }),
            "restored" => match &self.restoring {
                None => Some("a restored line without a restore line before it".to_owned()),
                Some((first, label)) if data.key.label != *label || !label.is_string() => {
                    Some(format!(
                        "a restored line for key {}, but the restore line (line {}) restores {label}",
                        data.key.label,
                        line_number(*first)
                    ))
                }
                Some(_) => None,
            },
            _ => None,
        }
    }

    pub(super) fn check(self) -> Check {
        let name = "structure";
        if let Some((why, line)) = self.broken {
            return failed(name, why, Some(line));
        }
        match (&self.finish, self.failure) {
            (Some((line, outcome)), _) if outcome != "completed" && outcome != "failed" => failed(
                name,
                format!(
                    "the finish line's data.outcome is {outcome}, not \"completed\" or \"failed\""
                ),
                Some(*line),
            ),
            (Some((line, outcome)), Some(failure)) if outcome == "completed" => failed(
                name,
                format!(
                    "a failure line (line {}), but the finish line says \"completed\"",
                    line_number(failure)
                ),
                Some(*line),
            ),
            (Some((line, outcome)), None) if outcome == "failed" => failed(
                name,
                "the finish line says \"failed\", but no failure line records why",
                Some(*line),
            ),
            (Some((line, outcome)), _) if outcome == "completed" && self.restoring.is_some() => {
                failed(
                    name,
                    format!(
                        "the finish line says \"completed\", but the restore line (line {}) has no restored line",
                        self.restoring.as_ref().map_or(0, |(l, _)| line_number(*l))
                    ),
                    Some(*line),
                )
            }
            _ => match self.misfit {
                Some((why, line)) => failed(name, why, Some(line)),
                None => passed(
                    name,
                    "known steps only; one finish line, consistent with the failure lines, before the seal; resumed keys under a resume line; each restore answered by its restored line",
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::verify::head::Head;

    fn read(line: &str) -> (Option<Entry>, Option<String>) {
        let head = Head::parse(line.as_bytes()).unwrap();
        read_entry(head.step().unwrap(), line.as_bytes(), &head.data)
    }

    #[test]
    fn a_key_without_a_check_value_field_does_not_fit_but_a_null_one_does() {
        let generated = |kcv: &str, full: &str| {
            format!(
                r#"{{"data":{{"index":0,"key":{{"label":"k","id":"01","spec":"AES_256",{kcv}"kcv_method":"m",{full}"template":{{}}}}}},"step":"generated"}}"#
            )
        };
        let (entry, misfit) = read(&generated(r#""kcv":null,"#, r#""check_sha256":null,"#));
        assert!(matches!(entry, Some(Entry::Generated(_))), "{misfit:?}");
        assert_eq!(misfit, None);
        for (kcv, full, field) in [
            ("", r#""check_sha256":null,"#, "kcv"),
            (r#""kcv":"abcdef","#, "", "check_sha256"),
        ] {
            let (entry, misfit) = read(&generated(kcv, full));
            assert!(entry.is_none());
            assert_eq!(
                misfit.unwrap(),
                format!(
                    "the generated line's data does not fit a generated line: missing field `{field}`"
                )
            );
        }
    }

    #[test]
    fn a_witness_line_refuses_a_field_it_does_not_name() {
        let witness = r#"{"data":{"name":"w","key_fingerprint":"f","message":"m","signature":"s"},"step":"witness"}"#;
        assert!(matches!(read(witness), (Some(Entry::Witness(_)), None)));
        let extra = witness.replace(r#""name":"w","#, r#""name":"w","note":[[0]],"#);
        let (entry, misfit) = read(&extra);
        assert!(entry.is_none());
        assert_eq!(
            misfit.unwrap(),
            "the witness line's data does not fit a witness line: unknown field `note`, expected one of `name`, `key_fingerprint`, `message`, `signature`"
        );
    }
}
