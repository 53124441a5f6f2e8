//! 2,000 files of mixed sizes reach the server byte-identical over HTTP/1.1 and HTTP/2,
//! and the server never sees more requests in flight than the limits allow.

mod support;

use ferry::{HttpVersionPolicy, StateKind, TransferQueue, Upload};
use ferry_testkit::{ServerConfig, TestServer};
use support::{assert_all_received_once, mixed_size, quick_config, write_files};

const FILES: usize = 2_000;

async fn deliver_all(tls: bool, http_version: HttpVersionPolicy) -> ferry_testkit::Stats {
    let server = TestServer::start(ServerConfig {
        tls,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 7, mixed_size);
    let mut config = quick_config(dir.path());
    config.http_version = http_version;
    config
        .extra_root_certificates_pem
        .extend(server.ca_certificate_pem());
    let queue = TransferQueue::open(config).await.expect("open");

    let uploads = files
        .iter()
        .map(|file| Upload::put(&file.path, format!("{}{}", server.base_url(), file.name)))
        .collect();
    let results = queue.enqueue_many(uploads).await.expect("enqueue");
    assert_eq!(
        results.iter().filter(|result| result.is_ok()).count(),
        FILES
    );
    queue.wait_idle().await.expect("idle");

    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 10 * FILES as u64)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), FILES);
    let progress = queue.progress().await.expect("progress");
    assert_eq!(progress.files_done, FILES as u64);
    assert_eq!(progress.bytes_done, progress.bytes_total);
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
    let stats = server.stats();
    server.shutdown().await;
    stats
}

fn assert_limits_held(stats: &ferry_testkit::Stats) {
    let limits = ferry::Limits::default();
    for (host, host_stats) in &stats.per_host {
        assert!(
            host_stats.max_in_flight <= limits.per_host as u64,
            "{host}: {} in flight, limit {}",
            host_stats.max_in_flight,
            limits.per_host
        );
        assert!(
            host_stats.max_in_flight >= 2,
            "{host}: requests ran concurrently"
        );
    }
    assert!(stats.max_in_flight <= limits.global as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_mixed_files_arrive_intact_over_http1_within_the_host_limit() {
    let stats = deliver_all(false, HttpVersionPolicy::Http1Only).await;
    assert_eq!(stats.http1_requests, FILES as u64);
    assert_limits_held(&stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_mixed_files_arrive_intact_over_http2_within_the_host_limit() {
    let stats = deliver_all(true, HttpVersionPolicy::Negotiate).await;
    assert_eq!(stats.http2_requests, FILES as u64, "TLS negotiated HTTP/2");
    // The first concurrent requests may race to open connections before ALPN settles;
    // after that everything is multiplexed.
    assert!(
        stats.connections <= ferry::Limits::default().per_host as u64,
        "HTTP/2 multiplexes: {} connections",
        stats.connections
    );
    assert_limits_held(&stats);
}

/// Events as a `Stream`: the app's combinators see every file succeed, and the stream ends
/// when the queue shuts down.
#[tokio::test]
async fn the_event_stream_tells_every_success_and_ends_at_shutdown() {
    use futures_util::StreamExt;

    let server = TestServer::start(ServerConfig::default())
        .await
        .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 5, 3, |_, _| 1024);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let events = queue.subscribe().into_stream();
    let uploads = files
        .iter()
        .map(|file| Upload::put(&file.path, format!("{}{}", server.base_url(), file.name)))
        .collect();
    queue.enqueue_many(uploads).await.expect("enqueue");
    queue.wait_idle().await.expect("idle");
    queue.shutdown().await.expect("shutdown");
    let successes = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        events
            .filter(|event| {
                std::future::ready(matches!(event, ferry::TransferEvent::Succeeded { .. }))
            })
            .count(),
    )
    .await
    .expect("the stream ends once the queue has shut down");
    assert_eq!(successes, files.len());
    assert_all_received_once(&server, &files);
}
