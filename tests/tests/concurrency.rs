//! Requests in flight are counted overall and per host.

mod common;

use common::*;
use ferry_testkit::{ServerConfig, TestServer};
use reqwest::Client;

/// Starts `hosts.len()` uploads whose bodies stay open until all of them are
/// in flight at the server, then finishes them.
async fn hold_open_together(server: &TestServer, client: &Client, hosts: &[&str]) {
    let mut senders = Vec::new();
    let mut requests = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let (tx, body) = channel_body();
        senders.push(tx);
        requests.push(tokio::spawn(
            client
                .put(format!("{}c{i}", server.base_url()))
                .header("host", *host)
                .body(body)
                .send(),
        ));
    }
    let n = hosts.len() as u64;
    eventually(server, "every request in flight", |s| s.in_flight == n).await;
    for tx in senders {
        tx.send(Ok(bytes::Bytes::from_static(b"done")))
            .await
            .unwrap();
    }
    for request in requests {
        assert_eq!(request.await.unwrap().unwrap().status(), 201);
    }
}

#[tokio::test]
async fn max_in_flight_over_h1_connections() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let hosts = ["a.test", "a.test", "a.test", "a.test", "b.test", "b.test"];
    hold_open_together(&server, &h1(), &hosts).await;
    let stats = server.stats();
    assert_eq!((stats.in_flight, stats.max_in_flight), (0, 6));
    assert_eq!(stats.per_host["a.test"].max_in_flight, 4);
    assert_eq!(stats.per_host["a.test"].requests, 4);
    assert_eq!(stats.per_host["b.test"].max_in_flight, 2);
    assert_eq!(stats.per_host["b.test"].in_flight, 0);
    assert!(
        stats.connections >= 6,
        "h1 needs a connection per request in flight"
    );
    assert_eq!(server.received_all().len(), 6);

    // Sequential requests never overlap, and the maximum stays what it was.
    for _ in 0..3 {
        h1().put(format!("{}seq", server.base_url()))
            .body("x")
            .send()
            .await
            .unwrap();
    }
    assert_eq!(server.stats().max_in_flight, 6);
    server.shutdown().await;
}

#[tokio::test]
async fn max_in_flight_over_one_h2_connection() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let hosts = ["h.test"; 5];
    hold_open_together(&server, &h2c(), &hosts).await;
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, 5);
    assert_eq!(stats.connections, 1, "all streams share one connection");
    assert_eq!(stats.http2_requests, 5);
    server.shutdown().await;
}
