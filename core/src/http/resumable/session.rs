//! One resumable attempt as a small state machine: create or sync (`HEAD`), then append
//! (`PATCH`) part by part, reacting to 409, 404/410 and 413 as `mod.rs` describes.
//!
//! Must never touch the store (it reports checkpoints), retry after a failure (the actor
//! does), or hold a file in memory (parts stream through `file_body`).

use std::sync::{Arc, OnceLock};

use reqwest::header::LOCATION;
use reqwest::{Method, RequestBuilder, Response};
use sha2::{Digest, Sha256};

use super::checksum::upload_checksum;
use super::limits::UploadLimits;
use super::tus::TusCapabilities;
use super::{ietf, tus};
use crate::descriptors::{self, source_outcome};
use crate::error::{FailureKind, TransferError};
use crate::http::attempt_progress::AttemptProgress;
use crate::http::checkpoint::Checkpoints;
use crate::http::client::HttpLane;
use crate::http::file_body::{SourceFile, Window, file_body};
use crate::http::job::{AttemptJob, open_unchanged};
use crate::http::response::{answer_of, drain_response, header_pairs, outcome_of};
use crate::http::send_failure::send_failure;
use crate::outcome::AttemptOutcome;
use crate::resumable::ResumableProtocol;
use crate::server_response::ServerResponse;
use crate::upload_resource::UploadResource;

/// A part sent with a tus checksum is kept or dropped whole by the server, so an
/// interruption loses at most this much.
const CHECKSUMMED_PART: u64 = 8 * 1024 * 1024;
/// Requests one attempt may make at most; each step either moves bytes or ends the
/// attempt, so this only guards against a server that keeps answering 409.
const MAX_STEPS: u32 = 10_000;
/// 409 answers in a row before the attempt gives up (and is retried by the actor).
const MAX_RESYNCS: u32 = 3;

enum Step {
    Create,
    Sync { url: String },
    Append { url: String, offset: u64 },
}

/// What a `PATCH` answer means.
enum Appended {
    To(u64),
    Conflict,
    Gone,
    TooLarge,
}

pub(super) struct Session<'a> {
    lane: &'a HttpLane,
    job: &'a AttemptJob,
    protocol: ResumableProtocol,
    checkpoints: Checkpoints,
    progress: Arc<AttemptProgress>,
    limits: UploadLimits,
    tus: TusCapabilities,
    /// The answer that completed the upload (the last `PATCH`'s, or the `HEAD`'s that
    /// found it complete), kept as the server's answer.
    final_answer: Option<ServerResponse>,
}

impl<'a> Session<'a> {
    pub(super) fn new(
        lane: &'a HttpLane,
        job: &'a AttemptJob,
        protocol: ResumableProtocol,
        checkpoints: Checkpoints,
        progress: Arc<AttemptProgress>,
    ) -> Self {
        Self {
            lane,
            job,
            protocol,
            checkpoints,
            progress,
            limits: UploadLimits::default(),
            tus: TusCapabilities::default(),
            final_answer: None,
        }
    }

    pub(super) async fn run(
        &mut self,
        stored: Option<String>,
    ) -> Result<AttemptOutcome, AttemptOutcome> {
        drop(open_unchanged(self.job).await.map_err(source_outcome)?);
        if self.protocol == ResumableProtocol::Tus {
            self.discover_tus().await?;
        }
        let size = self.job.snapshot.size;
        let mut step = match stored {
            Some(url) => Step::Sync { url },
            None => Step::Create,
        };
        let (mut creations, mut resyncs) = (0u32, 0u32);
        // The resource the next creation replaces, if one was lost.
        let mut replaces: Option<String> = None;
        for _ in 0..MAX_STEPS {
            step = match step {
                Step::Create => {
                    creations += 1;
                    if creations > 2 {
                        return Err(AttemptOutcome::Network {
                            message: "the server lost the upload resource twice in one attempt"
                                .into(),
                        });
                    }
                    let url = self.create(replaces.as_deref()).await?;
                    Step::Append { url, offset: 0 }
                }
                Step::Sync { url } => match self.sync(&url).await? {
                    Some((offset, complete)) if offset <= size => {
                        if complete && offset == size {
                            return Ok(self.completed(200));
                        }
                        self.confirm(&url, offset);
                        Step::Append { url, offset }
                    }
                    // Gone, or longer than the file: this resource is not ours to continue.
                    _ => {
                        replaces = Some(url);
                        Step::Create
                    }
                },
                Step::Append { url, offset } => {
                    let length = self.part_length(size.saturating_sub(offset));
                    let completes = offset + length == size;
                    match self.append(&url, offset, length, completes).await? {
                        Appended::To(new_offset) if completes && new_offset >= size => {
                            self.confirm(&url, size);
                            return Ok(self.completed(204));
                        }
                        Appended::To(new_offset) => {
                            resyncs = 0;
                            if new_offset == offset || new_offset > size {
                                // No progress, or an offset past the file: ask the server
                                // again (`Sync` creates anew if the resource is not ours).
                                Step::Sync { url }
                            } else {
                                self.confirm(&url, new_offset);
                                Step::Append {
                                    url,
                                    offset: new_offset,
                                }
                            }
                        }
                        Appended::Conflict => {
                            resyncs += 1;
                            if resyncs > MAX_RESYNCS {
                                return Err(AttemptOutcome::Network {
                                    message: "the server kept refusing the upload offset (409)"
                                        .into(),
                                });
                            }
                            Step::Sync { url }
                        }
                        Appended::Gone => {
                            replaces = Some(url);
                            Step::Create
                        }
                        Appended::TooLarge => {
                            self.after_too_large(length)?;
                            Step::Append { url, offset }
                        }
                    }
                }
            };
        }
        Err(AttemptOutcome::Network {
            message: "the resumable upload made no progress within its request budget".into(),
        })
    }

    /// How much the next `PATCH` carries.
    fn part_length(&self, remaining: u64) -> u64 {
        let mut length = remaining;
        if let Some(max) = self.limits.max_append_size.filter(|max| *max > 0) {
            length = length.min(max);
        }
        if self.tus.checksum.is_some() {
            length = length.min(CHECKSUMMED_PART);
        }
        length
    }

    /// A 413 on a `PATCH`: smaller parts if the server now says how small, else a typed
    /// failure.
    fn after_too_large(&mut self, sent: u64) -> Result<(), AttemptOutcome> {
        let size = self.job.snapshot.size;
        if let Some(max) = self.limits.max_size.filter(|max| *max < size) {
            return Err(too_large(size, max));
        }
        match self.limits.max_append_size {
            Some(max) if max > 0 && max < sent => Ok(()),
            _ => Err(AttemptOutcome::Response {
                status: 413,
                retry_after: None,
                answer: None,
            }),
        }
    }

    /// The success of a completed upload, with the answer that completed it (`status` if
    /// none was read).
    fn completed(&mut self, status: u16) -> AttemptOutcome {
        let answer = self.final_answer.take();
        AttemptOutcome::Response {
            status: answer.as_ref().map_or(status, |answer| answer.status),
            retry_after: None,
            answer: answer.map(Box::new),
        }
    }

    /// The outcome of an answer that ends the attempt.
    async fn outcome_of(&self, response: Response) -> AttemptOutcome {
        let (stall_timeout, keep) = (self.lane.stall_timeout, self.lane.response_body_limit);
        outcome_of(response, &self.progress, stall_timeout, keep).await
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let mut builder = self.lane.client.request(method, url);
        for (name, value) in &self.job.headers {
            builder = builder.header(name, value);
        }
        builder
    }

    /// Sends a request without a body; every answer reached here moved the attempt on.
    async fn exchange(&self, builder: RequestBuilder) -> Result<Response, AttemptOutcome> {
        let response = builder.send().await.map_err(send_failure)?;
        self.progress.touch();
        Ok(response)
    }

    async fn discover_tus(&mut self) -> Result<(), AttemptOutcome> {
        let builder = tus::discovery(self.request(Method::OPTIONS, &self.job.url));
        let response = self.exchange(builder).await?;
        if response.status().is_success() {
            self.tus = tus::capabilities(response.headers());
        }
        self.limits
            .merge(UploadLimits::from_headers(response.headers()));
        drain_response(response, &self.progress, self.lane.stall_timeout).await;
        Ok(())
    }

    /// Creates the upload resource. Its `Idempotency-Key` is the transfer id, so a server
    /// that honours it answers a creation repeated after a crash with the same resource;
    /// a creation that replaces a lost resource gets a key derived from the lost one, so
    /// that it is not answered with the resource that is gone.
    async fn create(&mut self, replaces: Option<&str>) -> Result<String, AttemptOutcome> {
        let size = self.job.snapshot.size;
        let key = match replaces {
            None => self.job.id.clone(),
            Some(lost) => {
                let digest = hex::encode(&Sha256::digest(lost.as_bytes())[..8]);
                format!("{}.{digest}", self.job.id)
            }
        };
        let builder = self
            .request(Method::POST, &self.job.url)
            .header(&self.lane.idempotency_header, key);
        let builder = match self.protocol {
            ResumableProtocol::Tus => tus::creation(builder, size, &file_name(self.job)),
            ResumableProtocol::Ietf { interop_version } => {
                ietf::creation(builder, interop_version, size)
            }
        };
        let response = self.exchange(builder).await?;
        let status = response.status().as_u16();
        self.limits
            .merge(UploadLimits::from_headers(response.headers()));
        if status == 413 {
            let max = self.limits.max_size.unwrap_or(0);
            return Err(too_large(size, max));
        }
        if !response.status().is_success() {
            return Err(self.outcome_of(response).await);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        drain_response(response, &self.progress, self.lane.stall_timeout).await;
        let Some(location) = location else {
            return Err(AttemptOutcome::Rejected(TransferError::with_status(
                FailureKind::HttpStatus,
                status,
                "the server created an upload but did not say where (no Location header); \
                 check that the destination is its upload-creation endpoint",
            )));
        };
        let url = url::Url::parse(&self.job.url)
            .and_then(|base| base.join(&location))
            .map_err(|error| {
                AttemptOutcome::Rejected(TransferError::with_status(
                    FailureKind::HttpStatus,
                    status,
                    format!("the server's Location header is not a valid URL: {error}"),
                ))
            })?
            .to_string();
        self.checkpoints
            .report_durably(UploadResource {
                protocol: self.protocol,
                upload_url: url.clone(),
                confirmed_offset: 0,
            })
            .await?;
        self.progress
            .bytes_sent
            .store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(url)
    }

    /// `HEAD`: the server's offset and whether it considers the upload complete, or
    /// `None` when the resource is gone.
    async fn sync(&mut self, url: &str) -> Result<Option<(u64, bool)>, AttemptOutcome> {
        let builder = self.request(Method::HEAD, url);
        let builder = match self.protocol {
            ResumableProtocol::Tus => tus::head(builder),
            ResumableProtocol::Ietf { interop_version } => ietf::head(builder, interop_version),
        };
        let response = self.exchange(builder).await?;
        let status = response.status().as_u16();
        self.limits
            .merge(UploadLimits::from_headers(response.headers()));
        if matches!(status, 404 | 410) {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(self.outcome_of(response).await);
        }
        let Some(offset) = upload_offset(response.headers()) else {
            return Err(AttemptOutcome::Rejected(TransferError::with_status(
                FailureKind::HttpStatus,
                status,
                "the server's answer has no valid Upload-Offset; it does not speak the protocol \
                 configured for this destination",
            )));
        };
        let size = self.job.snapshot.size;
        let complete = match self.protocol {
            ResumableProtocol::Tus => offset == size,
            ResumableProtocol::Ietf { interop_version } => {
                ietf::says_complete(response.headers(), interop_version).unwrap_or(false)
            }
        };
        if complete && offset == size {
            let headers = header_pairs(response.headers());
            self.final_answer = Some(ServerResponse::received(status, headers, Vec::new(), false));
        }
        Ok(Some((offset, complete)))
    }

    async fn append(
        &mut self,
        url: &str,
        offset: u64,
        length: u64,
        completes: bool,
    ) -> Result<Appended, AttemptOutcome> {
        let job = self.job;
        // Opened (and checked to be the regular file enqueued) before the checksum reads it.
        let window = Window { offset, length };
        let file = SourceFile::open(&job.source, job.snapshot, window)
            .await
            .map_err(source_outcome)?;
        let checksum = match self.tus.checksum {
            Some(algorithm) if self.protocol == ResumableProtocol::Tus => Some(
                upload_checksum(&job.source, offset, length, algorithm)
                    .await
                    .map_err(|error| unreadable(&error))?,
            ),
            _ => None,
        };
        self.progress
            .bytes_sent
            .store(offset, std::sync::atomic::Ordering::Relaxed);
        let problem = Arc::new(OnceLock::new());
        let body = file_body(file, Arc::clone(&self.progress), Arc::clone(&problem));
        let builder = self.request(Method::PATCH, url);
        let builder = match self.protocol {
            ResumableProtocol::Tus => tus::patch(builder, offset, length, checksum),
            ResumableProtocol::Ietf { interop_version } => {
                ietf::patch(builder, interop_version, offset, length, completes)
            }
        };
        let sent = builder.body(reqwest::Body::wrap_stream(body)).send().await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                return Err(match problem.get() {
                    Some(source_problem) => AttemptOutcome::Source(source_problem.clone()),
                    None => send_failure(error),
                });
            }
        };
        self.progress.touch();
        self.limits
            .merge(UploadLimits::from_headers(response.headers()));
        let status = response.status().as_u16();
        let appended = match status {
            200..=299 => Appended::To(upload_offset(response.headers()).unwrap_or(offset + length)),
            409 => Appended::Conflict,
            404 | 410 => Appended::Gone,
            413 => Appended::TooLarge,
            // tus checksum mismatch: the part was dropped; the actor retries the attempt.
            460 => {
                drain_response(response, &self.progress, self.lane.stall_timeout).await;
                return Err(AttemptOutcome::Network {
                    message: "the server found a checksum mismatch in a part (460)".into(),
                });
            }
            _ => return Err(self.outcome_of(response).await),
        };
        let size = self.job.snapshot.size;
        if completes && matches!(appended, Appended::To(new_offset) if new_offset >= size) {
            // The upload is complete: this is the final answer, whatever its body does.
            self.progress.mark_answered();
            let (stall_timeout, keep) = (self.lane.stall_timeout, self.lane.response_body_limit);
            self.final_answer =
                Some(answer_of(response, &self.progress, stall_timeout, keep).await);
        } else {
            drain_response(response, &self.progress, self.lane.stall_timeout).await;
        }
        Ok(appended)
    }

    /// Reports an offset the server confirmed (best effort: the next `HEAD` is the truth).
    fn confirm(&self, url: &str, offset: u64) {
        self.checkpoints.report(
            UploadResource {
                protocol: self.protocol,
                upload_url: url.to_owned(),
                confirmed_offset: offset,
            },
            None,
        );
    }
}

/// The `Upload-Offset` of an answer, if it carries a valid one.
pub(crate) fn upload_offset(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("upload-offset")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
}

fn too_large(size: u64, max: u64) -> AttemptOutcome {
    let limit = if max > 0 {
        format!("at most {max} bytes (Upload-Limit max-size)")
    } else {
        "less than this file".to_owned()
    };
    AttemptOutcome::Rejected(TransferError::with_status(
        FailureKind::UploadTooLarge,
        413,
        format!(
            "the server accepts {limit} and this file has {size} bytes; send a smaller file or raise the server's limit"
        ),
    ))
}

fn unreadable(error: &std::io::Error) -> AttemptOutcome {
    if descriptors::is_exhaustion(error) {
        return AttemptOutcome::OutOfDescriptors(descriptors::too_many_open_files(
            "the source",
            error,
        ));
    }
    AttemptOutcome::Source(TransferError::new(
        FailureKind::SourceUnreadable,
        format!("reading the source failed: {error}"),
    ))
}

fn file_name(job: &AttemptJob) -> String {
    job.source
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned())
}
