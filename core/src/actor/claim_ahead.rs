//! Claiming small transfers ahead of free request slots.
//!
//! Every launch is committed before it starts, and a commit waits for an fsync (~1 ms
//! here, more on a phone). If the actor launched only into free slots, each slot would
//! idle from the end of its request until the next commit: with many small files, most
//! of the time (`many_small_puts`: 5,500 files/s against curl's 15,000).
//!
//! So once the free slots are filled, the actor also claims up to [`AHEAD_FACTOR`] times
//! the limits more small in-process transfers: they are committed as running (and
//! reported as started) in this turn, and wait at the request gate (`lane/gate.rs`),
//! which gives each a slot the moment another request ends. The limits hold at the gate;
//! an attempt claimed ahead whose host is in trouble gives its slot back unsent and goes
//! back to the queue without using up an attempt.
//!
//! Only files up to [`AHEAD_MAX_BYTES`] are claimed ahead: for them the commit is most
//! of the cost, and a newly enqueued high-priority file waits behind them only briefly.
//! Never while OS tasks are out: the gate counts only in-process requests, and the limits
//! must count both lanes. Never with a request authorizer: an attempt refreshes refused
//! credentials within itself (`auth/attempt.rs`), before its host is marked in trouble,
//! and attempts claimed ahead would start meanwhile and use up fresh tokens (seen with
//! `ferry push --bearer-command` and tokens good for five requests). Never for packed batches, resumable uploads or work the OS
//! stalled on: those keep to the plain scheduling in `fill_free_slots`.

use rusqlite::Connection;

use super::{Engine, InFlight, Outbox};
use crate::config::Limits;
use crate::scheduler::{LaneChoice, Situation, pick};
use crate::store;

/// Transfers claimed ahead, per host and overall, as a multiple of the limits.
const AHEAD_FACTOR: usize = 4;
/// The largest file claimed ahead.
const AHEAD_MAX_BYTES: u64 = 256 * 1024;

impl Engine {
    pub(super) fn claim_ahead(
        &mut self,
        tx: &Connection,
        outbox: &mut Outbox,
    ) -> rusqlite::Result<()> {
        let authorized = self.auth.is_some();
        if !self.network.online || authorized || self.in_flight.values().any(InFlight::is_platform)
        {
            return Ok(());
        }
        let limits = self.config.limits;
        let ahead = Limits {
            per_host: limits.per_host.saturating_mul(AHEAD_FACTOR + 1),
            global: limits.global.saturating_mul(AHEAD_FACTOR + 1),
        };
        let occupancy = self.occupancy();
        let free = ahead.global.saturating_sub(occupancy.total);
        if free == 0 {
            return Ok(());
        }
        // Only hosts in good health: anything else waits for the actor's own launches.
        let excluded_hosts = self.hosts_that_take_nothing(&occupancy, |host, in_flight| {
            in_flight < ahead.per_host && self.takes_claims(host)
        });
        let filter = self.candidate_filter(self.clock.now_ms(), &excluded_hosts);
        let rows: Vec<store::CandidateRow> = store::due_candidates(tx, &filter, free)?
            .into_iter()
            .filter(|row| {
                row.size <= AHEAD_MAX_BYTES
                    && !row.has_resumable_upload
                    && !self.taken_back.contains(&row.id)
                    && self.packable_into(row).is_none()
                    && self.takes_claims(&row.host)
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let candidates = self.candidates(&rows);
        let lanes = self.lane_policy();
        let situation = Situation {
            network: &self.network,
            limits: &ahead,
            lanes: &lanes,
            occupancy: &occupancy,
            batches: &[],
        };
        let decisions = pick(&candidates, &situation, |_, _| true);
        for decision in decisions {
            if decision.lane != LaneChoice::InProcess || decision.batch.is_some() {
                continue;
            }
            if let Some(row) = rows.get(decision.position) {
                // The host is in good health now: its gate may have been held since.
                self.lane.gates.host(&row.host).set_held(false);
                self.launch(tx, row.seq, LaneChoice::InProcess, true, outbox)?;
            }
        }
        Ok(())
    }
}
