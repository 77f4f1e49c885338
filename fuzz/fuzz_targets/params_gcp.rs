//! A Google Cloud KMS import job (`gcloud kms import-jobs describe --format=json`), through
//! `Provider::parse_params` and what `wrap` does next.
#![no_main]

use keyrite::kms::{Provider, ProviderOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let provider = Provider::Gcp;
    let options = ProviderOptions {
        gcp_key: Some("payments-2026".to_owned()),
        ..ProviderOptions::default()
    };
    if let Ok(params) = provider.parse_params(data, &options, keyrite_fuzz::now()) {
        keyrite_fuzz::after_parse(provider, &params);
    }
});
