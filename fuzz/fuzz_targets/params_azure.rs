//! An Azure key exchange key (`az keyvault key show` JSON, or a PEM with `--azure-kid`),
//! through `Provider::parse_params` and what `wrap` does next: with and without `--azure-kid`.
#![no_main]

use keyrite::kms::{Provider, ProviderOptions};
use libfuzzer_sys::fuzz_target;

const KID: &str =
    "https://contoso-hsm.managedhsm.azure.net/keys/KEKforBYOK/eba63d27e4e34e028839b53fac905621";

fuzz_target!(|data: &[u8]| {
    let provider = Provider::Azure;
    for kid in [None, Some(KID.to_owned())] {
        let options = ProviderOptions {
            azure_key: Some("payments-2026".to_owned()),
            azure_kid: kid,
            ..ProviderOptions::default()
        };
        if let Ok(params) = provider.parse_params(data, &options, keyrite_fuzz::now()) {
            keyrite_fuzz::after_parse(provider, &params);
        }
    }
});
