//! The whole-queue stall diagnostic: work is pending, the network is up, and nothing has
//! moved for `queue_stall_after`. Then one `QueueStalled` event says why, as far as the
//! engine can tell, until something moves again.
//!
//! A diagnostic only: it must never change a transfer's state.

use std::time::Duration;

use rusqlite::Connection;
use tokio::time::Instant;

use super::effects::Effects;
use super::engine::Engine;
use crate::events::TransferEvent;
use crate::store;

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
    fn observe_bytes(&mut self, bytes_moved: u64, now: Instant) {
        if bytes_moved != self.last_bytes_moved {
            self.last_bytes_moved = bytes_moved;
            self.moved(now);
        }
    }

    /// When a stall would be due, unless one was already reported.
    pub(super) fn deadline(&self, after: Duration) -> Option<Instant> {
        (!self.reported).then(|| self.last_movement + after)
    }
}

impl Engine {
    /// Fires `QueueStalled` once per stall.
    pub(super) fn watch_for_queue_stall(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let now = Instant::now();
        let moved = self
            .lane
            .bytes_moved
            .load(std::sync::atomic::Ordering::Relaxed);
        self.stall_watch.observe_bytes(moved, now);
        let after = self.config.platform.queue_stall_after;
        let Some(deadline) = self.stall_watch.deadline(after) else {
            return Ok(());
        };
        if now < deadline || !self.network.online {
            return Ok(());
        }
        if self.in_flight.is_empty() && !store::any_runnable(tx)? {
            return Ok(());
        }
        let reason = self.stall_reason(tx, now)?;
        log::warn!("the queue has not moved for {after:?}: {reason}");
        self.stall_watch.reported = true;
        effects.events.push(TransferEvent::QueueStalled {
            reason,
            idle_for: now.saturating_duration_since(self.stall_watch.last_movement),
            hosts: self.host_statuses(tx)?,
        });
        Ok(())
    }

    /// The engine's best explanation of a stall, most specific first.
    fn stall_reason(&self, tx: &Connection, now: Instant) -> rusqlite::Result<String> {
        let on_platform = self.in_flight.on_platform();
        let in_process = self.in_flight.len() - on_platform;
        if on_platform > 0 && in_process == 0 {
            return Ok(format!(
                "{on_platform} OS background tasks report no progress (the OS may be \
                 holding them: app in the background, discretionary, or throttled)"
            ));
        }
        if !self.in_flight.is_empty() {
            return Ok(format!(
                "{} requests in flight ({on_platform} on the OS) moved no bytes",
                self.in_flight.len()
            ));
        }
        let blocked: Vec<String> = self.breakers.blocked_hosts(now).collect();
        if !blocked.is_empty() {
            return Ok(format!(
                "circuit breaker open for {}: the server keeps failing",
                blocked.join(", ")
            ));
        }
        if store::next_retry_at(tx, self.clock.now_ms())?.is_some() {
            return Ok("every queued transfer is waiting for its retry time".into());
        }
        if self.network.expensive || self.network.constrained {
            return Ok("queued transfers may not use this expensive or constrained network".into());
        }
        Ok("queued work is not starting; no cause is known".into())
    }
}
