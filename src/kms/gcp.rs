//! Google Cloud KMS: an import job as `gcloud kms import-jobs describe --format=json` prints it
//! in, `gcloud kms keys versions import` files out.
//!
//! The job fixes the wrapping: its `importMethod` names the algorithm and the RSA size, and it
//! holds no import token. Jobs expire (three days after creation); a job that is not `ACTIVE` or
//! has expired is refused. The key ring, location and project come from the job's `name`; the key
//! a new version is imported into from `--gcp-key`.

use std::fmt;

use time::OffsetDateTime;

use super::{
    Error, FixedAlgorithm, Import, ImportParams, OutputFile, ProviderOptions, Target as AnyTarget,
    is_region, script_prologue, shell_quote, spki_from_pem,
};
use crate::json::{parse_json_object, string_at};
use crate::spec::{KeySpec, WrappingAlgorithm};
use crate::timestamp::{format_time, rfc3339};

/// The wrapped key material, raw bytes.
pub const WRAPPED_KEY: &str = "wrapped-key.bin";

/// How a Google import job wants key material wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMethod {
    /// RSA-OAEP (SHA-1) of an AES-256 key, then RFC 5649; RSA-3072.
    RsaOaep3072Sha1Aes256,
    /// RSA-OAEP (SHA-1) of an AES-256 key, then RFC 5649; RSA-4096.
    RsaOaep4096Sha1Aes256,
    /// RSA-OAEP (SHA-256) of an AES-256 key, then RFC 5649; RSA-3072.
    RsaOaep3072Sha256Aes256,
    /// RSA-OAEP (SHA-256) of an AES-256 key, then RFC 5649; RSA-4096.
    RsaOaep4096Sha256Aes256,
    /// RSA-OAEP (SHA-256) of the key itself; RSA-3072.
    RsaOaep3072Sha256,
    /// RSA-OAEP (SHA-256) of the key itself; RSA-4096.
    RsaOaep4096Sha256,
}

impl ImportMethod {
    /// Every method keyrite wraps for.
    pub const ALL: [ImportMethod; 6] = [
        ImportMethod::RsaOaep3072Sha1Aes256,
        ImportMethod::RsaOaep4096Sha1Aes256,
        ImportMethod::RsaOaep3072Sha256Aes256,
        ImportMethod::RsaOaep4096Sha256Aes256,
        ImportMethod::RsaOaep3072Sha256,
        ImportMethod::RsaOaep4096Sha256,
    ];

    /// Google's name.
    pub fn name(self) -> &'static str {
        match self {
            ImportMethod::RsaOaep3072Sha1Aes256 => "RSA_OAEP_3072_SHA1_AES_256",
            ImportMethod::RsaOaep4096Sha1Aes256 => "RSA_OAEP_4096_SHA1_AES_256",
            ImportMethod::RsaOaep3072Sha256Aes256 => "RSA_OAEP_3072_SHA256_AES_256",
            ImportMethod::RsaOaep4096Sha256Aes256 => "RSA_OAEP_4096_SHA256_AES_256",
            ImportMethod::RsaOaep3072Sha256 => "RSA_OAEP_3072_SHA256",
            ImportMethod::RsaOaep4096Sha256 => "RSA_OAEP_4096_SHA256",
        }
    }

    /// The wrapping algorithm (AWS spelling): Google's `_AES_256` methods are RSA-AES key wrap
    /// (`CKM_RSA_AES_KEY_WRAP`), the others direct OAEP.
    pub fn algorithm(self) -> WrappingAlgorithm {
        match self {
            ImportMethod::RsaOaep3072Sha1Aes256 | ImportMethod::RsaOaep4096Sha1Aes256 => {
                WrappingAlgorithm::RsaAesKeyWrapSha1
            }
            ImportMethod::RsaOaep3072Sha256Aes256 | ImportMethod::RsaOaep4096Sha256Aes256 => {
                WrappingAlgorithm::RsaAesKeyWrapSha256
            }
            ImportMethod::RsaOaep3072Sha256 | ImportMethod::RsaOaep4096Sha256 => {
                WrappingAlgorithm::RsaesOaepSha256
            }
        }
    }

    /// The RSA size the method names.
    pub fn bits(self) -> usize {
        match self {
            ImportMethod::RsaOaep3072Sha1Aes256
            | ImportMethod::RsaOaep3072Sha256Aes256
            | ImportMethod::RsaOaep3072Sha256 => 3072,
            ImportMethod::RsaOaep4096Sha1Aes256
            | ImportMethod::RsaOaep4096Sha256Aes256
            | ImportMethod::RsaOaep4096Sha256 => 4096,
        }
    }
}

impl fmt::Display for ImportMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the material goes: the import job and the key, each part checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The project id.
    pub project: String,
    /// The location (`global`, `us-east1`, …).
    pub location: String,
    /// The key ring.
    pub key_ring: String,
    /// The import job's id.
    pub import_job: String,
    /// The key a version is imported into.
    pub key: String,
    /// The job's method.
    pub method: ImportMethod,
    /// The version's algorithm (`gcloud … --algorithm`), as `--gcp-algorithm` gave it; `None`
    /// for AES-256 material, which is `google-symmetric-encryption`.
    pub algorithm: Option<String>,
}

/// The algorithm of imported AES-256 material.
const SYMMETRIC: &str = "google-symmetric-encryption";

/// The key spec whose material a Google Cloud KMS algorithm takes (`gcloud kms keys versions
/// import --algorithm`), for the algorithms keyrite imports.
pub fn algorithm_spec(name: &str) -> Option<KeySpec> {
    let rsa = |bits: &str| match bits {
        "2048" => Some(KeySpec::Rsa2048),
        "3072" => Some(KeySpec::Rsa3072),
        "4096" => Some(KeySpec::Rsa4096),
        _ => None,
    };
    let with_hash = |rest: &str| {
        let (bits, hash) = rest.split_once('-')?;
        let spec = rsa(bits)?;
        match hash {
            "sha256" => Some(spec),
            "sha512" if spec == KeySpec::Rsa4096 => Some(spec),
            _ => None,
        }
    };
    match name {
        SYMMETRIC => Some(KeySpec::Aes256),
        "ec-sign-p256-sha256" => Some(KeySpec::EcP256),
        "ec-sign-p384-sha384" => Some(KeySpec::EcP384),
        "ec-sign-secp256k1-sha256" => Some(KeySpec::EcSecp256k1),
        _ => {
            if let Some(rest) = name.strip_prefix("rsa-sign-pss-") {
                with_hash(rest)
            } else if let Some(rest) = name.strip_prefix("rsa-sign-pkcs1-") {
                with_hash(rest)
            } else if let Some(bits) = name.strip_prefix("rsa-sign-raw-pkcs1-") {
                rsa(bits)
            } else if let Some(rest) = name.strip_prefix("rsa-decrypt-oaep-") {
                let (bits, hash) = rest.split_once('-')?;
                (hash == "sha1")
                    .then(|| rsa(bits))
                    .flatten()
                    .or_else(|| with_hash(rest))
            } else {
                None
            }
        }
    }
}

/// The option choosing the version's algorithm.
pub(crate) const ALGORITHM_OPTION: (&str, &str) = (
    "--gcp-algorithm NAME",
    "the imported version's algorithm (e.g. rsa-sign-pss-2048-sha256, ec-sign-p256-sha256), which the key's purpose must allow",
);

/// Checks an algorithm given with `--gcp-algorithm`.
pub(crate) fn check_algorithm_name(name: &str) -> Result<(), Error> {
    if algorithm_spec(name).is_some() {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field: "--gcp-algorithm",
            value: name.to_owned(),
            expected: "a Google Cloud KMS algorithm keyrite imports \
                 (google-symmetric-encryption, rsa-sign-pss-2048-sha256, rsa-sign-pkcs1-3072-sha256, \
                 rsa-decrypt-oaep-4096-sha256, ec-sign-p256-sha256, ec-sign-p384-sha384, ec-sign-secp256k1-sha256, …)",
        })
    }
}

impl Target {
    /// The version's algorithm for material of `spec`: `--gcp-algorithm` must name one that
    /// takes it; AES-256 material needs none.
    pub fn algorithm_for(&self, spec: KeySpec) -> Result<&str, Error> {
        match self.algorithm.as_deref() {
            Some(name) if algorithm_spec(name) == Some(spec) => Ok(name),
            Some(name) => Err(Error::GcpAlgorithmMismatch {
                algorithm: name.to_owned(),
                key_spec: spec,
            }),
            None if spec == KeySpec::Aes256 => Ok(SYMMETRIC),
            None => Err(Error::OptionRequired {
                option: ALGORITHM_OPTION.0,
                meaning: ALGORITHM_OPTION.1,
                provider: super::Provider::Gcp,
            }),
        }
    }
}

const JOB_NAME_SYNTAX: &str = "a Google Cloud KMS import job name \
     (projects/PROJECT/locations/LOCATION/keyRings/KEY_RING/importJobs/JOB)";
/// The option naming the key the material goes into, and what it means.
pub(crate) const KEY_OPTION: (&str, &str) = (
    "--gcp-key NAME",
    "the key in the import job's key ring that the new version is imported into",
);
const KEY_NAME_SYNTAX: &str =
    "a Google Cloud KMS key id (1 to 63 of A-Z a-z 0-9 _ -, not starting with -)";

/// A key ring, key or import job id: 1 to 63 of `A-Z a-z 0-9 _ -`, not starting with `-`, which
/// `gcloud` would read as an option of its own in `import.sh`.
fn is_resource_id(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A project id (6 to 30 of `a-z 0-9 -`, starting with a letter, not ending with `-`) or a
/// project number.
fn is_project(s: &str) -> bool {
    let id = (6..=30).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let number = (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    id || number
}

/// Checks a key id given with `--gcp-key`.
pub(crate) fn check_key_name(name: &str) -> Result<(), Error> {
    if is_resource_id(name) {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field: "--gcp-key",
            value: name.to_owned(),
            expected: KEY_NAME_SYNTAX,
        })
    }
}

/// Splits `projects/P/locations/L/keyRings/R/importJobs/J` into its checked parts; `Err`
/// names the part that is wrong, with what it must be.
fn parse_job_name(name: &str) -> Result<(&str, &str, &str, &str), &'static str> {
    let parts: Vec<&str> = name.split('/').collect();
    let [
        "projects",
        project,
        "locations",
        location,
        "keyRings",
        ring,
        "importJobs",
        job,
    ] = parts.as_slice()
    else {
        return Err(JOB_NAME_SYNTAX);
    };
    if !is_project(project) {
        return Err(concat!(
            "a Google Cloud KMS import job name: its project (after projects/) must be a project id ",
            "(6 to 30 of a-z 0-9 -, starting with a letter, not ending with -) or a project number"
        ));
    }
    if location.len() > 63 || location.starts_with('-') || !is_region(location) {
        return Err(concat!(
            "a Google Cloud KMS import job name: its location (after locations/) must be a ",
            "Google Cloud location (us-east1, europe-west4, global, …)"
        ));
    }
    if !is_resource_id(ring) {
        return Err(concat!(
            "a Google Cloud KMS import job name: its key ring (after keyRings/) must be ",
            "1 to 63 of A-Z a-z 0-9 _ -, not starting with -"
        ));
    }
    if !is_resource_id(job) {
        return Err(concat!(
            "a Google Cloud KMS import job name: its job (after importJobs/) must be ",
            "1 to 63 of A-Z a-z 0-9 _ -, not starting with -"
        ));
    }
    Ok((project, location, ring, job))
}

/// Parses an import job and checks it can be used now.
pub fn parse(
    bytes: &[u8],
    options: &ProviderOptions,
    now: OffsetDateTime,
) -> Result<ImportParams, Error> {
    let map = parse_json_object(bytes)?;
    let name = string_at(&map, "name")?;
    let (project, location, key_ring, import_job) =
        parse_job_name(name).map_err(|expected| Error::InvalidName {
            field: "name",
            value: name.to_owned(),
            expected,
        })?;
    let state = string_at(&map, "state")?;
    if state != "ACTIVE" {
        return Err(Error::JobNotActive {
            name: name.to_owned(),
            state: state.to_owned(),
        });
    }
    let expire_time = rfc3339("expireTime", string_at(&map, "expireTime")?)?;
    if expire_time <= now {
        return Err(Error::JobExpired {
            name: name.to_owned(),
            expire_time: format_time(expire_time),
        });
    }
    let method_name = string_at(&map, "importMethod")?;
    let method = ImportMethod::ALL
        .into_iter()
        .find(|m| m.name() == method_name)
        .ok_or_else(|| Error::UnknownImportMethod {
            value: method_name.to_owned(),
        })?;
    let public_key = spki_from_pem("publicKey.pem", string_at(&map, "publicKey.pem")?)?;
    if public_key.spec().bits() != method.bits() {
        return Err(Error::ImportMethodKeySize {
            method,
            actual: public_key.spec(),
        });
    }
    let key = options.gcp_key.as_deref().ok_or(Error::OptionRequired {
        option: KEY_OPTION.0,
        meaning: KEY_OPTION.1,
        provider: super::Provider::Gcp,
    })?;
    check_key_name(key)?;
    let attestation = crate::attest::Evidence::from_google_job(&map)
        .map_err(|e| Error::Attestation(Box::new(e)))?;
    Ok(ImportParams {
        key_id: format!(
            "projects/{project}/locations/{location}/keyRings/{key_ring}/cryptoKeys/{key}"
        ),
        public_key,
        valid_to: Some(expire_time),
        fixed_algorithm: Some(FixedAlgorithm {
            algorithm: method.algorithm(),
            by: format!("the import job's importMethod {method}"),
        }),
        wrapping_key_id: Some(name.to_owned()),
        target: AnyTarget::Gcp(Target {
            project: project.to_owned(),
            location: location.to_owned(),
            key_ring: key_ring.to_owned(),
            import_job: import_job.to_owned(),
            key: key.to_owned(),
            method,
            algorithm: options.gcp_algorithm.clone(),
        }),
        attestation,
    })
}

/// `wrapped-key.bin` and `import.sh`: AES-256 material as `google-symmetric-encryption` (a key
/// of purpose `ENCRYPT_DECRYPT`), a key pair's private key as the `--gcp-algorithm` that
/// [`ImportParams::check`](super::ImportParams::check) accepted for it.
pub fn files(import: &Import<'_>, target: &Target) -> Vec<OutputFile> {
    let script = format!(
        "{prologue}exec gcloud kms keys versions import \\\n    \
         --import-job {job} \\\n    \
         --location {location} \\\n    \
         --keyring {ring} \\\n    \
         --key {key} \\\n    \
         --project {project} \\\n    \
         --algorithm {algorithm} \\\n    \
         --wrapped-key-file \"$here/{WRAPPED_KEY}\" \\\n    \
         \"$@\"\n",
        prologue = script_prologue(
            &format!(
                "Imports key material wrapped in an HSM with {} (importMethod {}) into Google Cloud KMS.",
                import.algorithm, target.method
            ),
            "--impersonate-service-account SA or --verbosity debug",
        ),
        job = shell_quote(&target.import_job),
        location = shell_quote(&target.location),
        ring = shell_quote(&target.key_ring),
        key = shell_quote(&target.key),
        project = shell_quote(&target.project),
        // check() refused the parameters unless algorithm_for succeeds for this key spec.
        algorithm = shell_quote(target.algorithm_for(import.key_spec).unwrap_or(SYMMETRIC)),
    );
    vec![
        OutputFile::data(WRAPPED_KEY, import.wrapped.to_vec()),
        OutputFile::script(script),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_and_the_material_they_take() {
        for (name, spec) in [
            ("google-symmetric-encryption", KeySpec::Aes256),
            ("rsa-sign-pss-2048-sha256", KeySpec::Rsa2048),
            ("rsa-sign-pkcs1-3072-sha256", KeySpec::Rsa3072),
            ("rsa-sign-pss-4096-sha512", KeySpec::Rsa4096),
            ("rsa-sign-raw-pkcs1-2048", KeySpec::Rsa2048),
            ("rsa-decrypt-oaep-3072-sha1", KeySpec::Rsa3072),
            ("rsa-decrypt-oaep-4096-sha512", KeySpec::Rsa4096),
            ("ec-sign-p256-sha256", KeySpec::EcP256),
            ("ec-sign-p384-sha384", KeySpec::EcP384),
            ("ec-sign-secp256k1-sha256", KeySpec::EcSecp256k1),
        ] {
            assert_eq!(algorithm_spec(name), Some(spec), "{name}");
        }
        for bad in [
            "",
            "rsa-sign-pss-2048-sha512",
            "rsa-sign-pss-1024-sha256",
            "ec-sign-p521-sha512",
            "ec-sign-p256-sha384",
            "rsa-decrypt-oaep-2048-sha384",
            "hmac-sha256",
        ] {
            assert_eq!(algorithm_spec(bad), None, "{bad}");
        }
    }

    #[test]
    fn job_names() {
        assert_eq!(
            parse_job_name(
                "projects/my-project/locations/us-east1/keyRings/ring_1/importJobs/job-2"
            ),
            Ok(("my-project", "us-east1", "ring_1", "job-2"))
        );
        assert!(parse_job_name("projects/123456/locations/global/keyRings/r/importJobs/j").is_ok());
        for bad in [
            "",
            "projects/my-project/locations/us-east1/keyRings/ring/importJobs/",
            "projects/my-project/locations/us-east1/keyRings/ring/cryptoKeys/k",
            "projects/My-Project/locations/us-east1/keyRings/ring/importJobs/j",
            "projects/my-project/locations/us-east1/keyRings/ri'ng/importJobs/j",
            "projects/my-project/locations/us-east1/keyRings/ring/importJobs/$(reboot)",
            "projects/my-project/locations/US/keyRings/ring/importJobs/j",
            "projects/my-project/locations/us-east1/keyRings/ring/importJobs/j/x",
            "projects/proj-/locations/us-east1/keyRings/ring/importJobs/j",
            "projects/my-project/locations/-h/keyRings/ring/importJobs/j",
            "projects/my-project/locations/us-east1/keyRings/-h/importJobs/j",
            "projects/my-project/locations/us-east1/keyRings/ring/importJobs/-h",
        ] {
            assert!(parse_job_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_job_name_refused_names_its_wrong_part() {
        for (bad, part) in [
            (
                "projects/p/locations/us-east1/keyRings/r/importJobs/job-1",
                "its project",
            ),
            (
                "projects/my-project/locations/US/keyRings/r/importJobs/j",
                "its location",
            ),
            (
                "projects/my-project/locations/us-east1/keyRings/-h/importJobs/j",
                "its key ring",
            ),
            (
                "projects/my-project/locations/us-east1/keyRings/r/importJobs/-h",
                "its job",
            ),
        ] {
            assert!(
                parse_job_name(bad).is_err_and(|e| e.contains(part)),
                "{bad}"
            );
        }
        assert_eq!(parse_job_name("projects/p"), Err(JOB_NAME_SYNTAX));
    }

    #[test]
    fn key_names() {
        assert!(check_key_name("payments-2026_a").is_ok());
        for bad in ["", "a b", "a'b", "a/b", "-h", "--help", &"k".repeat(64)] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn methods_name_algorithm_and_size() {
        for m in ImportMethod::ALL {
            let n = m.name();
            assert!(n.contains(&m.bits().to_string()), "{n}");
            let hash = if n.contains("SHA1") {
                "SHA_1"
            } else {
                "SHA_256"
            };
            assert!(m.algorithm().name().ends_with(hash), "{n}");
            assert_eq!(m.algorithm().is_rsa_aes(), n.ends_with("_AES_256"), "{n}");
        }
    }
}
