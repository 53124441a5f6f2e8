//! The longest file name a folder's file system takes, and the message for a pulled file
//! whose name is longer.
//!
//! What it is for: `ferry pull` names each file by its URL's last segment; a name the file
//! system cannot hold would otherwise be fetched whole and then fail at the rename with
//! "File name too long", blamed on the folder's permissions. Such a file is reported
//! before anything is fetched, with what can be done.
//!
//! What it must never do: refuse a name the file system takes (the limit is asked of the
//! folder itself; 255 bytes, the common limit, only when it cannot be asked), or create
//! anything.

use std::path::Path;

/// The limit most file systems have (ext4, APFS, XFS, btrfs; NTFS in UTF-16 units).
const COMMON_NAME_MAX: usize = 255;

/// The longest file name, in bytes, that the file system of `dir` (an existing folder)
/// takes.
pub fn name_max(dir: &Path) -> usize {
    asked(dir).unwrap_or(COMMON_NAME_MAX)
}

#[cfg(unix)]
fn asked(dir: &Path) -> Option<usize> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; `pathconf` only
    // reads it.
    let max = unsafe { libc::pathconf(path.as_ptr(), libc::_PC_NAME_MAX) };
    usize::try_from(max).ok().filter(|max| *max > 0)
}

#[cfg(not(unix))]
fn asked(_dir: &Path) -> Option<usize> {
    None
}

/// Why a file named `name` (`len` bytes, over `max`) is not fetched, and what to do.
pub fn too_long(len: usize, max: usize) -> String {
    format!(
        "the file name is {len} bytes long, longer than the {max} bytes the file system of \
         the folder allows in a name; nothing was fetched. ferry names a file by its URL's \
         last segment and cannot save it under another name (a --list line takes only a URL \
         and a SHA-256): fetch it with another tool that can name the file (curl -o NAME URL), \
         or ask for a URL that ends in a shorter name"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_has_a_limit_and_the_message_says_what_to_do() {
        let dir = tempfile::tempdir().expect("dir");
        let max = name_max(dir.path());
        assert!(max >= 14, "{max}");
        let text = too_long(300, max);
        assert!(text.contains("300 bytes"), "{text}");
        assert!(text.contains("cannot save it under another name"), "{text}");
        assert!(!text.contains("permission"), "{text}");
    }
}
