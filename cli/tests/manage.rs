//! `ferry cancel`, `ferry retry` and `ferry purge` end to end, and what a push does with
//! what earlier runs left waiting: the real binary against the test server (issue 23,
//! points 10 and 5).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Harness, assert_stored_once, ferry, push_command, run, write_tree};
use ferry_testkit::{FaultPlan, RetryAfter};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

fn files(prefix: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|index| {
            (
                format!("{prefix}{index}.txt"),
                vec![b'a' + index as u8; 100],
            )
        })
        .collect()
}

/// `ferry ACTION --db DB ARGS... --json`: the exit status and the report.
fn manage(db: &Path, action: &str, args: &[&str]) -> (Option<i32>, String, Option<Value>) {
    let done = run(
        ferry()
            .arg(action)
            .arg("--db")
            .arg(db)
            .args(args)
            .arg("--json"),
        LIMIT,
    );
    let report = serde_json::from_str(&done.stdout).ok();
    (done.code(), done.stderr, report)
}

fn by_state(db: &Path) -> Value {
    let status = run(ferry().args(["status", "--json", "--db"]).arg(db), LIMIT);
    status.json()["by_state"].clone()
}

fn total(db: &Path) -> u64 {
    let status = run(ferry().args(["status", "--json", "--db"]).arg(db), LIMIT);
    status.json()["total"].as_u64().expect("total")
}

#[test]
fn cancel_retry_and_purge_act_on_what_they_select_and_never_on_everything_unasked() {
    let harness = Harness::start(FaultPlan::always_status(404, None));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("q.db");
    let failing = dir.path().join("failing");
    write_tree(&failing, &files("f", 4));
    let pushed = run(
        push_command(&failing, &harness.url("up/"), &db).arg("--json"),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(1), "{pushed:?}");
    harness.set_faults(FaultPlan::default());
    let fine = dir.path().join("fine");
    write_tree(&fine, &files("g", 2));
    let pushed = run(&mut push_command(&fine, &harness.url("other/"), &db), LIMIT);
    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    assert_eq!(by_state(&db)["failed"], 4);
    assert_eq!(by_state(&db)["succeeded"], 2);

    // Everything, without --all or a filter: refused, saying what to pass; nothing changed.
    for action in ["cancel", "retry", "purge"] {
        let (code, stderr, _) = manage(&db, action, &[]);
        assert_eq!(code, Some(2), "{action}: {stderr}");
        assert!(stderr.contains("--all"), "{action}: {stderr}");
        assert!(stderr.contains("--state"), "{action}: {stderr}");
    }
    let (code, stderr, _) = manage(&db, "purge", &["--state", "queued"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot purge"), "{stderr}");
    assert_eq!(total(&db), 6);

    // A prefix that selects nothing changes nothing.
    let (code, stderr, report) = manage(&db, "retry", &["--prefix", &harness.url("nowhere/")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 0);

    // The prefix is a push's BASE_URL; its password and query are dropped before comparing.
    let base = harness
        .url("up/?sig=secret")
        .replace("://", "://me:hunter2@");
    let (code, stderr, report) = manage(&db, "retry", &["--state", "failed", "--prefix", &base]);
    assert_eq!(code, Some(0), "{stderr}");
    let report = report.expect("report");
    assert_eq!(report["count"], 4, "{report}");
    assert_eq!(report["action"], "retry", "{report}");
    assert!(!report.to_string().contains("hunter2"), "{report}");
    assert!(!report.to_string().contains("secret"), "{report}");
    assert_eq!(by_state(&db)["queued"], 4);

    let (code, stderr, report) = manage(&db, "cancel", &["--prefix", &harness.url("up/")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 4);
    assert_eq!(by_state(&db)["cancelled"], 4);
    assert_eq!(by_state(&db)["succeeded"], 2, "other/ was not selected");

    // Finished just now: younger than an hour.
    let (code, stderr, report) = manage(&db, "purge", &["--all", "--older-than", "1h"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 0);
    let (code, stderr, report) = manage(&db, "purge", &["--state", "cancelled"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 4);
    assert_eq!(total(&db), 2);
    let (code, stderr, report) = manage(&db, "purge", &["--all"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 2);
    assert_eq!(total(&db), 0);

    let text = run(ferry().args(["purge", "--all", "--db"]).arg(&db), LIMIT);
    assert_eq!(text.code(), Some(0), "{text:?}");
    assert!(text.stdout.starts_with("0 transfers purged"), "{text:?}");
}

#[test]
fn retried_failures_are_sent_by_the_next_push_as_the_same_transfers() {
    let harness = Harness::start(FaultPlan::always_status(404, None));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("q.db");
    let root = dir.path().join("tree");
    let tree = files("r", 5);
    write_tree(&root, &tree);
    let failed = run(&mut push_command(&root, &harness.url("up/"), &db), LIMIT);
    assert_eq!(failed.code(), Some(1), "{failed:?}");

    harness.set_faults(FaultPlan::default());
    let (code, stderr, report) = manage(&db, "retry", &["--state", "failed"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 5);
    assert_eq!(
        harness.stats().bodies_stored,
        0,
        "retry sends nothing itself"
    );

    let pushed = run(&mut push_command(&root, &harness.url("up/"), &db), LIMIT);
    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    for (name, content) in &tree {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
    // The retried transfers were found again: no second row per file.
    assert_eq!(total(&db), 5);
    assert_eq!(by_state(&db)["succeeded"], 5);
}

/// A push that gave up while its transfers waited out a server's long Retry-After leaves
/// them queued with that backoff stored; the rerun makes them due at once instead of
/// waiting it out (it would give up again after its patience).
#[test]
fn a_rerun_push_tries_transfers_waiting_out_a_stored_backoff_at_once() {
    let harness = Harness::start(FaultPlan::always_status(
        503,
        Some(RetryAfter::Seconds(3600)),
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("q.db");
    let root = dir.path().join("tree");
    let tree = files("b", 3);
    write_tree(&root, &tree);
    let gave_up = run(
        push_command(&root, &harness.url("up/"), &db).args([
            "--patience",
            "2",
            "--stall-timeout",
            "2",
        ]),
        LIMIT,
    );
    assert_eq!(gave_up.code(), Some(4), "{gave_up:?}");
    assert_eq!(by_state(&db)["queued"], 3);

    harness.set_faults(FaultPlan::default());
    let rerun = run(
        push_command(&root, &harness.url("up/"), &db).args(["--patience", "30"]),
        LIMIT,
    );
    assert_eq!(rerun.code(), Some(0), "{rerun:?}");
    for (name, content) in &tree {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
    assert_eq!(total(&db), 3);
}

#[test]
fn a_push_group_and_metadata_are_shown_by_status_and_select_what_retry_and_purge_change() {
    let harness = Harness::start(FaultPlan::always_status(404, None));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("q.db");
    let holiday = dir.path().join("holiday");
    write_tree(&holiday, &files("h", 2));
    let pushed = run(
        push_command(&holiday, &harness.url("up/"), &db).args([
            "--group", "holiday", "--meta", "album=7", "--meta", "note=a=b",
        ]),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(1), "{pushed:?}");
    let work = dir.path().join("work");
    write_tree(&work, &files("w", 3));
    let pushed = run(
        push_command(&work, &harness.url("other/"), &db).args(["--group", "work"]),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(1), "{pushed:?}");

    let status = run(
        ferry()
            .args(["status", "--json", "--group", "holiday", "--db"])
            .arg(&db),
        LIMIT,
    );
    let report = status.json();
    assert_eq!(report["group"], "holiday", "{report}");
    assert_eq!(report["total"], 2, "{report}");
    let failures = report["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 2, "{report}");
    for failure in failures {
        assert_eq!(failure["group"], "holiday", "{failure}");
        assert_eq!(failure["metadata"]["album"], "7", "{failure}");
        assert_eq!(failure["metadata"]["note"], "a=b", "{failure}");
    }
    assert_eq!(total(&db), 5, "the whole queue without --group");

    let (code, stderr, report) = manage(&db, "retry", &["--group", "holiday"]);
    assert_eq!(code, Some(0), "{stderr}");
    let report = report.expect("report");
    assert_eq!(report["count"], 2, "{report}");
    assert_eq!(report["group"], "holiday", "{report}");
    assert_eq!(by_state(&db)["queued"], 2);
    assert_eq!(
        by_state(&db)["failed"],
        3,
        "the work group was not selected"
    );

    let (code, stderr, report) = manage(&db, "purge", &["--group", "work"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 3);
    assert_eq!(total(&db), 2);

    // A group past its bound is refused before anything is queued.
    let long = "g".repeat(ferry::MAX_GROUP_BYTES + 1);
    let refused = run(
        push_command(&work, &harness.url("other/"), &db).args(["--group", &long]),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    assert!(refused.stderr.contains("--group"), "{}", refused.stderr);
    assert_eq!(total(&db), 2);
}

#[test]
fn prefix_selects_a_pulls_download_by_its_url_as_the_help_says() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("q.db");
    let out = dir.path().join("out");
    // Never served: each download fails with a 404 and stays as a failed record.
    let urls = [harness.file_url("d/one.bin"), harness.file_url("d/two.bin")];
    let pulled = run(&mut common::pull_command(&urls, &out, &db), LIMIT);
    assert_eq!(pulled.code(), Some(1), "{pulled:?}");
    assert_eq!(by_state(&db)["failed"], 2);

    let (code, stderr, report) = manage(&db, "purge", &["--prefix", &urls[0]]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report.expect("report")["count"], 1);
    assert_eq!(total(&db), 1, "only the download from that URL was purged");

    let help = run(ferry().args(["cancel", "--help"]), LIMIT);
    assert_eq!(help.code(), Some(0), "{help:?}");
    assert!(
        help.stdout
            .contains("a download's source URL (not its local file)"),
        "{}",
        help.stdout
    );
    assert!(
        !help.stdout.contains("whose destination starts"),
        "{}",
        help.stdout
    );
}
