//! Entry points for the download answers' parsers (`fuzz_targets/download_answer.rs`):
//! `Content-Range`, what an answer to a (ranged) GET means for the partial file, in
//! process and for an OS segment, and the whole-file digests a server may send.
//!
//! Must never decide anything itself: each function only builds the parser's arguments
//! and copies its answer into plain data.

use crate::download_record::DownloadRecord;
use crate::http::parsers::{
    Answer, Plan, SegmentPlan, content_md5, parse_content_range, plan, plan_segment,
    repr_digest_sha256,
};

/// The parts of an answer the download parsers read.
#[derive(Clone, Debug, Default)]
pub struct DownloadAnswer {
    /// The status code.
    pub status: u16,
    /// `Content-Range`.
    pub content_range: Option<String>,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// `ETag`.
    pub etag: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// A `Content-Encoding` other than `identity`.
    pub encoded: bool,
}

/// What the store holds for the download when the answer arrives.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// The ETag the held bytes came with.
    pub etag: Option<String>,
    /// The `Last-Modified` they came with.
    pub last_modified: Option<String>,
    /// The file's length, once told.
    pub total: Option<u64>,
    /// The bytes held durably.
    pub offset: u64,
}

/// What the in-process lane does with an answer (`range::Plan`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the variants of `range::Plan`, documented there
pub enum DownloadPlan {
    FromZero { total: Option<u64> },
    Continue { total: u64 },
    Complete { total: u64 },
    Restart,
    Status,
}

/// What the OS lane does with an answer to a segment (`range::SegmentPlan`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the variants of `range::SegmentPlan`, documented there
pub enum SegmentDecision {
    Whole { total: Option<u64> },
    Append { last: u64, total: u64 },
    Restart,
    Discard,
    Status,
}

/// A parsed `Content-Range`: the inclusive range (`None` for `*`) and the total (`None`
/// for `*`).
pub type ContentRange = (Option<(u64, u64)>, Option<u64>);

/// `value` read as a `Content-Range`.
pub fn content_range(value: &str) -> Option<ContentRange> {
    parse_content_range(value).map(|parsed| (parsed.range, parsed.total))
}

/// What `answer` to a request from `offset` (0: not ranged) means, with `recorded` stored.
pub fn download_plan(answer: &DownloadAnswer, offset: u64, recorded: &Recorded) -> DownloadPlan {
    match plan(&borrowed(answer), offset, &record(recorded)) {
        Plan::FromZero { total, .. } => DownloadPlan::FromZero { total },
        Plan::Continue { total } => DownloadPlan::Continue { total },
        Plan::Complete { total } => DownloadPlan::Complete { total },
        Plan::Restart(_) => DownloadPlan::Restart,
        Plan::Status => DownloadPlan::Status,
    }
}

/// What `answer` to a segment asked from `first` means (`ranged`: it sent `Range`;
/// `held`: the bytes in the OS's file).
pub fn segment_plan(
    answer: &DownloadAnswer,
    first: u64,
    ranged: bool,
    held: u64,
    recorded: &Recorded,
) -> SegmentDecision {
    match plan_segment(&borrowed(answer), first, ranged, held, &record(recorded)) {
        SegmentPlan::Whole { total } => SegmentDecision::Whole { total },
        SegmentPlan::Append { last, total } => SegmentDecision::Append { last, total },
        SegmentPlan::Restart(_) => SegmentDecision::Restart,
        SegmentPlan::Discard(_) => SegmentDecision::Discard,
        SegmentPlan::Status => SegmentDecision::Status,
    }
}

/// `Repr-Digest`'s SHA-256, and a base64 `Content-MD5`.
pub fn digests(repr_digest: &str, md5: &str) -> (Option<[u8; 32]>, Option<[u8; 16]>) {
    (repr_digest_sha256(repr_digest), content_md5(md5))
}

fn borrowed(answer: &DownloadAnswer) -> Answer<'_> {
    Answer {
        status: answer.status,
        content_range: answer.content_range.as_deref(),
        content_length: answer.content_length,
        etag: answer.etag.as_deref(),
        last_modified: answer.last_modified.as_deref(),
        encoded: answer.encoded,
    }
}

fn record(recorded: &Recorded) -> DownloadRecord {
    DownloadRecord {
        etag: recorded.etag.clone(),
        last_modified: recorded.last_modified.clone(),
        total: recorded.total,
        offset: recorded.offset,
        ..DownloadRecord::default()
    }
}
