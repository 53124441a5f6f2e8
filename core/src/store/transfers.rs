//! Rows of the `transfers` table: insert, load, save and the queries the actor needs.
//!
//! A row that cannot be decoded (an unknown state name, a negative size) is reported as
//! a corrupt database, never unwrapped.

use std::collections::BTreeMap;

use rusqlite::types::{Type, Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::row::{corrupt, text, to_i64};
use super::selected::push_prefix_and_group;
use super::source_path;
use super::totals::{TotalsDelta, apply as apply_totals};
use crate::clock::{from_ms, to_ms_ceil};
use crate::download::{Direction, Download, DownloadSpec};
use crate::error::{FailureKind, TransferError};
use crate::state::{Lane, StateKind, TransferState};
use crate::upload::{Constraints, Upload, UploadMethod};
use crate::{Transfer, TransferId};

pub(super) const COLUMNS: &str = "id, source, destination, host, method, multipart_field, headers, \
     priority, allow_expensive, allow_constrained, size, mtime_ns, state, lane_key, attempts, \
     next_attempt_at, bytes_sent, error_kind, error_status, error_message, created_at, updated_at, \
     seq, group_name, metadata, direction, download, saved_as";

pub(super) fn decode(row: &Row<'_>) -> rusqlite::Result<Transfer> {
    let direction_name = text(row, 25)?;
    let direction = Direction::parse(direction_name)
        .ok_or_else(|| corrupt(25, format!("unknown direction {direction_name:?}")))?;
    let method_name = text(row, 4)?;
    let field: Option<String> = row.get(5)?;
    let method = match direction {
        // A download's shared fields ride in `upload` with a method that means nothing.
        Direction::Download => UploadMethod::Put,
        Direction::Upload => UploadMethod::from_stored(method_name, field)
            .ok_or_else(|| corrupt(4, format!("unknown method {method_name:?}")))?,
    };
    let headers = decode_headers(text(row, 6)?, 6)?;
    let state_name = text(row, 12)?;
    let lane_key: Option<String> = row.get(13)?;
    let kind = StateKind::parse(state_name)
        .ok_or_else(|| corrupt(12, format!("unknown state {state_name:?}")))?;
    let state = match kind {
        StateKind::Queued => TransferState::Queued,
        StateKind::Running => TransferState::Running {
            lane: match lane_key {
                None => Lane::InProcess,
                Some(handoff_key) => Lane::Platform { handoff_key },
            },
        },
        StateKind::Paused => TransferState::Paused,
        StateKind::Succeeded => TransferState::Succeeded,
        StateKind::Failed => TransferState::Failed,
        StateKind::Cancelled => TransferState::Cancelled,
        StateKind::AuthRequired => TransferState::AuthRequired,
    };
    let last_error = stored_error(row, 17)?;
    let non_negative = |column: usize| -> rusqlite::Result<u64> {
        let value: i64 = row.get(column)?;
        u64::try_from(value).map_err(|_| corrupt(column, "negative count"))
    };
    let upload = Upload {
        source: source_path::from_row(row, 1)?,
        destination: row.get(2)?,
        method,
        headers,
        priority: row.get(7)?,
        constraints: Constraints {
            allow_expensive: row.get(8)?,
            allow_constrained: row.get(9)?,
        },
        metadata: decode_metadata(row, 24)?,
        group: row.get(23)?,
    };
    let download = match direction {
        Direction::Upload => None,
        Direction::Download => Some(decode_download(row, 26, &upload)?),
    };
    let saved_as = match row.get_ref(27)? {
        ValueRef::Null => None,
        _ => Some(source_path::from_row(row, 27)?),
    };
    Ok(Transfer {
        id: TransferId::from_stored(row.get(0)?),
        upload,
        direction,
        download,
        saved_as,
        host: row.get(3)?,
        size: non_negative(10)?,
        source_mtime_ns: row.get(11)?,
        state,
        attempts: u32::try_from(non_negative(14)?).unwrap_or(u32::MAX),
        next_attempt_at: from_ms(row.get(15)?),
        bytes_sent: non_negative(16)?,
        last_error,
        created_at: from_ms(row.get(20)?),
        updated_at: from_ms(row.get(21)?),
        seq: row.get(22)?,
    })
}

/// A download as enqueued: the fields it shares with an upload, and its own (the JSON
/// object of column `column`).
fn decode_download(row: &Row<'_>, column: usize, shared: &Upload) -> rusqlite::Result<Download> {
    let spec: DownloadSpec = match row.get::<_, Option<String>>(column)? {
        Some(json) => serde_json::from_str(&json).map_err(|error| {
            corrupt(
                column,
                format!("a download's details are not valid JSON: {error}"),
            )
        })?,
        None => DownloadSpec::default(),
    };
    Ok(Download {
        url: shared.destination.clone(),
        destination: shared.source.clone(),
        expected_size: spec.expected_size,
        expected_sha256: spec.expected_sha256,
        headers: shared.headers.clone(),
        priority: shared.priority,
        constraints: shared.constraints,
        metadata: shared.metadata.clone(),
        group: shared.group.clone(),
        on_conflict: spec.on_conflict,
    })
}

/// The stored headers (a JSON array of name and value pairs) of column `column`.
pub(super) fn decode_headers(json: &str, column: usize) -> rusqlite::Result<Vec<(String, String)>> {
    if json == "[]" {
        return Ok(Vec::new());
    }
    serde_json::from_str(json)
        .map_err(|error| corrupt(column, format!("headers are not valid JSON: {error}")))
}

/// The stored metadata (a JSON object of strings, or NULL for none) of column `column`.
fn decode_metadata(row: &Row<'_>, column: usize) -> rusqlite::Result<BTreeMap<String, String>> {
    let Some(json) = row.get_ref(column)?.as_str_or_null().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(error))
    })?
    else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str(json).map_err(|error| {
        corrupt(
            column,
            format!("metadata is not a JSON object of strings: {error}"),
        )
    })
}

pub(crate) fn load(conn: &Connection, id: &TransferId) -> rusqlite::Result<Option<Transfer>> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM transfers WHERE id = ?1"))?;
    statement.query_row([id.as_str()], decode).optional()
}

/// [`load`] by the row's key, as the scheduler's candidates carry it.
pub(crate) fn load_by_seq(conn: &Connection, seq: i64) -> rusqlite::Result<Option<Transfer>> {
    let mut statement =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM transfers WHERE seq = ?1"))?;
    statement.query_row([seq], decode).optional()
}

/// A page of transfers in enqueue order, optionally only those in one state (the tests'
/// and the fuzz targets' entry; the queue lists through [`list_selected`]).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn list(
    conn: &Connection,
    state: Option<StateKind>,
    offset: u64,
    limit: u64,
) -> rusqlite::Result<Vec<Transfer>> {
    let filter = ListFilter {
        states: state.as_slice(),
        destination_prefix: None,
        group: None,
    };
    list_selected(conn, &filter, offset, limit)
}

/// Which transfers [`list_selected`] reads.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ListFilter<'a> {
    /// Those in one of these states; every state when empty.
    pub states: &'a [StateKind],
    /// Those whose destination starts with this text (compared literally).
    pub destination_prefix: Option<&'a str>,
    /// Those in this group (on the `transfers_by_group` index).
    pub group: Option<&'a str>,
}

/// A page of the transfers `filter` selects, in enqueue order.
pub(crate) fn list_selected(
    conn: &Connection,
    filter: &ListFilter<'_>,
    offset: u64,
    limit: u64,
) -> rusqlite::Result<Vec<Transfer>> {
    let mut sql = format!("SELECT {COLUMNS} FROM transfers WHERE 1");
    let mut values = Vec::new();
    if !filter.states.is_empty() {
        // State names come from `StateKind::as_str`, never from the app.
        let names: Vec<String> = filter
            .states
            .iter()
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        sql.push_str(&format!(" AND state IN ({})", names.join(", ")));
    }
    push_prefix_and_group(
        &mut sql,
        &mut values,
        filter.destination_prefix,
        filter.group,
    );
    sql.push_str(" ORDER BY seq LIMIT ? OFFSET ?");
    values.push(Value::Integer(to_i64(limit)));
    values.push(Value::Integer(to_i64(offset)));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params_from_iter(values), decode)?;
    rows.collect()
}

/// Writes every mutable column of `transfer`. Found by its row key, and only if that row
/// is still this transfer's: a key freed by a deleted row could be given to a new one.
/// A change of state is added to `totals`, from the state the row held (read first).
pub(crate) fn save(
    conn: &Connection,
    transfer: &Transfer,
    now_ms: i64,
    totals: &mut TotalsDelta,
) -> rusqlite::Result<()> {
    let mut stored =
        conn.prepare_cached("SELECT state FROM transfers WHERE seq = ?1 AND id = ?2")?;
    let from = stored
        .query_row(params![transfer.seq, transfer.id.as_str()], |row| {
            StateKind::parse(text(row, 0)?).ok_or_else(|| corrupt(0, "unknown state"))
        })
        .optional()?;
    if write(conn, transfer, now_ms, None)?
        && let Some(from) = from
    {
        totals.moved(from, transfer.state.kind(), transfer.size);
    }
    Ok(())
}

/// As [`save`], for a caller that knows the state the row holds (the transfer's state
/// before its transition), so nothing is read first: the actor's launches and finished
/// attempts, two saves of every file. Should the row hold another state, [`save`] writes
/// it and counts from the state it finds.
pub(crate) fn save_replacing(
    conn: &Connection,
    transfer: &Transfer,
    from: StateKind,
    now_ms: i64,
    totals: &mut TotalsDelta,
) -> rusqlite::Result<()> {
    if write(conn, transfer, now_ms, Some(from))? {
        totals.moved(from, transfer.state.kind(), transfer.size);
        return Ok(());
    }
    save(conn, transfer, now_ms, totals)
}

/// Writes the row, if it is this transfer's and (given `only_from`) in that state.
fn write(
    conn: &Connection,
    transfer: &Transfer,
    now_ms: i64,
    only_from: Option<StateKind>,
) -> rusqlite::Result<bool> {
    let lane_key = match &transfer.state {
        TransferState::Running {
            lane: Lane::Platform { handoff_key },
        } => Some(handoff_key.as_str()),
        _ => None,
    };
    let error = transfer.last_error.as_ref();
    let mut statement = conn.prepare_cached(
        "UPDATE transfers SET state = ?2, lane_key = ?3, attempts = ?4, next_attempt_at = ?5, \
         bytes_sent = ?6, error_kind = ?7, error_status = ?8, error_message = ?9, \
         updated_at = ?10 WHERE seq = ?1 AND id = ?11 AND (?12 IS NULL OR state = ?12)",
    )?;
    let written = statement.execute(params![
        transfer.seq,
        transfer.state.kind().as_str(),
        lane_key,
        transfer.attempts,
        to_ms_ceil(transfer.next_attempt_at),
        to_i64(transfer.bytes_sent),
        error.map(|error| error.kind.as_str()),
        error.and_then(|error| error.http_status),
        error.map(|error| error.message.as_str()),
        now_ms,
        transfer.id.as_str(),
        only_from.map(StateKind::as_str),
    ])?;
    Ok(written == 1)
}

/// A queued transfer whose time has come, with what the scheduler needs.
/// The failure stored in the three columns from `first` on (kind, status, message).
pub(super) fn stored_error(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<TransferError>> {
    let Some(name) = row.get::<_, Option<String>>(first)? else {
        return Ok(None);
    };
    Ok(Some(TransferError {
        kind: FailureKind::parse(&name)
            .ok_or_else(|| corrupt(first, format!("unknown failure kind {name:?}")))?,
        http_status: row.get(first + 1)?,
        message: row.get::<_, Option<String>>(first + 2)?.unwrap_or_default(),
    }))
}

#[derive(Clone, Debug)]
pub(crate) struct CandidateRow {
    pub id: TransferId,
    pub host: String,
    pub constraints: Constraints,
    pub size: u64,
    pub destination: String,
    /// The upload carries headers of its own (so it is never packed into a batch).
    pub has_own_headers: bool,
    /// The server holds a resumable upload of it, to continue from its offset.
    pub has_resumable_upload: bool,
    /// A download: never packed, never handed to the OS (this version's OS lane carries
    /// uploads only).
    pub is_download: bool,
    /// The row's key, for [`load_by_seq`].
    pub seq: i64,
    /// Its priority (higher runs first).
    pub priority: i64,
}

/// What the scheduler can start at all: due, allowed on this network, and not to one of
/// the `excluded_hosts` (at their limit or behind an open breaker).
pub(crate) struct CandidateFilter<'a> {
    pub now_ms: i64,
    pub network_expensive: bool,
    pub network_constrained: bool,
    pub excluded_hosts: &'a [String],
}

/// Startable queued transfers in run order, at most `limit`: priority, then the time each
/// became due (a transfer never tried, or tried longest ago, before one just retried),
/// then FIFO. So every due transfer gets its turn, also across runs: a rerun starts with
/// the files an earlier run never reached, not with the first few again.
///
/// The unary `+` keeps SQLite from planning with `transfers_queued_by_due_time` and then
/// sorting every due row; walking `transfers_queued_in_due_order` stops after `limit` rows
/// (measured: 3-5 ms per call at 9,000 queued rows with the sort, microseconds without).
pub(crate) fn due_candidates(
    conn: &Connection,
    filter: &CandidateFilter<'_>,
    limit: usize,
) -> rusqlite::Result<Vec<CandidateRow>> {
    due_where(conn, filter, Sizes::Any, limit)
}

/// As [`due_candidates`], only transfers of at least `min_size` bytes: what the OS lane
/// takes first while it carries everything (`actor/os_order.rs`). It walks the same index
/// and reads each queued row's size until it has `limit`, so with few large files queued
/// it reads every queued row: it runs only while the app is in the background, whose
/// turns are few.
pub(crate) fn due_large_candidates(
    conn: &Connection,
    filter: &CandidateFilter<'_>,
    min_size: u64,
    limit: usize,
) -> rusqlite::Result<Vec<CandidateRow>> {
    due_where(conn, filter, Sizes::AtLeast(min_size), limit)
}

/// Of the first `limit` transfers [`due_candidates`] would give, those of at most
/// `max_size` bytes (0, a download of unknown size, included): what claims ahead look at
/// (`actor/claim_ahead.rs`). It reads at most `limit` rows and decodes only those: the
/// large files among them, which claims never take, were decoded every turn
/// (`mixed_sizes`: a third of its files, ~1.7% of the run's CPU in this query).
pub(crate) fn due_small_candidates(
    conn: &Connection,
    filter: &CandidateFilter<'_>,
    max_size: u64,
    limit: usize,
) -> rusqlite::Result<Vec<CandidateRow>> {
    due_where(conn, filter, Sizes::WindowAtMost(max_size), limit)
}

/// Which sizes a due query returns.
#[derive(Clone, Copy)]
enum Sizes {
    Any,
    AtLeast(u64),
    /// Of the first `limit` due rows, those of at most this many bytes.
    WindowAtMost(u64),
}

fn due_where(
    conn: &Connection,
    filter: &CandidateFilter<'_>,
    sizes: Sizes,
    limit: usize,
) -> rusqlite::Result<Vec<CandidateRow>> {
    let excluded = vec!["?"; filter.excluded_hosts.len()].join(", ");
    let due = format!(
        "state = 'queued' AND +next_attempt_at <= ? \
         AND (allow_expensive OR NOT ?) AND (allow_constrained OR NOT ?) \
         AND host NOT IN ({excluded})"
    );
    const ORDER: &str = "ORDER BY priority DESC, next_attempt_at, seq";
    // Without a size bound the condition is left out, so the hot query stays as it was.
    let sql = match sizes {
        Sizes::Any => {
            format!("SELECT {CANDIDATE_COLUMNS} FROM transfers WHERE {due} {ORDER} LIMIT ?")
        }
        Sizes::AtLeast(_) => format!(
            "SELECT {CANDIDATE_COLUMNS} FROM transfers WHERE {due} AND size >= ? {ORDER} LIMIT ?"
        ),
        Sizes::WindowAtMost(_) => format!(
            "SELECT {CANDIDATE_COLUMNS} FROM transfers \
             WHERE seq IN (SELECT seq FROM transfers WHERE {due} {ORDER} LIMIT ?) \
               AND size <= ? {ORDER}"
        ),
    };
    let mut statement = conn.prepare_cached(&sql)?;
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![
        &filter.now_ms,
        &filter.network_expensive,
        &filter.network_constrained,
    ];
    values.extend(
        filter
            .excluded_hosts
            .iter()
            .map(|host| host as &dyn rusqlite::ToSql),
    );
    let limit = to_i64(limit as u64);
    let bound = match sizes {
        Sizes::Any => 0,
        Sizes::AtLeast(size) | Sizes::WindowAtMost(size) => to_i64(size),
    };
    match sizes {
        Sizes::Any => values.push(&limit),
        Sizes::AtLeast(_) => values.extend([&bound as &dyn rusqlite::ToSql, &limit]),
        Sizes::WindowAtMost(_) => values.extend([&limit as &dyn rusqlite::ToSql, &bound]),
    }
    let rows = statement.query_map(values.as_slice(), candidate_row)?;
    rows.collect()
}

/// The startable transfer to `host` that has waited longest since it became due (never
/// tried, or tried longest ago): where a recovering host's one probe goes, so that every
/// transfer gets attempts in turn. Walks `transfers_queued_by_due_time`.
pub(crate) fn longest_waiting_candidate(
    conn: &Connection,
    filter: &CandidateFilter<'_>,
    host: &str,
) -> rusqlite::Result<Option<CandidateRow>> {
    let sql = format!(
        "SELECT {CANDIDATE_COLUMNS} FROM transfers \
         WHERE state = 'queued' AND next_attempt_at <= ?1 AND host = ?4 \
           AND (allow_expensive OR NOT ?2) AND (allow_constrained OR NOT ?3) \
         ORDER BY next_attempt_at, seq LIMIT 1"
    );
    conn.prepare_cached(&sql)?
        .query_row(
            rusqlite::params![
                filter.now_ms,
                filter.network_expensive,
                filter.network_constrained,
                host
            ],
            candidate_row,
        )
        .optional()
}

const CANDIDATE_COLUMNS: &str = "id, host, allow_expensive, allow_constrained, size, \
    destination, headers != '[]', \
    EXISTS(SELECT 1 FROM resumable_uploads r WHERE r.transfer_id = transfers.id), seq, \
    direction = 'download', priority";

fn candidate_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CandidateRow> {
    Ok(CandidateRow {
        id: TransferId::from_stored(row.get(0)?),
        host: row.get(1)?,
        constraints: Constraints {
            allow_expensive: row.get(2)?,
            allow_constrained: row.get(3)?,
        },
        size: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
        destination: row.get(5)?,
        has_own_headers: row.get(6)?,
        has_resumable_upload: row.get(7)?,
        seq: row.get(8)?,
        is_download: row.get(9)?,
        priority: row.get(10)?,
    })
}

/// The earliest retry time of a queued transfer after `after_ms` (the last time the
/// scheduler looked): it may already be due.
pub(crate) fn next_retry_at(conn: &Connection, after_ms: i64) -> rusqlite::Result<Option<i64>> {
    let mut statement = conn.prepare_cached(
        "SELECT min(next_attempt_at) FROM transfers WHERE state = 'queued' AND next_attempt_at > ?1",
    )?;
    statement.query_row([after_ms], |row| row.get(0))
}

/// Whether anything is queued or running.
pub(crate) fn any_runnable(conn: &Connection) -> rusqlite::Result<bool> {
    let mut statement = conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM transfers WHERE state = 'queued') \
         OR EXISTS(SELECT 1 FROM transfers WHERE state = 'running')",
    )?;
    statement.query_row([], |row| row.get(0))
}

/// After a restart, in-process attempts died with the process: queue them again now. The
/// interrupted attempt does not use up the retry budget.
/// Platform-lane transfers are left for reconciliation with the OS.
pub(crate) fn requeue_interrupted_in_process(
    conn: &Connection,
    now_ms: i64,
) -> rusqlite::Result<usize> {
    requeue_counted(conn, "state = 'running' AND lane_key IS NULL", now_ms)
}

/// Queues every running transfer again, on both lanes: after a failed commit, or at an
/// open without a platform service (no one is left to report on OS tasks). The
/// interrupted attempts do not use up the retry budget.
pub(crate) fn requeue_running(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    requeue_counted(conn, "state = 'running'", now_ms)
}

/// [`Transfer::requeue_without_verdict`] for every running row `selected`, as one
/// statement: queued, due `?1`, its attempt given back, nothing counted as sent. Must
/// write what that function writes (a test holds it to it); it exists so that an open
/// requeues without decoding every row.
const REQUEUE_WITHOUT_VERDICT: &str = "UPDATE transfers SET state = 'queued', lane_key = NULL, \
     next_attempt_at = ?1, updated_at = ?1, bytes_sent = 0, attempts = max(attempts - 1, 0)";

/// Requeues the running transfers `selected` (an SQL condition) without a verdict, and
/// moves them from running to queued in the totals at once: these run outside the turns'
/// bookkeeping.
fn requeue_counted(conn: &Connection, selected: &str, now_ms: i64) -> rusqlite::Result<usize> {
    let sql = format!("{REQUEUE_WITHOUT_VERDICT} WHERE {selected} RETURNING size");
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query([now_ms])?;
    let mut moved = TotalsDelta::default();
    let mut count = 0;
    while let Some(row) = rows.next()? {
        let size: i64 = row.get(0)?;
        moved.moved(
            StateKind::Running,
            StateKind::Queued,
            u64::try_from(size).unwrap_or(0),
        );
        count += 1;
    }
    drop(rows);
    apply_totals(conn, &moved)?;
    Ok(count)
}

/// Brings every queued transfer's retry time later than `latest_ms` forward to it, and
/// returns how many moved. At open, `latest_ms` is now plus the longest wait Ferry itself
/// sets: a later time was stored by a clock that has since been set back (a phone's clock
/// corrected by the network), and would park its transfers for as long as the correction.
pub(crate) fn bring_forward_retry_times(
    conn: &Connection,
    latest_ms: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE transfers SET next_attempt_at = ?1 \
         WHERE state = 'queued' AND next_attempt_at > ?1",
        [latest_ms],
    )
}

/// Every transfer recorded as running on an OS task.
pub(crate) fn running_on_platform(conn: &Connection) -> rusqlite::Result<Vec<Transfer>> {
    let sql =
        format!("SELECT {COLUMNS} FROM transfers WHERE state = 'running' AND lane_key IS NOT NULL");
    let mut statement = conn.prepare(&sql)?;
    let rows = statement.query_map([], decode)?;
    rows.collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::store::{EnqueueWriter, Identity, Store};
    use crate::upload::{SourceSnapshot, ValidatedUpload};

    /// Stores a queued upload of `/src/{name}` to `http://h/{name}`, enqueued at `now_ms`.
    fn stored_queued(conn: &Connection, name: &str, size: u64, now_ms: i64) -> TransferId {
        let validated = ValidatedUpload {
            upload: Upload::put(format!("/src/{name}"), format!("http://h/{name}")),
            host: "h:80".into(),
            snapshot: SourceSnapshot { size, mtime_ns: 0 },
        };
        let id = TransferId::generate();
        let mut writer = EnqueueWriter::new(conn).expect("writer");
        writer
            .insert(&id, &validated, &Identity::of(&validated.upload), now_ms)
            .expect("insert");
        id
    }

    /// A transfer stored as running on `lane`, its third attempt, with bytes sent.
    fn stored_running(conn: &Connection, name: &str, lane: Lane) -> Transfer {
        let id = stored_queued(conn, name, 1_000, 0);
        let mut transfer = load(conn, &id).expect("load").expect("stored");
        transfer.attempts = 2;
        assert!(transfer.start(lane).is_some());
        transfer.bytes_sent = 600;
        save(conn, &transfer, 0, &mut TotalsDelta::default()).expect("save");
        transfer
    }

    /// A transfer stored in `state` (set by hand: any state a test needs), with two
    /// attempts used, bytes sent, a failure kept and a retry due at 1 s.
    pub(crate) fn stored_in(conn: &Connection, name: &str, state: TransferState) -> Transfer {
        let id = stored_queued(conn, name, 1_000, 0);
        let mut transfer = load(conn, &id).expect("load").expect("stored");
        transfer.state = state;
        transfer.attempts = 2;
        transfer.bytes_sent = 600;
        transfer.next_attempt_at = from_ms(1_000);
        transfer.last_error = Some(crate::TransferError::new(
            crate::error::FailureKind::Network,
            "reset",
        ));
        save(conn, &transfer, 0, &mut TotalsDelta::default()).expect("save");
        transfer
    }

    /// What an edge may change: everything but the ids and times of creation.
    pub(crate) fn edited(transfer: &Transfer) -> (TransferState, u32, u64, SystemTime, bool) {
        (
            transfer.state.clone(),
            transfer.attempts,
            transfer.bytes_sent,
            transfer.next_attempt_at,
            transfer.last_error.is_some(),
        )
    }

    #[test]
    fn retry_times_beyond_the_latest_are_brought_forward_and_no_others() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        let soon = stored_queued(conn, "soon", 10, 0);
        let far = stored_queued(conn, "far", 10, 0);
        let running = stored_running(conn, "running", Lane::InProcess);
        conn.execute(
            "UPDATE transfers SET next_attempt_at = CASE id WHEN ?1 THEN 9000 ELSE 90000 END",
            [soon.to_string()],
        )
        .expect("retry times");

        assert_eq!(bring_forward_retry_times(conn, 10_000).expect("bring"), 1);
        let retry_at = |id: &TransferId| -> SystemTime {
            load(conn, id)
                .expect("load")
                .expect("stored")
                .next_attempt_at
        };
        assert_eq!(retry_at(&soon), from_ms(9000), "within the latest: kept");
        assert_eq!(
            retry_at(&far),
            from_ms(10_000),
            "beyond it: brought forward"
        );
        assert_eq!(retry_at(&running.id), from_ms(90_000), "only queued rows");
    }

    #[test]
    fn the_set_wise_requeues_write_what_a_requeue_without_verdict_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        let now_ms = 5_000;
        let platform = Lane::Platform {
            handoff_key: "t.3.0000abcd".into(),
        };

        let mut by_hand = stored_running(conn, "a", Lane::InProcess);
        assert!(by_hand.requeue_without_verdict(from_ms(now_ms)));
        save(conn, &by_hand, now_ms, &mut TotalsDelta::default()).expect("save");
        let expected = edited(&load(conn, &by_hand.id).expect("load").expect("stored"));
        assert_eq!(
            expected,
            (TransferState::Queued, 2, 0, from_ms(now_ms), false),
            "the attempt given back, nothing counted as sent, due now"
        );

        let at_open = stored_running(conn, "b", Lane::InProcess);
        let on_os = stored_running(conn, "c", platform);
        assert_eq!(
            requeue_interrupted_in_process(conn, now_ms).expect("requeue"),
            1
        );
        let reloaded = load(conn, &at_open.id).expect("load").expect("stored");
        assert_eq!(edited(&reloaded), expected, "requeued at open");
        let left = load(conn, &on_os.id).expect("load").expect("stored");
        assert_eq!(
            left.state.kind(),
            StateKind::Running,
            "OS tasks wait for reconciling"
        );

        assert_eq!(requeue_running(conn, now_ms).expect("requeue"), 1);
        let reloaded = load(conn, &on_os.id).expect("load").expect("stored");
        assert_eq!(
            edited(&reloaded),
            expected,
            "requeued after a failed commit"
        );
    }

    #[test]
    fn metadata_and_group_read_back_as_stored_and_bad_metadata_is_corrupt() {
        let conn = crate::store::schema::tests::migrated();
        let validated = ValidatedUpload {
            upload: Upload::put("/src/m", "http://h/m")
                .with_metadata("album", "7")
                .with_metadata("note", "\"quoted\" ✓")
                .with_group("trip"),
            host: "h:80".into(),
            snapshot: SourceSnapshot {
                size: 1,
                mtime_ns: 0,
            },
        };
        let id = TransferId::generate();
        let mut writer = EnqueueWriter::new(&conn).expect("writer");
        writer
            .insert(&id, &validated, &Identity::of(&validated.upload), 0)
            .expect("insert");
        let plain = stored_queued(&conn, "plain", 1, 0);
        let stored = load(&conn, &id).expect("load").expect("stored");
        assert_eq!(stored.upload.metadata, validated.upload.metadata);
        assert_eq!(stored.upload.group.as_deref(), Some("trip"));
        let filter = ListFilter {
            group: Some("trip"),
            ..ListFilter::default()
        };
        let listed = list_selected(&conn, &filter, 0, 10).expect("list");
        assert_eq!(listed.iter().map(|t| &t.id).collect::<Vec<_>>(), [&id]);
        let unfiltered = list_selected(&conn, &ListFilter::default(), 0, 10).expect("list");
        assert_eq!(unfiltered.len(), 2, "no filter: every transfer");

        for bad in ["[]", "{\"n\":1}", "not json"] {
            conn.execute(
                "UPDATE transfers SET metadata = ?1 WHERE id = ?2",
                params![bad, plain.as_str()],
            )
            .expect("damage");
            let error = load(&conn, &plain).expect_err("corrupt metadata");
            assert!(error.to_string().contains("metadata"), "{bad}: {error}");
        }
    }

    #[test]
    fn due_candidates_go_in_the_order_they_became_due_on_the_due_order_index() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        for name in ["tried-first", "tried-second", "never-tried"] {
            stored_queued(conn, name, 1, 1_000);
        }
        // The first two were tried and are due again later than the third has waited.
        conn.execute(
            "UPDATE transfers SET next_attempt_at = 5000 + seq, attempts = 1 WHERE seq <= 2",
            [],
        )
        .expect("retried");
        let filter = CandidateFilter {
            now_ms: 9_000,
            network_expensive: false,
            network_constrained: false,
            excluded_hosts: &[],
        };
        let order: Vec<String> = due_candidates(conn, &filter, 10)
            .expect("candidates")
            .into_iter()
            .map(|row| row.destination)
            .collect();
        assert_eq!(
            order,
            [
                "http://h/never-tried",
                "http://h/tried-first",
                "http://h/tried-second"
            ]
        );
        let plan = super::super::schema::query_plan(
            conn,
            "SELECT seq FROM transfers WHERE state = 'queued' \
             AND +next_attempt_at <= 1 AND host NOT IN ('x') \
             ORDER BY priority DESC, next_attempt_at, seq LIMIT 5",
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("transfers_queued_in_due_order")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "no sort of every due row: {plan:?}"
        );
    }

    #[test]
    fn small_candidates_come_only_from_the_first_due_rows() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("queue.db")).expect("open");
        let conn = store.connection();
        for (name, size) in [
            ("big-1", 900),
            ("small-1", 10),
            ("big-2", 900),
            ("small-2", 0),
        ] {
            stored_queued(conn, name, size, 1_000);
        }
        let filter = CandidateFilter {
            now_ms: 9_000,
            network_expensive: false,
            network_constrained: false,
            excluded_hosts: &[],
        };
        let small = |limit| -> Vec<String> {
            due_small_candidates(conn, &filter, 100, limit)
                .expect("candidates")
                .into_iter()
                .map(|row| row.destination)
                .collect()
        };
        assert_eq!(small(4), ["http://h/small-1", "http://h/small-2"]);
        assert_eq!(
            small(2),
            ["http://h/small-1"],
            "small-2 is not among the first 2"
        );
        assert!(small(1).is_empty());
        let large: Vec<String> = due_large_candidates(conn, &filter, 100, 1)
            .expect("candidates")
            .into_iter()
            .map(|row| row.destination)
            .collect();
        assert_eq!(large, ["http://h/big-1"]);
    }
}
