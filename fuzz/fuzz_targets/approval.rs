//! A custodian's approval file (`ssh-keygen -Y sign -n keyrite-plan`) through
//! `quorum::check_approval`, against the seed ceremony's policy and plan digest.
#![no_main]

use keyrite::ceremony::quorum::check_approval;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_approval(
        keyrite_fuzz::policy(),
        keyrite_fuzz::statement(),
        "fuzz.sig",
        data,
    );
});
