//! The plan: one ceremony, declared in advance and approved by the custodians before anything
//! touches the token. It names the token by label only (the module comes from the command line,
//! so the approved plan serves the rehearsal and the real run), the signing key, how the PIN
//! comes, and the ordered steps. Every file it refers to is read once: the same bytes are hashed
//! into the digest the custodians sign and parsed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{Error as _, IgnoredAny};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::{Error, read_once};
use crate::kms::{Provider, ProviderOptions};
use crate::pin::PinSource;
use crate::spec::{ALL_KEY_SPECS, KeyLabel, KeySpec, WrappingAlgorithm, WrappingKeySpec};
use crate::transcript::Step as TranscriptStep;
use crate::wrap::TRUSTED_PAIR;

/// The plan format version.
pub const VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    version: u32,
    ceremony_id: String,
    not_before: String,
    not_after: String,
    operator: String,
    token_label: String,
    signing_key_label: String,
    /// Any TOML value, so that one of another type is refused without TOML's message, which
    /// would repeat it (a PIN given here).
    pin: toml::Value,
    /// A roots file attestations may end in, beside keyrite's pinned roots.
    attestation_roots: Option<String>,
    /// Read here for their number; each is read as a step by [`read_steps`].
    steps: Vec<IgnoredAny>,
}

/// A step's `action`, which names the fields the rest of its table holds.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ActionFile {
    Generate,
    Wrap,
    Rewrap,
    Destroy,
}

#[derive(Debug)]
enum StepFile {
    Generate(GenerateFile),
    Wrap(Box<WrapFile>),
    Rewrap(Box<WrapFile>),
    Destroy(DestroyFile),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestroyFile {
    key_label: String,
    expect_kcv: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenerateFile {
    key_label: String,
    #[serde(default = "default_spec")]
    key_spec: String,
    #[serde(default)]
    wrap_with_trusted: bool,
}

fn default_spec() -> String {
    KeySpec::Aes256.name().to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapFile {
    key_label: String,
    provider: String,
    params: String,
    algorithm: String,
    out: String,
    wrapping_key_spec: Option<String>,
    valid_to: Option<String>,
    #[serde(default)]
    allow_legacy_pkcs1: bool,
    gcp_key: Option<String>,
    gcp_algorithm: Option<String>,
    azure_key: Option<String>,
    azure_kid: Option<String>,
    vault_key: Option<String>,
    vault_mount: Option<String>,
    /// Azure: the key exchange key's attestation.
    azure_attestation: Option<String>,
    /// Refuse a wrapping key that is not attested.
    #[serde(default)]
    require_attestation: bool,
    /// Rewrap only: the KCV the existing key must have.
    expect_kcv: Option<String>,
    /// Rewrap only: the existing key's kind (default AES_256).
    key_spec: Option<String>,
}

/// A step of a plan, checked.
#[derive(Debug, Clone)]
pub enum Step {
    /// Generate a ceremony key.
    Generate {
        /// Its label.
        key_label: KeyLabel,
        /// Its kind.
        key_spec: KeySpec,
        /// Whether it gets `CKA_WRAP_WITH_TRUSTED` (wrapped only under keys the security
        /// officer marked trusted).
        wrap_with_trusted: bool,
    },
    /// Wrap a key generated earlier in the plan for a KMS import.
    Wrap {
        /// The key's label.
        key_label: KeyLabel,
        /// The KMS.
        provider: Provider,
        /// The parameters file, as the plan names it (relative to the plan).
        params: String,
        /// The algorithm.
        algorithm: WrappingAlgorithm,
        /// The wrapping key size expected, if named.
        wrapping_key_spec: Option<WrappingKeySpec>,
        /// The output directory, as the plan names it (relative to the plan).
        out: String,
        /// When the material expires in the KMS.
        valid_to: Option<OffsetDateTime>,
        /// Whether PKCS#1 v1.5 is allowed.
        allow_legacy_pkcs1: bool,
        /// What the provider needs beyond the parameters file (`gcp_key`, `gcp_algorithm`, `azure_key`,
        /// `azure_kid`, `vault_key`, `vault_mount`), checked with the parameters.
        options: Box<ProviderOptions>,
        /// For a rewrap: the key already exists on the token and must have this KCV, and be of
        /// this kind.
        existing: Option<(String, KeySpec)>,
        /// Azure: the key exchange key's attestation file, as the plan names it.
        azure_attestation: Option<String>,
        /// Whether the wrapping key must be attested.
        require_attestation: bool,
    },
    /// Destroy a key that exists on the token, ending its life on purpose.
    Destroy {
        /// Its label.
        key_label: KeyLabel,
        /// The KCV it must have.
        expect_kcv: String,
    },
}

impl Step {
    /// The step's action.
    pub fn kind(&self) -> Action {
        match self {
            Step::Generate { .. } => Action::Generate,
            Step::Wrap { existing: None, .. } => Action::Wrap,
            Step::Wrap {
                existing: Some(_), ..
            } => Action::Rewrap,
            Step::Destroy { .. } => Action::Destroy,
        }
    }

    /// The action's name: `generate`, `wrap`, `rewrap` or `destroy`.
    pub fn action(&self) -> &'static str {
        self.kind().name()
    }

    /// The transcript step names announcing this step and recording its result.
    pub fn record_names(&self) -> (TranscriptStep, TranscriptStep) {
        match self.kind() {
            Action::Generate => (TranscriptStep::Generate, TranscriptStep::Generated),
            Action::Wrap => (TranscriptStep::Wrap, TranscriptStep::Wrapped),
            Action::Rewrap => (TranscriptStep::Rewrap, TranscriptStep::Rewrapped),
            Action::Destroy => (TranscriptStep::Destroy, TranscriptStep::Destroyed),
        }
    }
}

/// How the ceremony's PIN comes.
#[derive(Debug, Clone)]
pub enum PinSpec {
    /// From a prompt or a named environment variable.
    Source(PinSource),
    /// Rebuilt from M of the PIN shares the policy pins.
    Shares,
}

/// A file the plan refers to, read once.
#[derive(Debug, Clone)]
pub struct PlanFileRef {
    /// The path as the plan names it.
    pub name: String,
    /// The bytes read.
    pub bytes: Vec<u8>,
    /// SHA-256 (hex) of those bytes.
    pub sha256: String,
}

/// A checked plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file.
    pub path: PathBuf,
    /// Its text, as read.
    pub text: String,
    /// SHA-256 (hex) of its bytes.
    pub sha256: String,
    /// The ceremony id.
    pub ceremony_id: String,
    /// Not before this time.
    pub not_before: OffsetDateTime,
    /// Not after this time.
    pub not_after: OffsetDateTime,
    /// Who runs it.
    pub operator: String,
    /// The token, by label.
    pub token_label: String,
    /// The signer key's label.
    pub signing_key_label: KeyLabel,
    /// Where the PIN comes from.
    pub pin: PinSpec,
    /// The roots file attestations may end in, beside keyrite's pinned roots, as the plan
    /// names it.
    pub attestation_roots: Option<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Every file the plan refers to, in order of first mention.
    pub files: Vec<PlanFileRef>,
}

/// A step's action, as a plan's `action` field and the transcript name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Generate a ceremony key.
    Generate,
    /// Wrap a key generated earlier in the plan.
    Wrap,
    /// Wrap a key that exists on the token.
    Rewrap,
    /// Destroy a key that exists on the token.
    Destroy,
}

impl Action {
    /// The name a plan gives it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Generate => "generate",
            Action::Wrap => "wrap",
            Action::Rewrap => "rewrap",
            Action::Destroy => "destroy",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of a closed set of choices.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not one of {}", choice.accepted().join(", "))]
pub struct NotOneOf {
    /// The name given.
    pub value: String,
    /// What it should have named.
    pub choice: Choice,
}

/// A closed set of names a plan field takes one of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A key spec (`key_spec`).
    KeySpec,
    /// A KMS (`provider`).
    Provider,
    /// A wrapping key size (`wrapping_key_spec`).
    WrappingKeySpec,
}

impl Choice {
    /// The names accepted, in order.
    pub fn accepted(self) -> Vec<&'static str> {
        match self {
            Choice::KeySpec => ALL_KEY_SPECS.map(KeySpec::name).to_vec(),
            Choice::Provider => Provider::ALL.map(Provider::name).to_vec(),
            Choice::WrappingKeySpec => WrappingKeySpec::ALL.map(WrappingKeySpec::name).to_vec(),
        }
    }
}

/// A field of a plan, as a refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The file as a whole (its syntax, or a top-level field it lacks or should not have).
    File,
    /// A top-level field.
    Top(&'static str),
    /// The table of the step at this index.
    StepTable(usize),
    /// A field of the step at this index.
    Step(usize, &'static str),
}

impl Field {
    /// The field's path and `": "`, as a refusal starts; nothing for the file as a whole.
    pub fn prefix(&self) -> String {
        match self {
            Field::File => String::new(),
            Field::Top(name) => format!("{name}: "),
            Field::StepTable(i) => format!("steps[{i}]: "),
            Field::Step(i, name) => format!("steps[{i}].{name}: "),
        }
    }
}

/// Where in a file a refusal points: the 1-based line and column (in characters), as rustc,
/// toml and editors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (clamped to its end, and back to a character
    /// boundary).
    pub(crate) fn of(text: &str, offset: usize) -> Self {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What is wrong with a field of a plan.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file is not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// The file is not a plan's TOML.
    #[error("{}", .0.message())]
    Toml(#[source] Box<toml::de::Error>),
    /// Another format version.
    #[error("must be {VERSION}, not {0}")]
    Version(u32),
    /// The ceremony id breaks the rules.
    #[error("use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")]
    CeremonyId,
    /// Not a time.
    #[error("{0:?} is not an RFC 3339 time such as 2026-12-01T09:00:00Z")]
    NotATime(String),
    /// The window ends before it starts.
    #[error("must be later than not_before")]
    EmptyWindow,
    /// Nobody runs the ceremony.
    #[error("must name who runs the ceremony")]
    NoOperator,
    /// The token label is empty or longer than PKCS#11 allows.
    #[error("must be 1 to 32 bytes")]
    TokenLabel,
    /// A key label breaks the rules.
    #[error(transparent)]
    KeyLabel(crate::spec::BadKeyLabel),
    /// Not a way for the PIN to come: never repeated, in case it is the PIN.
    #[error(
        "the value is not \"prompt\", \"env:NAME\" or \"shares\"; it is not repeated here, in case it is the PIN"
    )]
    Pin,
    /// `env:` and no environment variable's name: never repeated, in case it is the PIN.
    #[error(
        "\"env:\" must be followed by an environment variable's name (letters, digits and _, not starting with a digit); the value is not repeated here, in case it is the PIN"
    )]
    PinEnvName,
    /// No steps.
    #[error("a plan needs at least one step")]
    NoSteps,
    /// Not one of the names the field takes.
    #[error(transparent)]
    NotOneOf(NotOneOf),
    /// A key pair with `wrap_with_trusted`.
    #[error("{TRUSTED_PAIR}")]
    TrustedPair,
    /// A generate step's label is generated by an earlier step.
    #[error("{:?} is generated by an earlier step", .0.as_str())]
    GeneratedTwice(KeyLabel),
    /// A destroy step names a key the plan generates.
    #[error("{:?} is generated by this plan; destroy existing keys only", .0.as_str())]
    DestroyGenerated(KeyLabel),
    /// A rewrap step names a key the plan generates.
    #[error(
        "{:?} is generated by this plan; rewrap existing keys only (use wrap)",
        .0.as_str()
    )]
    RewrapGenerated(KeyLabel),
    /// A wrap step names a key no earlier step generates.
    #[error(
        "{:?} is not generated by an earlier step (to wrap a key already on the token, use rewrap)",
        .0.as_str()
    )]
    WrapNotGenerated(KeyLabel),
    /// A rewrap step without `expect_kcv`.
    #[error("a rewrap names the KCV the existing key must have")]
    NoExpectKcv,
    /// A wrap step with a rewrap step's fields.
    #[error("expect_kcv and key_spec belong to rewrap steps")]
    RewrapFields,
    /// Not a key check value.
    #[error(
        "{0:?} is not a key check value of 6 hex digits (or 64: the full check value, check_sha256, or a key pair's public key SHA-256)"
    )]
    NotAKcv(String),
    /// Not a wrapping algorithm.
    #[error(transparent)]
    Algorithm(crate::spec::Error),
    /// A path that leaves the plan's directory.
    #[error("{0:?} must be a path relative to the plan's directory, without `..`")]
    NotRelative(String),
    /// An output directory named by an earlier step.
    #[error("{0:?} is the output of an earlier step")]
    OutputTwice(String),
    /// The parameters file is missing.
    #[error("file not found: {0}")]
    ParamsNotFound(String),
    /// The parameters file cannot be read.
    #[error("cannot read {name}: {source}")]
    ParamsUnreadable {
        /// The file, as the plan names it.
        name: String,
        /// What the system said.
        source: std::io::Error,
    },
}

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A key check value: six hex digits (the KCV, accepted on the token only for a key generated
/// there), or 64 (a secret key's full check value, `check_sha256`, or a key pair's public key
/// SHA-256); any case, returned lowercase.
fn check_kcv(value: &str) -> Result<String, Problem> {
    if matches!(value.len(), 6 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(Problem::NotAKcv(value.to_owned()))
    }
}

fn time_field(value: &str) -> Result<OffsetDateTime, Problem> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| Problem::NotATime(value.to_owned()))
}

/// A relative path inside the plan's directory: no `..`, not absolute, no control characters.
fn check_relative(value: &str) -> Result<(), Problem> {
    let p = Path::new(value);
    if value.is_empty()
        || value.chars().any(char::is_control)
        || p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Problem::NotRelative(value.to_owned()));
    }
    Ok(())
}

/// Parses one of a closed set of names, exactly as spelt; a refusal lists `choice`'s names.
fn one_of<T: std::str::FromStr>(value: &str, choice: Choice) -> Result<T, Problem> {
    T::from_str(value).map_err(|_| {
        Problem::NotOneOf(NotOneOf {
            value: value.to_owned(),
            choice,
        })
    })
}

fn key_label(value: &str) -> Result<KeyLabel, Problem> {
    value.parse().map_err(Problem::KeyLabel)
}

/// A refusal of the field named, in the part of the plan being checked.
type At = (&'static str, Problem);

/// Names the field a problem is in.
fn at(field: &'static str) -> impl FnOnce(Problem) -> At {
    move |problem| (field, problem)
}

/// The top-level fields of a plan, checked.
struct Header {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    signing_key_label: KeyLabel,
    pin: PinSpec,
}

impl Header {
    /// Checks the top-level fields, in the order the plan format lists them.
    fn check(file: &PlanFile) -> Result<Header, At> {
        if file.version != VERSION {
            return Err(("version", Problem::Version(file.version)));
        }
        if !is_id(&file.ceremony_id) {
            return Err(("ceremony_id", Problem::CeremonyId));
        }
        let not_before = time_field(&file.not_before).map_err(at("not_before"))?;
        let not_after = time_field(&file.not_after).map_err(at("not_after"))?;
        if not_after <= not_before {
            return Err(("not_after", Problem::EmptyWindow));
        }
        if file.operator.trim().is_empty() {
            return Err(("operator", Problem::NoOperator));
        }
        if file.token_label.is_empty() || file.token_label.len() > 32 {
            return Err(("token_label", Problem::TokenLabel));
        }
        let signing_key_label =
            key_label(&file.signing_key_label).map_err(at("signing_key_label"))?;
        let pin = file
            .pin
            .as_str()
            .ok_or(Problem::Pin)
            .and_then(pin)
            .map_err(at("pin"))?;
        if file.steps.is_empty() {
            return Err(("steps", Problem::NoSteps));
        }
        Ok(Header {
            not_before,
            not_after,
            signing_key_label,
            pin,
        })
    }
}

/// `prompt`, `env:NAME` or `shares`.
fn pin(value: &str) -> Result<PinSpec, Problem> {
    match value {
        "prompt" => Ok(PinSpec::Source(PinSource::Prompt)),
        "shares" => Ok(PinSpec::Shares),
        other => match other.strip_prefix("env:") {
            Some(name) if crate::pin::is_env_name(name) => {
                Ok(PinSpec::Source(PinSource::Env(name.to_owned())))
            }
            Some(_) => Err(Problem::PinEnvName),
            None => Err(Problem::Pin),
        },
    }
}

/// The steps checked so far, and what they settle for the steps after them.
struct Steps {
    /// The plan's directory, which the parameters files are read from.
    dir: PathBuf,
    /// Whether the parameters files are read.
    read_files: bool,
    checked: Vec<Step>,
    files: Vec<PlanFileRef>,
    /// The labels generated so far.
    generated: Vec<KeyLabel>,
    /// The output directories named so far, as normal paths.
    outs: Vec<PathBuf>,
}

impl Steps {
    /// Checks the next step.
    fn add(&mut self, step: StepFile) -> Result<(), At> {
        let step = match step {
            StepFile::Generate(g) => self.generate(g)?,
            StepFile::Wrap(w) => self.wrap(*w)?,
            StepFile::Rewrap(w) => self.rewrap(*w)?,
            StepFile::Destroy(d) => self.destroy(d)?,
        };
        self.checked.push(step);
        Ok(())
    }

    /// A generate step: a label no earlier step generates, a key spec, and
    /// `wrap_with_trusted` only for a secret key.
    fn generate(&mut self, g: GenerateFile) -> Result<Step, At> {
        let key_label = key_label(&g.key_label).map_err(at("key_label"))?;
        if self.generated.contains(&key_label) {
            return Err(("key_label", Problem::GeneratedTwice(key_label)));
        }
        let key_spec: KeySpec = one_of(&g.key_spec, Choice::KeySpec).map_err(at("key_spec"))?;
        if g.wrap_with_trusted && key_spec.is_asymmetric() {
            return Err(("wrap_with_trusted", Problem::TrustedPair));
        }
        self.generated.push(key_label.clone());
        Ok(Step::Generate {
            key_label,
            key_spec,
            wrap_with_trusted: g.wrap_with_trusted,
        })
    }

    /// A destroy step: a key the plan does not generate, and its KCV.
    fn destroy(&self, d: DestroyFile) -> Result<Step, At> {
        let key_label = key_label(&d.key_label).map_err(at("key_label"))?;
        if self.generated.contains(&key_label) {
            return Err(("key_label", Problem::DestroyGenerated(key_label)));
        }
        Ok(Step::Destroy {
            key_label,
            expect_kcv: check_kcv(&d.expect_kcv).map_err(at("expect_kcv"))?,
        })
    }

    /// A wrap step: a key an earlier step generates, without a rewrap step's fields.
    fn wrap(&mut self, w: WrapFile) -> Result<Step, At> {
        let key_label = key_label(&w.key_label).map_err(at("key_label"))?;
        if !self.generated.contains(&key_label) {
            return Err(("key_label", Problem::WrapNotGenerated(key_label)));
        }
        if w.expect_kcv.is_some() || w.key_spec.is_some() {
            return Err(("expect_kcv", Problem::RewrapFields));
        }
        self.wrapping(w, key_label, None)
    }

    /// A rewrap step: a key the plan does not generate, its KCV and its kind (AES_256 unless
    /// named).
    fn rewrap(&mut self, w: WrapFile) -> Result<Step, At> {
        let key_label = key_label(&w.key_label).map_err(at("key_label"))?;
        if self.generated.contains(&key_label) {
            return Err(("key_label", Problem::RewrapGenerated(key_label)));
        }
        let kcv = w
            .expect_kcv
            .as_deref()
            .ok_or(Problem::NoExpectKcv)
            .and_then(check_kcv)
            .map_err(at("expect_kcv"))?;
        let spec = one_of(w.key_spec.as_deref().unwrap_or("AES_256"), Choice::KeySpec)
            .map_err(at("key_spec"))?;
        self.wrapping(w, key_label, Some((kcv, spec)))
    }

    /// What a wrap and a rewrap step share: the KMS, the algorithm, the wrapping key size and
    /// expiry, a parameters file and a fresh output directory inside the plan's directory.
    fn wrapping(
        &mut self,
        w: WrapFile,
        key_label: KeyLabel,
        existing: Option<(String, KeySpec)>,
    ) -> Result<Step, At> {
        let provider = one_of(&w.provider, Choice::Provider).map_err(at("provider"))?;
        let algorithm: WrappingAlgorithm = w
            .algorithm
            .parse()
            .map_err(|e| ("algorithm", Problem::Algorithm(e)))?;
        let wrapping_key_spec = w
            .wrapping_key_spec
            .as_deref()
            .map(|s| one_of(s, Choice::WrappingKeySpec))
            .transpose()
            .map_err(at("wrapping_key_spec"))?;
        let valid_to = w
            .valid_to
            .as_deref()
            .map(time_field)
            .transpose()
            .map_err(at("valid_to"))?;
        check_relative(&w.params).map_err(at("params"))?;
        check_relative(&w.out).map_err(at("out"))?;
        // Compared as paths: "a", "a/" and "./a" are one directory.
        let normal: PathBuf = Path::new(&w.out).components().collect();
        if self.outs.contains(&normal) {
            return Err(("out", Problem::OutputTwice(w.out)));
        }
        self.outs.push(normal);
        self.read_params(&w.params).map_err(at("params"))?;
        if let Some(name) = &w.azure_attestation {
            check_relative(name).map_err(at("azure_attestation"))?;
            self.read_params(name).map_err(at("azure_attestation"))?;
        }
        Ok(Step::Wrap {
            key_label,
            provider,
            params: w.params,
            algorithm,
            wrapping_key_spec,
            out: w.out,
            valid_to,
            allow_legacy_pkcs1: w.allow_legacy_pkcs1,
            options: Box::new(ProviderOptions {
                gcp_key: w.gcp_key,
                gcp_algorithm: w.gcp_algorithm,
                azure_key: w.azure_key,
                azure_kid: w.azure_kid,
                vault_key: w.vault_key,
                vault_mount: w.vault_mount,
            }),
            existing,
            azure_attestation: w.azure_attestation,
            require_attestation: w.require_attestation,
        })
    }

    /// Reads a parameters file once, if files are read and no earlier step named it.
    fn read_params(&mut self, name: &str) -> Result<(), Problem> {
        if !self.read_files || self.files.iter().any(|f| f.name == name) {
            return Ok(());
        }
        let bytes = crate::input::read(&self.dir.join(name), crate::input::MAX_SMALL).map_err(
            |e| match e.kind() {
                std::io::ErrorKind::NotFound => Problem::ParamsNotFound(name.to_owned()),
                _ => Problem::ParamsUnreadable {
                    name: name.to_owned(),
                    source: e,
                },
            },
        )?;
        self.files.push(PlanFileRef {
            name: name.to_owned(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes,
        });
        Ok(())
    }
}

impl Plan {
    /// The directory the plan's paths are relative to.
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Reads and checks a plan and every file it refers to.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::from_bytes(path, read_once(path)?, true)
    }

    /// Checks a plan given as bytes (an auditor has it from the transcript). With
    /// `read_files` false, the files it names are not read: `files` then lists none.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>, read_files: bool) -> Result<Self, Error> {
        let err = |at: Position, field: Field, problem: Problem| Error::Plan {
            path: path.to_path_buf(),
            at,
            field,
            problem: Box::new(problem),
        };
        let text = String::from_utf8(bytes.clone()).map_err(|e| {
            let valid = &bytes[..e.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            err(
                Position::of(valid, valid.len()),
                Field::File,
                Problem::NotUtf8,
            )
        })?;
        // toml's own error points at what it could not read: the key or value (or, for a
        // field missing, the table that lacks it).
        let toml_err = |field: Field, e: Box<toml::de::Error>, table: std::ops::Range<usize>| {
            let at = Position::of(&text, e.span().unwrap_or(table).start);
            err(at, field, Problem::Toml(e))
        };
        let doc = DeTable::parse(&text).map_err(|e| toml_err(Field::File, Box::new(e), 0..0))?;
        let file = PlanFile::deserialize(toml::de::Deserializer::from(doc.clone()))
            .map_err(|e| toml_err(Field::File, Box::new(e), 0..0))?;
        let step_files = read_steps(&doc).map_err(|(field, e, table)| toml_err(field, e, table))?;
        // A refusal of a field points at its value, else at the table that lacks it.
        let at = |field: Field| Position::of(&text, span_of(&doc, field).start);
        let header = Header::check(&file).map_err(|(f, p)| {
            let field = Field::Top(f);
            err(at(field), field, p)
        })?;
        let mut steps = Steps {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            read_files,
            checked: Vec::new(),
            files: Vec::new(),
            generated: Vec::new(),
            outs: Vec::new(),
        };
        if let Some(name) = &file.attestation_roots {
            check_relative(name)
                .and_then(|()| steps.read_params(name))
                .map_err(|p| {
                    let field = Field::Top("attestation_roots");
                    err(at(field), field, p)
                })?;
        }
        for (i, step) in step_files.into_iter().enumerate() {
            steps.add(step).map_err(|(f, p)| {
                let field = Field::Step(i, f);
                err(at(field), field, p)
            })?;
        }
        Ok(Plan {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            text,
            ceremony_id: file.ceremony_id,
            not_before: header.not_before,
            not_after: header.not_after,
            operator: file.operator,
            token_label: file.token_label,
            signing_key_label: header.signing_key_label,
            pin: header.pin,
            attestation_roots: file.attestation_roots,
            steps: steps.checked,
            files: steps.files,
        })
    }

    /// The statement the custodians sign: the ceremony id, then the SHA-256 of the plan and of
    /// every file it refers to, in `sha256sum`'s format (paths relative to the plan's
    /// directory), so `tail -n +3 plan.digest | sha256sum -c` checks it from there.
    pub fn digest_statement(&self) -> String {
        self.statement(str::to_owned)
    }

    /// The plan digest people compare aloud: the SHA-256 (hex) of [`Plan::digest_statement`],
    /// the bytes the custodians sign (`sha256sum plan.digest`).
    pub fn statement_sha256(&self) -> String {
        statement_sha256(&self.digest_statement())
    }

    /// The digest statement as `plan check` shows it: each file name with its control, bidi
    /// and other invisible characters escaped ([`crate::visible::visible`]). For names without
    /// them it is [`Plan::digest_statement`] itself.
    pub fn digest_statement_visible(&self) -> String {
        self.statement(crate::visible::visible)
    }

    fn statement(&self, show: impl Fn(&str) -> String) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut out = format!(
            "keyrite plan digest v1\nceremony_id {}\n{}  {}\n",
            self.ceremony_id,
            self.sha256,
            show(&name)
        );
        for f in &self.files {
            out.push_str(&format!("{}  {}\n", f.sha256, show(&f.name)));
        }
        out
    }

    /// The bytes of a file the plan refers to.
    pub fn file(&self, name: &str) -> Option<&PlanFileRef> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// A step's table refused by toml: the field it concerns, toml's error and the table's span.
type StepRefusal = (Field, Box<toml::de::Error>, std::ops::Range<usize>);

/// Reads each `[[steps]]` table as the step its `action` names. toml's deserializer reads each
/// table itself (serde's internally tagged enums would read a copy without positions), so its
/// errors point at the key or value they are about. A refusal is the field it concerns, toml's
/// error and the span of the step's table.
fn read_steps(doc: &Spanned<DeTable<'_>>) -> Result<Vec<StepFile>, StepRefusal> {
    let items = match doc.get_ref().get("steps").map(Spanned::get_ref) {
        Some(DeValue::Array(items)) => items.as_ref(),
        _ => &[],
    };
    let mut steps = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let span = item.span();
        let refuse = |field: Field| {
            let span = span.clone();
            move |e: toml::de::Error| (field, Box::new(e), span)
        };
        let DeValue::Table(table) = item.get_ref() else {
            return Err(refuse(Field::StepTable(i))(toml::de::Error::custom(
                "a step is a table ([[steps]])",
            )));
        };
        let mut table = table.clone();
        let action = table
            .remove("action")
            .ok_or_else(|| toml::de::Error::missing_field("action"))
            .map_err(refuse(Field::StepTable(i)))?;
        let action = ActionFile::deserialize(ValueDeserializer::from(action))
            .map_err(refuse(Field::Step(i, "action")))?;
        let rest = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(table)));
        let step = match action {
            ActionFile::Generate => GenerateFile::deserialize(rest).map(StepFile::Generate),
            ActionFile::Wrap => WrapFile::deserialize(rest).map(|w| StepFile::Wrap(Box::new(w))),
            ActionFile::Rewrap => {
                WrapFile::deserialize(rest).map(|w| StepFile::Rewrap(Box::new(w)))
            }
            ActionFile::Destroy => DestroyFile::deserialize(rest).map(StepFile::Destroy),
        }
        .map_err(refuse(Field::StepTable(i)))?;
        steps.push(step);
    }
    Ok(steps)
}

/// The span a refusal of `field` points at: the field's value, else the table that lacks it,
/// else the start of the file.
fn span_of(doc: &Spanned<DeTable<'_>>, field: Field) -> std::ops::Range<usize> {
    let top = doc.get_ref();
    let step = |i: usize| match top.get("steps").map(Spanned::get_ref) {
        Some(DeValue::Array(items)) => items.get(i),
        _ => None,
    };
    let in_step = |i: usize, name: &str| match step(i).map(Spanned::get_ref) {
        Some(DeValue::Table(t)) => t.get(name).map(Spanned::span),
        _ => None,
    };
    match field {
        Field::File => None,
        Field::Top(name) => top.get(name).map(Spanned::span),
        Field::StepTable(i) => step(i).map(Spanned::span),
        Field::Step(i, name) => in_step(i, name).or_else(|| step(i).map(Spanned::span)),
    }
    .unwrap_or(0..0)
}

/// The 1-based line where a span starts.
pub(crate) fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> usize {
    let start = span.map_or(0, |s| s.start.min(text.len()));
    text.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The SHA-256 (hex) of a digest statement: the plan digest people compare aloud, as `plan
/// check`, `ceremony run`, `verify`, the report and the ceremony script show it.
pub fn statement_sha256(statement: &str) -> String {
    hex::encode(Sha256::digest(statement.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HEADER: &str = "version = 1\nceremony_id = \"c\"\nnot_before = \"2026-01-01T00:00:00Z\"\n\
        not_after = \"2026-01-02T00:00:00Z\"\noperator = \"O\"\ntoken_label = \"t\"\n\
        signing_key_label = \"s\"\npin = \"prompt\"\n";

    const GENERATE_K: &str = "[[steps]]\naction = \"generate\"\nkey_label = \"k\"\n";

    /// A wrap step's fields beyond the action and the label.
    const WRAP: &str = "provider = \"aws\"\nparams = \"p.json\"\nalgorithm = \"RSAES_OAEP_SHA_256\"\nout = \"o\"\n";

    /// The plan's text checked without reading the files it names: `Ok(())` or the refusal.
    fn check(text: &str) -> Result<Plan, String> {
        Plan::from_bytes(Path::new("plan.toml"), text.as_bytes().to_vec(), false)
            .map_err(|e| e.to_string())
    }

    /// Runs a table: each row is a plan's text and the message it is refused with, or `None`
    /// for a plan accepted. A message that starts with its field's path is expected at the
    /// position [`expected_at`] finds by reading the text; one about the file as a whole, or
    /// about what toml could not read, names its position.
    fn table(rows: &[(String, Option<&str>)]) {
        for (text, want) in rows {
            let got = check(text).map(|_| ());
            let want = want.map_or(Ok(()), |m| {
                if m.starts_with(|c: char| c.is_ascii_digit()) {
                    Err(format!("plan.toml:{m}"))
                } else {
                    Err(format!("plan.toml:{}: {m}", expected_at(text, m)))
                }
            });
            assert_eq!(got, want, "for the plan\n{text}");
        }
    }

    /// Where a refusal starting with a field's path (`pin: …`, `steps[1].out: …`) points, found
    /// line by line in the plan's text, as a reader would: the value on the line that sets the
    /// field, else the step's `[[steps]]` header.
    fn expected_at(text: &str, message: &str) -> String {
        let path = message.split(": ").next().unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let headers: Vec<usize> = (0..lines.len())
            .filter(|&n| lines[n] == "[[steps]]")
            .collect();
        let (range, key) = match path.strip_prefix("steps[") {
            Some(rest) => {
                let (index, key) = rest.split_once(']').unwrap();
                let i: usize = index.parse().unwrap();
                let end = headers.get(i + 1).copied().unwrap_or(lines.len());
                (headers[i]..end, key.strip_prefix('.'))
            }
            None => (
                0..headers.first().copied().unwrap_or(lines.len()),
                Some(path),
            ),
        };
        let header = range.start;
        let set = key.and_then(|key| {
            range
                .clone()
                .find(|&n| lines[n].starts_with(&format!("{key} = ")))
                .map(|n| (n, key.len() + 4))
        });
        let (line, column) = set.unwrap_or((header, 1));
        format!("{}:{column}", line + 1)
    }

    /// The header with `field`'s line replaced by `line` (removed if empty), then `steps`.
    fn header(field: &str, line: &str, steps: &str) -> String {
        let mut out = String::new();
        for l in HEADER.lines() {
            if l.starts_with(&format!("{field} =")) {
                if !line.is_empty() {
                    out.push_str(line);
                    out.push('\n');
                }
            } else {
                out.push_str(l);
                out.push('\n');
            }
        }
        out + "\n" + steps
    }

    /// The header, then the steps.
    fn steps(steps: &[&str]) -> String {
        format!("{HEADER}\n{}", steps.join("\n"))
    }

    #[test]
    fn the_file_refusals() {
        table(&[
            (
                format!("{HEADER}colour = \"red\"\n{GENERATE_K}"),
                Some(
                    "9:1: unknown field `colour`, expected one of `version`, `ceremony_id`, `not_before`, `not_after`, `operator`, `token_label`, `signing_key_label`, `pin`, `attestation_roots`, `steps`",
                ),
            ),
            (
                header("operator", "", GENERATE_K),
                Some("1:1: missing field `operator`"),
            ),
            (
                steps(&["[[steps]]\naction = \"sign\"\nkey_label = \"k\"\n"]),
                Some(
                    "11:10: steps[0].action: unknown variant `sign`, expected one of `generate`, `wrap`, `rewrap`, `destroy`",
                ),
            ),
        ]);
        assert_eq!(
            Plan::from_bytes(Path::new("plan.toml"), vec![0xff], false)
                .unwrap_err()
                .to_string(),
            "plan.toml:1:1: not UTF-8 text"
        );
    }

    /// Every refusal points at the line and column (1-based, in characters) of the key or value
    /// it is about, like rustc's and toml's `file:line:col`, not at the `[[steps]]` header.
    #[test]
    fn a_refusal_points_at_the_key_or_value() {
        let wrap = "[[steps]]\naction = \"wrap\"\nkey_label = \"k\"\n";
        let rows = [
            // A bad value, in the second step: line 17 is `provider = "AWS"`.
            (
                steps(&[GENERATE_K, &format!("{wrap}{}", WRAP.replace("aws", "AWS"))]),
                "plan.toml:17:12: steps[1].provider: \"AWS\" is not one of aws, alibaba, gcp, azure, vault, pkcs11-backup",
            ),
            // An unknown key, after the keys the step takes.
            (
                steps(&[GENERATE_K, &format!("{wrap}{WRAP}colour = \"red\"\n")]),
                "plan.toml:21:1: steps[1]: unknown field `colour`, expected one of `key_label`, `provider`, `params`, `algorithm`, `out`, `wrapping_key_spec`, `valid_to`, `allow_legacy_pkcs1`, `gcp_key`, `gcp_algorithm`, `azure_key`, `azure_kid`, `vault_key`, `vault_mount`, `azure_attestation`, `require_attestation`, `expect_kcv`, `key_spec`",
            ),
            // A value of the wrong type.
            (
                steps(&[
                    GENERATE_K,
                    &format!("{wrap}{WRAP}allow_legacy_pkcs1 = \"yes\"\n"),
                ]),
                "plan.toml:21:22: steps[1]: invalid type: string \"yes\", expected a boolean",
            ),
            // A step without an action, and a field the table lacks: its header.
            (
                steps(&[GENERATE_K, "[[steps]]\nkey_label = \"k\"\n"]),
                "plan.toml:14:1: steps[1]: missing field `action`",
            ),
            // Columns count characters, not bytes.
            (
                header(
                    "operator",
                    "operator = \"Zoë\"  # ünïcödé",
                    "[[steps]]\naction = \"generate\"\nkey_label = \"é\"\n",
                ),
                "plan.toml:12:13: steps[0].key_label: key label \"é\" is not valid: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
            ),
            // A step that is not a table.
            (
                format!("{HEADER}steps = [1]\n"),
                "plan.toml:9:10: steps[0]: a step is a table ([[steps]])",
            ),
            // A top-level value.
            (
                header(
                    "not_after",
                    "not_after = \"2026-01-01T00:00:00Z\"",
                    GENERATE_K,
                ),
                "plan.toml:4:13: not_after: must be later than not_before",
            ),
            // TOML that does not parse.
            (
                format!("{HEADER}\n[[steps]]\naction = generate\n"),
                "plan.toml:11:10: string values must be quoted, expected literal string",
            ),
        ];
        for (text, want) in rows {
            assert_eq!(check(&text).map(|_| ()), Err(want.to_owned()), "{text}");
        }
        assert_eq!(
            Plan::from_bytes(
                Path::new("plan.toml"),
                b"version = 1\nceremony_id = \"\xc3\xa9\xff\"\n".to_vec(),
                false
            )
            .unwrap_err()
            .to_string(),
            "plan.toml:2:17: not UTF-8 text"
        );
    }

    #[test]
    fn the_header_refusals() {
        let id64 = format!("ceremony_id = \"{}\"", "a".repeat(64));
        let id65 = format!("ceremony_id = \"{}\"", "a".repeat(65));
        let label33 = format!("token_label = \"{}\"", "t".repeat(33));
        let label32 = format!("token_label = \"{}\"", "t".repeat(32));
        let id_rule =
            "ceremony_id: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit";
        table(&[
            (
                header("version", "version = 2", GENERATE_K),
                Some("version: must be 1, not 2"),
            ),
            (
                header("ceremony_id", "ceremony_id = \"\"", GENERATE_K),
                Some(id_rule),
            ),
            (
                header("ceremony_id", "ceremony_id = \"-c\"", GENERATE_K),
                Some(id_rule),
            ),
            (
                header("ceremony_id", "ceremony_id = \"c/d\"", GENERATE_K),
                Some(id_rule),
            ),
            (header("ceremony_id", &id65, GENERATE_K), Some(id_rule)),
            (header("ceremony_id", &id64, GENERATE_K), None),
            (
                header("ceremony_id", "ceremony_id = \"0.a_b-C\"", GENERATE_K),
                None,
            ),
            (
                header("not_before", "not_before = \"2026-01-01\"", GENERATE_K),
                Some(
                    "not_before: \"2026-01-01\" is not an RFC 3339 time such as 2026-12-01T09:00:00Z",
                ),
            ),
            (
                header("not_after", "not_after = \"tomorrow\"", GENERATE_K),
                Some(
                    "not_after: \"tomorrow\" is not an RFC 3339 time such as 2026-12-01T09:00:00Z",
                ),
            ),
            (
                header(
                    "not_after",
                    "not_after = \"2026-01-01T00:00:00Z\"",
                    GENERATE_K,
                ),
                Some("not_after: must be later than not_before"),
            ),
            (
                header(
                    "not_after",
                    "not_after = \"2026-01-01T01:00:00+02:00\"",
                    GENERATE_K,
                ),
                Some("not_after: must be later than not_before"),
            ),
            (
                header("operator", "operator = \" \\t\"", GENERATE_K),
                Some("operator: must name who runs the ceremony"),
            ),
            (
                header("token_label", "token_label = \"\"", GENERATE_K),
                Some("token_label: must be 1 to 32 bytes"),
            ),
            (
                header("token_label", &label33, GENERATE_K),
                Some("token_label: must be 1 to 32 bytes"),
            ),
            (header("token_label", &label32, GENERATE_K), None),
            (
                header(
                    "signing_key_label",
                    "signing_key_label = \"a b\"",
                    GENERATE_K,
                ),
                Some(
                    "signing_key_label: key label \"a b\" is not valid: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                ),
            ),
            (
                header("pin", "pin = \"ask\"", GENERATE_K),
                Some(
                    "pin: the value is not \"prompt\", \"env:NAME\" or \"shares\"; it is not repeated here, in case it is the PIN",
                ),
            ),
            (
                header("pin", "pin = 87654321", GENERATE_K),
                Some(
                    "pin: the value is not \"prompt\", \"env:NAME\" or \"shares\"; it is not repeated here, in case it is the PIN",
                ),
            ),
            (
                header("pin", "pin = \"env:\"", GENERATE_K),
                Some(
                    "pin: \"env:\" must be followed by an environment variable's name (letters, digits and _, not starting with a digit); the value is not repeated here, in case it is the PIN",
                ),
            ),
            (
                header("pin", "pin = \"env:87654321\"", GENERATE_K),
                Some(
                    "pin: \"env:\" must be followed by an environment variable's name (letters, digits and _, not starting with a digit); the value is not repeated here, in case it is the PIN",
                ),
            ),
            (header("pin", "pin = \"env:KEYRITE_PIN\"", GENERATE_K), None),
            (header("pin", "pin = \"shares\"", GENERATE_K), None),
            (
                header("", "", "steps = []\n"),
                Some("steps: a plan needs at least one step"),
            ),
        ]);
    }

    #[test]
    fn the_generate_refusals() {
        let generate = |fields: &str| format!("[[steps]]\naction = \"generate\"\n{fields}");
        table(&[
            (
                steps(&[&generate("key_label = \"-k\"\n")]),
                Some(
                    "steps[0].key_label: key label \"-k\" is not valid: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                ),
            ),
            (
                steps(&[GENERATE_K, GENERATE_K]),
                Some("steps[1].key_label: \"k\" is generated by an earlier step"),
            ),
            (
                steps(&[&generate("key_label = \"k\"\nkey_spec = \"AES_512\"\n")]),
                Some(
                    "steps[0].key_spec: \"AES_512\" is not one of AES_256, HMAC_224, HMAC_256, HMAC_384, HMAC_512, RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384, EC_P521, EC_SECP256K1",
                ),
            ),
            (
                steps(&[&generate("key_label = \"k\"\nkey_spec = \"aes_256\"\n")]),
                Some(
                    "steps[0].key_spec: \"aes_256\" is not one of AES_256, HMAC_224, HMAC_256, HMAC_384, HMAC_512, RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384, EC_P521, EC_SECP256K1",
                ),
            ),
            (
                steps(&[&generate(
                    "key_label = \"k\"\nkey_spec = \"RSA_2048\"\nwrap_with_trusted = true\n",
                )]),
                Some(&format!("steps[0].wrap_with_trusted: {TRUSTED_PAIR}")),
            ),
            (
                steps(&[&generate(
                    "key_label = \"k\"\nkey_spec = \"ECC_NIST_P256\"\nwrap_with_trusted = true\n",
                )]),
                Some(&format!("steps[0].wrap_with_trusted: {TRUSTED_PAIR}")),
            ),
            (
                steps(&[&generate(
                    "key_label = \"k\"\nkey_spec = \"HMAC_256\"\nwrap_with_trusted = true\n",
                )]),
                None,
            ),
            (
                steps(&[&generate(
                    "key_label = \"k\"\nkey_spec = \"SYMMETRIC_DEFAULT\"\n",
                )]),
                None,
            ),
            (
                steps(&[GENERATE_K, &generate("key_label = \"k2\"\n")]),
                None,
            ),
        ]);
        let plan = check(&steps(&[GENERATE_K])).unwrap();
        let Step::Generate {
            key_spec,
            wrap_with_trusted,
            ..
        } = &plan.steps[0]
        else {
            panic!("not a generate step");
        };
        assert_eq!((*key_spec, *wrap_with_trusted), (KeySpec::Aes256, false));
    }

    #[test]
    fn the_destroy_refusals() {
        let destroy = |fields: &str| format!("[[steps]]\naction = \"destroy\"\n{fields}");
        let kcv_rule = "is not a key check value of 6 hex digits (or 64: the full check value, check_sha256, or a key pair's public key SHA-256)";
        table(&[
            (
                steps(&[&destroy("key_label = \"\"\nexpect_kcv = \"a1b2c3\"\n")]),
                Some(
                    "steps[0].key_label: key label \"\" is not valid: use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
                ),
            ),
            (
                steps(&[
                    GENERATE_K,
                    &destroy("key_label = \"k\"\nexpect_kcv = \"a1b2c3\"\n"),
                ]),
                Some(
                    "steps[1].key_label: \"k\" is generated by this plan; destroy existing keys only",
                ),
            ),
            (
                steps(&[&destroy("key_label = \"old\"\nexpect_kcv = \"a1b2c\"\n")]),
                Some(&format!("steps[0].expect_kcv: \"a1b2c\" {kcv_rule}")),
            ),
            (
                steps(&[&destroy("key_label = \"old\"\nexpect_kcv = \"a1b2cg\"\n")]),
                Some(&format!("steps[0].expect_kcv: \"a1b2cg\" {kcv_rule}")),
            ),
            (
                steps(&[&destroy(&format!(
                    "key_label = \"old\"\nexpect_kcv = \"{}\"\n",
                    "a".repeat(63)
                ))]),
                Some(&format!(
                    "steps[0].expect_kcv: \"{}\" {kcv_rule}",
                    "a".repeat(63)
                )),
            ),
            (
                steps(&[&destroy("key_label = \"old\"\n")]),
                Some("10:1: steps[0]: missing field `expect_kcv`"),
            ),
            (
                steps(&[&destroy(&format!(
                    "key_label = \"old\"\nexpect_kcv = \"{}\"\n",
                    "F".repeat(64)
                ))]),
                None,
            ),
        ]);
        let plan = check(&steps(&[&destroy(
            "key_label = \"old\"\nexpect_kcv = \"A1B2C3\"\n",
        )]))
        .unwrap();
        let Step::Destroy { expect_kcv, .. } = &plan.steps[0] else {
            panic!("not a destroy step");
        };
        assert_eq!(expect_kcv, "a1b2c3");
    }

    #[test]
    fn the_wrap_refusals() {
        let wrap =
            |fields: &str| format!("[[steps]]\naction = \"wrap\"\nkey_label = \"k\"\n{fields}");
        let with = |field: &str, line: &str| {
            let mut fields: String = WRAP
                .lines()
                .filter(|l| !l.starts_with(&format!("{field} =")))
                .map(|l| format!("{l}\n"))
                .collect();
            fields.push_str(line);
            fields.push('\n');
            steps(&[GENERATE_K, &wrap(&fields)])
        };
        let relative = "must be a path relative to the plan's directory, without `..`";
        table(&[
            (
                steps(&[&wrap(WRAP)]),
                Some(
                    "steps[0].key_label: \"k\" is not generated by an earlier step (to wrap a key already on the token, use rewrap)",
                ),
            ),
            (
                with("expect_kcv", "expect_kcv = \"a1b2c3\""),
                Some("steps[1].expect_kcv: expect_kcv and key_spec belong to rewrap steps"),
            ),
            (
                with("key_spec", "key_spec = \"AES_256\""),
                Some("steps[1].expect_kcv: expect_kcv and key_spec belong to rewrap steps"),
            ),
            (
                with("provider", "provider = \"AWS\""),
                Some(
                    "steps[1].provider: \"AWS\" is not one of aws, alibaba, gcp, azure, vault, pkcs11-backup",
                ),
            ),
            (
                with("algorithm", "algorithm = \"RSA\""),
                Some(
                    "steps[1].algorithm: unknown wrapping algorithm \"RSA\"; known: RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_1, RSA_AES_KEY_WRAP_SHA_256, RSAES_PKCS1_V1_5",
                ),
            ),
            (
                with("wrapping_key_spec", "wrapping_key_spec = \"RSA_1024\""),
                Some(
                    "steps[1].wrapping_key_spec: \"RSA_1024\" is not one of RSA_2048, RSA_3072, RSA_4096",
                ),
            ),
            (
                with("valid_to", "valid_to = \"2027\""),
                Some(
                    "steps[1].valid_to: \"2027\" is not an RFC 3339 time such as 2026-12-01T09:00:00Z",
                ),
            ),
            (
                with("params", "params = \"../p.json\""),
                Some(&format!("steps[1].params: \"../p.json\" {relative}")),
            ),
            (
                with("params", "params = \"/p.json\""),
                Some(&format!("steps[1].params: \"/p.json\" {relative}")),
            ),
            (
                with("params", "params = \"\""),
                Some(&format!("steps[1].params: \"\" {relative}")),
            ),
            (
                with("params", "params = \"./p.json\""),
                Some(&format!("steps[1].params: \"./p.json\" {relative}")),
            ),
            (
                with("params", "params = \"p\\n.json\""),
                Some(&format!("steps[1].params: \"p\\n.json\" {relative}")),
            ),
            (
                with("out", "out = \"a/../o\""),
                Some(&format!("steps[1].out: \"a/../o\" {relative}")),
            ),
            (
                steps(&[
                    GENERATE_K,
                    &wrap(WRAP),
                    &wrap(&WRAP.replace("\"o\"", "\"o/\"")),
                ]),
                Some("steps[2].out: \"o/\" is the output of an earlier step"),
            ),
            (
                steps(&[
                    GENERATE_K,
                    &wrap(WRAP),
                    &wrap(&WRAP.replace("\"o\"", "\"o/./\"")),
                ]),
                Some("steps[2].out: \"o/./\" is the output of an earlier step"),
            ),
            (
                with("colour", "colour = \"red\""),
                Some(
                    "21:1: steps[1]: unknown field `colour`, expected one of `key_label`, `provider`, `params`, `algorithm`, `out`, `wrapping_key_spec`, `valid_to`, `allow_legacy_pkcs1`, `gcp_key`, `gcp_algorithm`, `azure_key`, `azure_kid`, `vault_key`, `vault_mount`, `azure_attestation`, `require_attestation`, `expect_kcv`, `key_spec`",
                ),
            ),
            (
                with("valid_to", "valid_to = \"2027-01-01T00:00:00Z\""),
                None,
            ),
            (
                with("wrapping_key_spec", "wrapping_key_spec = \"RSA_4096\""),
                None,
            ),
            (with("out", "out = \"outputs/aws\""), None),
            (
                steps(&[
                    GENERATE_K,
                    &wrap(WRAP),
                    &wrap(&WRAP.replace("\"o\"", "\"o2\"")),
                ]),
                None,
            ),
        ]);
        let plan = check(&steps(&[GENERATE_K, &wrap(WRAP)])).unwrap();
        assert_eq!(plan.steps[1].action(), "wrap");
        assert!(plan.files.is_empty(), "files read without read_files");
    }

    #[test]
    fn the_rewrap_refusals() {
        let rewrap =
            |fields: &str| format!("[[steps]]\naction = \"rewrap\"\nkey_label = \"old\"\n{fields}");
        table(&[
            (
                steps(&[
                    "[[steps]]\naction = \"generate\"\nkey_label = \"old\"\n",
                    &rewrap(&format!("expect_kcv = \"a1b2c3\"\n{WRAP}")),
                ]),
                Some(
                    "steps[1].key_label: \"old\" is generated by this plan; rewrap existing keys only (use wrap)",
                ),
            ),
            (
                steps(&[&rewrap(WRAP)]),
                Some("steps[0].expect_kcv: a rewrap names the KCV the existing key must have"),
            ),
            (
                steps(&[&rewrap(&format!("expect_kcv = \"a1b2c3d\"\n{WRAP}"))]),
                Some(
                    "steps[0].expect_kcv: \"a1b2c3d\" is not a key check value of 6 hex digits (or 64: the full check value, check_sha256, or a key pair's public key SHA-256)",
                ),
            ),
            (
                steps(&[&rewrap(&format!(
                    "expect_kcv = \"a1b2c3\"\nkey_spec = \"AES\"\n{WRAP}"
                ))]),
                Some(
                    "steps[0].key_spec: \"AES\" is not one of AES_256, HMAC_224, HMAC_256, HMAC_384, HMAC_512, RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384, EC_P521, EC_SECP256K1",
                ),
            ),
            (
                steps(&[&rewrap(&format!(
                    "expect_kcv = \"a1b2c3\"\n{}",
                    WRAP.replace("aws", "ibm")
                ))]),
                Some(
                    "steps[0].provider: \"ibm\" is not one of aws, alibaba, gcp, azure, vault, pkcs11-backup",
                ),
            ),
            (
                steps(&[
                    &rewrap(&format!("expect_kcv = \"a1b2c3\"\n{WRAP}")),
                    &rewrap(&format!(
                        "expect_kcv = \"a1b2c3\"\n{}",
                        WRAP.replace("\"o\"", "\"o//\"")
                    )),
                ]),
                Some("steps[1].out: \"o//\" is the output of an earlier step"),
            ),
        ]);
        let plan = check(&steps(&[&rewrap(&format!(
            "expect_kcv = \"A1B2C3\"\nkey_spec = \"HMAC_256\"\n{WRAP}"
        ))]))
        .unwrap();
        let Step::Wrap { existing, .. } = &plan.steps[0] else {
            panic!("not a wrap step");
        };
        assert_eq!(existing, &Some(("a1b2c3".to_owned(), KeySpec::Hmac256)));
        assert_eq!(
            plan.steps[0].record_names(),
            (TranscriptStep::Rewrap, TranscriptStep::Rewrapped)
        );
        let plan = check(&steps(&[&rewrap(&format!(
            "expect_kcv = \"a1b2c3\"\n{WRAP}"
        ))]))
        .unwrap();
        let Step::Wrap { existing, .. } = &plan.steps[0] else {
            panic!("not a wrap step");
        };
        assert_eq!(existing, &Some(("a1b2c3".to_owned(), KeySpec::Aes256)));
    }

    #[test]
    fn a_parameters_file_is_read_once_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.toml");
        let wrap = |out: &str| {
            format!(
                "[[steps]]\naction = \"wrap\"\nkey_label = \"k\"\n{}",
                WRAP.replace("\"o\"", out)
            )
        };
        std::fs::write(&plan, steps(&[GENERATE_K, &wrap("\"o\""), &wrap("\"o2\"")])).unwrap();
        assert_eq!(
            Plan::load(&plan).unwrap_err().to_string(),
            format!(
                "{}:18:10: steps[1].params: file not found: p.json",
                plan.display()
            )
        );
        std::fs::write(dir.path().join("p.json"), b"{}").unwrap();
        let files = Plan::load(&plan).unwrap().files;
        assert_eq!(files.len(), 1);
        assert_eq!(
            (files[0].name.as_str(), files[0].bytes.as_slice()),
            ("p.json", b"{}".as_slice())
        );
    }

    #[test]
    fn an_action_displays_as_its_name() {
        for action in [
            Action::Generate,
            Action::Wrap,
            Action::Rewrap,
            Action::Destroy,
        ] {
            assert_eq!(action.to_string(), action.name());
        }
    }

    #[test]
    fn a_plan_and_the_files_it_names_are_read_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.toml");
        std::fs::write(
            &plan,
            "version = 1\nceremony_id = \"c\"\nnot_before = \"2026-01-01T00:00:00Z\"\n\
             not_after = \"2026-01-02T00:00:00Z\"\noperator = \"O\"\ntoken_label = \"t\"\n\
             signing_key_label = \"s\"\npin = \"prompt\"\n\n[[steps]]\naction = \"generate\"\n\
             key_label = \"k\"\n\n[[steps]]\naction = \"wrap\"\nkey_label = \"k\"\n\
             provider = \"aws\"\nparams = \"big.json\"\nalgorithm = \"RSAES_OAEP_SHA_1\"\nout = \"o\"\n",
        )
        .unwrap();
        let big = dir.path().join("big.json");
        std::fs::write(&big, vec![b' '; (crate::input::MAX_SMALL + 1) as usize]).unwrap();
        assert_eq!(
            Plan::load(&plan).unwrap_err().to_string(),
            format!(
                "{}:18:10: steps[1].params: cannot read big.json: it is larger than 1 MiB, the most keyrite reads from such a file",
                plan.display()
            )
        );
        std::fs::write(&big, b"{}").unwrap();
        assert_eq!(Plan::load(&plan).unwrap().files[0].bytes, b"{}");

        std::fs::write(&plan, vec![b'#'; (crate::input::MAX_SMALL + 1) as usize]).unwrap();
        assert_eq!(
            Plan::load(&plan).unwrap_err().to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                plan.display()
            )
        );
    }
}
