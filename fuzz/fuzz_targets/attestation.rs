//! A Marvell LiquidSecurity key attestation and what carries it, every reading on the same
//! bytes: the blob through `marvell::parse` (checking the shape of what parses); an Azure key
//! attestation (`az keyvault key get-attestation`) through `Evidence::from_azure`, and a JSON
//! object as a Google import job through `Evidence::from_google_job`, each attestation given
//! then checked through `attest::check` for the wrapping key smallstep's RSA blob attests, under
//! the pinned roots and under a roots file's; and an attestation roots file through
//! `Roots::with_file`.
#![no_main]

use std::io::Read as _;
use std::path::Path;

use keyrite::attest::{self, Evidence, Offered, Roots, marvell};
use libfuzzer_sys::fuzz_target;

/// The blob's length once gunzipped (as `marvell::parse` reads it), if it is gzip.
fn decompressed_len(data: &[u8]) -> usize {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return data.len();
    }
    let mut out = Vec::new();
    let _ = flate2::read::GzDecoder::new(data)
        .take(marvell::MAX_BLOB as u64 + 1)
        .read_to_end(&mut out);
    out.len()
}

fn check(evidence: &Evidence) {
    let key = keyrite_fuzz::attested_wrapping_key();
    for roots in [&Roots::pinned(), keyrite_fuzz::attest_roots()] {
        match attest::check(evidence, key, roots) {
            Ok(attested) => {
                assert_eq!(attested.wrapping_key_sha256, key.fingerprint());
                let _ = attest::Record::Attested(Box::new(attested)).summary();
            }
            Err(refusal) => {
                let _ = refusal.to_string();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = marvell::parse(data) {
        assert_eq!(
            blob.signed.len() + blob.signature.len(),
            decompressed_len(data),
            "signed and signature are not the whole blob"
        );
        assert_eq!(blob.signature.len(), marvell::SIGNATURE_LEN);
        assert!(matches!(blob.objects.len(), 1 | 2));
        for object in &blob.objects {
            assert!(object.attributes.len() <= 256, "more than 256 attributes");
            for kind in [marvell::CLASS, marvell::MODULUS_BITS, marvell::LOCAL] {
                let _ = (object.number(kind), object.flag(kind));
            }
        }
    }
    if let Ok((evidence, _kid)) = Evidence::from_azure(data) {
        check(&evidence);
    }
    if let Ok(job) = keyrite::json::parse_json_object(data)
        && let Ok(Offered::Evidence(evidence)) = Evidence::from_google_job(&job)
    {
        check(&evidence);
    }
    let _ = Roots::with_file(Path::new("roots.toml"), data);
});
