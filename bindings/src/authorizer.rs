//! The request authorizer across the FFI: the app's code that hands Ferry fresh
//! credentials right before each attempt and each OS handoff.
//!
//! Plain records and one foreign trait; the policy (when to ask, refresh after a 401,
//! renew before expiry, the auth breaker) stays in `ferry`. Credentials returned here are
//! never written to the store. This module must never cache or log them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::SystemTime;

use ferry::TransferId;

use crate::numbers::long;
use crate::records::Header;
use crate::uuid::engine_id;

/// What an attempt is about to send, for the authorizer to sign.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct RequestInfo {
    /// The transfer's id, also its idempotency key (for a packed batch, its first
    /// file's).
    pub transfer_id: TransferId,
    /// The upload's URL (for a packed batch, the batch endpoint).
    pub destination: String,
    /// `PUT` or `POST`.
    pub method: String,
    /// Bytes to send.
    pub size: i64,
}

/// Why Ferry asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AuthReason {
    /// Right before an attempt or a handoff.
    First,
    /// The server answered 401 or 403 to the credentials given; one refresh, one retry.
    RefreshAfter401,
    /// The credentials given would expire before the transfer is likely to finish.
    Expiring,
}

/// The URL and headers to use, and when they stop working.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct Authorization {
    /// The URL to send to: the destination itself, or a presigned form of it.
    pub url: String,
    /// Headers to add (for example `Authorization`); never stored.
    pub headers: Vec<Header>,
    /// When the URL or the headers expire, if they do.
    pub expires_at: Option<SystemTime>,
}

/// Debug without the secrets.
impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &ferry::redact_url(&self.url))
            .field("headers", &self.headers.len())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Thrown by an authorizer that cannot give credentials now.
///
/// The field is `reason`, not `message`: a Kotlin exception field named `message` clashes
/// with `Throwable.message` (workaround for <https://github.com/mozilla/uniffi-rs/issues/1434>).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthorizerError {
    /// The user must sign in: the transfer waits in `AuthRequired` until `resume`.
    #[error("sign-in required: {reason}")]
    SignInRequired {
        /// Why, for a person; stored with the transfer, so never a secret.
        reason: String,
    },
    /// Try again later (offline, the token service is down): retried with backoff.
    #[error("credentials temporarily unavailable: {reason}")]
    Temporary {
        /// Why, for a person; stored with the transfer, so never a secret.
        reason: String,
    },
}

/// An authorizer that throws anything else is treated as temporarily unavailable.
impl From<uniffi::UnexpectedUniFFICallbackError> for AuthorizerError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Temporary {
            reason: format!("the authorizer failed unexpectedly: {}", error.reason),
        }
    }
}

/// The app's authorizer, lent to `TransferQueue.openWithServices`.
///
/// Called on Ferry's own threads (never the main thread), right before each attempt and
/// each OS handoff; it may block while it refreshes a token.
#[uniffi::export(foreign)]
pub trait RequestAuthorizer: Send + Sync {
    /// The URL and headers for the attempt `request` describes: the current credentials
    /// for `First`, fresh ones for the other reasons. Must answer within
    /// `authorizeTimeout`, or the attempt is retried later.
    ///
    /// # Errors
    ///
    /// Throw `SignInRequired` when only the user can fix it (the transfer then waits for
    /// `resume`), `Temporary` when a later try may work (retried with backoff). Anything
    /// else thrown counts as `Temporary`.
    fn authorize(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthorizerError>;
}

/// Lends a foreign authorizer to `ferry`, turning foreign failures into values.
pub(crate) struct ForeignAuthorizer(pub(crate) Arc<dyn RequestAuthorizer>);

impl ferry::RequestAuthorizer for ForeignAuthorizer {
    fn authorize(
        &self,
        request: ferry::RequestInfo,
        reason: ferry::AuthReason,
    ) -> Result<ferry::Authorization, ferry::AuthorizerError> {
        let Some(transfer_id) = engine_id(&request.transfer_id) else {
            return Err(ferry::AuthorizerError::Temporary {
                message: "the request's transfer id is not a UUID".into(),
            });
        };
        let request = RequestInfo {
            transfer_id,
            destination: request.destination,
            method: request.method,
            size: long(request.size),
        };
        let reason = match reason {
            ferry::AuthReason::First => AuthReason::First,
            ferry::AuthReason::RefreshAfter401 => AuthReason::RefreshAfter401,
            ferry::AuthReason::Expiring => AuthReason::Expiring,
            // A reason this build's bindings do not name (`AuthReason` may grow): asking
            // for credentials afresh is always a right answer to it.
            _ => AuthReason::First,
        };
        let answer = catch_unwind(AssertUnwindSafe(|| self.0.authorize(request, reason)));
        match answer {
            Ok(Ok(authorization)) => {
                let headers = authorization
                    .headers
                    .into_iter()
                    .map(|header| (header.name, header.value))
                    .collect();
                let mut core = ferry::Authorization::headers(authorization.url, headers);
                if let Some(expires_at) = authorization.expires_at {
                    core = core.expiring_at(expires_at);
                }
                Ok(core)
            }
            Ok(Err(AuthorizerError::SignInRequired { reason })) => {
                Err(ferry::AuthorizerError::SignInRequired { message: reason })
            }
            Ok(Err(AuthorizerError::Temporary { reason })) => {
                Err(ferry::AuthorizerError::Temporary { message: reason })
            }
            Err(_) => Err(ferry::AuthorizerError::Temporary {
                message: "the authorizer crashed".into(),
            }),
        }
    }
}
