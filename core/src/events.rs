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
///
/// Every event about a state change is sent after that change is on disk, so a UI that
/// shows it never shows something a crash could take back. Events of one transfer arrive
/// in the order they happened.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum TransferEvent {
    /// An attempt began: the transfer is running, in-process or as an OS task.
    Started {
        /// The transfer.
        id: TransferId,
        /// The attempt's number among those the transfer has used up (1 for the first;
        /// see [`crate::Transfer::attempts`]).
        attempt: u32,
    },
    /// Bytes moved on a running attempt. Sent at most once per transfer per
    /// [`crate::QueueConfig::progress_interval`], and only when the count changed.
    Progress {
        /// The transfer.
        id: TransferId,
        /// Bytes of the body the running attempt has sent so far. It can go back to a
        /// smaller number when an attempt starts over; show it, do not add it up.
        bytes_sent: u64,
        /// The source's size at enqueue, in bytes.
        bytes_total: u64,
    },
    /// The attempt failed; the transfer is queued again and starts after `delay`. Also
    /// sent, once, when a download starts to wait for space on its volume (`error`'s kind
    /// [`crate::FailureKind::InsufficientSpace`]): it was not launched, used up no
    /// attempt, and is checked again after `delay` until there is room.
    Retrying {
        /// The transfer.
        id: TransferId,
        /// The number of attempts used up so far, the failed one included.
        attempt: u32,
        /// How long the transfer waits before its next attempt: a full-jitter backoff,
        /// or the server's `Retry-After` (capped by [`crate::RetryPolicy`]).
        delay: Duration,
        /// Why the attempt failed.
        error: TransferError,
    },
    /// The server accepted the upload (a 2xx answer). Final: the transfer will not run
    /// again. The answer, with the first bytes of its body, is stored with the transfer:
    /// [`crate::TransferQueue::response`].
    Succeeded {
        /// The transfer.
        id: TransferId,
        /// The final answer's HTTP status (2xx).
        status: u16,
        /// The final answer's headers, `(name, value)`, the values of credential
        /// headers `[redacted]` ([`crate::is_credential_header`]).
        headers: Vec<(String, String)>,
    },
    /// The transfer failed for good: a permanent error (a 4xx, the source gone...) or
    /// every allowed attempt used up. It stays failed until the app calls `retry`.
    Failed {
        /// The transfer.
        id: TransferId,
        /// Why it failed.
        error: TransferError,
    },
    /// The server refused the credentials; sign the user in, then `resume`.
    AuthRequired {
        /// The transfer, which now waits in [`crate::TransferState::AuthRequired`].
        id: TransferId,
        /// The refusal (401 or 403, or an authorizer that could not give credentials).
        error: TransferError,
    },
    /// The transfer was paused by the app; a running attempt was stopped. It stays
    /// paused until `resume`.
    Paused {
        /// The transfer.
        id: TransferId,
    },
    /// Queued again by `resume` or `retry`.
    Requeued {
        /// The transfer.
        id: TransferId,
    },
    /// The transfer was cancelled by the app (or by the user through the OS); a running
    /// attempt was stopped. Final.
    Cancelled {
        /// The transfer.
        id: TransferId,
    },
    /// The OS made no progress on this transfer's task for `platform_stall_timeout` while
    /// the app was in the foreground: the task was cancelled and the transfer runs
    /// in-process instead.
    TakenBackFromPlatform {
        /// The transfer.
        id: TransferId,
    },
    /// A diagnostic: work is pending and the network is up, but nothing has moved for
    /// `idle_for`. `reason` is the engine's best explanation; `hosts` says, per host with
    /// work, why it waits (as `TransferQueue::host_status`).
    QueueStalled {
        /// Why nothing moves, in words for a person.
        reason: String,
        /// How long nothing has moved.
        idle_for: Duration,
        /// Per host with work, why it waits.
        hosts: Vec<HostStatus>,
    },
    /// This subscriber fell behind and `missed` events were dropped for it.
    ///
    /// Only this subscriber's copies were dropped; the transfers are unaffected. Call
    /// `TransferQueue::list` (or `progress`) to catch up with their states.
    Lagged {
        /// How many events this subscriber missed.
        missed: u64,
    },
}

impl TransferEvent {
    /// The transfer the event is about; `None` for the queue's own events
    /// ([`QueueStalled`](Self::QueueStalled), [`Lagged`](Self::Lagged)).
    pub fn transfer_id(&self) -> Option<&TransferId> {
        match self {
            Self::Started { id, .. }
            | Self::Progress { id, .. }
            | Self::Retrying { id, .. }
            | Self::Succeeded { id, .. }
            | Self::Failed { id, .. }
            | Self::AuthRequired { id, .. }
            | Self::Paused { id, .. }
            | Self::Requeued { id, .. }
            | Self::Cancelled { id, .. }
            | Self::TakenBackFromPlatform { id, .. } => Some(id),
            Self::QueueStalled { .. } | Self::Lagged { .. } => None,
        }
    }
}

pub(crate) const EVENT_CAPACITY: usize = 16 * 1024;

/// A stream of events from [`crate::TransferQueue::subscribe`]. Dropping it unsubscribes.
///
/// It sees only the events sent after it was made: subscribe before enqueueing to see a
/// transfer's whole life, or read [`crate::TransferQueue::list`] first.
#[derive(Debug)]
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

    /// The same events as a [`futures_util::Stream`], for `StreamExt` combinators
    /// (`filter`, `take_while`, `select`); it ends when the queue shuts down.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = TransferEvent> + Send {
        futures_util::stream::unfold(self, |mut subscription| async move {
            subscription.next().await.map(|event| (event, subscription))
        })
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
