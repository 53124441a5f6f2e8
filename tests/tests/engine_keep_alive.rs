//! `PlatformPolicy::keep_app_running`: with work queued in the foreground Ferry asks the
//! platform to keep the app running (Android: a user-initiated data-transfer job), runs
//! every transfer in-process while it is kept, in the background too, lets it go when the
//! work is done, and hands work to the OS lane when it is refused or ended. The OS is a
//! scripted stand-in; the bytes really reach the loopback server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferry::{
    AppState, Error, Handoff, Limits, NetworkStatus, QueueConfig, StateKind, TransferQueue, Upload,
};
use ferry_testkit::{Fault, FaultPlan, RetryAfter, ScriptedFault, ServerConfig, TestServer};
use support::scripted_platform::{ScriptedPlatform, deliver, eventually, open_with_platform};
use support::{
    OFFLINE, SourceFile, assert_all_received_once, enqueue_each, quick_config, server_with_faults,
    states_of, write_files,
};
use tokio::sync::mpsc::UnboundedReceiver;

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

/// A queue's folder, its server, its service, the queue and its files.
type Setup = (
    tempfile::TempDir,
    TestServer,
    Arc<ScriptedPlatform>,
    TransferQueue,
    Vec<SourceFile>,
);

async fn setup(keep_app_running: bool) -> Setup {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let kept = Kept::open(server, keep_app_running_config(keep_app_running)).await;
    (kept.dir, kept.server, kept.platform, kept.queue, kept.files)
}

fn keep_app_running_config(keep_app_running: bool) -> impl FnOnce(&std::path::Path) -> QueueConfig {
    move |dir| keep_alive_config(dir, keep_app_running)
}

/// A kept-alive queue's test bench, with the OS tasks the scripted platform was handed.
struct Kept {
    dir: tempfile::TempDir,
    server: TestServer,
    platform: Arc<ScriptedPlatform>,
    handoffs: UnboundedReceiver<Handoff>,
    queue: TransferQueue,
    files: Vec<SourceFile>,
}

impl Kept {
    async fn open(
        server: TestServer,
        config: impl FnOnce(&std::path::Path) -> QueueConfig,
    ) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let (platform, handoffs) = ScriptedPlatform::new();
        let queue = open_with_platform(config(dir.path()), &platform).await;
        let files = files(dir.path());
        Self {
            dir,
            server,
            platform,
            handoffs,
            queue,
            files,
        }
    }

    /// Plays the OS for the next `count` handoffs: sends each, reports its outcome.
    async fn complete_handoffs(&mut self, count: usize) {
        for _ in 0..count {
            let handoff = tokio::time::timeout(Duration::from_secs(30), self.handoffs.recv())
                .await
                .expect("a handoff in time")
                .expect("a handoff");
            let outcome = deliver(&handoff).await;
            self.platform.forget(&handoff.key);
            self.queue
                .platform_finished(&handoff.key, outcome)
                .expect("report");
        }
    }
}

async fn idle_within_a_minute(queue: &TransferQueue) {
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("done in time")
        .expect("idle");
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
        1,
        "the first is let go as the OS ends it (so a shim never keeps one Ferry forgot)"
    );
    queue.shutdown().await.expect("shutdown");
    assert_eq!(
        platform.let_stop_calls(),
        2,
        "the second is let go at shutdown"
    );
}

/// A queue whose service answers the ask as `answer` makes it, offline until the app is
/// in the background: every file then goes to the OS.
async fn refused_then_in_the_background(answer: fn(&ScriptedPlatform)) -> Setup {
    let (dir, server, platform, queue, files) = setup(true).await;
    answer(&platform);
    enqueue(&queue, &server, &files).await;
    asked_once(&platform, &queue).await;
    // Resolves once the driver has carried out the ask before it, so its answer is on its
    // way to the queue ahead of anything sent after.
    queue.enter_background().await.expect("background");
    queue.set_network(ONLINE).await.expect("online");
    eventually(|| platform.start_calls() == files.len()).await;
    (dir, server, platform, queue, files)
}

#[tokio::test]
async fn a_refused_keep_alive_leaves_the_background_to_the_os() {
    let (_dir, _server, platform, queue, _files) =
        refused_then_in_the_background(ScriptedPlatform::refuse_keep_alive).await;
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
async fn a_service_that_panics_when_asked_counts_as_a_refusal() {
    let (_dir, _server, platform, queue, _files) =
        refused_then_in_the_background(ScriptedPlatform::panic_in_keep_alive).await;
    queue.shutdown().await.expect("shutdown");
    assert_eq!(platform.keep_running_calls().len(), 1);
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

/// Every first attempt meets a misbehaving server (503 with `Retry-After`, a reset
/// connection, a stalled body, a bare 503): while the app is kept running in the
/// background, each is retried in-process, nothing reaches the OS, every file arrives
/// once, and the app is let stop once, at the end.
#[tokio::test]
async fn a_kept_app_retries_a_misbehaving_server_in_process_and_lets_go_once_at_the_end() {
    let status = |retry_after| Fault::Status {
        code: 503,
        retry_after,
    };
    let faults = [
        status(Some(RetryAfter::Seconds(1))),
        Fault::Reset,
        Fault::Stall {
            after_bytes: 100,
            hold_for_ms: 1000,
        },
        status(None),
    ];
    let server = server_with_faults(FaultPlan {
        scripted: faults
            .into_iter()
            .enumerate()
            .map(|(i, fault)| ScriptedFault::Request {
                n: i as u64 + 1,
                fault,
            })
            .collect(),
        ..FaultPlan::default()
    })
    .await;
    let kept = Kept::open(server, keep_app_running_config(true)).await;
    let (queue, platform) = (&kept.queue, &kept.platform);
    let ids = enqueue_each(queue, &kept.files, &kept.server.base_url()).await;
    asked_once(platform, queue).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    queue.set_network(ONLINE).await.expect("online");
    idle_within_a_minute(queue).await;

    assert_all_received_once(&kept.server, &kept.files);
    assert_eq!(
        states_of(queue, &ids).await,
        vec![StateKind::Succeeded; ids.len()]
    );
    let mut retried = 0;
    for id in &ids {
        retried += usize::from(queue.get(id).await.expect("get").attempts > 1);
    }
    assert_eq!(retried, ids.len(), "every file met a fault first");
    assert_eq!(platform.start_calls(), 0, "nothing went to the OS");
    eventually(|| platform.let_stop_calls() == 1).await;
    assert_eq!(platform.keep_running_calls().len(), 1, "asked once");
    queue.shutdown().await.expect("shutdown");
    assert_eq!(
        platform.let_stop_calls(),
        1,
        "let go once, not again at shutdown"
    );
}

/// The OS ends the keep-alive while two transfers are on the wire in-process: they finish
/// where they are, the two still waiting (claimed ahead at the gate, which makes way) go
/// to the OS, and every file arrives once.
#[tokio::test]
async fn a_keep_alive_ended_mid_flight_lets_running_attempts_finish_and_hands_on_the_rest() {
    let slow = |n| ScriptedFault::Request {
        n,
        fault: Fault::Delay { ms: 1500 },
    };
    let server = server_with_faults(FaultPlan {
        scripted: vec![slow(1), slow(2)],
        ..FaultPlan::default()
    })
    .await;
    let mut kept = Kept::open(server, |dir| {
        let mut config = keep_alive_config(dir, true);
        config.limits = Limits {
            per_host: 2,
            global: 2,
        };
        config
    })
    .await;
    // Two run, and the server holds them; the other two wait, claimed ahead at the gate
    // (`http/gate.rs`) or queued.
    kept.files = write_files(&kept.dir.path().join("large"), 4, 9, |_, _| 512 * 1024);
    let ids = enqueue_each(&kept.queue, &kept.files, &kept.server.base_url()).await;
    asked_once(&kept.platform, &kept.queue).await;
    kept.queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    kept.queue.set_network(ONLINE).await.expect("online");
    for _ in 0..500 {
        if kept.server.stats().in_flight == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let on_the_wire = kept.server.stats().in_flight;
    kept.queue.keep_alive_ended().expect("told");

    kept.complete_handoffs(2).await;
    idle_within_a_minute(&kept.queue).await;
    assert_eq!(
        on_the_wire, 2,
        "two were on the wire when the OS ended the keep-alive"
    );
    assert_all_received_once(&kept.server, &kept.files);
    assert_eq!(
        states_of(&kept.queue, &ids).await,
        vec![StateKind::Succeeded; ids.len()]
    );
    assert_eq!(
        kept.platform.start_calls(),
        2,
        "the two queued went to the OS"
    );
    assert!(kept.platform.cancelled().is_empty());
    kept.queue.shutdown().await.expect("shutdown");
    assert_eq!(kept.platform.keep_running_calls().len(), 1);
    assert_eq!(
        kept.platform.let_stop_calls(),
        1,
        "let go as the OS ended it, and not again at shutdown"
    );
}

/// `keep_alive_ended` with nothing asked for, twice in a row, and in the foreground
/// changes nothing it should not; after shutdown it is `Closed`.
#[tokio::test]
async fn keep_alive_ended_out_of_turn_is_harmless_and_closed_after_shutdown() {
    let (_dir, server, platform, queue, files) = setup(true).await;
    queue.keep_alive_ended().expect("nothing asked for yet");
    enqueue(&queue, &server, &files).await;
    asked_once(&platform, &queue).await;
    queue.keep_alive_ended().expect("ended");
    queue.keep_alive_ended().expect("ended twice");
    queue.set_network(ONLINE).await.expect("online");
    // Still in the foreground: the large files go to the OS as without the policy.
    eventually(|| platform.start_calls() == 2).await;
    assert_eq!(platform.keep_running_calls().len(), 1, "not asked again");
    queue.shutdown().await.expect("shutdown");
    assert_eq!(
        platform.let_stop_calls(),
        1,
        "let go once as it ended; the second end and the shutdown find nothing kept"
    );
    assert!(matches!(queue.keep_alive_ended(), Err(Error::Closed)));
}

/// Going to the background and back while kept asks nothing more; once the work is done
/// the app is let stop; work enqueued in the background goes to the OS, and the next
/// foreground asks again (the OS tasks are work left). Every grant is let go once.
#[tokio::test]
async fn foreground_and_background_cycles_ask_once_per_need_and_let_go_of_every_grant() {
    let mut kept = Kept::open(
        TestServer::start(ServerConfig::default())
            .await
            .expect("server"),
        keep_app_running_config(true),
    )
    .await;
    let (first, second) = kept.files.split_at(2);
    let (first, second) = (first.to_vec(), second.to_vec());
    enqueue_each(&kept.queue, &first, &kept.server.base_url()).await;
    asked_once(&kept.platform, &kept.queue).await;
    for state in [
        AppState::Background,
        AppState::Foreground,
        AppState::Background,
        AppState::Foreground,
    ] {
        kept.queue.set_app_state(state).await.expect("state");
    }
    assert_eq!(
        kept.platform.let_stop_calls(),
        0,
        "work that cannot move yet (offline) still holds it"
    );
    kept.queue.set_network(ONLINE).await.expect("online");
    idle_within_a_minute(&kept.queue).await;
    eventually(|| kept.platform.let_stop_calls() == 1).await;
    assert_eq!(
        kept.platform.keep_running_calls().len(),
        1,
        "kept across the cycles"
    );
    assert_eq!(kept.platform.start_calls(), 0);

    kept.queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    enqueue_each(&kept.queue, &second, &kept.server.base_url()).await;
    eventually(|| kept.platform.start_calls() == 2).await;
    assert_eq!(
        kept.platform.keep_running_calls().len(),
        1,
        "never asked in the background"
    );
    kept.queue
        .set_app_state(AppState::Foreground)
        .await
        .expect("foreground");
    eventually(|| kept.platform.keep_running_calls().len() == 2).await;
    kept.complete_handoffs(2).await;
    idle_within_a_minute(&kept.queue).await;
    eventually(|| kept.platform.let_stop_calls() == 2).await;
    assert_all_received_once(&kept.server, &kept.files);
    kept.queue.shutdown().await.expect("shutdown");
    assert_eq!(kept.platform.keep_running_calls().len(), 2);
    assert_eq!(kept.platform.let_stop_calls(), 2, "each grant let go once");
}

/// Paused and auth-required transfers are not work left: with only those, the app is let
/// stop; resuming one in the foreground asks again.
#[tokio::test]
async fn paused_or_auth_required_work_does_not_hold_the_keep_alive() {
    let server = server_with_faults(FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 1,
            fault: Fault::Status {
                code: 401,
                retry_after: None,
            },
        }],
        ..FaultPlan::default()
    })
    .await;
    let kept = Kept::open(server, keep_app_running_config(true)).await;
    let (queue, platform) = (&kept.queue, &kept.platform);
    let files = &kept.files[2..];
    let ids = enqueue_each(queue, files, &kept.server.base_url()).await;
    asked_once(platform, queue).await;
    queue.pause(&ids[1]).await.expect("pause");
    queue.set_network(ONLINE).await.expect("online");
    idle_within_a_minute(queue).await;
    assert_eq!(
        states_of(queue, &ids).await,
        vec![StateKind::AuthRequired, StateKind::Paused]
    );
    eventually(|| platform.let_stop_calls() == 1).await;
    for _ in 0..3 {
        queue.progress().await.expect("a turn");
    }
    assert_eq!(
        platform.keep_running_calls().len(),
        1,
        "nothing left to ask for"
    );

    queue.resume(&ids[1]).await.expect("resume");
    idle_within_a_minute(queue).await;
    eventually(|| platform.let_stop_calls() == 2).await;
    assert_eq!(
        platform.keep_running_calls().len(),
        2,
        "asked again for the resumed one"
    );
    queue.shutdown().await.expect("shutdown");
    assert_eq!(platform.let_stop_calls(), 2);
}
