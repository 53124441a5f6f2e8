//! `Idempotency-Key`: a retried upload is answered as before and never stored twice.

mod common;

use common::*;
use ferry_testkit::{Fault, FaultPlan, RetryAfter, ScriptedFault, ServerConfig, TestServer};
use reqwest::StatusCode;

async fn server() -> TestServer {
    TestServer::start(ServerConfig::default()).await.unwrap()
}

#[tokio::test]
async fn a_repeated_key_is_answered_alike_and_not_stored_again() {
    let server = server().await;
    let url = format!("{}once", server.base_url());
    let data = bytes(50_000, 10);
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = h1()
            .put(&url)
            .header("Idempotency-Key", "transfer-1")
            .body(data.clone())
            .send()
            .await
            .unwrap();
        answers.push((response.status(), response.bytes().await.unwrap()));
    }
    assert_eq!(answers[0].0, StatusCode::CREATED);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(server.received("/once").unwrap().stored_count, 1);
    let stats = server.stats();
    assert_eq!(stats.duplicates_refused, 1);
    assert_eq!(stats.bodies_stored, 1);
    // The duplicate's body was still read: both bodies count as received bytes.
    assert_eq!(stats.bytes_received, 2 * data.len() as u64);
    server.shutdown().await;
}

#[tokio::test]
async fn without_a_key_every_upload_is_stored() {
    let server = server().await;
    let url = format!("{}twice", server.base_url());
    for _ in 0..2 {
        let response = h2c().put(&url).body("same").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(server.received("/twice").unwrap().stored_count, 2);
    assert_eq!(server.stats().duplicates_refused, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_retry_after_a_fault_is_stored_once() {
    let server = TestServer::start(ServerConfig {
        faults: FaultPlan {
            scripted: vec![ScriptedFault::Request {
                n: 1,
                fault: Fault::Status {
                    code: 503,
                    retry_after: Some(RetryAfter::Seconds(1)),
                },
            }],
            ..FaultPlan::default()
        },
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}retried", server.base_url());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = h1()
            .put(&url)
            .header("Idempotency-Key", "k")
            .body("payload")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [503, 201, 201]);
    assert_eq!(server.received("/retried").unwrap().stored_count, 1);
    assert_eq!(server.stats().duplicates_refused, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn racing_requests_with_one_key_store_once() {
    let server = server().await;
    let url = format!("{}race", server.base_url());
    let client = h2c();
    let requests = (0..8).map(|_| {
        client
            .put(&url)
            .header("Idempotency-Key", "same")
            .body(bytes(64_000, 11))
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;
    for response in responses {
        assert_eq!(response.unwrap().status(), StatusCode::CREATED);
    }
    assert_eq!(server.received("/race").unwrap().stored_count, 1);
    assert_eq!(server.stats().duplicates_refused, 7);
    server.shutdown().await;
}
