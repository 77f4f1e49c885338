//! The `keyrite` binary: parse the command line, call the library, print, and map errors to
//! exit codes (0 success, 1 refused or failed, 2 usage). The only place that exits.

mod cli;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use time::OffsetDateTime;

use keyrite::hsm::Module;
use keyrite::kms::{format_time, shell_quote};
use keyrite::pin::PinSource;
use keyrite::wrap::{TokenAccess, WrapOutcome, WrapRequest};
use keyrite::{Error, info, wrap};

use cli::{Cli, Command, TokenCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "keyrite: {e}");
            if let Some(hint) = e.hint() {
                let _ = writeln!(stderr, "{hint}");
            }
            ExitCode::from(1)
        }
    }
}

fn pin_source(env: Option<String>, file: Option<std::path::PathBuf>) -> PinSource {
    match (env, file) {
        (Some(name), _) => PinSource::Env(name),
        (None, Some(path)) => PinSource::File(path),
        (None, None) => PinSource::Prompt,
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Token(TokenCommand::Info(args)) => {
            let path = Module::resolve(cli.module.as_deref())?;
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
        Command::Wrap(args) => {
            let request = WrapRequest {
                provider: args.provider,
                params: args.params,
                algorithm: args.algorithm,
                wrapping_key_spec: args.wrapping_key_spec,
                key_label: args.key_label,
                key_spec: args.key_spec,
                out: args.out,
                material_valid_to: args.valid_to,
                allow_legacy_pkcs1: args.allow_legacy_pkcs1,
            };
            let prepared = wrap::prepare(request, OffsetDateTime::now_utc())?;
            let access = TokenAccess {
                module: cli.module,
                token: args.token.token,
                pin: pin_source(args.token.pin_env, args.token.pin_file),
            };
            let valid_to = prepared.params().valid_to;
            let outcome = wrap::run(prepared, &access)?;
            if let Some(warning) = &outcome.warning {
                eprintln!("keyrite: warning: {warning}");
            }
            if args.json {
                print_json(&outcome.manifest)
            } else {
                print_summary(&outcome, valid_to);
                Ok(())
            }
        }
    }
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
    }
    for slot in &report.uninitialized_slots {
        println!();
        println!("Slot {slot}: token not initialised");
    }
}

fn print_summary(outcome: &WrapOutcome, params_valid_to: OffsetDateTime) {
    let m = &outcome.manifest;
    let kcv = match &m.key.kcv {
        Some(v) => format!("KCV {v} ({})", m.key.kcv_method),
        None => format!("no KCV: {}", m.key.kcv_method),
    };
    println!(
        "Generated {} key {:?} in token {:?} (serial {}): {kcv}.",
        m.key.spec,
        m.key.label.as_str(),
        m.token.label,
        m.token.serial
    );
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
    println!(
        "The import parameters expire at {}: import before then.",
        format_time(params_valid_to)
    );
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
