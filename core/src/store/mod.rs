//! The durable queue: one SQLite database in WAL mode.
//!
//! Opening checks that the file is a Ferry database of a version this build understands
//! and migrates older schemas; a damaged, foreign or newer file gives a typed
//! [`StoreError`], never a panic. Every write happens inside the actor's transaction for
//! its turn, and one sync of the WAL covers every turn committed while the one before ran
//! (`wal_sync.rs`, `actor/group_commit.rs`), so thousands of state changes per second
//! cost a few hundred fsyncs.
//! This module must never decide anything about transfers: it stores and loads.

pub(crate) mod bulk;
mod downloads;
mod enqueue;
mod hosts;
mod identity;
mod inspect;
mod lock;
mod open_check;
mod read_only;
mod responses;
mod resumable;
mod row;
mod schema;
mod selected;
mod source_path;
mod totals;
mod transfers;
mod wal_sync;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use self::lock::{DatabaseLock, lock_database};
use self::open_check::{FERRY_APPLICATION_ID, classify_sqlite_error, identify};
use crate::error::StoreError;

pub(crate) use bulk::BulkFilter;
pub(crate) use downloads::{forget_download, load_download, save_download, set_saved_as, set_size};
pub(crate) use enqueue::{EnqueueWriter, Identity, stored_headers};
pub(crate) use hosts::{HostBacklog, host_backlogs};
pub(crate) use inspect::{newest_record_of_each_file, records_of_group, soonest_due};
pub(crate) use read_only::ReadOnlyStore;
pub(crate) use responses::{load_response, save_response};
pub(crate) use resumable::{forget_resumable, holds_any_resumable, load_resumable, save_resumable};
pub(crate) use totals::{StateTotals, TotalsDelta, apply as apply_totals, totals, totals_with};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use transfers::list;
pub(crate) use transfers::{
    CandidateFilter, CandidateRow, ListFilter, any_runnable, bring_forward_retry_times,
    due_candidates, due_large_candidates, due_small_candidates, list_selected, load, load_by_seq,
    longest_waiting_candidate, next_retry_at, requeue_interrupted_in_process, requeue_running,
    running_on_platform, save, save_replacing,
};
pub(crate) use wal_sync::WalSync;

/// Prepared statements kept per connection (rusqlite's default is 16).
const STATEMENT_CACHE_CAPACITY: usize = 64;
/// The page cache, in KiB.
const CACHE_KIB: i64 = 8 * 1024;
/// WAL frames (pages) at which a checkpoint is due: SQLite's own autocheckpoint default.
const CHECKPOINT_FRAMES: u32 = 1000;

/// An open database, and the lock that makes this process its only user.
pub(crate) struct Store {
    conn: Connection,
    path: PathBuf,
    /// A lock on the database file itself, held while the store is open (`lock.rs`): one
    /// process drives a queue, whatever name it opens the database by. Declared after
    /// `conn`, so SQLite closes before the lock is released.
    _lock: DatabaseLock,
    /// Whether SQLite runs with a write-ahead log (it may refuse one).
    journal_is_wal: bool,
    /// Frames in the WAL after the last commit, from SQLite's WAL hook: checkpoints are
    /// ours to run, on the blocking pool (`checkpoint_if_due`).
    wal_frames: Arc<AtomicU32>,
}

impl Store {
    /// Opens (creating if missing) and migrates the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = lock_database(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|error| StoreError::Unavailable {
                path: path.into(),
                detail: error.to_string(),
            })?;
        let mut store = Self {
            conn,
            path: path.into(),
            _lock: lock,
            journal_is_wal: false,
            wal_frames: Arc::new(AtomicU32::new(0)),
        };
        store.check_identity()?;
        store.journal_is_wal = store.configure()?;
        schema::migrate(&mut store.conn).map_err(|error| store.error(error))?;
        Ok(store)
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// What syncs this database's commits: its WAL, found where SQLite keeps it.
    pub(crate) fn wal_sync(&self) -> Result<WalSync, StoreError> {
        let wal = match (self.journal_is_wal, self.conn.path()) {
            (true, Some(database)) if !database.is_empty() => {
                Some(PathBuf::from(format!("{database}-wal")))
            }
            (true, _) => {
                let mut name = self.path.as_os_str().to_owned();
                name.push("-wal");
                Some(PathBuf::from(name))
            }
            (false, _) => None,
        };
        WalSync::open(self.path.clone(), wal)
    }

    /// Whether the WAL has grown enough to checkpoint it.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.wal_frames.load(Ordering::Relaxed) >= CHECKPOINT_FRAMES
    }

    /// Copies the WAL back into the database, so the WAL restarts from its beginning. It
    /// syncs the WAL and the database (twice F_FULLFSYNC on Apple): run it on the blocking
    /// pool, never on a runtime worker. A failure is logged; the next turn tries again.
    /// Returns whether a checkpoint ran: then the next commit restarts the WAL, and SQLite
    /// syncs the restarted WAL's header inside that commit, so it too belongs on the
    /// blocking pool.
    pub(crate) fn checkpoint_if_due(&mut self) -> bool {
        if !self.checkpoint_due() {
            return false;
        }
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            Ok(()) => {
                self.wal_frames.store(0, Ordering::Relaxed);
                true
            }
            Err(error) => {
                log::warn!("a checkpoint of the WAL failed: {error}");
                false
            }
        }
    }

    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Turns a SQLite error into a [`StoreError`] that names this database.
    pub(crate) fn error(&self, error: rusqlite::Error) -> StoreError {
        classify_sqlite_error(&self.path, error)
    }

    fn check_identity(&self) -> Result<(), StoreError> {
        identify(&self.conn, &self.path).map(|_| ())
    }

    /// Sets the connection up; whether the journal is a WAL.
    fn configure(&mut self) -> Result<bool, StoreError> {
        let wal_frames = Arc::clone(&self.wal_frames);
        let conn = &mut self.conn;
        let apply = || -> rusqlite::Result<bool> {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            let journal_is_wal = mode.eq_ignore_ascii_case("wal");
            if journal_is_wal {
                // A commit writes the WAL and returns; the actor syncs the WAL itself, once
                // for every turn committed meanwhile, before anything of them is told
                // (`wal_sync.rs`, `actor/group_commit.rs`). SQLite still syncs around its
                // checkpoints and when it starts reusing the WAL.
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                // No checkpoint inside a commit, which may run on a runtime worker: the
                // hook counts the WAL's frames, and the actor checkpoints on the blocking
                // pool (`checkpoint_if_due`). Set after the pragma, which replaces the hook.
                conn.pragma_update(None, "wal_autocheckpoint", 0)?;
                conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames| {
                    wal_frames.store(u32::try_from(frames).unwrap_or(u32::MAX), Ordering::Relaxed);
                    Ok(())
                }))?;
            } else {
                log::warn!("SQLite refused WAL mode (got {mode}); every commit syncs itself");
                conn.pragma_update(None, "synchronous", "FULL")?;
            }
            // Apple's fsync does not reach the platter; F_FULLFSYNC does.
            if cfg!(target_vendor = "apple") {
                conn.pragma_update(None, "fullfsync", "ON")?;
            }
            conn.pragma_update(None, "application_id", FERRY_APPLICATION_ID)?;
            // 8 MiB of page cache (SQLite's default is 2 MiB): an `enqueue_many` of 10,000
            // files no longer spills pages to the WAL mid-transaction and reads them back
            // (inserts 57 -> 35 ms), and the scheduler's pages stay cached while it runs.
            // The cache grows only as pages are used.
            conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            // Every statement the actor runs stays prepared: the default cache (16) is
            // smaller than the set one busy turn uses, and re-preparing cost about a tenth
            // of the actor's time in `many_small_puts`.
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            // Without the query planner stability guarantee, SQLite re-prepares a
            // statement whenever a new value is bound to `LIMIT ?` (the scheduler's
            // window changes every turn); our plans do not depend on bound values.
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            Ok(journal_is_wal)
        };
        let configured = apply();
        configured.map_err(|error| self.error(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_created_and_reopens() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        drop(Store::open(&path).expect("create"));
        Store::open(&path).expect("reopen");
    }

    #[test]
    fn a_database_in_use_cannot_be_opened_twice_until_it_is_closed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        let first = Store::open(&path).expect("first");
        let error = Store::open(&path).err().expect("second must fail");
        assert!(matches!(error, StoreError::InUse { .. }), "{error}");
        drop(first);
        Store::open(&path).expect("free again");
    }

    fn second_open_is_in_use(path: &Path) {
        let error = Store::open(path).err().expect("a second open must fail");
        assert!(matches!(error, StoreError::InUse { .. }), "{error}");
    }

    #[test]
    fn a_symbolic_link_or_a_hard_link_to_an_open_database_is_in_use() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        let symlink = dir.path().join("symlink.db");
        std::fs::create_dir(dir.path().join("elsewhere")).expect("mkdir");
        let hard_link = dir.path().join("elsewhere").join("hardlink.db");
        let first = Store::open(&path).expect("first");
        std::os::unix::fs::symlink(&path, &symlink).expect("symlink");
        std::fs::hard_link(&path, &hard_link).expect("hard link");
        second_open_is_in_use(&symlink);
        second_open_is_in_use(&hard_link);
        drop(first);
        // And the other way round: opened by the hard link, the original name is in use.
        let by_link = Store::open(&hard_link).expect("free again");
        second_open_is_in_use(&path);
        drop(by_link);
        Store::open(&symlink).expect("free again");
    }

    #[test]
    fn a_raw_sqlite_connection_works_beside_the_lock_and_leaves_it_held() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        let mut store = Store::open(&path).expect("open");
        store
            .connection()
            .execute_batch("CREATE TABLE pad(x INTEGER); INSERT INTO pad VALUES (1);")
            .expect("write through the store");
        {
            // SQLite's own POSIX locks, in this process, on the same file: they must not
            // collide with the lock's byte, and closing this connection (which drops every
            // POSIX lock the process holds on the file) must not release it.
            let raw = Connection::open(&path).expect("raw open");
            raw.execute("INSERT INTO pad VALUES (2)", [])
                .expect("SQLite locks and writes beside the lock");
            let rows: i64 = raw
                .query_row("SELECT count(*) FROM pad", [], |row| row.get(0))
                .expect("read");
            assert_eq!(rows, 2);
        }
        let rows: i64 = store
            .connection()
            .query_row("SELECT count(*) FROM pad", [], |row| row.get(0))
            .expect("the store still reads");
        assert_eq!(rows, 2);
        second_open_is_in_use(&path);
    }

    #[test]
    fn a_database_in_a_missing_directory_says_so() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("no-such-dir").join("q.db");
        let error = Store::open(&path).err().expect("must fail");
        assert!(
            matches!(&error, StoreError::DirectoryMissing { directory, .. } if directory.ends_with("no-such-dir")),
            "{error}"
        );
        assert!(error.to_string().contains("does not exist"), "{error}");
        assert!(
            !dir.path().join("no-such-dir").exists(),
            "nothing was created"
        );
    }

    #[test]
    fn commits_never_checkpoint_and_a_due_checkpoint_restarts_the_wal() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        let mut store = Store::open(&path).expect("open");
        let conn = store.connection();
        conn.execute_batch("CREATE TABLE pad(x BLOB);")
            .expect("table");
        let wal_pages = || std::fs::metadata(dir.path().join("q.db-wal")).map(|m| m.len() / 4096);
        let mut commits = 0;
        while !store.checkpoint_due() {
            store
                .connection()
                .execute("INSERT INTO pad VALUES (zeroblob(16384))", [])
                .expect("insert");
            commits += 1;
            assert!(commits < 1000, "a checkpoint never came due");
        }
        // SQLite's own autocheckpoint would have reset the WAL by now; ours waits.
        let grown = wal_pages().expect("the WAL");
        assert!(grown >= u64::from(CHECKPOINT_FRAMES), "{grown} pages");

        assert!(store.checkpoint_if_due(), "a due checkpoint runs");
        assert!(!store.checkpoint_due());
        assert!(!store.checkpoint_if_due(), "none is due any more");
        store
            .connection()
            .execute("INSERT INTO pad VALUES (1)", [])
            .expect("insert");
        assert!(
            !store.checkpoint_due(),
            "the WAL restarted from its beginning"
        );
        assert_eq!(
            wal_pages().expect("the WAL"),
            grown,
            "reused in place, not regrown"
        );
    }

    #[test]
    fn garbage_bytes_are_not_a_database() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        std::fs::write(&path, vec![0xA5u8; 8192]).expect("write");
        let error = Store::open(&path).err().expect("must fail");
        assert!(matches!(error, StoreError::NotADatabase { .. }), "{error}");
    }

    #[test]
    fn another_programs_sqlite_file_is_foreign() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE notes(text TEXT);")
            .expect("create");
        drop(conn);
        let error = Store::open(&path).err().expect("must fail");
        assert!(matches!(error, StoreError::Foreign { .. }), "{error}");
    }

    #[test]
    fn a_newer_schema_is_refused_without_touching_it() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        drop(Store::open(&path).expect("create"));
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", schema::LATEST_VERSION + 1)
            .expect("bump");
        drop(conn);
        let error = Store::open(&path).err().expect("must fail");
        assert!(matches!(error, StoreError::NewerVersion { .. }), "{error}");
        let conn = Connection::open(&path).expect("open");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("read");
        assert_eq!(
            version,
            schema::LATEST_VERSION + 1,
            "the file was left alone"
        );
    }

    /// Inserts a raw row: `state` and `headers` as given, the rest valid.
    fn insert_raw(conn: &Connection, seq: i64, state: &dyn rusqlite::ToSql, headers: &str) {
        conn.execute(
            "INSERT INTO transfers (seq, id, source, destination, host, method, headers, \
             priority, allow_expensive, allow_constrained, size, mtime_ns, state, created_at, \
             updated_at) VALUES (?1, ?2, '/src/a', 'http://h/a', 'h:80', 'PUT', ?3, 0, 1, 1, \
             1, 0, ?4, 0, 0)",
            rusqlite::params![seq, format!("id-{seq}"), headers, state],
        )
        .expect("insert raw row");
    }

    #[test]
    fn rows_decode_their_headers_and_a_mistyped_column_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::open(&dir.path().join("q.db")).expect("create");
        let conn = store.connection();
        insert_raw(conn, 1, &"queued", "[]");
        insert_raw(conn, 2, &"queued", r#"[["X-Tag","7"]]"#);
        let rows = list(conn, None, 0, 10).expect("list valid rows");
        assert_eq!(rows.len(), 2);
        assert!(rows[0].upload.headers.is_empty());
        assert_eq!(rows[1].upload.headers, vec![("X-Tag".into(), "7".into())]);
        assert_eq!(load_by_seq(conn, 2).expect("load").map(|t| t.seq), Some(2));
        insert_raw(conn, 3, &42_i64, "[]");
        let error = load_by_seq(conn, 3).expect_err("an integer state must not decode");
        assert!(
            matches!(error, rusqlite::Error::FromSqlConversionFailure(12, ..)),
            "{error}"
        );
    }

    #[test]
    fn a_truncated_database_is_reported_not_panicked_on() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("q.db");
        drop(Store::open(&path).expect("create"));
        // Keep SQLite's 100-byte header, destroy everything after it.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.truncate(100);
        bytes.resize(4096 * 3, 0xEE);
        std::fs::write(&path, bytes).expect("write");
        let _ = std::fs::remove_file(dir.path().join("q.db-wal"));
        let error = Store::open(&path).err().expect("must fail");
        assert!(
            matches!(
                error,
                StoreError::Corrupt { .. } | StoreError::NotADatabase { .. }
            ),
            "{error}"
        );
    }
}
