//! What one pass over the transcript keeps for the checks that run once it ends (seal, policy,
//! quorum, PIN shares, witnesses): the first line of each step they look up, the seal lines and
//! the witness lines, as found, each read once as a typed [`Line`].
//!
//! It trusts nothing it keeps: every field is the transcript's, checked by whoever reads it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::head::Head;
use crate::transcript::entry::{
    ApprovalsData, FinishData, LoginData, PlanData, PolicyData, WitnessData,
};
use crate::transcript::{Entry, Step};

/// The steps whose first line the checks look up.
const FIRSTS: [Step; 6] = [
    Step::Policy,
    Step::Token,
    Step::Plan,
    Step::Approvals,
    Step::Login,
    Step::Finish,
];

/// A transcript line as verify reads it: the header fields the checks read (each `None` where
/// it is not a string), its [`Entry`] where its data fits its step (never for the seal), and its
/// exact bytes, which the chain and seal checks read.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// Its `time`.
    pub time: Option<String>,
    /// Its `step`.
    pub step: Option<String>,
    /// Its `actor`.
    pub actor: Option<String>,
    /// Its step and data, where the data fits the step.
    pub entry: Option<Entry>,
    /// Its exact bytes, without the newline.
    pub raw: Vec<u8>,
}

impl Line {
    /// The line of the exact bytes `raw`, read as `head`, with its `entry`.
    pub(super) fn new(raw: &[u8], head: Option<&Head<'_>>, entry: Option<&Entry>) -> Self {
        let text = |s: Option<&str>| s.map(str::to_owned);
        Line {
            time: text(head.and_then(|h| h.time.as_str())),
            step: text(head.and_then(Head::step)),
            actor: text(head.and_then(|h| h.actor.as_str())),
            entry: entry.cloned(),
            raw: raw.to_vec(),
        }
    }
}

/// A string field, or `None` where the line holds anything else (or nothing).
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(serde_json::Value::deserialize(d)?
        .as_str()
        .map(str::to_owned))
}

/// A value read as `T`, or `T`'s default where it is not one (a field of another type, or an
/// object that is not `T`'s).
fn loose<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(T::deserialize(Value::deserialize(d)?).unwrap_or_default())
}

/// A line's `data`, read as `T` where the line holds an object (and `T`'s default otherwise).
#[derive(Deserialize)]
struct DataOf<T: DeserializeOwned + Default> {
    #[serde(default, deserialize_with = "loose")]
    data: T,
}

/// What `T` reads of the data of the line `raw`: its default where `raw` is not a JSON object,
/// or its data not an object.
pub(super) fn data_of<T: DeserializeOwned + Default>(raw: &[u8]) -> T {
    serde_json::from_slice::<DataOf<T>>(raw).map_or_else(|_| T::default(), |d| d.data)
}

/// A key's label as a line holds it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct KeyLabelOf {
    /// `label`, or `null`.
    pub(super) label: Value,
}

/// What the structure check reads of a line's data to judge where the line stands, before (and
/// whether or not) the data fits its step: each field as the line holds it, `null` where it is
/// absent, as the independent verifiers read it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct Placement {
    /// A resumed line's `action`.
    pub(super) action: Value,
    /// A resume line's `sha256`.
    pub(super) sha256: Value,
    /// A finish line's `outcome`.
    pub(super) outcome: Value,
    /// A restore line's `key_label`.
    pub(super) key_label: Value,
    /// A restored line's `key.label`.
    #[serde(deserialize_with = "loose")]
    pub(super) key: KeyLabelOf,
}

impl Placement {
    /// The steps whose lines the structure check reads this of.
    pub(super) const STEPS: [&str; 5] = ["finish", "resume", "resumed", "restore", "restored"];
}

/// What the policy check reads of the token line against what the policy pins, whether or not
/// its data fits a token line: each field as the line holds it, `null` where it is absent, as
/// the independent verifiers read it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(super) struct TokenPins {
    /// The signer key's fingerprint.
    pub(super) signer_fingerprint: Value,
    /// The token's serial.
    pub(super) serial: Value,
    /// The module's SHA-256.
    pub(super) module_sha256: Value,
    /// The module's path.
    pub(super) module: Value,
}

/// What the seal check reads of a seal line, each `None` where it is not a string.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct SealHead {
    /// The chain head it signs.
    #[serde(default, deserialize_with = "string")]
    pub(super) prev: Option<String>,
    /// The signer's fingerprint.
    #[serde(default, deserialize_with = "string")]
    pub(super) signer: Option<String>,
    /// The signature, base64 DER.
    #[serde(default, deserialize_with = "string")]
    pub(super) signature: Option<String>,
}

impl SealHead {
    /// The seal fields of the line `raw` (empty where it is not a JSON object).
    pub(super) fn parse(raw: &[u8]) -> Self {
        serde_json::from_slice(raw).unwrap_or_default()
    }
}

/// The first seal line: its index, what the seal check reads of it and its exact bytes.
pub(super) struct FirstSeal {
    pub(super) line: usize,
    pub(super) head: SealHead,
    pub(super) raw: Vec<u8>,
}

/// What one pass over the transcript keeps for the checks: the first line of each step they
/// look up, the first seal line and the witness lines — never every line (unless the caller asks,
/// for the HTML report), so memory stays flat however long the transcript is. The steps, KCVs
/// and outputs are checked as the lines go by ([`Stream`](super::stream::Stream)).
pub(super) struct Parsed {
    /// How many lines there are (a last line cut short included).
    pub(super) count: usize,
    /// The first line of each step of [`FIRSTS`] that appears, and its entry if it fits.
    firsts: Vec<(usize, Step, Option<Entry>)>,
    /// What the first token line records of what a policy pins.
    pub(super) token_pins: Option<TokenPins>,
    /// The seal line, once [`check_seal`](super::chain::check_seal) has found it in its place.
    pub(super) seal: Option<usize>,
    /// The first seal line.
    pub(super) first_seal: Option<FirstSeal>,
    /// The second seal line, if there is one.
    pub(super) second_seal: Option<usize>,
    /// Whether the line before the first seal line is a finish line.
    pub(super) finish_before_seal: bool,
    /// The first line after the first seal line that is not a witness line.
    pub(super) after_seal: Option<usize>,
    /// Every witness line: its index, its actor and its data, if it fits a witness line.
    pub(super) witnesses: Vec<(usize, Option<String>, Option<WitnessData>)>,
    /// Every line, when the caller asked to keep them.
    pub(super) lines: Option<Vec<Line>>,
}

/// The first line of a step: its index, and its data where it fits the step.
type First<'a, T> = Option<(usize, Option<&'a T>)>;

impl Parsed {
    pub(super) fn new(keep_lines: bool) -> Self {
        Parsed {
            count: 0,
            firsts: Vec::new(),
            token_pins: None,
            seal: None,
            first_seal: None,
            second_seal: None,
            finish_before_seal: false,
            after_seal: None,
            witnesses: Vec::new(),
            lines: keep_lines.then(Vec::new),
        }
    }

    fn first(&self, step: Step) -> Option<(usize, Option<&Entry>)> {
        self.firsts
            .iter()
            .find(|(_, s, _)| *s == step)
            .map(|(i, _, e)| (*i, e.as_ref()))
    }

    /// The first policy line.
    pub(super) fn policy(&self) -> First<'_, PolicyData> {
        self.first(Step::Policy).map(|(i, e)| match e {
            Some(Entry::Policy(d)) => (i, Some(d)),
            _ => (i, None),
        })
    }

    /// The first plan line.
    pub(super) fn plan(&self) -> First<'_, PlanData> {
        self.first(Step::Plan).map(|(i, e)| match e {
            Some(Entry::Plan(d)) => (i, Some(d)),
            _ => (i, None),
        })
    }

    /// The first approvals line.
    pub(super) fn approvals(&self) -> First<'_, ApprovalsData> {
        self.first(Step::Approvals).map(|(i, e)| match e {
            Some(Entry::Approvals(d)) => (i, Some(d)),
            _ => (i, None),
        })
    }

    /// The first login line.
    pub(super) fn login(&self) -> First<'_, LoginData> {
        self.first(Step::Login).map(|(i, e)| match e {
            Some(Entry::Login(d)) => (i, Some(d)),
            _ => (i, None),
        })
    }

    /// The outcome the first finish line records, if its data fits a finish line.
    pub(super) fn outcome(&self) -> Option<&str> {
        match self.first(Step::Finish) {
            Some((_, Some(Entry::Finish(FinishData { outcome, .. })))) => Some(outcome),
            _ => None,
        }
    }

    /// Takes note of line `i`: its exact bytes, its step (read as `head`) if it has one, and its
    /// `entry` if its data fits its step; `after_finish` if the line before is a finish line.
    pub(super) fn observe(
        &mut self,
        i: usize,
        raw: &[u8],
        head: Option<&Head<'_>>,
        entry: Option<&Entry>,
        after_finish: bool,
    ) {
        let step = head.and_then(Head::step);
        if self.first_seal.is_some() && step != Some("witness") && self.after_seal.is_none() {
            self.after_seal = Some(i);
        }
        if self.first_seal.is_some() && step == Some("seal") && self.second_seal.is_none() {
            self.second_seal = Some(i);
        }
        match step.and_then(Step::from_name) {
            Some(Step::Seal) if self.first_seal.is_none() => {
                self.finish_before_seal = after_finish;
                self.first_seal = Some(FirstSeal {
                    line: i,
                    head: SealHead::parse(raw),
                    raw: raw.to_vec(),
                });
            }
            Some(Step::Witness) => {
                let actor = head.and_then(|h| h.actor.as_str()).map(str::to_owned);
                let data = match entry {
                    Some(Entry::Witness(d)) => Some(d.clone()),
                    _ => None,
                };
                self.witnesses.push((i, actor, data));
            }
            Some(step) if FIRSTS.contains(&step) && self.first(step).is_none() => {
                if step == Step::Token {
                    self.token_pins = Some(data_of(raw));
                }
                self.firsts.push((i, step, entry.cloned()));
            }
            _ => {}
        }
        if let Some(lines) = &mut self.lines {
            lines.push(Line::new(raw, head, entry));
        }
    }
}
