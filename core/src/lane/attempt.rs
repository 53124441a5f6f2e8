//! One in-process attempt: check the source, stream it, watch for stalls, read the answer.
//!
//! The stall watchdog sleeps until `last activity + stall_timeout` and wakes again whenever
//! bytes moved in between, so a stall is abandoned exactly `stall_timeout` after the last
//! byte, with no polling. Dropping the request future cancels it and closes its stream.

use std::error::Error as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
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
use super::unprocessed::send_failure;

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
}

impl AttemptProgress {
    pub(crate) fn new(bytes_moved: Arc<AtomicU64>) -> Self {
        Self {
            bytes_sent: AtomicU64::new(0),
            bytes_moved,
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
        }
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
    let stalled = with_stall_watchdog(send, lane.stall_timeout, || progress.last_activity()).await;
    stalled.unwrap_or(AttemptOutcome::Stalled)
}

/// Runs `send` until it finishes (`Some`) or `last_activity()` is `stall_timeout` in the
/// past (`None`).
pub(super) async fn with_stall_watchdog<T>(
    send: impl Future<Output = T>,
    stall_timeout: Duration,
    last_activity: impl Fn() -> Instant,
) -> Option<T> {
    tokio::pin!(send);
    loop {
        let deadline = last_activity() + stall_timeout;
        tokio::select! {
            outcome = &mut send => return Some(outcome),
            () = tokio::time::sleep_until(deadline) => {
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
        Err(error) => return AttemptOutcome::Source(error),
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
    outcome_of(response, &progress).await
}

/// The outcome of an answer: its status and `Retry-After`, the body read away.
pub(super) async fn outcome_of(
    response: reqwest::Response,
    progress: &AttemptProgress,
) -> AttemptOutcome {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, std::time::SystemTime::now()));
    drain_response(response, progress).await;
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

/// Reads (and discards) at most a little of the response so the connection can be reused.
pub(super) async fn drain_response(mut response: reqwest::Response, progress: &AttemptProgress) {
    let mut budget: usize = 64 * 1024;
    while let Ok(Some(chunk)) = response.chunk().await {
        progress.touch();
        budget = budget.saturating_sub(chunk.len());
        if budget == 0 {
            break;
        }
    }
}

/// The error with its chain of causes, which reqwest keeps out of `Display`. The URL is
/// left out: a presigned URL's query is a secret.
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
