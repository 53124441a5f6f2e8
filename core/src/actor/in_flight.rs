//! What runs where: every attempt in flight by transfer, the OS task each file runs on
//! (several files share the task of a packed batch), and the generation that tells an
//! attempt's reports from those of an older attempt of the same transfer.
//!
//! It answers questions (is this report current? how many requests per host? which OS
//! tasks match?) and hands out the flights it is asked to take. It must never decide a
//! verdict, touch the store or talk to a lane: the engine does that with what it returns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::disk_space::Reservation;
use crate::http::AttemptProgress;
use crate::scheduler::Occupancy;
use crate::state::{Lane, TransferState};
use crate::{Transfer, TransferId};

/// An attempt in flight, with the record it is running for.
pub(super) struct InFlight {
    pub(super) transfer: Transfer,
    pub(super) generation: u64,
    pub(super) progress: Arc<AttemptProgress>,
    pub(super) lane: FlightLane,
    /// The bytes its last `Progress` event reported.
    pub(super) reported_bytes: u64,
    /// One file of a packed batch: every member shares the batch's `generation`, and the
    /// batch counts as one request.
    pub(super) batched: bool,
    /// A download of known size: the space it still had to write on its volume at
    /// launch (`disk_space.rs`); what its progress wrote since is no longer reserved.
    pub(super) space: Option<Reservation>,
    /// A download's OS segment being applied in-process (`http/download/segment.rs`): it
    /// still counts as the OS's for the window, so that, while the OS carries everything
    /// with `refill_when_drained`, the next segments of a window's downloads go out
    /// together as the next whole window, not one by one.
    pub(super) applying_segment: bool,
}

/// Where an attempt in flight runs.
#[derive(Clone)]
pub(super) enum FlightLane {
    /// A task of ours; aborting it stops the request.
    InProcess { abort: Option<AbortHandle> },
    /// An OS task. `handoff_query` is the outstanding-query counter when it was handed
    /// over: an answer to an earlier query cannot know of it. `last_activity` is when it
    /// was handed over or last reported new bytes (for stall recovery).
    Platform {
        key: String,
        handoff_query: u64,
        last_activity: Instant,
    },
}

impl InFlight {
    pub(super) fn is_platform(&self) -> bool {
        matches!(self.lane, FlightLane::Platform { .. })
    }
}

/// Every attempt in flight.
#[derive(Default)]
pub(super) struct Flights {
    by_id: HashMap<TransferId, InFlight>,
    /// Handoff key → its files, for the OS tasks among the flights.
    platform_keys: HashMap<String, Vec<TransferId>>,
    last_generation: u64,
}

impl Flights {
    /// A generation for the next request, never handed out before.
    pub(super) fn new_generation(&mut self) -> u64 {
        self.last_generation += 1;
        self.last_generation
    }

    /// Records the files of one request; those on an OS task under its key.
    pub(super) fn insert(&mut self, flights: Vec<InFlight>) {
        for flight in flights {
            if let FlightLane::Platform { key, .. } = &flight.lane {
                self.platform_keys
                    .entry(key.clone())
                    .or_default()
                    .push(flight.transfer.id.clone());
            }
            self.by_id.insert(flight.transfer.id.clone(), flight);
        }
    }

    /// Transfers found running on the OS at open: watched like any other OS task. The
    /// members of a packed batch share their key and are adopted as one batch.
    pub(super) fn adopt(
        &mut self,
        transfers: Vec<Transfer>,
        new_progress: impl Fn() -> Arc<AttemptProgress>,
    ) {
        let mut by_key: HashMap<String, Vec<Transfer>> = HashMap::new();
        for transfer in transfers {
            if let TransferState::Running {
                lane: Lane::Platform { handoff_key },
            } = &transfer.state
            {
                by_key
                    .entry(handoff_key.clone())
                    .or_default()
                    .push(transfer);
            }
        }
        for (key, members) in by_key {
            let generation = self.new_generation();
            let batched = members.len() > 1;
            let flights = members
                .into_iter()
                .map(|transfer| InFlight {
                    transfer,
                    generation,
                    progress: new_progress(),
                    lane: FlightLane::Platform {
                        key: key.clone(),
                        handoff_query: 0,
                        last_activity: Instant::now(),
                    },
                    reported_bytes: 0,
                    batched,
                    space: None,
                    applying_segment: false,
                })
                .collect();
            self.insert(flights);
        }
    }

    pub(super) fn get(&self, id: &TransferId) -> Option<&InFlight> {
        self.by_id.get(id)
    }

    pub(super) fn get_mut(&mut self, id: &TransferId) -> Option<&mut InFlight> {
        self.by_id.get_mut(id)
    }

    /// Whether a report of attempt `generation` of `id` is about the attempt in flight.
    pub(super) fn is_current(&self, id: &TransferId, generation: u64) -> bool {
        self.by_id
            .get(id)
            .is_some_and(|flight| flight.generation == generation)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &InFlight> {
        self.by_id.values()
    }

    /// The space the running downloads still have to write, per volume
    /// (`disk_space.rs`).
    pub(super) fn space_reservations(&self) -> impl Iterator<Item = Reservation> + '_ {
        self.by_id.values().filter_map(|flight| {
            let space = flight.space?;
            Some(space.still_to_write(flight.progress.bytes_sent()))
        })
    }

    /// How many files run on OS tasks.
    pub(super) fn on_platform(&self) -> usize {
        self.by_id
            .values()
            .filter(|flight| flight.is_platform())
            .count()
    }

    /// Bytes sent so far by every attempt in flight.
    pub(super) fn bytes_running(&self) -> u64 {
        self.by_id
            .values()
            .map(|flight| flight.progress.bytes_sent())
            .sum()
    }

    /// The bytes the attempt of `id` has sent so far, if it is in flight.
    pub(super) fn live_bytes(&self, id: &TransferId) -> Option<u64> {
        self.by_id
            .get(id)
            .map(|flight| flight.progress.bytes_sent())
    }

    /// The running task of the files `ids` of request `generation`, once spawned.
    pub(super) fn set_abort(&mut self, ids: &[TransferId], generation: u64, abort: &AbortHandle) {
        for id in ids {
            if let Some(flight) = self.by_id.get_mut(id)
                && flight.generation == generation
            {
                flight.lane = FlightLane::InProcess {
                    abort: Some(abort.clone()),
                };
            }
        }
    }

    /// The flight of `id`, taken out, with every other member of its packed batch (same
    /// generation), if it is one.
    pub(super) fn take_attempt(&mut self, id: &TransferId) -> Vec<InFlight> {
        let Some(flight) = self.by_id.remove(id) else {
            return Vec::new();
        };
        if !flight.batched {
            return vec![flight];
        }
        let generation = flight.generation;
        let siblings: Vec<TransferId> = self
            .by_id
            .iter()
            .filter(|(_, other)| other.batched && other.generation == generation)
            .map(|(id, _)| id.clone())
            .collect();
        let mut flights = vec![flight];
        flights.extend(siblings.iter().filter_map(|id| self.by_id.remove(id)));
        flights
    }

    /// Forgets the OS task `key` whose files were taken out already; whether it was
    /// still known (and so must be cancelled).
    pub(super) fn release_key(&mut self, key: &str) -> bool {
        self.platform_keys.remove(key).is_some()
    }

    /// Every file of the OS task `key`, taken out.
    pub(super) fn take_platform_task(&mut self, key: &str) -> Vec<InFlight> {
        let ids = self.platform_keys.remove(key).unwrap_or_default();
        ids.iter().filter_map(|id| self.by_id.remove(id)).collect()
    }

    /// One file of the packed OS task `key`, taken out of it.
    pub(super) fn take_batch_member(&mut self, key: &str, id: &str) -> Option<InFlight> {
        let ids = self.platform_keys.get_mut(key)?;
        let position = ids.iter().position(|member| member.as_str() == id)?;
        let id = ids.remove(position);
        if ids.is_empty() {
            self.platform_keys.remove(key);
        }
        self.by_id.remove(&id)
    }

    /// The files of the OS task `key`, to update their progress.
    pub(super) fn platform_task_mut(&mut self, key: &str) -> Vec<&mut InFlight> {
        let Some(ids) = self.platform_keys.get(key) else {
            return Vec::new();
        };
        let ids: HashSet<&TransferId> = ids.iter().collect();
        self.by_id
            .iter_mut()
            .filter(|(id, _)| ids.contains(id))
            .map(|(_, flight)| flight)
            .collect()
    }

    /// Restarts the stall timer of every file of the OS task `key`.
    pub(super) fn touch_platform_task(&mut self, key: &str, now: Instant) {
        let Some(ids) = self.platform_keys.get(key) else {
            return;
        };
        for id in ids {
            if let Some(FlightLane::Platform { last_activity, .. }) =
                self.by_id.get_mut(id).map(|flight| &mut flight.lane)
            {
                *last_activity = now;
            }
        }
    }

    /// Restarts the stall timer of every OS task.
    pub(super) fn touch_every_platform_task(&mut self, now: Instant) {
        for flight in self.by_id.values_mut() {
            if let FlightLane::Platform { last_activity, .. } = &mut flight.lane {
                *last_activity = now;
            }
        }
    }

    /// The keys of the OS tasks for which `matches(key, handoff_query, last_activity)`
    /// holds, each once (the files of a packed batch share one task).
    pub(super) fn platform_tasks_where(
        &self,
        matches: impl Fn(&str, u64, Instant) -> bool,
    ) -> Vec<String> {
        self.platform_keys
            .iter()
            .filter_map(|(key, ids)| {
                let flight = ids.first().and_then(|id| self.by_id.get(id))?;
                let FlightLane::Platform {
                    handoff_query,
                    last_activity,
                    ..
                } = &flight.lane
                else {
                    return None;
                };
                matches(key, *handoff_query, *last_activity).then(|| key.clone())
            })
            .collect()
    }

    /// Requests in flight per host and overall, on either lane: a packed batch is one.
    pub(super) fn occupancy(&self) -> Occupancy {
        let mut occupancy = Occupancy::default();
        let mut batches_seen = HashSet::new();
        for flight in self.by_id.values() {
            if flight.batched && !batches_seen.insert(flight.generation) {
                continue; // a packed batch is one request
            }
            *occupancy
                .per_host
                .entry(flight.transfer.host.clone())
                .or_insert(0) += 1;
            occupancy.total += 1;
            occupancy.platform += usize::from(flight.is_platform() || flight.applying_segment);
        }
        occupancy
    }

    /// Every flight, taken out, and every OS task forgotten.
    pub(super) fn drain(&mut self) -> Vec<InFlight> {
        self.platform_keys.clear();
        self.by_id.drain().map(|(_, flight)| flight).collect()
    }

    /// Stops every in-process attempt; the flights stay.
    pub(super) fn abort_in_process(&self) {
        for flight in self.by_id.values() {
            if let FlightLane::InProcess { abort: Some(abort) } = &flight.lane {
                abort.abort();
            }
        }
    }

    /// Each flight whose bytes moved since it was last reported, with its bytes now and
    /// its size; from now on these are its reported bytes.
    pub(super) fn unreported_progress(&mut self) -> Vec<(TransferId, u64, u64)> {
        let mut moved = Vec::new();
        for (id, flight) in &mut self.by_id {
            let bytes_sent = flight.progress.bytes_sent();
            if bytes_sent != flight.reported_bytes {
                flight.reported_bytes = bytes_sent;
                moved.push((id.clone(), bytes_sent, flight.transfer.size));
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use super::*;
    use crate::upload::Upload;

    fn transfer(host: &str) -> Transfer {
        let mut transfer = crate::transfer::tests::queued(0);
        transfer.host = host.into();
        transfer.upload = Upload::put("/src/f", format!("http://{host}/f"));
        transfer
    }

    fn flight(transfer: Transfer, generation: u64, lane: FlightLane, batched: bool) -> InFlight {
        InFlight {
            transfer,
            generation,
            progress: Arc::new(AttemptProgress::new(Arc::new(AtomicU64::new(0)))),
            lane,
            reported_bytes: 0,
            batched,
            space: None,
            applying_segment: false,
        }
    }

    fn in_process() -> FlightLane {
        FlightLane::InProcess { abort: None }
    }

    fn on_os(key: &str, handoff_query: u64, last_activity: Instant) -> FlightLane {
        FlightLane::Platform {
            key: key.into(),
            handoff_query,
            last_activity,
        }
    }

    /// Three files of one packed batch to `a`, one file alone to `a` and one on an OS task
    /// for `b`.
    fn some_flights() -> (Flights, Vec<TransferId>) {
        let mut flights = Flights::default();
        let batch = flights.new_generation();
        let members: Vec<Transfer> = (0..3).map(|_| transfer("a:80")).collect();
        let mut ids: Vec<TransferId> = members.iter().map(|t| t.id.clone()).collect();
        flights.insert(
            members
                .into_iter()
                .map(|t| flight(t, batch, in_process(), true))
                .collect(),
        );
        let alone = transfer("a:80");
        ids.push(alone.id.clone());
        let generation = flights.new_generation();
        flights.insert(vec![flight(alone, generation, in_process(), false)]);
        let remote = transfer("b:80");
        ids.push(remote.id.clone());
        let generation = flights.new_generation();
        let lane = on_os("k1", 0, Instant::now());
        flights.insert(vec![flight(remote, generation, lane, false)]);
        (flights, ids)
    }

    #[test]
    fn a_packed_batch_counts_as_one_request_and_os_tasks_count_on_both_lanes() {
        let (flights, _) = some_flights();
        let occupancy = flights.occupancy();
        assert_eq!(
            occupancy.total, 3,
            "the batch, the file alone and the OS task"
        );
        assert_eq!(occupancy.platform, 1);
        assert_eq!(occupancy.per_host.get("a:80"), Some(&2));
        assert_eq!(occupancy.per_host.get("b:80"), Some(&1));
        assert_eq!(flights.on_platform(), 1);
    }

    #[test]
    fn taking_one_member_of_a_batch_takes_the_whole_batch_and_nothing_else() {
        let (mut flights, ids) = some_flights();
        let taken = flights.take_attempt(&ids[1]);
        assert_eq!(taken.len(), 3);
        assert_eq!(
            taken[0].transfer.id, ids[1],
            "the one asked for comes first"
        );
        assert_eq!(flights.len(), 2);
        assert!(flights.take_attempt(&ids[0]).is_empty(), "already taken");
        assert_eq!(flights.take_attempt(&ids[3]).len(), 1, "a file alone");
    }

    #[test]
    fn only_the_current_generation_of_a_transfer_is_current() {
        let (mut flights, ids) = some_flights();
        let generation = flights
            .get(&ids[3])
            .map(|f| f.generation)
            .expect("in flight");
        assert!(flights.is_current(&ids[3], generation));
        assert!(!flights.is_current(&ids[3], generation - 1));
        flights.take_attempt(&ids[3]);
        assert!(!flights.is_current(&ids[3], generation), "ended");
        let next = flights.new_generation();
        assert!(next > generation, "generations are never handed out twice");
    }

    #[test]
    fn os_tasks_are_found_and_taken_by_their_key() {
        let (mut flights, ids) = some_flights();
        assert!(flights.take_platform_task("unknown").is_empty());
        let taken = flights.take_platform_task("k1");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].transfer.id, ids[4]);
        assert!(!flights.release_key("k1"), "the key went with its files");
        assert_eq!(flights.on_platform(), 0);
    }

    #[test]
    fn a_packed_os_task_gives_up_its_members_one_by_one_and_then_its_key() {
        let mut flights = Flights::default();
        let generation = flights.new_generation();
        let members: Vec<Transfer> = (0..2).map(|_| transfer("a:80")).collect();
        let ids: Vec<String> = members.iter().map(|t| t.id.to_string()).collect();
        let now = Instant::now();
        flights.insert(
            members
                .into_iter()
                .map(|t| flight(t, generation, on_os("kb", 0, now), true))
                .collect(),
        );
        assert_eq!(flights.platform_task_mut("kb").len(), 2);
        assert!(flights.take_batch_member("kb", &ids[0]).is_some());
        assert!(flights.take_batch_member("kb", &ids[0]).is_none(), "taken");
        assert!(flights.take_batch_member("kb", &ids[1]).is_some());
        assert!(!flights.release_key("kb"), "the last member took the key");
    }

    #[test]
    fn os_tasks_are_selected_by_handoff_query_and_activity() {
        let mut flights = Flights::default();
        let start = Instant::now();
        for (key, query) in [("early", 1), ("late", 3)] {
            let generation = flights.new_generation();
            let lane = on_os(key, query, start);
            flights.insert(vec![flight(transfer("a:80"), generation, lane, false)]);
        }
        let handed_before_query_2 = flights.platform_tasks_where(|_, query, _| query < 2);
        assert_eq!(handed_before_query_2, vec!["early".to_owned()]);
        let later = start + Duration::from_secs(60);
        flights.touch_platform_task("late", later);
        let mut idle = flights.platform_tasks_where(|_, _, last| last < later);
        idle.sort();
        assert_eq!(idle, vec!["early".to_owned()]);
        flights.touch_every_platform_task(later);
        assert!(
            flights
                .platform_tasks_where(|_, _, last| last < later)
                .is_empty()
        );
    }

    #[test]
    fn adopted_os_tasks_are_grouped_by_key_into_batches() {
        let mut flights = Flights::default();
        let running_on = |key: &str| {
            let mut transfer = transfer("a:80");
            transfer.state = TransferState::Running {
                lane: Lane::Platform {
                    handoff_key: key.into(),
                },
            };
            transfer
        };
        let progress = || Arc::new(AttemptProgress::new(Arc::new(AtomicU64::new(0))));
        let queued = transfer("a:80");
        let queued_id = queued.id.clone();
        flights.adopt(
            vec![running_on("x"), running_on("x"), running_on("y"), queued],
            progress,
        );
        assert_eq!(flights.len(), 3, "only what runs on the OS is adopted");
        assert!(flights.get(&queued_id).is_none());
        assert_eq!(
            flights.occupancy().total,
            2,
            "the batch `x` and the file `y`"
        );
        assert_eq!(flights.take_platform_task("x").len(), 2);
    }

    #[test]
    fn progress_is_reported_once_per_change() {
        let (mut flights, ids) = some_flights();
        assert!(flights.unreported_progress().is_empty());
        if let Some(flight) = flights.get(&ids[3]) {
            flight.progress.set_bytes_sent(500);
        }
        let moved = flights.unreported_progress();
        assert_eq!(moved.len(), 1);
        assert_eq!((moved[0].0.clone(), moved[0].1), (ids[3].clone(), 500));
        assert!(flights.unreported_progress().is_empty(), "reported already");
        assert_eq!(flights.bytes_running(), 500);
        assert_eq!(flights.live_bytes(&ids[3]), Some(500));
    }
}
