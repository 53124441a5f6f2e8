//! The actor's answers about hosts: why their work waits (`host_status`, `QueueStalled`),
//! and which transfer a recovering host's one probe goes to.
//!
//! What it is for: joining the breakers' in-memory verdicts with what the store holds per
//! host, and keeping probes fair: a host whose breaker lets one request through gets the
//! transfer that has waited longest, so every due transfer is tried in turn instead of the
//! first one in run order being probed again and again.
//!
//! What it must never do: change a transfer's state or a breaker's, or run on every turn
//! (the host report scans the queued transfers).

use rusqlite::Connection;
use tokio::time::Instant;

use crate::breaker::{BreakerView, Breakers};
use crate::clock::{Clock, from_ms};
use crate::hosts::{HostHealth, HostStatus};
use crate::scheduler::Occupancy;
use crate::store;

/// Every host with queued or running work, and why that work waits.
pub(super) fn host_statuses(
    tx: &Connection,
    breakers: &Breakers,
    clock: &Clock,
) -> rusqlite::Result<Vec<HostStatus>> {
    let now = Instant::now();
    let wall_now = clock.now();
    let statuses = store::host_backlogs(tx, None)?
        .into_iter()
        .map(|backlog| {
            let (view, remembered) = breakers.view(&backlog.host, now);
            let health = match view {
                BreakerView::Closed {
                    consecutive_failures: 0,
                } => HostHealth::Healthy,
                BreakerView::Closed {
                    consecutive_failures,
                } => HostHealth::Failing {
                    consecutive_failures,
                },
                BreakerView::Open { until } => HostHealth::Open {
                    until: wall_now + until.saturating_duration_since(now),
                },
                BreakerView::Probing => HostHealth::Probing,
            };
            let retry_at = backlog.next_attempt_ms.map(from_ms);
            let next_attempt_at = match (health, retry_at) {
                (HostHealth::Open { until }, Some(retry_at)) => Some(until.max(retry_at)),
                (_, retry_at) => retry_at,
            };
            HostStatus {
                host: backlog.host,
                health,
                queued: backlog.queued,
                running: backlog.running,
                next_attempt_at,
                last_error: remembered.cloned().or(backlog.last_error),
            }
        })
        .collect();
    Ok(statuses)
}

/// For each host whose breaker lets one probe through now and that has nothing in
/// flight, the due transfer that has waited longest. The caller keeps these hosts out of
/// the run-order query, so the probe goes to this transfer and no other.
pub(super) fn probe_candidates(
    tx: &Connection,
    breakers: &Breakers,
    filter: &store::CandidateFilter<'_>,
    occupancy: &Occupancy,
    now: Instant,
) -> rusqlite::Result<Vec<store::CandidateRow>> {
    let mut probes = Vec::new();
    for host in breakers.probing_hosts(now) {
        if occupancy.per_host.get(host).copied().unwrap_or(0) > 0 {
            continue;
        }
        if let Some(row) = store::longest_waiting_candidate(tx, filter, host)? {
            probes.push(row);
        }
    }
    Ok(probes)
}
