//! Per-host circuit breakers: a dead server is probed by one request, not by a thousand.
//!
//! After `failure_threshold` consecutive unhealthy outcomes from a host, its breaker opens:
//! nothing is sent there until the cooldown ends; then exactly one probe goes out. A
//! healthy probe closes the breaker; a failed one reopens it with twice the cooldown, up
//! to `BreakerPolicy::max_cooldown` (so a down host is probed often enough for every
//! waiting transfer to be tried in turn).
//! In memory only: after a restart every host starts closed. Must never touch the store.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerPolicy;
use crate::error::TransferError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Instant,
        cooldown: Duration,
    },
    /// The cooldown ended and one probe is allowed (or already out).
    Probing {
        cooldown: Duration,
    },
}

/// What a breaker says of its host, for the app (`crate::HostHealth` with tokio time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakerView {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    Probing,
}

#[derive(Debug)]
pub(crate) struct Breakers {
    policy: BreakerPolicy,
    hosts: HashMap<String, HostState>,
    /// The latest unhealthy outcome's error per host, until a healthy one.
    last_errors: HashMap<String, TransferError>,
}

impl Breakers {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            hosts: HashMap::new(),
            last_errors: HashMap::new(),
        }
    }

    /// Remembers why the latest unhealthy outcome from `host` failed (for the app's
    /// `host_status`); forgotten with the next healthy one.
    pub(crate) fn remember_failure(&mut self, host: &str, error: TransferError) {
        self.last_errors.insert(host.to_owned(), error);
    }

    /// What the breaker of `host` says now, and the failure that made it say so.
    pub(crate) fn view(&self, host: &str, now: Instant) -> (BreakerView, Option<&TransferError>) {
        let view = match self.hosts.get(host) {
            None => BreakerView::Closed {
                consecutive_failures: 0,
            },
            Some(HostState::Closed {
                consecutive_failures,
            }) => BreakerView::Closed {
                consecutive_failures: *consecutive_failures,
            },
            Some(HostState::Open { until, .. }) if now < *until => {
                BreakerView::Open { until: *until }
            }
            Some(HostState::Open { .. } | HostState::Probing { .. }) => BreakerView::Probing,
        };
        (view, self.last_errors.get(host))
    }

    /// Hosts whose breaker lets exactly one probe through now (cooldown over, nothing in
    /// flight to them yet is the caller's check).
    pub(crate) fn probing_hosts(&self, now: Instant) -> impl Iterator<Item = &str> + '_ {
        self.hosts
            .iter()
            .filter_map(move |(host, state)| match state {
                HostState::Open { until, .. } if now >= *until => Some(host.as_str()),
                HostState::Probing { .. } => Some(host.as_str()),
                _ => None,
            })
    }

    /// May one more request go to `host`, which has `in_flight` requests now?
    pub(crate) fn admits(&self, host: &str, now: Instant, in_flight: usize) -> bool {
        match self.hosts.get(host) {
            None | Some(HostState::Closed { .. }) => true,
            Some(HostState::Open { until, .. }) => now >= *until && in_flight == 0,
            Some(HostState::Probing { .. }) => in_flight == 0,
        }
    }

    /// Whether `host` takes requests freely (no failure streak has opened its breaker).
    pub(crate) fn is_closed(&self, host: &str) -> bool {
        matches!(self.hosts.get(host), None | Some(HostState::Closed { .. }))
    }

    /// A request to `host` was launched; an expired open breaker becomes a probe.
    pub(crate) fn on_launch(&mut self, host: &str, now: Instant) {
        if let Some(state) = self.hosts.get_mut(host)
            && let HostState::Open { until, cooldown } = *state
            && now >= until
        {
            *state = HostState::Probing { cooldown };
        }
    }

    /// Records an outcome from `host`.
    pub(crate) fn record(&mut self, host: &str, healthy: bool, now: Instant) {
        if healthy {
            self.hosts.remove(host);
            self.last_errors.remove(host);
            return;
        }
        let state = self
            .hosts
            .entry(host.to_owned())
            .or_insert(HostState::Closed {
                consecutive_failures: 0,
            });
        *state = match *state {
            HostState::Closed {
                consecutive_failures,
            } => {
                let failures = consecutive_failures + 1;
                if failures >= self.policy.failure_threshold {
                    let cooldown = self.policy.cooldown.min(self.policy.max_cooldown);
                    HostState::Open {
                        until: now + cooldown,
                        cooldown,
                    }
                } else {
                    HostState::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            HostState::Probing { cooldown } => {
                let cooldown = (cooldown * 2).min(self.policy.max_cooldown);
                HostState::Open {
                    until: now + cooldown,
                    cooldown,
                }
            }
            open @ HostState::Open { .. } => open,
        };
    }

    /// Hosts that may receive nothing now, whatever is in flight: open breakers whose
    /// cooldown has not ended.
    pub(crate) fn blocked_hosts(&self, now: Instant) -> impl Iterator<Item = String> + '_ {
        self.hosts
            .iter()
            .filter_map(move |(host, state)| match state {
                HostState::Open { until, .. } if now < *until => Some(host.clone()),
                _ => None,
            })
    }

    /// The earliest moment an open breaker lets a probe through, for the actor's timer.
    pub(crate) fn next_probe_at(&self) -> Option<Instant> {
        self.hosts
            .values()
            .filter_map(|state| match state {
                HostState::Open { until, .. } => Some(*until),
                _ => None,
            })
            .min()
    }

    #[cfg(test)]
    fn is_open(&self, host: &str) -> bool {
        matches!(self.hosts.get(host), Some(HostState::Open { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        failure_threshold: 3,
        cooldown: Duration::from_secs(2),
        max_cooldown: Duration::from_secs(60),
    };

    fn breakers() -> Breakers {
        Breakers::new(POLICY)
    }

    /// Opens `h` and fails `probes` probes in a row; returns the wait before the next one.
    fn wait_after_failed_probes(breakers: &mut Breakers, probes: usize) -> Duration {
        let mut now = Instant::now();
        for _ in 0..3 {
            breakers.record("h", false, now);
        }
        for _ in 0..probes {
            now = breakers.next_probe_at().expect("open");
            breakers.on_launch("h", now);
            breakers.record("h", false, now);
        }
        breakers.next_probe_at().expect("open") - now
    }

    #[test]
    fn the_wait_between_probes_of_a_down_host_stops_growing_at_the_cap() {
        let waits: Vec<u64> = (0..9)
            .map(|probes| wait_after_failed_probes(&mut breakers(), probes).as_secs())
            .collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60, 60]);
        let short = BreakerPolicy {
            max_cooldown: Duration::from_millis(500),
            ..POLICY
        };
        let first = wait_after_failed_probes(&mut Breakers::new(short), 0);
        assert_eq!(
            first,
            Duration::from_millis(500),
            "the cap bounds the first wait too"
        );
        let later = wait_after_failed_probes(&mut Breakers::new(short), 5);
        assert_eq!(later, Duration::from_millis(500));
    }

    #[test]
    fn opens_after_consecutive_failures_and_blocks_the_host() {
        let mut breakers = breakers();
        let now = Instant::now();
        for _ in 0..2 {
            breakers.record("h", false, now);
            assert!(breakers.admits("h", now, 5));
        }
        breakers.record("h", false, now);
        assert!(breakers.is_open("h"));
        assert!(!breakers.admits("h", now, 0));
        assert!(breakers.admits("other", now, 0));
        assert_eq!(breakers.next_probe_at(), Some(now + Duration::from_secs(2)));
        assert_eq!(
            breakers.blocked_hosts(now).collect::<Vec<_>>(),
            vec!["h".to_owned()]
        );
        let after_cooldown = now + Duration::from_secs(2);
        assert_eq!(breakers.blocked_hosts(after_cooldown).count(), 0);
    }

    #[test]
    fn after_the_cooldown_exactly_one_probe_is_admitted() {
        let mut breakers = breakers();
        let now = Instant::now();
        for _ in 0..3 {
            breakers.record("h", false, now);
        }
        let later = now + Duration::from_secs(2);
        assert!(breakers.admits("h", later, 0));
        breakers.on_launch("h", later);
        assert!(
            !breakers.admits("h", later, 1),
            "a second request waits for the probe"
        );
    }

    #[test]
    fn a_failed_probe_doubles_the_cooldown_and_a_good_one_closes() {
        let mut breakers = breakers();
        let now = Instant::now();
        for _ in 0..3 {
            breakers.record("h", false, now);
        }
        let later = now + Duration::from_secs(2);
        breakers.on_launch("h", later);
        breakers.record("h", false, later);
        assert_eq!(
            breakers.next_probe_at(),
            Some(later + Duration::from_secs(4))
        );
        let much_later = later + Duration::from_secs(4);
        breakers.on_launch("h", much_later);
        breakers.record("h", true, much_later);
        assert!(breakers.admits("h", much_later, 100));
        assert_eq!(breakers.next_probe_at(), None);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut breakers = breakers();
        let now = Instant::now();
        breakers.record("h", false, now);
        breakers.record("h", false, now);
        breakers.record("h", true, now);
        breakers.record("h", false, now);
        breakers.record("h", false, now);
        assert!(!breakers.is_open("h"));
    }
}
