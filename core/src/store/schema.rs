//! The schema and its migrations. Version `n` is reached by applying `MIGRATIONS[n-1]`.
//!
//! Migrations only ever append: never edit one that has shipped.

use rusqlite::{Connection, Transaction, params};

use super::identity::identity_key;
use super::row::text;

/// One migration: SQL, or a step that needs Rust (a value SQLite cannot compute).
enum Migration {
    Sql(&'static str),
    Rust(fn(&Transaction<'_>) -> rusqlite::Result<()>),
}

impl Migration {
    fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        match self {
            Self::Sql(script) => tx.execute_batch(script),
            Self::Rust(step) => step(tx),
        }
    }
}

const MIGRATIONS: &[Migration] = &[
    // 1: the transfers table.
    Migration::Sql(
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
    ),
    // 2: resumable upload resources (tus, IETF draft), one per transfer at most. A table of
    // its own, so the transfers table and its hot indexes stay as they are.
    Migration::Sql(
        "CREATE TABLE resumable_uploads (
        transfer_id TEXT PRIMARY KEY NOT NULL,
        protocol TEXT NOT NULL,
        upload_url TEXT NOT NULL,
        confirmed_offset INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );",
    ),
    // 3: the scheduler's indexes hold only the rows they are for (queued, running), so
    // a transfer that finishes touches one small index instead of rewriting its entries in
    // two indexes over every row (`many_small_puts`: a third of a turn's SQLite work).
    Migration::Sql(
        "DROP INDEX transfers_runnable;
    DROP INDEX transfers_due;
    CREATE INDEX transfers_queued_in_run_order ON transfers(priority DESC, seq)
        WHERE state = 'queued';
    CREATE INDEX transfers_queued_by_due_time ON transfers(next_attempt_at)
        WHERE state = 'queued';
    CREATE INDEX transfers_running ON transfers(lane_key) WHERE state = 'running';",
    ),
    // 4: uploads are found by an integer identity key (`identity.rs`), not by an index
    // over their source, destination and method texts.
    Migration::Rust(add_identity_keys),
    // Files and bytes per state, so `progress()` reads a few rows instead of every
    // transfer; kept by the store's writers (`totals.rs`).
    Migration::Sql(
        "CREATE TABLE state_totals (
        state TEXT PRIMARY KEY NOT NULL,
        files INTEGER NOT NULL,
        bytes INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO state_totals (state, files, bytes)
        SELECT state, count(*), coalesce(sum(size), 0) FROM transfers GROUP BY state;",
    ),
    // 6: within a priority, queued transfers run in the order they became due (never tried,
    // or tried longest ago, first), not in enqueue order: a rerun's first requests go to
    // the files an earlier run never got to, instead of the first few files again
    // (issue 23, point 1).
    Migration::Sql(
        "DROP INDEX transfers_queued_in_run_order;
    CREATE INDEX transfers_queued_in_due_order ON transfers(priority DESC, next_attempt_at, seq)
        WHERE state = 'queued';",
    ),
    // 7: the server's answer to each upload that succeeded (issue 19), readable by id after
    // the OS lane finished it while the app was gone. A table of its own, so that bodies
    // never sit in the transfers table's pages; a purge deletes a transfer's answer with it.
    Migration::Sql(
        "CREATE TABLE server_responses (
        transfer_id TEXT PRIMARY KEY NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        body_truncated INTEGER NOT NULL,
        received_at INTEGER NOT NULL
    );",
    ),
    // 8: the app's own data on a transfer (issue 19): its group, and its metadata as a JSON
    // object (NULL when it has none, as every row stored before). The group's index holds
    // only rows in a group, in `seq` order, for listing and bulk calls by group.
    Migration::Sql(
        "ALTER TABLE transfers ADD COLUMN group_name TEXT;
    ALTER TABLE transfers ADD COLUMN metadata TEXT;
    CREATE INDEX transfers_by_group ON transfers(group_name, seq) WHERE group_name IS NOT NULL;",
    ),
    // 9: downloads (issue 21), transfers of the same table in the other direction. A
    // download's local file is stored in `source` (the local path of either direction, in
    // `source_path.rs`'s form) and its URL in `destination`, with method 'GET', so identity
    // keys, hosts, limits and indexes are shared. `download` holds what was enqueued beyond
    // that (expected size and SHA-256, conflict rule) as JSON, NULL for uploads; `saved_as`
    // where the finished file was put (another name under `KeepBoth`). Every row stored
    // before is an upload. The resume state, written by every checkpoint, sits in a table
    // of its own, like `resumable_uploads`: validators (ETag, Last-Modified), the total
    // length, the offset the partial file holds durably, digest failures, and the name a
    // finishing attempt is placing the file at.
    Migration::Sql(
        "ALTER TABLE transfers ADD COLUMN direction TEXT NOT NULL DEFAULT 'upload';
    ALTER TABLE transfers ADD COLUMN download TEXT;
    ALTER TABLE transfers ADD COLUMN saved_as BLOB;
    CREATE TABLE downloads (
        transfer_id TEXT PRIMARY KEY NOT NULL,
        etag TEXT,
        last_modified TEXT,
        total_length INTEGER,
        recorded_offset INTEGER NOT NULL,
        digest_failures INTEGER NOT NULL DEFAULT 0,
        placing BLOB,
        updated_at INTEGER NOT NULL
    );",
    ),
];

/// Migration 4: adds the identity key column, computes it for every stored transfer, and
/// indexes it in place of the texts.
fn add_identity_keys(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch("ALTER TABLE transfers ADD COLUMN identity INTEGER NOT NULL DEFAULT 0;")?;
    // Read every key first: SQLite leaves open what a scan sees of rows updated under it.
    let keys = {
        let mut rows =
            tx.prepare("SELECT seq, source, destination, method, multipart_field FROM transfers")?;
        let keys = rows.query_map([], |row| {
            let field: Option<String> = row.get(4)?;
            let key = identity_key(
                text(row, 1)?.as_bytes(),
                text(row, 2)?,
                text(row, 3)?,
                field.as_deref(),
            );
            Ok((row.get::<_, i64>(0)?, key))
        })?;
        keys.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut update = tx.prepare("UPDATE transfers SET identity = ?2 WHERE seq = ?1")?;
    for (seq, key) in keys {
        update.execute(params![seq, key])?;
    }
    tx.execute_batch(
        "DROP INDEX transfers_identity;
        CREATE INDEX transfers_by_identity ON transfers(identity);",
    )
}

/// The steps of SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`), for tests that hold a
/// query to its index.
#[cfg(test)]
pub(super) fn query_plan(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("explain")
        .query_map([], |row| row.get::<_, String>(3))
        .expect("plan")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

pub(super) const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`LATEST_VERSION`] in one transaction.
pub(super) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current >= LATEST_VERSION {
        return Ok(());
    }
    let tx = conn.transaction()?;
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version > current {
            migration.apply(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", LATEST_VERSION)?;
    tx.commit()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::{EnqueueWriter, Identity};
    use crate::upload::Upload;

    /// An empty database in memory, at the latest version.
    pub(in crate::store) fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().expect("memory db");
        migrate(&mut conn).expect("migrate");
        conn
    }

    /// A database left at `version` by an older build.
    fn database_at(version: usize) -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        let tx = conn.transaction().expect("begin");
        for migration in &MIGRATIONS[..version] {
            migration.apply(&tx).expect("old migration");
        }
        tx.pragma_update(None, "user_version", version as i64)
            .expect("version");
        tx.commit().expect("commit");
        conn
    }

    fn insert_before_identity_keys(conn: &Connection, seq: i64, source: &str, field: Option<&str>) {
        let method = if field.is_some() {
            "POST_MULTIPART"
        } else {
            "PUT"
        };
        conn.execute(
            "INSERT INTO transfers (seq, id, source, destination, host, method, \
             multipart_field, headers, priority, allow_expensive, allow_constrained, size, \
             mtime_ns, state, created_at, updated_at) VALUES (?1, ?2, ?3, 'http://h/up', \
             'h:80', ?4, ?5, '[]', 0, 1, 1, 1, 0, 'queued', 0, 0)",
            params![seq, format!("id-{seq}"), source, method, field],
        )
        .expect("insert");
    }

    #[test]
    fn transfers_stored_before_identity_keys_are_found_after_the_migration() {
        let mut conn = database_at(3);
        insert_before_identity_keys(&conn, 1, "/src/a", None);
        insert_before_identity_keys(&conn, 2, "/src/b", Some("file"));
        migrate(&mut conn).expect("migrate");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, LATEST_VERSION);

        let mut writer = EnqueueWriter::new(&conn).expect("writer");
        let put = Upload::put("/src/a", "http://h/up");
        let found = writer.find_reusable(&Identity::of(&put)).expect("find");
        assert_eq!(found.map(|found| found.id.to_string()), Some("id-1".into()));
        let mut multipart = Upload::put("/src/b", "http://h/up");
        multipart.method = crate::upload::UploadMethod::PostMultipart {
            field: "file".into(),
        };
        let found = writer
            .find_reusable(&Identity::of(&multipart))
            .expect("find");
        assert_eq!(found.map(|found| found.id.to_string()), Some("id-2".into()));
        let other = Upload::put("/src/a", "http://h/elsewhere");
        assert!(
            writer
                .find_reusable(&Identity::of(&other))
                .expect("find")
                .is_none()
        );
    }

    #[test]
    fn the_totals_of_transfers_stored_before_them_are_counted_by_the_migration() {
        let mut conn = database_at(3);
        insert_before_identity_keys(&conn, 1, "/src/a", None);
        insert_before_identity_keys(&conn, 2, "/src/b", None);
        insert_before_identity_keys(&conn, 3, "/src/c", None);
        conn.execute("UPDATE transfers SET state = 'succeeded' WHERE seq = 3", [])
            .expect("finish one");
        migrate(&mut conn).expect("migrate");
        let totals = crate::store::totals(&conn).expect("totals");
        assert_eq!(totals.get(crate::state::StateKind::Queued), (2, 2));
        assert_eq!(totals.get(crate::state::StateKind::Succeeded), (1, 1));
    }

    #[test]
    fn transfers_stored_before_groups_read_back_in_no_group_with_no_metadata() {
        let mut conn = database_at(6);
        conn.execute(
            "INSERT INTO transfers (seq, id, source, destination, host, method, headers, \
             priority, allow_expensive, allow_constrained, size, mtime_ns, state, created_at, \
             updated_at, identity) VALUES (1, 'id-1', '/src/a', 'http://h/up', 'h:80', 'PUT', \
             '[]', 0, 1, 1, 1, 0, 'queued', 0, 0, 0)",
            [],
        )
        .expect("insert");
        migrate(&mut conn).expect("migrate");
        let listed = crate::store::list(&conn, None, 0, 10).expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].upload.metadata.is_empty());
        assert_eq!(listed[0].upload.group, None);
    }

    #[test]
    fn a_group_is_listed_and_chunked_on_its_own_index() {
        let conn = migrated();
        for sql in [
            "SELECT seq FROM transfers WHERE 1 AND group_name = 'g' ORDER BY seq LIMIT 5 OFFSET 0",
            "SELECT seq FROM transfers WHERE seq > 0 AND seq <= 9 AND (state IN ('queued')) \
             AND group_name = 'g' ORDER BY seq LIMIT 5",
        ] {
            let plan = query_plan(&conn, sql);
            assert!(
                plan.iter().any(|step| step.contains("transfers_by_group")),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn the_lookup_by_identity_uses_the_integer_index() {
        let mut conn = database_at(0);
        migrate(&mut conn).expect("migrate");
        let plan = query_plan(
            &conn,
            "SELECT 1 FROM transfers WHERE identity = 1 AND source = 'a' \
             AND destination = 'b' AND method = 'PUT' AND multipart_field IS NULL",
        );
        assert!(
            plan.iter()
                .any(|step| step.contains("transfers_by_identity")),
            "{plan:?}"
        );
    }
}
