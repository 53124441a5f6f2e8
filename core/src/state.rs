//! A transfer's life: one enum of states and one pure transition function.
//!
//! ```text
//! Queued --start--> Running{lane} --succeeded--> Succeeded
//!    ^                 |  |  |
//!    |  retryable /    |  |  +--auth failure--> AuthRequired --resume--> Queued
//!    +--interrupted----+  +--permanent failure--> Failed --retry--> Queued
//! Queued/Running/AuthRequired --pause--> Paused --resume--> Queued
//! any state that is not final --cancel--> Cancelled
//! ```
//!
//! [`transition`] decides, and says which side effect the actor must carry out once the new
//! state is durable. It must stay pure: no I/O, no clock, no store. The actor owns timing
//! (when a retry is due) and persistence.

use serde::{Deserialize, Serialize};

/// Where a running transfer's bytes are being moved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lane {
    /// Ferry's own HTTP client, inside the app process.
    InProcess,
    /// An OS background-transfer task, correlated by `handoff_key`.
    Platform {
        /// The key the OS task carries (`<transfer id>.<attempt>.<nonce>`), as given to
        /// the platform service in [`crate::Handoff::key`] and reported back with its
        /// progress and end.
        handoff_key: String,
    },
}

/// The state of one transfer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransferState {
    /// Waiting to run (possibly until a retry time).
    Queued,
    /// An attempt is under way.
    Running {
        /// Where it runs.
        lane: Lane,
    },
    /// Held by the app; runs again after `resume`.
    Paused,
    /// The server accepted the whole file. Final.
    Succeeded,
    /// Failed permanently; `retry` queues it again.
    Failed,
    /// Cancelled by the app. Final.
    Cancelled,
    /// The server refused the credentials; waits for the app to sign in and `resume`.
    AuthRequired,
}

/// The state without its data: used to filter lists and as the stored column. Each
/// variant is the [`TransferState`] of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateKind {
    /// [`TransferState::Queued`].
    Queued,
    /// [`TransferState::Running`], on either lane.
    Running,
    /// [`TransferState::Paused`].
    Paused,
    /// [`TransferState::Succeeded`].
    Succeeded,
    /// [`TransferState::Failed`].
    Failed,
    /// [`TransferState::Cancelled`].
    Cancelled,
    /// [`TransferState::AuthRequired`].
    AuthRequired,
}

impl StateKind {
    /// Every state, in the order reports list them (this order, not alphabetical).
    pub const ALL: [StateKind; 7] = [
        Self::Queued,
        Self::Running,
        Self::Paused,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
        Self::AuthRequired,
    ];

    /// The stable name stored in the database and shown in reports: `queued`,
    /// `running`, `paused`, `succeeded`, `failed`, `cancelled`, `auth_required`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::AuthRequired => "auth_required",
        }
    }

    /// The state named `text` as [`StateKind::as_str`] spells it, or `None` for any other
    /// text (the match is exact: lowercase, with an underscore).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Final states never change again except through an explicit `retry`.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// The stable name, as [`StateKind::as_str`] spells it.
impl std::fmt::Display for StateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TransferState {
    /// This state without its data.
    pub fn kind(&self) -> StateKind {
        match self {
            Self::Queued => StateKind::Queued,
            Self::Running { .. } => StateKind::Running,
            Self::Paused => StateKind::Paused,
            Self::Succeeded => StateKind::Succeeded,
            Self::Failed => StateKind::Failed,
            Self::Cancelled => StateKind::Cancelled,
            Self::AuthRequired => StateKind::AuthRequired,
        }
    }
}

/// Something that happens to a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// The scheduler picked it to run on `lane`.
    Start {
        lane: Lane,
    },
    /// The server accepted the file.
    Succeeded,
    /// The attempt failed but may succeed later.
    RetryableFailure,
    /// The attempt failed in a way no retry can fix.
    PermanentFailure,
    /// The server refused the credentials.
    AuthFailure,
    /// The attempt ended without a verdict (the process stopped, the queue shut down).
    Interrupted,
    Pause,
    Resume,
    Cancel,
    Retry,
}

impl Input {
    pub(crate) fn action_name(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Succeeded => "complete",
            Self::RetryableFailure | Self::PermanentFailure | Self::AuthFailure => "fail",
            Self::Interrupted => "interrupt",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Retry => "retry",
        }
    }
}

/// What the actor must do once the new state is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    None,
    /// Begin an attempt on this lane.
    Launch(Lane),
    /// Stop the attempt running on this lane; its outcome no longer matters.
    Abort(Lane),
}

/// The input is not allowed in the current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IllegalTransition {
    pub from: StateKind,
    pub action: &'static str,
}

/// The whole table of legal transitions.
pub(crate) fn transition(
    state: &TransferState,
    input: &Input,
) -> Result<(TransferState, Effect), IllegalTransition> {
    use TransferState as S;
    let next = match (state, input) {
        (S::Queued, Input::Start { lane }) => (
            S::Running { lane: lane.clone() },
            Effect::Launch(lane.clone()),
        ),
        (S::Running { .. }, Input::Succeeded) => (S::Succeeded, Effect::None),
        (S::Running { .. }, Input::RetryableFailure | Input::Interrupted) => {
            (S::Queued, Effect::None)
        }
        (S::Running { .. }, Input::PermanentFailure) => (S::Failed, Effect::None),
        (S::Running { .. }, Input::AuthFailure) => (S::AuthRequired, Effect::None),
        (S::Running { lane }, Input::Pause) => (S::Paused, Effect::Abort(lane.clone())),
        (S::Running { lane }, Input::Cancel) => (S::Cancelled, Effect::Abort(lane.clone())),
        (S::Queued | S::AuthRequired, Input::Pause) => (S::Paused, Effect::None),
        (S::Paused | S::AuthRequired, Input::Resume) => (S::Queued, Effect::None),
        (S::Queued | S::Paused | S::AuthRequired, Input::Cancel) => (S::Cancelled, Effect::None),
        (S::Failed, Input::Retry) => (S::Queued, Effect::None),
        // Asking again for what already holds is harmless and common in UIs.
        (S::Paused, Input::Pause) | (S::Queued, Input::Resume) => (state.clone(), Effect::None),
        (S::Cancelled, Input::Cancel) => (S::Cancelled, Effect::None),
        _ => {
            return Err(IllegalTransition {
                from: state.kind(),
                action: input.action_name(),
            });
        }
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Lane {
        Lane::Platform {
            handoff_key: "k1".into(),
        }
    }

    fn all_states() -> Vec<TransferState> {
        vec![
            TransferState::Queued,
            TransferState::Running {
                lane: Lane::InProcess,
            },
            TransferState::Running { lane: platform() },
            TransferState::Paused,
            TransferState::Succeeded,
            TransferState::Failed,
            TransferState::Cancelled,
            TransferState::AuthRequired,
        ]
    }

    fn all_inputs() -> Vec<Input> {
        vec![
            Input::Start {
                lane: Lane::InProcess,
            },
            Input::Succeeded,
            Input::RetryableFailure,
            Input::PermanentFailure,
            Input::AuthFailure,
            Input::Interrupted,
            Input::Pause,
            Input::Resume,
            Input::Cancel,
            Input::Retry,
        ]
    }

    #[test]
    fn the_happy_path_runs_queued_to_succeeded() {
        let (running, effect) = transition(
            &TransferState::Queued,
            &Input::Start {
                lane: Lane::InProcess,
            },
        )
        .expect("start");
        assert_eq!(effect, Effect::Launch(Lane::InProcess));
        let (done, effect) = transition(&running, &Input::Succeeded).expect("succeed");
        assert_eq!(done, TransferState::Succeeded);
        assert_eq!(effect, Effect::None);
    }

    #[test]
    fn pausing_or_cancelling_a_running_transfer_aborts_its_lane() {
        let running = TransferState::Running { lane: platform() };
        assert_eq!(
            transition(&running, &Input::Pause),
            Ok((TransferState::Paused, Effect::Abort(platform())))
        );
        assert_eq!(
            transition(&running, &Input::Cancel),
            Ok((TransferState::Cancelled, Effect::Abort(platform())))
        );
    }

    #[test]
    fn final_states_accept_nothing_but_retry_of_a_failure_and_repeated_cancel() {
        for state in all_states().into_iter().filter(|s| s.kind().is_final()) {
            for input in all_inputs() {
                let allowed = matches!(
                    (&state, &input),
                    (TransferState::Failed, Input::Retry)
                        | (TransferState::Cancelled, Input::Cancel)
                );
                assert_eq!(
                    transition(&state, &input).is_ok(),
                    allowed,
                    "{state:?} + {input:?}"
                );
            }
        }
    }

    #[test]
    fn only_running_transfers_receive_attempt_outcomes() {
        let outcomes = [
            Input::Succeeded,
            Input::RetryableFailure,
            Input::PermanentFailure,
            Input::AuthFailure,
            Input::Interrupted,
        ];
        for state in all_states() {
            for input in &outcomes {
                let is_running = state.kind() == StateKind::Running;
                assert_eq!(
                    transition(&state, input).is_ok(),
                    is_running,
                    "{state:?} + {input:?}"
                );
            }
        }
    }

    #[test]
    fn only_queued_transfers_start() {
        for state in all_states() {
            let result = transition(
                &state,
                &Input::Start {
                    lane: Lane::InProcess,
                },
            );
            assert_eq!(result.is_ok(), state == TransferState::Queued, "{state:?}");
        }
    }

    #[test]
    fn auth_required_waits_for_resume_and_is_not_final() {
        assert!(!StateKind::AuthRequired.is_final());
        assert_eq!(
            transition(&TransferState::AuthRequired, &Input::Resume),
            Ok((TransferState::Queued, Effect::None))
        );
        assert!(transition(&TransferState::AuthRequired, &Input::Retry).is_err());
    }

    #[test]
    fn retryable_failures_and_interruptions_requeue() {
        let running = TransferState::Running {
            lane: Lane::InProcess,
        };
        for input in [Input::RetryableFailure, Input::Interrupted] {
            assert_eq!(
                transition(&running, &input),
                Ok((TransferState::Queued, Effect::None))
            );
        }
    }

    #[test]
    fn state_kinds_round_trip_through_their_stored_names() {
        for kind in StateKind::ALL {
            assert_eq!(StateKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(StateKind::parse("bogus"), None);
    }
}
