//! An HTTP/2 server that refuses streams unprocessed (as servers do when they end a
//! connection or are over their stream limit) costs no attempt and no backoff: the
//! requests it never processed are sent again at once (`http/unprocessed.rs`). A server
//! that processes nothing still ends in a verdict, not in a loop.
//!
//! The other way HTTP/2 says "unprocessed", a `GOAWAY` below the request's stream, is what
//! nginx sends after `keepalive_requests` (1,000); `cargo bench -p ferry-testkit --
//! many_small_puts` runs against it and prints any retry.

mod support;

use std::time::Duration;

use ferry::{
    FailureKind, HttpVersionPolicy, Limits, QueueConfig, TransferEvent, TransferQueue,
    TransferState, Upload,
};
use ferry_testkit::RefusingServer;
use support::{quick_config, send_all_and_wait, write_files};

fn http2_config(dir: &std::path::Path) -> QueueConfig {
    let mut config = quick_config(dir);
    config.http_version = HttpVersionPolicy::Http2PriorKnowledge;
    config.limits = Limits {
        per_host: 8,
        global: 8,
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_are_sent_again_without_using_an_attempt() {
    const FILES: usize = 200;
    const REFUSE_EVERY: u64 = 10;
    let server = RefusingServer::start(REFUSE_EVERY).await.expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 11, |_, _| 4096);
    let queue = TransferQueue::open(http2_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    send_all_and_wait(&queue, &files, |file| server.url(&file.name)).await;

    let transfers = queue.list(None, 0, 10 * FILES as u64).await.expect("list");
    queue.shutdown().await.expect("shutdown");
    drop(queue); // the subscription ends once every handle is gone
    let mut retried = Vec::new();
    while let Some(event) = events.next().await {
        if let TransferEvent::Retrying { error, .. } = event {
            retried.push(error.to_string());
        }
    }
    assert_eq!(
        retried,
        Vec::<String>::new(),
        "no attempt should have been retried"
    );
    assert_eq!(transfers.len(), FILES);
    for transfer in &transfers {
        assert_eq!(transfer.state, TransferState::Succeeded, "{}", transfer.id);
        assert_eq!(
            transfer.attempts, 1,
            "{} used more than one attempt",
            transfer.id
        );
    }

    let counts = server.counts();
    assert_eq!(counts.answered.len(), FILES, "every file answered");
    assert!(counts.answered.values().all(|times| *times == 1));
    assert_eq!(counts.bytes, FILES as u64 * 4096);
    // One stream in ten refused: 200 answered took at least 22 streams more.
    assert!(
        counts.refused >= FILES as u64 / (REFUSE_EVERY - 1),
        "{} refused",
        counts.refused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_processes_nothing_ends_in_a_verdict_not_a_loop() {
    let server = RefusingServer::start(1).await.expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 12, |_, _| 1024);
    let mut config = http2_config(dir.path());
    config.retry.max_attempts = 3;
    config.retry.base_delay = Duration::from_millis(10);
    let queue = TransferQueue::open(config).await.expect("open");
    let id = queue
        .enqueue(Upload::put(&files[0].path, server.url(&files[0].name)))
        .await
        .expect("enqueue");
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("idle within a minute")
        .expect("idle");

    let transfer = queue.get(&id).await.expect("get");
    assert_eq!(transfer.state, TransferState::Failed);
    let error = transfer.last_error.expect("a failure is explained");
    assert_eq!(error.kind, FailureKind::AttemptsExhausted);
    assert_eq!(transfer.attempts, 3);
    let counts = server.counts();
    assert!(counts.answered.is_empty());
    // Each of the 3 counted attempts was sent once, then at most 4 times more without a
    // verdict (`UNPROCESSED_RESENDS`).
    assert!(
        (3..=15).contains(&counts.refused),
        "{} requests refused",
        counts.refused
    );
    queue.shutdown().await.expect("shutdown");
}
