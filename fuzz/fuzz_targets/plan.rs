//! A ceremony plan (TOML) through `Plan::from_bytes`, the code `Plan::load` runs, without
//! reading the files it names (as `verify` checks a plan recorded in a transcript); then its
//! digest statement and step names.
#![no_main]

use std::path::Path;

use keyrite::ceremony::plan::Plan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(plan) = Plan::from_bytes(Path::new("plans/plan.toml"), data.to_vec(), false) {
        let _ = plan.digest_statement();
        for step in &plan.steps {
            let _ = step.record_names();
        }
    }
});
