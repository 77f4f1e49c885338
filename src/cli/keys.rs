//! `keyrite keys list` and `keyrite keys destroy`: the token's ceremony keys, listed (never a
//! value) or ended by an approved plan. The library reads the token; this file prints every
//! label through `visible`, and JSON in ASCII only.

use std::path::PathBuf;

use clap::Subcommand;

use keyrite::Error;
use keyrite::hsm::keys::KcvMethod;
use keyrite::spec::KeyLabel;
use keyrite::token::KeyList;
use keyrite::visible::visible;

use super::ceremony::{RunArgs, run_plan};
use super::out::outln;
use super::print::{Schema, print_json_ascii};
use super::{TokenArgs, token_access};

/// `keyrite keys …`
#[derive(Debug, Subcommand)]
#[command(after_help = super::examples::KEYS)]
pub enum KeysCommand {
    /// List the token's keys, secret and private (ceremony keys, the signer, backup keys):
    /// label, id, kind, KCV and the attributes that matter — never a value.
    #[command(after_help = super::examples::KEYS_LIST)]
    List {
        #[command(flatten)]
        token: TokenArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Destroy a key on purpose, ending its life: runs an approved plan whose only steps
    /// destroy this key (after checking its KCV), and records a sealed transcript.
    #[command(after_help = super::examples::KEYS_DESTROY)]
    Destroy {
        /// The key to destroy; the plan must destroy it and nothing else.
        #[arg(long, value_name = "LABEL")]
        key_label: KeyLabel,
        /// The plan file.
        #[arg(long, value_name = "FILE")]
        plan: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
}

/// Runs a `keys` subcommand.
pub fn run(command: KeysCommand) -> Result<(), Error> {
    match command {
        KeysCommand::List { token, json } => {
            let module = token.module.open()?;
            let list = keyrite::token::keys(&token_access(module, &token))?;
            if json {
                // ASCII only: a label's bidi override or C1 control reaches no terminal raw.
                print_json_ascii(Schema::KeysList, &list)
            } else {
                print_list(&list);
                Ok(())
            }
        }
        KeysCommand::Destroy {
            key_label,
            plan,
            run,
        } => run_plan(
            plan,
            run,
            Some(&key_label),
            None,
            keyrite::ceremony::Batching::default(),
        ),
    }
}

/// Prints each key with its check value and the attributes that matter.
fn print_list(list: &KeyList) {
    let keys = &list.keys;
    let flag = |name: &str, v: Option<bool>| match v {
        Some(true) => name.to_owned(),
        Some(false) => format!("!{name}"),
        None => format!("{name}?"),
    };
    outln!(
        "{} secret and private key(s) on token {:?}",
        keys.len(),
        list.token.label
    );
    for k in keys {
        let identity = if k.kcv_method == KcvMethod::SpkiSha256.name() {
            "public key SHA-256"
        } else {
            "KCV"
        };
        outln!(
            "  {:<24} {:<12} {identity} {} ({})  id {}",
            visible(&k.label),
            k.spec.map_or(k.key_type.as_str(), |s| s.name()),
            k.kcv.as_deref().unwrap_or("none"),
            k.kcv_method,
            k.id
        );
        outln!(
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
            outln!("  {:<24} check_sha256 {full}", "");
        }
        if let Some(planted) = k.planted {
            outln!("  {:<24} PLANTED: {planted}", "");
        }
        if !k.usages.is_empty() {
            outln!(
                "  {:<24} usable to {}: not a ceremony key",
                "",
                k.usages.join(", ")
            );
        }
    }
}
