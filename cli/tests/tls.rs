//! `ferry push` to a server whose certificate is not trusted ends at once, with a reason
//! that says how to trust it; `--cacert` with the server's self-signed certificate (made
//! the way `openssl req -x509` makes one) then uploads everything.

mod common;

use std::time::Duration;

use common::{Harness, assert_stored_once, push_command, run, write_tree};
use ferry_testkit::{ServerCertificate, ServerConfig};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn an_untrusted_self_signed_server_fails_at_once_and_cacert_trusts_it() {
    let harness = Harness::start_with(ServerConfig {
        tls: true,
        certificate: ServerCertificate::SelfSigned,
        ..ServerConfig::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files: Vec<(String, Vec<u8>)> = (0..6)
        .map(|index| (format!("f{index}.txt"), vec![b'a' + index as u8; 700]))
        .collect();
    write_tree(&root, &files);
    let db = dir.path().join("q.db");
    let url = harness.url("up/");

    let refused = run(push_command(&root, &url, &db).arg("--json"), LIMIT);
    assert_eq!(refused.code(), Some(1), "{refused:?}");
    let summary = refused.json();
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), files.len(), "{summary}");
    for failure in failures {
        assert_eq!(failure["kind"], "certificate", "{failure}");
        let reason = failure["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("a self-signed certificate (CA:TRUE)"),
            "{failure}"
        );
        assert!(reason.contains("--cacert"), "{failure}");
    }
    assert_eq!(harness.stats().requests, 0, "nothing was sent");
    assert_eq!(
        summary["retries"], 0,
        "a certificate problem is never retried"
    );

    let pem = dir.path().join("server.pem");
    std::fs::write(&pem, harness.trusted_pem().expect("TLS")).expect("write pem");
    let trusted = run(
        push_command(&root, &url, &db)
            .arg("--cacert")
            .arg(&pem)
            .arg("--json"),
        LIMIT,
    );
    assert_eq!(trusted.code(), Some(0), "{trusted:?}");
    for (name, content) in &files {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
}

#[test]
fn an_unreadable_cacert_file_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &[("a.txt".to_owned(), b"a".to_vec())]);
    let missing = dir.path().join("missing.pem");
    let refused = run(
        push_command(&root, "https://localhost:9/up/", &dir.path().join("q.db"))
            .arg("--cacert")
            .arg(&missing),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--cacert"), "{refused:?}");
}

/// On Linux the system's trust store is read through rustls-native-certs, which takes
/// `SSL_CERT_FILE` (and `SSL_CERT_DIR`) instead of the system's store when set: a private
/// CA works without `--cacert`, as it does for curl and OpenSSL.
#[cfg(target_os = "linux")]
#[test]
fn ssl_cert_file_replaces_the_system_trust_store_on_linux() {
    let harness = Harness::start_with(ServerConfig {
        tls: true,
        certificate: ServerCertificate::CaSigned,
        ..ServerConfig::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files = vec![(
        "a.txt".to_owned(),
        b"trusted through SSL_CERT_FILE".to_vec(),
    )];
    write_tree(&root, &files);
    let url = harness.url("up/");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, harness.trusted_pem().expect("TLS")).expect("write pem");

    let untrusted = run(
        push_command(&root, &url, &dir.path().join("without.db")).arg("--json"),
        LIMIT,
    );
    assert_eq!(untrusted.code(), Some(1), "{untrusted:?}");
    assert_eq!(untrusted.json()["failures"][0]["kind"], "certificate");

    let trusted = run(
        push_command(&root, &url, &dir.path().join("with.db"))
            .arg("--json")
            .env("SSL_CERT_FILE", &ca),
        LIMIT,
    );
    assert_eq!(trusted.code(), Some(0), "{trusted:?}");
    assert_stored_once(&harness, "/up/a.txt", &files[0].1);
}
