//! How `ferry push` says why the queue waits: one line per host, for people and as JSON.
//!
//! What it is for: turning the queue's [`HostStatus`]es into "127.0.0.1:9: 20 waiting;
//! the server keeps failing, next try in 12s; last error: ...", and the same facts as a
//! JSON object for `--json` runs.
//!
//! What it must never do: print a URL or a header (a status holds only `host:port` and
//! error messages the engine wrote without URLs), or ask the queue anything itself.

use std::time::{Duration, SystemTime};

use ferry::{HostHealth, HostStatus};
use indicatif::HumanDuration;
use serde::Serialize;

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
        } => format!("{consecutive_failures} failures in a row"),
        HostHealth::Open { .. } => "the server keeps failing, Ferry sends it nothing".to_owned(),
        HostHealth::Probing => "the server keeps failing, one probe is trying it".to_owned(),
    };
    let next = match next_try_in(status, now) {
        Some(wait) if wait > Duration::ZERO => format!(", next try in {}", HumanDuration(wait)),
        Some(_) => ", next try now".to_owned(),
        None => String::new(),
    };
    let error = status
        .last_error
        .as_ref()
        .map(|error| format!("; last error: {error}"))
        .unwrap_or_default();
    format!(
        "{}: {} waiting, {} sending; {health}{next}{error}",
        status.host, status.queued, status.running
    )
}

fn next_try_in(status: &HostStatus, now: SystemTime) -> Option<Duration> {
    status
        .next_attempt_at
        .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The same facts as JSON (`--json` runs print one object per report on stderr).
#[derive(Debug, Serialize)]
pub struct HostJson<'a> {
    host: &'a str,
    health: &'static str,
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
                HostHealth::Failing { .. } => "failing",
                HostHealth::Open { .. } => "open",
                HostHealth::Probing => "probing",
            },
            queued: status.queued,
            running: status.running,
            next_try_in_secs: next_try_in(status, now).map(|wait| wait.as_secs_f64()),
            last_error_kind: status.last_error.as_ref().map(|error| error.kind.as_str()),
            last_error: status.last_error.as_ref().map(ToString::to_string),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_behind_an_open_breaker_says_when_and_why() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let status = HostStatus {
            host: "127.0.0.1:9".into(),
            health: HostHealth::Open {
                until: now + Duration::from_secs(12),
            },
            queued: 20,
            running: 0,
            next_attempt_at: Some(now + Duration::from_secs(12)),
            last_error: None,
        };
        let lines = lines(std::slice::from_ref(&status), now);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("127.0.0.1:9: 20 waiting, 0 sending"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("next try in 12 seconds"), "{}", lines[0]);
        let json = serde_json::to_value(json(&[status], now)).expect("json");
        assert_eq!(json[0]["health"], "open");
        assert_eq!(json[0]["next_try_in_secs"], 12.0);
    }
}
