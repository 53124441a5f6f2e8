//! A file's bytes as copy-on-write pages, so that keeping a synced copy of a file beside
//! the live one costs a reference per page, not a copy of the file.
//!
//! It must never share a page between two files in a way a write could see: every write
//! copies the page it changes unless that page is this file's alone.

use std::sync::Arc;

/// Bytes per page.
const PAGE: usize = 4096;

/// The content of one file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pages {
    len: u64,
    pages: Vec<Arc<Vec<u8>>>,
}

impl Pages {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Up to `size` bytes from `offset` (fewer at the end of the file).
    pub(crate) fn read(&self, offset: u64, size: u32) -> Vec<u8> {
        let end = self.len.min(offset.saturating_add(u64::from(size)));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let (page, within) = split(at);
            let take = (PAGE - within).min((end - at) as usize);
            match self.pages.get(page) {
                Some(bytes) => out.extend_from_slice(&bytes[within..within + take]),
                None => out.resize(out.len() + take, 0),
            }
            at += take as u64;
        }
        out
    }

    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        if end > self.len {
            self.set_len(end);
        }
        let mut done = 0;
        while done < data.len() {
            let (page, within) = split(offset + done as u64);
            let take = (PAGE - within).min(data.len() - done);
            let bytes = Arc::make_mut(&mut self.pages[page]);
            bytes[within..within + take].copy_from_slice(&data[done..done + take]);
            done += take;
        }
    }

    /// Truncates or extends (with zeros) to `len` bytes.
    pub(crate) fn set_len(&mut self, len: u64) {
        let pages = len.div_ceil(PAGE as u64) as usize;
        if len < self.len {
            self.pages.truncate(pages);
            let (last, within) = split(len);
            if within > 0
                && let Some(page) = self.pages.get_mut(last)
            {
                Arc::make_mut(page)[within..].fill(0);
            }
        }
        self.pages.resize_with(pages, || Arc::new(vec![0; PAGE]));
        self.len = len;
    }

    /// Whether the two hold different bytes (pages still shared are equal by definition).
    pub(crate) fn differs_from(&self, other: &Pages) -> bool {
        self.len != other.len
            || self
                .pages
                .iter()
                .zip(&other.pages)
                .any(|(a, b)| !Arc::ptr_eq(a, b) && a != b)
    }
}

fn split(offset: u64) -> (usize, usize) {
    (
        (offset / PAGE as u64) as usize,
        (offset % PAGE as u64) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_read_back_across_pages_and_holes_read_as_zeros() {
        let mut file = Pages::default();
        file.write(5000, b"hello");
        assert_eq!(file.len(), 5005);
        assert_eq!(file.read(4998, 100), b"\0\0hello");
        file.write(4094, b"abcd");
        assert_eq!(file.read(4094, 4), b"abcd");
        assert_eq!(file.read(9000, 10), b"", "nothing past the end");
    }

    #[test]
    fn a_copy_keeps_its_bytes_when_the_original_is_written_or_truncated() {
        let mut file = Pages::default();
        file.write(0, &[7; 10_000]);
        let synced = file.clone();
        assert!(!file.differs_from(&synced));
        file.write(4096, b"x");
        assert!(file.differs_from(&synced));
        assert_eq!(synced.read(4096, 1), [7]);
        file.set_len(3);
        file.set_len(6);
        assert_eq!(file.read(0, 10), [7, 7, 7, 0, 0, 0]);
        assert_eq!(synced.len(), 10_000);
        assert_eq!(synced.read(0, 4), [7; 4]);
    }
}
