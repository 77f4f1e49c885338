//! What one pass over the transcript keeps for the checks that run once it ends (seal, policy,
//! quorum, PIN shares, witnesses): the first line of each step they look up, the seal lines and
//! the witness lines, as found.
//!
//! It trusts nothing it keeps: every field is the transcript's, checked by whoever reads it.

use serde_json::{Map, Value};

/// The steps whose first line the checks look up.
const FIRSTS: [&str; 6] = ["policy", "token", "plan", "approvals", "login", "finish"];

/// What one pass over the transcript keeps for the checks: the first line of each step they
/// look up, the first seal line and the witness lines — never every line (unless the caller asks,
/// for the HTML report), so memory stays flat however long the transcript is. The steps, KCVs
/// and outputs are checked as the lines go by ([`Stream`](super::stream::Stream)).
pub(super) struct Parsed {
    /// How many lines there are (a last line cut short included).
    pub(super) count: usize,
    /// The first line of each step of [`FIRSTS`] that appears.
    firsts: Vec<(usize, Map<String, Value>)>,
    /// The seal line, once [`check_seal`](super::chain::check_seal) has found it in its place.
    pub(super) seal: Option<usize>,
    /// The first seal line: its index, its fields and its exact bytes.
    pub(super) first_seal: Option<(usize, Map<String, Value>, Vec<u8>)>,
    /// The second seal line, if there is one.
    pub(super) second_seal: Option<usize>,
    /// Whether the line before the first seal line is a finish line.
    pub(super) finish_before_seal: bool,
    /// The first line after the first seal line that is not a witness line.
    pub(super) after_seal: Option<usize>,
    /// Every witness line.
    pub(super) witnesses: Vec<(usize, Map<String, Value>)>,
    /// Every line, when the caller asked to keep them.
    pub(super) lines: Option<Vec<Option<Map<String, Value>>>>,
}

impl Parsed {
    pub(super) fn new(keep_lines: bool) -> Self {
        Parsed {
            count: 0,
            firsts: Vec::new(),
            seal: None,
            first_seal: None,
            second_seal: None,
            finish_before_seal: false,
            after_seal: None,
            witnesses: Vec::new(),
            lines: keep_lines.then(Vec::new),
        }
    }

    pub(super) fn first(&self, step: &str) -> Option<(usize, &Map<String, Value>)> {
        self.firsts
            .iter()
            .find(|(_, l)| l.get("step").and_then(Value::as_str) == Some(step))
            .map(|(i, l)| (*i, l))
    }

    pub(super) fn data(&self, step: &str) -> Option<&Value> {
        self.first(step).and_then(|(_, l)| l.get("data"))
    }

    /// Whether a line of `step` must be kept: the first of a step the checks look up, the first
    /// seal line, or a witness line.
    pub(super) fn wants(&self, step: &str) -> bool {
        match step {
            "seal" => self.first_seal.is_none(),
            "witness" => true,
            _ => FIRSTS.contains(&step) && self.first(step).is_none(),
        }
    }

    /// Takes note of line `i`: its exact bytes, its step if it has one, and its fields if
    /// [`Parsed::wants`] it; `after_finish` if the line before is a finish line.
    pub(super) fn observe(
        &mut self,
        i: usize,
        raw: &[u8],
        step: Option<&str>,
        map: Option<&Map<String, Value>>,
        after_finish: bool,
    ) {
        if self.first_seal.is_some() && step != Some("witness") && self.after_seal.is_none() {
            self.after_seal = Some(i);
        }
        if self.first_seal.is_some() && step == Some("seal") && self.second_seal.is_none() {
            self.second_seal = Some(i);
        }
        let (Some(step), Some(map)) = (step, map) else {
            return;
        };
        match step {
            "seal" if self.first_seal.is_none() => {
                self.finish_before_seal = after_finish;
                self.first_seal = Some((i, map.clone(), raw.to_vec()));
            }
            "seal" => {}
            "witness" => self.witnesses.push((i, map.clone())),
            _ if FIRSTS.contains(&step) && self.first(step).is_none() => {
                self.firsts.push((i, map.clone()));
            }
            _ => {}
        }
    }
}
