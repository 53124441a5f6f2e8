//! Errors returned by the public API, and the failure reasons stored with transfers.
//!
//! Every variant says what went wrong and what the caller can do about it. Nothing here
//! may carry a secret: header *values* never appear in an error, only header names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::TransferId;

/// An error returned by a [`crate::TransferQueue`] call.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("source file {path} does not exist; enqueue a file that exists")]
    SourceMissing { path: PathBuf },
    #[error("source {path} is not a regular file; enqueue files, not directories or devices")]
    SourceNotAFile { path: PathBuf },
    #[error("source file {path} cannot be read ({reason}); check its permissions")]
    SourceUnreadable { path: PathBuf, reason: String },
    #[error(
        "source file {path} changed after it was enqueued; enqueue it again to send the new content"
    )]
    SourceChanged { path: PathBuf },
    /// `url` is the destination as shown: without its query, fragment and user
    /// information, which may hold a signature or a password.
    #[error("destination {url:?} is not a valid http(s) URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("header {name:?} is invalid: {reason}")]
    InvalidHeader { name: String, reason: String },
    #[error("{text:?} is not a transfer id")]
    InvalidTransferId { text: String },
    #[error("no transfer with id {id}")]
    NotFound { id: TransferId },
    #[error("cannot {action} transfer {id} while it is {state}")]
    IllegalTransition {
        id: TransferId,
        action: &'static str,
        state: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the HTTP client could not be built: {reason}")]
    HttpClient { reason: String },
    #[error("the transfer queue has been shut down; open it again")]
    Closed,
}

/// A problem with the database file.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not a Ferry database (it is damaged or another program's file); move it aside and open again to start an empty queue"
    )]
    NotADatabase { path: PathBuf },
    #[error(
        "{path} belongs to another application (application_id {application_id:#x}); use another path"
    )]
    Foreign { path: PathBuf, application_id: i64 },
    #[error(
        "{path} was written by a newer Ferry (schema {found}, this build knows up to {supported}); upgrade the app or use another path"
    )]
    NewerVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path} is damaged ({detail}); move it aside and open again to start an empty queue")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} is in use by another process (another instance of the app, or a ferry command); close it first, or use another path"
    )]
    InUse { path: PathBuf },
    #[error("database {path} cannot be opened: {detail}")]
    Unavailable { path: PathBuf, detail: String },
    #[error("database operation failed: {0}")]
    Sqlite(String),
}

impl StoreError {
    pub(crate) fn sqlite(error: rusqlite::Error) -> Self {
        Self::Sqlite(error.to_string())
    }
}

/// Why an attempt, or a whole transfer, failed. Stored with the transfer and sent in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// The connection failed, was reset, or timed out while connecting.
    Network,
    /// No bytes moved for `stall_timeout`; the attempt was abandoned.
    Stalled,
    /// The server answered with an HTTP status that is not a success.
    HttpStatus,
    /// The server refused the credentials (401 or 403).
    Auth,
    /// The source file disappeared.
    SourceMissing,
    /// The source file's size or modification time changed since enqueue.
    SourceChanged,
    /// The source file could not be read.
    SourceUnreadable,
    /// Every allowed attempt failed with retryable errors.
    AttemptsExhausted,
    /// The OS background-transfer service refused or failed the task without a response.
    Platform,
    /// The file is larger than the server accepts (a resumable upload's `Upload-Limit`
    /// `max-size`, or 413 on creation).
    UploadTooLarge,
}

impl FailureKind {
    /// The stable name stored in the database and shown in reports (`network`, `stalled`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Stalled => "stalled",
            Self::HttpStatus => "http_status",
            Self::Auth => "auth",
            Self::SourceMissing => "source_missing",
            Self::SourceChanged => "source_changed",
            Self::SourceUnreadable => "source_unreadable",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::Platform => "platform",
            Self::UploadTooLarge => "upload_too_large",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "network" => Self::Network,
            "stalled" => Self::Stalled,
            "http_status" => Self::HttpStatus,
            "auth" => Self::Auth,
            "source_missing" => Self::SourceMissing,
            "source_changed" => Self::SourceChanged,
            "source_unreadable" => Self::SourceUnreadable,
            "attempts_exhausted" => Self::AttemptsExhausted,
            "platform" => Self::Platform,
            "upload_too_large" => Self::UploadTooLarge,
            _ => return None,
        })
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with its kind, the HTTP status if there was one, and a readable message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferError {
    pub kind: FailureKind,
    pub http_status: Option<u16>,
    pub message: String,
}

impl TransferError {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            http_status: None,
            message: message.into(),
        }
    }

    pub(crate) fn with_status(kind: FailureKind, status: u16, message: impl Into<String>) -> Self {
        Self {
            kind,
            http_status: Some(status),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for TransferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.http_status {
            Some(status) => write!(
                f,
                "{} (HTTP {status}): {}",
                self.kind.as_str(),
                self.message
            ),
            None => write!(f, "{}: {}", self.kind.as_str(), self.message),
        }
    }
}
