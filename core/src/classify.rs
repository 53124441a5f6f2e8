//! What an attempt's outcome means: success, retry, permanent failure or an auth problem.
//!
//! One table, in one place, so that every lane classifies the same way. It must never look
//! at the clock or the store; timing is [`crate::retry`]'s, persistence the actor's.

use std::time::Duration;

use crate::error::{FailureKind, TransferError};
use crate::outcome::AttemptOutcome;

/// The decision for one outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Succeeded,
    Retry {
        error: TransferError,
        /// The server's own delay (`Retry-After` on 429 or 503): honoured as given.
        server_delay: Option<Duration>,
    },
    Permanent(TransferError),
    Auth(TransferError),
}

pub(crate) fn classify(outcome: &AttemptOutcome) -> Verdict {
    match outcome {
        AttemptOutcome::Response {
            status,
            retry_after,
            ..
        } => classify_status(*status, *retry_after),
        AttemptOutcome::Network { message } => Verdict::Retry {
            error: TransferError::new(FailureKind::Network, message.clone()),
            server_delay: None,
        },
        AttemptOutcome::Unprocessed { message } => Verdict::Retry {
            error: TransferError::new(
                FailureKind::Network,
                format!(
                    "the server repeatedly ended the connection without processing the request: {message}"
                ),
            ),
            server_delay: None,
        },
        AttemptOutcome::Stalled => Verdict::Retry {
            error: TransferError::new(
                FailureKind::Stalled,
                "nothing moved (no more bytes sent or received, and no answer from the server) within \
                 stall_timeout",
            ),
            server_delay: None,
        },
        AttemptOutcome::Source(error)
        | AttemptOutcome::Rejected(error)
        | AttemptOutcome::Untrusted(error) => Verdict::Permanent(error.clone()),
        AttemptOutcome::OutOfDescriptors(error)
        | AttemptOutcome::DownloadRetry(error)
        | AttemptOutcome::OutOfSpace(error) => Verdict::Retry {
            error: error.clone(),
            server_delay: None,
        },
        AttemptOutcome::Platform { message } => Verdict::Retry {
            error: TransferError::new(FailureKind::Platform, message.clone()),
            server_delay: None,
        },
        AttemptOutcome::NotSent | AttemptOutcome::HeldBack | AttemptOutcome::SegmentStored => {
            Verdict::Retry {
                error: TransferError::new(FailureKind::Network, "nothing was sent"),
                server_delay: None,
            }
        }
        AttemptOutcome::Authorizer { error, retryable } => {
            if *retryable {
                Verdict::Retry {
                    error: error.clone(),
                    server_delay: None,
                }
            } else {
                Verdict::Auth(error.clone())
            }
        }
    }
}

fn classify_status(status: u16, retry_after: Option<Duration>) -> Verdict {
    let error = |kind, text: &str| TransferError::with_status(kind, status, text);
    match status {
        200..=299 => Verdict::Succeeded,
        // The answer alone does not say whether the request carried credentials, so the
        // text holds for both (`ferry status` shows it without knowing how it was sent).
        401 | 403 => Verdict::Auth(error(
            FailureKind::Auth,
            "the server asked for credentials: the request carried none it accepts",
        )),
        408 | 429 | 500..=599 => {
            let server_delay = if matches!(status, 429 | 503) {
                retry_after
            } else {
                None
            };
            // The delay the server asked for, as it asked: a longer one than
            // `RetryPolicy::max_server_delay` is waited for only that long.
            let text = match server_delay {
                Some(delay) => format!(
                    "the server asked to try again in {} s (Retry-After)",
                    delay.as_secs()
                ),
                None if matches!(status, 429 | 503) => {
                    "the server asked to try again later".to_owned()
                }
                None => format!(
                    "the server failed to answer the request (HTTP {status}); it is sent again later"
                ),
            };
            Verdict::Retry {
                error: error(FailureKind::HttpStatus, &text),
                server_delay,
            }
        }
        300..=399 => Verdict::Permanent(error(
            FailureKind::HttpStatus,
            "the server redirected the upload; use the final URL as destination",
        )),
        _ => Verdict::Permanent(error(
            FailureKind::HttpStatus,
            "the server rejected the request",
        )),
    }
}

/// Whether the outcome says the host itself is unhealthy (feeds the per-host breaker).
/// A 4xx answer proves the host is up, so it counts as healthy.
pub(crate) fn host_is_unhealthy(outcome: &AttemptOutcome) -> bool {
    match outcome {
        AttemptOutcome::Response { status, .. } => matches!(status, 408 | 429 | 500..=599),
        AttemptOutcome::Network { .. } | AttemptOutcome::Stalled => true,
        AttemptOutcome::Source(_)
        | AttemptOutcome::OutOfDescriptors(_)
        | AttemptOutcome::Rejected(_)
        | AttemptOutcome::DownloadRetry(_)
        | AttemptOutcome::OutOfSpace(_)
        | AttemptOutcome::Untrusted(_)
        | AttemptOutcome::Unprocessed { .. }
        | AttemptOutcome::Platform { .. }
        | AttemptOutcome::Authorizer { .. }
        | AttemptOutcome::NotSent
        | AttemptOutcome::HeldBack
        | AttemptOutcome::SegmentStored => false,
    }
}

/// Whether requests claimed ahead for the same host must hold back until the actor has
/// seen this outcome (`http/gate.rs`): the host is unhealthy or refused the credentials.
pub(crate) fn troubles_host(outcome: &AttemptOutcome) -> bool {
    host_is_unhealthy(outcome) || matches!(classify(outcome), Verdict::Auth(_))
}

/// Whether the attempt says anything about the host's health at all. Without credentials
/// from the app's authorizer nothing was sent, so the host breaker must not hear of it
/// (a "healthy" record would close a breaker whose probe never went out). A request the
/// server did not process says only that one connection ended.
pub(crate) fn reached_host(outcome: &AttemptOutcome) -> bool {
    !matches!(
        outcome,
        AttemptOutcome::Authorizer { .. }
            | AttemptOutcome::NotSent
            | AttemptOutcome::HeldBack
            | AttemptOutcome::SegmentStored
            | AttemptOutcome::Unprocessed { .. }
            | AttemptOutcome::OutOfDescriptors(_)
    )
}

/// Whether the attempt is given back (`attempt_budget.rs`): it never started for lack of
/// file descriptors in this process, or its download's volume filled up (no fault of the
/// server's, and waited out, never a reason to give up).
pub(crate) fn given_back(outcome: &AttemptOutcome) -> bool {
    matches!(
        outcome,
        AttemptOutcome::OutOfDescriptors(_) | AttemptOutcome::OutOfSpace(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> AttemptOutcome {
        AttemptOutcome::Response {
            status,
            retry_after: Some(Duration::from_secs(9)),
            answer: None,
        }
    }

    #[test]
    fn success_statuses_succeed() {
        for status in [200, 201, 204] {
            assert_eq!(classify(&response(status)), Verdict::Succeeded);
        }
    }

    #[test]
    fn auth_statuses_are_their_own_kind() {
        for status in [401, 403] {
            assert!(matches!(classify(&response(status)), Verdict::Auth(_)));
        }
    }

    #[test]
    fn only_429_and_503_carry_the_server_delay() {
        for (status, delay) in [(429, Some(9)), (503, Some(9)), (500, None), (408, None)] {
            match classify(&response(status)) {
                Verdict::Retry {
                    server_delay,
                    error,
                } => {
                    assert_eq!(server_delay, delay.map(Duration::from_secs), "{status}");
                    let says_the_delay = error.message.contains("try again in 9 s");
                    assert_eq!(says_the_delay, delay.is_some(), "{status}: {error}");
                }
                other => panic!("{status} should retry, got {other:?}"),
            }
        }
    }

    #[test]
    fn other_client_errors_are_permanent() {
        for status in [400, 404, 409, 413, 422, 301] {
            assert!(
                matches!(classify(&response(status)), Verdict::Permanent(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn network_errors_and_stalls_retry_and_count_against_the_host() {
        for outcome in [
            AttemptOutcome::Network {
                message: "reset".into(),
            },
            AttemptOutcome::Stalled,
        ] {
            assert!(matches!(classify(&outcome), Verdict::Retry { .. }));
            assert!(host_is_unhealthy(&outcome));
        }
        assert!(!host_is_unhealthy(&response(404)));
        assert!(host_is_unhealthy(&response(503)));
    }

    #[test]
    fn authorizer_failures_wait_for_sign_in_or_retry_and_never_blame_the_host() {
        let error = TransferError::new(FailureKind::Auth, "no token");
        let sign_in = AttemptOutcome::Authorizer {
            error: error.clone(),
            retryable: false,
        };
        assert_eq!(classify(&sign_in), Verdict::Auth(error.clone()));
        let temporary = AttemptOutcome::Authorizer {
            error: error.clone(),
            retryable: true,
        };
        assert_eq!(
            classify(&temporary),
            Verdict::Retry {
                error,
                server_delay: None
            }
        );
        assert!(!host_is_unhealthy(&sign_in) && !host_is_unhealthy(&temporary));
        assert!(!reached_host(&sign_in) && !reached_host(&temporary));
        assert!(reached_host(&response(401)));
    }

    #[test]
    fn running_out_of_descriptors_or_space_is_retried_given_back_and_never_blamed_on_the_host() {
        let descriptors = TransferError::new(FailureKind::TooManyOpenFiles, "EMFILE");
        let space = TransferError::new(FailureKind::InsufficientSpace, "ENOSPC");
        for (outcome, error) in [
            (
                AttemptOutcome::OutOfDescriptors(descriptors.clone()),
                descriptors,
            ),
            (AttemptOutcome::OutOfSpace(space.clone()), space),
        ] {
            let retry = Verdict::Retry {
                error,
                server_delay: None,
            };
            assert_eq!(classify(&outcome), retry);
            assert!(given_back(&outcome));
            assert!(!host_is_unhealthy(&outcome) && !troubles_host(&outcome));
        }
        let no_descriptor = AttemptOutcome::OutOfDescriptors(TransferError::new(
            FailureKind::TooManyOpenFiles,
            "EMFILE",
        ));
        assert!(!reached_host(&no_descriptor), "nothing was sent");
        let digest = TransferError::new(FailureKind::DigestMismatch, "bytes");
        assert!(!given_back(&AttemptOutcome::DownloadRetry(digest)));
    }

    #[test]
    fn source_problems_are_permanent() {
        let error = TransferError::new(FailureKind::SourceChanged, "changed");
        assert_eq!(
            classify(&AttemptOutcome::Source(error.clone())),
            Verdict::Permanent(error)
        );
    }
}
