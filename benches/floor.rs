//! The floors `scripts/bench` measures keyrite against: what the token itself costs, with
//! nothing of keyrite's around it.
//!
//! ```text
//! floor wrap MODULE TOKEN_LABEL PIN_ENV [--sessions N] [--token-calls] [--durable DIR] PARAMS_FILE...
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
//! With `--sessions N` (default 1), the module is loaded and initialised once (keyrite's
//! `C_Initialize` asks for `CKF_OS_LOCKING_OK`), N read-write sessions of the same token are
//! opened and each logged in (login state belongs to the application: the second and later
//! `C_Login` may answer `CKR_USER_ALREADY_LOGGED_IN`, taken as success), and the parameters
//! files are split among N threads in contiguous shares, one session each. Every thread imports
//! its own share's KMS keys in its own session (untimed, or with `--token-calls` timed as
//! above), the threads wait at a barrier, and the clock runs from the barrier to the last
//! thread's end: the whole parallel loop. With `--durable`, all threads append to the one
//! `DIR/log`, each line written and fsynced under a lock, as one transcript would be.
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

const USAGE: &str = "usage: floor wrap MODULE TOKEN_LABEL PIN_ENV [--sessions N] [--token-calls] [--durable DIR] PARAMS_FILE...\n       floor ceremony MODULE TOKEN_LABEL PIN_ENV SIGNER_LABEL CEREMONY_ID KEY_LABEL PARAMS_FILE...";

fn run() -> Result<()> {
    // `cargo bench` appends `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (keys, seconds) = match args.as_slice() {
        [mode, module, label, pin_env, rest @ ..] if mode == "wrap" => {
            let (sessions, rest) = match rest {
                [flag, n, rest @ ..] if flag == "--sessions" => {
                    let n: usize = n
                        .parse()
                        .map_err(|_| format!("--sessions {n}: not a number"))?;
                    if n == 0 {
                        return Err("--sessions must be at least 1".into());
                    }
                    (n, rest)
                }
                rest => (1, rest),
            };
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
            parallel_wrap(
                Path::new(module),
                label,
                pin_env,
                sessions,
                calls,
                durable.as_deref(),
                params,
            )?
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

/// `wrap` with `sessions` sessions of one token in as many threads, the parameters files split
/// among them; the time is that of the whole parallel loop.
fn parallel_wrap(
    module: &Path,
    label: &str,
    pin_env: &str,
    sessions: usize,
    calls: bool,
    durable: Option<&Path>,
    params: &[String],
) -> Result<(usize, f64)> {
    if sessions > params.len().max(1) {
        return Err(format!(
            "--sessions {sessions} is more than the {} keys",
            params.len()
        )
        .into());
    }
    let module = Module::load(module)?;
    let pin = SecretString::from(std::env::var(pin_env)?);
    let mut tokens = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let token = module.open(module.find_token(Some(label))?)?;
        // Token::login takes CKR_USER_ALREADY_LOGGED_IN as success: the login of the first
        // session already holds for the others.
        token.login(&pin)?;
        tokens.push(token);
    }
    let log = match durable {
        Some(dir) => Some(std::sync::Mutex::new(
            std::fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(dir.join("log"))?,
        )),
        None => None,
    };
    // Contiguous shares, the first ones one longer when N does not divide evenly.
    let (base, extra) = (params.len() / sessions, params.len() % sessions);
    let mut shares = Vec::with_capacity(sessions);
    let mut first = 0;
    for t in 0..sessions {
        let len = base + usize::from(t < extra);
        shares.push((first, &params[first..first + len]));
        first += len;
    }
    let barrier = std::sync::Barrier::new(sessions + 1);
    let results = std::thread::scope(|scope| {
        let threads: Vec<_> = tokens
            .into_iter()
            .zip(&shares)
            .map(|(token, &(first, share))| {
                let barrier = &barrier;
                let log = log.as_ref();
                scope.spawn(move || -> std::result::Result<Instant, String> {
                    wrap_loop(&token, calls, durable, log, first, share, barrier)
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err("a thread panicked".into())))
            .collect();
        (start, results)
    });
    let (start, results) = results;
    let mut end = start;
    for r in results {
        end = end.max(r?);
    }
    Ok((params.len(), end.duration_since(start).as_secs_f64()))
}

/// One session's share of `wrap`: keys `first..first + params.len()`. Waits at `barrier` once
/// its untimed set-up is done (the parallel clock starts when every thread is there); returns
/// when its last key was done, before its session objects are destroyed and its session closed
/// (the clock stops at the last thread's).
fn wrap_loop(
    token: &Token,
    calls: bool,
    durable: Option<&Path>,
    log: Option<&std::sync::Mutex<std::fs::File>>,
    first: usize,
    params: &[String],
    barrier: &std::sync::Barrier,
) -> Result<Instant> {
    // The barrier is passed even when set-up fails, so the other threads are not left waiting.
    let keys = params
        .iter()
        .map(|p| wrapping_key(p))
        .collect::<Result<Vec<_>>>();
    let keys = match keys {
        Ok(keys) => keys,
        Err(e) => {
            barrier.wait();
            return Err(e);
        }
    };
    // The bare loop imports the KMS keys before the clock starts; with the token calls, in it.
    let mut imported = Vec::new();
    if !calls {
        for key in &keys {
            match token.import_wrapping_key(key) {
                Ok(handle) => imported.push(handle),
                Err(e) => {
                    barrier.wait();
                    return Err(e.into());
                }
            }
        }
    }
    let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    ));
    let session = token.session();
    let labels = (first..first + keys.len())
        .map(|i| format!("floor-{i:06}").parse())
        .collect::<std::result::Result<Vec<KeyLabel>, _>>();
    barrier.wait();
    let labels = labels?;
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
    for (j, key_label) in labels.iter().enumerate() {
        let i = first + j;
        let wrapping_key = imported[j].handle();
        if let Some(log) = log {
            use std::io::Write as _;
            let mut log = log.lock().map_err(|_| "the log's lock is poisoned")?;
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
    Ok(Instant::now())
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
