//! HashiCorp Vault transit: the mount's wrapping key as `vault read -format=json
//! transit/wrapping_key` prints it (or the bare PEM) in, `vault write MOUNT/keys/NAME/import`
//! files out.
//!
//! Vault's wrapping key is RSA-4096 and never expires; its import reads the first 512 bytes of
//! the ciphertext as RSA-OAEP of an ephemeral AES-256 key and the rest as RFC 5649 of the key.
//! `hash_function` names the OAEP hash (SHA-256 by default). AES-256 material imports as
//! `type=aes256-gcm96`, HMAC material as `type=hmac` (32 to 512 bytes).

use base64::Engine as _;

use super::{
    Error, Import, ImportParams, OutputFile, PemProblem, Provider, ProviderOptions,
    Target as AnyTarget, is_pem, script_prologue, shell_quote, spki_from_pem,
};
use crate::json::{parse_json_object, string_at};
use crate::spec::{KeySpec, OaepHash};

/// The wrapped key material, standard base64 (what `ciphertext=@FILE` reads).
pub const CIPHERTEXT: &str = "ciphertext.b64";

/// The mount when `--vault-mount` is left out.
pub const DEFAULT_MOUNT: &str = "transit";

/// The option naming the key the material goes into, and what it means.
pub(crate) const KEY_OPTION: (&str, &str) = (
    "--vault-key NAME",
    "the name of the transit key the import creates",
);
const KEY_NAME_SYNTAX: &str = "a Vault transit key name (A-Z a-z 0-9 _, and . - @ inside)";
const MOUNT_SYNTAX: &str = "a Vault mount path (segments of A-Z a-z 0-9 . _ - separated by /, \
     no . or .. segment, not starting with -)";

/// Where the material goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The transit mount's path.
    pub mount: String,
    /// The key the import creates.
    pub key: String,
}

/// `\w`, as Vault's name pattern means it.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Vault's key name pattern, `\w(([\w-.@]+)?\w)?`, up to 255 bytes.
fn is_key_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=255).contains(&b.len())
        && b.first().copied().is_some_and(is_word)
        && b.last().copied().is_some_and(is_word)
        && b.iter()
            .all(|&c| is_word(c) || matches!(c, b'-' | b'.' | b'@'))
}

/// Checks the name given with `--vault-key`.
pub(crate) fn check_key_name(name: &str) -> Result<(), Error> {
    if is_key_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field: "--vault-key",
            value: name.to_owned(),
            expected: KEY_NAME_SYNTAX,
        })
    }
}

/// Checks the path given with `--vault-mount`. It must not start with `-`: `import.sh` passes it
/// to `vault write`, which would read it as an option.
pub(crate) fn check_mount(mount: &str) -> Result<(), Error> {
    let ok = (1..=255).contains(&mount.len())
        && !mount.starts_with('-')
        && mount.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field: "--vault-mount",
            value: mount.to_owned(),
            expected: MOUNT_SYNTAX,
        })
    }
}

/// Parses `vault read -format=json MOUNT/wrapping_key` output, or the bare PEM.
pub fn parse(bytes: &[u8], options: &ProviderOptions) -> Result<ImportParams, Error> {
    let public_key = if is_pem(bytes) {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Pem {
            field: "the parameters file",
            problem: PemProblem::NotUtf8,
        })?;
        spki_from_pem("the parameters file", text)?
    } else {
        let map = parse_json_object(bytes)?;
        spki_from_pem("data.public_key", string_at(&map, "data.public_key")?)?
    };
    let mount = options.vault_mount.as_deref().unwrap_or(DEFAULT_MOUNT);
    check_mount(mount)?;
    let key = options.vault_key.as_deref().ok_or(Error::OptionRequired {
        option: KEY_OPTION.0,
        meaning: KEY_OPTION.1,
        provider: Provider::Vault,
    })?;
    check_key_name(key)?;
    Ok(ImportParams {
        key_id: format!("{mount}/keys/{key}"),
        public_key,
        valid_to: None,
        fixed_algorithm: None,
        wrapping_key_id: Some(format!("{mount}/wrapping_key")),
        target: AnyTarget::Vault(Target {
            mount: mount.to_owned(),
            key: key.to_owned(),
        }),
        attestation: crate::attest::Offered::none(
            "Vault's transit wrapping key carries no attestation",
        ),
    })
}

/// Vault's `type` for the material.
fn key_type(spec: KeySpec) -> &'static str {
    match spec {
        KeySpec::Aes256 => "aes256-gcm96",
        KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => "hmac",
        KeySpec::Rsa2048 => "rsa-2048",
        KeySpec::Rsa3072 => "rsa-3072",
        KeySpec::Rsa4096 => "rsa-4096",
        KeySpec::EcP256 => "ecdsa-p256",
        KeySpec::EcP384 => "ecdsa-p384",
        KeySpec::EcP521 => "ecdsa-p521",
        // Not in Vault's key_specs: refused before anything is written.
        KeySpec::EcSecp256k1 => "unsupported",
    }
}

/// Vault's `hash_function`: the OAEP hash of the RSA part.
fn hash_function(hash: Option<OaepHash>) -> &'static str {
    match hash {
        Some(OaepHash::Sha1) => "SHA1",
        Some(OaepHash::Sha256) | None => "SHA256",
    }
}

/// `ciphertext.b64` and `import.sh`. Vault's CLI takes its options before the path, so the
/// script passes its arguments there.
pub fn files(import: &Import<'_>, target: &Target) -> Vec<OutputFile> {
    let script = format!(
        "{prologue}exec vault write \"$@\" {path} \\\n    \
         \"ciphertext=@$here/{CIPHERTEXT}\" \\\n    \
         hash_function={hash} \\\n    \
         type={key_type}\n",
        prologue = script_prologue(
            &format!(
                "Imports key material wrapped in an HSM with {} into HashiCorp Vault transit.",
                import.algorithm
            ),
            "-address=URL or -namespace=NS, which go before the path",
        ),
        path = shell_quote(&format!("{}/keys/{}/import", target.mount, target.key)),
        hash = hash_function(import.algorithm.oaep_hash()),
        key_type = key_type(import.key_spec),
    );
    vec![
        OutputFile::data(
            CIPHERTEXT,
            base64::engine::general_purpose::STANDARD
                .encode(import.wrapped)
                .into_bytes(),
        ),
        OutputFile::script(script),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        for good in ["k", "payments-2026", "a.b@c_d", "_x_"] {
            assert!(check_key_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "a/b", "a'b", "a b", "$(x)", ".a"] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts() {
        for good in ["transit", "team/transit", "t-1.x_y"] {
            assert!(check_mount(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/transit",
            "transit/",
            "a//b",
            "..",
            "a/../b",
            "a b",
            "a'b",
            "-h",
            "-h/transit",
        ] {
            assert!(check_mount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_function_is_the_oaep_hash() {
        use crate::spec::WrappingAlgorithm;
        assert_eq!(
            hash_function(WrappingAlgorithm::RsaAesKeyWrapSha1.oaep_hash()),
            "SHA1"
        );
        assert_eq!(
            hash_function(WrappingAlgorithm::RsaAesKeyWrapSha256.oaep_hash()),
            "SHA256"
        );
    }
}
