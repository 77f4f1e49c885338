//! The plan: one ceremony, declared in advance and approved by the custodians before anything
//! touches the token. It names the token by label only (the module comes from the command line,
//! so the approved plan serves the rehearsal and the real run), the signing key, how the PIN
//! comes, and the ordered steps. Every file it refers to is read once: the same bytes are hashed
//! into the digest the custodians sign and parsed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::{Error, read_once};
use crate::kms::{Provider, ProviderOptions};
use crate::pin::PinSource;
use crate::spec::{ALL_KEY_SPECS, KeyLabel, KeySpec, WrappingAlgorithm, WrappingKeySpec};
use crate::transcript::Step as TranscriptStep;

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
    pin: String,
    steps: Vec<StepFile>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
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

/// Why a key pair cannot be wrapped only under trusted keys.
pub const TRUSTED_PAIR: &str = "a key pair cannot have CKA_WRAP_WITH_TRUSTED: its private key is wrapped with RSA-AES, whose ephemeral AES key would itself need CKA_TRUSTED, which only the security officer can set";

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
    /// The action's name: `generate`, `wrap`, `rewrap` or `destroy`.
    pub fn action(&self) -> &'static str {
        match self {
            Step::Generate { .. } => "generate",
            Step::Wrap { existing: None, .. } => "wrap",
            Step::Wrap {
                existing: Some(_), ..
            } => "rewrap",
            Step::Destroy { .. } => "destroy",
        }
    }

    /// The transcript step names announcing this step and recording its result.
    pub fn record_names(&self) -> (TranscriptStep, TranscriptStep) {
        match self {
            Step::Generate { .. } => (TranscriptStep::Generate, TranscriptStep::Generated),
            Step::Wrap { existing: None, .. } => (TranscriptStep::Wrap, TranscriptStep::Wrapped),
            Step::Wrap {
                existing: Some(_), ..
            } => (TranscriptStep::Rewrap, TranscriptStep::Rewrapped),
            Step::Destroy { .. } => (TranscriptStep::Destroy, TranscriptStep::Destroyed),
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
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Every file the steps refer to, in order of first mention.
    pub files: Vec<PlanFileRef>,
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
fn check_kcv(value: &str) -> Result<String, String> {
    if matches!(value.len(), 6 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "{value:?} is not a key check value of 6 hex digits (or 64: the full check value, check_sha256, or a key pair's public key SHA-256)"
        ))
    }
}

fn time_field(value: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{value:?} is not an RFC 3339 time such as 2026-12-01T09:00:00Z"))
}

/// A relative path inside the plan's directory: no `..`, not absolute, no control characters.
fn check_relative(value: &str) -> Result<(), String> {
    let p = Path::new(value);
    if value.is_empty()
        || value.chars().any(char::is_control)
        || p.is_absolute()
        || p.components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "{value:?} must be a path relative to the plan's directory, without `..`"
        ));
    }
    Ok(())
}

fn clap_value<T: std::str::FromStr>(value: &str, accepted: &[&str]) -> Result<T, String> {
    T::from_str(value).map_err(|_| format!("{value:?} is not one of {}", accepted.join(", ")))
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
        let err = |field: String, reason: String| Error::Plan {
            path: path.to_path_buf(),
            field,
            reason,
        };
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| err("line 1".into(), "not UTF-8 text".into()))?;
        let file: PlanFile = toml::from_str(&text).map_err(|e| {
            err(
                format!("line {}", line_of(&text, e.span())),
                e.message().to_owned(),
            )
        })?;
        if file.version != VERSION {
            return Err(err(
                "version".into(),
                format!("must be {VERSION}, not {}", file.version),
            ));
        }
        if !is_id(&file.ceremony_id) {
            return Err(err(
                "ceremony_id".into(),
                "use 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit".into(),
            ));
        }
        let not_before = time_field(&file.not_before).map_err(|r| err("not_before".into(), r))?;
        let not_after = time_field(&file.not_after).map_err(|r| err("not_after".into(), r))?;
        if not_after <= not_before {
            return Err(err(
                "not_after".into(),
                "must be later than not_before".into(),
            ));
        }
        if file.operator.trim().is_empty() {
            return Err(err(
                "operator".into(),
                "must name who runs the ceremony".into(),
            ));
        }
        if file.token_label.is_empty() || file.token_label.len() > 32 {
            return Err(err("token_label".into(), "must be 1 to 32 bytes".into()));
        }
        let signing_key_label: KeyLabel =
            file.signing_key_label
                .parse()
                .map_err(|e: crate::spec::BadKeyLabel| {
                    err("signing_key_label".into(), e.to_string())
                })?;
        let pin = match file.pin.as_str() {
            "prompt" => PinSpec::Source(PinSource::Prompt),
            "shares" => PinSpec::Shares,
            other => match other.strip_prefix("env:") {
                Some(name) if !name.is_empty() => PinSpec::Source(PinSource::Env(name.to_owned())),
                _ => {
                    return Err(err(
                        "pin".into(),
                        format!("{other:?} is not \"prompt\", \"env:NAME\" or \"shares\""),
                    ));
                }
            },
        };
        if file.steps.is_empty() {
            return Err(err("steps".into(), "a plan needs at least one step".into()));
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut steps = Vec::new();
        let mut files: Vec<PlanFileRef> = Vec::new();
        let mut generated: Vec<KeyLabel> = Vec::new();
        let mut outs: Vec<PathBuf> = Vec::new();
        for (i, step) in file.steps.into_iter().enumerate() {
            let step_kind = match &step {
                StepFile::Generate(_) => "generate",
                StepFile::Wrap(_) => "wrap",
                StepFile::Rewrap(_) => "rewrap",
                StepFile::Destroy(_) => "destroy",
            };
            let at = |field: &str, reason: String| err(format!("steps[{i}].{field}"), reason);
            let label = |value: &str| -> Result<KeyLabel, Error> {
                value
                    .parse()
                    .map_err(|e: crate::spec::BadKeyLabel| at("key_label", e.to_string()))
            };
            match step {
                StepFile::Generate(g) => {
                    let key_label = label(&g.key_label)?;
                    if generated.contains(&key_label) {
                        return Err(at(
                            "key_label",
                            format!("{:?} is generated by an earlier step", key_label.as_str()),
                        ));
                    }
                    let key_spec: KeySpec =
                        clap_value(&g.key_spec, &ALL_KEY_SPECS.map(KeySpec::name))
                            .map_err(|r| at("key_spec", r))?;
                    if g.wrap_with_trusted && key_spec.is_asymmetric() {
                        return Err(at("wrap_with_trusted", TRUSTED_PAIR.to_owned()));
                    }
                    generated.push(key_label.clone());
                    steps.push(Step::Generate {
                        key_label,
                        key_spec,
                        wrap_with_trusted: g.wrap_with_trusted,
                    });
                }
                StepFile::Destroy(d) => {
                    let key_label = label(&d.key_label)?;
                    if generated.contains(&key_label) {
                        return Err(at(
                            "key_label",
                            format!(
                                "{:?} is generated by this plan; destroy existing keys only",
                                key_label.as_str()
                            ),
                        ));
                    }
                    steps.push(Step::Destroy {
                        key_label,
                        expect_kcv: check_kcv(&d.expect_kcv).map_err(|r| at("expect_kcv", r))?,
                    });
                }
                StepFile::Wrap(w) | StepFile::Rewrap(w) => {
                    let rewrap = matches!(step_kind, "rewrap");
                    let w = *w;
                    let key_label = label(&w.key_label)?;
                    let existing = if rewrap {
                        if generated.contains(&key_label) {
                            return Err(at(
                                "key_label",
                                format!(
                                    "{:?} is generated by this plan; rewrap existing keys only (use wrap)",
                                    key_label.as_str()
                                ),
                            ));
                        }
                        let kcv = w
                            .expect_kcv
                            .as_deref()
                            .ok_or_else(|| {
                                at(
                                    "expect_kcv",
                                    "a rewrap names the KCV the existing key must have".to_owned(),
                                )
                            })
                            .and_then(|k| check_kcv(k).map_err(|r| at("expect_kcv", r)))?;
                        let spec = clap_value(
                            w.key_spec.as_deref().unwrap_or("AES_256"),
                            &ALL_KEY_SPECS.map(KeySpec::name),
                        )
                        .map_err(|r| at("key_spec", r))?;
                        Some((kcv, spec))
                    } else {
                        if !generated.contains(&key_label) {
                            return Err(at(
                                "key_label",
                                format!(
                                    "{:?} is not generated by an earlier step (to wrap a key already on the token, use rewrap)",
                                    key_label.as_str()
                                ),
                            ));
                        }
                        if w.expect_kcv.is_some() || w.key_spec.is_some() {
                            return Err(at(
                                "expect_kcv",
                                "expect_kcv and key_spec belong to rewrap steps".to_owned(),
                            ));
                        }
                        None
                    };
                    let provider = clap_value(&w.provider, &Provider::ALL.map(Provider::name))
                        .map_err(|r| at("provider", r))?;
                    let algorithm: WrappingAlgorithm = w
                        .algorithm
                        .parse()
                        .map_err(|e: crate::spec::Error| at("algorithm", e.to_string()))?;
                    let wrapping_key_spec = w
                        .wrapping_key_spec
                        .as_deref()
                        .map(|s| clap_value(s, &WrappingKeySpec::ALL.map(WrappingKeySpec::name)))
                        .transpose()
                        .map_err(|r| at("wrapping_key_spec", r))?;
                    let valid_to = w
                        .valid_to
                        .as_deref()
                        .map(time_field)
                        .transpose()
                        .map_err(|r| at("valid_to", r))?;
                    check_relative(&w.params).map_err(|r| at("params", r))?;
                    check_relative(&w.out).map_err(|r| at("out", r))?;
                    // Compared as paths: "a", "a/" and "./a" are one directory.
                    let normal: PathBuf = Path::new(&w.out).components().collect();
                    if outs.contains(&normal) {
                        return Err(at(
                            "out",
                            format!("{:?} is the output of an earlier step", w.out),
                        ));
                    }
                    outs.push(normal);
                    if read_files && !files.iter().any(|f| f.name == w.params) {
                        let bytes =
                            crate::input::read(&dir.join(&w.params), crate::input::MAX_SMALL)
                                .map_err(|e| {
                                    at(
                                        "params",
                                        match e.kind() {
                                            std::io::ErrorKind::NotFound => {
                                                format!("file not found: {}", w.params)
                                            }
                                            _ => format!("cannot read {}: {e}", w.params),
                                        },
                                    )
                                })?;
                        files.push(PlanFileRef {
                            name: w.params.clone(),
                            sha256: hex::encode(Sha256::digest(&bytes)),
                            bytes,
                        });
                    }
                    steps.push(Step::Wrap {
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
                    });
                }
            }
        }
        Ok(Plan {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            text,
            ceremony_id: file.ceremony_id,
            not_before,
            not_after,
            operator: file.operator,
            token_label: file.token_label,
            signing_key_label,
            pin,
            steps,
            files,
        })
    }

    /// The statement the custodians sign: the ceremony id, then the SHA-256 of the plan and of
    /// every file it refers to, in `sha256sum`'s format (paths relative to the plan's
    /// directory), so `tail -n +3 plan.digest | sha256sum -c` checks it from there.
    pub fn digest_statement(&self) -> String {
        self.statement(str::to_owned)
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

/// The 1-based line where a span starts.
pub(crate) fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> usize {
    let start = span.map_or(0, |s| s.start.min(text.len()));
    text.as_bytes()[..start]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
                "{}: steps[1].params: cannot read big.json: it is larger than 1 MiB, the most keyrite reads from such a file",
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
