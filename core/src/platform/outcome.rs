//! What an OS task's outcome means for the engine: the same [`AttemptOutcome`] that the
//! in-process lane reports, so both lanes are classified and retried by one table.
//!
//! Cancellations (force-quit, the OS's own) are not failures: the caller requeues the
//! transfer without spending an attempt. This module must never decide retries itself.

use std::time::SystemTime;

use super::service::{PlatformFailure, PlatformOutcome};
use crate::outcome::AttemptOutcome;
use crate::outcome::parse_retry_after;
use crate::server_response::ServerResponse;

/// `None` for a cancellation (requeue, no verdict); otherwise the outcome to classify,
/// with the answer's headers and body (cut to the queue's limit when it is kept).
pub(crate) fn to_attempt_outcome(
    outcome: PlatformOutcome,
    now: SystemTime,
) -> Option<AttemptOutcome> {
    match outcome {
        PlatformOutcome::Response {
            status,
            headers,
            body,
            body_truncated,
        } => {
            let retry_after = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
                .and_then(|(_, value)| parse_retry_after(value, now));
            let answer = ServerResponse::received(status, headers, body, body_truncated);
            Some(AttemptOutcome::Response {
                status,
                retry_after,
                answer: Some(Box::new(answer)),
            })
        }
        PlatformOutcome::Failed { kind, message } => match kind {
            PlatformFailure::CancelledByUser | PlatformFailure::CancelledBySystem => None,
            PlatformFailure::Network => Some(AttemptOutcome::Network { message }),
            PlatformFailure::Other => Some(AttemptOutcome::Platform { message }),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_response_keeps_its_status_and_retry_after() {
        let headers = vec![("Retry-After".to_owned(), "7".to_owned())];
        let outcome = PlatformOutcome::Response {
            status: 503,
            headers: headers.clone(),
            body: b"busy".to_vec(),
            body_truncated: false,
        };
        assert_eq!(
            to_attempt_outcome(outcome, SystemTime::now()),
            Some(AttemptOutcome::Response {
                status: 503,
                retry_after: Some(Duration::from_secs(7)),
                answer: Some(Box::new(ServerResponse::received(
                    503,
                    headers,
                    b"busy".to_vec(),
                    false
                ))),
            })
        );
    }

    #[test]
    fn cancellations_are_not_verdicts() {
        for kind in [
            PlatformFailure::CancelledByUser,
            PlatformFailure::CancelledBySystem,
        ] {
            let outcome = PlatformOutcome::Failed {
                kind,
                message: "cancelled".into(),
            };
            assert_eq!(to_attempt_outcome(outcome, SystemTime::now()), None);
        }
    }

    #[test]
    fn network_and_other_failures_are_retryable_outcomes() {
        let network = PlatformOutcome::Failed {
            kind: PlatformFailure::Network,
            message: "offline".into(),
        };
        assert!(matches!(
            to_attempt_outcome(network, SystemTime::now()),
            Some(AttemptOutcome::Network { .. })
        ));
        let other = PlatformOutcome::Failed {
            kind: PlatformFailure::Other,
            message: "?".into(),
        };
        assert!(matches!(
            to_attempt_outcome(other, SystemTime::now()),
            Some(AttemptOutcome::Platform { .. })
        ));
    }
}
