//! Rows of `transfers` and `state_totals` holding anything a damaged or foreign database
//! may hold, read by the store's decoders and written back by its writers
//! (`ferry::fuzzing::transfers`).
//!
//! Checks: no panic (a row that does not decode is a typed error); when every row decodes,
//! the lists by state partition the whole, `load` and `load_by_seq` read what `list` read,
//! a transfer saved unchanged reads back the same, and the backlog per host counts the
//! queued and running transfers; a host with a due transfer has one for its probe; and
//! the totals the writers keep match a scan of the rows.

#![no_main]

use std::time::UNIX_EPOCH;

use ferry::StateKind;
use ferry::fuzzing::{StoredState, transfers};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|state: StoredState| {
    let Ok(report) = transfers(&state, scratch::dir()) else {
        return;
    };
    for (host, probe) in &report.probes {
        if let Ok(found) = probe {
            assert_eq!(
                found.as_ref(),
                Some(host),
                "{host:?} has a due transfer but its probe found none"
            );
        }
    }
    if let Some(Ok(all)) = &report.listed {
        if let Some((queued, running)) = report.backlog {
            let count = |kind: StateKind| {
                all.iter()
                    .filter(|transfer| transfer.state.kind() == kind)
                    .count() as u64
            };
            assert_eq!(
                (queued, running),
                (count(StateKind::Queued), count(StateKind::Running)),
                "the backlog per host does not count the queued and running transfers"
            );
        }
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
