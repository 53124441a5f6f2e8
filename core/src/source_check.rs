//! Opening a source without waiting, and telling whether it is something Ferry can send:
//! a regular file of a file system that stores its bytes.
//!
//! A path that passed enqueue can be anything by the time it is sent: replaced by a FIFO
//! (a plain `open` of one waits for a writer, for ever), a device, a directory, or a file
//! of the kernel's `/proc` or `/sys`, whose size (0 or 4096) says nothing of what reading
//! it gives. So every open of a source goes through [`open_nonblocking`] (`O_NONBLOCK`: no
//! open waits; `O_NOCTTY`: a terminal never becomes the process's), and [`check_opened`]
//! looks at the descriptor (`fstat`, and `fstatfs` on Linux and Android) before a byte is
//! read. A regular file then reads as usual ([`allow_blocking_reads`]).
//!
//! It must never read from a source, and never open one any other way.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{FailureKind, NotAFile, TransferError};

/// Why a source cannot be sent.
#[derive(Debug)]
pub(crate) enum SourceProblem {
    /// Opening or inspecting it failed.
    Io(io::Error),
    /// It is there, but not a regular file of a real file system.
    NotAFile(NotAFile),
}

impl SourceProblem {
    /// The failure an attempt reports for it: permanent, since no retry changes it, except
    /// running out of descriptors (`TooManyOpenFiles`, retried without using an attempt).
    pub(crate) fn into_transfer_error(self) -> TransferError {
        match self {
            Self::Io(error) if crate::descriptors::is_exhaustion(&error) => {
                crate::descriptors::too_many_open_files("the source", &error)
            }
            Self::Io(error) if error.kind() == io::ErrorKind::NotFound => TransferError::new(
                FailureKind::SourceMissing,
                "the source file no longer exists",
            ),
            Self::Io(error) => TransferError::new(
                FailureKind::SourceUnreadable,
                format!("the source cannot be opened ({error}); check its permissions"),
            ),
            Self::NotAFile(found) => TransferError::new(
                FailureKind::SourceNotAFile,
                format!(
                    "the source is now {}, not the regular file that was enqueued; {}",
                    found.what(),
                    found.advice()
                ),
            ),
        }
    }
}

/// Opens `path` read-only without waiting (a FIFO without a writer opens at once), never
/// as a controlling terminal, with `extra_flags` added (such as `O_NOATIME`).
pub(crate) fn open_nonblocking(path: &Path, extra_flags: libc::c_int) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | extra_flags)
        .open(path)
}

/// The metadata of an opened source, if it is a regular file Ferry can send.
pub(crate) fn check_opened(file: &File) -> Result<Metadata, SourceProblem> {
    let metadata = file.metadata().map_err(SourceProblem::Io)?;
    if let Some(found) = not_a_file(&metadata) {
        return Err(SourceProblem::NotAFile(found));
    }
    if on_kernel_file_system(file).map_err(SourceProblem::Io)? {
        return Err(SourceProblem::NotAFile(NotAFile::KernelFile));
    }
    Ok(metadata)
}

/// What `metadata` describes, unless it is a regular file.
pub(crate) fn not_a_file(metadata: &Metadata) -> Option<NotAFile> {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return None;
    }
    Some(if file_type.is_dir() {
        NotAFile::Directory
    } else if file_type.is_fifo() {
        NotAFile::Fifo
    } else if file_type.is_socket() {
        NotAFile::Socket
    } else if file_type.is_char_device() {
        NotAFile::CharacterDevice
    } else if file_type.is_block_device() {
        NotAFile::BlockDevice
    } else {
        NotAFile::Other
    })
}

/// Clears `O_NONBLOCK` from a checked regular file, so that no file system (FUSE, NFS)
/// may answer a read with `EAGAIN`.
pub(crate) fn allow_blocking_reads(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;

    let fd = file.as_raw_fd();
    // SAFETY: fcntl(2) with F_GETFL/F_SETFL reads and sets the status flags of `fd`, which
    // `file` keeps open for the duration of both calls; no memory is passed.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `file` lives on a file system the kernel makes up as it is read. Linux and
/// Android only; elsewhere such files are devices, which `not_a_file` already refuses.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn on_kernel_file_system(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;

    let mut stats = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs(2) fills the one `statfs` it is given, which lives until the call
    // returns; the descriptor is open. It is read only after the call succeeded.
    let stats = unsafe {
        if libc::fstatfs(file.as_raw_fd(), stats.as_mut_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
        stats.assume_init()
    };
    // `f_type` and the constants have different integer types on different targets.
    #[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)]
    let Some(magic) = i64::try_from(stats.f_type).ok() else {
        return Ok(false);
    };
    #[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)]
    let generated = [
        libc::PROC_SUPER_MAGIC,
        libc::SYSFS_MAGIC,
        libc::DEBUGFS_MAGIC,
        libc::TRACEFS_MAGIC,
        libc::SECURITYFS_MAGIC,
        libc::CGROUP_SUPER_MAGIC,
        libc::CGROUP2_SUPER_MAGIC,
    ]
    .into_iter()
    .filter_map(|known| i64::try_from(known).ok())
    .any(|known| known == magic);
    Ok(generated)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn on_kernel_file_system(_file: &File) -> io::Result<bool> {
    Ok(false)
}

/// Makes a FIFO at `path`, for tests. In-process: a spawned `mkfifo` would hold copies of
/// this process's descriptors until its exec, among them another test's store lock.
#[cfg(test)]
pub(crate) fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;

    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(made, 0, "mkfifo: {}", io::Error::last_os_error());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &Path) -> Result<Metadata, SourceProblem> {
        check_opened(&open_nonblocking(path, 0).map_err(SourceProblem::Io)?)
    }

    fn found(path: &Path) -> Option<NotAFile> {
        match check(path) {
            Err(SourceProblem::NotAFile(found)) => Some(found),
            _ => None,
        }
    }

    #[test]
    fn a_regular_file_passes_and_reads_blocking() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").expect("write");
        let file = open_nonblocking(&path, 0).expect("open");
        assert_eq!(check_opened(&file).expect("a file").len(), 5);
        allow_blocking_reads(&file).expect("clear O_NONBLOCK");
        use std::os::fd::AsRawFd;
        // SAFETY: F_GETFL on an open descriptor.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "{flags:#x}");
    }

    #[test]
    fn a_directory_a_fifo_and_a_device_are_told_apart() {
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(found(dir.path()), Some(NotAFile::Directory));
        let fifo = dir.path().join("pipe");
        make_fifo(&fifo);
        assert_eq!(found(&fifo), Some(NotAFile::Fifo));
        assert_eq!(
            found(Path::new("/dev/null")),
            Some(NotAFile::CharacterDevice)
        );
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn files_of_proc_and_sys_are_refused_although_they_look_regular() {
        let proc_file = Path::new("/proc/self/status");
        let metadata = std::fs::metadata(proc_file).expect("/proc is mounted");
        assert!(metadata.is_file(), "it looks like a regular file");
        assert_eq!(found(proc_file), Some(NotAFile::KernelFile));
        let sys_file = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
        match check(sys_file) {
            Err(SourceProblem::NotAFile(found)) => assert_eq!(found, NotAFile::KernelFile),
            Err(SourceProblem::Io(error)) => {
                eprintln!(
                    "{} cannot be opened here ({error}); /proc alone was checked",
                    sys_file.display()
                );
            }
            Ok(_) => panic!("{} passed as a regular file", sys_file.display()),
        }
    }

    #[test]
    fn a_missing_path_is_an_io_not_found() {
        let dir = tempfile::tempdir().expect("dir");
        let problem = check(&dir.path().join("absent")).expect_err("missing");
        assert!(
            matches!(&problem, SourceProblem::Io(error) if error.kind() == io::ErrorKind::NotFound),
            "{problem:?}"
        );
        let error = problem.into_transfer_error();
        assert_eq!(error.kind, FailureKind::SourceMissing);
    }
}
