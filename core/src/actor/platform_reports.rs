//! The engine's handling of the OS lane's reports and deadlines: an OS task's progress
//! and end, the parts a packed task left out, the tasks the OS lost, and the tasks taken
//! back after a stall in the foreground. The decisions are the platform lane's
//! (`platform_lane.rs`); this sequences them with the flights, the verdicts and the
//! turn's effects.
//!
//! Like the rest of the actor, it changes state only inside the turn's transaction and
//! talks to the OS only through the turn's effects, after the commit.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::time::Instant;

use super::downloads;
use super::effects::Effects;
use super::engine::Engine;
use super::in_flight::{FlightLane, InFlight};
use super::local_launch::{Launch, Request};
use super::platform_lane::PlatformLane;
use crate::Direction;
use crate::conditions::AppState;
use crate::events::TransferEvent;
use crate::outcome::AttemptOutcome;
use crate::platform::{PlatformOutcome, PlatformReport, to_attempt_outcome};
use crate::store;

impl Engine {
    pub(super) fn on_platform_report(
        &mut self,
        tx: &Connection,
        report: PlatformReport,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        match report {
            PlatformReport::Progress {
                key,
                bytes_sent,
                bytes_total,
            } => {
                let now = Instant::now();
                if self.platform.on_progress(
                    &mut self.in_flight,
                    &key,
                    bytes_sent,
                    bytes_total,
                    now,
                ) {
                    self.stall_watch.moved(now);
                }
                Ok(())
            }
            PlatformReport::Finished { key, outcome } => {
                let flights = self.take_platform_task(&key);
                if flights.is_empty() {
                    log::debug!("ignored a report for {key}: it is no longer running");
                    return Ok(());
                }
                effects.platform_releases.push(key.clone());
                let segment = match (&outcome, flights.as_slice()) {
                    (
                        PlatformOutcome::Response {
                            status, headers, ..
                        },
                        [flight],
                    ) if flight.transfer.direction == Direction::Download => {
                        Some((*status, headers.clone()))
                    }
                    _ => None,
                };
                match (to_attempt_outcome(outcome, self.clock.now()), segment) {
                    (Some(otherwise), Some((status, headers))) => {
                        let mut flights = flights;
                        match flights.pop() {
                            Some(flight) => {
                                self.apply_segment(tx, flight, status, headers, otherwise, effects)
                            }
                            None => Ok(()),
                        }
                    }
                    (Some(outcome), _) => self.conclude_platform(tx, flights, &outcome, effects),
                    (None, _) => {
                        log::info!("the OS cancelled {key}; queued again");
                        for flight in flights {
                            self.requeue_announced(tx, flight, effects)?;
                        }
                        Ok(())
                    }
                }
            }
            PlatformReport::Started { key } => {
                self.in_flight.touch_platform_task(&key, Instant::now());
                Ok(())
            }
            PlatformReport::Rejected { key, outcome } => {
                let flights = self.take_platform_task(&key);
                self.conclude_platform(tx, flights, &outcome, effects)
            }
            PlatformReport::PartsLeftOut { key, parts } => {
                for (id, outcome) in parts {
                    if let Some(flight) = self.in_flight.take_batch_member(&key, &id) {
                        self.conclude(tx, flight, &outcome, effects)?;
                    }
                }
                Ok(())
            }
            PlatformReport::KeepAliveAnswered { granted } => {
                self.keep_alive.answered(granted);
                Ok(())
            }
            PlatformReport::KeepAliveEnded => {
                effects.keep_alive.extend(self.keep_alive.ended());
                Ok(())
            }
            PlatformReport::Outstanding { query, keys } => {
                // Tasks the OS no longer knows went away without a report (a force-quit
                // can do that): their transfers run again.
                for key in self.platform.vanished(&self.in_flight, query, keys) {
                    let flights = self.take_platform_task(&key);
                    log::info!("the OS lost {key} without a report; queued again");
                    effects.platform_releases.push(key);
                    for flight in flights {
                        self.requeue_announced(tx, flight, effects)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// A download's segment arrived (the shim moved it beside the partial file): it is
    /// checked and appended after the commit, off the turn (`http/download/segment.rs`),
    /// as local work of the same attempt, which reports its outcome like an in-process
    /// one: `SegmentStored` queues the download again for its next segment.
    fn apply_segment(
        &mut self,
        tx: &Connection,
        mut flight: InFlight,
        status: u16,
        headers: Vec<(String, String)>,
        otherwise: AttemptOutcome,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let sender = self.upload_resources.checkpoint_sender();
        let ledger = &mut self.upload_resources.ledger;
        let record = store::load_download(tx, &flight.transfer.id)?.unwrap_or_default();
        let job = downloads::job(&flight.transfer, record, flight.generation, sender, ledger);
        let job = downloads::segment_job(&flight.transfer, job, status, headers, otherwise);
        effects.launches.push(Launch {
            leader: flight.transfer.id.clone(),
            host: flight.transfer.host.clone(),
            generation: flight.generation,
            request: Request::Segment {
                job: Box::new(job),
                progress: Arc::clone(&flight.progress),
            },
        });
        flight.lane = FlightLane::InProcess { abort: None };
        flight.applying_segment = true;
        self.in_flight.insert(vec![flight]);
        Ok(())
    }

    /// Every file of the OS task `key`, taken out of the flights.
    fn take_platform_task(&mut self, key: &str) -> Vec<InFlight> {
        self.platform.forget_task(key);
        self.in_flight.take_platform_task(key)
    }

    /// Records one request's outcome on every file it carried.
    fn conclude_platform(
        &mut self,
        tx: &Connection,
        flights: Vec<InFlight>,
        outcome: &AttemptOutcome,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if let Some(first) = flights.first() {
            let host = first.transfer.host.clone();
            let (id, generation) = (first.transfer.id.clone(), first.generation);
            self.record_health(&host, outcome, &id, generation);
        }
        for flight in flights {
            self.conclude(tx, flight, outcome, effects)?;
        }
        Ok(())
    }

    /// Back in the foreground (a "wake"): OS tasks get a fresh stall timer, since time in
    /// the background is not the OS stalling, and the OS is asked which tasks it still has.
    pub(super) fn on_foreground(&mut self, effects: &mut Effects) {
        let now = Instant::now();
        let query = self.platform.on_foreground(&mut self.in_flight, now);
        self.stall_watch.moved(now);
        if query.is_some() {
            effects.outstanding_query = query;
        }
    }

    /// In the foreground, an OS task that has not moved for `platform_stall_timeout` is
    /// cancelled and its transfer taken back in-process: the seed's five-minute stall,
    /// recovered in `platform_stall_timeout`.
    pub(super) fn recover_platform_stalls(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if self.app_state != AppState::Foreground {
            return Ok(());
        }
        let timeout = self.config.platform.platform_stall_timeout;
        for key in PlatformLane::stalled(&self.in_flight, Instant::now(), timeout) {
            let flights = self.take_platform_task(&key);
            log::info!("the OS made no progress on {key} for {timeout:?}; taking it back");
            effects.platform_cancels.push(key);
            for flight in flights {
                let id = flight.transfer.id.clone();
                self.platform.take_back(id.clone());
                effects
                    .events
                    .push(TransferEvent::TakenBackFromPlatform { id });
                self.requeue_announced(tx, flight, effects)?;
            }
        }
        Ok(())
    }
}
