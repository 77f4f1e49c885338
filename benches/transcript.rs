//! Big transcripts for `scripts/bench`'s verify figures, sealed by a real token.
//!
//! ```text
//! transcript MODULE TOKEN_LABEL PIN_ENV SIGNER_LABEL LINES WRAPPING_KEY_DER OUT
//! ```
//!
//! Writes a new transcript `OUT` of exactly `LINES` lines (at least 4) with keyrite's own
//! [`Transcript`] writer: a `token` line, then `generate`, `generated`, `attestation`, `wrap`,
//! `wrapped` lines in turn for keys of a thousand tenants (each key's lines as a ceremony writes
//! them: attribute template, KCV, the wrapping key — `WRAPPING_KEY_DER`, an RSA
//! SubjectPublicKeyInfo, for every wrap — and that AWS gives no attestation of it, KMS key id,
//! mechanism, output file digests), a `finish` line, and the seal: the
//! token's signer key signs the chain head with `CKM_ECDSA`, as `keyrite ceremony run` does.
//! Lines are written unsynced and made durable once, by the seal. No plan, policy or approvals:
//! `keyrite verify OUT --signer PEM --no-policy` checks the chain, the seal and the KCVs (the
//! verdict: NOT APPROVED, exit 4, as no policy approved it).
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine as _;
use keyrite::hsm::Module;
use keyrite::hsm::keys::{ceremony_key_template, describe_template};
use keyrite::spec::{KeyLabel, KeySpec};
use keyrite::transcript::{Entry, Transcript, entry};
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transcript: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` appends `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [module, label, pin_env, signer, lines, wrapping_key, out] = args.as_slice() else {
        return Err(
            "usage: transcript MODULE TOKEN_LABEL PIN_ENV SIGNER_LABEL LINES WRAPPING_KEY_DER OUT"
                .into(),
        );
    };
    let wrapping_key = keyrite::spec::WrappingKey::from_spki_der(&std::fs::read(wrapping_key)?)?;
    let attestation = serde_json::to_value(keyrite::attest::Record::NotAttested {
        reason: "AWS KMS publishes no attestation of its wrapping keys".to_owned(),
    })?;
    let lines: u64 = lines.parse()?;
    if lines < 4 {
        return Err("a transcript of fewer than 4 lines has no room for its steps".into());
    }
    let signer: KeyLabel = signer.parse()?;
    let module_path = PathBuf::from(module);
    let module = Module::load(&module_path)?;
    let token = module.open(module.find_token(Some(label))?)?;
    token.login(&SecretString::from(std::env::var(pin_env)?))?;
    let signer_fp = token.signer_public_key(&signer)?.fingerprint()?;
    let d = token.description();

    let mut t = Transcript::create(std::path::Path::new(out))?;
    t.append_unsynced(
        "keyrite",
        &Entry::Token(entry::TokenData {
            module: module_path.display().to_string(),
            module_sha256: module.sha256().to_owned(),
            keyrite_path: "target/release/keyrite".to_owned(),
            keyrite_sha256: hex::encode(Sha256::digest(b"keyrite")),
            library: module.library_description()?,
            label: d.label.clone(),
            serial: d.serial.clone(),
            manufacturer: d.manufacturer.clone(),
            model: d.model.clone(),
            firmware: d.firmware.clone(),
            signer_label: signer.as_str().to_owned(),
            signer_fingerprint: signer_fp.clone(),
        }),
    )?;
    for i in 0..lines - 3 {
        let key = i / 5;
        let tenant = key % 1000;
        let key_label: KeyLabel = format!("tenant-{tenant:04}-aes").parse()?;
        let label = key_label.as_str().to_owned();
        // One KCV per label throughout, as verify's kcv check demands.
        let kcv = hex::encode(&Sha256::digest(key_label.as_str())[..3]);
        let out_dir = format!("import/tenant-{tenant:04}/key-{key:07}");
        let index = usize::try_from(2 * key)?;
        let (actor, entry) = match i % 5 {
            0 => (
                "Olivia Operator",
                Entry::Generate(entry::GenerateData {
                    index,
                    key_label: label,
                    key_spec: KeySpec::Aes256.name().to_owned(),
                }),
            ),
            1 => {
                let id = Sha256::digest(key.to_be_bytes());
                let template = describe_template(&ceremony_key_template(
                    &key_label,
                    &id[..16],
                    KeySpec::Aes256,
                    false,
                ));
                (
                    "keyrite",
                    Entry::Generated(entry::GeneratedData {
                        index,
                        key: entry::Key {
                            label,
                            id: hex::encode(&id[..16]),
                            spec: KeySpec::Aes256.name().to_owned(),
                            kcv: Some(kcv),
                            kcv_method: "aes-ecb-zero-3".to_owned(),
                            check_sha256: None,
                            template: template.into_iter().collect(),
                            check_values: BTreeMap::new(),
                            discarded: 0,
                        },
                    }),
                )
            }
            2 => (
                "keyrite",
                Entry::Attestation(entry::AttestationData {
                    index: index + 1,
                    wrapping_key: base64::engine::general_purpose::STANDARD
                        .encode(wrapping_key.spki_der()),
                    wrapping_key_sha256: wrapping_key.fingerprint().to_owned(),
                    record: attestation.clone(),
                    evidence: None,
                    roots_file: None,
                }),
            ),
            3 => (
                "Olivia Operator",
                Entry::Wrap(entry::WrapData {
                    index: index + 1,
                    key_label: label,
                    provider: "aws".to_owned(),
                    kms_key_id: format!(
                        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-{key:012}"
                    ),
                    algorithm: "RSAES_OAEP_SHA_1".to_owned(),
                    mechanism: "CKM_RSA_PKCS_OAEP".to_owned(),
                    mechanism_parameters: "hashAlg=CKM_SHA_1, mgf=CKG_MGF1_SHA1, source=empty"
                        .to_owned(),
                    wrapping_key_sha256: wrapping_key.fingerprint().to_owned(),
                    parameters_valid_to: Some("2026-11-25T17:34:22Z".to_owned()),
                    key_material_valid_to: None,
                    out: out_dir,
                }),
            ),
            _ => {
                let digest = |name: &str| hex::encode(Sha256::digest(format!("{key}/{name}")));
                let files = [
                    "EncryptedKeyMaterial.bin",
                    "ImportToken.bin",
                    "import.sh",
                    "manifest.json",
                ];
                (
                    "keyrite",
                    Entry::Wrapped(entry::WrappedData {
                        index: index + 1,
                        key_label: label,
                        kcv: Some(kcv),
                        check_sha256: None,
                        out: out_dir,
                        files: files.map(|f| (f.to_owned(), digest(f))).into(),
                        warning: None,
                    }),
                )
            }
        };
        t.append_unsynced(actor, &entry)?;
    }
    t.append_unsynced(
        "Olivia Operator",
        &Entry::Finish(entry::FinishData {
            outcome: "completed".to_owned(),
            failure: None,
            keys: Vec::new(),
        }),
    )?;
    let signature = token.sign_digest(&signer, &signer_fp, &t.head())?;
    t.seal(&signer_fp, &signature)?;
    Ok(())
}
