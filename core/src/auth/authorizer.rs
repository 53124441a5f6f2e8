//! The app-facing contract: [`RequestAuthorizer`] and the plain data it exchanges.
//!
//! Ferry asks the app for credentials at the moment of each attempt, never at enqueue, so
//! a queue of thousands of files outlives any token or presigned URL. The types are plain
//! strings, integers, vectors and an optional `SystemTime`, because the trait is exported
//! to Swift and Kotlin as a UniFFI foreign trait.
//!
//! Why `authorize` is synchronous: UniFFI 0.32 can export async foreign-trait methods,
//! but the generated Swift for them is not Swift-6 clean (see the design notes) and each
//! call would need a foreign future bridge. A synchronous method is the simplest contract
//! for every language. Ferry calls it on tokio's blocking pool, never on the app's main
//! thread and never on the actor, with a timeout (`AuthPolicy::authorize_timeout`), so an
//! implementation may block while it refreshes a token over the network.
//!
//! This module must never keep, log or persist what an authorizer returns.

use std::fmt;
use std::time::SystemTime;

use super::redact::{is_sensitive_builtin, redact_url, redacted_value};

/// Why Ferry asks for credentials.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthReason {
    /// Before an attempt (or an OS handoff), with nothing known about earlier credentials.
    First,
    /// The server answered 401 or 403 to the credentials returned last time; return fresh
    /// ones. Ferry retries once, immediately, with them.
    RefreshAfter401,
    /// The credentials returned last would expire before the transfer is likely to finish;
    /// return ones that live longer.
    Expiring,
}

impl AuthReason {
    /// A stable name for logs and reports: `first`, `refresh_after_401`, `expiring`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::RefreshAfter401 => "refresh_after_401",
            Self::Expiring => "expiring",
        }
    }
}

/// What Ferry is about to send.
///
/// It may gain fields; an authorizer's tests build one with [`RequestInfo::new`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The transfer's id as text (a UUID), the same as its idempotency key.
    pub transfer_id: String,
    /// The destination given at enqueue.
    pub destination: String,
    /// `PUT` or `POST`.
    pub method: String,
    /// The body's size in bytes.
    pub size: u64,
}

impl RequestInfo {
    /// A request for `transfer_id` (its id as text) to `destination` with `method`
    /// (`PUT` or `POST`) and a body of `size` bytes.
    pub fn new(
        transfer_id: impl Into<String>,
        destination: impl Into<String>,
        method: impl Into<String>,
        size: u64,
    ) -> Self {
        Self {
            transfer_id: transfer_id.into(),
            destination: destination.into(),
            method: method.into(),
            size,
        }
    }
}

/// The URL and headers to use for one attempt.
///
/// Headers here are sent with the enqueue-time headers (replacing any with the same name,
/// case-insensitively) and are never written to the store. `Debug` shows header names and
/// the URL without its query; sensitive values never appear.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The URL to send to: the destination itself, or a presigned URL for it. It may be on
    /// another host (an object store); limits and breakers still count the destination's.
    pub url: String,
    /// Headers to send with this attempt only, `(name, value)`, such as
    /// `("Authorization", "Bearer ...")`.
    pub headers: Vec<(String, String)>,
    /// When the URL or the headers stop working, if they ever do.
    pub expires_at: Option<SystemTime>,
}

impl Authorization {
    /// Credentials that are only headers, for the destination as enqueued.
    pub fn headers(url: impl Into<String>, headers: Vec<(String, String)>) -> Self {
        Self {
            url: url.into(),
            headers,
            expires_at: None,
        }
    }

    /// The same credentials, which stop working at `expires_at`: Ferry asks for new ones
    /// (reason [`AuthReason::Expiring`]) before an attempt they would not outlive.
    pub fn expiring_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_sensitive_builtin(name) {
                    redacted_value()
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Authorization")
            .field("url", &redact_url(&self.url))
            .field("headers", &headers)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The authorizer could not provide credentials.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizerError {
    /// The user must sign in: the transfer waits in `AuthRequired` until `resume`.
    #[error("sign-in required: {message}")]
    SignInRequired {
        /// Why, in words for a person; stored with the transfer, so never a secret.
        message: String,
    },
    /// A passing problem (the token service is unreachable): retried with backoff.
    #[error("credentials temporarily unavailable: {message}")]
    Temporary {
        /// Why, in words for a person; stored with the transfer, so never a secret.
        message: String,
    },
}

/// Provides credentials for each attempt. Registered through
/// [`crate::Integrations::authorizer`].
///
/// Called on Ferry's blocking pool, possibly from several threads at once (one call per
/// attempt); it may block, up to `AuthPolicy::authorize_timeout`. Return the *current*
/// credentials for [`AuthReason::First`], fresh ones for the other reasons. Never put a
/// secret in an error message: it reaches events and the store.
pub trait RequestAuthorizer: Send + Sync {
    /// The URL and headers for the attempt `request` describes, asked for because of
    /// `reason`.
    ///
    /// # Errors
    ///
    /// Return [`AuthorizerError::SignInRequired`] when only the user can fix it (the
    /// transfer then waits for `resume`), [`AuthorizerError::Temporary`] when a later try
    /// may work (the attempt is retried with backoff). An authorizer that panics or does
    /// not answer within `authorize_timeout` counts as temporary.
    fn authorize(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError>;
}
