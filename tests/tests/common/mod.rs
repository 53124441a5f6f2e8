//! Helpers shared by the integration tests: clients for each protocol and
//! bodies with known digests.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use ferry_testkit::TestServer;
use reqwest::Client;
use sha2::{Digest, Sha256};

/// reqwest is built with `rustls-no-provider`: pick ring once per process.
pub fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client builder with no timeout of its own (on a paused clock a client
/// timeout is virtual too and would fire before the server's faults end).
pub fn untimed() -> reqwest::ClientBuilder {
    crypto();
    Client::builder().no_proxy()
}

fn builder() -> reqwest::ClientBuilder {
    untimed().timeout(Duration::from_secs(60))
}

pub fn h1() -> Client {
    builder().http1_only().build().unwrap()
}

pub fn h2c() -> Client {
    builder().http2_prior_knowledge().build().unwrap()
}

/// A client trusting only the server's CA; ALPN picks HTTP/2.
pub fn tls(server: &TestServer) -> reqwest::ClientBuilder {
    let pem = server.ca_certificate_pem().expect("a TLS server");
    let ca = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    builder()
        .tls_certs_only([ca])
        // `localhost` may resolve to ::1 first; the server is on 127.0.0.1 only.
        .resolve("localhost", server.local_addr())
}

/// `n` deterministic pseudo-random bytes (xorshift), different per `seed`.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A body that is generated chunk by chunk and never exists whole in memory.
/// Returns the body and the digest it will have.
pub fn streamed(chunks: usize, chunk_len: usize) -> (reqwest::Body, u64, String) {
    let mut hasher = Sha256::new();
    for i in 0..chunks {
        hasher.update(bytes(chunk_len, i as u64));
    }
    let digest = hex::encode(hasher.finalize());
    let stream = futures_util::stream::iter(
        (0..chunks).map(move |i| Ok::<_, std::io::Error>(Bytes::from(bytes(chunk_len, i as u64)))),
    );
    (
        reqwest::Body::wrap_stream(stream),
        (chunks * chunk_len) as u64,
        digest,
    )
}

/// A body fed through a channel, so a test decides when it ends (or breaks).
pub fn channel_body() -> (
    tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    reqwest::Body,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

/// Polls until `check` holds, for at most 10 seconds of real time.
pub async fn eventually(
    server: &TestServer,
    what: &str,
    check: impl Fn(&ferry_testkit::Stats) -> bool,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = server.stats();
        if check(&stats) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; stats: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
