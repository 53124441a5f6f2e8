//! Wall-clock time that follows tokio's clock.
//!
//! Retry times are stored as wall-clock milliseconds so that they survive a restart, but
//! tests run on tokio's paused clock, where a five-minute backoff must cost nothing. The
//! [`Clock`] reads the wall clock once, at open, and then advances it with tokio's
//! monotonic clock, so both worlds agree. Never call `SystemTime::now()` elsewhere in the
//! engine.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    wall_at_start: SystemTime,
    instant_at_start: Instant,
}

impl Clock {
    pub(crate) fn start() -> Self {
        Self {
            wall_at_start: SystemTime::now(),
            instant_at_start: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.wall_at_start + self.instant_at_start.elapsed()
    }

    /// Milliseconds since the Unix epoch, as stored.
    pub(crate) fn now_ms(&self) -> i64 {
        to_ms(self.now())
    }

    /// The tokio instant at which the stored wall-clock time `ms` falls.
    pub(crate) fn instant_at_ms(&self, ms: i64) -> Instant {
        let now_ms = self.now_ms();
        let ahead = u64::try_from(ms.saturating_sub(now_ms)).unwrap_or(0);
        Instant::now() + Duration::from_millis(ahead)
    }
}

pub(crate) fn to_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// Milliseconds since the epoch, rounded up: a time stored this way is never earlier than
/// the time asked for (a server's `Retry-After` is a lower bound).
pub(crate) fn to_ms_ceil(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        let ms = since.as_nanos().div_ceil(1_000_000);
        i64::try_from(ms).unwrap_or(i64::MAX)
    })
}

pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_up_never_moves_a_time_earlier() {
        let time = UNIX_EPOCH + Duration::from_nanos(1_000_000_001);
        assert_eq!(to_ms(time), 1_000);
        assert_eq!(to_ms_ceil(time), 1_001);
        let exact = UNIX_EPOCH + Duration::from_millis(5);
        assert_eq!(to_ms_ceil(exact), 5);
    }
}
