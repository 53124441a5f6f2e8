//! `Launch`: an in-process request (or an OS segment's apply) the turn recorded (`launch.rs`), to be spawned right
//! after its commit (`Effects::take_local`). Data only, so that the effects can carry it
//! without knowing how it is launched.
//!
//! Must never act: it holds what to send, never sends.

use std::sync::Arc;

use crate::TransferId;
use crate::http::{Arrival, AttemptJob, AttemptProgress, BatchPart, SegmentJob};

/// An in-process request to spawn once the turn has committed.
pub(super) struct Launch {
    /// The file the request reports as (a packed batch's first).
    pub(super) leader: TransferId,
    pub(super) host: String,
    pub(super) generation: u64,
    pub(super) request: Request,
}

pub(super) enum Request {
    File {
        job: AttemptJob,
        progress: Arc<AttemptProgress>,
        /// Launched into a free slot, or claimed ahead of one to wait at the gate
        /// (`http/gate.rs`).
        arrival: Arrival,
    },
    /// A packed batch: one request, one slot, never claimed ahead.
    Packed {
        endpoint: String,
        parts: Vec<BatchPart>,
    },
    /// A download's segment the OS fetched, to check and append (no request: local work
    /// on the blocking pool, `http/download/segment.rs`).
    Segment {
        job: Box<SegmentJob>,
        progress: Arc<AttemptProgress>,
    },
}
