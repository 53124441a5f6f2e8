//! Ferry's platform shim over a simulated OS session: what an app's Swift shim does with
//! `URLSession` (or a Kotlin shim with its job scheduler), in Rust. It implements [`PlatformTransferService`] with
//! `uploadTask(fromFile:)` (the handoff key as `taskDescription`), `cancel` and
//! `getAllTasks`, and forwards the session's delegate callbacks to the queue's
//! `platform_progress` / `platform_finished`.
//!
//! While no queue is attached (the app is launching, before `open` returns) it buffers the
//! callbacks and counts their tasks as outstanding, so reconciliation at open does not
//! mistake a finished task for a vanished one; `attach` replays them.
//!
//! The handoff's `discretionary` needs no mapping: the simulated iOS applies rule 2 itself
//! (background-created tasks are discretionary). `allow_expensive` / `allow_constrained`
//! would be `allowsCellularAccess` / `allowsConstrainedNetworkAccess`; the simulators model
//! Wi-Fi only, so they are not passed on.
//!
//! What it must never do: block (the queue calls it from its blocking pool; every method
//! takes one short lock), or decide anything about transfers.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry::{
    Handoff, PlatformError, PlatformFailure, PlatformOutcome, PlatformTransferService,
    TransferQueue,
};

use crate::sim::{OsSession, SessionEvent, TaskError, TaskOutcome, TaskRequest};

#[derive(Default)]
struct ShimState {
    queue: Option<TransferQueue>,
    buffered: Vec<SessionEvent>,
}

/// One app process's shim; a relaunch makes a new one.
pub struct OsShim {
    session: Arc<dyn OsSession>,
    state: Mutex<ShimState>,
}

impl OsShim {
    pub fn new(session: Arc<dyn OsSession>) -> Self {
        Self {
            session,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, ShimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A delegate callback from the session.
    pub fn on_event(&self, event: SessionEvent) {
        let mut state = self.state();
        match &state.queue {
            Some(queue) => forward(queue, event),
            None => state.buffered.push(event),
        }
    }

    /// The queue is open: replay what was buffered, then forward as it comes.
    pub fn attach(&self, queue: TransferQueue) {
        let mut state = self.state();
        for event in std::mem::take(&mut state.buffered) {
            forward(&queue, event);
        }
        state.queue = Some(queue);
    }

    /// The app is going away: buffer again.
    pub fn detach(&self) {
        self.state().queue = None;
    }
}

fn forward(queue: &TransferQueue, event: SessionEvent) {
    // A closed queue (shutting down) will reconcile at the next open.
    let _ = match event {
        SessionEvent::Progress {
            description,
            sent,
            total,
            ..
        } => queue.platform_progress(&description, sent, total),
        SessionEvent::Completed {
            description,
            outcome,
            ..
        } => queue.platform_finished(&description, to_platform_outcome(outcome)),
        SessionEvent::FinishedEvents => Ok(()),
    };
}

/// The session's ending of a task, as Ferry's platform lane reads it.
pub fn to_platform_outcome(outcome: TaskOutcome) -> PlatformOutcome {
    match outcome {
        // The simulated OS carries no response bodies.
        TaskOutcome::Response { status, headers } => PlatformOutcome::Response {
            status,
            headers,
            body: Vec::new(),
            body_truncated: false,
        },
        TaskOutcome::Error { error, message } => PlatformOutcome::Failed {
            kind: match error {
                TaskError::CancelledUserForceQuit => PlatformFailure::CancelledByUser,
                TaskError::Cancelled | TaskError::StoppedBySystem => {
                    PlatformFailure::CancelledBySystem
                }
                TaskError::StoppedByUser => PlatformFailure::CancelledByUser,
                TaskError::CannotParseResponse | TaskError::Network | TaskError::TimedOut => {
                    PlatformFailure::Network
                }
                TaskError::FileChanged | TaskError::TooManyTasks => PlatformFailure::Other,
            },
            message,
        },
    }
}

impl PlatformTransferService for OsShim {
    fn start(&self, handoff: Handoff) -> Result<(), PlatformError> {
        self.session
            .create_task(TaskRequest {
                description: handoff.key,
                url: handoff.url,
                method: handoff.method,
                headers: handoff.headers,
                body_path: handoff.body_path,
                // A download task: the shim moves the OS's file to the segment's path
                // before its delegate returns (the simulated daemon writes it there).
                download_to: handoff.download.map(|segment| segment.path),
            })
            .map(|_| ())
            .map_err(|error| PlatformError {
                message: error.to_string(),
            })
    }

    fn cancel(&self, handoff_key: &str) {
        self.session.cancel_described(handoff_key);
    }

    fn keep_app_running(&self, _remaining_bytes: u64) -> Result<(), PlatformError> {
        self.session
            .keep_app_running()
            .map_err(|error| PlatformError {
                message: error.to_string(),
            })
    }

    fn let_app_stop(&self) {
        self.session.let_app_stop();
    }

    fn outstanding(&self) -> Result<Vec<String>, ferry::PlatformError> {
        let mut keys: HashSet<String> = self
            .session
            .all_tasks()
            .into_iter()
            .map(|(_, description)| description)
            .collect();
        for event in &self.state().buffered {
            if let SessionEvent::Completed { description, .. } = event {
                keys.insert(description.clone());
            }
        }
        Ok(keys.into_iter().collect())
    }
}
