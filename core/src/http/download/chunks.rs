//! Body chunks held until they are written to the partial file, and written with as few
//! system calls as the kernel allows (`writev`), never copied into a buffer of Ferry's own
//! first: a 1 GiB download copied every byte once more than curl did (`one_large_get`).
//!
//! Must never reorder bytes or drop a chunk; holds at most what its owner lets it
//! gather ([`Chunks::is_full`]).

use std::io::{self, IoSlice, Write};

use bytes::Bytes;

/// Bytes gathered before one write to the file.
const WRITE_BLOCK: usize = 256 * 1024;
/// Chunks gathered before one write at most: `writev` takes at most 1,024 (`IOV_MAX` on
/// Linux), and a body of tiny chunks is written in several calls anyway.
const MAX_CHUNKS: usize = 512;

/// Body chunks not yet written, in order.
#[derive(Default)]
pub(super) struct Chunks {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Chunks {
    pub(super) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.len += chunk.len();
        self.chunks.push(chunk);
    }

    /// Enough is gathered for one write.
    pub(super) fn is_full(&self) -> bool {
        self.len >= WRITE_BLOCK || self.chunks.len() >= MAX_CHUNKS
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Everything gathered, in order; leaves nothing.
    pub(super) fn take(&mut self) -> Vec<Bytes> {
        self.len = 0;
        std::mem::take(&mut self.chunks)
    }
}

/// Writes every byte of `chunks`, in order, with `writev` (as many calls as it takes).
pub(super) fn write_all_vectored(to: &mut impl Write, chunks: &[Bytes]) -> io::Result<()> {
    for group in chunks.chunks(MAX_CHUNKS) {
        let mut slices: Vec<IoSlice<'_>> = group.iter().map(|chunk| IoSlice::new(chunk)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match to.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut rest, written),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most 3 bytes per call, to make every write partial.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let taken = buf.len().min(3);
            self.0.extend_from_slice(&buf[..taken]);
            Ok(taken)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_keep_every_byte_in_order() {
        let mut chunks = Chunks::default();
        for part in [&b"abcde"[..], b"", b"f", b"ghijklmnop"] {
            chunks.push(Bytes::copy_from_slice(part));
        }
        let mut to = Trickle(Vec::new());
        write_all_vectored(&mut to, &chunks.take()).expect("write");
        assert_eq!(to.0, b"abcdefghijklmnop");
        assert!(chunks.is_empty());
    }

    #[test]
    fn a_block_or_many_chunks_fill_it() {
        let mut chunks = Chunks::default();
        chunks.push(Bytes::from(vec![0; WRITE_BLOCK - 1]));
        assert!(!chunks.is_full());
        chunks.push(Bytes::from_static(b"x"));
        assert!(chunks.is_full());
        chunks.clear();
        for _ in 0..MAX_CHUNKS {
            chunks.push(Bytes::from_static(b"x"));
        }
        assert!(chunks.is_full());
    }

    #[test]
    fn more_chunks_than_one_call_takes_are_written_in_groups() {
        let chunks: Vec<Bytes> = (0..(MAX_CHUNKS * 2 + 5))
            .map(|index| Bytes::from(vec![(index % 251) as u8]))
            .collect();
        let mut to = Vec::new();
        write_all_vectored(&mut to, &chunks).expect("write");
        let expected: Vec<u8> = (0..(MAX_CHUNKS * 2 + 5)).map(|i| (i % 251) as u8).collect();
        assert_eq!(to, expected);
    }
}
