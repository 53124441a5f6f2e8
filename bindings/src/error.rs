//! The one error type apps catch: `FerryError` in Swift, `FerryException` in Kotlin.
//!
//! Flat: each variant is its own case with a readable message that says what to do.
//! Messages never contain header values.

use ferry::Error;

#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum FerryError {
    #[error("{message}")]
    SourceMissing { message: String },
    #[error("{message}")]
    SourceNotAFile { message: String },
    #[error("{message}")]
    SourceUnreadable { message: String },
    #[error("{message}")]
    SourceChanged { message: String },
    #[error("{message}")]
    InvalidUrl { message: String },
    #[error("{message}")]
    InvalidHeader { message: String },
    #[error("{message}")]
    InvalidTransferId { message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    IllegalTransition { message: String },
    #[error("{message}")]
    Database { message: String },
    #[error("{message}")]
    HttpClient { message: String },
    /// A `QueueConfig` value would make every attempt fail or nothing run; the message
    /// names the field and what to use instead.
    #[error("{message}")]
    InvalidConfig { message: String },
    /// A bulk call (`cancelWhere`, `retryWhere`, `purgeWhere`) selected a state it never
    /// changes; the message says which states it acts on.
    #[error("{message}")]
    InvalidSelection { message: String },
    #[error("{message}")]
    Closed { message: String },
    #[error("{message}")]
    Internal { message: String },
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
