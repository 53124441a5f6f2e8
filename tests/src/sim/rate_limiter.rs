//! iOS rule 1, the background-session resume rate limiter, as a pure state machine.
//!
//! One delay per app. Each background resume or relaunch: `delay = delay == 0 ? d0 :
//! min(2 * delay, d_max)`. The delay goes back to 0 when the user brings the app to the
//! foreground, or when it runs out with no resume. A task created while the app is in the
//! background does not start before `last_resume + delay`; tasks created in the foreground
//! are exempt.
//!
//! What it must never do: read a clock or do I/O; the daemon passes `now` in.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct ResumeRateLimiter {
    d0: Duration,
    d_max: Duration,
    delay: Duration,
    last_resume: Option<Instant>,
}

impl ResumeRateLimiter {
    pub fn new(d0: Duration, d_max: Duration) -> Self {
        Self {
            d0,
            d_max,
            delay: Duration::ZERO,
            last_resume: None,
        }
    }

    /// The delay now in force (0 if it ran out).
    pub fn delay(&self, now: Instant) -> Duration {
        match self.last_resume {
            Some(at) if at.checked_add(self.delay).is_some_and(|end| end > now) => self.delay,
            _ => Duration::ZERO,
        }
    }

    /// The app was resumed or relaunched in the background.
    pub fn background_resume(&mut self, now: Instant) {
        let current = self.delay(now);
        self.delay = if current.is_zero() {
            self.d0
        } else {
            current.saturating_mul(2).min(self.d_max)
        };
        self.last_resume = Some(now);
    }

    /// The user brought the app to the foreground.
    pub fn foreground(&mut self) {
        self.delay = Duration::ZERO;
    }

    /// The earliest start of a task created now in the background.
    pub fn earliest_start(&self, now: Instant) -> Instant {
        match self.last_resume {
            Some(at) => at.checked_add(self.delay(now)).unwrap_or(at).max(now),
            None => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn resumes_within_the_delay_double_it_and_the_foreground_resets_it() {
        let mut limiter = ResumeRateLimiter::new(D0, Duration::MAX);
        let t = Instant::now();
        limiter.background_resume(t);
        assert_eq!(limiter.delay(t), D0);
        limiter.background_resume(t + Duration::from_secs(10));
        assert_eq!(limiter.delay(t + Duration::from_secs(10)), D0 * 2);
        let third = t + Duration::from_secs(20);
        limiter.background_resume(third);
        assert_eq!(limiter.delay(third), D0 * 4, "60 -> 120 -> 240 s");
        assert_eq!(limiter.earliest_start(third), third + D0 * 4);
        limiter.foreground();
        assert_eq!(limiter.delay(third), Duration::ZERO);
        assert_eq!(limiter.earliest_start(third), third);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_that_runs_out_without_a_resume_starts_over_and_d_max_caps_it() {
        let mut limiter = ResumeRateLimiter::new(D0, Duration::from_secs(100));
        let t = Instant::now();
        limiter.background_resume(t);
        limiter.background_resume(t + Duration::from_secs(1));
        assert_eq!(
            limiter.delay(t + Duration::from_secs(1)),
            Duration::from_secs(100)
        );
        let later = t + Duration::from_secs(500);
        assert_eq!(limiter.delay(later), Duration::ZERO, "ran out");
        limiter.background_resume(later);
        assert_eq!(limiter.delay(later), D0);
    }
}
