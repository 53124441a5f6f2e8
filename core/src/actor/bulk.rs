//! The actor's side of the bulk calls (`cancel_where`, `retry_where`, `purge_where`): one
//! job per call (`bulk_job.rs`), carried out one chunk of at most [`BULK_CHUNK`] transfers per turn, so a
//! call over 100,000 transfers never holds the actor long: between its chunks the actor
//! records finished attempts and answers other calls.
//!
//! A job acts on the transfers that existed when it began (row keys up to the largest
//! then), walking them in `seq` order from a cursor (`store/bulk.rs`). Running transfers
//! are cancelled as `cancel` cancels one (the attempt stopped, an OS task cancelled, the
//! rest of a packed batch queued again); while a cancel job runs, nothing new starts, so
//! no transfer it is about to cancel is launched in between. Events are those of the
//! single calls (`Cancelled`, `Requeued`; a purge sends none), each after its chunk's
//! commit; the reply, with the count, after the last chunk's. A turn that fails to commit
//! fails every job with its error; chunks committed before stay done, and calling again
//! finishes the work.
//!
//! Must never run more than one chunk in a turn, nor touch a running transfer other than
//! through the single cancel's path.

use rusqlite::Connection;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::bulk_job::{BULK_CHUNK, BulkJob, BulkRequest};
use super::downloads;
use super::effects::Effects;
use super::engine::Engine;
use super::message::reply_after_commit;
use super::upload_resources::terminate_after_commit;
use crate::error::StoreError;
use crate::events::TransferEvent;
use crate::selection::BulkAction;
use crate::state::{Input, StateKind};
use crate::store::BulkFilter;
use crate::store::bulk::{self, BulkRow, Move};
use crate::{Error, TransferId};

impl Engine {
    pub(super) fn start_bulk(
        &mut self,
        request: BulkRequest,
        reply: oneshot::Sender<Result<u64, Error>>,
    ) {
        self.bulk_jobs.push_back(BulkJob {
            request,
            reply,
            up_to_seq: None,
            after_seq: 0,
            changed_by_ms: None,
            count: 0,
        });
    }

    /// Whether a bulk call waits for its next chunk: the next turn comes at once.
    pub(super) fn has_bulk_work(&self) -> bool {
        !self.bulk_jobs.is_empty()
    }

    /// Whether a cancel job runs: then nothing new starts.
    pub(super) fn cancelling(&self) -> bool {
        self.bulk_jobs
            .iter()
            .any(|job| job.request.action == BulkAction::Cancel)
    }

    /// Runs the next chunk of the oldest job; answers it once it is done.
    pub(super) fn continue_bulk(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let Some(mut job) = self.bulk_jobs.pop_front() else {
            return Ok(());
        };
        let now_ms = self.clock.now_ms();
        let up_to_seq = match job.up_to_seq {
            Some(seq) => seq,
            None => {
                let seq = bulk::last_seq(tx)?;
                job.up_to_seq = Some(seq);
                if job.request.action == BulkAction::Purge {
                    let age = i64::try_from(job.request.older_than.as_millis()).unwrap_or(i64::MAX);
                    job.changed_by_ms = Some(now_ms.saturating_sub(age));
                }
                seq
            }
        };
        let action = job.request.action;
        if action == BulkAction::Cancel && job.request.states.contains(&StateKind::Running) {
            job.count += self.cancel_running(tx, &job.request, up_to_seq, effects)?;
        }
        let stored_states: Vec<StateKind> = job
            .request
            .states
            .iter()
            .copied()
            .filter(|state| *state != StateKind::Running)
            .collect();
        let filter = BulkFilter {
            states: &stored_states,
            destination_prefix: job.request.destination_prefix.as_deref(),
            group: job.request.group.as_deref(),
            after_seq: job.after_seq,
            up_to_seq,
            changed_by_ms: job.changed_by_ms,
            queued_due_after_ms: (action == BulkAction::Retry).then_some(now_ms),
        };
        let rows = bulk::chunk(tx, &filter, BULK_CHUNK)?;
        match action {
            BulkAction::Cancel => self.cancel_rows(tx, &filter, &rows, now_ms, effects)?,
            BulkAction::Retry => self.requeue_rows(tx, &filter, &rows, now_ms, effects)?,
            BulkAction::Purge => self.purge_rows(tx, &filter, &rows, effects)?,
        }
        if !rows.is_empty() && action != BulkAction::Purge {
            self.stall_watch.moved(Instant::now());
        }
        job.count += rows.len() as u64;
        if rows.len() < BULK_CHUNK {
            effects
                .replies
                .push(reply_after_commit(job.reply, Ok(job.count)));
        } else {
            if let Some(last) = rows.last() {
                job.after_seq = last.seq;
            }
            self.bulk_jobs.push_front(job);
        }
        Ok(())
    }

    /// A turn did not commit: every job fails with its error (what earlier turns
    /// committed stays done).
    pub(super) fn abandon_bulk(&mut self, error: &StoreError) {
        for job in self.bulk_jobs.drain(..) {
            let _ = job.reply.send(Err(Error::Store(error.clone())));
        }
    }

    /// Cancels the running transfers the request selects, as `cancel` does one.
    fn cancel_running(
        &mut self,
        tx: &Connection,
        request: &BulkRequest,
        up_to_seq: i64,
        effects: &mut Effects,
    ) -> rusqlite::Result<u64> {
        let prefix = request.destination_prefix.as_deref();
        let group = request.group.as_deref();
        let selected: Vec<TransferId> = self
            .in_flight
            .iter()
            .filter(|flight| {
                let upload = &flight.transfer.upload;
                flight.transfer.seq <= up_to_seq
                    && prefix.is_none_or(|prefix| upload.destination.starts_with(prefix))
                    && group.is_none_or(|group| upload.group.as_deref() == Some(group))
            })
            .map(|flight| flight.transfer.id.clone())
            .collect();
        let mut cancelled = 0;
        for id in selected {
            // A member of a packed batch whose leader was cancelled first is queued by
            // now, and cancelled as such. Only a store error can fail it: carried as one,
            // it rolls the turn back.
            self.control(tx, &id, Input::Cancel, effects)
                .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
            cancelled += 1;
        }
        Ok(cancelled)
    }

    fn cancel_rows(
        &mut self,
        tx: &Connection,
        filter: &BulkFilter<'_>,
        rows: &[BulkRow],
        now_ms: i64,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if self.upload_resources.may_hold() {
            let resources = bulk::take_upload_resources(tx, filter, rows)?;
            terminate_after_commit(resources, &self.lane, effects);
        }
        downloads::discard_chunk(tx, bulk::download_files(tx, filter, rows)?, effects)?;
        bulk::move_rows(
            tx,
            filter,
            rows,
            Move::Cancel,
            now_ms,
            &mut self.pending_totals,
        )?;
        for row in rows {
            self.upload_resources.ledger.forget(&row.id);
            effects
                .events
                .push(TransferEvent::Cancelled { id: row.id.clone() });
        }
        Ok(())
    }

    fn requeue_rows(
        &mut self,
        tx: &Connection,
        filter: &BulkFilter<'_>,
        rows: &[BulkRow],
        now_ms: i64,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        bulk::move_rows(
            tx,
            filter,
            rows,
            Move::Requeue,
            now_ms,
            &mut self.pending_totals,
        )?;
        for row in rows {
            match row.state {
                // A queued transfer's retry was only made due: it was never held.
                StateKind::Queued => continue,
                // As `resume`: the app says the credentials are fixed.
                StateKind::AuthRequired => self.auth_breakers.close(&row.host),
                _ => {}
            }
            effects
                .events
                .push(TransferEvent::Requeued { id: row.id.clone() });
        }
        Ok(())
    }

    /// Deletes finished records with what is kept beside them: an upload resource (the
    /// server's copy is left to expire), the server's answer to a success, a download's
    /// resume state and partial file, and what memory holds by their ids.
    fn purge_rows(
        &mut self,
        tx: &Connection,
        filter: &BulkFilter<'_>,
        rows: &[BulkRow],
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if self.upload_resources.may_hold() {
            bulk::forget_upload_resources(tx, filter, rows)?;
        }
        if rows.iter().any(|row| row.state == StateKind::Succeeded) {
            bulk::forget_responses(tx, filter, rows)?;
        }
        downloads::discard_chunk(tx, bulk::download_files(tx, filter, rows)?, effects)?;
        bulk::delete(tx, filter, rows, &mut self.pending_totals)?;
        for row in rows {
            self.upload_resources.ledger.forget(&row.id);
            self.platform.forget(&row.id);
            self.unprocessed_resends.remove(&row.id);
        }
        Ok(())
    }
}
