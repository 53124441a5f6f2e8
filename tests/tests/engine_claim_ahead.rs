//! Claiming ahead (`core/src/actor/claim_ahead.rs`): small transfers are committed as
//! running before a request slot is free and wait at the gate. More transfers may be
//! running than the limits, but the server never sees more requests at once, a claimed
//! transfer paused while it waits is never sent, and claims make way for a transfer of
//! higher priority enqueued after them.

mod support;

use std::time::Duration;

use ferry::{Limits, StateKind, TransferQueue};
use ferry_testkit::{DelayFault, FaultPlan, ServerConfig, TestServer};
use support::{
    assert_all_received_once, enqueue_each, quick_config, running_with_claims, write_files,
};

const FILES: usize = 40;
const PER_HOST: usize = 2;

/// A server that holds every request 200 ms (virtual time) before it answers.
async fn server_holding_each_request() -> TestServer {
    TestServer::start(ServerConfig {
        faults: FaultPlan {
            delay: Some(DelayFault {
                probability: 1.0,
                ms: 200,
            }),
            ..FaultPlan::default()
        },
        ..ServerConfig::default()
    })
    .await
    .expect("server")
}

/// [`PER_HOST`] request slots, per host and overall.
fn config_with_few_slots(dir: &std::path::Path) -> ferry::QueueConfig {
    let mut config = quick_config(dir);
    config.limits = Limits {
        per_host: PER_HOST,
        global: PER_HOST,
    };
    config
}

#[tokio::test(start_paused = true)]
async fn claimed_transfers_wait_at_the_gate_and_the_server_sees_no_more_than_the_limit() {
    let server = server_holding_each_request().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 3, |_, _| 4096);
    let queue = TransferQueue::open(config_with_few_slots(dir.path()))
        .await
        .expect("open");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;

    // Let the first requests reach the server (virtual time: the server delays each).
    let running = running_with_claims(&queue, PER_HOST, FILES).await;
    // The last running transfer is still waiting at the gate: pausing it sends nothing.
    let waiting = running.last().expect("a running transfer").id.clone();
    queue.pause(&waiting).await.expect("pause");

    let others_done = async {
        loop {
            let progress = queue.progress().await.expect("progress");
            if progress.files_done == FILES as u64 - 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(600), others_done)
        .await
        .expect("the other transfers finished in virtual time");
    let paused_name = files
        .iter()
        .zip(&ids)
        .find(|(_, id)| **id == waiting)
        .map(|(file, _)| file.name.clone())
        .expect("the paused transfer's file");
    assert!(
        server.received(&format!("/{paused_name}")).is_none(),
        "a transfer paused while it waited at the gate reached the server"
    );
    let paused = queue.get(&waiting).await.expect("get");
    assert_eq!(paused.state.kind(), StateKind::Paused);

    queue.resume(&waiting).await.expect("resume");
    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    let stats = server.stats();
    assert!(
        stats.max_in_flight <= PER_HOST as u64,
        "{} requests in flight, limit {PER_HOST}",
        stats.max_in_flight
    );
    assert_eq!(stats.requests, FILES as u64, "every file was sent once");
    queue.shutdown().await.expect("shutdown");
    server.shutdown().await;
}

/// Claims of low priority wait at the gate when a file of higher priority is enqueued:
/// they give their slots back, so it goes out right after the requests already being
/// sent, not behind every claim.
#[tokio::test(start_paused = true)]
async fn claims_make_way_for_a_file_of_higher_priority_enqueued_after_them() {
    let server = server_holding_each_request().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES + 1, 4, |_, _| 4096);
    let (urgent, routine) = files.split_last().expect("files");
    let queue = TransferQueue::open(config_with_few_slots(dir.path()))
        .await
        .expect("open");
    enqueue_each(&queue, routine, &server.base_url()).await;
    let running = running_with_claims(&queue, PER_HOST, FILES).await;
    let sent_before = server.stats().requests;

    let upload = ferry::Upload::put(
        &urgent.path,
        format!("{}{}", server.base_url(), urgent.name),
    )
    .with_priority(9);
    queue.enqueue(upload).await.expect("enqueue");
    let arrived = async {
        while server.received(&format!("/{}", urgent.name)).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), arrived)
        .await
        .expect("the urgent file arrived in virtual time");
    let sent_since = server.stats().requests - sent_before;
    assert!(
        sent_since <= PER_HOST as u64,
        "{sent_since} requests went out from the urgent file's enqueue to its arrival: \
         the {} claims waiting at the gate went first",
        running.len() - PER_HOST
    );

    queue.wait_idle().await.expect("idle");
    assert_all_received_once(&server, &files);
    assert!(server.stats().max_in_flight <= PER_HOST as u64);
    queue.shutdown().await.expect("shutdown");
    server.shutdown().await;
}
