//! Request slots of the in-process lane: every in-process request holds one slot of its
//! host and one of the queue while it is sent, so the limits hold however many attempts
//! the actor has launched.
//!
//! This is what lets the actor *claim ahead*: commit small transfers as running before a
//! slot is free, and launch them to wait here. When a request ends, the next waiting
//! attempt takes its slot at once, without waiting for the actor's next commit (an fsync,
//! ~1 ms, which would otherwise idle every slot once per turn; `many_small_puts`).
//!
//! An attempt claimed ahead must not go out behind a failure the actor has not yet seen:
//! a failed request marks its host *troubled* until the actor has recorded the outcome
//! (and its breaker has decided), and a claimed-ahead attempt that gets a slot while its
//! host is troubled or its breaker is not closed gives the slot back unsent.
//!
//! Nor may it go out ahead of work the actor now prefers: while a transfer of higher
//! priority waits for a slot, or the app is in the background and queued work belongs to
//! the OS, the actor sets a *floor* ([`RequestGates::make_way_below`]), and a
//! claimed-ahead attempt below it gives its slot back unsent, so the slot goes to what the
//! actor starts next. A claim still waiting for its slots makes way the moment the floor
//! rises. Claims ahead therefore delay a newly enqueued file of higher priority only by
//! the requests already being sent.
//!
//! Gates never decide what runs; the actor does. They must never hold a slot for an
//! attempt that is not sending.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// The slots of every host, and of the queue as a whole.
pub(crate) struct RequestGates {
    queue: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
    /// Claimed-ahead attempts of a lower priority give their slot back
    /// ([`RequestGates::make_way_below`]); `i64::MIN` while none need to.
    floor: AtomicI64,
    /// Wakes claimed-ahead attempts still waiting for slots when the floor rises, so they
    /// make way at once rather than when a request ends (which, in the background, may
    /// be after the app is suspended).
    floor_raised: Notify,
}

/// How an attempt comes to the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Launched by the actor into a free slot: it always sends.
    IntoFreeSlot,
    /// Claimed ahead of a free slot, for a transfer of this priority: it gives the slot
    /// back if its host is in trouble or its priority is below the floor.
    ClaimedAhead { priority: i32 },
}

/// The floor [`RequestGates::make_way_below`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Floor {
    /// Every claimed-ahead attempt may send.
    Open,
    /// Claimed-ahead attempts of a priority below this give their slots back.
    Below(i64),
    /// Every claimed-ahead attempt gives its slot back.
    All,
}

/// One host's slots and what claimed-ahead attempts must know of its health.
pub(crate) struct HostGate {
    slots: Arc<Semaphore>,
    /// Failed requests the actor has not yet recorded.
    unreviewed_failures: AtomicUsize,
    /// The host's breaker is open or probing: only the actor starts requests.
    held: AtomicBool,
}

/// What an attempt that waited at the gate may do.
pub(crate) enum Entry {
    Send(Slots),
    /// Claimed ahead, but its host is in trouble: nothing was sent.
    GiveBack,
}

/// The slots one request holds; dropping them frees both.
pub(crate) struct Slots {
    gate: Arc<HostGate>,
    _host: OwnedSemaphorePermit,
    _queue: OwnedSemaphorePermit,
}

impl Slots {
    /// The request failed: attempts claimed ahead hold back until the actor has seen it.
    /// Called before the slots are dropped, so no waiting attempt slips through.
    pub(crate) fn report_failure(&self) {
        self.gate.unreviewed_failures.fetch_add(1, Ordering::SeqCst);
    }
}

impl RequestGates {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            queue: Arc::new(Semaphore::new(limits.global.max(1))),
            per_host: limits.per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
            floor: AtomicI64::new(i64::MIN),
            floor_raised: Notify::new(),
        }
    }

    /// Which claimed-ahead attempts give their slot back when they get one. Attempts
    /// already sending are never affected.
    pub(crate) fn make_way_below(&self, floor: Floor) {
        let value = match floor {
            Floor::Open => i64::MIN,
            Floor::Below(priority) => priority,
            Floor::All => i64::MAX,
        };
        let before = self.floor.swap(value, Ordering::SeqCst);
        if value > before {
            self.floor_raised.notify_waiters();
        }
    }

    /// Resolves once the floor is above `priority`.
    async fn floor_above(&self, priority: i32) {
        loop {
            let raised = self.floor_raised.notified();
            let mut raised = std::pin::pin!(raised);
            // Registered before the check, so a rise between the two is not missed.
            raised.as_mut().enable();
            if i64::from(priority) < self.floor.load(Ordering::SeqCst) {
                return;
            }
            raised.await;
        }
    }

    fn must_make_way(&self, arrival: Arrival, gate: &HostGate) -> bool {
        match arrival {
            Arrival::IntoFreeSlot => false,
            Arrival::ClaimedAhead { priority } => {
                gate.in_trouble() || i64::from(priority) < self.floor.load(Ordering::SeqCst)
            }
        }
    }

    pub(crate) fn host(&self, host: &str) -> Arc<HostGate> {
        // A poisoned map is still a valid map: no code panics while holding the lock.
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = hosts.get(host) {
            return Arc::clone(gate); // the common case: no allocation per request
        }
        let gate = Arc::new(HostGate {
            slots: Arc::new(Semaphore::new(self.per_host)),
            unreviewed_failures: AtomicUsize::new(0),
            held: AtomicBool::new(false),
        });
        hosts.insert(host.to_owned(), Arc::clone(&gate));
        gate
    }

    /// Waits for a slot of `host` and of the queue (in that order, so no two attempts
    /// each hold what the other waits for). An attempt claimed ahead gives its slots back
    /// if, once it has them, its host is in trouble or it is below the floor.
    pub(crate) async fn enter(&self, host: &str, arrival: Arrival) -> Entry {
        let gate = self.host(host);
        let acquire = async {
            // The semaphores are never closed, so acquiring cannot fail; if it ever did,
            // giving the attempt back to the actor is the safe answer.
            let host_slot = Arc::clone(&gate.slots).acquire_owned().await.ok()?;
            let queue_slot = Arc::clone(&self.queue).acquire_owned().await.ok()?;
            Some((host_slot, queue_slot))
        };
        let acquired = match arrival {
            Arrival::IntoFreeSlot => acquire.await,
            // A claim waiting for slots makes way as soon as the floor rises above it:
            // dropping the acquisition gives up its place in the semaphores' queues.
            Arrival::ClaimedAhead { priority } => tokio::select! {
                biased;
                () = self.floor_above(priority) => None,
                acquired = acquire => acquired,
            },
        };
        let Some((host_slot, queue_slot)) = acquired else {
            return Entry::GiveBack;
        };
        if self.must_make_way(arrival, &gate) {
            return Entry::GiveBack;
        }
        Entry::Send(Slots {
            gate,
            _host: host_slot,
            _queue: queue_slot,
        })
    }
}

/// How a request that went through the gate ended.
pub(crate) enum Gated<T> {
    /// It was sent; `failure` is the host gate whose trouble the actor must review.
    Ran {
        value: T,
        failure: Option<Arc<HostGate>>,
    },
    /// Claimed ahead and held back: nothing was sent.
    HeldBack,
}

/// Runs `request` holding a slot of `host` (`on_entry` runs once the slot is taken, so an
/// attempt's stall clock does not count the wait). A `failed` result is reported before
/// the slot is freed, so no attempt claimed ahead goes out behind it unreviewed.
pub(crate) async fn run_gated<T>(
    gates: &RequestGates,
    host: &str,
    arrival: Arrival,
    on_entry: impl FnOnce(),
    request: impl Future<Output = T>,
    failed: impl FnOnce(&T) -> bool,
) -> Gated<T> {
    let slots = match gates.enter(host, arrival).await {
        Entry::Send(slots) => slots,
        Entry::GiveBack => return Gated::HeldBack,
    };
    on_entry();
    let value = request.await;
    let failure = failed(&value).then(|| {
        slots.report_failure();
        Arc::clone(&slots.gate)
    });
    drop(slots);
    Gated::Ran { value, failure }
}

impl HostGate {
    fn in_trouble(&self) -> bool {
        self.unreviewed_failures.load(Ordering::SeqCst) > 0 || self.held.load(Ordering::SeqCst)
    }

    /// The actor recorded one failed request of this host.
    pub(crate) fn failure_reviewed(&self) {
        let _ =
            self.unreviewed_failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |count| {
                    count.checked_sub(1)
                });
    }

    /// The actor's breaker for this host admits requests freely (`false`), or only the
    /// actor's own probes (`true`).
    pub(crate) fn set_held(&self, held: bool) {
        self.held.store(held, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Arrival::IntoFreeSlot;

    const AHEAD: Arrival = Arrival::ClaimedAhead { priority: 0 };

    fn gates(per_host: usize, global: usize) -> RequestGates {
        RequestGates::new(Limits { per_host, global })
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_never_has_more_slots_out_than_its_limit() {
        let gates = gates(2, 8);
        let mut held = Vec::new();
        for _ in 0..2 {
            match gates.enter("a", IntoFreeSlot).await {
                Entry::Send(slots) => held.push(slots),
                Entry::GiveBack => panic!("a free slot was refused"),
            }
        }
        let third = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            gates.enter("a", IntoFreeSlot),
        )
        .await;
        assert!(third.is_err(), "a third slot was given with two out");
        assert!(matches!(
            gates.enter("b", IntoFreeSlot).await,
            Entry::Send(_)
        ));
        held.pop();
        assert!(matches!(
            gates.enter("a", IntoFreeSlot).await,
            Entry::Send(_)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn the_queue_limit_spans_hosts() {
        let gates = gates(4, 1);
        let Entry::Send(first) = gates.enter("a", IntoFreeSlot).await else {
            panic!("the first slot was refused");
        };
        let second = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            gates.enter("b", IntoFreeSlot),
        )
        .await;
        assert!(
            second.is_err(),
            "another host got a slot past the queue limit"
        );
        drop(first);
        assert!(matches!(
            gates.enter("b", IntoFreeSlot).await,
            Entry::Send(_)
        ));
    }

    #[tokio::test]
    async fn claimed_ahead_attempts_hold_back_until_a_failure_is_reviewed() {
        let gates = gates(1, 1);
        let Entry::Send(slots) = gates.enter("a", IntoFreeSlot).await else {
            panic!("the first slot was refused");
        };
        slots.report_failure();
        drop(slots);
        assert!(matches!(gates.enter("a", AHEAD).await, Entry::GiveBack));
        // The actor's own launches are not held back: it has decided.
        assert!(matches!(
            gates.enter("a", IntoFreeSlot).await,
            Entry::Send(_)
        ));
        gates.host("a").failure_reviewed();
        assert!(matches!(gates.enter("a", AHEAD).await, Entry::Send(_)));
        gates.host("a").set_held(true);
        assert!(matches!(gates.enter("a", AHEAD).await, Entry::GiveBack));
    }

    #[tokio::test]
    async fn claimed_ahead_attempts_below_the_floor_make_way() {
        let gates = gates(4, 4);
        gates.make_way_below(Floor::Below(5));
        let low = Arrival::ClaimedAhead { priority: 4 };
        assert!(matches!(gates.enter("a", low).await, Entry::GiveBack));
        let equal = Arrival::ClaimedAhead { priority: 5 };
        assert!(matches!(gates.enter("a", equal).await, Entry::Send(_)));
        // The actor's own launches are what the way is made for.
        assert!(matches!(
            gates.enter("a", IntoFreeSlot).await,
            Entry::Send(_)
        ));
        gates.make_way_below(Floor::All);
        let high = Arrival::ClaimedAhead { priority: i32::MAX };
        assert!(matches!(gates.enter("a", high).await, Entry::GiveBack));
        gates.make_way_below(Floor::Open);
        let lowest = Arrival::ClaimedAhead { priority: i32::MIN };
        assert!(matches!(gates.enter("a", lowest).await, Entry::Send(_)));
    }

    #[tokio::test]
    async fn a_claim_waiting_for_a_slot_makes_way_when_the_floor_rises() {
        let gates = Arc::new(gates(1, 1));
        let Entry::Send(held) = gates.enter("a", IntoFreeSlot).await else {
            panic!("the first slot was refused");
        };
        let waiting = tokio::spawn({
            let gates = Arc::clone(&gates);
            async move { matches!(gates.enter("a", AHEAD).await, Entry::GiveBack) }
        });
        tokio::task::yield_now().await;
        gates.make_way_below(Floor::Below(1));
        let gave_back = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("the waiting claim answered while the slot was still held")
            .expect("the claim's task");
        assert!(gave_back, "it made way");
        drop(held);
    }
}
