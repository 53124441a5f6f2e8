//! Every fault kind is visible to a client, and a faulted request stores nothing.

mod common;

use std::time::Duration;

use common::*;
use ferry_testkit::{
    DelayFault, Fault, FaultPlan, RetryAfter, ScriptedFault, ServerConfig, SlowReadFault,
    StallFault, StatusFault, TestServer,
};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn server_with(faults: FaultPlan) -> TestServer {
    TestServer::start(ServerConfig {
        faults,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

fn always_reset() -> FaultPlan {
    FaultPlan {
        reset_probability: 1.0,
        ..FaultPlan::default()
    }
}

#[tokio::test]
async fn reset_breaks_the_request_over_h1_and_h2() {
    let server = server_with(always_reset()).await;
    for client in [h1(), h2c()] {
        let result = client
            .put(format!("{}r", server.base_url()))
            .body(bytes(200_000, 20))
            .send()
            .await;
        let err = result.expect_err("a reset must not look like an answer");
        assert!(!err.is_timeout(), "{err:?}");
    }
    let stats = server.stats();
    assert_eq!(stats.faults.reset, 2);
    assert!(stats.by_status.is_empty(), "{stats:?}");
    assert!(server.received_all().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn reset_is_a_real_tcp_rst() {
    let server = server_with(always_reset()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    tcp.write_all(b"PUT /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("the server must not hang");
    let err = read.expect_err("no bytes and no clean close, but a reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    server.shutdown().await;
}

#[tokio::test]
async fn status_fault_carries_retry_after_in_seconds() {
    let server = server_with(FaultPlan {
        scripted: vec![ScriptedFault::FirstToPath {
            path: "/busy".into(),
            count: 1,
            fault: Fault::Status {
                code: 503,
                retry_after: Some(RetryAfter::Seconds(7)),
            },
        }],
        ..FaultPlan::default()
    })
    .await;
    let url = format!("{}busy", server.base_url());
    let first = h1().put(&url).body("abc").send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first.headers()["retry-after"], "7");
    assert!(server.received("/busy").is_none());
    let second = h1().put(&url).body("abc").send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert!(second.headers().get("retry-after").is_none());
    let stats = server.stats();
    assert_eq!(stats.faults.status, 1);
    assert_eq!(stats.by_status.get(&503), Some(&1));
    assert_eq!(server.received("/busy").unwrap().stored_count, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn status_fault_carries_retry_after_as_an_http_date() {
    let server = server_with(FaultPlan {
        status: Some(StatusFault {
            probability: 1.0,
            code: 429,
            retry_after: Some(RetryAfter::DateAfter(120)),
        }),
        ..FaultPlan::default()
    })
    .await;
    let response = h2c()
        .post(format!("{}limited", server.base_url()))
        .body(bytes(10_000, 21))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let header = response.headers()["retry-after"].to_str().unwrap();
    let when = httpdate::parse_http_date(header).unwrap();
    let ahead = when
        .duration_since(std::time::SystemTime::now())
        .expect("the date is in the future");
    assert!(ahead > Duration::from_secs(115) && ahead <= Duration::from_secs(121));
    assert!(server.received_all().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn stall_hangs_the_request_and_stores_nothing() {
    let server = server_with(FaultPlan {
        stall: Some(StallFault {
            probability: 1.0,
            after_bytes: 64 * 1024,
            hold_for_ms: 600_000,
        }),
        ..FaultPlan::default()
    })
    .await;
    let client = untimed()
        .http1_only()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let (body, _, _) = streamed(64, 64 * 1024);
    let result = client
        .put(format!("{}stuck", server.base_url()))
        .body(body)
        .send()
        .await;
    let err = result.expect_err("a stalled request must not complete");
    assert!(err.is_timeout(), "{err:?}");
    let stats = server.stats();
    assert_eq!(stats.faults.stall, 1);
    assert!(stats.bytes_received >= 64 * 1024);
    assert!(
        stats.bytes_received < 64 * 64 * 1024,
        "the server stopped reading"
    );
    assert!(server.received_all().is_empty());
    // A held request does not hold up shutdown.
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown must not wait for the hold");
}

#[tokio::test]
async fn stall_over_h2_ends_when_the_client_goes_away() {
    let server = server_with(FaultPlan {
        stall: Some(StallFault {
            probability: 1.0,
            after_bytes: 1,
            hold_for_ms: 600_000,
        }),
        ..FaultPlan::default()
    })
    .await;
    {
        let client = untimed()
            .http2_prior_knowledge()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let result = client
            .put(format!("{}stuck", server.base_url()))
            .body(bytes(1_000_000, 22))
            .send()
            .await;
        assert!(result.unwrap_err().is_timeout());
    }
    // The client (and its connection) is gone: the held request ends too.
    eventually(&server, "the stalled request to end", |s| {
        s.in_flight == 0 && s.aborted == 1
    })
    .await;
    assert!(server.received_all().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn an_upload_cut_short_records_nothing() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    for client in [h1(), h2c()] {
        let (tx, body) = channel_body();
        let send = tokio::spawn(
            client
                .put(format!("{}cut", server.base_url()))
                .header("content-length", "1000000")
                .body(body)
                .send(),
        );
        tx.send(Ok(bytes::Bytes::from(bytes(100_000, 23))))
            .await
            .unwrap();
        eventually(&server, "the request to arrive", |s| s.in_flight == 1).await;
        tx.send(Err(std::io::Error::other("client gave up")))
            .await
            .unwrap();
        assert!(send.await.unwrap().is_err());
    }
    eventually(&server, "both aborts to be seen", |s| {
        s.aborted == 2 && s.in_flight == 0
    })
    .await;
    assert!(server.received_all().is_empty());
    assert!(server.stats().by_status.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn scripted_request_number_gets_its_fault() {
    let server = server_with(FaultPlan {
        scripted: vec![ScriptedFault::Request {
            n: 2,
            fault: Fault::Reset,
        }],
        ..FaultPlan::default()
    })
    .await;
    let mut outcomes = Vec::new();
    for i in 0..3 {
        let result = h1()
            .put(format!("{}n{i}", server.base_url()))
            .body("x")
            .send()
            .await;
        outcomes.push(result.map(|r| r.status().as_u16()).ok());
    }
    assert_eq!(outcomes, [Some(201), None, Some(201)]);
    assert_eq!(
        server.received_all().keys().collect::<Vec<_>>(),
        ["/n0", "/n2"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let plan = FaultPlan {
        seed: 42,
        reset_probability: 0.3,
        status: Some(StatusFault {
            probability: 0.3,
            code: 500,
            retry_after: None,
        }),
        ..FaultPlan::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let server = server_with(plan.clone()).await;
        let mut outcomes = Vec::new();
        for i in 0..20 {
            let result = h1()
                .put(format!("{}s{i}", server.base_url()))
                .body("x")
                .send()
                .await;
            outcomes.push(result.map(|r| r.status().as_u16()).ok());
        }
        server.shutdown().await;
        runs.push(outcomes);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&None) && runs[0].contains(&Some(500)));
    assert!(runs[0].contains(&Some(201)));
}

#[tokio::test]
async fn faults_can_be_changed_while_running() {
    let server = TestServer::start(ServerConfig::default()).await.unwrap();
    let url = format!("{}p", server.base_url());
    assert_eq!(h1().put(&url).body("a").send().await.unwrap().status(), 201);
    server.set_faults(always_reset()).unwrap();
    assert!(h1().put(&url).body("a").send().await.is_err());
    assert!(
        server
            .set_faults(FaultPlan {
                reset_probability: -1.0,
                ..FaultPlan::default()
            })
            .is_err()
    );
    server.set_faults(FaultPlan::default()).unwrap();
    assert_eq!(h1().put(&url).body("a").send().await.unwrap().status(), 201);
    assert_eq!(server.received("/p").unwrap().stored_count, 2);
    server.shutdown().await;
}

/// On a paused clock a five-minute delay costs no real time.
#[tokio::test(start_paused = true)]
async fn delay_runs_on_tokio_time() {
    let server = server_with(FaultPlan {
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 300_000,
        }),
        ..FaultPlan::default()
    })
    .await;
    let real = std::time::Instant::now();
    let virtual_start = tokio::time::Instant::now();
    // No client timeout: on a paused clock it would fire before the delay ends.
    let response = untimed()
        .build()
        .unwrap()
        .put(format!("{}slow", server.base_url()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(virtual_start.elapsed() >= Duration::from_secs(300));
    assert!(real.elapsed() < Duration::from_secs(30), "it hung");
    assert_eq!(server.stats().faults.delay, 1);
    assert_eq!(server.received("/slow").unwrap().stored_count, 1);
    server.shutdown().await;
}

/// On a paused clock a stall is seen by the client's own timeout at once.
#[tokio::test(start_paused = true)]
async fn stall_on_a_paused_clock() {
    let server = server_with(FaultPlan {
        stall: Some(StallFault {
            probability: 1.0,
            after_bytes: 1,
            hold_for_ms: 3_600_000,
        }),
        ..FaultPlan::default()
    })
    .await;
    let real = std::time::Instant::now();
    let request = untimed()
        .http2_prior_knowledge()
        .build()
        .unwrap()
        .put(format!("{}stuck", server.base_url()))
        .body(bytes(10_000, 24))
        .send();
    let outcome = tokio::time::timeout(Duration::from_secs(300), request).await;
    assert!(outcome.is_err(), "the request must still be hanging");
    assert!(real.elapsed() < Duration::from_secs(30), "it hung for real");
    assert!(server.received_all().is_empty());
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn slow_read_paces_the_body() {
    let server = server_with(FaultPlan {
        slow_read: Some(SlowReadFault {
            probability: 1.0,
            bytes_per_second: 100_000,
        }),
        ..FaultPlan::default()
    })
    .await;
    let data = bytes(500_000, 25);
    let start = tokio::time::Instant::now();
    let response = untimed()
        .build()
        .unwrap()
        .put(format!("{}paced", server.base_url()))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // 500 kB at 100 kB/s: at least ~5 s of (virtual) time, less the first chunk.
    assert!(
        start.elapsed() >= Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        server.received("/paced").unwrap().sha256_hex,
        sha256_hex(&data)
    );
    assert_eq!(server.stats().faults.slow_read, 1);
    server.shutdown().await;
}
