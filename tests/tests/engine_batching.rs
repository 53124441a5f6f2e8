//! Packing small files into batch requests (`docs/batching.md`), in-process and on the OS
//! lane, against the testkit's batch endpoint.

mod support;

use std::sync::Arc;

use ferry::{AppState, BatchEndpoint, Integrations, QueueConfig, StateKind, TransferQueue, Upload};
use ferry_testkit::{FaultPlan, ServerConfig, TestServer};
use support::scripted_platform::{ScriptedPlatform, deliver};
use support::{SourceFile, assert_all_received_once, quick_config, write_files};

fn batching_config(dir: &std::path::Path, server: &TestServer, max_files: usize) -> QueueConfig {
    let mut config = quick_config(dir);
    let mut endpoint =
        BatchEndpoint::new(server.base_url(), format!("{}_batch", server.base_url()));
    endpoint.max_files = max_files;
    config.batching = vec![endpoint];
    config
}

fn uploads(server: &TestServer, files: &[SourceFile]) -> Vec<Upload> {
    files
        .iter()
        .map(|file| Upload::put(&file.path, format!("{}{}", server.base_url(), file.name)))
        .collect()
}

/// A queue with a scripted OS service, packing up to 16 files, with the app in the
/// background (so everything goes to the OS).
async fn open_in_background(
    dir: &std::path::Path,
    server: &TestServer,
) -> (
    TransferQueue,
    Arc<ScriptedPlatform>,
    tokio::sync::mpsc::UnboundedReceiver<ferry::Handoff>,
) {
    let (platform, handoffs) = ScriptedPlatform::new();
    let integrations = Integrations {
        platform: Some(Arc::clone(&platform) as Arc<dyn ferry::PlatformTransferService>),
        ..Integrations::default()
    };
    let queue = TransferQueue::open_with(batching_config(dir, server, 16), integrations)
        .await
        .expect("open");
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    (queue, platform, handoffs)
}

async fn server(faults: FaultPlan) -> TestServer {
    TestServer::start(ServerConfig {
        faults,
        ..ServerConfig::default()
    })
    .await
    .expect("server")
}

#[tokio::test]
async fn small_files_travel_in_a_tenth_of_the_requests_and_arrive_once() {
    let server = server(FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 100, 1, |_, _| 8 * 1024);
    let queue = TransferQueue::open(batching_config(dir.path(), &server, 10))
        .await
        .expect("open");
    queue
        .enqueue_many(uploads(&server, &files))
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");

    let requests = server.stats().requests;
    assert!(
        (10..=20).contains(&requests),
        "{requests} requests for 100 files"
    );
    assert_all_received_once(&server, &files);
    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 200)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), files.len());
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_failed_part_is_retried_alone() {
    let server = server(FaultPlan {
        batch_part_failure_every: 7,
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 60, 2, |_, _| 4 * 1024);
    let queue = TransferQueue::open(batching_config(dir.path(), &server, 10))
        .await
        .expect("open");
    queue
        .enqueue_many(uploads(&server, &files))
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");

    assert_all_received_once(&server, &files);
    let stats = server.stats();
    assert_eq!(
        stats.duplicates_refused, 0,
        "no part that succeeded was sent again"
    );
    let transfers = queue.list(None, 0, 200).await.expect("list");
    assert!(
        transfers
            .iter()
            .all(|t| t.state == ferry::TransferState::Succeeded)
    );
    // At least every seventh of the first 60 parts failed and was sent again, alone or
    // packed with other retries; the files that succeeded the first time were never resent.
    let retried = transfers.iter().filter(|t| t.attempts > 1).count();
    assert!(retried >= 60 / 7, "{retried} files retried");
    // Had a failed part sent its whole batch again, most of the 60 would have retried.
    assert!(
        retried <= 15,
        "{retried} files retried: more than the failed parts"
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn files_with_headers_of_their_own_or_large_ones_are_not_packed() {
    let server = server(FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 4, 3, |index, _| {
        if index == 3 { 256 * 1024 } else { 1024 }
    });
    let mut config = batching_config(dir.path(), &server, 10);
    config.platform.large_file_threshold = 128 * 1024;
    let queue = TransferQueue::open(config).await.expect("open");
    let mut uploads = uploads(&server, &files);
    uploads[0] = uploads[0].clone().with_header("X-Album", "holidays");
    queue.enqueue_many(uploads).await.expect("enqueue");
    queue.wait_idle().await.expect("idle");

    assert_all_received_once(&server, &files);
    // The two plain small files share one request; the others go alone.
    assert_eq!(server.stats().requests, 3);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn in_the_background_a_batch_is_one_os_task_with_a_file_body() {
    let server = server(FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 30, 4, |_, _| 2 * 1024);
    let (queue, platform, mut handoffs) = open_in_background(dir.path(), &server).await;
    queue
        .enqueue_many(uploads(&server, &files))
        .await
        .expect("enqueue");

    // 30 files fit in two batches of 16: two OS tasks.
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let handoff = handoffs.recv().await.expect("a handoff");
        assert!(handoff.url.ends_with("/_batch"));
        assert!(
            handoff
                .headers
                .iter()
                .any(|(name, _)| name == "Ferry-Batch")
        );
        let outcome = deliver(&handoff).await;
        platform.forget(&handoff.key);
        bodies.push(handoff.body_path.clone());
        queue
            .platform_finished(&handoff.key, outcome)
            .expect("report");
    }
    queue.wait_idle().await.expect("idle");

    assert_eq!(platform.started().len(), 2, "two OS tasks for 30 files");
    assert_eq!(server.stats().requests, 2);
    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 100)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), files.len());
    assert_all_received_once(&server, &files);
    for _ in 0..500 {
        if bodies.iter().all(|body| !body.exists()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        bodies.iter().all(|body| !body.exists()),
        "temporary bodies removed"
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn on_the_os_lane_a_batch_with_a_failed_part_is_sent_again_whole_and_nothing_is_lost() {
    let server = server(FaultPlan {
        batch_part_failure_every: 7,
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 30, 5, |_, _| 2 * 1024);
    let (queue, platform, mut handoffs) = open_in_background(dir.path(), &server).await;
    queue
        .enqueue_many(uploads(&server, &files))
        .await
        .expect("enqueue");

    let mut tasks = 0;
    let mut failed_tasks = 0;
    while queue
        .list(Some(StateKind::Succeeded), 0, 100)
        .await
        .expect("list")
        .len()
        < files.len()
    {
        tasks += 1;
        assert!(tasks <= 40, "the batches never all succeeded");
        let handoff = handoffs.recv().await.expect("a handoff");
        let packed = handoff.url.ends_with("/_batch");
        let atomic = handoff
            .headers
            .iter()
            .any(|(name, _)| name == "Ferry-Batch-Atomic");
        assert_eq!(
            packed, atomic,
            "every packed OS task, and only those, is atomic"
        );
        let outcome = deliver(&handoff).await;
        if matches!(
            outcome,
            ferry::PlatformOutcome::Response { status: 500, .. }
        ) {
            failed_tasks += 1;
        }
        platform.forget(&handoff.key);
        queue
            .platform_finished(&handoff.key, outcome)
            .expect("report");
        queue.progress().await.expect("a turn has passed");
    }

    assert!(failed_tasks >= 1, "a batch with a failed part answers 500");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn pausing_one_file_of_a_running_batch_sends_the_others_without_it() {
    let server = server(FaultPlan {
        scripted: vec![ferry_testkit::ScriptedFault::Request {
            n: 1,
            fault: ferry_testkit::Fault::SlowRead {
                bytes_per_second: 16 * 1024,
            },
        }],
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 6, 6, |_, _| 32 * 1024);
    let queue = TransferQueue::open(batching_config(dir.path(), &server, 10))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let ids: Vec<_> = queue
        .enqueue_many(uploads(&server, &files))
        .await
        .expect("enqueue")
        .into_iter()
        .map(|result| result.expect("accepted"))
        .collect();
    support::wait_for(&mut events, 100, |event| {
        matches!(event, ferry::TransferEvent::Started { .. })
    })
    .await;

    queue.pause(&ids[2]).await.expect("pause");
    queue.wait_idle().await.expect("idle");
    let paused = queue.get(&ids[2]).await.expect("get");
    assert_eq!(paused.state, ferry::TransferState::Paused);
    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 10)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), 5, "the rest of the batch went without it");
    assert!(
        succeeded.iter().all(|t| t.attempts == 1),
        "the stopped batch cost no attempt"
    );

    queue.resume(&ids[2]).await.expect("resume");
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&ids[2]).await.expect("get").state,
        ferry::TransferState::Succeeded
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}
