//! The one error type apps catch: `FerryError` in Swift, `FerryException` in Kotlin.
//!
//! Flat: each variant is its own case with a readable message that says what to do.
//! Messages never contain header values.

use ferry::Error;

/// Every error a Ferry call throws, with a message that says what went wrong and what to
/// do. Catch the case to act on it in code; show the message to a person.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum FerryError {
    /// An enqueued source file does not exist. Nothing was queued for it.
    #[error("{message}")]
    SourceMissing {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// An enqueued source is a directory, a pipe, a device or another special file, not a
    /// regular file. Nothing was queued for it; the message says what to enqueue instead.
    #[error("{message}")]
    SourceNotAFile {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// An enqueued source file cannot be opened or read (permissions, an I/O error).
    /// Nothing was queued for it.
    #[error("{message}")]
    SourceUnreadable {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// A source file changed after it was enqueued; enqueue it again to send the new content.
    #[error("{message}")]
    SourceChanged {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// The destination is not an absolute http or https URL Ferry can send to (or it holds a
    /// password, which would be stored). The message shows it without its query.
    #[error("{message}")]
    InvalidUrl {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// A header name or value HTTP does not allow, an empty multipart field name, or an
    /// `idempotencyHeader` that is not a header name. Nothing was queued or opened.
    #[error("{message}")]
    InvalidHeader {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// An upload's metadata or group is out of bounds: more than 64 entries or 8 KiB of
    /// keys and values, an empty key, an empty group or one over 256 bytes. Nothing was
    /// queued for it; the message says what to do.
    #[error("{message}")]
    InvalidMetadata {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// A text given as a transfer id is not one (a UUID).
    #[error("{message}")]
    InvalidTransferId {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// No transfer has this id: it was never enqueued in this database, or it was purged.
    #[error("{message}")]
    NotFound {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// The transfer's state does not allow this call (retrying one that succeeded, pausing a
    /// cancelled one...). The transfer is unchanged.
    #[error("{message}")]
    IllegalTransition {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// The database could not be opened, read or written: in use by another opener, damaged,
    /// written by a newer Ferry, its directory missing, a full or failing disk. The message
    /// names the file and what to do; what is already on disk is kept.
    #[error("{message}")]
    Database {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// The HTTP client could not be built at open, usually because a certificate in
    /// `extraRootCertificatesPem` cannot be read.
    #[error("{message}")]
    HttpClient {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// A `QueueConfig` value would make every attempt fail or nothing run; the message
    /// names the field and what to use instead.
    #[error("{message}")]
    InvalidConfig {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// A bulk call (`cancelWhere`, `retryWhere`, `purgeWhere`) selected a state it never
    /// changes; the message says which states it acts on.
    #[error("{message}")]
    InvalidSelection {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// The queue has been closed (or stopped after a failed disk sync): open it again to
    /// go on. Nothing durable is lost.
    #[error("{message}")]
    Closed {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
    /// Ferry could not run the call: a bug in Ferry made it panic (the queue's stored state
    /// is intact; report the message), or Ferry's runtime could not start or is shutting
    /// down.
    #[error("{message}")]
    Internal {
        /// What went wrong and what to do, in words for a person.
        message: String,
    },
}

impl From<Error> for FerryError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::SourceMissing { .. } => Self::SourceMissing { message },
            Error::SourceNotAFile { .. } => Self::SourceNotAFile { message },
            Error::SourceUnreadable { .. } => Self::SourceUnreadable { message },
            Error::SourceChanged { .. } => Self::SourceChanged { message },
            Error::InvalidUrl { .. } => Self::InvalidUrl { message },
            Error::InvalidHeader { .. } => Self::InvalidHeader { message },
            Error::InvalidMetadata { .. } => Self::InvalidMetadata { message },
            Error::InvalidTransferId { .. } => Self::InvalidTransferId { message },
            Error::NotFound { .. } => Self::NotFound { message },
            Error::IllegalTransition { .. } => Self::IllegalTransition { message },
            Error::Store(_) => Self::Database { message },
            Error::HttpClient { .. } => Self::HttpClient { message },
            Error::InvalidConfig { .. } => Self::InvalidConfig { message },
            Error::InvalidSelection { .. } => Self::InvalidSelection { message },
            Error::Closed => Self::Closed { message },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{TransferQueue, default_queue_config};

    /// Swift and Kotlin get a config that makes every attempt fail back as
    /// `FerryError.InvalidConfig`, not silently clamped.
    #[tokio::test]
    async fn a_config_that_makes_every_attempt_fail_is_refused_as_invalid_config() {
        // Refused before the database is opened: nothing is created at this path.
        let path = "never-created-by-this-test.db".to_owned();
        let mut no_stall_time = default_queue_config(path.clone());
        no_stall_time.stall_timeout = Duration::ZERO;
        let mut no_requests = default_queue_config(path.clone());
        no_requests.global_limit = 0;
        let mut no_attempts = default_queue_config(path);
        no_attempts.max_attempts = 0;
        for (config, field) in [
            (no_stall_time, "stall_timeout"),
            (no_requests, "limits.global"),
            (no_attempts, "retry.max_attempts"),
        ] {
            match TransferQueue::open(config).await.err() {
                Some(FerryError::InvalidConfig { message }) => {
                    assert!(message.contains(field), "{message}");
                    assert!(message.contains("use at least"), "{message}");
                }
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
        assert!(!std::path::Path::new("never-created-by-this-test.db").exists());
    }
}
