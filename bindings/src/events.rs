//! Events for Swift and Kotlin: a foreign observer and the subscription that feeds it.
//!
//! `subscribe(observer)` starts a task on Ferry's runtime that forwards every event to the
//! observer, in order, from one thread at a time. The returned [`EventSubscription`]
//! stops on `unsubscribe()` or when the app drops it. The observer is called on Ferry's
//! thread: it must return quickly and hop to its own queue for UI work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry::TransferId;

use crate::numbers::{int, long};
use crate::records::{Header, HostStatus, TransferError, headers_from_core};
use crate::runtime;

/// Something that happened to a transfer, or to the queue. Every state change is on disk
/// before its event is sent, so a UI never shows what a crash could take back. Events of
/// one transfer arrive in the order they happened.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum TransferEvent {
    /// An attempt began: the transfer is running, in the app's process or as an OS task.
    Started {
        /// The transfer's id.
        id: TransferId,
        /// The attempt's number among those the transfer has used up (1 for the first).
        attempt: i32,
    },
    /// Bytes moved on a running attempt; at most one per transfer per
    /// `progressInterval`, only when the count changed.
    Progress {
        /// The transfer's id.
        id: TransferId,
        /// Bytes of the body the running attempt has sent so far. It can go back to a
        /// smaller number when an attempt starts over: show it, do not add it up.
        bytes_sent: i64,
        /// The file's size at enqueue, in bytes.
        bytes_total: i64,
    },
    /// The attempt failed; the transfer is queued again and starts after `delay`. Also
    /// sent once when a download starts to wait for space (`error.kind` is
    /// `insufficientSpace`): it was not started, used no attempt, and is checked again
    /// after `delay` until there is room.
    Retrying {
        /// The transfer's id.
        id: TransferId,
        /// Attempts used up so far, the failed one included.
        attempt: i32,
        /// How long until the next attempt: a backoff, or the server's `Retry-After`.
        delay: Duration,
        /// Why the attempt failed.
        error: TransferError,
    },
    /// The server accepted the upload (a 2xx answer). Final. The answer, with the first
    /// bytes of its body, is kept with the transfer: `response(id:)`.
    Succeeded {
        /// The transfer's id.
        id: TransferId,
        /// The final answer's HTTP status (2xx).
        status: i32,
        /// The final answer's headers; the values of credential headers read
        /// `[redacted]`.
        headers: Vec<Header>,
    },
    /// The transfer failed for good: a permanent error or every allowed attempt used up.
    /// It stays failed until `retry`.
    Failed {
        /// The transfer's id.
        id: TransferId,
        /// Why it failed.
        error: TransferError,
    },
    /// The server refused the credentials (or the request authorizer asked for a sign-in):
    /// sign the user in, then `resume` the transfer.
    AuthRequired {
        /// The transfer's id.
        id: TransferId,
        /// The refusal.
        error: TransferError,
    },
    /// Paused by the app; a running attempt was stopped. Waits for `resume`.
    Paused {
        /// The transfer's id.
        id: TransferId,
    },
    /// Queued again by `resume` or `retry`.
    Requeued {
        /// The transfer's id.
        id: TransferId,
    },
    /// Cancelled by the app (or by the user through the OS); a running attempt was
    /// stopped. Final.
    Cancelled {
        /// The transfer's id.
        id: TransferId,
    },
    /// The OS made no progress on this transfer's background task while the app was in
    /// the foreground; Ferry cancelled it and runs the transfer in-process.
    TakenBackFromPlatform {
        /// The transfer's id.
        id: TransferId,
    },
    /// A diagnostic: work is pending and the network is up, but nothing has moved for
    /// `idle_for`; `reason` says why, as far as Ferry can tell, and `hosts` per host (as
    /// `hostStatus()`).
    QueueStalled {
        /// Why nothing moves, in words for a person.
        reason: String,
        /// How long nothing has moved.
        idle_for: std::time::Duration,
        /// Per host with work, why it waits.
        hosts: Vec<HostStatus>,
    },
    /// The observer fell behind and `missed` events were dropped; call `list` to catch up.
    Lagged {
        /// How many events this observer missed (the transfers are unaffected).
        missed: i64,
    },
}

impl TransferEvent {
    /// The event for Swift and Kotlin; `None` for an event these bindings do not name
    /// (`ferry`'s events may grow), which is not forwarded.
    fn from_core(event: ferry::TransferEvent) -> Option<Self> {
        use ferry::TransferEvent as E;
        Some(match event {
            E::Started { id, attempt } => Self::Started {
                id,
                attempt: int(attempt),
            },
            E::Progress {
                id,
                bytes_sent,
                bytes_total,
            } => Self::Progress {
                id,
                bytes_sent: long(bytes_sent),
                bytes_total: long(bytes_total),
            },
            E::Retrying {
                id,
                attempt,
                delay,
                error,
            } => Self::Retrying {
                id,
                attempt: int(attempt),
                delay,
                error: (&error).into(),
            },
            E::Succeeded {
                id,
                status,
                headers,
            } => Self::Succeeded {
                id,
                status: i32::from(status),
                headers: headers_from_core(headers),
            },
            E::Failed { id, error } => Self::Failed {
                id,
                error: (&error).into(),
            },
            E::AuthRequired { id, error } => Self::AuthRequired {
                id,
                error: (&error).into(),
            },
            E::Paused { id } => Self::Paused { id },
            E::Requeued { id } => Self::Requeued { id },
            E::Cancelled { id } => Self::Cancelled { id },
            E::TakenBackFromPlatform { id } => Self::TakenBackFromPlatform { id },
            E::QueueStalled {
                reason,
                idle_for,
                hosts,
            } => Self::QueueStalled {
                reason,
                idle_for,
                hosts: hosts.into_iter().map(HostStatus::from).collect(),
            },
            E::Lagged { missed } => Self::Lagged {
                missed: long(missed),
            },
            _ => return None,
        })
    }
}

/// Implemented by the app to receive events.
#[uniffi::export(foreign)]
pub trait TransferObserver: Send + Sync {
    /// Called once per event, in order, on Ferry's thread, never two at a time for one
    /// subscription. Return quickly; hop to the main thread for UI work.
    fn on_event(&self, event: TransferEvent);

    /// Called once, after the last event, when the queue has shut down (or had when the
    /// subscription was made): no event follows. Not called after `unsubscribe`.
    fn on_end(&self);
}

/// A live subscription. Close it, or drop it, to stop receiving events.
#[derive(uniffi::Object)]
pub struct EventSubscription {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EventSubscription {
    pub(crate) fn start(
        mut events: ferry::Subscription,
        observer: Arc<dyn TransferObserver>,
    ) -> Arc<Self> {
        let task = runtime::spawn(async move {
            while let Some(event) = events.next().await {
                if let Some(event) = TransferEvent::from_core(event) {
                    observer.on_event(event);
                }
            }
            observer.on_end();
        });
        Self::running(task)
    }

    /// A subscription whose delivery is `task`: closing it aborts the task.
    pub(crate) fn running(task: Option<tokio::task::JoinHandle<()>>) -> Arc<Self> {
        Arc::new(Self {
            task: Mutex::new(task),
        })
    }
}

#[uniffi::export]
impl EventSubscription {
    /// Stops delivering events. Calling it twice is harmless. Not named `close`: UniFFI's
    /// Kotlin objects already have `AutoCloseable.close()`, which frees the object and so
    /// unsubscribes too (workaround for <https://github.com/mozilla/uniffi-rs/issues/2955>).
    pub fn unsubscribe(&self) {
        let task = match self.task.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.unsubscribe();
    }
}
