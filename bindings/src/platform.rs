//! The platform lane for Swift and Kotlin: the `PlatformTransferService` foreign trait a
//! shim implements (iOS `URLSession` background sessions, Android WorkManager), the
//! records it receives and reports, and the adapter that lends it to `ferry`.
//!
//! Translation only: which transfer goes to the OS, and when, is decided in `ferry`. The
//! adapter must never let a foreign failure reach the engine as a panic: a service that
//! throws from `cancel` or `outstanding` is logged and treated as "nothing to cancel" /
//! "no task outstanding" (the transfers are then queued again and resent with the same
//! idempotency key).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::records::Header;

/// One OS background task Ferry asks the platform to run.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Handoff {
    /// Correlates the OS task with the transfer: store it where the OS keeps it across
    /// relaunches (`URLSessionTask.taskDescription`, WorkManager's unique work name) and
    /// use it in `platformProgress`, `platformFinished` and `outstanding`.
    pub key: String,
    pub transfer_id: String,
    /// The request body, ready to send as is, as a file (OS services upload from files).
    pub body_path: String,
    pub url: String,
    /// `PUT` or `POST`.
    pub method: String,
    /// Every header to send, including the idempotency key and, for a multipart body,
    /// its `Content-Type`.
    pub headers: Vec<Header>,
    /// The body's size (`countOfBytesClientExpectsToSend`).
    pub expected_bytes: u64,
    pub allow_expensive: bool,
    pub allow_constrained: bool,
    /// The OS may delay the task for better conditions (iOS `isDiscretionary`).
    pub discretionary: bool,
}

impl From<ferry::Handoff> for Handoff {
    fn from(handoff: ferry::Handoff) -> Self {
        Self {
            key: handoff.key,
            transfer_id: handoff.transfer_id,
            body_path: handoff.body_path.to_string_lossy().into_owned(),
            url: handoff.url,
            method: handoff.method,
            headers: handoff
                .headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            expected_bytes: handoff.expected_bytes,
            allow_expensive: handoff.allow_expensive,
            allow_constrained: handoff.allow_constrained,
            discretionary: handoff.discretionary,
        }
    }
}

/// How an OS task ended, as the shim reports it with `platformFinished`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum PlatformOutcome {
    /// The server answered; Ferry classifies the status like any other response.
    Response { status: u16, headers: Vec<Header> },
    /// The task ended without a response.
    Failed {
        kind: PlatformFailure,
        message: String,
    },
}

impl From<PlatformOutcome> for ferry::PlatformOutcome {
    fn from(outcome: PlatformOutcome) -> Self {
        match outcome {
            PlatformOutcome::Response { status, headers } => Self::Response {
                status,
                headers: headers
                    .into_iter()
                    .map(|header| (header.name, header.value))
                    .collect(),
            },
            PlatformOutcome::Failed { kind, message } => Self::Failed {
                kind: kind.into(),
                message,
            },
        }
    }
}

/// Why an OS task ended without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum PlatformFailure {
    /// The user force-quit the app and the OS cancelled every task; queued again.
    CancelledByUser,
    /// The OS cancelled the task for its own reasons (power, background time).
    CancelledBySystem,
    /// A network error; retried with backoff.
    Network,
    /// Anything else; retried with backoff.
    Other,
}

impl From<PlatformFailure> for ferry::PlatformFailure {
    fn from(kind: PlatformFailure) -> Self {
        match kind {
            PlatformFailure::CancelledByUser => Self::CancelledByUser,
            PlatformFailure::CancelledBySystem => Self::CancelledBySystem,
            PlatformFailure::Network => Self::Network,
            PlatformFailure::Other => Self::Other,
        }
    }
}

/// Thrown by a shim's `start` when the platform refuses to create the task.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    #[error("the platform refused the upload task: {message}")]
    Refused { message: String },
}

/// A shim that throws anything other than `PlatformError` from `start` (or breaks the FFI
/// contract) is treated as a refusal, never as a crash.
impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Refused {
            message: format!("the platform service failed unexpectedly: {}", error.reason),
        }
    }
}

/// An OS background-transfer service, implemented by the app's platform shim and lent to
/// `TransferQueue.openWithPlatform`.
///
/// Every method is called on Ferry's own threads and must return quickly: start or cancel
/// the OS task and return. Never wait in them for a queue call to finish. Report what the
/// OS task does with the queue's `platformProgress` and `platformFinished`, from any thread.
#[uniffi::export(foreign)]
pub trait PlatformTransferService: Send + Sync {
    /// Starts an OS task for `handoff`. Ferry has already recorded the transfer as running
    /// on the platform under `handoff.key`.
    fn start(&self, handoff: Handoff) -> Result<(), PlatformError>;

    /// Cancels the OS task with this key, if there is one.
    fn cancel(&self, handoff_key: String);

    /// The keys of every OS task that has not finished (iOS `getAllTasks`). Asked when a
    /// queue opens, to reconcile: a transfer recorded on the platform under a key not in
    /// this list is queued again.
    fn outstanding(&self) -> Vec<String>;
}

/// Lends a foreign service to `ferry`, turning foreign failures into values.
pub(crate) struct ForeignPlatform(pub(crate) Arc<dyn PlatformTransferService>);

impl ferry::PlatformTransferService for ForeignPlatform {
    fn start(&self, handoff: ferry::Handoff) -> Result<(), ferry::PlatformError> {
        let handoff = handoff.into();
        match catch_unwind(AssertUnwindSafe(|| self.0.start(handoff))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(PlatformError::Refused { message })) => Err(ferry::PlatformError { message }),
            Err(_) => Err(ferry::PlatformError {
                message: "the platform service crashed while starting the task".into(),
            }),
        }
    }

    fn cancel(&self, handoff_key: &str) {
        let key = handoff_key.to_owned();
        if catch_unwind(AssertUnwindSafe(|| self.0.cancel(key))).is_err() {
            log::error!("the platform service failed to cancel task {handoff_key}");
        }
    }

    fn outstanding(&self) -> Vec<String> {
        catch_unwind(AssertUnwindSafe(|| self.0.outstanding())).unwrap_or_else(|_| {
            log::error!(
                "the platform service failed to list its tasks; every transfer it held is \
                 queued again"
            );
            Vec::new()
        })
    }
}
