//! The platform lane for Swift and Kotlin: the `PlatformTransferService` foreign trait a
//! shim implements (iOS `URLSession` background sessions, Android WorkManager), the
//! records it receives and reports, and the adapter that lends it to `ferry`.
//!
//! Translation only: which transfer goes to the OS, and when, is decided in `ferry`, and so
//! is what a failing service means. A shim that throws from `start` is a refusal (the
//! transfer is retried); one that throws from `cancel` is logged. One that throws from
//! `outstanding` (anything: the method declares `PlatformError`, and UniFFI turns any
//! other exception into one) reaches `ferry` as an error, never as a panic: `ferry` keeps
//! its records (the foreground stall take-back recovers them), rather than this adapter
//! inventing an empty list that would requeue every OS task.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use ferry::TransferId;

use crate::FerryError;
use crate::numbers::{int, long};
use crate::records::Header;
use crate::uuid::engine_id;

/// One OS background task Ferry asks the platform to run.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Handoff {
    /// Correlates the OS task with the transfer: store it where the OS keeps it across
    /// relaunches (`URLSessionTask.taskDescription`, WorkManager's unique work name) and
    /// use it in `platformProgress`, `platformFinished` and `outstanding`.
    pub key: String,
    /// The transfer this task carries (for a packed batch, its first file's).
    pub transfer_id: TransferId,
    /// The request body, ready to send as is, as a file (OS services upload from files).
    pub body_path: String,
    /// The URL to send to: the destination, or what the request authorizer gave for it.
    pub url: String,
    /// `PUT` or `POST` for an upload; `GET` for a download (then `download` is set).
    pub method: String,
    /// Every header to send, including the idempotency key and, for a multipart body,
    /// its `Content-Type`.
    pub headers: Vec<Header>,
    /// The body's size (`countOfBytesClientExpectsToSend`).
    pub expected_bytes: i64,
    /// The task may use an expensive network (cellular, a hotspot): iOS
    /// `allowsExpensiveNetworkAccess`; on Android, require an unmetered network when false.
    pub allow_expensive: bool,
    /// The task may use a constrained network (Low Data Mode, Data Saver): iOS
    /// `allowsConstrainedNetworkAccess`.
    pub allow_constrained: bool,
    /// The OS may delay the task for better conditions (iOS `isDiscretionary`).
    pub discretionary: bool,
    /// The destination speaks the IETF resumable upload draft at this interop version; the
    /// headers already say so, so iOS 17+ can resume an interrupted task itself when the
    /// server answers `104 Upload Resumption Supported`.
    pub ietf_interop_version: Option<i32>,
    /// Set for a download: the part of the file this OS task fetches (an iOS download
    /// task, an Android worker) and where its bytes go. `nil`/`null` for an upload.
    #[uniffi(default = None)]
    pub download: Option<HandoffDownload>,
}

/// The part of a download one OS task fetches: a bounded byte range, so a failed OS
/// resume (resume data rejected or expired, a worker stopped) costs at most this segment.
///
/// The handoff's `headers` already carry `Range: bytes=first-last` (none when `last` is
/// `nil`/`null`: the whole file) and, when the segment continues bytes Ferry holds,
/// `If-Range`; send them as they are. When the task finishes, **move the OS's file to
/// `path` before the delegate returns** (iOS deletes it after
/// `didFinishDownloadingTo`), replacing any file there, then report the answer's status
/// and headers with `platformFinished` (the bytes are in the file, not in the report).
/// Ferry checks the answer, appends the file to its partial file, records the new offset
/// and removes `path`. Resume data is only the OS's optimisation within one task.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HandoffDownload {
    /// The first byte asked for.
    pub first: i64,
    /// The last byte asked for (inclusive); `nil`/`null`: to the end of the file.
    pub last: Option<i64>,
    /// Where the shim puts the OS's downloaded file: beside Ferry's partial file, on the
    /// same volume.
    pub path: String,
}

impl Handoff {
    /// The handoff as the shim sees it; `None` when its transfer id is not a UUID, which
    /// `ferry` never makes (the caller refuses the task rather than invent an id).
    fn from_core(handoff: ferry::Handoff) -> Option<Self> {
        Some(Self {
            transfer_id: engine_id(&handoff.transfer_id)?,
            key: handoff.key,
            body_path: handoff.body_path.to_string_lossy().into_owned(),
            url: handoff.url,
            method: handoff.method,
            headers: handoff
                .headers
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            expected_bytes: long(handoff.expected_bytes),
            allow_expensive: handoff.allow_expensive,
            allow_constrained: handoff.allow_constrained,
            discretionary: handoff.discretionary,
            ietf_interop_version: handoff.ietf_interop_version.map(int),
            download: handoff.download.map(|segment| HandoffDownload {
                first: long(segment.first),
                last: segment.last.map(long),
                path: segment.path.to_string_lossy().into_owned(),
            }),
        })
    }
}

/// How an OS task ended, as the shim reports it with `platformFinished`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum PlatformOutcome {
    /// The server answered; Ferry classifies the status like any other response.
    Response {
        /// The HTTP status code of the final response.
        status: i32,
        /// The response's headers; Ferry reads `Retry-After` from them, and keeps them
        /// (credential values redacted) with an upload that succeeded.
        headers: Vec<Header>,
        /// The response body's first bytes, at most the queue's `responseBodyLimit`
        /// (Ferry cuts a longer one again): kept with an upload that succeeded, readable
        /// by id (`response(id:)`) after the app was gone. Empty when the shim kept none.
        body: Vec<u8>,
        /// The shim dropped body bytes past the limit (or the body broke off).
        body_truncated: bool,
    },
    /// The task ended without a response.
    Failed {
        /// Why, as far as the shim can tell.
        kind: PlatformFailure,
        /// The OS's error in words (`localizedDescription`, an exception's message), kept
        /// as the transfer's last error.
        message: String,
    },
}

impl PlatformOutcome {
    /// The outcome for `ferry`.
    ///
    /// # Errors
    ///
    /// `InvalidArgument` for a `status` that is no HTTP status code.
    pub(crate) fn into_core(self) -> Result<ferry::PlatformOutcome, FerryError> {
        Ok(match self {
            Self::Response {
                status,
                headers,
                body,
                body_truncated,
            } => ferry::PlatformOutcome::Response {
                status: http_status(status)?,
                headers: headers
                    .into_iter()
                    .map(|header| (header.name, header.value))
                    .collect(),
                body,
                body_truncated,
            },
            Self::Failed { kind, message } => ferry::PlatformOutcome::Failed {
                kind: kind.into(),
                message,
            },
        })
    }
}

/// A status code as a shim gives it, checked: it must fit HTTP's (an unsigned 16-bit
/// number); `ferry` classifies any such number.
fn http_status(status: i32) -> Result<u16, FerryError> {
    u16::try_from(status).map_err(|_| FerryError::InvalidArgument {
        name: "status".to_owned(),
        description: format!("status is {status}; give the HTTP status code of the response"),
    })
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
///
/// The field is `reason`, not `message`: a Kotlin exception field named `message` clashes
/// with `Throwable.message` (workaround for <https://github.com/mozilla/uniffi-rs/issues/1434>).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The OS would not create the task (or list its tasks). A refused start fails the
    /// attempt, which is retried with backoff.
    #[error("the platform refused the upload task: {reason}")]
    Refused {
        /// What the OS said, in words.
        reason: String,
    },
}

/// A shim that throws anything other than `PlatformError` from `start` or `outstanding`
/// (or breaks the FFI contract) is treated as a refusal, never as a crash.
impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Refused {
            reason: format!("the platform service failed unexpectedly: {}", error.reason),
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
    ///
    /// # Errors
    ///
    /// Throw `Refused` when the OS will not create the task: the attempt fails and is
    /// retried with backoff. Anything else thrown counts as a refusal.
    fn start(&self, handoff: Handoff) -> Result<(), PlatformError>;

    /// Cancels the OS task with this key, if there is one.
    fn cancel(&self, handoff_key: String);

    /// The keys of every OS task that has not finished (iOS `getAllTasks`), including tasks
    /// whose final report the shim has not delivered yet. Asked when a queue opens and
    /// when the app returns to the foreground, to reconcile: a transfer recorded on the
    /// platform under a key not in this list is queued again. Throw (any exception) when
    /// the list cannot be had: Ferry then keeps every record as it is.
    ///
    /// # Errors
    ///
    /// Throw when the list cannot be had; never return an empty list in its place, which
    /// would queue every OS task's transfer again.
    fn outstanding(&self) -> Result<Vec<String>, PlatformError>;

    /// Keeps the app running in the background for Ferry's own transfers: on Android 14+,
    /// schedule one user-initiated data-transfer job (with its notification) and hold it
    /// until `letAppStop`. Called only with `QueueConfig.keepAppRunning`, in the
    /// foreground, when work is queued; `remainingBytes` (never negative) is the job's
    /// estimate. When the OS stops the job, call the queue's `keepAliveEnded()`.
    ///
    /// # Errors
    ///
    /// Throw `Refused` when the OS will not (not visible, no permission, an older OS, or a
    /// platform without such jobs, as iOS): Ferry then hands work to the OS as before.
    fn keep_app_running(&self, remaining_bytes: i64) -> Result<(), PlatformError>;

    /// Ends what `keepAppRunning` started (finish the job): nothing is left to do, the
    /// queue shuts down, or the shim said `keepAliveEnded()` (so a job started since is
    /// ended too). When nothing runs (refused, or already ended), do nothing.
    fn let_app_stop(&self);
}

/// Lends a foreign service to `ferry`, turning foreign failures into values.
pub(crate) struct ForeignPlatform(pub(crate) Arc<dyn PlatformTransferService>);

impl ferry::PlatformTransferService for ForeignPlatform {
    fn start(&self, handoff: ferry::Handoff) -> Result<(), ferry::PlatformError> {
        let Some(handoff) = Handoff::from_core(handoff) else {
            return Err(ferry::PlatformError {
                message: "the handoff's transfer id is not a UUID".into(),
            });
        };
        match catch_unwind(AssertUnwindSafe(|| self.0.start(handoff))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(PlatformError::Refused { reason })) => {
                Err(ferry::PlatformError { message: reason })
            }
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

    fn keep_app_running(&self, remaining_bytes: u64) -> Result<(), ferry::PlatformError> {
        match catch_unwind(AssertUnwindSafe(|| {
            self.0.keep_app_running(long(remaining_bytes))
        })) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(PlatformError::Refused { reason })) => {
                Err(ferry::PlatformError { message: reason })
            }
            Err(_) => Err(ferry::PlatformError {
                message: "the platform service crashed while keeping the app running".into(),
            }),
        }
    }

    fn let_app_stop(&self) {
        if catch_unwind(AssertUnwindSafe(|| self.0.let_app_stop())).is_err() {
            log::error!("the platform service failed to let the app stop");
        }
    }

    fn outstanding(&self) -> Result<Vec<String>, ferry::PlatformError> {
        match catch_unwind(AssertUnwindSafe(|| self.0.outstanding())) {
            Ok(Ok(keys)) => Ok(keys),
            Ok(Err(PlatformError::Refused { reason })) => Err(ferry::PlatformError {
                message: format!("listing the OS tasks failed: {reason}"),
            }),
            Err(_) => Err(ferry::PlatformError {
                message: "the platform service crashed while listing its tasks".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use ferry::PlatformTransferService as _;

    use super::*;

    /// Stands in for a foreign shim: refuses, panics (as a throwing shim does once UniFFI
    /// lifts its failure) or accepts, and lists `keys`.
    struct Shim {
        start: fn() -> Result<(), PlatformError>,
        keys: Vec<String>,
    }

    impl PlatformTransferService for Shim {
        fn start(&self, _: Handoff) -> Result<(), PlatformError> {
            (self.start)()
        }
        fn cancel(&self, _: String) {
            panic!("a shim that throws from cancel");
        }
        fn keep_app_running(&self, _: i64) -> Result<(), PlatformError> {
            (self.start)()
        }
        fn let_app_stop(&self) {
            panic!("a shim that throws from letAppStop");
        }
        fn outstanding(&self) -> Result<Vec<String>, PlatformError> {
            if self.keys.is_empty() {
                // What UniFFI lifts a Kotlin `IllegalStateException` to.
                return Err(uniffi::UnexpectedUniFFICallbackError {
                    reason: "the OS task list is unavailable".into(),
                }
                .into());
            }
            Ok(self.keys.clone())
        }
    }

    fn handoff() -> ferry::Handoff {
        let mut handoff = ferry::Handoff::default();
        handoff.key = "t.1".into();
        handoff.transfer_id = "0192f2a0-0000-7000-8000-000000000001".into();
        handoff.body_path = PathBuf::from("/data/body.bin");
        handoff.url = "https://example.com/u".into();
        handoff.method = "PUT".into();
        handoff.headers = vec![("Idempotency-Key".into(), "t".into())];
        handoff.expected_bytes = 42;
        handoff.allow_expensive = true;
        handoff.discretionary = true;
        handoff
    }

    fn adapter(start: fn() -> Result<(), PlatformError>) -> ForeignPlatform {
        ForeignPlatform(Arc::new(Shim {
            start,
            keys: vec!["t.1".into()],
        }))
    }

    #[test]
    fn a_refusal_keeps_the_shims_reason_and_a_panic_becomes_a_refusal() {
        let accepted = adapter(|| Ok(())).start(handoff());
        assert_eq!(accepted, Ok(()));
        let refused = adapter(|| {
            Err(PlatformError::Refused {
                reason: "queue full".into(),
            })
        })
        .start(handoff());
        assert_eq!(refused.map_err(|e| e.message), Err("queue full".to_owned()));
        let crashed = adapter(|| panic!("shim bug")).start(handoff());
        assert!(crashed.is_err_and(|e| e.message.contains("crashed")));
    }

    #[test]
    fn a_keep_alive_refusal_keeps_its_reason_and_a_throwing_let_stop_is_contained() {
        assert_eq!(adapter(|| Ok(())).keep_app_running(10), Ok(()));
        let refused = adapter(|| {
            Err(PlatformError::Refused {
                reason: "not visible".into(),
            })
        })
        .keep_app_running(10);
        assert_eq!(
            refused.map_err(|e| e.message),
            Err("not visible".to_owned())
        );
        let crashed = adapter(|| panic!("shim bug")).keep_app_running(10);
        assert!(crashed.is_err_and(|e| e.message.contains("crashed")));
        adapter(|| Ok(())).let_app_stop();
    }

    #[test]
    fn a_throwing_cancel_is_contained_and_outstanding_is_passed_through() {
        let platform = adapter(|| Ok(()));
        platform.cancel("t.1");
        assert_eq!(platform.outstanding(), Ok(vec!["t.1".to_owned()]));
    }

    #[test]
    fn a_throwing_outstanding_is_an_error_not_a_panic() {
        let platform = ForeignPlatform(Arc::new(Shim {
            start: || Ok(()),
            keys: Vec::new(),
        }));
        let listed = platform.outstanding();
        assert!(
            listed
                .as_ref()
                .is_err_and(|error| error.message.contains("the OS task list is unavailable")),
            "{listed:?}"
        );
    }

    #[test]
    fn records_carry_every_field_across() {
        let converted = Handoff::from_core(handoff()).expect("a UUID transfer id");
        assert_eq!(
            converted.transfer_id.to_string(),
            "0192f2a0-0000-7000-8000-000000000001"
        );
        assert_eq!(converted.body_path, "/data/body.bin");
        assert_eq!(
            converted.headers,
            [Header {
                name: "Idempotency-Key".into(),
                value: "t".into()
            }]
        );
        assert_eq!(converted.expected_bytes, 42);
        assert!(converted.discretionary && !converted.allow_constrained);
        assert_eq!(converted.download, None, "an upload");
        let mut download = handoff();
        download.method = "GET".into();
        download.download = Some(ferry::DownloadSegment::new(
            64,
            Some(127),
            "/data/.ferry-t.seg-64",
        ));
        assert_eq!(
            Handoff::from_core(download).and_then(|handoff| handoff.download),
            Some(HandoffDownload {
                first: 64,
                last: Some(127),
                path: "/data/.ferry-t.seg-64".into(),
            })
        );
        let outcome: ferry::PlatformOutcome = PlatformOutcome::Response {
            status: 201,
            headers: vec![Header {
                name: "ETag".into(),
                value: "x".into(),
            }],
            body: b"{}".to_vec(),
            body_truncated: true,
        }
        .into_core()
        .expect("a valid status");
        assert_eq!(
            outcome,
            ferry::PlatformOutcome::Response {
                status: 201,
                headers: vec![("ETag".into(), "x".into())],
                body: b"{}".to_vec(),
                body_truncated: true,
            }
        );
        let failed: ferry::PlatformOutcome = PlatformOutcome::Failed {
            kind: PlatformFailure::CancelledByUser,
            message: "force-quit".into(),
        }
        .into_core()
        .expect("no status to check");
        assert_eq!(
            failed,
            ferry::PlatformOutcome::Failed {
                kind: ferry::PlatformFailure::CancelledByUser,
                message: "force-quit".into()
            }
        );
    }

    #[test]
    fn a_status_that_is_no_http_status_is_refused_by_name() {
        for status in [-1, 70_000] {
            let outcome = PlatformOutcome::Response {
                status,
                headers: Vec::new(),
                body: Vec::new(),
                body_truncated: false,
            };
            assert!(
                matches!(
                    outcome.into_core(),
                    Err(FerryError::InvalidArgument { ref name, .. }) if name == "status"
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_handoff_whose_transfer_id_is_no_uuid_is_refused_not_invented() {
        let mut broken = handoff();
        broken.transfer_id = "t".into();
        assert!(Handoff::from_core(broken.clone()).is_none());
        let refused = adapter(|| Ok(())).start(broken);
        assert!(refused.is_err_and(|e| e.message.contains("not a UUID")));
    }
}
