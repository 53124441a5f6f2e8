//! tus 1.0.0 requests: the headers each step needs, and protocol discovery.
//!
//! Builds requests only; the session in `mod.rs` sends them and decides what an answer
//! means. Must never buffer a body or read the file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::RequestBuilder;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};

use super::checksum::ChecksumAlgorithm;

const TUS_RESUMABLE: &str = "Tus-Resumable";
const VERSION: &str = "1.0.0";

/// What a tus server announced in its `OPTIONS` answer that changes how Ferry sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TusCapabilities {
    /// Set when the server has the checksum extension and offers sha1 or sha256.
    pub checksum: Option<ChecksumAlgorithm>,
}

/// `OPTIONS` on the creation endpoint (discovery; not every server wants `Tus-Resumable`).
pub(super) fn discovery(builder: RequestBuilder) -> RequestBuilder {
    builder.header(TUS_RESUMABLE, VERSION)
}

/// Reads `Tus-Extension` and `Tus-Checksum-Algorithm` from a discovery answer.
pub(crate) fn capabilities(headers: &reqwest::header::HeaderMap) -> TusCapabilities {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let has_checksum = text("tus-extension")
        .split(',')
        .any(|extension| extension.trim() == "checksum");
    TusCapabilities {
        checksum: if has_checksum {
            ChecksumAlgorithm::choose(&text("tus-checksum-algorithm"))
        } else {
            None
        },
    }
}

/// `POST` that creates an upload of `size` bytes, with the file name as metadata.
pub(super) fn creation(builder: RequestBuilder, size: u64, file_name: &str) -> RequestBuilder {
    builder
        .header(TUS_RESUMABLE, VERSION)
        .header("Upload-Length", size)
        .header(
            "Upload-Metadata",
            format!("filename {}", STANDARD.encode(file_name)),
        )
        .header(CONTENT_LENGTH, 0)
}

pub(super) fn head(builder: RequestBuilder) -> RequestBuilder {
    builder.header(TUS_RESUMABLE, VERSION)
}

/// `PATCH` of `length` bytes at `offset`; the body is attached by the caller.
pub(super) fn patch(
    builder: RequestBuilder,
    offset: u64,
    length: u64,
    checksum: Option<String>,
) -> RequestBuilder {
    let builder = builder
        .header(TUS_RESUMABLE, VERSION)
        .header(CONTENT_TYPE, "application/offset+octet-stream")
        .header("Upload-Offset", offset)
        .header(CONTENT_LENGTH, length);
    match checksum {
        Some(value) => builder.header("Upload-Checksum", value),
        None => builder,
    }
}

/// `DELETE` of the upload resource (termination extension).
pub(super) fn termination(builder: RequestBuilder) -> RequestBuilder {
    builder.header(TUS_RESUMABLE, VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn checksum_only_with_the_extension() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "tus-checksum-algorithm",
            HeaderValue::from_static("sha1,sha256"),
        );
        assert_eq!(capabilities(&headers).checksum, None);
        headers.insert(
            "tus-extension",
            HeaderValue::from_static("creation, checksum,termination"),
        );
        assert_eq!(
            capabilities(&headers).checksum,
            Some(ChecksumAlgorithm::Sha256)
        );
    }
}
