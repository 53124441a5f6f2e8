//! Files the server serves for downloads (`GET /_files/NAME`), with faults scripted per
//! file and the body bytes served counted per file.
//!
//! What it is for: download tests. Each file has strong validators (an `ETag` of its
//! version and length, a `Last-Modified` of its version), answers `Range: bytes=N-` (and
//! `N-M`) with a 206, honours `If-Range` (another validator: the whole file, 200), and
//! answers a range past its end with 416 `bytes */LEN`. A file's faults apply to its next
//! requests in order, one each: a reset, stall or pause part-way through the body, a status with
//! `Retry-After` (the fault plan's [`RetryAfter`]), a redirect, a wrong `Content-Range`, a
//! range ignored, a gzipped answer, a corrupted byte, or the file replaced (a new version)
//! after part of it was sent.
//!
//! What it must never do: hold a lock across an await, or count a byte it did not hand to
//! the connection.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream;

use crate::app::App;
use crate::faults::RetryAfter;
use crate::upload::retry_after_value;

/// Body bytes sent per chunk.
const CHUNK: usize = 64 * 1024;

/// What happens to one request for a file.
#[derive(Clone, Debug, PartialEq)]
pub enum DownloadFault {
    /// Served normally.
    None,
    /// The connection is cut after this many body bytes.
    ResetAfter(u64),
    /// This many body bytes, then nothing for `hold_ms` (then the connection is cut).
    StallAfter { bytes: u64, hold_ms: u64 },
    /// This many body bytes, then nothing for `hold_ms`, then the rest: a slow server,
    /// never an error (the crash tests kill clients in that window).
    PauseAfter { bytes: u64, hold_ms: u64 },
    /// This status (no body), with `Retry-After` if given.
    Status {
        code: u16,
        retry_after: Option<RetryAfter>,
    },
    /// A ranged request gets a 206 whose `Content-Range` starts one byte later than asked,
    /// with those bytes.
    WrongContentRange,
    /// `Range` is ignored: the whole file, 200.
    IgnoreRange,
    /// The whole file gzipped (`Content-Encoding: gzip`, whatever was asked), 200.
    Gzip,
    /// Served with its first body byte changed (same length, same validators).
    CorruptByte,
    /// Every body byte, sent without `Content-Length` (chunked), then the connection is
    /// cut before the body's end is marked: the client holds the whole file but never
    /// saw it end.
    ResetAtEnd,
    /// Every body byte, sent without `Content-Length` (chunked), ending normally: a
    /// server that does not say the file's size.
    Chunked,
    /// This many body bytes, then the file is replaced by `with` (a new version, new
    /// validators) and the connection cut.
    ReplaceAfter { bytes: u64, with: Vec<u8> },
    /// A redirect: this status with this `Location` (absolute or relative), no body.
    Redirect { code: u16, location: String },
}

/// What was asked of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileRequest {
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub accept_encoding: Option<String>,
    pub authorization: bool,
    /// The names of every header the request carried, lowercase.
    pub header_names: Vec<String>,
    pub status: u16,
}

#[derive(Debug, Default)]
struct ServedFile {
    bytes: Bytes,
    version: u64,
    faults: VecDeque<DownloadFault>,
    requests: Vec<FileRequest>,
    served: Arc<std::sync::atomic::AtomicU64>,
}

impl ServedFile {
    fn etag(&self) -> String {
        format!("\"v{}-{}\"", self.version, self.bytes.len())
    }

    fn last_modified(&self) -> String {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000 + self.version);
        httpdate::fmt_http_date(at)
    }
}

/// Every file served, by name.
#[derive(Debug, Default)]
pub struct ServedFiles {
    files: Mutex<HashMap<String, ServedFile>>,
}

impl ServedFiles {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, ServedFile>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `bytes` as `name` (a new version if it was served before).
    pub fn put(&self, name: &str, bytes: Vec<u8>) {
        let mut files = self.lock();
        let file = files.entry(name.to_owned()).or_default();
        file.bytes = Bytes::from(bytes);
        file.version += 1;
    }

    /// Faults for the next requests of `name`, in order (after any still queued).
    pub fn add_faults(&self, name: &str, faults: Vec<DownloadFault>) {
        if let Some(file) = self.lock().get_mut(name) {
            file.faults.extend(faults);
        }
    }

    /// Body bytes handed to connections for `name` so far.
    pub fn served(&self, name: &str) -> u64 {
        self.lock().get(name).map_or(0, |file| {
            file.served.load(std::sync::atomic::Ordering::SeqCst)
        })
    }

    /// Every request for `name`, in arrival order.
    pub fn requests(&self, name: &str) -> Vec<FileRequest> {
        self.lock()
            .get(name)
            .map(|file| file.requests.clone())
            .unwrap_or_default()
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// `bytes=N-` or `bytes=N-M` (one range; anything else is ignored, as servers may).
fn parse_range(value: &str, length: u64) -> Option<(u64, u64)> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last = match last.trim() {
        "" => length.saturating_sub(1),
        digits => digits.parse::<u64>().ok()?.min(length.saturating_sub(1)),
    };
    Some((first, last))
}

/// `GET /_files/{*name}`.
pub async fn serve(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut request = FileRequest {
        range: header_text(&headers, header::RANGE),
        if_range: header_text(&headers, header::IF_RANGE),
        accept_encoding: header_text(&headers, header::ACCEPT_ENCODING),
        authorization: headers.contains_key(header::AUTHORIZATION),
        header_names: headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect(),
        status: 0,
    };
    let mut files = app.files.lock();
    let Some(file) = files.get_mut(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fault = file.faults.pop_front().unwrap_or(DownloadFault::None);
    let length = file.bytes.len() as u64;
    let etag = file.etag();
    let last_modified = file.last_modified();
    let validators_hold = request
        .if_range
        .as_deref()
        .is_none_or(|validator| validator == etag || validator == last_modified);
    let range = request
        .range
        .as_deref()
        .filter(|_| validators_hold && fault != DownloadFault::IgnoreRange)
        .and_then(|value| parse_range(value, length));
    let mut response_headers = HeaderMap::new();
    let mut insert = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(name, value);
        }
    };
    insert(header::ETAG, etag);
    insert(header::LAST_MODIFIED, last_modified);
    insert(header::ACCEPT_RANGES, "bytes".into());
    let (status, body, cut) = match &fault {
        DownloadFault::Status { code, retry_after } => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if let Some(value) = retry_after.as_ref().and_then(retry_after_value) {
                response_headers.insert(header::RETRY_AFTER, value);
            }
            request.status = status.as_u16();
            file.requests.push(request);
            return (status, response_headers).into_response();
        }
        DownloadFault::Redirect { code, location } => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::FOUND);
            insert(header::LOCATION, location.clone());
            request.status = status.as_u16();
            file.requests.push(request);
            return (status, response_headers).into_response();
        }
        DownloadFault::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let gzipped = encoder
                .write_all(&file.bytes)
                .and_then(|()| encoder.finish())
                .unwrap_or_default();
            insert(header::CONTENT_ENCODING, "gzip".into());
            (StatusCode::OK, Bytes::from(gzipped), None)
        }
        _ => match range {
            Some((first, _)) if first >= length => {
                insert(header::CONTENT_RANGE, format!("bytes */{length}"));
                request.status = 416;
                file.requests.push(request);
                return (StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response();
            }
            Some((first, last)) => {
                let first = if fault == DownloadFault::WrongContentRange {
                    (first + 1).min(last)
                } else {
                    first
                };
                insert(
                    header::CONTENT_RANGE,
                    format!("bytes {first}-{last}/{length}"),
                );
                let body = file.bytes.slice(first as usize..=last as usize);
                (StatusCode::PARTIAL_CONTENT, body, cut_of(&fault))
            }
            None => (StatusCode::OK, file.bytes.clone(), cut_of(&fault)),
        },
    };
    let body = if fault == DownloadFault::CorruptByte && !body.is_empty() {
        let mut changed = body.to_vec();
        changed[0] ^= 0xff;
        Bytes::from(changed)
    } else {
        body
    };
    if let DownloadFault::ReplaceAfter { with, .. } = &fault {
        // The next request sees the new version; this one goes on with the old bytes.
        file.bytes = Bytes::from(with.clone());
        file.version += 1;
    }
    if !matches!(fault, DownloadFault::ResetAtEnd | DownloadFault::Chunked) {
        insert(header::CONTENT_LENGTH, body.len().to_string());
    }
    request.status = status.as_u16();
    file.requests.push(request);
    let served = Arc::clone(&file.served);
    drop(files);
    (
        status,
        response_headers,
        Body::from_stream(body_stream(body, cut, pause_of(&fault), served)),
    )
        .into_response()
}

/// Where a fault cuts the body: after how many bytes, and how long it holds first.
fn cut_of(fault: &DownloadFault) -> Option<(u64, Duration)> {
    match fault {
        DownloadFault::ResetAfter(bytes) | DownloadFault::ReplaceAfter { bytes, .. } => {
            Some((*bytes, Duration::ZERO))
        }
        // A moment first, so the last bytes leave before the cut.
        DownloadFault::ResetAtEnd => Some((u64::MAX, Duration::from_secs(1))),
        DownloadFault::StallAfter { bytes, hold_ms } => {
            Some((*bytes, Duration::from_millis(*hold_ms)))
        }
        _ => None,
    }
}

/// Where a fault pauses the body without cutting it: after how many bytes, for how long.
fn pause_of(fault: &DownloadFault) -> Option<(u64, Duration)> {
    match fault {
        DownloadFault::PauseAfter { bytes, hold_ms } => {
            Some((*bytes, Duration::from_millis(*hold_ms)))
        }
        _ => None,
    }
}

/// The body in chunks, counted as they are handed over; paused once after `pause`'s
/// bytes for its hold; cut (an error, which ends the connection) after `cut`'s bytes and
/// hold.
fn body_stream(
    body: Bytes,
    cut: Option<(u64, Duration)>,
    pause: Option<(u64, Duration)>,
    served: Arc<std::sync::atomic::AtomicU64>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    let limit = cut.map_or(body.len() as u64, |(bytes, _)| bytes.min(body.len() as u64));
    let hold = cut.map(|(_, hold)| hold);
    let mut pause = pause;
    stream::unfold((0u64, false), move |(sent, ended)| {
        let body = body.clone();
        let served = Arc::clone(&served);
        // Taken by the first chunk that reaches the pause point: it pauses once.
        let pause_now = match pause {
            Some((at, hold)) if sent >= at => {
                pause = None;
                Some(hold)
            }
            _ => None,
        };
        async move {
            if ended {
                return None;
            }
            if let Some(hold) = pause_now {
                tokio::time::sleep(hold).await;
            }
            if sent >= limit {
                let hold = hold?;
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                }
                return Some((Err(std::io::Error::other("cut by a fault")), (sent, true)));
            }
            let end = (sent + CHUNK as u64).min(limit);
            // A chunk ends at the pause point, so the pause comes after exactly its bytes.
            let end = match pause {
                Some((at, _)) if at > sent => end.min(at),
                _ => end,
            };
            let chunk = body.slice(sent as usize..end as usize);
            served.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
            Some((Ok(chunk), (end, false)))
        }
    })
}
