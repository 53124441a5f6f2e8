//! Reading a chunk of a source on the attempt's own task when the OS already holds it in
//! memory, so the hop to tokio's blocking pool is paid only for reads that may wait on
//! storage.
//!
//! Linux's `preadv2` with `RWF_NOWAIT` reads only what is in the page cache and fails with
//! `EAGAIN` instead of waiting for the disk. A chunk read whole that way took no longer
//! than the copy into the socket that follows it; a hop to the blocking pool costs two
//! thread wake-ups and two context switches, which were ~17% of the runtime's CPU in
//! `mixed_sizes` (2,000 files, 1 GB, HTTP/1.1). Files just captured or just uploaded are
//! usually cached.
//!
//! It must never block: anything short of the whole chunk (not cached, cached in part, an
//! error, an OS without the call) answers `None`, and the caller reads on the blocking
//! pool as before. Only Linux: Android's C library has `preadv2` only from API level 33,
//! and Apple's systems have no such flag.

use std::fs::File;

/// The `length` bytes at `offset` of `file`, if the OS could give them all without
/// waiting for storage.
#[cfg(target_os = "linux")]
pub(super) fn read_if_cached(file: &File, offset: u64, length: usize) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;

    let offset = libc::off_t::try_from(offset).ok()?;
    let mut buffer = vec![0u8; length];
    let vector = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: length,
    };
    // SAFETY: preadv2(2) writes at most `iov_len` bytes into the one buffer described,
    // which lives, uniquely borrowed, until the call returns; the descriptor is open.
    let read = unsafe { libc::preadv2(file.as_raw_fd(), &vector, 1, offset, libc::RWF_NOWAIT) };
    (usize::try_from(read).ok()? == length).then_some(buffer)
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
pub(super) fn read_if_cached(_file: &File, _offset: u64, _length: usize) -> Option<Vec<u8>> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;

    use super::read_if_cached;

    #[test]
    fn a_cached_chunk_is_read_whole_and_a_chunk_past_the_end_is_not() {
        let mut file = tempfile::tempfile().expect("temp file");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300 * 1024).collect();
        file.write_all(&bytes).expect("write");
        // Just written: in the page cache, unless this file system has no RWF_NOWAIT
        // (tmpfs on some kernels answers EOPNOTSUPP): then the answer must be None.
        match read_if_cached(&file, 4096, 256 * 1024) {
            Some(chunk) => assert_eq!(chunk, &bytes[4096..4096 + 256 * 1024]),
            None => assert_eq!(
                probe_errno(&file),
                Some(libc::EOPNOTSUPP),
                "a cached chunk was not read, and the file system supports RWF_NOWAIT"
            ),
        }
        // Only part of it exists: short, so not whole.
        assert_eq!(read_if_cached(&file, 200 * 1024, 256 * 1024), None);
    }

    /// The error of a one-byte `RWF_NOWAIT` read at the start of `file`, if it failed.
    fn probe_errno(file: &std::fs::File) -> Option<i32> {
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        let vector = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // SAFETY: as in `read_if_cached`: one live one-byte buffer, an open descriptor.
        let read = unsafe { libc::preadv2(file.as_raw_fd(), &vector, 1, 0, libc::RWF_NOWAIT) };
        (read < 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}
