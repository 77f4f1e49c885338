//! A ceremony policy (TOML) through `Policy::from_bytes`, the code `Policy::load` runs. What
//! follows the first NUL byte (never valid in TOML) is the `allowed_signers` file beside the
//! policy, which a policy names with `custodians_file = "allowed_signers"`.
#![no_main]

use keyrite::ceremony::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (policy, signers) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let dir = keyrite_fuzz::scratch();
    if std::fs::write(dir.join("allowed_signers"), signers).is_err() {
        return;
    }
    if let Ok(p) = Policy::from_bytes(&dir.join("policy.toml"), policy) {
        for person in p.custodians.iter().chain(&p.witnesses) {
            let _ = person.fingerprint();
        }
    }
});
