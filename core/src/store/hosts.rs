//! What waits for each host: the store's half of [`crate::HostStatus`].
//!
//! What it is for: one pass over the queued and running transfers, grouped by host, and
//! the most recent failure recorded for a host's queued transfers. Read on demand (the
//! app's `host_status`, a `QueueStalled` report, a read-only `QueueSnapshot`, perhaps in
//! another process while this one drives the queue), never on the scheduling path.
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
    /// Of the queued, those whose last attempt failed (they wait for a retry).
    pub queued_after_failure: u64,
    /// The failure most recently recorded for one of its queued transfers.
    pub last_error: Option<TransferError>,
    /// When that failure was recorded (ms since the epoch).
    pub last_error_ms: Option<i64>,
}

/// Every host with queued or running transfers, by name; counting only the transfers of
/// `group` when one is given (a snapshot of one group).
pub(crate) fn host_backlogs(
    conn: &Connection,
    group: Option<&str>,
) -> rusqlite::Result<Vec<HostBacklog>> {
    let mut statement = conn.prepare_cached(
        "SELECT host, SUM(state = 'queued'), SUM(state = 'running'), \
                MIN(CASE WHEN state = 'queued' THEN next_attempt_at END), \
                SUM(state = 'queued' AND error_kind IS NOT NULL) \
         FROM transfers WHERE state IN ('queued', 'running') \
           AND (?1 IS NULL OR group_name = ?1) GROUP BY host ORDER BY host",
    )?;
    let rows = statement.query_map([group], |row| {
        let count = |column: usize| -> rusqlite::Result<u64> {
            Ok(u64::try_from(row.get::<_, i64>(column)?).unwrap_or(0))
        };
        Ok(HostBacklog {
            host: row.get(0)?,
            queued: count(1)?,
            running: count(2)?,
            next_attempt_ms: row.get(3)?,
            queued_after_failure: count(4)?,
            last_error: None,
            last_error_ms: None,
        })
    })?;
    let mut backlogs = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    for backlog in &mut backlogs {
        if let Some((error, at_ms)) = last_error_of(conn, &backlog.host, group)? {
            backlog.last_error = Some(error);
            backlog.last_error_ms = Some(at_ms);
        }
    }
    Ok(backlogs)
}

/// The latest failure stored with a queued transfer to `host` (of `group`, when given),
/// and when it was stored.
fn last_error_of(
    conn: &Connection,
    host: &str,
    group: Option<&str>,
) -> rusqlite::Result<Option<(TransferError, i64)>> {
    conn.prepare_cached(
        "SELECT error_kind, error_status, error_message, updated_at FROM transfers \
         WHERE state = 'queued' AND host = ?1 AND error_kind IS NOT NULL \
           AND (?2 IS NULL OR group_name = ?2) \
         ORDER BY updated_at DESC LIMIT 1",
    )?
    .query_row(rusqlite::params![host, group], |row| {
        let at_ms: i64 = row.get(3)?;
        Ok(stored_error(row, 0)?.map(|error| (error, at_ms)))
    })
    .optional()
    .map(Option::flatten)
}
