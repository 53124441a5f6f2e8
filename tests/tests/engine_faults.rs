//! Under resets, 503s with `Retry-After` and mid-body stalls every file arrives exactly
//! once. Time-sensitive checks run on tokio's paused clock, in virtual seconds.

mod support;

use std::time::Duration;

use ferry::{FailureKind, StateKind, TransferEvent, TransferQueue, Upload};
use ferry_testkit::{
    Fault, FaultPlan, RetryAfter, ScriptedFault, StallFault, StatusFault, TestServer,
};
use support::{
    assert_all_received_once, assert_totals_agree_with_the_transfers, quick_config,
    server_with_faults, wait_for, write_files,
};
use tokio::time::Instant;

fn upload_to(server: &TestServer, file: &support::SourceFile) -> Upload {
    Upload::put(&file.path, format!("{}{}", server.base_url(), file.name))
}

#[tokio::test(start_paused = true)]
async fn every_file_arrives_exactly_once_under_resets_503s_and_stalls() {
    let server = server_with_faults(FaultPlan {
        seed: 11,
        reset_probability: 0.10,
        status: Some(StatusFault {
            probability: 0.05,
            code: 503,
            retry_after: Some(RetryAfter::Seconds(1)),
        }),
        stall: Some(StallFault {
            probability: 0.03,
            after_bytes: 8 * 1024,
            hold_for_ms: 600_000,
        }),
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 400, 3, |_, rng| {
        rand::Rng::random_range(rng, 16 * 1024..=256 * 1024)
    });
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");
    queue.wait_idle().await.expect("idle");

    assert_all_received_once(&server, &files);
    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 1000)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), files.len());
    assert_totals_agree_with_the_transfers(&queue).await;
    let stats = server.stats();
    assert!(
        stats.faults.reset > 0,
        "resets were injected: {:?}",
        stats.faults
    );
    assert!(
        stats.faults.status > 0,
        "503s were injected: {:?}",
        stats.faults
    );
    assert!(
        stats.faults.stall > 0,
        "stalls were injected: {:?}",
        stats.faults
    );
    let mut stalls_recovered = 0;
    while let Some(event) = events.try_next() {
        if let TransferEvent::Retrying { error, .. } = event
            && error.kind == FailureKind::Stalled
        {
            stalls_recovered += 1;
        }
    }
    assert_eq!(
        stalls_recovered, stats.faults.stall,
        "every stall was noticed and retried"
    );
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_stall_is_abandoned_within_stall_timeout_plus_one_second() {
    let server = server_with_faults(FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 1,
            fault: Fault::Stall {
                after_bytes: 64 * 1024,
                hold_for_ms: 600_000,
            },
        }],
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 5, |_, _| 8 * 1024 * 1024);
    let config = quick_config(dir.path());
    let stall_timeout = config.stall_timeout;
    let queue = TransferQueue::open(config).await.expect("open");
    let mut events = queue.subscribe();
    queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");

    wait_for(&mut events, 100, |e| {
        matches!(e, TransferEvent::Started { .. })
    })
    .await;
    let started = Instant::now();
    wait_for(&mut events, 1000, |e| {
        matches!(e, TransferEvent::Retrying { error, .. } if error.kind == FailureKind::Stalled)
    })
    .await;
    let waited = started.elapsed();
    assert!(waited >= stall_timeout, "abandoned too early: {waited:?}");
    assert!(
        waited <= stall_timeout + Duration::from_secs(1),
        "abandoned too late: {waited:?}"
    );
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

/// Events are told once a sync covers their turn, which the group commit spaces 5 ms
/// apart (a sync does not advance the paused clock: it runs on the blocking pool). The
/// `Retrying` event may reach us up to that much later after its turn than `Started`
/// does after its own, so the wait between them may look that much shorter.
const EVENTS_TOLD_LATE_BY_AT_MOST: Duration = Duration::from_millis(5);

async fn delay_before_second_attempt(retry_after: RetryAfter, code: u16) -> (Duration, Duration) {
    let server = server_with_faults(FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 1,
            fault: Fault::Status {
                code,
                retry_after: Some(retry_after),
            },
        }],
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 5, |_, _| 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    let TransferEvent::Retrying { delay, .. } = wait_for(&mut events, 100, |e| {
        matches!(e, TransferEvent::Retrying { .. })
    })
    .await
    else {
        unreachable!("wait_for returns the matching event");
    };
    let failed_at = Instant::now();
    wait_for(&mut events, 100, |e| {
        matches!(e, TransferEvent::Started { attempt: 2, .. })
    })
    .await;
    let waited = failed_at.elapsed();
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
    (delay, waited)
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_on_503_is_honoured() {
    let (delay, waited) = delay_before_second_attempt(RetryAfter::Seconds(7), 503).await;
    assert_eq!(delay, Duration::from_secs(7));
    assert!(
        waited + EVENTS_TOLD_LATE_BY_AT_MOST >= Duration::from_secs(7),
        "retried after {waited:?}"
    );
    assert!(waited < Duration::from_secs(8), "retried after {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_of_277_hours_waits_only_max_server_delay() {
    let (delay, waited) = delay_before_second_attempt(RetryAfter::Seconds(999_999), 503).await;
    let cap = ferry::RetryPolicy::default().max_server_delay;
    assert_eq!(cap, Duration::from_secs(15 * 60));
    assert_eq!(delay, cap);
    assert!(
        waited + EVENTS_TOLD_LATE_BY_AT_MOST >= cap,
        "retried after {waited:?}"
    );
    assert!(
        waited < cap + Duration::from_secs(1),
        "retried after {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_on_429_is_honoured() {
    let (delay, waited) = delay_before_second_attempt(RetryAfter::DateAfter(20), 429).await;
    // An HTTP date has one-second resolution and is read from the wall clock.
    assert!(
        delay >= Duration::from_secs(18) && delay <= Duration::from_secs(21),
        "{delay:?}"
    );
    assert!(
        waited + EVENTS_TOLD_LATE_BY_AT_MOST >= delay,
        "retried after {waited:?}, asked {delay:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_host_is_probed_by_one_request_not_by_every_transfer() {
    let server = server_with_faults(FaultPlan {
        status: Some(StatusFault {
            probability: 1.0,
            code: 503,
            retry_after: None,
        }),
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 200, 9, |_, _| 2048);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let uploads = files.iter().map(|file| upload_to(&server, file)).collect();
    queue.enqueue_many(uploads).await.expect("enqueue");

    tokio::time::sleep(Duration::from_secs(60)).await;
    let requests_while_down = server.stats().requests;
    // Without the breaker, 200 transfers retrying every few seconds would send thousands.
    assert!(
        requests_while_down <= 30,
        "{requests_while_down} requests reached a failing host in 60 s"
    );

    server.set_faults(FaultPlan::default()).expect("heal");
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_response_lost_after_the_server_stored_the_body_is_not_stored_twice() {
    // The server stores the body, then holds the response past the stall timeout; the
    // retry carries the same Idempotency-Key and the server refuses the second copy.
    let server = server_with_faults(FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 1,
            fault: Fault::Delay { ms: 120_000 },
        }],
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 5, |_, _| 4096);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    queue
        .enqueue(upload_to(&server, &files[0]))
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    assert_eq!(server.stats().requests, 2);
    assert_eq!(server.stats().duplicates_refused, 1);
    queue.shutdown().await.expect("shutdown");
}
