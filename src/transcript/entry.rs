//! The typed transcript line: [`Entry`], one variant per step, each with the fields its `data`
//! holds. The ceremony, the restore and the witness commands write entries; verify and resume
//! read them back. A line is `{v, seq, time, step, actor, data, prev}`; an entry is its `step`
//! and `data` (serde's adjacent tagging), and its data refuses a field it does not name.
//!
//! Adding a step is one line of `entries!`: the variant, its name, and so [`Step::ALL`].
//! The seal line (`{v, seq, time, step:"seal", prev, signer, signature}`) has no actor and no
//! data: it is a [`Step`] but not an entry.
//!
//! It imports nothing of keyrite: the values are as the line holds them (strings, numbers), and
//! each reader checks their meaning.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Reads an `Option` field that must be present (as `null` or a value): serde's default takes a
/// missing `Option` for `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Declares [`Entry`] and [`Step`] from one list of `Variant(Data) = "name"`.
macro_rules! entries {
    ($($(#[$doc:meta])* $variant:ident($data:ty) = $name:literal,)*) => {
        /// One transcript line's step and data. Read from a whole line, it ignores the line's
        /// other fields (`v`, `seq`, `time`, `actor`, `prev`), which the chain check reads.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "step", content = "data")]
        pub enum Entry {
            $($(#[$doc])* #[serde(rename = $name)] $variant($data),)*
        }

        /// A step name keyrite records: every entry's, and the seal's.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Step {
            $($(#[$doc])* $variant,)*
            /// The seal line.
            Seal,
        }

        impl Step {
            /// Every step, the seal last.
            pub const ALL: [Step; [$($name,)*].len() + 1] = [$(Step::$variant,)* Step::Seal];

            /// Its name in the line's `step`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Step::$variant => $name,)*
                    Step::Seal => "seal",
                }
            }
        }

        /// Appends `entry`'s `data` to `out` as [`Entry::data`] writes through a JSON value.
        pub(super) fn write_sorted_data(out: &mut Vec<u8>, entry: &Entry) -> Result<(), serde_json::Error> {
            match entry {
                $(Entry::$variant(data) => super::sorted::write(out, data),)*
            }
        }

        impl Entry {
            /// Its step.
            pub fn step(&self) -> Step {
                match self {
                    $(Entry::$variant(_) => Step::$variant,)*
                }
            }
        }

        impl<'de> serde::de::Visitor<'de> for LineOf {
            type Value = Entry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a transcript line")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut entry = None;
                while let Some(is_data) = map.next_key_seed(IsData)? {
                    if !is_data {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    }
                    entry = Some(match self.0 {
                        $(Step::$variant => Entry::$variant(map.next_value()?),)*
                        Step::Seal => return Err(serde::de::Error::custom("a seal line has no entry")),
                    });
                }
                entry.ok_or_else(|| serde::de::Error::missing_field("data"))
            }
        }
    };
}

/// Reads a whole line as the entry of its step, known beforehand: its `data` straight into that
/// step's type, its other fields skipped.
struct LineOf(Step);

/// An object key: whether it is `data`.
struct IsData;

impl<'de> serde::de::DeserializeSeed<'de> for IsData {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for IsData {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == "data")
    }
}

entries! {
    /// The policy the run is under.
    Policy(PolicyData) = "policy",
    /// The plan, with its text.
    Plan(PlanData) = "plan",
    /// The custodians' approvals.
    Approvals(ApprovalsData) = "approvals",
    /// The token, module, binary and signer.
    Token(TokenData) = "token",
    /// How the operator logged in.
    Login(LoginData) = "login",
    /// The interrupted transcript a run resumes.
    Resume(ResumeData) = "resume",
    /// A key taken over from the interrupted run.
    Resumed(ResumedData) = "resumed",
    /// A wrap step's wrapping key's attestation, checked.
    Attestation(AttestationData) = "attestation",
    /// A trial wrap on the token.
    Check(CheckData) = "check",
    /// The ceremony marker, announced.
    Marker(MarkerData) = "marker",
    /// A group of steps, announced before any of them touches the token.
    Batch(BatchData) = "batch",
    /// A group of steps done on the token, its outputs about to move into place.
    Commit(CommitData) = "commit",
    /// A key generation, announced.
    Generate(GenerateData) = "generate",
    /// A key generated.
    Generated(GeneratedData) = "generated",
    /// A wrap of a generated key, announced.
    Wrap(WrapData) = "wrap",
    /// A wrap written.
    Wrapped(WrappedData) = "wrapped",
    /// A wrap of an existing key, announced.
    Rewrap(WrapData) = "rewrap",
    /// A rewrap written.
    Rewrapped(WrappedData) = "rewrapped",
    /// A key destruction, announced.
    Destroy(DestroyData) = "destroy",
    /// A key destroyed.
    Destroyed(DestroyedData) = "destroyed",
    /// The step that failed.
    Failure(FailureData) = "failure",
    /// The outcome.
    Finish(FinishData) = "finish",
    /// A witness's signature over the seal.
    Witness(WitnessData) = "witness",
    /// A single recorded wrap's request.
    Request(RequestData) = "request",
    /// A backup restore, announced.
    Restore(RestoreData) = "restore",
    /// A key restored.
    Restored(RestoredData) = "restored",
}

/// The step names keyrite records, the seal's last.
pub const STEP_NAMES: [&str; Step::ALL.len()] = {
    let mut names = [""; Step::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Step::ALL[i].as_str();
        i += 1;
    }
    names
};

impl Step {
    /// The step named `name`, if keyrite records one.
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl Entry {
    /// The entry of a line whose `step` is `step` and `data` is `data`.
    pub fn from_parts(step: &str, data: &Value) -> Result<Entry, serde_json::Error> {
        let mut line = serde_json::Map::new();
        line.insert("step".to_owned(), Value::String(step.to_owned()));
        line.insert("data".to_owned(), data.clone());
        let entry: Entry = serde_json::from_value(Value::Object(line))?;
        entry.check_shape(data)?;
        Ok(entry)
    }

    /// The entry of a whole line's exact bytes: its `step` and `data`.
    pub fn from_line(line: &[u8]) -> Result<Entry, serde_json::Error> {
        let entry: Entry = serde_json::from_slice(line)?;
        // serde reads a struct from a list of its values in order as well as from an object;
        // only a line with a list can hold one.
        if line.contains(&b'[') {
            let value: Value = serde_json::from_slice(line)?;
            entry.check_shape(value.get("data").unwrap_or(&Value::Null))?;
        }
        Ok(entry)
    }

    /// [`Entry::from_line`] for a line whose `step` is known to be `step`: the same entry, or
    /// the same error, read without buffering the line's `data` until its `step` is read. The
    /// line must not repeat a key (verify's reader has refused any that does).
    pub fn from_line_of(step: Step, line: &[u8]) -> Result<Entry, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let read = serde::Deserializer::deserialize_map(&mut de, LineOf(step))
            .and_then(|entry| de.end().map(|()| entry));
        match read {
            Ok(entry) if entry.step() == step && !line.contains(&b'[') => Ok(entry),
            _ => Entry::from_line(line),
        }
    }

    /// Refuses `data` where it holds a list in the place of a struct this entry names by its
    /// fields: keyrite writes every struct as an object, and so do the other two verifiers read.
    fn check_shape(&self, data: &Value) -> Result<(), serde_json::Error> {
        match shape_misfit(data, &self.data()?, "data") {
            None => Ok(()),
            Some(at) => Err(<serde_json::Error as serde::de::Error>::custom(format!(
                "{at} is a list where the line names its fields"
            ))),
        }
    }

    /// Its `data`, as the line holds it.
    pub fn data(&self) -> Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        Ok(value
            .as_object_mut()
            .and_then(|m| m.remove("data"))
            .unwrap_or(Value::Null))
    }
}

/// Where `read` (as the line holds it) has a list where `typed` (the same data written by its
/// entry) has an object: the path, from `at`.
fn shape_misfit(read: &Value, typed: &Value, at: &str) -> Option<String> {
    match (read, typed) {
        (Value::Array(_), Value::Object(_)) => Some(at.to_owned()),
        (Value::Object(read), Value::Object(typed)) => typed.iter().find_map(|(k, t)| {
            read.get(k)
                .and_then(|r| shape_misfit(r, t, &format!("{at}.{k}")))
        }),
        (Value::Array(read), Value::Array(typed)) => read
            .iter()
            .zip(typed)
            .enumerate()
            .find_map(|(i, (r, t))| shape_misfit(r, t, &format!("{at}[{i}]"))),
        _ => None,
    }
}

/// Why a line does not read as its entry, in serde's words, which name the field, without its
/// position in the line.
pub fn misfit(e: &serde_json::Error) -> String {
    let e = e.to_string();
    e.rsplit_once(" at line ")
        .map_or(e.as_str(), |(why, _)| why)
        .to_owned()
}

/// A person the policy names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The name.
    pub name: String,
    /// Their SSH key's fingerprint.
    pub key_fingerprint: String,
}

/// A file and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// The path.
    pub file: String,
    /// The SHA-256.
    pub sha256: String,
}

/// A named file and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedDigest {
    /// The name.
    pub name: String,
    /// The SHA-256.
    pub sha256: String,
}

/// The `policy` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyData {
    /// The policy file.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
    /// M of the custodians.
    pub threshold: usize,
    /// The custodians.
    pub custodians: Vec<Person>,
    /// The witnesses.
    pub witnesses: Vec<Person>,
    /// The signer key's fingerprint.
    pub signer_fingerprint: String,
    /// The token's serial, if the policy pins it.
    #[serde(deserialize_with = "present")]
    pub token_serial: Option<String>,
    /// The custodians file, if the policy names one.
    #[serde(deserialize_with = "present")]
    pub custodians_file: Option<FileDigest>,
    /// The module's SHA-256, if the policy pins it.
    #[serde(deserialize_with = "present")]
    pub module_sha256: Option<String>,
    /// The module's path, if the policy pins it.
    #[serde(deserialize_with = "present")]
    pub module_path: Option<String>,
    /// Whether wrapping keys must be trusted.
    pub require_trusted_wrapping: bool,
    /// How many witnesses must co-sign.
    pub witnesses_required: usize,
}

/// The `plan` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanData {
    /// The ceremony's id.
    pub ceremony_id: String,
    /// Its operator.
    pub operator: String,
    /// The plan file.
    pub file: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its text.
    pub text: String,
    /// The statement the custodians sign.
    pub digest_statement: String,
    /// The files the plan names, with their digests.
    pub files: Vec<NamedDigest>,
    /// Each step's action.
    pub steps: Vec<String>,
}

/// An approval that counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The custodian's name.
    pub custodian: String,
    /// Their key's fingerprint.
    pub key_fingerprint: String,
    /// The approval file's name.
    pub file: String,
    /// The signature, as `ssh-keygen` wrote it.
    pub signature: String,
}

/// An approval file that does not count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    /// The file name.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// The `approvals` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsData {
    /// The approvals that count.
    pub approvals: Vec<Approval>,
    /// The files that do not.
    pub rejected: Vec<Rejected>,
    /// The custodians who did not approve.
    pub missing: Vec<String>,
    /// M.
    pub threshold: usize,
}

/// The `token` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenData {
    /// The PKCS#11 module's path.
    pub module: String,
    /// Its SHA-256.
    pub module_sha256: String,
    /// The keyrite binary's path.
    pub keyrite_path: String,
    /// Its SHA-256.
    pub keyrite_sha256: String,
    /// The module's own description.
    pub library: String,
    /// The token label.
    pub label: String,
    /// Its serial.
    pub serial: String,
    /// Its manufacturer.
    pub manufacturer: String,
    /// Its model.
    pub model: String,
    /// Its firmware version.
    pub firmware: String,
    /// The signer key's label.
    pub signer_label: String,
    /// The signer key's fingerprint.
    pub signer_fingerprint: String,
}

/// The `login` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginData {
    /// Where the PIN came from, never its value.
    pub pin: String,
    /// For a PIN rebuilt from shares, their indexes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_indexes: Option<Vec<u8>>,
}

/// The `resume` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeData {
    /// The interrupted transcript.
    pub from: String,
    /// Its SHA-256.
    pub sha256: String,
    /// How many lines it has.
    pub lines: usize,
    /// The labels of the keys taken over.
    pub keys: Vec<String>,
}

/// A key as the token reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// The key label.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The kind of material.
    pub spec: String,
    /// The key check value, or `null` when the token gives none. Read, an absent one is
    /// `null` too, so that resume refuses a key without one in its own words; verify refuses
    /// an absent one as data that does not fit its step (keyrite always writes the field).
    #[serde(default)]
    pub kcv: Option<String>,
    /// How it was computed, or why there is none.
    pub kcv_method: String,
    /// The full check value, or `null` (read, an absent one is `null`; verify refuses it, as
    /// for `kcv`).
    #[serde(default)]
    pub check_sha256: Option<String>,
    /// The attribute template.
    pub template: BTreeMap<String, String>,
    /// Every check value the token gives, by method, when recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub check_values: BTreeMap<String, String>,
    /// Key pairs discarded before this one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub discarded: usize,
}

/// The `resumed` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumedData {
    /// The plan step.
    pub index: usize,
    /// What the interrupted run did (`generate`).
    pub action: String,
    /// The key.
    pub key: Key,
}

/// The `check` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckData {
    /// The plan step.
    pub index: usize,
    /// The wrapping algorithm.
    pub algorithm: String,
    /// The PKCS#11 mechanism.
    pub mechanism: String,
    /// What the trial found.
    pub result: String,
}

/// The `attestation` line: what proves a wrap step's wrapping key lives in the KMS's HSM, as
/// checked before the token was opened, with all an auditor needs to check it again offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationData {
    /// The plan step.
    pub index: usize,
    /// The wrapping key's SubjectPublicKeyInfo, DER, base64.
    pub wrapping_key: String,
    /// Its SHA-256.
    pub wrapping_key_sha256: String,
    /// The verdict, as the manifest's `wrapping_key_attestation` records it.
    pub record: Value,
    /// The attestation as the KMS gave it, or `null` if there is none.
    #[serde(deserialize_with = "present")]
    pub evidence: Option<Value>,
    /// The roots file the plan named, whole, or `null` for keyrite's pinned roots alone.
    #[serde(deserialize_with = "present")]
    pub roots_file: Option<RootsFileData>,
}

/// A roots file, as an `attestation` line keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootsFileData {
    /// Its path, as named.
    pub path: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its text.
    pub text: String,
}

/// The `marker` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkerData {
    /// The marker object's label.
    pub label: String,
    /// Its value: the plan's SHA-256.
    pub value: String,
}

/// The `batch` line: fsynced before any of its steps touches the token, it announces plan steps
/// `first` to `first + max_steps - 1` at most; the batch may end earlier (by time, at a destroy
/// step, at the plan's end, or at a failure), where its `commit` line says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchData {
    /// The first plan step of the batch.
    pub first: usize,
    /// How many steps the batch takes at most.
    pub max_steps: usize,
    /// How long (milliseconds) the batch takes new steps for at most, from its first.
    pub max_ms: u64,
    /// How many sessions of the token run its steps.
    pub sessions: usize,
}

/// The `commit` line: written after the lines of steps `first` to `last` and fsynced in one
/// round with the files and directories of the batch's outputs, before any of them moves into
/// place. The batch's `wrapped` and `rewrapped` lines follow it, once the outputs have moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitData {
    /// The batch's first plan step.
    pub first: usize,
    /// Its last.
    pub last: usize,
    /// How many output directories it moves into place.
    pub outputs: usize,
}

/// The `generate` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateData {
    /// The plan step.
    pub index: usize,
    /// The key label.
    pub key_label: String,
    /// The kind of key.
    pub key_spec: String,
}

/// The `generated` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedData {
    /// The plan step.
    pub index: usize,
    /// The key.
    pub key: Key,
}

/// The `wrap` and `rewrap` lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapData {
    /// The plan step.
    pub index: usize,
    /// The key label.
    pub key_label: String,
    /// The KMS provider.
    pub provider: String,
    /// The KMS key.
    pub kms_key_id: String,
    /// The wrapping algorithm.
    pub algorithm: String,
    /// The PKCS#11 mechanism.
    pub mechanism: String,
    /// Its parameters.
    pub mechanism_parameters: String,
    /// The wrapping key's SHA-256.
    pub wrapping_key_sha256: String,
    /// When the import parameters expire, if they do.
    #[serde(deserialize_with = "present")]
    pub parameters_valid_to: Option<String>,
    /// When the imported material expires, if it does.
    #[serde(deserialize_with = "present")]
    pub key_material_valid_to: Option<String>,
    /// The output directory.
    pub out: String,
}

/// The `wrapped` and `rewrapped` lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedData {
    /// The plan step.
    pub index: usize,
    /// The key label.
    pub key_label: String,
    /// The key check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub kcv: Option<String>,
    /// The full check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub check_sha256: Option<String>,
    /// The output directory.
    pub out: String,
    /// Its files' SHA-256, by name.
    pub files: BTreeMap<String, String>,
    /// A warning about the output, if any.
    #[serde(deserialize_with = "present")]
    pub warning: Option<String>,
}

/// The `destroy` line: a planned destruction names its step; one after a failure says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyData {
    /// The plan step, for a planned destruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The key label.
    pub key_label: String,
    /// The key check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub kcv: Option<String>,
    /// The full check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub check_sha256: Option<String>,
    /// Why a key no step destroys is destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The `destroyed` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestroyedData {
    /// The plan step.
    pub index: usize,
    /// The key label.
    pub key_label: String,
    /// The key check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub kcv: Option<String>,
    /// The full check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub check_sha256: Option<String>,
}

/// The `failure` line: a ceremony's names its plan step; a restore's has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureData {
    /// The plan step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Its action.
    pub action: String,
    /// The error.
    pub error: String,
}

/// Why a run failed, as its finish line says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishFailure {
    /// The plan step that failed (a restore has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
    /// The error.
    pub error: String,
}

/// What became of a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settled {
    /// The key label.
    pub label: String,
    /// The key check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub kcv: Option<String>,
    /// Its fate.
    pub fate: String,
}

/// The `finish` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishData {
    /// `completed` or `failed`.
    pub outcome: String,
    /// Why it failed, or `null`.
    #[serde(deserialize_with = "present")]
    pub failure: Option<FinishFailure>,
    /// What became of each key.
    pub keys: Vec<Settled>,
}

/// The `witness` line. Like every other line's, its data refuses a field it does not name:
/// witness lines follow the seal, where no signature covers them, so nothing but the fields
/// verify checks may stand there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessData {
    /// The witness's name.
    pub name: String,
    /// Their key's fingerprint.
    pub key_fingerprint: String,
    /// What they signed, without its newline.
    pub message: String,
    /// The SSH signature, PEM.
    pub signature: String,
}

/// The `request` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestData {
    /// The KMS provider.
    pub provider: String,
    /// The import parameters' directory.
    pub params: String,
    /// Their SHA-256.
    pub params_sha256: String,
    /// The wrapping algorithm.
    pub algorithm: String,
    /// The key label.
    pub key_label: String,
    /// The kind of key.
    pub key_spec: String,
    /// Whether the key wraps only with trusted keys.
    pub wrap_with_trusted: bool,
    /// The output directory.
    pub out: String,
    /// When the imported material expires, if it does.
    #[serde(deserialize_with = "present")]
    pub key_material_valid_to: Option<String>,
}

/// The token a backup came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The token label.
    pub label: String,
    /// Its serial.
    pub serial: String,
}

/// The `restore` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreData {
    /// The backup directory.
    pub backup: String,
    /// The key label.
    pub key_label: String,
    /// The backup's files' SHA-256, by name.
    pub files: BTreeMap<String, String>,
    /// Its manifest's SHA-256.
    pub manifest_sha256: String,
    /// The token it came from, as the manifest claims it.
    pub source: Source,
    /// The wrapping algorithm.
    pub algorithm: String,
    /// The backup key's SHA-256.
    pub backup_key_sha256: String,
    /// What proved where it came from.
    pub provenance: Provenance,
}

/// What proved where a backup came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case", deny_unknown_fields)]
pub enum Provenance {
    /// The sealed transcript of the run that wrote it.
    Transcript(RecordedTranscript),
    /// A check value given out of band.
    ExpectedKcv {
        /// The value.
        value: String,
    },
}

/// The sealed transcript a backup was found in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedTranscript {
    /// The transcript.
    pub transcript: String,
    /// The SHA-256 of its bytes.
    pub sha256: String,
    /// The chain head its seal signs.
    pub chain_head: String,
    /// The SHA-256 of its signer's public key.
    pub signer_fingerprint: String,
    /// The label of the token that ran it.
    pub token_label: String,
    /// That token's serial.
    pub token_serial: String,
}

/// A key restored, as the token reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoredKey {
    /// The key label.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The kind of material.
    pub spec: String,
    /// Its check value.
    pub kcv: String,
    /// How it was computed.
    pub kcv_method: String,
}

/// The `restored` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoredData {
    /// The key.
    pub key: RestoredKey,
    /// The check values the two tokens share, which matched.
    pub matched: BTreeMap<String, String>,
    /// Its full check value, or `null`.
    #[serde(deserialize_with = "present")]
    pub check_sha256: Option<String>,
    /// The check value given out of band, or `null`.
    #[serde(deserialize_with = "present")]
    pub expected: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn key() -> Key {
        Key {
            label: "k".into(),
            id: "01".into(),
            spec: "AES_256".into(),
            kcv: Some("abcdef".into()),
            kcv_method: "m".into(),
            check_sha256: None,
            template: BTreeMap::from([("CKA_TOKEN".into(), "true".into())]),
            check_values: BTreeMap::new(),
            discarded: 0,
        }
    }

    fn one_of_each() -> Vec<Entry> {
        let person = Person {
            name: "a".into(),
            key_fingerprint: "SHA256:x".into(),
        };
        let wrap = WrapData {
            index: 1,
            key_label: "k".into(),
            provider: "aws".into(),
            kms_key_id: "id".into(),
            algorithm: "RSA_AES_KEY_WRAP_SHA_256".into(),
            mechanism: "CKM_RSA_AES_KEY_WRAP".into(),
            mechanism_parameters: "p".into(),
            wrapping_key_sha256: "00".into(),
            parameters_valid_to: None,
            key_material_valid_to: Some("2030-01-01T00:00:00Z".into()),
            out: "o".into(),
        };
        let wrapped = WrappedData {
            index: 1,
            key_label: "k".into(),
            kcv: None,
            check_sha256: Some("00".into()),
            out: "o".into(),
            files: BTreeMap::from([("manifest.json".into(), "00".into())]),
            warning: None,
        };
        vec![
            Entry::Policy(PolicyData {
                file: "p".into(),
                sha256: "00".into(),
                threshold: 2,
                custodians: vec![person.clone()],
                witnesses: vec![person],
                signer_fingerprint: "00".into(),
                token_serial: None,
                custodians_file: Some(FileDigest {
                    file: "c".into(),
                    sha256: "00".into(),
                }),
                module_sha256: None,
                module_path: None,
                require_trusted_wrapping: true,
                witnesses_required: 0,
            }),
            Entry::Plan(PlanData {
                ceremony_id: "c".into(),
                operator: "o".into(),
                file: "f".into(),
                sha256: "00".into(),
                text: "t".into(),
                digest_statement: "s".into(),
                files: vec![NamedDigest {
                    name: "n".into(),
                    sha256: "00".into(),
                }],
                steps: vec!["generate".into()],
            }),
            Entry::Approvals(ApprovalsData {
                approvals: vec![Approval {
                    custodian: "a".into(),
                    key_fingerprint: "f".into(),
                    file: "a.sig".into(),
                    signature: "s".into(),
                }],
                rejected: vec![Rejected {
                    file: "b.sig".into(),
                    reason: "r".into(),
                }],
                missing: vec!["b".into()],
                threshold: 1,
            }),
            Entry::Token(TokenData {
                module: "m".into(),
                module_sha256: "00".into(),
                keyrite_path: "k".into(),
                keyrite_sha256: "00".into(),
                library: "l".into(),
                label: "t".into(),
                serial: "1".into(),
                manufacturer: "m".into(),
                model: "m".into(),
                firmware: "1.0".into(),
                signer_label: "s".into(),
                signer_fingerprint: "00".into(),
            }),
            Entry::Login(LoginData {
                pin: "prompt".into(),
                share_indexes: None,
            }),
            Entry::Login(LoginData {
                pin: "shares".into(),
                share_indexes: Some(vec![1, 3]),
            }),
            Entry::Resume(ResumeData {
                from: "t".into(),
                sha256: "00".into(),
                lines: 9,
                keys: vec!["k".into()],
            }),
            Entry::Resumed(ResumedData {
                index: 0,
                action: "generate".into(),
                key: key(),
            }),
            Entry::Attestation(AttestationData {
                index: 1,
                wrapping_key: "AA==".into(),
                wrapping_key_sha256: "00".into(),
                record: serde_json::json!({"verdict": "not attested", "reason": "r"}),
                evidence: Some(serde_json::json!({"source": "google-import-job", "blobs": ["x"]})),
                roots_file: Some(RootsFileData {
                    path: "r.toml".into(),
                    sha256: "00".into(),
                    text: "[[roots]]\n".into(),
                }),
            }),
            Entry::Check(CheckData {
                index: 1,
                algorithm: "a".into(),
                mechanism: "m".into(),
                result: "r".into(),
            }),
            Entry::Marker(MarkerData {
                label: "keyrite-ceremony:c".into(),
                value: "00".into(),
            }),
            Entry::Batch(BatchData {
                first: 0,
                max_steps: 64,
                max_ms: 250,
                sessions: 1,
            }),
            Entry::Commit(CommitData {
                first: 0,
                last: 1,
                outputs: 1,
            }),
            Entry::Generate(GenerateData {
                index: 0,
                key_label: "k".into(),
                key_spec: "AES_256".into(),
            }),
            Entry::Generated(GeneratedData {
                index: 0,
                key: Key {
                    check_values: BTreeMap::from([("m".into(), "v".into())]),
                    discarded: 2,
                    ..key()
                },
            }),
            Entry::Wrap(wrap.clone()),
            Entry::Wrapped(wrapped.clone()),
            Entry::Rewrap(wrap),
            Entry::Rewrapped(wrapped),
            Entry::Destroy(DestroyData {
                index: Some(2),
                key_label: "k".into(),
                kcv: None,
                check_sha256: None,
                why: None,
            }),
            Entry::Destroy(DestroyData {
                index: None,
                key_label: "k".into(),
                kcv: Some("abcdef".into()),
                check_sha256: None,
                why: Some("w".into()),
            }),
            Entry::Destroyed(DestroyedData {
                index: 2,
                key_label: "k".into(),
                kcv: None,
                check_sha256: None,
            }),
            Entry::Failure(FailureData {
                index: Some(1),
                action: "wrap".into(),
                error: "e".into(),
            }),
            Entry::Finish(FinishData {
                outcome: "failed".into(),
                failure: Some(FinishFailure {
                    step: Some(1),
                    error: "e".into(),
                }),
                keys: vec![Settled {
                    label: "k".into(),
                    kcv: None,
                    fate: "f".into(),
                }],
            }),
            Entry::Witness(WitnessData {
                name: "w".into(),
                key_fingerprint: "f".into(),
                message: "m".into(),
                signature: "s".into(),
            }),
            Entry::Request(RequestData {
                provider: "aws".into(),
                params: "p".into(),
                params_sha256: "00".into(),
                algorithm: "a".into(),
                key_label: "k".into(),
                key_spec: "AES_256".into(),
                wrap_with_trusted: false,
                out: "o".into(),
                key_material_valid_to: None,
            }),
            Entry::Restore(RestoreData {
                backup: "b".into(),
                key_label: "k".into(),
                files: BTreeMap::new(),
                manifest_sha256: "00".into(),
                source: Source {
                    label: "t".into(),
                    serial: "1".into(),
                },
                algorithm: "a".into(),
                backup_key_sha256: "00".into(),
                provenance: Provenance::ExpectedKcv {
                    value: "abcdef".into(),
                },
            }),
            Entry::Restored(RestoredData {
                key: RestoredKey {
                    label: "k".into(),
                    id: "01".into(),
                    spec: "AES_256".into(),
                    kcv: "abcdef".into(),
                    kcv_method: "m".into(),
                },
                matched: BTreeMap::new(),
                check_sha256: None,
                expected: None,
            }),
        ]
    }

    #[test]
    fn the_sorted_writer_writes_each_entrys_data_as_its_json_value() {
        let mut entries = one_of_each();
        let mut generated = GeneratedData {
            index: 1,
            key: key(),
        };
        generated.key.check_values =
            BTreeMap::from([("b".into(), "1".into()), ("a\"".into(), "2".into())]);
        generated.key.discarded = 3;
        generated
            .key
            .template
            .insert("A\u{1}é".into(), "x\ny".into());
        entries.push(Entry::Generated(generated));
        for entry in &entries {
            let mut out = Vec::new();
            write_sorted_data(&mut out, entry).unwrap();
            let value = serde_json::to_string(&entry.data().unwrap()).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), value, "{entry:?}");
        }
    }

    #[test]
    fn a_line_read_for_its_step_is_the_line_read_whole() {
        for entry in one_of_each() {
            let line = crate::transcript::line_text(0, "t", "a", &entry, "p").unwrap();
            let step = entry.step();
            let read = Entry::from_line_of(step, line.as_bytes()).unwrap();
            assert_eq!(read, Entry::from_line(line.as_bytes()).unwrap());
            let spoiled = line.replacen("\"data\":{", "\"data\":{\"x\":1,", 1);
            assert_eq!(
                Entry::from_line_of(step, spoiled.as_bytes())
                    .unwrap_err()
                    .to_string(),
                Entry::from_line(spoiled.as_bytes())
                    .unwrap_err()
                    .to_string()
            );
        }
    }

    #[test]
    fn every_entry_round_trips_through_its_step_and_data() {
        let entries = one_of_each();
        for entry in &entries {
            let data = entry.data().unwrap();
            let step = entry.step().as_str();
            assert_eq!(&Entry::from_parts(step, &data).unwrap(), entry, "{step}");
            assert_eq!(Step::from_name(step), Some(entry.step()));
        }
        for step in Step::ALL {
            assert!(
                step == Step::Seal || entries.iter().any(|e| e.step() == step),
                "{step:?} has no test entry"
            );
        }
    }

    #[test]
    fn a_null_is_written_as_null_and_an_absent_field_stays_absent() {
        let login = Entry::Login(LoginData {
            pin: "prompt".into(),
            share_indexes: None,
        });
        assert_eq!(login.data().unwrap(), json!({"pin": "prompt"}));
        let finish = Entry::Finish(FinishData {
            outcome: "completed".into(),
            failure: None,
            keys: vec![],
        });
        assert_eq!(
            serde_json::to_value(&finish).unwrap(),
            json!({"step": "finish", "data": {"outcome": "completed", "failure": null, "keys": []}})
        );
    }

    #[test]
    fn data_that_does_not_fit_its_step_is_refused() {
        let marker = json!({"label": "l", "value": "v"});
        assert!(Entry::from_parts("marker", &marker).is_ok());
        let extra = json!({"label": "l", "value": "v", "note": "x"});
        let e = Entry::from_parts("marker", &extra).unwrap_err().to_string();
        assert!(e.contains("unknown field `note`"), "{e}");
        let e = Entry::from_parts("marker", &json!({"label": "l"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `value`"), "{e}");
        let e = Entry::from_parts("marker", &json!({"label": 1, "value": "v"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid type"), "{e}");
        let finish = json!({"outcome": "completed", "keys": []});
        let e = Entry::from_parts("finish", &finish)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `failure`"), "{e}");
    }

    #[test]
    fn a_provenance_is_tagged_by_how_and_refuses_unknown_fields() {
        let by_transcript = json!({"by": "transcript", "transcript": "t", "sha256": "00",
            "chain_head": "00", "signer_fingerprint": "00", "token_label": "l", "token_serial": "1"});
        let p: Provenance = serde_json::from_value(by_transcript.clone()).unwrap();
        assert_eq!(serde_json::to_value(&p).unwrap(), by_transcript);
        let mut extra = by_transcript;
        extra["note"] = json!("x");
        assert!(serde_json::from_value::<Provenance>(extra).is_err());
        let by_kcv = json!({"by": "expected_kcv", "value": "abcdef", "note": "x"});
        assert!(serde_json::from_value::<Provenance>(by_kcv).is_err());
    }

    #[test]
    fn a_whole_line_reads_as_its_entry() {
        let line = br#"{"actor":"a","data":{"label":"l","value":"v"},"prev":"00","seq":3,"step":"marker","time":"t","v":1}"#;
        assert_eq!(
            Entry::from_line(line).unwrap(),
            Entry::Marker(MarkerData {
                label: "l".into(),
                value: "v".into()
            })
        );
        let extra = br#"{"data":{"label":"l","value":"v","x":1},"step":"marker"}"#;
        assert!(Entry::from_line(extra).is_err());
        assert_eq!(STEP_NAMES.len(), 27);
        assert_eq!(STEP_NAMES[0], "policy");
        assert_eq!(STEP_NAMES[26], "seal");
    }

    #[test]
    fn an_unknown_step_is_refused() {
        assert!(Entry::from_parts("launch", &json!({})).is_err());
        assert_eq!(Step::from_name("launch"), None);
        assert_eq!(Step::from_name("seal"), Some(Step::Seal));
        assert!(Entry::from_parts("seal", &json!({})).is_err());
    }
}
