//! When `ferry push` says that it is waiting, and when it stops waiting.
//!
//! What it is for: watching the queue's progress (files and bytes) and deciding, from how
//! long nothing has moved, whether to say why the queue waits (after [`REPORT_AFTER`],
//! then every [`REPORT_EVERY`]) or to give up (after `--patience`). A rerun continues
//! where the push stopped, so giving up loses nothing.
//!
//! What it must never do: read the clock itself (the caller passes `now`), or look at
//! anything but the progress counts: a retry that failed again is not movement, and
//! neither are the bytes a retry sends again (to a server that takes a body and never
//! answers, every attempt sends the same bytes; only a new high of bytes done counts).

use std::time::Duration;

use ferry::Progress;
use tokio::time::Instant;

/// Nothing moved for this long: say why the queue waits.
pub const REPORT_AFTER: Duration = Duration::from_secs(10);
/// While nothing moves, say it again this often.
pub const REPORT_EVERY: Duration = Duration::from_secs(30);

/// Probes of a down host fit in the patience at least this many times over: each goes to
/// the transfer that has waited longest, so that many transfers are tried before a push
/// gives up (and a rerun starts with the ones it did not reach).
pub const PROBES_PER_PATIENCE: u32 = 20;
/// Probes of a down host are never further apart than this (the library's default).
const LONGEST_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// Nor closer together than this, however short the patience.
const SHORTEST_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// The longest wait between two probes of a host that keeps failing, for `patience`
/// (`BreakerPolicy::max_cooldown`): 15 s for the default 300 s.
pub fn probe_interval_cap(patience: Duration) -> Duration {
    (patience / PROBES_PER_PATIENCE).clamp(SHORTEST_PROBE_INTERVAL, LONGEST_PROBE_INTERVAL)
}

/// What the caller should do after an observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Wait,
    /// Say why the queue waits; nothing has moved for this long.
    Report(Duration),
    /// Stop: nothing has moved for the whole patience.
    GiveUp(Duration),
}

/// The file counts whose change is movement (bytes count only past their highest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    files_total: u64,
    files_done: u64,
    files_failed: u64,
}

impl From<&Progress> for Snapshot {
    fn from(progress: &Progress) -> Self {
        Self {
            files_total: progress.files_total,
            files_done: progress.files_done,
            files_failed: progress.files_failed,
        }
    }
}

#[derive(Debug)]
pub struct Patience {
    limit: Duration,
    last_seen: Option<Snapshot>,
    /// The most bytes done seen: bytes sent again by a retry stay below it.
    most_bytes_done: u64,
    last_movement: Instant,
    last_report: Option<Instant>,
}

impl Patience {
    pub fn new(limit: Duration, now: Instant) -> Self {
        Self {
            limit,
            last_seen: None,
            most_bytes_done: 0,
            last_movement: now,
            last_report: None,
        }
    }

    /// The whole patience: how long nothing may move.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Takes a fresh poll of the queue's progress.
    pub fn observe(&mut self, progress: &Progress, now: Instant) -> Verdict {
        let snapshot = Snapshot::from(progress);
        let new_bytes = progress.bytes_done > self.most_bytes_done;
        let files_changed = self.last_seen != Some(snapshot);
        if files_changed || new_bytes {
            self.last_seen = Some(snapshot);
            // Files that came, went or ended change what `bytes_done` adds up (a saved file
            // forgotten and fetched again takes its bytes out): the high starts over from
            // what it is now.
            self.most_bytes_done = if files_changed {
                progress.bytes_done
            } else {
                progress.bytes_done.max(self.most_bytes_done)
            };
            self.last_movement = now;
            self.last_report = None;
            return Verdict::Wait;
        }
        let idle = now.saturating_duration_since(self.last_movement);
        if idle >= self.limit {
            return Verdict::GiveUp(idle);
        }
        let report_due = match self.last_report {
            None => idle >= REPORT_AFTER.min(self.limit / 2),
            Some(last) => now.saturating_duration_since(last) >= REPORT_EVERY,
        };
        if report_due {
            self.last_report = Some(now);
            return Verdict::Report(idle);
        }
        Verdict::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(bytes_done: u64) -> Progress {
        let mut progress = Progress::default();
        progress.files_total = 3;
        progress.bytes_total = 300;
        progress.bytes_done = bytes_done;
        progress
    }

    #[test]
    fn reports_after_ten_idle_seconds_then_every_thirty_and_gives_up_at_the_limit() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut patience = Patience::new(Duration::from_secs(100), start);
        let idle = progress(10);
        let verdicts: Vec<(u64, Verdict)> = [0, 5, 10, 11, 39, 40, 70, 99, 100]
            .into_iter()
            .map(|secs| (secs, patience.observe(&idle, at(secs))))
            .collect();
        let seconds = |secs| Duration::from_secs(secs);
        assert_eq!(
            verdicts,
            vec![
                (0, Verdict::Wait),
                (5, Verdict::Wait),
                (10, Verdict::Report(seconds(10))),
                (11, Verdict::Wait),
                (39, Verdict::Wait),
                (40, Verdict::Report(seconds(40))),
                (70, Verdict::Report(seconds(70))),
                (99, Verdict::Wait),
                (100, Verdict::GiveUp(seconds(100))),
            ]
        );
    }

    #[test]
    fn any_movement_starts_the_wait_over() {
        let start = Instant::now();
        let mut patience = Patience::new(Duration::from_secs(20), start);
        assert_eq!(patience.observe(&progress(1), start), Verdict::Wait);
        let later = start + Duration::from_secs(19);
        assert_eq!(patience.observe(&progress(2), later), Verdict::Wait);
        let after_limit = start + Duration::from_secs(25);
        assert_eq!(patience.observe(&progress(2), after_limit), Verdict::Wait);
        let limit_after_movement = later + Duration::from_secs(20);
        assert_eq!(
            patience.observe(&progress(2), limit_after_movement),
            Verdict::GiveUp(Duration::from_secs(20))
        );
    }

    #[test]
    fn bytes_a_retry_sends_again_are_not_movement() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut patience = Patience::new(Duration::from_secs(20), start);
        assert_eq!(patience.observe(&progress(0), at(0)), Verdict::Wait);
        assert_eq!(patience.observe(&progress(200), at(1)), Verdict::Wait);
        // The attempt stalls and is retried: its bytes drop, then are sent again.
        assert_eq!(patience.observe(&progress(0), at(6)), Verdict::Wait);
        assert_eq!(patience.observe(&progress(200), at(7)), Verdict::Wait);
        assert_eq!(
            patience.observe(&progress(200), at(21)),
            Verdict::GiveUp(Duration::from_secs(20)),
            "nothing moved past what was sent at 1 s"
        );
        let mut patience = Patience::new(Duration::from_secs(20), start);
        patience.observe(&progress(200), at(0));
        assert_eq!(patience.observe(&progress(201), at(19)), Verdict::Wait);
        assert_eq!(
            patience.observe(&progress(201), at(38)),
            Verdict::Report(Duration::from_secs(19)),
            "a new high is movement: idle since 19 s, not since 0 s"
        );
    }

    #[test]
    fn a_file_forgotten_and_fetched_again_moves_from_its_new_start() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut patience = Patience::new(Duration::from_secs(20), start);
        let mut saved = progress(300);
        saved.files_done = 1;
        assert_eq!(patience.observe(&saved, at(0)), Verdict::Wait);
        // Its record is purged and it is enqueued again: 300 bytes fewer, fetched anew.
        assert_eq!(patience.observe(&progress(0), at(1)), Verdict::Wait);
        for secs in 2..40 {
            assert_eq!(
                patience.observe(&progress(secs * 5), at(secs)),
                Verdict::Wait,
                "bytes arriving at {secs} s are movement, though below the 300 counted before"
            );
        }
    }

    #[test]
    fn many_probes_of_a_down_host_fit_in_the_patience() {
        let cap = |secs: u64| probe_interval_cap(Duration::from_secs(secs));
        assert_eq!(cap(300), Duration::from_secs(15));
        assert_eq!(cap(6), Duration::from_millis(300));
        assert_eq!(cap(1), SHORTEST_PROBE_INTERVAL);
        assert_eq!(cap(86_400), LONGEST_PROBE_INTERVAL);
    }

    #[test]
    fn a_short_patience_reports_at_half_of_it() {
        let start = Instant::now();
        let mut patience = Patience::new(Duration::from_secs(4), start);
        assert_eq!(patience.observe(&progress(0), start), Verdict::Wait);
        assert_eq!(
            patience.observe(&progress(0), start + Duration::from_secs(2)),
            Verdict::Report(Duration::from_secs(2))
        );
    }
}
