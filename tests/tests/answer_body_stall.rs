//! A 2xx is a success whatever its body does: a server that answers `201` and then stalls
//! in the middle of its response body gets each file once, and each transfer succeeds in
//! one attempt (issue: a 201 whose body stalled made a server without idempotency store
//! one file 5 times), its stored answer holding what arrived, marked truncated.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry::{HttpVersionPolicy, TransferQueue, TransferState};
use support::{quick_config, send_all_and_wait, write_files};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An HTTP/1.1 server that reads each request whole, counts it, answers `201 Created` with
/// a `Content-Length` of 1,000 but sends only 10 bytes of the body, and then holds the
/// connection open without a word more.
async fn stalling_server() -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer_and_stall(socket, Arc::clone(&counted)));
        }
    });
    (base, requests)
}

async fn answer_and_stall(mut socket: TcpStream, requests: Arc<AtomicU64>) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let body_length = loop {
        let Ok(read) = socket.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        received.extend_from_slice(&buffer[..read]);
        if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break end + 4 + length;
        }
    };
    while received.len() < body_length {
        let Ok(read) = socket.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        received.extend_from_slice(&buffer[..read]);
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let answer = b"HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n0123456789";
    if socket.write_all(answer).await.is_err() {
        return;
    }
    // Hold the connection, saying nothing more, until the client gives up on it.
    let _ = socket.read(&mut buffer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_201_whose_body_stalls_is_a_success_sent_once() {
    const FILES: usize = 3;
    let (base, requests) = stalling_server().await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 21, |_, _| 2048);
    let mut config = quick_config(dir.path());
    config.http_version = HttpVersionPolicy::Http1Only;
    config.stall_timeout = Duration::from_secs(1);
    let queue = TransferQueue::open(config).await.expect("open");
    send_all_and_wait(&queue, &files, |file| format!("{base}{}", file.name)).await;

    let transfers = queue.list(None, 0, 100).await.expect("list");
    assert_eq!(transfers.len(), FILES);
    for transfer in &transfers {
        assert_eq!(transfer.state, TransferState::Succeeded, "{}", transfer.id);
        assert_eq!(transfer.attempts, 1, "{} was sent again", transfer.id);
        let answer = queue
            .response(&transfer.id)
            .await
            .expect("response")
            .expect("the answer is kept");
        assert_eq!(answer.status, 201);
        assert_eq!(answer.body, b"0123456789", "what arrived is kept");
        assert!(answer.body_truncated, "the rest never came");
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        FILES as u64,
        "each file sent once"
    );
    queue.shutdown().await.expect("shutdown");
}
