//! Events for Swift and Kotlin: a foreign observer and the subscription that feeds it.
//!
//! `subscribe(observer)` starts a task on Ferry's runtime that forwards every event to the
//! observer, in order, from one thread at a time. The returned [`EventSubscription`]
//! stops on `unsubscribe()` or when the app drops it. The observer is called on Ferry's
//! thread: it must return quickly and hop to its own queue for UI work.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::records::{HostStatus, TransferError};
use crate::runtime;

#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum TransferEvent {
    Started {
        id: String,
        attempt: u32,
    },
    Progress {
        id: String,
        bytes_sent: u64,
        bytes_total: u64,
    },
    Retrying {
        id: String,
        attempt: u32,
        delay: Duration,
        error: TransferError,
    },
    Succeeded {
        id: String,
    },
    Failed {
        id: String,
        error: TransferError,
    },
    AuthRequired {
        id: String,
        error: TransferError,
    },
    Paused {
        id: String,
    },
    Requeued {
        id: String,
    },
    Cancelled {
        id: String,
    },
    /// The OS made no progress on this transfer's background task while the app was in
    /// the foreground; Ferry cancelled it and runs the transfer in-process.
    TakenBackFromPlatform {
        id: String,
    },
    /// A diagnostic: work is pending and the network is up, but nothing has moved for
    /// `idle_for`; `reason` says why, as far as Ferry can tell, and `hosts` per host (as
    /// `hostStatus()`).
    QueueStalled {
        reason: String,
        idle_for: std::time::Duration,
        hosts: Vec<HostStatus>,
    },
    /// The observer fell behind and `missed` events were dropped; call `list` to catch up.
    Lagged {
        missed: u64,
    },
}

impl From<ferry::TransferEvent> for TransferEvent {
    fn from(event: ferry::TransferEvent) -> Self {
        use ferry::TransferEvent as E;
        match event {
            E::Started { id, attempt } => Self::Started {
                id: id.to_string(),
                attempt,
            },
            E::Progress {
                id,
                bytes_sent,
                bytes_total,
            } => Self::Progress {
                id: id.to_string(),
                bytes_sent,
                bytes_total,
            },
            E::Retrying {
                id,
                attempt,
                delay,
                error,
            } => Self::Retrying {
                id: id.to_string(),
                attempt,
                delay,
                error: (&error).into(),
            },
            E::Succeeded { id } => Self::Succeeded { id: id.to_string() },
            E::Failed { id, error } => Self::Failed {
                id: id.to_string(),
                error: (&error).into(),
            },
            E::AuthRequired { id, error } => Self::AuthRequired {
                id: id.to_string(),
                error: (&error).into(),
            },
            E::Paused { id } => Self::Paused { id: id.to_string() },
            E::Requeued { id } => Self::Requeued { id: id.to_string() },
            E::Cancelled { id } => Self::Cancelled { id: id.to_string() },
            E::TakenBackFromPlatform { id } => Self::TakenBackFromPlatform { id: id.to_string() },
            E::QueueStalled {
                reason,
                idle_for,
                hosts,
            } => Self::QueueStalled {
                reason,
                idle_for,
                hosts: hosts.into_iter().map(HostStatus::from).collect(),
            },
            E::Lagged { missed } => Self::Lagged { missed },
        }
    }
}

/// Implemented by the app to receive events.
#[uniffi::export(foreign)]
pub trait TransferObserver: Send + Sync {
    fn on_event(&self, event: TransferEvent);
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
                observer.on_event(event.into());
            }
        });
        Arc::new(Self {
            task: Mutex::new(task),
        })
    }
}

#[uniffi::export]
impl EventSubscription {
    /// Stops delivering events. Calling it twice is harmless. Not named `close`: UniFFI's
    /// Kotlin objects already have `AutoCloseable.close()`, which frees the object and so
    /// unsubscribes too (workaround for https://github.com/mozilla/uniffi-rs/issues/2955).
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
