//! The partial file of one download attempt: opened and cut to the offset the store
//! records, written in blocks (through a gzip or zlib decoder when the server encoded the
//! body anyway), synced before an offset is reported, and finally put in place by the
//! conflict rule with the folder synced.
//!
//! A download that starts from zero creates its file on the first trip to the blocking
//! pool that writes (for a small file, the one trip of its finish: [`Partial::finish_in_place`]),
//! not at the open: each trip is a thread woken and put back to sleep, and a small file
//! took four (`many_small_gets`).
//!
//! Every file operation runs on the blocking pool. Must never write anywhere but the
//! partial file before the final rename, never extend the file past what was received,
//! and never report an offset that is not durable.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use flate2::write::{GzDecoder, ZlibDecoder};
use tokio::task::JoinHandle;

use super::chunks::{Chunks, write_all_vectored};
use crate::download::ConflictRule;
use crate::error::TransferError;
use crate::{disk_space, volume_space};

/// How the body's bytes become the file's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coding {
    Identity,
    Gzip,
    Deflate,
}

impl Coding {
    /// The coding of a `Content-Encoding` value; `None` for one Ferry cannot decode.
    pub(super) fn of(value: Option<&str>) -> Option<Self> {
        match value
            .map(|value| value.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "identity") => Some(Self::Identity),
            Some("gzip" | "x-gzip") => Some(Self::Gzip),
            Some("deflate") => Some(Self::Deflate),
            Some(_) => None,
        }
    }
}

enum Writer {
    Plain(File),
    Gzip(GzDecoder<File>),
    Deflate(ZlibDecoder<File>),
}

impl Writer {
    fn new(file: File, coding: Coding) -> Self {
        match coding {
            Coding::Identity => Self::Plain(file),
            Coding::Gzip => Self::Gzip(GzDecoder::new(file)),
            Coding::Deflate => Self::Deflate(ZlibDecoder::new(file)),
        }
    }

    fn write_all(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        match self {
            Self::Plain(file) => write_all_vectored(file, chunks),
            Self::Gzip(decoder) => chunks.iter().try_for_each(|c| decoder.write_all(c)),
            Self::Deflate(decoder) => chunks.iter().try_for_each(|c| decoder.write_all(c)),
        }
    }

    /// Ends the decoding (an encoded body must be complete) and gives the file back.
    fn into_file(self) -> io::Result<File> {
        match self {
            Self::Plain(file) => Ok(file),
            Self::Gzip(decoder) => decoder.finish(),
            Self::Deflate(decoder) => decoder.finish(),
        }
    }

    fn file(&self) -> &File {
        match self {
            Self::Plain(file) => file,
            Self::Gzip(decoder) => decoder.get_ref(),
            Self::Deflate(decoder) => decoder.get_ref(),
        }
    }
}

/// The partial file as this attempt holds it.
// One per attempt, moved once per trip: boxing the decoder would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// Not created yet (the download starts from zero): the first trip that writes creates
    /// it empty, after checking that its volume has room for `room_for` bytes (a size the
    /// first answer told).
    Unopened {
        room_for: Option<u64>,
    },
    Open(Writer),
    /// A block being written on the blocking pool while the body goes on arriving: the
    /// writer comes back with the write's result ([`Partial::settle`]).
    Writing(JoinHandle<io::Result<(Writer, io::Result<()>)>>),
    /// Lost to a failed trip.
    Lost,
}

/// What a trip to the blocking pool takes along to reach the file: the slot, the
/// partial's path, and the coding a file created on the way takes bytes through.
struct Trip {
    slot: Slot,
    path: PathBuf,
    coding: Coding,
}

impl Trip {
    /// The writer, the file created first if it was not yet. Blocking.
    fn into_writer(self) -> io::Result<Writer> {
        match self.slot {
            Slot::Open(writer) => Ok(writer),
            Slot::Unopened { room_for } => {
                if let Some(need) = room_for {
                    check_room(&self.path, need)?;
                }
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&self.path)?;
                Ok(Writer::new(file, self.coding))
            }
            Slot::Writing(_) | Slot::Lost => Err(io::Error::other(
                "the partial file was lost after a failed write",
            )),
        }
    }
}

/// A partial file, open or about to be.
pub(super) struct Partial {
    path: PathBuf,
    slot: Slot,
    /// How the body's bytes become the file's since the open or the last restart.
    coding: Coding,
    pending: Chunks,
    /// Bytes the file held when it was opened (0 after a restart).
    held: u64,
    /// Body bytes written or pending (for an encoded body: encoded bytes).
    received: u64,
    /// The file is known to hold nothing (cut to zero, nothing written since): a restart
    /// in plain bytes has nothing to do on disk.
    empty: bool,
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| io::Error::other("the file task was cancelled"))?
}

impl Partial {
    /// Opens (or creates) the partial file at `path` and cuts it to `offset`; returns it
    /// with how many bytes it holds, which is less than `offset` only if the file was
    /// shorter (then it is emptied). At offset 0 nothing is vouched for: the file is
    /// created (or emptied) by the first write, and this takes no trip.
    pub(super) async fn open(path: &Path, offset: u64) -> io::Result<(Self, u64)> {
        if offset == 0 {
            return Ok((Self::holding(path, Slot::Unopened { room_for: None }, 0), 0));
        }
        let owned = path.to_owned();
        let (file, held) = blocking(move || {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&owned)?;
            let length = file.metadata()?.len();
            let held = if length >= offset { offset } else { 0 };
            file.set_len(held)?;
            io::Seek::seek(&mut file, io::SeekFrom::Start(held))?;
            Ok((file, held))
        })
        .await?;
        Ok((
            Self::holding(path, Slot::Open(Writer::Plain(file)), held),
            held,
        ))
    }

    /// The partial at `path` in `slot`, holding `held` plain bytes and nothing taken yet.
    fn holding(path: &Path, slot: Slot, held: u64) -> Self {
        Self {
            path: path.to_owned(),
            slot,
            coding: Coding::Identity,
            pending: Chunks::default(),
            held,
            received: 0,
            empty: held == 0,
        }
    }

    /// Empties the file and writes from byte 0 on, through `coding`.
    pub(super) async fn restart(&mut self, coding: Coding) -> io::Result<()> {
        self.pending.clear();
        self.held = 0;
        self.received = 0;
        self.coding = coding;
        self.settle().await?;
        if matches!(self.slot, Slot::Unopened { .. }) {
            // Nothing was written: the first write creates the file empty.
            self.slot = Slot::Unopened { room_for: None };
            return Ok(());
        }
        if self.empty
            && coding == Coding::Identity
            && matches!(self.slot, Slot::Open(Writer::Plain(_)))
        {
            // A resumed download's first answer from zero: the file was just cut to zero.
            return Ok(());
        }
        let Slot::Open(writer) = self.take()? else {
            // Unopened (taken above) or lost (an error): nothing on disk to empty.
            self.slot = Slot::Unopened { room_for: None };
            return Ok(());
        };
        let file = blocking(move || {
            // A decoder left mid-stream is dropped with its output: it is discarded anyway.
            let file = match writer {
                Writer::Plain(file) => file,
                Writer::Gzip(decoder) => decoder.get_ref().try_clone()?,
                Writer::Deflate(decoder) => decoder.get_ref().try_clone()?,
            };
            file.set_len(0)?;
            Ok(file)
        })
        .await?;
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::Start(0))?;
        self.slot = Slot::Open(Writer::new(file, coding));
        self.empty = true;
        Ok(())
    }

    /// Appends (the decoded form of) `chunk`; written in blocks (`chunks.rs`), each
    /// while the next arrives (at most one in flight; a failed write is returned by the
    /// next call that waits for it).
    pub(super) async fn append(&mut self, chunk: Bytes) -> io::Result<()> {
        self.received += chunk.len() as u64;
        self.empty &= chunk.is_empty();
        self.pending.push(chunk);
        if self.pending.is_full() {
            self.write_pending().await?;
        }
        Ok(())
    }

    /// Appends the whole file at `source` (an OS task's segment, on the same volume)
    /// after what is held, in one copy on the blocking pool; returns its length.
    pub(super) async fn append_file(&mut self, source: PathBuf) -> io::Result<u64> {
        self.write_pending().await?;
        self.settle().await?;
        self.empty = false;
        let trip = self.trip()?;
        if matches!(trip.slot, Slot::Open(Writer::Gzip(_) | Writer::Deflate(_))) {
            self.slot = trip.slot;
            return Err(io::Error::other("a segment cannot follow an encoded body"));
        }
        let (file, copied) = blocking(move || {
            let Writer::Plain(mut file) = trip.into_writer()? else {
                return Err(io::Error::other("a segment cannot follow an encoded body"));
            };
            let mut from = File::open(&source)?;
            let copied = io::copy(&mut from, &mut file)?;
            Ok((file, copied))
        })
        .await?;
        self.slot = Slot::Open(Writer::Plain(file));
        self.received += copied;
        Ok(copied)
    }

    /// The first answer told the size of a download whose size was unknown at launch (so
    /// its space was not checked then): the file's creation checks that its volume has
    /// room for `need` bytes first, and fails with [`NoRoom`] if not. Nothing to do once
    /// the file was written to.
    pub(super) fn check_room_at_creation(&mut self, need: u64) {
        if let Slot::Unopened { room_for } = &mut self.slot {
            *room_for = Some(need);
        }
    }

    /// Body bytes taken since open or the last restart.
    pub(super) fn received(&self) -> u64 {
        self.received
    }

    /// The file's length once everything taken is written, when its bytes are the body's
    /// (no decoding): what it held at the open and what it took since.
    pub(super) fn plain_length(&self) -> Option<u64> {
        (self.coding == Coding::Identity).then(|| self.held.saturating_add(self.received))
    }

    /// Starts writing what is pending, once the write before it ended; does not wait
    /// for it.
    async fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let block = self.pending.take();
        let trip = self.trip()?;
        // The writer is kept after a failed write: what reached the file can still be
        // synced and kept (`keep_written`).
        self.slot = Slot::Writing(tokio::task::spawn_blocking(move || {
            let mut writer = trip.into_writer()?;
            let written = writer.write_all(&block);
            Ok((writer, written))
        }));
        Ok(())
    }

    /// Waits for the write in flight, if any, and puts its writer back; returns the
    /// write's error.
    async fn settle(&mut self) -> io::Result<()> {
        if !matches!(self.slot, Slot::Writing(_)) {
            return Ok(());
        }
        let Slot::Writing(write) = std::mem::replace(&mut self.slot, Slot::Lost) else {
            return Ok(());
        };
        match write.await {
            Ok(Ok((writer, written))) => {
                self.slot = Slot::Open(writer);
                written
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(io::Error::other("the file task was cancelled")),
        }
    }

    /// Writes what is pending and syncs the file's data: its length is durable.
    pub(super) async fn sync(&mut self) -> io::Result<()> {
        self.settle().await?;
        let block = self.pending.take();
        let trip = self.trip()?;
        let writer = blocking(move || {
            let mut writer = trip.into_writer()?;
            writer.write_all(&block)?;
            writer.file().sync_data().map(|()| writer)
        })
        .await?;
        self.slot = Slot::Open(writer);
        Ok(())
    }

    /// After a write failed (a full volume): drops what is pending, syncs what reached
    /// the file and returns the file's length, the bytes it now holds durably (written in
    /// order, so every one of them is right).
    pub(super) async fn keep_written(&mut self) -> io::Result<u64> {
        self.pending.clear();
        if let Err(error) = self.settle().await {
            // Already told (the failure that led here): what reached the file is kept.
            log::debug!("{}: a write failed: {error}", self.path.display());
        }
        let trip = self.trip()?;
        let (writer, length) = blocking(move || {
            let writer = trip.into_writer()?;
            let file = writer.file();
            let length = file
                .sync_data()
                .and_then(|()| file.metadata())
                .map(|m| m.len());
            Ok((writer, length))
        })
        .await?;
        self.slot = Slot::Open(writer);
        length
    }

    /// Writes what is pending, ends any decoding, syncs the file, and returns its length.
    /// One trip to the blocking pool: a small file's whole life on disk after its open.
    pub(super) async fn finish(&mut self) -> io::Result<u64> {
        self.settle().await?;
        let block = self.pending.take();
        let trip = self.trip()?;
        let (file, length) = blocking(move || written_and_synced(trip, &block)).await?;
        self.slot = Slot::Open(Writer::Plain(file));
        Ok(length)
    }

    /// [`finish`](Self::finish) and [`place`] under `Replace` in one trip, for a file
    /// that needs no check between them: its `length` is known before (identity-coded
    /// bytes) and no digest is expected. A file of another length is not placed (the
    /// error names both lengths).
    pub(super) async fn finish_in_place(&mut self, length: u64, target: &Path) -> io::Result<()> {
        self.settle().await?;
        let block = self.pending.take();
        let trip = self.trip()?;
        let path = self.path.clone();
        let target = target.to_owned();
        let file = blocking(move || {
            let (file, written) = written_and_synced(trip, &block)?;
            if written != length {
                return Err(io::Error::other(format!(
                    "the partial file holds {written} bytes where {length} were received"
                )));
            }
            place(&path, &target, ConflictRule::Replace)?;
            Ok(file)
        })
        .await?;
        self.slot = Slot::Open(Writer::Plain(file));
        Ok(())
    }

    fn take(&mut self) -> io::Result<Slot> {
        match std::mem::replace(&mut self.slot, Slot::Lost) {
            Slot::Lost => Err(io::Error::other(
                "the partial file was lost after a failed write",
            )),
            slot => Ok(slot),
        }
    }

    /// The slot taken for a trip to the blocking pool, with what it needs to reach the file.
    fn trip(&mut self) -> io::Result<Trip> {
        Ok(Trip {
            slot: self.take()?,
            path: self.path.clone(),
            coding: self.coding,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// Where a finished file goes under `rule`: the destination, or (`KeepBoth`) the first
/// free name beside it; `None` under `Fail` when the destination is taken. Blocking.
pub(super) fn target(destination: &Path, rule: ConflictRule) -> Option<PathBuf> {
    let taken = |path: &Path| path.symlink_metadata().is_ok();
    match rule {
        ConflictRule::Replace => Some(destination.to_owned()),
        ConflictRule::Fail => (!taken(destination)).then(|| destination.to_owned()),
        ConflictRule::KeepBoth => (0..10_000)
            .map(|n| numbered(destination, n))
            .find(|candidate| !taken(candidate)),
    }
}

/// `name.ext`, then `name (1).ext`, `name (2).ext`...
fn numbered(destination: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return destination.to_owned();
    }
    let stem = destination
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match destination.extension() {
        Some(extension) => format!("{stem} ({n}).{}", extension.to_string_lossy()),
        None => format!("{stem} ({n})"),
    };
    destination.with_file_name(name)
}

/// Moves the finished partial file to `target`: a rename over it (`Replace`), or a link
/// that fails if the name was taken meanwhile (`KeepBoth`, `Fail`: the error is
/// `AlreadyExists`), then the folder is synced so the new name is durable. Blocking.
pub(super) fn place(partial: &Path, target: &Path, rule: ConflictRule) -> io::Result<()> {
    match rule {
        ConflictRule::Replace => std::fs::rename(partial, target)?,
        ConflictRule::KeepBoth | ConflictRule::Fail => match std::fs::hard_link(partial, target) {
            Ok(()) => std::fs::remove_file(partial)?,
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Err(error),
            // A file system without hard links: the name was free a moment ago.
            Err(_) if target.symlink_metadata().is_err() => std::fs::rename(partial, target)?,
            Err(error) => return Err(error),
        },
    }
    sync_folder(target)
}

/// Whether an earlier attempt already put the file at `target` (the partial is gone and
/// `target` has `length` bytes, or both names are one file after a link): then it only
/// has to be finished. Removes the partial's name in the second case. Blocking.
pub(super) fn already_placed(partial: &Path, target: &Path, length: u64) -> io::Result<bool> {
    let Ok(placed) = std::fs::metadata(target) else {
        return Ok(false);
    };
    match std::fs::metadata(partial) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(placed.len() == length),
        Err(error) => Err(error),
        Ok(held) if held.dev() == placed.dev() && held.ino() == placed.ino() => {
            std::fs::remove_file(partial)?;
            sync_folder(target)?;
            Ok(true)
        }
        Ok(_) => Ok(false),
    }
}

/// A partial file not created because its volume has no room for the download: the
/// reason it waits. Carried in an `io::Error` of kind `StorageFull`; see [`no_room`].
#[derive(Debug)]
pub(super) struct NoRoom(TransferError);

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for NoRoom {}

/// The reason a download waits, if `error` is a [`NoRoom`].
pub(super) fn no_room(error: &io::Error) -> Option<&TransferError> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<NoRoom>())
        .map(|NoRoom(reason)| reason)
}

/// Whether the volume of `partial`'s folder has room for `need` more bytes. A volume that
/// cannot be looked at is not checked: a real ENOSPC still says so. Blocking.
fn check_room(partial: &Path, need: u64) -> io::Result<()> {
    let Some(folder) = partial.parent() else {
        return Ok(());
    };
    let Ok(volume) = volume_space::probe(folder) else {
        return Ok(());
    };
    match disk_space::check(need, &volume, []) {
        Ok(()) => Ok(()),
        Err(shortfall) => Err(io::Error::new(
            io::ErrorKind::StorageFull,
            NoRoom(shortfall.error(folder)),
        )),
    }
}

/// Writes `block` after what `trip` reaches, ends any decoding and syncs the file; returns
/// it with its length. Blocking.
fn written_and_synced(trip: Trip, block: &[Bytes]) -> io::Result<(File, u64)> {
    let mut writer = trip.into_writer()?;
    writer.write_all(block)?;
    let file = writer.into_file()?;
    file.sync_all()?;
    let length = file.metadata()?.len();
    Ok((file, length))
}

fn sync_folder(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(folder) => super::folder_sync::sync(folder),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_partial_is_cut_to_the_recorded_offset_and_emptied_when_shorter() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p");
        std::fs::write(&path, b"0123456789").expect("write");
        let (_, held) = Partial::open(&path, 4).await.expect("open");
        assert_eq!(
            (held, std::fs::read(&path).expect("read")),
            (4, b"0123".to_vec())
        );
        let (_, held) = Partial::open(&path, 9).await.expect("open");
        assert_eq!(held, 0);
        assert!(std::fs::read(&path).expect("read").is_empty());
    }

    #[tokio::test]
    async fn appended_bytes_follow_the_held_ones_and_a_restart_empties_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p");
        std::fs::write(&path, b"abcXYZ").expect("write");
        let (mut partial, _) = Partial::open(&path, 3).await.expect("open");
        partial
            .append(Bytes::from_static(b"def"))
            .await
            .expect("append");
        assert_eq!(partial.finish().await.expect("finish"), 6);
        assert_eq!(std::fs::read(&path).expect("read"), b"abcdef");
        partial.restart(Coding::Identity).await.expect("restart");
        partial
            .append(Bytes::from_static(b"new"))
            .await
            .expect("append");
        assert_eq!(partial.finish().await.expect("finish"), 3);
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
    }

    #[tokio::test]
    async fn a_partial_from_zero_is_made_by_its_first_write_and_placed_in_the_same_trip() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p");
        std::fs::write(&path, b"stale bytes").expect("write");
        let (mut partial, held) = Partial::open(&path, 0).await.expect("open");
        assert_eq!(held, 0);
        assert_eq!(
            std::fs::read(&path).expect("read"),
            b"stale bytes",
            "nothing is touched before the first write"
        );
        partial
            .append(Bytes::from_static(b"fresh"))
            .await
            .expect("append");
        assert_eq!(partial.plain_length(), Some(5));
        let destination = dir.path().join("d");
        let wrong = partial.finish_in_place(6, &destination).await;
        assert!(wrong.is_err(), "a length that does not match is not placed");
        assert!(!destination.exists());

        let (mut partial, _) = Partial::open(&path, 0).await.expect("open");
        partial
            .append(Bytes::from_static(b"fresh"))
            .await
            .expect("append");
        partial
            .finish_in_place(5, &destination)
            .await
            .expect("finish in place");
        assert_eq!(std::fs::read(&destination).expect("read"), b"fresh");
        assert!(!path.exists(), "the partial's name is gone");
    }

    #[tokio::test]
    async fn an_encoded_body_has_no_plain_length() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut partial, _) = Partial::open(&dir.path().join("p"), 0).await.expect("open");
        partial.restart(Coding::Gzip).await.expect("restart");
        assert_eq!(partial.plain_length(), None);
    }

    #[test]
    fn keep_both_finds_a_free_name_and_fail_refuses_a_taken_one() {
        let dir = tempfile::tempdir().expect("dir");
        let destination = dir.path().join("a.txt");
        assert_eq!(
            target(&destination, ConflictRule::Fail),
            Some(destination.clone())
        );
        std::fs::write(&destination, b"old").expect("write");
        assert_eq!(target(&destination, ConflictRule::Fail), None);
        assert_eq!(
            target(&destination, ConflictRule::KeepBoth),
            Some(dir.path().join("a (1).txt"))
        );
        let partial = dir.path().join(".p");
        std::fs::write(&partial, b"new").expect("write");
        let error = place(&partial, &destination, ConflictRule::Fail).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        place(&partial, &destination, ConflictRule::Replace).expect("replace");
        assert_eq!(std::fs::read(&destination).expect("read"), b"new");
        assert!(!partial.exists());
    }
}
