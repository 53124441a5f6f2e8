//! The public snapshot of one transfer, as stored.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::state::{Input, transition};
use crate::{TransferError, TransferId, TransferState, Upload};

/// One transfer as the store holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: TransferId,
    pub upload: Upload,
    pub state: TransferState,
    /// The source's size at enqueue.
    pub size: u64,
    /// Bytes the server confirmed or, while running, bytes sent so far.
    pub bytes_sent: u64,
    /// Attempts used up: started since the transfer last moved forward (an attempt that
    /// advanced a resumable upload by at least 1 MiB starts the count over, one that found
    /// no file descriptor is given back). `RetryPolicy::max_attempts` bounds it.
    pub attempts: u32,
    /// When a queued transfer may start next (after a backoff).
    pub next_attempt_at: SystemTime,
    /// The most recent failure, kept after a retry succeeds until the transfer succeeds.
    pub last_error: Option<TransferError>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
    /// The source's modification time at enqueue (nanoseconds since the epoch).
    pub(crate) source_mtime_ns: i64,
    /// `host:port` of the destination.
    pub(crate) host: String,
    /// The row's key in the store: the actor's hot lookups and updates use it, one B-tree
    /// search instead of two through the `id` index.
    pub(crate) seq: i64,
}

impl Transfer {
    /// `host:port` of the destination: what per-host limits and breakers count by.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Queues a running transfer again, due `now`, after an attempt that ended without a
    /// verdict (shutdown, pause, an OS task cancelled or lost). Such an attempt does not
    /// use up the retry budget. Returns `false`, changing nothing, if it was not running.
    pub(crate) fn requeue_without_verdict(&mut self, now: SystemTime) -> bool {
        let Ok((next, _)) = transition(&self.state, &Input::Interrupted) else {
            return false;
        };
        self.state = next;
        self.bytes_sent = 0;
        self.attempts = self.attempts.saturating_sub(1);
        self.next_attempt_at = now;
        true
    }
}
