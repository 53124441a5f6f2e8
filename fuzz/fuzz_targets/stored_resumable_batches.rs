//! The resumable upload records and the OS tasks (the members of a packed batch share a
//! lane key) a database holds, with anything a damaged one may hold, through the store's
//! readers and the reconciliation at open (`ferry::fuzzing::resumable_and_batches`).
//!
//! Checks: no panic; a forgotten upload resource is gone; after the reconciliation every
//! transfer still running on the OS is on a task the OS lists (none without a platform
//! service), so a batch is adopted or queued again whole; the totals match the rows.

#![no_main]

use std::collections::HashSet;

use ferry::fuzzing::{StoredState, handoff_key, resumable_and_batches};
use libfuzzer_sys::fuzz_target;

#[path = "scratch.rs"]
mod scratch;

fuzz_target!(|state: StoredState| {
    let Ok(report) = resumable_and_batches(&state, scratch::dir()) else {
        return;
    };
    for (forgotten, left) in &report.resumable {
        if forgotten.is_ok() {
            assert_eq!(
                left,
                &Ok(false),
                "a forgotten upload resource is still stored"
            );
        }
    }
    let Some(Ok(adopted)) = &report.adopted else {
        return;
    };
    let listed: HashSet<&String> = report.outstanding.iter().collect();
    for transfer in adopted {
        let key = handoff_key(transfer);
        assert!(
            key.is_some_and(|key| listed.contains(&key.to_owned())),
            "adopted {key:?} the OS does not list"
        );
    }
    if let Some(running) = &report.running_on_platform {
        for transfer in running {
            let key = handoff_key(transfer);
            assert!(
                key.is_some_and(|key| listed.contains(&key.to_owned())),
                "{key:?} still runs on the OS, which does not list it"
            );
        }
        assert_eq!(
            running.len(),
            adopted.len(),
            "adopted and running on the OS differ"
        );
    }
    if report.totals_kept
        && let Some((held, counted)) = &report.totals
    {
        assert_eq!(held, counted, "the totals no longer match the rows");
    }
});
