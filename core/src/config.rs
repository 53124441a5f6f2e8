//! Everything a [`crate::TransferQueue`] can be tuned with, and the defaults.
//!
//! Plain data: no behaviour lives here.

use std::path::PathBuf;
use std::time::Duration;

use crate::conditions::{AppState, NetworkStatus};
use crate::resumable::ResumableConfig;

/// Limits on requests in flight. Counted in requests, never in connections: on HTTP/2 many
/// requests share one connection and the OS's per-host connection limit does not apply.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `Limits { field: value, ..Limits::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests in flight to one `host:port` at a time, both lanes counted (default 4).
    /// At least 1.
    pub per_host: usize,
    /// Requests in flight overall, both lanes counted (default 8). At least 1.
    pub global: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_host: 4,
            global: 8,
        }
    }
}

/// How failed attempts are retried.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `RetryPolicy { field: value, ..RetryPolicy::default() }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The cap of the first backoff; it doubles with each attempt (full jitter below it).
    pub base_delay: Duration,
    /// No backoff is longer than this, except a server's own `Retry-After`.
    pub max_delay: Duration,
    /// Attempts before a transfer fails with `AttemptsExhausted`. An attempt that moved a
    /// resumable upload forward starts the count over (`attempt_budget.rs`).
    pub max_attempts: u32,
    /// The longest a server's `Retry-After` is honoured (15 minutes): a longer one waits
    /// this long, then one request tries again. A server's `Retry-After: 999999` would
    /// otherwise park its transfers for 277 hours.
    pub max_server_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_attempts: 25,
            max_server_delay: Duration::from_secs(15 * 60),
        }
    }
}

/// The per-host circuit breaker.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `BreakerPolicy { field: value, ..BreakerPolicy::default() }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerPolicy {
    /// Consecutive failures to one host that open its breaker.
    pub failure_threshold: u32,
    /// How long an open breaker waits before letting one probe through; doubles while
    /// probes keep failing, up to `max_cooldown`.
    pub cooldown: Duration,
    /// The longest wait between two probes of a host that keeps failing (30 s). Each
    /// probe goes to the transfer that has waited longest, so this also bounds how long
    /// it takes to try every transfer to a down host: keep it well below any deadline of
    /// the app's (the CLI's `--patience`) so that many probes fit in it.
    pub max_cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(2),
            max_cooldown: Duration::from_secs(30),
        }
    }
}

/// Which HTTP versions the in-process client speaks.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersionPolicy {
    /// HTTP/2 when TLS negotiates it (ALPN), otherwise HTTP/1.1 with keep-alive.
    #[default]
    Negotiate,
    /// Only HTTP/1.1.
    Http1Only,
    /// HTTP/2 without negotiation, also over cleartext (h2c prior knowledge).
    Http2PriorKnowledge,
}

/// Configuration of a transfer queue.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `QueueConfig { field: value, ..QueueConfig::new(path) }`.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    /// The SQLite database that holds the queue. Created if missing.
    pub database_path: PathBuf,
    /// How many requests may be in flight, per host and overall.
    pub limits: Limits,
    /// No bytes moved for this long aborts an attempt, which is then retried.
    /// Also the connect timeout. Default 30 s; at least 1 s.
    pub stall_timeout: Duration,
    /// How failed attempts are retried, and how many there may be.
    pub retry: RetryPolicy,
    /// When a failing host is left alone for a while.
    pub breaker: BreakerPolicy,
    /// The header that carries the transfer id, so a server can refuse a second copy.
    /// Default `Idempotency-Key`.
    pub idempotency_header: String,
    /// Which HTTP versions the in-process client speaks (default: negotiated).
    pub http_version: HttpVersionPolicy,
    /// Extra trusted root certificates (PEM), for test servers and private CAs.
    pub extra_root_certificates_pem: Vec<String>,
    /// How often progress events are sent, at most, per transfer.
    pub progress_interval: Duration,
    /// How work is shared between the in-process lane and the OS's background service.
    pub platform: PlatformPolicy,
    /// Destinations that accept many small files in one multipart request.
    pub batching: Vec<BatchEndpoint>,
    /// How the app's request authorizer is used, and which headers are secret.
    pub auth: AuthPolicy,
    /// Which destinations resume big files (tus, IETF draft) and from what size.
    pub resumable: ResumableConfig,
    /// Whether the app is in the foreground as the queue opens. Leave it
    /// [`AppState::Unknown`] only when the app cannot tell: then, with an OS
    /// background-transfer service attached, everything goes to the OS and no OS task is
    /// taken back until `set_app_state` says otherwise (an iOS app relaunched in the
    /// background by its URLSession must not run small files in-process, where they
    /// freeze).
    pub app_state: AppState,
    /// The network as the queue opens; `None` until the app reports it, and then Ferry
    /// assumes [`NetworkStatus::NOT_REPORTED`] (expensive and constrained).
    pub network: Option<NetworkStatus>,
    /// The most bytes of a successful upload's response body kept with its transfer
    /// (readable by id through [`crate::TransferQueue::response`], also after the OS lane
    /// finished it while the app was gone). A longer body is cut and marked
    /// [`crate::ServerResponse::body_truncated`]; 0 keeps status and headers only. Default
    /// 64 KiB ([`crate::DEFAULT_RESPONSE_BODY_LIMIT`]). Every in-process attempt may hold
    /// this much in memory while it reads its answer, so keep it small.
    pub response_body_limit: usize,
    /// Made by [`QueueConfig::inspect_only`]: the zero request limits are meant.
    pub(crate) inspect_only: bool,
}

/// A destination that accepts many files in one multipart `POST` (the format is in
/// `docs/batching.md`). Small files whose destination starts with `destination_prefix`
/// are packed into requests to `endpoint`: fewer, larger requests, which is what the OS
/// background services are good at. Uploads with headers of their own are never packed,
/// since a part cannot carry them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEndpoint {
    /// Uploads whose destination starts with this text (compared literally) may be
    /// packed, e.g. `https://example.com/photos/`.
    pub destination_prefix: String,
    /// The multipart `POST` endpoint; on the same origin as `destination_prefix`.
    pub endpoint: String,
    /// At most this many files per request (`batch_max_files`).
    pub max_files: usize,
    /// At most this many bytes of files per request (`batch_max_bytes`); a larger file is
    /// never packed.
    pub max_bytes: u64,
}

impl BatchEndpoint {
    /// Packs up to 32 files and 4 MiB per request.
    pub fn new(destination_prefix: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self {
            destination_prefix: destination_prefix.into(),
            endpoint: endpoint.into(),
            max_files: 32,
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How credentials from a [`crate::RequestAuthorizer`] are asked for and protected.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `AuthPolicy { field: value, ..AuthPolicy::default() }`.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthPolicy {
    /// An authorizer that has not answered after this long fails the attempt, which is
    /// retried with backoff.
    pub authorize_timeout: Duration,
    /// Credentials must outlive the transfer's likely duration by this much, or Ferry
    /// asks for fresh ones (reason `Expiring`) before starting.
    pub expiry_margin: Duration,
    /// Bytes per second one in-process request is assumed to move until Ferry has
    /// measured its own, for the expiry estimate.
    pub assumed_throughput: u64,
    /// Bytes per second an OS background task is assumed to move, for the expiry
    /// estimate before a handoff. Deliberately low: the OS may delay and throttle.
    pub background_throughput: u64,
    /// Transfers to one destination host that end waiting for credentials in a row before
    /// the others stop trying theirs (they wait in `AuthRequired` without a request).
    pub breaker_threshold: u32,
    /// How long an open auth breaker holds transfers without a request; after it, they try
    /// again and one more refusal reopens it. Resuming a transfer closes it at once.
    pub breaker_cooldown: Duration,
    /// Header names whose values are secrets besides `Authorization`,
    /// `Proxy-Authorization`, `Cookie` and `Set-Cookie` (case-insensitive).
    pub sensitive_headers: Vec<String>,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        Self {
            authorize_timeout: Duration::from_secs(60),
            expiry_margin: Duration::from_secs(10),
            assumed_throughput: 512 * 1024,
            background_throughput: 64 * 1024,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(60),
            sensitive_headers: Vec::new(),
        }
    }
}

/// How Ferry uses the platform lane (the OS background-transfer service), when the app
/// lends it one. See `scheduler` for the rules.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `PlatformPolicy { field: value, ..PlatformPolicy::default() }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlatformPolicy {
    /// In the foreground, files at least this big go to the OS; smaller ones in-process.
    pub large_file_threshold: u64,
    /// Never more OS tasks outstanding than this, however many files wait. Far below the
    /// count at which iOS background sessions stall.
    pub max_platform_tasks: usize,
    /// In the foreground, an OS task that has not started or has made no progress for this
    /// long is cancelled and its work taken back in-process.
    pub platform_stall_timeout: Duration,
    /// A `QueueStalled` diagnostic fires when work is pending, the network is up and
    /// nothing has moved for this long.
    pub queue_stall_after: Duration,
    /// While the OS carries everything (the app in the background, or not saying which),
    /// hand it a new window of tasks only once every task of the last one has ended,
    /// instead of one task whenever one ends. For iOS background sessions: each task
    /// created in the background waits out the resume delay, and each completion that
    /// relaunches the app within that delay doubles it (os-model.md rule 1), so tasks
    /// handed over one by one finish one by one and the delay grows without end; a whole
    /// window starts together, finishes together and costs one relaunch. Leave it off on
    /// Android, whose jobs have no such delay and should fill every free slot of a Doze
    /// window. Default: on for Apple targets, off elsewhere.
    pub refill_when_drained: bool,
    /// A download goes to the OS in ranged segments of at most this many bytes, one OS
    /// task each, appended by Ferry to its partial file as each arrives. An OS resume that
    /// fails (iOS resume data rejected or expired, a worker stopped) costs at most one
    /// segment. Default 64 MiB: a second or so of Wi-Fi, a few on a good cellular link,
    /// so a lost segment is cheap, while a 1 GiB file is 16 tasks, far from the task
    /// counts at which iOS stalls, and few enough background relaunches (each one can
    /// double iOS's resume delay, os-model.md rule 1). 0 counts as 1.
    pub download_segment_bytes: u64,
    /// Downloads may go to the platform service, as ranged segments (`Handoff::download`),
    /// under the same rules as uploads. On by default, as both shims in this repository
    /// carry download handoffs (Kotlin's `HandoffRunner`, Swift's download tasks; neither
    /// has run on a device yet). Turn it off for a service that carries only uploads: it
    /// would send a download's `GET` as an upload. While off, downloads run in-process,
    /// and wait while the OS would carry everything (the app in the background, or not
    /// told).
    pub downloads_to_os: bool,
    /// Ask the platform service to keep the app running while work is queued
    /// ([`crate::PlatformTransferService::keep_app_running`], Android 14+: a
    /// user-initiated data-transfer job, which needs the `RUN_USER_INITIATED_JOBS`
    /// permission). While it is kept, every transfer runs in-process, with Ferry's own
    /// limits, packing and retries, instead of waiting for the OS's job windows; a refusal
    /// or the OS ending it hands work to the OS as before. Default off.
    pub keep_app_running: bool,
}

impl Default for PlatformPolicy {
    fn default() -> Self {
        Self {
            large_file_threshold: 8 * 1024 * 1024,
            max_platform_tasks: 6,
            platform_stall_timeout: Duration::from_secs(60),
            queue_stall_after: Duration::from_secs(120),
            refill_when_drained: cfg!(target_vendor = "apple"),
            download_segment_bytes: 64 * 1024 * 1024,
            downloads_to_os: true,
            keep_app_running: false,
        }
    }
}

impl QueueConfig {
    /// A configuration with every default, for the database at `database_path` (created
    /// at open if missing; its directory must exist). Change the public fields to tune it.
    pub fn new(database_path: impl Into<PathBuf>) -> Self {
        Self {
            database_path: database_path.into(),
            limits: Limits::default(),
            stall_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            idempotency_header: "Idempotency-Key".into(),
            http_version: HttpVersionPolicy::default(),
            extra_root_certificates_pem: Vec::new(),
            progress_interval: Duration::from_millis(250),
            platform: PlatformPolicy::default(),
            batching: Vec::new(),
            auth: AuthPolicy::default(),
            resumable: ResumableConfig::default(),
            app_state: AppState::Unknown,
            network: None,
            response_body_limit: crate::server_response::DEFAULT_RESPONSE_BODY_LIMIT,
            inspect_only: false,
        }
    }

    /// A queue that sends nothing: its request limits are zero, so it can be opened to
    /// read what the store holds (as `ferry status` does) without starting a transfer.
    /// `open` refuses zero limits in any other configuration.
    pub fn inspect_only(database_path: impl Into<PathBuf>) -> Self {
        Self {
            limits: Limits {
                per_host: 0,
                global: 0,
            },
            inspect_only: true,
            ..Self::new(database_path)
        }
    }
}
