//! Resumable uploads (tus 1.0, IETF draft): one attempt that continues where the server is.
//!
//! An attempt creates the upload resource (or reuses the stored one), asks the server for
//! its offset (`HEAD`), and appends the rest of the file (`PATCH`), in parts no larger
//! than the server's `max-append-size` (and of bounded size while tus checksums are on,
//! since a part with a checksum is all or nothing). On 409 it asks for the offset again,
//! on 404/410 it creates a new resource, on 413 it makes the parts smaller or fails with
//! `UploadTooLarge`.
//!
//! The resource URL and each confirmed offset reach the store only through the actor, as
//! `Checkpoint`s on a channel; a new resource's URL is durable before any byte is sent
//! to it, so no byte ever goes to a resource Ferry could forget (a crash between creation
//! and commit leaves an empty resource, which a server honouring `Idempotency-Key` hands
//! back on the next creation). This module must never
//! touch the store, retry after a failure (the actor's retry policy decides), or hold a
//! file in memory.

mod checksum;
mod ietf;
mod limits;
mod session;
mod tus;

use std::sync::Arc;

use self::session::Session;
#[cfg(feature = "fuzzing")]
pub(crate) use self::{
    ietf::says_complete, limits::UploadLimits, session::upload_offset, tus::capabilities,
};
use super::attempt_progress::AttemptProgress;
use super::client::HttpLane;
use super::error_text::describe;
use super::job::{AttemptJob, ResumableJob};
use crate::outcome::AttemptOutcome;
use crate::resumable::ResumableProtocol;
use crate::upload_resource::UploadResource;

/// Runs one resumable attempt to its outcome.
pub(crate) async fn send(
    lane: &HttpLane,
    job: AttemptJob,
    plan: ResumableJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    let mut session = Session::new(lane, &job, plan.protocol, plan.checkpoints, progress);
    let stored = plan
        .stored
        .filter(|record| record.protocol == plan.protocol)
        .map(|record| record.upload_url);
    match session.run(stored).await {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

/// `DELETE`s an upload resource (tus termination, IETF cancellation). Best effort: a
/// server that cannot be reached lets the resource expire on its own.
pub(crate) async fn terminate(
    client: reqwest::Client,
    record: UploadResource,
    headers: Vec<(String, String)>,
) {
    let mut builder = client.delete(&record.upload_url);
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    builder = match record.protocol {
        ResumableProtocol::Tus => tus::termination(builder),
        ResumableProtocol::Ietf { interop_version } => ietf::termination(builder, interop_version),
    };
    match builder.send().await {
        Ok(response) => log::debug!(
            "terminated an upload resource: HTTP {}",
            response.status().as_u16()
        ),
        Err(error) => log::warn!(
            "could not terminate an upload resource; the server will expire it: {}",
            describe(error)
        ),
    }
}
