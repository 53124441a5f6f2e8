//! The app's controls: pause, resume, cancel, retry, priorities, reopening, auth
//! failures, multipart bodies and idempotent enqueue.

mod support;

use ferry::{
    Error, FailureKind, Limits, NetworkStatus, StateCount, StateKind, TransferEvent, TransferQueue,
    TransferState, Upload, UploadMethod,
};
use ferry_testkit::{Fault, FaultPlan, ScriptedFault, ServerConfig, TestServer};
use support::{
    SourceFile, assert_all_received_once, assert_totals_agree_with_the_transfers, quick_config,
    wait_for, write_files,
};

const OFFLINE: NetworkStatus = NetworkStatus {
    online: false,
    expensive: false,
    constrained: false,
};

async fn server_with(scripted: Vec<ScriptedFault>) -> TestServer {
    TestServer::start(ServerConfig {
        faults: FaultPlan {
            scripted,
            ..FaultPlan::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server")
}

fn upload_to(server: &TestServer, file: &SourceFile) -> Upload {
    Upload::put(&file.path, format!("{}{}", server.base_url(), file.name))
}

#[tokio::test(start_paused = true)]
async fn pause_stops_a_running_transfer_and_resume_finishes_it() {
    let server = server_with(vec![ScriptedFault::Request {
        n: 1,
        fault: Fault::SlowRead {
            bytes_per_second: 100 * 1024,
        },
    }])
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 4 * 1024 * 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    wait_for(&mut events, 100, |e| {
        matches!(e, TransferEvent::Started { .. })
    })
    .await;

    queue.pause(&id).await.expect("pause");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Paused
    );
    wait_for(&mut events, 1000, |e| {
        matches!(e, TransferEvent::Paused { .. })
    })
    .await;
    queue.pause(&id).await.expect("pausing twice is harmless");
    queue.wait_idle().await.expect("a paused queue is idle");
    assert!(server.received(&format!("/{}", files[0].name)).is_none());

    queue.resume(&id).await.expect("resume");
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_cancelled_transfer_never_reaches_the_server_and_cannot_be_resumed() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 1, |_, _| 1000);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let cancelled = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    queue
        .enqueue(upload_to(&server, &files[1]))
        .await
        .expect("enqueue");
    queue.cancel(&cancelled).await.expect("cancel");
    let resumed = queue.resume(&cancelled).await;
    assert!(
        matches!(resumed, Err(Error::IllegalTransition { .. })),
        "{resumed:?}"
    );
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    queue.wait_idle().await.expect("idle");
    assert!(server.received(&format!("/{}", files[0].name)).is_none());
    assert_all_received_once(&server, &files[1..]);
    let progress = queue.progress().await.expect("progress");
    assert_eq!(
        progress.files_total, 1,
        "cancelled transfers are not counted"
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_permanent_failure_is_kept_until_retry_queues_it_again() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 1000);
    let server = server_with(vec![ScriptedFault::FirstToPath {
        path: format!("/{}", files[0].name),
        count: 1,
        fault: Fault::Status {
            code: 404,
            retry_after: None,
        },
    }])
    .await;
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");
    let failed = queue.get(&id).await.expect("get");
    assert_eq!(failed.state, TransferState::Failed);
    let error = failed.last_error.expect("reason");
    assert_eq!(
        (error.kind, error.http_status),
        (FailureKind::HttpStatus, Some(404))
    );
    assert_eq!(failed.attempts, 1, "a 404 is not retried");

    queue.retry(&id).await.expect("retry");
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn higher_priorities_start_first_and_equal_ones_in_enqueue_order() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 6, 1, |_, _| 1000);
    let mut config = quick_config(dir.path());
    config.limits = Limits {
        per_host: 1,
        global: 1,
    };
    let queue = TransferQueue::open(config).await.expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let priorities = [0, 0, 5, 0, 9, 5];
    let mut ids = Vec::new();
    for (file, priority) in files.iter().zip(priorities) {
        let upload = upload_to(&server, file).with_priority(priority);
        ids.push(queue.enqueue(upload).await.expect("enqueue"));
    }
    let mut events = queue.subscribe();
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    queue.wait_idle().await.expect("idle");
    let mut started = Vec::new();
    while let Some(event) = events.try_next() {
        if let TransferEvent::Started { id, .. } = event {
            started.push(ids.iter().position(|known| *known == id).expect("known id"));
        }
    }
    assert_eq!(started, vec![4, 2, 5, 0, 1, 3]);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_reopened_queue_has_its_transfers_and_finishes_them() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 50, 1, |_, _| 5000);
    let config = quick_config(dir.path());
    let queue = TransferQueue::open(config.clone()).await.expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    let ids: Vec<_> = queue
        .enqueue_many(uploads)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|result| result.expect("valid"))
        .collect();
    queue.pause(&ids[0]).await.expect("pause");
    queue.shutdown().await.expect("shutdown");
    assert!(matches!(queue.progress().await, Err(Error::Closed)));

    // The network is not persisted: a reopened queue is online until the app says not.
    let reopened = TransferQueue::open(config).await.expect("reopen");
    let all = reopened.list(None, 0, 100).await.expect("list");
    let listed: Vec<_> = all.iter().map(|transfer| transfer.id.clone()).collect();
    assert_eq!(listed, ids, "every transfer survives, in enqueue order");
    assert!(all[1..].iter().all(|t| t.state.kind() != StateKind::Paused));
    let paused = reopened.get(&ids[0]).await.expect("get");
    assert_eq!(paused.state, TransferState::Paused);
    assert_eq!(paused.upload, upload_to(&server, &files[0]));
    reopened.resume(&ids[0]).await.expect("resume");
    reopened.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    reopened.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn refused_credentials_wait_in_auth_required_until_resumed() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 1000);
    let server = server_with(vec![ScriptedFault::Request {
        n: 1,
        fault: Fault::Status {
            code: 401,
            retry_after: None,
        },
    }])
    .await;
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let event = wait_for(&mut events, 100, |e| {
        matches!(
            e,
            TransferEvent::AuthRequired { .. } | TransferEvent::Failed { .. }
        )
    })
    .await;
    assert!(
        matches!(event, TransferEvent::AuthRequired { .. }),
        "{event:?}"
    );
    queue.wait_idle().await.expect("auth_required is idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::AuthRequired
    );
    queue.resume(&id).await.expect("resume");
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        queue.get(&id).await.expect("get").state,
        TransferState::Succeeded
    );
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn multipart_and_raw_post_bodies_arrive_intact() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 1, |_, _| 300_000);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let multipart = Upload::put(&files[0].path, format!("{}form", server.base_url())).with_method(
        UploadMethod::PostMultipart {
            field: "file".into(),
        },
    );
    let raw_post = Upload::put(&files[1].path, format!("{}raw", server.base_url()))
        .with_method(UploadMethod::Post);
    queue.enqueue(multipart).await.expect("enqueue");
    queue.enqueue(raw_post).await.expect("enqueue");
    queue.wait_idle().await.expect("idle");
    let part = server
        .received("/form#f00000.bin")
        .expect("multipart part stored");
    assert_eq!(part.sha256_hex, files[0].sha256_hex);
    let raw = server.received("/raw").expect("raw post stored");
    assert_eq!(raw.sha256_hex, files[1].sha256_hex);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn enqueueing_the_same_upload_again_returns_the_same_transfer() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 1000);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let first = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let again = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    assert_eq!(first, again, "while queued");
    let as_post = upload_to(&server, &files[0]).with_method(UploadMethod::Post);
    assert_ne!(
        queue.enqueue(as_post).await.expect("enqueue"),
        first,
        "another method"
    );
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    queue.wait_idle().await.expect("idle");
    let after_success = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    assert_eq!(after_success, first, "unchanged and already sent");
    std::fs::write(&files[0].path, b"new content").expect("rewrite");
    let changed = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    assert_ne!(changed, first, "a changed file is a new transfer");
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        server
            .received(&format!("/{}", files[0].name))
            .expect("got")
            .len,
        11
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn transfers_that_may_not_use_cellular_wait_for_another_network() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 1, |_, _| 1000);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let cellular = NetworkStatus {
        online: true,
        expensive: true,
        constrained: false,
    };
    queue.set_network(cellular).await.expect("cellular");
    // Subscribed first: events are "from now on", and `anywhere` may finish before its
    // `enqueue` returns.
    let mut events = queue.subscribe();
    let wifi_only = upload_to(&server, &files[0]).with_constraints(ferry::Constraints {
        allow_expensive: false,
        allow_constrained: true,
    });
    let wifi_only = queue.enqueue(wifi_only).await.expect("enqueue");
    let anywhere = queue
        .enqueue(upload_to(&server, &files[1]))
        .await
        .expect("enqueue");
    wait_for(
        &mut events,
        100,
        |e| matches!(e, TransferEvent::Succeeded { id, .. } if *id == anywhere),
    )
    .await;
    assert_eq!(
        queue.get(&wifi_only).await.expect("get").state,
        TransferState::Queued
    );
    assert!(server.received(&format!("/{}", files[0].name)).is_none());

    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("wifi");
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn attempts_interrupted_by_shutdown_do_not_use_up_the_retry_budget() {
    let dir = tempfile::tempdir().expect("dir");
    // 1 MiB at 64 KiB/s takes 16 s: slow, but never silent for a whole stall_timeout.
    let files = write_files(&dir.path().join("src"), 1, 1, |_, _| 1024 * 1024);
    let slow = Fault::SlowRead {
        bytes_per_second: 64 * 1024,
    };
    let mut scripted: Vec<ScriptedFault> = (1..=5)
        .map(|n| ScriptedFault::Request {
            n,
            fault: slow.clone(),
        })
        .collect();
    scripted.push(ScriptedFault::Request {
        n: 6,
        fault: Fault::Reset,
    });
    let server = server_with(scripted).await;
    let mut config = quick_config(dir.path());
    config.retry.max_attempts = 2;
    for interrupted in 1..=5 {
        let queue = TransferQueue::open(config.clone()).await.expect("open");
        queue
            .enqueue(upload_to(&server, &files[0]))
            .await
            .expect("enqueue");
        // Shut down only once the server has the request, so request numbers line up.
        for _ in 0..1000 {
            if server.stats().requests >= interrupted {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(server.stats().requests, interrupted);
        queue.shutdown().await.expect("shutdown");
    }
    let queue = TransferQueue::open(config).await.expect("open");
    queue.wait_idle().await.expect("idle");
    let transfer = &queue.list(None, 0, 10).await.expect("list")[0];
    assert_eq!(
        transfer.state,
        TransferState::Succeeded,
        "{:?}",
        transfer.last_error
    );
    assert_eq!(
        transfer.attempts, 2,
        "the reset and the success; interruptions do not count"
    );
    assert_eq!(server.stats().requests, 7);
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_second_open_of_the_same_database_is_refused_while_the_first_is_open() {
    let dir = tempfile::tempdir().expect("dir");
    let config = quick_config(dir.path());
    let first = TransferQueue::open(config.clone()).await.expect("first");
    let second = TransferQueue::open(config.clone()).await;
    assert!(
        matches!(second, Err(Error::Store(ferry::StoreError::InUse { .. }))),
        "{:?}",
        second.err()
    );
    first.shutdown().await.expect("shutdown");
    let again = TransferQueue::open(config)
        .await
        .expect("free after shutdown");
    again.shutdown().await.expect("shutdown");
}

/// A resumed transfer becomes due a millisecond later (retry times round up). If that
/// millisecond passed between scheduling and computing the next wake-up, the actor once
/// slept forever and `wait_idle` hung (seen from Swift and Kotlin). Real time on purpose:
/// the paused clock cannot move inside a turn. The timeout only guards against a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_transfer_always_runs_and_wait_idle_returns() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 40, 1, |_, _| 500);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    for file in &files {
        queue.set_network(OFFLINE).await.expect("offline");
        let id = queue
            .enqueue(upload_to(&server, file))
            .await
            .expect("enqueue");
        queue.pause(&id).await.expect("pause");
        queue
            .set_network(NetworkStatus::default())
            .await
            .expect("online");
        queue.resume(&id).await.expect("resume");
        let idle = tokio::time::timeout(std::time::Duration::from_secs(30), queue.wait_idle());
        idle.await.expect("wait_idle returned").expect("idle");
        assert_eq!(
            queue.get(&id).await.expect("get").state,
            TransferState::Succeeded
        );
    }
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

fn files_and_bytes(counts: &[StateCount], state: StateKind) -> Option<(u64, u64)> {
    counts
        .iter()
        .find(|count| count.state == state)
        .map(|count| (count.files, count.bytes))
}

#[tokio::test]
async fn counts_by_state_list_every_state_with_its_files_and_bytes() {
    let server = server_with(Vec::new()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 1, |index, _| 1000 * (index + 1));
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let mut ids = Vec::new();
    for file in &files {
        ids.push(
            queue
                .enqueue(upload_to(&server, file))
                .await
                .expect("enqueue"),
        );
    }
    queue.cancel(&ids[0]).await.expect("cancel");
    queue.pause(&ids[1]).await.expect("pause");

    let counts = queue.count_by_state().await.expect("counts");
    let states: Vec<StateKind> = counts.iter().map(|count| count.state).collect();
    assert_eq!(states, StateKind::ALL.to_vec(), "every state, in order");
    let of = |state: StateKind| files_and_bytes(&counts, state);
    assert_eq!(of(StateKind::Cancelled), Some((1, 1000)));
    assert_eq!(of(StateKind::Paused), Some((1, 2000)));
    assert_eq!(of(StateKind::Queued), Some((1, 3000)));
    assert_eq!(of(StateKind::Succeeded), Some((0, 0)));
    let total: u64 = counts.iter().map(|count| count.files).sum();
    assert_eq!(total, 3);
    assert_totals_agree_with_the_transfers(&queue).await;

    queue.resume(&ids[1]).await.expect("resume");
    queue
        .set_network(NetworkStatus {
            online: true,
            ..OFFLINE
        })
        .await
        .expect("online");
    let idle = tokio::time::timeout(std::time::Duration::from_secs(30), queue.wait_idle());
    idle.await.expect("wait_idle returned").expect("idle");
    let counts = queue.count_by_state().await.expect("counts");
    let of = |state: StateKind| files_and_bytes(&counts, state);
    assert_eq!(of(StateKind::Succeeded), Some((2, 5000)));
    assert_eq!(of(StateKind::Cancelled), Some((1, 1000)));
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
    drop(queue);

    let reopened = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("reopen");
    assert_eq!(
        reopened
            .count_by_state()
            .await
            .expect("counts after reopening"),
        counts,
        "the totals survive a reopen"
    );
    reopened.shutdown().await.expect("shutdown");
}

/// `wait_for` resolves when a transfer is final, whichever way it ends; an unknown id is
/// `NotFound`, and a wait the queue's shutdown interrupts is `Closed`.
#[tokio::test]
async fn wait_for_returns_each_transfer_once_it_is_final() {
    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 11, |_, _| 4096);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let mut ids = Vec::new();
    for file in &files {
        let url = format!("{}{}", server.base_url(), file.name);
        ids.push(
            queue
                .enqueue(Upload::put(&file.path, url))
                .await
                .expect("enqueue"),
        );
    }
    let waiting = |index: usize| {
        let (queue, id) = (queue.clone(), ids[index].clone());
        tokio::spawn(async move { queue.wait_for(&id).await })
    };
    let (sent, cancelled, interrupted) = (waiting(0), waiting(1), waiting(2));

    queue.cancel(&ids[1]).await.expect("cancel");
    let ended = cancelled.await.expect("joined").expect("final");
    assert_eq!(ended.state, TransferState::Cancelled);
    assert!(!sent.is_finished(), "the others are still waiting");

    queue.pause(&ids[2]).await.expect("pause");
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    let ended = sent.await.expect("joined").expect("final");
    assert_eq!(ended.state, TransferState::Succeeded);
    assert_eq!(ended.id, ids[0]);

    let unknown = ferry::TransferId::parse("0192f0c2-3b4a-7c5d-8e6f-0123456789ab").expect("id");
    assert!(matches!(
        queue.wait_for(&unknown).await,
        Err(Error::NotFound { .. })
    ));
    queue.shutdown().await.expect("shutdown");
    assert!(
        matches!(interrupted.await.expect("joined"), Err(Error::Closed)),
        "a paused transfer is not final: its wait ends with the queue"
    );
}

/// A transfer whose credentials the server refuses waits for the app (`AuthRequired`):
/// `wait_for` returns it then, instead of waiting for an end that only the app can bring
/// (issue 19's review: `awaitResult` hung after a 403 in a queue without an authorizer).
#[tokio::test]
async fn wait_for_returns_a_transfer_that_waits_for_credentials() {
    let server = support::server_with_faults(FaultPlan {
        status: Some(ferry_testkit::StatusFault {
            probability: 1.0,
            code: 401,
            retry_after: None,
        }),
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 12, |_, _| 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let url = format!("{}{}", server.base_url(), files[0].name);
    let id = queue
        .enqueue(Upload::put(&files[0].path, url))
        .await
        .expect("enqueue");
    let waited = tokio::time::timeout(std::time::Duration::from_secs(60), queue.wait_for(&id))
        .await
        .expect("wait_for returns once the transfer needs the app")
        .expect("a record");
    assert_eq!(waited.state, TransferState::AuthRequired);
    assert_eq!(
        waited
            .last_error
            .as_ref()
            .and_then(|error| error.http_status),
        Some(401)
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn watch_yields_the_record_now_then_each_change_and_ends_with_the_final_one() {
    use futures_util::StreamExt;

    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 12, |_, _| 64 * 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    queue.set_network(OFFLINE).await.expect("offline");
    let id = queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let mut watching = Box::pin(queue.watch(&id));
    let first = watching.next().await.expect("an item").expect("the record");
    assert_eq!(
        first.state,
        TransferState::Queued,
        "the record as it is now"
    );

    queue.pause(&id).await.expect("pause");
    let paused = watching.next().await.expect("an item").expect("the record");
    assert_eq!(paused.state, TransferState::Paused);
    queue.resume(&id).await.expect("resume");
    queue
        .set_network(NetworkStatus::default())
        .await
        .expect("online");
    let rest: Vec<_> = watching
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|item| item.expect("the record"))
        .collect();
    let last = rest.last().expect("the final record");
    assert_eq!(last.state, TransferState::Succeeded, "{rest:?}");
    assert_eq!(last.id, id);
    assert!(
        rest[..rest.len() - 1]
            .iter()
            .all(|transfer| !transfer.state.kind().is_final()),
        "only the last record is final"
    );

    let unknown = ferry::TransferId::parse("0192f0c2-3b4a-7c5d-8e6f-0123456789ab").expect("id");
    let items: Vec<_> = queue.watch(&unknown).collect().await;
    assert_eq!(items.len(), 1, "one error, then the end");
    assert!(matches!(items[0], Err(Error::NotFound { .. })));
    queue.shutdown().await.expect("shutdown");
}
