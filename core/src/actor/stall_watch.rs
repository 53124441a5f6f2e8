//! The whole-queue stall diagnostic: work is pending, the network is up, and nothing has
//! moved for `queue_stall_after`. Then one `QueueStalled` event says why, as far as the
//! engine can tell, until something moves again.
//!
//! A diagnostic only: it must never change a transfer's state. The engine gathers the
//! facts (`engine.rs`); this module keeps the clock and words the reason.

use std::time::Duration;

use tokio::time::Instant;

/// When the queue last moved, and whether its stall was already reported.
pub(super) struct StallWatch {
    last_movement: Instant,
    last_bytes_moved: u64,
    reported: bool,
}

impl StallWatch {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            last_movement: now,
            last_bytes_moved: 0,
            reported: false,
        }
    }

    /// Something moved: bytes, a completion, new work, the network came back.
    pub(super) fn moved(&mut self, now: Instant) {
        self.last_movement = now;
        self.reported = false;
    }

    /// Counts movement of the in-process lane's byte counter.
    pub(super) fn observe_bytes(&mut self, bytes_moved: u64, now: Instant) {
        if bytes_moved != self.last_bytes_moved {
            self.last_bytes_moved = bytes_moved;
            self.moved(now);
        }
    }

    /// The stall was reported at `now`: not again until something moves. Returns how
    /// long nothing moved.
    pub(super) fn report(&mut self, now: Instant) -> Duration {
        self.reported = true;
        now.saturating_duration_since(self.last_movement)
    }

    /// When a stall would be due, unless one was already reported.
    pub(super) fn deadline(&self, after: Duration) -> Option<Instant> {
        (!self.reported).then(|| self.last_movement + after)
    }
}

/// What the engine knows when the queue stalled, most specific first in [`Self::reason`].
pub(super) struct StallFacts {
    pub(super) in_flight: usize,
    pub(super) on_platform: usize,
    /// Hosts behind an open breaker.
    pub(super) blocked_hosts: Vec<String>,
    /// A queued transfer waits for its retry time.
    pub(super) retry_waiting: bool,
    pub(super) network_expensive_or_constrained: bool,
    /// The app has told the queue what the network is.
    pub(super) network_reported: bool,
}

impl StallFacts {
    /// The engine's best explanation of a stall, most specific first.
    pub(super) fn reason(&self) -> String {
        let on_platform = self.on_platform;
        let in_process = self.in_flight - on_platform;
        if on_platform > 0 && in_process == 0 {
            return format!(
                "{on_platform} OS background tasks report no progress (the OS may be \
                 holding them: app in the background, discretionary, or throttled)"
            );
        }
        if self.in_flight > 0 {
            return format!(
                "{} requests in flight ({on_platform} on the OS) moved no bytes",
                self.in_flight
            );
        }
        if !self.blocked_hosts.is_empty() {
            return format!(
                "circuit breaker open for {}: the server keeps failing",
                self.blocked_hosts.join(", ")
            );
        }
        if self.retry_waiting {
            return "every queued transfer is waiting for its retry time".into();
        }
        if self.network_expensive_or_constrained && !self.network_reported {
            return "the app has not reported the network, so Ferry treats it as expensive and \
                    constrained: queued transfers that may not use such a network wait until \
                    the app calls set_network"
                .into();
        }
        if self.network_expensive_or_constrained {
            return "queued transfers may not use this expensive or constrained network".into();
        }
        "queued work is not starting; no cause is known".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> StallFacts {
        StallFacts {
            in_flight: 0,
            on_platform: 0,
            blocked_hosts: Vec::new(),
            retry_waiting: false,
            network_expensive_or_constrained: false,
            network_reported: true,
        }
    }

    #[test]
    fn a_stall_is_reported_once_until_something_moves() {
        let start = Instant::now();
        let after = Duration::from_secs(60);
        let mut watch = StallWatch::new(start);
        assert_eq!(watch.deadline(after), Some(start + after));
        watch.observe_bytes(10, start + Duration::from_secs(30));
        assert_eq!(watch.deadline(after), Some(start + Duration::from_secs(90)));
        let idle_for = watch.report(start + Duration::from_secs(100));
        assert_eq!(idle_for, Duration::from_secs(70));
        assert_eq!(watch.deadline(after), None, "reported once");
        watch.observe_bytes(10, start + Duration::from_secs(200));
        assert_eq!(
            watch.deadline(after),
            None,
            "the same bytes are no movement"
        );
        watch.moved(start + Duration::from_secs(300));
        assert!(watch.deadline(after).is_some());
    }

    #[test]
    fn the_most_specific_reason_comes_first() {
        let mut facts = facts();
        assert!(facts.reason().contains("no cause is known"));
        facts.network_expensive_or_constrained = true;
        assert!(facts.reason().contains("expensive or constrained"));
        facts.retry_waiting = true;
        assert!(facts.reason().contains("retry time"));
        facts.blocked_hosts = vec!["a:80".into()];
        assert!(facts.reason().contains("circuit breaker open for a:80"));
        facts.in_flight = 3;
        facts.on_platform = 1;
        assert!(
            facts
                .reason()
                .contains("3 requests in flight (1 on the OS)")
        );
        facts.on_platform = 3;
        assert!(facts.reason().starts_with("3 OS background tasks"));
    }
}
