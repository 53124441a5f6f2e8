//! `TransferQueue::wait_for`: the end of one transfer, or its need of the app, awaited.
//!
//! What it is for: an app that enqueued an upload and wants its outcome (Swift
//! `awaitResult(id:)`, Kotlin `awaitResult(id)`) without filtering the event stream itself.
//! What it must never do: change anything, or miss the end: it subscribes before it looks,
//! and looks again after every final event about the transfer and after any lag.

use crate::events::TransferEvent;
use crate::{Error, StateKind, Transfer, TransferId, TransferQueue};

impl TransferQueue {
    /// Waits until the transfer is final (succeeded, failed or cancelled) or needs the
    /// app (`AuthRequired`: the server refused the credentials, and nothing more happens
    /// until the app gives new ones and resumes it), and returns its record. A paused
    /// transfer is waited for: the app that paused it resumes it. Cancelling this future
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
            if needs_no_more_waiting(transfer.state.kind()) {
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

/// Final, or waiting for the app's new credentials: nothing happens until the app acts.
fn needs_no_more_waiting(state: StateKind) -> bool {
    state.is_final() || state == StateKind::AuthRequired
}

/// Whether `event` may mean that transfer `id` is final or needs the app now: its own
/// event saying so, or a lag that may have dropped it.
fn may_have_ended(event: &TransferEvent, id: &TransferId) -> bool {
    match event {
        TransferEvent::Succeeded { id: ended, .. }
        | TransferEvent::Failed { id: ended, .. }
        | TransferEvent::AuthRequired { id: ended, .. }
        | TransferEvent::Cancelled { id: ended } => ended == id,
        TransferEvent::Lagged { .. } => true,
        _ => false,
    }
}
