//! One packed request: many small files in one multipart `POST` to a batch endpoint.
//!
//! The wire format (part names, `Ferry-Destination`, per-part idempotency keys, the
//! optional JSON of per-part results) is specified for server authors in
//! `docs/batching.md`. Each part streams from its own file and counts its own progress;
//! the stall watchdog watches the whole request. A part whose source is gone or changed is
//! left out and reported on its own; the others are still sent.
//!
//! Like every lane, this module must never change state, retry, or touch the store.

use std::sync::{Arc, OnceLock};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::attempt::with_stall_watchdog;
use super::attempt_progress::AttemptProgress;
use super::client::HttpLane;
use super::file_body::{SourceFile, Window, file_body, file_part};
use super::response::retry_after;
use super::send_failure::send_failure;
use crate::TransferId;
use crate::descriptors::source_outcome;
use crate::outcome::AttemptOutcome;
use crate::upload::SourceSnapshot;

/// Marks a request as a packed batch; its value is the format version.
pub(crate) const BATCH_HEADER: &str = "Ferry-Batch";
/// The part header that says where the file is bound (`Ferry-Destination`).
pub(crate) const DESTINATION_HEADER: &str = "ferry-destination";
/// The largest per-part results body read.
const MAX_RESULTS_BYTES: usize = 1024 * 1024;

/// One file of a packed request.
#[derive(Clone, Debug)]
pub(crate) struct BatchPart {
    pub id: TransferId,
    pub source: std::path::PathBuf,
    pub snapshot: SourceSnapshot,
    pub destination: String,
    pub progress: Arc<AttemptProgress>,
}

/// How a packed request ended: the request as a whole (for the breaker and for parts the
/// server did not answer for) and each part the server or the lane answered for.
#[derive(Debug)]
pub(crate) struct BatchOutcome {
    pub whole: AttemptOutcome,
    pub parts: Vec<(TransferId, AttemptOutcome)>,
}

/// The per-part results a server may answer with (`docs/batching.md`).
#[derive(Deserialize)]
struct PartResults {
    results: Vec<PartResult>,
}

#[derive(Deserialize)]
struct PartResult {
    id: String,
    status: u16,
}

/// Sends one packed request to `endpoint` with `headers` (an authorizer's) added.
pub(crate) async fn run_batch_attempt(
    lane: Arc<HttpLane>,
    endpoint: String,
    headers: Vec<(String, String)>,
    parts: Vec<BatchPart>,
) -> BatchOutcome {
    let progresses: Vec<Arc<AttemptProgress>> = parts
        .iter()
        .map(|part| Arc::clone(&part.progress))
        .collect();
    let last_activity = || {
        progresses
            .iter()
            .map(|progress| progress.last_activity())
            .max()
            .unwrap_or_else(tokio::time::Instant::now)
    };
    let send = send_batch(&lane, endpoint, headers, parts);
    // The batch's answer body carries each part's result: it is not drained but read,
    // under the watchdog.
    with_stall_watchdog(send, lane.stall_timeout, last_activity, || false)
        .await
        .unwrap_or(BatchOutcome {
            whole: AttemptOutcome::Stalled,
            parts: Vec::new(),
        })
}

async fn send_batch(
    lane: &HttpLane,
    endpoint: String,
    headers: Vec<(String, String)>,
    parts: Vec<BatchPart>,
) -> BatchOutcome {
    let mut form = reqwest::multipart::Form::new();
    let mut outcomes = Vec::new();
    let mut sent = Vec::new();
    for part in parts {
        let window = Window::whole(part.snapshot);
        let file = match SourceFile::open(&part.source, part.snapshot, window).await {
            Ok(file) => file,
            Err(error) => {
                outcomes.push((part.id, source_outcome(error)));
                continue;
            }
        };
        let body = file_body(file, Arc::clone(&part.progress), Arc::new(OnceLock::new()));
        let part_headers = match part_headers(lane, &part) {
            Ok(headers) => headers,
            Err(message) => {
                outcomes.push((part.id, AttemptOutcome::Network { message }));
                continue;
            }
        };
        let body = file_part(&part.source, part.snapshot.size, body).headers(part_headers);
        form = form.part(part.id.to_string(), body);
        sent.push(part.id);
    }
    if sent.is_empty() {
        // Nothing was sent: every part has its own outcome, and the host learned nothing.
        return BatchOutcome {
            whole: AttemptOutcome::NotSent,
            parts: outcomes,
        };
    }
    let mut request = lane.client.post(&endpoint).header(BATCH_HEADER, "1");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let request = request.multipart(form);
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return BatchOutcome {
                whole: send_failure(error),
                parts: outcomes,
            };
        }
    };
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    let whole = AttemptOutcome::Response {
        status,
        retry_after,
    };
    if !(200..300).contains(&status) {
        let _ = read_bounded(response).await; // lets the connection be reused
        return BatchOutcome {
            whole,
            parts: outcomes,
        };
    }
    outcomes.extend(per_part_outcomes(response, &sent).await);
    BatchOutcome {
        whole,
        parts: outcomes,
    }
}

fn part_headers(lane: &HttpLane, part: &BatchPart) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let destination = HeaderValue::from_str(&part.destination)
        .map_err(|_| "the destination URL cannot be sent in a header".to_owned())?;
    headers.insert(HeaderName::from_static(DESTINATION_HEADER), destination);
    let id = HeaderValue::from_str(part.id.as_str())
        .map_err(|_| "the transfer id cannot be sent in a header".to_owned())?;
    headers.insert(lane.idempotency_header.clone(), id);
    Ok(headers)
}

/// Reads the JSON of per-part results, if the server sent one. A part the results do not
/// mention is retried; without results every part shares the request's outcome.
async fn per_part_outcomes(
    response: reqwest::Response,
    sent: &[TransferId],
) -> Vec<(TransferId, AttemptOutcome)> {
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return Vec::new();
    }
    let Ok(body) = read_bounded(response).await else {
        return Vec::new();
    };
    outcomes_from_results(&body, sent)
}

/// Each sent part's outcome from a per-part results body (`docs/batching.md`): one per
/// part of `sent`, in its order; none at all when the body is not such results, so that
/// every part shares the request's outcome.
pub(crate) fn outcomes_from_results(
    body: &[u8],
    sent: &[TransferId],
) -> Vec<(TransferId, AttemptOutcome)> {
    let Ok(results) = serde_json::from_slice::<PartResults>(body) else {
        log::warn!("a batch endpoint answered JSON that is not per-part results; ignored");
        return Vec::new();
    };
    sent.iter()
        .map(|id| {
            let outcome = match results
                .results
                .iter()
                .find(|result| result.id == id.as_str())
            {
                Some(result) => AttemptOutcome::Response {
                    status: result.status,
                    retry_after: None,
                },
                None => AttemptOutcome::Network {
                    message: "the batch results did not mention this file".into(),
                },
            };
            (id.clone(), outcome)
        })
        .collect()
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, ()> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_RESULTS_BYTES {
            return Err(());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
