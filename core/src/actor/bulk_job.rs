//! What a bulk call (`cancel_where`, `retry_where`, `purge_where`) is: the request the
//! handle checked, and the job the engine keeps while it runs chunk by chunk (`bulk.rs`
//! carries the chunks out). Data only, shared by the messages, the engine and `bulk.rs`.
//!
//! Must never act: no store, no effects.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::Error;
use crate::selection::BulkAction;
use crate::state::StateKind;

/// The most transfers one turn changes. A chunk of 2,000 is a few milliseconds of SQLite
/// (`engine_bulk.rs` times 100,000), while fewer, larger chunks would keep the actor
/// from finished attempts and the app's calls for longer.
pub(crate) const BULK_CHUNK: usize = 2_000;

/// One bulk call, checked by the handle (`Selection::states_for`).
pub(crate) struct BulkRequest {
    pub action: BulkAction,
    /// The states it acts on: never empty, never one the action cannot change.
    pub states: Vec<StateKind>,
    pub destination_prefix: Option<String>,
    /// Only transfers in this group.
    pub group: Option<String>,
    /// A purge's age: records last changed at least this long ago.
    pub older_than: Duration,
}

/// A bulk call under way.
pub(super) struct BulkJob {
    pub(super) request: BulkRequest,
    pub(super) reply: oneshot::Sender<Result<u64, Error>>,
    /// The largest row key when the first chunk ran.
    pub(super) up_to_seq: Option<i64>,
    /// The last row key of the chunks done so far.
    pub(super) after_seq: i64,
    /// A purge takes records last changed at this time or before (fixed at the first
    /// chunk).
    pub(super) changed_by_ms: Option<i64>,
    pub(super) count: u64,
}
