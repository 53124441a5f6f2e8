//! `TransferQueue::watch`: one transfer's record as it changes, as a stream.
//!
//! What it is for: a view of one upload (a row in a list, a progress bar) that wants the
//! current record first and then each change, without filtering the event stream itself
//! (Kotlin's per-transfer `Flow<Transfer>` and Swift's upload handle are built on the same
//! events). What it must never do: change anything, or miss a change between its first
//! read and its first event: it subscribes before it reads.

use futures_util::Stream;

use crate::events::{Subscription, TransferEvent};
use crate::{Error, Transfer, TransferId, TransferQueue};

impl TransferQueue {
    /// The transfer's record now, then again after each change, until it is final
    /// (succeeded, failed or cancelled): the final record is the stream's last item.
    ///
    /// A progress event updates `bytes_sent` of the last record without reading the
    /// database; any other event about the transfer (and a lag, which may have dropped
    /// one) reads the record again. The stream ends after an error, and when the queue
    /// shuts down. Dropping it leaves nothing behind.
    ///
    /// # Errors
    ///
    /// The stream yields [`Error::NotFound`] when no transfer has this id (then ends), and
    /// [`Error::Store`] when the database cannot be read.
    pub fn watch(
        &self,
        id: &TransferId,
    ) -> impl Stream<Item = Result<Transfer, Error>> + Send + use<> {
        let watching = Watching {
            queue: self.clone(),
            id: id.clone(),
            events: self.subscribe(),
            last: None,
            ended: false,
        };
        futures_util::stream::unfold(watching, |mut watching| async move {
            let item = watching.next().await?;
            Some((item, watching))
        })
    }
}

struct Watching {
    queue: TransferQueue,
    id: TransferId,
    events: Subscription,
    /// The record last yielded.
    last: Option<Transfer>,
    ended: bool,
}

impl Watching {
    async fn next(&mut self) -> Option<Result<Transfer, Error>> {
        if self.ended {
            return None;
        }
        if self.last.is_none() {
            return Some(self.read().await);
        }
        loop {
            let event = self.events.next().await?;
            match event {
                TransferEvent::Progress { id, bytes_sent, .. } if id == self.id => {
                    let Some(last) = self.last.as_mut() else {
                        continue;
                    };
                    if bytes_sent != last.bytes_sent {
                        last.bytes_sent = bytes_sent;
                        return Some(Ok(last.clone()));
                    }
                }
                TransferEvent::Lagged { .. } => return Some(self.read().await),
                event if event.transfer_id() == Some(&self.id) => {
                    return Some(self.read().await);
                }
                _ => {}
            }
        }
    }

    /// Reads the record, remembers it, and ends the stream after a final one or an error.
    async fn read(&mut self) -> Result<Transfer, Error> {
        let read = self.queue.get(&self.id).await;
        match &read {
            Ok(transfer) => {
                self.ended = transfer.state.kind().is_final();
                self.last = Some(transfer.clone());
            }
            Err(_) => self.ended = true,
        }
        read
    }
}
