//! Which failed sends the server proves it never processed, so that sending them again is
//! a continuation, not a retry.
//!
//! HTTP/2 says so in two ways (RFC 9113 §8.7): a `GOAWAY` whose last stream id is below the
//! request's stream (servers send it when they end a connection on purpose: nginx after
//! `keepalive_requests`, 1,000 by default, and whenever it reloads), and a `RST_STREAM`
//! with `REFUSED_STREAM`. hyper hands such requests back as errors instead of sending them
//! on a new connection (hyperium/hyper#2500, open), where curl and browsers resend them at
//! once. Ferry then sends them again without using up an attempt, without a backoff and
//! without blaming the host: 10,000 files to nginx over HTTP/2 otherwise paid ~40
//! backoffs and ran at under half of curl's rate (`many_small_puts [https2]`).
//!
//! It must never call a failure unprocessed on a guess. A `GOAWAY` carrying an error code
//! also fails streams the server may have processed, and an ended connection or a reset
//! with another code proves nothing; those stay ordinary network failures.

use std::error::Error as _;

/// Whether the server proved it never processed the failed request.
pub(super) fn never_processed(error: &reqwest::Error) -> bool {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(h2_error) = current.downcast_ref::<h2::Error>() {
            return h2_says_unprocessed(h2_error);
        }
        cause = current.source();
    }
    false
}

/// h2 fails a stream with the peer's `GOAWAY` only if the stream is above its last stream id,
/// or was opened after it (`h2::proto::streams::Streams::recv_go_away`); with `NO_ERROR`
/// nothing else is failed with it. An error-coded `GOAWAY` later fails every stream left,
/// processed or not, so only `NO_ERROR` counts.
fn h2_says_unprocessed(error: &h2::Error) -> bool {
    if !error.is_remote() {
        return false;
    }
    match error.reason() {
        Some(h2::Reason::NO_ERROR) => error.is_go_away(),
        Some(h2::Reason::REFUSED_STREAM) => error.is_reset(),
        _ => false,
    }
}
