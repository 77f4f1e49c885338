//! A whole transcript through `verify::verify_transcript` (what `keyrite verify` runs once it
//! has read its inputs), under the seed ceremony's signer, with and without its policy; then
//! the HTML audit report of each verdict.
#![no_main]

use std::path::Path;

use keyrite::verify::verify_transcript;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for policy in [None, Some(keyrite_fuzz::policy().clone())] {
        let report = verify_transcript(data, keyrite_fuzz::signer(), policy, None, None);
        let _ = keyrite::verify::report::render(&report, Path::new("transcript.jsonl"));
    }
});
