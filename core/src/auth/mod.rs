//! Request authorization: credentials asked for at the moment of each attempt.
//!
//! A queue of thousands of files outlives any access token, and a presigned URL may live
//! five minutes. So Ferry never takes credentials at enqueue: right before each attempt
//! (and each OS handoff) it asks the app's [`RequestAuthorizer`] for the URL and headers
//! to use ([`attempt`]), renews them when they would expire before the transfer is likely
//! to finish ([`expiry`]), refreshes them once after a 401/403, and stops a dead token
//! from being tried by every queued transfer ([`breaker`]). [`redact`] keeps secrets out
//! of everything Ferry shows.
//!
//! What this module must never do: write an authorizer's answer to the store, put it in
//! an event, or log a secret value.

pub(crate) mod attempt;
mod authorizer;
pub(crate) mod breaker;
pub(crate) mod expiry;
pub(crate) mod redact;
mod throughput;

pub use authorizer::{AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo};
pub use expiry::{expires_before_finish, likely_duration};
pub use redact::{is_sensitive_header, redact_headers, redact_url};
