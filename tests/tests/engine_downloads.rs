//! Downloads through the real engine against the testkit's file routes: byte-identical
//! arrival, resume from the recorded offset after cuts (bytes served counted), a file
//! changed between attempts, wrong `Content-Range`, a server ignoring `Range`, a 416 at
//! completion, gzip, digest mismatches, conflict rules, idempotent enqueue, and a reopen
//! mid-download.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use ferry::{ConflictRule, Direction, Download, FailureKind, StateKind, TransferId, TransferQueue};
use ferry_testkit::{DownloadFault, RetryAfter, ServerConfig, TestServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use support::{mixed_size, partials_in, quick_config};

const MIB: usize = 1024 * 1024;

fn content(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..size).map(|_| rng.random()).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default())
        .await
        .expect("server")
}

/// Opens a queue in `dir`, enqueues `download`, waits until it is final, returns it.
async fn fetch(queue: &TransferQueue, download: Download) -> ferry::Transfer {
    let id = queue.enqueue_download(download).await.expect("enqueue");
    final_state(queue, &id).await
}

async fn final_state(queue: &TransferQueue, id: &TransferId) -> ferry::Transfer {
    tokio::time::timeout(Duration::from_secs(3600), queue.wait_for(id))
        .await
        .expect("final within an hour of virtual time")
        .expect("final")
}

/// The offset a request resumed from (its `Range: bytes=N-`).
fn resumed_from(request: &ferry_testkit::FileRequest) -> usize {
    request
        .range
        .as_deref()
        .and_then(|range| range.strip_prefix("bytes="))
        .and_then(|range| range.strip_suffix('-'))
        .and_then(|from| from.parse().ok())
        .expect("a ranged request")
}

fn ratio(served: u64, size: usize) -> f64 {
    served as f64 / size as f64
}

#[tokio::test(start_paused = true)]
async fn a_mixed_set_arrives_byte_identical_with_no_partial_left() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let into = dir.path().join("in");
    std::fs::create_dir(&into).expect("mkdir");
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut rng = StdRng::seed_from_u64(21);
    let mut expected = Vec::new();
    for index in 0..150 {
        let bytes = content(mixed_size(index, &mut rng), index as u64);
        let name = format!("f{index}.bin");
        server.serve_file(&name, bytes.clone());
        expected.push((name, bytes));
    }
    let downloads = expected
        .iter()
        .map(|(name, _)| Download::new(server.file_url(name), into.join(name)))
        .collect();
    let results = queue.enqueue_downloads(downloads).await.expect("enqueue");
    assert!(results.iter().all(Result::is_ok));
    queue.wait_idle().await.expect("idle");
    let done = queue
        .list(Some(StateKind::Succeeded), 0, 1000)
        .await
        .expect("list");
    assert_eq!(done.len(), expected.len());
    for transfer in &done {
        assert_eq!(transfer.direction, Direction::Download);
        assert_eq!(transfer.saved_as.as_ref(), Some(&transfer.upload.source));
    }
    let mut served = 0;
    for (name, bytes) in &expected {
        assert_eq!(
            &std::fs::read(into.join(name)).expect("file"),
            bytes,
            "{name}"
        );
        served += server.bytes_served(name);
    }
    let total: usize = expected.iter().map(|(_, bytes)| bytes.len()).sum();
    assert_eq!(served, total as u64, "each byte served once");
    assert!(partials_in(&into).is_empty());
    // Enqueued without a size, each is recorded with the length its server gave.
    for transfer in &done {
        let name = transfer.upload.source.file_name().expect("name");
        let length = std::fs::metadata(into.join(name)).expect("file").len();
        assert_eq!(transfer.size, length, "{name:?}");
    }
    let progress = queue.progress().await.expect("progress");
    assert_eq!(progress.bytes_total, total as u64);
    assert_eq!(progress.bytes_done, total as u64);
    support::assert_totals_agree_with_the_transfers(&queue).await;
}

#[tokio::test(start_paused = true)]
async fn cuts_at_10_50_and_90_percent_resume_from_the_recorded_offset() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let size = 20 * MIB;
    let bytes = content(size, 1);
    server.serve_file("big", bytes.clone());
    // Each cut counts the bytes of its own answer: 10%, then 50%, then 90% of the file.
    server.add_download_faults(
        "big",
        vec![
            DownloadFault::ResetAfter(2 * MIB as u64),
            DownloadFault::ResetAfter(8 * MIB as u64),
            DownloadFault::ResetAfter(8 * MIB as u64),
        ],
    );
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("big.bin");
    let done = fetch(&queue, Download::new(server.file_url("big"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    let requests = server.file_requests("big");
    assert_eq!(requests.len(), 4, "{requests:?}");
    // Each attempt continues where the one before got (bytes the server handed over just
    // before a cut may never have arrived: at most a little less than the cut point).
    let etag = "\"v1-20971520\"";
    let mut previous = 0;
    for (request, cut_after) in requests[1..].iter().zip([2 * MIB, 8 * MIB, 8 * MIB]) {
        let cut = previous + cut_after;
        let from = resumed_from(request);
        assert!(
            from <= cut && from + MIB / 2 > cut,
            "{from} for a cut at {cut}"
        );
        previous = from;
        assert_eq!(request.if_range.as_deref(), Some(etag));
        assert_eq!(request.status, 206);
    }
    let served = server.bytes_served("big");
    println!(
        "three cuts: {served} bytes served for {size}, {:.4}x",
        ratio(served, size)
    );
    assert!(ratio(served, size) <= 1.05, "{served}");
}

#[tokio::test(start_paused = true)]
async fn a_file_changed_between_attempts_is_fetched_again_whole_and_arrives_new() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let old = content(4 * MIB, 2);
    let new = content(3 * MIB, 3);
    server.serve_file("f", old);
    server.add_download_faults(
        "f",
        vec![DownloadFault::ReplaceAfter {
            bytes: MIB as u64,
            with: new.clone(),
        }],
    );
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let done = fetch(&queue, Download::new(server.file_url("f"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded);
    assert_eq!(std::fs::read(&path).expect("file"), new);
    let requests = server.file_requests("f");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].if_range.as_deref(), Some("\"v1-4194304\""));
    assert_eq!(
        requests[1].status, 200,
        "If-Range no longer holds: the whole file"
    );
    assert_eq!(server.bytes_served("f"), (MIB + 3 * MIB) as u64);
}

#[tokio::test(start_paused = true)]
async fn a_wrong_content_range_is_discarded_and_the_file_fetched_from_zero() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let bytes = content(3 * MIB, 4);
    server.serve_file("f", bytes.clone());
    server.add_download_faults(
        "f",
        vec![
            DownloadFault::ResetAfter(MIB as u64),
            DownloadFault::WrongContentRange,
        ],
    );
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let done = fetch(&queue, Download::new(server.file_url("f"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded);
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    let requests = server.file_requests("f");
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[1].status, 206);
    assert_eq!(requests[2].range, None, "asked again from zero");
    assert_eq!(requests[2].status, 200);
}

#[tokio::test(start_paused = true)]
async fn a_server_ignoring_range_is_restarted_from_zero_never_appended_and_remembered() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let size = 3 * MIB;
    let bytes = content(size, 5);
    server.serve_file("f", bytes.clone());
    server.add_download_faults(
        "f",
        vec![
            DownloadFault::ResetAfter(MIB as u64),
            DownloadFault::IgnoreRange,
        ],
    );
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let done = fetch(&queue, Download::new(server.file_url("f"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded);
    assert_eq!(
        std::fs::read(&path).expect("file"),
        bytes,
        "no append of a 200"
    );
    let requests = server.file_requests("f");
    assert!(resumed_from(&requests[1]) <= MIB);
    assert_eq!(requests[1].status, 200);
    assert_eq!(server.bytes_served("f"), (MIB + size) as u64);

    // The file is remembered, not its server: fetched again (to another name) and cut
    // part-way, it is asked for from zero, with no Range it would ignore...
    server.add_download_faults("f", vec![DownloadFault::ResetAfter(MIB as u64)]);
    let again = dir.path().join("f again");
    let done = fetch(&queue, Download::new(server.file_url("f"), &again)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded);
    assert_eq!(std::fs::read(&again).expect("file"), bytes);
    let requests = server.file_requests("f");
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(
        requests[2..].iter().all(|request| request.range.is_none()),
        "{requests:?}"
    );
    // ...while another file on the same server still resumes where it was cut.
    server.serve_file("g", bytes.clone());
    server.add_download_faults("g", vec![DownloadFault::ResetAfter(MIB as u64)]);
    let other = dir.path().join("g");
    let done = fetch(&queue, Download::new(server.file_url("g"), &other)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded);
    assert_eq!(std::fs::read(&other).expect("file"), bytes);
    let requests = server.file_requests("g");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].status, 206, "{requests:?}");
    assert!(resumed_from(&requests[1]) > 0, "{requests:?}");
}

#[tokio::test(start_paused = true)]
async fn a_416_for_exactly_what_is_held_completes_the_download() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let bytes = content(2 * MIB, 6);
    server.serve_file("f", bytes.clone());
    server.add_download_faults("f", vec![DownloadFault::ResetAtEnd]);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let done = fetch(&queue, Download::new(server.file_url("f"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    let requests = server.file_requests("f");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].status, 416);
    assert_eq!(
        server.bytes_served("f"),
        bytes.len() as u64,
        "nothing fetched twice"
    );
}

#[tokio::test(start_paused = true)]
async fn identity_is_asked_and_a_gzipped_answer_is_decoded() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let bytes = b"compressible ".repeat(50_000);
    server.serve_file("f", bytes.clone());
    server.add_download_faults("f", vec![DownloadFault::Gzip]);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let done = fetch(
        &queue,
        Download::new(server.file_url("f"), &path).with_sha256(sha256_hex(&bytes)),
    )
    .await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    let requests = server.file_requests("f");
    assert_eq!(requests[0].accept_encoding.as_deref(), Some("identity"));
    assert!(
        server.bytes_served("f") < bytes.len() as u64 / 10,
        "gzip was served"
    );
}

#[tokio::test(start_paused = true)]
async fn a_digest_mismatch_is_fetched_again_once_then_fails_with_its_own_reason() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let bytes = content(MIB, 7);
    server.serve_file("f", bytes.clone());
    server.add_download_faults("f", vec![DownloadFault::CorruptByte]);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let good = Download::new(server.file_url("f"), &path).with_sha256(sha256_hex(&bytes));
    let done = fetch(&queue, good).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    assert_eq!(server.file_requests("f").len(), 2, "fetched again once");

    let other = dir.path().join("g");
    let wrong = Download::new(server.file_url("f"), &other).with_sha256("00".repeat(32));
    let failed = fetch(&queue, wrong).await;
    assert_eq!(failed.state, ferry::TransferState::Failed);
    let error = failed.last_error.expect("error");
    assert_eq!(error.kind, FailureKind::DigestMismatch, "{error}");
    assert_eq!(
        server.file_requests("f").len(),
        4,
        "two more fetches, no third"
    );
    assert!(!other.exists(), "a wrong file is never put in place");
    assert_eq!(
        partials_in(dir.path()),
        Vec::<PathBuf>::new(),
        "a download that failed for good leaves no partial file"
    );
}

#[tokio::test(start_paused = true)]
async fn conflict_rules_replace_keep_both_or_fail() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let bytes = content(100_000, 8);
    server.serve_file("f", bytes.clone());
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let url = server.file_url("f");

    let replaced = dir.path().join("replace.txt");
    std::fs::write(&replaced, b"old").expect("old");
    let done = fetch(&queue, Download::new(&url, &replaced)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded);
    assert_eq!(std::fs::read(&replaced).expect("file"), bytes);

    let kept = dir.path().join("keep.txt");
    std::fs::write(&kept, b"old").expect("old");
    let rule = Download::new(&url, &kept).on_conflict(ConflictRule::KeepBoth);
    let done = fetch(&queue, rule).await;
    let beside = dir.path().join("keep (1).txt");
    assert_eq!(done.saved_as.as_ref(), Some(&beside));
    assert_eq!(std::fs::read(&kept).expect("old kept"), b"old");
    assert_eq!(std::fs::read(&beside).expect("new beside"), bytes);

    let refused = dir.path().join("fail.txt");
    std::fs::write(&refused, b"old").expect("old");
    let rule = Download::new(&url, &refused).on_conflict(ConflictRule::Fail);
    let served_before = server.bytes_served("f");
    let done = fetch(&queue, rule).await;
    assert_eq!(done.state, ferry::TransferState::Failed);
    assert_eq!(
        server.bytes_served("f"),
        served_before,
        "a destination already taken fails the download before anything is fetched"
    );
    let error = done.last_error.expect("error");
    assert_eq!(error.kind, FailureKind::DestinationExists, "{error}");
    assert_eq!(std::fs::read(&refused).expect("old kept"), b"old");
    assert_eq!(
        partials_in(dir.path()),
        Vec::<PathBuf>::new(),
        "the refused download's bytes do not stay beside the file"
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_url_to_the_same_file_is_one_transfer() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    server.serve_file("f", content(10_000, 9));
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let url = server.file_url("f");
    let path = dir.path().join("f");
    let first = queue
        .enqueue_download(Download::new(&url, &path))
        .await
        .expect("enqueue");
    let again = queue
        .enqueue_download(Download::new(&url, &path).with_priority(5))
        .await
        .expect("enqueue again");
    assert_eq!(first, again, "pending: the same transfer");
    final_state(&queue, &first).await;
    let after = queue
        .enqueue_download(Download::new(&url, &path))
        .await
        .expect("after success");
    assert_eq!(first, after, "succeeded: the same transfer");
    let elsewhere = queue
        .enqueue_download(Download::new(&url, dir.path().join("g")))
        .await
        .expect("elsewhere");
    assert_ne!(first, elsewhere);
    final_state(&queue, &elsewhere).await;
    assert_eq!(server.file_requests("f").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_503_with_retry_after_and_a_stall_are_waited_out_as_for_uploads() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let bytes = content(2 * MIB, 10);
    server.serve_file("f", bytes.clone());
    server.add_download_faults(
        "f",
        vec![
            DownloadFault::Status {
                code: 503,
                retry_after: Some(RetryAfter::Seconds(7)),
            },
            DownloadFault::StallAfter {
                bytes: MIB as u64,
                hold_ms: 3_600_000,
            },
        ],
    );
    let mut config = quick_config(dir.path());
    config.stall_timeout = Duration::from_secs(20);
    let queue = TransferQueue::open(config).await.expect("open");
    let path = dir.path().join("f");
    let started = tokio::time::Instant::now();
    let done = fetch(&queue, Download::new(server.file_url("f"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    assert!(
        started.elapsed() >= Duration::from_secs(27),
        "Retry-After, then a stall"
    );
    let requests = server.file_requests("f");
    assert_eq!(requests.len(), 3);
    let from = resumed_from(&requests[2]);
    assert!(from <= MIB && from > MIB / 2, "{from}");
}

#[tokio::test(start_paused = true)]
async fn a_reopened_queue_resumes_from_the_recorded_offset() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let size = 20 * MIB;
    let bytes = content(size, 11);
    server.serve_file("f", bytes.clone());
    server.add_download_faults(
        "f",
        vec![DownloadFault::StallAfter {
            bytes: 10 * MIB as u64,
            hold_ms: 3_600_000,
        }],
    );
    let mut config = quick_config(dir.path());
    config.stall_timeout = Duration::from_secs(600);
    let path = dir.path().join("f");
    let id = {
        let queue = TransferQueue::open(config.clone()).await.expect("open");
        let id = queue
            .enqueue_download(Download::new(server.file_url("f"), &path))
            .await
            .expect("enqueue");
        for _ in 0..10_000 {
            let seen = queue.get(&id).await.expect("get").bytes_sent;
            if seen >= 10 * MIB as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.bytes_served("f"), 10 * MIB as u64);
        // The body pauses: after a second without bytes, those held are checkpointed.
        tokio::time::sleep(Duration::from_secs(3)).await;
        queue.shutdown().await.expect("shutdown");
        id
    };
    let queue = TransferQueue::open(config).await.expect("reopen");
    let done = final_state(&queue, &id).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    let requests = server.file_requests("f");
    assert_eq!(requests.len(), 2);
    // Every byte before the pause was checkpointed while the body waited (before, only
    // the one every 8 MiB was, and the reopened queue fetched up to 2 MiB again).
    let from = resumed_from(&requests[1]);
    assert_eq!(from, 10 * MIB, "resumed from {from}");
    let served = server.bytes_served("f");
    println!(
        "reopen: {served} bytes served for {size}, {:.4}x",
        ratio(served, size)
    );
    assert!(ratio(served, size) <= 1.15);
    assert!(partials_in(dir.path()).is_empty());
}

/// A resumed download's progress counts the bytes its file already holds: it never seems to
/// start over (an app's bar, or the CLI's patience, which waits for a new high of bytes).
#[tokio::test(start_paused = true)]
async fn a_resumed_download_shows_the_bytes_it_holds_plus_those_arriving() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let size = 8 * MIB;
    let bytes = content(size, 12);
    server.serve_file("f", bytes.clone());
    server.add_download_faults(
        "f",
        vec![
            DownloadFault::ResetAfter(2 * MIB as u64),
            DownloadFault::PauseAfter {
                bytes: MIB as u64,
                hold_ms: 30_000,
            },
        ],
    );
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let path = dir.path().join("f");
    let id = queue
        .enqueue_download(Download::new(server.file_url("f"), &path))
        .await
        .expect("enqueue");
    // The second answer pauses after 1 MiB: the file holds 3 MiB.
    for _ in 0..10_000 {
        if server.bytes_served("f") >= 3 * MIB as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.bytes_served("f"), 3 * MIB as u64);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // What the first answer left (what reached the file before the reset).
    let held = resumed_from(&server.file_requests("f")[1]) as u64;
    assert!(held > 0 && held <= 2 * MIB as u64, "{held}");
    let paused = queue.get(&id).await.expect("get");
    assert_eq!(paused.state.kind(), StateKind::Running, "{paused:?}");
    assert_eq!(
        paused.bytes_sent,
        held + MIB as u64,
        "the bytes held from the first answer and 1 MiB of the second"
    );
    let done = final_state(&queue, &id).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
}

#[tokio::test(start_paused = true)]
async fn cuts_after_bytes_arrived_do_not_count_against_the_host() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let size = 8 * MIB;
    let bytes = content(size, 31);
    server.serve_file("cut", bytes.clone());
    server.add_download_faults(
        "cut",
        vec![
            DownloadFault::ResetAfter(MIB as u64),
            DownloadFault::ResetAfter(MIB as u64),
            DownloadFault::ResetAfter(MIB as u64),
        ],
    );
    let mut config = quick_config(dir.path());
    // Two failures in a row would shut the host for ten minutes.
    config.breaker = ferry::BreakerPolicy {
        failure_threshold: 2,
        cooldown: Duration::from_secs(600),
        max_cooldown: Duration::from_secs(600),
    };
    let queue = TransferQueue::open(config).await.expect("open");
    let path = dir.path().join("cut.bin");
    let started = tokio::time::Instant::now();
    let done = fetch(&queue, Download::new(server.file_url("cut"), &path)).await;
    assert_eq!(done.state, ferry::TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&path).expect("file"), bytes);
    assert_eq!(server.file_requests("cut").len(), 4);
    // Each cut came after bytes that were kept: the host answered, its breaker stayed
    // shut, and no attempt waited out a cooldown (virtual time).
    assert!(
        started.elapsed() < Duration::from_secs(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_size_the_server_told_counts_while_the_download_waits() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let size = 4 * MIB;
    server.serve_file("told", content(size, 41));
    // Cut after a mebibyte (whose checkpoint records the length), then asked to wait.
    server.add_download_faults(
        "told",
        vec![
            DownloadFault::ResetAfter(MIB as u64),
            DownloadFault::Status {
                code: 503,
                retry_after: Some(RetryAfter::Seconds(600)),
            },
        ],
    );
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let id = queue
        .enqueue_download(Download::new(
            server.file_url("told"),
            dir.path().join("told.bin"),
        ))
        .await
        .expect("enqueue");
    let waiting = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            if server.file_requests("told").len() >= 2 {
                let transfer = queue.get(&id).await.expect("get");
                if transfer.state.kind() == StateKind::Queued {
                    return transfer;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("waits for its Retry-After within two minutes of virtual time");
    assert_eq!(waiting.size, size as u64, "enqueued without a size");
    let progress = queue.progress().await.expect("progress");
    assert_eq!(progress.bytes_total, size as u64);
    support::assert_totals_agree_with_the_transfers(&queue).await;
}
