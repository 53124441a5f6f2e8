//! Certificates no retry can fix fail the transfer at once, saying how to trust the server
//! (or, for an expired certificate or one for another name, that the server must fix it);
//! a self-signed server certificate made the usual way (`CA:TRUE`) works once the app
//! trusts it, and so does a CA.

mod support;

use ferry::{FailureKind, StateKind, TransferQueue, TransferState};
use ferry_testkit::{ServerCertificate, ServerConfig, TestServer};
use support::{SourceFile, quick_config, send_all_and_wait, write_files};

const FILES: usize = 5;
/// The remedy of a certificate that trusting would fix.
const TRUST: &str = ferry::CERTIFICATE_TRUST_ADVICE;
/// The remedy of one that trusting would not fix.
const FIX_THE_SERVER: &str = "trusting it would not help";

struct Tried {
    server: TestServer,
    queue: TransferQueue,
    files: Vec<SourceFile>,
    _dir: tempfile::TempDir,
}

/// Sends `FILES` small files to a TLS server presenting `certificate`, trusting its CA (or
/// self-signed certificate) only if `trust` says so, and waits until the queue is idle.
async fn try_upload(certificate: ServerCertificate, trust: bool) -> Tried {
    let server = TestServer::start(ServerConfig {
        tls: true,
        certificate,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), FILES, 3, |_, _| 2_000);
    let mut config = quick_config(dir.path());
    config.retry.max_attempts = 5;
    if trust {
        config
            .extra_root_certificates_pem
            .extend(server.ca_certificate_pem());
    }
    let queue = TransferQueue::open(config).await.expect("open");
    let base = server.base_url();
    send_all_and_wait(&queue, &files, |file| format!("{base}{}", file.name)).await;
    Tried {
        server,
        queue,
        files,
        _dir: dir,
    }
}

/// Every transfer failed after exactly one attempt with a certificate error whose message
/// contains `why` and `remedy`; the server stored nothing.
async fn assert_failed_at_once(tried: &Tried, why: &str, remedy: &str) {
    let transfers = tried.queue.list(None, 0, 100).await.expect("list");
    assert_eq!(transfers.len(), FILES);
    for transfer in &transfers {
        assert_eq!(transfer.state, TransferState::Failed, "{transfer:?}");
        assert_eq!(transfer.attempts, 1, "never retried: {transfer:?}");
        let error = transfer.last_error.as_ref().expect("a reason");
        assert_eq!(error.kind, FailureKind::Certificate, "{error}");
        assert!(error.message.contains(why), "{error}");
        assert!(error.message.contains(remedy), "{error}");
        assert!(!error.message.contains("OtherError"), "{error}");
    }
    assert_eq!(
        tried.server.stats().requests,
        0,
        "nothing reached the server"
    );
}

#[tokio::test]
async fn a_server_signed_by_an_unknown_ca_fails_at_once() {
    let tried = try_upload(ServerCertificate::CaSigned, false).await;
    assert_failed_at_once(&tried, "unknown certificate authority", TRUST).await;
}

#[tokio::test]
async fn an_expired_certificate_fails_at_once() {
    let tried = try_upload(ServerCertificate::Expired, true).await;
    assert_failed_at_once(&tried, "validity period", FIX_THE_SERVER).await;
}

#[tokio::test]
async fn a_certificate_for_another_name_fails_at_once() {
    let tried = try_upload(ServerCertificate::WrongName, true).await;
    assert_failed_at_once(&tried, "another host name", FIX_THE_SERVER).await;
}

#[tokio::test]
async fn an_untrusted_self_signed_certificate_fails_at_once() {
    let tried = try_upload(ServerCertificate::SelfSigned, false).await;
    assert_failed_at_once(&tried, "a self-signed certificate (CA:TRUE)", TRUST).await;
}

#[tokio::test]
async fn a_trusted_self_signed_certificate_with_ca_true_works() {
    let tried = try_upload(ServerCertificate::SelfSigned, true).await;
    let succeeded = tried
        .queue
        .list(Some(StateKind::Succeeded), 0, 100)
        .await
        .expect("list");
    assert_eq!(succeeded.len(), FILES);
    support::assert_all_received_once(&tried.server, &tried.files);
}

#[tokio::test]
async fn a_trusted_ca_works_and_an_untrusted_host_does_not_hold_up_the_others() {
    let good = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let untrusted = TestServer::start(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let dir = tempfile::tempdir().expect("dir");
    let files = write_files(&dir.path().join("src"), 20, 5, |_, _| 3_000);
    let mut config = quick_config(dir.path());
    config
        .extra_root_certificates_pem
        .extend(good.ca_certificate_pem());
    let queue = TransferQueue::open(config).await.expect("open");
    let (good_base, untrusted_base) = (
        good.base_url(),
        format!("https://127.0.0.1:{}/", untrusted.local_addr().port()),
    );
    send_all_and_wait(&queue, &files, |file| {
        let base = if file.name.ends_with("0.bin") || file.name.ends_with("5.bin") {
            &untrusted_base
        } else {
            &good_base
        };
        format!("{base}{}", file.name)
    })
    .await;
    let failed = queue
        .list(Some(StateKind::Failed), 0, 100)
        .await
        .expect("list");
    let succeeded = queue
        .list(Some(StateKind::Succeeded), 0, 100)
        .await
        .expect("list");
    assert_eq!((failed.len(), succeeded.len()), (4, 16));
    assert!(failed.iter().all(|transfer| transfer.attempts == 1));
    assert_eq!(good.stats().requests, 16);
}
