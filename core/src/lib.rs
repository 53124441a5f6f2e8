//! # Ferry: a durable upload queue for mobile apps
//!
//! An app hands Ferry thousands of files; Ferry gets every one of them to the server
//! exactly once, as fast as the network allows, and survives the app being suspended,
//! killed and relaunched.
//!
//! ## How it works
//!
//! * **One actor owns all state** (`actor.rs`). [`TransferQueue`] handles only send it
//!   messages. The actor applies them in turns; each turn's state changes are committed in
//!   one SQLite transaction before any attempt starts, and synced to disk (one sync for
//!   every turn committed meanwhile: group commit) *before* anyone hears of them.
//!   Attempts run in their own tasks and report back.
//! * **A transfer's life** is one enum, [`TransferState`], and one pure transition
//!   function (`state.rs`).
//! * **The store** (`store/`) is SQLite in WAL mode; the actor syncs the WAL itself.
//! * **The scheduler** (`scheduler.rs`) is a pure function: concurrency is counted in
//!   requests in flight, per host and overall ([`Limits`]), never in connections, so the
//!   limits hold on HTTP/2 where the OS's per-host connection limit does not.
//! * **Attempts** run on a lane ([`Lane`]): the in-process reqwest client (`http/`), with
//!   a stall watchdog, or the OS's background-transfer service when the app lends one
//!   ([`PlatformTransferService`]). Their outcomes are classified in one table
//!   (`classify.rs`), retried with full-jitter backoff or the server's `Retry-After`
//!   ([`RetryPolicy`]), and a per-host breaker keeps a dead server from being hammered
//!   ([`BreakerPolicy`]).
//! * **Big files resume** ([`ResumableConfig`]): to a destination that speaks tus 1.0 or the
//!   IETF resumable upload draft, an interrupted upload continues at the server's offset
//!   (`HEAD`, then `PATCH`), after a crash too; the upload resource is persisted by the actor.
//! * **Exactly once**: every request carries the transfer id as `Idempotency-Key`. After a
//!   crash, transfers that were running are queued again and resent with the same key, so
//!   a server that honours it stores each file once.
//! * **Credentials are asked for just in time** (`auth/`): an app's [`RequestAuthorizer`]
//!   gives the URL and headers right before each attempt; they are renewed before they
//!   would expire, refreshed once after a 401/403, and never written to the store.
//!
//! ## Using it
//!
//! Open a [`TransferQueue`] on a tokio runtime with a [`QueueConfig`] (the database path;
//! every other field has a default), [`TransferQueue::enqueue`] an [`Upload`] per file,
//! watch [`TransferQueue::subscribe`] for [`TransferEvent`]s or poll
//! [`TransferQueue::progress`], and [`TransferQueue::shutdown`] before the process exits.
//! Tell the queue when the app moves between foreground and background
//! ([`TransferQueue::set_app_state`]) and when the network changes
//! ([`TransferQueue::set_network`]). `examples/` in the crate's repository has runnable
//! programs.
//!
//! ```no_run
//! use ferry::{QueueConfig, TransferQueue, Upload};
//!
//! # async fn run() -> Result<(), ferry::Error> {
//! let queue = TransferQueue::open(QueueConfig::new("/path/to/uploads.db")).await?;
//! let id = queue
//!     .enqueue(Upload::put("/path/to/photo.jpg", "https://example.com/photos/photo.jpg"))
//!     .await?;
//! queue.wait_idle().await?;
//! println!("{id}: {:?}", queue.get(&id).await?.state);
//! queue.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## What this crate must never do
//!
//! Panic or `unwrap` on anything from disk, the network or the app; hold a file in memory;
//! report a state change before it is durable; write a secret from an authorizer to disk.

#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

mod actor;
mod app_data;
mod attempt_budget;
mod auth;
mod breaker;
mod classify;
mod clock;
mod conditions;
mod config;
mod config_check;
mod descriptor_budget;
mod descriptors;
mod disk_space;
mod download;
mod download_record;
mod enqueue_checks;
mod error;
mod events;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hosts;
mod http;
mod id;
mod id_parse;
mod outcome;
mod platform;
mod progress;
mod queue;
#[cfg(test)]
mod queue_properties;
mod queue_wait;
mod queue_watch;
mod reconcile;
mod resumable;
mod retry;
mod scheduler;
mod selection;
mod server_response;
mod snapshot;
mod source_check;
mod state;
mod store;
mod transfer;
mod upload;
mod upload_resource;
mod volume_space;

pub use app_data::{MAX_GROUP_BYTES, MAX_METADATA_BYTES, MAX_METADATA_ENTRIES};
pub use auth::{
    AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo,
    expires_before_finish, is_sensitive_header, likely_duration, redact_headers, redact_url,
};
pub use conditions::{AppState, NetworkStatus};
pub use config::{
    AuthPolicy, BatchEndpoint, BreakerPolicy, HttpVersionPolicy, Limits, PlatformPolicy,
    QueueConfig, RetryPolicy,
};
pub use download::{ConflictRule, Direction, Download};
pub use error::{
    CERTIFICATE_TRUST_ADVICE, Error, FailureKind, NotAFile, StoreError, TransferError,
};
pub use events::{Subscription, TransferEvent};
pub use hosts::{HostHealth, HostStatus};
pub use id::TransferId;
pub use platform::{
    DownloadSegment, Handoff, PlatformError, PlatformFailure, PlatformOutcome,
    PlatformTransferService,
};
pub use progress::{Progress, StateCount};
pub use queue::{Integrations, TransferQueue};
pub use resumable::{
    IETF_IOS17_INTEROP_VERSION, IETF_LATEST_INTEROP_VERSION, ResumableConfig, ResumableDestination,
    ResumableProtocol,
};
pub use selection::Selection;
pub use server_response::{DEFAULT_RESPONSE_BODY_LIMIT, ServerResponse, is_credential_header};
pub use snapshot::{HostSummary, QueueSnapshot, SnapshotLimits};
pub use state::{Lane, StateKind, TransferState};
pub use transfer::Transfer;
pub use upload::{Constraints, Upload, UploadMethod};
