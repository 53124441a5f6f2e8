//! Opening a source to send it, without making the OS write to the source's inode.
//!
//! Linux (Android too) records when a file was last read: with the usual `relatime`
//! mount option, the first read after a file was written updates its access time, which
//! dirties the inode and goes through the file system's journal. Every file an app has
//! just captured and now uploads pays that once. `O_NOATIME` asks the kernel not to,
//! but only the file's owner may ask: for anyone else open(2) fails with `EPERM`. A file
//! system in user space (FUSE, as behind Android's shared storage) sees the flag too and
//! may refuse it some other way. Whenever the open with the flag fails, the file is
//! opened plainly, and that open's answer is the answer. `many_small_puts` with files
//! never read before: `touch_atime` was ~4% of the runtime worker's CPU.
//!
//! It opens without waiting and refuses anything but a regular file of a real file system
//! before a byte is read (`source_check.rs`): a source replaced by a FIFO, a device, a
//! directory or a file of `/proc` or `/sys` since it was enqueued fails the transfer, and
//! never holds a thread in `open`.
//!
//! It must never change what is read, or which regular files can be read.

use std::fs::{File, Metadata};
use std::path::Path;

use crate::source_check::{SourceProblem, allow_blocking_reads, check_opened, open_nonblocking};

/// A source opened for reading, and what `fstat` said of it.
pub(crate) struct OpenedSource {
    pub file: File,
    pub metadata: Metadata,
}

/// Opens `path` for reading if it is a regular file, leaving its access time alone where
/// the OS allows it.
pub(crate) fn open_for_reading(path: &Path) -> Result<OpenedSource, SourceProblem> {
    let file = open_leaving_access_time(path).map_err(SourceProblem::Io)?;
    let metadata = check_opened(&file)?;
    allow_blocking_reads(&file).map_err(SourceProblem::Io)?;
    Ok(OpenedSource { file, metadata })
}

fn open_leaving_access_time(path: &Path) -> std::io::Result<File> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        if let Ok(file) = open_nonblocking(path, libc::O_NOATIME) {
            return Ok(file);
        }
    }
    open_nonblocking(path, 0)
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use std::fs::FileTimes;
    use std::io::Read;
    use std::time::{Duration, SystemTime};

    use super::*;

    /// A file whose access time is a day older than its modification time, as after it
    /// was written and never read: the next plain read moves the access time (`relatime`).
    fn unread_file(path: &Path) -> SystemTime {
        std::fs::write(path, b"sixteen bytes...").expect("write");
        let modified = SystemTime::now();
        let accessed = modified - Duration::from_secs(86_400);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .expect("open for set_times");
        file.set_times(
            FileTimes::new()
                .set_accessed(accessed)
                .set_modified(modified),
        )
        .expect("set times");
        accessed
    }

    fn read_all(mut file: File) -> Vec<u8> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).expect("read");
        bytes
    }

    fn accessed(path: &Path) -> SystemTime {
        std::fs::metadata(path)
            .and_then(|metadata| metadata.accessed())
            .expect("access time")
    }

    #[test]
    fn reading_an_owned_source_leaves_its_access_time_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let control = dir.path().join("control.bin");
        let source = dir.path().join("source.bin");
        let control_before = unread_file(&control);
        let source_before = unread_file(&source);

        assert_eq!(
            read_all(File::open(&control).expect("open")),
            b"sixteen bytes..."
        );
        if accessed(&control) == control_before {
            // Mounted `noatime`: no read moves the access time here, so there is nothing
            // to tell apart.
            eprintln!("this file system keeps no access times; nothing to compare");
            return;
        }
        assert_eq!(
            read_all(open_for_reading(&source).expect("open").file),
            b"sixteen bytes..."
        );
        assert_eq!(accessed(&source), source_before);
    }

    #[test]
    fn a_missing_source_fails_as_a_plain_open_does() {
        let dir = tempfile::tempdir().expect("dir");
        let Err(SourceProblem::Io(error)) = open_for_reading(&dir.path().join("absent")) else {
            panic!("a missing source must fail to open");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }
}
