//! What an OS task's outcome means for the engine: the same [`AttemptOutcome`] that the
//! in-process lane reports, so both lanes are classified and retried by one table.
//!
//! Cancellations (force-quit, the OS's own) are not failures: the caller requeues the
//! transfer without spending an attempt. This module must never decide retries itself.

use std::time::SystemTime;

use super::service::{PlatformFailure, PlatformOutcome};
use crate::outcome::AttemptOutcome;
use crate::outcome::parse_retry_after;

/// `None` for a cancellation (requeue, no verdict); otherwise the outcome to classify.
pub(crate) fn to_attempt_outcome(
    outcome: &PlatformOutcome,
    now: SystemTime,
) -> Option<AttemptOutcome> {
    match outcome {
        PlatformOutcome::Response { status, headers } => {
            let retry_after = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
                .and_then(|(_, value)| parse_retry_after(value, now));
            Some(AttemptOutcome::Response {
                status: *status,
                retry_after,
            })
        }
        PlatformOutcome::Failed { kind, message } => match kind {
            PlatformFailure::CancelledByUser | PlatformFailure::CancelledBySystem => None,
            PlatformFailure::Network => Some(AttemptOutcome::Network {
                message: message.clone(),
            }),
            PlatformFailure::Other => Some(AttemptOutcome::Platform {
                message: message.clone(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_response_keeps_its_status_and_retry_after() {
        let outcome = PlatformOutcome::Response {
            status: 503,
            headers: vec![("Retry-After".into(), "7".into())],
        };
        assert_eq!(
            to_attempt_outcome(&outcome, SystemTime::now()),
            Some(AttemptOutcome::Response {
                status: 503,
                retry_after: Some(Duration::from_secs(7)),
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
            assert_eq!(to_attempt_outcome(&outcome, SystemTime::now()), None);
        }
    }

    #[test]
    fn network_and_other_failures_are_retryable_outcomes() {
        let network = PlatformOutcome::Failed {
            kind: PlatformFailure::Network,
            message: "offline".into(),
        };
        assert!(matches!(
            to_attempt_outcome(&network, SystemTime::now()),
            Some(AttemptOutcome::Network { .. })
        ));
        let other = PlatformOutcome::Failed {
            kind: PlatformFailure::Other,
            message: "?".into(),
        };
        assert!(matches!(
            to_attempt_outcome(&other, SystemTime::now()),
            Some(AttemptOutcome::Platform { .. })
        ));
    }
}
