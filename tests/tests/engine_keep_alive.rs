//! `PlatformPolicy::keep_app_running`: with work queued in the foreground Ferry asks the
//! platform to keep the app running (Android: a user-initiated data-transfer job), runs
//! every transfer in-process while it is kept, in the background too, lets it go when the
//! work is done, and hands work to the OS lane when it is refused or ended. The OS is a
//! scripted stand-in; the bytes really reach the loopback server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferry::{AppState, NetworkStatus, QueueConfig, TransferQueue, Upload};
use ferry_testkit::{ServerConfig, TestServer};
use support::scripted_platform::{ScriptedPlatform, eventually, open_with_platform};
use support::{OFFLINE, SourceFile, assert_all_received_once, quick_config, write_files};

const LARGE: u64 = 64 * 1024;
const ONLINE: NetworkStatus = NetworkStatus {
    online: true,
    expensive: false,
    constrained: false,
};

/// A foreground app's queue that asks to be kept running, offline until the test says.
fn keep_alive_config(dir: &std::path::Path, keep_app_running: bool) -> QueueConfig {
    let mut config = quick_config(dir);
    config.platform.large_file_threshold = LARGE;
    config.platform.keep_app_running = keep_app_running;
    config.app_state = AppState::Foreground;
    config.network = Some(OFFLINE);
    config
}

/// Two large files (the OS lane's in the foreground) and two small ones.
fn files(dir: &std::path::Path) -> Vec<SourceFile> {
    write_files(
        dir,
        4,
        7,
        |i, _| {
            if i < 2 { 2 * LARGE as usize } else { 1000 + i }
        },
    )
}

async fn enqueue(queue: &TransferQueue, server: &TestServer, files: &[SourceFile]) {
    let uploads = files
        .iter()
        .map(|file| Upload::put(&file.path, format!("{}{}", server.base_url(), file.name)))
        .collect();
    for result in queue.enqueue_many(uploads).await.expect("enqueue") {
        result.expect("accepted");
    }
}

/// Waits until the service has answered the first `keep_app_running` and the queue has
/// taken the answer in: a command after it is a later turn than the answer's report,
/// which the driver sends as the service returns.
async fn asked_once(platform: &ScriptedPlatform, queue: &TransferQueue) {
    eventually(|| platform.keep_running_calls().len() == 1).await;
    for _ in 0..3 {
        queue.progress().await.expect("a turn");
    }
}

async fn setup(
    keep_app_running: bool,
) -> (
    tempfile::TempDir,
    TestServer,
    Arc<ScriptedPlatform>,
    TransferQueue,
    Vec<SourceFile>,
) {
    let dir = tempfile::tempdir().expect("dir");
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let (platform, _handoffs) = ScriptedPlatform::new();
    let queue =
        open_with_platform(keep_alive_config(dir.path(), keep_app_running), &platform).await;
    let files = files(dir.path());
    (dir, server, platform, queue, files)
}

#[tokio::test]
async fn a_kept_app_sends_everything_in_process_in_the_background_and_lets_go_when_done() {
    let (_dir, server, platform, queue, files) = setup(true).await;
    enqueue(&queue, &server, &files).await;
    asked_once(&platform, &queue).await;
    let total: u64 = files.iter().map(|file| file.len).sum();
    assert_eq!(
        platform.keep_running_calls(),
        vec![total],
        "asked with what is left"
    );

    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    queue.set_network(ONLINE).await.expect("online");
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("done in time")
        .expect("idle");

    assert_all_received_once(&server, &files);
    assert_eq!(
        platform.start_calls(),
        0,
        "nothing went to the OS, not even the large files"
    );
    eventually(|| platform.let_stop_calls() == 1).await;
    assert_eq!(platform.keep_running_calls().len(), 1, "asked once");
    queue.shutdown().await.expect("shutdown");
    assert_eq!(platform.let_stop_calls(), 1, "let go once");
}

#[tokio::test]
async fn a_keep_alive_the_os_ends_hands_the_work_to_the_os_until_the_app_is_seen_again() {
    let (_dir, server, platform, queue, files) = setup(true).await;
    enqueue(&queue, &server, &files).await;
    asked_once(&platform, &queue).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    queue.keep_alive_ended().expect("told");
    queue.set_network(ONLINE).await.expect("online");

    eventually(|| platform.start_calls() == files.len()).await;
    assert_eq!(
        platform.keep_running_calls().len(),
        1,
        "not asked again in the background"
    );
    queue
        .set_app_state(AppState::Foreground)
        .await
        .expect("foreground");
    eventually(|| platform.keep_running_calls().len() == 2).await;
    assert_eq!(
        platform.let_stop_calls(),
        0,
        "the OS ended the first itself"
    );
    queue.shutdown().await.expect("shutdown");
    assert_eq!(
        platform.let_stop_calls(),
        1,
        "the second is let go at shutdown"
    );
}

#[tokio::test]
async fn a_refused_keep_alive_leaves_the_background_to_the_os() {
    let (_dir, server, platform, queue, files) = setup(true).await;
    platform.refuse_keep_alive();
    enqueue(&queue, &server, &files).await;
    asked_once(&platform, &queue).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    queue.set_network(ONLINE).await.expect("online");

    eventually(|| platform.start_calls() == files.len()).await;
    queue
        .set_app_state(AppState::Foreground)
        .await
        .expect("foreground");
    eventually(|| platform.keep_running_calls().len() == 2).await;
    for _ in 0..3 {
        queue.progress().await.expect("a turn");
    }
    queue.shutdown().await.expect("shutdown");
    assert_eq!(
        platform.let_stop_calls(),
        0,
        "nothing granted, nothing to let go"
    );
}

#[tokio::test]
async fn without_the_policy_the_app_is_never_asked_to_keep_running() {
    let (_dir, server, platform, queue, files) = setup(false).await;
    enqueue(&queue, &server, &files).await;
    queue.set_network(ONLINE).await.expect("online");
    eventually(|| platform.start_calls() == 2).await;
    assert_eq!(platform.start_calls(), 2, "the large files go to the OS");
    queue.shutdown().await.expect("shutdown");
    assert!(platform.keep_running_calls().is_empty());
    assert_eq!(platform.let_stop_calls(), 0);
}
