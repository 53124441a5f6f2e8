//! Every error path of resumable uploads, against the testkit's tus and IETF endpoints:
//! 409 re-syncs, 404/410 create the upload again, 413 with `Upload-Limit` fails typed or
//! makes parts smaller, `max-append-size` is honoured, tus checksums pick sha256 where
//! offered, cancelling deletes the resource, and a relaunched queue continues from the
//! server's offset.

mod support;

use std::time::Duration;

use ferry::{FailureKind, ResumableProtocol, StateKind, TransferEvent, TransferQueue, Upload};
use ferry_testkit::{
    Fault, FaultPlan, ResumableServerConfig, ScriptedFault, ServerConfig, SlowReadFault, TestServer,
};
use support::big_file::write_big_file;
use support::resumable::{resumable_config, send_once};

const MIB: u64 = 1024 * 1024;
const LIMIT: Duration = Duration::from_secs(120);
const IETF: ResumableProtocol = ResumableProtocol::Ietf {
    interop_version: ferry::IETF_LATEST_INTEROP_VERSION,
};

async fn server(resumable: ResumableServerConfig, faults: FaultPlan) -> TestServer {
    TestServer::start(ServerConfig {
        faults,
        resumable,
        ..ServerConfig::default()
    })
    .await
    .expect("server")
}

fn on_request(n: u64, fault: Fault) -> FaultPlan {
    FaultPlan {
        scripted: vec![ScriptedFault::Request { n, fault }],
        ..FaultPlan::default()
    }
}

fn status(code: u16) -> Fault {
    Fault::Status {
        code,
        retry_after: None,
    }
}

/// Sends one file of `len` bytes to `/up/file.bin` and returns the transfer, the key the
/// server stores it under, and the file's digest.
async fn send_one(
    server: &TestServer,
    protocol: ResumableProtocol,
    len: u64,
) -> (ferry::Transfer, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("file.bin");
    let digest = write_big_file(&source, len, len);
    let endpoint = format!("{}up/file.bin", server.base_url());
    let transfer = send_once(dir.path(), &source, &endpoint, protocol, LIMIT).await;
    let key = match protocol {
        ResumableProtocol::Tus => "/up/file.bin#file.bin".to_owned(),
        ResumableProtocol::Ietf { .. } => "/up/file.bin".to_owned(),
    };
    (transfer, key, digest)
}

fn assert_stored_once(server: &TestServer, key: &str, len: u64, digest: &str) {
    let got = server
        .received(key)
        .unwrap_or_else(|| panic!("{key} never arrived"));
    assert_eq!(
        (got.len, got.sha256_hex.as_str(), got.stored_count),
        (len, digest, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_conflict_is_resynced_with_head_within_the_same_attempt() {
    // Request 1 creates, request 2 is the first PATCH: it gets 409.
    let server = server(ResumableServerConfig::default(), on_request(2, status(409))).await;
    let (transfer, key, digest) = send_one(&server, ResumableProtocol::Tus, 2 * MIB).await;
    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    assert_eq!(transfer.attempts, 1, "a 409 is re-synced, not retried");
    let stats = server.stats().resumable;
    assert_eq!(
        (stats.head_requests, stats.uploads_created),
        (1, 1),
        "{stats:?}"
    );
    assert_stored_once(&server, &key, 2 * MIB, &digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_on_a_part_creates_the_upload_again() {
    let server = server(ResumableServerConfig::default(), on_request(2, status(404))).await;
    let (transfer, key, digest) = send_one(&server, IETF, 2 * MIB).await;
    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    assert_eq!(transfer.attempts, 1);
    assert_eq!(server.stats().resumable.uploads_created, 2);
    assert_stored_once(&server, &key, 2 * MIB, &digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_gone_410_after_an_interruption_is_created_again() {
    // Request 2 (the PATCH) is cut at 1 MiB; the next attempt's HEAD (request 3) gets 410.
    // (The cut part carried a checksum, so the server dropped it whole: offset 0.)
    let mut faults = on_request(3, status(410));
    faults.cut_at_offsets = vec![MIB];
    let server = server(ResumableServerConfig::default(), faults).await;
    let (transfer, key, digest) = send_one(&server, ResumableProtocol::Tus, 2 * MIB).await;
    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    assert_eq!(transfer.attempts, 2, "one interruption, one retry");
    let stats = server.stats().resumable;
    assert_eq!((stats.cuts, stats.uploads_created), (1, 2), "{stats:?}");
    assert_eq!(stats.patch_offsets, [0, 0], "the new upload starts at zero");
    assert_stored_once(&server, &key, 2 * MIB, &digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_servers_max_size_fails_with_upload_too_large() {
    for protocol in [ResumableProtocol::Tus, IETF] {
        let limits = ResumableServerConfig {
            max_size: Some(MIB),
            ..ResumableServerConfig::default()
        };
        let server = server(limits, FaultPlan::default()).await;
        let (transfer, _, _) = send_one(&server, protocol, 2 * MIB).await;
        assert_eq!(transfer.state.kind(), StateKind::Failed, "{protocol:?}");
        assert_eq!(transfer.attempts, 1, "{protocol:?}: no retry can fix it");
        let error = transfer.last_error.expect("an error");
        assert_eq!(
            error.kind,
            FailureKind::UploadTooLarge,
            "{protocol:?}: {error}"
        );
        assert_eq!(error.http_status, Some(413));
        assert!(error.message.contains("1048576"), "says the limit: {error}");
        assert_eq!(server.stats().resumable.uploads_created, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_append_size_is_honoured_by_sending_smaller_parts() {
    let limits = ResumableServerConfig {
        max_append_size: Some(256 * 1024),
        ..ResumableServerConfig::default()
    };
    let server = server(limits, FaultPlan::default()).await;
    let (transfer, key, digest) = send_one(&server, IETF, MIB + 100).await;
    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    let stats = server.stats().resumable;
    assert_eq!(stats.patch_requests, 5, "{stats:?}");
    assert!(stats.largest_patch <= 256 * 1024, "{stats:?}");
    assert_eq!(
        server.stats().by_status.get(&413),
        None,
        "no part was refused"
    );
    assert_stored_once(&server, &key, MIB + 100, &digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_with_upload_limit_on_a_part_makes_the_parts_smaller() {
    // The server does not announce its limits: the client learns them from the 413.
    let limits = ResumableServerConfig {
        max_append_size: Some(256 * 1024),
        announce_limits: false,
        ..ResumableServerConfig::default()
    };
    let server = server(limits, FaultPlan::default()).await;
    let (transfer, key, digest) = send_one(&server, IETF, MIB).await;
    assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{transfer:?}");
    assert_eq!(transfer.attempts, 1);
    let stats = server.stats();
    assert_eq!(stats.by_status.get(&413), Some(&1), "{stats:?}");
    assert_eq!(
        stats.resumable.patch_requests,
        1 + 4,
        "{:?}",
        stats.resumable
    );
    assert_stored_once(&server, &key, MIB, &digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_checksums_use_sha256_where_offered_sha1_otherwise_and_none_without_the_extension() {
    let len = 20 * MIB; // three parts of at most 8 MiB while checksums are on
    for (offered, expected_parts) in [
        (vec!["sha1", "sha256"], Some(("sha256", 3))),
        (vec!["sha1"], Some(("sha1", 3))),
        (vec![], None),
    ] {
        let config = ResumableServerConfig {
            tus_checksum_algorithms: offered.iter().map(|a| a.to_string()).collect(),
            ..ResumableServerConfig::default()
        };
        let server = server(config, FaultPlan::default()).await;
        let (transfer, key, digest) = send_one(&server, ResumableProtocol::Tus, len).await;
        assert_eq!(transfer.state.kind(), StateKind::Succeeded, "{offered:?}");
        let stats = server.stats().resumable;
        match expected_parts {
            Some((algorithm, parts)) => {
                assert_eq!(stats.checksums.get(algorithm), Some(&parts), "{offered:?}");
                assert_eq!(stats.checksums.len(), 1, "{offered:?}: {stats:?}");
                assert_eq!(stats.patch_requests, parts);
            }
            None => {
                assert!(stats.checksums.is_empty(), "{stats:?}");
                assert_eq!(stats.patch_requests, 1, "one part without checksums");
            }
        }
        assert_eq!(stats.checksum_mismatches, 0);
        assert_stored_once(&server, &key, len, &digest);
    }
}

fn slow(bytes_per_second: u64) -> FaultPlan {
    FaultPlan {
        slow_read: Some(SlowReadFault {
            probability: 1.0,
            bytes_per_second,
        }),
        ..FaultPlan::default()
    }
}

/// Polls the server until `check` holds, for at most 30 s.
async fn until(server: &TestServer, what: &str, check: impl Fn(&ferry_testkit::Stats) -> bool) {
    for _ in 0..3000 {
        if check(&server.stats()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}: {:?}", server.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_resumable_upload_deletes_its_resource_on_the_server() {
    for protocol in [ResumableProtocol::Tus, IETF] {
        let server = server(ResumableServerConfig::default(), slow(2 * MIB)).await;
        let dir = tempfile::tempdir().expect("dir");
        let source = dir.path().join("file.bin");
        write_big_file(&source, 16 * MIB, 5);
        let endpoint = format!("{}up/file.bin", server.base_url());
        let queue = TransferQueue::open(resumable_config(dir.path(), &endpoint, protocol, 1))
            .await
            .expect("open");
        let mut events = queue.subscribe();
        let id = queue
            .enqueue(Upload::put(&source, &endpoint))
            .await
            .expect("enqueue");
        until(&server, "the first part to flow", |s| {
            s.resumable.patch_requests == 1 && s.bytes_received > 0
        })
        .await;
        queue.cancel(&id).await.expect("cancel");
        support::wait_for(
            &mut events,
            10_000,
            |e| matches!(e, TransferEvent::Cancelled { id: done } if *done == id),
        )
        .await;
        until(&server, "the DELETE", |s| s.resumable.terminated == 1).await;
        assert_eq!(server.stats().resumable.uploads_created, 1, "{protocol:?}");
        assert!(
            server.received_all().is_empty(),
            "{protocol:?}: nothing completed"
        );
        queue.shutdown().await.expect("shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relaunched_queue_continues_from_the_servers_offset() {
    let len = 16 * MIB;
    let server = server(ResumableServerConfig::default(), slow(4 * MIB)).await;
    let dir = tempfile::tempdir().expect("dir");
    let source = dir.path().join("file.bin");
    let digest = write_big_file(&source, len, 6);
    let endpoint = format!("{}up/file.bin", server.base_url());
    let config = resumable_config(dir.path(), &endpoint, IETF, 1);

    let queue = TransferQueue::open(config.clone()).await.expect("open");
    queue
        .enqueue(Upload::put(&source, &endpoint))
        .await
        .expect("enqueue");
    until(&server, "a third of the file", |s| {
        s.bytes_received >= len / 3
    })
    .await;
    // The server keeps what it read; a chunk in flight at the shutdown may be lost.
    queue.shutdown().await.expect("shutdown");
    drop(queue);
    server.set_faults(FaultPlan::default()).expect("plan");
    // On a loaded machine the first run may have resynced too (a stall, then a HEAD):
    // what follows counts only what the relaunch did.
    let before_relaunch = server.stats().resumable;

    let queue = TransferQueue::open(config).await.expect("reopen");
    let mut events = queue.subscribe();
    support::wait_for(&mut events, 100_000, |e| {
        matches!(e, TransferEvent::Succeeded { .. })
    })
    .await;
    queue.shutdown().await.expect("shutdown");

    let stats = server.stats();
    assert_eq!(stats.resumable.uploads_created, 1, "{:?}", stats.resumable);
    assert_eq!(
        stats.resumable.head_requests - before_relaunch.head_requests,
        1,
        "the relaunch asked for the offset once: before {before_relaunch:?}, after {:?}",
        stats.resumable
    );
    let resumed_at = stats.resumable.patch_offsets[before_relaunch.patch_offsets.len()];
    assert!(
        resumed_at >= len / 4,
        "resumed at {resumed_at}, not from zero"
    );
    assert!(
        stats.bytes_received <= len + len / 10,
        "{} body bytes for a {len}-byte file",
        stats.bytes_received
    );
    assert_stored_once(&server, "/up/file.bin", len, &digest);
}
