//! A power-cut volume mounted over FUSE: mount it, cut the power, boot it again from what
//! was durable.
//!
//! Mounting needs root and `/dev/fuse` (`fuser` mounts with the `mount` system call, no
//! `fusermount` helper and no libfuse). Where it cannot mount, it says so with an error,
//! never by skipping: the power-cut test must fail there.
//!
//! It must never be cut while this process itself has a file open on it (the remount
//! would find the mount busy): the queue under test runs in a child process.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fuser::{BackgroundSession, Config, MountOption, SessionACL};

use super::fuse::{PowerCutFs, lock};
use super::tripwire::{StopAt, Tripwire};
use super::volume::{CutReport, Volume};

/// Why the test file system could not be mounted or unmounted.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(
        "could not mount the power-cut test file system at {path}: {source}; it needs \
         Linux, root and /dev/fuse (run the test as root where /dev/fuse exists)"
    )]
    Mount {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "could not unmount the power-cut test file system at {path}: {source}; a process \
         may still have a file open on it (`umount -l {path}` releases it)"
    )]
    Unmount {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A mounted volume. Dropping it unmounts.
pub struct PowerCutMount {
    mountpoint: PathBuf,
    volume: Arc<Mutex<Volume>>,
    session: Option<BackgroundSession>,
    sync_latency: Duration,
    /// Syncs (files, directories) of the mounts before the current one.
    earlier_syncs: (u64, u64),
    tripwire: Arc<Tripwire>,
}

impl PowerCutMount {
    /// Mounts an empty volume on `mountpoint` (an existing, empty directory), whose syncs
    /// each take `sync_latency`, as a disk's flush takes time: the longer, the more cuts
    /// land while a sync is under way.
    pub fn mount(mountpoint: &Path, sync_latency: Duration) -> Result<Self, MountError> {
        let mut mount = Self {
            mountpoint: mountpoint.to_owned(),
            volume: Arc::new(Mutex::new(Volume::new())),
            session: None,
            sync_latency,
            earlier_syncs: (0, 0),
            tripwire: Arc::default(),
        };
        mount.attach()?;
        Ok(mount)
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Cuts the power: everything not synced is dropped, and every operation on the mount
    /// fails with `EIO` until [`reboot`](Self::reboot). Freeze the processes using it first,
    /// so that none of them sees an error before it dies.
    pub fn cut(&self) -> CutReport {
        lock(&self.volume).cut()
    }

    /// Stops process `pid` (SIGSTOP) the moment it has done the operation `at` names on
    /// the volume, before the answer reaches it, then calls `tripped`; the stop is armed
    /// until it trips or [`disarm`](Self::disarm). Keep `pid` unreaped until then.
    pub fn stop_at(&self, at: StopAt, pid: i32, tripped: impl FnOnce() + Send + 'static) {
        self.tripwire.arm(at, pid, Box::new(tripped));
    }

    /// Drops the stop armed by [`stop_at`](Self::stop_at), if it did not trip.
    pub fn disarm(&self) {
        self.tripwire.disarm();
    }

    /// Unmounts and mounts again what was durable at the cut. Every process that had a
    /// file open on the mount must have died.
    pub fn reboot(&mut self) -> Result<(), MountError> {
        self.detach()?;
        let restarted = {
            let volume = lock(&self.volume);
            self.earlier_syncs.0 += volume.file_syncs;
            self.earlier_syncs.1 += volume.dir_syncs;
            volume.restarted()
        };
        self.volume = Arc::new(Mutex::new(restarted));
        self.attach()
    }

    /// `fsync`/`fdatasync` calls on files, and `fsync` calls on directories, so far.
    pub fn syncs(&self) -> (u64, u64) {
        let volume = lock(&self.volume);
        (
            self.earlier_syncs.0 + volume.file_syncs,
            self.earlier_syncs.1 + volume.dir_syncs,
        )
    }

    fn attach(&mut self) -> Result<(), MountError> {
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("ferry-power-cut".into()),
            MountOption::RW,
            MountOption::NoAtime,
        ];
        config.acl = SessionACL::Owner;
        // Two threads, so that reads and writes go on while a sync waits out its latency.
        config.n_threads = Some(2);
        let fs = PowerCutFs::new(
            Arc::clone(&self.volume),
            self.sync_latency,
            Arc::clone(&self.tripwire),
        );
        let session = fuser::spawn_mount(fs, &self.mountpoint, &config).map_err(|source| {
            MountError::Mount {
                path: self.mountpoint.clone(),
                source,
            }
        })?;
        self.session = Some(session);
        Ok(())
    }

    fn detach(&mut self) -> Result<(), MountError> {
        match self.session.take() {
            Some(session) => match session.umount_and_join() {
                // The unmount succeeded (umount(2) never fails so); the session's thread
                // then read ECONNABORTED instead of ENODEV, which fuser 0.18 reports as
                // an error: cberner/fuser#212, fixed upstream by cberner/fuser#708.
                Err(error) if error.raw_os_error() == Some(libc::ECONNABORTED) => Ok(()),
                result => result.map_err(|source| MountError::Unmount {
                    path: self.mountpoint.clone(),
                    source,
                }),
            },
            None => Ok(()),
        }
    }
}

impl Drop for PowerCutMount {
    fn drop(&mut self) {
        if let Err(error) = self.detach() {
            eprintln!("{error}");
        }
    }
}
