//! Finished attempts: an outcome becomes a verdict, the verdict a record edit and an event;
//! and the hooks of the host and auth breakers.

use rand::Rng;
use rusqlite::Connection;
use tokio::time::Instant;

use super::downloads;
use super::effects::Effects;
use super::engine::Engine;
use super::in_flight::InFlight;
use super::message::AttemptFinished;
use super::upload_resources::reply_when_committed;
use crate::Direction;
use crate::attempt_budget::after_retryable_failure;
use crate::classify::{Verdict, classify, host_is_unhealthy, reached_host};
use crate::disk_space::RECHECK_EVERY;
use crate::error::{FailureKind, TransferError};
use crate::events::TransferEvent;
use crate::http::{Checkpoint, Saved};
use crate::outcome::AttemptOutcome;
use crate::retry::{self, backoff};
use crate::server_response::ServerResponse;
use crate::state::Lane;
use crate::store;
use crate::transfer::Conclusion;
use crate::{Transfer, TransferId};

/// How many times in a row one attempt is sent again, at once and without using up an
/// attempt, because the server did not process it. A client may still pick a connection
/// that is going away, so once is not enough (seen: twice in a row against a server that
/// ends every connection after 10 requests); a server that processes nothing still gets a
/// verdict after this many.
const UNPROCESSED_RESENDS: u32 = 4;
/// The most attempts whose resends are counted at once (a few KiB).
const MAX_TRACKED_RESENDS: usize = 1024;

impl Engine {
    pub(super) fn on_attempt_finished(
        &mut self,
        tx: &Connection,
        finished: AttemptFinished,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let is_current = self.in_flight.is_current(&finished.id, finished.generation);
        let Some(leader) = self.in_flight.get(&finished.id).filter(|_| is_current) else {
            // Paused, cancelled or shut down meanwhile: the outcome is moot.
            self.unprocessed_resends.remove(&finished.id);
            if let Some(gate) = finished.trouble {
                gate.failure_reviewed();
            }
            return Ok(());
        };
        let host = leader.transfer.host.clone();
        if finished.outcome == AttemptOutcome::HeldBack {
            return self.requeue_unsent(tx, &finished.id);
        }
        if finished.outcome == AttemptOutcome::SegmentStored {
            // A download's OS segment stored: queued again, due as it was when this
            // attempt began (so at once, and ahead of work that became due since, even
            // for a queue opened later whose wall clock started behind this one's), no
            // attempt used; the scheduler picks the lane of the next segment.
            for flight in self.in_flight.take_attempt(&finished.id) {
                let due = flight.transfer.next_attempt_at;
                self.requeue_due_at(tx, flight.transfer, due)?;
            }
            return Ok(());
        }
        if matches!(finished.outcome, AttemptOutcome::Unprocessed { .. }) {
            if self.unprocessed_resends.len() >= MAX_TRACKED_RESENDS {
                // Left by transfers cancelled or paused between resends; forgetting a
                // count only lets an attempt be resent a few times more.
                self.unprocessed_resends.clear();
            }
            let resends = self
                .unprocessed_resends
                .entry(finished.id.clone())
                .or_default();
            if *resends < UNPROCESSED_RESENDS {
                *resends += 1;
                return self.requeue_unsent(tx, &finished.id);
            }
        }
        self.unprocessed_resends.remove(&finished.id);
        self.record_health(&host, &finished.outcome, &finished.id, finished.generation);
        for flight in self.in_flight.take_attempt(&finished.id) {
            let outcome = finished
                .parts
                .iter()
                .find(|(id, _)| *id == flight.transfer.id)
                .map_or(&finished.outcome, |(_, outcome)| outcome);
            self.conclude(tx, flight, outcome, effects)?;
        }
        // Only now: the gate must learn what both breakers decided before it lets attempts
        // claimed ahead through again.
        self.lane
            .gates
            .host(&host)
            .set_held(!self.takes_claims(&host));
        if let Some(gate) = &finished.trouble {
            gate.failure_reviewed();
        }
        Ok(())
    }

    /// Whether attempts claimed ahead may go to `host` (`claim_ahead.rs`): neither its
    /// breaker nor its credentials have failed since their last success.
    pub(super) fn takes_claims(&self, host: &str) -> bool {
        self.breakers.is_closed(host) && !self.auth_breakers.refused_lately(host)
    }

    /// Persists an attempt's checkpoint (a resumable upload's resource and offset, a
    /// download's resume state), if the attempt is still current. A checkpoint that waits
    /// for durability hears back only after the commit.
    pub(super) fn on_checkpoint(
        &mut self,
        tx: &Connection,
        checkpoint: Checkpoint,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if !self
            .in_flight
            .is_current(&checkpoint.id, checkpoint.generation)
        {
            return Ok(()); // finished, cancelled or replaced meanwhile: dropping `committed` says so
        }
        let now_ms = self.clock.now_ms();
        let Checkpoint {
            id,
            generation,
            record,
            committed,
        } = checkpoint;
        match record {
            Saved::Upload(resource) => {
                self.upload_resources
                    .record(tx, &id, generation, &resource, now_ms)?;
            }
            Saved::Download(state) => {
                downloads::record(
                    tx,
                    &mut self.upload_resources.ledger,
                    &id,
                    generation,
                    &state,
                    now_ms,
                )?;
                if let Some(flight) = self.in_flight.get_mut(&id) {
                    downloads::learn_size(
                        tx,
                        &mut flight.transfer,
                        state.total,
                        &mut self.pending_totals,
                    )?;
                }
            }
        }
        reply_when_committed(committed, effects);
        Ok(())
    }

    /// Feeds one request's outcome to its host's breaker (once per request, however many
    /// files it carried), the attempt `generation` of `id` (its leader). An attempt that
    /// advanced its file (a checkpoint of its own moved the stored offset) was answered
    /// with bytes: a cut or a stall after that says nothing of the host's health, and is
    /// not counted (a large download stalling now and then must not open the breaker, nor
    /// hold back the host's other files).
    pub(super) fn record_health(
        &mut self,
        host: &str,
        outcome: &AttemptOutcome,
        id: &TransferId,
        generation: u64,
    ) {
        let cut_after_bytes = matches!(
            outcome,
            AttemptOutcome::Network { .. } | AttemptOutcome::Stalled
        );
        if cut_after_bytes && self.upload_resources.ledger.advanced(id, generation) {
            return;
        }
        if reached_host(outcome) {
            let healthy = !host_is_unhealthy(outcome);
            if !healthy
                && let Verdict::Retry { error, .. }
                | Verdict::Permanent(error)
                | Verdict::Auth(error) = classify(outcome)
            {
                self.breakers.remember_failure(host, error);
            }
            self.breakers.record(host, healthy, Instant::now());
        }
    }

    /// An attempt the server never processed (claimed ahead and held back at the gate, or
    /// refused unprocessed): queue it again as it was, due when it was (or now, if that is
    /// earlier), without using up an attempt.
    pub(super) fn requeue_unsent(
        &mut self,
        tx: &Connection,
        id: &TransferId,
    ) -> rusqlite::Result<()> {
        for flight in self.in_flight.take_attempt(id) {
            // Due as it was (at most now): a claim that gave its slot back keeps its place
            // ahead of work that became due since.
            let due = flight.transfer.next_attempt_at.min(self.clock.now());
            self.requeue_due_at(tx, flight.transfer, due)?;
        }
        Ok(())
    }

    /// Queues a transfer again after an attempt that ended without a verdict; it does not
    /// use up the retry budget. Returns whether it was running, and so was queued again.
    pub(super) fn requeue_without_verdict(
        &mut self,
        tx: &Connection,
        transfer: Transfer,
    ) -> rusqlite::Result<bool> {
        let now = self.clock.now();
        self.requeue_due_at(tx, transfer, now)
    }

    /// As [`Self::requeue_without_verdict`], due at `due`.
    fn requeue_due_at(
        &mut self,
        tx: &Connection,
        mut transfer: Transfer,
        due: std::time::SystemTime,
    ) -> rusqlite::Result<bool> {
        if !transfer.requeue_without_verdict(due) {
            return Ok(false);
        }
        let now_ms = self.clock.now_ms();
        store::save(tx, &transfer, now_ms, &mut self.pending_totals)?;
        Ok(true)
    }

    /// As [`Self::requeue_without_verdict`], and the app hears that it was queued again.
    pub(super) fn requeue_announced(
        &mut self,
        tx: &Connection,
        flight: InFlight,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let id = flight.transfer.id.clone();
        if self.requeue_without_verdict(tx, flight.transfer)? {
            effects.events.push(TransferEvent::Requeued { id });
        }
        Ok(())
    }

    /// Records the verdict on an attempt that ended, on either lane.
    pub(super) fn conclude(
        &mut self,
        tx: &Connection,
        flight: InFlight,
        outcome: &AttemptOutcome,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let charge =
            self.upload_resources
                .ledger
                .charge(&flight.transfer, flight.generation, outcome);
        let mut transfer = flight.transfer;
        let verdict = classify(outcome);
        self.record_auth_verdict(&transfer.host, &verdict);
        let budget =
            after_retryable_failure(transfer.attempts, self.config.retry.max_attempts, charge);
        let verdict = match verdict {
            Verdict::Retry { error, .. } if budget.exhausted => Verdict::Permanent(TransferError {
                kind: FailureKind::AttemptsExhausted,
                http_status: error.http_status,
                message: format!(
                    "gave up after {} attempts; last: {error}",
                    transfer.attempts
                ),
            }),
            verdict => verdict,
        };
        let id = transfer.id.clone();
        let (conclusion, event) = match verdict {
            Verdict::Succeeded => {
                self.platform.forget(&id);
                self.upload_resources.forget(tx, &transfer.id)?;
                if transfer.direction == Direction::Download {
                    // A size learned now is counted where the transfer is; the save below
                    // moves it on.
                    downloads::finished(tx, &mut transfer, &mut self.pending_totals)?;
                    self.small_download_hosts
                        .observe(&transfer.host, transfer.size);
                }
                let answer = self.keep_answer(tx, &id, outcome)?;
                let event = TransferEvent::Succeeded {
                    id,
                    status: answer.status,
                    headers: answer.headers,
                };
                (Conclusion::Succeeded, event)
            }
            Verdict::Retry {
                error,
                server_delay,
            } => {
                let delay = match server_delay {
                    Some(asked) => retry::server_delay(&self.config.retry, asked),
                    // A full volume: checked again after a fixed wait, as one that is
                    // short of space before its launch (`launch.rs`).
                    None if error.kind == FailureKind::InsufficientSpace => RECHECK_EVERY,
                    None => backoff(
                        &self.config.retry,
                        budget.backoff_attempt,
                        self.rng.random(),
                    ),
                };
                let conclusion = Conclusion::Retry {
                    error: error.clone(),
                    at: self.clock.now() + delay,
                    attempts: budget.attempts,
                };
                let event = TransferEvent::Retrying {
                    id,
                    attempt: transfer.attempts,
                    delay,
                    error,
                };
                (conclusion, event)
            }
            Verdict::Permanent(error) => {
                self.platform.forget(&id);
                if transfer.direction == Direction::Download {
                    downloads::failed(tx, &transfer, effects)?;
                }
                (
                    Conclusion::Failed(error.clone()),
                    TransferEvent::Failed { id, error },
                )
            }
            Verdict::Auth(error) => (
                Conclusion::AuthRequired(error.clone()),
                TransferEvent::AuthRequired { id, error },
            ),
        };
        // A transfer that ended moved the queue; one that must be tried again did not (its
        // bytes, if any, count through the lane's byte counter).
        if !matches!(conclusion, Conclusion::Retry { .. }) {
            self.stall_watch.moved(Instant::now());
        }
        let from = transfer.state.kind();
        if let Err(illegal) = transfer.conclude(conclusion) {
            log::error!("ignored outcome for {}: {illegal:?}", transfer.id);
            return Ok(());
        }
        let now_ms = self.clock.now_ms();
        store::save_replacing(tx, &transfer, from, now_ms, &mut self.pending_totals)?;
        effects.events.push(event);
        Ok(())
    }
}

impl Engine {
    /// Stores the server's answer to a transfer that succeeded, in this turn, as it may be
    /// kept (credential values redacted, the body cut to `response_body_limit`), and
    /// returns it for the event (whose body the event leaves out).
    fn keep_answer(
        &self,
        tx: &Connection,
        id: &TransferId,
        outcome: &AttemptOutcome,
    ) -> rusqlite::Result<ServerResponse> {
        let answer = match outcome {
            AttemptOutcome::Response {
                answer: Some(answer),
                ..
            } => ServerResponse::clone(answer),
            AttemptOutcome::Response { status, .. } => {
                ServerResponse::received(*status, Vec::new(), Vec::new(), false)
            }
            _ => ServerResponse::received(200, Vec::new(), Vec::new(), false),
        };
        let mut kept = answer.kept(
            self.config.response_body_limit,
            &self.config.auth.sensitive_headers,
        );
        store::save_response(tx, id, &kept, self.clock.now_ms())?;
        kept.body = Vec::new();
        Ok(kept)
    }
}

// ---- Request authorization (issue 7): the auth breaker's hooks. ----
impl Engine {
    /// Feeds the per-destination auth breaker: a success closes it, a transfer left
    /// waiting for credentials counts against it.
    pub(super) fn record_auth_verdict(&mut self, host: &str, verdict: &Verdict) {
        match verdict {
            Verdict::Succeeded => self.auth_breakers.close(host),
            Verdict::Auth(_) => self.auth_breakers.record_refused(host, Instant::now()),
            Verdict::Retry { .. } | Verdict::Permanent(_) => {}
        }
    }

    /// The auth breaker for the transfer's host is open: instead of trying credentials
    /// that were just refused, the transfer waits for the app to sign in, as if its
    /// attempt had been refused, without a request and without using up an attempt.
    pub(super) fn hold_for_credentials(
        &mut self,
        tx: &Connection,
        mut transfer: Transfer,
        lane: Lane,
        effects: &mut Effects,
    ) -> rusqlite::Result<bool> {
        let error = TransferError::new(
            FailureKind::Auth,
            "not sent: this destination answered 401 or 403 repeatedly (its credentials are \
             missing or refused); sign the user in, then resume",
        );
        if !transfer.hold_for_credentials(lane, error.clone()) {
            return Ok(false);
        }
        store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)?;
        effects.events.push(TransferEvent::AuthRequired {
            id: transfer.id.clone(),
            error,
        });
        Ok(true)
    }
}
