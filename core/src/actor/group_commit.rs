//! Group commit: what a turn tells anyone waits here until the WAL holding the turn is
//! on disk.
//!
//! A turn commits without syncing (`synchronous=NORMAL`, `store/mod.rs`), acts at once on
//! what only this process sees (it launches and aborts attempts), and hands the rest to
//! this task: replies, events, idle waiters and OS-task operations. The task syncs the WAL
//! on the blocking pool, then delivers every turn handed over before the sync began, in
//! order. Turns that commit while a sync runs wait for the next one, so one sync covers
//! every turn of its window, and neither the actor nor the runtime worker waits for the
//! disk. A turn with the app's commands syncs the WAL itself before it acts; that sync
//! began after its commit and the commits of every turn handed over before it, so those
//! are delivered without another sync (`hand_over_synced`).
//!
//! Launching before the sync is safe because the transfer's row is already on disk: turns
//! with the app's commands, which insert rows, sync before they act (`TurnSync` in
//! `actor.rs`). A claim lost in a power cut leaves its transfer queued, and it is sent
//! again with the same `Idempotency-Key`, as after any crash mid-attempt. Nothing the app
//! or the OS hears of can be lost.
//!
//! This task must never deliver anything of a turn before a sync that began after that
//! turn's commit returned, nor deliver turns out of order. After a failed sync it delivers
//! nothing more: the kernel may have dropped the pages it could not write (Linux marks them
//! clean, the "fsyncgate" behaviour), so every later reply carries the error, the actor
//! stops before its next commit, and reopening the queue recovers from what is on disk
//! (which may or may not hold the last turns: closing the store checkpoints them).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::effects::{Effects, KeepAliveRequest};
use crate::error::StoreError;
use crate::events::TransferEvent;
use crate::platform::PlatformDriver;
use crate::store::WalSync;

/// Syncs start at most this often. A sync on this machine takes ~0.4 ms and `many_small_puts`
/// finishes ~15 attempts a millisecond; syncing as soon as anything waits cost ~420 syncs
/// per 10,000 files, this ~110 (+3.5% files/s by geometric mean, 12 interleaved rounds).
/// On a phone, F_FULLFSYNC takes milliseconds, and fewer flushes spare the flash. What is
/// told waits at most this long beyond its sync.
const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(5);

/// Makes everything committed so far durable.
pub(super) trait Durability: Send + 'static {
    fn sync(&mut self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl Durability for WalSync {
    async fn sync(&mut self) -> Result<(), StoreError> {
        self.sync_on_blocking_pool().await
    }
}

/// What one committed turn tells, and whether the turn synced the WAL itself before
/// handing it over (a turn with the app's commands, `TurnSync::BeforeActing`). That sync
/// began after the commit of this turn and of every turn handed over before it, so it
/// covers them all: they are delivered without another sync. Before this, each command
/// turn paid two fsyncs, its own and the group commit's.
struct HandedOver {
    effects: Effects,
    synced: bool,
}

/// Where the actor hands what its turns tell.
pub(super) struct GroupCommit {
    sender: mpsc::UnboundedSender<HandedOver>,
    task: JoinHandle<()>,
    /// Set once, by the first failed sync.
    failure: Arc<OnceLock<StoreError>>,
    database: PathBuf,
}

impl GroupCommit {
    /// Spawns the task on the current runtime.
    pub(super) fn start(
        durability: impl Durability,
        database: PathBuf,
        events: broadcast::Sender<TransferEvent>,
        platform: Option<PlatformDriver>,
    ) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let failure = Arc::new(OnceLock::new());
        let task = tokio::spawn(run(
            durability,
            receiver,
            Deliver { events, platform },
            Arc::clone(&failure),
        ));
        Self {
            sender,
            task,
            failure,
            database,
        }
    }

    /// Hands over what a committed turn tells; it is delivered once durable.
    pub(super) fn hand_over(&self, effects: Effects) {
        self.send(HandedOver {
            effects,
            synced: false,
        });
    }

    /// Hands over what a committed turn tells after the turn synced the WAL itself: it is
    /// durable, and so is everything handed over before it.
    pub(super) fn hand_over_synced(&self, effects: Effects) {
        self.send(HandedOver {
            effects,
            synced: true,
        });
    }

    fn send(&self, handed: HandedOver) {
        if handed.effects.is_empty() {
            return;
        }
        if let Some(error) = self.failure.get() {
            refuse(handed, error);
            return;
        }
        if let Err(mpsc::error::SendError(handed)) = self.sender.send(handed) {
            // The task has ended, after a failed sync (or a panic): nothing is durable now.
            let closed;
            let error = match self.failure.get() {
                Some(error) => error,
                None => {
                    closed = StoreError::Unavailable {
                        path: self.database.clone(),
                        detail: "the queue stopped syncing its log; reopen it".into(),
                    };
                    &closed
                }
            };
            refuse(handed, error);
        }
    }

    /// Records a sync that failed elsewhere (a turn that synced before acting): nothing
    /// handed over from now on is told.
    pub(super) fn fail(&self, error: StoreError) {
        log::error!("{error}");
        let _ = self.failure.set(error);
    }

    /// Whether a sync failed: the actor then stops.
    pub(super) fn failed(&self) -> bool {
        self.failure.get().is_some() || self.task.is_finished()
    }

    /// Delivers everything handed over, then ends.
    pub(super) async fn finish(self) {
        drop(self.sender);
        if let Err(error) = self.task.await {
            log::error!("the group-commit task failed: {error}");
        }
    }
}

async fn run(
    mut durability: impl Durability,
    mut receiver: mpsc::UnboundedReceiver<HandedOver>,
    deliver: Deliver,
    failure: Arc<OnceLock<StoreError>>,
) {
    let mut window = Vec::new();
    let mut next_sync_at = Instant::now();
    while receiver.recv_many(&mut window, usize::MAX).await > 0 {
        deliver.deliver_synced(&mut window);
        if window.is_empty() {
            continue;
        }
        tokio::time::sleep_until(next_sync_at).await;
        while let Ok(handed) = receiver.try_recv() {
            window.push(handed);
        }
        deliver.deliver_synced(&mut window);
        if window.is_empty() {
            continue;
        }
        next_sync_at = Instant::now() + MIN_SYNC_INTERVAL;
        if let Err(error) = durability.sync().await {
            log::error!("{error}");
            let error = failure.get_or_init(|| error);
            receiver.close();
            for handed in window.drain(..) {
                refuse(handed, error);
            }
            while let Some(handed) = receiver.recv().await {
                refuse(handed, error);
            }
            return;
        }
        for handed in window.drain(..) {
            deliver.deliver(handed.effects);
        }
    }
}

/// Whom what turns tell go to.
struct Deliver {
    events: broadcast::Sender<TransferEvent>,
    platform: Option<PlatformDriver>,
}

impl Deliver {
    /// Delivers, in order, everything up to the last turn of `window` that synced before
    /// it was handed over: that sync covered it and every turn before it.
    fn deliver_synced(&self, window: &mut Vec<HandedOver>) {
        if let Some(last) = window.iter().rposition(|handed| handed.synced) {
            for handed in window.drain(..=last) {
                self.deliver(handed.effects);
            }
        }
    }

    fn deliver(&self, effects: Effects) {
        for reply in effects.replies {
            reply(None);
        }
        for event in effects.events {
            let _ = self.events.send(event);
        }
        for waiter in effects.idle_waiters {
            let _ = waiter.send(());
        }
        if let Some(driver) = &self.platform {
            for key in effects.platform_cancels {
                driver.cancel(key);
            }
            for key in effects.platform_releases {
                driver.release(key);
            }
            for (handoff, body) in effects.handoffs {
                driver.start(handoff, body);
            }
            if let Some(query) = effects.outstanding_query {
                driver.query_outstanding(query);
            }
            for request in effects.keep_alive {
                match request {
                    KeepAliveRequest::KeepRunning { remaining_bytes } => {
                        driver.keep_app_running(remaining_bytes);
                    }
                    KeepAliveRequest::LetStop => driver.let_app_stop(),
                }
            }
        }
        for reply in effects.after_handoffs {
            match &self.platform {
                Some(driver) => driver.reply_when_done(reply),
                None => {
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }
}

/// A turn that may not be durable: its replies carry the error and nothing else of it
/// happens (its idle waiters are dropped, which tells them the queue closed).
fn refuse(handed: HandedOver, error: &StoreError) {
    for reply in handed.effects.replies {
        reply(Some(error));
    }
    for reply in handed.effects.after_handoffs {
        let _ = reply.send(Err(crate::Error::Store(error.clone())));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::TransferId;

    /// A sync that waits for the test to let it finish, and counts itself.
    struct GatedSync {
        started: mpsc::UnboundedSender<()>,
        release: mpsc::UnboundedReceiver<Result<(), StoreError>>,
    }

    impl Durability for GatedSync {
        async fn sync(&mut self) -> Result<(), StoreError> {
            let _ = self.started.send(());
            self.release
                .recv()
                .await
                .unwrap_or_else(|| Err(disk_error()))
        }
    }

    struct Harness {
        group: GroupCommit,
        events: broadcast::Receiver<TransferEvent>,
        sync_started: mpsc::UnboundedReceiver<()>,
        release_sync: mpsc::UnboundedSender<Result<(), StoreError>>,
    }

    fn harness() -> Harness {
        let (started, sync_started) = mpsc::unbounded_channel();
        let (release_sync, release) = mpsc::unbounded_channel();
        let (events_sender, events) = broadcast::channel(64);
        let group = GroupCommit::start(
            GatedSync { started, release },
            PathBuf::from("queue.db"),
            events_sender,
            None,
        );
        Harness {
            group,
            events,
            sync_started,
            release_sync,
        }
    }

    fn disk_error() -> StoreError {
        StoreError::Unavailable {
            path: PathBuf::from("queue.db"),
            detail: "EIO".into(),
        }
    }

    fn succeeded(n: u32) -> TransferEvent {
        TransferEvent::Succeeded {
            id: TransferId::from_stored(format!("t{n}")),
            status: 201,
            headers: Vec::new(),
        }
    }

    /// A turn telling one event and one reply, whose answer lands in `replies`.
    fn turn(n: u32, replies: &Arc<Mutex<Vec<(u32, bool)>>>) -> Effects {
        let replies = Arc::clone(replies);
        Effects {
            events: vec![succeeded(n)],
            replies: vec![Box::new(move |failed: Option<&StoreError>| {
                if let Ok(mut replies) = replies.lock() {
                    replies.push((n, failed.is_none()));
                }
            })],
            ..Effects::default()
        }
    }

    fn ids(events: &mut broadcast::Receiver<TransferEvent>) -> Vec<String> {
        std::iter::from_fn(|| events.try_recv().ok())
            .map(|event| match event {
                TransferEvent::Succeeded { id, .. } => id.as_str().to_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_told_before_the_sync_that_covers_it_returns() {
        let mut h = harness();
        let replies = Arc::new(Mutex::new(Vec::new()));
        h.group.hand_over(turn(1, &replies));
        h.sync_started.recv().await.expect("a sync starts");
        tokio::time::sleep(Duration::from_millis(50)).await; // the sync has not returned
        assert!(ids(&mut h.events).is_empty());
        assert!(replies.lock().expect("lock").is_empty());

        h.release_sync.send(Ok(())).expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(ids(&mut h.events), ["t1"]);
        assert_eq!(*replies.lock().expect("lock"), [(1, true)]);
    }

    #[tokio::test(start_paused = true)]
    async fn turns_committed_during_a_sync_wait_for_the_next_one_and_share_it_in_order() {
        let mut h = harness();
        let replies = Arc::new(Mutex::new(Vec::new()));
        h.group.hand_over(turn(1, &replies));
        h.sync_started.recv().await.expect("the first sync starts");
        h.group.hand_over(turn(2, &replies));
        h.group.hand_over(turn(3, &replies));
        h.release_sync.send(Ok(())).expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        // The first sync began before turns 2 and 3 committed: it does not cover them.
        assert_eq!(ids(&mut h.events), ["t1"]);

        h.sync_started.recv().await.expect("a second sync starts");
        h.release_sync.send(Ok(())).expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(ids(&mut h.events), ["t2", "t3"]);
        assert_eq!(
            *replies.lock().expect("lock"),
            [(1, true), (2, true), (3, true)]
        );
        assert!(
            h.sync_started.try_recv().is_err(),
            "one sync covered turns 2 and 3"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_that_synced_itself_is_told_at_once_with_every_turn_before_it() {
        let mut h = harness();
        let replies = Arc::new(Mutex::new(Vec::new()));
        h.group.hand_over(turn(1, &replies));
        h.sync_started
            .recv()
            .await
            .expect("a sync starts for turn 1");
        h.group.hand_over(turn(2, &replies));
        h.group.hand_over_synced(turn(3, &replies));
        h.group.hand_over(turn(4, &replies));
        h.release_sync.send(Ok(())).expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        // Turn 3's own sync began after turns 2 and 3 committed: it covers both.
        assert_eq!(ids(&mut h.events), ["t1", "t2", "t3"]);
        h.sync_started
            .recv()
            .await
            .expect("turn 4 still needs a sync");
        h.release_sync.send(Ok(())).expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(ids(&mut h.events), ["t4"]);

        h.group.hand_over_synced(turn(5, &replies));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(ids(&mut h.events), ["t5"]);
        assert!(
            h.sync_started.try_recv().is_err(),
            "no second sync for a turn that synced itself"
        );
        assert_eq!(
            *replies.lock().expect("lock"),
            [(1, true), (2, true), (3, true), (4, true), (5, true)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn syncs_are_spaced_by_the_minimum_interval() {
        let mut h = harness();
        let replies = Arc::new(Mutex::new(Vec::new()));
        h.group.hand_over(turn(1, &replies));
        h.sync_started.recv().await.expect("the first sync starts");
        let first = Instant::now();
        h.release_sync.send(Ok(())).expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        h.group.hand_over(turn(2, &replies));
        h.sync_started.recv().await.expect("a second sync starts");
        assert!(Instant::now() - first >= MIN_SYNC_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failed_sync_nothing_more_is_told_and_every_reply_carries_the_error() {
        let mut h = harness();
        let replies = Arc::new(Mutex::new(Vec::new()));
        h.group.hand_over(turn(1, &replies));
        h.sync_started.recv().await.expect("a sync starts");
        h.release_sync
            .send(Err(disk_error()))
            .expect("the sync waits");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(h.group.failed());
        h.group.hand_over(turn(2, &replies));

        assert!(ids(&mut h.events).is_empty());
        assert_eq!(*replies.lock().expect("lock"), [(1, false), (2, false)]);
        assert!(
            h.sync_started.try_recv().is_err(),
            "no sync after a failure"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn finish_delivers_what_was_handed_over_before_it_returns() {
        let mut h = harness();
        let replies = Arc::new(Mutex::new(Vec::new()));
        h.group.hand_over(turn(1, &replies));
        let release = h.release_sync.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let _ = release.send(Ok(()));
        });
        h.group.finish().await;
        assert_eq!(ids(&mut h.events), ["t1"]);
        assert_eq!(*replies.lock().expect("lock"), [(1, true)]);
    }
}
