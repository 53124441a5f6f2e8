//! The reads only a snapshot makes (`snapshot.rs`): the newest record of each file, the
//! queued transfers that are due soonest, and a group's records by state; each of the
//! whole queue or of one group.
//!
//! What it is for: telling a file's current fate from its history. Each run of a push
//! that finds a file's last transfer failed or cancelled enqueues a new one for the same
//! source and destination, so a file that failed once and was uploaded later has two
//! records; the newest is the one that counts.
//!
//! What it must never do: write, or run on the scheduling path (the newest-record query
//! reads every row).

use rusqlite::{Connection, params};

use super::row::{corrupt, text, to_i64};
use super::totals::StateTotals;
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
    /// Whether the file is fetched (a download) rather than sent.
    pub download: bool,
}

/// The newest record of every file, in enqueue order; only the records of `group` when
/// one is given. A file is its source and destination (whatever the method): the record
/// enqueued last wins. One pass over the table (or the group) and one sort (no index
/// holds source and destination).
pub(crate) fn newest_record_of_each_file(
    conn: &Connection,
    group: Option<&str>,
) -> rusqlite::Result<Vec<NewestRecord>> {
    // With `max()`, SQLite takes the bare columns (state, size) from the row that holds
    // the maximum: https://www.sqlite.org/lang_select.html#bareagg
    let mut statement = conn.prepare(
        "SELECT max(seq), state, size, direction = 'download' FROM transfers WHERE ?1 IS NULL OR group_name = ?1 \
         GROUP BY source, destination",
    )?;
    let rows = statement.query_map([group], |row| {
        let name = text(row, 1)?;
        let size: i64 = row.get(2)?;
        Ok(NewestRecord {
            seq: row.get(0)?,
            state: StateKind::parse(name)
                .ok_or_else(|| corrupt(1, format!("unknown state {name:?}")))?,
            size: u64::try_from(size).map_err(|_| corrupt(2, "negative size"))?,
            download: row.get(3)?,
        })
    })?;
    let mut newest = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    newest.sort_unstable_by_key(|record| record.seq);
    Ok(newest)
}

/// Queued transfers, the soonest due first (then in enqueue order), at most `limit`;
/// only those of `group` when one is given. Walks `transfers_queued_by_due_time`.
pub(crate) fn soonest_due(
    conn: &Connection,
    limit: usize,
    group: Option<&str>,
) -> rusqlite::Result<Vec<Transfer>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM transfers WHERE state = 'queued' \
           AND (?2 IS NULL OR group_name = ?2) \
         ORDER BY next_attempt_at, seq LIMIT ?1"
    ))?;
    let rows = statement.query_map(params![to_i64(limit as u64), group], decode)?;
    rows.collect()
}

/// Every record of `group` by state, as the totals table counts the whole queue. Reads
/// the group's rows through `transfers_by_group`.
pub(crate) fn records_of_group(conn: &Connection, group: &str) -> rusqlite::Result<StateTotals> {
    let mut statement = conn.prepare("SELECT state, size FROM transfers WHERE group_name = ?1")?;
    let mut rows = statement.query([group])?;
    let mut totals = StateTotals::default();
    while let Some(row) = rows.next()? {
        let name = text(row, 0)?;
        let state =
            StateKind::parse(name).ok_or_else(|| corrupt(0, format!("unknown state {name:?}")))?;
        let size: i64 = row.get(1)?;
        totals.add(
            state,
            u64::try_from(size).map_err(|_| corrupt(1, "negative size"))?,
        );
    }
    Ok(totals)
}
