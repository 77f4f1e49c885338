//! The `keyrite` binary: parse the command line, call the library, print, and map errors to
//! exit codes (0 success, 1 refused or failed, 2 usage). The only place that exits.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use time::OffsetDateTime;

use keyrite::hsm::Module;
use keyrite::hsm::keys::KcvMethod;
use keyrite::kms::{ProviderOptions, shell_quote};
use keyrite::pin::PinSource;
use keyrite::timestamp::format_time;
use keyrite::visible::visible;
use keyrite::wrap::{TokenAccess, WrapOutcome, WrapRequest};
use keyrite::{Error, info, wrap};

use cli::{
    BackupKeyCommand, CeremonyCommand, Cli, Command, KeysCommand, PinCommand, PlanCommand,
    SignerCommand, TokenCommand, WitnessCommand,
};
use keyrite::ceremony::{self, RunRequest};
use secrecy::ExposeSecret as _;

fn main() -> ExitCode {
    keyrite::pin::harden_process();
    let cli = Cli::parse();
    let verifying = matches!(cli.command, Command::Verify(_));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "keyrite: {e}");
            if let Some(hint) = e.hint() {
                let _ = writeln!(stderr, "{hint}");
            }
            // verify's inputs that cannot be used at all are a usage error.
            ExitCode::from(if verifying && matches!(e, Error::Verify(_)) {
                2
            } else {
                1
            })
        }
    }
}

fn verify(args: cli::VerifyArgs) -> Result<ExitCode, Error> {
    use keyrite::verify::{self, Status};
    // A report that cannot be written is a usage error (exit 2), like verify's other unusable
    // inputs; it is refused before anything is verified.
    let report_failed = |e: keyrite::output::Error| {
        eprintln!("keyrite: {e}");
        eprintln!(
            "Choose a new --report path in an existing directory; keyrite never replaces a file."
        );
        Ok(ExitCode::from(2))
    };
    if args.policy.is_none() && !args.no_policy {
        eprintln!(
            "keyrite: verify needs the policy: without it no quorum is checked, and nothing says who approved the transcript"
        );
        eprintln!(
            "Give --policy POLICY (the policy the ceremony ran under), or --no-policy to verify without it (the verdict is then NOT APPROVED, exit 4)."
        );
        return Ok(ExitCode::from(2));
    }
    if let Some(path) = &args.report {
        if let Err(e) = keyrite::output::check_absent(path) {
            return report_failed(e);
        }
    }
    let report = verify::verify(&verify::Inputs {
        transcript: args.transcript.clone(),
        signer: args.signer,
        policy: args.policy,
        plan: args.plan,
        outputs: args.outputs,
        // Only the HTML report shows every line; without it, memory stays flat.
        keep_lines: args.report.is_some(),
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        println!("Transcript {}", args.transcript.display());
        for c in &report.checks {
            let (status, text) = match &c.status {
                Status::Passed { detail } => ("passed", detail.clone()),
                Status::Failed { reason, line } => (
                    "FAILED",
                    match line {
                        Some(l) => format!("line {l}: {reason}"),
                        None => reason.clone(),
                    },
                ),
                Status::NotChecked { missing } => ("not checked", format!("needs {missing}")),
            };
            println!("  {:<10} {:<12} {}", c.name, status, text);
        }
        for w in &report.witnesses {
            let state = match w.verified {
                Some(true) => "signature verified",
                Some(false) => "signature does NOT verify",
                None => {
                    "signature verifies under the key it carries (no --policy: not held to the policy's witnesses)"
                }
            };
            println!(
                "  witness {:?} ({}), line {}: {state}",
                w.name, w.key_fingerprint, w.line
            );
        }
        println!("{} (exit {})", report.summary, report.exit_code);
    }
    if let Some(path) = &args.report {
        let html = keyrite::verify::report::render(&report, &args.transcript);
        if let Err(e) = keyrite::verify::report::write(path, &html) {
            return report_failed(e);
        }
        eprintln!("keyrite: audit report written to {}", path.display());
    }
    Ok(ExitCode::from(report.exit_code))
}

fn token_access(module: Option<std::path::PathBuf>, token: &cli::TokenArgs) -> TokenAccess {
    TokenAccess {
        module,
        token: token.token.clone(),
        pin: pin_source(token.pin_env.clone(), token.pin_file.clone()),
    }
}

fn pin_source(env: Option<String>, file: Option<std::path::PathBuf>) -> PinSource {
    match (env, file) {
        (Some(name), _) => PinSource::Env(name),
        (None, Some(path)) => PinSource::File(path),
        (None, None) => PinSource::Prompt,
    }
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let module = cli.module;
    match cli.command {
        Command::Verify(args) => return verify(args),
        Command::Pin(PinCommand::Split {
            threshold,
            shares,
            out_dir,
            pin_env,
        }) => {
            let pin = match pin_env {
                Some(name) => PinSource::Env(name).read("")?,
                None => {
                    let first = PinSource::Prompt.read("User PIN to split: ")?;
                    let again = PinSource::Prompt.read("The same PIN again: ")?;
                    if first.expose_secret() != again.expose_secret() {
                        return Err(keyrite::shares::Error::Mismatch.into());
                    }
                    first
                }
            };
            let made = keyrite::shares::split(&pin, threshold, shares)?;
            drop(pin);
            let written = keyrite::shares::write(&out_dir, &made)?;
            println!(
                "{} shares written; any {threshold} rebuild the PIN. Give each to one custodian.",
                written.len()
            );
            println!("Put their SHA-256 in the policy, in this order:");
            println!("pin_shares = [");
            for (path, digest) in &written {
                println!("    \"{digest}\",  # {}", path.display());
            }
            println!("]");
            Ok(())
        }
        Command::Witness(WitnessCommand::Message { transcript, signer }) => {
            print!("{}", keyrite::witness::message(&transcript, &signer)?);
            Ok(())
        }
        Command::Witness(WitnessCommand::Sign {
            transcript,
            ssh_key,
            signer,
            policy,
        }) => {
            let name = keyrite::witness::sign(&transcript, &signer, &policy, &ssh_key)?;
            println!("Witness {name:?} signed {}.", transcript.display());
            Ok(())
        }
        Command::Witness(WitnessCommand::Add {
            transcript,
            signature,
            signer,
            policy,
        }) => {
            let name = keyrite::witness::add(&transcript, &signer, &policy, &signature)?;
            println!("Witness {name:?} added to {}.", transcript.display());
            Ok(())
        }
        Command::Keys(KeysCommand::List { token, json }) => {
            let access = token_access(module, &token);
            let (_module, token) = wrap::open_logged_in(&access)?;
            let keys: Vec<_> = token.keys()?.into_iter().map(|(_, k)| k).collect();
            if json {
                // ASCII only: a label's bidi override or C1 control reaches no terminal raw.
                print_json_ascii(&keys)
            } else {
                let flag = |name: &str, v: Option<bool>| match v {
                    Some(true) => name.to_owned(),
                    Some(false) => format!("!{name}"),
                    None => format!("{name}?"),
                };
                println!(
                    "{} secret and private key(s) on token {:?}",
                    keys.len(),
                    token.label()
                );
                for k in &keys {
                    let identity = if k.kcv_method == KcvMethod::SpkiSha256.name() {
                        "public key SHA-256"
                    } else {
                        "KCV"
                    };
                    println!(
                        "  {:<24} {:<12} {identity} {} ({})  id {}",
                        visible(&k.label),
                        k.spec.map_or(k.key_type.as_str(), |s| s.name()),
                        k.kcv.as_deref().unwrap_or("none"),
                        k.kcv_method,
                        k.id
                    );
                    println!(
                        "  {:<24} {} {} {} {} {} {} {}",
                        "",
                        flag("sensitive", k.sensitive),
                        flag("always-sensitive", k.always_sensitive),
                        flag("extractable", k.extractable),
                        flag("never-extractable", k.never_extractable),
                        flag("modifiable", k.modifiable),
                        flag("wrap-with-trusted", k.wrap_with_trusted),
                        match k.local {
                            Some(true) => "generated here",
                            Some(false) => "unwrapped or imported",
                            None => "origin not reported",
                        }
                    );
                    if let Some(full) = &k.check_sha256 {
                        println!("  {:<24} check_sha256 {full}", "");
                    }
                    if let Some(planted) = k.planted {
                        println!("  {:<24} PLANTED: {planted}", "");
                    }
                    if !k.usages.is_empty() {
                        println!(
                            "  {:<24} usable to {}: not a ceremony key",
                            "",
                            k.usages.join(", ")
                        );
                    }
                }
                Ok(())
            }
        }
        Command::Token(TokenCommand::Info(args)) => {
            let path = Module::resolve(module.as_deref())?;
            let module = Module::load(&path)?;
            let pin = (args.pin_env.is_some() || args.pin_file.is_some())
                .then(|| pin_source(args.pin_env, args.pin_file));
            let report = info::report(&module, args.token.as_deref(), pin.as_ref())?;
            if args.json {
                print_json(&report)
            } else {
                print_report(&report);
                Ok(())
            }
        }
        Command::Token(TokenCommand::Signer(SignerCommand::Create { label, token })) => {
            let access = token_access(module, &token);
            let (_module, token) = wrap::open_logged_in(&access)?;
            let created = token.create_signer(&label)?;
            for weakened in &created.weakened {
                eprintln!("keyrite: warning: {weakened}");
            }
            print_signer(&created.public)
        }
        Command::Token(TokenCommand::TrustWrappingKey(args)) => {
            let now = OffsetDateTime::now_utc();
            let options = ProviderOptions {
                gcp_key: args.gcp_key,
                ..ProviderOptions::default()
            };
            let bytes = std::fs::read(&args.params).map_err(|e| Error::ReadParams {
                path: args.params.clone(),
                reason: e.to_string(),
            })?;
            let params = args
                .provider
                .parse_params(&bytes, &options, now)
                .map_err(|source| Error::Params {
                    path: args.params.clone(),
                    source,
                })?;
            let path = Module::resolve(module.as_deref())?;
            let module = Module::load(&path)?;
            let description = module.find_token(args.token.as_deref())?;
            let pin = pin_source(args.so_pin_env, args.so_pin_file).read(&format!(
                "Security officer PIN for token {:?}: ",
                description.label
            ))?;
            let token = module.open(description)?;
            token.login_so(&pin)?;
            drop(pin);
            token.trust_wrapping_key(&params.public_key, &args.label)?;
            println!(
                "Stored {} wrapping key {} (SHA-256 {}) on token {:?} as trusted object {:?}: keys made with --wrap-with-trusted can be wrapped under it.",
                args.provider.display_name(),
                params.key_id,
                params.public_key.fingerprint(),
                token.label(),
                args.label.as_str()
            );
            Ok(())
        }
        Command::Token(TokenCommand::BackupKey(command)) => {
            let (label, token, create) = match command {
                BackupKeyCommand::Create {
                    label,
                    for_key_pairs,
                    policy,
                    token,
                } => {
                    let kind = if for_key_pairs {
                        keyrite::hsm::backup::BackupKeyKind::KeyPairs
                    } else {
                        keyrite::hsm::backup::BackupKeyKind::SecretKeys
                    };
                    let accept = match policy {
                        Some(path) => {
                            keyrite::ceremony::policy::Policy::load(&path)?
                                .accept_backup_unwrap_oracle
                        }
                        None => false,
                    };
                    (label, token, Some((kind, accept)))
                }
                BackupKeyCommand::Export { label, token } => (label, token, None),
            };
            let access = token_access(module, &token);
            let (_module, token) = wrap::open_logged_in(&access)?;
            let key = match create {
                Some((kind, accept)) => token.create_backup_key(&label, kind, accept)?,
                None => token.backup_key(&label)?,
            };
            print_backup_key(&key, &label);
            Ok(())
        }
        Command::Restore(args) => {
            use keyrite::restore::{Proof, Provenance, RecordTo};
            let (Some(record), Some(signer_label)) = (args.record, args.signer_label) else {
                eprintln!(
                    "keyrite: restore needs --record R.jsonl and --signer-label S: a restore puts a key under a ceremony label on this token, and is believed only from its sealed record"
                );
                eprintln!(
                    "Give --record (a new transcript file) and --signer-label (this token's signer, from `keyrite token signer create`); check the record with `keyrite verify R.jsonl --signer PEM --no-policy`."
                );
                return Ok(ExitCode::from(2));
            };
            let proof = match (args.transcript, args.signer, args.expect_kcv) {
                (Some(transcript), Some(signer), None) => Proof::Recorded { transcript, signer },
                (None, None, Some(kcv)) => Proof::Expected(kcv),
                _ => {
                    eprintln!(
                        "keyrite: restore needs proof of where the backup came from: --transcript T --signer PEM (the sealed record of the run that made it), or --expect-kcv HEX (the key's check value, given out of band)"
                    );
                    eprintln!(
                        "Anyone can write a backup directory under the backup key's public key: pass one of the two."
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            let proven = keyrite::restore::load(&args.backup, &args.key_label)?.proven(proof)?;
            let access = token_access(module, &args.token);
            let restored = keyrite::restore::run(
                proven,
                &access,
                &RecordTo {
                    path: record,
                    signer_label,
                },
            )?;
            if args.json {
                return print_json(&restored).map(|()| ExitCode::SUCCESS);
            }
            println!(
                "Restored {} key {:?} (id {}) into token {:?} (serial {}), unwrapped there from {}.",
                restored.spec,
                restored.label.as_str(),
                restored.id,
                restored.token,
                restored.token_serial,
                restored.algorithm
            );
            match &restored.provenance {
                Provenance::Transcript(t) => println!(
                    "  From token {:?} (serial {}), as the manifest and the token line of {} (sealed by {}) record it",
                    restored.source.label,
                    restored.source.serial,
                    t.transcript.display(),
                    t.signer_fingerprint
                ),
                Provenance::ExpectedKcv { value } => println!(
                    "  The manifest names token {:?} (serial {}), unproven; the key has the check value {} given with --expect-kcv",
                    restored.source.label,
                    restored.source.serial,
                    value.value()
                ),
            }
            for (method, value) in &restored.matched {
                println!("  KCV {value} ({method}) matches the backup's record");
            }
            if let Some(full) = &restored.check_sha256 {
                println!("  Full check value (SHA-256) {full}");
            }
            println!(
                "Its KCV on this token is {} ({}); a restored key is proven by its full check value: give rewrap --expect-kcv the check_sha256 its backup's manifest records.",
                restored.kcv, restored.kcv_method
            );
            println!("Recorded and sealed in {}.", restored.record.display());
            Ok(())
        }
        Command::Token(TokenCommand::Signer(SignerCommand::Export { label, token })) => {
            // Both signer objects are private: the public key is read, and proven, logged in.
            let access = token_access(module, &token);
            let (_module, token) = wrap::open_logged_in(&access)?;
            print_signer(&token.signer_public_key(&label)?)
        }
        Command::Plan(PlanCommand::Digest { plan }) => {
            let plan = ceremony::plan::Plan::load(&plan)?;
            print!("{}", plan.digest_statement());
            Ok(())
        }
        Command::Plan(PlanCommand::Check { plan, policy }) => {
            let policy = ceremony::policy::Policy::load(&policy)?;
            let plan = ceremony::plan::Plan::load(&plan)?;
            ceremony::check_trusted_wrapping(&policy, &plan)?;
            let wraps = ceremony::prepare_wraps(&plan, OffsetDateTime::now_utc())?;
            // Everything shown that came from a file or the command line goes through visible():
            // a newline or a bidi override in a name must not redraw what the custodians read.
            println!(
                "Plan {:?} ({}) is valid: {} step{}, to run between {} and {} on token {:?} by {}.",
                plan.ceremony_id,
                visible(&plan.path.to_string_lossy()),
                plan.steps.len(),
                if plan.steps.len() == 1 { "" } else { "s" },
                format_time(plan.not_before),
                format_time(plan.not_after),
                plan.token_label,
                visible(&plan.operator)
            );
            for (i, (step, wrap)) in plan.steps.iter().zip(&wraps).enumerate() {
                println!("  steps[{i}] {}", describe_step(step));
                if let Some(wrap) = wrap {
                    let params = wrap.params();
                    println!(
                        "    KMS key {}, wrapping key SHA-256 {}{}",
                        visible(&params.key_id),
                        params.public_key.fingerprint(),
                        params
                            .wrapping_key_id
                            .as_deref()
                            .map(|id| format!(" ({})", visible(id)))
                            .unwrap_or_default()
                    );
                }
            }
            println!(
                "Approval needs {} of the policy's {} custodians: {}.",
                policy.threshold,
                policy.custodians.len(),
                policy
                    .custodians
                    .iter()
                    .map(|c| visible(&c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let statement = plan.digest_statement_visible();
            if statement == plan.digest_statement() {
                println!("Digest to sign (keyrite plan digest):");
            } else {
                println!(
                    "Digest to sign, its names shown escaped (keyrite plan digest prints the bytes to sign):"
                );
            }
            print!("{statement}");
            Ok(())
        }
        Command::Ceremony(CeremonyCommand::Run {
            plan,
            run,
            resume_from,
        }) => run_ceremony(module, plan, run, None, resume_from),
        Command::Keys(KeysCommand::Destroy {
            key_label,
            plan,
            run,
        }) => run_ceremony(module, plan, run, Some(&key_label), None),
        Command::Wrap(args) => {
            let (prepared, access) = prepare_wrap(&args, module)?;
            let valid_to = prepared.params().valid_to;
            if let (Some(transcript), Some(signer)) = (&args.transcript, &args.signer_label) {
                let outcome = ceremony::wrap_recorded(prepared, &access, transcript, signer)?;
                print_ceremony_outcome(&outcome);
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = wrap::run(prepared, &access)?;
            finish_wrap(&args, &outcome, valid_to)
        }
        Command::Rewrap(args) => {
            if args.wrap.transcript.is_some() {
                return Err(Error::RewrapRecording);
            }
            if args.wrap.wrap_with_trusted {
                return Err(Error::RewrapTrusted);
            }
            // The check value expected: given, or recorded in an earlier transcript that
            // verifies (with the key's CKA_ID and KCV method).
            let expected = match (&args.expect_kcv, &args.from_transcript, &args.signer) {
                (Some(value), _, _) => wrap::Expected::Given(value.clone()),
                (None, Some(transcript), Some(signer)) => wrap::Expected::Recorded(
                    keyrite::verify::recorded_kcv(transcript, signer, &args.wrap.key_label)?,
                ),
                _ => return Err(Error::RewrapNeedsKcv),
            };
            let (prepared, access) = prepare_wrap(&args.wrap, module)?;
            let valid_to = prepared.params().valid_to;
            let outcome = wrap::rewrap(prepared, &access, &expected)?;
            finish_wrap(&args.wrap, &outcome, valid_to)
        }
    }?;
    Ok(ExitCode::SUCCESS)
}

/// Runs an approved plan; for `keys destroy`, only a plan that destroys `destroying` and nothing
/// else.
fn run_ceremony(
    module: Option<std::path::PathBuf>,
    plan: std::path::PathBuf,
    run: cli::RunArgs,
    destroying: Option<&keyrite::spec::KeyLabel>,
    resume_from: Option<std::path::PathBuf>,
) -> Result<(), Error> {
    let req = RunRequest {
        plan,
        policy: run.policy,
        approvals: run.approvals,
        transcript: run.transcript,
        module,
        pin_shares: run.pin_share,
        resume_from,
    };
    let prepared = ceremony::prepare(&req, OffsetDateTime::now_utc())?;
    if let Some(label) = destroying {
        ceremony::check_destroys_only(&prepared.plan, label)?;
    }
    let destroys: Vec<_> = prepared
        .plan
        .steps
        .iter()
        .filter_map(|step| match step {
            ceremony::plan::Step::Destroy {
                key_label,
                expect_kcv,
            } => Some((key_label.clone(), expect_kcv.clone())),
            _ => None,
        })
        .collect();
    println!(
        "Plan {:?} approved by {} of {} required: {}.",
        prepared.plan.ceremony_id,
        prepared.quorum.approvals.len(),
        prepared.quorum.threshold,
        prepared
            .quorum
            .approvals
            .iter()
            .map(|a| a.custodian.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let outcome = ceremony::run(prepared, &req)?;
    for (label, kcv) in &destroys {
        println!(
            "Destroyed key {:?} (KCV {kcv}, checked first).",
            label.as_str()
        );
    }
    print_ceremony_outcome(&outcome);
    Ok(())
}

/// Checks a wrap's inputs (no token yet) and says how to reach the token.
fn prepare_wrap(
    args: &cli::WrapArgs,
    module: Option<std::path::PathBuf>,
) -> Result<(wrap::PreparedWrap, TokenAccess), Error> {
    let request = WrapRequest {
        provider: args.provider,
        params: args.params.clone(),
        algorithm: args.algorithm,
        options: ProviderOptions {
            gcp_key: args.gcp_key.clone(),
            gcp_algorithm: args.gcp_algorithm.clone(),
            azure_key: args.azure_key.clone(),
            azure_kid: args.azure_kid.clone(),
            vault_key: args.vault_key.clone(),
            vault_mount: args.vault_mount.clone(),
        },
        wrapping_key_spec: args.wrapping_key_spec,
        key_label: args.key_label.clone(),
        key_spec: args.key_spec,
        out: args.out.clone(),
        material_valid_to: args.valid_to,
        allow_legacy_pkcs1: args.allow_legacy_pkcs1,
        wrap_with_trusted: args.wrap_with_trusted,
    };
    let prepared = wrap::prepare(request, OffsetDateTime::now_utc())?;
    let access = token_access(module, &args.token);
    Ok((prepared, access))
}

fn finish_wrap(
    args: &cli::WrapArgs,
    outcome: &WrapOutcome,
    valid_to: Option<OffsetDateTime>,
) -> Result<(), Error> {
    if let Some(warning) = &outcome.warning {
        eprintln!("keyrite: warning: {warning}");
    }
    if args.json {
        print_json(&outcome.manifest)
    } else {
        print_summary(outcome, valid_to);
        Ok(())
    }
}

fn print_ceremony_outcome(outcome: &ceremony::Outcome) {
    for key in &outcome.keys {
        println!(
            "Key {:?} ({}): KCV {} ({}).",
            key.label.as_str(),
            key.spec,
            key.kcv.as_deref().unwrap_or("none"),
            key.kcv_method
        );
    }
    for out in &outcome.outputs {
        println!(
            "Wrote {}/ — next: sh {}",
            out.display(),
            out.join("import.sh").display()
        );
    }
    println!(
        "Completed. Sealed transcript: {}",
        outcome.transcript.display()
    );
}

fn print_backup_key(key: &keyrite::hsm::backup::BackupKey, label: &keyrite::spec::KeyLabel) {
    print!("{}", key.pem);
    eprintln!(
        "Backup key {:?}: SHA-256 {}",
        label.as_str(),
        key.fingerprint
    );
    for algorithm in &key.unwraps {
        eprintln!("  this token unwraps backups made with --algorithm {algorithm}");
    }
    for (algorithm, why) in &key.refuses {
        eprintln!("  this token cannot unwrap {algorithm}: {why}");
    }
    match &key.oracle {
        Some(why) => eprintln!(
            "  WARNING: whoever holds this token's PIN can unwrap a backup made for this key into a key they can read: {why}"
        ),
        None => eprintln!(
            "  what it unwraps takes the ceremony template (CKA_UNWRAP_TEMPLATE, applied by this token): never readable, of no use but to be wrapped"
        ),
    }
}

fn print_signer(key: &keyrite::hsm::signer::SignerPublicKey) -> Result<(), Error> {
    print!("{}", key.pem()?);
    eprintln!(
        "Signer fingerprint (the policy's signer_fingerprint): {}",
        key.fingerprint()?
    );
    Ok(())
}

fn describe_step(step: &ceremony::plan::Step) -> String {
    use ceremony::plan::Step;
    match step {
        Step::Generate {
            key_label,
            key_spec,
            wrap_with_trusted,
        } => format!(
            "generate {key_spec} key {:?}{}",
            key_label.as_str(),
            if *wrap_with_trusted {
                " with CKA_WRAP_WITH_TRUSTED"
            } else {
                ""
            }
        ),
        Step::Wrap {
            key_label,
            provider,
            params,
            algorithm,
            out,
            existing,
            ..
        } => format!(
            "{} {:?} for {} ({}) with {algorithm} into {}{}",
            step.action(),
            key_label.as_str(),
            provider.display_name(),
            visible(params),
            visible(out),
            existing
                .as_ref()
                .map(|(kcv, _)| format!(" (the existing key, KCV {kcv})"))
                .unwrap_or_default()
        ),
        Step::Destroy {
            key_label,
            expect_kcv,
        } => format!(
            "destroy the existing key {:?} (KCV {expect_kcv})",
            key_label.as_str()
        ),
    }
}

/// [`print_json`] with every character beyond ASCII written as a JSON `\uXXXX` escape, so
/// that what a token holds cannot reach the terminal as a control or a bidi override.
fn print_json_ascii<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal {
        what: format!("cannot serialise JSON: {e}"),
    })?;
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if u32::from(c) < 0x7f {
            ascii.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    println!("{ascii}");
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Internal {
        what: format!("cannot serialise JSON: {e}"),
    })?;
    println!("{text}");
    Ok(())
}

fn print_report(report: &info::Report) {
    println!("Module {}: {}", report.module, report.library);
    for t in &report.tokens {
        let d = &t.token;
        println!();
        println!("Token {:?} (slot {})", d.label, d.slot);
        println!(
            "  serial {}, manufacturer {}, model {}, firmware {}, hardware {}",
            d.serial, d.manufacturer, d.model, d.firmware, d.hardware
        );
        println!("  wrapping algorithms:");
        for a in &t.wrapping {
            println!(
                "    {:<24} {:<4} {}: {}",
                a.algorithm,
                if a.supported { "yes" } else { "no" },
                a.mechanism,
                a.detail
            );
        }
        println!("  key check values: {}", t.kcv);
        println!("  CKA_WRAP_WITH_TRUSTED: {}", t.wrap_with_trusted.detail);
        println!(
            "  key pairs: {}: {}",
            match (t.key_pairs.rsa, t.key_pairs.ec) {
                (true, true) => "yes",
                (true, false) => "RSA only",
                _ => "no",
            },
            t.key_pairs.detail
        );
        println!("  CKA_UNWRAP_TEMPLATE: {}", t.unwrap_template.detail);
    }
    for slot in &report.uninitialized_slots {
        println!();
        println!("Slot {slot}: token not initialised");
    }
}

fn print_summary(outcome: &WrapOutcome, params_valid_to: Option<OffsetDateTime>) {
    let m = &outcome.manifest;
    let kcv = match &m.key.kcv {
        Some(v) if m.key.spec.is_asymmetric() => format!("public key SHA-256 {v}"),
        Some(v) => format!("KCV {v} ({})", m.key.kcv_method),
        None => format!("no KCV: {}", m.key.kcv_method),
    };
    println!(
        "Generated {} key{} {:?} in token {:?} (serial {}): {kcv}.",
        m.key.spec,
        if m.key.spec.is_asymmetric() {
            " pair"
        } else {
            ""
        },
        m.key.label.as_str(),
        m.token.label,
        m.token.serial
    );
    if m.key.discarded > 0 {
        println!(
            "The token made {} {} key pair(s) before it whose private key it encodes other than by RFC 5915 (a private key shorter than the curve's size); keyrite destroyed them.",
            m.key.discarded, m.key.spec
        );
    }
    println!(
        "Wrapped it in the token with {} ({}) under the {} wrapping key of {} key {}.",
        m.algorithm,
        m.mechanism,
        m.wrapping_key_spec,
        outcome.provider.display_name(),
        m.kms_key_id
    );
    println!("Wrote {}/", outcome.out.display());
    for (name, digest) in &m.files {
        println!("  {name:<26} sha256 {digest}");
    }
    println!("  {:<26} (the record of this wrap)", "manifest.json");
    if let Some(valid_to) = params_valid_to {
        println!(
            "The import parameters expire at {}: import before then.",
            format_time(valid_to)
        );
    }
    if let Some(note) = outcome.provider.import_note(m.key.spec) {
        println!("{note}");
    }
    let script = outcome.out.join("import.sh");
    let shown = script.display().to_string();
    let safe = shown
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@".contains(&b));
    println!(
        "Next: sh {}",
        if safe { shown } else { shell_quote(&shown) }
    );
}
