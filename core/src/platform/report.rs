//! [`PlatformReport`]: what reaches the actor about OS tasks, from the shim (progress, a
//! finished task) and from the driver (started, rejected, parts left out, outstanding).
//!
//! Must never act on a report: the actor decides (`actor/platform_reports.rs`).

use super::service::PlatformOutcome;
use crate::outcome::AttemptOutcome;

/// What reaches the actor about OS tasks: the shim's reports, and the driver's.
pub(crate) enum PlatformReport {
    /// The shim: bytes sent so far.
    Progress {
        key: String,
        bytes_sent: u64,
        bytes_total: u64,
    },
    /// The shim: the task ended.
    Finished {
        key: String,
        outcome: PlatformOutcome,
    },
    /// The driver: the service took the task (its stall timer starts now, not when the
    /// body was being prepared or credentials asked for).
    Started { key: String },
    /// The driver: the task could not be started (source changed, body not written, the
    /// service refused).
    Rejected {
        key: String,
        outcome: AttemptOutcome,
    },
    /// The driver: files of a packed batch that were left out of its body (source gone or
    /// changed), by transfer id. The rest of the batch goes on.
    PartsLeftOut {
        key: String,
        parts: Vec<(String, AttemptOutcome)>,
    },
    /// The driver: the service's outstanding tasks, for query number `query`.
    Outstanding { query: u64, keys: Vec<String> },
    /// The driver: the service's answer to `keep_app_running` (`Err`: why it refused).
    KeepAliveAnswered { granted: Result<(), String> },
    /// The shim: the OS ended the keep-alive it had granted.
    KeepAliveEnded,
}
