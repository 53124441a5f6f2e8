//! Lanes move bytes. The in-process lane is Ferry's own HTTP client.
//!
//! A lane runs one attempt and reports an [`crate::classify::AttemptOutcome`]; it must
//! never change a transfer's state, retry on its own, or touch the store. Those decisions
//! belong to the actor, so every lane is classified, limited and retried the same way.

mod attempt;
mod batch;
mod client;
mod file_body;

pub(crate) use attempt::{AttemptJob, AttemptProgress, run_attempt};
pub(crate) use batch::{BatchOutcome, BatchPart, run_batch_attempt};
pub(crate) use client::{HttpLane, build_http_lane};
