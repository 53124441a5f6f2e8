//! Keeping the app running for Ferry's own transfers (`PlatformPolicy::keep_app_running`;
//! on Android 14+ one user-initiated data-transfer job, os-model.md rule 15).
//!
//! Such a job must be scheduled while the app is visible, is exempt from the standby
//! buckets' quotas and from Doze, and keeps the process alive until it ends. So with work
//! queued in the foreground Ferry asks for it once; while it is asked for or kept, every
//! transfer runs in-process (`LanePolicy::kept_alive`), in the background as in the
//! foreground, with Ferry's own limits, packing and retries, instead of waiting for the
//! OS's job windows. When nothing is left to do, or the queue shuts down, Ferry lets the
//! app stop. A refusal, or the OS ending it (the user's Stop, lost constraints), hands
//! work to the OS lane as without it, and Ferry does not ask again until the app next
//! comes to the foreground.
//!
//! A sub-state: it decides, the engine asks (`engine.rs` `keep_app_running_as_needed`).
//! It must never ask while the app is not in the foreground (the OS refuses, and counts
//! it), nor hold the keep-alive with nothing left to do.

use super::effects::KeepAliveRequest;
use crate::conditions::AppState;

/// Where the keep-alive stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Stage {
    /// Not asked for (or let go after the work was done): asked for when work is queued
    /// in the foreground.
    #[default]
    NotAsked,
    /// Asked for; the service's answer is on its way.
    Asking,
    /// Granted: the app runs until Ferry lets it stop.
    Kept,
    /// Refused, or ended by the OS: not asked for again until the app next comes to the
    /// foreground.
    Declined,
}

/// The keep-alive's stage, and how many asks still wait for their answer: the driver
/// answers them in order, so only the answer to the last ask decides (an ask let go
/// before its answer came has had its `let_app_stop` queued behind it).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeepAlive {
    stage: Stage,
    answers_due: u32,
}

/// What a turn knows that the decision depends on.
pub(super) struct TurnFacts {
    pub app_state: AppState,
    /// The queue is shutting down.
    pub stopping: bool,
    /// No attempt is in flight on either lane.
    pub nothing_in_flight: bool,
}

impl KeepAlive {
    /// Whether every transfer runs in-process now: kept, or asked for (so that the turn
    /// that asks does not hand work to the OS a moment before the answer).
    pub(super) fn keeps_transfers_in_process(&self) -> bool {
        matches!(self.stage, Stage::Asking | Stage::Kept)
    }

    /// What to ask the service this turn, if anything. `remaining_bytes` reads the bytes of
    /// queued and running transfers (`None`: there are none); it is read only when the
    /// decision needs it.
    pub(super) fn decide<E>(
        &mut self,
        facts: &TurnFacts,
        remaining_bytes: impl FnOnce() -> Result<Option<u64>, E>,
    ) -> Result<Option<KeepAliveRequest>, E> {
        if facts.stopping {
            return Ok(self.let_go(Stage::NotAsked));
        }
        match self.stage {
            Stage::NotAsked if facts.app_state == AppState::Foreground => {
                let Some(remaining_bytes) = remaining_bytes()? else {
                    return Ok(None);
                };
                log::debug!("asking the platform to keep the app running");
                self.stage = Stage::Asking;
                self.answers_due += 1;
                Ok(Some(KeepAliveRequest::KeepRunning { remaining_bytes }))
            }
            Stage::Kept if facts.nothing_in_flight && remaining_bytes()?.is_none() => {
                Ok(self.let_go(Stage::NotAsked))
            }
            _ => Ok(None),
        }
    }

    /// The service's answer to the oldest ask still due. Only the last ask's answer
    /// decides; an earlier one (for an ask already let go) changes nothing.
    pub(super) fn answered(&mut self, granted: Result<(), String>) {
        self.answers_due = self.answers_due.saturating_sub(1);
        if self.answers_due > 0 || self.stage != Stage::Asking {
            return;
        }
        match granted {
            Ok(()) => {
                log::debug!("the platform keeps the app running");
                self.stage = Stage::Kept;
            }
            Err(message) => {
                log::info!("the platform will not keep the app running: {message}");
                self.stage = Stage::Declined;
            }
        }
    }

    /// The OS ended the keep-alive: the OS lane takes the work from now on. Ferry lets go
    /// as well, so that a shim which has since started another one (an end reported late)
    /// ends that too: the shim and Ferry never disagree about a running job. Word about
    /// one Ferry already let go changes nothing.
    pub(super) fn ended(&mut self) -> Option<KeepAliveRequest> {
        let request = self.let_go(Stage::Declined);
        if request.is_some() {
            log::info!("the OS stopped keeping the app running; the OS lane takes the work");
        }
        request
    }

    /// The app came to the foreground: a declined keep-alive may be asked for again.
    pub(super) fn came_to_foreground(&mut self) {
        if self.stage == Stage::Declined {
            self.stage = Stage::NotAsked;
        }
    }

    /// Lets go of a keep-alive kept or asked for, moving to `next` (the service ignores
    /// a `let_app_stop` when nothing runs).
    fn let_go(&mut self, next: Stage) -> Option<KeepAliveRequest> {
        if !self.keeps_transfers_in_process() {
            return None;
        }
        log::debug!("letting the app stop");
        self.stage = next;
        Some(KeepAliveRequest::LetStop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(app_state: AppState) -> TurnFacts {
        TurnFacts {
            app_state,
            stopping: false,
            nothing_in_flight: true,
        }
    }

    fn no_error<T>(value: T) -> Result<T, ()> {
        Ok(value)
    }

    #[test]
    fn asked_only_in_the_foreground_with_work_and_let_go_when_none_is_left() {
        let mut keep_alive = KeepAlive::default();
        let background = facts(AppState::Background);
        assert_eq!(
            keep_alive.decide(&background, || no_error(Some(5))),
            Ok(None)
        );
        let foreground = facts(AppState::Foreground);
        assert_eq!(keep_alive.decide(&foreground, || no_error(None)), Ok(None));
        assert_eq!(
            keep_alive.decide(&foreground, || no_error(Some(5))),
            Ok(Some(KeepAliveRequest::KeepRunning { remaining_bytes: 5 }))
        );
        assert!(keep_alive.keeps_transfers_in_process(), "while asking");
        keep_alive.answered(Ok(()));
        assert_eq!(keep_alive.stage, Stage::Kept);
        assert_eq!(
            keep_alive.decide(&background, || no_error(Some(1))),
            Ok(None)
        );
        assert_eq!(
            keep_alive.decide(&background, || no_error(None)),
            Ok(Some(KeepAliveRequest::LetStop))
        );
        assert_eq!(keep_alive.stage, Stage::NotAsked);
    }

    #[test]
    fn a_refusal_or_an_end_is_not_asked_again_until_the_next_foreground() {
        let foreground = facts(AppState::Foreground);
        for end in [
            |k: &mut KeepAlive| k.answered(Err("no".into())),
            |k: &mut KeepAlive| {
                k.answered(Ok(()));
                assert_eq!(k.ended(), Some(KeepAliveRequest::LetStop));
            },
        ] {
            let mut keep_alive = KeepAlive::default();
            assert!(keep_alive.decide(&foreground, || no_error(Some(5))).is_ok());
            end(&mut keep_alive);
            assert_eq!(keep_alive.stage, Stage::Declined);
            assert!(!keep_alive.keeps_transfers_in_process());
            assert_eq!(
                keep_alive.decide(&foreground, || no_error(Some(5))),
                Ok(None)
            );
            keep_alive.came_to_foreground();
            assert!(matches!(
                keep_alive.decide(&foreground, || no_error(Some(5))),
                Ok(Some(KeepAliveRequest::KeepRunning { .. }))
            ));
        }
    }

    #[test]
    fn stopping_lets_go_of_one_asked_for_and_a_late_grant_or_end_changes_nothing() {
        let mut keep_alive = KeepAlive::default();
        let foreground = facts(AppState::Foreground);
        assert!(keep_alive.decide(&foreground, || no_error(Some(5))).is_ok());
        let stopping = TurnFacts {
            stopping: true,
            ..facts(AppState::Foreground)
        };
        assert_eq!(
            keep_alive.decide(&stopping, || no_error(Some(5))),
            Ok(Some(KeepAliveRequest::LetStop))
        );
        keep_alive.answered(Ok(()));
        assert_eq!(keep_alive.ended(), None);
        assert_eq!(keep_alive.stage, Stage::NotAsked);
        assert_eq!(keep_alive.decide(&stopping, || no_error(Some(5))), Ok(None));
    }

    #[test]
    fn only_the_last_asks_answer_decides() {
        let foreground = facts(AppState::Foreground);
        let mut keep_alive = KeepAlive::default();
        assert!(keep_alive.decide(&foreground, || no_error(Some(5))).is_ok());
        // The OS ends it before its grant was heard: let go, then asked again.
        assert_eq!(keep_alive.ended(), Some(KeepAliveRequest::LetStop));
        keep_alive.came_to_foreground();
        assert!(keep_alive.decide(&foreground, || no_error(Some(5))).is_ok());
        keep_alive.answered(Ok(()));
        assert_eq!(keep_alive.stage, Stage::Asking, "the first ask's grant");
        keep_alive.answered(Err("not visible".into()));
        assert_eq!(
            keep_alive.stage,
            Stage::Declined,
            "the second ask's refusal"
        );
    }
}
