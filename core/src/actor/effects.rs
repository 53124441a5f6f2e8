//! What a turn does once its transaction has committed, gathered while the turn runs.
//!
//! One list for the whole turn. Right after the commit (after its sync, in a turn with the
//! app's commands) the actor takes out what only this process sees, aborts and in-process
//! launches, and acts on it ([`Effects::take_local`]); the rest, replies, events, idle
//! waiters and OS-task operations, goes to the group commit, which delivers it once the
//! turn is durable (`group_commit.rs`).
//!
//! Must never act itself: it only records, in order.

use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use super::local_launch::Launch;
use super::message::Reply;
use crate::Error;
use crate::events::TransferEvent;
use crate::platform::{BodyPlan, Handoff};

#[derive(Default)]
pub(super) struct Effects {
    pub(super) replies: Vec<Reply>,
    pub(super) events: Vec<TransferEvent>,
    pub(super) idle_waiters: Vec<oneshot::Sender<()>>,
    /// In-process requests (one file or a packed batch) to start, at once after the
    /// commit.
    pub(super) launches: Vec<Launch>,
    /// In-process attempts to stop, at once after the commit.
    pub(super) aborts: Vec<AbortHandle>,
    /// OS tasks to start, in order.
    pub(super) handoffs: Vec<(Handoff, BodyPlan)>,
    /// OS tasks to cancel (their bodies are removed too).
    pub(super) platform_cancels: Vec<String>,
    /// OS tasks that ended: their temporary bodies can go.
    pub(super) platform_releases: Vec<String>,
    /// Ask the platform for its outstanding tasks, with this query number.
    pub(super) outstanding_query: Option<u64>,
    /// Ask the platform to keep the app running or let it stop (`actor/keep_alive.rs`),
    /// in order.
    pub(super) keep_alive: Vec<KeepAliveRequest>,
    /// Replies sent once every OS-task operation before them has been carried out
    /// (`enter_background`); at once when no platform service is attached.
    pub(super) after_handoffs: Vec<oneshot::Sender<Result<(), Error>>>,
}

/// What the platform service is asked about keeping the app running
/// (`actor/keep_alive.rs`), after the turn is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeepAliveRequest {
    KeepRunning { remaining_bytes: u64 },
    LetStop,
}

/// What acts right after the commit, in this process only.
pub(super) struct Local {
    pub(super) aborts: Vec<AbortHandle>,
    pub(super) launches: Vec<Launch>,
}

impl Effects {
    /// Takes out the aborts and in-process launches; what is left waits for durability.
    pub(super) fn take_local(&mut self) -> Local {
        Local {
            aborts: std::mem::take(&mut self.aborts),
            launches: std::mem::take(&mut self.launches),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.replies.is_empty()
            && self.events.is_empty()
            && self.idle_waiters.is_empty()
            && self.launches.is_empty()
            && self.aborts.is_empty()
            && self.handoffs.is_empty()
            && self.platform_cancels.is_empty()
            && self.platform_releases.is_empty()
            && self.outstanding_query.is_none()
            && self.keep_alive.is_empty()
            && self.after_handoffs.is_empty()
    }
}
