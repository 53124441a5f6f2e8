//! The final answer to an in-process request: its status and `Retry-After` become the
//! attempt's outcome the moment they arrive, then its body is read within bounds: the
//! first [`crate::QueueConfig::response_body_limit`] bytes of a 2xx body are kept (the
//! server's answer, stored with the transfer), the rest read away so that the connection
//! can be reused.
//!
//! Must never let a body that stalls change an outcome already decided: a 2xx whose body
//! stalls is a success with what arrived, marked truncated.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::attempt_progress::AttemptProgress;
use crate::outcome::{AttemptOutcome, parse_retry_after};
use crate::server_response::ServerResponse;

/// The outcome of the final answer: its status and `Retry-After`, decided the moment they
/// arrived (the watchdog stands down), then the body read within its bounds; a 2xx carries
/// its headers and the body's first `keep` bytes.
pub(super) async fn outcome_of(
    response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
    keep: usize,
) -> AttemptOutcome {
    progress.mark_answered();
    let retry_after = retry_after(&response);
    if response.status().is_success() {
        let answer = answer_of(response, progress, stall_timeout, keep).await;
        return AttemptOutcome::Response {
            status: answer.status,
            retry_after,
            answer: Some(Box::new(answer)),
        };
    }
    let status = response.status().as_u16();
    drain_response(response, progress, stall_timeout).await;
    AttemptOutcome::Response {
        status,
        retry_after,
        answer: None,
    }
}

/// An answer as it may be kept: status, headers, and the body's first `keep` bytes, read
/// within [`DRAIN_BYTES`] (or `keep`, if more) and `min(stall_timeout, DRAIN_TIME)`. The
/// caller says whether it is the attempt's final answer (`progress.mark_answered()`).
pub(super) async fn answer_of(
    response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
    keep: usize,
) -> ServerResponse {
    let status = response.status().as_u16();
    let headers = header_pairs(response.headers());
    let (body, body_truncated) = read_body(response, progress, stall_timeout, keep).await;
    ServerResponse::received(status, headers, body, body_truncated)
}

/// The headers as `(name, value)` pairs, in order; a value that is not visible ASCII is
/// read as Latin-1 bytes would be, never dropped.
pub(super) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = match value.to_str() {
                Ok(text) => text.to_owned(),
                Err(_) => value
                    .as_bytes()
                    .iter()
                    .map(|&byte| char::from(byte))
                    .collect(),
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// The answer's `Retry-After`, if it has one that parses.
pub(super) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, std::time::SystemTime::now()))
}

/// The most of a response body read away so that its connection can be reused.
const DRAIN_BYTES: usize = 64 * 1024;
/// The longest a response body is read (or `stall_timeout`, if shorter).
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Reads (and discards) at most [`DRAIN_BYTES`] of the response, for at most
/// `min(stall_timeout, DRAIN_TIME)`, so the connection can be reused; a body that is
/// longer or slower is dropped with its connection.
pub(super) async fn drain_response(
    response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
) {
    read_body(response, progress, stall_timeout, 0).await;
}

/// Reads the body for at most `min(stall_timeout, DRAIN_TIME)`, keeping its first `keep`
/// bytes and reading away up to [`DRAIN_BYTES`] in all (more when `keep` is larger).
/// Returns what was kept and whether the body had more than that (longer than `keep`,
/// or not read to its end in time).
async fn read_body(
    mut response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
    keep: usize,
) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut dropped = false;
    let mut ended = false;
    let read = async {
        let mut budget = keep.max(DRAIN_BYTES);
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    progress.touch();
                    let room = keep.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
                    dropped |= chunk.len() > room;
                    budget = budget.saturating_sub(chunk.len());
                    if budget == 0 && dropped {
                        break;
                    }
                }
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(stall_timeout.min(DRAIN_TIME), read).await;
    (kept, dropped || !ended)
}
