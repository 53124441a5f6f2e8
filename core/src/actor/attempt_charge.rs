//! The facts `attempt_budget.rs` decides on, gathered by the actor: how far each resumable
//! attempt moved its upload's confirmed offset, and whether an attempt is given back (it
//! lacked descriptors, or its download's volume filled up).
//!
//! The offset at launch is what the store held (`actor/resumable.rs` reads it for the
//! launch); the offset at the end is the last checkpoint the actor persisted for the
//! attempt. So "moved forward" means what the store holds now is ahead of what it held
//! before, exactly what the next attempt will resume from. (An attempt cut in the middle of
//! a `PATCH` learns its offset only at the next attempt's `HEAD`: its progress is credited
//! to that attempt, one later, as in tus-js-client.)
//!
//! In memory only, and bounded: a restart forgets the credit given so far, which lets a
//! misbehaving server earn at most one more file's worth per run. It must never touch the
//! store or decide a verdict.

use std::collections::HashMap;

use crate::attempt_budget::{Charge, credit_for_advance};
use crate::classify::given_back;
use crate::outcome::AttemptOutcome;
use crate::{Transfer, TransferId};

/// The most transfers whose attempts or credit are remembered at once (a few hundred KiB).
/// Past it everything is forgotten: that loses the credit of attempts in flight and lets
/// transfers be credited once more, never more than their size each time.
const MAX_TRACKED: usize = 4096;

/// One resumable attempt's confirmed offsets.
struct ResumedAttempt {
    generation: u64,
    at_launch: u64,
    confirmed: u64,
}

/// Resumable attempts in flight, and the credit each transfer was given so far.
#[derive(Default)]
pub(super) struct ProgressLedger {
    attempts: HashMap<TransferId, ResumedAttempt>,
    credited: HashMap<TransferId, u64>,
}

impl ProgressLedger {
    /// A resumable attempt starts; the store holds `offset` for its upload.
    pub(super) fn launched(&mut self, id: &TransferId, generation: u64, offset: u64) {
        if self.attempts.len() >= MAX_TRACKED {
            self.attempts.clear(); // left by attempts paused, cancelled or held back
        }
        self.attempts.insert(
            id.clone(),
            ResumedAttempt {
                generation,
                at_launch: offset,
                confirmed: offset,
            },
        );
    }

    /// The actor persisted `offset` for the attempt `generation` of `id`.
    pub(super) fn confirmed(&mut self, id: &TransferId, generation: u64, offset: u64) {
        if let Some(attempt) = self.attempts.get_mut(id)
            && attempt.generation == generation
        {
            attempt.confirmed = offset;
        }
    }

    /// Whether the attempt `generation` of `id` (still running, or just ended and not yet
    /// charged) moved what the store holds forward at all: its host answered it with
    /// bytes.
    pub(super) fn advanced(&self, id: &TransferId, generation: u64) -> bool {
        self.attempts.get(id).is_some_and(|attempt| {
            attempt.generation == generation && attempt.confirmed > attempt.at_launch
        })
    }

    /// The attempt `generation` of `id` ended: whether it moved the transfer of `size`
    /// bytes forward enough to count as progress (and if so, the credit is taken).
    fn moved_forward(&mut self, id: &TransferId, generation: u64, size: u64) -> bool {
        let Some(attempt) = self.attempts.remove(id) else {
            return false;
        };
        if attempt.generation != generation {
            return false;
        }
        let credited = self.credited.get(id).copied().unwrap_or(0);
        let Some(advance) =
            credit_for_advance(attempt.at_launch, attempt.confirmed, size, credited)
        else {
            return false;
        };
        if self.credited.len() >= MAX_TRACKED {
            self.credited.clear();
        }
        self.credited.insert(id.clone(), credited + advance);
        true
    }

    /// What the attempt `generation` of `transfer` that ended with `outcome` costs it.
    pub(super) fn charge(
        &mut self,
        transfer: &Transfer,
        generation: u64,
        outcome: &AttemptOutcome,
    ) -> Charge {
        let moved_forward = self.moved_forward(&transfer.id, generation, transfer.size);
        if given_back(outcome) {
            Charge::NotCounted
        } else if moved_forward {
            Charge::MovedForward
        } else {
            Charge::Counted
        }
    }

    /// The transfer is done with (sent or cancelled): its credit goes.
    pub(super) fn forget(&mut self, id: &TransferId) {
        if self.attempts.is_empty() && self.credited.is_empty() {
            return; // the common case: no resumable upload anywhere
        }
        self.attempts.remove(id);
        self.credited.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attempt_budget::MIN_CREDITED_ADVANCE;

    const SIZE: u64 = 100 * MIN_CREDITED_ADVANCE;

    #[test]
    fn an_attempt_moves_forward_by_what_the_store_holds_at_its_end() {
        let mut ledger = ProgressLedger::default();
        let id = TransferId::generate();
        ledger.launched(&id, 1, 0);
        ledger.confirmed(&id, 1, 3 * MIN_CREDITED_ADVANCE);
        assert!(ledger.moved_forward(&id, 1, SIZE));
        // Its record is gone: a second report of the same attempt earns nothing.
        assert!(!ledger.moved_forward(&id, 1, SIZE));
    }

    #[test]
    fn an_attempt_advanced_once_a_checkpoint_of_its_own_moved_the_offset() {
        let mut ledger = ProgressLedger::default();
        let id = TransferId::generate();
        ledger.launched(&id, 4, 10);
        assert!(!ledger.advanced(&id, 4));
        ledger.confirmed(&id, 3, 20);
        assert!(!ledger.advanced(&id, 4), "another attempt's checkpoint");
        ledger.confirmed(&id, 4, 11);
        assert!(ledger.advanced(&id, 4));
        assert!(!ledger.advanced(&id, 5));
    }

    #[test]
    fn checkpoints_and_endings_of_another_attempt_do_not_count() {
        let mut ledger = ProgressLedger::default();
        let id = TransferId::generate();
        ledger.launched(&id, 2, 0);
        ledger.confirmed(&id, 1, 3 * MIN_CREDITED_ADVANCE);
        assert!(!ledger.moved_forward(&id, 2, SIZE), "a stale checkpoint");
        ledger.launched(&id, 3, 0);
        ledger.confirmed(&id, 3, 3 * MIN_CREDITED_ADVANCE);
        assert!(!ledger.moved_forward(&id, 2, SIZE), "a stale ending");
    }

    #[test]
    fn forgetting_a_transfer_gives_its_budget_back() {
        let mut ledger = ProgressLedger::default();
        let id = TransferId::generate();
        let size = 2 * MIN_CREDITED_ADVANCE;
        for round in 0..2 {
            ledger.launched(&id, round, 0);
            ledger.confirmed(&id, round, size);
            assert_eq!(ledger.moved_forward(&id, round, size), round == 0);
        }
        ledger.forget(&id);
        ledger.launched(&id, 9, 0);
        ledger.confirmed(&id, 9, size);
        assert!(ledger.moved_forward(&id, 9, size));
    }

    #[test]
    fn the_ledger_stays_bounded() {
        let mut ledger = ProgressLedger::default();
        for generation in 0..(MAX_TRACKED as u64 * 2) {
            ledger.launched(&TransferId::generate(), generation, 0);
        }
        assert!(ledger.attempts.len() <= MAX_TRACKED);
    }
}
