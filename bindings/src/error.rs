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
            Error::Closed => Self::Closed { message },
        }
    }
}
