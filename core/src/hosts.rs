//! Why work for a host waits: what the app reads through `TransferQueue::host_status`
//! and what `QueueStalled` carries.
//!
//! Plain data, put together by the actor from its breakers (in memory) and the store
//! (`store/hosts.rs`). It must never carry a URL or a header: only the `host:port`.

use std::time::SystemTime;

use serde::Serialize;

use crate::error::TransferError;

/// One host with work queued or running, and why that work waits.
///
/// It may gain fields: tests start from `HostStatus::default()` (a healthy host with
/// nothing waiting) and set fields.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    /// `host:port` of the destinations.
    pub host: String,
    /// What its circuit breaker says.
    pub health: HostHealth,
    /// Transfers to this host waiting to run (due now or later).
    pub queued: u64,
    /// Transfers to this host that have started (state `running`): being sent, in-process or
    /// by the OS, or claimed and about to be sent.
    pub running: u64,
    /// When the next request to this host may go out: the later of the breaker's end and
    /// the earliest retry time of its queued transfers. `None` when nothing is queued.
    pub next_attempt_at: Option<SystemTime>,
    /// The most recent failure from this host (since this queue was opened, else the
    /// latest one stored with a queued transfer).
    pub last_error: Option<TransferError>,
}

/// What the host's circuit breaker says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum HostHealth {
    /// Requests go out freely.
    #[default]
    Healthy,
    /// Recent requests failed, but not enough in a row to stop sending.
    Failing {
        /// Failures in a row so far; at `BreakerPolicy::failure_threshold` the breaker
        /// opens.
        consecutive_failures: u32,
    },
    /// The host kept failing: nothing is sent to it until `until`, then one probe.
    Open {
        /// When the one probe request may go out.
        until: SystemTime,
    },
    /// One probe request is out (or may go now); the rest wait for its outcome.
    Probing,
}
