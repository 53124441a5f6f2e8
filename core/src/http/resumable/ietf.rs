//! IETF "Resumable Uploads for HTTP" requests, per `Upload-Draft-Interop-Version`.
//!
//! What changes between interop versions: version 3 (draft -01, iOS 17) says
//! `Upload-Incomplete: ?1` where later versions say `Upload-Complete: ?0`; from version 6
//! (draft -04) a `PATCH` carries `Content-Type: application/partial-upload`. Builds
//! requests and reads answers only; must never buffer a body or read the file.

use reqwest::RequestBuilder;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};

const INTEROP: &str = "Upload-Draft-Interop-Version";

fn with_completeness(builder: RequestBuilder, version: u32, complete: bool) -> RequestBuilder {
    let builder = builder.header(INTEROP, version);
    if version <= 3 {
        builder.header("Upload-Incomplete", if complete { "?0" } else { "?1" })
    } else {
        builder.header("Upload-Complete", if complete { "?1" } else { "?0" })
    }
}

/// `POST` that creates an empty, incomplete upload of `size` bytes. Ferry sends the
/// content in `PATCH`es afterwards: an HTTP client cannot read the `104` informational
/// answer that would name the resource while a creation body is still being sent, and
/// without that name an interrupted creation could not be resumed.
pub(super) fn creation(builder: RequestBuilder, version: u32, size: u64) -> RequestBuilder {
    with_completeness(builder, version, false)
        .header("Upload-Length", size)
        .header(CONTENT_LENGTH, 0)
}

pub(super) fn head(builder: RequestBuilder, version: u32) -> RequestBuilder {
    builder.header(INTEROP, version)
}

/// `PATCH` of `length` bytes at `offset`; `completes` when it carries the last byte.
pub(super) fn patch(
    builder: RequestBuilder,
    version: u32,
    offset: u64,
    length: u64,
    completes: bool,
) -> RequestBuilder {
    let builder = with_completeness(builder, version, completes)
        .header("Upload-Offset", offset)
        .header(CONTENT_LENGTH, length);
    if version >= 6 {
        builder.header(CONTENT_TYPE, "application/partial-upload")
    } else {
        builder
    }
}

pub(super) fn termination(builder: RequestBuilder, version: u32) -> RequestBuilder {
    builder.header(INTEROP, version)
}

/// Whether an answer says the upload is complete (`None` when it does not say).
pub(crate) fn says_complete(headers: &HeaderMap, version: u32) -> Option<bool> {
    let flag = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if version <= 3 {
        flag("upload-incomplete").map(|value| value.trim() == "?0")
    } else {
        flag("upload-complete").map(|value| value.trim() == "?1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn version_3_speaks_of_incompleteness() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let request = patch(client.patch("http://h/u"), 3, 10, 5, false)
            .build()
            .expect("request");
        assert_eq!(request.headers()["upload-incomplete"], "?1");
        assert!(request.headers().get("content-type").is_none());
        let request = patch(client.patch("http://h/u"), 8, 10, 5, true)
            .build()
            .expect("request");
        assert_eq!(request.headers()["upload-complete"], "?1");
        assert_eq!(
            request.headers()["content-type"],
            "application/partial-upload"
        );
        assert_eq!(request.headers()["upload-draft-interop-version"], "8");

        let mut headers = HeaderMap::new();
        headers.insert("upload-incomplete", HeaderValue::from_static("?0"));
        assert_eq!(says_complete(&headers, 3), Some(true));
        assert_eq!(says_complete(&headers, 6), None);
    }
}
