//! Checkpoints: how an attempt tells the actor what it must persist to continue later, so
//! that the actor (the only writer) persists it: a resumable upload's resource and each
//! offset the server confirmed, a download's validators and the offset its partial file
//! holds durably.
//!
//! Must never touch the store or block: a checkpoint is a message; waiting for durability
//! is a oneshot answered after the actor's commit.

use tokio::sync::{mpsc, oneshot};

use crate::TransferId;
use crate::download_record::DownloadRecord;
use crate::outcome::AttemptOutcome;
use crate::upload_resource::UploadResource;

/// What a checkpoint asks the actor to persist.
#[derive(Debug)]
pub(crate) enum Saved {
    /// A resumable upload's resource and confirmed offset.
    Upload(UploadResource),
    /// A download's resume state.
    Download(DownloadRecord),
}

/// A report for the actor to persist, from one attempt.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    pub id: TransferId,
    pub generation: u64,
    pub record: Saved,
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

    /// The transfer whose attempt reports here.
    pub(super) fn transfer_id(&self) -> &TransferId {
        &self.id
    }

    pub(super) fn report(&self, record: UploadResource, committed: Option<oneshot::Sender<()>>) {
        self.send(Saved::Upload(record), committed);
    }

    fn send(&self, record: Saved, committed: Option<oneshot::Sender<()>>) {
        let _ = self.sender.send(Checkpoint {
            id: self.id.clone(),
            generation: self.generation,
            record,
            committed,
        });
    }

    /// Reports a download's state, without waiting: the partial file already holds what
    /// it says durably, so the record may lag behind, never run ahead.
    pub(super) fn report_download(&self, record: DownloadRecord) {
        self.send(Saved::Download(record), None);
    }

    /// Reports a download's state and waits until it is durable (before bytes that the
    /// stored record would contradict are written: a restart from zero, a rename).
    pub(super) async fn report_download_durably(
        &self,
        record: DownloadRecord,
    ) -> Result<(), AttemptOutcome> {
        let (sender, receiver) = oneshot::channel();
        self.send(Saved::Download(record), Some(sender));
        receiver.await.map_err(|_| AttemptOutcome::Network {
            message: "the queue could not record the download's progress; it will be retried"
                .into(),
        })
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
