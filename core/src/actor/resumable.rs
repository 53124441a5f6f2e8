//! The actor's side of resumable uploads: which launches resume, recording the upload
//! resource and offsets that attempts report, and terminating a cancelled upload.
//!
//! Runs inside the actor's turn, so every write goes through the turn's transaction and
//! every `DELETE` starts only after that transaction committed. Must never await network
//! or file I/O: termination is spawned after the commit.

use std::sync::Arc;

use rusqlite::Connection;

use super::{Engine, Outbox};
use crate::Transfer;
use crate::lane::{Checkpoint, Checkpoints, ResumableJob, terminate};
use crate::store;

impl Engine {
    /// What a launch of `transfer` needs to resume, or `None` for a plain upload. A stored
    /// resource is used even if the configuration changed since, so that an upload the
    /// server already holds is continued rather than started again.
    pub(super) fn resumable_job(
        &self,
        tx: &Connection,
        transfer: &Transfer,
        generation: u64,
    ) -> rusqlite::Result<Option<ResumableJob>> {
        let stored = store::load_resumable(tx, &transfer.id)?;
        let configured = self
            .config
            .resumable
            .protocol_for(&transfer.upload.destination, transfer.size);
        let Some(protocol) = stored.as_ref().map(|record| record.protocol).or(configured) else {
            return Ok(None);
        };
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
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let current = self
            .in_flight
            .get(&checkpoint.id)
            .is_some_and(|flight| flight.generation == checkpoint.generation);
        if !current {
            return Ok(()); // finished, cancelled or replaced meanwhile: dropping `committed` says so
        }
        store::save_resumable(tx, &checkpoint.id, &checkpoint.record, self.clock.now_ms())?;
        if let Some(committed) = checkpoint.committed {
            outbox.replies.push(Box::new(move |failed| {
                if failed.is_none() {
                    let _ = committed.send(());
                }
            }));
        }
        Ok(())
    }

    /// A cancelled transfer's upload resource is forgotten now and deleted on the server
    /// once the cancellation is committed.
    pub(super) fn terminate_upload_resource(
        &mut self,
        tx: &Connection,
        transfer: &Transfer,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let Some(record) = store::forget_resumable(tx, &transfer.id)? else {
            return Ok(());
        };
        let lane = Arc::clone(&self.lane);
        let headers = transfer.upload.headers.clone();
        outbox.replies.push(Box::new(move |failed| {
            if failed.is_none() {
                tokio::spawn(terminate(lane.client.clone(), record, headers));
            }
        }));
        Ok(())
    }
}
