//! Downloads on the in-process lane: one attempt that fetches a file into Ferry's partial
//! file beside its destination, continuing where the store says the partial is durable,
//! and puts it in place when it is complete and checked.
//!
//! An attempt: opens the partial file and cuts it to the recorded offset; asks from there
//! (`Range`, pinned with `If-Range` to the recorded strong ETag, else Last-Modified), with
//! `Accept-Encoding: identity`; decides from the answer (`range.rs`) to continue, start
//! again from zero (a 200: the file is emptied, never appended to), accept a 416 as
//! complete, or discard the answer and ask again from zero (at most [`MAX_ROUNDS`] times);
//! streams the body into the file (`partial.rs`), syncing it and reporting the offset
//! every [`CHECKPOINT_EVERY`] bytes and when the attempt fails (also when the volume
//! fills up: what reached the file is kept, the outcome `OutOfSpace`); checks the length
//! and the digest (`digest.rs`); records the name it is about to use, durably, then renames the
//! file into place and syncs the folder. The actor records `Succeeded` after that.
//!
//! An origin that answers a range of an unchanged file with the whole file is remembered
//! (`ignored_ranges.rs`): its downloads then ask from zero and skip checkpoints.
//!
//! A redirect is followed within the attempt, a bounded number of hops, and never carries
//! a secret to another origin (`redirect.rs`).
//!
//! An answer in an encoding other than `identity` (asked for, but servers do it) is
//! decoded (gzip, deflate) and not resumable: no offset is recorded for it.
//!
//! Like every in-process attempt this module must never touch the store (offsets reach
//! it as checkpoints through the actor), retry on its own beyond the restarts above, or
//! hold a file in memory. It watches for stalls itself, so that a stalled body still
//! reports the bytes it wrote.

mod chunks;
mod digest;
mod finish;
mod folder_sync;
mod ignored_ranges;
mod partial;
mod range;
mod redirect;
mod segment;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE,
    LAST_MODIFIED, RANGE,
};
use tokio::time::Instant;
use url::Url;

pub(crate) use self::ignored_ranges::RangeIgnoringResources;

use self::finish::{Finished, fresh, success, text, unusable, unwritable};
use self::partial::{Coding, Partial};
use self::range::{Answer, Plan};
use super::attempt_progress::AttemptProgress;
use super::client::HttpLane;
use super::error_text::describe;
use super::job::{AttemptJob, DownloadJob};
use super::response::outcome_of;
use super::send_failure::send_failure;
use super::watchdog::with_stall_watchdog;
use crate::auth::redact_url;
use crate::disk_space;
use crate::download_record::DownloadRecord;
use crate::outcome::AttemptOutcome;

pub(crate) use self::segment::{SegmentJob, apply_segment, remove_segments};

/// The parsers of a download's answers, for the fuzz targets (`crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) mod parsers {
    pub(crate) use super::digest::{content_md5, repr_digest_sha256};
    pub(crate) use super::range::{
        Answer, Plan, SegmentPlan, parse_content_range, plan, plan_segment,
    };
}

/// Answers discarded in one attempt (a wrong 206, a 416 for another file) before it gives
/// up: each is followed by a request from zero, so only a server that keeps contradicting
/// itself reaches it.
const MAX_ROUNDS: u32 = 3;

/// Bytes between two checkpoints of a running download (each a `fdatasync` and a record in
/// the store): at most this much is fetched again after a crash.
const CHECKPOINT_EVERY: u64 = 8 * 1024 * 1024;

/// Time between two checkpoints of a download that holds bytes not yet checkpointed, while
/// its body flows or while it waits for the next bytes: a slow or paused download, or one
/// stopped by a shutdown or a kill, loses at most this much of its transfer.
const CHECKPOINT_AFTER: Duration = Duration::from_secs(1);

/// Runs one download attempt to its outcome.
pub(crate) async fn run(
    lane: &HttpLane,
    job: AttemptJob,
    plan: DownloadJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    let url = match Url::parse(&job.url) {
        Ok(url) => url,
        Err(error) => {
            return unusable(format!(
                "the download's URL {} is not a URL ({error}); enqueue it with an http or \
                 https URL",
                redact_url(&job.url)
            ));
        }
    };
    let mut fetch = Fetch {
        lane,
        url,
        headers: job.headers,
        destination: job.source,
        job: plan,
        progress,
    };
    match fetch.run().await {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

struct Fetch<'a> {
    lane: &'a HttpLane,
    /// Where every request of the attempt starts (redirects are followed from it).
    url: Url,
    headers: Vec<(String, String)>,
    destination: PathBuf,
    job: DownloadJob,
    progress: Arc<AttemptProgress>,
}

impl Fetch<'_> {
    async fn run(&mut self) -> Result<AttemptOutcome, AttemptOutcome> {
        if let Some(done) = self.placed_before().await? {
            return Ok(done);
        }
        finish::refuse_taken_destination(&self.job, &self.destination).await?;
        let (mut partial, mut held) = Partial::open(&self.job.partial, self.job.record.offset)
            .await
            .map_err(unwritable)?;
        if held < self.job.record.offset {
            // Shorter than recorded (removed, or a volume that lost it): nothing it holds
            // is vouched for.
            self.job.record = fresh(&self.job.record);
        }
        // A server known to ignore ranges is asked from zero, and nothing of its bodies is
        // checkpointed.
        let resumable_origin = !self.lane.range_ignoring.contains(&self.url);
        for _ in 0..MAX_ROUNDS {
            let offset = if held > 0 && resumable_origin && self.job.record.if_range().is_some() {
                held
            } else {
                0
            };
            let mut response = self.send(offset).await?;
            let headers = response.headers().clone();
            let coding = Coding::of(text(&headers, CONTENT_ENCODING));
            let answer = Answer {
                status: response.status().as_u16(),
                content_range: text(&headers, CONTENT_RANGE),
                content_length: text(&headers, CONTENT_LENGTH).and_then(|v| v.parse().ok()),
                etag: text(&headers, ETAG),
                last_modified: text(&headers, LAST_MODIFIED),
                encoded: coding != Some(Coding::Identity),
            };
            let status = answer.status;
            match range::plan(&answer, offset, &self.job.record) {
                Plan::Status => return Err(self.status_outcome(response).await),
                Plan::Restart(reason) => {
                    log::info!("download {}: discarded an answer: {reason}", self.job.id());
                    drop(response);
                    self.start_over(&mut partial, Coding::Identity, fresh(&self.job.record))
                        .await?;
                    held = 0;
                }
                Plan::Complete { total } => {
                    self.job.record.total = Some(total);
                    let finished = Finished {
                        status,
                        headers,
                        coding: Coding::Identity,
                    };
                    return self.finish(partial, finished).await;
                }
                Plan::FromZero {
                    total,
                    range_ignored,
                } => {
                    if range_ignored && self.lane.range_ignoring.remember(&self.url) {
                        log::info!(
                            "{} ignores Range: its downloads start from zero after a cut",
                            self.url.origin().ascii_serialization()
                        );
                    }
                    let Some(coding) = coding else {
                        return Err(unusable(format!(
                            "the server sent the file encoded as {:?}, which Ferry cannot \
                             decode; serve it without Content-Encoding",
                            text(&headers, CONTENT_ENCODING).unwrap_or_default()
                        )));
                    };
                    let identity = coding == Coding::Identity;
                    let record = DownloadRecord {
                        etag: answer.etag.filter(|_| identity).map(str::to_owned),
                        last_modified: answer.last_modified.filter(|_| identity).map(str::to_owned),
                        total,
                        offset: 0,
                        digest_failures: self.job.record.digest_failures,
                        placing: None,
                    };
                    let size_was_unknown =
                        self.job.spec.expected_size.is_none() && self.job.record.total.is_none();
                    self.start_over(&mut partial, coding, record).await?;
                    if let Some(total) = total.filter(|_| identity && size_was_unknown) {
                        partial.check_room_at_creation(total);
                    }
                    let resumable = identity && !self.lane.range_ignoring.contains(&self.url);
                    self.stream(&mut response, &mut partial, 0, resumable)
                        .await?;
                    let finished = Finished {
                        status,
                        headers,
                        coding,
                    };
                    return self.finish(partial, finished).await;
                }
                Plan::Continue { total } => {
                    self.job.record.total = Some(total);
                    self.progress.start_at(held);
                    self.stream(&mut response, &mut partial, held, true).await?;
                    let finished = Finished {
                        status,
                        headers,
                        coding: Coding::Identity,
                    };
                    return self.finish(partial, finished).await;
                }
            }
        }
        Err(unusable(
            "the server kept answering with ranges or lengths that do not fit the file",
        ))
    }

    /// A GET from `offset` (0: the whole file), each request sent within the stall
    /// timeout, following redirects (`redirect.rs`) from the attempt's URL.
    async fn send(&self, offset: u64) -> Result<reqwest::Response, AttemptOutcome> {
        let mut url = self.url.clone();
        for _ in 0..=redirect::MAX_REDIRECTS {
            let response = self.get(&url, offset).await?;
            match redirect::target(&url, response.status(), response.headers()) {
                None => return Ok(response),
                Some(Err(reason)) => return Err(unusable(reason)),
                Some(Ok(next)) => {
                    log::debug!(
                        "download {}: redirected to {}",
                        self.job.id(),
                        redact_url(next.as_str())
                    );
                    url = next;
                }
            }
        }
        Err(unusable(format!(
            "the server redirected more than {} times; check the download's URL",
            redirect::MAX_REDIRECTS
        )))
    }

    /// One GET of `url` (the attempt's, or where it was redirected) from `offset`.
    async fn get(&self, url: &Url, offset: u64) -> Result<reqwest::Response, AttemptOutcome> {
        let mut builder = self.lane.client.get(url.clone());
        for (name, value) in redirect::headers_for(
            &self.url,
            url,
            &self.headers,
            &self.job.authorizer_headers,
            &self.lane.sensitive_headers,
        ) {
            builder = builder.header(name, value);
        }
        builder = builder.header(ACCEPT_ENCODING, "identity");
        if offset > 0
            && let Some(validator) = self.job.record.if_range()
        {
            builder = builder
                .header(RANGE, format!("bytes={offset}-"))
                .header(IF_RANGE, validator);
        }
        let request = builder.build().map_err(|error| AttemptOutcome::Network {
            message: describe(error),
        })?;
        self.progress.touch();
        let progress = &self.progress;
        match with_stall_watchdog(
            self.lane.client.execute(request),
            self.lane.stall_timeout,
            || progress.last_activity(),
            || false,
        )
        .await
        {
            None => Err(AttemptOutcome::Stalled),
            Some(Err(error)) => Err(send_failure(error)),
            Some(Ok(response)) => {
                progress.touch();
                Ok(response)
            }
        }
    }

    /// A status that is no file: its ordinary outcome (a 2xx that is neither 200 nor 206
    /// carries no file, so it is an unusable answer, not a success).
    async fn status_outcome(&self, response: reqwest::Response) -> AttemptOutcome {
        if response.status().is_success() {
            return unusable(format!(
                "the server answered {} instead of the file",
                response.status().as_u16()
            ));
        }
        outcome_of(
            response,
            &self.progress,
            self.lane.stall_timeout,
            self.lane.response_body_limit,
        )
        .await
    }

    /// Empties the partial file to write `coding`'s bytes from zero (`finish.rs`).
    async fn start_over(
        &mut self,
        partial: &mut Partial,
        coding: Coding,
        record: DownloadRecord,
    ) -> Result<(), AttemptOutcome> {
        finish::start_over(&mut self.job, &self.progress, partial, coding, record).await
    }

    /// Streams the body into `partial` after its first `start` bytes. A `resumable` body
    /// (identity-coded, with validators) reports its durable offset every
    /// [`CHECKPOINT_EVERY`] bytes, after [`CHECKPOINT_AFTER`] with bytes not yet
    /// checkpointed (also while it waits for the next ones), and when it ends early.
    async fn stream(
        &mut self,
        response: &mut reqwest::Response,
        partial: &mut Partial,
        start: u64,
        resumable: bool,
    ) -> Result<(), AttemptOutcome> {
        let mut checkpointed = 0;
        let mut checkpointed_at = Instant::now();
        // One timer for the whole body, moved on at each checkpoint (not one per chunk).
        let checkpoint_due = tokio::time::sleep_until(checkpointed_at + CHECKPOINT_AFTER);
        tokio::pin!(checkpoint_due);
        let progress = Arc::clone(&self.progress);
        let stall_timeout = self.lane.stall_timeout;
        loop {
            let waiting = with_stall_watchdog(
                response.chunk(),
                stall_timeout,
                || progress.last_activity(),
                || false,
            );
            tokio::pin!(waiting);
            let next = loop {
                if !resumable || partial.received() == checkpointed {
                    break waiting.await;
                }
                tokio::select! {
                    next = &mut waiting => break next,
                    () = &mut checkpoint_due => {
                        // No bytes for a while: those held become durable now.
                        checkpointed = self.checkpoint(partial, start).await?;
                        checkpointed_at = Instant::now();
                        checkpoint_due.as_mut().reset(checkpointed_at + CHECKPOINT_AFTER);
                    }
                }
            };
            let chunk = match next {
                Some(Ok(Some(chunk))) => chunk,
                Some(Ok(None)) => return Ok(()),
                Some(Err(error)) => {
                    self.keep_progress(partial, start, resumable).await;
                    return Err(send_failure(error));
                }
                None => {
                    self.keep_progress(partial, start, resumable).await;
                    return Err(AttemptOutcome::Stalled);
                }
            };
            self.progress.record_received(chunk.len() as u64);
            if let Err(error) = partial.append(chunk).await {
                return Err(self.write_failed(partial, start, resumable, error).await);
            }
            let unsaved = partial.received() - checkpointed;
            if resumable
                && (unsaved >= CHECKPOINT_EVERY
                    || checkpointed_at + CHECKPOINT_AFTER <= Instant::now())
            {
                checkpointed = self.checkpoint(partial, start).await?;
                checkpointed_at = Instant::now();
                checkpoint_due
                    .as_mut()
                    .reset(checkpointed_at + CHECKPOINT_AFTER);
            }
        }
    }

    /// Makes every byte received so far durable and reports the offset they reach;
    /// returns how many body bytes that covers.
    async fn checkpoint(
        &mut self,
        partial: &mut Partial,
        start: u64,
    ) -> Result<u64, AttemptOutcome> {
        if let Err(error) = partial.sync().await {
            return Err(self.write_failed(partial, start, true, error).await);
        }
        let received = partial.received();
        self.job.record.offset = start + received;
        self.job
            .checkpoints
            .report_download(self.job.record.clone());
        Ok(received)
    }

    /// Writing the partial file (after its first `start` bytes) failed. A full volume is
    /// waited out: what reached the file is synced and, if the download can resume,
    /// reported as its offset, so the next attempt asks only for the rest; anything else
    /// is for the app to fix.
    async fn write_failed(
        &mut self,
        partial: &mut Partial,
        start: u64,
        resumable: bool,
        error: io::Error,
    ) -> AttemptOutcome {
        if error.kind() != io::ErrorKind::StorageFull || partial::no_room(&error).is_some() {
            return finish::unwritable_for(&self.job, error);
        }
        let mut held = start + partial.received();
        if resumable && let Ok(length) = partial.keep_written().await {
            held = length;
            self.job.record.offset = length;
            self.job
                .checkpoints
                .report_download(self.job.record.clone());
        }
        let total = self.job.spec.expected_size.or(self.job.record.total);
        log::info!(
            "download {}: its volume filled up after {held} bytes",
            self.job.id()
        );
        AttemptOutcome::OutOfSpace(disk_space::ran_out(held, total, &error.to_string()))
    }

    /// After a cut: makes what arrived durable and reports it, so the next attempt asks
    /// only for the rest. Best effort: a failed sync reports nothing.
    async fn keep_progress(&mut self, partial: &mut Partial, start: u64, resumable: bool) {
        if !resumable || partial.received() == 0 || partial.sync().await.is_err() {
            return;
        }
        self.job.record.offset = start + partial.received();
        self.job
            .checkpoints
            .report_download(self.job.record.clone());
    }

    /// The body is complete: checked and put in place as every lane's (`finish.rs`).
    async fn finish(
        &mut self,
        partial: Partial,
        finished: Finished,
    ) -> Result<AttemptOutcome, AttemptOutcome> {
        finish::finish(
            &mut self.job,
            &self.progress,
            &self.destination,
            partial,
            finished,
        )
        .await
    }

    /// An earlier attempt recorded the name it was putting the file at and the file is
    /// there (it ended between the rename and the record of `Succeeded`).
    async fn placed_before(&self) -> Result<Option<AttemptOutcome>, AttemptOutcome> {
        let Some(target) = self.job.record.placing.clone() else {
            return Ok(None);
        };
        let partial = self.job.partial.clone();
        let length = self.job.record.offset;
        let placed =
            tokio::task::spawn_blocking(move || partial::already_placed(&partial, &target, length))
                .await
                .map_err(|_| unwritable(io::Error::other("the check was cancelled")))?
                .map_err(unwritable)?;
        Ok(placed.then(|| success(200, &reqwest::header::HeaderMap::new())))
    }
}

impl DownloadJob {
    fn id(&self) -> &crate::TransferId {
        self.checkpoints.transfer_id()
    }
}
