//! "Will these credentials outlive the request?": a pure estimate.
//!
//! The duration a transfer is likely to take is its size over a throughput: the recent
//! throughput of in-process requests, or for the OS lane a configured background
//! assumption (`AuthPolicy::background_throughput`), since nothing the app can measure
//! predicts how fast the OS will move a background task. Credentials that expire before
//! `now + likely duration + margin` are renewed before starting. Pure: no clock, no I/O.

use std::time::{Duration, SystemTime};

/// How long sending `size` bytes is likely to take at `bytes_per_second`. A throughput of
/// zero (or less) is treated as one byte per second, so the answer is always finite.
pub fn likely_duration(size: u64, bytes_per_second: f64) -> Duration {
    let rate = if bytes_per_second.is_finite() && bytes_per_second >= 1.0 {
        bytes_per_second
    } else {
        1.0
    };
    let seconds = size as f64 / rate;
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

/// Whether credentials expiring at `expires_at` would expire before a transfer of `size`
/// bytes, started `now` at `bytes_per_second`, is likely to finish (with `margin` to
/// spare). Credentials without an expiry never expire too soon.
pub fn expires_before_finish(
    expires_at: Option<SystemTime>,
    now: SystemTime,
    size: u64,
    bytes_per_second: f64,
    margin: Duration,
) -> bool {
    let Some(expires_at) = expires_at else {
        return false;
    };
    let needed = likely_duration(size, bytes_per_second).saturating_add(margin);
    match now.checked_add(needed) {
        Some(finish) => expires_at <= finish,
        None => true,
    }
}

/// Whether credentials expiring at `expires_at` are already unusable at `now`.
pub fn already_expired(expires_at: Option<SystemTime>, now: SystemTime) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn duration_is_size_over_throughput() {
        assert_eq!(
            likely_duration(10 * MIB, MIB as f64),
            Duration::from_secs(10)
        );
        assert_eq!(likely_duration(5, 0.0), Duration::from_secs(5));
        assert_eq!(likely_duration(5, f64::NAN), Duration::from_secs(5));
    }

    #[test]
    fn credentials_that_expire_mid_transfer_are_too_short() {
        let now = at(1_000);
        let margin = Duration::from_secs(5);
        // 100 MiB at 1 MiB/s: 100 s, plus 5 s margin.
        assert!(expires_before_finish(
            Some(at(1_100)),
            now,
            100 * MIB,
            MIB as f64,
            margin
        ));
        assert!(expires_before_finish(
            Some(at(1_105)),
            now,
            100 * MIB,
            MIB as f64,
            margin
        ));
        assert!(!expires_before_finish(
            Some(at(1_106)),
            now,
            100 * MIB,
            MIB as f64,
            margin
        ));
        assert!(!expires_before_finish(None, now, 100 * MIB, 1.0, margin));
    }

    #[test]
    fn a_slower_assumed_throughput_asks_for_longer_lived_credentials() {
        let now = at(0);
        let expires = Some(at(60));
        let margin = Duration::ZERO;
        assert!(!expires_before_finish(
            expires,
            now,
            10 * MIB,
            MIB as f64,
            margin
        ));
        assert!(expires_before_finish(
            expires,
            now,
            10 * MIB,
            100_000.0,
            margin
        ));
    }

    #[test]
    fn expired_means_at_or_before_now() {
        assert!(already_expired(Some(at(5)), at(5)));
        assert!(!already_expired(Some(at(6)), at(5)));
        assert!(!already_expired(None, at(5)));
    }
}
