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
    #[error("source {path} is {}, not a regular file; {}", found.what(), found.advice())]
    SourceNotAFile { path: PathBuf, found: NotAFile },
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
    #[error("the queue configuration's {field} {problem}; {instead}")]
    InvalidConfig {
        field: &'static str,
        /// What is wrong with the value, and what it would do.
        problem: String,
        /// What to use instead.
        instead: String,
    },
    /// A bulk call (`cancel_where`, `retry_where`, `purge_where`) was asked to act on a
    /// state it never changes.
    #[error(
        "cannot {action} transfers that are {state}: {action} acts on {acts_on} transfers; \
         leave {state} out of the selection"
    )]
    InvalidSelection {
        action: &'static str,
        state: &'static str,
        /// The states the call acts on, comma-separated.
        acts_on: String,
    },
    #[error("the transfer queue has been shut down; open it again")]
    Closed,
}

/// What a source turned out to be instead of a regular file whose size is its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotAFile {
    Directory,
    /// A named pipe: opening it for reading would wait for a writer.
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
    /// A file of the kernel's `/proc` or `/sys` (or another file system the kernel makes
    /// up as it is read): its size, 0 or 4096, says nothing of what reading it gives.
    KernelFile,
    /// Anything else that is not a regular file.
    Other,
}

impl NotAFile {
    /// What the source is, as in "source x is a directory".
    pub fn what(self) -> &'static str {
        match self {
            Self::Directory => "a directory",
            Self::Fifo => "a FIFO (named pipe)",
            Self::Socket => "a socket",
            Self::CharacterDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::KernelFile => {
                "a file the kernel generates as it is read (/proc, /sys), whose size says nothing of its content"
            }
            Self::Other => "a special file",
        }
    }

    /// What to do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Self::KernelFile => "copy it to a regular file and enqueue the copy",
            Self::Directory => "enqueue the files inside it, one by one",
            _ => "enqueue regular files only",
        }
    }
}

impl std::fmt::Display for NotAFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what())
    }
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
    /// Only from a read-only inspection ([`crate::QueueSnapshot::read`]), which never
    /// migrates: the file is a Ferry database of an older schema.
    #[error(
        "{path} was written by an older Ferry (schema {found}, this build reads {supported}); open the queue once with this build (it upgrades the file), then inspect it again"
    )]
    OlderVersion {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// Only from a read-only inspection, which never creates a database.
    #[error(
        "there is no queue database at {path}; nothing was queued there yet, or the path is wrong"
    )]
    NotFound { path: PathBuf },
    #[error("{path} is damaged ({detail}); move it aside and open again to start an empty queue")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} is in use by another process (another instance of the app, or a ferry command); close it first, or use another path"
    )]
    InUse { path: PathBuf },
    #[error(
        "database {path} cannot be created: its directory {directory} does not exist; create the directory first, or choose a database path in an existing one"
    )]
    DirectoryMissing { path: PathBuf, directory: PathBuf },
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
    /// The source is no longer a regular file: it was replaced by a directory, a FIFO, a
    /// device or a file of the kernel's `/proc` or `/sys` after it was enqueued.
    SourceNotAFile,
    /// Every allowed attempt failed with retryable errors.
    AttemptsExhausted,
    /// The OS background-transfer service refused or failed the task without a response.
    Platform,
    /// The file is larger than the server accepts (a resumable upload's `Upload-Limit`
    /// `max-size`, or 413 on creation).
    UploadTooLarge,
    /// The server's TLS certificate is not trusted, or the server speaks no usable TLS:
    /// no retry can fix it, only trusting its certificate (or using the right URL).
    Certificate,
    /// This process had too many open files (`EMFILE`/`ENFILE`) to open the source or a
    /// socket. Never final: the transfer waits and tries again.
    TooManyOpenFiles,
}

/// The advice a `Certificate` failure's message ends with when trusting the server's
/// certificate would fix it (an unknown CA, a self-signed certificate): exactly this text,
/// so that a front end can say it in its own words (the CLI: `--cacert FILE`). Never given
/// for an expired certificate or one for another name: trusting those does not help.
pub const CERTIFICATE_TRUST_ADVICE: &str = "if you trust this server, add the certificate \
    of its CA (or the server's own certificate) to extra_root_certificates_pem, or install it \
    in the system's trust store";

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
            Self::SourceNotAFile => "source_not_a_file",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::Platform => "platform",
            Self::UploadTooLarge => "upload_too_large",
            Self::Certificate => "certificate",
            Self::TooManyOpenFiles => "too_many_open_files",
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
            "source_not_a_file" => Self::SourceNotAFile,
            "attempts_exhausted" => Self::AttemptsExhausted,
            "platform" => Self::Platform,
            "upload_too_large" => Self::UploadTooLarge,
            "certificate" => Self::Certificate,
            "too_many_open_files" => Self::TooManyOpenFiles,
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
