//! Records and enums that cross the FFI, with their conversions to and from `ferry`.
//!
//! Ids are `UUID`s (`uuid.rs`), paths strings, integers signed (`numbers.rs`); durations
//! and instants use UniFFI's built-in `Duration` (`TimeInterval` / `java.time.Duration`)
//! and `SystemTime` (`Date` / `java.time.Instant`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use ferry::TransferId;

use crate::FerryError;
use crate::download::{Direction, Download};
use crate::numbers::{int, long, unsigned_int, unsigned_long};
use crate::settings::{BatchEndpoint, HttpVersion};

/// How a queue is configured. Build one with `default_queue_config(databasePath:)`.
#[derive(Clone, Debug, uniffi::Record)]
pub struct QueueConfig {
    /// The SQLite file that holds the queue, created at open if missing; its directory
    /// must exist. Use a path in the app's own storage (Application Support, `filesDir`),
    /// not a cache the OS may clear.
    pub database_path: String,
    /// Requests in flight to one host, across every lane (default 4; at least 1).
    #[uniffi(default = 4)]
    pub per_host_limit: i32,
    /// Requests in flight overall, across every lane (default 8; at least 1).
    #[uniffi(default = 8)]
    pub global_limit: i32,
    /// No bytes moved for this long aborts and retries an attempt; also the connect
    /// timeout (default 30 s; at least 1 s).
    pub stall_timeout: Duration,
    /// The cap of the first retry's backoff, doubled with each attempt; the wait is a
    /// random time below the cap (default 1 s).
    pub retry_base_delay: Duration,
    /// No backoff is longer than this, except a server's own `Retry-After` (default 5 min).
    pub retry_max_delay: Duration,
    /// The longest a server's `Retry-After` is honoured; a longer one waits this long
    /// (default 15 min).
    pub retry_max_server_delay: Duration,
    /// Attempts before a transfer fails with `AttemptsExhausted` (default 25; at least 1).
    /// An attempt that moved a resumable upload forward starts the count over.
    #[uniffi(default = 25)]
    pub max_attempts: i32,
    /// The header that carries the transfer id, so a server can refuse a second copy of
    /// an upload (default `Idempotency-Key`).
    #[uniffi(default = "Idempotency-Key")]
    pub idempotency_header: String,
    /// Extra trusted certificates, each PEM text: a private CA's, or a self-signed
    /// server's own (default none: the system's trust store only).
    #[uniffi(default = [])]
    pub extra_root_certificates: Vec<String>,
    /// Files at least this big, in bytes, go through their destination's resumable
    /// protocol.
    #[uniffi(default = 8388608)]
    pub resumable_threshold: i64,
    /// Destinations (by URL prefix) that speak tus or the IETF resumable upload draft.
    #[uniffi(default = [])]
    pub resumable_destinations: Vec<ResumableDestination>,
    /// With a platform service, in the foreground, files at least this big go to the OS.
    #[uniffi(default = 8388608)]
    pub large_file_threshold: i64,
    /// Never more OS tasks outstanding than this (at least 1).
    #[uniffi(default = 6)]
    pub max_platform_tasks: i32,
    /// In the foreground, an OS task without progress for this long is taken back
    /// (default 60 s; at least 1 s).
    pub platform_stall_timeout: Duration,
    /// Pending work, network up, nothing moved for this long: a stall is diagnosed with a
    /// `QueueStalled` event (default 2 min).
    pub queue_stall_after: Duration,
    /// While the OS carries everything (background), hand it a new window of tasks only
    /// once the last one has ended: on for iOS background sessions, whose resume delay
    /// doubles with every relaunch; off for Android (default: on for Apple targets).
    #[uniffi(default = None)]
    pub refill_when_drained: Option<bool>,
    /// A download goes to the OS in ranged segments of at most this many bytes, one OS
    /// task each (`Handoff.download`), so a failed OS resume costs at most one segment;
    /// `nil`/`null`: 64 MiB. 0 counts as 1.
    #[uniffi(default = None)]
    pub download_segment_bytes: Option<i64>,
    /// Downloads may go to the platform service as ranged segments (`Handoff.download`),
    /// under the uploads' rules (large in the foreground, everything in the background).
    /// On by default: the services in Ferry's packages carry download handoffs (fetch
    /// the segment into `Handoff.download.path` and report the answer's status and
    /// headers). Turn it off for a service of your own that carries only uploads: it
    /// would send a `GET` as an upload. While off, downloads run in-process, and wait
    /// while the OS would carry everything.
    #[uniffi(default = true)]
    pub downloads_to_os: bool,
    /// Ask the platform service to keep the app running while work is queued
    /// (`PlatformTransferService.keepAppRunning`; Android 14+: one user-initiated
    /// data-transfer job, scheduled while the app is visible, which needs the
    /// `RUN_USER_INITIATED_JOBS` permission). While it is kept every transfer runs
    /// in-process, through Doze and the standby buckets' quotas; a refusal, or the OS
    /// ending it, hands work to the OS as before. Off by default.
    #[uniffi(default = false)]
    pub keep_app_running: bool,
    /// Whether the app is in the foreground as the queue opens; `nil`/`null` when it
    /// cannot tell. Until told, with a background session (iOS) or WorkManager (Android)
    /// attached, every transfer goes to the OS and no OS task is taken back: an app
    /// relaunched in the background must not run uploads in-process, where they freeze.
    #[uniffi(default = None)]
    pub app_state: Option<AppState>,
    /// The network as the queue opens; `nil`/`null` until reported, and then Ferry
    /// treats it as expensive and constrained (transfers that may not use such a network
    /// wait for `setNetwork`).
    #[uniffi(default = None)]
    pub network: Option<NetworkStatus>,
    /// The most bytes of a successful upload's response body kept with it, readable by
    /// id (`response(id:)`), also when the OS finished the upload while the app was gone
    /// (default 64 KiB; 0 keeps status and headers only). A longer body is cut and marked
    /// `bodyTruncated`.
    #[uniffi(default = 65536)]
    pub response_body_limit: i64,
    /// Which HTTP versions the in-process client speaks (default `negotiate`: HTTP/2 where
    /// TLS offers it).
    pub http_version: HttpVersion,
    /// At most one progress event per transfer per this interval (default 250 ms).
    pub progress_interval: Duration,
    /// Failures in a row to one host that open its breaker: then one probe at a time goes
    /// to it (default 5; at least 1).
    #[uniffi(default = 5)]
    pub breaker_failure_threshold: i32,
    /// How long an open breaker waits before its first probe; doubles while probes fail
    /// (default 2 s).
    pub breaker_cooldown: Duration,
    /// The longest wait between two probes of a host that keeps failing (default 30 s).
    pub breaker_max_cooldown: Duration,
    /// Endpoints that take many small files in one multipart request (default none).
    #[uniffi(default = [])]
    pub batching: Vec<BatchEndpoint>,
    /// A request authorizer that has not answered after this long fails the attempt,
    /// which is retried (default 60 s).
    pub authorize_timeout: Duration,
    /// Header names whose values are secrets besides `Authorization`,
    /// `Proxy-Authorization`, `Cookie` and `Set-Cookie`: never logged, never kept in a
    /// stored answer (default none).
    #[uniffi(default = [])]
    pub sensitive_headers: Vec<String>,
}

/// A destination that resumes big uploads: uploads whose URL starts with `url_prefix`
/// use `protocol`, and their URL is the upload-creation endpoint.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ResumableDestination {
    /// Uploads whose destination starts with this text (compared literally) resume.
    pub url_prefix: String,
    /// The protocol the server at that prefix speaks.
    pub protocol: ResumableProtocol,
}

/// tus 1.0.0, or the IETF draft at an `Upload-Draft-Interop-Version` (3 for iOS 17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ResumableProtocol {
    /// tus 1.0.0: `POST` creates the upload, `HEAD` reads its offset, `PATCH` appends.
    Tus,
    /// draft-ietf-httpbis-resumable-upload.
    Ietf {
        /// The `Upload-Draft-Interop-Version` to speak: 3 for a server that serves
        /// iOS 17's URLSession, up to 8 (the latest this build knows).
        interop_version: i32,
    },
}

impl ResumableProtocol {
    fn from_core(protocol: ferry::ResumableProtocol) -> Self {
        match protocol {
            ferry::ResumableProtocol::Tus => Self::Tus,
            ferry::ResumableProtocol::Ietf { interop_version } => Self::Ietf {
                interop_version: int(interop_version),
            },
        }
    }

    fn to_core(self) -> Result<ferry::ResumableProtocol, FerryError> {
        Ok(match self {
            Self::Tus => ferry::ResumableProtocol::Tus,
            Self::Ietf { interop_version } => ferry::ResumableProtocol::Ietf {
                interop_version: unsigned_int("interopVersion", interop_version)?,
            },
        })
    }
}

/// The defaults for a queue stored at `database_path` (see each field of `QueueConfig`
/// for its default). Change the fields you need, then open the queue.
#[uniffi::export]
pub fn default_queue_config(database_path: String) -> QueueConfig {
    QueueConfig::from_core(&ferry::QueueConfig::new(database_path))
}

impl QueueConfig {
    fn from_core(config: &ferry::QueueConfig) -> Self {
        Self {
            database_path: config.database_path.to_string_lossy().into_owned(),
            per_host_limit: saturate(config.limits.per_host),
            global_limit: saturate(config.limits.global),
            stall_timeout: config.stall_timeout,
            retry_base_delay: config.retry.base_delay,
            retry_max_delay: config.retry.max_delay,
            retry_max_server_delay: config.retry.max_server_delay,
            max_attempts: int(config.retry.max_attempts),
            idempotency_header: config.idempotency_header.clone(),
            extra_root_certificates: config.extra_root_certificates_pem.clone(),
            resumable_threshold: long(config.resumable.threshold),
            resumable_destinations: config
                .resumable
                .destinations
                .iter()
                .map(|destination| ResumableDestination {
                    url_prefix: destination.url_prefix.clone(),
                    protocol: ResumableProtocol::from_core(destination.protocol),
                })
                .collect(),
            large_file_threshold: long(config.platform.large_file_threshold),
            max_platform_tasks: saturate(config.platform.max_platform_tasks),
            platform_stall_timeout: config.platform.platform_stall_timeout,
            queue_stall_after: config.platform.queue_stall_after,
            refill_when_drained: Some(config.platform.refill_when_drained),
            download_segment_bytes: Some(long(config.platform.download_segment_bytes)),
            downloads_to_os: config.platform.downloads_to_os,
            keep_app_running: config.platform.keep_app_running,
            app_state: AppState::from_core(config.app_state),
            network: config.network.map(NetworkStatus::from_core),
            response_body_limit: long(
                u64::try_from(config.response_body_limit).unwrap_or(u64::MAX),
            ),
            http_version: HttpVersion::from_core(config.http_version),
            progress_interval: config.progress_interval,
            breaker_failure_threshold: int(config.breaker.failure_threshold),
            breaker_cooldown: config.breaker.cooldown,
            breaker_max_cooldown: config.breaker.max_cooldown,
            batching: config
                .batching
                .iter()
                .map(BatchEndpoint::from_core)
                .collect(),
            authorize_timeout: config.auth.authorize_timeout,
            sensitive_headers: config.auth.sensitive_headers.clone(),
        }
    }

    /// The core's config.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a negative count or size (named as Swift and Kotlin spell it).
    pub(crate) fn to_core(&self) -> Result<ferry::QueueConfig, FerryError> {
        let mut config = ferry::QueueConfig::new(&self.database_path);
        // Not clamped: a zero reaches `TransferQueue::open`, which refuses it with
        // `FerryError.InvalidConfig` saying what to use instead.
        config.limits = ferry::Limits {
            per_host: unsigned_int("perHostLimit", self.per_host_limit)? as usize,
            global: unsigned_int("globalLimit", self.global_limit)? as usize,
        };
        config.stall_timeout = self.stall_timeout;
        config.retry.base_delay = self.retry_base_delay;
        config.retry.max_delay = self.retry_max_delay;
        config.retry.max_server_delay = self.retry_max_server_delay;
        config.retry.max_attempts = unsigned_int("maxAttempts", self.max_attempts)?;
        config.idempotency_header = self.idempotency_header.clone();
        config.extra_root_certificates_pem = self.extra_root_certificates.clone();
        config.resumable.threshold = unsigned_long("resumableThreshold", self.resumable_threshold)?;
        config.resumable.destinations = self
            .resumable_destinations
            .iter()
            .map(|destination| {
                Ok(ferry::ResumableDestination {
                    url_prefix: destination.url_prefix.clone(),
                    protocol: destination.protocol.to_core()?,
                })
            })
            .collect::<Result<_, FerryError>>()?;
        config.platform = ferry::PlatformPolicy {
            large_file_threshold: unsigned_long("largeFileThreshold", self.large_file_threshold)?,
            max_platform_tasks: unsigned_int("maxPlatformTasks", self.max_platform_tasks)?.max(1)
                as usize,
            platform_stall_timeout: self.platform_stall_timeout,
            queue_stall_after: self.queue_stall_after,
            refill_when_drained: self
                .refill_when_drained
                .unwrap_or(ferry::PlatformPolicy::default().refill_when_drained),
            download_segment_bytes: match self.download_segment_bytes {
                Some(bytes) => unsigned_long("downloadSegmentBytes", bytes)?,
                None => ferry::PlatformPolicy::default().download_segment_bytes,
            },
            downloads_to_os: self.downloads_to_os,
            keep_app_running: self.keep_app_running,
        };
        config.app_state = self.app_state.map_or(ferry::AppState::Unknown, Into::into);
        config.network = self.network.map(Into::into);
        config.response_body_limit = usize::try_from(unsigned_long(
            "responseBodyLimit",
            self.response_body_limit,
        )?)
        .unwrap_or(usize::MAX);
        config.http_version = self.http_version.to_core();
        config.progress_interval = self.progress_interval;
        config.breaker = ferry::BreakerPolicy {
            failure_threshold: unsigned_int(
                "breakerFailureThreshold",
                self.breaker_failure_threshold,
            )?,
            cooldown: self.breaker_cooldown,
            max_cooldown: self.breaker_max_cooldown,
        };
        config.batching = self
            .batching
            .iter()
            .map(BatchEndpoint::to_core)
            .collect::<Result<_, FerryError>>()?;
        config.auth.authorize_timeout = self.authorize_timeout;
        config.auth.sensitive_headers = self.sensitive_headers.clone();
        Ok(config)
    }
}

fn saturate(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// How the file is sent.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum UploadMethod {
    /// `PUT` with the file as the raw body.
    Put,
    /// `POST` with the file as the raw body.
    Post,
    /// `multipart/form-data` with the file in the part named `field`.
    PostMultipart {
        /// The form field's name; must not be empty. The part's file name is the file's.
        field: String,
    },
}

/// One HTTP header.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Header {
    /// The header's name, e.g. `Content-Type` (compared case-insensitively).
    pub name: String,
    /// Its value; no line breaks.
    pub value: String,
}

/// The server's answer to an upload that succeeded, as Ferry keeps it (`response(id:)`).
///
/// For a file packed into a batch: the batch's headers, with the file's own entry of the
/// per-part results as status and body (or the batch's status and body when the server
/// sent none). For a resumable upload: the answer to its last request.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ServerResponse {
    /// The HTTP status code (2xx).
    pub status: i32,
    /// The headers in the order the server sent them; the values of credential headers
    /// (`Set-Cookie`, `WWW-Authenticate`, `Authorization`, ...) read `[redacted]`.
    pub headers: Vec<Header>,
    /// The body's first bytes, at most the queue's `responseBodyLimit`.
    pub body: Vec<u8>,
    /// The body had more than `body` holds: longer than the limit, or it stalled or broke
    /// off before its end (the upload still succeeded).
    pub body_truncated: bool,
}

impl From<ferry::ServerResponse> for ServerResponse {
    fn from(answer: ferry::ServerResponse) -> Self {
        Self {
            status: i32::from(answer.status),
            headers: headers_from_core(answer.headers),
            body: answer.body,
            body_truncated: answer.body_truncated,
        }
    }
}

/// Headers from `ferry`'s `(name, value)` pairs.
pub(crate) fn headers_from_core(headers: Vec<(String, String)>) -> Vec<Header> {
    headers
        .into_iter()
        .map(|(name, value)| Header { name, value })
        .collect()
}

/// An upload's or a download's headers as `ferry` takes them.
pub(crate) fn headers_to_core(headers: &[Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|header| (header.name.clone(), header.value.clone()))
        .collect()
}

/// The network rules of an upload or a download as `ferry` takes them.
pub(crate) fn constraints_to_core(
    allow_expensive_network: bool,
    allow_constrained_network: bool,
) -> ferry::Constraints {
    ferry::Constraints {
        allow_expensive: allow_expensive_network,
        allow_constrained: allow_constrained_network,
    }
}

/// App metadata copied between the FFI's map and `ferry`'s ordered one, either way.
pub(crate) fn metadata_copy<'a, T>(
    metadata: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> T
where
    T: FromIterator<(String, String)>,
{
    metadata
        .into_iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// One file to send. Headers given here are stored in the database: never put secrets here.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Upload {
    /// The file to send: a regular file that keeps its size and modification time until
    /// it is sent (one that changes fails as `SourceChanged`).
    pub source_path: String,
    /// The absolute `http` or `https` URL to send to. It is stored, so no password in it.
    pub destination: String,
    /// How the file is sent.
    pub method: UploadMethod,
    /// Extra request headers sent with every attempt. Stored: give credentials through a
    /// request authorizer instead.
    #[uniffi(default = [])]
    pub headers: Vec<Header>,
    /// Higher runs first; equal priorities run in enqueue order (default 0).
    #[uniffi(default = 0)]
    pub priority: i32,
    /// May use an expensive network: cellular, a personal hotspot (default yes).
    #[uniffi(default = true)]
    pub allow_expensive_network: bool,
    /// May use a constrained network: Low Data Mode, Data Saver (default yes).
    #[uniffi(default = true)]
    pub allow_constrained_network: bool,
    /// The app's own data about this upload (an album id, a record's key...): stored with
    /// the transfer and returned on it, never sent to the server (put what the server must
    /// see in `headers`). At most 64 entries and 8 KiB of keys and values, no empty key
    /// (else `InvalidMetadata`). Default: empty.
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
    /// The app's group (or tag) for this upload: `listWhere`, `cancelWhere`, `retryWhere`
    /// and `purgeWhere` select by it (`Selection.group`). Not empty, at most 256 bytes
    /// (else `InvalidMetadata`); never sent. Default: none.
    #[uniffi(default)]
    pub group: Option<String>,
}

impl Upload {
    pub(crate) fn to_core(&self) -> ferry::Upload {
        ferry::Upload {
            source: self.source_path.clone().into(),
            destination: self.destination.clone(),
            method: match &self.method {
                UploadMethod::Put => ferry::UploadMethod::Put,
                UploadMethod::Post => ferry::UploadMethod::Post,
                UploadMethod::PostMultipart { field } => ferry::UploadMethod::PostMultipart {
                    field: field.clone(),
                },
            },
            headers: headers_to_core(&self.headers),
            priority: self.priority,
            constraints: constraints_to_core(
                self.allow_expensive_network,
                self.allow_constrained_network,
            ),
            metadata: metadata_copy(&self.metadata),
            group: self.group.clone(),
        }
    }

    fn from_core(upload: &ferry::Upload) -> Self {
        Self {
            source_path: upload.source.to_string_lossy().into_owned(),
            destination: upload.destination.clone(),
            method: match &upload.method {
                ferry::UploadMethod::Put => UploadMethod::Put,
                ferry::UploadMethod::Post => UploadMethod::Post,
                ferry::UploadMethod::PostMultipart { field } => UploadMethod::PostMultipart {
                    field: field.clone(),
                },
            },
            headers: headers_from_core(upload.headers.clone()),
            priority: upload.priority,
            allow_expensive_network: upload.constraints.allow_expensive,
            allow_constrained_network: upload.constraints.allow_constrained,
            metadata: metadata_copy(&upload.metadata),
            group: upload.group.clone(),
        }
    }
}

/// The outcome of one item of `enqueueMany`: an id, or why it was refused.
#[derive(Clone, Debug, uniffi::Enum)]
pub enum EnqueueResult {
    /// Queued (or already queued: a repeat returns the existing transfer).
    Queued {
        /// The transfer's id.
        id: TransferId,
    },
    /// Refused, with nothing queued for it: the file is missing or not a regular file,
    /// the URL or a header is invalid.
    Refused {
        /// Why: the error `enqueue` would have thrown for this upload (its fields say
        /// which path, destination or header; its description what to do).
        error: FerryError,
    },
}

/// Where a running transfer's bytes move.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Lane {
    /// Ferry's own HTTP client, in the app's process.
    InProcess,
    /// An OS background task.
    Platform {
        /// The key the OS task carries (`Handoff.key`).
        handoff_key: String,
    },
}

/// Where a transfer is in its life.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TransferState {
    /// Waiting to run, possibly until a retry time (`nextAttemptAt`).
    Queued,
    /// An attempt is under way.
    Running {
        /// Where it runs.
        lane: Lane,
    },
    /// Held by the app; runs again after `resume`.
    Paused,
    /// The whole file arrived: the server accepted it (an upload), or it is in place at
    /// `savedAs` (a download). Final.
    Succeeded,
    /// Failed for good (see `lastError`); `retry` queues it again.
    Failed,
    /// Cancelled. Final.
    Cancelled,
    /// The server refused the credentials; waits for the user to sign in and `resume`.
    AuthRequired,
}

impl From<&ferry::TransferState> for TransferState {
    fn from(state: &ferry::TransferState) -> Self {
        match state {
            ferry::TransferState::Queued => Self::Queued,
            ferry::TransferState::Running { lane } => Self::Running {
                lane: match lane {
                    ferry::Lane::InProcess => Lane::InProcess,
                    ferry::Lane::Platform { handoff_key } => Lane::Platform {
                        handoff_key: handoff_key.clone(),
                    },
                },
            },
            ferry::TransferState::Paused => Self::Paused,
            ferry::TransferState::Succeeded => Self::Succeeded,
            ferry::TransferState::Failed => Self::Failed,
            ferry::TransferState::Cancelled => Self::Cancelled,
            ferry::TransferState::AuthRequired => Self::AuthRequired,
        }
    }
}

/// Which transfers `cancelWhere`, `retryWhere` and `purgeWhere` act on, and `listWhere`
/// lists: those in one of `states` (every state the call acts on, when empty) whose
/// destination starts with `destinationPrefix` (compared literally: `%` and `_` are plain
/// characters) and that were enqueued in `group` (`Upload.group`, compared exactly).
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct Selection {
    /// The states selected; empty (the default) for every state the call acts on.
    #[uniffi(default = [])]
    pub states: Vec<StateFilter>,
    /// The text selected destinations start with; none (the default) for any.
    #[uniffi(default)]
    pub destination_prefix: Option<String>,
    /// The group selected transfers were enqueued in; none (the default) for any group,
    /// and for transfers in none.
    #[uniffi(default)]
    pub group: Option<String>,
}

impl From<Selection> for ferry::Selection {
    fn from(selection: Selection) -> Self {
        Self {
            states: selection.states.into_iter().map(Into::into).collect(),
            destination_prefix: selection.destination_prefix,
            group: selection.group,
        }
    }
}

/// A state without its data, to filter `list` and to select transfers in bulk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum StateFilter {
    /// `TransferState.Queued`.
    Queued,
    /// `TransferState.Running`, on either lane.
    Running,
    /// `TransferState.Paused`.
    Paused,
    /// `TransferState.Succeeded`.
    Succeeded,
    /// `TransferState.Failed`.
    Failed,
    /// `TransferState.Cancelled`.
    Cancelled,
    /// `TransferState.AuthRequired`.
    AuthRequired,
}

impl From<ferry::StateKind> for StateFilter {
    fn from(kind: ferry::StateKind) -> Self {
        match kind {
            ferry::StateKind::Queued => Self::Queued,
            ferry::StateKind::Running => Self::Running,
            ferry::StateKind::Paused => Self::Paused,
            ferry::StateKind::Succeeded => Self::Succeeded,
            ferry::StateKind::Failed => Self::Failed,
            ferry::StateKind::Cancelled => Self::Cancelled,
            ferry::StateKind::AuthRequired => Self::AuthRequired,
        }
    }
}

impl From<StateFilter> for ferry::StateKind {
    fn from(filter: StateFilter) -> Self {
        match filter {
            StateFilter::Queued => Self::Queued,
            StateFilter::Running => Self::Running,
            StateFilter::Paused => Self::Paused,
            StateFilter::Succeeded => Self::Succeeded,
            StateFilter::Failed => Self::Failed,
            StateFilter::Cancelled => Self::Cancelled,
            StateFilter::AuthRequired => Self::AuthRequired,
        }
    }
}

/// Why an attempt, or a whole transfer, failed. Decide on this, not on the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum FailureKind {
    /// The connection failed, was reset, or timed out while connecting. Retried.
    Network,
    /// No bytes moved for `stallTimeout`; the attempt was abandoned and is retried.
    Stalled,
    /// The server answered with a status that is not a success (`httpStatus` says which).
    /// 5xx, 408 and 429 are retried; any other status fails the transfer.
    HttpStatus,
    /// The server refused the credentials (401 or 403): sign in, then `resume`.
    Auth,
    /// The file disappeared after it was enqueued. Final.
    SourceMissing,
    /// The file's size or modification time changed after it was enqueued; enqueue it
    /// again to send the new content. Final.
    SourceChanged,
    /// The file could not be read (permissions, an I/O error).
    SourceUnreadable,
    /// The source was replaced by a directory, a FIFO, a device or a `/proc`/`/sys` file.
    SourceNotAFile,
    /// Every allowed attempt (`maxAttempts`) failed with retryable errors. Final until
    /// `retry`.
    AttemptsExhausted,
    /// The OS background service refused or failed the task without a response.
    Platform,
    /// The file is larger than the server accepts (a resumable upload's limit, or 413).
    /// Final.
    UploadTooLarge,
    /// The server's TLS certificate is not trusted (or it speaks no usable TLS); add its
    /// CA or self-signed certificate to `extraRootCertificatesPem`. Never retried.
    Certificate,
    /// The app had too many open files to open the source or a socket; retried later.
    TooManyOpenFiles,
    /// A download's bytes did not match what was expected (its SHA-256, the server's own
    /// digest, or its expected size), fetched once more from zero, then failed.
    DigestMismatch,
    /// A download's destination exists and its conflict rule is `fail`. Final.
    DestinationExists,
    /// A download's partial file or destination could not be written (permissions, a
    /// missing folder, a read-only volume).
    DestinationUnwritable,
    /// A download's answer cannot be used: an encoding Ferry cannot decode, or a range it
    /// did not ask for, again and again.
    UnusableResponse,
    /// A download waits for space: its volume has fewer bytes available than it still
    /// needs (with the downloads already running there), or it filled up mid-write. No
    /// attempt is used up; it starts again on its own once there is room. `message` says
    /// how many bytes are needed and available: free space on that volume.
    InsufficientSpace,
    /// A kind these bindings do not name (Ferry's kinds may grow): decide on `httpStatus`
    /// and show `message`.
    Other,
}

/// A failure: its kind, the HTTP status if the server answered, and a message.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TransferError {
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// The server's HTTP status, when the failure is an answer from the server.
    pub http_status: Option<i32>,
    /// The failure in words for a person (never a header value).
    pub message: String,
}

impl From<&ferry::TransferError> for TransferError {
    fn from(error: &ferry::TransferError) -> Self {
        Self {
            kind: match error.kind {
                ferry::FailureKind::Network => FailureKind::Network,
                ferry::FailureKind::Stalled => FailureKind::Stalled,
                ferry::FailureKind::HttpStatus => FailureKind::HttpStatus,
                ferry::FailureKind::Auth => FailureKind::Auth,
                ferry::FailureKind::SourceMissing => FailureKind::SourceMissing,
                ferry::FailureKind::SourceChanged => FailureKind::SourceChanged,
                ferry::FailureKind::SourceUnreadable => FailureKind::SourceUnreadable,
                ferry::FailureKind::SourceNotAFile => FailureKind::SourceNotAFile,
                ferry::FailureKind::AttemptsExhausted => FailureKind::AttemptsExhausted,
                ferry::FailureKind::Platform => FailureKind::Platform,
                ferry::FailureKind::UploadTooLarge => FailureKind::UploadTooLarge,
                ferry::FailureKind::Certificate => FailureKind::Certificate,
                ferry::FailureKind::TooManyOpenFiles => FailureKind::TooManyOpenFiles,
                ferry::FailureKind::DigestMismatch => FailureKind::DigestMismatch,
                ferry::FailureKind::DestinationExists => FailureKind::DestinationExists,
                ferry::FailureKind::DestinationUnwritable => FailureKind::DestinationUnwritable,
                ferry::FailureKind::UnusableResponse => FailureKind::UnusableResponse,
                ferry::FailureKind::InsufficientSpace => FailureKind::InsufficientSpace,
                _ => FailureKind::Other,
            },
            http_status: error.http_status.map(i32::from),
            message: crate::error::in_app_words(&error.message),
        }
    }
}

/// One transfer as stored. Swift: `Identifiable` by `id`.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Transfer {
    /// Its id, also sent to the server as the idempotency key (in lowercase).
    pub id: TransferId,
    /// Which way its bytes go. For a download, `upload` carries only the fields both
    /// directions share (`destination` is the URL, `sourcePath` the local file); read
    /// `download` instead.
    pub direction: Direction,
    /// What was enqueued, with the app's `metadata` and `group` as first enqueued.
    pub upload: Upload,
    /// The download as enqueued, for a download; `null`/`nil` for an upload.
    pub download: Option<Download>,
    /// Where a finished download was put: the destination, or a free name beside it
    /// (`keepBoth`). `null`/`nil` until then, and for uploads.
    pub saved_as: Option<String>,
    /// Where it is in its life.
    pub state: TransferState,
    /// The file's size at enqueue, in bytes.
    pub size: i64,
    /// Bytes the server confirmed or, while running, bytes sent so far.
    pub bytes_sent: i64,
    /// Attempts used up since the transfer last moved forward; at `maxAttempts` it fails.
    pub attempts: i32,
    /// When a queued transfer may start next (after a backoff).
    pub next_attempt_at: SystemTime,
    /// The most recent failure, kept until the transfer succeeds.
    pub last_error: Option<TransferError>,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// When its record last changed; `purgeWhere`'s `olderThan` counts from it.
    pub updated_at: SystemTime,
}

impl From<ferry::Transfer> for Transfer {
    fn from(transfer: ferry::Transfer) -> Self {
        Self {
            id: transfer.id,
            direction: transfer.direction.into(),
            upload: Upload::from_core(&transfer.upload),
            download: transfer.download.as_ref().map(Download::from_core),
            saved_as: transfer
                .saved_as
                .as_ref()
                .map(|path| path.to_string_lossy().into_owned()),
            state: (&transfer.state).into(),
            size: long(transfer.size),
            bytes_sent: long(transfer.bytes_sent),
            attempts: int(transfer.attempts),
            next_attempt_at: transfer.next_attempt_at,
            last_error: transfer.last_error.as_ref().map(Into::into),
            created_at: transfer.created_at,
            updated_at: transfer.updated_at,
        }
    }
}

/// The whole queue's progress: files and bytes done and total, rate and time left.
/// Cancelled transfers do not count. (Not `Progress`, which is Foundation's.)
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct QueueProgress {
    /// Transfers in every state but cancelled.
    pub files_total: i64,
    /// Transfers that succeeded.
    pub files_done: i64,
    /// Transfers that failed for good (until retried).
    pub files_failed: i64,
    /// The sum of the sizes of the `filesTotal` transfers, in bytes.
    pub bytes_total: i64,
    /// Bytes of succeeded files, plus bytes sent so far by running attempts.
    pub bytes_done: i64,
    /// Bytes per second over the last few seconds.
    pub bytes_per_second: f64,
    /// Time left for the remaining bytes at the current rate; none while nothing moves.
    pub eta: Option<Duration>,
}

impl From<ferry::Progress> for QueueProgress {
    fn from(progress: ferry::Progress) -> Self {
        Self {
            files_total: long(progress.files_total),
            files_done: long(progress.files_done),
            files_failed: long(progress.files_failed),
            bytes_total: long(progress.bytes_total),
            bytes_done: long(progress.bytes_done),
            bytes_per_second: progress.bytes_per_second,
            eta: progress.eta,
        }
    }
}

/// Whether the app is visible to the user, as the app reports it with `setAppState` (or
/// `appState` at open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AppState {
    /// Visible: small files run in-process, and an OS task that stalls may be taken back.
    Foreground,
    /// May be suspended at any moment: every transfer that starts goes to the OS service
    /// when the queue has one (an in-process request would freeze with the app).
    Background,
}

impl AppState {
    /// `None` for a state the app has not told.
    fn from_core(state: ferry::AppState) -> Option<Self> {
        match state {
            ferry::AppState::Foreground => Some(Self::Foreground),
            ferry::AppState::Background => Some(Self::Background),
            // Unknown, or a state these bindings do not name: not told.
            _ => None,
        }
    }
}

impl From<AppState> for ferry::AppState {
    fn from(state: AppState) -> Self {
        match state {
            AppState::Foreground => Self::Foreground,
            AppState::Background => Self::Background,
        }
    }
}

/// The network as the OS reports it (`NWPathMonitor`, `ConnectivityManager`), given to
/// `setNetwork`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NetworkStatus {
    /// Whether any network is reachable. While offline nothing starts.
    pub online: bool,
    /// Cellular or a personal hotspot.
    #[uniffi(default = false)]
    pub expensive: bool,
    /// Low Data Mode or Data Saver.
    #[uniffi(default = false)]
    pub constrained: bool,
}

impl NetworkStatus {
    fn from_core(status: ferry::NetworkStatus) -> Self {
        Self {
            online: status.online,
            expensive: status.expensive,
            constrained: status.constrained,
        }
    }
}

impl From<NetworkStatus> for ferry::NetworkStatus {
    fn from(status: NetworkStatus) -> Self {
        Self {
            online: status.online,
            expensive: status.expensive,
            constrained: status.constrained,
        }
    }
}

/// One host with work queued or running, and why that work waits.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HostStatus {
    /// `host:port` of the destinations.
    pub host: String,
    /// What its circuit breaker says.
    pub health: HostHealth,
    /// Transfers to this host waiting to run.
    pub queued: i64,
    /// Transfers to this host being sent now.
    pub running: i64,
    /// When the next request to this host may go out; `nil`/`null` when nothing is queued.
    pub next_attempt_at: Option<SystemTime>,
    /// The most recent failure from this host.
    pub last_error: Option<TransferError>,
}

/// What the host's circuit breaker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum HostHealth {
    /// Requests go out freely.
    Healthy,
    /// Recent requests failed, but not enough in a row to stop sending.
    Failing {
        /// Failures in a row so far.
        consecutive_failures: i32,
    },
    /// The host kept failing: nothing is sent until `until`, then one probe.
    Open {
        /// When the one probe request may go out.
        until: SystemTime,
    },
    /// One probe request is out (or may go now); the rest wait for its outcome.
    Probing,
}

impl From<ferry::HostStatus> for HostStatus {
    fn from(status: ferry::HostStatus) -> Self {
        Self {
            host: status.host,
            health: match status.health {
                ferry::HostHealth::Healthy => HostHealth::Healthy,
                ferry::HostHealth::Failing {
                    consecutive_failures,
                } => HostHealth::Failing {
                    consecutive_failures: int(consecutive_failures),
                },
                ferry::HostHealth::Open { until } => HostHealth::Open { until },
                ferry::HostHealth::Probing => HostHealth::Probing,
            },
            queued: long(status.queued),
            running: long(status.running),
            next_attempt_at: status.next_attempt_at,
            last_error: status.last_error.as_ref().map(TransferError::from),
        }
    }
}
