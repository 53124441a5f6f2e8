//! The engine: everything the actor owns besides the database connection, composed of
//! sub-states that own their fields (what runs where, the platform lane, packing, claim
//! depth, stall watch), and the one place that sequences them: it dispatches each message
//! of a turn, schedules, and acts on a committed turn.
//!
//! The engine's own phases live beside it: `commands.rs` (the app's commands),
//! `outcomes.rs` (finished attempts), `platform_reports.rs` (the OS's reports), `launch.rs`
//! (the one launch path), `bulk.rs` (bulk calls). A sub-state answers questions and
//! returns decisions; it never calls the engine.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::bulk_job::BulkJob;
use super::claim_ahead::{self, ClaimDepth, SmallDownloadHosts};
use super::effects::Effects;
use super::group_commit::GroupCommit;
use super::host_status;
use super::in_flight::{FlightLane, Flights, InFlight};
use super::keep_alive::{KeepAlive, TurnFacts};
use super::message::{AttemptFinished, Message, Reply};
use super::os_order;
use super::packing::Packing;
use super::platform_lane::PlatformLane;
use super::stall_watch::{StallFacts, StallWatch};
use super::upload_resources::UploadResources;
use crate::auth::attempt::AuthContext;
use crate::auth::breaker::AuthBreakers;
use crate::breaker::Breakers;
use crate::clock::Clock;
use crate::conditions::{AppState, NetworkStatus};
use crate::config::QueueConfig;
use crate::error::StoreError;
use crate::events::TransferEvent;
use crate::http::{AttemptProgress, Checkpoint, Floor, HttpLane};
use crate::platform::PlatformDriver;
use crate::progress::RateMeter;
use crate::scheduler::{Batch, Candidate, LaneChoice, LanePolicy, Occupancy, Situation, pick};
use crate::store;
use crate::{Error, StateKind, Transfer, TransferId};

/// Everything the actor owns besides the database connection.
pub(crate) struct Engine {
    pub(super) config: QueueConfig,
    pub(super) clock: Clock,
    pub(super) lane: Arc<HttpLane>,
    /// The OS lane's state and decisions.
    pub(super) platform: PlatformLane,
    /// What runs where.
    pub(super) in_flight: Flights,
    /// Which queued files may be packed together.
    pub(super) packing: Packing,
    /// A failed commit's requeue of running transfers failed too; retried every turn.
    pub(super) requeue_pending: bool,
    /// This turn's changes to the per-state totals, written before it commits.
    pub(super) pending_totals: store::TotalsDelta,
    /// How many times in a row an attempt (by the id that leads it) was sent again because
    /// the server did not process it (`http/unprocessed.rs`); past
    /// `UNPROCESSED_RESENDS` (`outcomes.rs`) it gets a verdict. An id leaves at any other
    /// outcome.
    pub(super) unprocessed_resends: HashMap<TransferId, u32>,
    /// Resumable uploads' resources and progress.
    pub(super) upload_resources: UploadResources,
    pub(super) stall_watch: StallWatch,
    /// How far ahead of the free slots to claim (`actor/claim_ahead.rs`).
    pub(super) claim_depth: ClaimDepth,
    /// Whose downloads of unknown size are claimed ahead (`actor/claim_ahead.rs`).
    pub(super) small_download_hosts: SmallDownloadHosts,
    /// The app's request authorizer, with what expiry decisions need.
    pub(super) auth: Option<Arc<AuthContext>>,
    pub(super) auth_breakers: AuthBreakers,
    /// Delivers what committed turns tell, once the WAL holding them is synced.
    pub(super) group_commit: GroupCommit,
    pub(super) finished_sender: mpsc::UnboundedSender<AttemptFinished>,
    pub(super) breakers: Breakers,
    /// The network the app reported, or [`NetworkStatus::NOT_REPORTED`] until it does.
    pub(super) network: NetworkStatus,
    pub(super) network_reported: bool,
    pub(super) app_state: AppState,
    /// Whether the platform keeps the app running for Ferry (`actor/keep_alive.rs`).
    pub(super) keep_alive: KeepAlive,
    pub(super) idle_waiters: Vec<oneshot::Sender<()>>,
    pub(super) shutdown_waiters: Vec<oneshot::Sender<()>>,
    /// Bulk calls under way, oldest first: one chunk per turn (`actor/bulk.rs`).
    pub(super) bulk_jobs: VecDeque<BulkJob>,
    pub(super) stopping: bool,
    pub(super) rate: RateMeter,
    pub(super) last_tick: Instant,
    /// The `now_ms` the scheduler last looked at. A retry time after it may have become due
    /// since, so the next wake-up is computed from here, not from the current time; from
    /// the current time, a transfer due in between would never wake the actor.
    pub(super) last_schedule_ms: i64,
    pub(super) rng: StdRng,
}

/// The channels attempts report on.
pub(super) struct Reports {
    pub(super) finished: mpsc::UnboundedSender<AttemptFinished>,
    pub(super) checkpoints: mpsc::UnboundedSender<Checkpoint>,
}

impl Engine {
    #[allow(clippy::too_many_arguments)] // one of each thing the engine owns
    pub(super) fn new(
        config: QueueConfig,
        clock: Clock,
        lane: HttpLane,
        platform: Option<PlatformDriver>,
        auth: Option<Arc<AuthContext>>,
        group_commit: GroupCommit,
        reports: Reports,
        may_hold_upload_resources: bool,
    ) -> Self {
        let breakers = Breakers::new(config.breaker);
        let (app_state, network) = (config.app_state, config.network);
        let auth_breakers =
            AuthBreakers::new(config.auth.breaker_threshold, config.auth.breaker_cooldown);
        let packing = Packing::new(
            config.batching.clone(),
            config.platform.large_file_threshold,
        );
        Self {
            config,
            clock,
            lane: Arc::new(lane),
            platform: PlatformLane::new(platform),
            in_flight: Flights::default(),
            packing,
            requeue_pending: false,
            pending_totals: store::TotalsDelta::default(),
            unprocessed_resends: HashMap::new(),
            upload_resources: UploadResources::new(may_hold_upload_resources, reports.checkpoints),
            stall_watch: StallWatch::new(Instant::now()),
            claim_depth: ClaimDepth::default(),
            small_download_hosts: SmallDownloadHosts::default(),
            auth,
            auth_breakers,
            group_commit,
            finished_sender: reports.finished,
            breakers,
            network: network.unwrap_or(NetworkStatus::NOT_REPORTED),
            network_reported: network.is_some(),
            app_state,
            keep_alive: KeepAlive::default(),
            idle_waiters: Vec::new(),
            shutdown_waiters: Vec::new(),
            bulk_jobs: VecDeque::new(),
            stopping: false,
            rate: RateMeter::default(),
            last_tick: Instant::now(),
            last_schedule_ms: 0,
            rng: StdRng::from_os_rng(),
        }
    }

    /// Asks for the keep-alive or lets it go, as the queue's work and the app's state say
    /// (`keep_alive.rs`). Runs in every turn before scheduling, so the turn's launches see
    /// the answer's lane.
    pub(super) fn keep_app_running_as_needed(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        if !self.config.platform.keep_app_running || !self.platform.available() {
            return Ok(());
        }
        let facts = TurnFacts {
            app_state: self.app_state,
            stopping: self.stopping,
            nothing_in_flight: self.in_flight.is_empty(),
        };
        let pending = &self.pending_totals;
        let request = self.keep_alive.decide(&facts, || -> rusqlite::Result<_> {
            let totals = store::totals_with(tx, pending)?;
            let (queued, queued_bytes) = totals.get(StateKind::Queued);
            let (running, running_bytes) = totals.get(StateKind::Running);
            Ok((queued + running > 0).then_some(queued_bytes.saturating_add(running_bytes)))
        })?;
        effects.keep_alive.extend(request);
        Ok(())
    }

    /// The lane rules now (`scheduler.rs`).
    pub(super) fn lane_policy(&self) -> LanePolicy {
        self.platform.policy(
            &self.config,
            self.app_state,
            self.keep_alive.keeps_transfers_in_process(),
        )
    }

    /// Transfers found running on OS tasks at open: watched like any other OS task.
    pub(super) fn adopt(&mut self, transfers: Vec<Transfer>) {
        let bytes_moved = Arc::clone(&self.lane.bytes_moved);
        self.in_flight.adopt(transfers, || {
            Arc::new(AttemptProgress::new(Arc::clone(&bytes_moved)))
        });
    }

    /// A store error fails the whole turn: it is rolled back and the engine
    /// resynchronised, so no attempt is left half-recorded (taken out of the flights but
    /// still `running` in the store).
    pub(super) fn handle(
        &mut self,
        tx: &Connection,
        message: Message,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        match message {
            Message::Command(command) => {
                self.handle_command(tx, command, effects);
                Ok(())
            }
            Message::Finished(finished) => self.on_attempt_finished(tx, finished, effects),
            Message::Platform(report) => self.on_platform_report(tx, report, effects),
            Message::Checkpoint(checkpoint) => self.on_checkpoint(tx, checkpoint, effects),
            Message::Tick => self.on_tick(tx, effects),
        }
    }

    fn on_tick(&mut self, tx: &Connection, effects: &mut Effects) -> rusqlite::Result<()> {
        self.last_tick = Instant::now();
        self.sample_rate();
        self.recover_platform_stalls(tx, effects)?;
        self.watch_for_queue_stall(tx, effects)?;
        for (id, bytes_sent, bytes_total) in self.in_flight.unreported_progress() {
            effects.events.push(TransferEvent::Progress {
                id,
                bytes_sent,
                bytes_total,
            });
        }
        Ok(())
    }

    /// Fires `QueueStalled` once per stall.
    fn watch_for_queue_stall(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let now = Instant::now();
        let moved = self.lane.bytes_moved.load(Ordering::Relaxed);
        self.stall_watch.observe_bytes(moved, now);
        let after = self.config.platform.queue_stall_after;
        let Some(deadline) = self.stall_watch.deadline(after) else {
            return Ok(());
        };
        if now < deadline || !self.network.online {
            return Ok(());
        }
        if self.in_flight.is_empty() && !store::any_runnable(tx)? {
            return Ok(());
        }
        let blocked_hosts: Vec<String> = self.breakers.blocked_hosts(now).collect();
        // Asked only when nothing more specific explains the stall, as before.
        let retry_waiting = self.in_flight.is_empty()
            && blocked_hosts.is_empty()
            && store::next_retry_at(tx, self.clock.now_ms())?.is_some();
        let facts = StallFacts {
            in_flight: self.in_flight.len(),
            on_platform: self.in_flight.on_platform(),
            blocked_hosts,
            retry_waiting,
            network_expensive_or_constrained: self.network.expensive || self.network.constrained,
            network_reported: self.network_reported,
        };
        let reason = facts.reason();
        log::warn!("the queue has not moved for {after:?}: {reason}");
        let idle_for = self.stall_watch.report(now);
        effects.events.push(TransferEvent::QueueStalled {
            reason,
            idle_for,
            hosts: host_status::host_statuses(tx, &self.breakers, &self.clock)?,
        });
        Ok(())
    }

    /// Starts what may start now, within the limits. Hosts that can take nothing more are
    /// excluded in the query, so every round starts at least one transfer or ends.
    pub(super) fn schedule(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        self.fill_free_slots(tx, effects)?;
        let floors = self.claim_floors(tx)?;
        self.lane.gates.make_way_below(floors.at_the_gates);
        self.claim_ahead(tx, floors.for_new_claims, effects)
    }

    /// What claims ahead must make way for (`http/gate.rs`, `claim_ahead::Floors`):
    /// everything while the OS carries all work (waiting claims go back to the queue, and
    /// so to the OS), and otherwise the highest priority among due transfers a free slot
    /// would start. No claim is made below it, and waiting claims below it give their
    /// slots back (only when more run in-process than the smaller limit can anything wait
    /// at a gate).
    fn claim_floors(&self, tx: &Connection) -> rusqlite::Result<claim_ahead::Floors> {
        if self.lane_policy().os_carries_everything() {
            return Ok(claim_ahead::Floors::ALL);
        }
        // Only transfers a free slot would start: not those of a host behind an open
        // breaker, nor of one whose breaker lets only the actor's probe through.
        let now = Instant::now();
        let unstartable: Vec<String> = self
            .breakers
            .blocked_hosts(now)
            .chain(self.breakers.probing_hosts(now).map(str::to_owned))
            .collect();
        let filter = self.candidate_filter(self.clock.now_ms(), &unstartable);
        let highest_waiting = store::due_candidates(tx, &filter, 1)?
            .first()
            .map(|row| row.priority);
        let occupancy = self.in_flight.occupancy();
        let in_process = occupancy.total.saturating_sub(occupancy.platform);
        let limits = self.config.limits;
        let lowest_running = if in_process > limits.per_host.min(limits.global) {
            self.in_flight
                .iter()
                .filter(|flight| !flight.is_platform())
                .map(|flight| i64::from(flight.transfer.upload.priority))
                .min()
        } else {
            None
        };
        Ok(claim_ahead::Floors::new(lowest_running, highest_waiting))
    }

    fn fill_free_slots(&mut self, tx: &Connection, effects: &mut Effects) -> rusqlite::Result<()> {
        let now_ms = self.clock.now_ms();
        self.last_schedule_ms = now_ms;
        if !self.network.online {
            return Ok(());
        }
        let now = Instant::now();
        let limits = self.config.limits;
        // Set once a round read every row of its window and left slots free.
        let mut widened = None;
        loop {
            let occupancy = self.in_flight.occupancy();
            let free = limits.global.saturating_sub(occupancy.total);
            if free == 0 {
                return Ok(());
            }
            let window = widened.unwrap_or_else(|| self.packing.first_window(free));
            let mut excluded_hosts = self.hosts_that_take_nothing(&occupancy, |host, in_flight| {
                in_flight < limits.per_host && self.breakers.admits(host, now, in_flight)
            });
            // A recovering host's one probe goes to its longest-waiting transfer.
            let mut rows = host_status::probe_candidates(
                tx,
                &self.breakers,
                &self.candidate_filter(now_ms, &excluded_hosts),
                &occupancy,
                now,
            )?;
            excluded_hosts.extend(self.breakers.probing_hosts(now).map(str::to_owned));
            let filter = self.candidate_filter(now_ms, &excluded_hosts);
            let due = store::due_candidates(tx, &filter, window)?;
            let read_whole_window = due.len() == window;
            let lanes = self.lane_policy();
            if lanes.os_carries_everything() {
                let large =
                    store::due_large_candidates(tx, &filter, lanes.large_file_threshold, free)?;
                rows.extend(os_order::large_first(large, due));
            } else {
                rows.extend(due);
            }
            let candidates = self.candidates(&rows);
            let batches = self.packing.limits();
            let situation = Situation {
                network: &self.network,
                limits: &limits,
                lanes: &lanes,
                occupancy: &occupancy,
                batches: &batches,
            };
            let breakers = &self.breakers;
            let decisions = pick(&candidates, &situation, |host, in_flight| {
                breakers.admits(host, now, in_flight)
            });
            let mut launched = 0;
            let mut packed: Vec<(Batch, LaneChoice, Vec<i64>)> = Vec::new();
            for decision in decisions {
                let Some(row) = rows.get(decision.position) else {
                    continue;
                };
                match decision.batch {
                    None => {
                        launched +=
                            self.launch(tx, &[row.seq], decision.lane, None, false, effects)?;
                    }
                    Some(batch) => match packed.iter_mut().find(|(b, _, _)| *b == batch) {
                        Some((_, _, members)) => members.push(row.seq),
                        None => packed.push((batch, decision.lane, vec![row.seq])),
                    },
                }
            }
            for (batch, lane, members) in packed {
                launched +=
                    self.launch(tx, &members, lane, Some(batch.endpoint), false, effects)?;
            }
            if launched < free
                && read_whole_window
                && let Some(wider) = Packing::wider_window(window)
            {
                // Rows past the window may start what these could not.
                widened = Some(wider);
                continue;
            }
            if launched == 0 {
                return Ok(());
            }
        }
    }

    /// After the free slots are filled, claims more in-process transfers, none below
    /// `floor` (`claim_ahead.rs`): committed as running now, they wait at the gates.
    fn claim_ahead(
        &mut self,
        tx: &Connection,
        floor: Floor,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        let authorized = self.auth.is_some();
        if !self.network.online || authorized || self.in_flight.on_platform() > 0 {
            return Ok(());
        }
        if floor == Floor::All {
            return Ok(());
        }
        let ahead = claim_ahead::limits(self.config.limits, &self.claim_depth);
        let occupancy = self.in_flight.occupancy();
        let free = ahead.global.saturating_sub(occupancy.total);
        if free == 0 {
            return Ok(());
        }
        // Only hosts in good health: anything else waits for the actor's own launches.
        let excluded_hosts = self.hosts_that_take_nothing(&occupancy, |host, in_flight| {
            in_flight < ahead.per_host && self.takes_claims(host)
        });
        let filter = self.candidate_filter(self.clock.now_ms(), &excluded_hosts);
        let rows: Vec<store::CandidateRow> =
            store::due_small_candidates(tx, &filter, claim_ahead::AHEAD_MAX_BYTES, free)?
                .into_iter()
                .filter(|row| {
                    claim_ahead::may_claim(row, &self.small_download_hosts)
                        && claim_ahead::above(floor, row.priority)
                        && !self.platform.took_back(&row.id)
                        && self.packing.packable_into(row).is_none()
                        && self.takes_claims(&row.host)
                })
                .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let candidates = self.candidates(&rows);
        let lanes = self.lane_policy();
        let situation = Situation {
            network: &self.network,
            limits: &ahead,
            lanes: &lanes,
            occupancy: &occupancy,
            batches: &[],
        };
        let decisions = pick(&candidates, &situation, |_, _| true);
        for decision in decisions {
            if decision.lane != LaneChoice::InProcess || decision.batch.is_some() {
                continue;
            }
            if let Some(row) = rows.get(decision.position) {
                // The host is in good health now: its gate may have been held since.
                self.lane.gates.host(&row.host).set_held(false);
                self.launch(tx, &[row.seq], LaneChoice::InProcess, None, true, effects)?;
            }
        }
        Ok(())
    }

    /// Hosts the scheduler must not look at: those with requests in flight that `takes`
    /// one more no longer, and those behind an open breaker.
    fn hosts_that_take_nothing(
        &self,
        occupancy: &Occupancy,
        takes: impl Fn(&str, usize) -> bool,
    ) -> Vec<String> {
        occupancy
            .per_host
            .iter()
            .filter(|(host, in_flight)| !takes(host, **in_flight))
            .map(|(host, _)| host.clone())
            .chain(self.breakers.blocked_hosts(Instant::now()))
            .collect()
    }

    fn candidate_filter<'a>(
        &self,
        now_ms: i64,
        excluded_hosts: &'a [String],
    ) -> store::CandidateFilter<'a> {
        store::CandidateFilter {
            now_ms,
            network_expensive: self.network.expensive,
            network_constrained: self.network.constrained,
            excluded_hosts,
        }
    }

    fn candidates(&self, rows: &[store::CandidateRow]) -> Vec<Candidate> {
        rows.iter()
            .map(|row| Candidate {
                host: row.host.clone(),
                constraints: row.constraints,
                size: row.size,
                // A resumable upload the server holds continues in-process, from its
                // offset (docs/resumable.md), like work the OS stalled on.
                taken_back: self.platform.took_back(&row.id) || row.has_resumable_upload,
                packable_into: self.packing.packable_into(row),
                in_process_only: row.is_download && !self.config.platform.downloads_to_os,
            })
            .collect()
    }

    /// Stops an attempt that was taken out of the flights: aborts our task, or cancels the
    /// OS task.
    pub(super) fn stop(&mut self, flight: InFlight, effects: &mut Effects) {
        match flight.lane {
            FlightLane::InProcess { abort } => effects.aborts.extend(abort),
            FlightLane::Platform { key, .. } => {
                self.platform.forget_task(&key);
                if self.in_flight.release_key(&key) {
                    effects.platform_cancels.push(key);
                }
            }
        }
    }

    /// On shutdown: stop every in-process attempt and queue it again, durably. OS tasks
    /// go on without the app; they are reconciled at the next open.
    pub(super) fn interrupt_all(
        &mut self,
        tx: &Connection,
        effects: &mut Effects,
    ) -> rusqlite::Result<()> {
        for flight in self.in_flight.drain() {
            let FlightLane::InProcess { abort } = flight.lane else {
                continue;
            };
            effects.aborts.extend(abort);
            self.requeue_without_verdict(tx, flight.transfer)?;
        }
        Ok(())
    }

    /// Acts on a committed turn: aborts and launches now; replies, events and OS-task
    /// operations once the turn is durable (`group_commit.rs`). `synced`: the turn synced
    /// the WAL itself after its commit, so nothing of it waits for another sync.
    pub(super) fn deliver(&mut self, mut effects: Effects, synced: bool) {
        let local = effects.take_local();
        if synced {
            self.group_commit.hand_over_synced(effects);
        } else {
            self.group_commit.hand_over(effects);
        }
        for abort in local.aborts {
            abort.abort();
        }
        for launch in local.launches {
            self.spawn(launch);
        }
    }

    /// After a failed commit, memory may be ahead of the store: stop every attempt and put
    /// every in-process transfer the store thinks is running back in the queue.
    /// OS tasks are cancelled too, and every running transfer is queued again.
    pub(super) fn resynchronise(&mut self, conn: &mut Connection) {
        let mut cancels = Vec::new();
        for flight in self.in_flight.drain() {
            match flight.lane {
                FlightLane::InProcess { abort } => abort.into_iter().for_each(|a| a.abort()),
                FlightLane::Platform { key, .. } => cancels.push(key),
            }
        }
        self.platform.forget_every_task();
        // After any start still waiting in the group commit, never before it.
        self.group_commit.hand_over(Effects {
            platform_cancels: cancels,
            ..Effects::default()
        });
        if let Err(error) = store::requeue_running(conn, self.clock.now_ms()) {
            // Tried again at the start of every turn until it holds (a full disk, say):
            // nothing may stay `running` with no attempt behind it.
            log::error!("could not requeue interrupted transfers: {error}");
            self.requeue_pending = true;
        }
    }

    /// Fails the replies of a turn that did not happen, and cancels its OS tasks, in
    /// order after everything told before.
    pub(super) fn refuse(
        &self,
        replies: Vec<Reply>,
        platform_cancels: Vec<String>,
        error: &StoreError,
    ) {
        let replies = replies
            .into_iter()
            .map(|reply| {
                let error = error.clone();
                Box::new(move |_: Option<&StoreError>| reply(Some(&error))) as Reply
            })
            .collect();
        self.group_commit.hand_over(Effects {
            replies,
            platform_cancels,
            ..Effects::default()
        });
    }

    pub(super) fn wake_idle_waiters(&mut self, conn: &Connection) {
        if self.idle_waiters.is_empty() || !self.in_flight.is_empty() || self.has_bulk_work() {
            return;
        }
        match store::any_runnable(conn) {
            Ok(false) => self.group_commit.hand_over(Effects {
                idle_waiters: std::mem::take(&mut self.idle_waiters),
                ..Effects::default()
            }),
            Ok(true) => {}
            Err(error) => log::error!("checking for idleness failed: {error}"),
        }
    }
}

pub(super) fn sqlite(error: rusqlite::Error) -> Error {
    Error::Store(StoreError::sqlite(error))
}
