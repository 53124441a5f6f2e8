//! The final answer to an in-process request: its status and `Retry-After` become the
//! attempt's outcome the moment they arrive, then its body is read away within bounds so
//! that the connection can be reused.
//!
//! Must never let a body that stalls change an outcome already decided.

use std::time::Duration;

use reqwest::header::RETRY_AFTER;

use super::attempt_progress::AttemptProgress;
use crate::outcome::{AttemptOutcome, parse_retry_after};

/// The outcome of the final answer: its status and `Retry-After`, decided the moment they
/// arrived (the watchdog stands down), then the body read away within its bounds.
pub(super) async fn outcome_of(
    response: reqwest::Response,
    progress: &AttemptProgress,
    stall_timeout: Duration,
) -> AttemptOutcome {
    progress.mark_answered();
    let status = response.status().as_u16();
    let retry_after = retry_after(&response);
    drain_response(response, progress, stall_timeout).await;
    AttemptOutcome::Response {
        status,
        retry_after,
    }
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
