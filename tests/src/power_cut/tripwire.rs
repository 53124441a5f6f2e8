//! A tripwire on the power-cut volume: the process under test is stopped (SIGSTOP) the
//! moment it has done the `nth` operation of a kind on a name, before the answer reaches
//! it, so that a cut can land exactly in a window a random instant rarely hits (a rename
//! not yet made durable by its folder's sync, a folder synced but the record that follows
//! not yet written, a file synced but its offset not yet recorded).
//!
//! It must never stop any process but the one it was armed for, nor trip more than once.

use std::sync::{Mutex, PoisonError};

/// A volume operation the tripwire watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeOp {
    /// A rename, matched by the name it moves from; stopped once it is made (unsynced).
    Rename,
    /// `fsync`/`fdatasync` of a file, matched by any of its names; stopped once durable.
    FileSync,
    /// `fsync` of a directory, matched by its name; stopped once its entries are durable.
    DirSync,
}

/// Where to stop: the `nth` (from 1) operation `op` on a name that starts with `prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopAt {
    pub op: VolumeOp,
    pub prefix: String,
    pub nth: u32,
}

struct Armed {
    at: StopAt,
    seen: u32,
    pid: i32,
    tripped: Box<dyn FnOnce() + Send>,
}

/// At most one armed stop, shared by the mount and every file system it serves.
#[derive(Default)]
pub(crate) struct Tripwire {
    armed: Mutex<Option<Armed>>,
}

impl Tripwire {
    /// Arms it: process `pid` is stopped at `at`, then `tripped` is called (from a file
    /// system thread). Replaces any stop armed before.
    pub(crate) fn arm(&self, at: StopAt, pid: i32, tripped: Box<dyn FnOnce() + Send>) {
        *self.lock() = Some(Armed {
            at,
            seen: 0,
            pid,
            tripped,
        });
    }

    /// Disarms it (if it did not trip).
    pub(crate) fn disarm(&self) {
        self.lock().take();
    }

    /// Whether a stop is armed: only then are names worth looking up.
    pub(crate) fn is_armed(&self) -> bool {
        self.lock().is_some()
    }

    /// `op` was done on an object with `names`: stops the armed process if that was the
    /// one to stop at. Called before the operation is answered.
    pub(crate) fn done(&self, op: VolumeOp, names: &[String]) {
        let mut armed = self.lock();
        let Some(watch) = armed.as_mut() else { return };
        if watch.at.op != op || !names.iter().any(|name| name.starts_with(&watch.at.prefix)) {
            return;
        }
        watch.seen += 1;
        if watch.seen < watch.at.nth {
            return;
        }
        if let Some(watch) = armed.take() {
            // SAFETY: kill(2) of the process the tripwire was armed for, which the armer
            // keeps unreaped while it is armed.
            unsafe { libc::kill(watch.pid, libc::SIGSTOP) };
            (watch.tripped)();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Armed>> {
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn it_stops_the_armed_process_once_at_the_nth_matching_operation() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let pid = i32::try_from(child.id()).expect("a pid fits an i32");
        let tripwire = Tripwire::default();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&calls);
        let at = StopAt {
            op: VolumeOp::Rename,
            prefix: ".ferry-".into(),
            nth: 2,
        };
        tripwire.arm(
            at,
            pid,
            Box::new(move || {
                counted.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let partial = [".ferry-a.partial".to_string()];
        tripwire.done(VolumeOp::FileSync, &partial);
        tripwire.done(VolumeOp::Rename, &["queue.db".to_string()]);
        tripwire.done(VolumeOp::Rename, &partial);
        assert_eq!(calls.load(Ordering::SeqCst), 0, "the first matching rename");
        assert!(tripwire.is_armed());
        tripwire.done(VolumeOp::Rename, &partial);
        tripwire.done(VolumeOp::Rename, &partial);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "tripped once, at the second"
        );
        assert!(!tripwire.is_armed());
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child, with a valid pointer to the status.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        assert_eq!(waited, pid);
        assert!(libc::WIFSTOPPED(status), "the armed process was stopped");
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }
}
