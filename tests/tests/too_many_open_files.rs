//! "Too many open files" is a reason to wait, never to fail (issue 23, point 3): while the
//! process has no descriptor left, every attempt that cannot open its source waits and
//! tries again without using up an attempt; once descriptors are free again every file
//! arrives, exactly once.
//!
//! Its own test binary with a single test: the descriptor limit is the whole process's,
//! and lowering it would break any test running beside it.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferry::{FailureKind, NetworkStatus, StateKind, TransferEvent, TransferQueue};
use ferry_testkit::{ServerConfig, TestServer};
use support::{assert_all_received_once, quick_config, write_files};

const FILES: usize = 40;
const MAX_ATTEMPTS: u32 = 3;

/// The process's soft descriptor limit, lowered until dropped (also when a test panics).
struct LoweredLimit {
    original: libc::rlimit,
}

impl LoweredLimit {
    /// Lowers the soft limit to 3: with standard input, output and error open, every new
    /// descriptor is refused with `EMFILE`; those already open keep working.
    fn to_standard_streams_only() -> Self {
        let mut original = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one `rlimit` we own.
        let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut original) };
        assert_eq!(read, 0, "getrlimit: {}", std::io::Error::last_os_error());
        let lowered = libc::rlimit {
            rlim_cur: 3,
            rlim_max: original.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` we own; lowering the soft limit is always
        // allowed.
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) };
        assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
        Self { original }
    }
}

impl Drop for LoweredLimit {
    fn drop(&mut self) {
        // SAFETY: setrlimit reads one `rlimit` we own; the soft limit goes back to what it
        // was, within the unchanged hard limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.original) };
    }
}

fn network(online: bool) -> NetworkStatus {
    NetworkStatus {
        online,
        ..NetworkStatus::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_wait_out_a_descriptor_shortage_and_then_all_arrive() {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 23, |_, _| 16 * 1024);
    let mut config = quick_config(dir.path());
    config.retry.max_attempts = MAX_ATTEMPTS;
    let queue = TransferQueue::open(config).await.expect("open");
    let mut events = queue.subscribe();
    // Enqueued while offline, so that nothing starts before the descriptors run out.
    queue.set_network(network(false)).await.expect("offline");
    let uploads = files
        .iter()
        .map(|file| ferry::Upload::put(&file.path, format!("{}{}", server.base_url(), file.name)))
        .collect();
    let results = queue.enqueue_many(uploads).await.expect("enqueue");
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let limit = LoweredLimit::to_standard_streams_only();
    queue.set_network(network(true)).await.expect("online");
    // Wait until one transfer has been refused a descriptor more often than it has
    // attempts: had those counted, it would have failed.
    let mut refusals: HashMap<ferry::TransferId, u32> = HashMap::new();
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(event) = events.next().await {
            match event {
                TransferEvent::Retrying { id, error, .. }
                    if error.kind == FailureKind::TooManyOpenFiles =>
                {
                    let count = refusals.entry(id).or_default();
                    *count += 1;
                    if *count > MAX_ATTEMPTS {
                        return;
                    }
                }
                TransferEvent::Failed { id, error } => {
                    panic!("{id} failed while descriptors were short: {error}")
                }
                TransferEvent::Succeeded { id, .. } => {
                    panic!("{id} was sent without a descriptor")
                }
                _ => {}
            }
        }
    })
    .await;
    drop(limit);
    assert!(
        waited.is_ok(),
        "no transfer was refused a descriptor more than {MAX_ATTEMPTS} times: {refusals:?}"
    );

    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("idle within a minute")
        .expect("idle");
    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 1000)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), FILES, "every file arrived");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}
