//! Alibaba Cloud `GetParametersForImport` output, through `Provider::parse_params` and what
//! `wrap` does next.
#![no_main]

use keyrite::kms::{Provider, ProviderOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let provider = Provider::Alibaba;
    if let Ok(params) =
        provider.parse_params(data, &ProviderOptions::default(), keyrite_fuzz::now())
    {
        keyrite_fuzz::after_parse(provider, &params);
    }
});
