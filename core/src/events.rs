//! Events for the app: per-transfer changes, delivered after they are durable.
//!
//! One broadcast channel; each [`Subscription`] is a receiver and unsubscribes when dropped.
//! Progress events are throttled by the actor (at most one per transfer per
//! `progress_interval`), so a UI thread is never flooded. A subscriber that still falls
//! behind gets one [`TransferEvent::Lagged`] saying how many it missed, and can call
//! `list` to resynchronise. Sending never blocks the actor.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::{HostStatus, TransferError, TransferId};

/// Something that happened to a transfer, or to the queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TransferEvent {
    Started {
        id: TransferId,
        attempt: u32,
    },
    Progress {
        id: TransferId,
        bytes_sent: u64,
        bytes_total: u64,
    },
    /// The attempt failed; the transfer is queued again and starts after `delay`.
    Retrying {
        id: TransferId,
        attempt: u32,
        delay: Duration,
        error: TransferError,
    },
    Succeeded {
        id: TransferId,
    },
    Failed {
        id: TransferId,
        error: TransferError,
    },
    /// The server refused the credentials; sign the user in, then `resume`.
    AuthRequired {
        id: TransferId,
        error: TransferError,
    },
    Paused {
        id: TransferId,
    },
    /// Queued again by `resume` or `retry`.
    Requeued {
        id: TransferId,
    },
    Cancelled {
        id: TransferId,
    },
    /// The OS made no progress on this transfer's task for `platform_stall_timeout` while
    /// the app was in the foreground: the task was cancelled and the transfer runs
    /// in-process instead.
    TakenBackFromPlatform {
        id: TransferId,
    },
    /// A diagnostic: work is pending and the network is up, but nothing has moved for
    /// `idle_for`. `reason` is the engine's best explanation; `hosts` says, per host with
    /// work, why it waits (as `TransferQueue::host_status`).
    QueueStalled {
        reason: String,
        idle_for: Duration,
        hosts: Vec<HostStatus>,
    },
    /// This subscriber fell behind and `missed` events were dropped for it.
    Lagged {
        missed: u64,
    },
}

pub(crate) const EVENT_CAPACITY: usize = 16 * 1024;

/// A stream of events. Dropping it unsubscribes.
pub struct Subscription {
    receiver: broadcast::Receiver<TransferEvent>,
}

impl Subscription {
    pub(crate) fn new(receiver: broadcast::Receiver<TransferEvent>) -> Self {
        Self { receiver }
    }

    /// The next event, or `None` once the queue has shut down.
    pub async fn next(&mut self) -> Option<TransferEvent> {
        match self.receiver.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                Some(TransferEvent::Lagged { missed })
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<TransferEvent> {
        match self.receiver.try_recv() {
            Ok(event) => Some(event),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Some(TransferEvent::Lagged { missed })
            }
            Err(_) => None,
        }
    }
}
