//! `TransferQueue::wait_for`: the end of one transfer, awaited.
//!
//! What it is for: an app that enqueued an upload and wants its outcome (Swift
//! `awaitResult(id:)`, Kotlin `awaitResult(id)`) without filtering the event stream itself.
//! What it must never do: change anything, or miss the end: it subscribes before it looks,
//! and looks again after every final event about the transfer and after any lag.

use crate::events::TransferEvent;
use crate::{Error, Transfer, TransferId, TransferQueue};

impl TransferQueue {
    /// Waits until the transfer is final (succeeded, failed or cancelled) and returns its
    /// record. A transfer waiting for credentials (`AuthRequired`) or paused is not final:
    /// this keeps waiting until the app resumes it and it ends. Cancelling this future
    /// leaves nothing behind.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when no transfer has this id; [`Error::Closed`] when the queue
    /// shuts down before the transfer ends; [`Error::Store`] when the database cannot be
    /// read.
    pub async fn wait_for(&self, id: &TransferId) -> Result<Transfer, Error> {
        let mut events = self.subscribe();
        loop {
            let transfer = self.get(id).await?;
            if transfer.state.kind().is_final() {
                return Ok(transfer);
            }
            loop {
                match events.next().await {
                    None => return Err(Error::Closed),
                    Some(event) if may_have_ended(&event, id) => break,
                    Some(_) => {}
                }
            }
        }
    }
}

/// Whether `event` may mean that transfer `id` is final now: its own final event, or a
/// lag that may have dropped it.
fn may_have_ended(event: &TransferEvent, id: &TransferId) -> bool {
    match event {
        TransferEvent::Succeeded { id: ended, .. }
        | TransferEvent::Failed { id: ended, .. }
        | TransferEvent::Cancelled { id: ended } => ended == id,
        TransferEvent::Lagged { .. } => true,
        _ => false,
    }
}
