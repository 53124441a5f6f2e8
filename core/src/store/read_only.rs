//! Reading a queue's database without driving it, for [`crate::QueueSnapshot`]: while a
//! push or an app holds the queue (`lock.rs`), anyone may still look.
//!
//! What it is for: one SQLite connection opened read-only (`SQLITE_OPEN_READ_ONLY`). In
//! WAL mode a reader sees the last commit while the writer goes on, and one read
//! transaction ([`ReadOnlyStore::read`]) makes every part of a snapshot agree.
//!
//! What it must never do: write to the database (no migration, no requeue of transfers
//! left running, no pragma that writes), take the one-process lock, or create a database.
//! SQLite may create the `-wal` and `-shm` files of a database in WAL mode when they are
//! missing, since a reader needs them; the database file itself is never written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::lock::held_by_an_opener;
use super::open_check::{Identified, classify_sqlite_error, identify};
use super::schema::LATEST_VERSION;
use crate::error::StoreError;

/// How long a read waits while the writer holds what a reader needs for a moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A database opened only to read.
pub(crate) struct ReadOnlyStore {
    conn: Connection,
    path: PathBuf,
    /// Nothing was ever stored: the file is empty (or being created right now).
    empty: bool,
    /// Whether an opener held the queue when it was opened; `None` if the system cannot
    /// tell.
    held_by_an_opener: Option<bool>,
}

impl ReadOnlyStore {
    /// Opens the Ferry database at `path` to read it. A missing file is `NotFound`, an
    /// older schema `OlderVersion` (migrating would write); nothing is created.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        // Asked before SQLite opens the file: closing the descriptor this uses would drop
        // the POSIX locks SQLite takes on it.
        let held = held_by_an_opener(path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound { path: path.into() },
            _ => StoreError::Unavailable {
                path: path.into(),
                detail: format!("the database file cannot be read: {error}"),
            },
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|error| classify_sqlite_error(path, error))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| classify_sqlite_error(path, error))?;
        let empty = match identify(&conn, path)? {
            Identified::Empty => true,
            Identified::Ferry { version } if version < LATEST_VERSION => {
                return Err(StoreError::OlderVersion {
                    path: path.into(),
                    found: version,
                    supported: LATEST_VERSION,
                });
            }
            Identified::Ferry { .. } => false,
        };
        Ok(Self {
            conn,
            path: path.into(),
            empty,
            held_by_an_opener: held,
        })
    }

    /// Whether nothing was ever stored (there are no tables to read).
    pub(crate) fn is_empty(&self) -> bool {
        self.empty
    }

    /// Whether a process held the queue open when this store was opened.
    pub(crate) fn held_by_an_opener(&self) -> Option<bool> {
        self.held_by_an_opener
    }

    /// Runs `read` in one read transaction: all it reads is of one commit.
    pub(crate) fn read<T>(
        &mut self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let path = &self.path;
        let error = |error| classify_sqlite_error(path, error);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(error)?;
        let value = read(&tx).map_err(error)?;
        // A read transaction has nothing to commit; ending it lets the writer's
        // checkpoints reuse the log.
        tx.rollback().map_err(error)?;
        Ok(value)
    }
}
