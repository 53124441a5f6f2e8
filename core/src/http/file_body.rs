//! A request body streamed from a file: never the whole file in memory.
//!
//! It counts bytes as they leave (for progress and the stall watchdog) and notices a
//! source that changed underneath it: no longer a regular file when opened (opened without
//! waiting and checked before any read, `open_source.rs`), different from the enqueued
//! snapshot when opened,
//! shorter than expected, or of a different size or modification time once read. Then it
//! fails with a recorded `SourceChanged`, so the server never receives a complete, wrong
//! file.
//!
//! File work on a larger source runs on tokio's blocking pool, one hop per chunk of
//! [`CHUNK`] (256 KiB), except reads of chunks the OS already holds in memory
//! (`cached_read.rs`, Linux), which need no hop, nor does the last one's recheck. A source whose window is at most [`READ_AT_OPEN`] (64 KiB) is
//! opened, read in one `pread` and checked right on the attempt's task, with no hop at all:
//! for many small files the hops, not the bytes, are what costs (`many_small_puts`: 0.83 →
//! 0.63 CPU-seconds per 10,000 files). That bounds the blocking to one small read from
//! local storage; a source on a network file system that hangs would hold a runtime worker,
//! which app containers on iOS and Android never are.
//! It must never read more than one chunk ahead of the network.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::Stream;

use super::attempt_progress::AttemptProgress;
use super::cached_read::{read_exact_at, read_if_cached};
use super::open_source::open_for_reading;
use crate::error::{FailureKind, TransferError};
use crate::source_check::SourceProblem;
use crate::upload::SourceSnapshot;

/// A window this small is read whole when the source is opened, on the attempt's task.
const READ_AT_OPEN: usize = 64 * 1024;

/// What one hop to the blocking pool reads of a larger source. Hops cost CPU, so fewer,
/// larger reads leave more of it to the network: `mixed_sizes` (1 GB in 2,000 files, HTTP/1.1)
/// took 1.33–1.55 CPU-seconds in 64 KiB reads, 1.04–1.08 in 256 KiB reads and 0.99–1.06 in
/// 1 MiB reads, three rounds each. Eight requests in flight hold at most 2 MiB of it.
const CHUNK: usize = 256 * 1024;

/// The part of a source one request sends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub offset: u64,
    pub length: u64,
}

impl Window {
    pub(crate) fn whole(snapshot: SourceSnapshot) -> Self {
        Self {
            offset: 0,
            length: snapshot.size,
        }
    }
}

/// A source opened for sending, still the file that was enqueued when it was opened.
pub(crate) struct SourceFile {
    file: File,
    path: PathBuf,
    expected: SourceSnapshot,
    window: Window,
    /// The whole window, read (and checked) at open when it fits in one chunk.
    read_ahead: Option<Bytes>,
}

impl SourceFile {
    /// Opens `path` for sending `window` of it, if it still matches `snapshot`.
    pub(crate) async fn open(
        path: &Path,
        snapshot: SourceSnapshot,
        window: Window,
    ) -> Result<Self, TransferError> {
        let path = path.to_path_buf();
        if window.length <= READ_AT_OPEN as u64 {
            // A few microseconds of system calls: less than the hop to the blocking pool
            // and back, which cost ~20 µs of CPU per file (`many_small_puts`).
            return open_blocking(path, snapshot, window);
        }
        match tokio::task::spawn_blocking(move || open_blocking(path, snapshot, window)).await {
            Ok(opened) => opened,
            Err(error) => Err(TransferError::new(
                FailureKind::SourceUnreadable,
                format!("opening the source was interrupted: {error}"),
            )),
        }
    }
}

fn open_blocking(
    path: PathBuf,
    expected: SourceSnapshot,
    window: Window,
) -> Result<SourceFile, TransferError> {
    let opened = open_for_reading(&path).map_err(SourceProblem::into_transfer_error)?;
    let mut source = SourceFile {
        file: opened.file,
        path,
        expected,
        window,
        read_ahead: None,
    };
    if window.length <= READ_AT_OPEN as u64 {
        // Read first, check once after: a change made before the read, or during it,
        // already shows in the file's size or modification time then, so comparing the
        // metadata of the open too would catch nothing more.
        let length = usize::try_from(window.length).unwrap_or(READ_AT_OPEN);
        let bytes = read_chunk(&source, window.offset, length, Recheck::TheOpenFile).map_err(
            |problem| match problem {
                ReadProblem::Changed(_) => changed_since_enqueued(),
                problem => problem.into_error(),
            },
        )?;
        source.read_ahead = Some(bytes);
        return Ok(source);
    }
    if SourceSnapshot::of(&opened.metadata) != expected {
        return Err(changed_since_enqueued());
    }
    Ok(source)
}

fn changed_since_enqueued() -> TransferError {
    TransferError::new(
        FailureKind::SourceChanged,
        "the source file changed after it was enqueued; enqueue it again to send the new content",
    )
}

/// Why a read failed: the source changed, or it could not be read.
#[derive(Clone, Debug)]
enum ReadProblem {
    Changed(&'static str),
    Unreadable(String),
}

impl ReadProblem {
    fn into_error(self) -> TransferError {
        match self {
            Self::Changed(message) => TransferError::new(FailureKind::SourceChanged, message),
            Self::Unreadable(message) => TransferError::new(
                FailureKind::SourceUnreadable,
                format!("reading the source failed: {message}"),
            ),
        }
    }
}

/// Whether a read checks, once done, that the source is still unchanged.
#[derive(Clone, Copy)]
enum Recheck {
    /// Not the last chunk: the last one checks.
    No,
    /// The file read: enough for a small source, read whole the moment it was opened by
    /// its path. Checking the path too cost a second path walk per file
    /// (`many_small_puts`: ~4% of the runtime worker's CPU).
    TheOpenFile,
    /// The path: a long upload also fails if the file was removed or replaced meanwhile.
    ThePath,
}

/// Reads `length` bytes at `offset`, then rechecks the source as `recheck` says.
fn read_chunk(
    source: &SourceFile,
    offset: u64,
    length: usize,
    recheck: Recheck,
) -> Result<Bytes, ReadProblem> {
    // One `pread` for the whole length: `read_to_end` would start at 8 KiB and grow, two
    // or more system calls for a 16 KiB file.
    let buffer =
        read_exact_at(&source.file, offset, length).map_err(|error| match error.kind() {
            io::ErrorKind::UnexpectedEof => {
                ReadProblem::Changed("the file became shorter while it was sent")
            }
            _ => ReadProblem::Unreadable(error.to_string()),
        })?;
    source.recheck(recheck)?;
    Ok(Bytes::from(buffer))
}

impl SourceFile {
    /// Whether the source is still the one enqueued, looked at as `recheck` says.
    fn recheck(&self, recheck: Recheck) -> Result<(), ReadProblem> {
        let metadata = match recheck {
            Recheck::No => return Ok(()),
            Recheck::TheOpenFile => self.file.metadata(),
            Recheck::ThePath => std::fs::metadata(&self.path),
        };
        match metadata {
            Ok(metadata) if SourceSnapshot::of(&metadata) == self.expected => Ok(()),
            Ok(_) => Err(ReadProblem::Changed("the file changed while it was sent")),
            Err(_) => Err(ReadProblem::Changed(
                "the file disappeared while it was sent",
            )),
        }
    }
}

struct Reading {
    source: Arc<SourceFile>,
    /// Offset of the next byte to read.
    position: u64,
    remaining: u64,
    progress: Arc<AttemptProgress>,
    problem: Arc<OnceLock<TransferError>>,
}

impl Reading {
    /// Records why the body failed (for the attempt's outcome) and gives the stream's error.
    fn fail(&self, problem: ReadProblem) -> io::Error {
        let error = problem.into_error();
        let text = format!("{}: {}", self.source.path.display(), error.message);
        let _ = self.problem.set(error);
        io::Error::other(text)
    }
}

/// A stream of exactly `source`'s window, or an error that `problem` explains.
pub(crate) fn file_body(
    mut source: SourceFile,
    progress: Arc<AttemptProgress>,
    problem: Arc<OnceLock<TransferError>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let read_ahead = source.read_ahead.take();
    let window = source.window;
    let reading = Reading {
        source: Arc::new(source),
        position: window.offset,
        remaining: window.length,
        progress,
        problem,
    };
    futures_util::stream::unfold(
        (Some(reading), read_ahead),
        |(state, read_ahead)| async move {
            let mut reading = state?;
            if reading.remaining == 0 {
                return None;
            }
            let want = usize::try_from(reading.remaining).map_or(CHUNK, |left| left.min(CHUNK));
            let chunk = match read_ahead {
                Some(chunk) => Ok(chunk),
                None => match read_cached(&reading, want) {
                    Some(chunk) => chunk,
                    None => read_on_blocking_pool(&reading, want).await,
                },
            };
            match chunk {
                Ok(bytes) => {
                    let read = bytes.len() as u64;
                    reading.position += read;
                    reading.remaining -= read;
                    reading.progress.record_bytes(read);
                    Some((Ok(bytes), (Some(reading), None)))
                }
                Err(problem) => Some((Err(reading.fail(problem)), (None, None))),
            }
        },
    )
}

/// A chunk read right here if the OS has it in memory (`cached_read.rs`). The last one is
/// then rechecked by its path here too: a `stat` of a file this process holds open, whose
/// path was just walked to open it, finds everything in memory. That spared one hop to the
/// blocking pool per file larger than [`READ_AT_OPEN`] (`mixed_sizes`: 2,000 files).
fn read_cached(reading: &Reading, want: usize) -> Option<Result<Bytes, ReadProblem>> {
    let bytes = read_if_cached(&reading.source.file, reading.position, want)?;
    Some(
        reading
            .source
            .recheck(recheck_after(reading, want))
            .map(|()| Bytes::from(bytes)),
    )
}

/// The last chunk checks the source once read; the others need not.
fn recheck_after(reading: &Reading, want: usize) -> Recheck {
    if reading.remaining == want as u64 {
        Recheck::ThePath
    } else {
        Recheck::No
    }
}

async fn read_on_blocking_pool(reading: &Reading, want: usize) -> Result<Bytes, ReadProblem> {
    let source = Arc::clone(&reading.source);
    let position = reading.position;
    let recheck = recheck_after(reading, want);
    tokio::task::spawn_blocking(move || read_chunk(&source, position, want, recheck))
        .await
        .unwrap_or_else(|error| {
            Err(ReadProblem::Unreadable(format!(
                "the read was interrupted: {error}"
            )))
        })
}

impl AttemptProgress {
    fn record_bytes(&self, count: u64) {
        self.bytes_sent.fetch_add(count, Ordering::Relaxed);
        self.bytes_moved.fetch_add(count, Ordering::Relaxed);
        self.touch();
    }
}

/// A multipart part streaming `body`, the contents of `source`, under its file name.
pub(super) fn file_part(
    source: &std::path::Path,
    size: u64,
    body: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
) -> reqwest::multipart::Part {
    let file_name = source
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(body), size)
        .file_name(file_name)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    const SMALL: usize = 16 * 1024;

    /// The modification time every source starts with.
    const FIRST_MTIME_SECS: u64 = 1_000_000;

    /// A source of `SMALL` bytes with a known modification time, and its snapshot.
    fn small_source(dir: &Path) -> (PathBuf, SourceSnapshot) {
        let path = dir.join("small.bin");
        write_source(&path, 7, SMALL, FIRST_MTIME_SECS);
        let metadata = std::fs::metadata(&path).expect("stat source");
        (path, SourceSnapshot::of(&metadata))
    }

    /// Writes `size` bytes of `fill` to `path`, modified `mtime_secs` after the epoch.
    fn write_source(path: &Path, fill: u8, size: usize, mtime_secs: u64) {
        std::fs::write(path, vec![fill; size]).expect("write source");
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open for set_modified");
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime_secs))
            .expect("set mtime");
    }

    async fn open_whole(
        path: &Path,
        snapshot: SourceSnapshot,
    ) -> Result<SourceFile, TransferError> {
        SourceFile::open(path, snapshot, Window::whole(snapshot)).await
    }

    #[tokio::test]
    async fn an_unchanged_small_source_is_read_whole_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, snapshot) = small_source(dir.path());
        let source = open_whole(&path, snapshot).await.expect("open");
        let bytes = source.read_ahead.expect("read at open");
        assert_eq!(bytes.len(), SMALL);
        assert!(bytes.iter().all(|&byte| byte == 7));
    }

    #[tokio::test]
    async fn a_small_source_rewritten_to_the_same_size_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, snapshot) = small_source(dir.path());
        write_source(&path, 8, SMALL, 2 * FIRST_MTIME_SECS);
        let error = open_whole(&path, snapshot).await.err().expect("refused");
        assert_eq!(error.kind, FailureKind::SourceChanged, "{error}");
    }

    #[tokio::test]
    async fn a_small_source_that_grew_or_shrank_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, snapshot) = small_source(dir.path());
        for size in [SMALL + 1, SMALL - 1] {
            write_source(&path, 7, size, FIRST_MTIME_SECS);
            let error = open_whole(&path, snapshot).await.err().expect("refused");
            assert_eq!(error.kind, FailureKind::SourceChanged, "{size}: {error}");
        }
    }

    #[tokio::test]
    async fn a_missing_small_source_is_reported_missing() {
        let dir = tempfile::tempdir().expect("dir");
        let (path, snapshot) = small_source(dir.path());
        std::fs::remove_file(&path).expect("remove");
        let error = open_whole(&path, snapshot).await.err().expect("refused");
        assert_eq!(error.kind, FailureKind::SourceMissing, "{error}");
    }
    /// Streams `source`'s whole window, stopping at the first error: the bytes sent
    /// before it, and the problem recorded.
    async fn stream_all(source: SourceFile) -> (Vec<u8>, Option<TransferError>) {
        use futures_util::StreamExt;
        let progress = Arc::new(AttemptProgress::new(Arc::new(
            std::sync::atomic::AtomicU64::new(0),
        )));
        let problem = Arc::new(OnceLock::new());
        let mut body = std::pin::pin!(file_body(source, progress, Arc::clone(&problem)));
        let mut sent = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => sent.extend_from_slice(&bytes),
                Err(_) => break,
            }
        }
        (sent, problem.get().cloned())
    }

    /// A source of three chunks, the last one short.
    const LARGE: usize = 2 * CHUNK + 88 * 1024;

    #[tokio::test]
    async fn a_large_source_is_sent_whole_and_unchanged() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("large.bin");
        let bytes: Vec<u8> = (0..LARGE).map(|index| (index % 251) as u8).collect();
        std::fs::write(&path, &bytes).expect("write source");
        let snapshot = SourceSnapshot::of(&std::fs::metadata(&path).expect("stat"));
        let source = open_whole(&path, snapshot).await.expect("open");
        let (sent, problem) = stream_all(source).await;
        assert!(problem.is_none(), "{problem:?}");
        assert!(sent == bytes, "the body differs from the source");
    }

    #[tokio::test]
    async fn a_large_source_replaced_while_sent_fails_at_its_last_chunk() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("large.bin");
        write_source(&path, 7, LARGE, FIRST_MTIME_SECS);
        let snapshot = SourceSnapshot::of(&std::fs::metadata(&path).expect("stat"));
        let source = open_whole(&path, snapshot).await.expect("open");
        // Another file of the same size takes the path: the open file is unchanged, so
        // only the path's recheck after the last chunk can see it.
        let other = dir.path().join("other.bin");
        write_source(&other, 8, LARGE, 2 * FIRST_MTIME_SECS);
        std::fs::rename(&other, &path).expect("replace the source");
        let (sent, problem) = stream_all(source).await;
        let problem = problem.expect("the replaced source is noticed");
        assert_eq!(problem.kind, FailureKind::SourceChanged, "{problem}");
        assert_eq!(sent.len(), 2 * CHUNK, "the last chunk is never sent");
    }
}
