//! The reads only a snapshot makes (`snapshot.rs`): the newest record of each file, and
//! the queued transfers that are due soonest.
//!
//! What it is for: telling a file's current fate from its history. Each run of a push
//! that finds a file's last transfer failed or cancelled enqueues a new one for the same
//! source and destination, so a file that failed once and was uploaded later has two
//! records; the newest is the one that counts.
//!
//! What it must never do: write, or run on the scheduling path (the newest-record query
//! reads every row).

use rusqlite::Connection;

use super::row::{corrupt, text, to_i64};
use super::transfers::{COLUMNS, decode};
use crate::Transfer;
use crate::state::StateKind;

/// The newest record of one file (one source and destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewestRecord {
    /// The row's key: the larger, the newer.
    pub seq: i64,
    pub state: StateKind,
    pub size: u64,
}

/// The newest record of every file, in enqueue order. A file is its source and
/// destination (whatever the method): the record enqueued last wins. One pass over the
/// table and one sort (no index holds source and destination).
pub(crate) fn newest_record_of_each_file(conn: &Connection) -> rusqlite::Result<Vec<NewestRecord>> {
    // With `max()`, SQLite takes the bare columns (state, size) from the row that holds
    // the maximum: https://www.sqlite.org/lang_select.html#bareagg
    let mut statement =
        conn.prepare("SELECT max(seq), state, size FROM transfers GROUP BY source, destination")?;
    let rows = statement.query_map([], |row| {
        let name = text(row, 1)?;
        let size: i64 = row.get(2)?;
        Ok(NewestRecord {
            seq: row.get(0)?,
            state: StateKind::parse(name)
                .ok_or_else(|| corrupt(1, format!("unknown state {name:?}")))?,
            size: u64::try_from(size).map_err(|_| corrupt(2, "negative size"))?,
        })
    })?;
    let mut newest = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    newest.sort_unstable_by_key(|record| record.seq);
    Ok(newest)
}

/// Queued transfers, the soonest due first (then in enqueue order), at most `limit`.
/// Walks `transfers_queued_by_due_time`.
pub(crate) fn soonest_due(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Transfer>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM transfers WHERE state = 'queued' \
         ORDER BY next_attempt_at, seq LIMIT ?1"
    ))?;
    let rows = statement.query_map([to_i64(limit as u64)], decode)?;
    rows.collect()
}
