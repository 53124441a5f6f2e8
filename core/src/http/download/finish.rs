//! How a download ends, whichever lane fetched its bytes (the in-process attempt in
//! `mod.rs`, or the OS's segments applied by `segment.rs`): the length and digest
//! checked, a mismatch emptying the partial file (retried once from zero, then failed),
//! the name it goes to recorded (`placing`; durably first unless it replaces the
//! destination), the rename and the folder's sync;
//! and the outcomes and records both lanes build their answers from.
//!
//! Must never record `Succeeded` itself (the actor does, after the outcome), never rename
//! before the name is durable in the store, and never run file I/O on the async worker:
//! every file operation goes to the blocking pool.

use std::io;
use std::path::Path;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::digest::{self, Expected};
use super::partial::{self, Coding, Partial};
use crate::download::ConflictRule;
use crate::download_record::DownloadRecord;
use crate::error::{FailureKind, TransferError};
use crate::http::attempt_progress::AttemptProgress;
use crate::http::job::DownloadJob;
use crate::http::response::header_pairs;
use crate::outcome::AttemptOutcome;
use crate::server_response::ServerResponse;

/// What a finishing attempt knows of the answer it finished with.
pub(super) struct Finished {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) coding: Coding,
}

/// Empties the partial file to write `coding`'s bytes from zero, with `record` as what
/// they will belong to. If the store holds an offset, the restart is recorded (durably)
/// first: the store must never vouch for bytes that are no longer there.
pub(super) async fn start_over(
    job: &mut DownloadJob,
    progress: &AttemptProgress,
    partial: &mut Partial,
    coding: Coding,
    record: DownloadRecord,
) -> Result<(), AttemptOutcome> {
    let recorded = job.record.offset > 0 || job.record.placing.is_some();
    job.record = record;
    if recorded {
        job.checkpoints
            .report_download_durably(job.record.clone())
            .await?;
    }
    progress.restart();
    partial.restart(coding).await.map_err(unwritable)
}

/// The body is complete in `partial`: checks its length and digest, records where it
/// goes, puts it there. `destination` is the download's path as enqueued.
pub(super) async fn finish(
    job: &mut DownloadJob,
    progress: &AttemptProgress,
    destination: &Path,
    mut partial: Partial,
    finished: Finished,
) -> Result<AttemptOutcome, AttemptOutcome> {
    if let Some(length) = needs_no_check_before_placing(job, &partial, &finished) {
        // The common case, in one trip to the blocking pool. Nothing is recorded first:
        // under `Replace` the destination's name is the download's own (`saved_as`), and
        // a crash after the rename costs a fetch again over the same name.
        partial
            .finish_in_place(length, destination)
            .await
            .map_err(|error| unwritable_for(job, error))?;
        job.record.offset = length;
        if job.spec.expected_size.is_none() {
            // Recorded as its size with `Succeeded` (`actor/downloads.rs`).
            job.record.total = Some(length);
            job.checkpoints.report_download(job.record.clone());
        }
        return Ok(success(finished.status, &finished.headers));
    }
    let length = partial
        .finish()
        .await
        .map_err(|error| unwritable_for(job, error))?;
    if let Some(total) = job.record.total
        && finished.coding == Coding::Identity
        && length != total
    {
        job.record.offset = length.min(total);
        return Err(AttemptOutcome::Network {
            message: format!("the body ended after {length} of {total} bytes"),
        });
    }
    job.record.offset = length;
    if let Some(expected) = job.spec.expected_size
        && expected != length
    {
        let reason = format!("the file has {length} bytes where {expected} were expected");
        return Err(mismatch(job, progress, partial, reason).await);
    }
    if let Some(expected) = expected_digest(job, &finished) {
        let path = partial.path().to_owned();
        let checked = expected.clone();
        let matches = tokio::task::spawn_blocking(move || digest::matches(&path, &checked))
            .await
            .map_err(|_| unwritable(io::Error::other("the digest check was cancelled")))?
            .map_err(unwritable)?;
        if !matches {
            let reason = format!("the bytes do not match {}", expected.source());
            return Err(mismatch(job, progress, partial, reason).await);
        }
    }
    let rule = job.spec.on_conflict;
    let target = if rule == ConflictRule::Replace {
        // The destination's own name: nothing in the folder to look at.
        Some(destination.to_owned())
    } else {
        let owned = destination.to_owned();
        tokio::task::spawn_blocking(move || partial::target(&owned, rule))
            .await
            .map_err(|_| unwritable(io::Error::other("the destination check was cancelled")))?
    };
    let Some(target) = target else {
        // Final: nothing of this download stays in the folder (a retry fetches it anew).
        discard_partial(job).await;
        return Err(exists(destination));
    };
    // Under `KeepBoth` and `Fail` the name is durable before the link: a crash after it
    // finds the file there instead of placing it twice (`KeepBoth`) or failing on its own
    // file (`Fail`). Under `Replace` a crash between the rename and `Succeeded` costs only
    // a fetch again over the same name (never a partial there, never `Succeeded` without
    // the file), so the record is not waited for: waiting cost every small download a
    // commit and a WAL sync of its own (many_small_gets ran at half the rate).
    job.record.placing = Some(target.clone());
    if rule == ConflictRule::Replace {
        job.checkpoints.report_download(job.record.clone());
    } else {
        job.checkpoints
            .report_download_durably(job.record.clone())
            .await?;
    }
    let from = partial.path().to_owned();
    let placed = target.clone();
    tokio::task::spawn_blocking(move || partial::place(&from, &placed, rule))
        .await
        .map_err(|_| unwritable(io::Error::other("the rename was cancelled")))?
        .map_err(|error| match error.kind() {
            io::ErrorKind::AlreadyExists => exists(&target),
            _ => unwritable(error),
        })?;
    Ok(success(finished.status, &finished.headers))
}

/// The finished file's length, when nothing needs to look at the file between its sync
/// and its rename: it replaces the destination, its bytes are the body's, no digest is
/// expected, and its length is the one expected (otherwise `finish` takes the long way,
/// which says what is wrong).
fn needs_no_check_before_placing(
    job: &DownloadJob,
    partial: &Partial,
    finished: &Finished,
) -> Option<u64> {
    let length = partial.plain_length()?;
    let fits = |expected: Option<u64>| expected.is_none_or(|expected| expected == length);
    (job.spec.on_conflict == ConflictRule::Replace
        && finished.coding == Coding::Identity
        && fits(job.record.total)
        && fits(job.spec.expected_size)
        && expected_digest(job, finished).is_none())
    .then_some(length)
}

/// The digest the bytes must have: the app's, else the server's for the whole file.
fn expected_digest(job: &DownloadJob, finished: &Finished) -> Option<Expected> {
    if let Some(sha) = job.spec.sha256() {
        return Some(Expected::AppSha256(sha));
    }
    if let Some(sha) = text(&finished.headers, "repr-digest").and_then(digest::repr_digest_sha256) {
        return Some(Expected::ServerSha256(sha));
    }
    // `Content-MD5` covers the bytes of this body: only a whole, unencoded one is the
    // file.
    (finished.status == 200 && finished.coding == Coding::Identity)
        .then(|| text(&finished.headers, "content-md5").and_then(digest::content_md5))
        .flatten()
        .map(Expected::ServerMd5)
}

/// The finished bytes are wrong: the partial file is emptied and the store told
/// (durably), then the first mismatch is retried from zero and the second fails.
async fn mismatch(
    job: &mut DownloadJob,
    progress: &AttemptProgress,
    mut partial: Partial,
    reason: String,
) -> AttemptOutcome {
    let failures = job.record.digest_failures;
    let mut record = fresh(&job.record);
    record.digest_failures = failures.saturating_add(1);
    if let Err(outcome) = start_over(job, progress, &mut partial, Coding::Identity, record).await {
        return outcome;
    }
    let error = |advice: &str| {
        TransferError::new(FailureKind::DigestMismatch, format!("{reason}; {advice}"))
    };
    if failures == 0 {
        AttemptOutcome::DownloadRetry(error("fetching it again from the start"))
    } else {
        // Final: the emptied partial file does not stay in the folder.
        discard_partial(job).await;
        AttemptOutcome::Rejected(error(
            "it was fetched twice with the same result: check the expected digest or \
             the file on the server",
        ))
    }
}

/// Under `ConflictRule::Fail`, a destination that is already taken fails the download
/// before anything is fetched (the check at the finish still stands: the name can be
/// taken meanwhile). Any partial file it held goes.
pub(super) async fn refuse_taken_destination(
    job: &DownloadJob,
    destination: &Path,
) -> Result<(), AttemptOutcome> {
    if job.spec.on_conflict != ConflictRule::Fail {
        return Ok(());
    }
    let owned = destination.to_owned();
    let free = tokio::task::spawn_blocking(move || partial::target(&owned, ConflictRule::Fail))
        .await
        .map_err(|_| unwritable(io::Error::other("the destination check was cancelled")))?
        .is_some();
    if free {
        return Ok(());
    }
    discard_partial(job).await;
    Err(exists(destination))
}

/// Removes the partial file of a download that failed for good (its record holds no
/// placement, so a retry starts from an empty one). A failure to remove it is only
/// logged: the download's outcome stands.
pub(super) async fn discard_partial(job: &DownloadJob) {
    let partial = job.partial.clone();
    let removed = tokio::task::spawn_blocking(move || std::fs::remove_file(&partial)).await;
    if let Ok(Err(error)) = removed
        && error.kind() != io::ErrorKind::NotFound
    {
        log::warn!(
            "download {}: could not remove its partial file: {error}",
            job.checkpoints.transfer_id()
        );
    }
}

/// The record of a download that holds nothing: validators and placement forgotten, its
/// digest failures kept.
pub(super) fn fresh(record: &DownloadRecord) -> DownloadRecord {
    DownloadRecord {
        digest_failures: record.digest_failures,
        ..DownloadRecord::default()
    }
}

pub(super) fn text(headers: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

pub(super) fn success(status: u16, headers: &HeaderMap) -> AttemptOutcome {
    let status = if status == StatusCode::RANGE_NOT_SATISFIABLE.as_u16() {
        200 // complete: the file is what the server has
    } else {
        status
    };
    AttemptOutcome::Response {
        status,
        retry_after: None,
        answer: Some(Box::new(ServerResponse::received(
            status,
            header_pairs(headers),
            Vec::new(),
            false,
        ))),
    }
}

pub(super) fn unusable(message: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::Rejected(TransferError::new(
        FailureKind::UnusableResponse,
        message.into(),
    ))
}

fn exists(path: &Path) -> AttemptOutcome {
    AttemptOutcome::Rejected(TransferError::new(
        FailureKind::DestinationExists,
        format!(
            "{} already exists and the download's conflict rule is Fail; remove it, or \
             enqueue the download with ConflictRule::Replace or KeepBoth",
            path.display()
        ),
    ))
}

/// [`unwritable`], for a partial file whose creation found no room on its volume
/// ([`partial::no_room`]): `job`'s record, which holds the size the first answer told, is
/// reported, so that the next launch checks the space without a request.
pub(super) fn unwritable_for(job: &DownloadJob, error: io::Error) -> AttemptOutcome {
    if let Some(reason) = partial::no_room(&error) {
        job.checkpoints.report_download(job.record.clone());
        return AttemptOutcome::OutOfSpace(reason.clone());
    }
    unwritable(error)
}

/// A failure to write the partial file or to put it in place: a full volume is waited
/// out (retried, no attempt used up), anything else is for the app to fix.
pub(super) fn unwritable(error: io::Error) -> AttemptOutcome {
    let error_text = error.to_string();
    if error.kind() == io::ErrorKind::StorageFull {
        return AttemptOutcome::OutOfSpace(TransferError::new(
            FailureKind::InsufficientSpace,
            format!(
                "the destination's volume is full ({error_text}); free space there, and the \
                 download continues on its own (tried again every {} s)",
                crate::disk_space::RECHECK_EVERY.as_secs()
            ),
        ));
    }
    AttemptOutcome::Rejected(TransferError::new(
        FailureKind::DestinationUnwritable,
        format!(
            "the download could not be written beside its destination ({error_text}); check \
             the folder's permissions and space"
        ),
    ))
}
