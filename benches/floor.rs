//! The floors `scripts/bench` measures keyrite against: what the token itself costs, with
//! nothing of keyrite's around it.
//!
//! ```text
//! floor wrap MODULE TOKEN_LABEL PIN_ENV [--token-calls] [--durable DIR] PARAMS_FILE...
//! floor ceremony MODULE TOKEN_LABEL PIN_ENV SIGNER_LABEL CEREMONY_ID KEY_LABEL PARAMS_FILE...
//! ```
//!
//! `wrap` loads the module, logs in, imports every AWS parameters file's wrapping public key as a
//! session object (untimed), then times one loop in this process: per parameters file, one
//! `C_GenerateKey` of an AES-256 key with keyrite's ceremony template (a private, sensitive token
//! object) and one `C_WrapKey` of it with `CKM_RSA_PKCS_OAEP` (SHA-1, MGF1-SHA-1, empty label)
//! under that file's key — no key check value, no random `CKA_ID`, no transcript, no files.
//! With `--token-calls`, every other token call a ceremony makes is added, with keyrite's own
//! functions and in a ceremony's order (all timed): every label looked up and every KMS key
//! imported, its mechanism checked and tried on a throw-away key; then per key a random `CKA_ID`
//! and the KCV read as well. With `--durable DIR`, each key is also made durable the way keyrite
//! makes it: a line appended and fsynced to `DIR/log` before the key is generated, and the
//! wrapped key, an import token, a script and a manifest written to a new directory in `DIR` with
//! keyrite's own [`StagedDir`] (files and directory fsynced in one round, no-clobber move, parent
//! fsynced).
//!
//! `ceremony` times, in this process, exactly the token operations of `keyrite ceremony run` of a
//! plan that generates `KEY_LABEL` and wraps it once per parameters file: load and initialise the
//! module, log in, read the signer's public key, look for the ceremony's marker and the label,
//! per wrap the mechanism check, the KMS key's import and a trial wrap, the marker, the key with
//! its `CKA_ID` and KCV, the wraps, and the seal's signature.
//!
//! Both print `{"keys": N, "seconds": S}`.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use base64::Engine as _;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use keyrite::hsm::keys::ceremony_key_template;
use keyrite::hsm::{Module, Token};
use keyrite::output::StagedDir;
use keyrite::spec::{KeyLabel, KeySpec, WrappingAlgorithm, WrappingKey};
use secrecy::SecretString;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: floor wrap MODULE TOKEN_LABEL PIN_ENV [--token-calls] [--durable DIR] PARAMS_FILE...\n       floor ceremony MODULE TOKEN_LABEL PIN_ENV SIGNER_LABEL CEREMONY_ID KEY_LABEL PARAMS_FILE...";

fn run() -> Result<()> {
    // `cargo bench` appends `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (keys, seconds) = match args.as_slice() {
        [mode, module, label, pin_env, rest @ ..] if mode == "wrap" => {
            let (calls, rest) = match rest {
                [flag, rest @ ..] if flag == "--token-calls" => (true, rest),
                rest => (false, rest),
            };
            let (durable, params) = match rest {
                [flag, dir, params @ ..] if flag == "--durable" => {
                    (Some(PathBuf::from(dir)), params)
                }
                params => (None, params),
            };
            let token = login(Path::new(module), label, pin_env)?;
            wrap_loop(&token, calls, durable.as_deref(), params)?
        }
        [mode, module, label, pin_env, signer, id, key, params @ ..] if mode == "ceremony" => {
            ceremony_ops(Path::new(module), label, pin_env, signer, id, key, params)?
        }
        _ => return Err(USAGE.into()),
    };
    println!("{{\"keys\": {keys}, \"seconds\": {seconds}}}");
    Ok(())
}

fn login(module: &Path, label: &str, pin_env: &str) -> Result<Token> {
    let module = Module::load(module)?;
    let token = module.open(module.find_token(Some(label))?)?;
    token.login(&SecretString::from(std::env::var(pin_env)?))?;
    Ok(token)
}

fn wrapping_key(params: &str) -> Result<WrappingKey> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(params)?)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(json["PublicKey"].as_str().ok_or("no PublicKey")?)?;
    Ok(WrappingKey::from_spki_der(&der)?)
}

fn wrap_loop(
    token: &Token,
    calls: bool,
    durable: Option<&Path>,
    params: &[String],
) -> Result<(usize, f64)> {
    let keys = params
        .iter()
        .map(|p| wrapping_key(p))
        .collect::<Result<Vec<_>>>()?;
    // The bare loop imports the KMS keys before the clock starts; with the token calls, in it.
    let mut imported = Vec::new();
    if !calls {
        for key in &keys {
            imported.push(token.import_wrapping_key(key)?);
        }
    }
    let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    ));
    let mut log = match durable {
        Some(dir) => Some(
            std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(dir.join("log"))?,
        ),
        None => None,
    };
    let session = token.session();
    let labels = (0..keys.len())
        .map(|i| format!("floor-{i:06}").parse())
        .collect::<std::result::Result<Vec<KeyLabel>, _>>()?;
    let start = Instant::now();
    // As a ceremony does before anything changes on the token: every label looked up, every
    // KMS key imported and tried.
    if calls {
        for label in &labels {
            token.check_label_free(label)?;
        }
        for key in &keys {
            let method = token.wrap_method(WrappingAlgorithm::RsaesOaepSha1, KeySpec::Aes256)?;
            let handle = token.import_wrapping_key(key)?;
            token.check_wrapping(&method, handle.handle(), key.modulus_len(), false)?;
            imported.push(handle);
        }
    }
    for (i, key_label) in labels.iter().enumerate() {
        let wrapping_key = imported[i].handle();
        if let Some(log) = &mut log {
            use std::io::Write as _;
            writeln!(log, "{{\"generate\": {i}}}")?;
            log.sync_all()?;
        }
        let handle = if calls {
            let generated = token.generate_ceremony_key(key_label, KeySpec::Aes256, false, None)?;
            token.key_check_value(generated.handle, KeySpec::Aes256.key_type())?;
            generated.handle
        } else {
            let id = (i as u64).to_be_bytes();
            let template = ceremony_key_template(key_label, &id, KeySpec::Aes256, false);
            session.generate_key(&Mechanism::AesKeyGen, &template)?
        };
        let wrapped = session.wrap_key(&oaep, wrapping_key, handle)?;
        if wrapped.len() != 256 {
            return Err(format!("C_WrapKey returned {} bytes", wrapped.len()).into());
        }
        if let Some(dir) = durable {
            let mut out = StagedDir::new(&dir.join(format!("out-{i:06}")))?;
            out.write("EncryptedKeyMaterial.bin", &wrapped, false)?;
            out.write("ImportToken.bin", &[0x5a; 816], false)?;
            out.write("import.sh", &[b'#'; 640], true)?;
            out.write("manifest.json", &[b' '; 1536], false)?;
            out.commit()?;
        }
    }
    Ok((keys.len(), start.elapsed().as_secs_f64()))
}

fn ceremony_ops(
    module: &Path,
    label: &str,
    pin_env: &str,
    signer: &str,
    ceremony_id: &str,
    key: &str,
    params: &[String],
) -> Result<(usize, f64)> {
    let signer: KeyLabel = signer.parse()?;
    let key: KeyLabel = key.parse()?;
    let wrapping_keys = params
        .iter()
        .map(|p| wrapping_key(p))
        .collect::<Result<Vec<_>>>()?;
    let algorithm = WrappingAlgorithm::RsaesOaepSha1;
    let start = Instant::now();
    let token = login(module, label, pin_env)?;
    let signer_fp = token.signer_public_key(&signer)?.fingerprint()?;
    token.ceremony_markers(ceremony_id, &"0".repeat(64))?;
    token.check_label_free(&key)?;
    let mut checked = Vec::new();
    for wk in &wrapping_keys {
        let method = token.wrap_method(algorithm, KeySpec::Aes256)?;
        let handle = token.import_wrapping_key(wk)?;
        token.check_wrapping(&method, handle.handle(), wk.modulus_len(), false)?;
        checked.push((method, handle, wk.modulus_len()));
    }
    token.create_ceremony_marker(ceremony_id, &"0".repeat(64))?;
    let generated = token.generate_ceremony_key(&key, KeySpec::Aes256, false, None)?;
    token.key_check_value(generated.handle, KeySpec::Aes256.key_type())?;
    for (method, handle, modulus_len) in &checked {
        token.wrap(
            method,
            handle.handle(),
            generated.handle,
            *modulus_len,
            KeySpec::Aes256,
        )?;
    }
    token.sign_digest(&signer, &signer_fp, &[0x42; 32])?;
    Ok((wrapping_keys.len(), start.elapsed().as_secs_f64()))
}
