//! Refuses, at open, configuration values with which every attempt would fail or nothing
//! would ever run: a stall timeout too short for any request to move a byte, a request
//! limit of zero, no attempts at all. Each refusal is an [`Error::InvalidConfig`] that
//! names the field and says what to use instead.
//!
//! It must never adjust a value silently (a queue that quietly runs with other limits than
//! the app asked for is harder to understand than one that refuses to open), and never
//! refuse a value that merely makes things slow.

use std::time::Duration;

use crate::Error;
use crate::config::QueueConfig;

/// The shortest timeout that gives a request a chance: below it, a connect, a TLS
/// handshake or the first bytes of a body on a phone's radio do not fit.
pub(crate) const SHORTEST_TIMEOUT: Duration = Duration::from_secs(1);

/// Checks every value that would make all attempts fail or nothing run (except the zero
/// limits of [`QueueConfig::inspect_only`], which are meant).
pub(crate) fn check(config: &QueueConfig) -> Result<(), Error> {
    if !config.inspect_only {
        let limits = config.limits;
        at_least_one("limits.per_host", limits.per_host, "requests per host", 4)?;
        at_least_one("limits.global", limits.global, "requests overall", 8)?;
    }
    at_least_one(
        "retry.max_attempts",
        usize::try_from(config.retry.max_attempts).unwrap_or(usize::MAX),
        "attempts per transfer",
        25,
    )?;
    long_enough(
        "stall_timeout",
        config.stall_timeout,
        "every attempt would be abandoned as stalled before it could move a byte",
        Duration::from_secs(30),
    )?;
    long_enough(
        "auth.authorize_timeout",
        config.auth.authorize_timeout,
        "every attempt would fail before the request authorizer could answer",
        Duration::from_secs(60),
    )?;
    long_enough(
        "platform.platform_stall_timeout",
        config.platform.platform_stall_timeout,
        "every OS task would be taken back before it could start",
        Duration::from_secs(60),
    )
}

fn at_least_one(
    field: &'static str,
    value: usize,
    what: &str,
    default: usize,
) -> Result<(), Error> {
    if value >= 1 {
        return Ok(());
    }
    Err(Error::InvalidConfig {
        field,
        problem: format!("is 0: no {what} means nothing would ever be sent"),
        instead: format!("use at least 1 (the default is {default})"),
    })
}

fn long_enough(
    field: &'static str,
    value: Duration,
    consequence: &str,
    default: Duration,
) -> Result<(), Error> {
    if value >= SHORTEST_TIMEOUT {
        return Ok(());
    }
    Err(Error::InvalidConfig {
        field,
        problem: format!("is {} ms: {consequence}", value.as_millis()),
        instead: format!(
            "use at least {} s (the default is {} s)",
            SHORTEST_TIMEOUT.as_secs(),
            default.as_secs()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(config: &QueueConfig) -> (&'static str, String) {
        match check(config) {
            Err(error @ Error::InvalidConfig { field, .. }) => (field, error.to_string()),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_pass() {
        check(&QueueConfig::new("q.db")).expect("defaults are valid");
    }

    #[test]
    fn each_value_that_makes_every_attempt_fail_is_refused_with_what_to_use_instead() {
        type Breaks = Box<dyn Fn(&mut QueueConfig)>;
        let cases: Vec<(&str, Breaks)> = vec![
            (
                "stall_timeout",
                Box::new(|c| c.stall_timeout = Duration::ZERO),
            ),
            (
                "stall_timeout",
                Box::new(|c| c.stall_timeout = Duration::from_millis(999)),
            ),
            ("limits.per_host", Box::new(|c| c.limits.per_host = 0)),
            ("limits.global", Box::new(|c| c.limits.global = 0)),
            ("retry.max_attempts", Box::new(|c| c.retry.max_attempts = 0)),
            (
                "auth.authorize_timeout",
                Box::new(|c| c.auth.authorize_timeout = Duration::from_millis(10)),
            ),
            (
                "platform.platform_stall_timeout",
                Box::new(|c| c.platform.platform_stall_timeout = Duration::ZERO),
            ),
        ];
        for (expected, break_it) in cases {
            let mut config = QueueConfig::new("q.db");
            break_it(&mut config);
            let (field, message) = refusal(&config);
            assert_eq!(field, expected, "{message}");
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("use at least"), "{message}");
        }
    }

    #[test]
    fn a_queue_opened_only_to_inspect_may_send_nothing() {
        check(&QueueConfig::inspect_only("q.db")).expect("inspecting needs no requests");
    }

    #[test]
    fn one_second_and_one_request_are_enough() {
        let mut config = QueueConfig::new("q.db");
        config.stall_timeout = SHORTEST_TIMEOUT;
        config.auth.authorize_timeout = SHORTEST_TIMEOUT;
        config.platform.platform_stall_timeout = SHORTEST_TIMEOUT;
        config.limits.per_host = 1;
        config.limits.global = 1;
        config.retry.max_attempts = 1;
        check(&config).expect("the smallest useful values pass");
    }
}
