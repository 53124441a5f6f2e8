//! The text of a `reqwest::Error` for messages and logs: its chain of causes, never its
//! URL (which may hold a presigned signature or a password).
//!
//! Must never put a URL in the text.

use std::error::Error as _;

/// The error with its chain of causes, which reqwest keeps out of `Display`. The URL is
/// left out: reqwest's `Display` ends with ` for url (URL)`, the whole URL with its query
/// (a presigned URL's signature) and any password, and `reqwest::Error::without_url`
/// drops it ("if, for example, it contains sensitive information", its documentation
/// says). The test below pins that behaviour.
pub(super) fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueConfig;

    #[tokio::test]
    async fn a_send_error_is_described_without_the_url_that_reqwest_would_show() {
        let lane =
            super::super::client::build_http_lane(&QueueConfig::new("unused.db")).expect("client");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("port").port();
        drop(closed);
        let url = format!("http://alice:PASSWORD@127.0.0.1:{port}/a?X-Amz-Signature=SIGNATURE");
        let error = lane
            .client
            .put(&url)
            .send()
            .await
            .expect_err("nothing listens there");
        assert!(
            error.to_string().contains("SIGNATURE"),
            "reqwest shows the URL"
        );
        let described = describe(error);
        for secret in ["PASSWORD", "SIGNATURE", "alice"] {
            assert!(!described.contains(secret), "{described}");
        }
        assert!(!described.is_empty());
    }
}
