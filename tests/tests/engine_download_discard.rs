//! A download that will not finish leaves nothing in the folder: its partial file goes
//! when it is cancelled (one, or in bulk), when it failed for good holding no byte, and
//! when a download that failed for good (and kept its partial file for a retry) is purged.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use ferry::{
    Download, QueueConfig, Selection, StateKind, Transfer, TransferId, TransferQueue, TransferState,
};
use ferry_testkit::{DownloadFault, RetryAfter, ServerConfig, TestServer};
use support::{partials_in, quick_config};
use tempfile::TempDir;

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

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default())
        .await
        .expect("server")
}

/// A queue (quick retries, then `tune`d) downloading into a folder of its own.
struct Downloads {
    _dir: TempDir,
    into: PathBuf,
    queue: TransferQueue,
}

impl Downloads {
    async fn open(tune: impl FnOnce(&mut QueueConfig)) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let into = dir.path().join("in");
        std::fs::create_dir(&into).expect("mkdir");
        let mut config = quick_config(dir.path());
        tune(&mut config);
        let queue = TransferQueue::open(config).await.expect("open");
        Self {
            _dir: dir,
            into,
            queue,
        }
    }

    /// Enqueues the server's file `name` into the folder, under the same name.
    async fn enqueue(&self, server: &TestServer, name: &str) -> TransferId {
        let download = Download::new(server.file_url(name), self.into.join(name));
        self.queue
            .enqueue_download(download)
            .await
            .expect("enqueue")
    }

    async fn final_state(&self, id: &TransferId) -> Transfer {
        tokio::time::timeout(Duration::from_secs(3600), self.queue.wait_for(id))
            .await
            .expect("final within an hour of virtual time")
            .expect("final")
    }

    async fn state_of(&self, id: &TransferId) -> TransferState {
        self.queue.get(id).await.expect("get").state
    }

    /// Waits until no partial file is left, then asserts the folder is empty.
    async fn assert_left_empty(&self) {
        until(
            async || partials_in(&self.into).is_empty(),
            "no partial file left",
        )
        .await;
        assert!(std::fs::read_dir(&self.into).expect("dir").next().is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_download_leaves_no_partial_file_one_or_in_bulk() {
    let server = server().await;
    let much_later = DownloadFault::Status {
        code: 503,
        retry_after: Some(RetryAfter::Seconds(3_000)),
    };
    cut_then(&server, "one", vec![much_later.clone()]);
    cut_then(&server, "bulk", vec![much_later]);
    let folder = Downloads::open(|_| {}).await;
    let one = folder.enqueue(&server, "one").await;
    let bulk = folder.enqueue(&server, "bulk").await;
    until(
        async || server.file_requests("one").len() == 2 && server.file_requests("bulk").len() == 2,
        "both cut, then told to come back much later",
    )
    .await;
    until(
        async || partials_in(&folder.into).len() == 2,
        "two partial files held",
    )
    .await;
    folder.queue.cancel(&one).await.expect("cancel");
    let cancelled = folder
        .queue
        .cancel_where(Selection::in_states([StateKind::Queued]))
        .await
        .expect("cancel_where");
    assert_eq!(cancelled, 1);
    assert_eq!(folder.state_of(&one).await, TransferState::Cancelled);
    assert_eq!(folder.state_of(&bulk).await, TransferState::Cancelled);
    folder.assert_left_empty().await;
}

#[tokio::test(start_paused = true)]
async fn a_download_that_failed_for_good_with_nothing_held_leaves_no_partial_file() {
    let server = server().await;
    server.serve_file("f", vec![1u8; 1000]);
    server.add_download_faults(
        "f",
        vec![DownloadFault::Status {
            code: 404,
            retry_after: None,
        }],
    );
    let folder = Downloads::open(|_| {}).await;
    let id = folder.enqueue(&server, "f").await;
    let failed = folder.final_state(&id).await;
    assert_eq!(failed.state, TransferState::Failed, "{failed:?}");
    let error = failed.last_error.expect("error");
    assert!(error.message.contains("rejected the request"), "{error}");
    folder.assert_left_empty().await;
}

#[tokio::test(start_paused = true)]
async fn a_purged_download_that_failed_leaves_no_partial_file() {
    let server = server().await;
    let refusals = (0..5)
        .map(|_| DownloadFault::Status {
            code: 503,
            retry_after: None,
        })
        .collect();
    cut_then(&server, "f", refusals);
    let folder = Downloads::open(|config| config.retry.max_attempts = 2).await;
    let id = folder.enqueue(&server, "f").await;
    let failed = folder.final_state(&id).await;
    assert_eq!(failed.state, TransferState::Failed, "{failed:?}");
    // Kept for a retry, which would resume from it.
    assert_eq!(partials_in(&folder.into).len(), 1);
    let purged = folder
        .queue
        .purge_where(Selection::in_states([StateKind::Failed]), Duration::ZERO)
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    folder.assert_left_empty().await;
}
