//! `keyrite verify`: replays a transcript without an HSM and without a network, and says, check
//! by check, whether everything happened as planned, by whom, with which keys, and that nothing
//! was altered.
//!
//! It trusts only what the auditor supplies: the signer's public key (never taken from the
//! transcript), and optionally the policy, the plan and the output files. Everything in the
//! transcript is untrusted input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use ssh_key::{HashAlg, SshSig};

use crate::ceremony::plan::{Plan, Step};
use crate::ceremony::policy::Policy;
use crate::ceremony::quorum::{PLAN_NAMESPACE, check_signature};
use crate::transcript::{WITNESS_NAMESPACE, witness_message};

mod head;

use head::{DataView, Head};

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// It passed.
    Passed {
        /// What was found, in a few words.
        detail: String,
    },
    /// It failed.
    Failed {
        /// Why.
        reason: String,
        /// The 0-based line it concerns, if one.
        line: Option<usize>,
    },
    /// It could not run.
    NotChecked {
        /// The input it needs.
        missing: String,
    },
}

/// One named check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Its name.
    pub name: &'static str,
    /// What it found.
    #[serde(flatten)]
    pub status: Status,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sealed, completed, and every check that ran passed.
    Verified,
    /// An intact record of a ceremony that failed, or that did not finish (no seal).
    Incomplete,
    /// Something was altered or does not verify.
    Invalid,
    /// Sealed, completed, and every check that ran passed, but verified without a policy
    /// (`--no-policy`): nothing says a quorum approved it.
    NotApproved,
}

impl Verdict {
    /// The documented exit code: 0, 3, 1 or 4.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Verified => 0,
            Verdict::Incomplete => 3,
            Verdict::Invalid => 1,
            Verdict::NotApproved => 4,
        }
    }
}

/// A witness line, as found.
#[derive(Debug, Clone, Serialize)]
pub struct Witness {
    /// The name recorded.
    pub name: String,
    /// The key fingerprint recorded.
    pub key_fingerprint: String,
    /// Whether its signature verified under a witness key of the policy (`None`: no policy, and
    /// the signature verifies under the key it carries).
    pub verified: Option<bool>,
    /// The line.
    pub line: usize,
}

/// Everything `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// Its exit code.
    pub exit_code: u8,
    /// What the verdict means, in one sentence.
    pub summary: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// The witnesses.
    pub witnesses: Vec<Witness>,
    /// The transcript's lines, parsed (for reports), when [`Inputs::keep_lines`] asked for
    /// them; empty entries for lines that do not parse.
    #[serde(skip)]
    pub lines: Vec<Option<Map<String, Value>>>,
    /// How many lines the transcript has.
    #[serde(skip)]
    pub line_count: usize,
    /// The exact bytes of the first seal line, if there is one: witnesses sign its digest.
    #[serde(skip)]
    pub seal_line: Option<Vec<u8>>,
    /// The exact bytes of the last line (without its newline).
    #[serde(skip)]
    pub last_line: Vec<u8>,
    /// The policy given with `--policy`, as checked (for reports).
    #[serde(skip)]
    pub policy: Option<Policy>,
    /// The SHA-256 (hex) of the `--signer` key's SubjectPublicKeyInfo DER (for reports).
    #[serde(skip)]
    pub signer_fingerprint: String,
    /// The SHA-256 (hex) of the transcript's bytes, as read and verified.
    #[serde(skip)]
    pub sha256: String,
}

/// What the auditor supplies.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The transcript.
    pub transcript: PathBuf,
    /// The signer's public key (PEM): the trust anchor.
    pub signer: PathBuf,
    /// The policy.
    pub policy: Option<PathBuf>,
    /// The plan.
    pub plan: Option<PathBuf>,
    /// The directory holding the output directories.
    pub outputs: Option<PathBuf>,
    /// Keep every parsed line in [`Report::lines`] (for the HTML report): memory then grows
    /// with the transcript.
    pub keep_lines: bool,
}

/// Inputs that cannot be used at all (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// What the system said.
        reason: String,
    },
    /// The signer file is not a P-256 public key.
    #[error("{} is not an ECDSA P-256 public key (PEM): {reason}", path.display())]
    Signer {
        /// The path.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The policy file is invalid.
    #[error(transparent)]
    Ceremony(#[from] crate::ceremony::Error),
    /// An earlier transcript does not verify.
    #[error("{} does not verify: {summary}", path.display())]
    NotVerified {
        /// The transcript.
        path: PathBuf,
        /// What verify said.
        summary: String,
    },
    /// An output directory is not one an earlier transcript records.
    #[error("{} is not an output {} records: {reason}", dir.display(), transcript.display())]
    NotRecorded {
        /// The directory.
        dir: PathBuf,
        /// The transcript.
        transcript: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// An earlier transcript names no token signer.
    #[error("{} names no token signer (its token line has no signer_label)", path.display())]
    NoSignerLabel {
        /// The transcript.
        path: PathBuf,
    },
    /// An earlier transcript records no KCV for the key.
    #[error("{} records no KCV for a key labelled {label:?}", path.display())]
    NoKcv {
        /// The transcript.
        path: PathBuf,
        /// The key label.
        label: String,
    },
}

const LINE_KEYS: [&str; 7] = ["actor", "data", "prev", "seq", "step", "time", "v"];
const SEAL_KEYS: [&str; 7] = ["prev", "seq", "signature", "signer", "step", "time", "v"];

fn failed(name: &'static str, reason: impl Into<String>, line: Option<usize>) -> Check {
    Check {
        name,
        status: Status::Failed {
            reason: reason.into(),
            line,
        },
    }
}

fn passed(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Passed {
            detail: detail.into(),
        },
    }
}

fn not_checked(name: &'static str, missing: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::NotChecked {
            missing: missing.into(),
        },
    }
}

/// A line's field, or null: the transcript is untrusted, a field may be missing.
fn field<'a>(line: &'a Map<String, Value>, name: &str) -> &'a Value {
    line.get(name).unwrap_or(&Value::Null)
}

fn read(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    crate::input::read(path, limit).map_err(|e| Error::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The steps whose first line the checks look up.
const FIRSTS: [&str; 6] = ["policy", "token", "plan", "approvals", "login", "finish"];

/// What one pass over the transcript keeps for the checks: the first line of each step they
/// look up, the first seal line and the witness lines — never every line (unless the caller asks,
/// for the HTML report), so memory stays flat however long the transcript is. The steps, KCVs
/// and outputs are checked as the lines go by ([`Stream`]).
struct Parsed {
    /// How many lines there are (a last line cut short included).
    count: usize,
    /// The first line of each step of [`FIRSTS`] that appears.
    firsts: Vec<(usize, Map<String, Value>)>,
    /// The seal line, once [`check_seal`] has found it in its place.
    seal: Option<usize>,
    /// The first seal line: its index, its fields and its exact bytes.
    first_seal: Option<(usize, Map<String, Value>, Vec<u8>)>,
    /// The second seal line, if there is one.
    second_seal: Option<usize>,
    /// Whether the line before the first seal line is a finish line.
    finish_before_seal: bool,
    /// The first line after the first seal line that is not a witness line.
    after_seal: Option<usize>,
    /// Every witness line.
    witnesses: Vec<(usize, Map<String, Value>)>,
    /// Every line, when the caller asked to keep them.
    lines: Option<Vec<Option<Map<String, Value>>>>,
}

impl Parsed {
    fn new(keep_lines: bool) -> Self {
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

    fn first(&self, step: &str) -> Option<(usize, &Map<String, Value>)> {
        self.firsts
            .iter()
            .find(|(_, l)| l.get("step").and_then(Value::as_str) == Some(step))
            .map(|(i, l)| (*i, l))
    }

    fn data(&self, step: &str) -> Option<&Value> {
        self.first(step).and_then(|(_, l)| l.get("data"))
    }

    /// Whether a line of `step` must be kept: the first of a step the checks look up, the first
    /// seal line, or a witness line.
    fn wants(&self, step: &str) -> bool {
        match step {
            "seal" => self.first_seal.is_none(),
            "witness" => true,
            _ => FIRSTS.contains(&step) && self.first(step).is_none(),
        }
    }

    /// Takes note of line `i`: its exact bytes, its step if it has one, and its fields if
    /// [`Parsed::wants`] it; `after_finish` if the line before is a finish line.
    fn observe(
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

/// Check 1: every line parses with exactly the format's fields, `seq` runs without gaps, and
/// each `prev` is the SHA-256 of the previous line's exact bytes. Fed line by line.
struct Chain {
    /// The chain head: SHA-256 of the last line fed, or of nothing.
    head: [u8; 32],
    /// The first line that breaks the format, and how.
    broken: Option<(LineError, usize)>,
}

impl Chain {
    fn new() -> Self {
        Chain {
            head: Sha256::digest(b"").into(),
            broken: None,
        }
    }

    /// Feeds line `i`, its exact bytes `raw` read as `head`, whose SHA-256 is `digest`.
    fn feed(&mut self, i: usize, raw: &[u8], head: Option<&Head<'_>>, digest: [u8; 32]) {
        if self.broken.is_none() {
            // serde_json refuses a number beyond f64 (1e400) as it builds the line: name it.
            let number = || {
                serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok()
                    && matches!(check_tokens(raw), Err(LineError::Number { .. }))
            };
            let checked = match head {
                None if number() => check_tokens(raw),
                _ => check_head(i, head, &self.head).and_then(|()| check_tokens(raw)),
            };
            if let Err(e) = checked {
                self.broken = Some((e, i));
            }
        }
        self.head = digest;
    }

    /// The check, once every line has been fed; `cut_short` if the last line has no newline.
    fn check(&self, count: usize, cut_short: bool) -> Check {
        let name = "chain";
        if count == 0 {
            return failed(name, "the transcript is empty", None);
        }
        if cut_short {
            return failed(
                name,
                "the last line has no newline (cut short)",
                Some(count - 1),
            );
        }
        match &self.broken {
            Some((reason, line)) => failed(name, reason.to_string(), Some(*line)),
            None => passed(
                name,
                format!("{count} lines, each chained to the one before"),
            ),
        }
    }
}

/// One transcript line's bytes (without its newline) as a JSON object; `None` if they are not
/// one, or repeat a key.
pub fn parse_line(line: &[u8]) -> Option<Map<String, Value>> {
    crate::json::parse_json_object(line).ok()
}

/// Why a transcript line does not have the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The bytes are not a JSON object without repeated keys.
    #[error("not a JSON object (or a key appears twice)")]
    NotAnObject,
    /// The fields are not exactly the format's.
    #[error("fields {found:?}, not {expected:?}")]
    Fields {
        /// The fields found, in order.
        found: Vec<String>,
        /// The fields of such a line.
        expected: &'static [&'static str],
    },
    /// `v` is not the format version.
    #[error("v is not 1")]
    Version,
    /// `seq` is not the line's position.
    #[error("seq is not {expected}")]
    Seq {
        /// The line's 0-based position.
        expected: usize,
    },
    /// `time` is not an RFC 3339 time.
    #[error("time is not an RFC 3339 time")]
    Time,
    /// `step` or `actor` is not a string.
    #[error("step and actor must be strings")]
    StepOrActor,
    /// `prev` is not the chain head before the line.
    #[error("prev is not the SHA-256 of the previous line's bytes")]
    Prev,
    /// A number that is not a canonical integer of 64 bits.
    #[error(
        "the number {found} is not a canonical integer (digits only, no fraction, exponent or -0, within 64 bits)"
    )]
    Number {
        /// The number as written (its first 40 characters).
        found: String,
    },
    /// Objects and arrays nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    Depth,
}

/// How deep objects and arrays may nest in a line (the line's own object is level 1): the same
/// limit in all three verifiers.
pub const MAX_DEPTH: usize = 64;

/// Checks what the JSON grammar leaves open, on the exact bytes of a line that parses: every
/// number is a canonical integer that fits 64 bits (`-?(0|[1-9][0-9]*)`, not `-0`, between
/// -2^63 and 2^64-1), and nothing nests deeper than [`MAX_DEPTH`]. Every line is held to it,
/// witness lines included, so no verifier reads a number or a depth another would refuse.
fn check_tokens(raw: &[u8]) -> Result<(), LineError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(LineError::Depth);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let end = raw[i..]
                    .iter()
                    .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(raw.len(), |n| i + n);
                let text = String::from_utf8_lossy(&raw[i..end]);
                if !canonical_integer(&text) {
                    return Err(LineError::Number {
                        found: text.chars().take(40).collect(),
                    });
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// `-?(0|[1-9][0-9]*)`, not `-0`, and within i64 or u64.
fn canonical_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let form = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    form && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok())
}

/// Checks a line parsed by [`parse_line`] against the format: exactly the format's fields (the
/// seal's own), `v` 1, `seq` equal to `index` (0-based), an RFC 3339 `time`, string `step` and
/// `actor`, and `prev` equal to `prev`, the SHA-256 (hex) of the line before (of nothing for
/// line 0).
pub fn check_line(
    index: usize,
    map: Option<&Map<String, Value>>,
    prev: &str,
) -> Result<(), LineError> {
    let map = map.ok_or(LineError::NotAnObject)?;
    let is_seal = map.get("step").and_then(Value::as_str) == Some("seal");
    let expected: &'static [&'static str] = if is_seal { &SEAL_KEYS } else { &LINE_KEYS };
    if !map.keys().map(String::as_str).eq(expected.iter().copied()) {
        return Err(LineError::Fields {
            found: map.keys().cloned().collect(),
            expected,
        });
    }
    if map.get("v") != Some(&Value::from(1)) {
        return Err(LineError::Version);
    }
    if map.get("seq").and_then(Value::as_u64) != Some(index as u64) {
        return Err(LineError::Seq { expected: index });
    }
    let time_ok = map
        .get("time")
        .and_then(Value::as_str)
        .is_some_and(|t| crate::timestamp::rfc3339("time", t).is_ok());
    if !time_ok {
        return Err(LineError::Time);
    }
    if !map.get("step").is_some_and(Value::is_string)
        || (!is_seal && !map.get("actor").is_some_and(Value::is_string))
    {
        return Err(LineError::StepOrActor);
    }
    if map.get("prev").and_then(Value::as_str) != Some(prev) {
        return Err(LineError::Prev);
    }
    Ok(())
}

/// [`check_line`] on a line read by [`Head::parse`], against the chain head `prev` (raw bytes):
/// the same rules, in the same order, with the same errors.
fn check_head(index: usize, head: Option<&Head<'_>>, prev: &[u8; 32]) -> Result<(), LineError> {
    let head = head.ok_or(LineError::NotAnObject)?;
    let is_seal = head.step() == Some("seal");
    let expected: &'static [&'static str] = if is_seal { &SEAL_KEYS } else { &LINE_KEYS };
    let mut keys: Vec<&str> = head.keys.iter().map(|k| k.as_ref()).collect();
    keys.sort_unstable();
    if keys != expected {
        return Err(LineError::Fields {
            found: keys.into_iter().map(str::to_owned).collect(),
            expected,
        });
    }
    if head.v != head::Scalar::U64(1) {
        return Err(LineError::Version);
    }
    if head.seq.as_u64() != Some(index as u64) {
        return Err(LineError::Seq { expected: index });
    }
    let time_ok = head
        .time
        .as_str()
        .is_some_and(|t| crate::timestamp::rfc3339("time", t).is_ok());
    if !time_ok {
        return Err(LineError::Time);
    }
    if head.step().is_none() || (!is_seal && head.actor.as_str().is_none()) {
        return Err(LineError::StepOrActor);
    }
    let mut hex_prev = [0u8; 64];
    let prev_ok = hex::encode_to_slice(prev, &mut hex_prev).is_ok()
        && head.prev.as_str().map(str::as_bytes) == Some(&hex_prev[..]);
    if !prev_ok {
        return Err(LineError::Prev);
    }
    Ok(())
}

/// Check 2: a finish line precedes exactly one seal line, only witness lines follow it, and the
/// seal is the signer's signature over the chain head.
fn check_seal(parsed: &mut Parsed, signer: &p256::PublicKey, signer_fp: &str) -> Check {
    let name = "seal";
    let Some((i, seal, _)) = &parsed.first_seal else {
        return not_checked(
            name,
            "a seal line (there is none: the ceremony did not finish)",
        );
    };
    let i = *i;
    if let Some(second) = parsed.second_seal {
        return failed(name, "a second seal line", Some(second));
    }
    if i == 0 || !parsed.finish_before_seal {
        return failed(
            name,
            "the line before the seal is not a finish line",
            Some(i),
        );
    }
    if let Some(j) = parsed.after_seal {
        return failed(
            name,
            "a line other than a witness line follows the seal",
            Some(j),
        );
    }
    if seal.get("signer").and_then(Value::as_str) != Some(signer_fp) {
        return failed(
            name,
            format!(
                "sealed by the key with fingerprint {}, not by --signer ({signer_fp})",
                seal.get("signer").and_then(Value::as_str).unwrap_or("?")
            ),
            Some(i),
        );
    }
    let head = seal
        .get("prev")
        .and_then(Value::as_str)
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_default();
    let signature = seal
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).ok()
        })
        .and_then(|der| p256::ecdsa::Signature::from_der(&der).ok());
    parsed.seal = Some(i);
    // A high-S signature is the twin of a valid low-S one: anyone could make a second seal line.
    if signature.is_some_and(|sig| sig.normalize_s().is_some()) {
        return failed(
            name,
            "the signature is high-S (s > n/2): keyrite seals with low-S only, so this seal line is not one keyrite made",
            Some(i),
        );
    }
    let verified = signature.is_some_and(|sig| {
        p256::ecdsa::VerifyingKey::from(signer)
            .verify_prehash(&head, &sig)
            .is_ok()
    });
    if verified {
        passed(
            name,
            "the signer's ECDSA P-256 signature over the chain head verifies",
        )
    } else {
        failed(
            name,
            "the signature does not verify under --signer",
            Some(i),
        )
    }
}

/// With `require_trusted_wrapping`: why the record does not show every key made wrappable only
/// under trusted keys — a generate step of the recorded plan without `wrap_with_trusted`, or a
/// generated (or resumed) key whose template lacks `CKA_WRAP_WITH_TRUSTED` (`untrusted`, the
/// first such line and its label).
fn untrusted_generate(parsed: &Parsed, untrusted: Option<&(usize, String)>) -> Option<String> {
    let text = parsed
        .data("plan")
        .and_then(|d| d["text"].as_str())
        .unwrap_or_default();
    if let Ok(plan) = Plan::from_bytes(Path::new("plan.toml"), text.as_bytes().to_vec(), false) {
        for (i, step) in plan.steps.iter().enumerate() {
            if let Step::Generate {
                key_label,
                wrap_with_trusted: false,
                ..
            } = step
            {
                return Some(format!(
                    "steps[{i}] of the plan generates {:?} without wrap_with_trusted, but the policy requires trusted wrapping",
                    key_label.as_str()
                ));
            }
        }
    }
    untrusted.map(|(line, label)| {
        format!(
            "the key {label:?} was generated without CKA_WRAP_WITH_TRUSTED (line {line}), but the policy requires trusted wrapping"
        )
    })
}

fn policy_checks(
    parsed: &Parsed,
    policy: Option<&Policy>,
    signer_fp: &str,
    untrusted: Option<&(usize, String)>,
) -> Vec<Check> {
    let Some(policy) = policy else {
        return vec![
            not_checked("policy", "--policy"),
            not_checked("quorum", "--policy"),
            not_checked("pin_shares", "--policy"),
        ];
    };
    // The auditor asked for the policy: a transcript that records none was made without it —
    // unless it is the unsealed record of a run killed before it got that far.
    let Some((line, _)) = parsed.first("policy") else {
        if parsed.seal.is_none() {
            let why = "the policy line, which the interrupted run did not reach";
            return vec![
                not_checked("policy", why),
                not_checked("quorum", why),
                not_checked("pin_shares", why),
            ];
        }
        let why = "the transcript records no policy, so no quorum approved what it records";
        return vec![
            failed("policy", why, None),
            failed("quorum", why, None),
            not_checked("pin_shares", "a policy line"),
        ];
    };
    let recorded = parsed.data("policy").cloned().unwrap_or_default();
    let token = parsed.data("token").cloned().unwrap_or_default();
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    if recorded["sha256"] != policy.digest {
        problems.push("the policy's SHA-256 differs from the one recorded".to_owned());
    }
    if let Some((_, digest)) = &policy.custodians_file {
        if recorded["custodians_file"]["sha256"] != *digest {
            problems.push("the custodians file's SHA-256 differs from the one recorded".to_owned());
        }
    }
    // The policy names the ceremony signer: --signer and the token that sealed must be it.
    if signer_fp != policy.signer_fingerprint {
        problems.push(format!(
            "--signer has fingerprint {signer_fp}, but the policy names {}",
            policy.signer_fingerprint
        ));
    }
    let token_reached = parsed.first("token").is_some() || parsed.seal.is_some();
    if token_reached && token["signer_fingerprint"] != policy.signer_fingerprint.as_str() {
        problems.push("the token's signer recorded is not the policy's".to_owned());
    }
    if let Some(serial) = policy.token_serial.as_ref().filter(|_| token_reached) {
        if token["serial"] != serial.as_str() {
            problems.push(format!(
                "the token's serial is not {serial:?}, the one the policy pins"
            ));
        }
    }
    if let Some(pinned) = policy.module_sha256.as_ref().filter(|_| token_reached) {
        if token["module_sha256"] != pinned.as_str() {
            problems.push(format!(
                "the token line records the module SHA-256 {}, but the policy pins module_sha256 = {pinned}",
                token["module_sha256"].as_str().unwrap_or("(none)")
            ));
        }
    }
    if let Some(pinned) = policy.module_path.as_ref().filter(|_| token_reached) {
        if token["module"] != pinned.display().to_string().as_str() {
            problems.push(format!(
                "the token line records the module {}, but the policy pins module_path = {}",
                token["module"]
                    .as_str()
                    .map_or_else(|| "(none)".to_owned(), |m| format!("{m:?}")),
                pinned.display()
            ));
        }
    }
    if policy.require_trusted_wrapping {
        if let Some(why) = untrusted_generate(parsed, untrusted) {
            problems.push(why);
        }
    }
    checks.push(match problems.first() {
        None => passed(
            "policy",
            "the policy's SHA-256 is the one recorded, and it names this signer",
        ),
        Some(p) => failed("policy", p.clone(), Some(line)),
    });
    checks.push(quorum_check(parsed, policy));
    checks.push(shares_check(parsed, policy));
    checks
}

/// PIN share indexes, if the PIN came from shares, are distinct and among the policy's shares.
fn shares_check(parsed: &Parsed, policy: &Policy) -> Check {
    let name = "pin_shares";
    let Some((line, login)) = parsed.first("login") else {
        return passed(name, "no login line (no PIN shares used)");
    };
    let Some(indexes) = field(login, "data")["share_indexes"].as_array() else {
        return passed(name, "the PIN did not come from shares");
    };
    let indexes: Vec<u64> = indexes.iter().filter_map(Value::as_u64).collect();
    let mut seen = indexes.clone();
    seen.sort_unstable();
    seen.dedup();
    let n = policy.pin_shares.len() as u64;
    if seen.len() != indexes.len() || indexes.iter().any(|&i| i == 0 || i > n) {
        return failed(
            name,
            format!("share indexes {indexes:?} are not distinct shares among the policy's {n}"),
            Some(line),
        );
    }
    passed(
        name,
        format!("the PIN was rebuilt from shares {indexes:?} of the policy's {n}"),
    )
}

fn quorum_check(parsed: &Parsed, policy: &Policy) -> Check {
    let name = "quorum";
    let Some((line, _)) = parsed.first("approvals") else {
        if parsed.seal.is_none() {
            return not_checked(
                name,
                "the approvals line, which the interrupted run did not reach",
            );
        }
        return failed(name, "the transcript has no approvals line", None);
    };
    let statement = parsed
        .data("plan")
        .and_then(|d| d["digest_statement"].as_str())
        .unwrap_or_default();
    let approvals = parsed
        .data("approvals")
        .and_then(|d| d["approvals"].as_array())
        .cloned()
        .unwrap_or_default();
    let mut who: Vec<String> = Vec::new();
    for a in &approvals {
        let sig = a["signature"]
            .as_str()
            .and_then(|s| SshSig::from_pem(s).ok());
        let Some(sig) = sig else {
            return failed(name, "an approval is not an SSH signature", Some(line));
        };
        match check_signature(policy, statement.as_bytes(), PLAN_NAMESPACE, &sig) {
            Ok(index) => {
                let custodian = &policy.custodians[index];
                if a["custodian"] != custodian.name.as_str()
                    || a["key_fingerprint"]
                        != custodian
                            .key
                            .fingerprint(HashAlg::Sha256)
                            .to_string()
                            .as_str()
                {
                    return failed(
                        name,
                        format!(
                            "an approval by {} is recorded under another name or key",
                            custodian.name
                        ),
                        Some(line),
                    );
                }
                if who.contains(&custodian.name) {
                    return failed(
                        name,
                        format!("{} is counted twice", custodian.name),
                        Some(line),
                    );
                }
                who.push(custodian.name.clone());
            }
            Err(reason) => return failed(name, reason, Some(line)),
        }
    }
    if who.len() < policy.threshold {
        return failed(
            name,
            format!(
                "{} valid approvals ({}), the policy requires {}",
                who.len(),
                who.join(", "),
                policy.threshold
            ),
            Some(line),
        );
    }
    passed(
        name,
        format!(
            "{} of {} required: {}",
            who.len(),
            policy.threshold,
            who.join(", ")
        ),
    )
}

/// The plan check at the first plan line: the plan's digest, recomputed from its text and the
/// recorded file digests (with `--plan`, the auditor's plan and its files); and the steps the
/// steps check compares the transcript with, or that check's result when it cannot run.
fn plan_check(
    line: usize,
    data: &Value,
    plan_file: Option<&Path>,
) -> (Check, Result<Vec<Step>, Check>) {
    let text = data["text"].as_str().unwrap_or_default();
    let statement = data["digest_statement"].as_str().unwrap_or_default();
    let recorded_name = data["file"].as_str().unwrap_or("plan.toml");
    let path = Path::new(recorded_name);
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
    let mut expected = format!(
        "keyrite plan digest v1\nceremony_id {}\n{}  {}\n",
        embedded.ceremony_id,
        hex::encode(Sha256::digest(text.as_bytes())),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    for f in data["files"].as_array().cloned().unwrap_or_default() {
        expected.push_str(&format!(
            "{}  {}\n",
            f["sha256"].as_str().unwrap_or_default(),
            f["name"].as_str().unwrap_or_default()
        ));
    }
    if expected != statement {
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
    // With --plan, the auditor's plan and its files are the reference, steps included.
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
const STEP_LINES: [&str; 10] = [
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
struct Steps {
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
    fn new() -> Self {
        Steps {
            plan: None,
            early: None,
            at_seal: None,
        }
    }

    fn on_plan(&mut self, line: usize, data: &Value, plan_file: Option<&Path>) {
        let (check, steps) = plan_check(line, data, plan_file);
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

    fn feed(&mut self, line: usize, step: &str, data: &Value) {
        match &mut self.plan {
            None if self.early.is_none() => self.early = Some((line, step.to_owned())),
            Some((_, Ok(run))) => run.feed(line, step, data),
            _ => {}
        }
    }

    /// Whether a line of `step` must be fed with its data: the first plan line, and step lines
    /// while the steps run is being checked.
    fn wants(&self, step: &str) -> bool {
        match &self.plan {
            None => step == "plan",
            Some((_, Ok(run))) => {
                STEP_LINES.contains(&step) && run.broken.is_none() && run.failure.is_none()
            }
            Some((_, Err(_))) => false,
        }
    }

    /// Notes the first seal line.
    fn on_seal(&mut self) {
        if self.at_seal.is_none() {
            self.at_seal = Some(match &self.plan {
                Some((_, Ok(run))) => Some(run.clone()),
                _ => None,
            });
        }
    }

    /// The plan and steps checks, once every line has been fed and the seal found (or not).
    fn checks(self, seal: Option<usize>, plan_file: Option<&Path>) -> Vec<Check> {
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
    failure: Option<Option<u64>>,
}

impl StepsRun {
    fn new(steps: Vec<Step>) -> Self {
        StepsRun {
            steps,
            k: 0,
            broken: None,
            failure: None,
        }
    }

    fn feed(&mut self, line: usize, step: &str, data: &Value) {
        let name = "steps";
        if self.broken.is_some() || self.failure.is_some() {
            return;
        }
        if step == "failure" {
            self.failure = Some(data["index"].as_u64());
            return;
        }
        let k = self.k;
        let Some((index, want)) = self.steps.get(k / 2).map(|s| {
            let (announce, done) = s.record_names();
            (k / 2, if k % 2 == 0 { announce } else { done })
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
        if (step != want && !resumed) || data["index"].as_u64() != Some(index as u64) {
            self.broken = Some(failed(
                name,
                format!(
                    "{step} of steps[{}] where the plan has {want} of steps[{index}]",
                    data["index"]
                ),
                Some(line),
            ));
            return;
        }
        let label_ok = match &self.steps[index] {
            Step::Generate { key_label, .. } => {
                (data["key_label"] == key_label.as_str()
                    || data["key"]["label"] == key_label.as_str())
                    && (!resumed || data["action"] == "generate")
            }
            Step::Wrap {
                key_label,
                algorithm,
                existing,
                ..
            } => {
                data["key_label"] == key_label.as_str()
                    && (!resumed || data["action"] == want)
                    && (step.ends_with("ed") || data["algorithm"] == algorithm.name())
                    && existing.as_ref().is_none_or(|(expected, _)| {
                        data.get("kcv").is_none() || proves(data, expected)
                    })
            }
            Step::Destroy {
                key_label,
                expect_kcv,
            } => data["key_label"] == key_label.as_str() && proves(data, expect_kcv),
        };
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

/// The step names keyrite records; a line under any other name is refused.
pub const KNOWN_STEPS: [&str; 24] = [
    "policy",
    "plan",
    "approvals",
    "token",
    "login",
    "resume",
    "resumed",
    "check",
    "marker",
    "generate",
    "generated",
    "wrap",
    "wrapped",
    "rewrap",
    "rewrapped",
    "destroy",
    "destroyed",
    "failure",
    "finish",
    "seal",
    "witness",
    "request",
    "restore",
    "restored",
];

/// Whether a resume line's data names the interrupted record by its SHA-256 (64 hex digits).
fn names_a_record(data: &Value) -> bool {
    data["sha256"]
        .as_str()
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The structure check, fed line by line: only known step names; at most one finish line, and
/// nothing but the seal after it; a failure line if and only if the finish says `failed`;
/// `resumed` lines only after a `resume` line that names the interrupted record by its SHA-256,
/// and only for a generated key (a resume re-does every wrap); a `restored` line only after the
/// `restore` line of the same key, one for one, and a completed finish only once every restore
/// line has its restored line.
struct Structure {
    /// The first problem found, and its line.
    broken: Option<(String, usize)>,
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
    fn new() -> Self {
        Structure {
            broken: None,
            finish: None,
            failure: None,
            resume: None,
            after_finish: None,
            restoring: None,
        }
    }

    /// Whether a line of `step` must be fed with its data.
    fn wants(&self, step: &str) -> bool {
        self.broken.is_none()
            && matches!(
                step,
                "finish" | "resume" | "resumed" | "restore" | "restored"
            )
    }

    fn feed(&mut self, line: usize, step: &str, data: Option<&Value>) {
        if self.broken.is_none() {
            self.broken = self
                .problem(step, data.unwrap_or(&Value::Null))
                .map(|why| (why, line));
        }
        if step == "finish" && self.finish.is_none() {
            let outcome = data.map_or(Value::Null, |d| d["outcome"].clone());
            self.finish = Some((line, outcome));
        }
        self.after_finish = (step == "finish").then_some(line);
        match step {
            "failure" => {
                self.failure.get_or_insert(line);
            }
            "resume" if names_a_record(data.unwrap_or(&Value::Null)) => {
                self.resume.get_or_insert(line);
            }
            "restore" => {
                let label = data.map_or(Value::Null, |d| d["key_label"].clone());
                self.restoring = Some((line, label));
            }
            "restored" => self.restoring = None,
            _ => {}
        }
    }

    /// What is wrong with a `step` line with `data` where it stands, if anything.
    fn problem(&self, step: &str, data: &Value) -> Option<String> {
        if !KNOWN_STEPS.contains(&step) {
            return Some(format!(
                "unknown step {:?}: keyrite records no such step",
                step.chars().take(40).collect::<String>()
            ));
        }
        if let (Some((first, _)), "finish") = (&self.finish, step) {
            return Some(format!("a second finish line (the first is line {first})"));
        }
        if let (Some(finish), false) = (self.after_finish, step == "seal") {
            return Some(format!(
                "a {step:?} line after the finish line (line {finish}): only the seal may follow it"
            ));
        }
        match step {
            "resumed" if self.resume.is_none() => Some(
                "a resumed line without a resume line before it naming the interrupted record (data.sha256)"
                    .to_owned(),
            ),
            "resumed" if data["action"] != "generate" => Some(format!(
                "a resumed line with data.action {}: a resume carries over only generated keys and re-does every wrap",
                data["action"]
            )),
            "restore" => self.restoring.as_ref().map(|(first, _)| {
                format!("a second restore line before the restored line of the first (line {first})")
            }),
            "restored" => match &self.restoring {
                None => Some("a restored line without a restore line before it".to_owned()),
                Some((first, label)) if data["key"]["label"] != *label || !label.is_string() => {
                    Some(format!(
                        "a restored line for key {}, but the restore line (line {first}) restores {label}",
                        data["key"]["label"]
                    ))
                }
                Some(_) => None,
            },
            _ => None,
        }
    }

    fn check(self) -> Check {
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
                format!("a failure line (line {failure}), but the finish line says \"completed\""),
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
                        self.restoring.as_ref().map_or(0, |(l, _)| *l)
                    ),
                    Some(*line),
                )
            }
            _ => passed(
                name,
                "known steps only; one finish line, consistent with the failure lines, before the seal; resumed keys under a resume line; each restore answered by its restored line",
            ),
        }
    }
}

/// Whether a line's `data` records the key by the check value a plan step expects: its KCV (a
/// key pair's public key SHA-256), or its full check value (`check_sha256`) for 64 hex digits.
fn proves(data: &Value, expected: &str) -> bool {
    data.get("kcv").is_some_and(|k| k == expected)
        || (expected.len() == 64 && data.get("check_sha256").is_some_and(|k| k == expected))
}

/// The KCV check, fed line by line: the same key label has the same KCV, and the same full
/// check value (`check_sha256`, or none), wherever it appears (the first line naming a key
/// fixes both).
struct Kcvs {
    kcvs: BTreeMap<String, (String, String)>,
    broken: Option<Check>,
}

impl Kcvs {
    fn new() -> Self {
        Kcvs {
            kcvs: BTreeMap::new(),
            broken: None,
        }
    }

    fn feed(&mut self, line: usize, step: &str, d: &DataView<'_>) {
        if self.broken.is_some() {
            return;
        }
        let (label, kcv, full) = match step {
            "generated" => (&d.key_label_in_key, &d.kcv_in_key, &d.check_sha256_in_key),
            "resumed" if d.has_key => (&d.key_label_in_key, &d.kcv_in_key, &d.check_sha256_in_key),
            "resumed" | "wrapped" | "rewrapped" | "destroy" | "destroyed" => {
                (&d.key_label, &d.kcv, &d.check_sha256)
            }
            _ => return,
        };
        let label = label.as_str().unwrap_or_default();
        let kcv = kcv.as_str().unwrap_or_default();
        let full = full.as_str().unwrap_or_default();
        let (known_kcv, known_full) = match self.kcvs.get(label) {
            Some(known) => known,
            None => {
                self.kcvs
                    .insert(label.to_owned(), (kcv.to_owned(), full.to_owned()));
                return;
            }
        };
        let other = if known_kcv != kcv {
            "KCV"
        } else if known_full != full {
            "full check value (check_sha256)"
        } else {
            return;
        };
        self.broken = Some(failed(
            "kcv",
            format!("key {label:?} appears with another {other}"),
            Some(line),
        ));
    }

    fn check(self) -> Check {
        self.broken.unwrap_or_else(|| {
            passed(
                "kcv",
                "every key label has one KCV and one full check value throughout",
            )
        })
    }
}

/// The outputs check, fed line by line (with `--outputs`): every output file's SHA-256 matches
/// and each manifest's KCV is the one recorded. The failure reported is the first of the wrapped
/// lines, else of the rewrapped lines, else of the resumed ones.
struct Outputs<'a> {
    dir: Option<&'a Path>,
    files: usize,
    /// The first failure among wrapped, rewrapped and resumed lines.
    broken: [Option<Check>; 3],
}

impl<'a> Outputs<'a> {
    fn new(dir: Option<&'a Path>) -> Self {
        Outputs {
            dir,
            files: 0,
            broken: [None, None, None],
        }
    }

    /// Whether a line of `step` must be fed with its data.
    fn wants(&self, step: &str) -> bool {
        self.dir.is_some() && matches!(step, "wrapped" | "rewrapped" | "resumed")
    }

    fn feed(&mut self, line: usize, step: &str, d: &Value) {
        let Some(dir) = self.dir else { return };
        let kind = match step {
            "wrapped" => 0,
            "rewrapped" => 1,
            "resumed" if d.get("out").is_some() => 2,
            _ => return,
        };
        if self.broken[kind].is_some() {
            return;
        }
        let out = Path::new(d["out"].as_str().unwrap_or_default());
        let Some(base) = out.file_name() else {
            self.broken[kind] = Some(failed(
                "outputs",
                "a wrap records no output directory",
                Some(line),
            ));
            return;
        };
        let here = dir.join(base);
        let broken = |why: String| Some(failed("outputs", why, Some(line)));
        // The directory itself, never through a symlink.
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                self.broken[kind] = broken(format!(
                    "{} is a symlink: an output directory is never followed",
                    here.display()
                ));
                return;
            }
            Ok(m) if m.is_dir() => {}
            _ => {
                self.broken[kind] = broken(format!(
                    "{} is not a directory (or is missing)",
                    here.display()
                ));
                return;
            }
        }
        let empty = Map::new();
        let files = d["files"].as_object().unwrap_or(&empty);
        for (file, digest) in files {
            // The names come from the transcript: only a regular file directly in the output
            // directory is read, never through a symlink and never waiting (a FIFO, a device).
            let path = here.join(file);
            let plain = !file.is_empty() && file != "." && file != ".." && !file.contains('/');
            let read = if plain {
                crate::input::read_regular(&path, crate::input::MAX_SMALL)
            } else {
                Err(std::io::Error::other("not a file name"))
            };
            let why = match read {
                Ok(b)
                    if hex::encode(Sha256::digest(&b)).as_str()
                        == digest.as_str().unwrap_or_default() =>
                {
                    None
                }
                Ok(_) => Some("differs from the transcript".to_owned()),
                Err(_)
                    if std::fs::symlink_metadata(&path)
                        .is_ok_and(|m| m.file_type().is_symlink()) =>
                {
                    Some("is a symlink: an output file is never followed".to_owned())
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    Some("is not a regular file".to_owned())
                }
                Err(_) => Some("differs from the transcript (or is missing)".to_owned()),
            };
            if let Some(why) = why {
                self.broken[kind] = broken(format!("{} {why}", path.display()));
                return;
            }
            self.files += 1;
        }
        // Nothing beside the recorded files: an extra script is not what the ceremony wrote.
        let mut extra: Vec<String> = std::fs::read_dir(&here)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| !files.contains_key(name))
                    .collect()
            })
            .unwrap_or_default();
        extra.sort();
        if let Some(name) = extra.first() {
            self.broken[kind] = broken(format!(
                "{} holds {name:?}, which the transcript does not list",
                here.display()
            ));
            return;
        }
        let manifest_key =
            crate::input::read_regular(&here.join("manifest.json"), crate::input::MAX_SMALL)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|m| m["key"].clone());
        match manifest_key {
            Some(key) if key["kcv"] != d["kcv"] => {}
            // Absent and null alike: no full check value.
            Some(key) if key["check_sha256"] == d["check_sha256"] => return,
            Some(_) => {
                self.broken[kind] = broken(format!(
                    "{}'s manifest records another full check value (check_sha256)",
                    here.display()
                ));
                return;
            }
            None => {}
        }
        self.broken[kind] = broken(format!("{}'s manifest records another KCV", here.display()));
    }

    fn check(self) -> Check {
        if self.dir.is_none() {
            return not_checked("outputs", "--outputs");
        }
        let files = self.files;
        self.broken.into_iter().flatten().next().unwrap_or_else(|| {
            passed(
                "outputs",
                format!("{files} output files match the transcript"),
            )
        })
    }
}

/// What the witness lines prove: each signature verifies (namespace `keyrite-witness`, over the
/// seal line's digest) under the key it carries, whose fingerprint is the one recorded, and the
/// actor is the name recorded; with a policy, the key is a witness of the policy by that name.
/// No witness signs twice. Returns the check, the witnesses, and how many distinct witnesses of
/// the policy co-signed.
fn witness_check(parsed: &Parsed, policy: Option<&Policy>) -> (Check, Vec<Witness>, usize) {
    let name = "witnesses";
    let (Some(_), Some((_, _, seal_line))) = (parsed.seal, &parsed.first_seal) else {
        return (not_checked(name, "a seal"), Vec::new(), 0);
    };
    let message = witness_message(seal_line);
    let mut witnesses = Vec::new();
    let mut problem: Option<(String, usize)> = None;
    for (line, l) in &parsed.witnesses {
        let line = *line;
        let d = field(l, "data");
        let recorded_name = d["name"].as_str().unwrap_or_default();
        let recorded_fp = d["key_fingerprint"].as_str().unwrap_or_default();
        let sig = d["signature"]
            .as_str()
            .and_then(|s| SshSig::from_pem(s).ok());
        let why = match &sig {
            None => Some("the witness signature is not an SSH signature".to_owned()),
            Some(sig) => {
                let key = ssh_key::PublicKey::from(sig.public_key().clone());
                let actual = key.fingerprint(HashAlg::Sha256).to_string();
                if sig.namespace() != WITNESS_NAMESPACE
                    || key
                        .verify(WITNESS_NAMESPACE, message.as_bytes(), sig)
                        .is_err()
                {
                    Some("the witness signature does not verify over this seal".to_owned())
                } else if recorded_fp != actual {
                    Some(format!(
                        "the witness line records the key {}, but the signature was made by {actual}",
                        d["key_fingerprint"]
                    ))
                } else if *field(l, "actor") != d["name"] {
                    Some("the witness line's actor is not its name".to_owned())
                } else {
                    policy.and_then(|p| {
                        let witness = p
                            .witnesses
                            .iter()
                            .find(|w| w.key.key_data() == sig.public_key());
                        match witness {
                            Some(w) if w.name == recorded_name => None,
                            Some(w) => Some(format!(
                                "signed by {}'s key, recorded as {:?}",
                                w.name, recorded_name
                            )),
                            None => Some(format!(
                                "{actual} is not a witness key of the policy{}",
                                p.custodians
                                    .iter()
                                    .find(|c| c.key.key_data() == sig.public_key())
                                    .map(|c| format!(" (it is custodian {}'s key)", c.name))
                                    .unwrap_or_default()
                            )),
                        }
                    })
                }
            }
        };
        let repeated = witnesses
            .iter()
            .any(|w: &Witness| w.key_fingerprint == recorded_fp || w.name == recorded_name);
        let why = why.or_else(|| repeated.then(|| format!("{recorded_name:?} has signed twice")));
        if let (Some(why), None) = (&why, &problem) {
            problem = Some((why.clone(), line));
        }
        witnesses.push(Witness {
            name: recorded_name.to_owned(),
            key_fingerprint: recorded_fp.to_owned(),
            verified: match (&why, policy) {
                (Some(_), _) => Some(false),
                (None, Some(_)) => Some(true),
                (None, None) => None,
            },
            line,
        });
    }
    let names = witnesses
        .iter()
        .map(|w| w.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let count = witnesses.len();
    let valid = if problem.is_none() && policy.is_some() {
        count
    } else {
        0
    };
    // A witness who is also a custodian is not independent evidence: say so.
    let doubles: Vec<String> = policy
        .map(|p| {
            p.witnesses
                .iter()
                .filter_map(|w| {
                    p.custodians
                        .iter()
                        .find(|c| c.key.key_data() == w.key.key_data())
                        .map(|c| format!("witness {} is custodian {} (one key)", w.name, c.name))
                })
                .collect()
        })
        .unwrap_or_default();
    let note = if doubles.is_empty() {
        String::new()
    } else {
        format!("; {}", doubles.join(", "))
    };
    let check = match (problem, policy) {
        (Some((why, line)), _) => failed(name, why, Some(line)),
        (None, Some(p)) if p.witnesses_required > 0 => passed(
            name,
            format!(
                "{count} of {} required witnesses have co-signed{}{note}",
                p.witnesses_required,
                if count > 0 {
                    format!(": {names}")
                } else {
                    String::new()
                }
            ),
        ),
        (None, _) if witnesses.is_empty() => passed(name, format!("no witness has signed{note}")),
        (None, None) => not_checked(
            name,
            format!(
                "--policy (to verify the signatures of {names} against the policy's witnesses)"
            ),
        ),
        (None, Some(_)) => passed(
            name,
            format!("{count} witness signature(s) verify: {names}{note}"),
        ),
    };
    (check, witnesses, valid)
}

/// The auditor's trust anchor: the ceremony signer's ECDSA P-256 public key.
#[derive(Debug, Clone)]
pub struct Signer {
    key: p256::PublicKey,
    fingerprint: String,
}

impl Signer {
    /// Parses the signer's public key, as `keyrite token signer export` prints it (PEM), from
    /// the bytes of the file at `path`.
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<Self, Error> {
        let signer_err = |reason: String| Error::Signer {
            path: path.to_path_buf(),
            reason,
        };
        let key = std::str::from_utf8(pem)
            .map_err(|e| signer_err(e.to_string()))
            .and_then(|pem| {
                p256::PublicKey::from_public_key_pem(pem).map_err(|e| signer_err(e.to_string()))
            })?;
        let fingerprint = key
            .to_public_key_der()
            .map(|der| hex::encode(Sha256::digest(der.as_bytes())))
            .map_err(|e| signer_err(e.to_string()))?;
        Ok(Signer { key, fingerprint })
    }

    /// The SHA-256 (hex) of its SubjectPublicKeyInfo DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Verifies a transcript, reading it line by line: memory stays flat however many lines it has
/// (no line may be longer than 16 MiB).
pub fn verify(inputs: &Inputs) -> Result<Report, Error> {
    let file = std::fs::File::open(&inputs.transcript).map_err(|e| Error::Read {
        path: inputs.transcript.clone(),
        reason: e.to_string(),
    })?;
    verify_open(file, inputs)
}

/// Verifies the transcript read from `file`, from where its offset is to its end, as [`verify`]
/// does; `inputs.transcript` only names it. `witness` verifies and appends through one open file.
pub fn verify_open(file: std::fs::File, inputs: &Inputs) -> Result<Report, Error> {
    let signer = Signer::from_pem(
        &inputs.signer,
        &read(&inputs.signer, crate::input::MAX_SMALL)?,
    )?;
    let policy = inputs.policy.as_deref().map(Policy::load).transpose()?;
    let mut stream = Stream::new(
        inputs.plan.as_deref(),
        inputs.outputs.as_deref(),
        inputs.keep_lines,
    );
    // One thread reads the lines and hashes them while this one checks them: each byte is
    // hashed once, beside the parsing rather than before it.
    let mut last = Vec::new();
    let (cut_short, sha256) = std::thread::scope(|scope| {
        let (batches, received) = std::sync::mpsc::sync_channel::<Batch>(4);
        let reader = scope.spawn(|| read_batches(file, &inputs.transcript, batches));
        for batch in received {
            for &(start, end, digest) in &batch.lines {
                stream.line(&batch.bytes[start..end], digest);
            }
            if let Some(&(start, end, _)) = batch.lines.last() {
                last.clear();
                last.extend_from_slice(&batch.bytes[start..end]);
            }
        }
        reader.join().unwrap_or_else(|_| {
            Err(Error::Read {
                path: inputs.transcript.clone(),
                reason: "the thread reading it stopped".to_owned(),
            })
        })
    })?;
    Ok(stream.finish(cut_short, &last, &signer, policy, sha256))
}

/// Complete lines read from a transcript: their bytes, and where each line is (without its
/// newline) with its SHA-256.
struct Batch {
    bytes: Vec<u8>,
    lines: Vec<(usize, usize, [u8; 32])>,
}

impl Batch {
    /// About this many bytes of lines go in a batch.
    const SIZE: usize = 1 << 18;

    fn new() -> Self {
        Batch {
            bytes: Vec::with_capacity(Self::SIZE + 4096),
            lines: Vec::new(),
        }
    }
}

/// Reads the transcript's lines, hashes each, and sends them in batches; returns whether the
/// file ends inside a line (which is not sent), and the SHA-256 (hex) of every byte read. A
/// line may hold at most 16 MiB.
fn read_batches(
    file: std::fs::File,
    path: &Path,
    batches: std::sync::mpsc::SyncSender<Batch>,
) -> Result<(bool, String), Error> {
    use std::io::{BufRead as _, Read as _};
    let read_err = |reason: String| Error::Read {
        path: path.to_path_buf(),
        reason,
    };
    let limit = crate::input::MAX_TRANSCRIPT_LINE;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut batch = Batch::new();
    let mut count = 0;
    let mut file_digest = Sha256::new();
    let cut_short = loop {
        let start = batch.bytes.len();
        let n = (&mut reader)
            .take(limit + 1)
            .read_until(b'\n', &mut batch.bytes)
            .map_err(|e| read_err(e.to_string()))?;
        file_digest.update(&batch.bytes[start..]);
        if n == 0 {
            break false;
        }
        if batch.bytes.last() == Some(&b'\n') {
            let end = batch.bytes.len() - 1;
            let digest = Sha256::digest(&batch.bytes[start..end]).into();
            batch.lines.push((start, end, digest));
            count += 1;
            if batch.bytes.len() >= Batch::SIZE {
                // The checking thread has gone only if it panicked: nothing more to read for.
                if batches
                    .send(std::mem::replace(&mut batch, Batch::new()))
                    .is_err()
                {
                    return Ok((false, String::new()));
                }
            }
        } else if n as u64 > limit {
            return Err(read_err(format!(
                "line {count} is larger than {}, the most keyrite reads of one transcript line",
                crate::input::describe(limit)
            )));
        } else {
            // The end of the file, in the middle of a line.
            batch.bytes.truncate(start);
            break true;
        }
    };
    if !batch.lines.is_empty() {
        // As above: a send fails only if the checking thread has gone.
        let _ = batches.send(batch);
    }
    Ok((cut_short, hex::encode(file_digest.finalize())))
}

/// Verifies the transcript `bytes` once [`verify`] has read its inputs: under `signer`, with
/// the policy, the plan (read from its path, with the files it names) and the output files (read
/// from their directory) where given. The report keeps every parsed line.
pub fn verify_transcript(
    bytes: &[u8],
    signer: &Signer,
    policy: Option<Policy>,
    plan: Option<&Path>,
    outputs: Option<&Path>,
) -> Report {
    let mut stream = Stream::new(plan, outputs, true);
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // What follows the last newline: nothing, or a line cut short.
    let cut_short = lines.pop().is_some_and(|rest| !rest.is_empty());
    for line in &lines {
        stream.line(line, Sha256::digest(line).into());
    }
    let last = lines.last().copied().unwrap_or_default();
    let sha256 = hex::encode(Sha256::digest(bytes));
    stream.finish(cut_short, last, signer, policy, sha256)
}

/// One pass over a transcript's lines: the chain checked, what the other checks need kept, and
/// the steps, KCV and outputs checks fed as the lines go by.
struct Stream<'a> {
    plan_file: Option<&'a Path>,
    outputs_dir: Option<&'a Path>,
    chain: Chain,
    parsed: Parsed,
    steps: Steps,
    structure: Structure,
    kcvs: Kcvs,
    outputs: Outputs<'a>,
    /// The first generated (or resumed) key whose template lacks `CKA_WRAP_WITH_TRUSTED`: its
    /// line and label.
    untrusted: Option<(usize, String)>,
    /// Whether the line before is a finish line.
    after_finish: bool,
}

impl<'a> Stream<'a> {
    fn new(plan_file: Option<&'a Path>, outputs_dir: Option<&'a Path>, keep_lines: bool) -> Self {
        Stream {
            plan_file,
            outputs_dir,
            chain: Chain::new(),
            parsed: Parsed::new(keep_lines),
            steps: Steps::new(),
            structure: Structure::new(),
            kcvs: Kcvs::new(),
            outputs: Outputs::new(outputs_dir),
            untrusted: None,
            after_finish: false,
        }
    }

    /// Feeds one line's exact bytes, without its newline, and their SHA-256. The line is read
    /// once without being built ([`Head`]); its whole `Map` is built only when a check needs more.
    fn line(&mut self, raw: &[u8], digest: [u8; 32]) {
        let i = self.parsed.count;
        let head = Head::parse(raw);
        self.chain.feed(i, raw, head.as_ref(), digest);
        let step = head.as_ref().and_then(Head::step);
        let wanted = self.parsed.lines.is_some()
            || step.is_some_and(|s| {
                self.parsed.wants(s)
                    || self.steps.wants(s)
                    || self.structure.wants(s)
                    || self.outputs.wants(s)
                    || (self.untrusted.is_none() && matches!(s, "generated" | "resumed"))
            });
        let map = if wanted { parse_line(raw) } else { None };
        self.parsed
            .observe(i, raw, step, map.as_ref(), self.after_finish);
        if let (Some(step), Some(head)) = (step, &head) {
            let data = map.as_ref().map(|m| field(m, "data"));
            if step == "plan" && self.steps.plan.is_none() {
                if let Some(data) = data {
                    self.steps.on_plan(i, data, self.plan_file);
                }
            }
            if STEP_LINES.contains(&step) {
                self.steps.feed(i, step, data.unwrap_or(&Value::Null));
            }
            self.structure.feed(i, step, data);
            if let (Some(data), "generated" | "resumed", None) = (data, step, &self.untrusted) {
                if data["key"]["template"]["CKA_WRAP_WITH_TRUSTED"] != "true" {
                    let label = data["key"]["label"].as_str().unwrap_or_default();
                    self.untrusted = Some((i, label.to_owned()));
                }
            }
            if let Some(data) = data {
                self.outputs.feed(i, step, data);
            }
            self.kcvs.feed(i, step, &head.data);
            if step == "seal" {
                self.steps.on_seal();
            }
        }
        self.after_finish = step == Some("finish");
        self.parsed.count += 1;
        if let Some(lines) = &mut self.parsed.lines {
            lines.push(map);
        }
    }

    /// The report, once every line has been fed; `cut_short` if the input ends inside a line,
    /// which then counts as a line but is not parsed — nor is any other line.
    fn finish(
        self,
        cut_short: bool,
        last_line: &[u8],
        signer: &Signer,
        policy: Option<Policy>,
        sha256: String,
    ) -> Report {
        let Stream {
            plan_file,
            outputs_dir,
            chain,
            mut parsed,
            mut steps,
            mut structure,
            mut kcvs,
            mut outputs,
            mut untrusted,
            ..
        } = self;
        if cut_short {
            let count = parsed.count + 1;
            let keep_lines = parsed.lines.is_some();
            parsed = Parsed::new(keep_lines);
            parsed.count = count;
            parsed.lines = keep_lines.then(|| vec![None; count]);
            steps = Steps::new();
            structure = Structure::new();
            kcvs = Kcvs::new();
            untrusted = None;
            outputs = Outputs::new(outputs_dir);
        }
        let signer_fp = signer.fingerprint.clone();
        let chain = chain.check(parsed.count, cut_short);
        let chain_ok = matches!(chain.status, Status::Passed { .. });
        let mut checks = vec![chain];
        if chain_ok {
            checks.push(check_seal(&mut parsed, &signer.key, &signer_fp));
        } else {
            checks.push(not_checked("seal", "an intact chain"));
        }
        checks.extend(policy_checks(
            &parsed,
            policy.as_ref(),
            &signer_fp,
            untrusted.as_ref(),
        ));
        checks.push(if chain_ok {
            structure.check()
        } else {
            not_checked("structure", "an intact chain")
        });
        checks.extend(steps.checks(parsed.seal, plan_file));
        checks.push(kcvs.check());
        checks.push(outputs.check());
        let (witness, witnesses, cosigned) = witness_check(&parsed, policy.as_ref());
        checks.push(witness);
        let required = policy.as_ref().map_or(0, |p| p.witnesses_required);

        let outcome = parsed
            .data("finish")
            .and_then(|d| d["outcome"].as_str())
            .map(str::to_owned);
        let any_failed = checks
            .iter()
            .any(|c| matches!(c.status, Status::Failed { .. }));
        let (verdict, summary) = if any_failed {
            let first = checks.iter().find_map(|c| match &c.status {
                Status::Failed { reason, line } => Some(format!(
                    "{} check failed{}: {reason}",
                    c.name,
                    line.map(|l| format!(" at line {l}")).unwrap_or_default()
                )),
                _ => None,
            });
            (
                Verdict::Invalid,
                format!("INVALID: {}", first.unwrap_or_default()),
            )
        } else if parsed.seal.is_none() {
            (
                Verdict::Incomplete,
                "INCOMPLETE: an intact record without a seal: the ceremony did not finish"
                    .to_owned(),
            )
        } else if outcome.as_deref() != Some("completed") {
            (
                Verdict::Incomplete,
                "FAILED CEREMONY: an intact, sealed record of a ceremony that failed".to_owned(),
            )
        } else if cosigned < required {
            (
                Verdict::Incomplete,
                format!(
                    "INCOMPLETE: sealed and completed, but {cosigned} of {required} required witnesses have co-signed"
                ),
            )
        } else if policy.is_none() {
            (
                Verdict::NotApproved,
                "NOT APPROVED (no policy: quorum not checked): sealed, completed, and every check that ran passed, but without --policy nothing says who approved it".to_owned(),
            )
        } else {
            (
                Verdict::Verified,
                "VERIFIED: sealed, completed, and every check that ran passed".to_owned(),
            )
        };
        Report {
            verdict,
            exit_code: verdict.exit_code(),
            summary,
            checks,
            witnesses,
            lines: parsed.lines.unwrap_or_default(),
            line_count: parsed.count,
            seal_line: parsed.first_seal.map(|(_, _, raw)| raw),
            last_line: last_line.to_vec(),
            policy,
            signer_fingerprint: signer_fp,
            sha256,
        }
    }
}

/// A key as an earlier, verified transcript records its generation, with the token signer that
/// sealed that transcript: the record is believed only on the token whose signer this is.
#[derive(Debug)]
pub struct RecordedKcv {
    /// The KCV.
    pub kcv: String,
    /// How it was computed (`aes-ecb-zero-3`, `sha256-3`, `spki-sha256`…).
    pub kcv_method: String,
    /// The key's `CKA_ID`, hex.
    pub id: String,
    /// Its full check value, where the record has one.
    pub check_sha256: Option<String>,
    /// The label of the signer that sealed the transcript, as its `token` line records it.
    pub signer_label: crate::spec::KeyLabel,
    /// The SHA-256 (hex) of that signer's SubjectPublicKeyInfo: the `--signer` key verify used.
    pub signer_fingerprint: String,
}

/// An earlier transcript that carries facts into this run, verified under `signer` with every
/// line kept: it must be sealed, completed and intact.
fn verified(transcript: &Path, signer: &Path) -> Result<Report, crate::Error> {
    let report = verify(&Inputs {
        transcript: transcript.to_path_buf(),
        signer: signer.to_path_buf(),
        policy: None,
        plan: None,
        outputs: None,
        keep_lines: true,
    })?;
    if report.verdict != Verdict::NotApproved {
        return Err(Error::NotVerified {
            path: transcript.to_path_buf(),
            summary: report.summary,
        }
        .into());
    }
    Ok(report)
}

/// The sealed record an output directory was found in, as [`recorded_output`] checked it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedOutput {
    /// The transcript.
    pub transcript: PathBuf,
    /// The SHA-256 (hex) of its bytes, as verified.
    pub sha256: String,
    /// The chain head its seal signs (the seal line's `prev`).
    pub chain_head: String,
    /// The SHA-256 (hex) of the SubjectPublicKeyInfo of the signer that sealed it.
    pub signer_fingerprint: String,
    /// The label of the token that ran it, as its token line records it.
    pub token_label: String,
    /// That token's serial, as its token line records it.
    pub token_serial: String,
}

/// Checks that the output directory `dir`, whose `manifest.json` was read with the SHA-256
/// `manifest_sha256` and which held the files `found` (name to SHA-256, hex), is one an earlier
/// transcript records as written: `transcript` verifies under `signer`, one of its
/// `wrapped`/`rewrapped` lines records that manifest, and `found` is exactly the files that line
/// records, with their digests. A directory anyone
/// assembled — their own key wrapped under the same public key, with a manifest to match — is in
/// no sealed record. Returns the record, with the token its token line names.
pub fn recorded_output(
    transcript: &Path,
    signer: &Path,
    dir: &Path,
    manifest_sha256: &str,
    found: &BTreeMap<String, String>,
) -> Result<RecordedOutput, crate::Error> {
    let report = verified(transcript, signer)?;
    let refuse = |reason: String| Error::NotRecorded {
        dir: dir.to_path_buf(),
        transcript: transcript.to_path_buf(),
        reason,
    };
    let recorded = report
        .lines
        .iter()
        .flatten()
        .filter(|l| {
            matches!(
                l.get("step").and_then(Value::as_str),
                Some("wrapped" | "rewrapped")
            )
        })
        .map(|l| &field(l, "data")["files"])
        .find(|files| files["manifest.json"] == manifest_sha256)
        .and_then(Value::as_object)
        .ok_or_else(|| refuse("no wrap it records wrote this manifest.json".to_owned()))?;
    for (name, digest) in recorded {
        if found.get(name).map(String::as_str) != digest.as_str() {
            return Err(refuse(format!("{name} is not the file the transcript records")).into());
        }
    }
    if let Some(extra) = found.keys().find(|name| !recorded.contains_key(*name)) {
        return Err(refuse(format!("{extra} is in no record of this output")).into());
    }
    let token = report
        .lines
        .iter()
        .flatten()
        .find(|l| l.get("step").and_then(Value::as_str) == Some("token"))
        .map(|l| field(l, "data"))
        .ok_or_else(|| refuse("it records no token line".to_owned()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let chain_head = report
        .seal_line
        .as_deref()
        .and_then(parse_line)
        .map(|seal| text(field(&seal, "prev")))
        .unwrap_or_default();
    Ok(RecordedOutput {
        transcript: transcript.to_path_buf(),
        sha256: report.sha256.clone(),
        chain_head,
        signer_fingerprint: report.signer_fingerprint.clone(),
        token_label: text(&token["label"]),
        token_serial: text(&token["serial"]),
    })
}

/// The KCV an earlier transcript recorded for `label`, after verifying that transcript: it must
/// be verified (sealed, completed, intact) under `signer`. Anyone can seal a transcript with a
/// key of their own: the caller compares [`RecordedKcv::signer_fingerprint`] with the signer of
/// the token it acts on.
pub fn recorded_kcv(
    transcript: &Path,
    signer: &Path,
    label: &crate::spec::KeyLabel,
) -> Result<RecordedKcv, crate::Error> {
    let report = verified(transcript, signer)?;
    let no_kcv = || Error::NoKcv {
        path: transcript.to_path_buf(),
        label: label.to_string(),
    };
    let key = report
        .lines
        .iter()
        .flatten()
        .find_map(|l| {
            let d = field(l, "data");
            match l.get("step").and_then(Value::as_str) {
                Some("generated") if d["key"]["label"] == label.as_str() => Some(&d["key"]),
                _ => None,
            }
        })
        .ok_or_else(no_kcv)?;
    let text = |name: &str| key[name].as_str().map(str::to_owned);
    let kcv = text("kcv").ok_or_else(no_kcv)?;
    let (kcv_method, id, check_sha256) = (
        text("kcv_method").unwrap_or_default(),
        text("id").unwrap_or_default(),
        text("check_sha256"),
    );
    let signer_label = report
        .lines
        .iter()
        .flatten()
        .find(|l| l.get("step").and_then(Value::as_str) == Some("token"))
        .and_then(|l| field(l, "data")["signer_label"].as_str())
        .and_then(|s| s.parse::<crate::spec::KeyLabel>().ok())
        .ok_or_else(|| Error::NoSignerLabel {
            path: transcript.to_path_buf(),
        })?;
    Ok(RecordedKcv {
        kcv,
        kcv_method,
        id,
        check_sha256,
        signer_label,
        signer_fingerprint: report.signer_fingerprint,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_transcript_line_is_read_up_to_16_mib_and_a_signer_key_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let transcript = dir.path().join("t.jsonl");
        let signer = dir.path().join("signer.pem");
        // One line of zeros, one byte longer than a line may be.
        std::fs::File::create(&transcript)
            .unwrap()
            .set_len(crate::input::MAX_TRANSCRIPT_LINE + 1)
            .unwrap();
        std::fs::File::create(&signer)
            .unwrap()
            .set_len(crate::input::MAX_SMALL + 1)
            .unwrap();
        let inputs = Inputs {
            transcript: transcript.clone(),
            signer: signer.clone(),
            policy: None,
            plan: None,
            outputs: None,
            keep_lines: false,
        };
        assert_eq!(
            verify(&inputs).unwrap_err().to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                signer.display()
            )
        );
        use p256::pkcs8::{EncodePublicKey as _, LineEnding};
        let key = p256::SecretKey::from_slice(&[7u8; 32])
            .unwrap()
            .public_key();
        std::fs::write(&signer, key.to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
        assert_eq!(
            verify(&inputs).unwrap_err().to_string(),
            format!(
                "cannot read {}: line 0 is larger than 16 MiB, the most keyrite reads of one transcript line",
                transcript.display()
            )
        );
        // A whole transcript may be longer: it is read a line at a time.
        let line = [vec![b' '; 1 << 20], vec![b'\n']].concat();
        std::fs::write(&transcript, line.repeat(17)).unwrap();
        let report = verify(&inputs).unwrap();
        assert_eq!(report.line_count, 17);
        assert_eq!(report.verdict, Verdict::Invalid);
    }

    /// A line's fields with `data` and the other values given: `{data}` and `{rest}` spliced in.
    fn line_with(prev: &str, data: &str, rest: &str) -> String {
        format!(
            r#"{{"actor":"a","data":{data},"prev":"{prev}","seq":0,"step":"generated","time":"2026-01-01T00:00:00Z"{rest}}}"#
        )
    }

    #[test]
    fn the_one_pass_reader_and_the_map_agree_on_every_line() {
        let prev_bytes: [u8; 32] = Sha256::digest(b"").into();
        let prev = hex::encode(prev_bytes);
        let mut lines: Vec<String> = [
            "",
            " ",
            "[]",
            "{}",
            "null",
            "\u{feff}{}",
            r#"{"v":1}"#,
            r#"{"v":1,"v":1}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"b":1},{"b":1,"b":1}]}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\u00e9\n"}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}  "#,
            "{\"a\":\"\u{1}\"}",
        ]
        .map(str::to_owned)
        .to_vec();
        for rest in [
            r#","v":1"#,
            r#","v":1.0"#,
            r#","v":-1"#,
            r#","v":"1""#,
            r#","v":1,"x":0"#,
            "",
        ] {
            for data in [
                "{}",
                "[]",
                "null",
                r#"{"key":{"label":"k","kcv":"abcdef"}}"#,
                r#"{"key":{"label":"k","label":"k"}}"#,
                r#"{"key_label":"k\u0041","kcv":7,"key":null}"#,
            ] {
                lines.push(line_with(&prev, data, rest));
            }
        }
        for (seq, time, step, actor, prev_field) in [
            (
                "-0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0.0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-02-30T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "1",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "null",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{}\"", prev.to_uppercase()),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                "\"\\u0065\"".to_owned(),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"seal\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
        ] {
            lines.push(format!(
                r#"{{"actor":{actor},"data":{{}},"prev":{prev_field},"seq":{seq},"step":{step},"time":{time},"v":1}}"#
            ));
        }
        lines.push(format!(
            r#"{{"prev":"{prev}","seq":0,"signature":"c2ln","signer":"fp","step":"seal","time":"2026-01-01T00:00:00Z","v":1}}"#
        ));
        let mut lines: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
        lines.push(b"{\"a\":\"\xff\"}".to_vec());
        lines.push(b"{\"a\":1}\xff".to_vec());
        lines.push(b"{\"a\xc3\":1}".to_vec());
        for line in &lines {
            let map = parse_line(line);
            let head = Head::parse(line);
            let line = String::from_utf8_lossy(line);
            assert_eq!(map.is_some(), head.is_some(), "{line}");
            assert_eq!(
                check_line(0, map.as_ref(), &prev),
                check_head(0, head.as_ref(), &prev_bytes),
                "{line}"
            );
            if let (Some(map), Some(head)) = (&map, &head) {
                let d = field(map, "data");
                let text = |v: &Value| v.as_str().map(str::to_owned);
                let own = |s: &head::Scalar<'_>| s.as_str().map(str::to_owned);
                assert_eq!(own(&head.data.key_label), text(&d["key_label"]), "{line}");
                assert_eq!(own(&head.data.kcv), text(&d["kcv"]), "{line}");
                assert_eq!(
                    own(&head.data.key_label_in_key),
                    text(&d["key"]["label"]),
                    "{line}"
                );
                assert_eq!(own(&head.data.kcv_in_key), text(&d["key"]["kcv"]), "{line}");
                assert_eq!(head.data.has_key, d.get("key").is_some(), "{line}");
            }
        }
    }

    #[test]
    fn line_errors_read_as_before() {
        let prev = hex::encode(Sha256::digest(b""));
        let line = |text: &str| check_line(0, parse_line(text.as_bytes()).as_ref(), &prev);
        assert_eq!(
            line("[]").unwrap_err().to_string(),
            "not a JSON object (or a key appears twice)"
        );
        assert_eq!(
            line(r#"{"v":1}"#).unwrap_err().to_string(),
            r#"fields ["v"], not ["actor", "data", "prev", "seq", "step", "time", "v"]"#
        );
        let good = format!(
            r#"{{"actor":"a","data":{{}},"prev":"{prev}","seq":0,"step":"s","time":"2026-01-01T00:00:00Z","v":1}}"#
        );
        assert_eq!(line(&good), Ok(()));
        assert_eq!(
            check_line(1, parse_line(good.as_bytes()).as_ref(), &prev),
            Err(LineError::Seq { expected: 1 })
        );
    }
}
