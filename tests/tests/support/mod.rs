//! Shared fixtures for the engine's integration tests: source files with known digests,
//! a queue configuration in a temporary directory, and bounded waits for events.

#![allow(dead_code)] // each test binary uses its own subset

pub mod big_file;
pub mod cutting_proxy;
pub mod proxy;
pub mod resumable;
pub mod scripted_platform;
pub mod tusd;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry::{
    NetworkStatus, QueueConfig, StateKind, Subscription, TransferEvent, TransferId, TransferQueue,
};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};

/// A file written for a test, with what the server must end up holding.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path relative to the fixture directory, with `/` separators; also the URL path.
    pub name: String,
    pub path: PathBuf,
    pub len: u64,
    pub sha256_hex: String,
}

/// Writes `count` files of `size(index, rng)` random bytes under `dir`.
pub fn write_files(
    dir: &Path,
    count: usize,
    seed: u64,
    mut size: impl FnMut(usize, &mut StdRng) -> usize,
) -> Vec<SourceFile> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|index| {
            let len = size(index, &mut rng);
            let mut bytes = vec![0u8; len];
            rng.fill_bytes(&mut bytes);
            let name = format!("d{}/f{index:05}.bin", index % 16);
            let path = dir.join(&name);
            std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
            std::fs::write(&path, &bytes).expect("write source");
            SourceFile {
                name,
                path,
                len: len as u64,
                sha256_hex: hex::encode(Sha256::digest(&bytes)),
            }
        })
        .collect()
}

/// Mixed sizes from 1 KiB to 4 MiB: mostly small photos' thumbnails and documents,
/// some medium, a few large.
pub fn mixed_size(_index: usize, rng: &mut StdRng) -> usize {
    const KIB: usize = 1024;
    match rng.random_range(0..100) {
        0..80 => rng.random_range(KIB..=64 * KIB),
        80..95 => rng.random_range(64 * KIB..=1024 * KIB),
        _ => rng.random_range(1024 * KIB..=4096 * KIB),
    }
}

/// Names in `dir` that are Ferry's partial files (of downloads).
pub fn partials_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".partial"))
        .collect()
}

/// A queue config with its database in `dir` and quick retries.
pub fn quick_config(dir: &Path) -> QueueConfig {
    let mut config = QueueConfig::new(dir.join("queue.db"));
    config.retry.base_delay = Duration::from_millis(100);
    config.retry.max_delay = Duration::from_secs(5);
    config
}

/// Enqueues one `PUT` per file to `url_of(file)`, asserts every one was accepted, and waits
/// (at most a minute) until the queue is idle.
pub async fn send_all_and_wait(
    queue: &TransferQueue,
    files: &[SourceFile],
    url_of: impl Fn(&SourceFile) -> String,
) {
    let uploads = files
        .iter()
        .map(|file| ferry::Upload::put(&file.path, url_of(file)))
        .collect();
    let results = queue.enqueue_many(uploads).await.expect("enqueue");
    assert!(results.iter().all(Result::is_ok));
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("idle within a minute")
        .expect("idle");
}

/// Enqueues one `PUT` per file to `base_url` + its name; every one must be accepted.
pub async fn enqueue_each(
    queue: &TransferQueue,
    files: &[SourceFile],
    base_url: &str,
) -> Vec<ferry::TransferId> {
    let uploads = files
        .iter()
        .map(|file| ferry::Upload::put(&file.path, format!("{base_url}{}", file.name)))
        .collect();
    enqueue_accepted(queue, uploads).await
}

/// Enqueues `uploads` in one call; every one must be accepted.
pub async fn enqueue_accepted(
    queue: &TransferQueue,
    uploads: Vec<ferry::Upload>,
) -> Vec<ferry::TransferId> {
    queue
        .enqueue_many(uploads)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|result| result.expect("accepted"))
        .collect()
}

/// A loopback test server with `faults` and otherwise the defaults.
pub async fn server_with_faults(faults: ferry_testkit::FaultPlan) -> ferry_testkit::TestServer {
    ferry_testkit::TestServer::start(ferry_testkit::ServerConfig {
        faults,
        ..ferry_testkit::ServerConfig::default()
    })
    .await
    .expect("server")
}

/// Waits for the first event matching `wanted`, looking at no more than `limit` events.
pub async fn wait_for(
    events: &mut Subscription,
    limit: usize,
    mut wanted: impl FnMut(&TransferEvent) -> bool,
) -> TransferEvent {
    for _ in 0..limit {
        match events.next().await {
            Some(event) if wanted(&event) => return event,
            Some(_) => {}
            None => panic!("the queue closed before the awaited event"),
        }
    }
    panic!("the awaited event did not come within {limit} events");
}

/// Asserts the server holds every file exactly once, byte-identical.
pub fn assert_all_received_once(server: &ferry_testkit::TestServer, files: &[SourceFile]) {
    for file in files {
        let key = format!("/{}", file.name);
        let got = server
            .received(&key)
            .unwrap_or_else(|| panic!("{key} never arrived"));
        assert_eq!(got.len, file.len, "{key}: length");
        assert_eq!(got.sha256_hex, file.sha256_hex, "{key}: content");
        assert_eq!(got.stored_count, 1, "{key}: stored more than once");
    }
}

/// The per-state totals the queue keeps (`count_by_state`, `progress`) agree with its
/// transfers as `list` reads them, row by row.
pub async fn assert_totals_agree_with_the_transfers(queue: &TransferQueue) {
    const PAGE: u64 = 500;
    let mut listed: Vec<(StateKind, u64, u64)> = StateKind::ALL
        .into_iter()
        .map(|state| (state, 0, 0))
        .collect();
    let mut offset = 0;
    loop {
        let page = queue.list(None, offset, PAGE).await.expect("list");
        for transfer in &page {
            let entry = listed
                .iter_mut()
                .find(|(state, _, _)| *state == transfer.state.kind())
                .expect("every state is in StateKind::ALL");
            entry.1 += 1;
            entry.2 += transfer.size;
        }
        if (page.len() as u64) < PAGE {
            break;
        }
        offset += PAGE;
    }
    let counted: Vec<(StateKind, u64, u64)> = queue
        .count_by_state()
        .await
        .expect("count_by_state")
        .into_iter()
        .map(|count| (count.state, count.files, count.bytes))
        .collect();
    assert_eq!(
        counted, listed,
        "the kept totals against the listed transfers"
    );
}

pub mod authorizers;

/// No network at all: nothing is sent until the test goes online again.
pub const OFFLINE: NetworkStatus = NetworkStatus {
    online: false,
    expensive: false,
    constrained: false,
};

/// Nothing listens there, and nothing is sent while the queue is offline.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// A queue with its database in `dir` ([`quick_config`]), told it is offline: nothing is
/// sent until the test says otherwise.
pub async fn open_offline(dir: &Path) -> TransferQueue {
    let queue = TransferQueue::open(quick_config(dir)).await.expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    queue
}

/// Every row the queue holds, counted through `count_by_state`.
pub async fn rows(queue: &TransferQueue) -> u64 {
    queue
        .count_by_state()
        .await
        .expect("count_by_state")
        .iter()
        .map(|count| count.files)
        .sum()
}

/// The state of each transfer, in order.
pub async fn states_of(queue: &TransferQueue, ids: &[TransferId]) -> Vec<StateKind> {
    let mut states = Vec::new();
    for id in ids {
        states.push(queue.get(id).await.expect("get").state.kind());
    }
    states
}

/// A loopback test server that reads every request body at 64 KiB/s: attempts stay
/// running long enough to be acted on.
pub async fn slow_server() -> ferry_testkit::TestServer {
    server_with_faults(ferry_testkit::FaultPlan {
        slow_read: Some(ferry_testkit::SlowReadFault {
            probability: 1.0,
            bytes_per_second: 64 * 1024,
        }),
        ..ferry_testkit::FaultPlan::default()
    })
    .await
}

/// The transfers running 50 ms after an enqueue to a server that holds each request:
/// more than one beyond the `slots`, or too few were claimed ahead of them to show what
/// the test looks at.
pub async fn running_with_claims(
    queue: &TransferQueue,
    slots: usize,
    most: usize,
) -> Vec<ferry::Transfer> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let running = queue
        .list(Some(StateKind::Running), 0, most as u64)
        .await
        .expect("list");
    assert!(
        running.len() > slots + 1,
        "{} running: too few claimed ahead of the {slots} slots",
        running.len()
    );
    running
}
