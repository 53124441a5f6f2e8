//! The actor's side of resumable uploads: which launches resume, recording the upload
//! resource and offsets that attempts report, and terminating a cancelled upload.
//!
//! Runs inside the actor's turn, so every write goes through the turn's transaction and
//! every `DELETE` starts only after that transaction committed. Must never await network
//! or file I/O: termination is spawned after the commit.
//!
//! Most queues never store an upload resource, so the actor skips the per-transfer
//! lookups (two queries per file: at launch and at success, about 2% of the workers' CPU
//! in `many_small_puts`) until the store may hold one: `may_hold_upload_resources` is read
//! from the store at open and set by every checkpoint, and never cleared, so a rolled-back
//! turn cannot leave it wrongly unset.

use std::sync::Arc;

use rusqlite::Connection;

use super::effects::Effects;
use super::engine::Engine;
use crate::lane::{Checkpoint, Checkpoints, ResumableJob, terminate};
use crate::store;
use crate::{Transfer, TransferId};

impl Engine {
    /// What a launch of `transfer` needs to resume, or `None` for a plain upload. A stored
    /// resource is used even if the configuration changed since, so that an upload the
    /// server already holds is continued rather than started again. The offset the store
    /// holds now is what the attempt's progress is measured from (`attempt_charge.rs`).
    pub(super) fn resumable_job(
        &mut self,
        tx: &Connection,
        transfer: &Transfer,
        generation: u64,
    ) -> rusqlite::Result<Option<ResumableJob>> {
        let stored = if self.may_hold_upload_resources {
            store::load_resumable(tx, &transfer.id)?
        } else {
            None
        };
        let configured = self
            .config
            .resumable
            .protocol_for(&transfer.upload.destination, transfer.size);
        let Some(protocol) = stored.as_ref().map(|record| record.protocol).or(configured) else {
            return Ok(None);
        };
        let offset = stored.as_ref().map_or(0, |record| record.confirmed_offset);
        self.progress_ledger
            .launched(&transfer.id, generation, offset);
        Ok(Some(ResumableJob {
            protocol,
            stored,
            checkpoints: Checkpoints::new(
                self.checkpoint_sender.clone(),
                transfer.id.clone(),
                generation,
            ),
        }))
    }

    /// Persists an attempt's upload resource and offset, if the attempt is still current.
    /// A checkpoint that waits for durability hears back only after the commit.
    pub(super) fn on_checkpoint(
        &mut self,
        tx: &Connection,
        checkpoint: Checkpoint,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let current = self
            .in_flight
            .is_current(&checkpoint.id, checkpoint.generation);
        if !current {
            return Ok(()); // finished, cancelled or replaced meanwhile: dropping `committed` says so
        }
        self.may_hold_upload_resources = true;
        store::save_resumable(tx, &checkpoint.id, &checkpoint.record, self.clock.now_ms())?;
        self.progress_ledger.confirmed(
            &checkpoint.id,
            checkpoint.generation,
            checkpoint.record.confirmed_offset,
        );
        if let Some(committed) = checkpoint.committed {
            effects.replies.push(Box::new(move |failed| {
                if failed.is_none() {
                    let _ = committed.send(());
                }
            }));
        }
        Ok(())
    }

    /// Forgets the upload resource of `id`, if the store may hold one, and the progress its
    /// attempts were credited.
    pub(super) fn forget_upload_resource(
        &mut self,
        tx: &Connection,
        id: &TransferId,
    ) -> rusqlite::Result<Option<store::ResumableRecord>> {
        self.progress_ledger.forget(id);
        if !self.may_hold_upload_resources {
            return Ok(None);
        }
        store::forget_resumable(tx, id)
    }

    /// A cancelled transfer's upload resource is forgotten now and deleted on the server
    /// once the cancellation is committed.
    pub(super) fn terminate_upload_resource(
        &mut self,
        tx: &Connection,
        transfer: &Transfer,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let Some(record) = self.forget_upload_resource(tx, &transfer.id)? else {
            return Ok(());
        };
        let headers = transfer.upload.headers.clone();
        self.terminate_upload_resources(vec![(record, headers)], effects);
        Ok(())
    }

    /// Deletes upload resources (each with its transfer's headers) on their servers once
    /// the turn is committed, one after another: a bulk cancel may end many.
    pub(super) fn terminate_upload_resources(
        &self,
        resources: Vec<store::bulk::TakenResource>,
        effects: &mut Effects,
    ) {
        if resources.is_empty() {
            return;
        }
        let lane = Arc::clone(&self.lane);
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
}
