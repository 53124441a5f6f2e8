//! The platform driver: the one task that calls the app's [`PlatformTransferService`].
//!
//! The actor never calls the service itself: a shim may be slow, and a body file may have
//! to be written first. It sends operations here instead, and this task carries them out
//! one at a time, in order, on the blocking pool, so a `cancel` can never overtake the
//! `start` it cancels. Failures come back to the actor as [`PlatformReport`]s, on the same
//! channel as the shim's own reports.
//!
//! This task must never change a transfer's state or touch the store.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::body::{BodyPlan, remove_body};
use super::{Handoff, PlatformReport, PlatformTransferService};
use crate::classify::AttemptOutcome;

enum Operation {
    Start {
        handoff: Box<Handoff>,
        body: BodyPlan,
    },
    Cancel {
        key: String,
    },
    Release {
        key: String,
    },
    Outstanding {
        query: u64,
    },
}

/// The actor's handle on the driver task.
pub(crate) struct PlatformDriver {
    operations: mpsc::UnboundedSender<Operation>,
    bodies: PathBuf,
}

impl PlatformDriver {
    /// Spawns the driver on the current runtime.
    pub(crate) fn spawn(
        service: Arc<dyn PlatformTransferService>,
        reports: mpsc::UnboundedSender<PlatformReport>,
        bodies: PathBuf,
    ) -> Self {
        let (operations, receiver) = mpsc::unbounded_channel();
        tokio::spawn(drive(service, receiver, reports, bodies.clone()));
        Self { operations, bodies }
    }

    /// Where temporary bodies are written.
    pub(crate) fn bodies(&self) -> &std::path::Path {
        &self.bodies
    }

    /// Prepares the body and starts an OS task. `handoff.body_path` and
    /// `handoff.expected_bytes` are filled in from the prepared body.
    pub(crate) fn start(&self, handoff: Handoff, body: BodyPlan) {
        self.send(Operation::Start {
            handoff: Box::new(handoff),
            body,
        });
    }

    /// Cancels the OS task and removes its temporary body.
    pub(crate) fn cancel(&self, key: String) {
        self.send(Operation::Cancel { key });
    }

    /// Removes the temporary body of a task that ended.
    pub(crate) fn release(&self, key: String) {
        self.send(Operation::Release { key });
    }

    /// Asks the service for its outstanding tasks; the answer comes back as
    /// [`PlatformReport::Outstanding`] with the same `query` number.
    pub(crate) fn query_outstanding(&self, query: u64) {
        self.send(Operation::Outstanding { query });
    }

    fn send(&self, operation: Operation) {
        if self.operations.send(operation).is_err() {
            log::error!("the platform driver has stopped; the operation was dropped");
        }
    }
}

async fn drive(
    service: Arc<dyn PlatformTransferService>,
    mut operations: mpsc::UnboundedReceiver<Operation>,
    reports: mpsc::UnboundedSender<PlatformReport>,
    bodies: PathBuf,
) {
    while let Some(operation) = operations.recv().await {
        let service = Arc::clone(&service);
        let bodies = bodies.clone();
        let report = tokio::task::spawn_blocking(move || carry_out(&*service, operation, &bodies))
            .await
            .unwrap_or_else(|panic| {
                log::error!("the platform service panicked: {panic}");
                None
            });
        if let Some(report) = report
            && reports.send(report).is_err()
        {
            return; // the queue has shut down
        }
    }
}

fn carry_out(
    service: &dyn PlatformTransferService,
    operation: Operation,
    bodies: &std::path::Path,
) -> Option<PlatformReport> {
    match operation {
        Operation::Start { handoff, body } => {
            let key = handoff.key.clone();
            let prepared = match body.prepare() {
                Ok(prepared) => prepared,
                Err(outcome) => return Some(PlatformReport::Rejected { key, outcome }),
            };
            let mut handoff = *handoff;
            handoff.body_path = prepared.path;
            handoff.expected_bytes = prepared.size;
            handoff.headers.extend(prepared.headers);
            match service.start(handoff) {
                Ok(()) => None,
                Err(error) => {
                    remove_body(bodies, &key);
                    Some(PlatformReport::Rejected {
                        key,
                        outcome: AttemptOutcome::Platform {
                            message: error.to_string(),
                        },
                    })
                }
            }
        }
        Operation::Cancel { key } => {
            service.cancel(&key);
            remove_body(bodies, &key);
            None
        }
        Operation::Release { key } => {
            remove_body(bodies, &key);
            None
        }
        Operation::Outstanding { query } => Some(PlatformReport::Outstanding {
            query,
            keys: service.outstanding(),
        }),
    }
}
