//! What a failed attempt costs: whether it uses up one of `RetryPolicy::max_attempts`, and
//! where the backoff before the next one starts.
//!
//! Progress is not failure. A resumable upload cut every 60 MB still moves forward with
//! every attempt; counting those attempts ended a big file `AttemptsExhausted` although
//! each of them advanced, with backoffs growing toward `max_delay` (issue 23, point 12).
//! So, as tus-js-client does (`lib/upload.ts`, `_emitError`: `_retryAttempt = 0` when the
//! offset grew since the last retry), an attempt that moved its transfer forward starts
//! the count over and its retry waits only the base backoff.
//!
//! Unlike tus-js-client, progress is bounded, so a server that takes a few bytes per
//! connection cannot keep a transfer alive forever: an advance counts only if it is at
//! least [`MIN_CREDITED_ADVANCE`], and a transfer is credited at most its own size in all
//! ([`credit_for_advance`]). With offsets that only grow, every credited attempt moved a
//! mebibyte of the file; a server that loses what it took (offsets that go back) earns
//! credit for at most one file's worth, then its attempts count again.
//!
//! An attempt this process could not even start for lack of file descriptors
//! (`EMFILE`/`ENFILE`) reached no server: it does not count either, and waits the base
//! backoff, so a transfer waits out a descriptor shortage instead of failing.
//!
//! Pure: no I/O, no clock, no store. The facts come in as arguments; the actor gathers them
//! (`actor/attempt_charge.rs`). It must never decide *whether* to retry (`classify`) or how
//! long a backoff is (`retry`).

/// The smallest advance of a resumable upload's confirmed offset, in one attempt, that
/// counts as progress. Far above what a server that accepts "a few bytes" per connection
/// moves, far below what any real network moves between two cuts.
pub(crate) const MIN_CREDITED_ADVANCE: u64 = 1024 * 1024;

/// What the actor knows of a failed attempt besides its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    /// An ordinary failure: it uses up an attempt.
    Counted,
    /// The attempt moved the transfer forward (credited by [`credit_for_advance`]): the
    /// count starts over.
    MovedForward,
    /// Nothing reached a server: this process lacked a file descriptor for the source or a
    /// socket.
    NotCounted,
}

/// What a retryable failure leaves of the transfer's attempt budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AfterFailure {
    /// The transfer's attempt count from now on.
    pub attempts: u32,
    /// No attempt is left: the transfer fails with `AttemptsExhausted`.
    pub exhausted: bool,
    /// The attempt number the backoff is computed for (`retry::backoff`): 1 is the base.
    pub backoff_attempt: u32,
}

/// The budget after a retryable failure of attempt number `attempts` (counted when it
/// started), with `max_attempts` allowed.
pub(crate) fn after_retryable_failure(
    attempts: u32,
    max_attempts: u32,
    charge: Charge,
) -> AfterFailure {
    match charge {
        Charge::Counted => AfterFailure {
            attempts,
            exhausted: attempts >= max_attempts,
            backoff_attempt: attempts,
        },
        Charge::MovedForward => AfterFailure {
            attempts: 0,
            exhausted: false,
            backoff_attempt: 1,
        },
        Charge::NotCounted => AfterFailure {
            attempts: attempts.saturating_sub(1),
            exhausted: false,
            backoff_attempt: 1,
        },
    }
}

/// How many bytes of an attempt's advance, from the confirmed offset `from` at its launch
/// to `to` at its end, count as progress for a transfer of `size` bytes that was already
/// credited `credited` bytes: all of them if the advance is at least
/// [`MIN_CREDITED_ADVANCE`] and stays within the file's size in all, else none (`None`).
pub(crate) fn credit_for_advance(from: u64, to: u64, size: u64, credited: u64) -> Option<u64> {
    let advance = to.checked_sub(from)?;
    let within_budget = credited
        .checked_add(advance)
        .is_some_and(|total| total <= size);
    (advance >= MIN_CREDITED_ADVANCE && within_budget).then_some(advance)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn a_counted_failure_uses_up_an_attempt_and_backs_off_further() {
        assert_eq!(
            after_retryable_failure(3, 25, Charge::Counted),
            AfterFailure {
                attempts: 3,
                exhausted: false,
                backoff_attempt: 3
            }
        );
        assert!(after_retryable_failure(25, 25, Charge::Counted).exhausted);
    }

    #[test]
    fn progress_starts_the_count_and_the_backoff_over_even_at_the_last_attempt() {
        assert_eq!(
            after_retryable_failure(25, 25, Charge::MovedForward),
            AfterFailure {
                attempts: 0,
                exhausted: false,
                backoff_attempt: 1
            }
        );
    }

    #[test]
    fn an_attempt_without_descriptors_is_given_back_and_waits_the_base_backoff() {
        assert_eq!(
            after_retryable_failure(25, 25, Charge::NotCounted),
            AfterFailure {
                attempts: 24,
                exhausted: false,
                backoff_attempt: 1
            }
        );
        assert_eq!(
            after_retryable_failure(0, 25, Charge::NotCounted).attempts,
            0
        );
    }

    #[test]
    fn a_few_bytes_are_not_progress() {
        assert_eq!(credit_for_advance(0, 100, 300 * MIB, 0), None);
        assert_eq!(
            credit_for_advance(10 * MIB, 11 * MIB - 1, 300 * MIB, 0),
            None
        );
        assert_eq!(
            credit_for_advance(10 * MIB, 11 * MIB, 300 * MIB, 0),
            Some(MIB)
        );
    }

    #[test]
    fn an_offset_that_went_back_is_not_progress() {
        assert_eq!(credit_for_advance(60 * MIB, 0, 300 * MIB, 0), None);
    }

    #[test]
    fn a_transfer_is_credited_at_most_its_own_size() {
        let size = 10 * MIB;
        assert_eq!(credit_for_advance(0, 6 * MIB, size, 0), Some(6 * MIB));
        assert_eq!(credit_for_advance(0, 4 * MIB, size, 6 * MIB), Some(4 * MIB));
        // A server that lost what it took and took it again: no more credit.
        assert_eq!(credit_for_advance(0, 4 * MIB, size, 10 * MIB), None);
        assert_eq!(credit_for_advance(0, MIB, size, u64::MAX), None);
    }

    /// However the offsets move, the credited attempts of one transfer are bounded by its
    /// size over the minimum advance.
    #[test]
    fn credited_attempts_are_bounded_by_size_over_the_minimum_advance() {
        let size = 8 * MIB;
        let mut credited = 0;
        let mut credits = 0;
        // A server that takes 2 MiB per attempt and then loses everything, 1,000 times.
        for _ in 0..1000 {
            if let Some(advance) = credit_for_advance(0, 2 * MIB, size, credited) {
                credited += advance;
                credits += 1;
            }
        }
        assert_eq!(credits, 4);
        assert!(credits <= size / MIN_CREDITED_ADVANCE);
    }
}
