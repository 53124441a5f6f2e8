//! How `ferry push` and `ferry status` say why the queue waits: one line per host, for
//! people and as JSON.
//!
//! What it is for: turning the queue's [`HostStatus`]es into "127.0.0.1:9: 20 waiting;
//! the server keeps failing, next try in 12s; last error: ...", and the same facts as a
//! JSON object for `--json` runs. `status`, which reads the database and not the pushing
//! process, has the stored facts of a [`HostSummary`] instead (no breaker verdict: that
//! lives in the pushing process's memory), told the same way.
//!
//! What it must never do: print a URL or a header (a status holds only `host:port` and
//! error messages the engine wrote without URLs), or ask the queue anything itself.

use std::time::{Duration, SystemTime};

use ferry::{HostHealth, HostStatus, HostSummary, TransferError};
use indicatif::HumanDuration;
use serde::Serialize;

use crate::reason;

/// One line per host with work, for a person.
pub fn lines(hosts: &[HostStatus], now: SystemTime) -> Vec<String> {
    hosts
        .iter()
        .filter(|status| status.queued + status.running > 0)
        .map(|status| line(status, now))
        .collect()
}

fn line(status: &HostStatus, now: SystemTime) -> String {
    let health = match status.health {
        HostHealth::Healthy => "no recent failure".to_owned(),
        HostHealth::Failing {
            consecutive_failures,
        } => match consecutive_failures {
            1 => "1 failure".to_owned(),
            many => format!("{many} failures in a row"),
        },
        HostHealth::Open { .. } => {
            "the server keeps failing, Ferry waits before it tries again".to_owned()
        }
        HostHealth::Probing => {
            "the server keeps failing; the next request to it is a probe".to_owned()
        }
    };
    format!(
        "{}: {} waiting, {} running (transferring or about to); {health}{}{}",
        status.host,
        status.queued,
        status.running,
        next_try_text(status.next_attempt_at, now),
        last_error_text(status.last_error.as_ref(), None, now)
    )
}

/// One line per host with work, from what the database stores (`ferry status`). `in_use`:
/// whether a process holds the queue (`Some(false)`: transfers stored as running were
/// left so by a process that ended, and the next run continues them).
pub fn stored_lines(hosts: &[HostSummary], now: SystemTime, in_use: Option<bool>) -> Vec<String> {
    let running_means = if in_use == Some(false) {
        "left running by a process that ended; the next run continues them"
    } else {
        "transferring or about to"
    };
    hosts
        .iter()
        .filter(|host| host.queued + host.running > 0)
        .map(|host| {
            let failing = match host.queued_after_failure {
                0 => "none has failed".to_owned(),
                all if all == host.queued => "all after a failed attempt".to_owned(),
                some => format!("{some} after a failed attempt"),
            };
            format!(
                "{}: {} waiting ({failing}), {} running ({running_means}){}{}",
                host.host,
                host.queued,
                host.running,
                next_try_text(host.next_attempt_at, now),
                last_error_text(host.last_error.as_ref(), host.last_error_at, now)
            )
        })
        .collect()
}

/// ", next try in 12 seconds", ", next try now", or nothing when nothing is queued.
fn next_try_text(at: Option<SystemTime>, now: SystemTime) -> String {
    match wait_until(at, now) {
        Some(wait) if wait > Duration::ZERO => format!(", next try in {}", HumanDuration(wait)),
        Some(_) => ", next try now".to_owned(),
        None => String::new(),
    }
}

/// "; last error (3 seconds ago): ...", or nothing.
fn last_error_text(
    error: Option<&TransferError>,
    at: Option<SystemTime>,
    now: SystemTime,
) -> String {
    let Some(error) = error else {
        return String::new();
    };
    match at.and_then(|at| now.duration_since(at).ok()) {
        Some(ago) => format!(
            "; last error ({} ago): {}",
            HumanDuration(ago),
            reason::text(error)
        ),
        None => format!("; last error: {}", reason::text(error)),
    }
}

fn wait_until(at: Option<SystemTime>, now: SystemTime) -> Option<Duration> {
    at.map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The same facts as JSON (`--json` runs print one object per report on stderr).
#[derive(Debug, Serialize)]
pub struct HostJson<'a> {
    host: &'a str,
    /// `healthy` or `failing`, the same words as `status --json` uses for the same host.
    health: &'static str,
    /// What the pushing process's breaker does: `closed` (sends as usual), `open` (waits
    /// before it tries again) or `probing` (one request tries the host).
    breaker: &'static str,
    queued: u64,
    running: u64,
    next_try_in_secs: Option<f64>,
    last_error_kind: Option<&'static str>,
    last_error: Option<String>,
}

pub fn json(hosts: &[HostStatus], now: SystemTime) -> Vec<HostJson<'_>> {
    hosts
        .iter()
        .filter(|status| status.queued + status.running > 0)
        .map(|status| HostJson {
            host: &status.host,
            health: match status.health {
                HostHealth::Healthy => "healthy",
                HostHealth::Failing { .. } | HostHealth::Open { .. } | HostHealth::Probing => {
                    "failing"
                }
            },
            breaker: match status.health {
                HostHealth::Healthy | HostHealth::Failing { .. } => "closed",
                HostHealth::Open { .. } => "open",
                HostHealth::Probing => "probing",
            },
            queued: status.queued,
            running: status.running,
            next_try_in_secs: wait_until(status.next_attempt_at, now)
                .map(|wait| wait.as_secs_f64()),
            last_error_kind: status.last_error.as_ref().map(|error| error.kind.as_str()),
            last_error: status.last_error.as_ref().map(reason::text),
        })
        .collect()
}

/// What `status --json` says of a host: the stored facts.
#[derive(Debug, Serialize)]
pub struct StoredHostJson<'a> {
    host: &'a str,
    /// `failing` when one of its queued transfers waits after a failed attempt.
    health: &'static str,
    queued: u64,
    queued_after_failure: u64,
    running: u64,
    next_try_in_secs: Option<f64>,
    last_error_kind: Option<&'static str>,
    last_error: Option<String>,
    last_error_secs_ago: Option<f64>,
}

pub fn stored_json(hosts: &[HostSummary], now: SystemTime) -> Vec<StoredHostJson<'_>> {
    hosts
        .iter()
        .map(|host| StoredHostJson {
            host: &host.host,
            health: if host.queued_after_failure == 0 {
                "healthy"
            } else {
                "failing"
            },
            queued: host.queued,
            queued_after_failure: host.queued_after_failure,
            running: host.running,
            next_try_in_secs: wait_until(host.next_attempt_at, now).map(|wait| wait.as_secs_f64()),
            last_error_kind: host.last_error.as_ref().map(|error| error.kind.as_str()),
            last_error: host.last_error.as_ref().map(reason::text),
            last_error_secs_ago: host
                .last_error_at
                .and_then(|at| now.duration_since(at).ok())
                .map(|ago| ago.as_secs_f64()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_behind_an_open_breaker_says_when_and_why() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut status = HostStatus::default();
        status.host = "127.0.0.1:9".into();
        status.health = HostHealth::Open {
            until: now + Duration::from_secs(12),
        };
        status.queued = 20;
        status.next_attempt_at = Some(now + Duration::from_secs(12));
        let lines = lines(std::slice::from_ref(&status), now);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("127.0.0.1:9: 20 waiting, 0 running (transferring or about to)"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("next try in 12 seconds"), "{}", lines[0]);
        let json = serde_json::to_value(json(&[status], now)).expect("json");
        assert_eq!(json[0]["health"], "failing", "the word status --json uses");
        assert_eq!(json[0]["breaker"], "open");
        assert_eq!(json[0]["next_try_in_secs"], 12.0);
    }

    #[test]
    fn a_stored_host_says_how_many_wait_after_a_failure_and_how_long_ago_it_failed() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut host = HostSummary::default();
        host.host = "127.0.0.1:9".into();
        host.queued = 4;
        host.running = 1;
        host.queued_after_failure = 3;
        host.next_attempt_at = Some(now + Duration::from_secs(40));
        host.last_error_at = Some(now - Duration::from_secs(5));
        let mut idle = HostSummary::default();
        idle.host = "idle:1".into();
        let lines = stored_lines(&[host.clone(), idle], now, Some(true));
        assert_eq!(
            lines,
            [
                "127.0.0.1:9: 4 waiting (3 after a failed attempt), 1 running (transferring or about to), next try in 40 seconds"
            ]
        );
        let left = stored_lines(std::slice::from_ref(&host), now, Some(false));
        assert!(
            left[0].contains(
                "1 running (left running by a process that ended; the next run continues them)"
            ),
            "{left:?}"
        );
        let json = serde_json::to_value(stored_json(&[host], now)).expect("json");
        assert_eq!(json[0]["health"], "failing");
        assert_eq!(json[0]["queued_after_failure"], 3);
        assert_eq!(json[0]["last_error_secs_ago"], 5.0);
    }
}
