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

use tokio::sync::{mpsc, oneshot};

use super::body::{BodyPlan, remove_body};
use super::report::PlatformReport;
use super::service::{Handoff, PlatformTransferService};
use crate::Error;
use crate::auth::AuthReason;
use crate::auth::attempt::AuthContext;
use crate::outcome::AttemptOutcome;

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
    KeepAppRunning {
        remaining_bytes: u64,
    },
    LetAppStop,
    /// Answers once every operation sent before it has been carried out.
    ReplyWhenDone {
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// The actor's handle on the driver task.
#[derive(Clone)]
pub(crate) struct PlatformDriver {
    operations: mpsc::UnboundedSender<Operation>,
    bodies: PathBuf,
}

impl PlatformDriver {
    /// Spawns the driver on the current runtime.
    pub(crate) fn spawn(
        service: Arc<dyn PlatformTransferService>,
        auth: Option<Arc<AuthContext>>,
        reports: mpsc::UnboundedSender<PlatformReport>,
        bodies: PathBuf,
    ) -> Self {
        let (operations, receiver) = mpsc::unbounded_channel();
        tokio::spawn(drive(service, auth, receiver, reports, bodies.clone()));
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

    /// Asks the service to keep the app running; the answer comes back as
    /// [`PlatformReport::KeepAliveAnswered`].
    pub(crate) fn keep_app_running(&self, remaining_bytes: u64) {
        self.send(Operation::KeepAppRunning { remaining_bytes });
    }

    /// Ends the keep-alive the service granted.
    pub(crate) fn let_app_stop(&self) {
        self.send(Operation::LetAppStop);
    }

    /// Sends `Ok` on `reply` once every operation sent before has been carried out: each
    /// OS task started before it was handed to the OS (or refused).
    pub(crate) fn reply_when_done(&self, reply: oneshot::Sender<Result<(), Error>>) {
        if let Err(mpsc::error::SendError(Operation::ReplyWhenDone { reply })) =
            self.operations.send(Operation::ReplyWhenDone { reply })
        {
            let _ = reply.send(Err(Error::Closed));
        }
    }

    fn send(&self, operation: Operation) {
        if self.operations.send(operation).is_err() {
            log::error!("the platform driver has stopped; the operation was dropped");
        }
    }
}

async fn drive(
    service: Arc<dyn PlatformTransferService>,
    auth: Option<Arc<AuthContext>>,
    mut operations: mpsc::UnboundedReceiver<Operation>,
    reports: mpsc::UnboundedSender<PlatformReport>,
    bodies: PathBuf,
) {
    while let Some(mut operation) = operations.recv().await {
        if let Operation::ReplyWhenDone { reply } = operation {
            let _ = reply.send(Ok(()));
            continue;
        }
        // Credentials are asked for right before the handoff, never earlier, and are never
        // stored: the OS holds them only for this task.
        if let (Some(auth), Operation::Start { handoff, .. }) = (&auth, &mut operation)
            && let Err(failure) = auth.authorize_handoff(handoff, AuthReason::First).await
        {
            let key = handoff.key.clone();
            if reports
                .send(PlatformReport::Rejected {
                    key,
                    outcome: failure.into(),
                })
                .is_err()
            {
                return;
            }
            continue;
        }
        let if_it_panics = AnswerIfPanicked::for_operation(&operation);
        let service = Arc::clone(&service);
        let bodies = bodies.clone();
        let reports_now =
            tokio::task::spawn_blocking(move || carry_out(&*service, operation, &bodies))
                .await
                .unwrap_or_else(|panic| {
                    log::error!("the platform service panicked: {panic}");
                    if_it_panics.reports()
                });
        for report in reports_now {
            if reports.send(report).is_err() {
                return; // the queue has shut down
            }
        }
    }
}

/// What the actor must still hear when the service panics in an operation it waits on:
/// a start started nothing, and an ask to keep the app running was not granted.
enum AnswerIfPanicked {
    Nothing,
    StartRejected { key: String },
    KeepAliveRefused,
}

impl AnswerIfPanicked {
    fn for_operation(operation: &Operation) -> Self {
        match operation {
            Operation::Start { handoff, .. } => Self::StartRejected {
                key: handoff.key.clone(),
            },
            Operation::KeepAppRunning { .. } => Self::KeepAliveRefused,
            _ => Self::Nothing,
        }
    }

    fn reports(self) -> Vec<PlatformReport> {
        match self {
            Self::Nothing => Vec::new(),
            Self::StartRejected { key } => vec![PlatformReport::Rejected {
                key,
                outcome: AttemptOutcome::Platform {
                    message: "the platform service panicked in start".into(),
                },
            }],
            Self::KeepAliveRefused => vec![PlatformReport::KeepAliveAnswered {
                granted: Err("the platform service panicked in keep_app_running".into()),
            }],
        }
    }
}

fn carry_out(
    service: &dyn PlatformTransferService,
    operation: Operation,
    bodies: &std::path::Path,
) -> Vec<PlatformReport> {
    match operation {
        Operation::Start { handoff, body } => {
            let key = handoff.key.clone();
            let prepared = body.prepare();
            let left_out = (!prepared.left_out.is_empty()).then(|| PlatformReport::PartsLeftOut {
                key: key.clone(),
                parts: prepared.left_out,
            });
            let mut handoff = *handoff;
            let started = prepared.body.and_then(|body| {
                handoff.body_path = body.path;
                handoff.expected_bytes = body.size;
                handoff.headers.extend(body.headers);
                service.start(handoff).map_err(|error| {
                    remove_body(bodies, &key);
                    AttemptOutcome::Platform {
                        message: error.to_string(),
                    }
                })
            });
            let result = match started {
                Ok(()) => PlatformReport::Started { key },
                Err(outcome) => PlatformReport::Rejected { key, outcome },
            };
            left_out.into_iter().chain(Some(result)).collect()
        }
        Operation::Cancel { key } => {
            service.cancel(&key);
            remove_body(bodies, &key);
            Vec::new()
        }
        Operation::Release { key } => {
            remove_body(bodies, &key);
            Vec::new()
        }
        // `drive` answers these without the blocking pool; here for completeness.
        Operation::ReplyWhenDone { reply } => {
            let _ = reply.send(Ok(()));
            Vec::new()
        }
        Operation::KeepAppRunning { remaining_bytes } => {
            let granted = service
                .keep_app_running(remaining_bytes)
                .map_err(|error| error.message);
            vec![PlatformReport::KeepAliveAnswered { granted }]
        }
        Operation::LetAppStop => {
            service.let_app_stop();
            Vec::new()
        }
        // Without the OS's list nothing is reported: no task is taken for lost.
        Operation::Outstanding { query } => match service.outstanding() {
            Ok(keys) => vec![PlatformReport::Outstanding { query, keys }],
            Err(error) => {
                log::error!(
                    "the platform service could not list its tasks: {}",
                    error.message
                );
                Vec::new()
            }
        },
    }
}
