//! The platform lane: what goes to the OS and when, the OS's reports, stall recovery, and
//! reconciliation at open. The OS is a scripted stand-in; the bytes really reach the
//! loopback server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferry::{
    AppState, Integrations, Lane, NetworkStatus, PlatformFailure, PlatformOutcome, QueueConfig,
    StateKind, TransferEvent, TransferQueue, TransferState, Upload, UploadMethod,
};
use ferry_testkit::{ServerConfig, TestServer};
use support::scripted_platform::{ScriptedPlatform, deliver, eventually, open_with_platform};
use support::{
    OFFLINE, SourceFile, assert_all_received_once, assert_totals_agree_with_the_transfers,
    enqueue_each, quick_config, wait_for, write_files,
};

const LARGE: u64 = 64 * 1024;

/// A foreground app's queue: the app says so as it opens the queue.
fn platform_config(dir: &std::path::Path) -> QueueConfig {
    let mut config = quick_config(dir);
    config.platform.large_file_threshold = LARGE;
    config.app_state = AppState::Foreground;
    config
}

async fn open(config: QueueConfig, platform: &Arc<ScriptedPlatform>) -> TransferQueue {
    open_with_platform(config, platform).await
}

fn upload_to(server: &TestServer, file: &SourceFile) -> Upload {
    Upload::put(&file.path, format!("{}{}", server.base_url(), file.name))
}

/// Plays the OS: sends the handoff for real, drops the task, reports the outcome.
async fn complete(platform: &ScriptedPlatform, queue: &TransferQueue, handoff: &ferry::Handoff) {
    let outcome = deliver(handoff).await;
    platform.forget(&handoff.key);
    queue
        .platform_finished(&handoff.key, outcome)
        .expect("report");
}

/// Plays the OS for the next `count` handoffs, each created in the background.
async fn complete_each_created_in_the_background(
    platform: &ScriptedPlatform,
    queue: &TransferQueue,
    handoffs: &mut tokio::sync::mpsc::UnboundedReceiver<ferry::Handoff>,
    count: usize,
) {
    for _ in 0..count {
        let handoff = tokio::time::timeout(Duration::from_secs(60), handoffs.recv())
            .await
            .expect("every file is handed to the OS")
            .expect("a handoff");
        assert!(handoff.discretionary, "created in the background");
        complete(platform, queue, &handoff).await;
    }
}

/// A server that holds every request `ms` before it answers.
async fn server_holding_each_request(ms: u64) -> TestServer {
    support::server_with_faults(ferry_testkit::FaultPlan {
        delay: Some(ferry_testkit::DelayFault {
            probability: 1.0,
            ms,
        }),
        ..Default::default()
    })
    .await
}

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default())
        .await
        .expect("server")
}

#[tokio::test]
async fn large_files_go_to_the_os_and_small_ones_run_in_process_in_the_foreground() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 6, 1, |index, _| {
        if index % 2 == 0 { 4 * 1024 } else { 256 * 1024 }
    });
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &platform).await;
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    let ids: Vec<_> = queue
        .enqueue_many(uploads)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|result| result.expect("accepted"))
        .collect();

    for _ in 0..3 {
        let handoff = handoffs.recv().await.expect("a handoff");
        assert!(handoff.expected_bytes >= LARGE);
        assert_eq!(handoff.method, "PUT");
        assert!(!handoff.discretionary, "created in the foreground");
        let record = queue
            .get(&ferry::TransferId::parse(&handoff.transfer_id).expect("id"))
            .await
            .expect("get");
        assert_eq!(
            record.state,
            TransferState::Running {
                lane: Lane::Platform {
                    handoff_key: handoff.key.clone()
                }
            },
            "recorded as running on the OS before start was called"
        );
        assert!(
            handoff
                .headers
                .iter()
                .any(|(name, value)| name == "Idempotency-Key" && *value == handoff.transfer_id)
        );
        complete(&platform, &queue, &handoff).await;
    }
    queue.wait_idle().await.expect("idle");

    assert_eq!(
        platform.started().len(),
        3,
        "only the large files were handed off"
    );
    for id in &ids {
        assert_eq!(
            queue.get(id).await.expect("get").state,
            TransferState::Succeeded
        );
    }
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

/// Large files ahead of small ones, the OS window full after the first: the small ones
/// behind the waiting large ones all start in the same turn, as a wider read of the queue
/// finds them (`Packing::wider_window`). Reading only one row per free slot stopped at
/// the large files the OS could not take, and left slots empty until another turn.
#[tokio::test]
async fn small_files_behind_large_ones_the_os_window_cannot_take_start_at_once() {
    // No small file finishes while the test looks, so no later turn starts what the
    // first left.
    let server = server_holding_each_request(30_000).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 6, 3, |index, _| {
        if index < 3 { 256 * 1024 } else { 4 * 1024 }
    });
    let (platform, _handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.platform.max_platform_tasks = 1;
    config.limits = ferry::Limits {
        per_host: 4,
        global: 4,
    };
    let queue = open(config, &platform).await;
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;

    // The enqueue's answer comes after the turn that scheduled the files committed.
    let mut in_process = 0;
    for id in &ids[3..] {
        let state = queue.get(id).await.expect("get").state;
        if state
            == (TransferState::Running {
                lane: Lane::InProcess,
            })
        {
            in_process += 1;
        }
    }
    assert_eq!(
        in_process, 3,
        "every small file started in the enqueue's turn"
    );
    assert_eq!(
        platform.started().len(),
        1,
        "one large file fills the OS window"
    );
    queue.shutdown().await.expect("shutdown");
}

/// Small files claimed ahead in the foreground and still waiting at the gate when the app
/// enters the background make way (`http/gate.rs`): they go back to the queue, and so to
/// the OS. Only the requests being sent then finish in-process.
#[tokio::test]
async fn claims_waiting_at_the_gate_go_to_the_os_when_the_app_leaves() {
    const SLOTS: usize = 2;
    // The first two requests are held, so nothing claimed behind them is sent before the
    // app leaves; the rest, the OS's included, are answered at once.
    let held = |n| ferry_testkit::ScriptedFault::Request {
        n,
        fault: ferry_testkit::Fault::Delay { ms: 1_000 },
    };
    let server = support::server_with_faults(ferry_testkit::FaultPlan {
        scripted: vec![held(1), held(2)],
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 20, 5, |_, _| 2048);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.platform.max_platform_tasks = files.len();
    config.limits = ferry::Limits {
        per_host: SLOTS,
        global: SLOTS,
    };
    let queue = open(config, &platform).await;
    enqueue_each(&queue, &files, &server.base_url()).await;
    let running = support::running_with_claims(&queue, SLOTS, files.len()).await;
    let sent_in_process = server.stats().requests;

    queue.enter_background().await.expect("background");
    let played = async {
        loop {
            tokio::select! {
                handoff = handoffs.recv() => {
                    let handoff = handoff.expect("a handoff");
                    complete(&platform, &queue, &handoff).await;
                }
                idle = queue.wait_idle() => break idle.expect("idle"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), played)
        .await
        .expect("idle within a minute");

    let to_the_os = platform.started().len() as u64;
    let in_process_after = files.len() as u64 - sent_in_process - to_the_os;
    assert!(
        in_process_after <= SLOTS as u64,
        "{in_process_after} requests went out in-process after the app left \
         ({} were running, {SLOTS} of them sending)",
        running.len()
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn in_the_background_everything_goes_to_the_os_within_the_task_window() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 40, 2, |_, _| 2048);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.platform.max_platform_tasks = 3;
    let queue = open(config, &platform).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");

    complete_each_created_in_the_background(&platform, &queue, &mut handoffs, files.len()).await;
    queue.wait_idle().await.expect("idle");

    assert_eq!(
        platform.started().len(),
        files.len(),
        "one OS task per file"
    );
    assert!(
        platform.max_outstanding() <= 3,
        "max {}",
        platform.max_outstanding()
    );
    assert_eq!(server.stats().requests, files.len() as u64);
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

/// How big a handoff's body is (for a single `PUT`, the source itself).
fn body_len(handoff: &ferry::Handoff) -> u64 {
    std::fs::metadata(&handoff.body_path).expect("body").len()
}

async fn next_handoff(
    handoffs: &mut tokio::sync::mpsc::UnboundedReceiver<ferry::Handoff>,
) -> ferry::Handoff {
    tokio::time::timeout(Duration::from_secs(60), handoffs.recv())
        .await
        .expect("a handoff in time")
        .expect("a handoff")
}

/// Issue 22: in the background the OS takes large files first, and with
/// `refill_when_drained` it gets a new window only once every task of the last one ended.
#[tokio::test]
async fn in_the_background_large_files_go_first_and_the_window_is_refilled_when_drained() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    // Every third file is large: 4 of 12, at positions 2, 5, 8, 11 in run order.
    let large = 2 * LARGE as usize;
    let files = write_files(&dir.path().join("src"), 12, 3, |index, _| {
        if index % 3 == 2 { large } else { 2048 }
    });
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.platform.max_platform_tasks = 3;
    config.platform.refill_when_drained = true;
    let queue = open(config, &platform).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");

    let mut first = Vec::new();
    for _ in 0..3 {
        first.push(next_handoff(&mut handoffs).await);
    }
    assert!(
        first
            .iter()
            .all(|handoff| body_len(handoff) == large as u64),
        "the first window is three large files, though small ones come first in run order"
    );
    complete(&platform, &queue, &first[0]).await;
    complete(&platform, &queue, &first[1]).await;
    // Returns once the OS holds whatever the turn after those reports handed over.
    queue.enter_background().await.expect("background");
    assert_eq!(
        platform.started().len(),
        3,
        "no new task while one of the window is out"
    );
    complete(&platform, &queue, &first[2]).await;
    let mut second = Vec::new();
    for _ in 0..3 {
        second.push(next_handoff(&mut handoffs).await);
    }
    let sizes: Vec<u64> = second.iter().map(body_len).collect();
    assert_eq!(
        sizes,
        vec![large as u64, 2048, 2048],
        "the last large file, then small ones in run order"
    );
    for handoff in &second {
        complete(&platform, &queue, handoff).await;
    }
    complete_each_created_in_the_background(&platform, &queue, &mut handoffs, 6).await;
    queue.wait_idle().await.expect("idle");
    assert!(
        platform.max_outstanding() <= 3,
        "max {}",
        platform.max_outstanding()
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

/// An app that enqueues and, before that call returned, enters the background (the user
/// left while a big batch was being added) has the batch in the queue when
/// `enter_background` returns: the enqueue's checks run before its command is sent, and
/// `enter_background` waits for them.
#[tokio::test]
async fn enter_background_waits_for_an_enqueue_still_being_checked() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 16);
    let (platform, _handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &platform).await;
    queue.set_network(OFFLINE).await.expect("offline");
    const BATCH: u64 = 20_000;
    let uploads = (0..BATCH)
        .map(|n| Upload::put(&files[0].path, format!("http://127.0.0.1:9/f{n}")))
        .collect();
    let (enqueued, rows_when_entered) = tokio::join!(queue.enqueue_many(uploads), async {
        queue.enter_background().await.expect("background");
        support::rows(&queue).await
    });
    assert!(enqueued.expect("enqueue").iter().all(Result::is_ok));
    assert_eq!(
        rows_when_entered, BATCH,
        "the batch enqueued first is in the queue when enter_background returns"
    );
    queue.shutdown().await.expect("shutdown");
}

/// Small files queued in the foreground (offline, so none started in-process) go to the OS
/// once the app is in the background; `enter_background` returns only once the OS holds
/// them. (An earlier form sent the enqueue and `enter_background` in one poll and relied
/// on one turn taking both; on a loaded machine the turns could split, and it failed.)
#[tokio::test]
async fn entering_the_background_hands_queued_work_to_the_os_and_returns_once_the_os_holds_it() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 5, 3, |_, _| 2048);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.platform.max_platform_tasks = 3;
    let queue = open(config, &platform).await;
    queue.set_network(OFFLINE).await.expect("offline");
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    let enqueued = queue.enqueue_many(uploads).await.expect("enqueue");
    assert!(enqueued.iter().all(Result::is_ok));
    // Offline, nothing can be handed over: it returns at once.
    queue.enter_background().await.expect("background");
    assert_eq!(platform.start_calls(), 0);

    let slow_os = platform.delay_starts();
    let online = NetworkStatus {
        online: true,
        expensive: false,
        constrained: false,
    };
    queue.set_network(online).await.expect("online");
    eventually(|| platform.start_calls() == 1).await;
    let mut entering = Box::pin(queue.enter_background());
    assert!(futures_util::poll!(&mut entering).is_pending());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        futures_util::poll!(&mut entering).is_pending(),
        "it must not return while the OS has not taken the tasks"
    );
    drop(slow_os);
    entering.await.expect("entered the background");

    assert_eq!(platform.started().len(), 3, "the OS's window, filled");
    assert_eq!(
        server.stats().requests,
        0,
        "nothing ran in-process, where it would freeze with the app"
    );
    complete_each_created_in_the_background(&platform, &queue, &mut handoffs, files.len()).await;
    queue.wait_idle().await.expect("idle");
    assert_eq!(platform.started().len(), files.len());
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn an_os_task_without_progress_in_the_foreground_is_taken_back_in_process() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 3, |_, _| 512 * 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &platform).await;
    let mut events = queue.subscribe();
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let handoff = handoffs.recv().await.expect("a handoff");
    let handed_off_at = tokio::time::Instant::now();
    // The OS never starts the task (the seed's stuck session).

    wait_for(
        &mut events,
        1000,
        |event| matches!(event, TransferEvent::TakenBackFromPlatform { id: taken } if *taken == id),
    )
    .await;
    let waited = handed_off_at.elapsed();
    assert!(
        waited >= Duration::from_secs(60) && waited <= Duration::from_secs(61),
        "taken back after {waited:?} of virtual time; platform_stall_timeout is 60 s"
    );
    queue.wait_idle().await.expect("idle");
    eventually(|| platform.cancelled() == vec![handoff.key.clone()]).await;

    let record = queue.get(&id).await.expect("get");
    assert_eq!(record.state, TransferState::Succeeded);
    assert_eq!(
        record.attempts, 1,
        "the stalled OS task did not use up an attempt"
    );
    assert_eq!(
        platform.started().len(),
        1,
        "the work came back in-process, not to the OS"
    );
    assert_all_received_once(&server, &files);
    // A late report from the cancelled task changes nothing.
    queue
        .platform_finished(
            &handoff.key,
            PlatformOutcome::Response {
                status: 500,
                headers: Vec::new(),
                body: Vec::new(),
                body_truncated: false,
            },
        )
        .expect("report");
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    queue.shutdown().await.expect("shutdown");
}

/// An app relaunched in the background by its URLSession may open the queue before it can
/// say so: until told, nothing runs in-process (it would freeze with the app) and no OS
/// task is taken back (the OS may only be deferring it). Told "foreground", the queue
/// recovers the stalled task as usual.
#[tokio::test(start_paused = true)]
async fn a_queue_not_told_its_state_sends_everything_to_the_os_and_takes_nothing_back() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 4, |_, _| 2048);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.app_state = AppState::Unknown;
    let queue = open(config, &platform).await;
    let mut events = queue.subscribe();
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");
    let mut handed = Vec::new();
    for _ in 0..files.len() {
        let handoff = tokio::time::timeout(Duration::from_secs(60), handoffs.recv())
            .await
            .expect("every file is handed to the OS")
            .expect("a handoff");
        assert!(
            handoff.expected_bytes < LARGE,
            "small files too go to the OS"
        );
        handed.push(handoff);
    }
    // The OS defers every task well past platform_stall_timeout (60 s).
    tokio::time::sleep(Duration::from_secs(600)).await;
    while let Some(event) = events.try_next() {
        assert!(
            !matches!(event, TransferEvent::TakenBackFromPlatform { .. }),
            "nothing is taken back before the app says it is in the foreground: {event:?}"
        );
    }
    assert!(platform.cancelled().is_empty(), "no OS task was cancelled");
    assert_eq!(server.stats().requests, 0, "nothing ran in-process");

    queue
        .set_app_state(AppState::Foreground)
        .await
        .expect("state");
    let mut not_taken_back: std::collections::HashSet<String> = handed
        .iter()
        .map(|handoff| handoff.transfer_id.clone())
        .collect();
    wait_for(&mut events, 1000, |event| {
        if let TransferEvent::TakenBackFromPlatform { id } = event {
            not_taken_back.remove(&id.to_string());
        }
        not_taken_back.is_empty()
    })
    .await;
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_crash_between_recording_the_handoff_and_calling_start_is_reconciled_at_open() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 4, |_, _| 300 * 1024);
    let (dying, _) = ScriptedPlatform::new();
    let release = dying.hold_starts();
    let queue = open(platform_config(dir.path()), &dying).await;
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    // The record says Running{Platform} once the turn committed; start is then blocked.
    let record = queue.get(&id).await.expect("get");
    assert!(matches!(
        record.state,
        TransferState::Running {
            lane: Lane::Platform { .. }
        }
    ));
    eventually(|| dying.start_calls() == 1).await;
    queue
        .shutdown()
        .await
        .expect("the process dies before start returns");

    // Relaunch: the OS never heard of the task.
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &platform).await;
    let handoff = handoffs.recv().await.expect("handed off again");
    complete(&platform, &queue, &handoff).await;
    queue.wait_idle().await.expect("idle");
    drop(release);

    let record = queue.get(&id).await.expect("get");
    assert_eq!(record.state, TransferState::Succeeded);
    assert_eq!(
        record.attempts, 1,
        "the lost handoff did not use up an attempt"
    );
    assert_eq!(
        server.stats().requests,
        1,
        "only the relaunched handoff was sent"
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_task_still_running_at_open_is_adopted_and_its_replayed_report_applied() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 5, |_, _| 200 * 1024);
    let (first, mut handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &first).await;
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let handoff = handoffs.recv().await.expect("a handoff");
    queue
        .shutdown()
        .await
        .expect("the app is killed; the OS task goes on");

    // The OS finishes the task while the app is dead; the shim queues the report.
    let outcome = deliver(&handoff).await;
    let (relaunched, _) = ScriptedPlatform::new();
    let relaunched = relaunched.with_outstanding(&[handoff.key.as_str()]);
    let queue = open(platform_config(dir.path()), &relaunched).await;
    assert!(
        matches!(
            queue.get(&id).await.expect("get").state,
            TransferState::Running {
                lane: Lane::Platform { .. }
            }
        ),
        "adopted, not requeued"
    );
    relaunched.forget(&handoff.key);
    queue
        .platform_finished(&handoff.key, outcome)
        .expect("replay");
    queue.wait_idle().await.expect("idle");

    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    assert!(relaunched.started().is_empty(), "nothing was sent twice");
    assert_eq!(server.stats().requests, 1);
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");

    // The answer the OS got while the app was dead is kept, also across another reopen.
    let (again, _) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &again).await;
    let answer = queue
        .response(&id)
        .await
        .expect("response")
        .expect("the OS task's answer is kept");
    assert_eq!(answer.status, 201);
    assert!(!answer.body_truncated);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON body");
    assert_eq!(
        body["stored"][0]["len"].as_u64(),
        Some(200 * 1024),
        "{body}"
    );
    let cookie = answer
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, value)| value.as_str());
    assert_eq!(cookie, Some("[redacted]"));
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_os_answer_longer_than_the_limit_is_cut_whatever_the_shim_passed() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 6, |_, _| 200 * 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.response_body_limit = 5;
    let queue = open(config, &platform).await;
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let handoff = handoffs.recv().await.expect("a handoff");
    complete(&platform, &queue, &handoff).await;
    queue.wait_idle().await.expect("idle");
    let answer = queue.response(&id).await.expect("response").expect("kept");
    assert_eq!(answer.body, b"{\"sto");
    assert!(answer.body_truncated);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_force_quit_cancels_every_task_and_everything_is_sent_once_after_reopening() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 5, 6, |_, _| 100 * 1024);
    let (first, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.limits.per_host = 8; // every file on the OS at once
    let queue = open(config.clone(), &first).await;
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");
    let mut keys = Vec::new();
    for _ in 0..files.len() {
        keys.push(handoffs.recv().await.expect("a handoff").key);
    }
    queue.shutdown().await.expect("force-quit");

    // The OS cancelled every task: some reports were queued by the shim, some vanished.
    let (relaunched, mut handoffs) = ScriptedPlatform::new();
    let queued_reports: Vec<&str> = keys.iter().take(2).map(String::as_str).collect();
    let relaunched = relaunched.with_outstanding(&queued_reports);
    let queue = open(config, &relaunched).await;
    for key in &queued_reports {
        relaunched.forget(key);
        queue
            .platform_finished(
                key,
                PlatformOutcome::Failed {
                    kind: PlatformFailure::CancelledByUser,
                    message: "force-quit".into(),
                },
            )
            .expect("replay");
    }
    for _ in 0..files.len() {
        let handoff = handoffs.recv().await.expect("handed off again");
        complete(&relaunched, &queue, &handoff).await;
    }
    queue.wait_idle().await.expect("idle");

    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 100)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), files.len());
    assert!(succeeded.iter().all(|transfer| transfer.attempts == 1));
    assert_all_received_once(&server, &files);
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_multipart_body_is_written_to_a_temp_file_that_is_removed_when_done() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 7, |_, _| 100 * 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let config = platform_config(dir.path());
    let bodies = dir.path().join("queue.db.bodies");
    std::fs::create_dir_all(&bodies).expect("bodies dir");
    std::fs::write(bodies.join("left-by-a-crash.1.body"), b"stale").expect("stale body");
    let queue = open(config, &platform).await;
    assert!(
        !bodies.join("left-by-a-crash.1.body").exists(),
        "a stale body is removed at open"
    );
    let upload = Upload::put(&files[0].path, format!("{}form", server.base_url())).with_method(
        UploadMethod::PostMultipart {
            field: "file".into(),
        },
    );
    let id = queue.enqueue(upload).await.expect("enqueue");
    let handoff = handoffs.recv().await.expect("a handoff");
    assert_eq!(handoff.method, "POST");
    assert!(handoff.body_path.starts_with(&bodies));
    assert!(handoff.expected_bytes > files[0].len);
    assert!(
        handoff
            .headers
            .iter()
            .any(|(name, value)| name == "Content-Type"
                && value.starts_with("multipart/form-data; boundary="))
    );
    complete(&platform, &queue, &handoff).await;
    queue.wait_idle().await.expect("idle");

    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    let part = server
        .received("/form#f00000.bin")
        .expect("the file part arrived");
    assert_eq!(part.len, files[0].len);
    assert_eq!(part.sha256_hex, files[0].sha256_hex);
    // The driver removes the body right after the turn that recorded the success.
    eventually(|| !handoff.body_path.exists()).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_stops_moving_says_why() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 8, |_, _| 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.platform.queue_stall_after = Duration::from_secs(120);
    let queue = open(config, &platform).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    let mut events = queue.subscribe();
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");
    handoffs.recv().await.expect("a handoff");
    let since = tokio::time::Instant::now();
    // The OS holds the tasks in the background and never reports.

    let event = wait_for(&mut events, 5000, |event| {
        matches!(event, TransferEvent::QueueStalled { .. })
    })
    .await;
    let TransferEvent::QueueStalled {
        reason, idle_for, ..
    } = event
    else {
        unreachable!()
    };
    assert!(reason.contains("OS background tasks"), "{reason}");
    assert!(idle_for >= Duration::from_secs(120), "{idle_for:?}");
    assert!(
        since.elapsed() <= Duration::from_secs(121),
        "{:?}",
        since.elapsed()
    );
    assert!(
        platform.cancelled().is_empty(),
        "no take-back in the background"
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn back_in_the_foreground_tasks_the_os_lost_run_again() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 9, |_, _| 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &platform).await;
    queue
        .set_app_state(AppState::Background)
        .await
        .expect("background");
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let lost = handoffs.recv().await.expect("a handoff");
    platform.forget(&lost.key); // vanished without a report

    queue
        .set_app_state(AppState::Foreground)
        .await
        .expect("foreground");
    queue.wait_idle().await.expect("idle");

    let record = queue.get(&id).await.expect("get");
    assert_eq!(record.state, TransferState::Succeeded);
    assert_eq!(
        platform.started().len(),
        1,
        "the small file ran in-process the second time"
    );
    assert_all_received_once(&server, &files);
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_os_handoff_is_authorized_just_in_time_and_its_secret_never_stored() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 10, |_, _| 128 * 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let secret = "Bearer handoff-secret-7f3a";
    let authorizer =
        support::authorizers::StaticHeaders(vec![("Authorization".into(), secret.into())]);
    let integrations = Integrations {
        platform: Some(Arc::clone(&platform) as Arc<dyn ferry::PlatformTransferService>),
        authorizer: Some(Arc::new(authorizer)),
    };
    let queue = TransferQueue::open_with(platform_config(dir.path()), integrations)
        .await
        .expect("open");
    // Multipart, so that a body file is written beside the database while the task runs.
    let upload = upload_to(&server, &files[0]).with_method(UploadMethod::PostMultipart {
        field: "file".into(),
    });
    let id = queue.enqueue(upload).await.expect("enqueue");
    let handoff = handoffs.recv().await.expect("a handoff");
    assert!(handoff.body_path.exists());
    assert_no_file_holds(dir.path(), secret);
    assert!(
        handoff
            .headers
            .iter()
            .any(|(name, value)| name == "Authorization" && value == secret),
        "the OS task carries the authorizer's credentials"
    );
    complete(&platform, &queue, &handoff).await;
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    queue.shutdown().await.expect("shutdown");
    assert_no_file_holds(dir.path(), secret);
}

/// Scans every file under `dir` (database, WAL, temporary bodies) for `secret`.
fn assert_no_file_holds(dir: &std::path::Path, secret: &str) {
    let mut scanned = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{} holds the secret", path.display());
                scanned += 1;
            }
        }
    }
    assert!(scanned >= 2, "the database and the sources were scanned");
}

#[tokio::test]
async fn a_late_report_from_an_older_task_never_touches_the_newer_attempt() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 11, |_, _| 128 * 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let queue = open(platform_config(dir.path()), &platform).await;
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let first = handoffs.recv().await.expect("a handoff");
    queue.pause(&id).await.expect("pause");
    queue.resume(&id).await.expect("resume");
    let second = handoffs.recv().await.expect("handed off again");
    assert_ne!(first.key, second.key, "every OS task gets its own key");

    // The first task's cancellation arrives late, while the second runs.
    queue
        .platform_finished(
            &first.key,
            PlatformOutcome::Failed {
                kind: PlatformFailure::CancelledBySystem,
                message: "cancelled".into(),
            },
        )
        .expect("late report");
    let record = queue.get(&id).await.expect("get");
    assert_eq!(
        record.state,
        TransferState::Running {
            lane: Lane::Platform {
                handoff_key: second.key.clone()
            }
        }
    );
    complete(&platform, &queue, &second).await;
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    assert_eq!(platform.started().len(), 2);
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_handoff_to_an_ietf_resumable_destination_says_so_for_the_os() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 12, |_, _| 128 * 1024);
    let (platform, mut handoffs) = ScriptedPlatform::new();
    let mut config = platform_config(dir.path());
    config.resumable = ferry::ResumableConfig {
        threshold: LARGE,
        ..ferry::ResumableConfig::default()
    }
    .with_destination(
        server.base_url(),
        ferry::ResumableProtocol::Ietf { interop_version: 6 },
    );
    let queue = open(config, &platform).await;
    queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let handoff = handoffs.recv().await.expect("a handoff");
    assert_eq!(handoff.ietf_interop_version, Some(6));
    let header = |wanted: &str| {
        handoff
            .headers
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(header("Upload-Draft-Interop-Version").as_deref(), Some("6"));
    assert_eq!(header("Upload-Complete").as_deref(), Some("?1"));
    queue.shutdown().await.expect("shutdown");
}
