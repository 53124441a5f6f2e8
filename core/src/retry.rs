//! When to try again: exponential backoff with full jitter, and the server's `Retry-After`.
//!
//! Pure arithmetic on durations; randomness comes in as an argument so tests can pin it.
//! It must never decide *whether* to retry: that is [`crate::classify`]'s job.

use std::time::{Duration, SystemTime};

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

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
/// A date in the past means "now"; more seconds than a `u64` holds mean "as long as
/// possible", which [`server_delay`] caps. Anything else is ignored.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Some(Duration::from_secs(u64::MAX));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn retry_after_accepts_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_accepts_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        let later = "Sun, 06 Nov 1994 08:50:07 GMT";
        assert_eq!(parse_retry_after(later, now), Some(Duration::from_secs(30)));
        let earlier = "Sun, 06 Nov 1994 08:40:00 GMT";
        assert_eq!(parse_retry_after(earlier, now), Some(Duration::ZERO));
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

    #[test]
    fn retry_after_ignores_garbage() {
        assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
        assert_eq!(parse_retry_after("-5", SystemTime::now()), None);
    }
}
