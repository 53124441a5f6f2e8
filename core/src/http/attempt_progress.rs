//! [`AttemptProgress`]: the live counters of one attempt (bytes sent, last activity,
//! whether the final answer arrived), shared by the attempt, its body stream, its stall
//! watchdog and the actor.
//!
//! Must never decide anything: it counts and answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Live counters of one attempt, shared between the attempt and the actor.
#[derive(Debug)]
pub(crate) struct AttemptProgress {
    pub bytes_sent: AtomicU64,
    pub(super) bytes_moved: Arc<AtomicU64>,
    started: Instant,
    /// Milliseconds after `started` of the last activity.
    last_activity_ms: AtomicU64,
    /// The final answer's status arrived: the outcome is decided, the watchdog stands down.
    answered: AtomicBool,
}

impl AttemptProgress {
    pub(crate) fn new(bytes_moved: Arc<AtomicU64>) -> Self {
        Self {
            bytes_sent: AtomicU64::new(0),
            bytes_moved,
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            answered: AtomicBool::new(false),
        }
    }

    /// The final answer's status arrived: no stall can change the outcome any more.
    pub(super) fn mark_answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    pub(super) fn is_answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    pub(crate) fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// For an attempt that runs elsewhere (an OS task): the total it reports. Growth is
    /// added to the lane's byte counter, which feeds the aggregate rate.
    pub(crate) fn set_bytes_sent(&self, total: u64) {
        let before = self.bytes_sent.swap(total, Ordering::Relaxed);
        self.bytes_moved
            .fetch_add(total.saturating_sub(before), Ordering::Relaxed);
        self.touch();
    }

    /// The attempt starts sending again from the first byte (a retry within the attempt).
    pub(crate) fn restart(&self) {
        self.bytes_sent.store(0, Ordering::Relaxed);
        self.touch();
    }

    /// A download's attempt continues after the `held` bytes its file already has: they
    /// are the transfer's bytes from the start (a resumed download never seems to start
    /// over), but not bytes moved now (the rate).
    pub(super) fn start_at(&self, held: u64) {
        self.bytes_sent.store(held, Ordering::Relaxed);
        self.touch();
    }

    /// A download's attempt took `count` more bytes from the server.
    pub(super) fn record_received(&self, count: u64) {
        self.bytes_sent.fetch_add(count, Ordering::Relaxed);
        self.bytes_moved.fetch_add(count, Ordering::Relaxed);
        self.touch();
    }

    pub(crate) fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(elapsed, Ordering::Relaxed);
    }

    pub(super) fn last_activity(&self) -> Instant {
        self.started + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }
}
