//! Credentials that expire mid-queue (issue 7): the engine asks a `RequestAuthorizer`
//! right before each attempt, renews what would expire, refreshes once after a 401,
//! parks transfers in `AuthRequired` when credentials stay refused, never stores an
//! authorizer's secrets, and never forwards them to another host on a redirect.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry::{
    AuthReason, FailureKind, Integrations, QueueConfig, StateKind, Transfer, TransferEvent,
    TransferQueue, Upload,
};
use ferry_testkit::{
    AuthPolicy, BearerPolicy, Fault, FaultPlan, ScriptedFault, ServerConfig, SlowReadFault,
    TestServer,
};
use support::authorizers::{PresignedUrls, ServerTokens, StaticHeaders};
use support::{SourceFile, assert_all_received_once, quick_config, write_files};

async fn server(auth: AuthPolicy, faults: FaultPlan) -> Arc<TestServer> {
    let server = TestServer::start(ServerConfig {
        auth,
        faults,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    Arc::new(server)
}

fn bearer(expire_after_requests: u64) -> AuthPolicy {
    AuthPolicy {
        bearer: Some(BearerPolicy {
            expire_after_requests: Some(expire_after_requests),
            expire_after_ms: None,
        }),
        presign_secret: None,
        basic: None,
    }
}

fn uploads(server: &TestServer, files: &[SourceFile]) -> Vec<Upload> {
    files
        .iter()
        .map(|file| Upload::put(&file.path, format!("{}{}", server.base_url(), file.name)))
        .collect()
}

async fn open(config: QueueConfig, authorizer: Arc<dyn ferry::RequestAuthorizer>) -> TransferQueue {
    let integrations = Integrations {
        authorizer: Some(authorizer),
        ..Integrations::default()
    };
    TransferQueue::open_with(config, integrations)
        .await
        .expect("open")
}

async fn enqueue_and_wait(queue: &TransferQueue, server: &TestServer, files: &[SourceFile]) {
    queue
        .enqueue_many(uploads(server, files))
        .await
        .expect("enqueue");
    queue.wait_idle().await.expect("idle");
}

/// Resumes every transfer in `waiting` and waits until the queue is idle again.
async fn resume_all(queue: &TransferQueue, waiting: &[Transfer]) {
    for transfer in waiting {
        queue.resume(&transfer.id).await.expect("resume");
    }
    queue.wait_idle().await.expect("idle");
}

async fn all(queue: &TransferQueue, state: StateKind) -> Vec<Transfer> {
    queue.list(Some(state), 0, 10_000).await.expect("list")
}

/// Every event waiting in the subscription, without waiting for more.
fn drain(events: &mut ferry::Subscription) -> Vec<TransferEvent> {
    std::iter::from_fn(|| events.try_next()).collect()
}

/// The database and its WAL/SHM companions, as raw bytes.
fn database_bytes(config: &QueueConfig) -> Vec<u8> {
    let path = config.database_path.to_string_lossy().into_owned();
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::read(format!("{path}{suffix}")).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(start_paused = true)]
async fn two_thousand_files_arrive_while_tokens_expire_every_100_requests() {
    let server = server(bearer(100), FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2000, 7, |_, rng| {
        rand::Rng::random_range(rng, 256..=2048)
    });
    let authorizer = ServerTokens::new(Arc::clone(&server));
    let mut config = quick_config(dir.path());
    config.limits.per_host = 8;
    let queue = open(config.clone(), authorizer.clone()).await;
    enqueue_and_wait(&queue, &server, &files).await;

    assert_all_received_once(&server, &files);
    assert_eq!(all(&queue, StateKind::Succeeded).await.len(), 2000);
    let stats = server.stats();
    let first = authorizer.calls.of(AuthReason::First);
    let refreshes = authorizer.calls.of(AuthReason::RefreshAfter401);
    println!(
        "2000 files, tokens valid for 100 requests: authorizer called {} times ({first} first, \
         {refreshes} refresh-after-401), {} tokens issued, {} requests refused with 401",
        authorizer.calls.total(),
        authorizer.issued.lock().expect("issued").len(),
        stats.auth.bearer_expired
    );
    // Every attempt asked once; every 401 cost exactly one refresh and one retry.
    assert_eq!(first, 2000);
    assert_eq!(refreshes, stats.auth.bearer_expired);
    assert_eq!(stats.by_status.get(&401).copied().unwrap_or(0), refreshes);
    assert!(
        refreshes >= 19,
        "2000 requests need at least 20 tokens: {refreshes}"
    );
    assert_eq!(stats.auth.bearer_missing, 0);
    assert_eq!(stats.requests, 2000 + refreshes);

    // The tokens lived only in memory: not one is in the database or its WAL.
    let issued = authorizer.issued.lock().expect("issued").clone();
    let bytes = database_bytes(&config);
    assert!(bytes.len() > 4096, "the database was read");
    for token in &issued {
        assert!(!contains(&bytes, token), "a token was written to the store");
    }
    queue.shutdown().await.expect("shutdown");
    let bytes = database_bytes(&config);
    for token in &issued {
        assert!(!contains(&bytes, token), "a token was written to the store");
    }
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_with_an_expired_presigned_url_against_a_slow_server() {
    const TTL: Duration = Duration::from_secs(30);
    let faults = FaultPlan {
        slow_read: Some(SlowReadFault {
            probability: 1.0,
            bytes_per_second: 16 * 1024,
        }),
        ..FaultPlan::default()
    };
    let auth = AuthPolicy {
        bearer: None,
        presign_secret: Some("presign-test-secret".into()),
        basic: None,
    };
    let server = server(auth, faults).await;
    let dir = tempfile::tempdir().expect("dir");
    // 40 × 64 KiB at 16 KiB/s, 4 at a time: about 40 s of virtual time, longer than a URL lives.
    let files = write_files(&dir.path().join("src"), 40, 9, |_, _| 64 * 1024);
    let uploads = uploads(&server, &files);
    let config = quick_config(dir.path());
    let margin = config.auth.expiry_margin;
    let authorizer = PresignedUrls::new(Arc::clone(&server), TTL, margin);
    authorizer.presign_all(uploads.iter().map(|upload| upload.destination.as_str()));
    let queue = open(config, authorizer.clone()).await;
    let started = tokio::time::Instant::now();
    queue.enqueue_many(uploads).await.expect("enqueue");
    queue.wait_idle().await.expect("idle");
    let took = started.elapsed();

    assert_all_received_once(&server, &files);
    let stats = server.stats();
    let expiring = authorizer.calls.of(AuthReason::Expiring);
    let stale = *authorizer.stale_first_answers.lock().expect("stale");
    println!(
        "40 presigned uploads, URLs valid 30 s, {:.0} virtual s: {} authorizer calls \
         ({expiring} expiring), {stale} cached URLs too old to start with, {} refused as expired",
        took.as_secs_f64(),
        authorizer.calls.total(),
        stats.auth.presign_expired
    );
    assert!(took > TTL, "the run outlived the URLs: {took:?}");
    assert!(stale > 0, "some cached URLs had to be renewed");
    // Every URL within the margin was renewed, and some more that would have expired
    // before the slow upload finished; never more than once per file.
    assert!(
        expiring >= stale,
        "{expiring} renewals for {stale} stale URLs"
    );
    assert!(expiring <= 40, "{expiring}");
    assert_eq!(
        stats.auth.presign_expired, 0,
        "no request arrived with an expired URL"
    );
    assert_eq!(stats.auth.presign_invalid, 0);
    assert_eq!(authorizer.calls.of(AuthReason::RefreshAfter401), 0);
    assert_eq!(stats.requests, 40);
}

#[tokio::test(start_paused = true)]
async fn repeated_401s_park_transfers_in_auth_required_until_resumed_with_a_good_token() {
    let server = server(bearer(1_000_000), FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 50, 5, |_, _| 4096);
    let authorizer = ServerTokens::new(Arc::clone(&server));
    authorizer.revoked.store(true, Ordering::SeqCst);
    let config = quick_config(dir.path());
    let (threshold, per_host) = (config.auth.breaker_threshold, config.limits.per_host);
    let queue = open(config, authorizer.clone()).await;
    let mut events = queue.subscribe();
    enqueue_and_wait(&queue, &server, &files).await;

    let waiting = all(&queue, StateKind::AuthRequired).await;
    assert_eq!(waiting.len(), 50, "every transfer waits for credentials");
    for transfer in &waiting {
        let error = transfer.last_error.as_ref().expect("a reason");
        assert_eq!(error.kind, FailureKind::Auth, "{error}");
    }
    let auth_events = drain(&mut events)
        .into_iter()
        .filter(|event| matches!(event, TransferEvent::AuthRequired { .. }))
        .count();
    assert_eq!(auth_events, 50, "one AuthRequired event per transfer");
    let stats = server.stats();
    let tried = u64::from(threshold) + per_host as u64;
    println!(
        "dead token: {} requests for 50 transfers, {} refreshes; the breaker held the rest",
        stats.requests,
        authorizer.calls.of(AuthReason::RefreshAfter401)
    );
    // At most the transfers before the breaker opened tried: each once, then once refreshed.
    assert!(stats.requests <= 2 * tried, "{} requests", stats.requests);
    assert_eq!(
        stats.requests % 2,
        0,
        "every refused attempt was retried exactly once"
    );
    assert_eq!(
        authorizer.calls.of(AuthReason::RefreshAfter401),
        stats.requests / 2
    );
    assert_eq!(server.received_all().len(), 0);

    // The user signs in; the app resumes every transfer.
    authorizer.revoked.store(false, Ordering::SeqCst);
    resume_all(&queue, &waiting).await;
    assert_eq!(all(&queue, StateKind::Succeeded).await.len(), 50);
    assert_all_received_once(&server, &files);
}

/// Needs sign-in for the first `sign_in_failures` calls, then is unavailable once, then
/// answers with static headers.
struct SignedOut {
    calls: std::sync::atomic::AtomicU64,
    sign_in_failures: u64,
}

impl ferry::RequestAuthorizer for SignedOut {
    fn authorize(
        &self,
        request: ferry::RequestInfo,
        _reason: AuthReason,
    ) -> Result<ferry::Authorization, ferry::AuthorizerError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.sign_in_failures {
            Err(ferry::AuthorizerError::SignInRequired {
                message: "no user".into(),
            })
        } else if call == self.sign_in_failures {
            Err(ferry::AuthorizerError::Temporary {
                message: "token service unreachable".into(),
            })
        } else {
            Ok(ferry::Authorization::headers(
                request.destination,
                Vec::new(),
            ))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_authorizer_that_needs_sign_in_sends_nothing_until_resumed() {
    let server = server(AuthPolicy::default(), FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 6, 8, |_, _| 1024);
    let authorizer = Arc::new(SignedOut {
        calls: std::sync::atomic::AtomicU64::new(0),
        sign_in_failures: 6,
    });
    let mut config = quick_config(dir.path());
    config.auth.breaker_threshold = 100;
    let queue = open(config, authorizer.clone()).await;
    enqueue_and_wait(&queue, &server, &files).await;
    let waiting = all(&queue, StateKind::AuthRequired).await;
    assert_eq!(waiting.len(), 6);
    assert_eq!(
        server.stats().requests,
        0,
        "nothing was sent without credentials"
    );
    let message = &waiting[0].last_error.as_ref().expect("reason").message;
    assert!(message.contains("sign in"), "{message}");

    resume_all(&queue, &waiting).await;
    assert_all_received_once(&server, &files);
    // Each used an attempt waiting for sign-in and one to succeed; one met the temporary
    // failure in between and was retried after a backoff.
    let mut attempts: Vec<u32> = all(&queue, StateKind::Succeeded)
        .await
        .iter()
        .map(|transfer| transfer.attempts)
        .collect();
    attempts.sort_unstable();
    assert_eq!(attempts, [2, 2, 2, 2, 2, 3]);
    assert_eq!(authorizer.calls.load(Ordering::SeqCst), 6 + 1 + 6);
}

#[tokio::test(start_paused = true)]
async fn a_cross_host_redirect_never_carries_authorization() {
    let elsewhere = server(AuthPolicy::default(), FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 3, 2, |_, _| 1024);
    let redirect = |n: u64, code: u16, file: &SourceFile| ScriptedFault::Request {
        n,
        fault: Fault::Redirect {
            code,
            location: format!("{}{}", elsewhere.base_url(), file.name),
        },
    };
    let origin = server(
        AuthPolicy::default(),
        FaultPlan {
            scripted: vec![
                redirect(1, 307, &files[0]),
                redirect(2, 308, &files[1]),
                redirect(3, 303, &files[2]),
            ],
            ..FaultPlan::default()
        },
    )
    .await;
    let authorizer = Arc::new(StaticHeaders(vec![
        ("Authorization".into(), "Bearer redirect-secret".into()),
        ("Cookie".into(), "session=redirect-secret".into()),
    ]));
    let mut config = quick_config(dir.path());
    config.limits.per_host = 1;
    let queue = open(config, authorizer).await;
    enqueue_and_wait(&queue, &origin, &files).await;

    assert_eq!(
        origin.stats().auth.with_authorization,
        3,
        "the origin got the credentials"
    );
    let other = elsewhere.stats();
    assert_eq!(other.auth.with_authorization, 0, "the other host never did");
    assert_eq!(other.requests, 0, "the redirect was not followed");
    let failed = all(&queue, StateKind::Failed).await;
    assert_eq!(
        failed.len(),
        3,
        "a redirected upload is not reported as sent"
    );
    let mut statuses: Vec<_> = failed
        .iter()
        .filter_map(|transfer| transfer.last_error.as_ref()?.http_status)
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 307, 308]);
}

/// Gives a fixed header after a pause longer than the queue's stall timeout.
struct SlowHeaders {
    pause: Duration,
}

impl ferry::RequestAuthorizer for SlowHeaders {
    fn authorize(
        &self,
        request: ferry::RequestInfo,
        _reason: AuthReason,
    ) -> Result<ferry::Authorization, ferry::AuthorizerError> {
        std::thread::sleep(self.pause);
        Ok(ferry::Authorization::headers(
            request.destination,
            vec![("X-Slow".into(), "yes".into())],
        ))
    }
}

/// The time an authorizer takes (a token helper that signs in over a slow network) is not
/// a stall of the request it authorizes: the request's own stall watchdog starts after it.
#[tokio::test]
async fn an_authorizer_slower_than_the_stall_timeout_is_no_stall() {
    let server = server(AuthPolicy::default(), FaultPlan::default()).await;
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 2, 5, |_, _| 2048);
    let mut config = quick_config(dir.path());
    config.stall_timeout = Duration::from_secs(1);
    let queue = open(
        config,
        Arc::new(SlowHeaders {
            pause: Duration::from_millis(1500),
        }),
    )
    .await;
    let mut events = queue.subscribe();
    tokio::time::timeout(
        Duration::from_secs(60),
        enqueue_and_wait(&queue, &server, &files),
    )
    .await
    .expect("both files sent without stalling attempts (each one stalled before the fix)");
    let retried: Vec<TransferEvent> = drain(&mut events)
        .into_iter()
        .filter(|event| matches!(event, TransferEvent::Retrying { .. }))
        .collect();
    assert!(retried.is_empty(), "no attempt stalled: {retried:?}");
    for transfer in all(&queue, StateKind::Succeeded).await {
        assert_eq!(transfer.attempts, 1, "{transfer:?}");
    }
    assert_all_received_once(&server, &files);
    queue.shutdown().await.expect("shutdown");
}
