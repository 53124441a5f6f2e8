//! The actor: the one task that owns the queue's state.
//!
//! Commands from [`crate::TransferQueue`] handles and outcomes from running attempts arrive
//! on channels. The actor takes everything waiting (up to [`mailbox::MAX_TURN_MESSAGES`]) as one *turn*:
//! it applies each message through the pure `transition` function, lets the scheduler
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
//! transfer's row is on disk before any request for it. So does a turn that checkpoints,
//! and the turn after it (its commit restarts the WAL, which SQLite syncs); closing the
//! store, which checkpoints and syncs, runs on the blocking pool as well.
//! While attempts claimed ahead wait at the request gates, the actor gathers more
//! finished attempts into one turn (`mailbox.rs`).

mod attempt_charge;
mod bulk;
mod bulk_job;
mod claim_ahead;
mod commands;
mod downloads;
mod effects;
mod engine;
mod group_commit;
mod host_status;
mod in_flight;
mod keep_alive;
mod launch;
mod local_launch;
mod mailbox;
mod message;
mod os_order;
mod outcomes;
mod packing;
mod platform_lane;
mod platform_reports;
mod stall_watch;
mod upload_resources;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::Transfer;
use crate::auth::attempt::AuthContext;
use crate::clock::Clock;
use crate::config::QueueConfig;
use crate::error::StoreError;
use crate::events::TransferEvent;
use crate::http::HttpLane;
use crate::platform::{PlatformDriver, PlatformReport};
use crate::store::{self, Store, WalSync};

pub(crate) use bulk_job::BulkRequest;
use effects::Effects;
use engine::{Engine, Reports};
use group_commit::GroupCommit;
use mailbox::Mailbox;
use message::Message;
pub(crate) use message::{Command, EnqueueResults};

/// When a turn's commit is synced.
#[derive(Clone, Copy)]
enum TurnSync {
    /// Before the turn acts: launches wait for the sync too, and the group commit delivers
    /// the turn (with every turn before it) without syncing again.
    BeforeActing,
    /// By the group commit, before the turn is told; launches go out at once.
    Deferred,
}

/// Why a turn did not act.
enum Synced {
    NotCommitted(StoreError),
    Failed(StoreError),
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
    /// The last turn checkpointed the WAL: the next commit restarts it, and SQLite syncs
    /// the restarted WAL's header inside that commit, so that turn runs on the blocking
    /// pool too.
    after_checkpoint: bool,
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
        let may_hold_upload_resources = store::holds_any_resumable(store.connection())
            .unwrap_or_else(|error| {
                log::warn!("could not tell whether upload resources are stored: {error}");
                true // then every transfer is looked up, as before
            });
        let group_commit = GroupCommit::start(
            wal.clone(),
            store.path().to_path_buf(),
            events,
            platform.clone(),
        );
        let reports = Reports {
            finished: finished_sender,
            checkpoints: checkpoint_sender,
        };
        Self {
            store,
            wal,
            engine: Engine::new(
                config,
                clock,
                lane,
                platform,
                auth,
                group_commit,
                reports,
                may_hold_upload_resources,
            ),
            mailbox: Mailbox {
                commands,
                finished,
                platform_reports,
                checkpoints,
            },
            // The first turn, at open, reads it.
            next_retry_ms: None,
            after_checkpoint: false,
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
            if has_commands
                || self.engine.has_bulk_work()
                || self.store.checkpoint_due()
                || self.after_checkpoint
            {
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
            self.engine.in_flight.abort_in_process();
        }
        let Self { store, engine, .. } = self;
        let Engine {
            group_commit,
            shutdown_waiters,
            ..
        } = engine;
        group_commit.finish().await;
        // Closing checkpoints the WAL and syncs: never on a runtime worker.
        if let Err(error) = tokio::task::spawn_blocking(move || drop(store)).await {
            log::error!("closing the store failed: {error}");
        }
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
        let occupancy = self.engine.in_flight.occupancy();
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
            self.after_checkpoint = self.store.checkpoint_if_due();
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
        let mut effects = Effects::default();
        let committed = (|| -> rusqlite::Result<()> {
            let tx = store.connection().transaction()?;
            if engine.requeue_pending {
                store::requeue_running(&tx, engine.clock.now_ms())?;
            }
            for message in batch {
                engine.handle(&tx, message, &mut effects)?;
            }
            engine.keep_app_running_as_needed(&tx, &mut effects)?;
            if engine.stopping {
                engine.interrupt_all(&tx, &mut effects)?;
            } else {
                engine.continue_bulk(&tx, &mut effects)?;
                // Nothing starts while a cancel is under way: it could be cancelled next.
                if !engine.cancelling() {
                    engine.schedule(&tx, &mut effects)?;
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
                engine.deliver(effects, matches!(sync, TurnSync::BeforeActing));
            }
            Err(Synced::Failed(error)) => {
                // As after a failed sync in the group commit: nothing more is told and the
                // actor stops at the end of this turn.
                engine.group_commit.fail(error.clone());
                for abort in effects.aborts {
                    abort.abort();
                }
                engine.refuse(effects.replies, Vec::new(), &error);
            }
            Err(Synced::NotCommitted(error)) => {
                log::error!("a turn could not be committed, nothing of it happened: {error}");
                // Stopping is always safe: attempts this turn took out of `in_flight` must
                // not run on beside the ones `resynchronise` queues again.
                for abort in effects.aborts {
                    abort.abort();
                }
                engine.refuse(effects.replies, effects.platform_cancels, &error);
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
