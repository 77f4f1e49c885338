//! Alibaba Cloud KMS: `aliyun kms GetParametersForImport` output in, `aliyun kms
//! ImportKeyMaterial` files out. The API takes base64 strings and a Unix expiry.

use base64::Engine as _;
use time::OffsetDateTime;

use super::{
    Error, Import, ImportParams, OutputFile, Target, check_not_expired, is_digits, is_region,
    key_id_token_and_public_key, script_prologue, shell_quote,
};
use crate::json::{parse_json_object, string_field};
use crate::timestamp::rfc3339;

/// The wrapped key material, standard base64.
pub const ENCRYPTED_KEY_MATERIAL: &str = "EncryptedKeyMaterial.b64";
/// The import token, standard base64.
pub const IMPORT_TOKEN: &str = "ImportToken.b64";

const KEY_ID_SYNTAX: &str =
    "an Alibaba Cloud KMS key id (letters, digits and '-', up to 128) or key ARN (acs:kms:…)";

/// Parses the JSON that `aliyun kms GetParametersForImport` prints.
pub fn parse(bytes: &[u8], now: OffsetDateTime) -> Result<ImportParams, Error> {
    let map = parse_json_object(bytes)?;
    let (key_id, import_token, public_key) =
        key_id_token_and_public_key(&map, is_key_id, KEY_ID_SYNTAX)?;
    let valid_to = rfc3339("TokenExpireTime", string_field(&map, "TokenExpireTime")?)?;
    check_not_expired(valid_to, now)?;
    Ok(ImportParams {
        key_id,
        public_key,
        valid_to: Some(valid_to),
        fixed_algorithm: None,
        wrapping_key_id: None,
        target: Target::Alibaba { import_token },
        attestation: crate::attest::Offered::none(
            "Alibaba Cloud KMS's GetParametersForImport carries no attestation of its wrapping key",
        ),
    })
}

fn is_bare_key_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
}

/// A key id (`1234abcd-12ab-…`, `key-hzz…`) or `acs:kms:REGION:ACCOUNT:key/KEY_ID`.
fn is_key_id(value: &str) -> bool {
    match value.strip_prefix("acs:kms:") {
        None => is_bare_key_id(value),
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(3, ':').collect();
            matches!(parts.as_slice(), [region, account, resource]
                if is_region(region)
                    && is_digits(account)
                    && resource.strip_prefix("key/").is_some_and(is_bare_key_id))
        }
    }
}

/// `EncryptedKeyMaterial.b64`, `ImportToken.b64` and `import.sh`.
pub fn files(import: &Import<'_>, import_token: &[u8]) -> Vec<OutputFile> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let expire_unix = import
        .material_valid_to
        .map_or(0, OffsetDateTime::unix_timestamp);
    let script = format!(
        "{prologue}exec aliyun kms ImportKeyMaterial \\\n    \
         --KeyId {key_id} \\\n    \
         --EncryptedKeyMaterial \"$(cat \"$here/{ENCRYPTED_KEY_MATERIAL}\")\" \\\n    \
         --ImportToken \"$(cat \"$here/{IMPORT_TOKEN}\")\" \\\n    \
         --KeyMaterialExpireUnix {expire_unix} \\\n    \
         \"$@\"\n",
        prologue = script_prologue(
            &format!(
                "Imports key material wrapped in an HSM with {} into Alibaba Cloud KMS.",
                import.algorithm
            ),
            "--profile NAME or --endpoint-url URL",
        ),
        key_id = shell_quote(&import.params.key_id),
    );
    vec![
        OutputFile::data(
            ENCRYPTED_KEY_MATERIAL,
            b64.encode(import.wrapped).into_bytes(),
        ),
        OutputFile::data(IMPORT_TOKEN, b64.encode(import_token).into_bytes()),
        OutputFile::script(script),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids() {
        for good in [
            "1234abcd-12ab-34cd-56ef-12345678abcd",
            "key-hzz62f1cb66fa42qo1234",
            "acs:kms:cn-hangzhou:1234567890123456:key/key-hzz62f1cb66fa42qo1234",
        ] {
            assert!(is_key_id(good), "{good}");
        }
        for bad in [
            "",
            "-x",
            "key id",
            "a'b",
            "$(reboot)",
            "acs:kms:cn-hangzhou:12:alias/x",
        ] {
            assert!(!is_key_id(bad), "{bad}");
        }
    }
}
