//! The server's answer to each upload that succeeded (issue 19): status, headers (a
//! credential's value never kept) and the body up to `response_body_limit`, stored in the
//! turn that records the success, readable by id after the queue is closed and opened
//! again, and deleted with its transfer by a purge; for a single request, a packed batch
//! and a resumable upload. The OS lane's case is in `engine_platform.rs`, a stalled body
//! in `answer_body_stall.rs`.

mod support;

use std::time::Duration;

use ferry::{
    BatchEndpoint, Error, ResumableProtocol, Selection, ServerResponse, StateKind, TransferEvent,
    TransferId, TransferQueue, Upload,
};
use ferry_testkit::{STORED_COOKIE, ServerConfig, TestServer};
use support::resumable::{resumable_config, send_to_the_end};
use support::{enqueue_each, quick_config, write_files};

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default())
        .await
        .expect("server")
}

fn header<'a>(answer: &'a ServerResponse, name: &str) -> Option<&'a str> {
    answer
        .headers
        .iter()
        .find(|(named, _)| named.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

async fn stored_answer(queue: &TransferQueue, id: &TransferId) -> ServerResponse {
    queue
        .response(id)
        .await
        .expect("response")
        .expect("an answer is stored")
}

async fn wait_idle(queue: &TransferQueue) {
    tokio::time::timeout(Duration::from_secs(60), queue.wait_idle())
        .await
        .expect("idle within a minute")
        .expect("idle");
}

#[tokio::test]
async fn the_answer_is_read_by_id_after_the_queue_is_closed_and_opened_again() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 19, |_, _| 3000);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    wait_idle(&queue).await;
    let mut succeeded = Vec::new();
    while let Some(event) = events.try_next() {
        if let TransferEvent::Succeeded {
            id,
            status,
            headers,
        } = event
        {
            let cookie = headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"));
            assert_eq!(cookie.map(|(_, value)| value.as_str()), Some("[redacted]"));
            succeeded.push((id, status));
        }
    }
    succeeded.sort();
    let mut expected: Vec<_> = ids.iter().map(|id| (id.clone(), 201)).collect();
    expected.sort();
    assert_eq!(succeeded, expected, "each Succeeded carries the status");
    queue.shutdown().await.expect("shutdown");

    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("reopen");
    for (id, file) in ids.iter().zip(&files) {
        let answer = stored_answer(&queue, id).await;
        assert_eq!(answer.status, 201);
        assert!(!answer.body_truncated);
        assert_eq!(header(&answer, "content-type"), Some("application/json"));
        assert_eq!(header(&answer, "set-cookie"), Some("[redacted]"));
        let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON body");
        assert_eq!(
            body["stored"][0]["key"].as_str(),
            Some(format!("/{}", file.name).as_str()),
            "{body}"
        );
        assert_eq!(body["stored"][0]["len"].as_u64(), Some(3000));
    }
    queue.shutdown().await.expect("shutdown");
    let database = std::fs::read(dir.path().join("queue.db")).expect("database");
    let cookie_value = STORED_COOKIE.split(';').next().unwrap_or(STORED_COOKIE);
    assert!(
        !database
            .windows(cookie_value.len())
            .any(|window| window == cookie_value.as_bytes()),
        "the cookie's value is not in the database"
    );
}

#[tokio::test]
async fn a_body_longer_than_the_limit_is_cut_and_marked() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 23, |_, _| 100);
    let mut config = quick_config(dir.path());
    config.response_body_limit = 10;
    let queue = TransferQueue::open(config).await.expect("open");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    wait_idle(&queue).await;
    let answer = stored_answer(&queue, &ids[0]).await;
    assert_eq!(answer.body, b"{\"stored\":");
    assert!(answer.body_truncated);
    queue.shutdown().await.expect("shutdown");

    let mut config = quick_config(dir.path());
    config.response_body_limit = 0;
    let queue = TransferQueue::open(config).await.expect("open");
    let more = write_files(&dir.path().join("more"), 1, 24, |_, _| 100);
    let ids = enqueue_each(&queue, &more, &server.base_url()).await;
    wait_idle(&queue).await;
    let answer = stored_answer(&queue, &ids[0]).await;
    assert_eq!(answer.status, 201);
    assert!(answer.body.is_empty(), "a limit of 0 keeps no body");
    assert!(answer.body_truncated);
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_purge_deletes_the_answer_with_its_transfer() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 29, |_, _| 500);
    let queue = TransferQueue::open(quick_config(dir.path()))
        .await
        .expect("open");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    // Nothing listens on the discard port: this one never succeeds.
    let unsent = enqueue_each(&queue, &files[..1], "http://127.0.0.1:9/").await;
    queue.cancel(&unsent[0]).await.expect("cancel");
    wait_idle(&queue).await;
    assert_eq!(stored_answer(&queue, &ids[0]).await.status, 201);
    assert_eq!(
        queue.response(&unsent[0]).await.expect("response"),
        None,
        "no answer for a transfer that did not succeed"
    );
    let purged = queue
        .purge_where(Selection::in_states([StateKind::Succeeded]), Duration::ZERO)
        .await
        .expect("purge");
    assert_eq!(purged, 3, "the cancelled one is not selected");
    for id in &ids {
        assert!(matches!(
            queue.response(id).await,
            Err(Error::NotFound { .. })
        ));
    }
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn each_file_of_a_batch_keeps_its_own_entry_of_the_results() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 4, 31, |_, _| 200);
    let mut config = quick_config(dir.path());
    config.batching = vec![BatchEndpoint::new(
        server.base_url(),
        format!("{}_batch", server.base_url()),
    )];
    let queue = TransferQueue::open(config).await.expect("open");
    let ids = enqueue_each(&queue, &files, &server.base_url()).await;
    wait_idle(&queue).await;
    assert!(server.stats().requests < 4, "the files were packed");
    for id in &ids {
        let answer = stored_answer(&queue, id).await;
        assert_eq!(answer.status, 201, "the part's own status");
        assert_eq!(header(&answer, "content-type"), Some("application/json"));
        let entry: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON");
        assert_eq!(entry["id"].as_str(), Some(id.as_str()), "{entry}");
        assert_eq!(entry["status"].as_u64(), Some(201));
    }
    queue.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_resumable_upload_keeps_the_answer_that_completed_it() {
    let server = server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 1, 37, |_, _| 64 * 1024);
    let endpoint = format!("{}up/file.bin", server.base_url());
    for protocol in [
        ResumableProtocol::Tus,
        ResumableProtocol::Ietf { interop_version: 8 },
    ] {
        let db = tempfile::tempdir().expect("db dir");
        let queue = TransferQueue::open(resumable_config(db.path(), &endpoint, protocol, 1))
            .await
            .expect("open");
        let transfer = send_to_the_end(
            &queue,
            Upload::put(&files[0].path, &endpoint),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(transfer.state, ferry::TransferState::Succeeded);
        let answer = stored_answer(&queue, &transfer.id).await;
        assert!((200..300).contains(&answer.status), "{answer:?}");
        assert!(
            header(&answer, "upload-offset").is_some(),
            "the last PATCH's headers: {answer:?}"
        );
        queue.shutdown().await.expect("shutdown");
    }
}
