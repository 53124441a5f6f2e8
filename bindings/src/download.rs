//! Downloads across the FFI: the `Download` record an app enqueues, its conflict rule, and
//! a transfer's direction, with their conversions to and from `ferry`'s. No logic: the
//! checks are `ferry`'s, at enqueue.

use std::collections::HashMap;

use crate::FerryError;
use crate::numbers::{long, unsigned_long};
use crate::records::{
    Header, constraints_to_core, headers_from_core, headers_to_core, metadata_copy,
};

/// Which way a transfer's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Direction {
    /// A local file sent to a server (`enqueue`).
    Upload,
    /// A file fetched from a server into a local path (`enqueueDownload`).
    Download,
}

impl From<ferry::Direction> for Direction {
    fn from(direction: ferry::Direction) -> Self {
        match direction {
            ferry::Direction::Upload => Self::Upload,
            ferry::Direction::Download => Self::Download,
        }
    }
}

/// What happens to a file already at a download's destination when the download finishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictRule {
    /// The new file replaces it, in one rename (the default).
    #[default]
    Replace,
    /// Both are kept: the new file gets a free name beside it (`name (1).ext`, ...); read
    /// it from the transfer's `savedAs`.
    KeepBoth,
    /// The download fails (`DestinationExists`) and the existing file stays.
    Fail,
}

impl From<ConflictRule> for ferry::ConflictRule {
    fn from(rule: ConflictRule) -> Self {
        match rule {
            ConflictRule::Replace => Self::Replace,
            ConflictRule::KeepBoth => Self::KeepBoth,
            ConflictRule::Fail => Self::Fail,
        }
    }
}

impl From<ferry::ConflictRule> for ConflictRule {
    fn from(rule: ferry::ConflictRule) -> Self {
        match rule {
            ferry::ConflictRule::Replace => Self::Replace,
            ferry::ConflictRule::KeepBoth => Self::KeepBoth,
            ferry::ConflictRule::Fail => Self::Fail,
        }
    }
}

/// One file to fetch from `url` into `destinationPath`. Ferry writes a hidden partial file
/// beside the destination (same folder, so the same volume), resumes it after any
/// interruption from the bytes it made durable, checks the bytes, and renames the file
/// into place only when it is complete: the destination never holds a partial file.
///
/// Headers are stored with the transfer: give credentials through a request authorizer.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Download {
    /// The absolute `http` or `https` URL to fetch. It is stored, so no password in it.
    pub url: String,
    /// Where the file goes. Its folder must exist (else `InvalidDownload`).
    pub destination_path: String,
    /// The size the file must have, if known; a different one fails the download.
    #[uniffi(default = None)]
    pub expected_size: Option<i64>,
    /// The file's SHA-256 as 64 hex digits, if known: checked before the file is put in
    /// place (a mismatch fails as `DigestMismatch`, after one fresh try).
    #[uniffi(default = None)]
    pub expected_sha256: Option<String>,
    /// Extra request headers sent with every attempt. Stored.
    #[uniffi(default = [])]
    pub headers: Vec<Header>,
    /// Higher runs first; equal priorities run in enqueue order, shared with uploads
    /// (default 0).
    #[uniffi(default = 0)]
    pub priority: i32,
    /// May use an expensive network: cellular, a personal hotspot (default yes).
    #[uniffi(default = true)]
    pub allow_expensive_network: bool,
    /// May use a constrained network: Low Data Mode, Data Saver (default yes).
    #[uniffi(default = true)]
    pub allow_constrained_network: bool,
    /// The app's own data, stored and never sent; bounds as for uploads. Default: empty.
    #[uniffi(default)]
    pub metadata: HashMap<String, String>,
    /// The app's group (or tag), as for uploads; never sent. Default: none.
    #[uniffi(default)]
    pub group: Option<String>,
    /// What to do with a file already at the destination (default: none given, which is
    /// `replace`).
    #[uniffi(default = None)]
    pub on_conflict: Option<ConflictRule>,
}

impl Download {
    pub(crate) fn to_core(&self) -> Result<ferry::Download, FerryError> {
        let expected_size = self
            .expected_size
            .map(|size| unsigned_long("expectedSize", size))
            .transpose()?;
        Ok(ferry::Download {
            url: self.url.clone(),
            destination: self.destination_path.clone().into(),
            expected_size,
            expected_sha256: self.expected_sha256.clone(),
            headers: headers_to_core(&self.headers),
            priority: self.priority,
            constraints: constraints_to_core(
                self.allow_expensive_network,
                self.allow_constrained_network,
            ),
            metadata: metadata_copy(&self.metadata),
            group: self.group.clone(),
            on_conflict: self.on_conflict.unwrap_or_default().into(),
        })
    }

    pub(crate) fn from_core(download: &ferry::Download) -> Self {
        Self {
            url: download.url.clone(),
            destination_path: download.destination.to_string_lossy().into_owned(),
            expected_size: download.expected_size.map(long),
            expected_sha256: download.expected_sha256.clone(),
            headers: headers_from_core(download.headers.clone()),
            priority: download.priority,
            allow_expensive_network: download.constraints.allow_expensive,
            allow_constrained_network: download.constraints.allow_constrained,
            metadata: metadata_copy(&download.metadata),
            group: download.group.clone(),
            on_conflict: Some(download.on_conflict.into()),
        }
    }
}
