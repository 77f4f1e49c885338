//! AWS KMS: `aws kms get-parameters-for-import` output in, `aws kms import-key-material` files out.

use serde_json::Value;
use time::OffsetDateTime;

use crate::spec::KeySpec;

use super::{
    Error, Import, ImportParams, OutputFile, Target, check_not_expired, is_digits, is_region,
    key_id_token_and_public_key, script_prologue, shell_quote,
};
use crate::json::{self, parse_json_object};
use crate::timestamp::{self, format_time, rfc3339};

/// The wrapped key material, raw bytes.
pub const ENCRYPTED_KEY_MATERIAL: &str = "EncryptedKeyMaterial.bin";
/// The import token, raw bytes.
pub const IMPORT_TOKEN: &str = "ImportToken.bin";

const KEY_ID_SYNTAX: &str =
    "an AWS KMS key id (1234abcd-12ab-34cd-56ef-1234567890ab, mrk-…) or key ARN";

/// Parses the JSON that `aws kms get-parameters-for-import` prints (CLI v1 or v2).
pub fn parse(bytes: &[u8], now: OffsetDateTime) -> Result<ImportParams, Error> {
    let map = parse_json_object(bytes)?;
    let (key_id, import_token, public_key) =
        key_id_token_and_public_key(&map, is_key_id, KEY_ID_SYNTAX)?;
    let valid_to = match map.get("ParametersValidTo") {
        None | Some(Value::Null) => {
            return Err(json::Error::MissingField {
                field: "ParametersValidTo",
            }
            .into());
        }
        Some(Value::String(s)) => rfc3339("ParametersValidTo", s)?,
        Some(Value::Number(n)) => epoch("ParametersValidTo", n)?,
        Some(_) => {
            return Err(json::Error::WrongType {
                field: "ParametersValidTo",
                expected: "an RFC 3339 string or a Unix time",
            }
            .into());
        }
    };
    check_not_expired(valid_to, now)?;
    Ok(ImportParams {
        key_id,
        public_key,
        valid_to: Some(valid_to),
        fixed_algorithm: None,
        wrapping_key_id: None,
        target: Target::Aws { import_token },
        attestation: crate::attest::Offered::none(
            "AWS KMS's GetParametersForImport carries no attestation of its wrapping key",
        ),
    })
}

/// AWS CLI v1 prints timestamps as seconds since the epoch, with a fraction.
fn epoch(field: &'static str, n: &serde_json::Number) -> Result<OffsetDateTime, Error> {
    let bad = || {
        Error::from(timestamp::Error::BadTime {
            field,
            value: n.to_string(),
        })
    };
    let seconds = n.as_f64().ok_or_else(bad)?;
    // Between 1970 and the year 9999: anything else is not a time AWS hands out.
    if !(0.0..253_402_300_800.0).contains(&seconds) {
        return Err(bad());
    }
    let nanos = (seconds * 1e9) as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())
}

fn is_key_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn is_bare_key_id(s: &str) -> bool {
    match s.strip_prefix("mrk-") {
        Some(hex) => hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => is_key_uuid(s),
    }
}

/// A key id or key ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID`.
fn is_key_id(value: &str) -> bool {
    match value.strip_prefix("arn:") {
        None => is_bare_key_id(value),
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            matches!(parts.as_slice(), [partition, "kms", region, account, resource]
                if partition.starts_with("aws")
                    && partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    && is_region(region)
                    && account.len() == 12
                    && is_digits(account)
                    && resource.strip_prefix("key/").is_some_and(is_bare_key_id))
        }
    }
}

/// AWS's `KeySpec` for the material and the `KeyUsage` a key of it is created with (an RSA key
/// may instead be `ENCRYPT_DECRYPT`, an EC key `KEY_AGREEMENT`). `None` for AES-256, AWS's
/// default (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`).
pub fn key_spec(spec: KeySpec) -> Option<(&'static str, &'static str)> {
    Some(match spec {
        KeySpec::Aes256 => return None,
        KeySpec::Hmac224 => ("HMAC_224", "GENERATE_VERIFY_MAC"),
        KeySpec::Hmac256 => ("HMAC_256", "GENERATE_VERIFY_MAC"),
        KeySpec::Hmac384 => ("HMAC_384", "GENERATE_VERIFY_MAC"),
        KeySpec::Hmac512 => ("HMAC_512", "GENERATE_VERIFY_MAC"),
        KeySpec::Rsa2048 => ("RSA_2048", "SIGN_VERIFY"),
        KeySpec::Rsa3072 => ("RSA_3072", "SIGN_VERIFY"),
        KeySpec::Rsa4096 => ("RSA_4096", "SIGN_VERIFY"),
        KeySpec::EcP256 => ("ECC_NIST_P256", "SIGN_VERIFY"),
        KeySpec::EcP384 => ("ECC_NIST_P384", "SIGN_VERIFY"),
        KeySpec::EcP521 => ("ECC_NIST_P521", "SIGN_VERIFY"),
        KeySpec::EcSecp256k1 => ("ECC_SECG_P256K1", "SIGN_VERIFY"),
    })
}

/// `EncryptedKeyMaterial.bin`, `ImportToken.bin` and `import.sh`.
pub fn files(import: &Import<'_>, import_token: &[u8]) -> Vec<OutputFile> {
    let expiry = match import.material_valid_to {
        Some(t) => format!(
            "    --expiration-model KEY_MATERIAL_EXPIRES --valid-to {} \\\n",
            format_time(t)
        ),
        None => "    --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE \\\n".to_owned(),
    };
    let create = key_spec(import.key_spec).map_or(String::new(), |(spec, usage)| {
        format!(
            "# The KMS key must have been created for {} material:\n\
             #   aws kms create-key --origin EXTERNAL --key-spec {spec} --key-usage {usage}\n\
             # (an RSA key may be ENCRYPT_DECRYPT instead, an EC key KEY_AGREEMENT).\n",
            import.key_spec
        )
    });
    let script = format!(
        "{prologue}{create}exec aws kms import-key-material \\\n    \
         --key-id {key_id} \\\n    \
         --encrypted-key-material \"fileb://$here/{ENCRYPTED_KEY_MATERIAL}\" \\\n    \
         --import-token \"fileb://$here/{IMPORT_TOKEN}\" \\\n\
         {expiry}    \"$@\"\n",
        prologue = script_prologue(
            &format!(
                "Imports key material wrapped in an HSM with {} into AWS KMS.",
                import.algorithm
            ),
            "--profile NAME or --endpoint-url URL",
        ),
        key_id = shell_quote(&import.params.key_id),
    );
    vec![
        OutputFile::data(ENCRYPTED_KEY_MATERIAL, import.wrapped.to_vec()),
        OutputFile::data(IMPORT_TOKEN, import_token.to_vec()),
        OutputFile::script(script),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_ids() {
        for good in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        ] {
            assert!(is_key_id(good), "{good}");
        }
        for bad in [
            "",
            "alias/payments",
            "1234abcd-12ab-34cd-56ef-1234567890ab'",
            "$(reboot)",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab;x",
            "arn:aws:kms:us-east-1:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:s3:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            assert!(!is_key_id(bad), "{bad}");
        }
    }

    #[test]
    fn epoch_times() {
        let n = serde_json::Number::from_f64(1_700_000_000.5).unwrap();
        assert_eq!(epoch("T", &n).unwrap().unix_timestamp(), 1_700_000_000);
        for bad in [-1.0, 1e12] {
            let n = serde_json::Number::from_f64(bad).unwrap();
            assert!(epoch("T", &n).is_err());
        }
    }
}
