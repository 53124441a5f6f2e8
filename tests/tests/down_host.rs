//! A host that accepts no connections: its breaker opens, each probe goes to the transfer
//! that has waited longest (every file is tried in turn), and the app can read why the
//! work waits (`host_status`, `QueueStalled`).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use ferry::{
    FailureKind, HostHealth, Limits, NetworkStatus, QueueConfig, Selection, StateKind,
    TransferEvent, TransferQueue,
};
use support::{quick_config, write_files};

const FILES: usize = 20;

/// Enqueues a `PUT` of every file to `host` and asserts each was accepted.
async fn enqueue_to(queue: &TransferQueue, files: &[support::SourceFile], host: &str) {
    let uploads = files
        .iter()
        .map(|file| ferry::Upload::put(&file.path, format!("http://{host}/{}", file.name)))
        .collect();
    let accepted = queue.enqueue_many(uploads).await.expect("enqueue");
    assert!(accepted.iter().all(Result::is_ok));
}

/// A loopback port nothing listens on (bound once, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(start_paused = true)]
async fn every_file_to_a_down_host_is_tried_in_turn_and_the_reason_is_readable() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 9, |_, _| 1_000);
    let mut config = quick_config(dir.path());
    config.retry.max_attempts = 1_000;
    config.retry.max_delay = Duration::from_secs(60);
    config.platform.queue_stall_after = Duration::from_secs(120);
    let queue = TransferQueue::open(config).await.expect("open");
    let mut events = queue.subscribe();
    let host = format!("127.0.0.1:{}", closed_port());
    enqueue_to(&queue, &files, &host).await;

    tokio::time::sleep(Duration::from_secs(30 * 60)).await;

    let transfers = queue.list(None, 0, 100).await.expect("list");
    let attempts: Vec<u32> = transfers.iter().map(|transfer| transfer.attempts).collect();
    let (fewest, most) = (
        attempts.iter().min().copied().unwrap_or(0),
        attempts.iter().max().copied().unwrap_or(0),
    );
    assert!(fewest >= 1, "a file was never tried: {attempts:?}");
    assert!(
        most <= fewest + 2,
        "probes went round the files in turn: {attempts:?}"
    );

    let hosts = queue.host_status().await.expect("host status");
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let status = &hosts[0];
    assert_eq!(status.host, host);
    assert_eq!(status.queued + status.running, FILES as u64);
    assert!(
        matches!(status.health, HostHealth::Open { .. } | HostHealth::Probing),
        "{status:?}"
    );
    let error = status.last_error.as_ref().expect("the failure is kept");
    assert_eq!(error.kind, FailureKind::Network);
    assert!(error.message.contains("could not connect"), "{error}");
    assert!(status.next_attempt_at.is_some());

    let mut stalled_hosts = None;
    while let Some(event) = events.try_next() {
        if let TransferEvent::QueueStalled { hosts, .. } = event {
            stalled_hosts = Some(hosts);
        }
    }
    let stalled_hosts = stalled_hosts.expect("a QueueStalled event came");
    assert_eq!(stalled_hosts.len(), 1);
    assert_eq!(stalled_hosts[0].host, host);
    queue.shutdown().await.expect("shutdown");
}

/// A rerun (a queue opened again, its waiting transfers made due at once, as `ferry push`
/// does) starts with the files the earlier run never reached, not with the first few
/// again: run order is the time a transfer became due. On the real clock: the queue's wall
/// clock starts again at each open, which a paused tokio clock would have run ahead of.
#[tokio::test]
async fn a_reopened_queue_starts_with_the_files_an_earlier_run_never_tried() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 60, 9, |_, _| 1_000);
    let mut config = quick_config(dir.path());
    config.retry.max_attempts = 1_000;
    // Few requests at once, so that the breaker opens before the first run reaches most.
    config.limits = Limits {
        per_host: 2,
        global: 2,
    };
    let host = format!("127.0.0.1:{}", closed_port());
    let queue = TransferQueue::open(config.clone()).await.expect("open");
    // Offline while enqueueing, so that every attempt fails after the files were queued.
    let offline = NetworkStatus {
        online: false,
        ..NetworkStatus::default()
    };
    queue.set_network(offline).await.expect("offline");
    enqueue_to(&queue, &files, &host).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    // The first burst, until the breaker opens (its first probe is 2 s away).
    attempts_once(&queue, |attempts| attempts.values().sum::<u32>() >= 5).await;
    queue.shutdown().await.expect("shutdown");
    // What the first run left, read by a queue that sends nothing.
    let inspector = TransferQueue::open(QueueConfig::inspect_only(&config.database_path))
        .await
        .expect("inspect");
    let before = attempts_once(&inspector, |_| true).await;
    inspector.shutdown().await.expect("shutdown");
    let untried = before.values().filter(|attempts| **attempts == 0).count();
    assert!(untried >= 8, "the first run left files untried: {before:?}");

    let queue = TransferQueue::open(config).await.expect("reopen");
    let waiting = Selection::in_states([StateKind::Queued]);
    queue.retry_where(waiting).await.expect("made due");
    let newly_tried = |after: &HashMap<String, u32>| {
        before
            .iter()
            .filter(|(destination, attempts)| **attempts == 0 && after[*destination] > 0)
            .count()
    };
    let after = attempts_once(&queue, |after| newly_tried(after) >= 4).await;
    queue.shutdown().await.expect("shutdown");
    let retried_again: Vec<&String> = before
        .iter()
        .filter(|(destination, attempts)| **attempts > 0 && after[*destination] > **attempts)
        .map(|(destination, _)| destination)
        .collect();
    assert!(
        retried_again.is_empty(),
        "tried again before the untried: {retried_again:?}\nbefore {before:?}\nafter {after:?}"
    );
    assert!(
        newly_tried(&after) >= 4,
        "before {before:?}\nafter {after:?}"
    );
}

/// Attempts per destination, polled (at most 10 s) until `enough` holds of them.
async fn attempts_once(
    queue: &TransferQueue,
    enough: impl Fn(&HashMap<String, u32>) -> bool,
) -> HashMap<String, u32> {
    let mut attempts = HashMap::new();
    for _ in 0..200 {
        let transfers = queue.list(None, 0, 100).await.expect("list");
        attempts = transfers
            .into_iter()
            .map(|transfer| (transfer.upload.destination, transfer.attempts))
            .collect();
        if enough(&attempts) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    attempts
}
