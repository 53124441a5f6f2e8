//! Reconciliation at open: the store's `Running{Platform}` records against the OS's own
//! list of outstanding tasks.
//!
//! Runs once, on the blocking pool, before the actor starts, while the store has no other
//! user. A record whose task the OS still lists is adopted by the actor (its report will
//! come, possibly replayed by the shim right after open). A record whose task the OS no
//! longer lists vanished without a report, which a force-quit can do: it is queued again
//! and resent with the same idempotency key. Without a platform service every such record
//! is queued again, since no one is left to report on it. Temporary bodies of tasks that
//! are not adopted are removed.
//!
//! This module must never start or cancel OS tasks; only the actor's driver does.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::clock::Clock;
use crate::platform::{PlatformTransferService, bodies_dir, remove_stale_bodies};
use crate::state::{Lane, TransferState};
use crate::store::{self, Store};
use crate::{Error, Transfer};

/// Returns the transfers the actor adopts as OS tasks in flight.
pub(crate) fn reconcile_at_open(
    store: &mut Store,
    service: Option<&dyn PlatformTransferService>,
    database_path: &Path,
    clock: Clock,
) -> Result<Vec<Transfer>, Error> {
    let bodies = bodies_dir(database_path);
    let Some(service) = service else {
        let requeued = store::requeue_running(store.connection(), clock.now_ms())
            .map_err(|e| store.error(e))?;
        if requeued > 0 {
            log::info!("no platform service: requeued {requeued} transfers left on OS tasks");
        }
        remove_stale_bodies(&bodies, &HashSet::new());
        return Ok(Vec::new());
    };
    let running = store::running_on_platform(store.connection()).map_err(|e| store.error(e))?;
    let outstanding: Option<HashSet<String>> =
        match catch_unwind(AssertUnwindSafe(|| service.outstanding())) {
            Ok(Ok(keys)) => Some(keys.into_iter().collect()),
            Ok(Err(error)) => {
                log::error!(
                    "the platform service could not list its tasks: {}",
                    error.message
                );
                None
            }
            Err(_) => {
                log::error!("the platform service panicked listing its tasks");
                None
            }
        };
    let Some(outstanding) = outstanding else {
        log::error!("keeping every record of an OS task until the OS lists its tasks");
        let live = running
            .iter()
            .filter_map(handoff_key)
            .map(str::to_owned)
            .collect();
        remove_stale_bodies(&bodies, &live);
        return Ok(running);
    };
    let (adopted, vanished): (Vec<Transfer>, Vec<Transfer>) = running
        .into_iter()
        .partition(|transfer| handoff_key(transfer).is_some_and(|key| outstanding.contains(key)));
    requeue_vanished(store.connection(), vanished, clock).map_err(|e| store.error(e))?;
    let live = adopted
        .iter()
        .filter_map(handoff_key)
        .map(str::to_owned)
        .collect();
    let removed = remove_stale_bodies(&bodies, &live);
    log::info!(
        "reconciled with the OS: {} tasks still running, {removed} stale bodies removed",
        adopted.len()
    );
    Ok(adopted)
}

/// Queues again, in one transaction, transfers whose OS task is gone. The lost attempt
/// does not use up the retry budget.
fn requeue_vanished(
    conn: &mut rusqlite::Connection,
    vanished: Vec<Transfer>,
    clock: Clock,
) -> rusqlite::Result<()> {
    let now_ms = clock.now_ms();
    let tx = conn.transaction()?;
    let mut totals = store::TotalsDelta::default();
    for mut transfer in vanished {
        if transfer.requeue_without_verdict(clock.now()) {
            store::save(&tx, &transfer, now_ms, &mut totals)?;
        }
    }
    store::apply_totals(&tx, &totals)?;
    tx.commit()
}

fn handoff_key(transfer: &Transfer) -> Option<&str> {
    match &transfer.state {
        TransferState::Running {
            lane: Lane::Platform { handoff_key },
        } => Some(handoff_key),
        _ => None,
    }
}
