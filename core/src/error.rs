//! Errors returned by the public API, and the failure reasons stored with transfers.
//!
//! Every variant says what went wrong and what the caller can do about it. Nothing here
//! may carry a secret: header *values* never appear in an error, only header names.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::TransferId;

/// An error returned by a [`crate::TransferQueue`] call.
///
/// Its `Display` text is a whole sentence for a person: what went wrong and what to do.
/// Match on the variant to act on it in code.
#[non_exhaustive]
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// An enqueued source file does not exist (checked at enqueue). Nothing was queued
    /// for it.
    #[error("source file {path} does not exist; enqueue a file that exists")]
    SourceMissing {
        /// The source path as the app gave it.
        path: PathBuf,
    },
    /// An enqueued source is not a regular file (a directory, a FIFO, a device, a file of
    /// `/proc`...). Nothing was queued for it.
    #[error("source {path} is {}, not a regular file; {}", found.what(), found.advice())]
    SourceNotAFile {
        /// The source path as the app gave it.
        path: PathBuf,
        /// What the path turned out to be.
        found: NotAFile,
    },
    /// An enqueued source file exists but cannot be opened or read (permissions, an I/O
    /// error). Nothing was queued for it.
    #[error("source file {path} cannot be read ({reason}); check its permissions")]
    SourceUnreadable {
        /// The source path as the app gave it.
        path: PathBuf,
        /// The operating system's error, as text.
        reason: String,
    },
    /// A source file's size or modification time changed since it was enqueued, so the
    /// bytes that would be sent are not the ones the app asked for.
    #[error(
        "source file {path} changed after it was enqueued; enqueue it again to send the new content"
    )]
    SourceChanged {
        /// The source path as the app gave it.
        path: PathBuf,
    },
    /// The destination is not an absolute `http` or `https` URL Ferry can send to.
    #[error("destination {url:?} is not a valid http(s) URL: {reason}")]
    InvalidUrl {
        /// The destination as shown: without its query, fragment and user information,
        /// which may hold a signature or a password.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header of an upload has a name or value HTTP does not allow (a newline in a
    /// value...), an upload's multipart field name is empty, or the configured
    /// `idempotency_header` is not a header name. Nothing was queued or opened.
    #[error("header {name:?} is invalid: {reason}")]
    InvalidHeader {
        /// The header's name (never its value, which may be a secret).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An upload's metadata or group is out of bounds (too many entries or bytes, an
    /// empty key, an empty or too long group: see [`crate::MAX_METADATA_ENTRIES`]).
    /// Nothing was queued for it.
    #[error("the upload's {problem}; {instead}")]
    InvalidMetadata {
        /// What is wrong, with the number found.
        problem: String,
        /// What to do instead.
        instead: String,
    },
    /// A download cannot be queued as given: its destination is not an absolute path in
    /// an existing folder, is a folder, or its expected SHA-256 is not 64 hex digits.
    /// Nothing was queued for it.
    #[error("download to {path} refused: {problem}; {instead}")]
    InvalidDownload {
        /// The destination path as the app gave it.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// What to do instead.
        instead: String,
    },
    /// A text given to [`crate::TransferId::parse`] is not a transfer id (a UUID).
    #[error("{text:?} is not a transfer id")]
    InvalidTransferId {
        /// The text that was given.
        text: String,
    },
    /// No transfer has this id: it was never enqueued in this database, or it was
    /// purged.
    #[error("no transfer with id {id}")]
    NotFound {
        /// The id that was asked for.
        id: TransferId,
    },
    /// A control call (pause, resume, cancel, retry) is not allowed in the transfer's
    /// current state, e.g. retrying a transfer that succeeded. The transfer is unchanged.
    #[error("cannot {action} transfer {id} while it is {state}")]
    IllegalTransition {
        /// The transfer the call was for.
        id: TransferId,
        /// The call, in words: `pause`, `resume`, `cancel` or `retry`.
        action: &'static str,
        /// The state it was in.
        state: crate::StateKind,
    },
    /// The database could not be opened, read or written; see [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The in-process HTTP client could not be built at open, usually because a
    /// certificate in `extra_root_certificates_pem` cannot be read, or the platform's
    /// certificate verifier is unavailable.
    #[error("the HTTP client could not be built: {reason}")]
    HttpClient {
        /// What failed, in words.
        reason: String,
    },
    /// A [`crate::QueueConfig`] value would make every attempt fail or nothing run (a
    /// zero limit, a zero timeout...). Refused at open; nothing was opened.
    #[error("the queue configuration's {field} {problem}; {instead}")]
    InvalidConfig {
        /// The field, by its Rust name (e.g. `limits.max_concurrent`).
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
        /// The call, in words: `cancel`, `retry` or `purge`.
        action: &'static str,
        /// The state in the selection the call never changes.
        state: crate::StateKind,
        /// The states the call acts on, comma-separated.
        acts_on: String,
    },
    /// The queue has been shut down (or its actor stopped after a failed disk sync), so
    /// the call could not be made. Open the database again to go on; nothing durable is
    /// lost.
    #[error("the transfer queue has been shut down; open it again")]
    Closed,
}

/// What a source turned out to be instead of a regular file whose size is its content.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotAFile {
    /// A directory.
    Directory,
    /// A named pipe: opening it for reading would wait for a writer.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device, such as `/dev/zero` or a terminal: it may never end.
    CharacterDevice,
    /// A block device, such as a disk.
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
///
/// Every variant but [`StoreError::Sqlite`] names the database's path, and its text says
/// what to do. None of them loses what is already on disk: the file is left as it was.
#[non_exhaustive]
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database (it is damaged, or another program's file).
    #[error(
        "{path} is not a Ferry database (it is damaged or another program's file); move it aside and open again to start an empty queue"
    )]
    NotADatabase {
        /// The database path.
        path: PathBuf,
    },
    /// The file is an SQLite database of another application (its `application_id` is
    /// not Ferry's).
    #[error(
        "{path} belongs to another application (application_id {application_id:#x}); use another path"
    )]
    Foreign {
        /// The database path.
        path: PathBuf,
        /// The `application_id` found in the file.
        application_id: i64,
    },
    /// The file was written by a newer Ferry whose schema this build does not know (the
    /// app was downgraded). Nothing was changed.
    #[error(
        "{path} was written by a newer Ferry (schema {found}, this build knows up to {supported}); upgrade the app or use another path"
    )]
    NewerVersion {
        /// The database path.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// Only from a read-only inspection ([`crate::QueueSnapshot::read`]), which never
    /// migrates: the file is a Ferry database of an older schema.
    #[error(
        "{path} was written by an older Ferry (schema {found}, this build reads {supported}); open the queue once with this build (it upgrades the file), then inspect it again"
    )]
    OlderVersion {
        /// The database path.
        path: PathBuf,
        /// The file's schema version.
        found: i64,
        /// The schema version this build reads.
        supported: i64,
    },
    /// Only from a read-only inspection, which never creates a database.
    #[error(
        "there is no queue database at {path}; nothing was queued there yet, or the path is wrong"
    )]
    NotFound {
        /// The database path.
        path: PathBuf,
    },
    /// SQLite found the file damaged.
    #[error("{path} is damaged ({detail}); move it aside and open again to start an empty queue")]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// SQLite's words.
        detail: String,
    },
    /// Another opener holds the database: a queue in this process or another (a second
    /// instance of the app, a `ferry` command). Only one queue may drive a database at a
    /// time; a [`crate::QueueSnapshot`] may read it meanwhile.
    #[error(
        "{path} is in use: by another process (another instance of the app, or a ferry command), or by a queue of this process not yet shut down (await its shutdown before opening it again); close it first, or use another path"
    )]
    InUse {
        /// The database path.
        path: PathBuf,
    },
    /// The database's directory does not exist. Ferry creates the file, never its
    /// directory.
    #[error(
        "database {path} cannot be created: its directory {directory} does not exist; create the directory first, or choose a database path in an existing one"
    )]
    DirectoryMissing {
        /// The database path.
        path: PathBuf,
        /// The missing directory.
        directory: PathBuf,
    },
    /// The file cannot be opened or synced for another reason (permissions, a full or
    /// failing disk). After a failed sync the queue closes; opening it again recovers
    /// from what is on disk.
    #[error("database {path} cannot be opened: {detail}")]
    Unavailable {
        /// The database path.
        path: PathBuf,
        /// What failed, in the operating system's or SQLite's words.
        detail: String,
    },
    /// A statement failed on an open database (SQLite's message). The turn that ran it
    /// was rolled back and nothing of it was announced.
    #[error("database operation failed: {0}")]
    Sqlite(String),
}

impl StoreError {
    pub(crate) fn sqlite(error: rusqlite::Error) -> Self {
        Self::Sqlite(error.to_string())
    }
}

/// Why an attempt, or a whole transfer, failed. Stored with the transfer and sent in events.
#[non_exhaustive]
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
    /// A download's bytes did not match its expected SHA-256 (or the server's own
    /// `Repr-Digest` or `Content-MD5`, or its expected size): fetched again once from
    /// zero, then failed.
    DigestMismatch,
    /// A download finished, but a file was already at its destination and its
    /// [`crate::ConflictRule`] is `Fail`. The existing file is untouched.
    DestinationExists,
    /// A download's partial file or destination could not be written (permissions, a
    /// missing folder, a read-only volume).
    DestinationUnwritable,
    /// The server's answer to a download cannot be used: an encoding Ferry cannot decode,
    /// or a range it did not ask for, again and again.
    UnusableResponse,
    /// A download waits: the volume of its destination has less space available than it
    /// still needs (with what the downloads already running there still need), or it ran
    /// out of space while writing. No attempt is used up; the download starts again on
    /// its own once there is room. The message says how many bytes are needed and
    /// available.
    InsufficientSpace,
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
            Self::DigestMismatch => "digest_mismatch",
            Self::DestinationExists => "destination_exists",
            Self::DestinationUnwritable => "destination_unwritable",
            Self::UnusableResponse => "unusable_response",
            Self::InsufficientSpace => "insufficient_space",
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
            "digest_mismatch" => Self::DigestMismatch,
            "destination_exists" => Self::DestinationExists,
            "destination_unwritable" => Self::DestinationUnwritable,
            "unusable_response" => Self::UnusableResponse,
            "insufficient_space" => Self::InsufficientSpace,
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
///
/// It may gain fields; build one with [`TransferError::new`] or
/// [`TransferError::with_status`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferError {
    /// What kind of failure it was; decide on this, not on the message.
    pub kind: FailureKind,
    /// The server's HTTP status, when the failure is an answer from the server.
    pub http_status: Option<u16>,
    /// The failure in words for a person (never a header value).
    pub message: String,
}

impl TransferError {
    /// A failure of `kind` without an HTTP status.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            http_status: None,
            message: message.into(),
        }
    }

    /// A failure of `kind` that was the server's answer `status`.
    pub fn with_status(kind: FailureKind, status: u16, message: impl Into<String>) -> Self {
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
