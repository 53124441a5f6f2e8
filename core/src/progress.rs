//! Aggregate progress: files and bytes done and total, transfer rate, time remaining.
//!
//! Totals come from the store (so they are always right, never a drifting counter); the
//! rate comes from a short sliding window of bytes moved. Nothing here changes state.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// How many transfers are in one state, and their files' bytes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StateCount {
    /// The state counted.
    pub state: crate::StateKind,
    /// How many transfers are in it.
    pub files: u64,
    /// The sum of their sources' sizes at enqueue, in bytes.
    pub bytes: u64,
}

/// A summary of the whole queue, from [`crate::TransferQueue::progress`]. Cancelled
/// transfers are not counted; purged ones are gone.
///
/// It may gain fields: build one from `Progress::default()` (in tests) and set fields.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// Transfers in every state but cancelled.
    pub files_total: u64,
    /// Transfers that succeeded.
    pub files_done: u64,
    /// Transfers that failed for good (until retried).
    pub files_failed: u64,
    /// The sum of the sizes of the `files_total` transfers, in bytes.
    pub bytes_total: u64,
    /// Bytes of succeeded files, plus bytes sent so far by running attempts.
    pub bytes_done: u64,
    /// Bytes per second over the last few seconds.
    pub bytes_per_second: f64,
    /// Time left for the remaining bytes at the current rate; `None` while nothing moves.
    pub eta: Option<Duration>,
}

const WINDOW: Duration = Duration::from_secs(5);

/// Bytes moved per second over a sliding window of samples.
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    samples: VecDeque<(Instant, u64)>,
}

impl RateMeter {
    /// Records that `total_moved` bytes have moved in all, as of `now`.
    pub(crate) fn sample(&mut self, now: Instant, total_moved: u64) {
        self.samples.push_back((now, total_moved));
        while let Some((oldest, _)) = self.samples.front() {
            if now.duration_since(*oldest) > WINDOW && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    pub(crate) fn bytes_per_second(&self) -> f64 {
        let (Some((first_at, first)), Some((last_at, last))) =
            (self.samples.front(), self.samples.back())
        else {
            return 0.0;
        };
        let seconds = last_at.duration_since(*first_at).as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        last.saturating_sub(*first) as f64 / seconds
    }
}

/// Time to move `remaining` bytes at `rate` bytes per second.
pub(crate) fn eta(remaining: u64, rate: f64) -> Option<Duration> {
    if rate <= 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(remaining as f64 / rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_bytes_over_the_window() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        meter.sample(start, 0);
        meter.sample(start + Duration::from_secs(1), 1_000);
        meter.sample(start + Duration::from_secs(2), 3_000);
        assert_eq!(meter.bytes_per_second(), 1_500.0);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let start = Instant::now();
        let mut meter = RateMeter::default();
        meter.sample(start, 0);
        meter.sample(start + Duration::from_secs(1), 1_000_000);
        meter.sample(start + Duration::from_secs(10), 1_000_000);
        meter.sample(start + Duration::from_secs(11), 1_000_100);
        assert_eq!(meter.bytes_per_second(), 100.0);
    }

    #[test]
    fn eta_needs_a_rate() {
        assert_eq!(eta(100, 0.0), None);
        assert_eq!(eta(100, 50.0), Some(Duration::from_secs(2)));
    }
}
