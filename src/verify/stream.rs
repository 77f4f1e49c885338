//! One pass over a transcript's lines: a reader that hashes them in batches, and the stream that
//! feeds each line to the checks that run as the lines go by (chain, structure, steps, KCVs,
//! outputs), keeps what the others need ([`Parsed`]), and makes the report once the lines end.
//!
//! It trusts nothing it reads: each line is untrusted input, read once for the chain (its exact
//! bytes, [`Head`]) and once as its typed [`Entry`], whose fields the other checks read.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::attestations::Attestations;
use super::chain::{Chain, check_seal};
use super::head::Head;
use super::kcv::Kcvs;
use super::outputs::Outputs;
use super::parsed::{Line, Parsed, Placement, data_of};
use super::policy::policy_checks;
use super::steps::{STEP_LINES, Steps};
use super::structure::{Structure, read_entry};
use super::witnesses::witness_check;
use super::{Check, Error, ReadProblem, Report, Signer, Status, Verdict, not_checked};
use crate::ceremony::policy::Policy;
use crate::transcript::Entry;
use crate::transcript::entry::{GeneratedData, ResumedData};

/// Complete lines read from a transcript: their bytes, and where each line is (without its
/// newline) with its SHA-256.
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    pub(super) lines: Vec<(usize, usize, [u8; 32])>,
}

impl Batch {
    /// About this many bytes of lines go in a batch.
    const SIZE: usize = 1 << 18;

    pub(super) fn new() -> Self {
        Batch {
            bytes: Vec::with_capacity(Self::SIZE + 4096),
            lines: Vec::new(),
        }
    }
}

/// Reads the transcript's lines, hashes each, and sends them in batches; returns whether the
/// file ends inside a line (which is not sent), and the SHA-256 (hex) of every byte read. A
/// line may hold at most 16 MiB.
pub(super) fn read_batches(
    file: std::fs::File,
    path: &Path,
    batches: std::sync::mpsc::SyncSender<Batch>,
) -> Result<(bool, String), Error> {
    use std::io::{BufRead as _, Read as _};
    let read_err = |reason: ReadProblem| Error::Read {
        path: path.to_path_buf(),
        reason,
    };
    let limit = crate::input::MAX_TRANSCRIPT_LINE;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut batch = Batch::new();
    let mut count = 0;
    let mut file_digest = Sha256::new();
    let cut_short = loop {
        let start = batch.bytes.len();
        let n = (&mut reader)
            .take(limit + 1)
            .read_until(b'\n', &mut batch.bytes)
            .map_err(|e| read_err(ReadProblem::Io(e)))?;
        file_digest.update(&batch.bytes[start..]);
        if n == 0 {
            break false;
        }
        if batch.bytes.last() == Some(&b'\n') {
            let end = batch.bytes.len() - 1;
            let digest = Sha256::digest(&batch.bytes[start..end]).into();
            batch.lines.push((start, end, digest));
            count += 1;
            if batch.bytes.len() >= Batch::SIZE {
                // The checking thread has gone only if it panicked: nothing more to read for.
                if batches
                    .send(std::mem::replace(&mut batch, Batch::new()))
                    .is_err()
                {
                    return Ok((false, String::new()));
                }
            }
        } else if n as u64 > limit {
            return Err(read_err(ReadProblem::LongLine {
                line: super::line_number(count),
                limit,
            }));
        } else {
            // The end of the file, in the middle of a line.
            batch.bytes.truncate(start);
            break true;
        }
    };
    if !batch.lines.is_empty() {
        // As above: a send fails only if the checking thread has gone.
        let _ = batches.send(batch);
    }
    Ok((cut_short, hex::encode(file_digest.finalize())))
}

/// One pass over a transcript's lines: the chain checked, what the other checks need kept, and
/// the steps, KCV and outputs checks fed as the lines go by.
pub(super) struct Stream<'a> {
    plan_file: Option<&'a Path>,
    outputs_dir: Option<&'a Path>,
    chain: Chain,
    parsed: Parsed,
    steps: Steps,
    structure: Structure,
    kcvs: Kcvs,
    outputs: Outputs<'a>,
    attestations: Attestations,
    /// The first generated (or resumed) key whose template lacks `CKA_WRAP_WITH_TRUSTED`: its
    /// line and label.
    untrusted: Option<(usize, String)>,
    /// Whether the line before is a finish line.
    after_finish: bool,
}

impl<'a> Stream<'a> {
    pub(super) fn new(
        plan_file: Option<&'a Path>,
        outputs_dir: Option<&'a Path>,
        keep_lines: bool,
    ) -> Self {
        Stream {
            plan_file,
            outputs_dir,
            chain: Chain::new(),
            parsed: Parsed::new(keep_lines),
            steps: Steps::new(),
            structure: Structure::new(),
            kcvs: Kcvs::new(),
            outputs: Outputs::new(outputs_dir),
            attestations: Attestations::new(),
            untrusted: None,
            after_finish: false,
        }
    }

    /// Feeds one line's exact bytes, without its newline, and their SHA-256. The line is read
    /// once without being built ([`Head`]) for the chain, and once as its [`Entry`].
    pub(super) fn line(&mut self, raw: &[u8], digest: [u8; 32]) {
        let i = self.parsed.count;
        let head = Head::parse(raw);
        let step = head.as_ref().and_then(Head::step);
        let (entry, misfit) = match (step, &head) {
            (Some(step), Some(head)) => read_entry(step, raw, &head.data),
            _ => (None, None),
        };
        self.chain
            .feed(i, raw, head.as_ref(), entry.as_ref(), digest);
        self.parsed
            .observe(i, raw, head.as_ref(), entry.as_ref(), self.after_finish);
        if let (Some(step), Some(head)) = (step, &head) {
            self.feed(i, step, raw, entry.as_ref(), misfit);
            self.kcvs.feed(i, step, &head.data);
        }
        self.after_finish = step == Some("finish");
        self.parsed.count += 1;
    }

    /// Feeds line `i` of `step` (its exact bytes `raw`), with its `entry` if its data fits its
    /// step (else why not, `misfit`), to the checks that run as the lines go by.
    fn feed(
        &mut self,
        i: usize,
        step: &str,
        raw: &[u8],
        entry: Option<&Entry>,
        misfit: Option<String>,
    ) {
        if step == "plan" && !self.steps.has_plan() {
            let plan = match entry {
                Some(Entry::Plan(plan)) => Some(plan),
                _ => None,
            };
            self.steps.on_plan(i, plan, self.plan_file);
        }
        if STEP_LINES.contains(&step) {
            self.steps.feed(i, step, entry);
        }
        let placement = if Placement::STEPS.contains(&step) {
            data_of(raw)
        } else {
            Placement::default()
        };
        self.structure.feed(i, step, &placement, misfit);
        if let (
            Some(
                Entry::Generated(GeneratedData { key, .. })
                | Entry::Resumed(ResumedData { key, .. }),
            ),
            None,
        ) = (entry, &self.untrusted)
        {
            if key
                .template
                .get("CKA_WRAP_WITH_TRUSTED")
                .map(String::as_str)
                != Some("true")
            {
                self.untrusted = Some((i, key.label.clone()));
            }
        }
        self.outputs.feed(i, step, entry);
        self.attestations.feed(i, step, entry);
        if step == "seal" {
            self.steps.on_seal();
        }
    }

    /// The stream of an input that ends inside a line: that line counts as a line but is not
    /// parsed, nor is any other line; only the chain is kept.
    fn unparsed(self) -> Self {
        let count = self.parsed.count + 1;
        let keep_lines = self.parsed.lines.is_some();
        let mut parsed = Parsed::new(keep_lines);
        parsed.count = count;
        parsed.lines = keep_lines.then(|| vec![Line::default(); count]);
        Stream {
            parsed,
            steps: Steps::new(),
            structure: Structure::new(),
            kcvs: Kcvs::new(),
            untrusted: None,
            outputs: Outputs::new(self.outputs_dir),
            attestations: Attestations::new(),
            ..self
        }
    }

    /// With `--outputs`, when none of the output directories the lines fed record is there.
    pub(super) fn outputs_unfound(&self) -> Option<super::outputs::Unfound> {
        self.outputs.unfound()
    }

    /// The report, once every line has been fed; `cut_short` if the input ends inside a line,
    /// which then counts as a line but is not parsed — nor is any other line.
    pub(super) fn finish(
        self,
        cut_short: bool,
        last_line: &[u8],
        signer: &Signer,
        policy: Option<Policy>,
        sha256: String,
    ) -> Report {
        let stream = if cut_short { self.unparsed() } else { self };
        let Stream {
            plan_file,
            chain,
            mut parsed,
            steps,
            structure,
            kcvs,
            outputs,
            attestations,
            untrusted,
            ..
        } = stream;
        let signer_fp = signer.fingerprint.clone();
        let chain = chain.check(parsed.count, cut_short);
        let chain_ok = matches!(chain.status, Status::Passed { .. });
        let mut checks = vec![chain];
        if chain_ok {
            checks.push(check_seal(&mut parsed, &signer.key, &signer_fp));
        } else {
            checks.push(not_checked("seal", "an intact chain"));
        }
        checks.extend(policy_checks(
            &parsed,
            policy.as_ref(),
            &signer_fp,
            untrusted.as_ref(),
        ));
        checks.push(if chain_ok {
            structure.check()
        } else {
            not_checked("structure", "an intact chain")
        });
        checks.extend(steps.checks(parsed.seal, plan_file));
        let (kcv_check, kcvs) = kcvs.check();
        checks.push(kcv_check);
        checks.push(outputs.check());
        let (attestation_check, attestations) =
            attestations.check(parsed.plan().and_then(|(_, d)| d), policy.as_ref());
        checks.push(attestation_check);
        let (witness, witnesses, cosigned) = witness_check(&parsed, policy.as_ref());
        checks.push(witness);
        let required = policy.as_ref().map_or(0, |p| p.witnesses_required);
        let plan_digest = parsed
            .plan()
            .and_then(|(_, d)| d)
            .map(|d| crate::ceremony::plan::statement_sha256(&d.digest_statement));
        let (verdict, summary) = verdict(
            &checks,
            parsed.seal.is_some(),
            parsed.outcome(),
            (cosigned, required),
            policy.is_some(),
        );
        Report {
            verdict,
            exit_code: verdict.exit_code(),
            summary,
            checks,
            witnesses,
            lines: parsed.lines.unwrap_or_default(),
            line_count: parsed.count,
            seal_line: parsed.first_seal.map(|seal| seal.raw),
            last_line: last_line.to_vec(),
            policy,
            signer_fingerprint: signer_fp,
            attestations,
            sha256,
            plan_digest,
            kcvs,
        }
    }
}

/// The verdict and its summary line: the first failed check, else whether the record is sealed,
/// the ceremony completed, enough witnesses (`cosigned` of `required`) co-signed, and a policy
/// said who approved it.
fn verdict(
    checks: &[Check],
    sealed: bool,
    outcome: Option<&str>,
    (cosigned, required): (usize, usize),
    with_policy: bool,
) -> (Verdict, String) {
    let any_failed = checks
        .iter()
        .any(|c| matches!(c.status, Status::Failed { .. }));
    if any_failed {
        let first = checks.iter().find_map(|c| match &c.status {
            Status::Failed { reason, line } => Some(format!(
                "{} check failed{}: {reason}",
                c.name,
                line.map(|l| format!(" at line {l}")).unwrap_or_default()
            )),
            _ => None,
        });
        (
            Verdict::Invalid,
            format!("INVALID: {}", first.unwrap_or_default()),
        )
    } else if !sealed {
        (
            Verdict::Incomplete,
            "INCOMPLETE: an intact record without a seal: the ceremony did not finish".to_owned(),
        )
    } else if outcome != Some("completed") {
        (
            Verdict::Incomplete,
            "FAILED CEREMONY: an intact, sealed record of a ceremony that failed".to_owned(),
        )
    } else if cosigned < required {
        (
            Verdict::Incomplete,
            format!(
                "INCOMPLETE: sealed and completed, but {cosigned} of {required} required witnesses have co-signed"
            ),
        )
    } else if !with_policy {
        (
            Verdict::NotApproved,
            "NOT APPROVED (no policy: quorum not checked): sealed, completed, and every check that ran passed, but without --policy nothing says who approved it".to_owned(),
        )
    } else {
        (
            Verdict::Verified,
            "VERIFIED: sealed, completed, and every check that ran passed".to_owned(),
        )
    }
}
