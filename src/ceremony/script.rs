//! The ceremony script: the approved plan and its policy as a page to print and read aloud on
//! the day, as IANA's root KSK ceremonies are run from their printed scripts. The first page
//! names the ceremony and carries the plan digest the custodians signed, then the roles; a
//! checklist before the token is touched; each step in words with what the operator runs, what
//! the screen shows and what to compare, with boxes for initials and times; a closing signature
//! block. Every digest and fingerprint is shown in hex and in PGP words ([`crate::words`]).
//!
//! It is made from the plan and the policy alone, before the ceremony, and is the same bytes for
//! the same plan, policy and command line: no clock, no random ids, no path but those the plan,
//! the policy and the operator named. Every value from a file or the command line goes through
//! `maud`, which escapes it, and is isolated in a `<bdi>` with its control and bidi characters
//! shown as escapes ([`crate::visible::visible`]), so a right-to-left override in a name cannot
//! reorder the script's own words beside it. The page carries the audit report's
//! Content-Security-Policy: no script runs and nothing loads.

use std::path::{Path, PathBuf};

use maud::{DOCTYPE, Markup, html};
use ssh_key::HashAlg;

use super::CheckedPlan;
use super::plan::{PinSpec, Plan, Step};
use super::policy::{Person, Policy};
use crate::html::{code as c, ext as t};
use crate::kms::{Import, PUBLIC_PEM};
use crate::pin::PinSource;
use crate::timestamp::format_time;
use crate::visible::visible;
use crate::words::{digest_lines, inline_words, pgp_words, pgp_words_hex};
use crate::wrap::PreparedWrap;

/// What the script's command lines name beside the plan and the policy (whose paths are the
/// ones they were read from), as the operator will type them.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The directory of approvals `ceremony run` is given.
    pub approvals: PathBuf,
    /// The transcript `ceremony run` creates.
    pub transcript: PathBuf,
    /// What `keyrite --version` prints for the keyrite that made the script.
    pub keyrite_version: String,
}

/// The stylesheet: inline (the page loads nothing), allowed by its hash in the CSP.
const STYLE: &str = r#"
:root { color-scheme: light; --muted: #4a4f57; --line: #9aa1ab; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem; font: 15px/1.4 system-ui, -apple-system,
  "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", Arial, sans-serif; color: #000; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; }
h2 { font-size: 1.15rem; margin: 1rem 0 .35rem; padding-bottom: .1rem; border-bottom: 2px solid #000; }
h3 { font-size: 1rem; margin: 0 0 .2rem; }
p { margin: .2rem 0; }
.muted { color: var(--muted); }
code, pre, .hex { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace;
  font-size: .85em; }
.hex { overflow-wrap: anywhere; }
.words { display: block; font-style: italic; font-size: .95em; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f4f5f7; padding: .2rem .4rem;
  border: 1px solid var(--line); margin: .15rem 0; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0; table-layout: fixed; }
th, td { text-align: left; vertical-align: top; padding: .15rem .35rem; border: 1px solid var(--line);
  overflow-wrap: anywhere; }
th { background: #eef0f3; font-weight: 600; }
col.role { width: 11rem; } col.name { width: 10rem; } col.tick { width: 2rem; } col.check { width: 7rem; }
col.how { width: 30%; } col.file { width: 12rem; } col.date { width: 8rem; }
.digest-main { border: 2px solid #000; padding: .3rem .5rem; margin: .3rem 0; }
.digest-main .hex { font-size: 1rem; font-weight: 600; }
.box { display: inline-block; width: 1.05em; height: 1.05em; border: 1.5px solid #000;
  vertical-align: -.2em; }
.blank { display: inline-block; min-width: 12em; border-bottom: 1px solid #000; height: 1.1em;
  vertical-align: bottom; }
td .blank { min-width: min(12em, 100%); }
.step { border: 1.5px solid #000; padding: .25rem .5rem; margin: .35rem 0; }
.step dl { margin: 0; display: grid; grid-template-columns: 6rem 1fr; gap: .05rem .5rem; }
.step pre { border: none; padding: 0 .3rem; margin: 0; }
.step dt { font-weight: 600; }
.step dd { margin: 0; overflow-wrap: anywhere; }
.step ul { margin: 0; padding-left: 1rem; }
.initials { display: flex; gap: 1.5rem; margin-top: .25rem; flex-wrap: wrap; }
.initials span.field { white-space: nowrap; }
.initials .blank { min-width: 7em; }
.step .initials { float: right; gap: .5rem; margin: 0 0 0 .5rem; }
.step .initials .blank { min-width: 3em; }
.sign td { height: 2.2rem; }
td.box-cell { text-align: center; }
@page { margin: 12mm 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 8pt; line-height: 1.2; }
  h1 { font-size: 15pt; }
  h2 { font-size: 11pt; break-after: avoid; margin-top: .6rem; }
  h3 { font-size: 9pt; }
  .step, tr, .digest-main, .sign { break-inside: avoid; }
  pre, th { background: none; }
  col.role { width: 6.5rem; } col.name { width: 7.5rem; } col.file { width: 9rem; }
}
"#;

/// A path from outside, as code.
fn p(path: &Path) -> Markup {
    c(&path.to_string_lossy())
}

/// A digest in hex, with its PGP words below.
fn digest(hex: &str) -> Markup {
    html! {
        span class="hex" { (t(hex)) }
        @match pgp_words_hex(hex) {
            Some(words) => { span class="words" { (words) } }
            None => { span class="words muted" { "(not hex: no words)" } }
        }
    }
}

/// A checkbox to tick.
fn tick() -> Markup {
    html! { span class="box" role="img" aria-label="checkbox" {} }
}

/// A line to write on.
fn blank() -> Markup {
    html! { span class="blank" {} }
}

/// `word` quoted for a POSIX shell where it needs to be: as it is when it holds only
/// characters no shell treats specially, else in single quotes.
fn sh(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_-./:=@+,%".contains(ch));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A path as a shell word.
fn sh_path(path: &Path) -> String {
    sh(&path.to_string_lossy())
}

/// A key spec as people say it: `AES-256`, `RSA-3072`.
fn spoken_spec(spec: crate::spec::KeySpec) -> String {
    spec.name().replace('_', "-")
}

/// What the script renders: the checked plan and what its command lines name.
struct Script<'a> {
    plan: &'a Plan,
    policy: &'a Policy,
    wraps: &'a [Option<PreparedWrap>],
    invocation: &'a Invocation,
}

/// The ceremony script of a checked plan, as one self-contained HTML page.
pub fn render(checked: &CheckedPlan, invocation: &Invocation) -> String {
    let s = Script {
        plan: &checked.plan,
        policy: &checked.policy,
        wraps: &checked.wraps,
        invocation,
    };
    let title = format!("Ceremony script: {}", visible(&s.plan.ceremony_id));
    html! {
        (DOCTYPE)
        html lang="en" {
            (crate::html::head(&title, STYLE))
            body {
                (s.first_page())
                (s.roles())
                (s.checklist())
                (s.start())
                (s.steps())
                (s.close())
            }
        }
    }
    .into_string()
}

impl Script<'_> {
    fn first_page(&self) -> Markup {
        let plan = self.plan;
        let statement = plan.digest_statement();
        let statement_sha256 = super::plan::statement_sha256(&statement);
        html! {
            header id="title" {
                h1 { "Ceremony script: " (t(&plan.ceremony_id)) }
                p {
                    "Plan " (p(&plan.path)) " under policy " (p(&self.policy.path))
                    ", " (plan.steps.len()) " step" @if plan.steps.len() != 1 { "s" }
                    ", to run between " (format_time(plan.not_before)) " and "
                    (format_time(plan.not_after)) " on token " (c(&plan.token_label))
                    ", operated by " (t(&plan.operator)) "."
                }
                p class="muted" {
                    "Read every value aloud, in hex or in its PGP words, and compare it with the screen. "
                    "Made by " (t(&self.invocation.keyrite_version)) " from the plan and the policy alone."
                }
            }
            section id="plan-digest" aria-labelledby="plan-digest-h" {
                h2 id="plan-digest-h" { "Plan digest the custodians signed" }
                p {
                    "The SHA-256 of the statement " code { "keyrite plan digest " (t(&sh_path(&plan.path))) }
                    " prints, the file each custodian signed ("
                    code { "keyrite plan digest " (t(&sh_path(&plan.path))) " | sha256sum" } "):"
                }
                div class="digest-main" { (digest(&statement_sha256)) }
                table id="plan-files" {
                    colgroup { col class="file"; col; }
                    thead { tr { th scope="col" { "File the statement names" } th scope="col" { "SHA-256" } } }
                    tbody {
                        tr { td { (p(&plan.path)) } td { (digest(&plan.sha256)) } }
                        @for f in &plan.files {
                            tr { td { (c(&f.name)) } td { (digest(&f.sha256)) } }
                        }
                    }
                }
            }
        }
    }

    fn roles(&self) -> Markup {
        let policy = self.policy;
        html! {
            section id="roles" aria-labelledby="roles-h" {
                h2 id="roles-h" { "Roles" }
                p {
                    "Approval: " strong { (policy.threshold) " of " (policy.custodians.len()) }
                    " custodians must have signed the plan digest."
                    @if policy.witnesses_required > 0 {
                        " " (policy.witnesses_required) " of " (policy.witnesses.len())
                        " witnesses must co-sign the sealed transcript."
                    }
                }
                table {
                    colgroup { col class="role"; col class="name"; col; }
                    thead { tr {
                        th scope="col" { "Role" } th scope="col" { "Name" }
                        th scope="col" { "SSH key fingerprint (SHA-256)" }
                    } }
                    tbody {
                        tr { td { "Operator" } td { (t(&self.plan.operator)) } td class="muted" { "runs keyrite (named by the plan)" } }
                        tr { td { "Ceremony administrator" } td { (blank()) } td class="muted" { "reads this script aloud" } }
                        @for person in &policy.custodians { (person_row("Custodian", person)) }
                        @for person in &policy.witnesses { (person_row("Witness", person)) }
                    }
                }
            }
        }
    }

    fn checklist(&self) -> Markup {
        let plan = self.plan;
        let policy = self.policy;
        let module = policy.module_path.as_deref();
        let module_word = module.map_or_else(|| "MODULE".to_owned(), sh_path);
        html! {
            section id="checklist" aria-labelledby="checklist-h" {
                h2 id="checklist-h" { "Before the ceremony" }
                table {
                    colgroup { col class="tick"; col class="check"; col; col class="how"; }
                    thead { tr {
                        th scope="col" class="box-cell" { "✓" } th scope="col" { "Check" }
                        th scope="col" { "Expected" } th scope="col" { "How" }
                    } }
                    tbody {
                        tr {
                            td class="box-cell" { (tick()) } td { "Token serial" }
                            td { @match &policy.token_serial {
                                Some(serial) => { (c(serial)) " (pinned by the policy)" }
                                None => { (blank()) " (not pinned: write what is seen)" }
                            } }
                            td { code { "keyrite token info" } " shows token " (c(&plan.token_label)) " and its serial" }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "Module path" }
                            td { @match module {
                                Some(path) => { (p(path)) " (pinned by the policy)" }
                                None => { (blank()) " (not pinned: write the path loaded)" }
                            } }
                            td { "the file " code { "--module" } " or " code { "KEYRITE_PKCS11_MODULE" } " names" }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "Module SHA-256" }
                            td { @match &policy.module_sha256 {
                                Some(sha) => { (digest(sha)) }
                                None => { (blank()) " (not pinned: write the digest)" }
                            } }
                            td { code { "sha256sum " (t(&module_word)) } }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "keyrite version" }
                            td { (blank()) " (this script was made by " (t(&self.invocation.keyrite_version)) ")" }
                            td { code { "keyrite --version" } }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "Signer fingerprint" }
                            td { (digest(&policy.signer_fingerprint)) }
                            td {
                                code { "openssl pkey -pubin -in signer.pem -outform DER | sha256sum" }
                                " on the signer's public key the security team keeps (no login needed); "
                                code { "ceremony run" } " refuses a token whose signer is another"
                            }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "Approvals" }
                            td { "at least " (policy.threshold) " signatures of distinct custodians" }
                            td { "in " (p(&self.invocation.approvals)) }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "Clock (UTC)" }
                            td { "between " (format_time(plan.not_before)) " and " (format_time(plan.not_after)) }
                            td { code { "date -u" } }
                        }
                        tr {
                            td class="box-cell" { (tick()) } td { "Transcript" }
                            td { (p(&self.invocation.transcript)) " does not exist yet" }
                            td { code { "ls -l " (t(&sh_path(&self.invocation.transcript))) } }
                        }
                    }
                }
            }
        }
    }

    /// The command line that runs the ceremony, without any PIN.
    fn run_command(&self) -> String {
        let mut words = vec![
            "keyrite".to_owned(),
            "ceremony".to_owned(),
            "run".to_owned(),
            sh_path(&self.plan.path),
            "--policy".to_owned(),
            sh_path(&self.policy.path),
            "--approvals".to_owned(),
            sh_path(&self.invocation.approvals),
            "--transcript".to_owned(),
            sh_path(&self.invocation.transcript),
        ];
        if let Some(module) = &self.policy.module_path {
            words.push("--module".to_owned());
            words.push(sh_path(module));
        }
        words.join(" ")
    }

    fn start(&self) -> Markup {
        let pin = match &self.plan.pin {
            PinSpec::Source(PinSource::Prompt) => html! {
                "keyrite asks for the PIN on the terminal; it is typed without echo, never on the command line."
            },
            PinSpec::Source(PinSource::Env(name)) => html! {
                "The PIN comes from the environment variable " (c(name))
                ", set in the operator's shell beforehand; it is never on the command line."
            },
            PinSpec::Source(PinSource::File(path)) => html! {
                "The PIN comes from the file " (p(path)) "."
            },
            PinSpec::Shares => html! {
                "The PIN is rebuilt from " (self.policy.threshold) " PIN shares: keyrite asks each custodian "
                "in turn to type theirs (no echo, the screen cleared between custodians: compare the plan "
                "digest below before the first share is typed), or the operator adds "
                code { "--pin-share FILE" } " for each share file, and for each " code { "share-NAME.age" }
                " also " code { "--identity KEY" } ", that custodian's SSH private key."
            },
        };
        html! {
            section id="start" aria-labelledby="start-h" {
                h2 id="start-h" { "Start the ceremony" }
                p { "The operator types, exactly:" }
                pre id="run-command" { (t(&self.run_command())) }
                p { (pin) }
                p { "The screen shows, before the first step:" }
                pre { "Plan \"" (t(&self.plan.ceremony_id)) "\" approved by " (blank()) " of "
                      (self.policy.threshold) " required: " (blank()) ".\n"
                      (digest_lines("  ", "Plan digest (SHA-256 of the statement they signed)",
                          &super::plan::statement_sha256(&self.plan.digest_statement())).join("\n")) }
                ul { li { "The plan digest on the screen is the one on the first page, word for word." } }
                (initials())
            }
        }
    }

    fn steps(&self) -> Markup {
        let total = self.plan.steps.len();
        html! {
            section id="steps" aria-labelledby="steps-h" {
                h2 id="steps-h" { "Steps" }
                @for (index, step) in self.plan.steps.iter().enumerate() {
                    (self.step(index, total, step, self.wraps.get(index).and_then(Option::as_ref)))
                }
            }
        }
    }

    fn step(&self, index: usize, total: usize, step: &Step, wrap: Option<&PreparedWrap>) -> Markup {
        let number = index + 1;
        let runs = if index == 0 {
            html! { "the command above; it begins here." }
        } else {
            html! { "nothing: " code { "ceremony run" } " goes on by itself." }
        };
        let (heading, screen, compare) = match step {
            Step::Generate {
                key_label,
                key_spec,
                wrap_with_trusted,
            } => (
                html! {
                    "generate " (spoken_spec(*key_spec)) " key " (c(key_label.as_str()))
                    @if *wrap_with_trusted { " (wrappable only under trusted keys)" }
                },
                html! { "Key \"" (t(key_label.as_str())) "\" (" (key_spec.name()) "): KCV " (blank()) " [" (blank()) "] (…)." },
                html! {
                    li { "The key check value (KCV) shown, read aloud in its three words and written here: " (blank()) }
                },
            ),
            Step::Wrap {
                key_label,
                provider,
                out,
                existing,
                ..
            } => {
                let out_path = self.plan.dir().join(out);
                let out_shown = out_path.to_string_lossy().into_owned();
                let verb = if existing.is_some() {
                    "rewrap the existing key "
                } else {
                    "wrap "
                };
                (
                    html! {
                        (verb) (c(key_label.as_str())) " for " (provider.display_name())
                        " into " (c(out))
                    },
                    html! {
                        @if let Some((kcv, spec)) = existing {
                            "Key \"" (t(key_label.as_str())) "\" (" (spec.name()) "): KCV " (t(kcv)) (inline_words(kcv)) " (…).\n"
                        }
                        "Wrote " (t(&out_shown)) "/ — next: sh " (t(&out_shown)) "/import.sh"
                    },
                    html! {
                        @if let Some((kcv, _)) = existing {
                            li { "The KCV the plan pins for " (c(key_label.as_str())) ": " (digest(kcv)) }
                        }
                        @if let Some(wrap) = wrap { (wrap_compare(wrap)) }
                    },
                )
            }
            Step::Destroy {
                key_label,
                expect_kcv,
            } => (
                html! { "destroy the existing key " (c(key_label.as_str())) },
                html! {
                    "Destroyed key \"" (t(key_label.as_str())) "\" (KCV " (t(expect_kcv)) (inline_words(expect_kcv)) ", checked first)."
                },
                html! {
                    li { "The KCV the plan pins, checked by keyrite before it destroys the key: " (digest(expect_kcv)) }
                },
            ),
        };
        html! {
            article class="step" id={ "step-" (number) } {
                h3 { "Step " (number) " of " (total) " — " (heading) }
                dl {
                    dt { "Operator runs" } dd { (initials()) (runs) }
                    dt { "Screen shows" } dd { pre { (screen) } }
                    dt { "Compare" " (with " code { "plan check" } "'s output the custodians approved)" } dd { ul { (compare) } }
                }
            }
        }
    }

    fn close(&self) -> Markup {
        let transcript = sh_path(&self.invocation.transcript);
        let mut verify = format!(
            "keyrite verify {transcript} --signer signer.pem --policy {} --plan {}",
            sh_path(&self.policy.path),
            sh_path(&self.plan.path),
        );
        if let Some(dir) = outputs_dir(self.plan) {
            verify.push_str(&format!(" --outputs {}", sh_path(&dir)));
        }
        html! {
            section id="close" aria-labelledby="close-h" {
                h2 id="close-h" { "Close the ceremony" }
                p { "The screen shows, after the last step:" }
                pre { "Completed. Sealed transcript: " (t(&self.invocation.transcript.to_string_lossy())) "\n"
                      "  Chain head at the seal (what witnesses sign): " (blank()) "\n    …" }
                @if self.policy.witnesses.is_empty() {
                    ul { li { "The chain head at the seal, read aloud in its 32 words and written here: "
                        (blank()) (blank()) (blank()) } }
                    p { "Then the transcript is verified (exit 0, VERIFIED):" }
                    pre { (t(&verify)) }
                } @else {
                    ul { li {
                        "The chain head at the seal, read aloud in its 32 words and written here; each witness finds the same words after "
                        code { "witness sign" } ": " (blank()) (blank()) (blank())
                    } }
                    p {
                        "Then the transcript is verified (exit 0, VERIFIED once the witnesses have signed) and each witness co-signs it:"
                    }
                    pre { (t(&verify)) "\n" "keyrite witness sign " (t(&transcript))
                          " --ssh-key KEY --signer signer.pem --policy " (t(&sh_path(&self.policy.path))) }
                }
                (initials())
                table class="sign" id="signatures" {
                    colgroup { col class="role"; col class="name"; col; col class="date"; }
                    thead { tr {
                        th scope="col" { "Role" } th scope="col" { "Name" }
                        th scope="col" { "Signature" } th scope="col" { "Date" }
                    } }
                    tbody {
                        tr { td { "Operator" } td { (t(&self.plan.operator)) } td {} td {} }
                        tr { td { "Ceremony administrator" } td {} td {} td {} }
                        @for person in &self.policy.custodians {
                            tr { td { "Custodian" } td { (t(&person.name)) } td {} td {} }
                        }
                        @for person in &self.policy.witnesses {
                            tr { td { "Witness" } td { (t(&person.name)) } td {} td {} }
                        }
                    }
                }
            }
        }
    }
}

/// The one directory holding every output directory of the plan, as `verify --outputs` takes
/// it (`.` for the current directory); `None` when the plan writes none or they are in several.
fn outputs_dir(plan: &Plan) -> Option<PathBuf> {
    let dir = plan.dir();
    let mut parents = plan.steps.iter().filter_map(|step| match step {
        Step::Wrap { out, .. } => Some(
            dir.join(out)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        ),
        Step::Generate { .. } | Step::Destroy { .. } => None,
    });
    let first = parents.next()?;
    if parents.any(|p| p != first) {
        return None;
    }
    Some(if first.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        first
    })
}

/// A custodian's or witness's row: role, name, SSH fingerprint as OpenSSH shows it, in hex and
/// in words.
fn person_row(role: &str, person: &Person) -> Markup {
    let fingerprint = person.key.fingerprint(HashAlg::Sha256);
    let bytes = fingerprint.as_bytes();
    html! {
        tr {
            td { (role) }
            td { (t(&person.name)) }
            td {
                code { (t(&fingerprint.to_string())) }
                br;
                span class="hex" { (hex::encode(bytes)) }
                span class="words" { (pgp_words(bytes)) }
            }
        }
    }
}

/// What to compare in a wrap step: the KMS key, the wrapping key's fingerprint from the
/// parameters file, the algorithm, and the files the output directory will hold.
fn wrap_compare(wrap: &PreparedWrap) -> Markup {
    let params = wrap.params();
    let request = wrap.request();
    let mut files: Vec<&str> = Import {
        params,
        algorithm: wrap.algorithm(),
        key_spec: request.key_spec,
        key_label: request.key_label.as_str(),
        wrapped: &[],
        material_valid_to: request.material_valid_to,
        token: "",
    }
    .files()
    .iter()
    .map(|f| f.name)
    .collect();
    if request.key_spec.is_asymmetric() {
        files.push(PUBLIC_PEM);
    }
    files.push("manifest.json");
    html! {
        li {
            "KMS key " (c(&params.key_id))
            @if let Some(id) = &params.wrapping_key_id { ", wrapping key of " (c(id)) }
            ", algorithm " code { (wrap.algorithm()) }
            @if let Some(valid_to) = params.valid_to {
                ", parameters valid to " (format_time(valid_to))
            }
        }
        li { "Wrapping key SHA-256 (parameters file): " (digest(params.public_key.fingerprint())) }
        li {
            "Files written: "
            @for (i, name) in files.iter().enumerate() {
                @if i > 0 { ", " }
                code { (name) }
            }
        }
    }
}

/// Lines for the initials of the operator and the administrator, and the time.
fn initials() -> Markup {
    html! {
        div class="initials" {
            span class="field" { "Initials: operator " (blank()) }
            span class="field" { "administrator " (blank()) }
            span class="field" { "Time (UTC) " (blank()) }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_they_need_it() {
        assert_eq!(sh("plan.toml"), "plan.toml");
        assert_eq!(sh("ceremony/plan-2026.toml"), "ceremony/plan-2026.toml");
        assert_eq!(sh("my plan.toml"), "'my plan.toml'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("$(rm -rf x)"), "'$(rm -rf x)'");
        assert_eq!(sh(""), "''");
    }

    /// A plan read without its files, with a wrap step into each of `outs`.
    fn plan_with_outs(path: &str, outs: &[&str]) -> Plan {
        let mut text = "version = 1\nceremony_id = \"c\"\nnot_before = \"2026-12-01T09:00:00Z\"\n\
             not_after = \"2026-12-01T17:00:00Z\"\noperator = \"O\"\ntoken_label = \"t\"\n\
             signing_key_label = \"s\"\npin = \"prompt\"\n\n[[steps]]\naction = \"generate\"\n\
             key_label = \"k\"\n"
            .to_owned();
        for out in outs {
            text.push_str(&format!(
                "\n[[steps]]\naction = \"wrap\"\nkey_label = \"k\"\nprovider = \"aws\"\n\
                 params = \"p.json\"\nalgorithm = \"RSAES_OAEP_SHA_256\"\nout = \"{out}\"\n"
            ));
        }
        Plan::from_bytes(Path::new(path), text.into_bytes(), false).unwrap()
    }

    #[test]
    fn verify_is_given_the_one_directory_holding_every_output() {
        let dir = |path: &str, outs: &[&str]| outputs_dir(&plan_with_outs(path, outs));
        assert_eq!(dir("plan.toml", &["a", "b"]), Some(PathBuf::from(".")));
        assert_eq!(
            dir("plan.toml", &["out/a", "out/b"]),
            Some(PathBuf::from("out"))
        );
        assert_eq!(
            dir("ceremony/plan.toml", &["out/a"]),
            Some(PathBuf::from("ceremony/out"))
        );
        assert_eq!(dir("plan.toml", &["a", "out/b"]), None);
        assert_eq!(dir("plan.toml", &[]), None);
    }
}
