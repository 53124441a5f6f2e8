//! The public snapshot of one transfer, as stored, and every edge of its life as one named
//! record edit: [`Transfer::start`], [`Transfer::conclude`],
//! [`Transfer::requeue_without_verdict`], [`Transfer::hold_for_credentials`],
//! [`Transfer::wait_for_space`], [`Transfer::control`] and `requeue_afresh` (a test-only
//! twin of the store's set-wise moves). These are the only writers of
//! `attempts`, `bytes_sent`, `next_attempt_at` and `last_error` in the engine; each moves
//! the state through the pure table (`state.rs`) and changes nothing when the table refuses.
//!
//! Must never touch the store, a clock or anything outside the record: the caller saves it
//! in its turn's transaction and passes the time in. Where the store edits many rows in
//! one statement instead of decoding each, the statement writes what the edge writes, and
//! a test holds it to it: the requeues at open and after a failed commit
//! (`store/transfers.rs`) to `requeue_without_verdict`, the bulk moves (`store/bulk.rs`)
//! to `control(Cancel)` and `requeue_afresh`, a push's credential renewal
//! (`store/enqueue.rs`) to `requeue_afresh`.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::download::{Direction, Download};
use crate::state::{Effect, IllegalTransition, Input, Lane, transition};
use crate::upload::SourceSnapshot;
use crate::{TransferError, TransferId, TransferState, Upload};

/// One transfer as the store holds it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Its id, also sent to the server as the idempotency key.
    pub id: TransferId,
    /// What was enqueued: source, destination, method, stored headers, priority, network
    /// constraints, and the app's metadata and group. For a download, the fields both
    /// directions share: `source` is the local file written (the download's destination),
    /// `destination` the URL it comes from, and `method` means nothing; read
    /// [`download`](Self::download) instead.
    pub upload: Upload,
    /// Which way its bytes go.
    pub direction: Direction,
    /// For a download, what was enqueued (URL, destination, expected size and SHA-256,
    /// conflict rule, and the fields shared with uploads); `None` for an upload.
    pub download: Option<Download>,
    /// For a download that succeeded, where the file was saved: its destination, or a free
    /// name beside it under [`crate::ConflictRule::KeepBoth`].
    pub saved_as: Option<PathBuf>,
    /// Where it is in its life.
    pub state: TransferState,
    /// The source's size at enqueue; for a download its expected size, 0 when unknown
    /// (once such a download succeeded, the length its server gave, when it gave one).
    pub size: u64,
    /// Bytes the server confirmed or, while running, bytes sent so far (for a download:
    /// the bytes its file holds, those kept from earlier attempts included).
    pub bytes_sent: u64,
    /// Attempts used up: started since the transfer last moved forward (an attempt that
    /// advanced a resumable upload by at least 1 MiB starts the count over, one that found
    /// no file descriptor is given back). `RetryPolicy::max_attempts` bounds it.
    pub attempts: u32,
    /// When a queued transfer may start next (after a backoff).
    pub next_attempt_at: SystemTime,
    /// The most recent failure, kept after a retry succeeds until the transfer succeeds.
    pub last_error: Option<TransferError>,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// When its record last changed (state, attempt, bytes confirmed); `purge_where`'s
    /// `older_than` counts from it.
    pub updated_at: SystemTime,
    /// The source's modification time at enqueue (nanoseconds since the epoch).
    pub(crate) source_mtime_ns: i64,
    /// `host:port` of the destination.
    pub(crate) host: String,
    /// The row's key in the store: the actor's hot lookups and updates use it, one B-tree
    /// search instead of two through the `id` index.
    pub(crate) seq: i64,
}

impl Transfer {
    /// `host:port` of the destination: what per-host limits and breakers count by.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What the source looked like at enqueue: a body that differs fails as changed.
    pub(crate) fn snapshot(&self) -> SourceSnapshot {
        SourceSnapshot {
            size: self.size,
            mtime_ns: self.source_mtime_ns,
        }
    }

    /// An attempt starts on `lane`: queued becomes running, one more attempt is used and
    /// nothing is sent yet. Returns the lane the table says to launch on
    /// ([`Effect::Launch`]), or `None`, changing nothing, if the transfer may not start.
    pub(crate) fn start(&mut self, lane: Lane) -> Option<Lane> {
        let Ok((next, Effect::Launch(lane))) = transition(&self.state, &Input::Start { lane })
        else {
            return None;
        };
        self.state = next;
        self.attempts = self.attempts.saturating_add(1);
        self.bytes_sent = 0;
        Some(lane)
    }

    /// Records an attempt's verdict. Changes nothing if the transfer is not running.
    pub(crate) fn conclude(&mut self, conclusion: Conclusion) -> Result<(), IllegalTransition> {
        let input = match &conclusion {
            Conclusion::Succeeded => Input::Succeeded,
            Conclusion::Retry { .. } => Input::RetryableFailure,
            Conclusion::Failed(_) => Input::PermanentFailure,
            Conclusion::AuthRequired(_) => Input::AuthFailure,
        };
        let (next, _) = transition(&self.state, &input)?;
        match conclusion {
            Conclusion::Succeeded => {
                self.bytes_sent = self.size;
                self.last_error = None;
            }
            Conclusion::Retry {
                error,
                at,
                attempts,
            } => {
                self.next_attempt_at = at;
                self.bytes_sent = 0;
                self.last_error = Some(error);
                self.attempts = attempts;
            }
            Conclusion::Failed(error) | Conclusion::AuthRequired(error) => {
                self.last_error = Some(error);
            }
        }
        self.state = next;
        Ok(())
    }

    /// Queues a running transfer again, due `now`, after an attempt that ended without a
    /// verdict (shutdown, pause, an OS task cancelled or lost, a request the server never
    /// processed). Such an attempt does not use up the retry budget, and nothing of it
    /// counts as sent: the next attempt starts from zero (a resumable upload's confirmed
    /// offset is kept beside the record, `store/resumable.rs`). Returns `false`, changing
    /// nothing, if it was not running.
    pub(crate) fn requeue_without_verdict(&mut self, now: SystemTime) -> bool {
        let Ok((next, _)) = transition(&self.state, &Input::Interrupted) else {
            return false;
        };
        self.state = next;
        self.bytes_sent = 0;
        self.attempts = self.attempts.saturating_sub(1);
        self.next_attempt_at = now;
        true
    }

    /// The credentials for this transfer's destination were refused repeatedly: instead of
    /// an attempt on `lane`, the transfer waits for the app to sign in, as if its attempt
    /// had been refused, without using up an attempt. Returns `false`, changing nothing,
    /// if it may not start.
    pub(crate) fn hold_for_credentials(&mut self, lane: Lane, error: TransferError) -> bool {
        let held = transition(&self.state, &Input::Start { lane })
            .and_then(|(running, _)| transition(&running, &Input::AuthFailure));
        let Ok((next, _)) = held else {
            return false;
        };
        self.state = next;
        self.last_error = Some(error);
        true
    }

    /// A download's volume has no room for it (`disk_space.rs`): instead of an attempt on
    /// `lane`, it stays queued until `at` with `error` as its reason, as if its attempt
    /// had failed and been given back: no attempt is used up and nothing counts as sent.
    /// Returns `false`, changing nothing, if it may not start.
    pub(crate) fn wait_for_space(
        &mut self,
        lane: Lane,
        error: TransferError,
        at: SystemTime,
    ) -> bool {
        let waits = transition(&self.state, &Input::Start { lane })
            .and_then(|(running, _)| transition(&running, &Input::RetryableFailure));
        let Ok((next, _)) = waits else {
            return false;
        };
        self.state = next;
        self.bytes_sent = 0;
        self.next_attempt_at = at;
        self.last_error = Some(error);
        true
    }

    /// The app's pause, resume, cancel or retry, due `now` if it is queued again. An
    /// attempt the app stops does not use up the retry budget; a retry starts the count
    /// over. `Ok(None)` when it changes nothing (asking again for what already holds);
    /// else the table's effect, which the caller carries out.
    pub(crate) fn control(
        &mut self,
        input: &Input,
        now: SystemTime,
    ) -> Result<Option<Effect>, IllegalTransition> {
        let (next, effect) = transition(&self.state, input)?;
        if next == self.state {
            return Ok(None);
        }
        if let Effect::Abort(_) = effect {
            self.bytes_sent = 0;
            self.attempts = self.attempts.saturating_sub(1);
        }
        self.state = next;
        if matches!(input, Input::Retry) {
            self.attempts = 0;
        }
        if self.state == TransferState::Queued {
            self.next_attempt_at = now;
        }
        Ok(Some(effect))
    }

    /// The app retries many at once (`retry_where`) or gives new credentials (a push
    /// renewing a transfer that waits for them): a failed, paused or credential-waiting
    /// transfer is queued again with a fresh attempt budget, due `now`; a queued one that
    /// waits out a backoff is only made due `now`, its attempts kept. Returns `false`,
    /// changing nothing, in any other state (a running attempt is the actor's).
    ///
    /// Only the store makes this move, set-wise, for many rows in one statement
    /// (`store/bulk.rs`, `store/enqueue.rs`); this is the edge written once, and compiled
    /// for the tests that hold those statements to it.
    #[cfg(test)]
    pub(crate) fn requeue_afresh(&mut self, now: SystemTime) -> bool {
        let input = match self.state {
            TransferState::Queued => {
                self.next_attempt_at = now;
                return true;
            }
            TransferState::Failed => Input::Retry,
            TransferState::Paused | TransferState::AuthRequired => Input::Resume,
            _ => return false,
        };
        let Ok((next, _)) = transition(&self.state, &input) else {
            return false;
        };
        self.state = next;
        self.attempts = 0;
        self.next_attempt_at = now;
        true
    }
}

/// What an attempt's verdict writes on its transfer ([`Transfer::conclude`]).
#[derive(Debug)]
pub(crate) enum Conclusion {
    Succeeded,
    /// Tried again at `at`, with `attempts` used up (`attempt_budget.rs`).
    Retry {
        error: TransferError,
        at: SystemTime,
        attempts: u32,
    },
    Failed(TransferError),
    AuthRequired(TransferError),
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::FailureKind;
    use crate::state::StateKind;

    const SIZE: u64 = 10_000;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    /// A queued transfer of `SIZE` bytes to `h:80`, with `attempts` used.
    pub(crate) fn queued(attempts: u32) -> Transfer {
        Transfer {
            id: TransferId::generate(),
            upload: Upload::put("/src/a", "http://h/a"),
            direction: Direction::Upload,
            download: None,
            saved_as: None,
            state: TransferState::Queued,
            size: SIZE,
            bytes_sent: 0,
            attempts,
            next_attempt_at: at(0),
            last_error: None,
            created_at: at(0),
            updated_at: at(0),
            source_mtime_ns: 0,
            host: "h:80".into(),
            seq: 1,
        }
    }

    fn running(attempts: u32, bytes_sent: u64) -> Transfer {
        let mut transfer = queued(attempts.saturating_sub(1));
        assert_eq!(transfer.start(Lane::InProcess), Some(Lane::InProcess));
        transfer.bytes_sent = bytes_sent;
        transfer
    }

    fn error() -> TransferError {
        TransferError::new(FailureKind::Network, "reset")
    }

    #[test]
    fn a_start_uses_an_attempt_sends_nothing_yet_and_names_the_lane_to_launch_on() {
        let mut transfer = queued(2);
        transfer.bytes_sent = 77;
        let lane = Lane::Platform {
            handoff_key: "k".into(),
        };
        assert_eq!(transfer.start(lane.clone()), Some(lane.clone()));
        assert_eq!(transfer.state, TransferState::Running { lane });
        assert_eq!((transfer.attempts, transfer.bytes_sent), (3, 0));
        let before = transfer.clone();
        assert_eq!(transfer.start(Lane::InProcess), None, "already running");
        assert_eq!(transfer, before, "a refused start changes nothing");
    }

    #[test]
    fn a_requeue_without_verdict_gives_the_attempt_back_drops_its_bytes_and_is_due_now() {
        let mut transfer = running(3, 4_096);
        assert!(transfer.requeue_without_verdict(at(50)));
        assert_eq!(transfer.state, TransferState::Queued);
        assert_eq!(transfer.attempts, 2);
        assert_eq!(
            transfer.bytes_sent, 0,
            "nothing of an interrupted attempt counts"
        );
        assert_eq!(transfer.next_attempt_at, at(50));
        let before = transfer.clone();
        assert!(!transfer.requeue_without_verdict(at(60)), "not running");
        assert_eq!(transfer, before);
    }

    #[test]
    fn each_verdict_writes_its_own_fields() {
        let mut succeeded = running(1, 10);
        succeeded.last_error = Some(error());
        succeeded.conclude(Conclusion::Succeeded).expect("running");
        assert_eq!(succeeded.state, TransferState::Succeeded);
        assert_eq!((succeeded.bytes_sent, succeeded.last_error), (SIZE, None));

        let mut retried = running(4, 10);
        let conclusion = Conclusion::Retry {
            error: error(),
            at: at(9),
            attempts: 0,
        };
        retried.conclude(conclusion).expect("running");
        assert_eq!(retried.state, TransferState::Queued);
        assert_eq!((retried.attempts, retried.bytes_sent), (0, 0));
        assert_eq!(retried.next_attempt_at, at(9));
        assert_eq!(retried.last_error, Some(error()));

        let mut failed = running(2, 10);
        failed
            .conclude(Conclusion::Failed(error()))
            .expect("running");
        assert_eq!(failed.state, TransferState::Failed);
        assert_eq!((failed.attempts, failed.bytes_sent), (2, 10));

        let mut refused = running(2, 10);
        refused
            .conclude(Conclusion::AuthRequired(error()))
            .expect("running");
        assert_eq!(refused.state, TransferState::AuthRequired);
        assert_eq!(refused.last_error, Some(error()));

        let mut idle = queued(0);
        let before = idle.clone();
        assert!(idle.conclude(Conclusion::Succeeded).is_err());
        assert_eq!(
            idle, before,
            "a verdict on a transfer that is not running is refused"
        );
    }

    #[test]
    fn held_for_credentials_a_transfer_waits_without_using_an_attempt() {
        let mut transfer = queued(1);
        assert!(transfer.hold_for_credentials(Lane::InProcess, error()));
        assert_eq!(transfer.state, TransferState::AuthRequired);
        assert_eq!(
            (transfer.attempts, transfer.last_error.clone()),
            (1, Some(error()))
        );
        assert!(!transfer.hold_for_credentials(Lane::InProcess, error()));
    }

    #[test]
    fn waiting_for_space_a_download_stays_queued_with_its_reason_and_its_attempts() {
        let mut transfer = queued(2);
        transfer.bytes_sent = 5;
        let reason = TransferError::new(FailureKind::InsufficientSpace, "full");
        assert!(transfer.wait_for_space(Lane::InProcess, reason.clone(), at(30)));
        assert_eq!(transfer.state, TransferState::Queued);
        assert_eq!((transfer.attempts, transfer.bytes_sent), (2, 0));
        assert_eq!(transfer.next_attempt_at, at(30));
        assert_eq!(transfer.last_error, Some(reason.clone()));
        let mut paused = running(1, 0);
        paused.control(&Input::Pause, at(1)).expect("legal");
        let before = paused.clone();
        assert!(!paused.wait_for_space(Lane::InProcess, reason, at(40)));
        assert_eq!(paused, before, "only a queued transfer waits");
    }

    #[test]
    fn the_app_s_controls_give_back_a_stopped_attempt_and_restart_the_count_on_retry() {
        let mut paused = running(3, 500);
        let effect = paused.control(&Input::Pause, at(7)).expect("legal");
        assert!(matches!(effect, Some(Effect::Abort(Lane::InProcess))));
        assert_eq!(paused.state.kind(), StateKind::Paused);
        assert_eq!((paused.attempts, paused.bytes_sent), (2, 0));
        assert_eq!(paused.control(&Input::Pause, at(8)).expect("legal"), None);

        paused.control(&Input::Resume, at(9)).expect("legal");
        assert_eq!(paused.state, TransferState::Queued);
        assert_eq!((paused.attempts, paused.next_attempt_at), (2, at(9)));

        let mut failed = running(5, 0);
        failed
            .conclude(Conclusion::Failed(error()))
            .expect("running");
        failed.control(&Input::Retry, at(11)).expect("legal");
        assert_eq!((failed.attempts, failed.next_attempt_at), (0, at(11)));

        let mut done = running(1, 0);
        done.conclude(Conclusion::Succeeded).expect("running");
        let before = done.clone();
        let refused = done.control(&Input::Pause, at(12)).expect_err("illegal");
        assert_eq!(refused.from, StateKind::Succeeded);
        assert_eq!(done, before);
    }

    #[test]
    fn a_fresh_requeue_restarts_the_count_except_for_a_queued_transfer_it_only_makes_due() {
        let mut waiting = queued(3);
        waiting.next_attempt_at = at(100);
        assert!(waiting.requeue_afresh(at(20)));
        assert_eq!(
            (
                waiting.state.clone(),
                waiting.attempts,
                waiting.next_attempt_at
            ),
            (TransferState::Queued, 3, at(20)),
            "a queued transfer keeps its budget and is due now"
        );

        for held in [
            TransferState::Failed,
            TransferState::Paused,
            TransferState::AuthRequired,
        ] {
            let mut transfer = queued(4);
            transfer.state = held.clone();
            transfer.last_error = Some(error());
            assert!(transfer.requeue_afresh(at(30)), "{held:?}");
            assert_eq!(transfer.state, TransferState::Queued, "{held:?}");
            assert_eq!((transfer.attempts, transfer.next_attempt_at), (0, at(30)));
            assert_eq!(transfer.last_error, Some(error()), "kept until a success");
        }

        for unmoved in [
            TransferState::Succeeded,
            TransferState::Cancelled,
            TransferState::Running {
                lane: Lane::InProcess,
            },
        ] {
            let mut transfer = queued(2);
            transfer.state = unmoved.clone();
            let before = transfer.clone();
            assert!(!transfer.requeue_afresh(at(40)), "{unmoved:?}");
            assert_eq!(transfer, before);
        }
    }
}
