//! [`TransferQueue`]: the handle apps hold. It only sends messages to the actor.
//!
//! Cheap to clone; every clone talks to the same actor. Validation that touches the file
//! system runs on the blocking pool, never on the caller's async worker. The handle must
//! never hold state of its own: the actor is the single source of truth.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::actor::{Actor, BulkRequest, Command, EnqueueResults};
use crate::auth::RequestAuthorizer;
use crate::auth::attempt::AuthContext;
use crate::clock::{Clock, to_ms};
use crate::conditions::{AppState, NetworkStatus};
use crate::config::QueueConfig;
use crate::download::Download;
use crate::events::{EVENT_CAPACITY, Subscription, TransferEvent};
use crate::hosts::HostStatus;
use crate::http::build_http_lane;
use crate::platform::{
    PlatformDriver, PlatformOutcome, PlatformReport, PlatformTransferService, bodies_dir,
};
use crate::progress::{Progress, StateCount};
use crate::reconcile::reconcile_at_open;
use crate::selection::{BulkAction, Selection};
use crate::server_response::ServerResponse;
use crate::state::{Input, StateKind};
use crate::store::{self, Store};
use crate::upload::Upload;
use crate::{Error, Transfer, TransferId};
use crate::{config_check, descriptor_budget};

const COMMAND_CAPACITY: usize = 1024;

/// What the app lends the queue besides its configuration. All optional: without a
/// platform service every transfer runs in-process.
#[derive(Clone, Default)]
pub struct Integrations {
    /// The OS background-transfer service, for large files and for work while the app is
    /// in the background.
    pub platform: Option<Arc<dyn PlatformTransferService>>,
    /// Provides the URL and headers of each attempt, right before it starts. Its answers
    /// are never stored. Without one, attempts use the destination and stored headers.
    pub authorizer: Option<Arc<dyn RequestAuthorizer>>,
}

/// A durable upload queue. See the crate documentation for the whole picture.
#[derive(Clone, Debug)]
pub struct TransferQueue {
    commands: mpsc::Sender<Command>,
    platform_reports: mpsc::UnboundedSender<PlatformReport>,
    /// Only the actor holds the sender itself: when it stops, every subscription ends.
    events: broadcast::WeakSender<TransferEvent>,
    /// Held (shared) by each enqueue from its call until its command is sent, after the
    /// checks on the blocking pool; `enter_background` takes it (alone) first, so work
    /// enqueued before that call is in the queue when the app state changes.
    enqueues_being_checked: Arc<tokio::sync::RwLock<()>>,
}

/// Which integrations are lent (the services themselves have no `Debug`).
impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrations")
            .field("platform", &self.platform.is_some())
            .field("authorizer", &self.authorizer.is_some())
            .finish()
    }
}

impl TransferQueue {
    /// Opens (or creates) the queue's database and starts its actor on the current tokio
    /// runtime. Transfers that were running in-process when the app last stopped are
    /// queued again; they will be sent with the same idempotency key.
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub async fn open(config: QueueConfig) -> Result<Self, Error> {
        Self::open_with(config, Integrations::default()).await
    }

    /// Opens the queue with the app's integrations. With a platform service, transfers
    /// recorded as running on the platform are reconciled with its `outstanding()` tasks
    /// before anything else happens.
    /// A configuration with which every attempt would fail or nothing would run (a stall
    /// timeout under a second, a request limit or `max_attempts` of zero) is refused with
    /// [`Error::InvalidConfig`]. The request limits are lowered, and a warning logged,
    /// when the process's descriptor limit could not hold them (`descriptor_budget.rs`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a refused configuration; [`Error::InvalidHeader`] when
    /// `idempotency_header` is not a header name; [`Error::HttpClient`] when a certificate
    /// in `extra_root_certificates_pem` cannot be used; [`Error::Store`] when the database
    /// cannot be opened (another opener holds it, it is damaged or of a newer Ferry, its
    /// directory is missing: see [`crate::StoreError`]).
    pub async fn open_with(
        mut config: QueueConfig,
        integrations: Integrations,
    ) -> Result<Self, Error> {
        config_check::check(&config)?;
        descriptor_budget::fit_to_process(&mut config);
        let lane = build_http_lane(&config)?;
        let clock = Clock::start();
        let path = config.database_path.clone();
        let service = integrations.platform.clone();
        let retry = config.retry;
        let (store, wal, adopted) = tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let mut store = Store::open(&path)?;
            let requeued =
                store::requeue_interrupted_in_process(store.connection(), clock.now_ms())
                    .map_err(|error| store.error(error))?;
            if requeued > 0 {
                log::info!("requeued {requeued} transfers interrupted by the last stop");
            }
            let longest_wait = retry.max_delay.max(retry.max_server_delay);
            let latest_ms = to_ms(clock.now() + longest_wait);
            let brought_forward = store::bring_forward_retry_times(store.connection(), latest_ms)
                .map_err(|error| store.error(error))?;
            if brought_forward > 0 {
                log::info!(
                    "{brought_forward} transfers were to wait longer than Ferry ever waits \
                     (the clock was set back since): they wait at most {longest_wait:?} now"
                );
            }
            let adopted = reconcile_at_open(&mut store, service.as_deref(), &path, clock)?;
            // What opening wrote is durable before the queue is handed to the app.
            let wal = store.wal_sync()?;
            wal.sync_blocking()?;
            log::info!("queue opened: {}", path.display());
            Ok((store, wal, adopted))
        })
        .await
        .map_err(|_| Error::Closed)??;
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let (platform_reports, report_receiver) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let events_for_subscribers = events.downgrade();
        let auth = integrations
            .authorizer
            .map(|authorizer| Arc::new(AuthContext::new(authorizer, config.auth.clone(), clock)));
        let platform = integrations.platform.map(|service| {
            PlatformDriver::spawn(
                service,
                auth.clone(),
                platform_reports.clone(),
                bodies_dir(&config.database_path),
            )
        });
        let actor = Actor::new(
            store,
            wal,
            config,
            clock,
            lane,
            platform,
            auth,
            events.clone(),
            receiver,
            report_receiver,
        );
        tokio::spawn(actor.run(adopted));
        Ok(Self {
            enqueues_being_checked: Arc::default(),
            commands,
            platform_reports,
            events: events_for_subscribers,
        })
    }

    /// A platform shim reports bytes sent by the OS task `handoff_key`. Never blocks; an
    /// unknown or stale key is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown): the report is dropped.
    pub fn platform_progress(
        &self,
        handoff_key: &str,
        bytes_sent: u64,
        bytes_total: u64,
    ) -> Result<(), Error> {
        self.report(PlatformReport::Progress {
            key: handoff_key.to_owned(),
            bytes_sent,
            bytes_total,
        })
    }

    /// A platform shim reports that the OS task `handoff_key` ended. Never blocks. The
    /// outcome is durable once the next turn commits; a shim that must be sure (before
    /// the OS suspends the app) calls `wait_idle` or simply reports again at the next
    /// open: a report for a key that is no longer running is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown); keep the report and give it again
    /// after the next open.
    pub fn platform_finished(
        &self,
        handoff_key: &str,
        outcome: PlatformOutcome,
    ) -> Result<(), Error> {
        self.report(PlatformReport::Finished {
            key: handoff_key.to_owned(),
            outcome,
        })
    }

    /// The shim: the OS ended the keep-alive it granted through
    /// [`PlatformTransferService::keep_app_running`]
    /// (Android: the user-initiated job was stopped). Ferry hands work to the OS lane from
    /// now on, and asks again when the app next comes to the foreground.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown): nothing to tell then.
    pub fn keep_alive_ended(&self) -> Result<(), Error> {
        self.report(PlatformReport::KeepAliveEnded)
    }

    fn report(&self, report: PlatformReport) -> Result<(), Error> {
        self.platform_reports
            .send(report)
            .map_err(|_| Error::Closed)
    }

    /// Adds one upload and returns its id. Enqueueing the same source, destination and
    /// method again returns the existing id while that transfer is not finished, or when
    /// it succeeded and the file has not changed since.
    ///
    /// A transfer waiting for credentials ([`StateKind::AuthRequired`]) is renewed in
    /// place when the upload enqueued again brings other headers: it keeps its id (and
    /// so its `Idempotency-Key`), takes the new headers, and is queued again with a fresh
    /// attempt budget (a `Requeued` event), as after [`resume`](Self::resume). This is how
    /// new stored credentials (an `Authorization` header) reach a refused transfer. With
    /// the same headers it stays waiting: [`resume`](Self::resume) it, or
    /// [`retry_where`](Self::retry_where) many at once.
    ///
    /// # Errors
    ///
    /// An invalid upload, with nothing queued: [`Error::InvalidUrl`],
    /// [`Error::InvalidHeader`], [`Error::InvalidMetadata`] (metadata or a group out of
    /// bounds), or a source that is missing, unreadable or not a regular
    /// file ([`Error::SourceMissing`], [`Error::SourceUnreadable`],
    /// [`Error::SourceNotAFile`]). [`Error::Store`] when the database could not be
    /// written, and [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn enqueue(&self, upload: Upload) -> Result<TransferId, Error> {
        let mut results = self.enqueue_many(vec![upload]).await?;
        results.pop().unwrap_or(Err(Error::Closed))
    }

    /// Adds many uploads in one transaction. Each gets its own result: an invalid one is
    /// refused with its error while the others are queued.
    ///
    /// # Errors
    ///
    /// The call as a whole fails only when nothing was queued: [`Error::Store`] when the
    /// database could not be written, [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown). An invalid upload is an error in its own place in
    /// the results, as [`enqueue`](Self::enqueue) would return it.
    pub async fn enqueue_many(&self, uploads: Vec<Upload>) -> Result<EnqueueResults, Error> {
        self.enqueue_checked(
            move || crate::enqueue_checks::validate_all(uploads),
            |uploads, reply| Command::Enqueue { uploads, reply },
        )
        .await?
    }

    /// Adds one download and returns its id. Enqueueing the same URL to the same
    /// destination again returns the existing id while that transfer is not finished, or
    /// after it succeeded; after it failed or was cancelled, a new transfer starts.
    ///
    /// The download runs in this process, under the same limits, priorities, network
    /// constraints, breakers and request authorizer as uploads. It writes a hidden partial
    /// file beside the destination, resumes it where the store says it is durable, checks
    /// it (length, expected SHA-256, the server's `Repr-Digest` or `Content-MD5`), and
    /// renames it into place by its [`crate::ConflictRule`] before it is `Succeeded`.
    ///
    /// # Errors
    ///
    /// An invalid download, with nothing queued: [`Error::InvalidUrl`],
    /// [`Error::InvalidHeader`], [`Error::InvalidMetadata`], [`Error::InvalidDownload`]
    /// (a destination not in an existing folder, or a malformed SHA-256).
    /// [`Error::Store`] when the database could not be written, and [`Error::Closed`]
    /// after [`shutdown`](Self::shutdown).
    pub async fn enqueue_download(&self, download: Download) -> Result<TransferId, Error> {
        let mut results = self.enqueue_downloads(vec![download]).await?;
        results.pop().unwrap_or(Err(Error::Closed))
    }

    /// Adds many downloads in one transaction. Each gets its own result: an invalid one is
    /// refused with its error while the others are queued.
    ///
    /// # Errors
    ///
    /// The call as a whole fails only when nothing was queued: [`Error::Store`] when the
    /// database could not be written, [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn enqueue_downloads(
        &self,
        downloads: Vec<Download>,
    ) -> Result<EnqueueResults, Error> {
        self.enqueue_checked(
            move || {
                downloads
                    .into_iter()
                    .map(crate::download::validate)
                    .collect::<Vec<_>>()
            },
            |downloads, reply| Command::EnqueueDownloads { downloads, reply },
        )
        .await?
    }

    /// The transfer with this id, as the store holds it now.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when no transfer has this id (never enqueued here, or purged);
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn get(&self, id: &TransferId) -> Result<Transfer, Error> {
        let id = id.clone();
        self.request(|reply| Command::Get { id, reply }).await?
    }

    /// The server's answer to the upload `id`, once it succeeded: status, headers (the
    /// values of credential headers `[redacted]`) and the body's first
    /// [`QueueConfig::response_body_limit`](crate::QueueConfig::response_body_limit)
    /// bytes, kept durably with the transfer (also when the OS lane finished it while the
    /// app was not running) until it is purged.
    ///
    /// `None` while the transfer has not succeeded (or succeeded in a version of Ferry
    /// that kept no answers).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when no transfer has this id (never enqueued here, or purged);
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn response(&self, id: &TransferId) -> Result<Option<ServerResponse>, Error> {
        let id = id.clone();
        self.request(|reply| Command::Response { id, reply })
            .await?
    }

    /// A page of transfers in enqueue order, optionally only those in `state`.
    /// At most `limit` of them, after skipping the first `offset`: ask again with the next
    /// offset until a page comes back shorter than `limit`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn list(
        &self,
        state: Option<StateKind>,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Transfer>, Error> {
        self.list_where(Selection::in_states(state), offset, limit)
            .await
    }

    /// A page of the transfers `selection` selects, in enqueue order: those in one of its
    /// states (every state when it names none), with its destination prefix and in its
    /// group, e.g. `Selection::all().with_group("album-7")`. Paged as
    /// [`list`](Self::list). A group is read through its own index: listing a small group
    /// does not read the whole queue.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn list_where(
        &self,
        selection: Selection,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Transfer>, Error> {
        self.request(|reply| Command::List {
            selection,
            offset,
            limit,
            reply,
        })
        .await?
    }

    /// Holds a transfer; a running attempt is stopped.
    /// Pausing a paused transfer does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalTransition`] when the transfer's state does not allow it (the
    /// transfer is unchanged); [`Error::NotFound`], [`Error::Store`], and
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn pause(&self, id: &TransferId) -> Result<(), Error> {
        self.control(id, Input::Pause).await
    }

    /// Queues a paused transfer, or one waiting for credentials, again.
    /// Resuming a queued transfer does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalTransition`] when the transfer's state does not allow it (the
    /// transfer is unchanged); [`Error::NotFound`], [`Error::Store`], and
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn resume(&self, id: &TransferId) -> Result<(), Error> {
        self.control(id, Input::Resume).await
    }

    /// Cancels a transfer for good; a running attempt is stopped.
    /// Cancelling a cancelled transfer does nothing; a finished one cannot be cancelled.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalTransition`] when the transfer's state does not allow it (the
    /// transfer is unchanged); [`Error::NotFound`], [`Error::Store`], and
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn cancel(&self, id: &TransferId) -> Result<(), Error> {
        self.control(id, Input::Cancel).await
    }

    /// Queues a failed transfer again, with a fresh attempt budget.
    /// Only a failed transfer can be retried.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalTransition`] when the transfer's state does not allow it (the
    /// transfer is unchanged); [`Error::NotFound`], [`Error::Store`], and
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn retry(&self, id: &TransferId) -> Result<(), Error> {
        self.control(id, Input::Retry).await
    }

    /// Cancels, for good, every selected transfer that is queued, running, paused or
    /// waiting for credentials (all of them for [`Selection::all`]), and returns how many.
    /// Running attempts are stopped as [`cancel`](Self::cancel) stops one; each transfer
    /// sends `Cancelled`. Works through the queue a chunk at a time (2,000 transfers per
    /// turn), so other calls and finished attempts are served in between; nothing new
    /// starts until it is done. Acts on the transfers that existed when it began.
    /// A selected state that cannot be cancelled (succeeded, failed, cancelled) is
    /// refused with [`Error::InvalidSelection`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSelection`] as above, with nothing changed; [`Error::Store`] when
    /// a chunk could not be written (the chunks before it stay done); [`Error::Closed`]
    /// after [`shutdown`](Self::shutdown).
    pub async fn cancel_where(&self, selection: Selection) -> Result<u64, Error> {
        self.bulk(BulkAction::Cancel, selection, Duration::ZERO)
            .await
    }

    /// Queues again every selected transfer that failed, waits for credentials or is
    /// paused, with a fresh attempt budget (each sends `Requeued`; credentials refused
    /// before count as fixed, as after [`resume`](Self::resume)), and makes every
    /// selected queued transfer that waits out a backoff due now. Returns how many it
    /// changed, both kinds. Chunked as [`cancel_where`](Self::cancel_where), but transfers
    /// start as soon as their chunk is committed. Running, succeeded and cancelled
    /// transfers are never retried; selecting one of those states is refused with
    /// [`Error::InvalidSelection`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSelection`] as above, with nothing changed; [`Error::Store`] when
    /// a chunk could not be written (the chunks before it stay done); [`Error::Closed`]
    /// after [`shutdown`](Self::shutdown).
    pub async fn retry_where(&self, selection: Selection) -> Result<u64, Error> {
        self.bulk(BulkAction::Retry, selection, Duration::ZERO)
            .await
    }

    /// Deletes the records of selected transfers that succeeded, failed or were cancelled
    /// at least `older_than` ago (by their last change), with what is kept beside them
    /// (a resumable upload's resource URL and offset; the server's partial upload is left
    /// to expire), and returns how many. Queued, running, paused and waiting transfers
    /// are never purged: selecting one of those states is refused with
    /// [`Error::InvalidSelection`]. No events: the records are gone, `progress()` and
    /// `count_by_state()` no longer count them.
    ///
    /// Enqueueing a purged upload again makes a new transfer: the queue no longer knows
    /// it was sent, so it is sent again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSelection`] as above, with nothing changed; [`Error::Store`] when
    /// a chunk could not be written (the chunks before it stay done); [`Error::Closed`]
    /// after [`shutdown`](Self::shutdown).
    pub async fn purge_where(
        &self,
        selection: Selection,
        older_than: Duration,
    ) -> Result<u64, Error> {
        self.bulk(BulkAction::Purge, selection, older_than).await
    }

    async fn bulk(
        &self,
        action: BulkAction,
        selection: Selection,
        older_than: Duration,
    ) -> Result<u64, Error> {
        let request = BulkRequest {
            action,
            states: selection.states_for(action)?,
            destination_prefix: selection.destination_prefix,
            group: selection.group,
            older_than,
        };
        self.request(|reply| Command::Bulk { request, reply })
            .await?
    }

    /// Files and bytes done, failed and in all, the current send rate and the time left:
    /// what a progress bar for the whole queue needs. Read from totals kept up to date in
    /// every commit, so it is cheap to call often.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn progress(&self) -> Result<Progress, Error> {
        self.request(|reply| Command::Progress { reply }).await?
    }

    /// How many transfers are in each state, every state listed in [`StateKind::ALL`]
    /// order: one pass over the store, where counting by paging through `list` reads the
    /// table again for every page.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn count_by_state(&self) -> Result<Vec<StateCount>, Error> {
        self.request(|reply| Command::CountByState { reply })
            .await?
    }

    /// Every host with queued or running transfers, and why its work waits: the breaker's
    /// verdict, the latest failure, and when the next request may go out. What
    /// `QueueStalled` carries too.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the database cannot be read; [`Error::Closed`] after
    /// [`shutdown`](Self::shutdown).
    pub async fn host_status(&self) -> Result<Vec<HostStatus>, Error> {
        self.request(|reply| Command::HostStatus { reply }).await?
    }

    /// Events from now on. Dropping the subscription unsubscribes. It ends (`next` gives
    /// `None`) once the queue has shut down; one made after that ends at once.
    pub fn subscribe(&self) -> Subscription {
        match self.events.upgrade() {
            Some(sender) => Subscription::new(sender.subscribe()),
            None => Subscription::new(broadcast::channel(1).0.subscribe()),
        }
    }

    /// Reports whether the app is in the foreground or the background; until told (here or
    /// by `QueueConfig::app_state`), the queue acts as [`AppState::Unknown`] says. Call it on every change: it decides which lane
    /// new work takes (see [`AppState`]).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the turn that applies it could not be committed;
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn set_app_state(&self, state: AppState) -> Result<(), Error> {
        self.request(|reply| Command::SetAppState { state, reply })
            .await?
    }

    /// Tells the queue the app is leaving the foreground, and hands the queued work the OS
    /// should now carry to the OS: as [`set_app_state`](Self::set_app_state) with
    /// [`AppState::Background`], but it resolves only once the OS tasks for that work have
    /// been started (the service's `start` returned) after their records were made durable.
    /// Call it inside iOS's `beginBackgroundTask` or Android's last moments in the
    /// foreground, and end that window when it returns.
    ///
    /// The OS takes at most [`PlatformPolicy::max_platform_tasks`](crate::PlatformPolicy::max_platform_tasks)
    /// tasks at a time; the rest stays queued and goes to the OS as tasks finish. Attempts
    /// already running in-process are left to finish (or to be stopped by the OS with the
    /// app, then retried). Without a platform service it only records the state.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the turn that applies it could not be committed;
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn enter_background(&self) -> Result<(), Error> {
        // Enqueues called before this one are checked off the actor first: wait until
        // their commands are sent, so that their work is handed over too.
        let settled = self.enqueues_being_checked.write().await;
        let answer = self
            .send(|reply| Command::EnterBackground { reply })
            .await?;
        drop(settled);
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Reports the network. While offline nothing starts; transfers that may not use an
    /// expensive or constrained network wait for another one.
    /// Until told (here or by `QueueConfig::network`), the queue assumes
    /// [`NetworkStatus::NOT_REPORTED`]: online, but expensive and constrained.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] when the turn that applies it could not be committed;
    /// [`Error::Closed`] after [`shutdown`](Self::shutdown).
    pub async fn set_network(&self, status: NetworkStatus) -> Result<(), Error> {
        self.request(|reply| Command::SetNetwork { status, reply })
            .await?
    }

    /// Resolves when nothing is queued or running: everything succeeded, failed, was
    /// cancelled, is paused or waits for credentials. While offline, it waits.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] when the queue shuts down (or was shut down) before it is idle.
    pub async fn wait_idle(&self) -> Result<(), Error> {
        self.request(|reply| Command::WaitIdle { reply }).await
    }

    /// Stops every attempt (each is queued again, durably) and closes the database.
    /// Resolves once the database is closed. Calls on any clone then fail with `Closed`.
    ///
    /// # Errors
    ///
    /// None today: shutting down a queue already shut down resolves at once.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown { reply: Some(reply) })
            .await
            .is_err()
        {
            return Ok(()); // already shut down
        }
        let _ = done.await;
        log::info!("queue shut down");
        Ok(())
    }

    async fn control(&self, id: &TransferId, input: Input) -> Result<(), Error> {
        let id = id.clone();
        self.request(|reply| Command::Control { id, input, reply })
            .await?
    }

    async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let answer = self.send(command).await?;
        answer.await.map_err(|_| Error::Closed)
    }

    /// Runs an enqueue's `checks` on the blocking pool, then sends their result as
    /// `command` and waits for its answer. From the call until the command is sent it
    /// holds `enqueues_being_checked` (shared), which `enter_background` waits for.
    async fn enqueue_checked<V: Send + 'static, T>(
        &self,
        checks: impl FnOnce() -> V + Send + 'static,
        command: impl FnOnce(V, oneshot::Sender<T>) -> Command,
    ) -> Result<T, Error> {
        let checking = Arc::clone(&self.enqueues_being_checked).read_owned().await;
        let checked = tokio::task::spawn_blocking(checks)
            .await
            .map_err(|_| Error::Closed)?;
        let answer = self.send(|reply| command(checked, reply)).await?;
        drop(checking);
        answer.await.map_err(|_| Error::Closed)
    }

    /// Sends a command; its answer comes on the receiver.
    async fn send<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<oneshot::Receiver<T>, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| Error::Closed)?;
        Ok(answer)
    }
}
