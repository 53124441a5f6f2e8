//! A user name and password in BASE_URL, and a signature in its query: sent to the server
//! (the password as `Authorization: Basic`, from memory), never printed by `push` (on a
//! terminal, as text, as JSON) or `status`, and the password never written to the
//! database. The query is stored: a presigned URL does not work without it.

mod common;

use std::time::Duration;

use common::{
    Harness, assert_absent, assert_stored_once, contains_bytes, database_bytes, push_command, run,
    run_on_terminal, status_outputs, write_tree,
};
use ferry_testkit::{AuthPolicy, BasicPolicy, Fault, FaultPlan, ScriptedFault, ServerConfig};

const LIMIT: Duration = Duration::from_secs(120);
const USER: &str = "alice";
const PASSWORD: &str = "Pa55w0rd-SECRET";
/// base64("alice:Pa55w0rd-SECRET"), the value the server must receive.
const BASIC: &str = "YWxpY2U6UGE1NXcwcmQtU0VDUkVU";
const WRONG_PASSWORD: &str = "wrong-SECRET";
/// base64("alice:wrong-SECRET").
const WRONG_BASIC: &str = "YWxpY2U6d3JvbmctU0VDUkVU";
const SIGNATURE: &str = "SIG0SECRET";
const SECOND_SIGNATURE: &str = "SIG1SECRET";
const GOOD_FILES: usize = 12;

fn harness(faults: FaultPlan) -> Harness {
    Harness::start_with(ServerConfig {
        auth: AuthPolicy {
            basic: Some(BasicPolicy {
                username: USER.into(),
                password: PASSWORD.into(),
            }),
            ..AuthPolicy::default()
        },
        faults,
        ..ServerConfig::default()
    })
}

/// `http://USER:PASSWORD@127.0.0.1:PORT/up/?X-Amz-Signature=...&sig=...`.
fn secret_base_url(harness: &Harness, password: &str) -> String {
    let plain = harness.url("up/");
    let with_user = plain.replacen("http://", &format!("http://{USER}:{password}@"), 1);
    format!("{with_user}?X-Amz-Signature={SIGNATURE}&sig={SECOND_SIGNATURE}")
}

fn good_files() -> Vec<(String, Vec<u8>)> {
    (0..GOOD_FILES)
        .map(|index| (format!("f{index:02}.txt"), format!("file {index}\n").into()))
        .collect()
}

/// Every upload request carried the right Basic credentials, and each good file is
/// stored once.
fn assert_server_got_the_credentials(harness: &Harness, files: &[(String, Vec<u8>)]) {
    let stats = harness.stats();
    assert_eq!(stats.auth.basic_invalid, 0, "{stats:?}");
    assert_eq!(stats.auth.with_authorization, stats.requests, "{stats:?}");
    for (name, content) in files {
        assert_stored_once(harness, &format!("/up/{name}"), content);
    }
}

#[test]
fn userinfo_and_a_signature_are_sent_but_never_printed_and_the_password_never_stored() {
    let harness = harness(FaultPlan {
        scripted: vec![ScriptedFault::FirstToPath {
            path: "/up/bad.txt".into(),
            count: 1000,
            fault: Fault::Status {
                code: 400,
                retry_after: None,
            },
        }],
        ..FaultPlan::default()
    });
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("up");
    let files = good_files();
    write_tree(&root, &files);
    write_tree(&root, &[("bad.txt".to_owned(), b"refused\n".to_vec())]);
    let db = work.path().join("q.db");
    let base = secret_base_url(&harness, PASSWORD);

    let json = run(push_command(&root, &base, &db).arg("--json"), LIMIT);
    assert_eq!(json.code(), Some(1), "{json:?}");
    let summary = json.json();
    assert_eq!(summary["files_uploaded"], GOOD_FILES, "{summary}");
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{summary}");
    assert_eq!(failures[0]["http_status"], 400, "{summary}");
    assert_eq!(
        failures[0]["destination"],
        harness.url("up/bad.txt?[redacted]"),
        "the destination is shown without user information or query"
    );
    assert_server_got_the_credentials(&harness, &files);

    // Run again on a terminal (bars drawn) and as plain text: nothing new to send.
    let terminal = run_on_terminal(&mut push_command(&root, &base, &db), LIMIT);
    assert_eq!(terminal.code(), Some(1), "{terminal:?}");
    assert!(terminal.stdout.contains("bytes ["), "no bars: {terminal:?}");
    assert!(
        terminal
            .stdout
            .contains(&format!("{GOOD_FILES} already there")),
        "the rerun found the same transfers: {}",
        terminal.stdout
    );
    let text = run(&mut push_command(&root, &base, &db), LIMIT);
    assert_eq!(text.code(), Some(1), "{text:?}");
    assert!(text.stdout.contains("bad.txt [failed]"), "{text:?}");
    let (status, report) = status_outputs(&db);
    assert_eq!(report["by_state"]["succeeded"], GOOD_FILES, "{report}");
    assert_eq!(
        report["failures"][0]["destination"],
        harness.url("up/bad.txt?[redacted]")
    );

    let printed = [
        json.stdout.as_str(),
        &json.stderr,
        &terminal.stdout,
        &text.stdout,
        &text.stderr,
        &status,
    ];
    for secret in [PASSWORD, BASIC, USER] {
        assert_absent(secret, &printed, &db);
    }
    for signature in [SIGNATURE, SECOND_SIGNATURE] {
        for shown in printed {
            assert!(!shown.contains(signature), "{signature} printed: {shown}");
        }
    }
    // The query is part of the destination, which is stored (README: what Ferry stores).
    assert!(contains_bytes(&database_bytes(&db), SIGNATURE));
    assert_server_got_the_credentials(&harness, &files);
}

#[test]
fn a_refused_password_waits_for_credentials_and_the_same_url_with_the_right_one_finishes() {
    let harness = harness(FaultPlan::default());
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("up");
    let files = good_files();
    write_tree(&root, &files);
    let db = work.path().join("q.db");

    let refused = run(
        push_command(&root, &secret_base_url(&harness, WRONG_PASSWORD), &db).arg("--json"),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(1), "{refused:?}");
    let summary = refused.json();
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), GOOD_FILES, "{summary}");
    for failure in failures {
        assert_eq!(failure["state"], "auth_required", "{failure}");
    }
    assert!(harness.stats().auth.basic_invalid > 0);
    assert!(harness.received_all().is_empty());
    let (status, _) = status_outputs(&db);
    let printed = [refused.stdout.as_str(), &refused.stderr, &status];
    for secret in [WRONG_PASSWORD, WRONG_BASIC] {
        assert_absent(secret, &printed, &db);
    }
    assert!(printed.iter().all(|shown| !shown.contains(SIGNATURE)));

    let fixed = run(
        push_command(&root, &secret_base_url(&harness, PASSWORD), &db).arg("--json"),
        LIMIT,
    );
    assert_eq!(fixed.code(), Some(0), "{fixed:?}");
    assert_eq!(fixed.json()["files_uploaded"], GOOD_FILES);
    for (name, content) in &files {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
    assert_absent(PASSWORD, &[&fixed.stdout, &fixed.stderr], &db);
    // Resumed in place (issue 23, point 5): no transfer was cancelled and enqueued anew.
    let (_, report) = status_outputs(&db);
    assert_eq!(report["total"], GOOD_FILES, "{report}");
    assert_eq!(report["by_state"]["cancelled"], 0, "{report}");
}

#[test]
fn refused_base_urls_and_conflicting_credentials_never_echo_the_secrets() {
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("up");
    write_tree(&root, &good_files());
    let db = work.path().join("q.db");
    let with_secrets = format!("http://{USER}:{PASSWORD}@127.0.0.1:9/up/?sig={SIGNATURE}");
    let bad_scheme = with_secrets.replacen("http", "ftp", 1);
    let cases: [(&str, &[&str]); 3] = [
        (&bad_scheme, &[]),
        (&with_secrets, &["--bearer-command", "echo token"]),
        (&with_secrets, &["-H", "Authorization: Basic abc"]),
    ];
    for (base, extra) in cases {
        let refused = run(push_command(&root, base, &db).args(extra), LIMIT);
        assert_eq!(refused.code(), Some(2), "{base} {extra:?}: {refused:?}");
        for secret in [PASSWORD, SIGNATURE] {
            assert!(!refused.stderr.contains(secret), "{refused:?}");
            assert!(!refused.stdout.contains(secret), "{refused:?}");
        }
    }
    assert!(!db.exists(), "nothing ran");
}
