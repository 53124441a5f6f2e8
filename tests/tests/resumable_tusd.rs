//! tusd, the reference tus server, as the peer for what the 300 MiB test does not cover:
//! its IETF draft support (interop version 6, behind `-enable-experimental-protocol`) and
//! termination when a transfer is cancelled.

mod support;

use std::time::Duration;

use ferry::{ResumableProtocol, StateKind, TransferEvent, TransferQueue, Upload};
use support::big_file::{digest_of, write_big_file};
use support::proxy::CountingProxy;
use support::resumable::{resumable_config, send_once};
use support::tusd::Tusd;

const LIMIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ietf_upload_cut_twice_reaches_tusd_at_interop_version_6() {
    let Some(tusd) = Tusd::start_or_skip("an_ietf_upload_cut_twice_reaches_tusd") else {
        return;
    };
    // Big enough that the socket buffers lost at each cut (up to ~6 MiB on loopback when
    // tusd reads slowly on a loaded machine) stay well below the cost of a restart.
    let size = 96 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("clip.mov");
    let digest = write_big_file(&source, size, 6);
    let proxy = CountingProxy::start(tusd.addr(), vec![size / 10 * 3, size / 10 * 7]).await;
    let endpoint = proxy.url("/files/");
    // tusd speaks interop versions 3 to 6 behind -enable-experimental-protocol.
    let protocol = ResumableProtocol::Ietf { interop_version: 6 };
    let transfer = send_once(dir.path(), &source, &endpoint, protocol, LIMIT).await;

    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    assert_eq!(proxy.cuts_done(), 2);
    let files = tusd.data_files();
    assert_eq!(files.len(), 1, "one upload resource: {files:?}");
    assert_eq!(digest_of(&files[0]), (digest, size), "byte-identical");
    let ratio = proxy.bytes_sent() as f64 / size as f64;
    println!("tusd, IETF interop version 6: {ratio:.4}x the file");
    // The kernel's socket buffers at each cut (megabytes, counted as sent) cost a little;
    // what matters is that no cut restarted from zero, which would cost at least 1.3x
    // here (2.0x for both).
    assert!(ratio < 1.3, "sent {ratio:.4}x the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_tus_upload_terminates_it_on_tusd() {
    let Some(tusd) = Tusd::start_or_skip("cancelling_a_tus_upload_terminates_it_on_tusd") else {
        return;
    };
    let size = 16 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("clip.mov");
    write_big_file(&source, size, 7);
    // Cut at 25%: the transfer waits for its retry with a resource on tusd.
    let proxy = CountingProxy::start(tusd.addr(), vec![size / 4]).await;
    let endpoint = proxy.url("/files/");
    let mut config = resumable_config(dir.path(), &endpoint, ResumableProtocol::Tus, 1);
    config.retry.base_delay = Duration::from_secs(60);
    config.retry.max_delay = Duration::from_secs(60);
    let queue = TransferQueue::open(config).await.expect("open");
    let mut events = queue.subscribe();
    let id = queue
        .enqueue(Upload::put(&source, &endpoint))
        .await
        .expect("enqueue");
    support::wait_for(&mut events, 100_000, |e| {
        matches!(e, TransferEvent::Retrying { .. })
    })
    .await;
    assert_eq!(
        tusd.data_files().len(),
        1,
        "tusd holds the interrupted upload"
    );

    queue.cancel(&id).await.expect("cancel");
    let mut waited = 0;
    while !tusd.data_files().is_empty() {
        assert!(
            waited < 1000,
            "tusd still holds the upload: {:?}",
            tusd.data_files()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    let transfer = queue.get(&id).await.expect("get");
    assert_eq!(transfer.state.kind(), StateKind::Cancelled);
    queue.shutdown().await.expect("shutdown");
}
