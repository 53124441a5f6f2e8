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
        assert!(reason.contains("--cacert FILE"), "{failure}");
        assert!(
            !reason.contains("extra_root_certificates_pem"),
            "the CLI names its option, not the library's field: {failure}"
        );
        assert!(!reason.contains("OtherError"), "{failure}");
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

/// A loopback TLS server presenting `certificate`.
fn tls_harness(certificate: ServerCertificate) -> Harness {
    Harness::start_with(ServerConfig {
        tls: true,
        certificate,
        ..ServerConfig::default()
    })
}

/// Pushes one file to a TLS server presenting `certificate`, trusting its CA with
/// `--cacert`; returns the one failure's reason.
fn reason_with_trusted_ca(certificate: ServerCertificate) -> String {
    let harness = tls_harness(certificate);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &[("a.txt".to_owned(), b"a".to_vec())]);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, harness.trusted_pem().expect("TLS")).expect("write pem");
    let refused = run(
        push_command(&root, &harness.url("up/"), &dir.path().join("q.db"))
            .arg("--cacert")
            .arg(&ca)
            .arg("--json"),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(1), "{refused:?}");
    let summary = refused.json();
    assert_eq!(summary["failures"][0]["kind"], "certificate", "{summary}");
    summary["failures"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_expired_or_misnamed_certificate_says_to_fix_the_server_not_to_trust_it() {
    for (certificate, why) in [
        (ServerCertificate::Expired, "outside its validity period"),
        (ServerCertificate::WrongName, "issued for another host name"),
    ] {
        let reason = reason_with_trusted_ca(certificate);
        assert!(reason.contains(why), "{reason}");
        assert!(reason.contains("trusting it would not help"), "{reason}");
        assert!(
            !reason.contains("--cacert"),
            "no advice that cannot help: {reason}"
        );
    }
}

#[test]
fn an_untrusted_certificate_for_another_name_names_both_fixes_in_one_run() {
    let harness = tls_harness(ServerCertificate::WrongName);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &[("a.txt".to_owned(), b"a".to_vec())]);
    let refused = run(
        push_command(&root, &harness.url("up/"), &dir.path().join("q.db")).arg("--json"),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(1), "{refused:?}");
    let summary = refused.json();
    let reason = summary["failures"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("issued for another host name (it names ferry-testkit.invalid)"),
        "{summary}"
    );
    assert!(reason.contains("not trusted here"), "{summary}");
    assert!(reason.contains("--cacert FILE"), "{summary}");
}

#[test]
fn a_cacert_file_that_is_missing_or_holds_no_certificate_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &[("a.txt".to_owned(), b"a".to_vec())]);
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let missing = dir.path().join("missing.pem");
    for (file, why) in [
        (&not_pem, "it holds no certificate"),
        (&missing, "cannot read it"),
    ] {
        let refused = run(
            push_command(&root, "https://localhost:9/up/", &dir.path().join("q.db"))
                .arg("--cacert")
                .arg(file),
            LIMIT,
        );
        assert_eq!(refused.code(), Some(2), "{refused:?}");
        let named = format!("--cacert {}: {why}", file.display());
        assert!(refused.stderr.contains(&named), "{refused:?}");
    }
}

/// On Linux the system's trust store is read through rustls-native-certs, which takes
/// `SSL_CERT_FILE` (and `SSL_CERT_DIR`) instead of the system's store when set: a private
/// CA works without `--cacert`, as it does for curl and OpenSSL, and so does a self-signed
/// server certificate (`CA:TRUE`, as `openssl req -x509` makes): Ferry pins the
/// certificates those name as `--cacert` does, instead of refusing it as
/// `CaUsedAsEndEntity`.
#[cfg(target_os = "linux")]
#[test]
fn ssl_cert_file_and_dir_replace_the_system_trust_store_on_linux() {
    for (certificate, name) in [
        (ServerCertificate::CaSigned, "ca"),
        (ServerCertificate::SelfSigned, "self"),
    ] {
        let harness = tls_harness(certificate);
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("tree");
        let files = vec![("a.txt".to_owned(), b"trusted through SSL_CERT_*".to_vec())];
        write_tree(&root, &files);
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).expect("dir");
        let pem = certs.join("trusted.pem");
        std::fs::write(&pem, harness.trusted_pem().expect("TLS")).expect("write pem");

        let untrusted = run(
            push_command(&root, &harness.url("none/"), &dir.path().join("none.db")).arg("--json"),
            LIMIT,
        );
        assert_eq!(untrusted.code(), Some(1), "{name}: {untrusted:?}");
        assert_eq!(untrusted.json()["failures"][0]["kind"], "certificate");

        for (variable, value, under) in [
            ("SSL_CERT_FILE", &pem, "file"),
            ("SSL_CERT_DIR", &certs, "dir"),
        ] {
            let trusted = run(
                push_command(
                    &root,
                    &harness.url(&format!("{under}/")),
                    &dir.path().join(format!("{under}.db")),
                )
                .arg("--json")
                .env(variable, value),
                LIMIT,
            );
            assert_eq!(trusted.code(), Some(0), "{name} {variable}: {trusted:?}");
            assert_stored_once(&harness, &format!("/{under}/a.txt"), &files[0].1);
        }
    }
}
