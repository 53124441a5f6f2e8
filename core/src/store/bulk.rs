//! Bulk changes to the `transfers` table (`cancel_where`, `retry_where`, `purge_where`),
//! one bounded chunk at a time.
//!
//! A chunk is the first rows, in `seq` order after a cursor, that match a [`BulkFilter`]:
//! [`chunk`] reads them, then one statement changes exactly those rows, over the chunk's
//! range of `seq` with the same filter (nothing writes in between: it is one
//! transaction), and adds each change to the turn's totals. Walking `seq` from a cursor
//! reads every row once over the whole call, however many chunks it takes.
//!
//! This module must never decide which transfers an action may change (the actor resolves
//! the selection and stops running attempts itself), nor put the app's text into SQL: the
//! destination prefix is a bound parameter compared with `substr`, never a `LIKE`
//! pattern, so `%` and `_` in it are plain characters.

use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::resumable::record_of;
use super::row::{corrupt, text};
use super::selected::push_prefix_and_group;
use super::source_path;
use super::totals::TotalsDelta;
use super::transfers::decode_headers;
use crate::TransferId;
use crate::state::StateKind;
use crate::upload_resource::UploadResource;

/// Which rows a chunk takes.
pub(crate) struct BulkFilter<'a> {
    /// The states selected.
    pub states: &'a [StateKind],
    pub destination_prefix: Option<&'a str>,
    /// Only rows in this group.
    pub group: Option<&'a str>,
    /// Only rows after this key: the cursor.
    pub after_seq: i64,
    /// Only rows up to this key: those that existed when the call began.
    pub up_to_seq: i64,
    /// Only rows last changed at this time or before (a purge's age).
    pub changed_by_ms: Option<i64>,
    /// Queued rows only while they wait for a retry due after this time (a retry makes
    /// them due now); without it, every queued row.
    pub queued_due_after_ms: Option<i64>,
}

impl BulkFilter<'_> {
    /// The `WHERE` clause over rows up to `up_to_seq`, and its parameters in order. State
    /// names come from [`StateKind::as_str`], never from the app.
    fn clause(&self, up_to_seq: i64) -> (String, Vec<Value>) {
        let mut sql = String::from("seq > ? AND seq <= ?");
        let mut values = vec![Value::Integer(self.after_seq), Value::Integer(up_to_seq)];
        let waiting_queued = self
            .queued_due_after_ms
            .filter(|_| self.states.contains(&StateKind::Queued));
        let plain: Vec<String> = self
            .states
            .iter()
            .filter(|state| !(**state == StateKind::Queued && waiting_queued.is_some()))
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        let mut alternatives = Vec::new();
        if !plain.is_empty() {
            alternatives.push(format!("state IN ({})", plain.join(", ")));
        }
        if let Some(after) = waiting_queued {
            alternatives.push("(state = 'queued' AND next_attempt_at > ?)".to_owned());
            values.push(Value::Integer(after));
        }
        if alternatives.is_empty() {
            alternatives.push("0".to_owned());
        }
        sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
        push_prefix_and_group(&mut sql, &mut values, self.destination_prefix, self.group);
        if let Some(before) = self.changed_by_ms {
            sql.push_str(" AND updated_at <= ?");
            values.push(Value::Integer(before));
        }
        (sql, values)
    }
}

/// An upload resource taken from the store, with its transfer's stored headers: what
/// terminating it on its server needs.
pub(crate) type TakenResource = (UploadResource, Vec<(String, String)>);

/// One row of a chunk, as it was before the change.
#[derive(Clone, Debug)]
pub(crate) struct BulkRow {
    pub seq: i64,
    pub id: TransferId,
    pub state: StateKind,
    pub size: u64,
    /// `host:port` of the destination.
    pub host: String,
}

/// The largest row key now: a call acts on the rows that existed when it began.
pub(crate) fn last_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(seq), 0) FROM transfers")?
        .query_row([], |row| row.get(0))
}

/// The next chunk: at most `limit` matching rows after the cursor, in `seq` order.
pub(crate) fn chunk(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    limit: usize,
) -> rusqlite::Result<Vec<BulkRow>> {
    let (clause, mut values) = filter.clause(filter.up_to_seq);
    values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut statement = conn.prepare_cached(&format!(
        "SELECT seq, id, state, size, host FROM transfers WHERE {clause} ORDER BY seq LIMIT ?"
    ))?;
    let rows = statement.query_map(params_from_iter(values), |row| {
        let state = StateKind::parse(text(row, 2)?).ok_or_else(|| corrupt(2, "unknown state"))?;
        Ok(BulkRow {
            seq: row.get(0)?,
            id: TransferId::from_stored(row.get(1)?),
            state,
            size: u64::try_from(row.get::<_, i64>(3)?).map_err(|_| corrupt(3, "negative size"))?,
            host: row.get(4)?,
        })
    })?;
    rows.collect()
}

/// How [`move_rows`] changes a chunk's rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Move {
    /// Cancelled for good (none may be running: their attempts are the actor's).
    Cancel,
    /// Queued again, due now: a fresh attempt budget for those that were not queued, the
    /// same budget for queued ones whose retry is made due at once.
    Requeue,
}

impl Move {
    /// The statement; its first parameter is the time.
    fn update(self) -> &'static str {
        match self {
            Self::Cancel => {
                "UPDATE transfers SET state = 'cancelled', lane_key = NULL, updated_at = ?1"
            }
            Self::Requeue => {
                "UPDATE transfers SET attempts = CASE WHEN state = 'queued' THEN attempts \
                 ELSE 0 END, state = 'queued', lane_key = NULL, next_attempt_at = ?1, \
                 updated_at = ?1"
            }
        }
    }

    fn to(self) -> StateKind {
        match self {
            Self::Cancel => StateKind::Cancelled,
            Self::Requeue => StateKind::Queued,
        }
    }
}

/// Deletes the chunk's rows (finished ones: the caller selects only those).
pub(crate) fn delete(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
    totals: &mut TotalsDelta,
) -> rusqlite::Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let (clause, values) = filter.clause(last.seq);
    let deleted = conn
        .prepare_cached(&format!("DELETE FROM transfers WHERE {clause}"))?
        .execute(params_from_iter(values))?;
    expect_changed(deleted, rows)?;
    for row in rows {
        totals.removed(row.state, row.size);
    }
    Ok(())
}

/// Changes the chunk's rows as `how` says and counts each row's move in the totals.
pub(crate) fn move_rows(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
    how: Move,
    now_ms: i64,
    totals: &mut TotalsDelta,
) -> rusqlite::Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let (clause, values) = filter.clause(last.seq);
    // `?1` is taken by the time; the clause's parameters follow it.
    let clause = renumber_from(&clause, 2);
    let changed = conn
        .prepare_cached(&format!("{} WHERE {clause}", how.update()))?
        .execute(params_from_iter(
            std::iter::once(Value::Integer(now_ms)).chain(values),
        ))?;
    expect_changed(changed, rows)?;
    for row in rows {
        totals.moved(row.state, how.to(), row.size);
    }
    Ok(())
}

/// Numbers the clause's anonymous `?` parameters from `first` on, so they follow
/// numbered ones.
fn renumber_from(clause: &str, first: usize) -> String {
    let mut numbered = String::with_capacity(clause.len() + 16);
    let mut next = first;
    for character in clause.chars() {
        if character == '?' {
            numbered.push_str(&format!("?{next}"));
            next += 1;
        } else {
            numbered.push(character);
        }
    }
    numbered
}

/// One statement over the chunk's range changes exactly the chunk's rows; anything else
/// would leave the totals wrong, so the turn is rolled back.
fn expect_changed(changed: usize, rows: &[BulkRow]) -> rusqlite::Result<()> {
    if changed == rows.len() {
        Ok(())
    } else {
        Err(rusqlite::Error::StatementChangedRows(changed))
    }
}

/// Removes the upload resources of the chunk's rows (run before the rows change, since
/// the filter reads their state) and returns each, with its transfer's stored headers,
/// for the server's copy to be terminated.
pub(crate) fn take_upload_resources(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
) -> rusqlite::Result<Vec<TakenResource>> {
    let Some(last) = rows.last() else {
        return Ok(Vec::new());
    };
    let (clause, values) = filter.clause(last.seq);
    let taken = conn
        .prepare_cached(&format!(
            "SELECT r.protocol, r.upload_url, r.confirmed_offset, \
             (SELECT headers FROM transfers t WHERE t.id = r.transfer_id) \
             FROM resumable_uploads r \
             WHERE r.transfer_id IN (SELECT id FROM transfers WHERE {clause})"
        ))?
        .query_map(params_from_iter(values.iter()), |row| {
            let record = record_of(text(row, 0)?, row.get(1)?, row.get(2)?)?;
            let headers = decode_headers(text(row, 3)?, 3)?;
            Ok((record, headers))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !taken.is_empty() {
        forget(conn, BesideTable::ResumableUploads, &clause, values)?;
    }
    Ok(taken)
}

/// Removes the upload resources of the chunk's rows, whose server copies are left to
/// expire (a purge: the records were finished).
pub(crate) fn forget_upload_resources(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
) -> rusqlite::Result<()> {
    forget_beside(conn, BesideTable::ResumableUploads, filter, rows)
}

/// Removes the servers' answers of the chunk's rows (a purge: run before the rows are
/// deleted, since the filter reads them).
pub(crate) fn forget_responses(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
) -> rusqlite::Result<()> {
    forget_beside(conn, BesideTable::ServerResponses, filter, rows)
}

/// The ids and local files of the chunk's downloads, whose partial files go with them.
pub(crate) fn download_files(
    conn: &Connection,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
) -> rusqlite::Result<Vec<(TransferId, PathBuf)>> {
    let Some(last) = rows.last() else {
        return Ok(Vec::new());
    };
    let (clause, values) = filter.clause(last.seq);
    let mut statement = conn.prepare_cached(&format!(
        "SELECT id, source FROM transfers WHERE direction = 'download' AND ({clause})"
    ))?;
    let files = statement.query_map(params_from_iter(values), |row| {
        Ok((
            TransferId::from_stored(row.get(0)?),
            source_path::from_row(row, 1)?,
        ))
    })?;
    files.collect()
}

/// A table that keeps rows beside a transfer, keyed by its id.
#[derive(Clone, Copy)]
enum BesideTable {
    ResumableUploads,
    ServerResponses,
}

impl BesideTable {
    fn name(self) -> &'static str {
        match self {
            Self::ResumableUploads => "resumable_uploads",
            Self::ServerResponses => "server_responses",
        }
    }
}

/// Deletes the rows `table` keeps beside the chunk's transfers.
fn forget_beside(
    conn: &Connection,
    table: BesideTable,
    filter: &BulkFilter<'_>,
    rows: &[BulkRow],
) -> rusqlite::Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let (clause, values) = filter.clause(last.seq);
    forget(conn, table, &clause, values)
}

fn forget(
    conn: &Connection,
    table: BesideTable,
    clause: &str,
    values: Vec<Value>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "DELETE FROM {} WHERE transfer_id IN (SELECT id FROM transfers WHERE {clause})",
        table.name()
    ))?
    .execute(params_from_iter(values))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::schema::tests::migrated;

    fn insert(conn: &Connection, seq: i64, destination: &str, state: &str, updated_at: i64) {
        conn.execute(
            "INSERT INTO transfers (seq, id, source, destination, host, method, headers, \
             priority, allow_expensive, allow_constrained, size, mtime_ns, state, created_at, \
             updated_at) VALUES (?1, ?2, '/s', ?3, 'h:80', 'PUT', '[]', 0, 1, 1, 10, 0, ?4, 0, ?5)",
            rusqlite::params![seq, format!("id-{seq}"), destination, state, updated_at],
        )
        .expect("insert");
    }

    fn filter<'a>(states: &'a [StateKind], prefix: Option<&'a str>) -> BulkFilter<'a> {
        BulkFilter {
            states,
            destination_prefix: prefix,
            group: None,
            after_seq: 0,
            up_to_seq: i64::MAX,
            changed_by_ms: None,
            queued_due_after_ms: None,
        }
    }

    fn seqs(rows: &[BulkRow]) -> Vec<i64> {
        rows.iter().map(|row| row.seq).collect()
    }

    #[test]
    fn a_group_selects_its_rows_alone() {
        let conn = migrated();
        for seq in 1..=4 {
            insert(&conn, seq, &format!("http://h/{seq}"), "queued", 0);
        }
        conn.execute(
            "UPDATE transfers SET group_name = CASE WHEN seq <= 2 THEN 'a' ELSE 'b' END \
             WHERE seq != 4",
            [],
        )
        .expect("group");
        let queued = [StateKind::Queued];
        let mut of_a = filter(&queued, None);
        of_a.group = Some("a");
        assert_eq!(seqs(&chunk(&conn, &of_a, 10).expect("chunk")), [1, 2]);
        let mut totals = TotalsDelta::default();
        let rows = chunk(&conn, &of_a, 10).expect("chunk");
        move_rows(&conn, &of_a, &rows, Move::Cancel, 1, &mut totals).expect("cancel");
        let mut of_b = filter(&queued, None);
        of_b.group = Some("b");
        assert_eq!(seqs(&chunk(&conn, &of_b, 10).expect("chunk")), [3]);
        assert_eq!(
            seqs(&chunk(&conn, &filter(&queued, None), 10).expect("chunk")),
            [3, 4],
            "the cancel changed group a alone"
        );
    }

    #[test]
    fn a_prefix_is_matched_literally_never_as_a_pattern() {
        let conn = migrated();
        insert(&conn, 1, "http://h/a_b/1", "queued", 0);
        insert(&conn, 2, "http://h/axb/2", "queued", 0);
        insert(&conn, 3, "http://h/a%b/3", "queued", 0);
        insert(&conn, 4, "http://h/aZZb/4", "queued", 0);
        let queued = [StateKind::Queued];
        let rows = chunk(&conn, &filter(&queued, Some("http://h/a_b/")), 10).expect("chunk");
        assert_eq!(seqs(&rows), [1]);
        let rows = chunk(&conn, &filter(&queued, Some("http://h/a%b/")), 10).expect("chunk");
        assert_eq!(seqs(&rows), [3]);
        let rows = chunk(&conn, &filter(&queued, Some("")), 10).expect("chunk");
        assert_eq!(seqs(&rows), [1, 2, 3, 4]);
    }

    #[test]
    fn chunks_follow_the_cursor_and_stop_at_the_rows_that_existed() {
        let conn = migrated();
        for seq in 1..=5 {
            insert(&conn, seq, "http://h/x", "failed", 0);
        }
        let failed = [StateKind::Failed];
        let mut walk = filter(&failed, None);
        walk.up_to_seq = 4;
        let first = chunk(&conn, &walk, 3).expect("chunk");
        assert_eq!(seqs(&first), [1, 2, 3]);
        walk.after_seq = 3;
        assert_eq!(seqs(&chunk(&conn, &walk, 3).expect("chunk")), [4]);
    }

    #[test]
    fn the_bulk_moves_write_what_the_single_edges_write() {
        use crate::TransferState;
        use crate::clock::from_ms;
        use crate::state::Input;
        use crate::store::transfers::load;
        use crate::store::transfers::tests::{edited, stored_in};

        let conn = migrated();
        let now_ms = 9_000;
        let cases = [
            (Move::Requeue, TransferState::Queued),
            (Move::Requeue, TransferState::Failed),
            (Move::Requeue, TransferState::Paused),
            (Move::Requeue, TransferState::AuthRequired),
            (Move::Cancel, TransferState::Queued),
            (Move::Cancel, TransferState::Paused),
            (Move::Cancel, TransferState::AuthRequired),
        ];
        for (index, (how, state)) in cases.into_iter().enumerate() {
            let stored = stored_in(&conn, &format!("f{index}"), state.clone());
            let mut by_the_edge = stored.clone();
            match how {
                Move::Requeue => assert!(by_the_edge.requeue_afresh(from_ms(now_ms))),
                Move::Cancel => {
                    let effect = by_the_edge
                        .control(&Input::Cancel, from_ms(now_ms))
                        .expect("cancellable");
                    assert!(effect.is_some(), "{state:?} changes");
                }
            }
            let states = [state.kind()];
            let mut walk = filter(&states, None);
            walk.after_seq = stored.seq - 1;
            walk.up_to_seq = stored.seq;
            let rows = chunk(&conn, &walk, 10).expect("chunk");
            assert_eq!(seqs(&rows), [stored.seq]);
            move_rows(
                &conn,
                &walk,
                &rows,
                how,
                now_ms,
                &mut TotalsDelta::default(),
            )
            .expect("move");
            let moved = load(&conn, &stored.id).expect("load").expect("stored");
            assert_eq!(
                edited(&moved),
                edited(&by_the_edge),
                "{how:?} of a {state:?} transfer"
            );
        }
    }

    #[test]
    fn a_changed_chunk_is_counted_in_the_totals() {
        let conn = migrated();
        insert(&conn, 1, "http://h/x", "failed", 0);
        insert(&conn, 2, "http://h/x", "paused", 0);
        insert(&conn, 3, "http://h/x", "succeeded", 0);
        let states = [StateKind::Failed, StateKind::Paused];
        let walk = filter(&states, None);
        let rows = chunk(&conn, &walk, 10).expect("chunk");
        let mut totals = TotalsDelta::default();
        move_rows(&conn, &walk, &rows, Move::Requeue, 7, &mut totals).expect("requeue");
        let mut expected = TotalsDelta::default();
        expected.moved(StateKind::Failed, StateKind::Queued, 10);
        expected.moved(StateKind::Paused, StateKind::Queued, 10);
        assert_eq!(totals, expected);
        let queued: i64 = conn
            .query_row(
                "SELECT count(*) FROM transfers WHERE state = 'queued' AND next_attempt_at = 7",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(queued, 2);
    }

    #[test]
    fn a_purge_takes_only_rows_older_than_its_age() {
        let conn = migrated();
        insert(&conn, 1, "http://h/x", "succeeded", 100);
        insert(&conn, 2, "http://h/x", "succeeded", 300);
        let succeeded = [StateKind::Succeeded];
        let mut old = filter(&succeeded, None);
        old.changed_by_ms = Some(299);
        let rows = chunk(&conn, &old, 10).expect("chunk");
        let mut totals = TotalsDelta::default();
        delete(&conn, &old, &rows, &mut totals).expect("delete");
        let left: Vec<i64> = conn
            .prepare("SELECT seq FROM transfers")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(left, [2]);
    }

    #[test]
    fn only_queued_rows_waiting_for_a_later_retry_are_made_due() {
        let conn = migrated();
        insert(&conn, 1, "http://h/x", "queued", 0);
        insert(&conn, 2, "http://h/x", "queued", 0);
        conn.execute(
            "UPDATE transfers SET next_attempt_at = 5000 WHERE seq = 2",
            [],
        )
        .expect("backoff");
        let queued = [StateKind::Queued];
        let mut waiting = filter(&queued, None);
        waiting.queued_due_after_ms = Some(1000);
        assert_eq!(seqs(&chunk(&conn, &waiting, 10).expect("chunk")), [2]);
    }

    #[test]
    fn upload_resources_of_the_chunk_are_taken_with_their_headers_and_others_kept() {
        let conn = migrated();
        insert(&conn, 1, "http://h/x", "queued", 0);
        insert(&conn, 2, "http://h/x", "succeeded", 0);
        conn.execute(
            "UPDATE transfers SET headers = '[[\"X-A\",\"1\"]]' WHERE seq = 1",
            [],
        )
        .expect("headers");
        for seq in [1, 2] {
            conn.execute(
                "INSERT INTO resumable_uploads VALUES (?1, 'tus', ?2, 5, 0)",
                rusqlite::params![format!("id-{seq}"), format!("http://h/files/{seq}")],
            )
            .expect("resource");
        }
        let queued = [StateKind::Queued];
        let walk = filter(&queued, None);
        let rows = chunk(&conn, &walk, 10).expect("chunk");
        let taken = take_upload_resources(&conn, &walk, &rows).expect("take");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].0.upload_url, "http://h/files/1");
        assert_eq!(taken[0].1, [("X-A".to_owned(), "1".to_owned())]);
        let succeeded = [StateKind::Succeeded];
        let finished = filter(&succeeded, None);
        let rows = chunk(&conn, &finished, 10).expect("chunk");
        forget_upload_resources(&conn, &finished, &rows).expect("forget");
        let left: i64 = conn
            .query_row("SELECT count(*) FROM resumable_uploads", [], |row| {
                row.get(0)
            })
            .expect("count");
        assert_eq!(left, 0);
    }

    #[test]
    fn a_purge_forgets_the_answers_of_its_chunk_and_no_other() {
        let conn = migrated();
        insert(&conn, 1, "http://h/x", "succeeded", 0);
        insert(&conn, 2, "http://h/y", "succeeded", 0);
        for seq in [1, 2] {
            conn.execute(
                "INSERT INTO server_responses VALUES (?1, 201, '[]', x'7b7d', 0, 0)",
                rusqlite::params![format!("id-{seq}")],
            )
            .expect("answer");
        }
        let succeeded = [StateKind::Succeeded];
        let only_x = filter(&succeeded, Some("http://h/x"));
        let rows = chunk(&conn, &only_x, 10).expect("chunk");
        forget_responses(&conn, &only_x, &rows).expect("forget");
        delete(&conn, &only_x, &rows, &mut TotalsDelta::default()).expect("delete");
        let left: Vec<String> = conn
            .prepare("SELECT transfer_id FROM server_responses")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(left, ["id-2"]);
    }

    #[test]
    fn renumbering_continues_after_the_numbered_parameters() {
        assert_eq!(renumber_from("a > ? AND b = ?", 2), "a > ?2 AND b = ?3");
    }
}
