//! The actor: the one task that owns the queue's state.
//!
//! Commands from [`crate::TransferQueue`] handles and outcomes from running attempts arrive
//! on channels. The actor takes everything waiting (up to [`mailbox::MAX_BATCH`]) as one *turn*:
//! it applies each message through the pure [`transition`] function, lets the scheduler
//! start what may start, and commits the whole turn in one SQLite transaction (group
//! commit). After the commit, the actor launches and aborts attempts at once; replies,
//! events and OS-task operations wait in `group_commit.rs` until a sync of the WAL has
//! made the turn durable. So every state change is durable before anyone outside this
//! process hears of it.
//!
//! The actor must never await network or file I/O itself: attempts run in their own
//! tasks and report back, and no inline commit waits for the disk (`group_commit.rs`
//! syncs on the blocking pool; checkpoints are ours, not SQLite's). A turn of finished
//! attempts and ticks runs inline on the runtime worker: a few hundred microseconds of
//! SQLite at most. A turn with the app's commands runs on the blocking pool, as an
//! `enqueue_many` can insert 100,000 rows, and syncs before it launches anything: a new
//! transfer's row is on disk before any request for it. So does a turn that checkpoints.
//! While attempts claimed ahead wait at the request gates, the actor gathers more
//! finished attempts into one turn (`mailbox.rs`).

mod resumable;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::Connection;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::attempt_budget::after_retryable_failure;
use crate::auth::attempt::{AuthContext, run_attempt_with};
use crate::auth::breaker::AuthBreakers;
use crate::breaker::Breakers;
use crate::classify::{
    AttemptOutcome, Verdict, classify, host_is_unhealthy, reached_host, troubles_host,
};
use crate::clock::Clock;
use crate::conditions::{AppState, NetworkStatus};
use crate::config::QueueConfig;
use crate::error::{FailureKind, StoreError, TransferError};
use crate::events::TransferEvent;
use crate::hosts::HostStatus;
use crate::lane::{AttemptJob, AttemptProgress, Checkpoint, Gated, HostGate, HttpLane, run_gated};
use crate::platform::{BodyPlan, Handoff, PlatformDriver, PlatformReport};
use crate::progress::{Progress, RateMeter, StateCount, eta};
use crate::retry::{self, backoff};
use crate::scheduler::{Batch, Candidate, LaneChoice, Occupancy, Situation, pick};
use crate::state::{Effect, Input, Lane, StateKind, TransferState, transition};
use crate::store::{self, Store, WalSync};
use crate::upload::ValidatedUpload;
use crate::{Error, Transfer, TransferId};

mod attempt_charge;
mod batching;
mod bulk;
mod claim_ahead;
mod group_commit;
mod host_status;
mod mailbox;
mod platform_lane;
mod stall_watch;

use batching::BatchLaunch;
use bulk::BulkJob;
pub(crate) use bulk::BulkRequest;
use group_commit::{GroupCommit, Told};
use mailbox::Mailbox;

use attempt_charge::ProgressLedger;
use claim_ahead::ClaimDepth;
use stall_watch::StallWatch;

/// How many queued candidates the scheduler reads at least, per round.
const CANDIDATE_WINDOW: usize = 16;

/// How many times in a row one attempt is sent again, at once and without using up an
/// attempt, because the server did not process it. A client may still pick a connection
/// that is going away, so once is not enough (seen: twice in a row against a server that
/// ends every connection after 10 requests); a server that processes nothing still gets a
/// verdict after this many.
const UNPROCESSED_RESENDS: u32 = 4;
/// The most attempts whose resends are counted at once (a few KiB).
const MAX_TRACKED_RESENDS: usize = 1024;

pub(crate) type EnqueueResults = Vec<Result<TransferId, Error>>;

/// A request from a queue handle.
pub(crate) enum Command {
    Enqueue {
        uploads: Vec<Result<ValidatedUpload, Error>>,
        reply: oneshot::Sender<Result<EnqueueResults, Error>>,
    },
    Get {
        id: TransferId,
        reply: oneshot::Sender<Result<Transfer, Error>>,
    },
    List {
        state: Option<StateKind>,
        offset: u64,
        limit: u64,
        reply: oneshot::Sender<Result<Vec<Transfer>, Error>>,
    },
    Control {
        id: TransferId,
        input: Input,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Progress {
        reply: oneshot::Sender<Result<Progress, Error>>,
    },
    CountByState {
        reply: oneshot::Sender<Result<Vec<StateCount>, Error>>,
    },
    HostStatus {
        reply: oneshot::Sender<Result<Vec<HostStatus>, Error>>,
    },
    /// `cancel_where`, `retry_where`, `purge_where`: answered with how many transfers it
    /// changed, once its last chunk is committed (`actor/bulk.rs`).
    Bulk {
        request: BulkRequest,
        reply: oneshot::Sender<Result<u64, Error>>,
    },
    SetAppState {
        state: AppState,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetNetwork {
        status: NetworkStatus,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    WaitIdle {
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: Option<oneshot::Sender<()>>,
    },
}

/// An attempt's outcome, reported by its task. `generation` tells a stale report (from an
/// attempt that was aborted and replaced) from the current one.
pub(crate) struct AttemptFinished {
    id: TransferId,
    generation: u64,
    /// The request's outcome; for a packed batch, the outcome of every part not in `parts`.
    outcome: AttemptOutcome,
    /// A packed batch's per-part outcomes, by transfer id.
    parts: Vec<(TransferId, AttemptOutcome)>,
    /// The request troubled its host: claimed-ahead attempts wait for this review.
    trouble: Option<Arc<HostGate>>,
}

impl AttemptFinished {
    /// The report of a task whose request went through the gate (or was held back there).
    fn of_gated(id: TransferId, generation: u64, gated: Gated<AttemptOutcome>) -> Self {
        let (outcome, trouble) = match gated {
            Gated::Ran { value, failure } => (value, failure),
            Gated::HeldBack => (AttemptOutcome::HeldBack, None),
        };
        Self {
            id,
            generation,
            outcome,
            parts: Vec::new(),
            trouble,
        }
    }
}

enum Message {
    Command(Command),
    Finished(AttemptFinished),
    Platform(PlatformReport),
    Checkpoint(Checkpoint),
    Tick,
}

/// Sent once the turn's commit succeeded (`None`) or failed (`Some`).
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

fn reply_after_commit<T: Send + 'static>(
    sender: oneshot::Sender<Result<T, Error>>,
    value: Result<T, Error>,
) -> Reply {
    Box::new(move |failed: Option<&StoreError>| {
        let value = match failed {
            None => value,
            Some(error) => Err(Error::Store(error.clone())),
        };
        let _ = sender.send(value);
    })
}

/// When a turn's commit is synced.
#[derive(Clone, Copy)]
enum TurnSync {
    /// Before the turn acts: launches wait for the sync too.
    BeforeActing,
    /// By the group commit, before the turn is told; launches go out at once.
    Deferred,
}

/// Why a turn did not act.
enum Synced {
    NotCommitted(StoreError),
    Failed(StoreError),
}

/// What a turn will do once its transaction has committed.
#[derive(Default)]
struct Outbox {
    replies: Vec<Reply>,
    events: Vec<TransferEvent>,
    launches: Vec<Launch>,
    /// Packed batches to send in-process.
    batch_launches: Vec<BatchLaunch>,
    aborts: Vec<AbortHandle>,
    /// OS tasks to start, in order.
    handoffs: Vec<(Handoff, BodyPlan)>,
    /// OS tasks to cancel (their bodies are removed too).
    platform_cancels: Vec<String>,
    /// OS tasks that ended: their temporary bodies can go.
    platform_releases: Vec<String>,
    /// Ask the platform for its outstanding tasks, with this query number.
    outstanding_query: Option<u64>,
}

struct Launch {
    id: TransferId,
    host: String,
    generation: u64,
    job: AttemptJob,
    progress: Arc<AttemptProgress>,
    /// Launched before a request slot was free: it waits at the gate (`lane/gate.rs`).
    claimed_ahead: bool,
}

/// An attempt in flight, with the record it is running for.
struct InFlight {
    transfer: Transfer,
    generation: u64,
    progress: Arc<AttemptProgress>,
    lane: FlightLane,
    reported_bytes: u64,
    /// One file of a packed batch: every member shares the batch's `generation`, and the
    /// batch counts as one request.
    batched: bool,
}

/// Where an attempt in flight runs.
enum FlightLane {
    /// A task of ours; aborting it stops the request.
    InProcess { abort: Option<AbortHandle> },
    /// An OS task. `handoff_query` is the outstanding-query counter when it was handed
    /// over: an answer to an earlier query cannot know of it. `last_activity` is when it
    /// was handed over or last reported new bytes (for stall recovery).
    Platform {
        key: String,
        handoff_query: u64,
        last_activity: Instant,
    },
}

impl InFlight {
    fn is_platform(&self) -> bool {
        matches!(self.lane, FlightLane::Platform { .. })
    }
}

/// Everything the actor owns besides the database connection.
pub(crate) struct Engine {
    config: QueueConfig,
    clock: Clock,
    lane: Arc<HttpLane>,
    /// The OS lane, when the app lent one.
    platform: Option<PlatformDriver>,
    /// Handoff key → transfers (several for a packed batch), for the OS tasks in
    /// `in_flight`.
    platform_keys: HashMap<String, Vec<TransferId>>,
    /// The body bytes each OS task last reported, to tell progress from repetition.
    platform_body_sent: HashMap<String, u64>,
    /// A failed commit's requeue of running transfers failed too; retried every turn.
    requeue_pending: bool,
    /// This turn's changes to the per-state totals, written before it commits.
    pending_totals: store::TotalsDelta,
    /// Transfers the OS stalled on while the app was in the foreground; they stay
    /// in-process for as long as this queue is open.
    taken_back: HashSet<TransferId>,
    /// How many times in a row an attempt (by the id that leads it) was sent again because
    /// the server did not process it (`lane/unprocessed.rs`); past
    /// [`UNPROCESSED_RESENDS`] it gets a verdict. An id leaves at any other outcome.
    unprocessed_resends: HashMap<TransferId, u32>,
    /// Numbers outstanding-task queries, so a late answer is not applied to newer tasks.
    outstanding_queries: u64,
    /// The store may hold resumable upload resources (`actor/resumable.rs`): until it
    /// may, launches and successes do not look them up.
    may_hold_upload_resources: bool,
    /// How far resumable attempts moved their uploads (`actor/attempt_charge.rs`).
    progress_ledger: ProgressLedger,
    stall_watch: StallWatch,
    /// How far ahead of the free slots to claim (`actor/claim_ahead.rs`).
    claim_depth: ClaimDepth,
    /// The app's request authorizer, with what expiry decisions need.
    auth: Option<Arc<AuthContext>>,
    auth_breakers: AuthBreakers,
    /// Delivers what committed turns tell, once the WAL holding them is synced.
    group_commit: GroupCommit,
    finished_sender: mpsc::UnboundedSender<AttemptFinished>,
    /// Resumable attempts report their upload resource and offsets here.
    checkpoint_sender: mpsc::UnboundedSender<Checkpoint>,
    in_flight: HashMap<TransferId, InFlight>,
    breakers: Breakers,
    network: NetworkStatus,
    app_state: AppState,
    idle_waiters: Vec<oneshot::Sender<()>>,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    /// Bulk calls under way, oldest first: one chunk per turn (`actor/bulk.rs`).
    bulk_jobs: VecDeque<BulkJob>,
    stopping: bool,
    rate: RateMeter,
    last_tick: Instant,
    /// The `now_ms` the scheduler last looked at. A retry time after it may have become due
    /// since, so the next wake-up is computed from here, not from the current time; from
    /// the current time, a transfer due in between would never wake the actor.
    last_schedule_ms: i64,
    next_generation: u64,
    rng: StdRng,
}

pub(crate) struct Actor {
    store: Store,
    /// Syncs the store's commits: turns with the app's commands sync before acting.
    wal: WalSync,
    engine: Engine,
    mailbox: Mailbox,
    /// When the earliest retry waiting in the store is due, as of the last turn: read at
    /// the end of each turn, on the blocking pool, so waiting for the next turn never
    /// touches SQLite on a runtime worker.
    next_retry_ms: Option<i64>,
}

impl Actor {
    #[allow(clippy::too_many_arguments)] // one of each thing the actor owns
    pub(crate) fn new(
        mut store: Store,
        wal: WalSync,
        config: QueueConfig,
        clock: Clock,
        lane: HttpLane,
        platform: Option<PlatformDriver>,
        auth: Option<Arc<AuthContext>>,
        events: broadcast::Sender<TransferEvent>,
        commands: mpsc::Receiver<Command>,
        platform_reports: mpsc::UnboundedReceiver<PlatformReport>,
    ) -> Self {
        let (finished_sender, finished) = mpsc::unbounded_channel();
        let (checkpoint_sender, checkpoints) = mpsc::unbounded_channel();
        let breakers = Breakers::new(config.breaker, config.retry.max_delay);
        let may_hold_upload_resources = store::holds_any_resumable(store.connection())
            .unwrap_or_else(|error| {
                log::warn!("could not tell whether upload resources are stored: {error}");
                true // then every transfer is looked up, as before
            });
        let auth_breakers =
            AuthBreakers::new(config.auth.breaker_threshold, config.auth.breaker_cooldown);
        let group_commit = GroupCommit::start(
            wal.clone(),
            store.path().to_path_buf(),
            events,
            platform.clone(),
        );
        Self {
            store,
            wal,
            engine: Engine {
                config,
                clock,
                lane: Arc::new(lane),
                platform,
                platform_keys: HashMap::new(),
                platform_body_sent: HashMap::new(),
                requeue_pending: false,
                pending_totals: store::TotalsDelta::default(),
                taken_back: HashSet::new(),
                unprocessed_resends: HashMap::new(),
                outstanding_queries: 0,
                may_hold_upload_resources,
                progress_ledger: ProgressLedger::default(),
                stall_watch: StallWatch::new(Instant::now()),
                claim_depth: ClaimDepth::default(),
                auth,
                auth_breakers,
                group_commit,
                finished_sender,
                checkpoint_sender,
                in_flight: HashMap::new(),
                breakers,
                network: NetworkStatus::default(),
                app_state: AppState::default(),
                idle_waiters: Vec::new(),
                shutdown_waiters: Vec::new(),
                bulk_jobs: VecDeque::new(),
                stopping: false,
                rate: RateMeter::default(),
                last_tick: Instant::now(),
                last_schedule_ms: 0,
                next_generation: 0,
                rng: StdRng::from_os_rng(),
            },
            mailbox: Mailbox {
                commands,
                finished,
                platform_reports,
                checkpoints,
            },
            // The first turn, at open, reads it.
            next_retry_ms: None,
        }
    }

    /// Runs until shutdown. `adopted` are the transfers found running on OS tasks at open.
    pub(crate) async fn run(mut self, adopted: Vec<Transfer>) {
        self.engine.adopt(adopted);
        // The first turn schedules whatever the store already holds.
        match self.turn_on_blocking_pool(vec![Message::Tick]).await {
            Some(actor) => self = actor,
            None => return,
        }
        while !self.engine.stopping {
            let mut batch = if self.engine.has_bulk_work() {
                // The next chunk of a bulk call, with whatever else is waiting.
                tokio::task::yield_now().await;
                self.mailbox.take_waiting()
            } else {
                let wake = self.next_wake();
                self.mailbox.next_turn(wake).await
            };
            let waiting = self.attempts_waiting_at_gates(&batch);
            let reserve = self
                .engine
                .claim_depth
                .reserve(self.engine.config.limits.global);
            if waiting > reserve {
                self.mailbox
                    .gather_finished(&mut batch, waiting - reserve)
                    .await;
            }
            if self.engine.group_commit.failed() {
                break; // before committing anything more
            }
            let has_commands = batch
                .iter()
                .any(|message| matches!(message, Message::Command(_)));
            if has_commands || self.engine.has_bulk_work() || self.store.checkpoint_due() {
                match self.turn_on_blocking_pool(batch).await {
                    Some(actor) => self = actor,
                    None => return,
                }
            } else {
                self.turn(batch, TurnSync::Deferred);
            }
            let finished_meanwhile = self.mailbox.finished.len();
            self.engine.claim_depth.observe_turn(finished_meanwhile);
            if self.engine.group_commit.failed() {
                // Nothing more may be trusted to the store: stop, and let a reopen
                // recover from what is on disk.
                break;
            }
        }
        if self.engine.group_commit.failed() {
            self.engine.abort_in_process_attempts();
        }
        let Self { store, engine, .. } = self;
        let Engine {
            group_commit,
            shutdown_waiters,
            ..
        } = engine;
        group_commit.finish().await;
        drop(store);
        for waiter in shutdown_waiters {
            let _ = waiter.send(());
        }
    }

    /// In-process attempts launched and not yet finished beyond the requests the slots let
    /// out: they wait at the gates. Finished attempts in `batch` are not yet applied.
    fn attempts_waiting_at_gates(&self, batch: &[Message]) -> usize {
        let finished = batch
            .iter()
            .filter(|message| matches!(message, Message::Finished(_)))
            .count();
        let occupancy = self.engine.occupancy();
        occupancy
            .total
            .saturating_sub(occupancy.platform)
            .saturating_sub(finished)
            .saturating_sub(self.engine.config.limits.global)
    }

    /// Runs one turn on tokio's blocking pool: turns with the app's commands (an
    /// `enqueue_many` may insert 100,000 rows), which sync before acting, and turns that
    /// end in a checkpoint. `None` if the turn panicked: the queue is closed.
    async fn turn_on_blocking_pool(mut self, batch: Vec<Message>) -> Option<Self> {
        let turned = tokio::task::spawn_blocking(move || {
            self.turn(batch, TurnSync::BeforeActing);
            self.store.checkpoint_if_due();
            self
        })
        .await;
        match turned {
            Ok(actor) => Some(actor),
            Err(error) => {
                log::error!("a turn failed ({error}); the queue is closed");
                None
            }
        }
    }

    /// One turn: apply the batch and schedule in one transaction, then act on it.
    fn turn(&mut self, batch: Vec<Message>, sync: TurnSync) {
        let Self {
            store,
            wal,
            engine,
            next_retry_ms,
            ..
        } = self;
        let mut outbox = Outbox::default();
        let committed = (|| -> rusqlite::Result<()> {
            let tx = store.connection().transaction()?;
            if engine.requeue_pending {
                store::requeue_running(&tx, engine.clock.now_ms())?;
            }
            for message in batch {
                engine.handle(&tx, message, &mut outbox)?;
            }
            if engine.stopping {
                engine.interrupt_all(&tx, &mut outbox)?;
            } else {
                engine.continue_bulk(&tx, &mut outbox)?;
                // Nothing starts while a cancel is under way: it could be cancelled next.
                if !engine.cancelling() {
                    engine.schedule(&tx, &mut outbox)?;
                }
            }
            store::apply_totals(&tx, &engine.pending_totals)?;
            tx.commit()
        })();
        // Counted now, or rolled back with the rows they count.
        engine.pending_totals = store::TotalsDelta::default();
        let committed = committed.map_err(|error| store.error(error));
        let synced = match (committed, sync) {
            // A new transfer's row must be on disk before any request for it goes out: a
            // row lost in a power cut after the server took the file would be enqueued
            // again under a new id, and the server could not tell it was a repeat.
            (Ok(()), TurnSync::BeforeActing) => wal.sync_blocking().map_err(Synced::Failed),
            (Ok(()), TurnSync::Deferred) => Ok(()),
            (Err(error), _) => Err(Synced::NotCommitted(error)),
        };
        match synced {
            Ok(()) => {
                engine.requeue_pending = false;
                engine.deliver(outbox);
            }
            Err(Synced::Failed(error)) => {
                // As after a failed sync in the group commit: nothing more is told and the
                // actor stops at the end of this turn.
                engine.group_commit.fail(error.clone());
                for abort in outbox.aborts {
                    abort.abort();
                }
                engine.refuse(outbox.replies, Vec::new(), &error);
            }
            Err(Synced::NotCommitted(error)) => {
                log::error!("a turn could not be committed, nothing of it happened: {error}");
                // Stopping is always safe: attempts this turn took out of `in_flight` must
                // not run on beside the ones `resynchronise` queues again.
                for abort in outbox.aborts {
                    abort.abort();
                }
                engine.refuse(outbox.replies, outbox.platform_cancels, &error);
                engine.abandon_bulk(&error);
                engine.resynchronise(store.connection());
            }
        }
        engine.wake_idle_waiters(store.connection());
        *next_retry_ms = store::next_retry_at(store.connection(), engine.last_schedule_ms)
            .unwrap_or_else(|error| {
                log::error!("reading the next retry time failed: {error}");
                None
            });
    }

    fn next_wake(&mut self) -> Option<Instant> {
        let engine = &self.engine;
        let now = Instant::now();
        let mut wake: Option<Instant> = None;
        let mut consider = |at: Instant| {
            if at > now {
                wake = Some(wake.map_or(at, |current| current.min(at)));
            }
        };
        if !engine.in_flight.is_empty() {
            // A tick overdue after an idle spell is due now, not skipped: otherwise work
            // that starts then never gets a progress tick (engine_platform_progress.rs).
            consider((engine.last_tick + engine.config.progress_interval).max(now + MIN_SLEEP));
        }
        if let Some(at) = engine.breakers.next_probe_at() {
            consider(at);
        }
        if engine.requeue_pending {
            consider(now + Duration::from_secs(1));
        }
        if engine.network.online
            && let Some(at) = engine
                .stall_watch
                .deadline(engine.config.platform.queue_stall_after)
        {
            consider(at);
        }
        if let Some(ms) = self.next_retry_ms {
            consider(engine.clock.instant_at_ms(ms).max(now + MIN_SLEEP));
        }
        wake
    }
}

/// Never wake sooner than this for a retry, so clock rounding cannot spin the loop.
const MIN_SLEEP: Duration = Duration::from_millis(1);

impl Engine {
    /// A store error fails the whole turn: it is rolled back and the engine
    /// resynchronised, so no attempt is left half-recorded (taken out of `in_flight` but
    /// still `running` in the store).
    fn handle(
        &mut self,
        tx: &Connection,
        message: Message,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        match message {
            Message::Command(command) => {
                self.handle_command(tx, command, outbox);
                Ok(())
            }
            Message::Finished(finished) => self.on_attempt_finished(tx, finished, outbox),
            Message::Platform(report) => self.on_platform_report(tx, report, outbox),
            Message::Checkpoint(checkpoint) => self.on_checkpoint(tx, checkpoint, outbox),
            Message::Tick => self.on_tick(tx, outbox),
        }
    }

    fn handle_command(&mut self, tx: &Connection, command: Command, outbox: &mut Outbox) {
        match command {
            Command::Enqueue { uploads, reply } => {
                self.stall_watch.moved(Instant::now());
                let results = self.enqueue(tx, uploads, outbox);
                outbox.replies.push(reply_after_commit(reply, Ok(results)));
            }
            Command::Get { id, reply } => {
                let result = self.get(tx, &id);
                outbox.replies.push(reply_after_commit(reply, result));
            }
            Command::List {
                state,
                offset,
                limit,
                reply,
            } => {
                let result = store::list(tx, state, offset, limit)
                    .map(|transfers| {
                        transfers
                            .into_iter()
                            .map(|transfer| self.with_live_progress(transfer))
                            .collect()
                    })
                    .map_err(|error| Error::Store(StoreError::sqlite(error)));
                outbox.replies.push(reply_after_commit(reply, result));
            }
            Command::Control { id, input, reply } => {
                let result = self.control(tx, &id, input, outbox);
                outbox.replies.push(reply_after_commit(reply, result));
            }
            Command::Progress { reply } => {
                let result = self.progress(tx);
                outbox.replies.push(reply_after_commit(reply, result));
            }
            Command::CountByState { reply } => {
                let result = self.state_totals(tx).map(|totals| totals.counts());
                outbox.replies.push(reply_after_commit(reply, result));
            }
            Command::HostStatus { reply } => {
                let result = self.host_statuses(tx).map_err(sqlite);
                outbox.replies.push(reply_after_commit(reply, result));
            }
            Command::Bulk { request, reply } => self.start_bulk(request, reply),
            Command::SetAppState { state, reply } => {
                let came_to_foreground =
                    self.app_state == AppState::Background && state == AppState::Foreground;
                self.app_state = state;
                log::debug!("app state is now {:?}", self.app_state);
                if came_to_foreground {
                    self.on_foreground(outbox);
                }
                outbox.replies.push(reply_after_commit(reply, Ok(())));
            }
            Command::SetNetwork { status, reply } => {
                if status.online && !self.network.online {
                    self.stall_watch.moved(Instant::now()); // time offline is not a stall
                }
                self.network = status;
                outbox.replies.push(reply_after_commit(reply, Ok(())));
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
    fn enqueue(
        &mut self,
        tx: &Connection,
        uploads: Vec<Result<ValidatedUpload, Error>>,
        outbox: &mut Outbox,
    ) -> EnqueueResults {
        let now_ms = self.clock.now_ms();
        let mut writer = match store::BatchWriter::new(tx) {
            Ok(writer) => writer,
            Err(error) => {
                let error = sqlite(error);
                return uploads.iter().map(|_| Err(error.clone())).collect();
            }
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
                            outbox.events.push(TransferEvent::Requeued {
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

    fn get(&self, tx: &Connection, id: &TransferId) -> Result<Transfer, Error> {
        if let Some(flight) = self.in_flight.get(id) {
            return Ok(self.with_live_progress(flight.transfer.clone()));
        }
        store::load(tx, id)
            .map_err(sqlite)?
            .ok_or_else(|| Error::NotFound { id: id.clone() })
    }

    fn with_live_progress(&self, mut transfer: Transfer) -> Transfer {
        if let Some(flight) = self.in_flight.get(&transfer.id) {
            transfer.bytes_sent = flight.progress.bytes_sent();
        }
        transfer
    }

    fn control(
        &mut self,
        tx: &Connection,
        id: &TransferId,
        input: Input,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let mut transfer = self.get(tx, id)?;
        let (next, effect) =
            transition(&transfer.state, &input).map_err(|illegal| Error::IllegalTransition {
                id: id.clone(),
                action: illegal.action,
                state: illegal.from.as_str(),
            })?;
        if next == transfer.state {
            return Ok(());
        }
        self.stall_watch.moved(Instant::now());
        if transfer.state == TransferState::AuthRequired && matches!(input, Input::Resume) {
            self.auth_breakers.close(&transfer.host);
        }
        if let Effect::Abort(_) = effect {
            let mut flights = self.take_attempt(id).into_iter();
            if let Some(flight) = flights.next() {
                self.stop(flight, outbox);
            }
            // The rest of a packed batch was stopped with it: it runs again without it.
            for sibling in flights {
                self.requeue_without_verdict(tx, sibling, outbox)
                    .map_err(sqlite)?;
            }
            transfer.bytes_sent = 0;
            // The app stopped the attempt: it does not use up the retry budget.
            transfer.attempts = transfer.attempts.saturating_sub(1);
        }
        transfer.state = next;
        if transfer.state == TransferState::Cancelled {
            self.terminate_upload_resource(tx, &transfer, outbox)
                .map_err(sqlite)?;
        }
        if matches!(input, Input::Retry) {
            transfer.attempts = 0;
        }
        if transfer.state == TransferState::Queued {
            transfer.next_attempt_at = self.clock.now();
        }
        store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)
            .map_err(sqlite)?;
        let id = id.clone();
        outbox.events.push(match transfer.state {
            TransferState::Paused => TransferEvent::Paused { id },
            TransferState::Cancelled => TransferEvent::Cancelled { id },
            _ => TransferEvent::Requeued { id },
        });
        Ok(())
    }

    /// Files and bytes per state, this turn's changes included: they are written to the
    /// stored totals only at its end.
    fn state_totals(&self, tx: &Connection) -> Result<store::StateTotals, Error> {
        let mut totals = store::totals(tx).map_err(sqlite)?;
        totals.add_pending(&self.pending_totals);
        Ok(totals)
    }

    fn progress(&mut self, tx: &Connection) -> Result<Progress, Error> {
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
        let bytes_running: u64 = self
            .in_flight
            .values()
            .map(|flight| flight.progress.bytes_sent())
            .sum();
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

    fn sample_rate(&mut self) {
        let moved = self
            .lane
            .bytes_moved
            .load(std::sync::atomic::Ordering::Relaxed);
        self.rate.sample(Instant::now(), moved);
    }

    fn on_tick(&mut self, tx: &Connection, outbox: &mut Outbox) -> rusqlite::Result<()> {
        self.last_tick = Instant::now();
        self.sample_rate();
        self.recover_platform_stalls(tx, outbox)?;
        self.watch_for_queue_stall(tx, outbox)?;
        for (id, flight) in &mut self.in_flight {
            let bytes_sent = flight.progress.bytes_sent();
            if bytes_sent != flight.reported_bytes {
                flight.reported_bytes = bytes_sent;
                outbox.events.push(TransferEvent::Progress {
                    id: id.clone(),
                    bytes_sent,
                    bytes_total: flight.transfer.size,
                });
            }
        }
        Ok(())
    }

    fn on_attempt_finished(
        &mut self,
        tx: &Connection,
        finished: AttemptFinished,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let is_current = self
            .in_flight
            .get(&finished.id)
            .is_some_and(|flight| flight.generation == finished.generation);
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
        self.record_health(&host, &finished.outcome);
        for flight in self.take_attempt(&finished.id) {
            let outcome = finished
                .parts
                .iter()
                .find(|(id, _)| *id == flight.transfer.id)
                .map_or(&finished.outcome, |(_, outcome)| outcome);
            self.conclude(tx, flight, outcome, outbox)?;
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
    fn takes_claims(&self, host: &str) -> bool {
        self.breakers.is_closed(host) && !self.auth_breakers.refused_lately(host)
    }

    /// Takes the flight of `id` out of `in_flight`, with every other member of its packed
    /// batch (same generation), if it is one.
    fn take_attempt(&mut self, id: &TransferId) -> Vec<InFlight> {
        let Some(flight) = self.in_flight.remove(id) else {
            return Vec::new();
        };
        if !flight.batched {
            return vec![flight];
        }
        let generation = flight.generation;
        let siblings: Vec<TransferId> = self
            .in_flight
            .iter()
            .filter(|(_, other)| other.batched && other.generation == generation)
            .map(|(id, _)| id.clone())
            .collect();
        let mut flights = vec![flight];
        flights.extend(siblings.iter().filter_map(|id| self.in_flight.remove(id)));
        flights
    }

    /// Feeds one request's outcome to its host's breaker (once per request, however many
    /// files it carried).
    fn record_health(&mut self, host: &str, outcome: &AttemptOutcome) {
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
    /// refused unprocessed): queue it again as it was, due now, without using up an
    /// attempt.
    fn requeue_unsent(&mut self, tx: &Connection, id: &TransferId) -> rusqlite::Result<()> {
        for flight in self.take_attempt(id) {
            let mut transfer = flight.transfer;
            if transfer.requeue_without_verdict(self.clock.now()) {
                store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)?;
            }
        }
        Ok(())
    }

    /// Records the verdict on an attempt that ended, on either lane.
    fn conclude(
        &mut self,
        tx: &Connection,
        flight: InFlight,
        outcome: &AttemptOutcome,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let charge = self.charge(&flight, outcome);
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
        let (input, event) = match verdict {
            Verdict::Succeeded => {
                transfer.bytes_sent = transfer.size;
                transfer.last_error = None;
                self.taken_back.remove(&id);
                self.forget_upload_resource(tx, &transfer.id)?;
                (Input::Succeeded, TransferEvent::Succeeded { id })
            }
            Verdict::Retry {
                error,
                server_delay,
            } => {
                let delay = match server_delay {
                    Some(asked) => retry::server_delay(&self.config.retry, asked),
                    None => backoff(
                        &self.config.retry,
                        budget.backoff_attempt,
                        self.rng.random(),
                    ),
                };
                transfer.next_attempt_at = self.clock.now() + delay;
                transfer.bytes_sent = 0;
                transfer.last_error = Some(error.clone());
                let event = TransferEvent::Retrying {
                    id,
                    attempt: transfer.attempts,
                    delay,
                    error,
                };
                transfer.attempts = budget.attempts;
                (Input::RetryableFailure, event)
            }
            Verdict::Permanent(error) => {
                self.taken_back.remove(&id);
                transfer.last_error = Some(error.clone());
                (Input::PermanentFailure, TransferEvent::Failed { id, error })
            }
            Verdict::Auth(error) => {
                transfer.last_error = Some(error.clone());
                (
                    Input::AuthFailure,
                    TransferEvent::AuthRequired { id, error },
                )
            }
        };
        // A transfer that ended moved the queue; one that must be tried again did not (its
        // bytes, if any, count through the lane's byte counter).
        if input != Input::RetryableFailure {
            self.stall_watch.moved(Instant::now());
        }
        let from = transfer.state.kind();
        match transition(&transfer.state, &input) {
            Ok((next, _)) => transfer.state = next,
            Err(illegal) => {
                log::error!("ignored outcome for {}: {illegal:?}", transfer.id);
                return Ok(());
            }
        }
        let now_ms = self.clock.now_ms();
        store::save_replacing(tx, &transfer, from, now_ms, &mut self.pending_totals)?;
        outbox.events.push(event);
        Ok(())
    }

    /// Starts what may start now, within the limits. Hosts that can take nothing more are
    /// excluded in the query, so every round starts at least one transfer or ends.
    fn schedule(&mut self, tx: &Connection, outbox: &mut Outbox) -> rusqlite::Result<()> {
        self.fill_free_slots(tx, outbox)?;
        self.claim_ahead(tx, outbox)
    }

    fn fill_free_slots(&mut self, tx: &Connection, outbox: &mut Outbox) -> rusqlite::Result<()> {
        let now_ms = self.clock.now_ms();
        self.last_schedule_ms = now_ms;
        if !self.network.online {
            return Ok(());
        }
        let now = Instant::now();
        let limits = self.config.limits;
        loop {
            let occupancy = self.occupancy();
            let free = limits.global.saturating_sub(occupancy.total);
            if free == 0 {
                return Ok(());
            }
            let mut excluded_hosts = self.hosts_that_take_nothing(&occupancy, |host, in_flight| {
                in_flight < limits.per_host && self.breakers.admits(host, now, in_flight)
            });
            // A recovering host's one probe goes to its longest-waiting transfer.
            let mut rows = self.probe_candidates(
                tx,
                &self.candidate_filter(now_ms, &excluded_hosts),
                &occupancy,
                now,
            )?;
            excluded_hosts.extend(self.breakers.probing_hosts(now).map(str::to_owned));
            let filter = self.candidate_filter(now_ms, &excluded_hosts);
            let window = self.candidate_window(free);
            rows.extend(store::due_candidates(tx, &filter, window)?);
            let candidates = self.candidates(&rows);
            let batches = self.batch_limits();
            let lanes = self.lane_policy();
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
                        let started = self.launch(tx, row.seq, decision.lane, false, outbox)?;
                        launched += usize::from(started);
                    }
                    Some(batch) => match packed.iter_mut().find(|(b, _, _)| *b == batch) {
                        Some((_, _, members)) => members.push(row.seq),
                        None => packed.push((batch, decision.lane, vec![row.seq])),
                    },
                }
            }
            for (batch, lane, members) in packed {
                launched += self.launch_batch(tx, &members, batch.endpoint, lane, outbox)?;
            }
            if launched == 0 {
                return Ok(());
            }
        }
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
                taken_back: self.taken_back.contains(&row.id) || row.has_resumable_upload,
                packable_into: self.packable_into(row),
            })
            .collect()
    }

    fn occupancy(&self) -> Occupancy {
        let mut occupancy = Occupancy::default();
        let mut batches_seen = HashSet::new();
        for flight in self.in_flight.values() {
            if flight.batched && !batches_seen.insert(flight.generation) {
                continue; // a packed batch is one request
            }
            *occupancy
                .per_host
                .entry(flight.transfer.host.clone())
                .or_insert(0) += 1;
            occupancy.total += 1;
            occupancy.platform += usize::from(flight.is_platform());
        }
        occupancy
    }

    /// Starts the queued transfer stored under `seq` (a candidate's row key).
    fn launch(
        &mut self,
        tx: &Connection,
        seq: i64,
        choice: LaneChoice,
        claimed_ahead: bool,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<bool> {
        let Some(mut transfer) = store::load_by_seq(tx, seq)? else {
            return Ok(false);
        };
        let id = transfer.id.clone();
        let attempt = transfer.attempts.saturating_add(1);
        let lane = match choice {
            LaneChoice::InProcess => Lane::InProcess,
            LaneChoice::Platform => Lane::Platform {
                handoff_key: self.new_handoff_key(&id, attempt, ""),
            },
        };
        if self.auth_breakers.is_open(&transfer.host, Instant::now()) {
            return self.hold_for_credentials(tx, transfer, lane, outbox);
        }
        let from = transfer.state.kind();
        let Ok((next, _)) = transition(&transfer.state, &Input::Start { lane: lane.clone() })
        else {
            return Ok(false);
        };
        transfer.state = next;
        transfer.attempts = attempt;
        transfer.bytes_sent = 0;
        // Durable in this turn's commit, before the OS or the network hears of it.
        let now_ms = self.clock.now_ms();
        store::save_replacing(tx, &transfer, from, now_ms, &mut self.pending_totals)?;
        self.breakers.on_launch(&transfer.host, Instant::now());
        self.next_generation += 1;
        let generation = self.next_generation;
        let progress = Arc::new(AttemptProgress::new(Arc::clone(&self.lane.bytes_moved)));
        outbox.events.push(TransferEvent::Started {
            id: id.clone(),
            attempt: transfer.attempts,
        });
        if let Lane::Platform { handoff_key } = lane {
            self.hand_off(transfer, handoff_key, generation, progress, outbox);
            return Ok(true);
        }
        let upload = &transfer.upload;
        let job = AttemptJob {
            id: transfer.id.to_string(),
            source: upload.source.clone(),
            snapshot: crate::upload::SourceSnapshot {
                size: transfer.size,
                mtime_ns: transfer.source_mtime_ns,
            },
            url: upload.destination.clone(),
            method: upload.method.clone(),
            headers: upload.headers.clone(),
            resumable: self.resumable_job(tx, &transfer, generation)?,
        };
        outbox.launches.push(Launch {
            id: id.clone(),
            host: transfer.host.clone(),
            generation,
            job,
            progress: Arc::clone(&progress),
            claimed_ahead,
        });
        self.in_flight.insert(
            id,
            InFlight {
                transfer,
                generation,
                progress,
                lane: FlightLane::InProcess { abort: None },
                reported_bytes: 0,
                batched: false,
            },
        );
        Ok(true)
    }

    /// Stops an attempt that was taken out of `in_flight`: aborts our task, or cancels the
    /// OS task.
    fn stop(&mut self, flight: InFlight, outbox: &mut Outbox) {
        match flight.lane {
            FlightLane::InProcess { abort } => outbox.aborts.extend(abort),
            FlightLane::Platform { key, .. } => {
                self.platform_body_sent.remove(&key);
                if self.platform_keys.remove(&key).is_some() {
                    outbox.platform_cancels.push(key);
                }
            }
        }
    }

    /// On shutdown: stop every in-process attempt and queue it again, durably. OS tasks
    /// go on without the app; they are reconciled at the next open.
    fn interrupt_all(&mut self, tx: &Connection, outbox: &mut Outbox) -> rusqlite::Result<()> {
        let now_ms = self.clock.now_ms();
        self.platform_keys.clear();
        for (_, flight) in self.in_flight.drain() {
            let FlightLane::InProcess { abort } = flight.lane else {
                continue;
            };
            outbox.aborts.extend(abort);
            let mut transfer = flight.transfer;
            if transfer.requeue_without_verdict(self.clock.now()) {
                store::save(tx, &transfer, now_ms, &mut self.pending_totals)?;
            }
        }
        Ok(())
    }

    /// Acts on a committed turn: aborts and launches now; replies, events and OS-task
    /// operations once the turn is durable (`group_commit.rs`).
    fn deliver(&mut self, outbox: Outbox) {
        self.group_commit.hand_over(Told {
            replies: outbox.replies,
            events: outbox.events,
            idle_waiters: Vec::new(),
            handoffs: outbox.handoffs,
            platform_cancels: outbox.platform_cancels,
            platform_releases: outbox.platform_releases,
            outstanding_query: outbox.outstanding_query,
        });
        for abort in outbox.aborts {
            abort.abort();
        }
        for launch in outbox.launches {
            let lane = Arc::clone(&self.lane);
            let auth = self.auth.clone();
            let finished = self.finished_sender.clone();
            let Launch {
                id,
                host,
                generation,
                job,
                progress,
                claimed_ahead,
            } = launch;
            let task_id = id.clone();
            let handle = tokio::spawn(async move {
                let gates = &lane.gates;
                let on_entry = || progress.touch();
                // Boxed: the attempt's future is kilobytes, and tokio copies a task's whole
                // stage when it spawns it and when it stores the output (tokio-rs/tokio#4487;
                // `many_small_puts`: ~2% of the worker's CPU in `set_stage` copies).
                let attempt = Box::pin(run_attempt_with(
                    auth,
                    Arc::clone(&lane),
                    job,
                    Arc::clone(&progress),
                ));
                let gated = run_gated(
                    gates,
                    &host,
                    claimed_ahead,
                    on_entry,
                    attempt,
                    troubles_host,
                )
                .await;
                let _ = finished.send(AttemptFinished::of_gated(task_id, generation, gated));
            });
            if let Some(flight) = self.in_flight.get_mut(&id) {
                flight.lane = FlightLane::InProcess {
                    abort: Some(handle.abort_handle()),
                };
            }
        }
        for batch in outbox.batch_launches {
            self.spawn_batch(batch);
        }
    }

    /// After a failed commit, memory may be ahead of the store: stop every attempt and put
    /// every in-process transfer the store thinks is running back in the queue.
    /// OS tasks are cancelled too, and every running transfer is queued again.
    fn resynchronise(&mut self, conn: &mut Connection) {
        let mut cancels = Vec::new();
        for (_, flight) in self.in_flight.drain() {
            match flight.lane {
                FlightLane::InProcess { abort } => abort.into_iter().for_each(|a| a.abort()),
                FlightLane::Platform { key, .. } => cancels.push(key),
            }
        }
        self.platform_keys.clear();
        self.platform_body_sent.clear();
        // After any start still waiting in the group commit, never before it.
        self.group_commit.hand_over(Told {
            platform_cancels: cancels,
            ..Told::default()
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
    fn refuse(&self, replies: Vec<Reply>, platform_cancels: Vec<String>, error: &StoreError) {
        let replies = replies
            .into_iter()
            .map(|reply| {
                let error = error.clone();
                Box::new(move |_: Option<&StoreError>| reply(Some(&error))) as Reply
            })
            .collect();
        self.group_commit.hand_over(Told {
            replies,
            platform_cancels,
            ..Told::default()
        });
    }

    /// Stops every in-process attempt; nothing is written.
    fn abort_in_process_attempts(&mut self) {
        for flight in self.in_flight.values_mut() {
            if let FlightLane::InProcess { abort } = &mut flight.lane {
                abort.iter().for_each(AbortHandle::abort);
            }
        }
    }

    fn wake_idle_waiters(&mut self, conn: &Connection) {
        if self.idle_waiters.is_empty() || !self.in_flight.is_empty() || self.has_bulk_work() {
            return;
        }
        match store::any_runnable(conn) {
            Ok(false) => self.group_commit.hand_over(Told {
                idle_waiters: std::mem::take(&mut self.idle_waiters),
                ..Told::default()
            }),
            Ok(true) => {}
            Err(error) => log::error!("checking for idleness failed: {error}"),
        }
    }
}

// ---- Request authorization (issue 7): the auth breaker's hooks. ----
impl Engine {
    /// Feeds the per-destination auth breaker: a success closes it, a transfer left
    /// waiting for credentials counts against it.
    fn record_auth_verdict(&mut self, host: &str, verdict: &Verdict) {
        match verdict {
            Verdict::Succeeded => self.auth_breakers.close(host),
            Verdict::Auth(_) => self.auth_breakers.record_refused(host, Instant::now()),
            Verdict::Retry { .. } | Verdict::Permanent(_) => {}
        }
    }

    /// The auth breaker for the transfer's host is open: instead of trying credentials
    /// that were just refused, the transfer waits for the app to sign in, as if its
    /// attempt had been refused, without a request and without using up an attempt.
    fn hold_for_credentials(
        &mut self,
        tx: &Connection,
        mut transfer: Transfer,
        lane: Lane,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<bool> {
        let held = transition(&transfer.state, &Input::Start { lane })
            .and_then(|(running, _)| transition(&running, &Input::AuthFailure));
        let Ok((next, _)) = held else {
            return Ok(false);
        };
        let error = TransferError::new(
            FailureKind::Auth,
            "not sent: credentials for this destination were refused repeatedly; sign the \
             user in, then resume",
        );
        transfer.state = next;
        transfer.last_error = Some(error.clone());
        store::save(tx, &transfer, self.clock.now_ms(), &mut self.pending_totals)?;
        outbox.events.push(TransferEvent::AuthRequired {
            id: transfer.id.clone(),
            error,
        });
        Ok(true)
    }
}

fn sqlite(error: rusqlite::Error) -> Error {
    Error::Store(StoreError::sqlite(error))
}
