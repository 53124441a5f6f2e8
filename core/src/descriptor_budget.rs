//! Keeps the work in flight below the process's file-descriptor limit.
//!
//! Every in-process request holds descriptors while it is sent: its source file (a second
//! handle while a tus checksum is computed) and, over HTTP/1.1, a connection of its own.
//! With `--concurrency 512` under the usual `ulimit -n` of 1,024 (256 on macOS and iOS)
//! requests would run the process out of descriptors, and every open would fail with
//! `EMFILE`. So at open the soft `RLIMIT_NOFILE` is read and the request limits (and with
//! them the claims ahead, which are bounded by the global limit) are lowered so that
//! requests, their files, SQLite and some slack for the rest of the app stay below it.
//! The lowering is logged. Should a descriptor still run out, the attempt waits and tries
//! again without using up an attempt (`descriptors.rs`).
//!
//! It must never raise a limit the app configured, and never make one zero.

use crate::config::{Limits, QueueConfig};

/// Descriptors one in-process request may hold: its source, a second handle on it while a
/// checksum is computed, and its connection.
const DESCRIPTORS_PER_REQUEST: u64 = 3;
/// Descriptors left for everything else, at least: SQLite (database, WAL, shared memory,
/// lock file), the runtime (epoll, its waker), standard streams, DNS lookups, idle pooled
/// connections, and the app's own files. A quarter of the limit when that is more.
const RESERVED_AT_LEAST: u64 = 48;

/// How many requests may be in flight at once under a soft limit of `soft_limit`
/// descriptors; at least one.
pub(crate) fn requests_within(soft_limit: u64) -> usize {
    let reserved = RESERVED_AT_LEAST.max(soft_limit / 4);
    let spare = soft_limit.saturating_sub(reserved);
    usize::try_from((spare / DESCRIPTORS_PER_REQUEST).max(1)).unwrap_or(usize::MAX)
}

/// The limits to run with under a soft limit of `soft_limit` descriptors (`None`:
/// unlimited, or unknown on this platform).
pub(crate) fn fit(limits: Limits, soft_limit: Option<u64>) -> Limits {
    let Some(soft_limit) = soft_limit else {
        return limits;
    };
    let most = requests_within(soft_limit);
    Limits {
        per_host: limits.per_host.min(most),
        global: limits.global.min(most),
    }
}

/// Lowers `config.limits` to what this process's descriptor limit allows, and says so.
pub(crate) fn fit_to_process(config: &mut QueueConfig) {
    let soft_limit = soft_limit();
    let fitted = fit(config.limits, soft_limit);
    if fitted != config.limits {
        log::warn!(
            "this process may have {} files open at once (RLIMIT_NOFILE): at most {} requests \
             run at once ({} per host) instead of the {} ({} per host) configured, so that \
             requests, their files and the database stay below it; raise the limit \
             (`ulimit -n`) to run more",
            soft_limit.unwrap_or_default(),
            fitted.global,
            fitted.per_host,
            config.limits.global,
            config.limits.per_host,
        );
        config.limits = fitted;
    }
}

/// The soft `RLIMIT_NOFILE`, or `None` when it is unlimited or cannot be read.
#[cfg(unix)]
fn soft_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` that we own and reads nothing else.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if result != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    #[allow(clippy::useless_conversion)] // `rlim_t` is u64 here, not on every target
    u64::try_from(limit.rlim_cur).ok()
}

#[cfg(not(unix))]
fn soft_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Limits = Limits {
        per_host: 512,
        global: 512,
    };

    #[test]
    fn common_limits_leave_room_for_the_default_concurrency() {
        let defaults = Limits::default();
        for soft_limit in [256, 1024, 32_768] {
            assert_eq!(fit(defaults, Some(soft_limit)), defaults, "{soft_limit}");
        }
        assert_eq!(requests_within(256), 64); // iOS and macOS
        assert_eq!(requests_within(1024), 256); // most Linux shells
    }

    #[test]
    fn wide_limits_are_lowered_below_the_descriptor_limit() {
        for soft_limit in [64, 100, 256, 1024] {
            let fitted = fit(WIDE, Some(soft_limit));
            let held = fitted.global as u64 * DESCRIPTORS_PER_REQUEST;
            assert!(
                held + RESERVED_AT_LEAST <= soft_limit,
                "{soft_limit}: {fitted:?}"
            );
            assert!(fitted.per_host <= fitted.global);
        }
    }

    #[test]
    fn a_tiny_limit_still_runs_one_request_and_nothing_is_raised() {
        assert_eq!(
            fit(WIDE, Some(10)),
            Limits {
                per_host: 1,
                global: 1
            }
        );
        let narrow = Limits {
            per_host: 2,
            global: 3,
        };
        assert_eq!(fit(narrow, Some(1024)), narrow);
        assert_eq!(fit(WIDE, None), WIDE);
    }

    #[test]
    fn this_process_has_a_readable_limit() {
        // Every unix test machine has a finite soft limit; `None` would mean the read
        // itself is broken.
        if cfg!(unix) {
            assert!(soft_limit().is_some_and(|limit| limit > 0));
        }
    }
}
