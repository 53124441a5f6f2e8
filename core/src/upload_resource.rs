//! [`UploadResource`]: where a transfer's resumable upload lives on the server and the
//! last offset the server confirmed. Written by the in-process lane's checkpoints,
//! persisted by the actor through `store/resumable.rs`, read back for the next attempt;
//! a leaf, so that the lane never touches the store.
//!
//! Must never hold anything secret (it is stored) or decide whether the resource is still
//! valid (the lane asks the server).

use crate::resumable::ResumableProtocol;

/// A transfer's upload resource on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UploadResource {
    pub protocol: ResumableProtocol,
    /// The absolute URL of the upload resource (the creation response's `Location`).
    pub upload_url: String,
    /// The last offset the server confirmed (a `HEAD` or a `PATCH` answer).
    pub confirmed_offset: u64,
}
