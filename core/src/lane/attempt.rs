//! One in-process attempt: check the source, stream it, watch for stalls, read the answer.
//!
//! The stall watchdog sleeps until `last activity + stall_timeout` and wakes again whenever
//! bytes moved in between, so a stall is abandoned exactly `stall_timeout` after the last
//! byte, with no polling. Dropping the request future cancels it and closes its stream.
//!
//! Once the status of the final answer has arrived the attempt is decided: a 2xx is a
//! success whatever its body does. The watchdog then stands down, and the body is read
//! away for at most [`DRAIN_BYTES`] and `min(stall_timeout, DRAIN_TIME)`, so a body that
//! stalls can never turn a stored upload into a retry (seen: a 201 whose body stalled
//! made a server without idempotency store one file 5 times).

use std::error::Error as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, HeaderValue, RETRY_AFTER};
use tokio::time::Instant;

use super::client::HttpLane;
use super::file_body::{SourceFile, Window, file_body};
use crate::classify::AttemptOutcome;
use crate::error::TransferError;
use crate::retry::parse_retry_after;
use crate::upload::{SourceSnapshot, UploadMethod};

use super::resumable::ResumableJob;
use super::send_failure::send_failure;
use crate::descriptors::source_outcome;

/// What to send, copied out of the transfer record.
#[derive(Clone, Debug)]
pub(crate) struct AttemptJob {
    pub id: String,
    pub source: PathBuf,
    pub snapshot: SourceSnapshot,
    pub url: String,
    pub method: UploadMethod,
    pub headers: Vec<(String, String)>,
    /// Set when the file goes through a resumable protocol (`lane/resumable`).
    pub resumable: Option<ResumableJob>,
}

/// Live counters of one attempt, shared between the attempt and the actor.
#[derive(Debug)]
pub(crate) struct AttemptProgress {
    pub bytes_sent: AtomicU64,
    pub(super) bytes_moved: Arc<AtomicU64>,
    started: Instant,
    /// Milliseconds after `started` of the last activity.
    last_activity_ms: AtomicU64,
    /// The final answer's status arrived: the outcome is decided, the watchdog stands down.
    answered: AtomicBool,
}

impl AttemptProgress {
    pub(crate) fn new(bytes_moved: Arc<AtomicU64>) -> Self {
        Self {
            bytes_sent: AtomicU64::new(0),
            bytes_moved,
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            answered: AtomicBool::new(false),
        }
    }

    /// The final answer's status arrived: no stall can change the outcome any more.
    pub(super) fn mark_answered(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    pub(super) fn is_answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    pub(crate) fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// For an attempt that runs elsewhere (an OS task): the total it reports. Growth is
    /// added to the lane's byte counter, which feeds the aggregate rate.
    pub(crate) fn set_bytes_sent(&self, total: u64) {
        let before = self.bytes_sent.swap(total, Ordering::Relaxed);
        self.bytes_moved
            .fetch_add(total.saturating_sub(before), Ordering::Relaxed);
        self.touch();
    }

    /// The attempt starts sending again from the first byte (a retry within the attempt).
    pub(crate) fn restart(&self) {
        self.bytes_sent.store(0, Ordering::Relaxed);
        self.touch();
    }

    pub(crate) fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(elapsed, Ordering::Relaxed);
    }

    pub(super) fn last_activity(&self) -> Instant {
        self.started + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed))
    }
}

/// Runs one attempt to its outcome. Never panics on I/O or network input.
pub(crate) async fn run_attempt(
    lane: Arc<HttpLane>,
    job: AttemptJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    let send = dispatch(&lane, job, Arc::clone(&progress));
    let stalled = with_stall_watchdog(
        send,
        lane.stall_timeout,
        || progress.last_activity(),
        || progress.is_answered(),
    )
    .await;
    stalled.unwrap_or(AttemptOutcome::Stalled)
}

/// Runs `send` until it finishes (`Some`) or `last_activity()` is `stall_timeout` in the
/// past (`None`), unless `answered()` says the outcome is decided: then `send` runs to its
/// end, which must be bounded by then.
pub(super) async fn with_stall_watchdog<T>(
    send: impl Future<Output = T>,
    stall_timeout: Duration,
    last_activity: impl Fn() -> Instant,
    answered: impl Fn() -> bool,
) -> Option<T> {
    tokio::pin!(send);
    loop {
        let deadline = last_activity() + stall_timeout;
        tokio::select! {
            outcome = &mut send => return Some(outcome),
            () = tokio::time::sleep_until(deadline) => {
                if answered() {
                    return Some(send.await);
                }
                if last_activity() + stall_timeout <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// Resumable uploads take their own path; every other upload is one request.
async fn dispatch(
    lane: &HttpLane,
    mut job: AttemptJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    match job.resumable.take() {
        Some(plan) => super::resumable::send(lane, job, plan, progress).await,
        None => send(lane, job, progress).await,
    }
}

async fn send(lane: &HttpLane, job: AttemptJob, progress: Arc<AttemptProgress>) -> AttemptOutcome {
    let file = match open_unchanged(&job).await {
        Ok(file) => file,
        Err(error) => return source_outcome(error),
    };
    let problem = Arc::new(OnceLock::new());
    let body = file_body(file, Arc::clone(&progress), Arc::clone(&problem));
    let request = match build_request(lane, &job, body) {
        Ok(request) => request,
        Err(message) => return AttemptOutcome::Network { message },
    };
    let response = match lane.client.execute(request).await {
        Ok(response) => response,
        Err(error) => {
            return match problem.get() {
                Some(source_problem) => AttemptOutcome::Source(source_problem.clone()),
                None => send_failure(error),
            };
        }
    };
    progress.touch();
    outcome_of(response, &progress, lane.stall_timeout).await
}

/// The outcome of the final answer: its status and `Retry-After`, decided the moment they
/// arrived (the watchdog stands down), then the body read away within its bounds.
pub(super) async fn outcome_of(
    response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
) -> AttemptOutcome {
    progress.mark_answered();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, std::time::SystemTime::now()));
    drain_response(response, progress, stall_timeout).await;
    AttemptOutcome::Response {
        status,
        retry_after,
    }
}

/// Opens the job's whole source, if it is still the file that was enqueued.
pub(super) async fn open_unchanged(job: &AttemptJob) -> Result<SourceFile, TransferError> {
    SourceFile::open(&job.source, job.snapshot, Window::whole(job.snapshot)).await
}

fn build_request(
    lane: &HttpLane,
    job: &AttemptJob,
    body: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
) -> Result<reqwest::Request, String> {
    let client = &lane.client;
    let mut builder = match &job.method {
        UploadMethod::Put => client.put(&job.url),
        UploadMethod::Post | UploadMethod::PostMultipart { .. } => client.post(&job.url),
    };
    for (name, value) in &job.headers {
        builder = builder.header(name, value);
    }
    builder = builder.header(&lane.idempotency_header, job.id.as_str());
    builder = match &job.method {
        UploadMethod::PostMultipart { field } => {
            let part = file_part(&job.source, job.snapshot.size, body);
            builder.multipart(reqwest::multipart::Form::new().part(field.clone(), part))
        }
        UploadMethod::Put | UploadMethod::Post => builder
            .header(CONTENT_LENGTH, HeaderValue::from(job.snapshot.size))
            .body(reqwest::Body::wrap_stream(body)),
    };
    builder.build().map_err(describe)
}

/// A multipart part streaming `body`, the contents of `source`, under its file name.
pub(super) fn file_part(
    source: &std::path::Path,
    size: u64,
    body: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
) -> reqwest::multipart::Part {
    let file_name = source
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), size)
        .file_name(file_name)
}

/// The most of a response body read away so that its connection can be reused.
const DRAIN_BYTES: usize = 64 * 1024;
/// The longest a response body is read away (or `stall_timeout`, if shorter).
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads (and discards) at most [`DRAIN_BYTES`] of the response, for at most
/// `min(stall_timeout, DRAIN_TIME)`, so the connection can be reused; a body that is
/// longer or slower is dropped with its connection.
pub(super) async fn drain_response(
    mut response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
) {
    let read_away = async {
        let mut budget = DRAIN_BYTES;
        while let Ok(Some(chunk)) = response.chunk().await {
            progress.touch();
            budget = budget.saturating_sub(chunk.len());
            if budget == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(stall_timeout.min(DRAIN_TIME), read_away).await;
}

/// The error with its chain of causes, which reqwest keeps out of `Display`. The URL is
/// left out: reqwest's `Display` ends with ` for url (URL)`, the whole URL with its query
/// (a presigned URL's signature) and any password, and `reqwest::Error::without_url`
/// drops it ("if, for example, it contains sensitive information", its documentation
/// says). The test below pins that behaviour.
pub(super) fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueConfig;

    #[tokio::test]
    async fn a_send_error_is_described_without_the_url_that_reqwest_would_show() {
        let lane =
            super::super::client::build_http_lane(&QueueConfig::new("unused.db")).expect("client");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("port").port();
        drop(closed);
        let url = format!("http://alice:PASSWORD@127.0.0.1:{port}/a?X-Amz-Signature=SIGNATURE");
        let error = lane
            .client
            .put(&url)
            .send()
            .await
            .expect_err("nothing listens there");
        assert!(
            error.to_string().contains("SIGNATURE"),
            "reqwest shows the URL"
        );
        let described = describe(error);
        for secret in ["PASSWORD", "SIGNATURE", "alice"] {
            assert!(!described.contains(secret), "{described}");
        }
        assert!(!described.is_empty());
    }
}
