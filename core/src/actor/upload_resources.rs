//! Resumable upload resources, as the actor sees them: which launches resume, recording
//! the upload resource and offsets that attempts report, how far each attempt moved its
//! upload (`attempt_charge.rs`), and deleting a cancelled upload on its server.
//!
//! Runs inside the actor's turn, so every write goes through the turn's transaction and
//! every `DELETE` starts only after that transaction committed (a reply in the turn's
//! effects). Must never await network or file I/O, nor call the engine.
//!
//! Most queues never store an upload resource, so the actor skips the per-transfer
//! lookups (two queries per file: at launch and at success, about 2% of the workers' CPU
//! in `many_small_puts`) until the store may hold one: `may_hold` is read from the store
//! at open and set by every checkpoint, and never cleared, so a rolled-back turn cannot
//! leave it wrongly unset.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::attempt_charge::ProgressLedger;
use super::effects::Effects;
use crate::http::{Checkpoint, Checkpoints, HttpLane, ResumableJob, terminate};
use crate::resumable::ResumableConfig;
use crate::store;
use crate::{Transfer, TransferId};

pub(super) struct UploadResources {
    /// The store may hold an upload resource: until it may, nothing is looked up.
    may_hold: bool,
    /// How far resumable attempts moved their uploads.
    pub(super) ledger: ProgressLedger,
    /// Resumable attempts report their upload resource and offsets here.
    checkpoints: mpsc::UnboundedSender<Checkpoint>,
}

impl UploadResources {
    pub(super) fn new(may_hold: bool, checkpoints: mpsc::UnboundedSender<Checkpoint>) -> Self {
        Self {
            may_hold,
            ledger: ProgressLedger::default(),
            checkpoints,
        }
    }

    /// Whether the store may hold an upload resource.
    pub(super) fn may_hold(&self) -> bool {
        self.may_hold
    }

    /// What a launch of `transfer` needs to resume, or `None` for a plain upload. A stored
    /// resource is used even if the configuration changed since, so that an upload the
    /// server already holds is continued rather than started again. The offset the store
    /// holds now is what the attempt's progress is measured from (`attempt_charge.rs`).
    pub(super) fn job(
        &mut self,
        tx: &Connection,
        config: &ResumableConfig,
        transfer: &Transfer,
        generation: u64,
    ) -> rusqlite::Result<Option<ResumableJob>> {
        let stored = if self.may_hold {
            store::load_resumable(tx, &transfer.id)?
        } else {
            None
        };
        let configured = config.protocol_for(&transfer.upload.destination, transfer.size);
        let Some(protocol) = stored.as_ref().map(|record| record.protocol).or(configured) else {
            return Ok(None);
        };
        let offset = stored.as_ref().map_or(0, |record| record.confirmed_offset);
        self.ledger.launched(&transfer.id, generation, offset);
        Ok(Some(ResumableJob {
            protocol,
            stored,
            checkpoints: Checkpoints::new(
                self.checkpoints.clone(),
                transfer.id.clone(),
                generation,
            ),
        }))
    }

    /// Persists the upload resource and offset of a current attempt's checkpoint.
    pub(super) fn record(
        &mut self,
        tx: &Connection,
        id: &TransferId,
        generation: u64,
        record: &crate::upload_resource::UploadResource,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        self.may_hold = true;
        store::save_resumable(tx, id, record, now_ms)?;
        self.ledger
            .confirmed(id, generation, record.confirmed_offset);
        Ok(())
    }

    /// Where attempts send their checkpoints (downloads' too).
    pub(super) fn checkpoint_sender(&self) -> mpsc::UnboundedSender<Checkpoint> {
        self.checkpoints.clone()
    }

    /// Forgets the upload resource of `id`, if the store may hold one, and the progress its
    /// attempts were credited.
    pub(super) fn forget(
        &mut self,
        tx: &Connection,
        id: &TransferId,
    ) -> rusqlite::Result<Option<crate::upload_resource::UploadResource>> {
        self.ledger.forget(id);
        if !self.may_hold {
            return Ok(None);
        }
        store::forget_resumable(tx, id)
    }

    /// A cancelled transfer's upload resource is forgotten now and deleted on the server
    /// once the cancellation is committed.
    pub(super) fn terminate(
        &mut self,
        tx: &Connection,
        transfer: &Transfer,
        lane: &Arc<HttpLane>,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let Some(record) = self.forget(tx, &transfer.id)? else {
            return Ok(());
        };
        let headers = transfer.upload.headers.clone();
        terminate_after_commit(vec![(record, headers)], lane, effects);
        Ok(())
    }
}

/// Answers a checkpoint that waits for durability once the turn is committed.
pub(super) fn reply_when_committed(
    committed: Option<tokio::sync::oneshot::Sender<()>>,
    effects: &mut Effects,
) {
    if let Some(committed) = committed {
        effects.replies.push(Box::new(move |failed| {
            if failed.is_none() {
                let _ = committed.send(());
            }
        }));
    }
}

/// Deletes upload resources (each with its transfer's headers) on their servers once the
/// turn is committed, one after another: a bulk cancel may end many.
pub(super) fn terminate_after_commit(
    resources: Vec<store::bulk::TakenResource>,
    lane: &Arc<HttpLane>,
    effects: &mut Effects,
) {
    if resources.is_empty() {
        return;
    }
    let lane = Arc::clone(lane);
    effects.replies.push(Box::new(move |failed| {
        if failed.is_none() {
            tokio::spawn(async move {
                for (record, headers) in resources {
                    terminate(lane.client.clone(), record, headers).await;
                }
            });
        }
    }));
}
