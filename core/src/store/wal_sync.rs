//! Syncs the write-ahead log through a handle of our own.
//!
//! The store commits with `synchronous=NORMAL`: a commit writes the WAL and does not wait
//! for the disk. Durability comes from this sync, which the actor's group commit runs on
//! the blocking pool after one or more commits (`actor/group_commit.rs`), and which
//! `TransferQueue::open` runs once after its own writes.
//!
//! This must never be skipped before anything of a commit is told to the app or the OS.
//! The one exception is the `test-skip-wal-sync` feature, which exists only so that the
//! power-cut test (`tests/tests/power_cut.rs`) can show it catches a missing sync: it
//! must never be enabled in a build anyone ships or tests anything else with.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::StoreError;

/// The power-cut test's control build: every sync of the WAL is skipped (see the module's
/// documentation). Always false unless that test asks for the feature.
const SKIP_FOR_THE_POWER_CUT_CONTROL: bool = cfg!(feature = "test-skip-wal-sync");

/// Syncs the WAL file of one database. Clones share the handle.
#[derive(Clone)]
pub(crate) struct WalSync {
    database: PathBuf,
    /// `None` when SQLite runs without a WAL: then every commit syncs itself
    /// (`synchronous=FULL`, `store/mod.rs`) and there is nothing left to sync.
    wal: Option<Arc<File>>,
}

impl WalSync {
    /// Opens `<database>-wal`, named as SQLite names it (after resolving symlinks).
    pub(crate) fn open(database: PathBuf, wal: Option<PathBuf>) -> Result<Self, StoreError> {
        let mut sync = Self {
            database,
            wal: None,
        };
        if let Some(path) = wal {
            let file = File::open(&path).map_err(|error| sync.error(&error))?;
            sync.wal = Some(Arc::new(file));
        }
        Ok(sync)
    }

    /// Syncs everything written to the WAL so far, blocking the thread.
    ///
    /// `sync_data` is fdatasync on Linux and Android, and `fcntl(F_FULLFSYNC)` on Apple
    /// platforms (rust-lang/rust#55920), as SQLite's `fullfsync` would do: a plain fsync
    /// there does not reach the flash.
    pub(crate) fn sync_blocking(&self) -> Result<(), StoreError> {
        if SKIP_FOR_THE_POWER_CUT_CONTROL {
            return Ok(());
        }
        match &self.wal {
            Some(file) => file.sync_data().map_err(|error| self.error(&error)),
            None => Ok(()),
        }
    }

    /// Syncs everything written to the WAL so far, on the blocking pool.
    pub(crate) async fn sync_on_blocking_pool(&self) -> Result<(), StoreError> {
        let Some(file) = &self.wal else {
            return Ok(());
        };
        if SKIP_FOR_THE_POWER_CUT_CONTROL {
            return Ok(());
        }
        let file = Arc::clone(file);
        match tokio::task::spawn_blocking(move || file.sync_data()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(self.error(&error)),
            Err(error) => Err(self.error(&std::io::Error::other(error))),
        }
    }

    fn error(&self, error: &std::io::Error) -> StoreError {
        StoreError::Unavailable {
            path: self.database.clone(),
            detail: format!(
                "syncing the write-ahead log failed ({error}), so the last changes may or may \
                 not be on disk; the queue closed: reopen it, and check what it holds"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn an_open_store_s_wal_is_found_and_synced() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("queue.db");
        let mut store = Store::open(&path).expect("open");
        let wal = store.wal_sync().expect("the WAL of an open store is found");
        wal.sync_blocking().expect("it syncs");
        // A checkpoint and the restart of the WAL that follows keep the same file.
        store
            .connection()
            .execute_batch(
                "PRAGMA wal_checkpoint(TRUNCATE); CREATE TABLE t(x); INSERT INTO t VALUES (1);",
            )
            .expect("checkpoint and write");
        wal.sync_blocking()
            .expect("it still syncs, through the same handle");
        use std::os::unix::fs::MetadataExt;
        let named = std::fs::metadata(dir.path().join("queue.db-wal")).expect("the WAL");
        let held = wal.wal.as_ref().expect("a WAL").metadata().expect("fstat");
        assert_eq!(
            held.ino(),
            named.ino(),
            "the handle is on the WAL SQLite writes"
        );
        assert!(named.len() > 0, "the write went to it");
    }

    #[test]
    fn a_missing_wal_is_a_typed_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let error = WalSync::open(
            dir.path().join("never-opened.db"),
            Some(dir.path().join("never-opened.db-wal")),
        )
        .err()
        .expect("no WAL to open");
        let StoreError::Unavailable { detail, .. } = &error else {
            panic!("unexpected error: {error:?}");
        };
        assert!(detail.contains("reopen"), "{detail}");
    }
}
