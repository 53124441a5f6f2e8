//! Claiming ahead (`core/src/actor/claim_ahead.rs`): small transfers are committed as
//! running before a request slot is free and wait at the gate. More transfers may be
//! running than the limits, but the server never sees more requests at once, and a
//! claimed transfer paused while it waits is never sent.

mod support;

use std::time::Duration;

use ferry::{Limits, StateKind, TransferQueue};
use ferry_testkit::{DelayFault, FaultPlan, ServerConfig, TestServer};
use support::{assert_all_received_once, enqueue_each, quick_config, write_files};

const FILES: usize = 40;
const PER_HOST: usize = 2;

#[tokio::test(start_paused = true)]
async fn claimed_transfers_wait_at_the_gate_and_the_server_sees_no_more_than_the_limit() {
    let server = TestServer::start(ServerConfig {
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
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 3, |_, _| 4096);
    let mut config = quick_config(dir.path());
    config.limits = Limits {
        per_host: PER_HOST,
        global: PER_HOST,
    };
    let queue = TransferQueue::open(config).await.expect("open");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;

    // Let the first requests reach the server (virtual time: the server delays each).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let running = queue
        .list(Some(StateKind::Running), 0, FILES as u64)
        .await
        .expect("list");
    assert!(
        running.len() > PER_HOST,
        "{} running: nothing was claimed ahead of the {PER_HOST} slots",
        running.len()
    );
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
        server.received(&paused_name).is_none(),
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
