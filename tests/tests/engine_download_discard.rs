//! A download that will not finish leaves nothing in the folder: its partial file goes
//! when it is cancelled (one, or in bulk), when it failed for good holding no byte, and
//! when a download that failed for good (and kept its partial file for a retry) is purged.

mod support;

use std::time::Duration;

use ferry::{Download, Selection, StateKind, TransferId, TransferQueue, TransferState};
use ferry_testkit::{DownloadFault, RetryAfter, ServerConfig, TestServer};
use support::{partials_in, quick_config};

const MIB: u64 = 1024 * 1024;

/// Waits (at most 2,000 polls of 50 ms of virtual time) until `done` holds.
async fn until(mut done: impl AsyncFnMut() -> bool, what: &str) {
    for _ in 0..2_000 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

/// A cut after 1 MiB (recorded as the offset), then `then` for the next request.
fn cut_then(server: &TestServer, name: &str, then: Vec<DownloadFault>) {
    server.serve_file(name, vec![3u8; 4 * MIB as usize]);
    let mut faults = vec![DownloadFault::ResetAfter(MIB)];
    faults.extend(then);
    server.add_download_faults(name, faults);
}

async fn state_of(queue: &TransferQueue, id: &TransferId) -> TransferState {
    queue.get(id).await.expect("get").state
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_download_leaves_no_partial_file_one_or_in_bulk() {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let much_later = DownloadFault::Status {
        code: 503,
        retry_after: Some(RetryAfter::Seconds(3_000)),
    };
    cut_then(&server, "one", vec![much_later.clone()]);
    cut_then(&server, "bulk", vec![much_later]);
    let dir = tempfile::tempdir().expect("dir");
    let into = dir.path().join("in");
    std::fs::create_dir(&into).expect("mkdir");
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let one = queue
        .enqueue_download(Download::new(server.file_url("one"), into.join("one")))
        .await
        .expect("enqueue");
    let bulk = queue
        .enqueue_download(Download::new(server.file_url("bulk"), into.join("bulk")))
        .await
        .expect("enqueue");
    until(
        async || server.file_requests("one").len() == 2 && server.file_requests("bulk").len() == 2,
        "both cut, then told to come back much later",
    )
    .await;
    until(
        async || partials_in(&into).len() == 2,
        "two partial files held",
    )
    .await;
    queue.cancel(&one).await.expect("cancel");
    let cancelled = queue
        .cancel_where(Selection::in_states([StateKind::Queued]))
        .await
        .expect("cancel_where");
    assert_eq!(cancelled, 1);
    assert_eq!(state_of(&queue, &one).await, TransferState::Cancelled);
    assert_eq!(state_of(&queue, &bulk).await, TransferState::Cancelled);
    until(
        async || partials_in(&into).is_empty(),
        "no partial file left",
    )
    .await;
    assert!(std::fs::read_dir(&into).expect("dir").next().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_download_that_failed_for_good_with_nothing_held_leaves_no_partial_file() {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    server.serve_file("f", vec![1u8; 1000]);
    server.add_download_faults(
        "f",
        vec![DownloadFault::Status {
            code: 404,
            retry_after: None,
        }],
    );
    let dir = tempfile::tempdir().expect("dir");
    let into = dir.path().join("in");
    std::fs::create_dir(&into).expect("mkdir");
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let id = queue
        .enqueue_download(Download::new(server.file_url("f"), into.join("f")))
        .await
        .expect("enqueue");
    let failed = tokio::time::timeout(Duration::from_secs(3600), queue.wait_for(&id))
        .await
        .expect("final within an hour of virtual time")
        .expect("final");
    assert_eq!(failed.state, TransferState::Failed, "{failed:?}");
    let error = failed.last_error.expect("error");
    assert!(error.message.contains("rejected the request"), "{error}");
    until(
        async || partials_in(&into).is_empty(),
        "no partial file left",
    )
    .await;
    assert!(std::fs::read_dir(&into).expect("dir").next().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_purged_download_that_failed_leaves_no_partial_file() {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let refusals = (0..5)
        .map(|_| DownloadFault::Status {
            code: 503,
            retry_after: None,
        })
        .collect();
    cut_then(&server, "f", refusals);
    let dir = tempfile::tempdir().expect("dir");
    let into = dir.path().join("in");
    std::fs::create_dir(&into).expect("mkdir");
    let mut config = quick_config(dir.path());
    config.retry.max_attempts = 2;
    let queue = TransferQueue::open(config).await.expect("open");
    let id = queue
        .enqueue_download(Download::new(server.file_url("f"), into.join("f")))
        .await
        .expect("enqueue");
    let failed = tokio::time::timeout(Duration::from_secs(3600), queue.wait_for(&id))
        .await
        .expect("final within an hour of virtual time")
        .expect("final");
    assert_eq!(failed.state, TransferState::Failed, "{failed:?}");
    // Kept for a retry, which would resume from it.
    assert_eq!(partials_in(&into).len(), 1);
    let purged = queue
        .purge_where(Selection::in_states([StateKind::Failed]), Duration::ZERO)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    until(
        async || partials_in(&into).is_empty(),
        "no partial file left",
    )
    .await;
    assert!(std::fs::read_dir(&into).expect("dir").next().is_none());
}
