//! The in-process lane: Ferry's own HTTP client (reqwest), which runs attempts in this
//! process. The other lane, the OS's background-transfer service, is `platform/`.
//!
//! An attempt here reports an [`crate::outcome::AttemptOutcome`] (and, for a resumable
//! upload, checkpoints with its upload resource and confirmed offsets); it must never
//! change a transfer's state, retry on its own, or touch the store. Those decisions belong
//! to the actor, so both lanes are classified, limited and retried the same way.

mod attempt;
mod attempt_progress;
mod batch;
mod cached_read;
mod checkpoint;
mod client;
mod download;
mod error_text;
mod file_body;
mod gate;
mod job;
mod open_source;
mod response;
mod resumable;
mod send_failure;
mod tls_trust;
mod unprocessed;
mod watchdog;

pub(crate) use attempt::run_attempt;
pub(crate) use attempt_progress::AttemptProgress;
pub(crate) use batch::{BatchOutcome, BatchPart, run_batch_attempt};
pub(crate) use checkpoint::{Checkpoint, Checkpoints, Saved};
pub(crate) use client::{HttpLane, build_http_lane};
pub(crate) use download::{SegmentJob, apply_segment, remove_segments};
pub(crate) use gate::{Arrival, Floor, Gated, HostGate, run_gated};
pub(crate) use job::{AttemptJob, DownloadJob, ResumableJob};
pub(crate) use open_source::open_for_reading;
pub(crate) use resumable::terminate;
/// The parsers of outside input, for the fuzz targets (`crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub(crate) mod parsers {
    pub(crate) use super::batch::outcomes_from_results;
    pub(crate) use super::download::parsers::*;
    pub(crate) use super::resumable::{UploadLimits, capabilities, says_complete, upload_offset};
}
