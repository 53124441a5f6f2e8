//! `TransferQueue` for Swift and Kotlin: every method forwards to `ferry::TransferQueue`
//! on Ferry's runtime.

use std::sync::Arc;
use std::time::Duration;

use crate::authorizer::{ForeignAuthorizer, RequestAuthorizer};
use crate::download::Download;
use crate::events::{EventSubscription, TransferObserver};
use crate::platform::{ForeignPlatform, PlatformOutcome, PlatformTransferService};
use ferry::TransferId;

use crate::numbers::{long, unsigned_long};
use crate::records::{
    AppState, EnqueueResult, HostStatus, NetworkStatus, QueueConfig, QueueProgress, Selection,
    ServerResponse, StateFilter, Transfer, Upload,
};
use crate::{FerryError, logging, runtime};

/// A durable upload queue. Open one per database; share it across the app.
///
/// End it with `shutdown()`, awaited: it stops every attempt and closes the database, and
/// the database may be opened again once it returns. Kotlin's `close()` (or `use {}`) and
/// Swift's last reference going away only free this object: a queue not shut down before
/// is shut down in the background, and opening its database again at once may fail as
/// in use (`Database`) until that finishes.
#[derive(uniffi::Object)]
pub struct TransferQueue {
    pub(crate) inner: ferry::TransferQueue,
}

#[uniffi::export]
impl TransferQueue {
    /// Opens (or creates) the queue stored at `config.database_path` and starts it.
    /// Transfers that were running in the app's process when it last stopped are queued
    /// again, and will be sent with the same idempotency key. Open one queue per database
    /// and share it; close it with `shutdown`.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` for a value with which nothing could be sent (its `field` names
    /// it); `InvalidArgument` for a negative count or size; `InvalidHeader` for an `idempotencyHeader` that is not a header name;
    /// `HttpClient` when an extra root certificate cannot be used; `Database` when the file
    /// cannot be opened (another opener holds it, it is damaged or of a newer Ferry, its
    /// directory is missing); `Internal` when Ferry's runtime cannot start.
    #[uniffi::constructor]
    pub async fn open(config: QueueConfig) -> Result<Arc<Self>, FerryError> {
        Self::open_with_integrations(config, ferry::Integrations::default()).await
    }

    /// Opens the queue with the OS background-transfer service `platform`. Large files
    /// (and, in the background, all work) are handed to it. Transfers recorded as running
    /// on the platform are first reconciled with `platform.outstanding()`.
    ///
    /// `platform` may be asked to start tasks before this returns: a shim that needs the
    /// queue to report back keeps the reports until it has it (or reports at next open).
    ///
    /// # Errors
    ///
    /// As `open`.
    #[uniffi::constructor]
    pub async fn open_with_platform(
        config: QueueConfig,
        platform: Arc<dyn PlatformTransferService>,
    ) -> Result<Arc<Self>, FerryError> {
        let integrations = ferry::Integrations {
            platform: Some(Arc::new(ForeignPlatform(platform))),
            ..ferry::Integrations::default()
        };
        Self::open_with_integrations(config, integrations).await
    }

    /// Opens the queue with the app's request `authorizer`, asked for credentials right
    /// before each attempt (never at enqueue). What it returns is never stored.
    ///
    /// # Errors
    ///
    /// As `open`.
    #[uniffi::constructor]
    pub async fn open_with_authorizer(
        config: QueueConfig,
        authorizer: Arc<dyn RequestAuthorizer>,
    ) -> Result<Arc<Self>, FerryError> {
        let integrations = ferry::Integrations {
            authorizer: Some(Arc::new(ForeignAuthorizer(authorizer))),
            ..ferry::Integrations::default()
        };
        Self::open_with_integrations(config, integrations).await
    }

    /// Opens the queue with both the OS background-transfer service and the request
    /// authorizer (asked right before each attempt and each handoff).
    ///
    /// # Errors
    ///
    /// As `open`.
    #[uniffi::constructor]
    pub async fn open_with_services(
        config: QueueConfig,
        platform: Arc<dyn PlatformTransferService>,
        authorizer: Arc<dyn RequestAuthorizer>,
    ) -> Result<Arc<Self>, FerryError> {
        let integrations = ferry::Integrations {
            platform: Some(Arc::new(ForeignPlatform(platform))),
            authorizer: Some(Arc::new(ForeignAuthorizer(authorizer))),
        };
        Self::open_with_integrations(config, integrations).await
    }

    /// Adds an upload and returns its transfer id (the existing one for a repeat: the same
    /// file, destination and method while that transfer is not finished, or succeeded
    /// and unchanged since).
    ///
    /// # Errors
    ///
    /// An invalid upload, with nothing queued: `InvalidDestination`, `InvalidHeader`,
    /// `InvalidMetadata`, `SourceMissing`, `SourceUnreadable`, `SourceNotAFile`. `Database`
    /// when it could not
    /// be stored; `Closed` after `shutdown`.
    pub async fn enqueue(&self, upload: Upload) -> Result<TransferId, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.enqueue(upload.to_core()).await?) }).await
    }

    /// Adds many uploads in one transaction; each gets its own result, in order: an
    /// invalid one is `Refused` with the error `enqueue` would throw for it while the
    /// others are queued.
    ///
    /// # Errors
    ///
    /// Only when nothing was queued: `Database` when the transaction failed, `Closed`
    /// after `shutdown`.
    pub async fn enqueue_many(
        &self,
        uploads: Vec<Upload>,
    ) -> Result<Vec<EnqueueResult>, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move {
            let uploads = uploads.iter().map(Upload::to_core).collect();
            let results = queue.enqueue_many(uploads).await?;
            Ok(results
                .into_iter()
                .map(|result| match result {
                    Ok(id) => EnqueueResult::Queued { id },
                    Err(error) => EnqueueResult::Refused {
                        error: error.into(),
                    },
                })
                .collect())
        })
        .await
    }

    /// Adds a download and returns its id. The same URL to the same destination, while
    /// that download waits, runs or after it succeeded, returns the first one's id.
    /// Downloads share the queue's limits, priorities, breakers and authorizer with
    /// uploads. The file appears at its destination only when complete and checked
    /// (`savedAs` on the transfer says where, for `keepBoth`).
    ///
    /// Until the OS lane carries downloads, they run in this process: in the foreground,
    /// or in a queue without a platform service; while the app is in the background (or
    /// has not said which) they wait.
    ///
    /// # Errors
    ///
    /// Nothing is queued when it throws: `InvalidDownload` (no such folder, a folder as
    /// destination, an expected SHA-256 that is not 64 hex digits), `InvalidDestination`
    /// (the URL), `InvalidHeader`, `InvalidMetadata`, `InvalidArgument` (a negative
    /// expected size); `Database`; `Closed` after `shutdown`.
    pub async fn enqueue_download(&self, download: Download) -> Result<TransferId, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.enqueue_download(download.to_core()?).await?) }).await
    }

    /// Adds many downloads in one transaction; each gets its own result, in order: an
    /// invalid one is `Refused` with the error `enqueueDownload` would throw for it while
    /// the others are queued.
    ///
    /// # Errors
    ///
    /// Only when nothing was queued: `Database` when the transaction failed, `Closed`
    /// after `shutdown`.
    pub async fn enqueue_downloads(
        &self,
        downloads: Vec<Download>,
    ) -> Result<Vec<EnqueueResult>, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move {
            let converted: Vec<Result<ferry::Download, FerryError>> =
                downloads.iter().map(Download::to_core).collect();
            let valid = converted.iter().filter_map(|d| d.as_ref().ok()).cloned();
            let mut queued = queue.enqueue_downloads(valid.collect()).await?.into_iter();
            Ok(converted
                .into_iter()
                .map(|conversion| match conversion {
                    Err(error) => EnqueueResult::Refused { error },
                    Ok(_) => match queued.next() {
                        Some(Ok(id)) => EnqueueResult::Queued { id },
                        Some(Err(error)) => EnqueueResult::Refused {
                            error: error.into(),
                        },
                        None => EnqueueResult::Refused {
                            error: ferry::Error::Closed.into(),
                        },
                    },
                })
                .collect())
        })
        .await
    }

    /// The transfer with this id, as stored now.
    ///
    /// # Errors
    ///
    /// `NotFound` when no transfer has it (never enqueued here, or purged); `Database`;
    /// `Closed` after `shutdown`.
    pub async fn get(&self, id: TransferId) -> Result<Transfer, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.get(&id).await?.into()) }).await
    }

    /// The server's answer to the upload `id` once it succeeded: status, headers (the
    /// values of credential headers such as `Set-Cookie` read `[redacted]`) and the
    /// body's first `responseBodyLimit` bytes. Kept durably with the transfer, also when
    /// the OS (background `URLSession`, WorkManager) finished it while the app was not
    /// running, until the transfer is purged. `nil`/`null` while it has not succeeded.
    ///
    /// # Errors
    ///
    /// `NotFound` when no transfer has it (never enqueued here, or purged); `Database`;
    /// `Closed` after `shutdown`.
    pub async fn response(&self, id: TransferId) -> Result<Option<ServerResponse>, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.response(&id).await?.map(ServerResponse::from)) }).await
    }

    /// Waits until the transfer is final (succeeded, failed or cancelled) or needs the app
    /// (`authRequired`: the server refused the credentials; give new ones through the
    /// request authorizer, or enqueue it again with new headers, then `resume`), and
    /// returns it. A paused transfer is waited for until the app resumes it. Cancelling the call (Swift task, Kotlin coroutine) leaves
    /// nothing behind.
    ///
    /// # Errors
    ///
    /// `NotFound` when no transfer has it; `Closed` when the queue shuts down first;
    /// `Database`.
    pub async fn await_result(&self, id: TransferId) -> Result<Transfer, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.wait_for(&id).await?.into()) }).await
    }

    /// A page of transfers in enqueue order, optionally only those in one state: at most
    /// `limit`, after skipping the first `offset`. Ask again with the next offset until a
    /// page comes back shorter than `limit`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a negative `offset` or `limit`; `Database` when the file
    /// cannot be read; `Closed` after `shutdown`.
    pub async fn list(
        &self,
        state: Option<StateFilter>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Transfer>, FerryError> {
        let offset = unsigned_long("offset", offset)?;
        let limit = unsigned_long("limit", limit)?;
        let queue = self.inner.clone();
        runtime::run(async move {
            let transfers = queue.list(state.map(Into::into), offset, limit).await?;
            Ok(transfers.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// A page of the transfers `selection` selects, in enqueue order: in one of its
    /// states (every state when it names none), with its destination prefix and in its
    /// group, e.g. `Selection(group: "album-7")` for one group's transfers. Paged as
    /// `list`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a negative `offset` or `limit`; `Database` when the file
    /// cannot be read; `Closed` after `shutdown`.
    pub async fn list_where(
        &self,
        selection: Selection,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Transfer>, FerryError> {
        let offset = unsigned_long("offset", offset)?;
        let limit = unsigned_long("limit", limit)?;
        let queue = self.inner.clone();
        runtime::run(async move {
            let transfers = queue.list_where(selection.into(), offset, limit).await?;
            Ok(transfers.into_iter().map(Into::into).collect())
        })
        .await
    }

    /// Holds a transfer that is queued, running or waiting for credentials; a running
    /// attempt is stopped. It waits for `resume`.
    ///
    /// # Errors
    ///
    /// `IllegalTransition` when the transfer's state does not allow it (it is unchanged);
    /// `NotFound`, `Database`, and `Closed` after `shutdown`.
    pub async fn pause(&self, id: TransferId) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.pause(&id).await?) }).await
    }

    /// Queues a paused transfer, or one waiting for credentials (after the user signed
    /// in), again.
    ///
    /// # Errors
    ///
    /// `IllegalTransition` when the transfer's state does not allow it (it is unchanged);
    /// `NotFound`, `Database`, and `Closed` after `shutdown`.
    pub async fn resume(&self, id: TransferId) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.resume(&id).await?) }).await
    }

    /// Cancels a transfer that has not finished, for good; a running attempt is stopped.
    ///
    /// # Errors
    ///
    /// `IllegalTransition` when the transfer's state does not allow it (it is unchanged);
    /// `NotFound`, `Database`, and `Closed` after `shutdown`.
    pub async fn cancel(&self, id: TransferId) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.cancel(&id).await?) }).await
    }

    /// Queues a failed transfer again, with a fresh attempt budget.
    ///
    /// # Errors
    ///
    /// `IllegalTransition` when the transfer's state does not allow it (it is unchanged);
    /// `NotFound`, `Database`, and `Closed` after `shutdown`.
    pub async fn retry(&self, id: TransferId) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.retry(&id).await?) }).await
    }

    /// Cancels every selected transfer that is queued, running, paused or waiting for
    /// credentials; returns how many. Running attempts are stopped; each sends
    /// `Cancelled`. A selected state that cannot be cancelled is `InvalidSelection`.
    ///
    /// # Errors
    ///
    /// `InvalidSelection` when a selected state is one the call never changes (nothing is
    /// changed); `Database`; `Closed` after `shutdown`.
    pub async fn cancel_where(&self, selection: Selection) -> Result<i64, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(long(queue.cancel_where(selection.into()).await?)) }).await
    }

    /// Queues every selected failed, paused or credential-waiting transfer again with a
    /// fresh attempt budget, and makes selected queued transfers waiting out a backoff
    /// due now; returns how many.
    ///
    /// # Errors
    ///
    /// `InvalidSelection` when a selected state is one the call never changes (nothing is
    /// changed); `Database`; `Closed` after `shutdown`.
    pub async fn retry_where(&self, selection: Selection) -> Result<i64, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(long(queue.retry_where(selection.into()).await?)) }).await
    }

    /// Deletes the records of selected succeeded, failed or cancelled transfers last
    /// changed at least `older_than` ago; returns how many. A purged upload enqueued
    /// again is sent again.
    ///
    /// # Errors
    ///
    /// `InvalidSelection` when a selected state is one the call never changes (nothing is
    /// changed); `Database`; `Closed` after `shutdown`.
    pub async fn purge_where(
        &self,
        selection: Selection,
        older_than: Duration,
    ) -> Result<i64, FerryError> {
        let queue = self.inner.clone();
        runtime::run(
            async move { Ok(long(queue.purge_where(selection.into(), older_than).await?)) },
        )
        .await
    }

    /// Files and bytes done, failed and in all, the send rate and the time left: what a
    /// progress bar for the whole queue needs. Cheap to call often.
    ///
    /// # Errors
    ///
    /// `Database` when the file cannot be read; `Closed` after `shutdown`.
    pub async fn progress(&self) -> Result<QueueProgress, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.progress().await?.into()) }).await
    }

    /// Every host with queued or running transfers, and why its work waits.
    ///
    /// # Errors
    ///
    /// `Database` when the file cannot be read; `Closed` after `shutdown`.
    pub async fn host_status(&self) -> Result<Vec<HostStatus>, FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move {
            Ok(queue
                .host_status()
                .await?
                .into_iter()
                .map(HostStatus::from)
                .collect())
        })
        .await
    }

    /// Tells the queue whether the app is in the foreground or the background. Until told
    /// (here or by `QueueConfig.appState`), a queue with an OS service acts as in the
    /// background: every transfer that starts goes to the OS, and no OS task is taken
    /// back. Call it on every change.
    ///
    /// # Errors
    ///
    /// `Database` when the change could not be committed; `Closed` after `shutdown`.
    pub async fn set_app_state(&self, state: AppState) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.set_app_state(state.into()).await?) }).await
    }

    /// The app is leaving the foreground: hands the queued work the OS should carry to the
    /// OS and returns once the OS holds it (each OS task started after its record was made
    /// durable). Call it inside `beginBackgroundTask` (iOS) or before the app's last
    /// foreground moment ends (Android), and end that window when it returns. The OS
    /// takes at most `maxPlatformTasks` at a time; the rest follows as those finish.
    /// Uploads already running in-process are left to finish. Without an OS service it
    /// only records the state.
    ///
    /// # Errors
    ///
    /// `Database` when the change could not be committed; `Closed` after `shutdown`.
    pub async fn enter_background(&self) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.enter_background().await?) }).await
    }

    /// Tells the queue about the network. Until told (here or by `QueueConfig.network`), it
    /// assumes online but expensive and constrained. While offline nothing starts; transfers that may not use an
    /// expensive or constrained network wait for another one. Call it on every change.
    ///
    /// # Errors
    ///
    /// `Database` when the change could not be committed; `Closed` after `shutdown`.
    pub async fn set_network(&self, status: NetworkStatus) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.set_network(status.into()).await?) }).await
    }

    /// Waits until nothing is queued or running: everything succeeded, failed, was
    /// cancelled, is paused or waits for credentials. While offline, it waits.
    ///
    /// # Errors
    ///
    /// `Closed` when the queue is shut down before it is idle.
    pub async fn wait_idle(&self) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.wait_idle().await?) }).await
    }

    /// Stops every attempt (each is queued again) and closes the database. Every later
    /// call on this queue throws `Closed`; open the database again to go on.
    ///
    /// # Errors
    ///
    /// Only `Internal`, when Ferry's runtime could not run it; shutting down twice is
    /// harmless.
    pub async fn shutdown(&self) -> Result<(), FerryError> {
        let queue = self.inner.clone();
        runtime::run(async move { Ok(queue.shutdown().await?) }).await
    }

    /// The platform shim reports bytes sent by the OS task `handoff_key`. Never blocks;
    /// an unknown or stale key is ignored.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a negative count; `Closed` after `shutdown`: the report is
    /// dropped.
    pub fn platform_progress(
        &self,
        handoff_key: String,
        bytes_sent: i64,
        bytes_total: i64,
    ) -> Result<(), FerryError> {
        let bytes_sent = unsigned_long("bytesSent", bytes_sent)?;
        let bytes_total = unsigned_long("bytesTotal", bytes_total)?;
        Ok(self
            .inner
            .platform_progress(&handoff_key, bytes_sent, bytes_total)?)
    }

    /// The platform shim reports that the OS task `handoff_key` ended. Never blocks; the
    /// outcome is durable once the engine's next turn commits (`waitIdle` waits for it).
    /// A report for a key that is no longer running is ignored, so reporting again after
    /// a relaunch is safe.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a status that is no HTTP status code; `Closed` after
    /// `shutdown`: keep the report and give it again after the next open.
    pub fn platform_finished(
        &self,
        handoff_key: String,
        outcome: PlatformOutcome,
    ) -> Result<(), FerryError> {
        Ok(self
            .inner
            .platform_finished(&handoff_key, outcome.into_core()?)?)
    }

    /// The platform shim reports that the OS ended the keep-alive it granted through
    /// `keepAppRunning` (Android: the user-initiated job was stopped). Ferry hands work to
    /// the OS from now on, and asks again when the app next comes to the foreground.
    ///
    /// # Errors
    ///
    /// `Closed` after `shutdown`: nothing to tell then.
    pub fn keep_alive_ended(&self) -> Result<(), FerryError> {
        Ok(self.inner.keep_alive_ended()?)
    }

    /// Delivers every event from now on to `observer` until the subscription is closed.
    pub fn subscribe(&self, observer: Arc<dyn TransferObserver>) -> Arc<EventSubscription> {
        EventSubscription::start(self.inner.subscribe(), observer)
    }
}

impl TransferQueue {
    async fn open_with_integrations(
        config: QueueConfig,
        integrations: ferry::Integrations,
    ) -> Result<Arc<Self>, FerryError> {
        logging::install_platform_default();
        let config = config.to_core()?;
        runtime::run(async move {
            let inner = ferry::TransferQueue::open_with(config, integrations).await?;
            Ok(Arc::new(Self { inner }))
        })
        .await
    }
}
