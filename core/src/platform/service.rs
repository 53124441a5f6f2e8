//! What Ferry asks of the OS's background-transfer service, and what the OS answers: the
//! contract a platform shim implements ([`PlatformTransferService`]) and the plain data
//! that crosses the FFI boundary with it (a [`Handoff`], a [`PlatformOutcome`]).
//!
//! Must never hold policy or anything but plain data: strings, integers, vectors.

use std::path::PathBuf;

/// One OS background task that Ferry asks the platform to run.
///
/// Ferry builds these; a shim's own tests may start from `Handoff::default()` and set the
/// fields they need (it may gain fields, so it cannot be built with a struct literal).
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Handoff {
    /// Correlates the OS task with the transfer. Shims store it where the OS keeps it
    /// across relaunches (`URLSessionTask.taskDescription`, WorkManager's unique name).
    pub key: String,
    /// The transfer this task carries (for a packed batch, its first file's).
    pub transfer_id: String,
    /// The request body, ready to send as is. The OS services read bodies from files only.
    /// Empty for a download.
    pub body_path: PathBuf,
    /// The URL to send to: the destination, or what the request authorizer gave for it.
    pub url: String,
    /// `PUT` or `POST` for an upload; `GET` for a download (then [`Self::download`] says
    /// where its bytes go).
    pub method: String,
    /// Every header to send, including the idempotency key and, for a multipart body, its
    /// `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// The body's size in bytes (for `countOfBytesClientExpectsToSend`); for a download,
    /// the bytes its segment asks for (`countOfBytesClientExpectsToReceive`), or 0 when
    /// it asks for the whole file of unknown size.
    pub expected_bytes: u64,
    /// The task may use an expensive network (cellular, a hotspot): iOS
    /// `allowsExpensiveNetworkAccess`, Android's unmetered-network constraint when false.
    pub allow_expensive: bool,
    /// The task may use a constrained network (Low Data Mode, Data Saver): iOS
    /// `allowsConstrainedNetworkAccess`.
    pub allow_constrained: bool,
    /// The OS may delay the task for better conditions (iOS `isDiscretionary`). Ferry sets
    /// it for work handed over while the app is in the background.
    pub discretionary: bool,
    /// The destination speaks the IETF resumable upload draft at this interop version. The
    /// request then carries `Upload-Draft-Interop-Version` and `Upload-Complete: ?1`, so a
    /// server that answers `104 Upload Resumption Supported` lets iOS 17+ resume an
    /// interrupted task inside the OS instead of sending it again from zero.
    pub ietf_interop_version: Option<u32>,
    /// Set for a download (`method` `GET`): a part of the file as an OS download task
    /// (iOS) or worker (Android). `None` for an upload.
    pub download: Option<DownloadSegment>,
}

/// The part of a download one OS task fetches: a bounded byte range, so that an OS
/// resume that fails (iOS resume data that is rejected or expired) costs at most one
/// segment, never the file's bytes before it.
///
/// The handoff's headers already carry `Range: bytes={first}-{last}` (none when `last` is
/// `None`: the whole file) and, when the segment continues bytes Ferry holds, `If-Range`
/// with the recorded strong validator; the shim sends them as they are. When the task
/// finishes, the shim **moves the OS's file to [`Self::path`] before its delegate returns**
/// (iOS deletes it after `didFinishDownloadingTo`), replacing any file there, then reports
/// the answer's status and headers through `platform_finished` (the body bytes are in the
/// file, not in the report). Ferry checks the answer (a 206 must start at `first`), appends
/// the file to its partial file, records the new offset and removes the segment file.
/// Resume data is the OS's own optimisation inside one task; Ferry never needs it.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownloadSegment {
    /// The first byte asked for (0 for the file's start).
    pub first: u64,
    /// The last byte asked for (inclusive); `None`: to the end of the file.
    pub last: Option<u64>,
    /// Where the shim puts the OS's downloaded file: beside Ferry's partial file (same
    /// folder, same volume), named `.ferry-<transfer id>.seg-<first>`.
    pub path: PathBuf,
}

impl DownloadSegment {
    /// A segment of `first..=last` (`None`: to the end) delivered at `path`, for a shim's
    /// own tests (Ferry builds these for real handoffs).
    pub fn new(first: u64, last: Option<u64>, path: impl Into<PathBuf>) -> Self {
        Self {
            first,
            last,
            path: path.into(),
        }
    }
}

/// How an OS task ended.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformOutcome {
    /// The server answered. Ferry classifies the status like any other response.
    Response {
        /// The HTTP status code of the final response.
        status: u16,
        /// The response's headers, `(name, value)`; Ferry reads `Retry-After` from them,
        /// and keeps them (credential values redacted) with a transfer that succeeded.
        headers: Vec<(String, String)>,
        /// The response body's first bytes, at most the queue's
        /// [`crate::QueueConfig::response_body_limit`] (Ferry cuts anything longer
        /// again). Kept with a transfer that succeeded, readable by id
        /// ([`crate::TransferQueue::response`]).
        body: Vec<u8>,
        /// The shim dropped body bytes past the limit (or the body broke off).
        body_truncated: bool,
    },
    /// The task ended without a response.
    Failed {
        /// Why, as far as the shim can tell.
        kind: PlatformFailure,
        /// The OS's error in words (e.g. `NSError.localizedDescription`), for logs and
        /// the transfer's `last_error`.
        message: String,
    },
}

/// Why an OS task ended without a response.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlatformFailure {
    /// The user force-quit the app and the OS cancelled every task (iOS
    /// `NSURLErrorCancelledReasonUserForceQuitApplication`). The work is queued again.
    CancelledByUser,
    /// The OS cancelled the task for its own reasons (low power, background time used up).
    CancelledBySystem,
    /// A network error: retried with backoff.
    Network,
    /// Anything else: retried with backoff.
    Other,
}

/// The platform refused to start a task, or could not list its tasks (`outstanding`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the platform could not start an upload task: {message}")]
pub struct PlatformError {
    /// What the OS said, in words.
    pub message: String,
}

/// An OS background-transfer service, lent to Ferry by a platform shim.
///
/// Every method is called from Ferry's own runtime, never from the app's main thread,
/// and must return quickly: start or cancel the OS task and return. Report back through
/// the queue's `platform_progress` and `platform_finished`, from any thread; they never
/// block.
pub trait PlatformTransferService: Send + Sync {
    /// Starts an OS task for `handoff`. Ferry has already recorded the transfer as running
    /// on the platform under `handoff.key`, so a crash right after is reconciled at the
    /// next open.
    ///
    /// # Errors
    ///
    /// Return a [`PlatformError`] when the OS refused to create the task: the attempt
    /// fails as [`crate::FailureKind::Platform`] and is retried with backoff.
    fn start(&self, handoff: Handoff) -> Result<(), PlatformError>;

    /// Cancels the OS task with this key, if there is one. Its later report, if any, is
    /// ignored.
    fn cancel(&self, handoff_key: &str);

    /// The keys of every OS task that has not finished, as the OS knows them (iOS
    /// `getAllTasks`). Asked at every open to reconcile. An error (the OS's list cannot be
    /// had) keeps every record as it is: nothing is queued again on a missing list.
    ///
    /// # Errors
    ///
    /// Return a [`PlatformError`] when the list cannot be had (never an empty list in
    /// its place: that would queue every OS task's transfer again).
    fn outstanding(&self) -> Result<Vec<String>, PlatformError>;

    /// Asks the OS to keep the app running in the background for Ferry's own transfers
    /// (Android 14+: one user-initiated data-transfer job, which must be scheduled while
    /// the app is visible and shows a notification). Called only with
    /// [`crate::PlatformPolicy::keep_app_running`] on, in the foreground, when work is
    /// queued; `remaining_bytes` is what is left to move (the job's estimate). While it is
    /// kept, Ferry runs every transfer in-process, in the foreground and the background.
    /// When the OS ends it (the job stopped: the user's Stop, lost constraints), tell the
    /// queue with [`crate::TransferQueue::keep_alive_ended`].
    ///
    /// # Errors
    ///
    /// Return a [`PlatformError`] when the OS will not keep the app running (not visible,
    /// not allowed, an older OS): Ferry hands work to the OS as without it. The default
    /// refuses.
    fn keep_app_running(&self, remaining_bytes: u64) -> Result<(), PlatformError> {
        let _ = remaining_bytes;
        Err(PlatformError {
            message: "this platform service cannot keep the app running".into(),
        })
    }

    /// Ends what [`keep_app_running`](Self::keep_app_running) started: nothing is left to
    /// do, the queue shuts down, or the shim said
    /// [`crate::TransferQueue::keep_alive_ended`] (so that one started since is ended
    /// too). When nothing runs (refused, or already ended), do nothing.
    fn let_app_stop(&self) {}
}
