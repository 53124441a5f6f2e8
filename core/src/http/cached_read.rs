//! Reading a chunk of a source into a fresh buffer that is never zeroed first, and
//! reading it on the attempt's own task when the OS already holds it in memory, so the hop
//! to tokio's blocking pool is paid only for reads that may wait on storage.
//!
//! Linux's `preadv2` with `RWF_NOWAIT` reads only what is in the page cache and fails with
//! `EAGAIN` instead of waiting for the disk. A chunk read whole that way took no longer
//! than the copy into the socket that follows it; a hop to the blocking pool costs two
//! thread wake-ups and two context switches, which were ~17% of the runtime's CPU in
//! `mixed_sizes` (2,000 files, 1 GB, HTTP/1.1). Files just captured or just uploaded are
//! usually cached.
//!
//! The buffers are filled by the kernel straight into their spare capacity: zeroing each
//! 256 KiB buffer before the read overwrote it was ~4.7% of the runtime's CPU in
//! `mixed_sizes` (`memset` under hyper's `poll_write` and `read_chunk`).
//!
//! It must never block in [`read_if_cached`]: anything short of the whole chunk (not
//! cached, cached in part, an error, an OS without the call) answers `None`, and the caller
//! reads on the blocking pool as before. Only Linux: Android's C library has `preadv2`
//! only from API level 33, and Apple's systems have no such flag. It must never let a
//! buffer's length cover a byte the kernel did not write.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// The `length` bytes at `offset` of `file`, if the OS could give them all without
/// waiting for storage.
#[cfg(target_os = "linux")]
pub(super) fn read_if_cached(file: &File, offset: u64, length: usize) -> Option<Vec<u8>> {
    let offset = libc::off_t::try_from(offset).ok()?;
    let mut buffer = Vec::with_capacity(length);
    let vector = libc::iovec {
        iov_base: buffer.spare_capacity_mut().as_mut_ptr().cast(),
        iov_len: length,
    };
    // SAFETY: preadv2(2) writes at most `iov_len` bytes into the one buffer described (the
    // vector's spare capacity, `length` bytes), which lives, uniquely borrowed, until the
    // call returns; the descriptor is open.
    let read = unsafe { libc::preadv2(file.as_raw_fd(), &vector, 1, offset, libc::RWF_NOWAIT) };
    if usize::try_from(read).ok()? != length {
        return None;
    }
    // SAFETY: the kernel wrote all `length` bytes of the spare capacity.
    unsafe { buffer.set_len(length) };
    Some(buffer)
}

/// Elsewhere every read goes to the blocking pool.
#[cfg(not(target_os = "linux"))]
pub(super) fn read_if_cached(_file: &File, _offset: u64, _length: usize) -> Option<Vec<u8>> {
    None
}

// `pread` with a 64-bit offset: on 32-bit Android (armv7) `off_t` is 32 bits, and `pread`
// could not reach past 2 GiB. Apple's `off_t` is 64 bits everywhere.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
use libc::{off_t as FileOffset, pread as pread_at};
#[cfg(any(target_os = "linux", target_os = "android"))]
use libc::{off64_t as FileOffset, pread64 as pread_at};

/// Exactly the `length` bytes at `offset` of `file`, in as few `pread`s as the kernel
/// allows (one for a regular file). A file that ends sooner is `UnexpectedEof`.
pub(super) fn read_exact_at(file: &File, offset: u64, length: usize) -> io::Result<Vec<u8>> {
    let mut buffer: Vec<u8> = Vec::with_capacity(length);
    while buffer.len() < length {
        let position = offset
            .checked_add(buffer.len() as u64)
            .and_then(|position| FileOffset::try_from(position).ok())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let want = length - buffer.len();
        let spare = buffer.spare_capacity_mut();
        // SAFETY: pread(2) writes at most `want` bytes into the spare capacity, which has
        // room for exactly `want` more and stays uniquely borrowed until the call returns;
        // the descriptor is open.
        let read = unsafe { pread_at(file.as_raw_fd(), spare.as_mut_ptr().cast(), want, position) };
        let read = match usize::try_from(read) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            Ok(read) => read.min(want),
            Err(_) => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
        };
        // SAFETY: the kernel wrote `read` (at most `want`) bytes at the start of the spare
        // capacity, so the first `len + read` bytes are all written.
        unsafe { buffer.set_len(buffer.len() + read) };
    }
    Ok(buffer)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;

    use super::{read_exact_at, read_if_cached};

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

    #[test]
    fn an_exact_read_gives_the_bytes_and_a_short_file_is_unexpected_eof() {
        let mut file = tempfile::tempfile().expect("temp file");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300 * 1024).collect();
        file.write_all(&bytes).expect("write");
        let read = read_exact_at(&file, 1000, 256 * 1024).expect("read");
        assert_eq!(read, &bytes[1000..1000 + 256 * 1024]);
        assert_eq!(
            read_exact_at(&file, 0, 0).expect("empty read"),
            Vec::<u8>::new()
        );
        let short = read_exact_at(&file, 200 * 1024, 256 * 1024).expect_err("past the end");
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_exact_read_reaches_past_two_gibibytes() {
        let mut file = tempfile::tempfile().expect("temp file");
        let far = (3u64 << 30) + 100;
        file.set_len(far + 4096).expect("a sparse file");
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(far)).expect("seek");
        file.write_all(b"far away").expect("write");
        let read = read_exact_at(&file, far, 8).expect("read past 2 GiB");
        assert_eq!(read, b"far away");
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
