//! The entry points of the fuzz targets in `fuzz/` (`cargo fuzz`, see README "Fuzzing"):
//! each hands outside input to one of the engine's own parsers, the way the engine does.
//!
//! What it is for: reaching crate-private parsers from the fuzz targets without copying
//! them. Built only with the `fuzzing` feature and hidden from the docs.
//!
//! What it must never do: become an API an app relies on, or hold a parser of its own:
//! every function here only turns fuzz input into a parser's argument and its answer into
//! plain data the target checks.

mod download;
mod stored;

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::TransferId;
use crate::classify::{Verdict, classify};
use crate::http::parsers;

pub use download::{
    ContentRange, DownloadAnswer, DownloadPlan, Recorded, SegmentDecision, content_range, digests,
    download_plan, segment_plan,
};
pub use stored::{
    Named, ResumableRow, SqlValue, StoredReport, StoredState, TotalsRow, TransferRow, handoff_key,
    resumable_and_batches, transfers,
};

/// A `Retry-After` value as the lanes read it (`outcome::parse_retry_after`), at `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    crate::outcome::parse_retry_after(value, now)
}

/// How long a transfer waits on a server's `asked` delay, with `cap` as
/// `RetryPolicy::max_server_delay`.
pub fn server_delay(asked: Duration, cap: Duration) -> Duration {
    let policy = crate::RetryPolicy {
        max_server_delay: cap,
        ..crate::RetryPolicy::default()
    };
    crate::retry::server_delay(&policy, asked)
}

/// What a resumable session reads from one answer's headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResumableAnswer {
    /// `Upload-Limit: max-size` or tus' `Tus-Max-Size`.
    pub max_size: Option<u64>,
    /// `Upload-Limit: max-append-size`.
    pub max_append_size: Option<u64>,
    /// `Upload-Offset`.
    pub offset: Option<u64>,
    /// The tus checksum algorithm chosen from `Tus-Extension` and `Tus-Checksum-Algorithm`.
    pub tus_checksum: Option<&'static str>,
    /// `Upload-Complete` (or, up to interop version 3, `Upload-Incomplete`).
    pub complete: Option<bool>,
}

/// Reads `headers` (name and value bytes, as a server may send them; pairs HTTP could not
/// carry are dropped, as hyper would refuse them) the way a resumable session reads an
/// answer of a server of IETF interop version `ietf_version`.
pub fn resumable_answer(headers: &[(Vec<u8>, Vec<u8>)], ietf_version: u32) -> ResumableAnswer {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    let limits = parsers::UploadLimits::from_headers(&map);
    ResumableAnswer {
        max_size: limits.max_size,
        max_append_size: limits.max_append_size,
        offset: parsers::upload_offset(&map),
        tus_checksum: parsers::capabilities(&map)
            .checksum
            .map(|algorithm| algorithm.name()),
        complete: parsers::says_complete(&map, ietf_version),
    }
}

/// What the engine decides for one part of a packed batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartVerdict {
    Succeeded,
    Retry,
    Permanent,
    Auth,
}

/// One sent part's result: the status the server's results gave it (`None`: not
/// mentioned) and the verdict the engine draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartResult {
    pub id: String,
    pub status: Option<u16>,
    pub verdict: PartVerdict,
}

/// A batch endpoint's per-part results body (`docs/batching.md`) for the parts `sent`.
pub fn batch_results(body: &[u8], sent: &[String]) -> Vec<PartResult> {
    let sent: Vec<TransferId> = sent
        .iter()
        .map(|id| TransferId::from_stored(id.clone()))
        .collect();
    parsers::outcomes_from_results(body, &sent)
        .into_iter()
        .map(|(id, outcome)| {
            let status = match outcome {
                crate::outcome::AttemptOutcome::Response { status, .. } => Some(status),
                _ => None,
            };
            let verdict = match classify(&outcome) {
                Verdict::Succeeded => PartVerdict::Succeeded,
                Verdict::Retry { .. } => PartVerdict::Retry,
                Verdict::Permanent(_) => PartVerdict::Permanent,
                Verdict::Auth(_) => PartVerdict::Auth,
            };
            PartResult {
                id: id.to_string(),
                status,
                verdict,
            }
        })
        .collect()
}
