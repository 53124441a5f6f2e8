//! The free space of the volume a folder lies on (`statvfs`, through rustix) and which
//! volume that is (the folder's device number), for the check before a download starts
//! (`disk_space.rs`).
//!
//! Two system calls, no more: it is called inside the actor's turn, once per download
//! about to launch. It must never write, create or wait for anything.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::disk_space::VolumeSpace;

/// What the volume holding `folder` has available.
///
/// # Errors
///
/// The folder cannot be looked at (missing, no permission), or its volume reports no size
/// at all (FUSE file systems without `statfs` answer zeros, as some network mounts do):
/// the caller does not check, and the attempt reports what is wrong with the folder, or
/// meets a real ENOSPC if there is one.
pub(crate) fn probe(folder: &Path) -> io::Result<VolumeSpace> {
    let device = std::fs::metadata(folder)?.dev();
    let stats = rustix::fs::statvfs(folder)?;
    if stats.f_blocks == 0 {
        // Seen: the power-cut test's FUSE volume (fuser's default `statfs` replies with
        // zeros), where every download waited for space forever.
        return Err(io::Error::other("the volume reports no size"));
    }
    let block_size = if stats.f_frsize > 0 {
        stats.f_frsize
    } else {
        stats.f_bsize
    };
    Ok(VolumeSpace {
        device,
        available: stats.f_bavail.saturating_mul(block_size),
        block_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_s_volume_has_a_block_size_and_its_device_is_the_folder_s() {
        let dir = tempfile::tempdir().expect("dir");
        let space = probe(dir.path()).expect("probe");
        assert!(space.block_size > 0);
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        let device = std::fs::metadata(&file).expect("stat").dev();
        assert_eq!(
            space.device, device,
            "a file in the folder is on the same volume"
        );
        assert!(probe(&dir.path().join("missing")).is_err());
    }
}
