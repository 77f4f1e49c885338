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
}

impl Verdict {
    /// The documented exit code: 0, 3 or 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Verified => 0,
            Verdict::Incomplete => 3,
            Verdict::Invalid => 1,
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
    /// The transcript's lines, parsed (for reports); empty entries for lines that do not parse.
    #[serde(skip)]
    pub lines: Vec<Option<Map<String, Value>>>,
    /// The policy given with `--policy`, as checked (for reports).
    #[serde(skip)]
    pub policy: Option<Policy>,
    /// The SHA-256 (hex) of the `--signer` key's SubjectPublicKeyInfo DER (for reports).
    #[serde(skip)]
    pub signer_fingerprint: String,
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

/// The parsed transcript, with where its seal is.
struct Parsed<'a> {
    raw: Vec<&'a [u8]>,
    lines: Vec<Option<Map<String, Value>>>,
    seal: Option<usize>,
}

impl Parsed<'_> {
    fn first(&self, step: &str) -> Option<(usize, &Map<String, Value>)> {
        self.all(step).into_iter().next()
    }

    fn all(&self, step: &str) -> Vec<(usize, &Map<String, Value>)> {
        self.lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.as_ref().map(|l| (i, l)))
            .filter(|(_, l)| l.get("step").and_then(Value::as_str) == Some(step))
            .collect()
    }

    fn data(&self, step: &str) -> Option<&Value> {
        self.first(step).and_then(|(_, l)| l.get("data"))
    }
}

/// Check 1: every line parses with exactly the format's fields, `seq` runs without gaps, and
/// each `prev` is the SHA-256 of the previous line's exact bytes.
fn check_chain(bytes: &[u8]) -> (Parsed<'_>, Check) {
    let mut raw: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let complete_last = raw.last().is_some_and(|l| l.is_empty());
    if complete_last {
        raw.pop();
    }
    let mut parsed = Parsed {
        raw: raw.clone(),
        lines: Vec::new(),
        seal: None,
    };
    let name = "chain";
    if raw.is_empty() {
        return (parsed, failed(name, "the transcript is empty", None));
    }
    if !complete_last {
        parsed.lines = vec![None; raw.len()];
        return (
            parsed,
            failed(
                name,
                "the last line has no newline (cut short)",
                Some(raw.len() - 1),
            ),
        );
    }
    let mut prev = hex::encode(Sha256::digest(b""));
    let mut result = None;
    for (i, line) in raw.iter().enumerate() {
        let map = parse_line(line);
        if result.is_none() {
            result = check_line(i, map.as_ref(), &prev).err().map(|e| (e, i));
        }
        prev = hex::encode(Sha256::digest(line));
        parsed.lines.push(map);
    }
    let check = match result {
        Some((reason, line)) => failed(name, reason.to_string(), Some(line)),
        None => passed(
            name,
            format!("{} lines, each chained to the one before", raw.len()),
        ),
    };
    (parsed, check)
}

/// One transcript line's bytes (without its newline) as a JSON object; `None` if they are not
/// one, or repeat a key.
pub fn parse_line(line: &[u8]) -> Option<Map<String, Value>> {
    crate::kms::parse_json_object(line).ok()
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
        .is_some_and(|t| crate::kms::rfc3339("time", t).is_ok());
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

/// Check 2: a finish line precedes exactly one seal line, only witness lines follow it, and the
/// seal is the signer's signature over the chain head.
fn check_seal(parsed: &mut Parsed<'_>, signer: &p256::PublicKey, signer_fp: &str) -> Check {
    let name = "seal";
    let seals = parsed.all("seal");
    let (i, seal) = match seals.as_slice() {
        [] => {
            return not_checked(
                name,
                "a seal line (there is none: the ceremony did not finish)",
            );
        }
        [(i, seal)] => (*i, *seal),
        [_, (second, _), ..] => return failed(name, "a second seal line", Some(*second)),
    };
    if i == 0
        || parsed.lines[i - 1]
            .as_ref()
            .and_then(|l| l.get("step"))
            .and_then(Value::as_str)
            != Some("finish")
    {
        return failed(
            name,
            "the line before the seal is not a finish line",
            Some(i),
        );
    }
    if let Some(j) = (i + 1..parsed.lines.len()).find(|&j| {
        parsed.lines[j]
            .as_ref()
            .and_then(|l| l.get("step"))
            .and_then(Value::as_str)
            != Some("witness")
    }) {
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
    let verified = signature.is_some_and(|sig| {
        p256::ecdsa::VerifyingKey::from(signer)
            .verify_prehash(&head, &sig)
            .is_ok()
    });
    parsed.seal = Some(i);
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

fn policy_checks(parsed: &Parsed<'_>, policy: Option<&Policy>, signer_fp: &str) -> Vec<Check> {
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
fn shares_check(parsed: &Parsed<'_>, policy: &Policy) -> Check {
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

fn quorum_check(parsed: &Parsed<'_>, policy: &Policy) -> Check {
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

/// The plan's digest, recomputed from its text and the recorded file digests, and the steps
/// that ran compared with the plan's, in order.
fn plan_checks(parsed: &Parsed<'_>, plan_file: Option<&Path>) -> Vec<Check> {
    let Some((line, _)) = parsed.first("plan") else {
        if plan_file.is_some() && parsed.seal.is_none() {
            let why = "the plan line, which the interrupted run did not reach";
            return vec![not_checked("plan", why), not_checked("steps", why)];
        }
        if plan_file.is_some() {
            let why = "the transcript records no plan, so it is not a run of --plan";
            return vec![failed("plan", why, None), failed("steps", why, None)];
        }
        return vec![
            not_checked("plan", "a plan line (this transcript records no ceremony)"),
            not_checked("steps", "a plan"),
        ];
    };
    let data = parsed.data("plan").cloned().unwrap_or_default();
    let text = data["text"].as_str().unwrap_or_default();
    let statement = data["digest_statement"].as_str().unwrap_or_default();
    let recorded_name = data["file"].as_str().unwrap_or("plan.toml");
    let path = Path::new(recorded_name);
    let embedded = match Plan::from_bytes(path, text.as_bytes().to_vec(), false) {
        Ok(p) => p,
        Err(e) => {
            return vec![
                failed(
                    "plan",
                    format!("the recorded plan text is not a valid plan: {e}"),
                    Some(line),
                ),
                not_checked("steps", "a valid plan"),
            ];
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
        return vec![
            failed(
                "plan",
                "the recorded plan text does not match the recorded digest",
                Some(line),
            ),
            not_checked("steps", "a plan that matches its digest"),
        ];
    }
    let Some(file) = plan_file else {
        return vec![
            passed(
                "plan",
                "the recorded plan text matches the digest the custodians signed (give --plan to check the files too)",
            ),
            steps_check(parsed, &embedded.steps),
        ];
    };
    // With --plan, the auditor's plan and its files are the reference, steps included.
    match Plan::load(file) {
        Ok(p) if p.digest_statement() == statement => vec![
            passed(
                "plan",
                "the plan and every file it names match the digest the custodians signed",
            ),
            steps_check(parsed, &p.steps),
        ],
        Ok(_) => vec![
            failed(
                "plan",
                "the plan's digest (with its files) differs from the one recorded",
                Some(line),
            ),
            not_checked("steps", "a plan that matches the transcript"),
        ],
        Err(e) => vec![
            failed("plan", format!("--plan: {e}"), None),
            not_checked("steps", "a valid --plan"),
        ],
    }
}

fn steps_check(parsed: &Parsed<'_>, steps: &[Step]) -> Check {
    let name = "steps";
    let end = parsed.seal.unwrap_or(parsed.lines.len());
    let mut ran: Vec<(usize, &str, &Value)> = Vec::new();
    for (i, l) in parsed.lines[..end].iter().enumerate() {
        let Some(l) = l else { continue };
        let step = l.get("step").and_then(Value::as_str).unwrap_or_default();
        if matches!(
            step,
            "generate"
                | "generated"
                | "wrap"
                | "wrapped"
                | "rewrap"
                | "rewrapped"
                | "destroy"
                | "destroyed"
                | "resumed"
                | "failure"
        ) {
            ran.push((i, step, field(l, "data")));
        }
    }
    let failure = ran
        .iter()
        .find(|(_, s, _)| *s == "failure")
        .map(|(_, _, d)| d["index"].as_u64());
    let mut expected: Vec<(usize, &str)> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let (announce, done) = step.record_names();
        expected.push((index, announce));
        expected.push((index, done));
    }
    let mut k = 0;
    for (line, step, data) in &ran {
        if *step == "failure" {
            break;
        }
        let Some(&(index, want)) = expected.get(k) else {
            return failed(
                name,
                format!("a {step} line the plan does not have"),
                Some(*line),
            );
        };
        // A step the interrupted run finished, taken over by a resumed run: one line stands
        // for its announcement and its result.
        let resumed = *step == "resumed" && k % 2 == 0;
        if (*step != want && !resumed) || data["index"].as_u64() != Some(index as u64) {
            return failed(
                name,
                format!(
                    "{step} of steps[{}] where the plan has {want} of steps[{index}]",
                    data["index"]
                ),
                Some(*line),
            );
        }
        let label_ok = match &steps[index] {
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
                    && existing
                        .as_ref()
                        .is_none_or(|(kcv, _)| data.get("kcv").is_none_or(|k| k == kcv.as_str()))
            }
            Step::Destroy {
                key_label,
                expect_kcv,
            } => data["key_label"] == key_label.as_str() && data["kcv"] == expect_kcv.as_str(),
        };
        if !label_ok {
            return failed(
                name,
                format!("steps[{index}] did not run as planned"),
                Some(*line),
            );
        }
        k += if resumed { 2 } else { 1 };
    }
    match failure {
        None if k == expected.len() => passed(
            name,
            format!("all {} steps ran as planned, in order", steps.len()),
        ),
        None if parsed.seal.is_none() => passed(
            name,
            format!(
                "{} of {} steps ran as planned before the record ends",
                k / 2,
                steps.len()
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

/// KCVs: the same key label has the same KCV wherever it appears; with `--outputs`, every
/// output file's SHA-256 matches and each manifest's KCV is the one recorded.
fn output_checks(parsed: &Parsed<'_>, outputs: Option<&Path>) -> Vec<Check> {
    let mut kcvs: BTreeMap<String, String> = BTreeMap::new();
    let mut kcv_check = passed("kcv", "every key label has one KCV throughout");
    // In transcript order: the first line naming a key's KCV fixes it.
    for (line, l) in parsed.lines.iter().enumerate() {
        let Some(l) = l else { continue };
        let d = field(l, "data");
        let (label, kcv) = match l.get("step").and_then(Value::as_str) {
            Some("generated") => (&d["key"]["label"], &d["key"]["kcv"]),
            Some("resumed") if d.get("key").is_some() => (&d["key"]["label"], &d["key"]["kcv"]),
            Some("resumed") => (&d["key_label"], &d["kcv"]),
            Some("wrapped" | "rewrapped" | "destroy" | "destroyed") => (&d["key_label"], &d["kcv"]),
            _ => continue,
        };
        let label = label.as_str().unwrap_or_default().to_owned();
        let kcv = kcv.as_str().unwrap_or_default().to_owned();
        if kcvs.entry(label.clone()).or_insert_with(|| kcv.clone()) != &kcv {
            kcv_check = failed(
                "kcv",
                format!("key {label:?} appears with another KCV"),
                Some(line),
            );
            break;
        }
    }
    let Some(dir) = outputs else {
        return vec![kcv_check, not_checked("outputs", "--outputs")];
    };
    let mut count = 0;
    let mut wraps = parsed.all("wrapped");
    wraps.extend(parsed.all("rewrapped"));
    wraps.extend(
        parsed
            .all("resumed")
            .into_iter()
            .filter(|(_, l)| field(l, "data").get("out").is_some()),
    );
    for (line, l) in wraps {
        let d = field(l, "data");
        let out = Path::new(d["out"].as_str().unwrap_or_default());
        let Some(base) = out.file_name() else {
            return vec![
                kcv_check,
                failed("outputs", "a wrap records no output directory", Some(line)),
            ];
        };
        let here = dir.join(base);
        for (file, digest) in d["files"].as_object().cloned().unwrap_or_default() {
            // The names come from the transcript: only a plain file directly in the output
            // directory is read (never a path elsewhere, a FIFO or a device that would hang).
            let path = here.join(&file);
            let plain = !file.is_empty()
                && file != "."
                && file != ".."
                && !file.contains('/')
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
            let actual = if plain {
                crate::input::read(&path, crate::input::MAX_SMALL)
                    .map(|b| hex::encode(Sha256::digest(b)))
                    .ok()
            } else {
                None
            };
            if actual.as_deref() != digest.as_str() {
                return vec![
                    kcv_check,
                    failed(
                        "outputs",
                        format!(
                            "{} differs from the transcript (or is missing)",
                            here.join(&file).display()
                        ),
                        Some(line),
                    ),
                ];
            }
            count += 1;
        }
        let manifest_kcv = crate::input::read(&here.join("manifest.json"), crate::input::MAX_SMALL)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|m| m["key"]["kcv"].clone());
        if manifest_kcv.as_ref() != Some(&d["kcv"]) {
            return vec![
                kcv_check,
                failed(
                    "outputs",
                    format!("{}'s manifest records another KCV", here.display()),
                    Some(line),
                ),
            ];
        }
    }
    vec![
        kcv_check,
        passed(
            "outputs",
            format!("{count} output files match the transcript"),
        ),
    ]
}

fn witness_check(parsed: &Parsed<'_>, policy: Option<&Policy>) -> (Check, Vec<Witness>) {
    let name = "witnesses";
    let Some(seal) = parsed.seal else {
        return (not_checked(name, "a seal"), Vec::new());
    };
    let message = witness_message(parsed.raw[seal]);
    let mut witnesses = Vec::new();
    let mut problem = None;
    for (line, l) in parsed.all("witness") {
        let d = field(l, "data");
        let sig = d["signature"]
            .as_str()
            .and_then(|s| SshSig::from_pem(s).ok());
        // Without a policy, a signature is still checked against the key it carries: an
        // altered one fails; with a policy, the key must be a witness's and the name its own.
        let verified = match (&sig, policy) {
            (None, _) => Some(false),
            (Some(sig), None) => {
                let key = ssh_key::PublicKey::from(sig.public_key().clone());
                let ok = sig.namespace() == WITNESS_NAMESPACE
                    && d["key_fingerprint"]
                        == key.fingerprint(HashAlg::Sha256).to_string().as_str()
                    && *field(l, "actor") == d["name"]
                    && key
                        .verify(WITNESS_NAMESPACE, message.as_bytes(), sig)
                        .is_ok();
                (!ok).then_some(false)
            }
            (Some(sig), Some(policy)) => Some(
                sig.namespace() == WITNESS_NAMESPACE
                    && policy.witnesses.iter().any(|w| {
                        w.key.key_data() == sig.public_key()
                            && d["name"] == w.name.as_str()
                            && *field(l, "actor") == w.name.as_str()
                            && w.key
                                .verify(WITNESS_NAMESPACE, message.as_bytes(), sig)
                                .is_ok()
                    }),
            ),
        };
        let repeated = witnesses.iter().any(|w: &Witness| {
            w.key_fingerprint == d["key_fingerprint"].as_str().unwrap_or_default()
                || w.name == d["name"].as_str().unwrap_or_default()
        });
        let verified = if repeated { Some(false) } else { verified };
        if verified == Some(false) && problem.is_none() {
            problem = Some(line);
        }
        witnesses.push(Witness {
            name: d["name"].as_str().unwrap_or_default().to_owned(),
            key_fingerprint: d["key_fingerprint"].as_str().unwrap_or_default().to_owned(),
            verified,
            line,
        });
    }
    let names = witnesses
        .iter()
        .map(|w| w.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let check = match (problem, policy) {
        (Some(line), _) => failed(
            name,
            "a witness signature does not verify under a witness key of the policy",
            Some(line),
        ),
        (None, _) if witnesses.is_empty() => passed(name, "no witness has signed"),
        (None, None) => not_checked(
            name,
            format!("--policy (to verify the signatures of {names})"),
        ),
        (None, Some(_)) => passed(
            name,
            format!("{} witness signature(s) verify: {names}", witnesses.len()),
        ),
    };
    (check, witnesses)
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

/// Verifies a transcript.
pub fn verify(inputs: &Inputs) -> Result<Report, Error> {
    let bytes = read(&inputs.transcript, crate::input::MAX_TRANSCRIPT)?;
    let signer = Signer::from_pem(
        &inputs.signer,
        &read(&inputs.signer, crate::input::MAX_SMALL)?,
    )?;
    let policy = inputs.policy.as_deref().map(Policy::load).transpose()?;
    Ok(verify_transcript(
        &bytes,
        &signer,
        policy,
        inputs.plan.as_deref(),
        inputs.outputs.as_deref(),
    ))
}

/// Verifies the transcript `bytes` once [`verify`] has read its inputs: under `signer`, with
/// the policy, the plan (read from its path, with the files it names) and the output files (read
/// from their directory) where given.
pub fn verify_transcript(
    bytes: &[u8],
    signer: &Signer,
    policy: Option<Policy>,
    plan: Option<&Path>,
    outputs: Option<&Path>,
) -> Report {
    let signer_fp = signer.fingerprint.clone();
    let (mut parsed, chain) = check_chain(bytes);
    let chain_ok = matches!(chain.status, Status::Passed { .. });
    let mut checks = vec![chain];
    if chain_ok {
        checks.push(check_seal(&mut parsed, &signer.key, &signer_fp));
    } else {
        checks.push(not_checked("seal", "an intact chain"));
    }
    checks.extend(policy_checks(&parsed, policy.as_ref(), &signer_fp));
    checks.extend(plan_checks(&parsed, plan));
    checks.extend(output_checks(&parsed, outputs));
    let (witness, witnesses) = witness_check(&parsed, policy.as_ref());
    checks.push(witness);

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
            "INCOMPLETE: an intact record without a seal: the ceremony did not finish".to_owned(),
        )
    } else if outcome.as_deref() != Some("completed") {
        (
            Verdict::Incomplete,
            "FAILED CEREMONY: an intact, sealed record of a ceremony that failed".to_owned(),
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
        lines: parsed.lines,
        policy,
        signer_fingerprint: signer_fp,
    }
}

/// The KCV an earlier transcript recorded for `label`, after verifying that transcript: it must
/// be verified (sealed, completed, intact) under `signer`.
pub fn recorded_kcv(
    transcript: &Path,
    signer: &Path,
    label: &crate::hsm::keys::KeyLabel,
) -> Result<String, crate::Error> {
    let report = verify(&Inputs {
        transcript: transcript.to_path_buf(),
        signer: signer.to_path_buf(),
        policy: None,
        plan: None,
        outputs: None,
    })?;
    if report.verdict != Verdict::Verified {
        return Err(Error::NotVerified {
            path: transcript.to_path_buf(),
            summary: report.summary,
        }
        .into());
    }
    report
        .lines
        .iter()
        .flatten()
        .find_map(|l| {
            let d = field(l, "data");
            match l.get("step").and_then(Value::as_str) {
                Some("generated") if d["key"]["label"] == label.as_str() => {
                    d["key"]["kcv"].as_str().map(str::to_owned)
                }
                _ => None,
            }
        })
        .ok_or_else(|| {
            Error::NoKcv {
                path: transcript.to_path_buf(),
                label: label.to_string(),
            }
            .into()
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_transcript_is_read_up_to_16_mib_and_a_signer_key_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let transcript = dir.path().join("t.jsonl");
        let signer = dir.path().join("signer.pem");
        std::fs::File::create(&transcript)
            .unwrap()
            .set_len(crate::input::MAX_TRANSCRIPT + 1)
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
        };
        let too_large = |path: &Path, limit: &str| {
            format!(
                "cannot read {}: it is larger than {limit}, the most keyrite reads from such a file",
                path.display()
            )
        };
        assert_eq!(
            verify(&inputs).unwrap_err().to_string(),
            too_large(&transcript, "16 MiB")
        );
        std::fs::write(&transcript, b"").unwrap();
        assert_eq!(
            verify(&inputs).unwrap_err().to_string(),
            too_large(&signer, "1 MiB")
        );
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
