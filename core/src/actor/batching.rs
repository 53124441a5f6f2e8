//! The actor's side of packing: which queued files may be packed, and launching a packed
//! batch on either lane. Which files go together is the scheduler's pure decision; the
//! wire format is the lane's (`lane/batch.rs`) and `docs/batching.md`.
//!
//! Like the rest of the actor, every member's `Running` state is saved in the turn's
//! transaction before the request is sent or the OS hears of it.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::time::Instant;

use super::{AttemptFinished, CANDIDATE_WINDOW, Engine, FlightLane, InFlight, Outbox};
use crate::auth::attempt::run_batch_attempt_with;
use crate::classify::{AttemptOutcome, troubles_host};
use crate::events::TransferEvent;
use crate::lane::{AttemptProgress, BatchOutcome, BatchPart, Gated, run_gated};
use crate::platform::{BatchPartPlan, BodyPlan, Handoff};
use crate::scheduler::{BatchLimits, LaneChoice};
use crate::state::{Input, Lane, transition};
use crate::store::{self, CandidateRow};
use crate::upload::SourceSnapshot;
use crate::{Transfer, TransferId};

/// The most queued rows one scheduling round reads.
const MAX_WINDOW: usize = 1024;

/// A packed batch to send in-process once the turn has committed.
pub(super) struct BatchLaunch {
    leader: TransferId,
    generation: u64,
    endpoint: String,
    parts: Vec<BatchPart>,
}

impl Engine {
    /// How many queued rows a round reads: enough to fill every free request slot with
    /// full batches.
    pub(super) fn candidate_window(&self, free_slots: usize) -> usize {
        let per_request = self
            .config
            .batching
            .iter()
            .map(|endpoint| endpoint.max_files)
            .max()
            .unwrap_or(1);
        free_slots
            .saturating_mul(per_request)
            .clamp(CANDIDATE_WINDOW, MAX_WINDOW)
    }

    pub(super) fn batch_limits(&self) -> Vec<BatchLimits> {
        self.config
            .batching
            .iter()
            .map(|endpoint| BatchLimits {
                max_files: endpoint.max_files.max(1),
                max_bytes: endpoint.max_bytes,
            })
            .collect()
    }

    /// The batch endpoint a queued file may be packed for: its destination is under the
    /// endpoint's prefix, it is small (below `large_file_threshold`) and it has no headers
    /// of its own, which a part could not carry.
    pub(super) fn packable_into(&self, row: &CandidateRow) -> Option<usize> {
        if row.has_own_headers || row.size >= self.config.platform.large_file_threshold {
            return None;
        }
        self.config
            .batching
            .iter()
            .position(|endpoint| row.destination.starts_with(&endpoint.destination_prefix))
    }

    /// Starts a packed batch; returns the number of requests started (0 or 1). A batch of
    /// one goes as an ordinary upload.
    pub(super) fn launch_batch(
        &mut self,
        tx: &Connection,
        seqs: &[i64],
        endpoint: usize,
        choice: LaneChoice,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<usize> {
        let Some(endpoint) = self
            .config
            .batching
            .get(endpoint)
            .map(|e| e.endpoint.clone())
        else {
            return Ok(0);
        };
        if let [only] = seqs {
            return Ok(usize::from(self.launch(tx, *only, choice, false, outbox)?));
        }
        let mut members: Vec<Transfer> = Vec::new();
        for &seq in seqs {
            if let Some(transfer) = store::load_by_seq(tx, seq)? {
                members.push(transfer);
            }
        }
        let Some(leader) = members.first() else {
            return Ok(0);
        };
        let leader_id = leader.id.clone();
        let lane = match choice {
            LaneChoice::InProcess => Lane::InProcess,
            LaneChoice::Platform => Lane::Platform {
                handoff_key: self.new_handoff_key(
                    &leader_id,
                    leader.attempts.saturating_add(1),
                    ".batch",
                ),
            },
        };
        if self.auth_breakers.is_open(&leader.host, Instant::now()) {
            // Credentials for this destination were just refused: nobody sends, everybody
            // waits for the app to sign in.
            for transfer in members {
                self.hold_for_credentials(tx, transfer, lane.clone(), outbox)?;
            }
            return Ok(0);
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        let mut started = Vec::new();
        for mut transfer in members {
            let start = Input::Start { lane: lane.clone() };
            let Ok((next, _)) = transition(&transfer.state, &start) else {
                continue;
            };
            transfer.state = next;
            transfer.attempts = transfer.attempts.saturating_add(1);
            transfer.bytes_sent = 0;
            store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)?;
            outbox.events.push(TransferEvent::Started {
                id: transfer.id.clone(),
                attempt: transfer.attempts,
            });
            started.push(transfer);
        }
        let Some(first) = started.first() else {
            return Ok(0);
        };
        self.breakers.on_launch(&first.host, Instant::now());
        let progresses: Vec<Arc<AttemptProgress>> = started
            .iter()
            .map(|_| Arc::new(AttemptProgress::new(Arc::clone(&self.lane.bytes_moved))))
            .collect();
        let flight_lane = |engine: &Self| match &lane {
            Lane::InProcess => FlightLane::InProcess { abort: None },
            Lane::Platform { handoff_key } => FlightLane::Platform {
                key: handoff_key.clone(),
                handoff_query: engine.outstanding_queries,
                last_activity: Instant::now(),
            },
        };
        match &lane {
            Lane::InProcess => outbox.batch_launches.push(BatchLaunch {
                leader: first.id.clone(),
                generation,
                endpoint: endpoint.clone(),
                parts: started
                    .iter()
                    .zip(&progresses)
                    .map(|(transfer, progress)| BatchPart {
                        id: transfer.id.clone(),
                        source: transfer.upload.source.clone(),
                        snapshot: snapshot_of(transfer),
                        destination: transfer.upload.destination.clone(),
                        progress: Arc::clone(progress),
                    })
                    .collect(),
            }),
            Lane::Platform { handoff_key } => {
                let handoff = self.batch_handoff(handoff_key, &started, &endpoint);
                outbox.handoffs.push(handoff);
                self.platform_keys.insert(
                    handoff_key.clone(),
                    started.iter().map(|transfer| transfer.id.clone()).collect(),
                );
            }
        }
        for (transfer, progress) in started.into_iter().zip(progresses) {
            let lane = flight_lane(self);
            self.in_flight.insert(
                transfer.id.clone(),
                InFlight {
                    transfer,
                    generation,
                    progress,
                    lane,
                    reported_bytes: 0,
                    batched: true,
                },
            );
        }
        Ok(1)
    }

    fn batch_handoff(
        &self,
        key: &str,
        members: &[Transfer],
        endpoint: &str,
    ) -> (Handoff, BodyPlan) {
        let (allow_expensive, allow_constrained) =
            members
                .iter()
                .fold((true, true), |(expensive, constrained), t| {
                    let constraints = t.upload.constraints;
                    (
                        expensive && constraints.allow_expensive,
                        constrained && constraints.allow_constrained,
                    )
                });
        let leader = members
            .first()
            .map(|t| t.id.to_string())
            .unwrap_or_default();
        let handoff = Handoff {
            key: key.to_owned(),
            transfer_id: leader.clone(),
            body_path: Default::default(),
            url: endpoint.to_owned(),
            method: "POST".into(),
            // Each part carries its own idempotency key; the request as a whole has none,
            // since a later batch may hold other files. `Ferry-Batch-Atomic` asks the server
            // to answer non-2xx unless every part is stored: the OS reports only the status.
            headers: vec![("Ferry-Batch-Atomic".into(), "1".into())],
            expected_bytes: members.iter().map(|t| t.size).sum(),
            allow_expensive,
            allow_constrained,
            discretionary: self.app_state == crate::AppState::Background,
            ietf_interop_version: None,
        };
        let bodies = self
            .platform
            .as_ref()
            .map(|driver| driver.bodies().to_path_buf())
            .unwrap_or_default();
        let body = BodyPlan::Batch {
            parts: members
                .iter()
                .map(|transfer| BatchPartPlan {
                    id: transfer.id.to_string(),
                    source: transfer.upload.source.clone(),
                    snapshot: snapshot_of(transfer),
                    destination: transfer.upload.destination.clone(),
                })
                .collect(),
            idempotency_header: self.config.idempotency_header.clone(),
            temp_path: bodies.join(format!("{key}.body")),
        };
        (handoff, body)
    }

    /// Sends a committed in-process batch.
    pub(super) fn spawn_batch(&mut self, batch: BatchLaunch) {
        let BatchLaunch {
            leader,
            generation,
            endpoint,
            parts,
        } = batch;
        let members: Vec<TransferId> = parts.iter().map(|part| part.id.clone()).collect();
        let host = self
            .in_flight
            .get(&leader)
            .map(|flight| flight.transfer.host.clone())
            .unwrap_or_default();
        let lane = Arc::clone(&self.lane);
        let auth = self.auth.clone();
        let finished = self.finished_sender.clone();
        let handle = tokio::spawn(async move {
            let leader_id = leader.to_string();
            let batch = run_batch_attempt_with(auth, Arc::clone(&lane), leader_id, endpoint, parts);
            let failed = |outcome: &BatchOutcome| troubles_host(&outcome.whole);
            // A batch is one request: it holds one slot, and is never claimed ahead.
            let gated = run_gated(&lane.gates, &host, false, || {}, batch, failed).await;
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
            let _ = finished.send(AttemptFinished {
                id: leader,
                generation,
                outcome: outcome.whole,
                parts: outcome.parts,
                trouble,
            });
        });
        for id in members {
            if let Some(flight) = self.in_flight.get_mut(&id) {
                flight.lane = FlightLane::InProcess {
                    abort: Some(handle.abort_handle()),
                };
            }
        }
    }
}

fn snapshot_of(transfer: &Transfer) -> SourceSnapshot {
    SourceSnapshot {
        size: transfer.size,
        mtime_ns: transfer.source_mtime_ns,
    }
}
