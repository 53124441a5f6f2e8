//! Counts of what happened during a run, from the engine's event stream.
//!
//! What it is for: retries, stalls recovered (retries whose cause was a stall), waits for
//! disk space (which are no failed attempt: they use up none), and how many events this
//! subscriber missed, for the progress bars and the summary.
//!
//! What it must never do: decide whether a file succeeded or failed. Events can be missed
//! (a subscriber that falls behind gets `Lagged`), so final outcomes always come from the
//! store; these counts are a lower bound, and `events_missed` says by how much.

use ferry::{FailureKind, TransferEvent};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Attempts that failed and were queued again (not counting waits for space).
    pub retries: u64,
    /// Downloads queued again to wait for space on their volume.
    pub space_waits: u64,
    /// Retries because no bytes moved for `stall_timeout`.
    pub stalls_recovered: u64,
    /// Attempts started.
    pub attempts_started: u64,
    /// Events dropped because this subscriber fell behind.
    pub events_missed: u64,
}

impl Tally {
    pub fn record(&mut self, event: &TransferEvent) {
        match event {
            TransferEvent::Started { .. } => self.attempts_started += 1,
            TransferEvent::Retrying { error, .. }
                if error.kind == FailureKind::InsufficientSpace =>
            {
                self.space_waits += 1;
            }
            TransferEvent::Retrying { error, .. } => {
                self.retries += 1;
                if error.kind == FailureKind::Stalled {
                    self.stalls_recovered += 1;
                }
            }
            TransferEvent::Lagged { missed } => self.events_missed += missed,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry::{TransferError, TransferId};

    use super::*;

    fn retrying(kind: FailureKind) -> TransferEvent {
        TransferEvent::Retrying {
            id: TransferId::parse("0190b3a4-7a3e-7c1d-8f00-000000000001").expect("id"),
            attempt: 1,
            delay: Duration::from_secs(1),
            error: TransferError::new(kind, "x"),
        }
    }

    #[test]
    fn stalls_are_the_retries_caused_by_a_stall() {
        let mut tally = Tally::default();
        tally.record(&retrying(FailureKind::Network));
        tally.record(&retrying(FailureKind::Stalled));
        tally.record(&TransferEvent::Lagged { missed: 3 });
        tally.record(&retrying(FailureKind::InsufficientSpace));
        assert_eq!(
            tally.space_waits, 1,
            "a wait for space is no failed attempt"
        );
        assert_eq!(tally.retries, 2);
        assert_eq!(tally.stalls_recovered, 1);
        assert_eq!(tally.events_missed, 3);
    }
}
