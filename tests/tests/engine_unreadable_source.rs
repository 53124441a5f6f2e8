//! A file the process may not read is refused at enqueue as `SourceUnreadable`.
//!
//! Root reads any file whatever its mode, so when the tests run as root this binary
//! drops its effective uid to `nobody` around the enqueue. It holds this one test only,
//! because the effective uid is shared by every thread of the process.

mod support;

use ferry::{Error, TransferQueue, Upload};
use support::{quick_config, write_files};

struct EffectiveUid(libc::uid_t);

impl EffectiveUid {
    fn become_nobody_if_root() -> Option<Self> {
        // SAFETY: geteuid and seteuid have no memory-safety preconditions.
        let original = unsafe { libc::geteuid() };
        if original != 0 {
            return None;
        }
        let nobody = 65_534;
        // SAFETY: as above; the saved uid stays 0, so Drop can switch back.
        let changed = unsafe { libc::seteuid(nobody) };
        assert_eq!(changed, 0, "seteuid(nobody) failed");
        Some(Self(original))
    }
}

impl Drop for EffectiveUid {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::seteuid(self.0) };
    }
}

#[tokio::test]
async fn a_file_without_read_permission_is_refused_as_unreadable() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 100);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    std::fs::set_permissions(
        &files[0].path,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .expect("chmod");

    let result = {
        let _uid = EffectiveUid::become_nobody_if_root();
        queue
            .enqueue(Upload::put(&files[0].path, "http://127.0.0.1:9/x"))
            .await
    };
    assert!(
        matches!(result, Err(Error::SourceUnreadable { .. })),
        "{result:?}"
    );
    assert!(queue.list(None, 0, 10).await.expect("list").is_empty());
    queue.shutdown().await.expect("shutdown");
}
