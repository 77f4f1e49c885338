//! One transcript line through `verify::parse_line` and `verify::check_line`. The line's
//! position and the chain head before it are taken from its own `seq` and `prev`, so the
//! checks after those two are reached; the witness message over the line is computed too.
#![no_main]

use keyrite::transcript::witness_message;
use keyrite::verify::{check_line, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let map = parse_line(data);
    let field = |name: &str| map.as_ref().and_then(|m| m.get(name));
    let index = field("seq")
        .and_then(|v| v.as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let prev = field("prev").and_then(|v| v.as_str()).unwrap_or_default();
    let _ = check_line(index, map.as_ref(), prev);
    let _ = witness_message(data);
});
