//! What keyrite's fuzz targets share: the fixed clock, the auditor's fixtures (made by
//! `fuzz/make-seeds` from a real ceremony) and the steps every parsed set of import parameters
//! goes through after parsing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keyrite::attest::Roots;
use keyrite::ceremony::policy::Policy;
use keyrite::kms::{Import, ImportParams, Provider};
use keyrite::spec::{ALL_KEY_SPECS, WrappingAlgorithm, WrappingKey};
use keyrite::verify::Signer;

/// The time the targets run at: 2026-06-01T00:00:00Z, so the seeds' expiries (2099) are ahead
/// and a run does not depend on the day.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_780_272_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The policy the seeds' approvals, PIN shares and transcripts were made under.
pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::from_bytes(
            Path::new("fixtures/policy.toml"),
            include_bytes!("../fixtures/policy.toml"),
        )
        .unwrap_or_else(|e| panic!("fixtures/policy.toml: {e}"))
    })
}

/// The ceremony signer that sealed the seed transcript.
pub fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        Signer::from_pem(
            Path::new("fixtures/signer.pem"),
            include_bytes!("../fixtures/signer.pem"),
        )
        .unwrap_or_else(|e| panic!("fixtures/signer.pem: {e}"))
    })
}

/// The plan digest statement the seed approvals sign.
pub fn statement() -> &'static str {
    include_str!("../fixtures/plan.digest")
}

/// The wrapping key smallstep's RSA attestation (`tests/fixtures/attest/smallstep_rsa.dat`)
/// attests, so the attestation seeds reach the binding checks.
pub fn attested_wrapping_key() -> &'static WrappingKey {
    static KEY: OnceLock<WrappingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        WrappingKey::from_spki_der(include_bytes!("../fixtures/attest-wrapping-key.der"))
            .unwrap_or_else(|e| panic!("fixtures/attest-wrapping-key.der: {e}"))
    })
}

/// The pinned attestation roots with a Microsoft root added (Google's root, which the Azure
/// seeds' bundle carries), so an Azure attestation is also checked against a roots file's root.
pub fn attest_roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        Roots::with_file(
            Path::new("fixtures/attest-roots.toml"),
            include_bytes!("../fixtures/attest-roots.toml"),
        )
        .unwrap_or_else(|e| panic!("fixtures/attest-roots.toml: {e}"))
    })
}

/// A directory of this process's own, removed when the process ends normally.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let path = dir.path().to_path_buf();
        (dir, path)
    })
    .1
}

/// What `keyrite wrap` does with parameters once they parse: check them against every
/// algorithm and key kind, then write (in memory) the files the provider's import takes, with
/// wrapped bytes of the (least) length the algorithm gives.
pub fn after_parse(provider: Provider, params: &ImportParams) {
    for key_spec in ALL_KEY_SPECS {
        for requested in std::iter::once(None).chain(WrappingAlgorithm::ALL.map(Some)) {
            let Ok(algorithm) = params.check(provider, requested, None, key_spec) else {
                continue;
            };
            let (len, _) = algorithm
                .wrapped_len_bounds(params.public_key.modulus_len(), key_spec)
                .expect("check() accepts only what the algorithm can carry");
            let wrapped = vec![0x5a; len];
            let import = Import {
                params,
                algorithm,
                key_spec,
                key_label: "fuzz-key",
                wrapped: &wrapped,
                material_valid_to: params.valid_to,
                token: "fuzz token",
            };
            for file in import.files() {
                assert!(!file.name.contains('/'), "an output file name with a /");
            }
        }
    }
}
