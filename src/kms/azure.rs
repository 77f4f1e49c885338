//! Azure Key Vault and Managed HSM: a key exchange key (KEK) as `az keyvault key show` prints it
//! (or its public key as PEM with `--azure-kid`) in, a `.byok` file as Microsoft's BYOK
//! specification defines it and `az keyvault key import` out.
//!
//! The `.byok` file is `{"schema_version":"1.0.0","header":{"kid":KID,"alg":"dir","enc":
//! "CKM_RSA_AES_KEY_WRAP"},"ciphertext":BASE64URL,"generator":TEXT}`: the ciphertext is
//! RSA-OAEP with SHA-1 of an ephemeral AES key followed by RFC 5649 of the key under it, and
//! `kid` is the KEK's full versioned id exactly as given. The key is imported where the KEK is:
//! AES keys (`oct-HSM`) into a Managed HSM only; RSA and EC keys (`RSA-HSM`, `EC-HSM`) into a
//! Managed HSM or a Key Vault (Premium).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    Error, Import, ImportParams, JwkKeyProblem, OutputFile, PemProblem, Provider, ProviderOptions,
    Target as AnyTarget, is_pem, script_prologue, shell_quote, spki_from_pem,
};
use crate::json::{self, parse_json_object, string_at, value_at};
use crate::spec::{KeySpec, WrappingKey};
use crate::timestamp::{format_time, rfc3339};

/// The key transfer blob.
pub const BYOK_FILE: &str = "key.byok";

/// The Managed HSM host suffix (Azure public cloud).
const MANAGED_HSM_HOST: &str = ".managedhsm.azure.net";
/// Where AES keys go.
pub(crate) const AES_NOTE: &str =
    "AES keys import into Azure Managed HSM only (kty oct-HSM); a Key Vault cannot import them.";

/// The Key Vault host suffix (Azure public cloud).
const KEY_VAULT_HOST: &str = ".vault.azure.net";

const KID_SYNTAX: &str = "a versioned key id of an Azure Managed HSM or Key Vault \
     (https://NAME.managedhsm.azure.net/keys/KEY/VERSION, https://NAME.vault.azure.net/keys/KEY/VERSION)";
/// The option naming the key the material goes into, and what it means.
pub(crate) const KEY_OPTION: (&str, &str) = (
    "--azure-key NAME",
    "the name of the key the import creates in the Managed HSM or Key Vault",
);

/// Where an Azure key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// A Managed HSM (`NAME.managedhsm.azure.net`, `az … --hsm-name`).
    ManagedHsm,
    /// A Key Vault (`NAME.vault.azure.net`, `az … --vault-name`).
    KeyVault,
}

impl Store {
    fn host(self) -> &'static str {
        match self {
            Store::ManagedHsm => MANAGED_HSM_HOST,
            Store::KeyVault => KEY_VAULT_HOST,
        }
    }

    /// The store's kind, for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Store::ManagedHsm => "Azure Managed HSM",
            Store::KeyVault => "Azure Key Vault",
        }
    }
}
const KEY_NAME_SYNTAX: &str = "an Azure key name (1 to 127 of A-Z a-z 0-9 -, not starting with -)";

/// Where the material goes: the KEK's id and the key the import creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The KEK's full versioned id, exactly as given; the `.byok` header's `kid`.
    pub kid: String,
    /// The Managed HSM's or Key Vault's name (from the `kid`).
    pub hsm: String,
    /// Whether that is a Managed HSM or a Key Vault.
    pub store: Store,
    /// The name of the key to create.
    pub key: String,
}

/// Checks a KEK id from `field` (`https://NAME.managedhsm.azure.net/keys/KEY/VERSION` or
/// `https://NAME.vault.azure.net/keys/KEY/VERSION`) and returns where it lives.
pub(crate) fn store_of(field: &'static str, kid: &str) -> Result<(Store, String), Error> {
    let bad = || Error::InvalidName {
        field,
        value: kid.to_owned(),
        expected: KID_SYNTAX,
    };
    let rest = kid.strip_prefix("https://").ok_or_else(bad)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [host, "keys", name, version] = parts.as_slice() else {
        return Err(bad());
    };
    let (store, hsm) = [Store::ManagedHsm, Store::KeyVault]
        .into_iter()
        .find_map(|store| {
            host.strip_suffix(store.host())
                .filter(|h| is_hsm_name(h))
                .map(|h| (store, h))
        })
        .ok_or_else(bad)?;
    if !is_key_name(name)
        || !(1..=64).contains(&version.len())
        || !version.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad());
    }
    Ok((store, hsm.to_owned()))
}

/// A Managed HSM (or vault) name: 3 to 24 of `a-z A-Z 0-9 -`, starting with a letter, ending with
/// a letter or digit, no `--`.
fn is_hsm_name(s: &str) -> bool {
    (3..=24).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        && !s.contains("--")
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A key name: 1 to 127 of `a-z A-Z 0-9 -`.
fn is_key_name(s: &str) -> bool {
    (1..=127).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks the name given with `--azure-key`: not starting with `-` either, which `az` would read
/// as an option of its own in `import.sh`.
pub(crate) fn check_key_name(name: &str) -> Result<(), Error> {
    if is_key_name(name) && !name.starts_with('-') {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field: "--azure-key",
            value: name.to_owned(),
            expected: KEY_NAME_SYNTAX,
        })
    }
}

/// A JWK number: base64url as JWK says, or standard base64 as some `az` versions print it;
/// padding optional. The two alphabets share 62 characters, so there is no ambiguity.
fn jwk_bytes(map: &Map<String, Value>, field: &'static str) -> Result<Vec<u8>, Error> {
    const INDIFFERENT: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, INDIFFERENT);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, INDIFFERENT);
    let text = string_at(map, field)?;
    let engine = if text.contains(['-', '_']) {
        &URL
    } else {
        &STANDARD
    };
    match engine.decode(text) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(Error::Base64 { field }),
    }
}

/// The KEK's public key from its JWK modulus and exponent.
fn jwk_public_key(map: &Map<String, Value>) -> Result<WrappingKey, Error> {
    use rsa::pkcs8::EncodePublicKey as _;
    let n = jwk_bytes(map, "key.n")?;
    let e = jwk_bytes(map, "key.e")?;
    let refused = |source: JwkKeyProblem| Error::PublicKey { source };
    let key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&n),
        rsa::BoxedUint::from_be_slice_vartime(&e),
    )
    .map_err(|e| refused(e.into()))?;
    let der = key.to_public_key_der().map_err(|e| refused(e.into()))?;
    Ok(WrappingKey::from_spki_der(der.as_bytes())?)
}

/// Parses `az keyvault key show` output, or a PEM with `--azure-kid`.
pub fn parse(
    bytes: &[u8],
    options: &ProviderOptions,
    now: OffsetDateTime,
) -> Result<ImportParams, Error> {
    let (kid_text, store, hsm, public_key, valid_to) = if is_pem(bytes) {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Pem {
            field: "the parameters file",
            problem: PemProblem::NotUtf8,
        })?;
        let public_key = spki_from_pem("the parameters file", text)?;
        let kid_text = options.azure_kid.clone().ok_or(Error::KidRequired)?;
        let (store, hsm) = store_of("--azure-kid", &kid_text)?;
        (kid_text, store, hsm, public_key, None)
    } else {
        let map = parse_json_object(bytes)?;
        let kid_text = string_at(&map, "key.kid")?;
        let (store, hsm) = store_of("key.kid", kid_text)?;
        if let Some(given) = &options.azure_kid {
            if given != kid_text {
                return Err(Error::KidMismatch {
                    given: given.clone(),
                    kid: kid_text.to_owned(),
                });
            }
        }
        let kty = string_at(&map, "key.kty")?;
        if kty != "RSA-HSM" {
            return Err(Error::KeyTypeNotRsaHsm {
                kty: kty.to_owned(),
            });
        }
        match value_at(&map, "key.keyOps") {
            None => {
                return Err(json::Error::MissingField {
                    field: "key.keyOps",
                }
                .into());
            }
            Some(Value::Array(ops)) => {
                if !ops.iter().any(|op| op.as_str() == Some("import")) {
                    return Err(Error::NoImportOperation {
                        ops: Value::Array(ops.clone()).to_string(),
                    });
                }
            }
            Some(_) => {
                return Err(json::Error::WrongType {
                    field: "key.keyOps",
                    expected: "a list of operations",
                }
                .into());
            }
        }
        match value_at(&map, "attributes.enabled") {
            None | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => {
                return Err(Error::KekDisabled {
                    kid: kid_text.to_owned(),
                });
            }
            Some(_) => {
                return Err(json::Error::WrongType {
                    field: "attributes.enabled",
                    expected: "true or false",
                }
                .into());
            }
        }
        let expires = match value_at(&map, "attributes.expires") {
            None => None,
            Some(_) => Some(rfc3339(
                "attributes.expires",
                string_at(&map, "attributes.expires")?,
            )?),
        };
        if let Some(t) = expires {
            if t <= now {
                return Err(Error::KekExpired {
                    kid: kid_text.to_owned(),
                    expires: format_time(t),
                });
            }
        }
        let public_key = jwk_public_key(&map)?;
        (kid_text.to_owned(), store, hsm, public_key, expires)
    };
    let key = options.azure_key.as_deref().ok_or(Error::OptionRequired {
        option: KEY_OPTION.0,
        meaning: KEY_OPTION.1,
        provider: Provider::Azure,
    })?;
    check_key_name(key)?;
    Ok(ImportParams {
        key_id: format!("https://{hsm}{}/keys/{key}", store.host()),
        public_key,
        valid_to,
        fixed_algorithm: None,
        wrapping_key_id: Some(kid_text.clone()),
        target: AnyTarget::Azure(Target {
            kid: kid_text,
            hsm,
            store,
            key: key.to_owned(),
        }),
        attestation: crate::attest::Offered::none(
            "no key attestation of the key exchange key was given (az keyvault key get-attestation; --azure-attestation)",
        ),
    })
}

/// The `.byok` file, exactly as Microsoft's BYOK specification lays it out. JSON strings are
/// written by `serde_json`, so any `kid` or token name is escaped.
pub fn byok(import: &Import<'_>, target: &Target) -> String {
    let string = |s: String| Value::String(s).to_string();
    format!(
        "{{\"schema_version\":\"1.0.0\",\"header\":{{\"kid\":{kid},\"alg\":\"dir\",\
         \"enc\":\"CKM_RSA_AES_KEY_WRAP\"}},\"ciphertext\":{ciphertext},\"generator\":{generator}}}",
        kid = string(target.kid.clone()),
        ciphertext = string(general_purpose::URL_SAFE_NO_PAD.encode(import.wrapped)),
        generator = string(format!(
            "keyrite {}; {}",
            env!("CARGO_PKG_VERSION"),
            import.token
        )),
    )
}

/// Azure's `--kty` for the material, and `--curve` for an EC key.
fn kty(spec: KeySpec) -> (&'static str, Option<&'static str>) {
    match spec {
        KeySpec::EcP256 => ("EC-HSM", Some("P-256")),
        KeySpec::EcP384 => ("EC-HSM", Some("P-384")),
        KeySpec::EcP521 => ("EC-HSM", Some("P-521")),
        KeySpec::EcSecp256k1 => ("EC-HSM", Some("P-256K")),
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => ("RSA-HSM", None),
        _ => ("oct-HSM", None),
    }
}

impl Target {
    /// Refuses AES material for a Key Vault: only a Managed HSM imports it.
    pub fn check_spec(&self, spec: KeySpec) -> Result<(), Error> {
        if self.store == Store::KeyVault && !spec.is_asymmetric() {
            return Err(Error::KeyVaultNoSecretKeys {
                vault: self.hsm.clone(),
                key_spec: spec,
            });
        }
        Ok(())
    }
}

/// `key.byok` and `import.sh`.
pub fn files(import: &Import<'_>, target: &Target) -> Vec<OutputFile> {
    let expires = match import.material_valid_to {
        Some(t) => format!("    --expires {} \\\n", format_time(t)),
        None => String::new(),
    };
    let (kty, curve) = kty(import.key_spec);
    let curve = curve.map_or(String::new(), |c| format!("    --curve {c} \\\n"));
    let store = match target.store {
        Store::ManagedHsm => "--hsm-name",
        Store::KeyVault => "--vault-name",
    };
    let script = format!(
        "{prologue}{note}exec az keyvault key import \\\n    \
         {store} {hsm} \\\n    \
         --name {key} \\\n    \
         --byok-file \"$here/{BYOK_FILE}\" \\\n    \
         --kty {kty} \\\n\
         {curve}{expires}    \"$@\"\n",
        prologue = script_prologue(
            &format!(
                "Imports {} key material wrapped in an HSM with {} into {}.",
                import.key_spec,
                import.algorithm,
                target.store.display_name()
            ),
            "--subscription ID",
        ),
        hsm = shell_quote(&target.hsm),
        key = shell_quote(&target.key),
        note = if import.key_spec.is_asymmetric() {
            String::new()
        } else {
            format!("# {AES_NOTE}\n")
        },
    );
    vec![
        OutputFile::data(BYOK_FILE, byok(import, target).into_bytes()),
        OutputFile::script(script),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kids() {
        let hsm = store_of(
            "key.kid",
            "https://contoso-hsm.managedhsm.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621",
        )
        .unwrap();
        assert_eq!(hsm, (Store::ManagedHsm, "contoso-hsm".to_owned()));
        let vault = store_of(
            "key.kid",
            "https://contoso.vault.azure.net/keys/kek/eba63d27e4e34e028839b53fac905621",
        )
        .unwrap();
        assert_eq!(vault, (Store::KeyVault, "contoso".to_owned()));
        for bad in [
            "",
            "https://contoso.vault.azure.net.evil.example/keys/kek/v1",
            // Not versioned.
            "https://contoso.managedhsm.azure.net/keys/kek",
            "https://contoso.managedhsm.azure.net/keys/kek/",
            "http://contoso.managedhsm.azure.net/keys/kek/v1",
            "https://contoso.managedhsm.azure.net.evil.example/keys/kek/v1",
            "https://con'toso.managedhsm.azure.net/keys/kek/v1",
            "https://contoso.managedhsm.azure.net/keys/k$(reboot)/v1",
            "https://contoso.managedhsm.azure.net/keys/kek/v1/extra",
            "https://c--x.managedhsm.azure.net/keys/kek/v1",
            "https://1contoso.managedhsm.azure.net/keys/kek/v1",
        ] {
            assert!(store_of("key.kid", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_names() {
        assert!(check_key_name("payments-2026").is_ok());
        for bad in ["", "a_b", "a'b", "a b", "-h", &"k".repeat(128)] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }
}
