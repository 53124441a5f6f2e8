//! What an app asks Ferry to send, and the checks made before it is accepted.
//!
//! Validation happens at enqueue, before anything is stored: a file that is missing, a
//! directory or another special file, a file of `/proc` or `/sys`, unreadable, a URL that is not http(s), a malformed header or
//! metadata or a group out of bounds (`app_data.rs`) is refused with a typed [`Error`] and
//! never enters the queue. This module must never touch the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;
use crate::app_data;
use crate::source_check::{self, SourceProblem, check_opened, open_nonblocking};

/// How the file is sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UploadMethod {
    /// `PUT` with the file as the raw body.
    Put,
    /// `POST` with the file as the raw body.
    Post,
    /// `POST` of a `multipart/form-data` body with the file in one part named `field`.
    PostMultipart {
        /// The form field's name; must not be empty. The part's file name is the
        /// source's.
        field: String,
    },
}

impl UploadMethod {
    /// The form stored in the database and used to recognise a repeated enqueue.
    pub(crate) fn to_stored(&self) -> (&'static str, Option<&str>) {
        match self {
            Self::Put => ("PUT", None),
            Self::Post => ("POST", None),
            Self::PostMultipart { field } => ("POST_MULTIPART", Some(field)),
        }
    }

    pub(crate) fn from_stored(method: &str, field: Option<String>) -> Option<Self> {
        match (method, field) {
            ("PUT", _) => Some(Self::Put),
            ("POST", _) => Some(Self::Post),
            ("POST_MULTIPART", Some(field)) => Some(Self::PostMultipart { field }),
            _ => None,
        }
    }
}

/// Which networks a transfer may use. Both default to allowed.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `Constraints { field: value, ..Constraints::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    /// May use an expensive network (cellular, a personal hotspot).
    pub allow_expensive: bool,
    /// May use a constrained network (Low Data Mode, Data Saver).
    pub allow_constrained: bool,
}

impl Default for Constraints {
    fn default() -> Self {
        Self {
            allow_expensive: true,
            allow_constrained: true,
        }
    }
}

/// One file to send to one destination.
///
/// Headers given here are **stored in the database** with the transfer. Put secrets such
/// as bearer tokens in a request authorizer instead, so that they are never written to disk.
///
/// `metadata` and `group` are the app's own: stored with the transfer and returned on it
/// ([`crate::Transfer::upload`]), never sent to the server (put what the server must see in
/// `headers`). They do not take part in recognising a repeated enqueue: enqueueing the same
/// source, destination and method again returns the existing transfer with the metadata
/// and group it was first enqueued with.
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `Upload { field: value, ..Upload::put(source, destination) }`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The file to send. It must be a regular file when enqueued, and keep its size and
    /// modification time until it is sent: a file that changes fails as changed.
    pub source: PathBuf,
    /// The absolute `http` or `https` URL the file is sent to. It is stored, so it must
    /// not carry a password (a presigned URL's query is fine, and never logged).
    pub destination: String,
    /// How the file is sent (default `PUT`).
    pub method: UploadMethod,
    /// Extra request headers, `(name, value)`, sent with every attempt. Stored with the
    /// transfer: no secrets here (see above).
    pub headers: Vec<(String, String)>,
    /// Higher runs first; equal priorities run in enqueue order.
    pub priority: i32,
    /// Which networks it may use.
    pub constraints: Constraints,
    /// The app's own data about this upload (an album id, a record's key...): stored with
    /// the transfer, never sent. At most [`crate::MAX_METADATA_ENTRIES`] entries of
    /// [`crate::MAX_METADATA_BYTES`] in all (keys and values), no empty key.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The app's group (or tag) for this upload: [`crate::Selection::with_group`] cancels,
    /// retries, purges and lists by it. Not empty, at most [`crate::MAX_GROUP_BYTES`]
    /// bytes; never sent.
    #[serde(default)]
    pub group: Option<String>,
}

impl Upload {
    /// A `PUT` of `source` to `destination`, priority 0, any network.
    pub fn put(source: impl Into<PathBuf>, destination: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            destination: destination.into(),
            method: UploadMethod::Put,
            headers: Vec::new(),
            priority: 0,
            constraints: Constraints::default(),
            metadata: BTreeMap::new(),
            group: None,
        }
    }

    /// The same upload sent with `method` instead.
    pub fn with_method(mut self, method: UploadMethod) -> Self {
        self.method = method;
        self
    }

    /// The same upload with one more header (stored: never a secret).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same upload with this priority: higher runs first (default 0).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The same upload with these network constraints.
    pub fn with_constraints(mut self, constraints: Constraints) -> Self {
        self.constraints = constraints;
        self
    }

    /// The same upload with one more metadata entry (the app's own data, never sent);
    /// a key given twice keeps the last value.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The same upload in this group (the app's own tag, never sent).
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Checks the metadata and group against their bounds, as enqueue does: for an app (or
    /// a command line) that wants to refuse them before it enqueues anything.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetadata`], saying what is out of bounds and what to do.
    pub fn check_app_data(&self) -> Result<(), Error> {
        app_data::check(&self.metadata, self.group.as_deref())
    }
}

/// Shows sensitive header values (`Authorization`, `Cookie`...) as `[redacted]`, so that
/// logging an upload or a transfer never prints a secret.
impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("source", &self.source)
            .field(
                "destination",
                &crate::auth::redact::redact_url(&self.destination),
            )
            .field("method", &self.method)
            .field(
                "headers",
                &crate::auth::redact::redact_headers(&self.headers, &[]),
            )
            .field("priority", &self.priority)
            .field("constraints", &self.constraints)
            .field("metadata", &self.metadata)
            .field("group", &self.group)
            .finish()
    }
}

/// An upload that passed every check, with what was learned about its source.
#[derive(Clone, Debug)]
pub(crate) struct ValidatedUpload {
    pub upload: Upload,
    pub host: String,
    pub snapshot: SourceSnapshot,
}

/// Size and modification time of a source file, to notice changes before sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SourceSnapshot {
    pub size: u64,
    pub mtime_ns: i64,
}

impl SourceSnapshot {
    pub(crate) fn of(metadata: &std::fs::Metadata) -> Self {
        let mtime_ns = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| {
                i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
            });
        Self {
            size: metadata.len(),
            mtime_ns,
        }
    }
}

/// Runs every enqueue-time check on one upload (the tests' entry; `enqueue_many` goes
/// through `enqueue_checks::validate_all`). Blocking: touches the file system.
#[cfg(test)]
pub(crate) fn validate(upload: Upload) -> Result<ValidatedUpload, Error> {
    let source_check = inspect_source(&upload.source);
    validate_with(upload, source_check)
}

/// Every enqueue-time check, with the source already inspected by [`inspect_source`]
/// (`enqueue_checks.rs` inspects a batch's sources on several threads). A bad URL or
/// header, metadata or group is reported before a bad source.
pub(crate) fn validate_with(
    upload: Upload,
    source_check: Result<SourceSnapshot, Error>,
) -> Result<ValidatedUpload, Error> {
    let url = parse_destination(&upload.destination)?;
    for (name, value) in &upload.headers {
        check_header(name, value)?;
    }
    if let UploadMethod::PostMultipart { field } = &upload.method
        && field.is_empty()
    {
        return Err(Error::InvalidHeader {
            name: "multipart field".into(),
            reason: "the multipart field name must not be empty".into(),
        });
    }
    upload.check_app_data()?;
    let snapshot = source_check?;
    Ok(ValidatedUpload {
        host: host_key(&url),
        upload,
        snapshot,
    })
}

/// Parses a destination and accepts only http and https URLs with a host and without a
/// password (a destination is stored, and a password must never be). The URL in the error
/// is redacted: it may be a presigned URL or carry that password.
pub(crate) fn parse_destination(text: &str) -> Result<Url, Error> {
    let invalid = |reason: &str| Error::InvalidUrl {
        url: crate::auth::redact::redact_url(text),
        reason: reason.to_owned(),
    };
    // The URL parser drops tabs and line breaks silently, but the text as given is what is
    // stored and sent (in a batch part header, to the OS): refuse them outright.
    if text.chars().any(char::is_control) {
        return Err(invalid("the URL contains control characters"));
    }
    let url = Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http and https destinations are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.password().is_some() {
        return Err(invalid(
            "the URL carries a password, and destinations are stored; send credentials with \
             a request authorizer instead",
        ));
    }
    Ok(url)
}

/// The key concurrency limits and breakers are counted under: `host:port`.
pub(crate) fn host_key(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

pub(crate) fn check_header(name: &str, value: &str) -> Result<(), Error> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::InvalidHeader {
        name: name.to_owned(),
        reason: "not a valid HTTP header name".into(),
    })?;
    HeaderValue::from_str(value).map_err(|_| Error::InvalidHeader {
        name: name.to_owned(),
        reason: "the value contains characters not allowed in a header (such as a newline)".into(),
    })?;
    Ok(())
}

/// Checks that the source exists, is a regular file of a file system that stores its
/// bytes (not `/proc` or `/sys`) and can be opened for reading.
///
/// One path lookup per file: the source is opened, then its descriptor is inspected
/// (`enqueue_many` of 10,000 files spent most of its validation resolving each path twice,
/// for `stat` and again for `open`). So a special file (a FIFO, a device) is opened too,
/// briefly: non-blocking, so that a FIFO cannot hang the check, and never as a controlling
/// terminal (`source_check.rs`). A path that cannot be opened is looked at again only to
/// name the problem.
pub(crate) fn inspect_source(path: &Path) -> Result<SourceSnapshot, Error> {
    let unreadable = |error: std::io::Error| Error::SourceUnreadable {
        path: path.into(),
        reason: error.to_string(),
    };
    let not_a_file = |found| Error::SourceNotAFile {
        path: path.into(),
        found,
    };
    let metadata = match open_nonblocking(path, 0) {
        Ok(file) => match check_opened(&file) {
            Ok(metadata) => metadata,
            Err(SourceProblem::NotAFile(found)) => return Err(not_a_file(found)),
            Err(SourceProblem::Io(error)) => return Err(unreadable(error)),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::SourceMissing { path: path.into() });
        }
        // A socket cannot be opened at all, a directory may not be readable: neither is a
        // file, which says more than why `open` failed.
        Err(error) => {
            return Err(
                match std::fs::metadata(path)
                    .ok()
                    .as_ref()
                    .and_then(source_check::not_a_file)
                {
                    Some(found) => not_a_file(found),
                    None => unreadable(error),
                },
            );
        }
    };
    Ok(SourceSnapshot::of(&metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut file, bytes).expect("write");
        file
    }

    #[test]
    fn a_readable_file_and_http_url_pass() {
        let file = file_with(b"hello");
        let valid = validate(Upload::put(file.path(), "http://127.0.0.1:8080/a")).expect("valid");
        assert_eq!(valid.snapshot.size, 5);
        assert_eq!(valid.host, "127.0.0.1:8080");
    }

    #[test]
    fn a_missing_file_is_refused() {
        let error = validate(Upload::put("/nonexistent/ferry/file", "http://h/a")).unwrap_err();
        assert!(matches!(error, Error::SourceMissing { .. }), "{error}");
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let error = validate(Upload::put(dir.path(), "http://h/a")).unwrap_err();
        assert!(matches!(error, Error::SourceNotAFile { .. }), "{error}");
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().join("pipe");
        crate::source_check::make_fifo(&fifo);
        // A blocking open of a FIFO would wait here for a writer that never comes.
        let error = validate(Upload::put(&fifo, "http://h/a")).unwrap_err();
        assert!(matches!(error, Error::SourceNotAFile { .. }), "{error}");
    }

    #[test]
    fn non_http_urls_are_refused() {
        let file = file_with(b"x");
        for url in ["ftp://h/a", "file:///etc/passwd", "not a url", "http://"] {
            let error = validate(Upload::put(file.path(), url)).unwrap_err();
            assert!(matches!(error, Error::InvalidUrl { .. }), "{url}: {error}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_echoed() {
        let file = file_with(b"x");
        let url = "https://alice:PASSWORD@h/a?X-Amz-Signature=SIGNATURE";
        let error = validate(Upload::put(file.path(), url)).unwrap_err();
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(shown.contains("https://h/a"), "{shown}");
            for secret in ["PASSWORD", "SIGNATURE", "alice"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        // A user name alone is no secret; the query stays (a presigned URL needs it).
        assert!(validate(Upload::put(file.path(), "https://user@h/a?sig=1")).is_ok());
    }

    #[test]
    fn urls_with_control_characters_are_refused_not_silently_cleaned() {
        let file = file_with(b"x");
        let injected = "https://h/p/x\r\nIdempotency-Key: other";
        let error = validate(Upload::put(file.path(), injected)).unwrap_err();
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
        assert!(validate(Upload::put(file.path(), "https://h/p/x\ty")).is_err());
    }

    #[test]
    fn headers_with_bad_names_or_values_are_refused() {
        let file = file_with(b"x");
        for (name, value) in [("bad name", "v"), ("X-Ok", "line\nbreak"), ("", "v")] {
            let upload = Upload::put(file.path(), "http://h/a").with_header(name, value);
            let error = validate(upload).unwrap_err();
            assert!(matches!(error, Error::InvalidHeader { .. }), "{error}");
            assert!(
                !error.to_string().contains("line\nbreak"),
                "values never appear in errors"
            );
        }
    }

    #[test]
    fn debug_output_redacts_sensitive_headers_and_the_query() {
        let upload = Upload::put("/f", "https://h/a?sig=QUERYSECRET")
            .with_header("Authorization", "Bearer HEADERSECRET")
            .with_header("X-Device", "pixel");
        let shown = format!("{upload:?}");
        assert!(
            !shown.contains("HEADERSECRET") && !shown.contains("QUERYSECRET"),
            "{shown}"
        );
        assert!(
            shown.contains("pixel") && shown.contains("https://h/a"),
            "{shown}"
        );
    }

    #[test]
    fn the_default_port_is_part_of_the_host_key() {
        let url = parse_destination("https://example.com/x").expect("url");
        assert_eq!(host_key(&url), "example.com:443");
    }
}
