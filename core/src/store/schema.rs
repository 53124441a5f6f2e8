//! The schema and its migrations. Version `n` is reached by applying `MIGRATIONS[n-1]`.
//!
//! Migrations only ever append: never edit one that has shipped.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the transfers table.
    "CREATE TABLE transfers (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        destination TEXT NOT NULL,
        host TEXT NOT NULL,
        method TEXT NOT NULL,
        multipart_field TEXT,
        headers TEXT NOT NULL,
        priority INTEGER NOT NULL,
        allow_expensive INTEGER NOT NULL,
        allow_constrained INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        state TEXT NOT NULL,
        lane_key TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL DEFAULT 0,
        bytes_sent INTEGER NOT NULL DEFAULT 0,
        error_kind TEXT,
        error_status INTEGER,
        error_message TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX transfers_runnable ON transfers(state, priority DESC, seq);
    CREATE INDEX transfers_due ON transfers(state, next_attempt_at);
    CREATE INDEX transfers_identity ON transfers(source, destination, method);",
    // 2: resumable upload resources (tus, IETF draft), one per transfer at most. A table of
    // its own, so the transfers table and its hot indexes stay as they are.
    "CREATE TABLE resumable_uploads (
        transfer_id TEXT PRIMARY KEY NOT NULL,
        protocol TEXT NOT NULL,
        upload_url TEXT NOT NULL,
        confirmed_offset INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );",
    // 3: the scheduler's indexes hold only the rows they are for (queued, running), so
    // a transfer that finishes touches one small index instead of rewriting its entries in
    // two indexes over every row (`many_small_puts`: a third of a turn's SQLite work).
    "DROP INDEX transfers_runnable;
    DROP INDEX transfers_due;
    CREATE INDEX transfers_queued_in_run_order ON transfers(priority DESC, seq)
        WHERE state = 'queued';
    CREATE INDEX transfers_queued_by_due_time ON transfers(next_attempt_at)
        WHERE state = 'queued';
    CREATE INDEX transfers_running ON transfers(lane_key) WHERE state = 'running';",
];

pub(super) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST_VERSION`] in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current >= LATEST_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for (index, script) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version > current {
            tx.execute_batch(script)?;
        }
    }
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    tx.commit()
}
