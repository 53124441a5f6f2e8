//! Which queued transfers start now, and on which lane.
//!
//! A pure function of the candidates (already in priority, then FIFO, order), the app
//! state, the network, the limits, what is in flight and the breakers' verdicts. It must
//! never do I/O or consult a clock: the actor gathers the inputs and carries out the
//! decisions.
//!
//! The lane rules ([`choose_lane`]):
//! * without a platform service, everything runs in-process;
//! * in the foreground, files below `large_file_threshold` run in-process, larger ones go
//!   to the OS, one task each (unless the OS already stalled on them: then in-process);
//! * in the background, everything goes to the OS;
//! * never more than `max_platform_tasks` OS tasks are outstanding, however many files
//!   wait: the OS's own backlog is where uploads get stuck;
//! * with `refill_when_drained`, while the OS carries everything it gets a new window only
//!   once every task of the last one ended (iOS's resume delay, see `PlatformPolicy`);
//! * the request limits (per host and overall) count both lanes together;
//! * small files bound for a destination that accepts batches are packed, on either lane,
//!   into one request of at most `max_files` files and `max_bytes` bytes; a batch takes one
//!   request slot and one OS task.

use std::collections::HashMap;

use crate::conditions::{AppState, NetworkStatus};
use crate::config::Limits;
use crate::upload::Constraints;

/// A queued transfer whose retry time has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub host: String,
    pub constraints: Constraints,
    /// The request body's size in bytes.
    pub size: u64,
    /// Keep it in the process while the app is in the foreground: the OS stalled on it,
    /// or the server holds a resumable upload of it to continue from its offset.
    pub taken_back: bool,
    /// The batch endpoint (an index into [`Situation::batches`]) this file may be packed
    /// for, if any.
    pub packable_into: Option<usize>,
    /// Only this process can carry it (a download while `PlatformPolicy::downloads_to_os`
    /// is off). It runs in-process in the foreground or without an OS lane, and waits while
    /// the OS would carry everything (the app in the background, or not saying which).
    pub in_process_only: bool,
}

/// How much one batch request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchLimits {
    pub max_files: usize,
    pub max_bytes: u64,
}

/// Requests in flight now, across every lane.
#[derive(Clone, Debug, Default)]
pub(crate) struct Occupancy {
    pub per_host: HashMap<String, usize>,
    pub total: usize,
    /// OS tasks outstanding (a subset of `total`).
    pub platform: usize,
}

/// Where a transfer runs. The actor turns `Platform` into a handoff key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LaneChoice {
    InProcess,
    Platform,
}

/// What the lane rules depend on besides the candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LanePolicy {
    pub app_state: AppState,
    /// The platform keeps the app running for Ferry (`actor/keep_alive.rs`): every
    /// transfer runs in-process, whatever the app state.
    pub kept_alive: bool,
    /// The app lent Ferry an OS background-transfer service.
    pub platform_available: bool,
    pub large_file_threshold: u64,
    pub max_platform_tasks: usize,
    /// While the OS carries everything, hand it nothing until every OS task ended
    /// (`PlatformPolicy::refill_when_drained`).
    pub refill_when_drained: bool,
}

impl LanePolicy {
    /// Whether every transfer goes to the OS now (the app in the background or not
    /// saying which, with a platform service): then the OS takes large work first
    /// (`actor/os_order.rs`).
    pub(crate) fn os_carries_everything(&self) -> bool {
        self.platform_available
            && self.max_platform_tasks > 0
            && !self.kept_alive
            && matches!(self.app_state, AppState::Background | AppState::Unknown)
    }

    /// No platform service: every transfer runs in-process.
    #[cfg(test)]
    pub(crate) const IN_PROCESS_ONLY: Self = Self {
        app_state: AppState::Foreground,
        kept_alive: false,
        platform_available: false,
        large_file_threshold: u64::MAX,
        max_platform_tasks: 0,
        refill_when_drained: false,
    };
}

/// Everything outside the candidates that the decision depends on.
#[derive(Clone, Debug)]
pub(crate) struct Situation<'a> {
    pub network: &'a NetworkStatus,
    pub limits: &'a Limits,
    pub lanes: &'a LanePolicy,
    pub occupancy: &'a Occupancy,
    /// Per batch endpoint, what one request may carry.
    pub batches: &'a [BatchLimits],
}

/// Start candidate `position` on `lane`. Decisions with the same `batch` number go out
/// together as one packed request to that batch's endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub position: usize,
    pub lane: LaneChoice,
    pub batch: Option<Batch>,
}

/// A packed request formed in one round: its number in the round and its endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub number: usize,
    pub endpoint: usize,
}

/// A batch still taking members in this round.
struct OpenBatch {
    batch: Batch,
    lane: LaneChoice,
    files: usize,
    bytes: u64,
}

/// Whether a transfer with these constraints may use this network.
pub(crate) fn network_allows(network: &NetworkStatus, constraints: &Constraints) -> bool {
    network.online
        && (constraints.allow_expensive || !network.expensive)
        && (constraints.allow_constrained || !network.constrained)
}

/// The lane a candidate belongs on, before any limit is considered.
pub(crate) fn choose_lane(candidate: &Candidate, policy: &LanePolicy) -> LaneChoice {
    if candidate.in_process_only
        || !policy.platform_available
        || policy.max_platform_tasks == 0
        || policy.kept_alive
    {
        return LaneChoice::InProcess;
    }
    match policy.app_state {
        // Not told: the app may be suspended any moment, as in the background.
        AppState::Background | AppState::Unknown => LaneChoice::Platform,
        AppState::Foreground if candidate.taken_back => LaneChoice::InProcess,
        AppState::Foreground if candidate.size >= policy.large_file_threshold => {
            LaneChoice::Platform
        }
        AppState::Foreground => LaneChoice::InProcess,
    }
}

/// Picks what starts now. `breaker_admits(host, in_flight_to_host)` is the breakers' say.
pub(crate) fn pick(
    candidates: &[Candidate],
    situation: &Situation<'_>,
    breaker_admits: impl Fn(&str, usize) -> bool,
) -> Vec<Decision> {
    let Situation {
        network,
        limits,
        lanes,
        occupancy,
        batches,
    } = situation;
    let mut decisions = Vec::new();
    if !network.online {
        return decisions;
    }
    let mut total = occupancy.total;
    let mut platform = occupancy.platform;
    let mut per_host = occupancy.per_host.clone();
    let mut open: Vec<OpenBatch> = Vec::new();
    // Whole windows only: while OS tasks of the last window are out, the OS gets nothing.
    let os_window =
        if lanes.refill_when_drained && lanes.os_carries_everything() && occupancy.platform > 0 {
            0
        } else {
            lanes.max_platform_tasks
        };
    for (position, candidate) in candidates.iter().enumerate() {
        if !network_allows(network, &candidate.constraints) {
            continue;
        }
        // Work the OS lane may not carry waits while the app may be suspended at any moment
        // (background, or not told): nothing in-process then.
        if candidate.in_process_only && lanes.os_carries_everything() {
            continue;
        }
        let lane = choose_lane(candidate, lanes);
        let packing = candidate
            .packable_into
            .and_then(|endpoint| Some((endpoint, *batches.get(endpoint)?)))
            .filter(|(_, room)| candidate.size <= room.max_bytes);
        // Joining a batch formed this round costs no request slot.
        if let Some((endpoint, room)) = packing
            && let Some(batch) = open.iter_mut().find(|open| {
                open.batch.endpoint == endpoint
                    && open.lane == lane
                    && open.files < room.max_files
                    && open.bytes + candidate.size <= room.max_bytes
            })
        {
            batch.files += 1;
            batch.bytes += candidate.size;
            decisions.push(Decision {
                position,
                lane,
                batch: Some(batch.batch),
            });
            continue;
        }
        if total >= limits.global {
            continue; // only joining a batch is still possible
        }
        let in_flight_to_host = per_host.get(&candidate.host).copied().unwrap_or(0);
        if in_flight_to_host >= limits.per_host
            || !breaker_admits(&candidate.host, in_flight_to_host)
        {
            continue;
        }
        if lane == LaneChoice::Platform {
            if platform >= os_window {
                continue; // the OS window is full; a smaller file may still run in-process
            }
            platform += 1;
        }
        let batch = packing.map(|(endpoint, _)| {
            let batch = Batch {
                number: open.len(),
                endpoint,
            };
            open.push(OpenBatch {
                batch,
                lane,
                files: 1,
                bytes: candidate.size,
            });
            batch
        });
        decisions.push(Decision {
            position,
            lane,
            batch,
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
            size: 1,
            taken_back: false,
            in_process_only: false,
            packable_into: None,
        }
    }

    fn in_process(
        candidates: &[Candidate],
        network: &NetworkStatus,
        occupancy: &Occupancy,
        breaker_admits: impl Fn(&str, usize) -> bool,
    ) -> Vec<Decision> {
        let situation = Situation {
            network,
            limits: &LIMITS,
            lanes: &LanePolicy::IN_PROCESS_ONLY,
            occupancy,
            batches: &[],
        };
        pick(candidates, &situation, breaker_admits)
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
        let picked = in_process(
            &candidates,
            &NetworkStatus::default(),
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
            platform: 0,
        };
        let picked = in_process(
            &candidates,
            &NetworkStatus::default(),
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
        let picked = in_process(
            &[candidate("a")],
            &offline,
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
            ..candidate("a")
        };
        let no_low_data = Candidate {
            host: "a".into(),
            constraints: Constraints {
                allow_expensive: true,
                allow_constrained: false,
            },
            ..candidate("a")
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
        let on_cellular = in_process(&candidates, &cellular, &Occupancy::default(), |_, _| true);
        assert_eq!(positions(&on_cellular), vec![1]);
        let on_low_data = in_process(&candidates, &low_data, &Occupancy::default(), |_, _| true);
        assert_eq!(positions(&on_low_data), vec![0]);
    }

    #[test]
    fn an_open_breaker_keeps_its_host_idle() {
        let candidates = ["dead", "live"].map(candidate);
        let picked = in_process(
            &candidates,
            &NetworkStatus::default(),
            &Occupancy::default(),
            |host, _| host != "dead",
        );
        assert_eq!(positions(&picked), vec![1]);
    }

    const MIB: u64 = 1024 * 1024;

    fn policy(app_state: AppState) -> LanePolicy {
        LanePolicy {
            app_state,
            kept_alive: false,
            platform_available: true,
            large_file_threshold: 8 * MIB,
            max_platform_tasks: 6,
            refill_when_drained: false,
        }
    }

    fn sized(size: u64) -> Candidate {
        Candidate {
            size,
            ..candidate("a")
        }
    }

    fn lanes(decisions: &[Decision]) -> Vec<LaneChoice> {
        decisions.iter().map(|d| d.lane).collect()
    }

    const WIDE: Limits = Limits {
        per_host: 100,
        global: 100,
    };

    fn pick_with(
        candidates: &[Candidate],
        lanes: &LanePolicy,
        occupancy: &Occupancy,
        limits: &Limits,
    ) -> Vec<Decision> {
        let situation = Situation {
            network: &NetworkStatus::default(),
            limits,
            lanes,
            occupancy,
            batches: &[],
        };
        pick(candidates, &situation, |_, _| true)
    }

    #[test]
    fn in_the_foreground_small_files_run_in_process_and_large_ones_go_to_the_os() {
        let foreground = policy(AppState::Foreground);
        assert_eq!(
            choose_lane(&sized(200 * 1024), &foreground),
            LaneChoice::InProcess
        );
        assert_eq!(
            choose_lane(&sized(8 * MIB - 1), &foreground),
            LaneChoice::InProcess
        );
        assert_eq!(
            choose_lane(&sized(8 * MIB), &foreground),
            LaneChoice::Platform
        );
        assert_eq!(
            choose_lane(&sized(200 * MIB), &foreground),
            LaneChoice::Platform
        );
    }

    #[test]
    fn in_the_background_everything_goes_to_the_os() {
        let background = policy(AppState::Background);
        assert_eq!(choose_lane(&sized(1), &background), LaneChoice::Platform);
        assert_eq!(
            choose_lane(&sized(200 * MIB), &background),
            LaneChoice::Platform
        );
    }

    #[test]
    fn work_only_this_process_can_carry_waits_while_the_app_may_be_suspended() {
        let download = Candidate {
            in_process_only: true,
            ..sized(1)
        };
        let started_in = |app_state, platform_available| {
            let mut policy = policy(app_state);
            policy.platform_available = platform_available;
            lanes(&pick_with(
                std::slice::from_ref(&download),
                &policy,
                &Occupancy::default(),
                &WIDE,
            ))
        };
        assert_eq!(
            started_in(AppState::Foreground, true),
            vec![LaneChoice::InProcess]
        );
        assert_eq!(started_in(AppState::Background, true), vec![]);
        assert_eq!(started_in(AppState::Unknown, true), vec![], "not told");
        assert_eq!(
            started_in(AppState::Unknown, false),
            vec![LaneChoice::InProcess],
            "no OS lane at all: nothing to wait for"
        );
    }

    #[test]
    fn the_os_carries_everything_only_in_the_background_or_unknown_with_a_service() {
        assert!(policy(AppState::Background).os_carries_everything());
        assert!(policy(AppState::Unknown).os_carries_everything());
        assert!(!policy(AppState::Foreground).os_carries_everything());
        let mut without = policy(AppState::Background);
        without.platform_available = false;
        assert!(!without.os_carries_everything());
    }

    #[test]
    fn an_app_kept_running_sends_everything_in_process_whatever_its_state() {
        for state in [
            AppState::Foreground,
            AppState::Background,
            AppState::Unknown,
        ] {
            let mut kept = policy(state);
            kept.kept_alive = true;
            assert!(!kept.os_carries_everything(), "{state:?}");
            for size in [MIB, 200 * MIB] {
                assert_eq!(
                    choose_lane(&sized(size), &kept),
                    LaneChoice::InProcess,
                    "{state:?} {size}"
                );
            }
        }
        assert_eq!(
            choose_lane(&sized(200 * MIB), &policy(AppState::Background)),
            LaneChoice::Platform,
            "not kept: the OS"
        );
    }

    #[test]
    fn without_a_platform_service_everything_runs_in_process_even_in_the_background() {
        let mut background = policy(AppState::Background);
        background.platform_available = false;
        assert_eq!(
            choose_lane(&sized(200 * MIB), &background),
            LaneChoice::InProcess
        );
    }

    #[test]
    fn work_the_os_stalled_on_stays_in_process_while_the_app_is_in_the_foreground() {
        let stalled = Candidate {
            taken_back: true,
            ..sized(200 * MIB)
        };
        assert_eq!(
            choose_lane(&stalled, &policy(AppState::Foreground)),
            LaneChoice::InProcess
        );
        assert_eq!(
            choose_lane(&stalled, &policy(AppState::Background)),
            LaneChoice::Platform
        );
    }

    #[test]
    fn never_more_than_max_platform_tasks_are_outstanding_however_many_wait() {
        let candidates: Vec<Candidate> = (0..1000).map(|_| sized(1)).collect();
        let background = policy(AppState::Background);
        let picked = pick_with(&candidates, &background, &Occupancy::default(), &WIDE);
        assert_eq!(picked.len(), 6);
        let occupancy = Occupancy {
            per_host: HashMap::from([("a".to_owned(), 4)]),
            total: 4,
            platform: 4,
        };
        let picked = pick_with(&candidates, &background, &occupancy, &WIDE);
        assert_eq!(picked.len(), 2);
    }

    #[test]
    fn refilling_when_drained_hands_the_os_whole_windows_in_the_background_only() {
        let candidates: Vec<Candidate> = (0..10).map(|_| sized(100 * MIB)).collect();
        let mut background = policy(AppState::Background);
        background.refill_when_drained = true;
        let one_out = Occupancy {
            per_host: HashMap::from([("a".to_owned(), 1)]),
            total: 1,
            platform: 1,
        };
        assert!(pick_with(&candidates, &background, &one_out, &WIDE).is_empty());
        let drained = Occupancy::default();
        assert_eq!(
            pick_with(&candidates, &background, &drained, &WIDE).len(),
            6
        );
        let mut foreground = policy(AppState::Foreground);
        foreground.refill_when_drained = true;
        assert_eq!(
            pick_with(&candidates, &foreground, &one_out, &WIDE).len(),
            5,
            "in the foreground a slot is refilled as it frees"
        );
        background.refill_when_drained = false;
        assert_eq!(
            pick_with(&candidates, &background, &one_out, &WIDE).len(),
            5
        );
    }

    #[test]
    fn a_full_os_window_does_not_hold_back_small_files_in_the_foreground() {
        let candidates = [sized(100 * MIB), sized(1024), sized(100 * MIB), sized(2048)];
        let occupancy = Occupancy {
            per_host: HashMap::from([("a".to_owned(), 6)]),
            total: 6,
            platform: 6,
        };
        let picked = pick_with(
            &candidates,
            &policy(AppState::Foreground),
            &occupancy,
            &WIDE,
        );
        assert_eq!(positions(&picked), vec![1, 3]);
        assert_eq!(lanes(&picked), vec![LaneChoice::InProcess; 2]);
    }

    #[test]
    fn request_limits_count_both_lanes_together() {
        let candidates = [sized(1), sized(100 * MIB), sized(2)];
        let limits = Limits {
            per_host: 4,
            global: 8,
        };
        let three_os_tasks = Occupancy {
            per_host: HashMap::from([("a".to_owned(), 3)]),
            total: 3,
            platform: 3,
        };
        let picked = pick_with(
            &candidates,
            &policy(AppState::Foreground),
            &three_os_tasks,
            &limits,
        );
        assert_eq!(positions(&picked), vec![0], "one slot left on host a");
        let picked = pick_with(
            &candidates,
            &policy(AppState::Foreground),
            &Occupancy::default(),
            &limits,
        );
        assert_eq!(
            lanes(&picked),
            vec![
                LaneChoice::InProcess,
                LaneChoice::Platform,
                LaneChoice::InProcess
            ]
        );
    }

    fn packable(size: u64) -> Candidate {
        Candidate {
            packable_into: Some(0),
            ..sized(size)
        }
    }

    fn pick_packed(
        candidates: &[Candidate],
        lanes: &LanePolicy,
        limits: &Limits,
        room: BatchLimits,
    ) -> Vec<Decision> {
        let situation = Situation {
            network: &NetworkStatus::default(),
            limits,
            lanes,
            occupancy: &Occupancy::default(),
            batches: &[room],
        };
        pick(candidates, &situation, |_, _| true)
    }

    fn batch_numbers(decisions: &[Decision]) -> Vec<Option<usize>> {
        decisions
            .iter()
            .map(|d| d.batch.map(|batch| batch.number))
            .collect()
    }

    #[test]
    fn small_files_are_packed_up_to_max_files_and_a_batch_takes_one_request_slot() {
        let candidates: Vec<Candidate> = (0..10).map(|_| packable(100)).collect();
        let room = BatchLimits {
            max_files: 4,
            max_bytes: 1 << 20,
        };
        let two_slots = Limits {
            per_host: 2,
            global: 2,
        };
        let picked = pick_packed(&candidates, &policy(AppState::Foreground), &two_slots, room);
        assert_eq!(
            batch_numbers(&picked),
            [vec![Some(0); 4], vec![Some(1); 4]].concat(),
            "two requests of four files; the other two wait for a slot"
        );
    }

    #[test]
    fn a_batch_never_exceeds_max_bytes_and_larger_files_are_not_packed() {
        let candidates = [packable(600), packable(600), packable(300), packable(2000)];
        let room = BatchLimits {
            max_files: 10,
            max_bytes: 1000,
        };
        let picked = pick_packed(&candidates, &policy(AppState::Foreground), &WIDE, room);
        assert_eq!(
            batch_numbers(&picked),
            vec![Some(0), Some(1), Some(0), None]
        );
    }

    #[test]
    fn files_not_bound_for_a_batch_endpoint_go_alone() {
        let candidates = [sized(100), packable(100), sized(100), packable(100)];
        let room = BatchLimits {
            max_files: 10,
            max_bytes: 1000,
        };
        let picked = pick_packed(&candidates, &policy(AppState::Foreground), &WIDE, room);
        assert_eq!(batch_numbers(&picked), vec![None, Some(0), None, Some(0)]);
    }

    #[test]
    fn in_the_background_a_packed_batch_is_one_os_task() {
        let candidates: Vec<Candidate> = (0..100).map(|_| packable(10)).collect();
        let room = BatchLimits {
            max_files: 32,
            max_bytes: 1 << 20,
        };
        let mut background = policy(AppState::Background);
        background.max_platform_tasks = 2;
        let picked = pick_packed(&candidates, &background, &WIDE, room);
        assert_eq!(picked.len(), 64, "two OS tasks of 32 files each");
        assert!(picked.iter().all(|d| d.lane == LaneChoice::Platform));
    }
}
