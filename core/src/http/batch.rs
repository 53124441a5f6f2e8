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

use super::attempt_progress::AttemptProgress;
use super::client::HttpLane;
use super::file_body::{SourceFile, Window, file_body, file_part};
use super::response::{answer_of, header_pairs, retry_after};
use super::send_failure::send_failure;
use super::watchdog::with_stall_watchdog;
use crate::TransferId;
use crate::descriptors::source_outcome;
use crate::outcome::AttemptOutcome;
use crate::server_response::ServerResponse;
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

/// The per-part results a server may answer with (`docs/batching.md`): each entry has at
/// least an `id` and a `status`; the whole entry is that file's answer body.
#[derive(Deserialize)]
struct PartResults {
    results: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// One entry of the per-part results: the part's id, its status, and the entry as JSON.
struct PartResult {
    id: String,
    status: u16,
    entry: Vec<u8>,
}

impl PartResult {
    fn of(entry: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let id = entry.get("id")?.as_str()?.to_owned();
        let status = u16::try_from(entry.get("status")?.as_u64()?).ok()?;
        let entry = serde_json::to_vec(entry).ok()?;
        Some(Self { id, status, entry })
    }
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
    // under the watchdog, unless it is no per-part results (then the answer is decided).
    let answered = || progresses.iter().any(|progress| progress.is_answered());
    with_stall_watchdog(send, lane.stall_timeout, last_activity, answered)
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
    let mut first_progress = None;
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
        first_progress.get_or_insert_with(|| Arc::clone(&part.progress));
        sent.push(part.id);
    }
    let Some(first_progress) = first_progress else {
        // Nothing was sent: every part has its own outcome, and the host learned nothing.
        return BatchOutcome {
            whole: AttemptOutcome::NotSent,
            parts: outcomes,
        };
    };
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
    if !(200..300).contains(&status) {
        let _ = read_bounded(response).await; // lets the connection be reused
        return BatchOutcome {
            whole: AttemptOutcome::Response {
                status,
                retry_after,
                answer: None,
            },
            parts: outcomes,
        };
    }
    let answer = batch_answer(lane, response, first_progress, &sent).await;
    outcomes.extend(answer.parts);
    BatchOutcome {
        whole: AttemptOutcome::Response {
            status,
            retry_after,
            answer: Some(Box::new(answer.whole)),
        },
        parts: outcomes,
    }
}

/// A successful batch's answer: the whole (headers and body, which every file shares
/// when the server sent no per-part results) and each part's own.
struct BatchAnswer {
    whole: ServerResponse,
    parts: Vec<(TransferId, AttemptOutcome)>,
}

/// Reads a 2xx batch answer. JSON of per-part results is read whole (at most 1 MiB, under
/// the watchdog: the files' outcomes are in it), and each part's answer is the batch's
/// status line and headers with its own entry as status and body. Any other body is the
/// answer of every file: the request is decided, so it is read within the bounds of any
/// final answer and never turns the success into a retry.
async fn batch_answer(
    lane: &HttpLane,
    response: reqwest::Response,
    progress: Arc<AttemptProgress>,
    sent: &[TransferId],
) -> BatchAnswer {
    let keep = lane.response_body_limit;
    if !is_json(&response) {
        progress.mark_answered();
        let whole = answer_of(response, &progress, lane.stall_timeout, keep).await;
        return BatchAnswer {
            whole,
            parts: Vec::new(),
        };
    }
    let status = response.status().as_u16();
    let headers = header_pairs(response.headers());
    let (body, body_truncated) = match read_bounded(response).await {
        Ok(body) => (body, false),
        Err(()) => (Vec::new(), true),
    };
    let mut parts = outcomes_from_results(&body, sent);
    for (_, outcome) in &mut parts {
        if let AttemptOutcome::Response {
            answer: Some(answer),
            ..
        } = outcome
        {
            answer.headers.clone_from(&headers);
        }
    }
    let whole = ServerResponse::received(status, headers, body, body_truncated).kept(keep, &[]);
    BatchAnswer { whole, parts }
}

fn is_json(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
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

/// Each sent part's outcome from a per-part results body (`docs/batching.md`): one per
/// part of `sent`, in its order, a mentioned part's answer being its entry (status, and
/// the entry's JSON as body; the caller adds the batch's headers); none at all when the
/// body is not such results, so that every part shares the request's outcome.
pub(crate) fn outcomes_from_results(
    body: &[u8],
    sent: &[TransferId],
) -> Vec<(TransferId, AttemptOutcome)> {
    let results = serde_json::from_slice::<PartResults>(body)
        .ok()
        .and_then(|results| {
            results
                .results
                .iter()
                .map(PartResult::of)
                .collect::<Option<Vec<_>>>()
        });
    let Some(results) = results else {
        log::warn!("a batch endpoint answered JSON that is not per-part results; ignored");
        return Vec::new();
    };
    sent.iter()
        .map(|id| {
            let outcome = match results.iter().find(|result| result.id == id.as_str()) {
                Some(result) => AttemptOutcome::Response {
                    status: result.status,
                    retry_after: None,
                    answer: Some(Box::new(ServerResponse::received(
                        result.status,
                        Vec::new(),
                        result.entry.clone(),
                        false,
                    ))),
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
