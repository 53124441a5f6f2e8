//! Checkpoints: how a resumable attempt tells the actor about its upload resource and
//! each offset the server confirmed, so that the actor (the only writer) persists them.
//!
//! Must never touch the store or block: a checkpoint is a message; waiting for durability
//! is a oneshot answered after the actor's commit.

use tokio::sync::{mpsc, oneshot};

use crate::TransferId;
use crate::outcome::AttemptOutcome;
use crate::upload_resource::UploadResource;

/// A report for the actor to persist: the transfer's upload resource and offset.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    pub id: TransferId,
    pub generation: u64,
    pub record: UploadResource,
    /// Answered once the record is committed (dropped if it was not).
    pub committed: Option<oneshot::Sender<()>>,
}

/// Where an attempt sends its checkpoints, tagged with the attempt's identity.
#[derive(Clone, Debug)]
pub(crate) struct Checkpoints {
    sender: mpsc::UnboundedSender<Checkpoint>,
    id: TransferId,
    generation: u64,
}

impl Checkpoints {
    pub(crate) fn new(
        sender: mpsc::UnboundedSender<Checkpoint>,
        id: TransferId,
        generation: u64,
    ) -> Self {
        Self {
            sender,
            id,
            generation,
        }
    }

    pub(super) fn report(&self, record: UploadResource, committed: Option<oneshot::Sender<()>>) {
        let _ = self.sender.send(Checkpoint {
            id: self.id.clone(),
            generation: self.generation,
            record,
            committed,
        });
    }

    /// Reports a new resource and waits until it is durable.
    pub(super) async fn report_durably(
        &self,
        record: UploadResource,
    ) -> Result<(), AttemptOutcome> {
        let (sender, receiver) = oneshot::channel();
        self.report(record, Some(sender));
        receiver.await.map_err(|_| AttemptOutcome::Network {
            message: "the queue could not record the upload resource; it will be retried".into(),
        })
    }
}
