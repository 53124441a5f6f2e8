//! Uploads over each protocol arrive byte for byte.

mod common;

use common::*;
use ferry_testkit::{ServerConfig, TestServer};
use reqwest::{StatusCode, Version};

async fn cleartext() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

async fn with_tls() -> TestServer {
    TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn http1_put_digest_matches() {
    let server = cleartext().await;
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    let data = bytes(300_000, 1);
    let response = h1()
        .put(format!("{}photos/1.jpg", server.base_url()))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.version(), Version::HTTP_11);
    let got = server.received("/photos/1.jpg").unwrap();
    assert_eq!(got.len, data.len() as u64);
    assert_eq!(got.sha256_hex, sha256_hex(&data));
    assert_eq!(got.stored_count, 1);
    let stats = server.stats();
    assert_eq!((stats.http1_requests, stats.http2_requests), (1, 0));
    assert_eq!(stats.bytes_received, data.len() as u64);
    assert_eq!(stats.by_status.get(&201), Some(&1));
    server.shutdown().await;
}

#[tokio::test]
async fn h2c_post_by_prior_knowledge() {
    let server = cleartext().await;
    let data = bytes(100_000, 2);
    let response = h2c()
        .post(format!("{}raw", server.base_url()))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.version(), Version::HTTP_2);
    // The answer names what was stored.
    let answer: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["stored"][0]["sha256"], sha256_hex(&data));
    assert_eq!(
        server.received("/raw").unwrap().sha256_hex,
        sha256_hex(&data)
    );
    assert_eq!(server.stats().http2_requests, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn tls_negotiates_h2_by_alpn_and_h1_on_request() {
    let server = with_tls().await;
    assert!(server.base_url().starts_with("https://localhost:"));
    let data = bytes(200_000, 3);

    let response = tls(&server)
        .build()
        .unwrap()
        .put(format!("{}over-h2", server.base_url()))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.version(), Version::HTTP_2);

    let response = tls(&server)
        .http1_only()
        .build()
        .unwrap()
        .put(format!("{}over-h1", server.base_url()))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.version(), Version::HTTP_11);

    for path in ["/over-h2", "/over-h1"] {
        assert_eq!(server.received(path).unwrap().sha256_hex, sha256_hex(&data));
    }
    let stats = server.stats();
    assert_eq!((stats.http1_requests, stats.http2_requests), (1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn tls_is_refused_without_the_ca() {
    let server = with_tls().await;
    let untrusting = untimed()
        .resolve("localhost", server.local_addr())
        .tls_certs_only([])
        .build();
    // Either the builder refuses an empty root store or the handshake fails.
    if let Ok(client) = untrusting {
        let result = client
            .put(format!("{}x", server.base_url()))
            .body("x")
            .send()
            .await;
        assert!(result.is_err());
    }
    assert!(server.received_all().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_streamed_body_of_many_chunks_is_hashed_whole() {
    let server = cleartext().await;
    for (path, client) in [("/big-h1", h1()), ("/big-h2", h2c())] {
        // 16 MiB, generated as it is sent.
        let (body, len, digest) = streamed(256, 64 * 1024);
        let response = client
            .put(format!("{}{}", server.base_url(), &path[1..]))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        let got = server.received(path).unwrap();
        assert_eq!((got.len, got.sha256_hex), (len, digest), "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn multipart_parts_are_stored_separately() {
    let server = cleartext().await;
    let photo = bytes(150_000, 4);
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(photo.clone()).file_name("a.jpg"),
        )
        .text("note", "hello");
    let response = h1()
        .post(format!("{}batch", server.base_url()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let all = server.received_all();
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["/batch#a.jpg", "/batch#note"]
    );
    assert_eq!(all["/batch#a.jpg"].sha256_hex, sha256_hex(&photo));
    assert_eq!(all["/batch#note"].sha256_hex, sha256_hex(b"hello"));
    assert_eq!(all["/batch#note"].len, 5);
    assert_eq!(server.stats().bodies_stored, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn bytes_are_kept_on_disk_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(ServerConfig {
        store_dir: Some(dir.path().join("store")),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let data = bytes(70_000, 5);
    let response = h2c()
        .put(format!("{}dir/file.bin", server.base_url()))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let file = server.received("/dir/file.bin").unwrap().file.unwrap();
    assert!(file.starts_with(dir.path().join("store")));
    assert_eq!(std::fs::read(&file).unwrap(), data);
    // Nothing else (no leftover partial file) is in the store.
    assert_eq!(
        std::fs::read_dir(dir.path().join("store")).unwrap().count(),
        1
    );
    server.shutdown().await;
}

#[tokio::test]
async fn other_methods_are_refused_and_counted() {
    let server = cleartext().await;
    let response = h1()
        .get(format!("{}x", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "PUT, POST");
    assert_eq!(server.stats().by_status.get(&405), Some(&1));
    assert!(server.received_all().is_empty());
    server.shutdown().await;
}
