//! Redirects of downloads through the real engine: followed to another host without any
//! secret (`Authorization`, cookies, the app's sensitive headers, the authorizer's
//! headers), with them on the same origin, bounded in hops, and started again from the
//! original URL by every attempt.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferry::{Download, FailureKind, Integrations, QueueConfig, TransferQueue, TransferState};
use ferry_testkit::{DownloadFault, FileRequest, ServerConfig, TestServer};
use support::authorizers::StaticHeaders;
use support::quick_config;

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default())
        .await
        .expect("server")
}

async fn open(config: QueueConfig) -> TransferQueue {
    TransferQueue::open(config).await.expect("open")
}

async fn open_with_authorizer(
    config: QueueConfig,
    headers: Vec<(String, String)>,
) -> TransferQueue {
    let integrations = Integrations {
        authorizer: Some(Arc::new(StaticHeaders(headers))),
        ..Integrations::default()
    };
    TransferQueue::open_with(config, integrations)
        .await
        .expect("open")
}

async fn fetch(queue: &TransferQueue, download: Download) -> ferry::Transfer {
    let id = queue.enqueue_download(download).await.expect("enqueue");
    tokio::time::timeout(Duration::from_secs(3600), queue.wait_for(&id))
        .await
        .expect("final within an hour of virtual time")
        .expect("final")
}

fn redirect_to(url: String) -> DownloadFault {
    DownloadFault::Redirect {
        code: 302,
        location: url,
    }
}

fn carried(request: &FileRequest, name: &str) -> bool {
    request.header_names.iter().any(|carried| carried == name)
}

#[tokio::test(start_paused = true)]
async fn a_redirect_to_another_host_carries_no_secret() {
    let origin = server().await;
    let elsewhere = server().await;
    let bytes = vec![7u8; 300_000];
    origin.serve_file("f", Vec::new());
    elsewhere.serve_file("f", bytes.clone());
    let statuses = [301, 302, 303, 307, 308];
    origin.add_download_faults(
        "f",
        statuses
            .iter()
            .map(|code| DownloadFault::Redirect {
                code: *code,
                location: elsewhere.file_url("f"),
            })
            .collect(),
    );
    let dir = tempfile::tempdir().expect("dir");
    let mut config = quick_config(dir.path());
    config.auth.sensitive_headers = vec!["X-Api-Key".to_owned()];
    let signed = vec![("X-Signed-By".to_owned(), "authorizer".to_owned())];
    let queue = open_with_authorizer(config, signed).await;
    for code in statuses {
        let to = dir.path().join(format!("f{code}"));
        let download = Download::new(origin.file_url("f"), &to)
            .with_header("Authorization", "Bearer secret")
            .with_header("Cookie", "session=1")
            .with_header("X-Api-Key", "key")
            .with_header("X-App", "kept");
        let done = fetch(&queue, download).await;
        assert_eq!(done.state, TransferState::Succeeded, "{code}: {done:?}");
        assert_eq!(std::fs::read(&to).expect("file"), bytes, "{code}");
    }
    let asked = origin.file_requests("f");
    assert_eq!(asked.len(), statuses.len());
    for request in &asked {
        assert!(request.authorization);
        assert!(carried(request, "x-signed-by") && carried(request, "x-api-key"));
    }
    let followed = elsewhere.file_requests("f");
    assert_eq!(followed.len(), statuses.len());
    for request in &followed {
        assert!(!request.authorization, "{request:?}");
        for secret in ["cookie", "x-api-key", "x-signed-by"] {
            assert!(!carried(request, secret), "{secret} in {request:?}");
        }
        assert!(carried(request, "x-app"), "{request:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_redirect_on_the_same_origin_keeps_the_credentials() {
    let server = server().await;
    server.serve_file("old", Vec::new());
    server.serve_file("new", vec![1u8; 10_000]);
    server.add_download_faults("old", vec![redirect_to("/_files/new".to_owned())]);
    let dir = tempfile::tempdir().expect("dir");
    let queue = open(quick_config(dir.path())).await;
    let to = dir.path().join("file");
    let download =
        Download::new(server.file_url("old"), &to).with_header("Authorization", "Bearer t");
    let done = fetch(&queue, download).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&to).expect("file"), vec![1u8; 10_000]);
    let followed = server.file_requests("new");
    assert_eq!(followed.len(), 1);
    assert!(followed[0].authorization);
}

#[tokio::test(start_paused = true)]
async fn a_redirect_loop_fails_after_a_bounded_number_of_hops() {
    let server = server().await;
    server.serve_file("loop", Vec::new());
    let hops = (0..100)
        .map(|_| redirect_to(server.file_url("loop")))
        .collect();
    server.add_download_faults("loop", hops);
    let dir = tempfile::tempdir().expect("dir");
    let queue = open(quick_config(dir.path())).await;
    let to = dir.path().join("file");
    let done = fetch(&queue, Download::new(server.file_url("loop"), &to)).await;
    let error = done.last_error.clone().expect("an error");
    assert_eq!(done.state, TransferState::Failed, "{done:?}");
    assert_eq!(error.kind, FailureKind::UnusableResponse, "{error:?}");
    assert!(
        error.message.contains("redirected more than 10 times"),
        "{error:?}"
    );
    // One request and ten hops, once: the answer is final, not retried.
    assert_eq!(server.file_requests("loop").len(), 11);
    assert!(!to.exists());
}

#[tokio::test(start_paused = true)]
async fn every_attempt_starts_again_from_the_original_url() {
    let origin = server().await;
    let mirror = server().await;
    let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    origin.serve_file("f", Vec::new());
    mirror.serve_file("f", bytes.clone());
    origin.add_download_faults(
        "f",
        vec![
            redirect_to(mirror.file_url("f")),
            redirect_to(mirror.file_url("f")),
        ],
    );
    // The first body is cut; the second attempt asks the origin again, and the mirror
    // for the rest only.
    mirror.add_download_faults("f", vec![DownloadFault::ResetAfter(1_000_000)]);
    let dir = tempfile::tempdir().expect("dir");
    let queue = open(quick_config(dir.path())).await;
    let to = dir.path().join("file");
    let done = fetch(&queue, Download::new(origin.file_url("f"), &to)).await;
    assert_eq!(done.state, TransferState::Succeeded, "{done:?}");
    assert_eq!(std::fs::read(&to).expect("file"), bytes);
    assert_eq!(origin.file_requests("f").len(), 2);
    let mirrored = mirror.file_requests("f");
    assert_eq!(mirrored.len(), 2);
    assert!(mirrored[1].range.is_some(), "resumed: {mirrored:?}");
    assert!(
        mirror.bytes_served("f") < bytes.len() as u64 * 11 / 10,
        "{} bytes served for {}",
        mirror.bytes_served("f"),
        bytes.len()
    );
}
