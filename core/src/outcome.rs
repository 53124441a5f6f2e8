//! How one attempt ended, as the lane that ran it (in-process or the OS's) reports it: an
//! [`AttemptOutcome`], and the `Retry-After` value read from a server's answer. Produced by
//! the lanes and the platform driver, judged by the policy (`classify.rs`, `retry.rs`,
//! `attempt_budget.rs`); it sits apart from both so that neither imports the other.
//!
//! Must never decide anything: no verdict, no delay policy, no clock read.

use std::time::{Duration, SystemTime};

use crate::error::TransferError;
use crate::server_response::ServerResponse;

/// How one attempt ended, as seen by the lane that ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    /// The server answered. `retry_after` is the parsed `Retry-After` header, if any;
    /// `answer` its headers and body as the lane read them (`None` where the lane has
    /// none to give), kept with the transfer if the answer is a success.
    Response {
        status: u16,
        retry_after: Option<Duration>,
        answer: Option<Box<ServerResponse>>,
    },
    /// Connecting, sending or receiving failed.
    Network { message: String },
    /// The server proved it never processed the request (`http/unprocessed.rs`: an HTTP/2
    /// stream refused, or above the last stream of a graceful `GOAWAY`). The actor sends it
    /// again at once without using up an attempt, a few times in a row; as a verdict it is
    /// a network failure.
    Unprocessed { message: String },
    /// No bytes moved for `stall_timeout`.
    Stalled,
    /// The source file could not be sent as enqueued.
    Source(TransferError),
    /// This process had no file descriptor left (`EMFILE`/`ENFILE`) to open the source or
    /// a socket (`descriptors.rs`): nothing reached the server. Retried after the base
    /// backoff without using up an attempt (`attempt_budget.rs`), never blamed on the host.
    OutOfDescriptors(TransferError),
    /// Nothing was sent (every file of a packed batch was left out); only used for the
    /// request as a whole, each file has its own outcome.
    NotSent,
    /// Claimed ahead, but its host was in trouble when a request slot came free
    /// (`http/gate.rs`): nothing was sent, and the transfer goes back to the queue
    /// without using up an attempt. The actor handles it before any verdict.
    HeldBack,
    /// A download's segment fetched by the OS was appended and recorded
    /// (`http/download/segment.rs`), and more of the file is left: the transfer goes back
    /// to the queue, due now, without using up an attempt, so the scheduler hands the
    /// next segment to the OS, or, once the OS was taken off it, to the in-process lane.
    /// The actor handles it before any verdict.
    SegmentStored,
    /// The OS background service could not take or finish the task (it refused to start
    /// it, the body file could not be written, or it failed without a response).
    Platform { message: String },
    /// The app's request authorizer provided no usable credentials; nothing was sent.
    /// Not `retryable`: the transfer waits for the app to sign in.
    Authorizer {
        error: TransferError,
        retryable: bool,
    },
    /// The server could not be trusted or spoke no TLS (`http/send_failure.rs`): no retry
    /// can fix that, only the app's trust settings.
    Untrusted(TransferError),
    /// A download must be tried again for a reason of its own: its bytes did not match
    /// what they had to be (expected SHA-256, the server's digest; the partial file was
    /// emptied, the next attempt fetches it from zero). Retryable; the host is not blamed.
    DownloadRetry(TransferError),
    /// A download's volume filled up while it wrote (`ENOSPC`): what it wrote and synced
    /// stays as its offset. Retried after `disk_space::RECHECK_EVERY` without using up an
    /// attempt (`attempt_budget.rs`), never blamed on the host; the error's kind is
    /// `InsufficientSpace`.
    OutOfSpace(TransferError),
    /// The server refused the upload in a way no retry can fix (a resumable upload larger
    /// than the server's `Upload-Limit`, a creation answer without `Location`).
    Rejected(TransferError),
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
/// A date in the past means "now"; more seconds than a `u64` holds mean "as long as
/// possible", which `retry::server_delay` caps. Anything else is ignored.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Some(Duration::from_secs(u64::MAX));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_accepts_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let later = "Sun, 06 Nov 1994 08:50:07 GMT";
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(30)));
        let earlier = "Sun, 06 Nov 1994 08:40:00 GMT";
        assert_eq!(parse_retry_after(earlier, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_ignores_garbage() {
        assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
        assert_eq!(parse_retry_after("-5", SystemTime::now()), None);
    }
}
