//! One in-process attempt: check the source, stream it, watch for stalls, read the answer.
//!
//! The stall watchdog sleeps until `last activity + stall_timeout` and wakes again whenever
//! bytes moved in between, so a stall is abandoned exactly `stall_timeout` after the last
//! byte, with no polling. Dropping the request future cancels it and closes its stream.
//!
//! Once the status of the final answer has arrived the attempt is decided: a 2xx is a
//! success whatever its body does. The watchdog then stands down, and the body is read
//! (`response.rs`: its first `response_body_limit` bytes kept as the server's answer) for
//! at most 64 KiB (or the limit, if larger) and `min(stall_timeout, 5 s)`, so a body that
//! stalls can never turn a stored upload into a retry (seen: a 201 whose body stalled
//! made a server without idempotency store one file 5 times): it is a success with what
//! arrived, marked truncated.

use std::sync::{Arc, OnceLock};

use reqwest::header::{CONTENT_LENGTH, HeaderValue};

use super::attempt_progress::AttemptProgress;
use super::client::HttpLane;
use super::error_text::describe;
use super::file_body::{file_body, file_part};
use super::job::{AttemptJob, open_unchanged};
use super::response::outcome_of;
use super::send_failure::send_failure;
use super::watchdog::with_stall_watchdog;
use crate::descriptors::source_outcome;
use crate::outcome::AttemptOutcome;
use crate::upload::UploadMethod;

/// Runs one attempt to its outcome. Never panics on I/O or network input.
pub(crate) async fn run_attempt(
    lane: Arc<HttpLane>,
    mut job: AttemptJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    // A download watches its own stalls, so that a stalled body still reports what it
    // wrote (`download/mod.rs`).
    if let Some(plan) = job.download.take() {
        return super::download::run(&lane, job, *plan, progress).await;
    }
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
    outcome_of(
        response,
        &progress,
        lane.stall_timeout,
        lane.response_body_limit,
    )
    .await
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
