//! The one launch path: one request for 1..N queued files (one file, or the files of a
//! packed batch), on either lane.
//!
//! A download is launched only if its volume has room for what it still needs beside the
//! downloads running there (`downloads::room_for`); else it stays queued with the reason
//! and is checked again after `disk_space::RECHECK_EVERY`, no attempt used up.
//!
//! Every file's `Running` state is saved in the turn's transaction before anything goes
//! out: an in-process request is spawned after the commit (`Launch`, in the turn's
//! effects), an OS task is started by the driver after the turn is durable (a handoff,
//! `platform_lane.rs`). The files of one request share one generation, so a late report
//! of an older attempt never touches a newer one.
//!
//! Must never send, hand off or await anything inside the turn; it only records and
//! returns what to do after the commit.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::time::Instant;

use super::downloads::{self, Room};
use super::effects::Effects;
use super::engine::Engine;
use super::in_flight::{FlightLane, InFlight};
use super::local_launch::{Launch, Request};
use super::message::AttemptFinished;
use super::platform_lane::{self, PlatformLane};
use crate::auth::attempt::AuthContext;
use crate::auth::attempt::{run_attempt_with, run_batch_attempt_with};
use crate::classify::troubles_host;
use crate::disk_space::RECHECK_EVERY;
use crate::download_record::DownloadRecord;
use crate::error::{FailureKind, TransferError};
use crate::events::TransferEvent;
use crate::http::{
    Arrival, AttemptJob, AttemptProgress, BatchOutcome, BatchPart, Gated, HttpLane, apply_segment,
    run_gated,
};
use crate::outcome::AttemptOutcome;
use crate::scheduler::LaneChoice;
use crate::state::Lane;
use crate::store;
use crate::{Direction, Transfer, TransferId};

impl Engine {
    /// Starts one request for the queued transfers stored under `seqs` (candidates' row
    /// keys): one file, or, with `packed_for`, the files of a batch for that endpoint (a
    /// batch of one goes as an ordinary upload). Returns 1 if the request started, its
    /// files were held for credentials or it waits for space (either way they left the
    /// queue's due transfers), else 0.
    pub(super) fn launch(
        &mut self,
        tx: &Connection,
        seqs: &[i64],
        choice: LaneChoice,
        packed_for: Option<usize>,
        claimed_ahead: bool,
        effects: &mut Effects,
    ) -> rusqlite::Result<usize> {
        let endpoint = match packed_for {
            Some(index) => match self.packing.endpoint(index) {
                Some(endpoint) => Some(endpoint.to_owned()),
                None => return Ok(0),
            },
            None => None,
        };
        let endpoint = endpoint.filter(|_| seqs.len() > 1);
        let mut members: Vec<Transfer> = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            if let Some(transfer) = store::load_by_seq(tx, seq)? {
                members.push(transfer);
            }
        }
        let Some(leader) = members.first() else {
            return Ok(0);
        };
        // A download's resume state, read once for the whole launch (downloads are never
        // packed: the leader is the only file). It goes to the OS as its next segment,
        // from what the store holds; one whose bytes are all held only needs finishing,
        // which is local work.
        let mut download_record = match leader.direction {
            Direction::Download => Some(store::load_download(tx, &leader.id)?.unwrap_or_default()),
            Direction::Upload => None,
        };
        let choice = match &download_record {
            Some(record) if choice == LaneChoice::Platform && record.held_whole() => {
                LaneChoice::InProcess
            }
            _ => choice,
        };
        let lane = match choice {
            LaneChoice::InProcess => Lane::InProcess,
            LaneChoice::Platform => {
                let suffix = if endpoint.is_some() { ".batch" } else { "" };
                let nonce = rand::Rng::random(&mut self.rng);
                let attempt = leader.attempts.saturating_add(1);
                Lane::Platform {
                    handoff_key: platform_lane::handoff_key(&leader.id, attempt, nonce, suffix),
                }
            }
        };
        if self.auth_breakers.is_open(&leader.host, Instant::now()) {
            // Credentials for this destination were just refused: nobody sends, everybody
            // waits for the app to sign in.
            let mut held = false;
            for transfer in members {
                held |= self.hold_for_credentials(tx, transfer, lane.clone(), effects)?;
            }
            return Ok(usize::from(held));
        }
        let mut reservation = None;
        if let Some(record) = &download_record
            && matches!(lane, Lane::InProcess)
        {
            match downloads::room_for(leader, record, self.in_flight.space_reservations()) {
                Room::Unchecked => {}
                Room::Reserved(space) => reservation = Some(space),
                Room::Short(error) => {
                    let mut waiting = false;
                    for transfer in members {
                        waiting |= self.wait_for_space(
                            tx,
                            transfer,
                            lane.clone(),
                            error.clone(),
                            effects,
                        )?;
                    }
                    return Ok(usize::from(waiting));
                }
            }
        }
        let now_ms = self.clock.now_ms();
        let mut launch_on = None;
        let mut started = Vec::with_capacity(members.len());
        for mut transfer in members {
            let from = transfer.state.kind();
            let Some(lane) = transfer.start(lane.clone()) else {
                continue;
            };
            // Durable in this turn's commit, before the OS or the network hears of it.
            store::save_replacing(tx, &transfer, from, now_ms, &mut self.pending_totals)?;
            effects.events.push(TransferEvent::Started {
                id: transfer.id.clone(),
                attempt: transfer.attempts,
            });
            launch_on = Some(lane);
            started.push(transfer);
        }
        let (Some(launch_on), Some(first)) = (launch_on, started.first()) else {
            return Ok(0);
        };
        self.breakers.on_launch(&first.host, Instant::now());
        let generation = self.in_flight.new_generation();
        let progresses: Vec<Arc<AttemptProgress>> = started
            .iter()
            .map(|_| Arc::new(AttemptProgress::new(Arc::clone(&self.lane.bytes_moved))))
            .collect();
        let flight_lane = match launch_on {
            Lane::InProcess => {
                let request = match &endpoint {
                    None => Request::File {
                        job: self.attempt_job(tx, first, generation, download_record.take())?,
                        progress: Arc::clone(&progresses[0]),
                        arrival: if claimed_ahead {
                            Arrival::ClaimedAhead {
                                priority: first.upload.priority,
                            }
                        } else {
                            Arrival::IntoFreeSlot
                        },
                    },
                    Some(endpoint) => Request::Packed {
                        endpoint: endpoint.clone(),
                        parts: started
                            .iter()
                            .zip(&progresses)
                            .map(|(transfer, progress)| BatchPart {
                                id: transfer.id.clone(),
                                source: transfer.upload.source.clone(),
                                snapshot: transfer.snapshot(),
                                destination: transfer.upload.destination.clone(),
                                progress: Arc::clone(progress),
                            })
                            .collect(),
                    },
                };
                effects.launches.push(Launch {
                    leader: first.id.clone(),
                    host: first.host.clone(),
                    generation,
                    request,
                });
                FlightLane::InProcess { abort: None }
            }
            Lane::Platform { handoff_key } => {
                let discretionary = self.app_state == crate::AppState::Background;
                effects.handoffs.push(match &download_record {
                    Some(record) => PlatformLane::download_handoff(
                        &self.config,
                        discretionary,
                        &handoff_key,
                        first,
                        record,
                    ),
                    None => self.platform.handoff(
                        &self.config,
                        discretionary,
                        &handoff_key,
                        &started,
                        endpoint.as_deref(),
                    ),
                });
                FlightLane::Platform {
                    key: handoff_key,
                    handoff_query: self.platform.queries_sent(),
                    last_activity: Instant::now(),
                }
            }
        };
        let batched = endpoint.is_some();
        self.in_flight.insert(
            started
                .into_iter()
                .zip(progresses)
                .map(|(transfer, progress)| InFlight {
                    transfer,
                    generation,
                    progress,
                    lane: flight_lane.clone(),
                    reported_bytes: 0,
                    batched,
                    space: reservation.take(),
                    applying_segment: false,
                })
                .collect(),
        );
        Ok(1)
    }

    /// A download its volume has no room for stays queued with `error` as its reason,
    /// checked again after [`RECHECK_EVERY`], no attempt used up. The app hears of it
    /// (`Retrying`, with that reason) when it starts to wait; the record's `last_error`
    /// follows every check.
    fn wait_for_space(
        &mut self,
        tx: &Connection,
        mut transfer: Transfer,
        lane: Lane,
        error: TransferError,
        effects: &mut Effects,
    ) -> rusqlite::Result<bool> {
        let newly = transfer
            .last_error
            .as_ref()
            .is_none_or(|last| last.kind != FailureKind::InsufficientSpace);
        let from = transfer.state.kind();
        let at = self.clock.now() + RECHECK_EVERY;
        if !transfer.wait_for_space(lane, error.clone(), at) {
            return Ok(false);
        }
        let now_ms = self.clock.now_ms();
        store::save_replacing(tx, &transfer, from, now_ms, &mut self.pending_totals)?;
        if newly {
            log::info!(
                "download {} waits for space: {}",
                transfer.id,
                error.message
            );
            effects.events.push(TransferEvent::Retrying {
                id: transfer.id.clone(),
                attempt: transfer.attempts,
                delay: RECHECK_EVERY,
                error,
            });
        }
        Ok(true)
    }

    /// What an in-process attempt of one file sends (or, for a download, fetches, from
    /// `download_record`, its resume state as the launch read it).
    fn attempt_job(
        &mut self,
        tx: &Connection,
        transfer: &Transfer,
        generation: u64,
        download_record: Option<DownloadRecord>,
    ) -> rusqlite::Result<AttemptJob> {
        let upload = &transfer.upload;
        let (resumable, download) = match transfer.direction {
            Direction::Upload => (
                self.upload_resources
                    .job(tx, &self.config.resumable, transfer, generation)?,
                None,
            ),
            Direction::Download => {
                let sender = self.upload_resources.checkpoint_sender();
                let ledger = &mut self.upload_resources.ledger;
                let record = match download_record {
                    Some(record) => record,
                    None => store::load_download(tx, &transfer.id)?.unwrap_or_default(),
                };
                let job = downloads::job(transfer, record, generation, sender, ledger);
                (None, Some(Box::new(job)))
            }
        };
        Ok(AttemptJob {
            id: transfer.id.to_string(),
            source: upload.source.clone(),
            snapshot: transfer.snapshot(),
            url: upload.destination.clone(),
            method: upload.method.clone(),
            headers: upload.headers.clone(),
            resumable,
            download,
        })
    }

    /// Spawns a committed in-process request; its task reports to the actor when it ends.
    pub(super) fn spawn(&mut self, launch: Launch) {
        let Launch {
            leader,
            host,
            generation,
            request,
        } = launch;
        let lane = Arc::clone(&self.lane);
        let auth = self.auth.clone();
        let finished = self.finished_sender.clone();
        let (members, handle) = match request {
            Request::File {
                job,
                progress,
                arrival,
            } => {
                let members = vec![leader.clone()];
                let attempt = send_file(auth, lane, host, job, progress, arrival);
                let report = async move {
                    let gated = attempt.await;
                    let _ = finished.send(AttemptFinished::of_gated(leader, generation, gated));
                };
                (members, tokio::spawn(report))
            }
            Request::Packed { endpoint, parts } => {
                let members: Vec<TransferId> = parts.iter().map(|part| part.id.clone()).collect();
                let batch = send_packed(auth, lane, host, leader, generation, endpoint, parts);
                let report = async move {
                    let _ = finished.send(batch.await);
                };
                (members, tokio::spawn(report))
            }
            Request::Segment { job, progress } => {
                let members = vec![leader.clone()];
                let report = async move {
                    let outcome = Box::pin(apply_segment(*job, progress)).await;
                    let _ = finished.send(AttemptFinished::of_gated(
                        leader,
                        generation,
                        Gated::Ran {
                            value: outcome,
                            failure: None,
                        },
                    ));
                };
                (members, tokio::spawn(report))
            }
        };
        self.in_flight
            .set_abort(&members, generation, &handle.abort_handle());
    }
}

/// One file's attempt, through the gate of its host.
async fn send_file(
    auth: Option<Arc<AuthContext>>,
    lane: Arc<HttpLane>,
    host: String,
    job: AttemptJob,
    progress: Arc<AttemptProgress>,
    arrival: Arrival,
) -> Gated<AttemptOutcome> {
    let on_entry = || progress.touch();
    // Boxed: the attempt's future is kilobytes, and tokio copies a task's whole stage when
    // it spawns it and when it stores the output (tokio-rs/tokio#4487; `many_small_puts`:
    // ~2% of the worker's CPU in `set_stage` copies).
    let attempt = Box::pin(run_attempt_with(
        auth,
        Arc::clone(&lane),
        job,
        Arc::clone(&progress),
    ));
    run_gated(
        &lane.gates,
        &host,
        arrival,
        on_entry,
        attempt,
        troubles_host,
    )
    .await
}

/// A packed batch's request, through the gate of its host, reported as its leader.
async fn send_packed(
    auth: Option<Arc<AuthContext>>,
    lane: Arc<HttpLane>,
    host: String,
    leader: TransferId,
    generation: u64,
    endpoint: String,
    parts: Vec<BatchPart>,
) -> AttemptFinished {
    let batch =
        run_batch_attempt_with(auth, Arc::clone(&lane), leader.to_string(), endpoint, parts);
    let failed = |outcome: &BatchOutcome| troubles_host(&outcome.whole);
    // A batch is one request: it holds one slot, and is never claimed ahead.
    let gated = run_gated(
        &lane.gates,
        &host,
        Arrival::IntoFreeSlot,
        || {},
        batch,
        failed,
    )
    .await;
    let (outcome, trouble) = match gated {
        Gated::Ran { value, failure } => (value, failure),
        Gated::HeldBack => (
            BatchOutcome {
                whole: AttemptOutcome::HeldBack,
                parts: Vec::new(),
            },
            None,
        ),
    };
    AttemptFinished {
        id: leader,
        generation,
        outcome: outcome.whole,
        parts: outcome.parts,
        trouble,
    }
}
