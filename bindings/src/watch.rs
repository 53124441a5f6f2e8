//! `watch(id, watcher)`: one transfer's record, now and after each change, delivered to the
//! app. What it is for: Swift's `UploadHandle.progress` and Kotlin's per-transfer
//! `Flow<Transfer>`, which must not miss a change made between `enqueue` and their first
//! look: the first record is read after subscribing (`ferry::TransferQueue::watch`). It
//! must never change a transfer.

use std::sync::Arc;

use futures_util::StreamExt;

use crate::events::EventSubscription;
use ferry::TransferId;

use crate::records::Transfer;
use crate::{FerryError, TransferQueue, runtime};

/// Implemented by the app to follow one transfer (Swift and Kotlin sugar implement it).
#[uniffi::export(foreign)]
pub trait TransferWatcher: Send + Sync {
    /// The transfer's record: first as it is now, then after each change (a progress event
    /// updates `bytesSent`); the last one is final. Called on Ferry's thread, in order,
    /// never two at a time. Return quickly.
    fn on_record(&self, transfer: Transfer);

    /// Called once, after the last record: the transfer is final, the queue shut down, or
    /// its record could no longer be read. Not called after `unsubscribe`.
    fn on_end(&self);
}

#[uniffi::export]
impl TransferQueue {
    /// Follows one transfer: `watcher` receives its record now (before this call returns),
    /// then after each change until it is final. Close (or drop) the subscription to stop.
    ///
    /// # Errors
    ///
    /// `NotFound` when no transfer has it;
    /// `Closed` after `shutdown`; `Database` when its record cannot be read.
    pub async fn watch(
        &self,
        id: TransferId,
        watcher: Arc<dyn TransferWatcher>,
    ) -> Result<Arc<EventSubscription>, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move {
            let mut records = Box::pin(queue.watch(&id));
            let first = records.next().await.ok_or(ferry::Error::Closed)??;
            watcher.on_record(first.into());
            let task = runtime::spawn(async move {
                // The stream ends after the final record (at once when the first was final).
                while let Some(record) = records.next().await {
                    match record {
                        Ok(transfer) => watcher.on_record(transfer.into()),
                        Err(error) => {
                            log::warn!("stopped following transfer {id}: {error}");
                            break;
                        }
                    }
                }
                watcher.on_end();
            });
            Ok(EventSubscription::running(task))
        })
        .await
    }
}
