//! No leaks (issue 7): through a run with token refreshes, refused credentials and
//! transfers parked in `AuthRequired`, every log line (all levels, every crate), every
//! event, every status record and every error message is scanned for the secrets the
//! authorizer handed out. None may appear.
//!
//! Its own test binary: it installs the process-wide `log` logger.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use ferry::{Integrations, StateKind, TransferEvent, TransferQueue, Upload};
use ferry_testkit::{AuthPolicy, BearerPolicy, ServerConfig, TestServer};
use support::authorizers::ServerTokens;
use support::{quick_config, write_files};

const COOKIE_SECRET: &str = "cookie-secret-7d2a61";
const API_KEY_SECRET: &str = "apikey-secret-91c3ff";

/// Keeps every log record of the process, formatted as a logger would print it.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    fn flush(&self) {}
}

fn install_capture() -> &'static Capture {
    let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
    log::set_logger(capture).expect("the only logger of this test binary");
    log::set_max_level(log::LevelFilter::Trace);
    capture
}

#[tokio::test(start_paused = true)]
async fn no_secret_appears_in_logs_events_status_or_errors() {
    let capture = install_capture();
    let server = Arc::new(
        TestServer::start(ServerConfig {
            auth: AuthPolicy {
                bearer: Some(BearerPolicy {
                    expire_after_requests: Some(3),
                    expire_after_ms: None,
                }),
                presign_secret: None,
                basic: None,
            },
            ..ServerConfig::default()
        })
        .await
        .expect("server"),
    );
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 30, 4, |_, _| 2048);
    let authorizer = ServerTokens::with_headers(
        Arc::clone(&server),
        vec![
            ("Cookie".into(), format!("session={COOKIE_SECRET}")),
            ("X-Api-Key".into(), API_KEY_SECRET.into()),
        ],
    );
    let mut config = quick_config(dir.path());
    config.auth.sensitive_headers = vec!["x-api-key".into()];
    // One request at a time: with tokens shared by concurrent requests, a refreshed token
    // could be used up by others before its retry, and the counts below would vary.
    config.limits.per_host = 1;
    config.limits.global = 1;
    let integrations = Integrations {
        authorizer: Some(authorizer.clone()),
        ..Integrations::default()
    };
    let queue = TransferQueue::open_with(config, integrations)
        .await
        .expect("open");
    let mut events = queue.subscribe();
    let upload = |file: &support::SourceFile| {
        Upload::put(&file.path, format!("{}{}", server.base_url(), file.name))
    };

    // Tokens die every 3 requests: refreshes and retries.
    let (first, rest) = files.split_at(20);
    queue
        .enqueue_many(first.iter().map(upload).collect())
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");
    // Then the credentials stay refused: AuthRequired, the breaker, failures.
    authorizer.revoked.store(true, Ordering::SeqCst);
    queue
        .enqueue_many(rest.iter().map(upload).collect())
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");

    let mut shown: Vec<String> = Vec::new();
    let mut auth_required = 0;
    while let Some(event) = events.try_next() {
        auth_required += usize::from(matches!(event, TransferEvent::AuthRequired { .. }));
        shown.push(format!("{event:?}"));
        shown.push(serde_json::to_string(&event).expect("event json"));
    }
    let transfers = queue.list(None, 0, 100).await.expect("list");
    for transfer in &transfers {
        shown.push(format!("{transfer:?}"));
        if let Some(error) = &transfer.last_error {
            shown.push(error.to_string());
        }
    }
    shown.push(format!("{:?}", queue.progress().await.expect("progress")));
    let succeeded = &transfers[0];
    let refused = queue.resume(&succeeded.id).await.expect_err("already done");
    shown.push(refused.to_string());
    queue.shutdown().await.expect("shutdown");
    let log_lines = capture
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();

    let mut secrets: Vec<String> = authorizer.issued.lock().expect("issued").clone();
    secrets.push(COOKIE_SECRET.into());
    secrets.push(API_KEY_SECRET.into());
    println!(
        "scanned {} log lines and {} event/status/error texts for {} secrets",
        log_lines.len(),
        shown.len(),
        secrets.len()
    );
    // The run did what it should, so the scan covered real traffic.
    assert!(
        secrets.len() >= 2 + 20 / 3,
        "tokens were refreshed: {secrets:?}"
    );
    assert_eq!(
        queue_states(&transfers),
        (20, 10),
        "20 sent, 10 waiting for credentials"
    );
    assert_eq!(auth_required, 10);
    assert!(
        log_lines
            .iter()
            .any(|line| line.contains("authorized:") && line.contains("[redacted]")),
        "the authorizer's answers were logged, redacted"
    );
    for text in log_lines.iter().chain(&shown) {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret leaked: {text}");
        }
    }
}

fn queue_states(transfers: &[ferry::Transfer]) -> (usize, usize) {
    let count = |kind| {
        transfers
            .iter()
            .filter(|transfer| transfer.state.kind() == kind)
            .count()
    };
    (count(StateKind::Succeeded), count(StateKind::AuthRequired))
}
