//! `Retry-After` as the lanes read it (in-process answers, OS task reports), and the cap
//! a transfer's wait is held to.
//!
//! Checks: no panic; a value of digits only is a delay in seconds, honoured up to the cap
//! however many digits it has; the wait is never longer than the cap.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    value: String,
    /// "Now", in seconds since the epoch (up to year ~2500, as a phone's clock may say).
    now_secs: u32,
    now_extra_secs: u8,
    cap_secs: u32,
}

fuzz_target!(|input: Input| {
    let now = UNIX_EPOCH
        + Duration::from_secs(u64::from(input.now_secs) * 4 + u64::from(input.now_extra_secs));
    let parsed = ferry::fuzzing::retry_after(&input.value, now);
    let trimmed = input.value.trim_matches([' ', '\t']);
    if !trimmed.is_empty() && trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        let expected = trimmed.parse::<u64>().unwrap_or(u64::MAX);
        assert_eq!(
            parsed,
            Some(Duration::from_secs(expected)),
            "delay-seconds {trimmed:?}"
        );
    }
    if let Some(asked) = parsed {
        let cap = Duration::from_secs(u64::from(input.cap_secs));
        let waited = ferry::fuzzing::server_delay(asked, cap);
        assert!(
            waited <= cap && waited <= asked,
            "{asked:?} capped at {cap:?}: {waited:?}"
        );
    }
});
