//! End-to-end checks of a finished download's bytes: its expected SHA-256, else the
//! server's `Repr-Digest: sha-256=:…:` (RFC 9530, the whole representation, so valid
//! after a resume), else a base64 `Content-MD5` that came with a whole, unencoded body.
//!
//! Reads the partial file once, in 256 KiB blocks, on the blocking pool. Must never hold
//! the file in memory or decide what a mismatch costs (the attempt does).

use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest the bytes must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expected {
    /// The app's expected SHA-256.
    AppSha256([u8; 32]),
    /// The server's `Repr-Digest` SHA-256.
    ServerSha256([u8; 32]),
    /// The server's `Content-MD5` of the whole body.
    ServerMd5([u8; 16]),
}

impl Expected {
    /// Who vouched for it, in words for the failure's message.
    pub(super) fn source(&self) -> &'static str {
        match self {
            Self::AppSha256(_) => "the expected SHA-256",
            Self::ServerSha256(_) => "the server's Repr-Digest",
            Self::ServerMd5(_) => "the server's Content-MD5",
        }
    }
}

/// The SHA-256 of a `Repr-Digest` value (a dictionary of `algorithm=:base64:`), if it
/// has one that decodes.
pub(crate) fn repr_digest_sha256(value: &str) -> Option<[u8; 32]> {
    value.split(',').find_map(|member| {
        let (name, encoded) = member.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("sha-256") {
            return None;
        }
        let encoded = encoded.trim().strip_prefix(':')?.strip_suffix(':')?;
        STANDARD.decode(encoded).ok()?.try_into().ok()
    })
}

/// The MD5 of a `Content-MD5` value (base64, RFC 1864), if it decodes.
pub(crate) fn content_md5(value: &str) -> Option<[u8; 16]> {
    STANDARD.decode(value.trim()).ok()?.try_into().ok()
}

/// Whether the file at `path` has the digest `expected`. Blocking.
pub(super) fn matches(path: &Path, expected: &Expected) -> std::io::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let mut block = vec![0u8; 256 * 1024];
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    loop {
        let read = file.read(&mut block)?;
        if read == 0 {
            break;
        }
        match expected {
            Expected::ServerMd5(_) => md5.update(&block[..read]),
            _ => sha.update(&block[..read]),
        }
    }
    Ok(match expected {
        Expected::AppSha256(want) | Expected::ServerSha256(want) => sha.finalize()[..] == want[..],
        Expected::ServerMd5(want) => md5.finalize()[..] == want[..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_read_from_their_headers() {
        let sha = Sha256::digest(b"hello");
        let header = format!("sha-512=:AAAA:, sha-256=:{}:", STANDARD.encode(sha));
        assert_eq!(
            repr_digest_sha256(&header).map(|d| d.to_vec()),
            Some(sha.to_vec())
        );
        assert_eq!(repr_digest_sha256("sha-256=:bm90IDMyIGJ5dGVz:"), None);
        assert_eq!(repr_digest_sha256("sha-256=abc"), None);
        let md5 = Md5::digest(b"hello");
        assert_eq!(
            content_md5(&STANDARD.encode(md5)).map(|d| d.to_vec()),
            Some(md5.to_vec())
        );
        assert_eq!(
            content_md5(&hex::encode(md5)),
            None,
            "hex is not base64 MD5"
        );
    }

    #[test]
    fn a_file_matches_its_digest_and_not_another() {
        let file = tempfile::NamedTempFile::new().expect("file");
        std::fs::write(file.path(), b"hello").expect("write");
        let sha: [u8; 32] = Sha256::digest(b"hello").into();
        assert!(matches(file.path(), &Expected::AppSha256(sha)).expect("read"));
        assert!(!matches(file.path(), &Expected::ServerSha256([0; 32])).expect("read"));
        let md5: [u8; 16] = Md5::digest(b"hello").into();
        assert!(matches(file.path(), &Expected::ServerMd5(md5)).expect("read"));
    }
}
