//! A download's segment fetched by the OS (a background URLSession download task, a
//! WorkManager worker), applied by the engine: the shim moved the OS's file beside the
//! partial (`download::segment_path`) and reported the answer's status and headers; this
//! checks the answer by the in-process lane's rules (`range.rs`: a 206 must start at the
//! recorded offset, agree with the recorded total and validators, and be as long as its
//! range; a 200 is the whole file and replaces the partial), appends the segment at the
//! recorded offset, syncs, records the new offset durably, removes the segment file, and
//! either leaves the next segment to the actor or finishes the download exactly as the
//! in-process lane does (`finish.rs`).
//!
//! Runs as a task of its own after the turn that received the report, with every file
//! operation on the blocking pool. Must never touch the store (records reach it as
//! checkpoints through the actor), append a segment that was not checked, or report an
//! offset before the partial file holds it durably.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, HeaderMap, HeaderName, HeaderValue,
    LAST_MODIFIED,
};

use super::finish::{self, Finished, fresh, text, unusable, unwritable};
use super::partial::{Coding, Partial};
use super::range::{self, Answer, SegmentPlan};
use crate::TransferId;
use crate::download::segment_prefix;
use crate::download_record::DownloadRecord;
use crate::error::{FailureKind, TransferError};
use crate::http::attempt_progress::AttemptProgress;
use crate::http::job::DownloadJob;
use crate::outcome::AttemptOutcome;

/// One OS segment to apply, as the actor hands it over.
#[derive(Debug)]
pub(crate) struct SegmentJob {
    /// The partial file, the record as stored when the report arrived, the spec, and
    /// where to checkpoint.
    pub job: DownloadJob,
    /// The download's path as enqueued.
    pub destination: PathBuf,
    /// The file the shim moved the OS's download to.
    pub segment: PathBuf,
    /// The final answer's status and headers, as the shim reported them.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The outcome of that answer if it carries no bytes of the file (a 503, a 404).
    pub otherwise: AttemptOutcome,
}

/// Applies one segment; the outcome is `SegmentStored` when the download goes on with
/// the next one, else the download's outcome as the in-process lane gives it.
pub(crate) async fn apply_segment(
    segment: SegmentJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    let SegmentJob {
        mut job,
        destination,
        segment,
        status,
        headers,
        otherwise,
    } = segment;
    let headers = header_map(&headers);
    let outcome = match apply(
        &mut job,
        &progress,
        &destination,
        &segment,
        status,
        &headers,
    )
    .await
    {
        Ok(Step::Next) => AttemptOutcome::SegmentStored,
        Ok(Step::Done(outcome)) | Err(outcome) => outcome,
        Ok(Step::NoFile) => otherwise,
    };
    let finished = matches!(outcome, AttemptOutcome::Response { .. })
        || matches!(outcome, AttemptOutcome::Rejected(_));
    let partial = job.partial.clone();
    let id = job.checkpoints.transfer_id().clone();
    let _ = tokio::task::spawn_blocking(move || {
        remove_quietly(&segment);
        if finished {
            remove_segments(&[(id, partial)]);
        }
    })
    .await;
    outcome
}

enum Step {
    /// Appended and recorded; the next segment is the actor's to hand over.
    Next,
    /// The download ended (placed, or failed).
    Done(AttemptOutcome),
    /// The answer carried no bytes of the file.
    NoFile,
}

async fn apply(
    job: &mut DownloadJob,
    progress: &AttemptProgress,
    destination: &Path,
    segment: &Path,
    status: u16,
    headers: &HeaderMap,
) -> Result<Step, AttemptOutcome> {
    let first = job.record.segment_start();
    // The handoff sent `Range` unless it asked for the whole file (`os_segment`).
    let ranged = job.record.if_range().is_some() || job.record.total.is_none();
    let coding = Coding::of(text(headers, CONTENT_ENCODING));
    let answer = Answer {
        status,
        content_range: text(headers, CONTENT_RANGE),
        content_length: text(headers, CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        etag: text(headers, ETAG),
        last_modified: text(headers, LAST_MODIFIED),
        encoded: coding != Some(Coding::Identity),
    };
    let held = segment_length(segment).await.map_err(unwritable)?;
    let plan = range::plan_segment(&answer, first, ranged, held, &job.record);
    // Opened at the recorded offset: only `start_over` (which records first) empties it.
    let open = |offset| Partial::open(&job.partial, offset);
    match plan {
        // A 2xx that is neither 200 nor 206 carries no file: not a success.
        SegmentPlan::Status if (200..300).contains(&status) => Err(unusable(format!(
            "the server answered {status} instead of the file"
        ))),
        SegmentPlan::Status => Ok(Step::NoFile),
        SegmentPlan::Discard(reason) => Err(discarded(job, &reason)),
        SegmentPlan::Restart(reason) => {
            let (mut partial, _) = open(job.record.offset).await.map_err(unwritable)?;
            let record = fresh(&job.record);
            finish::start_over(job, progress, &mut partial, Coding::Identity, record).await?;
            Err(retry(
                FailureKind::Network,
                format!("{reason}; fetching it again from the start"),
            ))
        }
        SegmentPlan::Whole { total } => {
            if total.is_some_and(|total| total != held) {
                return Err(discarded(
                    job,
                    &format!("the OS's file has {held} bytes where the answer said {total:?}"),
                ));
            }
            let (mut partial, _) = open(job.record.offset).await.map_err(unwritable)?;
            let identity = coding == Some(Coding::Identity);
            let record = DownloadRecord {
                etag: answer.etag.filter(|_| identity).map(str::to_owned),
                last_modified: answer.last_modified.filter(|_| identity).map(str::to_owned),
                total: total.filter(|_| identity),
                offset: 0,
                digest_failures: job.record.digest_failures,
                placing: None,
            };
            finish::start_over(job, progress, &mut partial, Coding::Identity, record).await?;
            partial
                .append_file(segment.to_owned())
                .await
                .map_err(unwritable)?;
            progress.set_bytes_sent(held);
            let finished = Finished {
                status,
                headers: headers.clone(),
                // The OS decodes an encoded body: its length and MD5 are not the file's.
                coding: coding.unwrap_or(Coding::Gzip),
            };
            let outcome = finish::finish(job, progress, destination, partial, finished).await?;
            Ok(Step::Done(outcome))
        }
        SegmentPlan::Append { last, total } => {
            let (mut partial, had) = open(job.record.offset).await.map_err(unwritable)?;
            if had < first || job.record.offset > first {
                // The partial lost bytes the store vouched for (or they cannot be pinned):
                // nothing it holds is used.
                let record = fresh(&job.record);
                finish::start_over(job, progress, &mut partial, Coding::Identity, record).await?;
                return Err(retry(
                    FailureKind::Network,
                    "the partial file no longer holds the recorded bytes; fetching it again \
                     from the start"
                        .into(),
                ));
            }
            partial
                .append_file(segment.to_owned())
                .await
                .map_err(unwritable)?;
            partial.sync().await.map_err(unwritable)?;
            let end = last + 1;
            job.record.total = Some(total);
            job.record.offset = end;
            if job.record.etag.is_none() && job.record.last_modified.is_none() {
                job.record.etag = answer.etag.map(str::to_owned);
                job.record.last_modified = answer.last_modified.map(str::to_owned);
            }
            // Durable before the segment goes: a crash now continues after it.
            job.checkpoints
                .report_download_durably(job.record.clone())
                .await?;
            progress.set_bytes_sent(end);
            if end < total {
                return Ok(Step::Next);
            }
            let finished = Finished {
                status,
                headers: headers.clone(),
                coding: Coding::Identity,
            };
            let outcome = finish::finish(job, progress, destination, partial, finished).await?;
            Ok(Step::Done(outcome))
        }
    }
}

/// The segment's answer did not fit: it is dropped, the held bytes stand, and the same
/// segment is asked again after the usual backoff (an attempt used up, so a server that
/// keeps contradicting itself ends the download).
fn discarded(job: &DownloadJob, reason: &str) -> AttemptOutcome {
    log::info!(
        "download {}: discarded a segment from the OS: {reason}",
        job.checkpoints.transfer_id()
    );
    retry(
        FailureKind::UnusableResponse,
        format!("discarded a segment the OS fetched: {reason}; it is fetched again"),
    )
}

fn retry(kind: FailureKind, message: String) -> AttemptOutcome {
    AttemptOutcome::DownloadRetry(TransferError::new(kind, message))
}

async fn segment_length(segment: &Path) -> io::Result<u64> {
    let path = segment.to_owned();
    tokio::task::spawn_blocking(move || match std::fs::metadata(&path) {
        Ok(meta) => Ok(meta.len()),
        // The shim moved nothing (an answer without a body).
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(error),
    })
    .await
    .map_err(|_| io::Error::other("the segment check was cancelled"))?
}

fn header_map(headers: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => log::warn!(
            "could not remove a segment file {}: {error}",
            path.display()
        ),
    }
}

/// Removes every segment file of the downloads `partials` (each id with its partial
/// file) beside their partial files: one listing per folder, however many downloads it
/// holds. Blocking. For downloads that ended or were cancelled: a segment left by a crash
/// between the OS's move and its apply goes with them.
pub(crate) fn remove_segments(partials: &[(TransferId, PathBuf)]) {
    let mut by_folder: HashMap<&Path, Vec<String>> = HashMap::new();
    for (id, partial) in partials {
        let folder = match partial.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        by_folder
            .entry(folder)
            .or_default()
            .push(segment_prefix(id));
    }
    for (folder, prefixes) in by_folder {
        let Ok(entries) = std::fs::read_dir(folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.contains(".seg-") && prefixes.iter().any(|prefix| name.starts_with(prefix)) {
                remove_quietly(&entry.path());
            }
        }
    }
}
