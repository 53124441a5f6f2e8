//! Which queued transfers start now, and on which lane.
//!
//! A pure function of the candidates (already in priority, then FIFO, order), the network,
//! the limits, what is in flight and the breakers' verdicts. It must never do I/O or
//! consult a clock: the actor gathers the inputs and carries out the decisions.

use std::collections::HashMap;

use crate::conditions::NetworkStatus;
use crate::config::Limits;
use crate::state::Lane;
use crate::upload::Constraints;

/// A queued transfer whose retry time has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub host: String,
    pub constraints: Constraints,
}

/// Requests in flight now, across every lane.
#[derive(Clone, Debug, Default)]
pub(crate) struct Occupancy {
    pub per_host: HashMap<String, usize>,
    pub total: usize,
}

/// Start candidate `position` on `lane`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub position: usize,
    pub lane: Lane,
}

/// Whether a transfer with these constraints may use this network.
pub(crate) fn network_allows(network: &NetworkStatus, constraints: &Constraints) -> bool {
    network.online
        && (constraints.allow_expensive || !network.expensive)
        && (constraints.allow_constrained || !network.constrained)
}

/// Picks what starts now. `breaker_admits(host, in_flight_to_host)` is the breakers' say.
pub(crate) fn pick(
    candidates: &[Candidate],
    network: &NetworkStatus,
    limits: &Limits,
    occupancy: &Occupancy,
    breaker_admits: impl Fn(&str, usize) -> bool,
) -> Vec<Decision> {
    let mut decisions = Vec::new();
    if !network.online {
        return decisions;
    }
    let mut total = occupancy.total;
    let mut per_host = occupancy.per_host.clone();
    for (position, candidate) in candidates.iter().enumerate() {
        if total >= limits.global {
            break;
        }
        if !network_allows(network, &candidate.constraints) {
            continue;
        }
        let in_flight_to_host = per_host.get(&candidate.host).copied().unwrap_or(0);
        if in_flight_to_host >= limits.per_host
            || !breaker_admits(&candidate.host, in_flight_to_host)
        {
            continue;
        }
        decisions.push(Decision {
            position,
            lane: Lane::InProcess,
        });
        *per_host.entry(candidate.host.clone()).or_insert(0) += 1;
        total += 1;
    }
    decisions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(host: &str) -> Candidate {
        Candidate {
            host: host.into(),
            constraints: Constraints::default(),
        }
    }

    fn positions(decisions: &[Decision]) -> Vec<usize> {
        decisions.iter().map(|d| d.position).collect()
    }

    const LIMITS: Limits = Limits {
        per_host: 2,
        global: 3,
    };

    #[test]
    fn per_host_limit_skips_to_other_hosts_without_reordering() {
        let candidates = ["a", "a", "a", "b", "b"].map(candidate);
        let picked = pick(
            &candidates,
            &NetworkStatus::default(),
            &LIMITS,
            &Occupancy::default(),
            |_, _| true,
        );
        assert_eq!(positions(&picked), vec![0, 1, 3]);
    }

    #[test]
    fn requests_already_in_flight_count_against_both_limits() {
        let candidates = ["a", "b", "b"].map(candidate);
        let occupancy = Occupancy {
            per_host: HashMap::from([("a".to_owned(), 2)]),
            total: 2,
        };
        let picked = pick(
            &candidates,
            &NetworkStatus::default(),
            &LIMITS,
            &occupancy,
            |_, _| true,
        );
        assert_eq!(positions(&picked), vec![1]);
    }

    #[test]
    fn nothing_starts_offline() {
        let offline = NetworkStatus {
            online: false,
            ..NetworkStatus::default()
        };
        let picked = pick(
            &[candidate("a")],
            &offline,
            &LIMITS,
            &Occupancy::default(),
            |_, _| true,
        );
        assert!(picked.is_empty());
    }

    #[test]
    fn constraints_keep_transfers_off_expensive_and_constrained_networks() {
        let cellular_only_ok = Candidate {
            host: "a".into(),
            constraints: Constraints {
                allow_expensive: false,
                allow_constrained: true,
            },
        };
        let no_low_data = Candidate {
            host: "a".into(),
            constraints: Constraints {
                allow_expensive: true,
                allow_constrained: false,
            },
        };
        let cellular = NetworkStatus {
            expensive: true,
            ..NetworkStatus::default()
        };
        let low_data = NetworkStatus {
            constrained: true,
            ..NetworkStatus::default()
        };
        let candidates = [cellular_only_ok, no_low_data];
        let on_cellular = pick(
            &candidates,
            &cellular,
            &LIMITS,
            &Occupancy::default(),
            |_, _| true,
        );
        assert_eq!(positions(&on_cellular), vec![1]);
        let on_low_data = pick(
            &candidates,
            &low_data,
            &LIMITS,
            &Occupancy::default(),
            |_, _| true,
        );
        assert_eq!(positions(&on_low_data), vec![0]);
    }

    #[test]
    fn an_open_breaker_keeps_its_host_idle() {
        let candidates = ["dead", "live"].map(candidate);
        let picked = pick(
            &candidates,
            &NetworkStatus::default(),
            &LIMITS,
            &Occupancy::default(),
            |host, _| host != "dead",
        );
        assert_eq!(positions(&picked), vec![1]);
    }
}
