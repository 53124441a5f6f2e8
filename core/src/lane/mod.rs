//! Lanes move bytes. The in-process lane is Ferry's own HTTP client.
//!
//! A lane runs one attempt and reports an [`crate::classify::AttemptOutcome`] (and, for a
//! resumable upload, checkpoints with its upload resource and confirmed offsets); it must
//! never change a transfer's state, retry on its own, or touch the store. Those decisions
//! belong to the actor, so every lane is classified, limited and retried the same way.

mod attempt;
mod batch;
mod cached_read;
mod client;
mod descriptors;
mod file_body;
mod gate;
mod open_source;
mod resumable;
mod send_failure;
mod tls_trust;
mod unprocessed;

pub(crate) use attempt::{AttemptJob, AttemptProgress, run_attempt};
pub(crate) use batch::{BatchOutcome, BatchPart, run_batch_attempt};
pub(crate) use client::{HttpLane, build_http_lane};
pub(crate) use gate::{Gated, HostGate, run_gated};
pub(crate) use resumable::{Checkpoint, Checkpoints, ResumableJob, terminate};
