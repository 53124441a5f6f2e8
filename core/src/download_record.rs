//! [`DownloadRecord`]: how far a download got and what it is pinned to (the server's
//! validators, the total length), as attempts checkpoint it and the store keeps it. A
//! leaf, written by the in-process lane's checkpoints, persisted by the actor through
//! `store/downloads.rs`, read back for the next attempt, so that the lane never touches
//! the store.
//!
//! The rule it carries: `offset` bytes of the partial file are durable (synced) and belong
//! to the representation the validators name, before the record says so. Must never hold
//! anything secret (it is stored) or decide whether the server's file is still the same
//! (the lane asks the server with `If-Range`).

use std::path::PathBuf;

/// A download's resume state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DownloadRecord {
    /// The server's strong `ETag` for the bytes held, if it sent one.
    pub etag: Option<String>,
    /// The server's `Last-Modified` for the bytes held, if it sent one.
    pub last_modified: Option<String>,
    /// The whole file's length, once a response said it.
    pub total: Option<u64>,
    /// Bytes of the partial file that are durable and verified to belong to these
    /// validators: where the next attempt continues.
    pub offset: u64,
    /// How many times the finished bytes did not match the expected digest (fetched again
    /// once from zero, then failed).
    pub digest_failures: u32,
    /// The path a finishing attempt is renaming the file to: durable before the rename,
    /// so a crash after it finds the file there.
    pub placing: Option<PathBuf>,
}

impl DownloadRecord {
    /// Whether a resume can be pinned to these validators: a strong ETag, or a
    /// Last-Modified (RFC 9110 §13.1.5 takes it only as a strong one; the lane sends it
    /// only when no ETag is known).
    pub(crate) fn if_range(&self) -> Option<&str> {
        match (&self.etag, &self.last_modified) {
            (Some(etag), _) if !etag.starts_with("W/") => Some(etag),
            (None, Some(date)) => Some(date),
            _ => None,
        }
    }
}
