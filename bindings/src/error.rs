//! The one error type apps catch: `FerryError` in Swift, `FerryException` in Kotlin.
//!
//! Each case carries what a program acts on (the path, the id, the state, the field) and
//! `description`, the whole sentence for a person: Swift's `localizedDescription` and
//! Kotlin's `message` are that sentence (Swift through the exported `Display`; Kotlin
//! through `xtask/src/kotlin_error_message.rs`). It must never carry a header value.

use std::path::Path;

use ferry::{Error, StoreError, TransferId};

use crate::records::StateFilter;

/// Every error a Ferry call throws. Match the case to act on it in code (its fields say
/// which path, id, state or setting); show `description` (Swift's
/// `localizedDescription`, Kotlin's `message`) to a person: it says what went wrong and
/// what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum FerryError {
    /// An enqueued source file does not exist. Nothing was queued for it.
    #[error("{description}")]
    SourceMissing {
        /// The source path as the app gave it.
        path: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// An enqueued source is a directory, a pipe, a device or another special file, not a
    /// regular file. Nothing was queued for it; the description says what to enqueue
    /// instead.
    #[error("{description}")]
    SourceNotAFile {
        /// The source path as the app gave it.
        path: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// An enqueued source file cannot be opened or read (permissions, an I/O error).
    /// Nothing was queued for it.
    #[error("{description}")]
    SourceUnreadable {
        /// The source path as the app gave it.
        path: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// A source file changed after it was enqueued; enqueue it again to send the new content.
    #[error("{description}")]
    SourceChanged {
        /// The source path as the app gave it.
        path: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// A download cannot be queued: its folder is missing, its destination is a folder, or
    /// its expected SHA-256 is not 64 hex digits. Nothing was queued for it.
    #[error("{description}")]
    InvalidDownload {
        /// The destination path as the app gave it.
        path: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// The destination is not an absolute http or https URL Ferry can send to (or it holds a
    /// password, which would be stored). Nothing was queued for it.
    #[error("{description}")]
    InvalidDestination {
        /// The destination as shown: without its query, fragment and user information,
        /// which may hold a signature or a password.
        destination: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// A header name or value HTTP does not allow, an empty multipart field name, or an
    /// `idempotencyHeader` that is not a header name. Nothing was queued or opened.
    #[error("{description}")]
    InvalidHeader {
        /// The header's name (never its value, which may be a secret).
        name: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// An upload's metadata or group is out of bounds: more than 64 entries or 8 KiB of
    /// keys and values, an empty key, an empty group or one over 256 bytes. Nothing was
    /// queued for it; the description says what to do.
    #[error("{description}")]
    InvalidMetadata {
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// A value given to a call is outside what it takes (a negative count, size or
    /// offset). Nothing was changed.
    #[error("{description}")]
    InvalidArgument {
        /// The argument's name, as the call spells it.
        name: String,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// No transfer has this id: it was never enqueued in this database, or it was purged.
    #[error("{description}")]
    NotFound {
        /// The id that was asked for.
        id: TransferId,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// The transfer's state does not allow this call (retrying one that succeeded, pausing a
    /// cancelled one...). The transfer is unchanged.
    #[error("{description}")]
    IllegalTransition {
        /// The transfer the call was for.
        id: TransferId,
        /// The call, in words: `pause`, `resume`, `cancel` or `retry`.
        action: String,
        /// The state the transfer was in.
        state: StateFilter,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// The database could not be opened, read or written: in use by another opener, damaged,
    /// written by a newer Ferry, its directory missing, a full or failing disk. What is
    /// already on disk is kept.
    #[error("{description}")]
    Database {
        /// The database file, when the failure concerns the file (`nil`/`null` for a
        /// statement that failed on an open database).
        path: Option<String>,
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// The HTTP client could not be built at open, usually because a certificate in
    /// `extraRootCertificates` cannot be read.
    #[error("{description}")]
    HttpClient {
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// A `QueueConfig` value would make every attempt fail or nothing run. Nothing was
    /// opened.
    #[error("{description}")]
    InvalidConfig {
        /// The `QueueConfig` field by its Swift and Kotlin name (e.g. `maxAttempts`).
        field: String,
        /// What went wrong and what to use instead, in words for a person.
        description: String,
    },
    /// A bulk call (`cancelWhere`, `retryWhere`, `purgeWhere`) selected a state it never
    /// changes. Nothing was changed.
    #[error("{description}")]
    InvalidSelection {
        /// The call, in words: `cancel`, `retry` or `purge`.
        action: String,
        /// The selected state the call never changes.
        state: StateFilter,
        /// What went wrong and which states the call acts on, in words for a person.
        description: String,
    },
    /// The queue has been closed (or stopped after a failed disk sync): open it again to
    /// go on. Nothing durable is lost.
    #[error("{description}")]
    Closed {
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
    /// Ferry could not run the call: a bug in Ferry made it panic (the queue's stored state
    /// is intact; report the description), or Ferry's runtime could not start or is
    /// shutting down.
    #[error("{description}")]
    Internal {
        /// What went wrong and what to do, in words for a person.
        description: String,
    },
}

impl From<Error> for FerryError {
    fn from(error: Error) -> Self {
        let description = in_app_words(&error.to_string());
        match error {
            Error::SourceMissing { path } => Self::SourceMissing {
                path: shown(&path),
                description,
            },
            Error::SourceNotAFile { path, .. } => Self::SourceNotAFile {
                path: shown(&path),
                description,
            },
            Error::SourceUnreadable { path, .. } => Self::SourceUnreadable {
                path: shown(&path),
                description,
            },
            Error::SourceChanged { path } => Self::SourceChanged {
                path: shown(&path),
                description,
            },
            Error::InvalidUrl { url, .. } => Self::InvalidDestination {
                destination: url,
                description,
            },
            Error::InvalidHeader { name, .. } => Self::InvalidHeader { name, description },
            Error::InvalidDownload { path, .. } => Self::InvalidDownload {
                path: shown(&path),
                description,
            },
            Error::InvalidMetadata { .. } => Self::InvalidMetadata { description },
            // Only from text given as an id; across the FFI ids are `UUID`s already.
            Error::InvalidTransferId { .. } => Self::InvalidArgument {
                name: "id".to_owned(),
                description,
            },
            Error::NotFound { id } => Self::NotFound { id, description },
            Error::IllegalTransition { id, action, state } => Self::IllegalTransition {
                id,
                action: action.to_owned(),
                state: state.into(),
                description,
            },
            Error::Store(store) => Self::Database {
                path: database_path(&store).map(shown),
                description,
            },
            Error::HttpClient { .. } => Self::HttpClient { description },
            Error::InvalidConfig { field, .. } => {
                let named = config_field(field);
                Self::InvalidConfig {
                    field: named.to_owned(),
                    description: description.replacen(field, named, 1),
                }
            }
            Error::InvalidSelection { action, state, .. } => Self::InvalidSelection {
                action: action.to_owned(),
                state: state.into(),
                description,
            },
            Error::Closed => Self::Closed { description },
            // `ferry::Error` may grow (`#[non_exhaustive]`): a case this build does not
            // know still reaches the app with its words.
            _ => Self::Internal { description },
        }
    }
}

impl FerryError {
    /// A negative `value` given for `name`, which takes only zero or more.
    pub(crate) fn negative(name: &str, value: i64) -> Self {
        Self::InvalidArgument {
            name: name.to_owned(),
            description: format!("{name} is {value}; it must be zero or more"),
        }
    }
}

/// A path as the app gave it, for a field of the error.
fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The database file a store error names, if it names one.
fn database_path(error: &StoreError) -> Option<&Path> {
    match error {
        StoreError::NotADatabase { path }
        | StoreError::Foreign { path, .. }
        | StoreError::NewerVersion { path, .. }
        | StoreError::OlderVersion { path, .. }
        | StoreError::NotFound { path }
        | StoreError::Corrupt { path, .. }
        | StoreError::InUse { path }
        | StoreError::DirectoryMissing { path, .. }
        | StoreError::Unavailable { path, .. } => Some(path),
        _ => None,
    }
}

/// The `QueueConfig` field, as Swift and Kotlin name it, that stands for `ferry`'s field
/// `rust` (`config_check.rs` names the fields it refuses by their Rust paths).
fn config_field(rust: &str) -> &str {
    match rust {
        "limits.per_host" => "perHostLimit",
        "limits.global" => "globalLimit",
        "retry.max_attempts" => "maxAttempts",
        "stall_timeout" => "stallTimeout",
        "auth.authorize_timeout" => "authorizeTimeout",
        "platform.platform_stall_timeout" => "platformStallTimeout",
        other => other,
    }
}

/// A failure's message in the words of Swift and Kotlin: the setting to trust a
/// certificate is `extraRootCertificates` there.
pub(crate) fn in_app_words(message: &str) -> String {
    message.replace("extra_root_certificates_pem", "extraRootCertificates")
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
            (no_stall_time, "stallTimeout"),
            (no_requests, "globalLimit"),
            (no_attempts, "maxAttempts"),
        ] {
            match TransferQueue::open(config).await.err() {
                Some(FerryError::InvalidConfig {
                    field: named,
                    description,
                }) => {
                    assert_eq!(named, field);
                    assert!(description.contains("use at least"), "{description}");
                    assert!(
                        description.contains(field),
                        "named as the app names it: {description}"
                    );
                }
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
        assert!(!std::path::Path::new("never-created-by-this-test.db").exists());
    }
}
