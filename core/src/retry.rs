//! When to try again: exponential backoff with full jitter, and how long a server's `Retry-After`
//! may make us wait (`outcome.rs` reads the value).
//!
//! Pure arithmetic on durations; randomness comes in as an argument so tests can pin it.
//! It must never decide *whether* to retry: that is [`crate::classify`]'s job.

use std::time::Duration;

use crate::config::RetryPolicy;

/// Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): a uniformly random
/// delay between zero and `min(max_delay, base_delay * 2^(attempt-1))`. `unit` is in [0, 1).
pub(crate) fn backoff(policy: &RetryPolicy, attempt: u32, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let ceiling = policy
        .base_delay
        .saturating_mul(1u32 << exponent)
        .min(policy.max_delay);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// How long to wait on a server's `Retry-After` of `asked`: as asked, up to the policy's
/// `max_server_delay`.
pub(crate) fn server_delay(policy: &RetryPolicy, asked: Duration) -> Duration {
    asked.min(policy.max_server_delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::parse_retry_after;
    use std::time::SystemTime;

    const POLICY: RetryPolicy = RetryPolicy {
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        max_attempts: 10,
        max_server_delay: Duration::from_secs(900),
    };

    #[test]
    fn a_server_delay_is_honoured_up_to_the_policy_cap() {
        assert_eq!(
            server_delay(&POLICY, Duration::from_secs(120)),
            Duration::from_secs(120)
        );
        let asked = parse_retry_after("999999", SystemTime::UNIX_EPOCH).expect("seconds");
        assert_eq!(server_delay(&POLICY, asked), Duration::from_secs(900));
    }

    #[test]
    fn backoff_ceiling_doubles_per_attempt_and_stops_at_the_maximum() {
        let almost_one = 0.999_999;
        let ceilings: Vec<u64> = (1..=8)
            .map(|attempt| backoff(&POLICY, attempt, almost_one).as_secs())
            .collect();
        assert_eq!(ceilings, vec![0, 1, 3, 7, 15, 31, 59, 59]);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        assert_eq!(backoff(&POLICY, 4, 0.0), Duration::ZERO);
        assert_eq!(backoff(&POLICY, 4, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        assert_eq!(backoff(&POLICY, u32::MAX, 0.5), Duration::from_secs(30));
    }

    /// Found by the `retry_after` fuzz target: 41 digits were ignored, so the transfer
    /// retried on its own short backoff instead of waiting as long as the policy allows.
    #[test]
    fn delay_seconds_too_large_for_u64_wait_the_policy_cap() {
        let asked = parse_retry_after(
            "00003333333333333333333333133333333333333",
            SystemTime::now(),
        )
        .expect("delay-seconds");
        assert_eq!(asked, Duration::from_secs(u64::MAX));
        assert_eq!(server_delay(&POLICY, asked), POLICY.max_server_delay);
    }
}
