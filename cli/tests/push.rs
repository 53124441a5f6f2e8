//! `ferry push` and `ferry status` end to end: the real binary against the test server.

mod common;

use std::time::Duration;

use common::{Harness, assert_stored_once, ferry, run, write_tree};
use ferry_testkit::{DelayFault, FaultPlan, StatusFault};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

/// A small tree whose names need percent-encoding, with an empty file and nested dirs.
fn tree() -> Vec<(String, Vec<u8>)> {
    let pseudo_random: Vec<u8> = (0u32..100_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    vec![
        ("a.txt".into(), b"hello ferry\n".to_vec()),
        ("empty.txt".into(), Vec::new()),
        ("sub/b.bin".into(), pseudo_random),
        ("sub/deeper/c d#e%.txt".into(), b"needs encoding".to_vec()),
        (
            "sub/deeper/\u{fc}n\u{ef}.txt".into(),
            b"non-ascii name".to_vec(),
        ),
        ("sub/deeper/deepest/z.txt".into(), b"z".to_vec()),
    ]
}

/// The request path the server must see for each file of `tree()`, under `/up/`.
fn expected_key(relative: &str) -> String {
    match relative {
        "sub/deeper/c d#e%.txt" => "/up/sub/deeper/c%20d%23e%25.txt".into(),
        "sub/deeper/\u{fc}n\u{ef}.txt" => "/up/sub/deeper/%C3%BCn%C3%AF.txt".into(),
        plain => format!("/up/{plain}"),
    }
}

fn number(json: &Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

#[test]
fn push_uploads_a_nested_tree_byte_identical_under_its_relative_paths() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("photos");
    let files = tree();
    write_tree(&root, &files);
    let db = dir.path().join("q.db");

    let pushed = run(
        ferry()
            .arg("push")
            .arg(&root)
            .arg(harness.url("up/"))
            .arg("--db")
            .arg(&db)
            .args(["--concurrency", "3", "--json"]),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    let summary = pushed.json();
    assert_eq!(number(&summary, "files_total"), files.len() as u64);
    assert_eq!(number(&summary, "files_succeeded"), files.len() as u64);
    assert_eq!(number(&summary, "files_uploaded"), files.len() as u64);
    assert_eq!(number(&summary, "files_already_done"), 0);
    assert_eq!(number(&summary, "files_failed"), 0);
    let total: usize = files.iter().map(|(_, content)| content.len()).sum();
    assert_eq!(number(&summary, "bytes_uploaded"), total as u64);
    assert_eq!(summary["failures"], Value::Array(Vec::new()));

    for (relative, content) in &files {
        assert_stored_once(&harness, &expected_key(relative), content);
    }
    assert_eq!(
        harness.received_all().len(),
        files.len(),
        "nothing else was stored"
    );
    assert!(
        harness.stats().max_in_flight <= 3,
        "--concurrency 3 is respected"
    );
}

#[test]
fn a_file_argument_is_uploaded_under_its_own_name() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let files = vec![("deep/inside/report #1.pdf".to_owned(), b"%PDF-1.7".to_vec())];
    write_tree(dir.path(), &files);
    let pushed = run(
        ferry()
            .arg("push")
            .arg(dir.path().join("deep/inside/report #1.pdf"))
            .arg(harness.url("single"))
            .arg("--db")
            .arg(dir.path().join("q.db"))
            .args(["--method", "post"]),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    assert_stored_once(&harness, "/single/report%20%231.pdf", b"%PDF-1.7");
    assert!(
        pushed.stdout.contains("1 file: 1 on the server"),
        "{}",
        pushed.stdout
    );
}

#[test]
fn rerunning_the_same_push_uploads_nothing_and_a_changed_file_is_sent_again() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files = tree();
    write_tree(&root, &files);
    let db = dir.path().join("q.db");
    let push = || {
        run(
            ferry()
                .arg("push")
                .arg(&root)
                .arg(harness.url("up/"))
                .arg("--db")
                .arg(&db)
                .arg("--json"),
            LIMIT,
        )
    };

    let first = push();
    assert_eq!(first.code(), Some(0), "{first:?}");
    let requests_after_first = harness.stats().requests;
    assert_eq!(requests_after_first, files.len() as u64);

    let second = push();
    assert_eq!(second.code(), Some(0), "{second:?}");
    assert_eq!(
        harness.stats().requests,
        requests_after_first,
        "a rerun on the same --db sends nothing"
    );
    let summary = second.json();
    assert_eq!(number(&summary, "files_succeeded"), files.len() as u64);
    assert_eq!(number(&summary, "files_already_done"), files.len() as u64);
    assert_eq!(number(&summary, "files_uploaded"), 0);

    // A file whose content (and size) changed is a new upload; the others still are not.
    let changed = b"hello ferry, second edition\n";
    std::fs::write(root.join("a.txt"), changed).expect("rewrite");
    let third = push();
    assert_eq!(third.code(), Some(0), "{third:?}");
    assert_eq!(harness.stats().requests, requests_after_first + 1);
    assert_eq!(number(&third.json(), "files_uploaded"), 1);
    let body = harness.received("/up/a.txt").expect("stored");
    assert_eq!(body.sha256_hex, common::sha256_hex(changed));
    assert_eq!(body.stored_count, 2, "the new version was stored once more");
}

#[test]
fn bad_usage_exits_with_status_2_and_touches_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"x").expect("write");
    let db = dir.path().join("q.db");
    let file_arg = file.to_string_lossy().into_owned();
    let db_arg = db.to_string_lossy().into_owned();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("no arguments", vec![]),
        ("unknown command", vec!["pull"]),
        ("push without a URL", vec!["push", &file_arg]),
        (
            "not a URL",
            vec!["push", &file_arg, "not a url", "--db", &db_arg],
        ),
        (
            "not http",
            vec!["push", &file_arg, "ftp://127.0.0.1/x/", "--db", &db_arg],
        ),
        (
            "missing path",
            vec![
                "push",
                "/nonexistent/ferry/dir",
                "http://127.0.0.1:9/x/",
                "--db",
                &db_arg,
            ],
        ),
        (
            "header without colon",
            vec![
                "push",
                &file_arg,
                "http://127.0.0.1:9/",
                "-H",
                "Authorization Bearer sekrit",
                "--db",
                &db_arg,
            ],
        ),
        (
            "header value with a line break",
            vec![
                "push",
                &file_arg,
                "http://127.0.0.1:9/",
                "-H",
                "X-Token: sekrit\r\nX: y",
                "--db",
                &db_arg,
            ],
        ),
        (
            "zero concurrency",
            vec![
                "push",
                &file_arg,
                "http://127.0.0.1:9/",
                "--concurrency",
                "0",
                "--db",
                &db_arg,
            ],
        ),
        (
            "bad method",
            vec![
                "push",
                &file_arg,
                "http://127.0.0.1:9/",
                "--method",
                "delete",
            ],
        ),
        (
            "bad stall timeout",
            vec![
                "push",
                &file_arg,
                "http://127.0.0.1:9/",
                "--stall-timeout",
                "-3",
            ],
        ),
        (
            "status of a missing database",
            vec!["status", "--db", &db_arg],
        ),
    ];
    for (what, args) in cases {
        let result = run(ferry().current_dir(dir.path()).args(&args), LIMIT);
        assert_eq!(result.code(), Some(2), "{what}: {result:?}");
        assert!(
            !result.stderr.trim().is_empty(),
            "{what}: says why on stderr"
        );
        assert!(
            !result.stderr.contains("sekrit"),
            "{what}: never echoes a header value"
        );
        assert!(!db.exists(), "{what}: no database was created");
    }
}

#[test]
fn a_destination_that_refuses_everything_exits_1_and_status_shows_the_reasons() {
    let harness = Harness::start(FaultPlan {
        status: Some(StatusFault {
            probability: 1.0,
            code: 404,
            retry_after: None,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files = tree();
    write_tree(&root, &files);
    let db = dir.path().join("q.db");

    let pushed = run(
        ferry()
            .arg("push")
            .arg(&root)
            .arg(harness.url("nowhere/"))
            .arg("--db")
            .arg(&db)
            .args(["--json", "-H", "Authorization: Bearer sekrit-token"]),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(1), "{pushed:?}");
    let summary = pushed.json();
    assert_eq!(number(&summary, "files_failed"), files.len() as u64);
    assert_eq!(number(&summary, "files_succeeded"), 0);
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), files.len());
    for failure in failures {
        assert_eq!(failure["http_status"], 404, "{failure}");
        assert_eq!(failure["kind"], "http_status", "{failure}");
        assert_eq!(failure["state"], "failed", "{failure}");
    }
    assert!(harness.received_all().is_empty());
    // A 404 is permanent: one request per file, no retries.
    assert_eq!(harness.stats().requests, files.len() as u64);
    assert!(!pushed.stdout.contains("sekrit"));

    let status = run(ferry().args(["status", "--json", "--db"]).arg(&db), LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        !status.stdout.contains("sekrit"),
        "status never prints header values"
    );
    let report = status.json();
    assert_eq!(number(&report, "total"), files.len() as u64);
    assert_eq!(report["by_state"]["failed"], files.len() as u64);
    assert_eq!(report["by_state"]["succeeded"], 0);
    let failures = report["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), files.len());
    for failure in failures {
        assert_eq!(failure["http_status"], 404, "{failure}");
        assert!(
            failure["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("404")),
            "{failure}"
        );
        assert_eq!(
            failure["header_names"],
            serde_json::json!(["Authorization"])
        );
    }

    let text = run(ferry().args(["status", "--db"]).arg(&db), LIMIT);
    assert_eq!(text.code(), Some(0), "{text:?}");
    assert!(
        text.stdout.contains("headers sent: Authorization"),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("sekrit"));
    assert_eq!(
        harness.stats().requests,
        files.len() as u64,
        "status sends nothing"
    );
}

#[test]
fn a_second_push_while_a_push_holds_the_database_is_refused_with_status_3_and_status_reads_it() {
    // Every response is held for a while, so the push is certainly still running.
    let harness = Harness::start(FaultPlan {
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 1500,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &tree());
    let db = dir.path().join("q.db");
    let mut push = ferry()
        .arg("push")
        .arg(&root)
        .arg(harness.url("up/"))
        .arg("--db")
        .arg(&db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("push starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while harness.stats().in_flight == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(harness.stats().in_flight > 0, "the push got going");

    // status only reads (issue 23, point 9): it answers beside the push.
    let status = run(ferry().args(["status", "--db"]).arg(&db), LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        status
            .stdout
            .contains("a ferry process (a push, a pull or an app) is transferring it now"),
        "{status:?}"
    );
    let second = run(
        ferry()
            .arg("push")
            .arg(&root)
            .arg(harness.url("up/"))
            .arg("--db")
            .arg(&db),
        LIMIT,
    );
    assert_eq!(second.code(), Some(3), "{second:?}");

    let finished = common::wait_bounded(&mut push, LIMIT).expect("push finishes");
    assert_eq!(finished.code(), Some(0));
    for (relative, content) in &tree() {
        assert_stored_once(&harness, &expected_key(relative), content);
    }
}

#[test]
fn the_default_database_inside_the_pushed_directory_is_never_uploaded() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tree();
    write_tree(dir.path(), &files);
    // No --db: the default ferry.db lands in the working directory, which is pushed.
    for round in 0..2 {
        let pushed = run(
            ferry()
                .current_dir(dir.path())
                .args(["push", ".", &harness.url("up/"), "--json"]),
            LIMIT,
        );
        assert_eq!(pushed.code(), Some(0), "round {round}: {pushed:?}");
        assert_eq!(
            number(&pushed.json(), "files_succeeded"),
            files.len() as u64
        );
    }
    assert!(
        dir.path().join("ferry.db").is_file(),
        "the default database is ./ferry.db"
    );
    let keys: Vec<String> = harness.received_all().into_keys().collect();
    assert_eq!(keys.len(), files.len(), "{keys:?}");
    assert!(keys.iter().all(|key| !key.contains("ferry.db")), "{keys:?}");
}

#[test]
fn a_damaged_database_is_reported_with_status_3_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"x").expect("write");
    let db = dir.path().join("q.db");
    let garbage = b"this is not a database, it is a grocery list\n".repeat(200);
    std::fs::write(&db, &garbage).expect("write garbage");
    let pushed = run(
        ferry()
            .arg("push")
            .arg(&file)
            .arg("http://127.0.0.1:9/up/")
            .arg("--db")
            .arg(&db),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(3), "{pushed:?}");
    assert!(pushed.stderr.contains("not a Ferry database"), "{pushed:?}");
    let status = run(ferry().args(["status", "--db"]).arg(&db), LIMIT);
    assert_eq!(status.code(), Some(3), "{status:?}");
    assert_eq!(
        std::fs::read(&db).expect("read"),
        garbage,
        "the file was not touched"
    );
}

#[test]
fn refused_credentials_wait_until_a_rerun_with_new_headers_sends_them() {
    let harness = Harness::start(FaultPlan {
        status: Some(StatusFault {
            probability: 1.0,
            code: 401,
            retry_after: None,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files = tree();
    write_tree(&root, &files);
    let db = dir.path().join("q.db");
    let push = |token: &str| {
        run(
            ferry()
                .arg("push")
                .arg(&root)
                .arg(harness.url("up/"))
                .arg("--db")
                .arg(&db)
                .arg("--json")
                .arg("-H")
                .arg(format!("Authorization: Bearer {token}")),
            LIMIT,
        )
    };

    let refused = push("expired-token");
    assert_eq!(refused.code(), Some(1), "{refused:?}");
    let summary = refused.json();
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), files.len());
    assert!(
        failures.iter().all(|f| f["state"] == "auth_required"),
        "{summary}"
    );
    assert!(!refused.stdout.contains("expired-token"));

    harness.set_faults(FaultPlan::default());
    let accepted = push("fresh-token");
    assert_eq!(accepted.code(), Some(0), "{accepted:?}");
    assert_eq!(
        number(&accepted.json(), "files_uploaded"),
        files.len() as u64
    );
    for (relative, content) in &files {
        assert_stored_once(&harness, &expected_key(relative), content);
    }
    let status = run(ferry().args(["status", "--json", "--db"]).arg(&db), LIMIT);
    let report = status.json();
    assert_eq!(
        report["by_state"]["succeeded"],
        files.len() as u64,
        "{report}"
    );
    assert_eq!(report["by_state"]["auth_required"], 0, "{report}");
    // Renewed in place with the new header (issue 23, point 5): a rerun adds no rows.
    assert_eq!(report["total"], files.len() as u64, "{report}");
    assert_eq!(report["by_state"]["cancelled"], 0, "{report}");
}
