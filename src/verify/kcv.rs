//! The KCV check: each key label has one KCV and one full check value (`check_sha256`, or none)
//! wherever the transcript names it.
//!
//! It trusts nothing: the first line naming a key fixes what the later ones must repeat.

use std::collections::BTreeMap;

use super::head::DataView;
use super::{Check, failed, passed};

/// The KCV check, fed line by line: the same key label has the same KCV, and the same full
/// check value (`check_sha256`, or none), wherever it appears (the first line naming a key
/// fixes both).
pub(super) struct Kcvs {
    kcvs: BTreeMap<String, (String, String)>,
    broken: Option<Check>,
}

impl Kcvs {
    pub(super) fn new() -> Self {
        Kcvs {
            kcvs: BTreeMap::new(),
            broken: None,
        }
    }

    pub(super) fn feed(&mut self, line: usize, step: &str, d: &DataView<'_>) {
        if self.broken.is_some() {
            return;
        }
        let (label, kcv, full) = match step {
            "generated" => (&d.key_label_in_key, &d.kcv_in_key, &d.check_sha256_in_key),
            "resumed" if d.has_key => (&d.key_label_in_key, &d.kcv_in_key, &d.check_sha256_in_key),
            "resumed" | "wrapped" | "rewrapped" | "destroy" | "destroyed" => {
                (&d.key_label, &d.kcv, &d.check_sha256)
            }
            _ => return,
        };
        let label = label.as_str().unwrap_or_default();
        let kcv = kcv.as_str().unwrap_or_default();
        let full = full.as_str().unwrap_or_default();
        let (known_kcv, known_full) = match self.kcvs.get(label) {
            Some(known) => known,
            None => {
                self.kcvs
                    .insert(label.to_owned(), (kcv.to_owned(), full.to_owned()));
                return;
            }
        };
        let other = if known_kcv != kcv {
            "KCV"
        } else if known_full != full {
            "full check value (check_sha256)"
        } else {
            return;
        };
        self.broken = Some(failed(
            "kcv",
            format!("key {label:?} appears with another {other}"),
            Some(line),
        ));
    }

    /// The check, and each key label with the KCV its first line gives.
    pub(super) fn check(self) -> (Check, BTreeMap<String, String>) {
        let kcvs = self
            .kcvs
            .into_iter()
            .map(|(label, (kcv, _))| (label, kcv))
            .collect();
        let check = self.broken.unwrap_or_else(|| {
            passed(
                "kcv",
                "every key label has one KCV and one full check value throughout",
            )
        });
        (check, kcvs)
    }
}
