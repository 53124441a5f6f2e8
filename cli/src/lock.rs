//! One ferry process per queue database, enforced with an advisory lock on `<db>.lock`.
//!
//! What it is for: the engine does not lock its database, and two processes driving one
//! queue would both start the same transfers (and each open requeues the other's running
//! ones). So `push`, `status` and `demo` hold this lock for as long as the queue is open.
//! The kernel drops it when the process dies, even by SIGKILL, so a crash never leaves a
//! stale lock behind.
//!
//! What it must never do: wait for the lock (a second process fails at once with a clear
//! message), or delete the lock file (unlinking a file someone else has locked splits the
//! lock in two).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// Held while the queue is open; dropping it releases the lock.
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

/// The lock file that guards `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock for `db`, or fails at once if another process holds it.
pub fn acquire(db: &Path) -> Result<DbLock, CliError> {
    let path = lock_path(db);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| {
            CliError::io(
                format!(
                    "cannot create the lock file {} next to the database; check that its \
                     directory exists and is writable",
                    path.display()
                ),
                error,
            )
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DbLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(CliError::Busy { db: db.to_owned() }),
        Err(TryLockError::Error(error)) => Err(CliError::io(
            format!("cannot lock {}", path.display()),
            error,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("q.db");
        let first = acquire(&db).expect("first");
        assert!(matches!(acquire(&db), Err(CliError::Busy { .. })));
        drop(first);
        acquire(&db).expect("free again");
    }
}
