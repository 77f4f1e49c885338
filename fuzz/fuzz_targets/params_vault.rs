//! A HashiCorp Vault transit wrapping key (`vault read -format=json transit/wrapping_key`, or
//! the bare PEM), through `Provider::parse_params` and what `wrap` does next.
#![no_main]

use keyrite::kms::{Provider, ProviderOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let provider = Provider::Vault;
    let options = ProviderOptions {
        vault_key: Some("payments-2026".to_owned()),
        ..ProviderOptions::default()
    };
    if let Ok(params) = provider.parse_params(data, &options, keyrite_fuzz::now()) {
        keyrite_fuzz::after_parse(provider, &params);
    }
});
