//! What waits for each host: the store's half of [`crate::HostStatus`].
//!
//! What it is for: one pass over the queued and running transfers, grouped by host, and
//! the most recent failure recorded for a host's queued transfers. Read on demand (the
//! app's `host_status`, a `QueueStalled` report), never on the scheduling path.
//!
//! What it must never do: write, or read the transfers of finished states.

use rusqlite::{Connection, OptionalExtension};

use super::transfers::stored_error;
use crate::error::TransferError;

/// Queued and running transfers of one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostBacklog {
    pub host: String,
    pub queued: u64,
    pub running: u64,
    /// The earliest retry time of its queued transfers (ms since the epoch).
    pub next_attempt_ms: Option<i64>,
    /// The failure most recently recorded for one of its queued transfers.
    pub last_error: Option<TransferError>,
}

/// Every host with queued or running transfers, by name.
pub(crate) fn host_backlogs(conn: &Connection) -> rusqlite::Result<Vec<HostBacklog>> {
    let mut statement = conn.prepare_cached(
        "SELECT host, SUM(state = 'queued'), SUM(state = 'running'), \
                MIN(CASE WHEN state = 'queued' THEN next_attempt_at END) \
         FROM transfers WHERE state IN ('queued', 'running') GROUP BY host ORDER BY host",
    )?;
    let rows = statement.query_map([], |row| {
        let count = |column: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(row.get::<_, i64>(column)?).unwrap_or(0))
        };
        Ok(HostBacklog {
            host: row.get(0)?,
            queued: count(1)?,
            running: count(2)?,
            next_attempt_ms: row.get(3)?,
            last_error: None,
        })
    })?;
    let mut backlogs = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for backlog in &mut backlogs {
        backlog.last_error = last_error_of(conn, &backlog.host)?;
    }
    Ok(backlogs)
}

fn last_error_of(conn: &Connection, host: &str) -> rusqlite::Result<Option<TransferError>> {
    conn.prepare_cached(
        "SELECT error_kind, error_status, error_message FROM transfers \
         WHERE state = 'queued' AND host = ? AND error_kind IS NOT NULL \
         ORDER BY updated_at DESC LIMIT 1",
    )?
    .query_row([host], |row| stored_error(row, 0))
    .optional()
    .map(Option::flatten)
}
