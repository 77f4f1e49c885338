//! A ceremony's steps shown as they happen (`ceremony run`, `keys destroy`, `wrap --transcript`):
//! each finished step's line on stdout, in step order, the moment the library reports it; and,
//! when stderr is a terminal (not `TERM=dumb`), a progress bar there, filled to the steps done,
//! with "step k/N" and the step under way (then "step k/N done: …" once it is, with the steps
//! done per second once a second has passed), cut at a word
//! to fit the terminal's width; it clears itself for each line and is gone before the result or
//! an error is printed. Piped or redirected, only the lines are written, without a byte of terminal control.
//! Trusts the library's report of each step.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

use super::out::{errln, outln};
use keyrite::Error;
use keyrite::ceremony::plan::Step;
use keyrite::ceremony::{self, Done, FewerSessions, Held, Observer, Outcome};
use keyrite::visible::visible;
use keyrite::words::{digest_lines, inline_words};
use keyrite::wrap::KeyRecord;

/// Runs `run` with a [`StepPrinter`] as its observer, then prints where the sealed transcript
/// is; on failure, the steps done were printed and the error is left to `main`.
pub fn print_run(
    run: impl FnOnce(&mut dyn Observer) -> Result<Outcome, ceremony::Error>,
) -> Result<(), Error> {
    let mut printer = StepPrinter::new();
    let result = run(&mut printer);
    printer.finish();
    let outcome = result?;
    outln!(
        "Completed. Sealed transcript: {}",
        visible(&outcome.transcript.to_string_lossy())
    );
    for line in digest_lines(
        "  ",
        "Chain head at the seal (what witnesses sign)",
        &outcome.seal_sha256,
    ) {
        outln!("{line}");
    }
    Ok(())
}

/// Prints each step of a run as it finishes, one line a step (a rewrap that finds its key: that
/// key's line, then the output's), under a progress bar when stderr is a terminal.
struct StepPrinter {
    /// Whether stderr is a terminal, so a bar is drawn there.
    terminal: bool,
    /// The bar, made at the first step reported: after every prompt (PIN, shares) is answered.
    bar: Option<ProgressBar>,
    /// The steps under way (begun, not yet reported done: a batch's steps are reported once
    /// it commits), by index, as the bar shows them.
    under_way: std::collections::BTreeMap<usize, String>,
    /// When the first step began: the bar shows the steps done per second since.
    started: Option<std::time::Instant>,
}

/// The columns the bar itself and the space after it take.
const BAR_COLUMNS: usize = 31;

/// The width assumed for a terminal that does not say its own.
const DEFAULT_COLUMNS: usize = 80;

impl StepPrinter {
    fn new() -> Self {
        Self {
            // A dumb terminal (an editor's shell) cannot take the bar's line redraws.
            terminal: std::io::stderr().is_terminal()
                && std::env::var_os("TERM").is_none_or(|term| term != "dumb"),
            bar: None,
            under_way: std::collections::BTreeMap::new(),
            started: None,
        }
    }

    /// Shows `message` on the bar, filled to `done` steps of `total`, the bar made if it is the
    /// first; the message cut at a word to fit the terminal.
    fn show(&mut self, done: usize, total: usize, message: &str) {
        if !self.terminal {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:30} {msg}") {
                bar.set_style(style);
            }
            bar
        });
        let columns = rustix::termios::tcgetwinsize(std::io::stderr())
            .ok()
            .map(|size| usize::from(size.ws_col))
            .filter(|&columns| columns > 0)
            .unwrap_or(DEFAULT_COLUMNS);
        bar.set_position(done as u64);
        bar.set_message(fit(message, columns.saturating_sub(BAR_COLUMNS + 1)));
    }

    /// Prints `line` on stdout, above the bar if there is one.
    fn line(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| outln!("{line}")),
            None => outln!("{line}"),
        }
    }

    /// Clears the bar, before the result or an error is printed.
    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for StepPrinter {
    fn checking(&mut self, index: usize, total: usize, _step: &Step) {
        self.show(
            0,
            total,
            &format!(
                "step 0/{total} checking step {}: a trial wrap, before anything changes",
                index + 1
            ),
        );
    }

    fn starting(&mut self, index: usize, total: usize, step: &Step) {
        self.started.get_or_insert_with(std::time::Instant::now);
        let described = describe(step);
        let message = format!("step {}/{total} {described}", index + 1);
        self.under_way.insert(index, described);
        let done = self.bar.as_ref().map_or(0, |b| b.position() as usize);
        self.show(done, total, &message);
    }

    fn finished(&mut self, index: usize, total: usize, done: &Done<'_>) {
        let described = self.under_way.remove(&index).unwrap_or_default();
        let rate = self
            .started
            .map(|t| t.elapsed().as_secs_f64())
            .filter(|&secs| secs >= 1.0)
            .map(|secs| format!(", {:.0} steps/s", (index + 1) as f64 / secs))
            .unwrap_or_default();
        let message = format!("step {}/{total}{rate} done: {described}", index + 1);
        self.show(index + 1, total, &message);
        match done {
            Done::Generated(key) => self.line(&format!("{}.", key_line(key))),
            Done::Resumed(key) => self.line(&format!(
                "{}, resumed: generated by the interrupted run.",
                key_line(key)
            )),
            Done::Wrapped { key, out, held } => {
                if *held == Held::Found {
                    self.line(&format!("{}.", key_line(key)));
                }
                self.line(&format!(
                    "Wrote {}/ — next: sh {}",
                    visible(&out.to_string_lossy()),
                    visible(&out.join("import.sh").to_string_lossy())
                ));
            }
            Done::Destroyed { label, expect_kcv } => self.line(&format!(
                "Destroyed key {:?} (KCV {expect_kcv}{}, checked first).",
                label.as_str(),
                inline_words(expect_kcv)
            )),
        }
    }

    fn fewer_sessions(&mut self, asked: usize, running: usize, why: &FewerSessions) {
        let warn = || {
            errln!(
                "keyrite: warning: {asked} sessions were asked for; the steps run on {running}: {why}"
            );
        };
        match &self.bar {
            Some(bar) => bar.suspend(warn),
            None => warn(),
        }
    }
}

/// A key with its check value, as a step's line begins.
fn key_line(key: &KeyRecord) -> String {
    let kcv = key.kcv.as_deref().unwrap_or("none");
    format!(
        "Key {:?} ({}): KCV {kcv}{} ({})",
        key.label.as_str(),
        key.spec,
        inline_words(kcv),
        key.kcv_method
    )
}

/// `text` in at most `columns` characters: whole, or cut after its last word that fits, with
/// "…" (a word longer than the line is cut where the line ends).
fn fit(text: &str, columns: usize) -> String {
    if text.chars().count() <= columns {
        return text.to_owned();
    }
    let room: String = text.chars().take(columns.saturating_sub(1)).collect();
    let whole_words = match text.chars().nth(room.chars().count()) {
        Some(' ' | ',' | ':' | '.') => room.as_str(),
        _ => room
            .rfind(' ')
            .map_or(room.as_str(), |space| &room[..space]),
    };
    format!("{}…", whole_words.trim_end_matches([' ', ',', ':']))
}

/// The step under way, as the bar shows it.
fn describe(step: &Step) -> String {
    match step {
        Step::Generate {
            key_label,
            key_spec,
            ..
        } => format!("generate {} key {:?}", key_spec.name(), key_label.as_str()),
        Step::Wrap { key_label, out, .. } => format!(
            "{} {:?} into {}",
            step.action(),
            key_label.as_str(),
            visible(out)
        ),
        Step::Destroy { key_label, .. } => format!("destroy {:?}", key_label.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn a_message_too_long_for_the_line_is_cut_after_a_whole_word() {
        let text = "step 0/6 checking step 2: a trial wrap, before anything changes";
        assert_eq!(fit(text, 80), text);
        assert_eq!(fit(text, text.len()), text);
        assert_eq!(
            fit(text, 48),
            "step 0/6 checking step 2: a trial wrap, before…"
        );
        assert_eq!(fit(text, 43), "step 0/6 checking step 2: a trial wrap…");
        assert_eq!(fit(text, 39), "step 0/6 checking step 2: a trial wrap…");
        assert_eq!(fit("generate-a-very-long-label", 10), "generate-…");
        assert_eq!(fit("anything", 0), "…");
    }
}
