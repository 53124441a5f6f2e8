//! The recent throughput of one in-process request, for the expiry estimate.
//!
//! An exponentially weighted average of bytes per second over completed attempts, shared
//! by every attempt task. Before the first sample, the configured assumption is used. It
//! must never block: one short lock per attempt.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Weight of the newest sample.
const NEWEST_WEIGHT: f64 = 0.3;

#[derive(Debug)]
pub(crate) struct ThroughputTracker {
    assumed: f64,
    average: Mutex<Option<f64>>,
}

impl ThroughputTracker {
    pub(crate) fn new(assumed_bytes_per_second: u64) -> Self {
        Self {
            assumed: assumed_bytes_per_second as f64,
            average: Mutex::new(None),
        }
    }

    /// Bytes per second one request recently achieved, or the assumption.
    pub(crate) fn estimate(&self) -> f64 {
        let average = *self.average.lock().unwrap_or_else(PoisonError::into_inner);
        average.unwrap_or(self.assumed)
    }

    /// A request moved `bytes` in `elapsed`.
    pub(crate) fn record(&self, bytes: u64, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if bytes == 0 || seconds <= 0.0 {
            return;
        }
        let sample = bytes as f64 / seconds;
        let mut average = self.average.lock().unwrap_or_else(PoisonError::into_inner);
        *average = Some(match *average {
            None => sample,
            Some(previous) => previous + NEWEST_WEIGHT * (sample - previous),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assumption_holds_until_the_first_sample_then_samples_pull_the_average() {
        let tracker = ThroughputTracker::new(1000);
        assert_eq!(tracker.estimate(), 1000.0);
        tracker.record(100, Duration::from_secs(1));
        assert_eq!(tracker.estimate(), 100.0);
        tracker.record(1100, Duration::from_secs(1));
        assert!((tracker.estimate() - 400.0).abs() < 1e-9);
        tracker.record(0, Duration::from_secs(1));
        tracker.record(10, Duration::ZERO);
        assert!((tracker.estimate() - 400.0).abs() < 1e-9);
    }
}
