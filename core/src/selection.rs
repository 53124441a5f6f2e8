//! [`Selection`]: which transfers a bulk call acts on (`cancel_where`, `retry_where`,
//! `purge_where`), and which states each of those calls can act on at all.
//!
//! This module only describes and checks a selection; it must never touch the store or
//! decide what happens to a transfer (the actor does, through `store/bulk.rs`).

use crate::Error;
use crate::state::StateKind;

/// Which transfers a bulk call acts on: those in one of `states` (every state the call
/// acts on, when empty) whose destination starts with `destination_prefix` (any
/// destination, when `None`) and that are in `group` (any group or none, when `None`).
/// [`crate::TransferQueue::list_where`] lists by it too (every state, when empty).
///
/// The prefix is compared literally, character by character: `%` and `_` are plain
/// characters, not wildcards, and a percent-encoded name matches only as it is stored
/// (`https://h/a%20b/` selects what was enqueued to `https://h/a%20b/...`).
///
/// Not `#[non_exhaustive]`, so that it can be built with struct-update syntax; fields may
/// be added in a minor version, so build it as `Selection { field: value, ..Selection::default() }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The states selected; empty for every state the call acts on.
    pub states: Vec<StateKind>,
    /// The text selected destinations start with; `None` for any destination.
    pub destination_prefix: Option<String>,
    /// The group selected transfers were enqueued in ([`crate::Upload::group`], compared
    /// exactly); `None` for any group, and for transfers in none.
    pub group: Option<String>,
}

impl Selection {
    /// Every transfer the call can act on.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only transfers in one of `states`.
    pub fn in_states(states: impl IntoIterator<Item = StateKind>) -> Self {
        Self {
            states: states.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Only transfers whose destination starts with `prefix`.
    pub fn with_destination_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.destination_prefix = Some(prefix.into());
        self
    }

    /// Only transfers enqueued in `group` ([`crate::Upload::with_group`]).
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The states `action` acts on within this selection, each once: all it can act on
    /// when none are named. A named state it cannot act on is refused, so a mistaken
    /// selection is never silently ignored.
    pub(crate) fn states_for(&self, action: BulkAction) -> Result<Vec<StateKind>, Error> {
        let acts_on = action.acts_on();
        if self.states.is_empty() {
            return Ok(acts_on.to_vec());
        }
        let mut states: Vec<StateKind> = Vec::with_capacity(acts_on.len());
        for &state in &self.states {
            if !acts_on.contains(&state) {
                return Err(Error::InvalidSelection {
                    action: action.name(),
                    state,
                    acts_on: acts_on
                        .iter()
                        .map(|kind| kind.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            if !states.contains(&state) {
                states.push(state);
            }
        }
        Ok(states)
    }
}

/// What a bulk call does to the transfers it selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BulkAction {
    /// Cancel for good; running attempts are stopped.
    Cancel,
    /// Queue again with a fresh attempt budget, or make a waiting retry due now.
    Retry,
    /// Delete finished records.
    Purge,
}

impl BulkAction {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Retry => "retry",
            Self::Purge => "purge",
        }
    }

    /// Every state this action changes.
    pub(crate) fn acts_on(self) -> &'static [StateKind] {
        match self {
            Self::Cancel => &[
                StateKind::Queued,
                StateKind::Running,
                StateKind::Paused,
                StateKind::AuthRequired,
            ],
            Self::Retry => &[
                StateKind::Queued,
                StateKind::Paused,
                StateKind::Failed,
                StateKind::AuthRequired,
            ],
            Self::Purge => &[
                StateKind::Succeeded,
                StateKind::Failed,
                StateKind::Cancelled,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_states_means_every_state_the_action_acts_on() {
        let all = Selection::all();
        assert_eq!(
            all.states_for(BulkAction::Purge).expect("purge"),
            [
                StateKind::Succeeded,
                StateKind::Failed,
                StateKind::Cancelled
            ]
        );
        assert!(
            !all.states_for(BulkAction::Cancel)
                .expect("cancel")
                .contains(&StateKind::Succeeded)
        );
    }

    #[test]
    fn a_state_the_action_cannot_change_is_refused_with_what_it_can() {
        let error = Selection::in_states([StateKind::Queued])
            .states_for(BulkAction::Purge)
            .expect_err("queued records are never purged");
        let message = error.to_string();
        assert!(message.contains("cannot purge"), "{message}");
        assert!(
            message.contains("succeeded, failed, cancelled"),
            "{message}"
        );
        assert!(
            Selection::in_states([StateKind::Running])
                .states_for(BulkAction::Retry)
                .is_err()
        );
    }

    #[test]
    fn repeated_states_count_once() {
        let states = Selection::in_states([StateKind::Failed, StateKind::Failed])
            .states_for(BulkAction::Retry)
            .expect("retry");
        assert_eq!(states, [StateKind::Failed]);
    }
}
