//! Progress bars on the terminal: files done/total and bytes done/total with rate and ETA
//! (for downloads, whose sizes are known only as they arrive, bytes done so far and rate).
//!
//! What it is for: drawing what the caller polled from the queue (`Progress`, ~4 times a
//! second) and counted from its events (`Tally`). The rate and time left are the engine's,
//! not indicatif's own estimate, so the bars and the summary agree. Bars go to stderr and
//! are hidden entirely when asked (stdout not a terminal, `--json`).
//!
//! What it must never do: talk to the queue, or write to stdout (stdout belongs to the
//! summary, which scripts parse).

use std::time::Duration;

use ferry::Progress;
use indicatif::{
    HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle,
};

use crate::tally::Tally;

pub struct ProgressUi {
    /// Owns the bars' shared drawing state.
    multi: MultiProgress,
    visible: bool,
    files: ProgressBar,
    bytes: ProgressBar,
    /// Some files' sizes are not known before they arrive (downloads): the byte total
    /// would be too low, so bytes are shown as a count without a total or time left.
    sizes_unknown: bool,
    /// The files this run brings: the files bar is never shorter while the queue does not
    /// hold them all yet.
    expected_files: u64,
}

impl ProgressUi {
    /// Bars on stderr when `visible`, otherwise nothing at all is drawn; the run brings
    /// `files_expected` files (an empty bar of them before the first progress, not a full bar of `0/0`).
    pub fn new(visible: bool, files_expected: u64) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr_with_hz(8)
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let files = multi.add(ProgressBar::new(files_expected));
        files.set_style(style("{prefix:>5} [{bar:24.cyan/blue}] {pos}/{len}  {msg}"));
        files.set_prefix("files");
        let bytes = multi.add(ProgressBar::new(0));
        bytes.set_style(style(
            "{prefix:>5} [{bar:24.green/blue}] {binary_bytes}/{binary_total_bytes}  {msg}",
        ));
        bytes.set_prefix("bytes");
        Self {
            multi,
            visible,
            files,
            bytes,
            sizes_unknown: false,
            expected_files: files_expected,
        }
    }

    /// For a run of downloads, whose sizes the queue learns only as they arrive: bytes
    /// are counted as they come, without a total that would read `0 B/0 B`.
    pub fn sizes_unknown(mut self) -> Self {
        self.bytes
            .set_style(style("{prefix:>5} {binary_bytes} so far  {msg}"));
        self.sizes_unknown = true;
        self
    }

    /// Says what is happening before the first progress arrives (scanning, enqueueing).
    pub fn phase(&self, text: &str) {
        self.files.set_message(text.to_owned());
    }

    /// Redraws from a fresh poll of the queue and the event counts.
    pub fn update(&self, progress: &Progress, tally: &Tally) {
        let files_total = progress.files_total.max(self.expected_files);
        self.files.set_length(files_total);
        self.files
            .set_position(progress.files_done.min(files_total));
        self.files.set_message(format!(
            "failed {}  retries {}  stalls {}",
            progress.files_failed, tally.retries, tally.stalls_recovered
        ));
        let rate = HumanBytes(progress.bytes_per_second.max(0.0) as u64);
        if self.sizes_unknown {
            self.bytes
                .set_length(progress.bytes_total.max(progress.bytes_done));
            self.bytes.set_position(progress.bytes_done);
            self.bytes.set_message(format!(
                "{rate}/s  (each file's size is known once it arrives)"
            ));
            return;
        }
        self.bytes.set_length(progress.bytes_total);
        self.bytes
            .set_position(progress.bytes_done.min(progress.bytes_total));
        let eta = progress.eta.map_or_else(|| "-".to_owned(), short_duration);
        self.bytes.set_message(format!("{rate}/s  ETA {eta}"));
    }

    /// Prints a line on stderr, above the bars while they are drawn.
    pub fn println(&self, line: &str) {
        if !self.visible || self.multi.println(line).is_err() {
            eprintln!("{line}");
        }
    }

    /// Leaves the final state of the bars on screen.
    pub fn finish(&self) {
        self.files.abandon();
        self.bytes.abandon();
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn short_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return "<1s".into();
    }
    HumanDuration(duration).to_string()
}
