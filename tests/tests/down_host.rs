//! A host that accepts no connections: its breaker opens, each probe goes to the transfer
//! that has waited longest (every file is tried in turn), and the app can read why the
//! work waits (`host_status`, `QueueStalled`).

mod support;

use std::time::Duration;

use ferry::{FailureKind, HostHealth, TransferEvent, TransferQueue};
use support::{quick_config, write_files};

const FILES: usize = 20;

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
    let uploads = files
        .iter()
        .map(|file| ferry::Upload::put(&file.path, format!("http://{host}/{}", file.name)))
        .collect();
    let accepted = queue.enqueue_many(uploads).await.expect("enqueue");
    assert!(accepted.iter().all(Result::is_ok));

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
