//! What the actor hands the in-process lane for one attempt: an [`AttemptJob`] (copied out
//! of the transfer record) and, for a resumable upload, its [`ResumableJob`], for a
//! download its [`DownloadJob`]; and opening
//! the job's source as it was enqueued.
//!
//! Must never send anything or touch the store.

use std::path::PathBuf;

use super::checkpoint::Checkpoints;
use super::file_body::{SourceFile, Window};
use crate::download::DownloadSpec;
use crate::download_record::DownloadRecord;
use crate::error::TransferError;
use crate::resumable::ResumableProtocol;
use crate::upload::{SourceSnapshot, UploadMethod};
use crate::upload_resource::UploadResource;

/// What to send, copied out of the transfer record.
#[derive(Clone, Debug)]
pub(crate) struct AttemptJob {
    pub id: String,
    pub source: PathBuf,
    pub snapshot: SourceSnapshot,
    pub url: String,
    pub method: UploadMethod,
    pub headers: Vec<(String, String)>,
    /// Set when the file goes through a resumable protocol (`http/resumable`).
    pub resumable: Option<ResumableJob>,
    /// Set for a download (`http/download`): then `source` is the local file written and
    /// `url` the file fetched; `method` and `snapshot` mean nothing.
    /// Boxed: most jobs are uploads, and the job is moved into every attempt's future.
    pub download: Option<Box<DownloadJob>>,
}

/// What the actor hands a download's attempt.
#[derive(Clone, Debug)]
pub(crate) struct DownloadJob {
    /// The partial file Ferry owns beside the destination.
    pub partial: PathBuf,
    /// What the store holds: where the partial file is durable, and what it is pinned to.
    pub record: DownloadRecord,
    /// Expected size and digest, conflict rule.
    pub spec: DownloadSpec,
    pub checkpoints: Checkpoints,
    /// The names of the attempt's headers the authorizer supplied: like every secret, a
    /// redirect never carries them to another origin.
    pub authorizer_headers: Vec<String>,
}

/// What the actor hands an attempt that uses a resumable protocol.
#[derive(Clone, Debug)]
pub(crate) struct ResumableJob {
    pub protocol: ResumableProtocol,
    /// The resource an earlier attempt created, if any.
    pub stored: Option<UploadResource>,
    pub checkpoints: Checkpoints,
}

/// Opens the job's whole source, if it is still the file that was enqueued.
pub(super) async fn open_unchanged(job: &AttemptJob) -> Result<SourceFile, TransferError> {
    SourceFile::open(&job.source, job.snapshot, Window::whole(job.snapshot)).await
}
