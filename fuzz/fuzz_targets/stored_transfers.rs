//! Rows of `transfers` and `state_totals` holding anything a damaged or foreign database
//! may hold, read by the store's decoders and written back by its writers
//! (`ferry::fuzzing::transfers`).
//!
//! Checks: no panic (a row that does not decode is a typed error); when every row decodes,
//! the lists by state partition the whole, `load` and `load_by_seq` read what `list` read,
//! a transfer saved unchanged reads back the same; and the totals the writers keep match
//! a scan of the rows.

#![no_main]

use std::time::UNIX_EPOCH;

use ferry::fuzzing::{StoredState, transfers};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|state: StoredState| {
    let Ok(report) = transfers(&state, scratch::dir()) else {
        return;
    };
    if let Some(Ok(all)) = &report.listed {
        let by_state: usize = report.listed_by_state.iter().map(|(_, of)| of.len()).sum();
        assert_eq!(
            by_state,
            all.len(),
            "the lists by state do not add up to the whole"
        );
        for (kind, of_kind) in &report.listed_by_state {
            assert!(
                of_kind
                    .iter()
                    .all(|transfer| transfer.state.kind() == *kind)
            );
        }
        for (transfer, (by_id, by_seq)) in all.iter().zip(&report.loaded) {
            assert_eq!(by_id.as_ref(), Some(transfer), "load by id");
            assert_eq!(by_seq.as_ref(), Some(transfer), "load by row key");
        }
        for (transfer, reloaded) in all.iter().zip(&report.saved_and_reloaded) {
            let mut expected = transfer.clone();
            expected.updated_at = UNIX_EPOCH; // `save` stamps its own time (0 here)
            assert_eq!(
                reloaded.as_ref(),
                Some(&expected),
                "saved unchanged, read back"
            );
        }
    }
    if report.totals_kept
        && let Some((held, counted)) = &report.totals
    {
        assert_eq!(held, counted, "the totals no longer match the rows");
    }
});
