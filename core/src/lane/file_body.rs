//! A request body streamed from a file: never the whole file in memory.
//!
//! It counts bytes as they leave (for progress and the stall watchdog) and notices a
//! source that changed underneath it: shorter than enqueued, or a different size or
//! modification time once read. Then it fails the body with a recorded `SourceChanged`,
//! so the server never receives a complete, wrong file.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::AsyncReadExt;

use super::attempt::AttemptProgress;
use crate::error::{FailureKind, TransferError};
use crate::upload::SourceSnapshot;

const CHUNK: usize = 64 * 1024;

struct Reading {
    file: tokio::fs::File,
    path: PathBuf,
    expected: SourceSnapshot,
    remaining: u64,
    progress: Arc<AttemptProgress>,
    problem: Arc<OnceLock<TransferError>>,
}

/// A stream of exactly `expected.size` bytes from `file`, or an error.
pub(crate) fn file_body(
    file: tokio::fs::File,
    path: PathBuf,
    expected: SourceSnapshot,
    progress: Arc<AttemptProgress>,
    problem: Arc<OnceLock<TransferError>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    file_window(file, path, expected, expected.size, progress, problem)
}

/// A stream of exactly `length` bytes from `file`'s current position (a resumable
/// upload's part), or an error. The source is checked for changes at the window's end.
pub(crate) fn file_window(
    file: tokio::fs::File,
    path: PathBuf,
    expected: SourceSnapshot,
    length: u64,
    progress: Arc<AttemptProgress>,
    problem: Arc<OnceLock<TransferError>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let state = Reading {
        file,
        path,
        expected,
        remaining: length,
        progress,
        problem,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut reading = state?;
        if reading.remaining == 0 {
            return match unchanged_after_reading(&reading).await {
                Ok(()) => None,
                Err(error) => Some((Err(error), None)),
            };
        }
        let want = usize::try_from(reading.remaining).map_or(CHUNK, |left| left.min(CHUNK));
        let mut buffer = BytesMut::zeroed(want);
        match reading.file.read(&mut buffer).await {
            Ok(0) => {
                let error = changed(&reading, "the file became shorter while it was sent");
                Some((Err(error), None))
            }
            Ok(read) => {
                buffer.truncate(read);
                reading.remaining -= read as u64;
                reading.progress.record_bytes(read as u64);
                Some((Ok(buffer.freeze()), Some(reading)))
            }
            Err(error) => {
                let _ = reading.problem.set(TransferError::new(
                    FailureKind::SourceUnreadable,
                    format!("reading the source failed: {error}"),
                ));
                Some((Err(error), None))
            }
        }
    })
}

async fn unchanged_after_reading(reading: &Reading) -> io::Result<()> {
    let metadata = tokio::fs::metadata(&reading.path).await;
    match metadata {
        Ok(metadata) if SourceSnapshot::of(&metadata) == reading.expected => Ok(()),
        Ok(_) => Err(changed(reading, "the file changed while it was sent")),
        Err(_) => Err(changed(reading, "the file disappeared while it was sent")),
    }
}

fn changed(reading: &Reading, message: &str) -> io::Error {
    let _ = reading
        .problem
        .set(TransferError::new(FailureKind::SourceChanged, message));
    io::Error::other(format!("{}: {message}", reading.path.display()))
}

impl AttemptProgress {
    fn record_bytes(&self, count: u64) {
        self.bytes_sent.fetch_add(count, Ordering::Relaxed);
        self.bytes_moved.fetch_add(count, Ordering::Relaxed);
        self.touch();
    }
}
