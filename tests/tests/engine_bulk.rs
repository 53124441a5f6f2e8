//! Queue management in bulk: `cancel_where`, `retry_where` and `purge_where` by state and
//! by a literal destination prefix, running attempts stopped, backoffs made due, 100,000
//! transfers handled in chunks while the queue keeps answering, a store that stays
//! bounded under repeated runs, and a transfer waiting for credentials renewed in place
//! by enqueueing it with new headers (issue 23, points 10 and 5).

mod support;

use std::time::Duration;

use ferry::{Error, Selection, StateKind, TransferEvent, TransferQueue, Upload};
use ferry_testkit::{AuthPolicy, BearerPolicy, FaultPlan, RetryAfter, ServerConfig, TestServer};
use support::{
    NOWHERE, SourceFile, assert_all_received_once, assert_totals_agree_with_the_transfers,
    enqueue_accepted, enqueue_each, open_offline, quick_config, rows, server_with_faults,
    slow_server, states_of, wait_for, write_files,
};
use tokio::time::Instant;

async fn files_in(queue: &TransferQueue, state: StateKind) -> u64 {
    queue
        .count_by_state()
        .await
        .expect("count_by_state")
        .into_iter()
        .find(|count| count.state == state)
        .map_or(0, |count| count.files)
}

fn count_events(
    events: &mut ferry::Subscription,
    wanted: impl Fn(&TransferEvent) -> bool,
) -> usize {
    std::iter::from_fn(|| events.try_next())
        .filter(|event| wanted(event))
        .count()
}

#[tokio::test(start_paused = true)]
async fn bulk_calls_select_by_state_and_by_a_prefix_taken_literally() {
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 1, |_, _| 100);
    let queue = open_offline(dir.path()).await;
    let literal = enqueue_each(&queue, &files, &format!("{NOWHERE}/a_b/")).await;
    let pattern_would_match = enqueue_each(&queue, &files, &format!("{NOWHERE}/axb/")).await;
    queue.pause(&literal[0]).await.expect("pause");
    let mut events = queue.subscribe();

    let refused = queue
        .cancel_where(Selection::in_states([StateKind::Succeeded]))
        .await
        .expect_err("succeeded transfers cannot be cancelled");
    assert!(
        matches!(refused, Error::InvalidSelection { .. }),
        "{refused}"
    );
    let paused_only = Selection::in_states([StateKind::Paused])
        .with_destination_prefix(format!("{NOWHERE}/axb/"));
    assert_eq!(queue.cancel_where(paused_only).await.expect("cancel"), 0);

    // `_` would match any character in a LIKE pattern: here it matches only itself.
    let cancelled = queue
        .cancel_where(Selection::all().with_destination_prefix(format!("{NOWHERE}/a_b/")))
        .await
        .expect("cancel");
    assert_eq!(cancelled, 2);
    assert_eq!(states_of(&queue, &literal).await, [StateKind::Cancelled; 2]);
    assert_eq!(
        states_of(&queue, &pattern_would_match).await,
        [StateKind::Queued; 2]
    );
    assert_eq!(
        count_events(&mut events, |event| matches!(
            event,
            TransferEvent::Cancelled { .. }
        )),
        2
    );
    assert_totals_agree_with_the_transfers(&queue).await;

    let refused = queue
        .purge_where(Selection::in_states([StateKind::Queued]), Duration::ZERO)
        .await
        .expect_err("queued transfers are never purged");
    assert!(refused.to_string().contains("cannot purge"), "{refused}");
    let hour = Duration::from_secs(3600);
    assert_eq!(
        queue
            .purge_where(Selection::all(), hour)
            .await
            .expect("purge"),
        0,
        "cancelled just now: younger than an hour"
    );
    tokio::time::advance(2 * hour).await;
    assert_eq!(
        queue
            .purge_where(Selection::all(), hour)
            .await
            .expect("purge"),
        2
    );
    assert_eq!(rows(&queue).await, 2);
    assert!(matches!(
        queue.get(&literal[0]).await,
        Err(Error::NotFound { .. })
    ));
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn cancel_where_stops_running_attempts_as_cancel_does() {
    let server = slow_server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 2, |_, _| 4 * 1024 * 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    for _ in 0..3 {
        wait_for(&mut events, 100, |event| {
            matches!(event, TransferEvent::Started { .. })
        })
        .await;
    }

    let cancelled = queue
        .cancel_where(Selection::in_states([StateKind::Running]))
        .await
        .expect("cancel");
    assert_eq!(cancelled, 3);
    assert_eq!(states_of(&queue, &ids).await, [StateKind::Cancelled; 3]);
    queue.wait_idle().await.expect("idle");
    // At 64 KiB/s a file takes a minute: had an attempt gone on, it would have landed.
    tokio::time::sleep(Duration::from_secs(300)).await;
    for file in &files {
        assert!(server.received(&format!("/{}", file.name)).is_none());
    }
    assert_eq!(server.stats().bodies_stored, 0);
    assert_eq!(states_of(&queue, &ids).await, [StateKind::Cancelled; 3]);
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn retry_where_requeues_failures_with_a_fresh_budget_and_makes_backoffs_due() {
    let server = server_with_faults(FaultPlan::always_status(404, None)).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 5, 3, |_, _| 2048);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let (failing, waiting) = files.split_at(3);
    let failed = enqueue_each(&queue, failing, &server.base_url()).await;
    queue.wait_idle().await.expect("idle");
    assert_eq!(states_of(&queue, &failed).await, [StateKind::Failed; 3]);

    server.set_faults(FaultPlan::default()).expect("faults");
    let mut events = queue.subscribe();
    let retried = queue
        .retry_where(Selection::in_states([StateKind::Failed]))
        .await
        .expect("retry");
    assert_eq!(retried, 3);
    queue.wait_idle().await.expect("idle");
    assert_eq!(states_of(&queue, &failed).await, [StateKind::Succeeded; 3]);
    assert_eq!(
        count_events(&mut events, |event| matches!(
            event,
            TransferEvent::Requeued { .. }
        )),
        3
    );

    // A server that asks for ten minutes: the transfers wait out a backoff, queued.
    server
        .set_faults(FaultPlan::always_status(
            503,
            Some(RetryAfter::Seconds(600)),
        ))
        .expect("faults");
    let backing_off = enqueue_each(&queue, waiting, &server.base_url()).await;
    for _ in 0..backing_off.len() {
        wait_for(&mut events, 100, |event| {
            matches!(event, TransferEvent::Retrying { .. })
        })
        .await;
    }
    server.set_faults(FaultPlan::default()).expect("faults");
    let started = Instant::now();
    let made_due = queue
        .retry_where(Selection::in_states([StateKind::Queued]))
        .await
        .expect("retry");
    assert_eq!(made_due, 2);
    queue.wait_idle().await.expect("idle");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "waited {:?} of virtual time for a retry made due now",
        started.elapsed()
    );
    assert_eq!(
        states_of(&queue, &backing_off).await,
        [StateKind::Succeeded; 2]
    );
    assert_all_received_once(&server, &files);
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

fn with_bearer(files: &[SourceFile], server: &TestServer, token: &str) -> Vec<Upload> {
    files
        .iter()
        .map(|file| {
            Upload::put(&file.path, format!("{}{}", server.base_url(), file.name))
                .with_header("Authorization", format!("Bearer {token}"))
        })
        .collect()
}

/// Issue 23, point 5: a transfer waiting for credentials is renewed where it is, never
/// cancelled and enqueued again, so reruns add no rows.
#[tokio::test(start_paused = true)]
async fn new_headers_renew_a_transfer_waiting_for_credentials_in_place() {
    const FILES: usize = 20;
    let server = TestServer::start(ServerConfig {
        auth: AuthPolicy {
            bearer: Some(BearerPolicy::default()),
            ..AuthPolicy::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 4, |_, _| 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let ids = enqueue_accepted(&queue, with_bearer(&files, &server, "revoked")).await;
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        files_in(&queue, StateKind::AuthRequired).await,
        FILES as u64
    );

    // The same refused credentials again: the same transfers, still waiting.
    let again = enqueue_accepted(&queue, with_bearer(&files, &server, "revoked")).await;
    assert_eq!(again, ids);
    queue.wait_idle().await.expect("idle");
    assert_eq!(
        files_in(&queue, StateKind::AuthRequired).await,
        FILES as u64
    );

    let token = server.issue_token();
    let renewed = enqueue_accepted(&queue, with_bearer(&files, &server, &token)).await;
    assert_eq!(renewed, ids, "renewed in place, under the same ids");
    queue.wait_idle().await.expect("idle");
    assert_eq!(files_in(&queue, StateKind::Succeeded).await, FILES as u64);
    assert_eq!(rows(&queue).await, FILES as u64);
    assert_all_received_once(&server, &files);
    let sent = queue.get(&ids[0]).await.expect("get");
    assert_eq!(
        sent.upload.headers,
        [("Authorization".to_owned(), format!("Bearer {token}"))]
    );
    assert_totals_agree_with_the_transfers(&queue).await;
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test(start_paused = true)]
async fn retry_where_resumes_transfers_waiting_for_credentials() {
    let server = server_with_faults(FaultPlan::always_status(401, None)).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 12, 5, |_, _| 512);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    queue.wait_idle().await.expect("idle");
    assert_eq!(states_of(&queue, &ids).await, [StateKind::AuthRequired; 12]);

    server.set_faults(FaultPlan::default()).expect("faults");
    let retried = queue
        .retry_where(Selection::in_states([StateKind::AuthRequired]))
        .await
        .expect("retry");
    assert_eq!(retried, 12);
    queue.wait_idle().await.expect("idle");
    assert_eq!(states_of(&queue, &ids).await, [StateKind::Succeeded; 12]);
    assert_eq!(rows(&queue).await, 12);
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}

/// 100,000 transfers: cancelled and purged in chunks, while the queue answers other calls
/// between them; the totals stay right. Uploads of one source to many destinations make
/// the rows without 100,000 files.
#[tokio::test]
async fn a_hundred_thousand_transfers_are_cancelled_and_purged_while_the_queue_answers() {
    const TRANSFERS: u64 = 100_000;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 6, |_, _| 10);
    let queue = open_offline(dir.path()).await;
    for batch in 0..10 {
        let uploads = (0..TRANSFERS / 10)
            .map(|index| Upload::put(&files[0].path, format!("{NOWHERE}/n/{batch}/{index}")))
            .collect();
        let results = queue.enqueue_many(uploads).await.expect("enqueue");
        assert!(results.iter().all(Result::is_ok));
    }
    assert_eq!(files_in(&queue, StateKind::Queued).await, TRANSFERS);

    let started = std::time::Instant::now();
    let cancelling = tokio::spawn({
        let queue = queue.clone();
        async move { queue.cancel_where(Selection::all()).await }
    });
    let mut seen_midway = Vec::new();
    for _ in 0..1000 {
        let cancelled = files_in(&queue, StateKind::Cancelled).await;
        if cancelled == TRANSFERS {
            break;
        }
        if cancelled > 0 {
            seen_midway.push(cancelled);
        }
    }
    let cancelled = cancelling.await.expect("task").expect("cancel");
    let cancel_took = started.elapsed();
    assert_eq!(cancelled, TRANSFERS);
    assert!(
        !seen_midway.is_empty(),
        "the queue answered only once the whole cancel was done"
    );
    assert_eq!(files_in(&queue, StateKind::Queued).await, 0);
    assert_eq!(files_in(&queue, StateKind::Cancelled).await, TRANSFERS);

    let started = std::time::Instant::now();
    let purged = queue
        .purge_where(Selection::all(), Duration::ZERO)
        .await
        .expect("purge");
    let purge_took = started.elapsed();
    assert_eq!(purged, TRANSFERS);
    assert_eq!(rows(&queue).await, 0);
    let progress = queue.progress().await.expect("progress");
    assert_eq!(progress.files_total, 0);
    println!(
        "100,000 transfers: cancelled in {cancel_took:?} (answered {} times meanwhile), \
         purged in {purge_took:?}",
        seen_midway.len()
    );
    queue.shutdown().await.expect("shutdown");
}

/// Runs that each upload changed files, with a purge after each, leave a store of at
/// most one run's rows; without the purge every run would add its files again.
#[tokio::test(start_paused = true)]
async fn repeated_runs_with_a_purge_keep_the_store_bounded() {
    const FILES: usize = 30;
    let server = server_with_faults(FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    for run in 0..5 {
        server.forget_uploads();
        // Each run's files are new content (another size): new transfers.
        let files = write_files(&dir.path().join("src"), FILES, run, |_, _| {
            1000 + run as usize
        });
        let ids = enqueue_each(&queue, &files, &server.base_url()).await;
        queue.wait_idle().await.expect("idle");
        assert_eq!(states_of(&queue, &ids).await, [StateKind::Succeeded; FILES]);
        assert_eq!(rows(&queue).await, FILES as u64, "run {run}");
        let purged = queue
            .purge_where(Selection::in_states([StateKind::Succeeded]), Duration::ZERO)
            .await
            .expect("purge");
        assert_eq!(purged, FILES as u64, "run {run}");
        assert_eq!(rows(&queue).await, 0, "run {run}");
        assert_totals_agree_with_the_transfers(&queue).await;
    }
    queue.shutdown().await.expect("shutdown");
}
