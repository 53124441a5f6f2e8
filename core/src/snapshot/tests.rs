//! Snapshots of databases written row by row: what counts as a file's fate, what waits,
//! and that reading never writes, requeues, locks or migrates.

use std::path::Path;

use rusqlite::{Connection, params};

use super::*;
use crate::StoreError;
use crate::store::Store;

/// One stored transfer, as a test writes it.
struct Row<'a> {
    seq: i64,
    source: &'a str,
    destination: &'a str,
    state: &'a str,
    next_attempt_at: i64,
    error: Option<&'a str>,
    updated_at: i64,
}

impl<'a> Row<'a> {
    fn new(seq: i64, source: &'a str, destination: &'a str, state: &'a str) -> Self {
        Self {
            seq,
            source,
            destination,
            state,
            next_attempt_at: 0,
            error: None,
            updated_at: 0,
        }
    }
}

/// A database holding `rows` (and totals that count them), closed again.
fn database_with(path: &Path, rows: &[Row<'_>]) {
    let mut store = Store::open(path).expect("create");
    let conn = store.connection();
    for row in rows {
        let host = row
            .destination
            .split('/')
            .nth(2)
            .expect("a destination with a host");
        conn.execute(
            "INSERT INTO transfers (seq, id, source, destination, host, method, headers, \
             priority, allow_expensive, allow_constrained, size, mtime_ns, state, attempts, \
             next_attempt_at, error_kind, error_message, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'PUT', '[]', 0, 1, 1, 10, 0, ?6, ?7, ?8, ?9, ?10, 0, \
             ?11)",
            params![
                row.seq,
                format!("id-{}", row.seq),
                row.source,
                row.destination,
                host,
                row.state,
                i64::from(row.error.is_some()),
                row.next_attempt_at,
                row.error.map(|_| "network"),
                row.error,
                row.updated_at,
            ],
        )
        .expect("insert");
    }
    conn.execute_batch(
        "DELETE FROM state_totals;
         INSERT INTO state_totals (state, files, bytes)
             SELECT state, count(*), sum(size) FROM transfers GROUP BY state;",
    )
    .expect("totals");
}

fn read(path: &Path) -> Result<QueueSnapshot, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(QueueSnapshot::read(path, SnapshotLimits::default()))
}

fn records_in(snapshot: &QueueSnapshot, state: StateKind) -> u64 {
    snapshot
        .records
        .iter()
        .find(|count| count.state == state)
        .map_or(0, |count| count.files)
}

fn ids(transfers: &[Transfer]) -> Vec<String> {
    transfers.iter().map(|t| t.id.to_string()).collect()
}

#[test]
fn a_failure_a_later_record_uploaded_counts_as_uploaded_not_as_a_failure() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    database_with(
        &path,
        &[
            // a failed in run 1, and run 2 uploaded it: it is uploaded.
            Row::new(1, "/a", "http://h/a", "failed"),
            Row::new(2, "/b", "http://h/b", "failed"),
            Row::new(3, "/c", "http://h/c", "auth_required"),
            Row::new(4, "/a", "http://h/a", "succeeded"),
            // The same source to another destination is another file.
            Row::new(5, "/b", "http://h/elsewhere/b", "succeeded"),
            // d succeeded once and its newest record failed: the failure stands.
            Row::new(6, "/d", "http://h/d", "succeeded"),
            Row::new(7, "/d", "http://h/d", "failed"),
        ],
    );
    let snapshot = read(&path).expect("read");
    assert_eq!(snapshot.files_in(StateKind::Succeeded), 2, "{snapshot:?}");
    assert_eq!(snapshot.files_in(StateKind::Failed), 2, "{snapshot:?}");
    assert_eq!(snapshot.files_in(StateKind::AuthRequired), 1);
    assert_eq!(ids(&snapshot.failures), ["id-2", "id-3", "id-7"]);
    // The records still say what happened.
    assert_eq!(records_in(&snapshot, StateKind::Failed), 3);
    assert_eq!(records_in(&snapshot, StateKind::Succeeded), 3);
    let files: u64 = snapshot.files.iter().map(|count| count.files).sum();
    assert_eq!(files, 5, "five sources and destinations");
}

#[test]
fn waiting_transfers_come_soonest_first_and_hosts_say_why_they_wait() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    let failed = |seq, host: &'static str, due, at| Row {
        next_attempt_at: due,
        error: Some("could not connect"),
        updated_at: at,
        ..Row::new(seq, "/x", host, "queued")
    };
    database_with(
        &path,
        &[
            failed(1, "http://down:1/1", 9_000, 100),
            failed(2, "http://down:1/2", 5_000, 300),
            Row::new(3, "/y", "http://up:2/3", "queued"),
            Row::new(4, "/z", "http://up:2/4", "running"),
            failed(5, "http://down:1/5", 7_000, 200),
        ],
    );
    let snapshot = read(&path).expect("read");
    assert_eq!(ids(&snapshot.waiting), ["id-3", "id-2", "id-5", "id-1"]);
    assert_eq!(snapshot.waiting[1].host(), "down:1");
    assert_eq!(snapshot.hosts.len(), 2, "{:?}", snapshot.hosts);
    let down = &snapshot.hosts[0];
    assert_eq!(down.host, "down:1");
    assert_eq!(
        (down.queued, down.running, down.queued_after_failure),
        (3, 0, 3)
    );
    assert_eq!(down.next_attempt_at, Some(from_ms(5_000)));
    assert_eq!(down.last_error_at, Some(from_ms(300)), "the latest failure");
    let error = down.last_error.as_ref().expect("an error");
    assert_eq!(error.message, "could not connect");
    let up = &snapshot.hosts[1];
    assert_eq!((up.queued, up.running, up.queued_after_failure), (1, 1, 0));
    assert_eq!(up.last_error, None);

    let limited = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(QueueSnapshot::read(
            &path,
            SnapshotLimits {
                waiting: 2,
                failures: 0,
            },
        ))
        .expect("read");
    assert_eq!(ids(&limited.waiting), ["id-3", "id-2"]);
    assert_eq!(
        limited.files_in(StateKind::Queued),
        4,
        "counts cover every one"
    );
}

/// The database file and its WAL, as bytes.
fn stored_bytes(path: &Path) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (
        std::fs::read(path).expect("database"),
        std::fs::read(wal).ok(),
    )
}

#[test]
fn reading_a_closed_queue_writes_nothing_and_leaves_running_transfers_running() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    // A push killed while it sent /a: its row still says running.
    database_with(&path, &[Row::new(1, "/a", "http://h/a", "running")]);
    let before = stored_bytes(&path);
    let snapshot = read(&path).expect("read");
    assert_eq!(snapshot.in_use, Some(false), "no process holds it");
    assert_eq!(snapshot.files_in(StateKind::Running), 1);
    assert_eq!(snapshot.hosts[0].running, 1);
    let after = stored_bytes(&path);
    assert!(after.0 == before.0, "the database file was written");
    // SQLite may create an empty log beside a WAL database for a reader; nothing in it.
    let logged = after.1.as_ref().map_or(0, Vec::len);
    assert!(
        after.1 == before.1 || logged == 0,
        "{logged} bytes were logged"
    );
    let conn = Connection::open(&path).expect("open");
    let state: String = conn
        .query_row("SELECT state FROM transfers", [], |row| row.get(0))
        .expect("state");
    assert_eq!(state, "running", "not requeued");
}

#[test]
fn a_queue_another_opener_holds_is_read_and_stays_held() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    database_with(&path, &[Row::new(1, "/a", "http://h/a", "queued")]);
    let mut held = Store::open(&path).expect("the driver opens it");
    held.connection()
        .execute("UPDATE transfers SET state = 'succeeded' WHERE seq = 1", [])
        .expect("the driver writes");
    let snapshot = read(&path).expect("read beside the driver");
    assert_eq!(snapshot.in_use, Some(true));
    assert_eq!(
        snapshot.files_in(StateKind::Succeeded),
        1,
        "the last commit"
    );
    // Reading took no lock: the driver keeps the queue, and a second driver is refused.
    held.connection()
        .execute("UPDATE transfers SET state = 'failed' WHERE seq = 1", [])
        .expect("the driver still writes");
    assert!(matches!(Store::open(&path), Err(StoreError::InUse { .. })));
    drop(held);
    let snapshot = read(&path).expect("read after the driver closed");
    assert_eq!(snapshot.in_use, Some(false));
    assert_eq!(snapshot.files_in(StateKind::Failed), 1);
}

#[test]
fn an_older_schema_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    database_with(&path, &[Row::new(1, "/a", "http://h/a", "queued")]);
    let conn = Connection::open(&path).expect("open");
    let latest: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    conn.pragma_update(None, "user_version", latest - 1)
        .expect("make it older");
    drop(conn);
    let error = read(&path).expect_err("an older schema");
    assert!(
        matches!(&error, Error::Store(StoreError::OlderVersion { found, .. }) if *found == latest - 1),
        "{error}"
    );
    assert!(error.to_string().contains("open the queue once"), "{error}");
    let conn = Connection::open(&path).expect("open");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, latest - 1, "not migrated");
}

#[test]
fn a_missing_database_is_not_found_and_not_created() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    let error = read(&path).expect_err("nothing there");
    assert!(
        matches!(error, Error::Store(StoreError::NotFound { .. })),
        "{error}"
    );
    assert!(!path.exists());
}

#[test]
fn an_empty_file_is_an_empty_queue_and_another_programs_file_is_foreign() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    std::fs::write(&path, b"").expect("create");
    let snapshot = read(&path).expect("read");
    assert_eq!(snapshot.files.iter().map(|c| c.files).sum::<u64>(), 0);
    assert_eq!(snapshot.files.len(), StateKind::ALL.len());
    assert!(
        std::fs::read(&path).expect("read").is_empty(),
        "still empty"
    );

    let other = dir.path().join("other.db");
    Connection::open(&other)
        .expect("open")
        .execute_batch("CREATE TABLE notes(text TEXT);")
        .expect("create");
    let error = read(&other).expect_err("foreign");
    assert!(
        matches!(error, Error::Store(StoreError::Foreign { .. })),
        "{error}"
    );
}

#[test]
fn downloads_are_counted_apart_by_their_newest_record() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("q.db");
    database_with(
        &path,
        &[
            Row::new(1, "/a", "http://h/a", "succeeded"),
            // b failed as a download and a later run fetched it: one succeeded download.
            Row::new(2, "/b", "http://h/b", "failed"),
            Row::new(3, "/c", "http://h/c", "queued"),
            Row::new(4, "/b", "http://h/b", "succeeded"),
        ],
    );
    Connection::open(&path)
        .expect("open")
        .execute(
            "UPDATE transfers SET direction = 'download' WHERE seq IN (2, 3, 4)",
            [],
        )
        .expect("downloads");
    let snapshot = read(&path).expect("read");
    assert_eq!(snapshot.files_in(StateKind::Succeeded), 2, "{snapshot:?}");
    assert_eq!(
        snapshot.downloads_in(StateKind::Succeeded),
        1,
        "{snapshot:?}"
    );
    assert_eq!(snapshot.downloads_in(StateKind::Failed), 0, "{snapshot:?}");
    assert_eq!(snapshot.downloads_in(StateKind::Queued), 1, "{snapshot:?}");
    assert_eq!(snapshot.downloads.len(), StateKind::ALL.len());
}
