//! Claiming small transfers ahead of free request slots.
//!
//! Every launch is committed before it starts, and a turn takes a while (its SQL, and
//! before group commit an fsync of ~1 ms here, more on a phone). If the actor launched
//! only into free slots, each slot would idle from the end of its request until the next
//! commit: with many small files, most of the time (`many_small_puts`, when commits
//! waited for their fsync: 5,500 files/s against curl's 15,000).
//!
//! So once the free slots are filled, the actor also claims more small in-process
//! transfers: they are committed as running (and reported as started) in this turn, and
//! wait at the request gate (`http/gate.rs`), which gives each a slot the moment another
//! request ends. The limits hold at the gate; an attempt claimed ahead whose host is in
//! trouble gives its slot back unsent and goes back to the queue without using up an
//! attempt.
//!
//! How many is learned ([`ClaimDepth`]): enough that the attempts left waiting when a turn
//! starts outlast the turn, counted as the attempts that finished while recent turns ran.
//! A fixed reserve of one refill of the slots ran dry in about one request end in five
//! (`many_small_puts`, a probe at the gates), and each time a slot idled until the turn's
//! commit. On a slow network few requests end during a turn, and the depth stays at its
//! floor: a newly enqueued high-priority file waits behind no more than it must.
//!
//! Files up to [`AHEAD_MAX_BYTES`] are claimed ahead. Claims do not hold back work the
//! actor prefers: while a due transfer of higher priority waits, waiting claims of lower
//! priority give their slots back at the gate and none are made below it ([`Floors`]),
//! and while the OS carries all work (the app in the background) every waiting claim
//! goes back to the queue, and so to the OS. Before that floor, claims were kept to files
//! of 256 KiB so that a newly enqueued high-priority file waited behind them only
//! briefly; with it, a photo library's mix is claimed too (`mixed_sizes`, 2,000 files of
//! 1 KiB to 4 MiB: 1,884 turns, each with its commit, became 192). Larger files are not:
//! for them the turn is a small part of the request. Downloads keep to
//! [`DOWNLOAD_AHEAD_MAX_BYTES`]: a claimed download reserves its disk space while it
//! waits.
//! A download enqueued without a size is judged by its host's last finished download
//! ([`SmallDownloadHosts`]): a pull of many small files is claimed ahead from its second
//! file on (`many_small_gets`, when no download was: a turn and a commit per file, and 73
//! candidate rows read per file), one host that serves big files is not.
//! Never while OS tasks are out: the gate counts only in-process requests, and the limits
//! must count both lanes. Never with a request authorizer: an attempt refreshes refused
//! credentials within itself (`auth/attempt.rs`), before its host is marked in trouble,
//! and attempts claimed ahead would start meanwhile and use up fresh tokens (seen with
//! `ferry push --bearer-command` and tokens good for five requests). Never for packed batches, resumable uploads or work the OS
//! stalled on: those keep to the plain scheduling in `fill_free_slots`.
//!
//! The engine sequences the claims (`engine.rs`); this module only answers how deep and
//! which files, and must never launch anything itself.

use std::collections::HashMap;

use crate::config::Limits;
use crate::http::Floor;
use crate::store::CandidateRow;

/// The largest upload claimed ahead (what the claim query reads up to).
pub(super) const AHEAD_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// The largest download claimed ahead: a claimed download reserves its disk space while
/// it waits at the gate (`disk_space.rs`), and claims of 4 MiB could hold hundreds of MiB
/// of a nearly full phone from the downloads actually running.
pub(super) const DOWNLOAD_AHEAD_MAX_BYTES: u64 = 256 * 1024;
/// Refills of the slots claimed ahead beyond the reserve: what one turn records, so a
/// commit is shared by that many request ends.
const REFILLS_PER_TURN: usize = 3;
/// The deepest reserve, in refills of the slots.
const MAX_RESERVE_REFILLS: usize = 12;
/// Each turn, the remembered drain falls by this fraction of itself (unless the turn
/// drained more): one slow commit deepens the reserve for a few turns, not for good.
const DRAIN_DECAY_DIVISOR: usize = 8;

/// How deep to claim ahead, learned from how many attempts finish while a turn runs.
#[derive(Debug, Default)]
pub(super) struct ClaimDepth {
    /// Attempts that finished while a turn ran: the most of recent turns, decaying.
    drained_per_turn: usize,
}

impl ClaimDepth {
    /// Records that `finished_meanwhile` attempts finished while a turn ran (its SQL and
    /// its commit, and for a turn with the app's commands its hop to the blocking pool).
    pub(super) fn observe_turn(&mut self, finished_meanwhile: usize) {
        let decayed = self.drained_per_turn - self.drained_per_turn.div_ceil(DRAIN_DECAY_DIVISOR);
        self.drained_per_turn = finished_meanwhile.max(decayed);
    }

    /// Attempts to leave waiting at the gates when a turn starts: twice what a turn
    /// drains, at least one refill of the `slots`.
    pub(super) fn reserve(&self, slots: usize) -> usize {
        let slots = slots.max(1);
        self.drained_per_turn
            .saturating_mul(2)
            .clamp(slots, slots.saturating_mul(MAX_RESERVE_REFILLS))
    }

    /// Transfers claimed ahead, per host and overall, as a multiple of the limits: the
    /// reserve, and what one turn records.
    fn factor(&self, slots: usize) -> usize {
        REFILLS_PER_TURN + self.reserve(slots).div_ceil(slots.max(1))
    }
}

/// The limits claims ahead fill up to, per host and overall: the limits times the
/// reserve, and what one turn records.
pub(super) fn limits(limits: Limits, depth: &ClaimDepth) -> Limits {
    let factor = depth.factor(limits.global);
    Limits {
        per_host: limits.per_host.saturating_mul(factor + 1),
        global: limits.global.saturating_mul(factor + 1),
    }
}

/// Whether a queued file may be claimed ahead at all: small, and no resumable upload. A
/// download enqueued without a size (stored as 0) counts as small when its host's last
/// finished download was.
pub(super) fn may_claim(row: &CandidateRow, small_download_hosts: &SmallDownloadHosts) -> bool {
    let small = match (row.is_download, row.size) {
        (true, 0) => small_download_hosts.last_was_small(&row.host),
        (true, size) => size <= DOWNLOAD_AHEAD_MAX_BYTES,
        (false, size) => size <= AHEAD_MAX_BYTES,
    };
    small && !row.has_resumable_upload
}

/// Where claims stop: the floor new claims keep to, and the one the gates hold waiting
/// claims to (`http/gate.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Floors {
    pub(super) for_new_claims: Floor,
    pub(super) at_the_gates: Floor,
}

impl Floors {
    /// While the OS carries everything: no claims, and every waiting one makes way.
    pub(super) const ALL: Self = Self {
        for_new_claims: Floor::All,
        at_the_gates: Floor::All,
    };

    /// From the lowest priority among in-process attempts (`None` when none can be
    /// waiting at a gate) and the highest among due transfers a free slot would start.
    /// No claim is ever made below the highest waiting priority, so a claim makes way at
    /// most once, for a transfer due after it was made: a claim below a waiting transfer
    /// that cannot be claimed (too large, resumable) would make way at once, and be made
    /// again the next turn.
    pub(super) fn new(lowest_running: Option<i64>, highest_waiting: Option<i64>) -> Self {
        let for_new_claims = highest_waiting.map_or(Floor::Open, Floor::Below);
        let at_the_gates = match (lowest_running, highest_waiting) {
            (Some(lowest), Some(highest)) if highest > lowest => Floor::Below(highest),
            _ => Floor::Open,
        };
        Self {
            for_new_claims,
            at_the_gates,
        }
    }
}

/// Whether a transfer of `priority` may be claimed ahead under `floor`.
pub(super) fn above(floor: Floor, priority: i64) -> bool {
    match floor {
        Floor::Open => true,
        Floor::Below(lowest_kept) => priority >= lowest_kept,
        Floor::All => false,
    }
}

/// The hosts whose last finished download was small: where a download of unknown size is
/// likely small too. Forgotten with the queue (a host's first download after an open is
/// never claimed ahead).
#[derive(Debug, Default)]
pub(super) struct SmallDownloadHosts {
    last_was_small: HashMap<String, bool>,
}

/// Hosts remembered at most; past it the memory starts again (a pull from more hosts
/// than this loses only some claims ahead).
const MAX_REMEMBERED_HOSTS: usize = 1024;

impl SmallDownloadHosts {
    /// A download from `host` finished with `length` bytes.
    pub(super) fn observe(&mut self, host: &str, length: u64) {
        let small = length <= DOWNLOAD_AHEAD_MAX_BYTES;
        if let Some(known) = self.last_was_small.get_mut(host) {
            *known = small;
            return;
        }
        if self.last_was_small.len() >= MAX_REMEMBERED_HOSTS {
            self.last_was_small.clear();
        }
        self.last_was_small.insert(host.to_owned(), small);
    }

    fn last_was_small(&self, host: &str) -> bool {
        self.last_was_small.get(host).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_queue_claims_four_refills_ahead_and_keeps_one_in_reserve() {
        let depth = ClaimDepth::default();
        assert_eq!(depth.reserve(8), 8);
        assert_eq!(depth.factor(8), 4);
    }

    #[test]
    fn turns_that_drain_the_reserve_deepen_it_to_twice_their_drain() {
        let mut depth = ClaimDepth::default();
        depth.observe_turn(20);
        assert_eq!(depth.reserve(8), 40);
        assert_eq!(depth.factor(8), 3 + 5);
        depth.observe_turn(30);
        assert_eq!(depth.reserve(8), 60);
    }

    #[test]
    fn the_reserve_shrinks_back_a_little_each_quieter_turn() {
        let mut depth = ClaimDepth::default();
        depth.observe_turn(32);
        let mut reserves = Vec::new();
        for _ in 0..40 {
            depth.observe_turn(2);
            reserves.push(depth.reserve(8));
        }
        assert_eq!(reserves[0], 56, "one quiet turn takes off an eighth");
        assert!(
            reserves.windows(2).all(|pair| pair[1] <= pair[0]),
            "{reserves:?}"
        );
        assert_eq!(reserves.last(), Some(&8), "back at the floor: {reserves:?}");
    }

    #[test]
    fn the_reserve_is_bounded_however_slow_a_turn() {
        let mut depth = ClaimDepth::default();
        depth.observe_turn(10_000);
        assert_eq!(depth.reserve(8), 96);
        assert_eq!(depth.factor(8), 15);
        assert_eq!(depth.reserve(0), 12, "no slots counts as one");
    }

    #[test]
    fn claims_fill_the_limits_times_the_depth_and_only_small_plain_files() {
        let depth = ClaimDepth::default();
        let ahead = limits(
            Limits {
                per_host: 2,
                global: 8,
            },
            &depth,
        );
        assert_eq!((ahead.per_host, ahead.global), (10, 40));
        let hosts = SmallDownloadHosts::default();
        assert!(may_claim(&row(AHEAD_MAX_BYTES, false), &hosts));
        assert!(!may_claim(&row(AHEAD_MAX_BYTES + 1, false), &hosts));
        assert!(!may_claim(&row(10, true), &hosts));
    }

    fn row(size: u64, has_resumable_upload: bool) -> CandidateRow {
        CandidateRow {
            id: crate::TransferId::generate(),
            host: "h:80".into(),
            constraints: crate::upload::Constraints::default(),
            size,
            destination: "http://h/f".into(),
            has_own_headers: false,
            has_resumable_upload,
            seq: 1,
            is_download: false,
            priority: 0,
        }
    }

    fn download(size: u64) -> CandidateRow {
        CandidateRow {
            is_download: true,
            ..row(size, false)
        }
    }

    #[test]
    fn a_download_of_unknown_size_is_claimed_once_its_host_last_served_a_small_file() {
        let mut hosts = SmallDownloadHosts::default();
        assert!(
            !may_claim(&download(0), &hosts),
            "nothing known of h:80 yet"
        );
        assert!(
            may_claim(&download(DOWNLOAD_AHEAD_MAX_BYTES), &hosts),
            "its size is known"
        );
        assert!(!may_claim(&download(DOWNLOAD_AHEAD_MAX_BYTES + 1), &hosts));
        hosts.observe("h:80", 16 * 1024);
        assert!(may_claim(&download(0), &hosts));
        hosts.observe("other:80", DOWNLOAD_AHEAD_MAX_BYTES + 1);
        assert!(
            may_claim(&download(0), &hosts),
            "another host's file says nothing"
        );
        hosts.observe("h:80", DOWNLOAD_AHEAD_MAX_BYTES + 1);
        assert!(!may_claim(&download(0), &hosts), "its last file was big");
    }

    #[test]
    fn the_memory_of_hosts_is_bounded() {
        let mut hosts = SmallDownloadHosts::default();
        for index in 0..=MAX_REMEMBERED_HOSTS {
            hosts.observe(&format!("h{index}:80"), 1);
        }
        assert!(hosts.last_was_small.len() <= MAX_REMEMBERED_HOSTS);
        assert!(hosts.last_was_small(&format!("h{MAX_REMEMBERED_HOSTS}:80")));
    }

    #[test]
    fn the_floors_rise_only_for_a_waiting_transfer_of_higher_priority() {
        let floors = Floors::new(Some(0), Some(5));
        assert_eq!(floors.at_the_gates, Floor::Below(5));
        assert_eq!(floors.for_new_claims, Floor::Below(5));
        let same = Floors::new(Some(5), Some(5));
        assert_eq!(same.at_the_gates, Floor::Open, "same priority: queue order");
        assert_eq!(Floors::new(Some(7), Some(5)).at_the_gates, Floor::Open);
        let nothing_waits_at_a_gate = Floors::new(None, Some(5));
        assert_eq!(nothing_waits_at_a_gate.at_the_gates, Floor::Open);
        assert_eq!(
            nothing_waits_at_a_gate.for_new_claims,
            Floor::Below(5),
            "no claim below what waits, so none makes way the turn after"
        );
        assert_eq!(Floors::new(Some(0), None).for_new_claims, Floor::Open);
        assert!(above(Floor::Below(5), 5));
        assert!(!above(Floor::Below(5), 4), "it would make way at once");
        assert!(above(Floor::Open, i64::MIN));
        assert!(!above(Floor::All, i64::MAX));
    }
}
