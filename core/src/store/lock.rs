//! One process per database: a lock on the database file itself, so that every name the
//! file has (a symbolic link, a hard link, a relative path) meets the same lock.
//!
//! Two processes driving one queue both start the same transfers (seen: 25 files sent
//! twice), and each open requeues the other's running ones. A lock on `<database>.lock`
//! did not stop that: a symbolic or hard link to the database has another name, so another
//! lock file. So the lock is taken on the database file, by inode:
//!
//! - **How**: an open file description lock (`F_OFD_SETLK`, Linux ≥ 3.15, Android, Apple)
//!   for writing, on one byte, [`LOCK_BYTE`], through a descriptor of our own. Such a lock
//!   belongs to that descriptor, not to the process: a second open in the same process
//!   conflicts too, and the kernel drops it when the descriptor closes, as it does for
//!   every descriptor of a process that dies, even by SIGKILL. It is never stale.
//! - **Beside SQLite's own locks**: SQLite locks the same file with process-owned POSIX
//!   locks (`fcntl(F_SETLK)`), and the two kinds conflict where their ranges overlap, even
//!   within one process. They never overlap: SQLite locks only the bytes from its pending
//!   byte, 0x4000_0000, to 0x4000_01FF (the rest of its locking, in WAL mode, is on
//!   `-shm`), and [`LOCK_BYTE`] is far above them. A POSIX lock is dropped when the
//!   process closes *any* descriptor of the file (SQLite guards its own against that);
//!   this lock is not: SQLite's closes and unlocks never touch it.
//!   `a_raw_sqlite_connection_works_beside_the_lock_and_leaves_it_held` checks both.
//! - **Without open file description locks** (an older kernel, a 32-bit target, where
//!   `F_OFD_SETLK` needs a 64-bit `flock` the `libc` crate does not give): `flock` on
//!   `<canonical database path>.lock`. Symbolic links still meet one lock; hard links do
//!   not. A warning says so.
//!
//! A database with more than one hard link is also a hazard of its own: SQLite names its
//! write-ahead log after the name it was opened by, so commits logged under one name are
//! not seen under another. A warning says so; nothing is refused.
//!
//! It must never delete a lock file (unlinking a locked file would split the lock in
//! two), and never lock a byte SQLite uses.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The byte of the database file the lock covers: beyond SQLite's lock bytes (0x4000_0000
/// to 0x4000_01FF), and below 2 GiB so that it fits any `off_t`.
pub(super) const LOCK_BYTE: i64 = 0x7FFF_FF00;

/// What holds the database for this process; dropping it releases the lock.
pub(super) struct DatabaseLock {
    _held: File,
    /// The file's device and inode, as [`HELD_HERE`] lists it.
    inode: Option<(u64, u64)>,
}

/// The database files (device, inode) an opener of this process holds: a reader asking
/// whether a file is held must not open and close a descriptor of a file this process
/// has open in SQLite, since that close would drop SQLite's POSIX locks on it.
static HELD_HERE: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

fn held_here() -> std::sync::MutexGuard<'static, Vec<(u64, u64)>> {
    HELD_HERE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl DatabaseLock {
    /// `held` keeps the lock (the database file, or the lock file beside it).
    fn new(held: File, database: &Path) -> Self {
        let inode = std::fs::metadata(database)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        if let Some(inode) = inode {
            held_here().push(inode);
        }
        Self { _held: held, inode }
    }
}

impl Drop for DatabaseLock {
    fn drop(&mut self) {
        if let Some(inode) = self.inode {
            let mut held = held_here();
            if let Some(position) = held.iter().position(|&entry| entry == inode) {
                held.swap_remove(position);
            }
        }
    }
}

/// Takes the lock on `database` (creating the file, empty, if missing), or fails at once
/// with `InUse` if another opener holds it.
pub(super) fn lock_database(database: &Path) -> Result<DatabaseLock, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(database)
        .map_err(|error| cannot_open(database, &error))?;
    warn_about_hard_links(database, &file);
    match lock_file_description(&file) {
        Ok(true) => Ok(DatabaseLock::new(file, database)),
        Ok(false) => Err(StoreError::InUse {
            path: database.into(),
        }),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
            log::warn!(
                "this system has no open file description locks ({error}); {} is locked \
                 through a lock file beside it, which a hard link to it does not share",
                database.display()
            );
            lock_beside(database)
        }
        Err(error) => Err(StoreError::Unavailable {
            path: database.into(),
            detail: format!("the database file cannot be locked: {error}"),
        }),
    }
}

/// Why the database file could not be opened; a missing directory is named as such.
fn cannot_open(database: &Path, error: &io::Error) -> StoreError {
    let directory = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if error.kind() == io::ErrorKind::NotFound && !directory.is_dir() {
        return StoreError::DirectoryMissing {
            path: database.into(),
            directory: directory.into(),
        };
    }
    StoreError::Unavailable {
        path: database.into(),
        detail: format!("the database file cannot be opened: {error}"),
    }
}

fn warn_about_hard_links(database: &Path, file: &File) {
    if let Ok(metadata) = file.metadata()
        && metadata.nlink() > 1
    {
        log::warn!(
            "{} has {} hard links: SQLite keeps its write-ahead log beside the name a database \
             is opened by, so open it by one name only",
            database.display(),
            metadata.nlink()
        );
    }
}

/// Write-locks [`LOCK_BYTE`] of `file` for its open file description: `Ok(false)` when
/// another description holds it, `Err(EINVAL)` when the system has no such locks.
#[cfg(all(
    target_pointer_width = "64",
    any(target_os = "linux", target_os = "android", target_vendor = "apple")
))]
fn lock_file_description(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;

    let request = write_lock_on_lock_byte();
    // SAFETY: fcntl(2) with F_OFD_SETLK reads the one `flock` it is given, which lives
    // until the call returns; the descriptor is open. `l_pid` must be 0, as zeroed.
    let answer = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &request) };
    if answer == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}

/// A write lock on [`LOCK_BYTE`] alone, as `fcntl` takes it (or reports who holds it).
#[cfg(all(
    target_pointer_width = "64",
    any(target_os = "linux", target_os = "android", target_vendor = "apple")
))]
fn write_lock_on_lock_byte() -> libc::flock {
    // SAFETY: `flock` is plain data, for which all zeroes is a valid value.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    // The constants are `c_int`, the fields `c_short`; both values are tiny.
    request.l_type = libc::F_WRLCK as libc::c_short;
    request.l_whence = libc::SEEK_SET as libc::c_short;
    request.l_start = LOCK_BYTE;
    request.l_len = 1;
    request
}

#[cfg(not(all(
    target_pointer_width = "64",
    any(target_os = "linux", target_os = "android", target_vendor = "apple")
)))]
fn lock_file_description(_file: &File) -> io::Result<bool> {
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// Whether an opener holds the lock on `database` now, asked without taking it
/// (`F_OFD_GETLK`): `Some(true)` while a process drives the queue, `None` where the system
/// has no open file description locks (the `flock` fallback cannot be asked without
/// taking it, and taking it could make a starting push fail as `InUse`).
///
/// The descriptor it opens is closed before it returns, and a close drops every POSIX
/// lock the process holds on the file: call it before SQLite opens the file. A file an
/// opener of this process holds is answered from [`HELD_HERE`], without opening it.
pub(super) fn held_by_an_opener(database: &Path) -> io::Result<Option<bool>> {
    let meta = std::fs::metadata(database)?;
    if held_here().contains(&(meta.dev(), meta.ino())) {
        return Ok(Some(true));
    }
    let file = File::open(database)?;
    match query_file_description_lock(&file) {
        Ok(held) => Ok(Some(held)),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(all(
    target_pointer_width = "64",
    any(target_os = "linux", target_os = "android", target_vendor = "apple")
))]
fn query_file_description_lock(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;

    let mut request = write_lock_on_lock_byte();
    // SAFETY: fcntl(2) with F_OFD_GETLK reads and rewrites the one `flock` it is given,
    // which lives until the call returns; the descriptor is open.
    let answer = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut request) };
    if answer != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(request.l_type != libc::F_UNLCK as libc::c_short)
}

#[cfg(not(all(
    target_pointer_width = "64",
    any(target_os = "linux", target_os = "android", target_vendor = "apple")
)))]
fn query_file_description_lock(_file: &File) -> io::Result<bool> {
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// The fallback: `flock` on `<canonical database path>.lock`.
fn lock_beside(database: &Path) -> Result<DatabaseLock, StoreError> {
    let canonical = std::fs::canonicalize(database).unwrap_or_else(|_| database.to_path_buf());
    let mut name = canonical.into_os_string();
    name.push(".lock");
    let path = PathBuf::from(name);
    let unavailable = |error: io::Error| StoreError::Unavailable {
        path: path.clone(),
        detail: format!("the lock file next to the database cannot be used: {error}"),
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(unavailable)?;
    match file.try_lock() {
        Ok(()) => Ok(DatabaseLock::new(file, database)),
        Err(TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: database.into(),
        }),
        Err(TryLockError::Error(error)) => Err(unavailable(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_use(result: Result<DatabaseLock, StoreError>) -> bool {
        matches!(result, Err(StoreError::InUse { .. }))
    }

    #[test]
    fn the_fallback_lock_follows_symbolic_links() {
        let dir = tempfile::tempdir().expect("dir");
        let database = dir.path().join("q.db");
        std::fs::write(&database, b"").expect("create");
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&database, &link).expect("symlink");
        let held = lock_beside(&database).expect("first");
        assert!(in_use(lock_beside(&link)));
        drop(held);
        lock_beside(&link).expect("free again");
    }

    #[test]
    fn the_lock_can_be_asked_about_without_taking_it() {
        let dir = tempfile::tempdir().expect("dir");
        let database = dir.path().join("q.db");
        std::fs::write(&database, b"").expect("create");
        assert_eq!(held_by_an_opener(&database).expect("ask"), Some(false));
        let held = lock_database(&database).expect("lock");
        // In this process the answer comes from the list of held files; the kernel,
        // asked through another descriptor as another process would, says the same.
        assert_eq!(held_by_an_opener(&database).expect("ask"), Some(true));
        let other = File::open(&database).expect("open");
        #[cfg(target_os = "linux")]
        assert!(query_file_description_lock(&other).expect("F_OFD_GETLK"));
        drop(other);
        // Asking took nothing: the holder still holds it, and after it lets go, so do we.
        assert!(in_use(lock_database(&database)));
        drop(held);
        assert_eq!(held_by_an_opener(&database).expect("ask"), Some(false));
        lock_database(&database).expect("free again");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let database = dir.path().join("absent").join("q.db");
        let Err(StoreError::DirectoryMissing { directory, .. }) = lock_database(&database) else {
            panic!("a missing directory must be reported as such");
        };
        assert_eq!(directory, dir.path().join("absent"));
    }
}
