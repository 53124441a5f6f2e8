//! tus `Upload-Checksum` values: the digest of one part of the source file.
//!
//! The part is read from disk in bounded chunks and never held whole in memory, from a
//! source opened without waiting and checked to be a regular file first. The
//! caller reads it again to send it, so a file that changes in between is caught by the
//! server (460) or by the body's own change check.

use std::io::SeekFrom;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::http::open_for_reading;
use crate::source_check::SourceProblem;

/// A checksum algorithm of the tus checksum extension that Ferry speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChecksumAlgorithm {
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    /// The strongest algorithm the server offers in `Tus-Checksum-Algorithm`: sha256 where
    /// offered, else sha1 (which every server with the extension must support).
    pub(crate) fn choose(offered: &str) -> Option<Self> {
        let names: Vec<String> = offered
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        if names.iter().any(|name| name == "sha256") {
            Some(Self::Sha256)
        } else if names.iter().any(|name| name == "sha1") {
            Some(Self::Sha1)
        } else {
            None
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }
}

const READ_CHUNK: usize = 256 * 1024;

/// `Upload-Checksum` for `length` bytes of `path` from `offset`: `"<algorithm> <base64>"`.
pub(crate) async fn upload_checksum(
    path: &Path,
    offset: u64,
    length: u64,
    algorithm: ChecksumAlgorithm,
) -> std::io::Result<String> {
    let path = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || open_for_reading(&path))
        .await
        .map_err(std::io::Error::other)?
        .map_err(|problem| match problem {
            SourceProblem::Io(error) => error,
            SourceProblem::NotAFile(found) => std::io::Error::other(format!(
                "the source is now {}, not a regular file",
                found.what()
            )),
        })?;
    let mut file = tokio::fs::File::from_std(opened.file);
    file.seek(SeekFrom::Start(offset)).await?;
    let mut sha1 = Sha1::new();
    let mut sha256 = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut remaining = length;
    while remaining > 0 {
        let want = usize::try_from(remaining).map_or(READ_CHUNK, |left| left.min(READ_CHUNK));
        let read = file.read(&mut buffer[..want]).await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file became shorter while its checksum was computed",
            ));
        }
        let data = &buffer[..read];
        match algorithm {
            ChecksumAlgorithm::Sha1 => sha1.update(data),
            ChecksumAlgorithm::Sha256 => sha256.update(data),
        }
        remaining -= read as u64;
    }
    let digest = match algorithm {
        ChecksumAlgorithm::Sha1 => STANDARD.encode(sha1.finalize()),
        ChecksumAlgorithm::Sha256 => STANDARD.encode(sha256.finalize()),
    };
    Ok(format!("{} {digest}", algorithm.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_preferred_where_offered() {
        assert_eq!(
            ChecksumAlgorithm::choose("md5, SHA1,sha256"),
            Some(ChecksumAlgorithm::Sha256)
        );
        assert_eq!(
            ChecksumAlgorithm::choose("md5,sha1"),
            Some(ChecksumAlgorithm::Sha1)
        );
        assert_eq!(ChecksumAlgorithm::choose("md5,crc32"), None);
    }

    #[tokio::test]
    async fn digests_only_the_window() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"xxabcyy").expect("write");
        // sha1("abc") and sha256("abc"), base64.
        assert_eq!(
            upload_checksum(&path, 2, 3, ChecksumAlgorithm::Sha1)
                .await
                .expect("sha1"),
            "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
        );
        assert_eq!(
            upload_checksum(&path, 2, 3, ChecksumAlgorithm::Sha256)
                .await
                .expect("sha256"),
            "sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        assert!(
            upload_checksum(&path, 5, 3, ChecksumAlgorithm::Sha1)
                .await
                .is_err()
        );
    }
}
