//! The FUSE face of the power-cut volume (`volume.rs`), through `fuser`: what SQLite in WAL
//! mode asks of a file system (create, read, write, truncate, fsync, fdatasync, directory
//! fsync, unlink, rename, shared `mmap` of `-shm`).
//!
//! Locks are left to the kernel: the file system implements neither `getlk` nor `setlk`,
//! so the kernel keeps POSIX and open file description locks itself, as for a local file
//! system, which is right for processes on one machine. `mmap` works through the kernel's
//! page cache (no direct I/O), whose dirty pages come back as writes.
//!
//! Renames and syncs are shown to the tripwire (`tripwire.rs`) once done, before they are
//! answered.
//!
//! It must never decide what is durable (the volume does) or hold the volume's lock while
//! it answers the kernel.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use super::tripwire::{Tripwire, VolumeOp};
use super::volume::{self, Attr, Kind, Volume};

/// How long the kernel may keep names and attributes: every change goes through it, so its
/// cache cannot go stale within one mount, and a cut ends the mount.
const TTL: Duration = Duration::from_secs(1);

pub(crate) struct PowerCutFs {
    volume: Arc<Mutex<Volume>>,
    /// How long a sync takes, as a disk's flush does; it completes (and makes durable
    /// what was written until then) at its end, so a cut meanwhile loses it.
    sync_latency: Duration,
    tripwire: Arc<Tripwire>,
}

impl PowerCutFs {
    pub(crate) fn new(
        volume: Arc<Mutex<Volume>>,
        sync_latency: Duration,
        tripwire: Arc<Tripwire>,
    ) -> Self {
        Self {
            volume,
            sync_latency,
            tripwire,
        }
    }

    /// Waits out the sync's latency (without the volume's lock, so other requests go on).
    fn flush_delay(&self) {
        if !self.sync_latency.is_zero() {
            std::thread::sleep(self.sync_latency);
        }
    }

    fn volume(&self) -> MutexGuard<'_, Volume> {
        lock(&self.volume)
    }
}

pub(crate) fn lock(volume: &Mutex<Volume>) -> MutexGuard<'_, Volume> {
    volume.lock().unwrap_or_else(PoisonError::into_inner)
}

fn file_attr(attr: Attr) -> FileAttr {
    let (kind, perm, nlink) = match attr.kind {
        Kind::File => (FileType::RegularFile, 0o644, 1),
        Kind::Dir => (FileType::Directory, 0o755, 2),
    };
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind,
        perm,
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn entry(result: volume::Result<Attr>, reply: ReplyEntry) {
    match result {
        Ok(attr) => reply.entry(&TTL, &file_attr(attr), Generation(0)),
        Err(code) => reply.error(Errno::from_i32(code)),
    }
}

fn attr(result: volume::Result<Attr>, reply: ReplyAttr) {
    match result {
        Ok(attr) => reply.attr(&TTL, &file_attr(attr)),
        Err(code) => reply.error(Errno::from_i32(code)),
    }
}

fn empty(result: volume::Result<()>, reply: ReplyEmpty) {
    match result {
        Ok(()) => reply.ok(),
        Err(code) => reply.error(Errno::from_i32(code)),
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let result = self.volume().lookup(parent.0, name);
        entry(result, reply);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let result = self.volume().attr(ino.0);
        attr(result, reply);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut volume = self.volume();
        let result = match size {
            Some(len) => volume.set_len(ino.0, len),
            None => Ok(()),
        }
        .and_then(|()| volume.attr(ino.0));
        drop(volume);
        attr(result, reply);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.volume().create(parent.0, name, Kind::Dir);
        entry(result, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = self.volume().unlink(parent.0, name, Kind::File);
        empty(result, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = self.volume().unlink(parent.0, name, Kind::Dir);
        empty(result, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !flags.is_empty() {
            // RENAME_NOREPLACE / RENAME_EXCHANGE: not needed by SQLite.
            return reply.error(Errno::EINVAL);
        }
        let result = self.volume().rename(parent.0, name, new_parent.0, new_name);
        if result.is_ok() {
            let names = [name.to_string_lossy().into_owned()];
            self.tripwire.done(VolumeOp::Rename, &names);
        }
        empty(result, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let result = self.volume().attr(ino.0);
        match result {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(code) => reply.error(Errno::from_i32(code)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = self.volume().read(ino.0, offset, size);
        match result {
            Ok(bytes) => reply.data(&bytes),
            Err(code) => reply.error(Errno::from_i32(code)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = self.volume().write(ino.0, offset, data);
        match (result, u32::try_from(data.len())) {
            (Ok(()), Ok(written)) => reply.written(written),
            (Err(code), _) => reply.error(Errno::from_i32(code)),
            (_, Err(_)) => reply.error(Errno::EINVAL),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // A close: no sync (as on a local file system).
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.flush_delay();
        let mut volume = self.volume();
        let result = volume.sync_file(ino.0);
        let watched = match volume.attr(ino.0) {
            Ok(attr) if result.is_ok() && self.tripwire.is_armed() => {
                let op = match attr.kind {
                    Kind::File => VolumeOp::FileSync,
                    Kind::Dir => VolumeOp::DirSync,
                };
                Some((op, volume.names_of(ino.0)))
            }
            _ => None,
        };
        drop(volume);
        if let Some((op, names)) = watched {
            self.tripwire.done(op, &names);
        }
        empty(result, reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let result = self.volume().entries(ino.0);
        let entries = match result {
            Ok(entries) => entries,
            Err(code) => return reply.error(Errno::from_i32(code)),
        };
        let dots = [
            (OsStr::new(".").to_owned(), FileType::Directory, ino),
            (OsStr::new("..").to_owned(), FileType::Directory, ino),
        ];
        let named = entries.into_iter().map(|(name, attr)| {
            let kind = match attr.kind {
                Kind::File => FileType::RegularFile,
                Kind::Dir => FileType::Directory,
            };
            (name, kind, INodeNo(attr.ino))
        });
        let all = dots.into_iter().chain(named).enumerate();
        for (index, (name, kind, child)) in all.skip(usize::try_from(offset).unwrap_or(usize::MAX))
        {
            if reply.add(child, index as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        // The volume syncs a directory's entries when its inode is synced.
        self.fsync(req, ino, fh, datasync, reply);
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        let result = self.volume().attr(ino.0).map(|_| ());
        empty(result, reply);
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self.volume().create(parent.0, name, Kind::File);
        match result {
            Ok(attr) => reply.created(
                &TTL,
                &file_attr(attr),
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(code) => reply.error(Errno::from_i32(code)),
        }
    }
}
