//! Syncs of a folder, shared by the downloads that need one at the same moment: many small
//! files renamed into one folder at once cost one `fsync` of the folder between them,
//! not one each.
//!
//! A sync makes durable every rename made in the folder before it began. So a caller
//! whose rename came while a sync was already running waits for the next one, which then
//! covers everyone who asked meanwhile. Must never return `Ok` before a sync that began
//! after the caller asked has ended; blocking (the blocking pool's).

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// One folder's syncs: asks are numbered; `covered` is the highest number a finished sync
/// made durable.
#[derive(Default)]
struct Folder {
    asked: u64,
    covered: u64,
    running: bool,
    /// Callers that asked and have not returned: the entry goes when none is left.
    waiting: usize,
}

#[derive(Default)]
struct Folders {
    state: Mutex<HashMap<PathBuf, Folder>>,
    changed: Condvar,
}

impl Folders {
    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Folder>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sync(&self, folder: &Path, sync_once: impl Fn(&Path) -> io::Result<()>) -> io::Result<()> {
        let mut folders = self.lock();
        let mine = {
            let state = folders.entry(folder.to_owned()).or_default();
            state.asked += 1;
            state.waiting += 1;
            state.asked
        };
        let result = loop {
            let state = folders.entry(folder.to_owned()).or_default();
            if state.covered >= mine {
                break Ok(());
            }
            if state.running {
                folders = self
                    .changed
                    .wait(folders)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // This caller syncs, for every ask up to now.
            state.running = true;
            let covers = state.asked;
            drop(folders);
            let synced = sync_once(folder);
            folders = self.lock();
            let state = folders.entry(folder.to_owned()).or_default();
            state.running = false;
            if synced.is_ok() {
                state.covered = state.covered.max(covers);
            }
            self.changed.notify_all();
            break synced;
        };
        let state = folders.entry(folder.to_owned()).or_default();
        state.waiting -= 1;
        if state.waiting == 0 {
            folders.remove(folder);
        }
        result
    }
}

static FOLDERS: std::sync::LazyLock<Folders> = std::sync::LazyLock::new(Folders::default);

/// Makes every rename made in `folder` before this call durable. Blocking.
pub(super) fn sync(folder: &Path) -> io::Result<()> {
    FOLDERS.sync(folder, |folder| File::open(folder)?.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn callers_that_ask_while_a_sync_runs_share_the_next_one() {
        let folders = Arc::new(Folders::default());
        let syncs = Arc::new(AtomicUsize::new(0));
        let (entered, wait_entered) = std::sync::mpsc::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let first = {
            let (folders, syncs, held) =
                (Arc::clone(&folders), Arc::clone(&syncs), Arc::clone(&held));
            std::thread::spawn(move || {
                folders.sync(Path::new("/f"), |_| {
                    if syncs.fetch_add(1, Ordering::SeqCst) == 0 {
                        entered.send(()).unwrap();
                        held.lock().unwrap().recv().unwrap();
                    }
                    Ok(())
                })
            })
        };
        wait_entered.recv().unwrap();
        // Three more ask while the first sync runs: none of them is covered by it.
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (folders, syncs) = (Arc::clone(&folders), Arc::clone(&syncs));
                std::thread::spawn(move || {
                    folders.sync(Path::new("/f"), |_| {
                        syncs.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        for _ in 0..1000 {
            if folders.lock().get(Path::new("/f")).map(|f| f.asked) == Some(4) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            syncs.load(Ordering::SeqCst),
            1,
            "they wait: their renames came after it began"
        );
        release.send(()).unwrap();
        first.join().unwrap().unwrap();
        for waiter in waiters {
            waiter.join().unwrap().unwrap();
        }
        assert_eq!(
            syncs.load(Ordering::SeqCst),
            2,
            "one more sync covered the three"
        );
        assert!(
            folders.lock().is_empty(),
            "nothing kept once all are covered"
        );
    }

    #[test]
    fn a_failed_sync_covers_no_one_and_the_next_caller_syncs_again() {
        let folders = Folders::default();
        let failed = folders.sync(Path::new("/f"), |_| Err(io::Error::other("disk gone")));
        assert!(failed.is_err());
        let calls = AtomicUsize::new(0);
        folders
            .sync(Path::new("/f"), |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(folders.lock().is_empty());
    }
}
