//! Authorizing attempts: just in time, with renewal before expiry and one refresh after a
//! refused request.
//!
//! [`AuthContext::authorize_attempt`] is the one entry point for both lanes: it asks the
//! app's [`RequestAuthorizer`] (on the blocking pool, with a timeout), and when the answer
//! would expire before the transfer is likely to finish it asks again with
//! [`AuthReason::Expiring`]. [`run_attempt_with`] wraps an in-process attempt: authorize,
//! send, and on a 401/403 authorize once more with [`AuthReason::RefreshAfter401`] and
//! retry at once. [`AuthContext::authorize_handoff`] does the same for an OS handoff.
//!
//! What an authorizer returns lives only in the attempt's memory: this module must never
//! hand it to the actor, the store, an event or a log line (`Authorization`'s `Debug`
//! redacts it).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use tokio::time::Instant;

use super::authorizer::{
    AuthReason, Authorization, AuthorizerError, RequestAuthorizer, RequestInfo,
};
use super::expiry::{already_expired, expires_before_finish};
use super::redact::{redact_headers, redact_url};
use super::throughput::ThroughputTracker;
use crate::clock::Clock;
use crate::config::AuthPolicy;
use crate::error::{FailureKind, TransferError};
use crate::http::{
    AttemptJob, AttemptProgress, BatchOutcome, BatchPart, HttpLane, run_attempt, run_batch_attempt,
};
use crate::outcome::AttemptOutcome;
use crate::platform::Handoff;
use crate::upload::UploadMethod;

/// No credentials for this attempt: why, and whether a later attempt may get some.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthFailure {
    pub error: TransferError,
    /// `false`: the transfer waits for the app (`AuthRequired`); `true`: retried later.
    pub retryable: bool,
}

impl From<AuthFailure> for AttemptOutcome {
    fn from(failure: AuthFailure) -> Self {
        AttemptOutcome::Authorizer {
            error: failure.error,
            retryable: failure.retryable,
        }
    }
}

fn failure(retryable: bool, message: impl Into<String>) -> AuthFailure {
    AuthFailure {
        error: TransferError::new(FailureKind::Auth, message),
        retryable,
    }
}

/// The app's authorizer with what deciding about expiry needs. One per queue, shared by
/// every attempt task.
pub(crate) struct AuthContext {
    authorizer: Arc<dyn RequestAuthorizer>,
    policy: AuthPolicy,
    clock: Clock,
    throughput: ThroughputTracker,
}

impl AuthContext {
    pub(crate) fn new(
        authorizer: Arc<dyn RequestAuthorizer>,
        policy: AuthPolicy,
        clock: Clock,
    ) -> Self {
        let throughput = ThroughputTracker::new(policy.assumed_throughput);
        Self {
            authorizer,
            policy,
            clock,
            throughput,
        }
    }

    /// Credentials for one request of `request.size` bytes expected to move at
    /// `bytes_per_second`: asked with `reason`, and asked again with `Expiring` when the
    /// first answer would expire before the request is likely to finish. Never returns
    /// credentials that have already expired.
    pub(crate) async fn authorize_attempt(
        &self,
        request: RequestInfo,
        reason: AuthReason,
        bytes_per_second: f64,
    ) -> Result<Authorization, AuthFailure> {
        let size = request.size;
        let first = self.ask(request.clone(), reason).await?;
        let too_short = |authorization: &Authorization| {
            expires_before_finish(
                authorization.expires_at,
                self.clock.now(),
                size,
                bytes_per_second,
                self.policy.expiry_margin,
            )
        };
        if !too_short(&first) || reason == AuthReason::Expiring {
            return self.usable(first);
        }
        log::debug!(
            "credentials for transfer {} would expire before it is likely to finish; asking again",
            request.transfer_id
        );
        let renewed = self.ask(request, AuthReason::Expiring).await?;
        self.usable(renewed)
    }

    /// Authorizes an OS handoff right before it is given to the platform: the handoff's
    /// URL and headers are replaced by the authorized ones. The expiry estimate uses the
    /// configured background throughput, since the OS decides how fast a task moves.
    /// `reason` is `First`, or `RefreshAfter401` when handing a task over again after the
    /// OS reported a 401/403 for it.
    pub(crate) async fn authorize_handoff(
        &self,
        handoff: &mut Handoff,
        reason: AuthReason,
    ) -> Result<(), AuthFailure> {
        let request = RequestInfo {
            transfer_id: handoff.transfer_id.clone(),
            destination: handoff.url.clone(),
            method: handoff.method.clone(),
            size: handoff.expected_bytes,
        };
        let background = self.policy.background_throughput as f64;
        let authorization = self.authorize_attempt(request, reason, background).await?;
        handoff.url = authorization.url;
        handoff.headers = merge_headers(&handoff.headers, &authorization.headers);
        Ok(())
    }

    fn usable(&self, authorization: Authorization) -> Result<Authorization, AuthFailure> {
        if already_expired(authorization.expires_at, self.clock.now()) {
            return Err(failure(
                true,
                "the request authorizer returned credentials that have already expired",
            ));
        }
        check(&authorization)?;
        Ok(authorization)
    }

    /// One call of the app's authorizer, on the blocking pool, bounded in time.
    async fn ask(
        &self,
        request: RequestInfo,
        reason: AuthReason,
    ) -> Result<Authorization, AuthFailure> {
        log::debug!(
            "authorizing transfer {} ({})",
            request.transfer_id,
            reason.as_str()
        );
        let authorizer = Arc::clone(&self.authorizer);
        let call = tokio::task::spawn_blocking(move || authorizer.authorize(request, reason));
        let timeout = self.policy.authorize_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(Ok(authorization))) => {
                log::trace!(
                    "authorized: {} with headers {:?}, expiring at {:?}",
                    redact_url(&authorization.url),
                    redact_headers(&authorization.headers, &self.policy.sensitive_headers),
                    authorization.expires_at
                );
                Ok(authorization)
            }
            Ok(Ok(Err(AuthorizerError::SignInRequired { message }))) => Err(failure(
                false,
                format!("the request authorizer needs the user to sign in: {message}"),
            )),
            Ok(Ok(Err(AuthorizerError::Temporary { message }))) => Err(failure(
                true,
                format!("the request authorizer could not provide credentials now: {message}"),
            )),
            Ok(Err(_panicked)) => Err(failure(
                true,
                "the request authorizer panicked; Ferry will ask again later",
            )),
            Err(_elapsed) => Err(failure(
                true,
                format!(
                    "the request authorizer did not answer within {} s; Ferry will ask again later",
                    timeout.as_secs_f64()
                ),
            )),
        }
    }
}

/// Refuses an authorization the HTTP client could not send, without echoing its values.
fn check(authorization: &Authorization) -> Result<(), AuthFailure> {
    let url_is_http = url::Url::parse(&authorization.url)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
    if !url_is_http {
        return Err(failure(
            false,
            "the request authorizer returned a URL that is not a valid http(s) URL",
        ));
    }
    for (name, value) in &authorization.headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err()
        {
            return Err(failure(
                false,
                format!(
                    "the request authorizer returned an invalid header {name:?} (its value is not shown)"
                ),
            ));
        }
    }
    Ok(())
}

/// The enqueue-time headers with the authorizer's on top: an authorizer header replaces
/// every stored header of the same name (case-insensitively).
pub(crate) fn merge_headers(
    stored: &[(String, String)],
    authorized: &[(String, String)],
) -> Vec<(String, String)> {
    stored
        .iter()
        .filter(|(name, _)| {
            !authorized
                .iter()
                .any(|(replacing, _)| replacing.eq_ignore_ascii_case(name))
        })
        .chain(authorized)
        .cloned()
        .collect()
}

/// The HTTP method as the authorizer sees it.
pub(crate) fn method_name(method: &UploadMethod) -> &'static str {
    match method {
        UploadMethod::Put => "PUT",
        UploadMethod::Post | UploadMethod::PostMultipart { .. } => "POST",
    }
}

/// Runs one in-process attempt, authorized when the app registered an authorizer: a
/// 401/403 answer gets one refresh and one immediate retry within the same attempt.
pub(crate) async fn run_attempt_with(
    auth: Option<Arc<AuthContext>>,
    lane: Arc<HttpLane>,
    job: AttemptJob,
    progress: Arc<AttemptProgress>,
) -> AttemptOutcome {
    let Some(auth) = auth else {
        return run_attempt(lane, job, progress).await;
    };
    let size = job.snapshot.size;
    let request = RequestInfo {
        transfer_id: job.id.clone(),
        destination: job.url.clone(),
        method: method_name(&job.method).to_owned(),
        size,
    };
    let mut reason = AuthReason::First;
    loop {
        let estimate = auth.throughput.estimate();
        let authorization = match auth
            .authorize_attempt(request.clone(), reason, estimate)
            .await
        {
            Ok(authorization) => authorization,
            Err(failure) => return failure.into(),
        };
        // The time the authorizer took is not a stall of this request: its watchdog counts
        // from here (a token helper that takes longer than stall_timeout is no stall).
        progress.touch();
        let mut authorized = job.clone();
        authorized.url = authorization.url;
        authorized.headers = merge_headers(&job.headers, &authorization.headers);
        if let Some(download) = authorized.download.as_mut() {
            download.authorizer_headers = authorization
                .headers
                .iter()
                .map(|(name, _)| name.clone())
                .collect();
        }
        let started = Instant::now();
        let outcome = run_attempt(Arc::clone(&lane), authorized, Arc::clone(&progress)).await;
        match outcome {
            AttemptOutcome::Response {
                status: 401 | 403, ..
            } if reason != AuthReason::RefreshAfter401 => {
                log::debug!(
                    "transfer {}: credentials refused; refreshing them and retrying once",
                    request.transfer_id
                );
                progress.restart();
                reason = AuthReason::RefreshAfter401;
            }
            AttemptOutcome::Response {
                status: 200..=299, ..
            } => {
                auth.throughput
                    .record(size, elapsed_at_least_a_millisecond(started));
                return outcome;
            }
            outcome => return outcome,
        }
    }
}

/// A packed batch (`docs/batching.md`) with credentials asked right before it, for the
/// batch endpoint, like any attempt: refreshed once after a 401/403 on the whole request.
pub(crate) async fn run_batch_attempt_with(
    auth: Option<Arc<AuthContext>>,
    lane: Arc<HttpLane>,
    leader: String,
    endpoint: String,
    parts: Vec<BatchPart>,
) -> BatchOutcome {
    let Some(auth) = auth else {
        return run_batch_attempt(lane, endpoint, Vec::new(), parts).await;
    };
    let request = RequestInfo {
        transfer_id: leader,
        destination: endpoint,
        method: "POST".into(),
        size: parts.iter().map(|part| part.snapshot.size).sum(),
    };
    let mut reason = AuthReason::First;
    loop {
        let estimate = auth.throughput.estimate();
        let authorization = match auth
            .authorize_attempt(request.clone(), reason, estimate)
            .await
        {
            Ok(authorization) => authorization,
            Err(failure) => {
                return BatchOutcome {
                    whole: failure.into(),
                    parts: Vec::new(),
                };
            }
        };
        let outcome = run_batch_attempt(
            Arc::clone(&lane),
            authorization.url,
            authorization.headers,
            parts.clone(),
        )
        .await;
        match outcome.whole {
            AttemptOutcome::Response {
                status: 401 | 403, ..
            } if reason != AuthReason::RefreshAfter401 => {
                parts.iter().for_each(|part| part.progress.restart());
                reason = AuthReason::RefreshAfter401;
            }
            _ => return outcome,
        }
    }
}

fn elapsed_at_least_a_millisecond(started: Instant) -> Duration {
    started.elapsed().max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::SystemTime;

    use super::*;

    /// Answers with a URL that lives `lifetimes[n]` seconds on the n-th call.
    struct Scripted {
        clock: Clock,
        lifetimes: Vec<u64>,
        reasons: Mutex<Vec<AuthReason>>,
    }

    impl RequestAuthorizer for Scripted {
        fn authorize(
            &self,
            request: RequestInfo,
            reason: AuthReason,
        ) -> Result<Authorization, AuthorizerError> {
            let mut reasons = self.reasons.lock().expect("lock");
            let lifetime = self.lifetimes.get(reasons.len()).copied().unwrap_or(3600);
            reasons.push(reason);
            let url = format!("{}?sig=call{}", request.destination, reasons.len());
            let expires: SystemTime = self.clock.now() + Duration::from_secs(lifetime);
            Ok(
                Authorization::headers(url, vec![("Authorization".into(), "Bearer t".into())])
                    .expiring_at(expires),
            )
        }
    }

    fn context(lifetimes: Vec<u64>) -> (AuthContext, Arc<Scripted>) {
        let clock = Clock::start();
        let authorizer = Arc::new(Scripted {
            clock,
            lifetimes,
            reasons: Mutex::new(Vec::new()),
        });
        let policy = AuthPolicy {
            expiry_margin: Duration::from_secs(5),
            background_throughput: 1000,
            ..AuthPolicy::default()
        };
        let shared: Arc<dyn RequestAuthorizer> = authorizer.clone();
        (AuthContext::new(shared, policy, clock), authorizer)
    }

    fn handoff(size: u64) -> Handoff {
        Handoff {
            key: "k".into(),
            transfer_id: "t1".into(),
            body_path: "/tmp/body".into(),
            url: "https://h/u".into(),
            method: "PUT".into(),
            headers: vec![("Idempotency-Key".into(), "t1".into())],
            expected_bytes: size,
            allow_expensive: true,
            allow_constrained: true,
            discretionary: false,
            ietf_interop_version: None,
            download: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_handoff_is_reauthorized_when_the_background_estimate_outlives_the_url() {
        // 100 kB at the assumed 1000 B/s takes 100 s: a 60 s URL is too short.
        let (auth, authorizer) = context(vec![60, 600]);
        let mut handoff = handoff(100_000);
        auth.authorize_handoff(&mut handoff, AuthReason::First)
            .await
            .expect("authorized");
        assert_eq!(
            *authorizer.reasons.lock().expect("lock"),
            [AuthReason::First, AuthReason::Expiring]
        );
        assert_eq!(handoff.url, "https://h/u?sig=call2");
        assert_eq!(handoff.headers.len(), 2, "{:?}", handoff.headers);
    }

    #[tokio::test(start_paused = true)]
    async fn long_lived_credentials_are_asked_for_once() {
        let (auth, authorizer) = context(vec![600]);
        let mut handoff = handoff(100_000);
        auth.authorize_handoff(&mut handoff, AuthReason::First)
            .await
            .expect("authorized");
        assert_eq!(
            *authorizer.reasons.lock().expect("lock"),
            [AuthReason::First]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn credentials_expired_even_after_renewal_are_never_used() {
        let (auth, _) = context(vec![0, 0]);
        let failure = auth
            .authorize_handoff(&mut handoff(10), AuthReason::First)
            .await
            .expect_err("expired");
        assert!(failure.retryable, "{failure:?}");
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn authorizer_headers_replace_stored_ones_of_the_same_name() {
        let stored = pairs(&[
            ("authorization", "old"),
            ("X-Device", "pixel"),
            ("Cookie", "a"),
        ]);
        let authorized = pairs(&[("Authorization", "new"), ("cookie", "b")]);
        assert_eq!(
            merge_headers(&stored, &authorized),
            pairs(&[
                ("X-Device", "pixel"),
                ("Authorization", "new"),
                ("cookie", "b")
            ])
        );
    }

    #[test]
    fn invalid_authorizations_are_refused_without_their_values() {
        let bad_header = Authorization::headers(
            "http://h/x",
            pairs(&[("Authorization", "Bearer SECRET\nInjected: 1")]),
        );
        let refused = check(&bad_header).expect_err("invalid value");
        assert!(!refused.retryable);
        assert!(
            !refused.error.message.contains("SECRET"),
            "{}",
            refused.error
        );
        let bad_url = Authorization::headers("ftp://h/x?sig=SECRET", Vec::new());
        let refused = check(&bad_url).expect_err("invalid url");
        assert!(
            !refused.error.message.contains("SECRET"),
            "{}",
            refused.error
        );
        assert!(check(&Authorization::headers("https://h/x?sig=1", Vec::new())).is_ok());
    }
}
