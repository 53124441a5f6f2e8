//! Reading request bodies: pacing, counting, hashing, and (optionally)
//! writing them to disk.
//!
//! What it is for: turning a streamed body into a length and a SHA-256 as it
//! arrives, at a paced rate when a slow-read fault says so, and writing the
//! bytes to a temporary file that becomes the stored file only when the body
//! was received completely.
//!
//! What it must never do: hold a whole body in memory (bodies may be 1 GiB),
//! use a sleep that is not tokio's (tests run on a paused clock), or leave a
//! partial file under a stored name.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::state::{State, Stored};
use crate::uplink::Uplink;

/// The body's data, counted into `bytes_received` and, with `rate`, read no
/// faster than `rate` bytes per second; with `uplink`, each chunk first crosses
/// the shared modelled link.
pub fn metered(
    body: Body,
    state: Arc<State>,
    rate: Option<u64>,
    uplink: Option<Arc<Uplink>>,
) -> impl Stream<Item = Result<Bytes, axum::Error>> + Send + 'static {
    let start = tokio::time::Instant::now();
    let data = body.into_data_stream();
    futures_util::stream::unfold((data, 0u64), move |(mut data, mut total)| {
        let state = Arc::clone(&state);
        let uplink = uplink.clone();
        async move {
            let item = data.next().await?;
            if let Ok(chunk) = &item {
                let n = chunk.len() as u64;
                if let Some(uplink) = &uplink {
                    uplink.carry(n).await;
                }
                state.bytes(n);
                total += n;
                if let Some(rate) = rate.filter(|r| *r > 0) {
                    let due = start + Duration::from_secs_f64(total as f64 / rate as f64);
                    tokio::time::sleep_until(due).await;
                }
            }
            Some((item, (data, total)))
        }
    })
}

/// Reads a stream to its end, discarding the data. Returns false if it broke.
pub async fn drain<S>(mut stream: S) -> bool
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    while let Some(item) = stream.next().await {
        if item.is_err() {
            return false;
        }
    }
    true
}

/// Hashes one body and, with a store directory, writes it to a temporary file.
pub struct BodySink {
    key: String,
    hasher: Sha256,
    len: u64,
    file: Option<(tokio::fs::File, TempFile)>,
}

impl BodySink {
    /// Starts a body stored under `key`.
    pub async fn new(key: String, store_dir: Option<&Path>) -> io::Result<Self> {
        let file = match store_dir {
            None => None,
            Some(dir) => {
                let temp = TempFile::new(dir, &key);
                let file = tokio::fs::File::create(&temp.temp).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("creating {}: {e}", temp.temp.display()))
                })?;
                Some((file, temp))
            }
        };
        Ok(BodySink {
            key,
            hasher: Sha256::new(),
            len: 0,
            file,
        })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        if let Some((file, temp)) = &mut self.file {
            file.write_all(chunk).await.map_err(|e| {
                io::Error::new(e.kind(), format!("writing {}: {e}", temp.temp.display()))
            })?;
        }
        Ok(())
    }

    /// The body is complete: flushes the file and returns what to record.
    pub async fn finish(self) -> io::Result<Finished> {
        let temp = match self.file {
            None => None,
            Some((mut file, temp)) => {
                file.flush().await?;
                file.sync_all().await?;
                Some(temp)
            }
        };
        Ok(Finished {
            stored: Stored {
                key: self.key,
                len: self.len,
                sha256_hex: hex::encode(self.hasher.finalize()),
                file: temp.as_ref().map(|t| t.dest.clone()),
            },
            temp,
        })
    }
}

/// A complete body, recorded or not yet.
pub struct Finished {
    pub stored: Stored,
    temp: Option<TempFile>,
}

impl Finished {
    /// Moves the bytes to their stored name (a no-op without a store directory).
    pub async fn keep(mut self) -> io::Result<()> {
        if let Some(temp) = &mut self.temp {
            tokio::fs::rename(&temp.temp, &temp.dest)
                .await
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("storing {}: {e}", temp.dest.display()))
                })?;
            temp.kept = true;
        }
        Ok(())
    }
}

/// A temporary file removed on drop unless kept.
struct TempFile {
    temp: PathBuf,
    dest: PathBuf,
    kept: bool,
}

impl TempFile {
    fn new(dir: &Path, key: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempFile {
            temp: dir.join(format!(".partial-{}-{n}", std::process::id())),
            dest: dir.join(file_name(key)),
            kept: false,
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// A flat, reversible file name for a key: every byte outside
/// `[A-Za-z0-9._-]` is written `%XX`. Keys start with `/`, so a name is never
/// `.` or `..` and never leaves the directory.
pub fn file_name(key: &str) -> String {
    let mut name = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.len() > 200 {
        // File systems limit names to 255 bytes; keep a readable prefix and make it unique.
        let digest = hex::encode(Sha256::digest(key.as_bytes()));
        name.truncate(150);
        name.push('~');
        name.push_str(&digest[..32]);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory() {
        assert_eq!(file_name("/a/b.bin"), "%2Fa%2Fb.bin");
        assert_eq!(file_name("/../x#f 1"), "%2F..%2Fx%23f%201");
        let long = format!("/{}", "x".repeat(500));
        assert!(file_name(&long).len() < 200);
        assert_ne!(file_name(&long), file_name(&format!("{long}y")));
    }

    #[tokio::test]
    async fn sink_hashes_and_keeps_only_finished_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = BodySink::new("/f".into(), Some(dir.path())).await.unwrap();
        sink.write(b"hello ").await.unwrap();
        sink.write(b"world").await.unwrap();
        let done = sink.finish().await.unwrap();
        assert_eq!(done.stored.len, 11);
        assert_eq!(
            done.stored.sha256_hex,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        let dest = done.stored.file.clone().unwrap();
        done.keep().await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");

        let mut abandoned = BodySink::new("/g".into(), Some(dir.path())).await.unwrap();
        abandoned.write(b"part").await.unwrap();
        drop(abandoned);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["%2Ff"]);
    }
}
