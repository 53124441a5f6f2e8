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
pub(super) enum KeepAlive {
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
    pub(super) fn keeps_transfers_in_process(self) -> bool {
        matches!(self, Self::Asking | Self::Kept)
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
            return Ok(self.let_go());
        }
        match self {
            Self::NotAsked if facts.app_state == AppState::Foreground => {
                let Some(remaining_bytes) = remaining_bytes()? else {
                    return Ok(None);
                };
                log::debug!("asking the platform to keep the app running");
                *self = Self::Asking;
                Ok(Some(KeepAliveRequest::KeepRunning { remaining_bytes }))
            }
            Self::Kept if facts.nothing_in_flight && remaining_bytes()?.is_none() => {
                Ok(self.let_go())
            }
            _ => Ok(None),
        }
    }

    /// The service's answer. A grant for a keep-alive let go while it was asked for needs
    /// nothing: the driver carries the `let_app_stop` sent then after this answer.
    pub(super) fn answered(&mut self, granted: Result<(), String>) {
        if *self != Self::Asking {
            return;
        }
        match granted {
            Ok(()) => {
                log::debug!("the platform keeps the app running");
                *self = Self::Kept;
            }
            Err(message) => {
                log::info!("the platform will not keep the app running: {message}");
                *self = Self::Declined;
            }
        }
    }

    /// The OS ended the keep-alive: the OS lane takes the work from now on. A late word
    /// about one Ferry already let go changes nothing.
    pub(super) fn ended(&mut self) {
        if self.keeps_transfers_in_process() {
            log::info!("the OS stopped keeping the app running; the OS lane takes the work");
            *self = Self::Declined;
        }
    }

    /// The app came to the foreground: a declined keep-alive may be asked for again.
    pub(super) fn came_to_foreground(&mut self) {
        if *self == Self::Declined {
            *self = Self::NotAsked;
        }
    }

    /// Lets go of a keep-alive kept or asked for (the service ignores a `let_app_stop`
    /// after it refused).
    fn let_go(&mut self) -> Option<KeepAliveRequest> {
        if !self.keeps_transfers_in_process() {
            return None;
        }
        log::debug!("letting the app stop");
        *self = Self::NotAsked;
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
        assert_eq!(keep_alive, KeepAlive::Kept);
        assert_eq!(
            keep_alive.decide(&background, || no_error(Some(1))),
            Ok(None)
        );
        assert_eq!(
            keep_alive.decide(&background, || no_error(None)),
            Ok(Some(KeepAliveRequest::LetStop))
        );
        assert_eq!(keep_alive, KeepAlive::NotAsked);
    }

    #[test]
    fn a_refusal_or_an_end_is_not_asked_again_until_the_next_foreground() {
        let foreground = facts(AppState::Foreground);
        for end in [
            |k: &mut KeepAlive| k.answered(Err("no".into())),
            |k: &mut KeepAlive| {
                k.answered(Ok(()));
                k.ended();
            },
        ] {
            let mut keep_alive = KeepAlive::default();
            assert!(keep_alive.decide(&foreground, || no_error(Some(5))).is_ok());
            end(&mut keep_alive);
            assert_eq!(keep_alive, KeepAlive::Declined);
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
        keep_alive.ended();
        assert_eq!(keep_alive, KeepAlive::NotAsked);
        assert_eq!(keep_alive.decide(&stopping, || no_error(Some(5))), Ok(None));
    }
}
