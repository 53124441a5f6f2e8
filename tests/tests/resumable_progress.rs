//! Progress is not failure (issue 23, point 12): a resumable upload whose every connection
//! is cut after some megabytes still finishes, with `max_attempts` far below the number of
//! cuts, one retry per cut and every retry waiting no more than the base backoff. And the
//! bound: attempts that move nothing, or only a few bytes each, still use up the budget.
//! Against the testkit's tus endpoint on tokio's paused clock (virtual seconds), and
//! against tusd through a proxy that cuts the connections.

mod support;

use std::time::Duration;

use ferry::{
    FailureKind, QueueConfig, ResumableProtocol, StateKind, Transfer, TransferEvent, TransferQueue,
    Upload,
};
use ferry_testkit::{
    Fault, FaultPlan, ResumableServerConfig, ScriptedFault, ServerConfig, TestServer,
};
use support::big_file::{digest_of, write_big_file};
use support::proxy::CountingProxy;
use support::resumable::resumable_config;
use support::tusd::Tusd;

const MIB: u64 = 1024 * 1024;
const BASE_DELAY: Duration = Duration::from_secs(1);
/// Far fewer than the cuts: without credit for progress the upload would end
/// `AttemptsExhausted`.
const MAX_ATTEMPTS: u32 = 3;

/// One retry the engine announced.
#[derive(Debug)]
struct Retry {
    attempt: u32,
    delay: Duration,
    kind: FailureKind,
}

/// A queue whose `endpoint` speaks tus, with the default backoff (1 s base, 5 min cap) and
/// [`MAX_ATTEMPTS`].
fn config(dir: &std::path::Path, endpoint: &str) -> QueueConfig {
    let mut config = resumable_config(dir, endpoint, ResumableProtocol::Tus, 1);
    config.retry.base_delay = BASE_DELAY;
    config.retry.max_delay = Duration::from_secs(300);
    config.retry.max_attempts = MAX_ATTEMPTS;
    config
}

/// Sends `source` to `endpoint` until it succeeds or fails (at most `limit`), and returns
/// the transfer and every retry announced for it.
async fn send(
    dir: &std::path::Path,
    source: &std::path::Path,
    endpoint: &str,
    limit: Duration,
) -> (Transfer, Vec<Retry>) {
    let queue = TransferQueue::open(config(dir, endpoint))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let id = queue
        .enqueue(Upload::put(source, endpoint))
        .await
        .expect("enqueue");
    let mut retries = Vec::new();
    let ended = tokio::time::timeout(limit, async {
        while let Some(event) = events.next().await {
            match event {
                TransferEvent::Retrying {
                    id: of,
                    attempt,
                    delay,
                    error,
                } if of == id => retries.push(Retry {
                    attempt,
                    delay,
                    kind: error.kind,
                }),
                TransferEvent::Succeeded { id: of, .. } | TransferEvent::Failed { id: of, .. }
                    if of == id =>
                {
                    return;
                }
                _ => {}
            }
        }
        panic!("the queue closed");
    })
    .await;
    let transfer = queue.get(&id).await.expect("get");
    assert!(
        ended.is_ok(),
        "no end within {limit:?}: {transfer:?}, {retries:?}"
    );
    queue.shutdown().await.expect("shutdown");
    (transfer, retries)
}

async fn tus_server(faults: FaultPlan) -> TestServer {
    TestServer::start(ServerConfig {
        faults,
        resumable: ResumableServerConfig {
            // Parts without checksums, as most tus servers take them: what arrived stays.
            tus_checksum_algorithms: Vec::new(),
            ..ResumableServerConfig::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server")
}

fn every(step: u64, below: u64) -> Vec<u64> {
    (1..)
        .map(|n| n * step)
        .take_while(|at| *at < below)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_upload_cut_every_4_mib_finishes_with_one_base_delay_retry_per_cut() {
    const SIZE: u64 = 48 * MIB;
    let cuts = every(4 * MIB, SIZE);
    let server = tus_server(FaultPlan {
        cut_at_offsets: cuts.clone(),
        ..FaultPlan::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("video.mov");
    let digest = write_big_file(&source, SIZE, 12);
    let endpoint = format!("{}videos/video.mov", server.base_url());

    let (transfer, retries) = send(dir.path(), &source, &endpoint, Duration::from_secs(3600)).await;

    assert_eq!(
        transfer.state.kind(),
        StateKind::Succeeded,
        "{transfer:?}, {retries:?}"
    );
    let stats = server.stats().resumable;
    assert_eq!(
        stats.cuts,
        cuts.len() as u64,
        "every cut happened: {stats:?}"
    );
    assert_eq!(stats.uploads_created, 1, "never started again: {stats:?}");
    assert_eq!(
        retries.len(),
        cuts.len(),
        "one retry per cut, no more: {retries:?}"
    );
    assert!(
        retries.iter().all(|retry| retry.delay <= BASE_DELAY),
        "every gap is at most the base delay: {retries:?}"
    );
    assert!(
        retries.iter().all(|retry| retry.attempt <= 2),
        "the count starts over at every advance: {retries:?}"
    );
    let got = server
        .received("/videos/video.mov#video.mov")
        .expect("stored");
    assert_eq!(
        (got.len, got.sha256_hex, got.stored_count),
        (SIZE, digest, 1)
    );
}

/// Sends an 8 MiB file to `server`'s tus endpoint to its end and asserts it ended
/// `AttemptsExhausted` after [`MAX_ATTEMPTS`] attempts; returns the retries announced.
async fn send_until_exhausted(server: &TestServer, seed: u64) -> Vec<Retry> {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("video.mov");
    write_big_file(&source, 8 * MIB, seed);
    let endpoint = format!("{}videos/video.mov", server.base_url());

    let (transfer, retries) = send(dir.path(), &source, &endpoint, Duration::from_secs(3600)).await;

    assert_eq!(transfer.state.kind(), StateKind::Failed, "{transfer:?}");
    let error = transfer.last_error.expect("a reason");
    assert_eq!(error.kind, FailureKind::AttemptsExhausted, "{error}");
    assert_eq!(transfer.attempts, MAX_ATTEMPTS);
    assert_eq!(retries.len() as u32, MAX_ATTEMPTS - 1, "{retries:?}");
    retries
}

#[tokio::test(start_paused = true)]
async fn attempts_that_never_advance_still_use_up_the_budget() {
    // The resource is created; every request to it afterwards loses its connection.
    let server = tus_server(FaultPlan {
        scripted: vec![ScriptedFault::FirstToPath {
            path: "/_uploads/1".into(),
            count: 1000,
            fault: Fault::Reset,
        }],
        ..FaultPlan::default()
    })
    .await;

    let retries = send_until_exhausted(&server, 13).await;

    assert!(
        retries
            .iter()
            .all(|retry| retry.kind == FailureKind::Network),
        "{retries:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_takes_a_few_bytes_per_connection_cannot_keep_an_upload_alive() {
    // Every attempt moves the offset on by 100 bytes: progress, but not enough to count.
    let server = tus_server(FaultPlan {
        cut_at_offsets: every(100, 100 * 100),
        ..FaultPlan::default()
    })
    .await;

    send_until_exhausted(&server, 14).await;

    let stats = server.stats().resumable;
    assert_eq!(
        stats.cuts,
        u64::from(MAX_ATTEMPTS),
        "each attempt moved a little: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_to_tusd_cut_every_8_mib_finishes_with_one_base_delay_retry_per_cut() {
    const SIZE: u64 = 64 * MIB;
    let Some(tusd) = Tusd::start_or_skip("an_upload_to_tusd_cut_every_8_mib_finishes") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("video.mov");
    let digest = write_big_file(&source, SIZE, 15);
    // The proxy counts every byte the client sends (headers too), over all connections:
    // cuts every 8 MiB of them land inside the `PATCH` bodies.
    let cuts = every(8 * MIB, SIZE);
    let proxy = CountingProxy::start(tusd.addr(), cuts.clone()).await;
    let endpoint = proxy.url("/files/");

    let (transfer, retries) = send(dir.path(), &source, &endpoint, Duration::from_secs(600)).await;

    assert_eq!(
        transfer.state.kind(),
        StateKind::Succeeded,
        "{transfer:?}, {retries:?}"
    );
    assert_eq!(proxy.cuts_done(), cuts.len(), "every cut happened");
    println!("tusd: {} retries for {} cuts", retries.len(), cuts.len());
    assert!(
        retries.len() <= cuts.len(),
        "at most one retry per cut: {retries:?}"
    );
    assert!(
        retries.len() as u32 >= MAX_ATTEMPTS,
        "more retries than attempts allowed, so credit for progress was needed: {retries:?}"
    );
    assert!(
        retries.iter().all(|retry| retry.delay <= BASE_DELAY),
        "every gap is at most the base delay: {retries:?}"
    );
    let files = tusd.data_files();
    assert_eq!(files.len(), 1, "one upload resource: {files:?}");
    assert_eq!(digest_of(&files[0]), (digest, SIZE), "byte-identical");
}
