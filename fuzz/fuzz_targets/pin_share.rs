//! PIN shares (groups of Crockford base32 with check characters, or the first format,
//! `keyrite-pin-share-v1:I:M:HEX`), one a line: each parsed; those that parse are pinned as a
//! policy would pin them and offered to a `Rebuilder`, which then rebuilds the PIN.
#![no_main]

use keyrite::shares::{Rebuilder, ShareText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pinned: Vec<String> = text
        .lines()
        .filter_map(|line| ShareText::parse(line, "fuzz").ok())
        .map(|share| share.sha256())
        .collect();
    let Ok(mut rebuilder) = Rebuilder::new(&pinned) else {
        return;
    };
    for line in text.lines() {
        if rebuilder.complete() {
            break;
        }
        let _ = rebuilder.offer(line, "fuzz");
    }
    let _ = rebuilder.pin();
});
