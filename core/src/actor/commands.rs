//! The app's commands: enqueue, lookups, control of one transfer, progress, and the
//! app's and network's state. Each is recorded in the turn's transaction and answered after
//! the turn is durable.

use rusqlite::Connection;
use tokio::time::Instant;

use super::effects::Effects;
use super::engine::{Engine, sqlite};
use super::host_status::host_statuses;
use super::message::{Command, EnqueueResults, reply_after_commit};
use crate::conditions::AppState;
use crate::download::ValidatedDownload;
use crate::error::StoreError;
use crate::events::TransferEvent;
use crate::progress::{Progress, eta};
use crate::server_response::ServerResponse;
use crate::state::{Effect, Input, StateKind, TransferState};
use crate::store;
use crate::upload::ValidatedUpload;
use crate::{Direction, Error, Transfer, TransferId};

impl Engine {
    pub(super) fn handle_command(
        &mut self,
        tx: &Connection,
        command: Command,
        effects: &mut Effects,
    ) {
        match command {
            Command::Enqueue { uploads, reply } => {
                self.stall_watch.moved(Instant::now());
                let results = self.enqueue(tx, uploads, effects);
                effects.replies.push(reply_after_commit(reply, Ok(results)));
            }
            Command::EnqueueDownloads { downloads, reply } => {
                self.stall_watch.moved(Instant::now());
                let results = self.enqueue_downloads(tx, downloads);
                effects.replies.push(reply_after_commit(reply, Ok(results)));
            }
            Command::Get { id, reply } => {
                let result = self.get(tx, &id);
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::List {
                selection,
                offset,
                limit,
                reply,
            } => {
                let filter = store::ListFilter {
                    states: &selection.states,
                    destination_prefix: selection.destination_prefix.as_deref(),
                    group: selection.group.as_deref(),
                };
                let result = store::list_selected(tx, &filter, offset, limit)
                    .map(|transfers| {
                        transfers
                            .into_iter()
                            .map(|transfer| self.with_live_progress(transfer))
                            .collect()
                    })
                    .map_err(|error| Error::Store(StoreError::sqlite(error)));
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::Control { id, input, reply } => {
                let result = self.control(tx, &id, input, effects);
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::Progress { reply } => {
                let result = self.progress(tx);
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::CountByState { reply } => {
                let result = self.state_totals(tx).map(|totals| totals.counts());
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::Response { id, reply } => {
                let result = self.response(tx, &id);
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::HostStatus { reply } => {
                let result = host_statuses(tx, &self.breakers, &self.clock).map_err(sqlite);
                effects.replies.push(reply_after_commit(reply, result));
            }
            Command::Bulk { request, reply } => self.start_bulk(request, reply),
            Command::SetAppState { state, reply } => {
                let came_to_foreground =
                    self.app_state != AppState::Foreground && state == AppState::Foreground;
                self.app_state = state;
                log::debug!("app state is now {:?}", self.app_state);
                if came_to_foreground {
                    self.keep_alive.came_to_foreground();
                    self.on_foreground(effects);
                }
                effects.replies.push(reply_after_commit(reply, Ok(())));
            }
            Command::EnterBackground { reply } => {
                self.app_state = AppState::Background;
                log::debug!("app state is now {:?}", self.app_state);
                // Answered after the OS tasks this turn's scheduling hands over have been
                // started: the group commit queues it behind them at the platform driver.
                effects.after_handoffs.push(reply);
            }
            Command::SetNetwork { status, reply } => {
                if status.online && !self.network.online {
                    self.stall_watch.moved(Instant::now()); // time offline is not a stall
                }
                self.network = status;
                self.network_reported = true;
                effects.replies.push(reply_after_commit(reply, Ok(())));
            }
            Command::WaitIdle { reply } => self.idle_waiters.push(reply),
            Command::Shutdown { reply } => {
                self.stopping = true;
                self.shutdown_waiters.extend(reply);
            }
        }
    }

    /// Inserts each new upload. One whose transfer already exists gets that transfer's id:
    /// while it is not finished, or when it succeeded and the file is unchanged. If that
    /// transfer waits for credentials and the upload brings other headers, the transfer
    /// takes them and is queued again, in place (`renew_waiting_for_credentials`).
    pub(super) fn enqueue(
        &mut self,
        tx: &Connection,
        uploads: Vec<Result<ValidatedUpload, Error>>,
        effects: &mut Effects,
    ) -> EnqueueResults {
        let now_ms = self.clock.now_ms();
        let mut writer = match open_writer(tx, uploads.len()) {
            Ok(writer) => writer,
            Err(refused) => return refused,
        };
        let results = uploads
            .into_iter()
            .map(|upload| {
                let upload = upload?;
                let identity = store::Identity::of(&upload.upload);
                let existing = writer.find_reusable(&identity).map_err(sqlite)?;
                if let Some(existing) = existing {
                    if existing.state == StateKind::AuthRequired {
                        let headers = store::stored_headers(&upload.upload).map_err(sqlite)?;
                        if headers != existing.headers
                            && writer
                                .renew_waiting_for_credentials(&existing, &headers, now_ms)
                                .map_err(sqlite)?
                        {
                            // As `resume`: the app brought new credentials.
                            self.auth_breakers.close(&upload.host);
                            effects.events.push(TransferEvent::Requeued {
                                id: existing.id.clone(),
                            });
                        }
                    }
                    let still_pending = !existing.state.is_final();
                    let already_sent_unchanged = existing.state == StateKind::Succeeded
                        && existing.snapshot == upload.snapshot;
                    if still_pending || already_sent_unchanged {
                        return Ok(existing.id);
                    }
                }
                let id = TransferId::generate();
                writer
                    .insert(&id, &upload, &identity, now_ms)
                    .map_err(sqlite)?;
                Ok(id)
            })
            .collect();
        self.pending_totals.merge(writer.totals());
        results
    }

    /// Inserts each new download. One whose transfer already exists (the same URL to the
    /// same file) gets that transfer's id while it is not finished or after it succeeded;
    /// after a failure or a cancel, a new transfer starts.
    fn enqueue_downloads(
        &mut self,
        tx: &Connection,
        downloads: Vec<Result<ValidatedDownload, Error>>,
    ) -> EnqueueResults {
        let now_ms = self.clock.now_ms();
        let mut writer = match open_writer(tx, downloads.len()) {
            Ok(writer) => writer,
            Err(refused) => return refused,
        };
        let results = downloads
            .into_iter()
            .map(|download| {
                let download = download?;
                let identity = store::Identity::of_download(&download.download);
                if let Some(existing) = writer.find_reusable(&identity).map_err(sqlite)?
                    && (!existing.state.is_final() || existing.state == StateKind::Succeeded)
                {
                    return Ok(existing.id);
                }
                let id = TransferId::generate();
                writer
                    .insert_download(&id, &download, &identity, now_ms)
                    .map_err(sqlite)?;
                Ok(id)
            })
            .collect();
        self.pending_totals.merge(writer.totals());
        results
    }

    pub(super) fn get(&self, tx: &Connection, id: &TransferId) -> Result<Transfer, Error> {
        if let Some(flight) = self.in_flight.get(id) {
            return Ok(self.with_live_progress(flight.transfer.clone()));
        }
        store::load(tx, id)
            .map_err(sqlite)?
            .ok_or_else(|| Error::NotFound { id: id.clone() })
    }

    /// The stored answer of a transfer that succeeded; `None` for one that has none (not
    /// succeeded, or succeeded before answers were kept).
    fn response(&self, tx: &Connection, id: &TransferId) -> Result<Option<ServerResponse>, Error> {
        match store::load_response(tx, id).map_err(sqlite)? {
            Some(answer) => Ok(Some(answer)),
            None => self.get(tx, id).map(|_| None),
        }
    }

    pub(super) fn with_live_progress(&self, mut transfer: Transfer) -> Transfer {
        if let Some(bytes_sent) = self.in_flight.live_bytes(&transfer.id) {
            transfer.bytes_sent = bytes_sent;
        }
        transfer
    }

    pub(super) fn control(
        &mut self,
        tx: &Connection,
        id: &TransferId,
        input: Input,
        effects: &mut Effects,
    ) -> Result<(), Error> {
        let mut transfer = self.get(tx, id)?;
        let was_waiting_for_credentials = transfer.state == TransferState::AuthRequired;
        let effect = transfer
            .control(&input, self.clock.now())
            .map_err(|illegal| Error::IllegalTransition {
                id: id.clone(),
                action: illegal.action,
                state: illegal.from,
            })?;
        let Some(effect) = effect else {
            return Ok(());
        };
        self.stall_watch.moved(Instant::now());
        if was_waiting_for_credentials && matches!(input, Input::Resume) {
            self.auth_breakers.close(&transfer.host);
        }
        if let Effect::Abort(_) = effect {
            let mut flights = self.in_flight.take_attempt(id).into_iter();
            if let Some(flight) = flights.next() {
                self.stop(flight, effects);
            }
            // The rest of a packed batch was stopped with it: it runs again without it.
            for sibling in flights {
                self.requeue_announced(tx, sibling, effects)
                    .map_err(sqlite)?;
            }
        }
        if transfer.state == TransferState::Cancelled {
            if transfer.direction == Direction::Download {
                super::downloads::discard(tx, &transfer, effects).map_err(sqlite)?;
            } else {
                self.upload_resources
                    .terminate(tx, &transfer, &self.lane, effects)
                    .map_err(sqlite)?;
            }
        }
        store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)
            .map_err(sqlite)?;
        let id = id.clone();
        effects.events.push(match transfer.state {
            TransferState::Paused => TransferEvent::Paused { id },
            TransferState::Cancelled => TransferEvent::Cancelled { id },
            _ => TransferEvent::Requeued { id },
        });
        Ok(())
    }

    /// Files and bytes per state, this turn's changes included: they are written to the
    /// stored totals only at its end.
    pub(super) fn state_totals(&self, tx: &Connection) -> Result<store::StateTotals, Error> {
        store::totals_with(tx, &self.pending_totals).map_err(sqlite)
    }

    pub(super) fn progress(&mut self, tx: &Connection) -> Result<Progress, Error> {
        let totals = self.state_totals(tx)?;
        let (files_total, bytes_total) = StateKind::ALL
            .into_iter()
            .filter(|kind| *kind != StateKind::Cancelled)
            .map(|kind| totals.get(kind))
            .fold((0, 0), |(files, bytes), (count, size)| {
                (files + count, bytes + size)
            });
        let (files_done, bytes_succeeded) = totals.get(StateKind::Succeeded);
        let (files_failed, bytes_failed) = totals.get(StateKind::Failed);
        let bytes_running = self.in_flight.bytes_running();
        self.sample_rate();
        let bytes_per_second = self.rate.bytes_per_second();
        let bytes_done = bytes_succeeded + bytes_running;
        let remaining = bytes_total.saturating_sub(bytes_done + bytes_failed);
        Ok(Progress {
            files_total,
            files_done,
            files_failed,
            bytes_total,
            bytes_done,
            bytes_per_second,
            eta: eta(remaining, bytes_per_second),
        })
    }

    pub(super) fn sample_rate(&mut self) {
        let moved = self
            .lane
            .bytes_moved
            .load(std::sync::atomic::Ordering::Relaxed);
        self.rate.sample(Instant::now(), moved);
    }
}

/// The writer for one enqueue call's rows, or, when it cannot be prepared, the same
/// database error for each of the call's `count` items.
fn open_writer(tx: &Connection, count: usize) -> Result<store::EnqueueWriter<'_>, EnqueueResults> {
    store::EnqueueWriter::new(tx).map_err(|error| {
        let error = sqlite(error);
        (0..count).map(|_| Err(error.clone())).collect()
    })
}
