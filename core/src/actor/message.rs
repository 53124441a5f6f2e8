//! The messages the actor reads: the app's commands, attempts' outcomes, the OS's reports,
//! checkpoints and ticks, and the reply a command gets once its turn is committed.
//!
//! Plain data: nothing here may touch the store or decide anything.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::bulk_job::BulkRequest;
use crate::conditions::{AppState, NetworkStatus};
use crate::download::ValidatedDownload;
use crate::error::StoreError;
use crate::hosts::HostStatus;
use crate::http::{Checkpoint, Gated, HostGate};
use crate::outcome::AttemptOutcome;
use crate::platform::PlatformReport;
use crate::progress::{Progress, StateCount};
use crate::selection::Selection;
use crate::server_response::ServerResponse;
use crate::state::Input;
use crate::upload::ValidatedUpload;
use crate::{Error, Transfer, TransferId};

pub(crate) type EnqueueResults = Vec<Result<TransferId, Error>>;

/// A request from a queue handle.
pub(crate) enum Command {
    Enqueue {
        uploads: Vec<Result<ValidatedUpload, Error>>,
        reply: oneshot::Sender<Result<EnqueueResults, Error>>,
    },
    EnqueueDownloads {
        downloads: Vec<Result<ValidatedDownload, Error>>,
        reply: oneshot::Sender<Result<EnqueueResults, Error>>,
    },
    Get {
        id: TransferId,
        reply: oneshot::Sender<Result<Transfer, Error>>,
    },
    List {
        selection: Selection,
        offset: u64,
        limit: u64,
        reply: oneshot::Sender<Result<Vec<Transfer>, Error>>,
    },
    Control {
        id: TransferId,
        input: Input,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Progress {
        reply: oneshot::Sender<Result<Progress, Error>>,
    },
    CountByState {
        reply: oneshot::Sender<Result<Vec<StateCount>, Error>>,
    },
    HostStatus {
        reply: oneshot::Sender<Result<Vec<HostStatus>, Error>>,
    },
    Response {
        id: TransferId,
        reply: oneshot::Sender<Result<Option<ServerResponse>, Error>>,
    },
    /// `cancel_where`, `retry_where`, `purge_where`: answered with how many transfers it
    /// changed, once its last chunk is committed (`actor/bulk.rs`).
    Bulk {
        request: BulkRequest,
        reply: oneshot::Sender<Result<u64, Error>>,
    },
    SetAppState {
        state: AppState,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// The app is leaving the foreground: as `SetAppState(Background)`, and the reply waits
    /// until the OS tasks this turn hands over have been started.
    EnterBackground {
        reply: oneshot::Sender<Result<(), Error>>,
    },
    SetNetwork {
        status: NetworkStatus,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    WaitIdle {
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: Option<oneshot::Sender<()>>,
    },
}

/// An attempt's outcome, reported by its task. `generation` tells a stale report (from an
/// attempt that was aborted and replaced) from the current one.
pub(crate) struct AttemptFinished {
    pub(super) id: TransferId,
    pub(super) generation: u64,
    /// The request's outcome; for a packed batch, the outcome of every part not in `parts`.
    pub(super) outcome: AttemptOutcome,
    /// A packed batch's per-part outcomes, by transfer id.
    pub(super) parts: Vec<(TransferId, AttemptOutcome)>,
    /// The request troubled its host: claimed-ahead attempts wait for this review.
    pub(super) trouble: Option<Arc<HostGate>>,
}

impl AttemptFinished {
    /// The report of a task whose request went through the gate (or was held back there).
    pub(super) fn of_gated(id: TransferId, generation: u64, gated: Gated<AttemptOutcome>) -> Self {
        let (outcome, trouble) = match gated {
            Gated::Ran { value, failure } => (value, failure),
            Gated::HeldBack => (AttemptOutcome::HeldBack, None),
        };
        Self {
            id,
            generation,
            outcome,
            parts: Vec::new(),
            trouble,
        }
    }
}

pub(super) enum Message {
    Command(Command),
    Finished(AttemptFinished),
    Platform(PlatformReport),
    Checkpoint(Checkpoint),
    Tick,
}

/// Sent once the turn's commit succeeded (`None`) or failed (`Some`).
pub(super) type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

pub(super) fn reply_after_commit<T: Send + 'static>(
    sender: oneshot::Sender<Result<T, Error>>,
    value: Result<T, Error>,
) -> Reply {
    Box::new(move |failed: Option<&StoreError>| {
        let value = match failed {
            None => value,
            Some(error) => Err(Error::Store(error.clone())),
        };
        let _ = sender.send(value);
    })
}
