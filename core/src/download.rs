//! What an app asks Ferry to fetch ([`Download`]), which way a transfer goes
//! ([`Direction`]), what happens to a file already at the destination ([`ConflictRule`]),
//! and the checks made before a download is accepted.
//!
//! A download is a transfer like an upload, in the same queue, store, limits and breakers:
//! its local file is stored where an upload's source is, its URL where an upload's
//! destination is. Validation happens at enqueue, before anything is stored: a URL that is
//! not http(s), a malformed header, metadata out of bounds, an expected SHA-256 that is not
//! 64 hex digits, or a destination whose folder does not exist (or that is a folder) is
//! refused with a typed [`Error`] and never enters the queue. This module must never touch
//! the store or the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::upload::{Constraints, check_header, host_key, parse_destination};

/// Which way a transfer's bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// A local file sent to a server ([`crate::Upload`]).
    Upload,
    /// A file fetched from a server into a local path ([`Download`]).
    Download,
}

impl Direction {
    /// The stored name (`upload`, `download`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "upload" => Some(Self::Upload),
            "download" => Some(Self::Download),
            _ => None,
        }
    }
}

/// What a finished download does when a file already exists at its destination. Decided
/// when the download finishes (a file may appear while it runs); the partial file is never
/// the destination, so an existing file is untouched until then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// The new file replaces it, in one rename (the default, as `curl -o` does).
    #[default]
    Replace,
    /// Both are kept: the new file gets a free name beside it (`name (1).ext`, ...), read
    /// from [`crate::Transfer::saved_as`].
    KeepBoth,
    /// The download fails (`FailureKind::DestinationExists`) and the existing file stays.
    Fail,
}

/// One file to fetch from `url` into `destination`.
///
/// Headers given here are **stored in the database** with the transfer: put secrets in a
/// request authorizer instead. `metadata` and `group` are the app's own, as for uploads.
/// Enqueueing the same URL to the same destination again returns the existing transfer
/// while it is not finished or after it succeeded.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `Download { field: value, ..Download::new(url, path) }`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// The absolute `http` or `https` URL to fetch. It is stored, so it must not carry a
    /// password (a presigned URL's query is fine, and never logged).
    pub url: String,
    /// Where the file goes. Its folder must exist; Ferry writes a hidden partial file
    /// beside it (same folder, so same volume) and renames it into place when complete.
    pub destination: PathBuf,
    /// The size the file must have, if known; a different one fails the download.
    pub expected_size: Option<u64>,
    /// The file's SHA-256 as 64 hex digits, if known: the bytes are checked against it
    /// before the file is put in place.
    pub expected_sha256: Option<String>,
    /// Extra request headers, `(name, value)`, sent with every attempt. Stored.
    pub headers: Vec<(String, String)>,
    /// Higher runs first; equal priorities run in enqueue order (shared with uploads).
    pub priority: i32,
    /// Which networks it may use.
    pub constraints: Constraints,
    /// The app's own data about this download, stored, never sent (bounds as uploads').
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The app's group for this download; never sent (bounds as uploads').
    #[serde(default)]
    pub group: Option<String>,
    /// What happens to a file already at `destination` when the download finishes.
    #[serde(default)]
    pub on_conflict: ConflictRule,
}

impl Download {
    /// A download of `url` into `destination`: priority 0, any network, an existing file
    /// replaced.
    pub fn new(url: impl Into<String>, destination: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            destination: destination.into(),
            expected_size: None,
            expected_sha256: None,
            headers: Vec::new(),
            priority: 0,
            constraints: Constraints::default(),
            metadata: BTreeMap::new(),
            group: None,
            on_conflict: ConflictRule::Replace,
        }
    }

    /// The same download, checked against this SHA-256 (64 hex digits).
    pub fn with_sha256(mut self, hex: impl Into<String>) -> Self {
        self.expected_sha256 = Some(hex.into());
        self
    }

    /// The same download, which must be `size` bytes.
    pub fn with_expected_size(mut self, size: u64) -> Self {
        self.expected_size = Some(size);
        self
    }

    /// The same download with one more header (stored: never a secret).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same download with this priority: higher runs first (default 0).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The same download with these network constraints.
    pub fn with_constraints(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// The same download with one more metadata entry (the app's own data, never sent).
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The same download in this group (the app's own tag, never sent).
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The same download with this rule for a file already at the destination.
    pub fn on_conflict(mut self, rule: ConflictRule) -> Self {
        self.on_conflict = rule;
        self
    }
}

/// Shows sensitive header values and the URL's query redacted, as `Upload`'s does.
impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("url", &crate::auth::redact::redact_url(&self.url))
            .field("destination", &self.destination)
            .field("expected_size", &self.expected_size)
            .field("expected_sha256", &self.expected_sha256)
            .field(
                "headers",
                &crate::auth::redact::redact_headers(&self.headers, &[]),
            )
            .field("priority", &self.priority)
            .field("constraints", &self.constraints)
            .field("metadata", &self.metadata)
            .field("group", &self.group)
            .field("on_conflict", &self.on_conflict)
            .finish()
    }
}

/// What the store keeps of a download beyond the columns it shares with an upload: a JSON
/// object in the `download` column (migration 9).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DownloadSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_sha256: Option<String>,
    #[serde(default)]
    pub on_conflict: ConflictRule,
}

impl DownloadSpec {
    pub(crate) fn of(download: &Download) -> Self {
        Self {
            expected_size: download.expected_size,
            expected_sha256: download
                .expected_sha256
                .as_ref()
                .map(|hex| hex.to_ascii_lowercase()),
            on_conflict: download.on_conflict,
        }
    }

    /// The expected SHA-256 as bytes (validated at enqueue; a stored value that does not
    /// decode is treated as none).
    pub(crate) fn sha256(&self) -> Option<[u8; 32]> {
        let hex = self.expected_sha256.as_deref()?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex, &mut bytes).ok()?;
        Some(bytes)
    }
}

/// The partial file Ferry owns for download `id`: hidden, in the destination's folder (so
/// on its volume, never a cache the OS may purge), named by the transfer so that two
/// downloads to one destination never share it.
pub(crate) fn partial_path(destination: &Path, id: &crate::TransferId) -> PathBuf {
    let name = format!(".ferry-{id}.partial");
    match destination.parent() {
        Some(folder) => folder.join(name),
        None => PathBuf::from(name),
    }
}

/// The file an OS task hands one segment of download `id` in: bytes from `first` on,
/// moved there by the platform shim before its delegate returns, beside the partial file
/// (same folder, same volume) so that the engine appends it without crossing volumes.
pub(crate) fn segment_path(destination: &Path, id: &crate::TransferId, first: u64) -> PathBuf {
    let name = format!("{}{first}", segment_prefix(id));
    match destination.parent() {
        Some(folder) => folder.join(name),
        None => PathBuf::from(name),
    }
}

/// How the names of download `id`'s segment files begin.
pub(crate) fn segment_prefix(id: &crate::TransferId) -> String {
    format!(".ferry-{id}.seg-")
}

/// A download that passed every check.
#[derive(Clone, Debug)]
pub(crate) struct ValidatedDownload {
    pub download: Download,
    pub host: String,
}

/// Every enqueue-time check on one download. Touches the file system (the destination's
/// folder), so it runs off the runtime's worker.
pub(crate) fn validate(download: Download) -> Result<ValidatedDownload, Error> {
    let url = parse_destination(&download.url)?;
    for (name, value) in &download.headers {
        check_header(name, value)?;
    }
    crate::app_data::check(&download.metadata, download.group.as_deref())?;
    if let Some(hex) = &download.expected_sha256
        && (hex.len() != 64 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
    {
        return Err(Error::InvalidDownload {
            path: download.destination.clone(),
            problem: "its expected SHA-256 is not 64 hex digits".into(),
            instead: "give the digest as hex (as `sha256sum` prints it), or none".into(),
        });
    }
    check_destination(&download.destination)?;
    Ok(ValidatedDownload {
        host: host_key(&url),
        download,
    })
}

/// The destination must be an absolute path with a file name, in a folder that exists,
/// and not itself a folder.
fn check_destination(path: &Path) -> Result<(), Error> {
    let refuse = |problem: &str, instead: &str| Error::InvalidDownload {
        path: path.to_owned(),
        problem: problem.to_owned(),
        instead: instead.to_owned(),
    };
    if !path.is_absolute() {
        return Err(refuse(
            "its destination is not an absolute path",
            "give the full path of the file to write",
        ));
    }
    let (Some(parent), Some(_)) = (path.parent(), path.file_name()) else {
        return Err(refuse(
            "its destination has no file name",
            "give the path of a file, not of a folder",
        ));
    };
    match std::fs::metadata(parent) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            return Err(refuse(
                "the destination's folder is not a folder",
                "give a path inside an existing folder",
            ));
        }
        Err(_) => {
            return Err(refuse(
                "the destination's folder does not exist",
                "create the folder first",
            ));
        }
    }
    if std::fs::metadata(path).is_ok_and(|metadata| metadata.is_dir()) {
        return Err(refuse(
            "its destination is a folder",
            "give the path of the file to write inside it",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_download_passes_and_counts_under_its_host() {
        let dir = tempfile::tempdir().expect("dir");
        let download = Download::new("http://127.0.0.1:8080/f", dir.path().join("f"))
            .with_sha256("AB".repeat(32));
        let valid = validate(download).expect("valid");
        assert_eq!(valid.host, "127.0.0.1:8080");
        let spec = DownloadSpec::of(&valid.download);
        assert_eq!(spec.sha256(), Some([0xab; 32]));
    }

    #[test]
    fn bad_destinations_and_digests_are_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let url = "http://h/f";
        for path in [
            PathBuf::from("relative/f"),
            dir.path().join("missing").join("f"),
            dir.path().to_path_buf(),
        ] {
            let error = validate(Download::new(url, &path)).unwrap_err();
            assert!(matches!(error, Error::InvalidDownload { .. }), "{error}");
        }
        let error =
            validate(Download::new(url, dir.path().join("f")).with_sha256("abc")).unwrap_err();
        assert!(error.to_string().contains("SHA-256"), "{error}");
        let error = validate(Download::new("ftp://h/f", dir.path().join("f"))).unwrap_err();
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
    }

    #[test]
    fn directions_and_specs_round_trip_through_their_stored_forms() {
        for direction in [Direction::Upload, Direction::Download] {
            assert_eq!(Direction::parse(direction.as_str()), Some(direction));
        }
        let spec = DownloadSpec {
            expected_size: Some(5),
            expected_sha256: None,
            on_conflict: ConflictRule::KeepBoth,
        };
        let json = serde_json::to_string(&spec).expect("json");
        assert_eq!(
            serde_json::from_str::<DownloadSpec>(&json).expect("back"),
            spec
        );
    }
}
