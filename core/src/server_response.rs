//! [`ServerResponse`]: the server's final answer to an upload that succeeded (status,
//! headers, and the body up to [`crate::QueueConfig::response_body_limit`]), as both lanes
//! report it and as the store keeps it, readable by id after the app was gone
//! ([`crate::TransferQueue::response`]).
//!
//! Must never keep a secret: the values of headers that carry credentials
//! ([`is_credential_header`]) are replaced before an answer is stored or put in an event,
//! and never a body byte beyond the limit, whatever a lane or a platform shim sent.

use serde::Serialize;

use crate::auth::is_sensitive_header;
use crate::auth::redact::redacted_value;

/// The default of [`crate::QueueConfig::response_body_limit`]: 64 KiB.
pub const DEFAULT_RESPONSE_BODY_LIMIT: usize = 64 * 1024;

/// Response headers whose values are credentials or challenges for them: never stored,
/// never in an event. `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie`
/// (always secret in Ferry, `auth/redact.rs`) are added to these.
const CREDENTIAL_RESPONSE_HEADERS: [&str; 5] = [
    "set-cookie2",
    "www-authenticate",
    "proxy-authenticate",
    "authentication-info",
    "proxy-authentication-info",
];

/// The server's final answer to an upload that succeeded, as Ferry keeps it.
///
/// For a plain upload it is the answer to its one request; for a resumable upload, the
/// answer to its last `PATCH` (or to the `HEAD` that found the upload already complete);
/// for a file packed into a batch, the batch's headers with the file's own entry of the
/// per-part results as its status and body (or, without per-part results, the batch's
/// status and body); for an OS task, what the platform shim passed on.
///
/// The values of headers that carry credentials (`Set-Cookie`, `WWW-Authenticate`,
/// `Authorization`...: see [`is_credential_header`], plus
/// [`crate::AuthPolicy::sensitive_headers`]) are `[redacted]`: the name stays, so the app
/// can see the server sent one, the value is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ServerResponse {
    /// The HTTP status code (2xx).
    pub status: u16,
    /// The headers, `(name, value)` in the order the server sent them; names as the lane
    /// received them (HTTP/2 and the in-process lane give them in lower case).
    pub headers: Vec<(String, String)>,
    /// The body's first bytes, at most [`crate::QueueConfig::response_body_limit`].
    pub body: Vec<u8>,
    /// The body had more than `body` holds: it was longer than the limit, or it stalled
    /// or broke off before its end (the upload still succeeded).
    pub body_truncated: bool,
}

impl ServerResponse {
    /// An answer as a lane received it: nothing redacted or cut yet.
    pub(crate) fn received(
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        body_truncated: bool,
    ) -> Self {
        Self {
            status,
            headers,
            body,
            body_truncated,
        }
    }

    /// The answer as it may be kept: credential headers' values replaced (those of
    /// [`is_credential_header`] and the app's `extra` names), the body cut to `limit`.
    pub(crate) fn kept(mut self, limit: usize, extra: &[String]) -> Self {
        for (name, value) in &mut self.headers {
            if is_credential_header(name, extra) {
                redacted_value().clone_into(value);
            }
        }
        if self.body.len() > limit {
            self.body.truncate(limit);
            self.body.shrink_to_fit();
            self.body_truncated = true;
        }
        self
    }
}

/// Whether the value of the response header `name` is kept out of the store and events:
/// the headers Ferry always treats as secret (`Authorization`, `Proxy-Authorization`,
/// `Cookie`, `Set-Cookie`), `Set-Cookie2`, `WWW-Authenticate`, `Proxy-Authenticate`,
/// `Authentication-Info`, `Proxy-Authentication-Info`, and the names in `extra`
/// ([`crate::AuthPolicy::sensitive_headers`]).
pub fn is_credential_header(name: &str, extra: &[String]) -> bool {
    is_sensitive_header(name, extra)
        || CREDENTIAL_RESPONSE_HEADERS
            .iter()
            .any(|credential| name.eq_ignore_ascii_case(credential))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &[u8]) -> ServerResponse {
        ServerResponse::received(
            201,
            vec![
                ("Set-Cookie".into(), "session=secret".into()),
                ("www-authenticate".into(), "Bearer realm=x".into()),
                ("X-Api-Key".into(), "k".into()),
                ("Location".into(), "/files/1".into()),
            ],
            body.to_vec(),
            false,
        )
    }

    #[test]
    fn credential_values_are_never_kept_but_their_names_are() {
        let kept = answer(b"{}").kept(1024, &["x-api-key".into()]);
        let values: Vec<&str> = kept
            .headers
            .iter()
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(
            values,
            ["[redacted]", "[redacted]", "[redacted]", "/files/1"]
        );
        assert_eq!(kept.headers[0].0, "Set-Cookie");
    }

    #[test]
    fn a_body_longer_than_the_limit_is_cut_and_marked() {
        let kept = answer(b"0123456789").kept(4, &[]);
        assert_eq!(kept.body, b"0123");
        assert!(kept.body_truncated);
        let whole = answer(b"0123").kept(4, &[]);
        assert_eq!(whole.body, b"0123");
        assert!(!whole.body_truncated);
        let none = answer(b"0123").kept(0, &[]);
        assert!(none.body.is_empty());
        assert!(none.body_truncated);
    }
}
