//! `ferry push` to a host that accepts no connections never waits silently: it says per
//! host why the work waits, tries every file in turn, gives up after `--patience` with
//! status 4 and its summary, and a rerun against a server that is up finishes the same
//! queue. A patience shorter than a request may wait for its answer is refused.

mod common;

use std::time::Duration;

use common::{Harness, assert_stored_once, ferry, push_command, run, write_tree};
use ferry_testkit::{DelayFault, FaultPlan, RetryAfter, ServerConfig};

const LIMIT: Duration = Duration::from_secs(120);

/// A loopback port nothing listens on (bound once, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn a_down_host_ends_within_the_patience_with_the_host_and_reason_and_a_rerun_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|index| (format!("f{index:02}.txt"), vec![b'a' + index as u8; 300]))
        .collect();
    write_tree(&root, &files);
    let db = dir.path().join("q.db");
    let port = closed_port();
    let host = format!("127.0.0.1:{port}");

    let waited = run(
        push_command(&root, &format!("http://{host}/up/"), &db).args([
            "--patience",
            "4",
            "--stall-timeout",
            "2",
            "--json",
        ]),
        LIMIT,
    );
    assert_eq!(waited.code(), Some(4), "{waited:?}");
    // The reason was reported while waiting, as a JSON line, and again at the end.
    let report: serde_json::Value = waited
        .stderr
        .lines()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON stall report: {waited:?}"));
    assert_eq!(report["hosts"][0]["host"], host.as_str(), "{report}");
    assert_eq!(report["hosts"][0]["queued"], 20, "{report}");
    assert_eq!(report["hosts"][0]["last_error_kind"], "network", "{report}");
    assert!(waited.stderr.contains("gave up"), "{waited:?}");
    assert!(
        waited.stderr.contains(&format!("{host}: 20 waiting")),
        "{waited:?}"
    );
    assert!(waited.stderr.contains("could not connect"), "{waited:?}");

    let status = run(ferry().args(["status", "--json", "--db"]).arg(&db), LIMIT);
    assert_eq!(status.json()["by_state"]["queued"], 20, "{status:?}");

    // The same command, now that the host is up: the rerun sends every file.
    let harness = Harness::start_with(ServerConfig {
        port,
        ..ServerConfig::default()
    });
    let rerun = run(
        push_command(&root, &format!("http://{host}/up/"), &db).arg("--json"),
        LIMIT,
    );
    assert_eq!(rerun.code(), Some(0), "{rerun:?}");
    for (name, content) in &files {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
}

/// `count` small files in `root`.
fn small_files(count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|index| (format!("f{index:02}.txt"), vec![b'a' + index as u8; 300]))
        .collect()
}

#[test]
fn every_one_of_twenty_files_to_a_down_host_is_tried_and_the_give_up_prints_its_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &small_files(20));
    let db = dir.path().join("q.db");
    let host = format!("127.0.0.1:{}", closed_port());

    // A patience of 6 s lets a down host be probed every 0.3 s: 20 probes fit in it.
    let waited = run(
        push_command(&root, &format!("http://{host}/up/"), &db).args([
            "--patience",
            "6",
            "--stall-timeout",
            "2",
            "--json",
        ]),
        LIMIT,
    );
    assert_eq!(waited.code(), Some(4), "{waited:?}");
    assert!(waited.stderr.contains("gave up"), "{waited:?}");
    assert!(
        waited.stderr.contains(&format!("{host}: 20 waiting")),
        "{waited:?}"
    );
    assert!(waited.stderr.contains("could not connect"), "{waited:?}");
    // The summary object is printed as for an interrupted push, with why it gave up.
    let summary = waited.json();
    assert_eq!(summary["files_total"], 20, "{summary}");
    assert_eq!(summary["files_unfinished"], 20, "{summary}");
    assert_eq!(summary["files_failed"], 0, "{summary}");
    let hosts = summary["gave_up"]["hosts"].as_array().expect("hosts");
    assert!(
        hosts
            .iter()
            .any(|line| line.as_str().is_some_and(|line| line.contains(&host))),
        "{summary}"
    );

    let status = run(ferry().args(["status", "--json", "--db"]).arg(&db), LIMIT);
    let waiting = status.json()["waiting"]
        .as_array()
        .cloned()
        .expect("waiting");
    assert_eq!(waiting.len(), 20, "{status:?}");
    let never_tried: Vec<&serde_json::Value> = waiting
        .iter()
        .filter(|transfer| transfer["attempts"].as_u64().unwrap_or(0) == 0)
        .map(|transfer| &transfer["source"])
        .collect();
    assert!(never_tried.is_empty(), "never tried: {never_tried:?}");
}

#[test]
fn a_push_that_gives_up_prints_the_text_summary_with_what_is_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &small_files(2));
    let db = dir.path().join("q.db");
    let host = format!("127.0.0.1:{}", closed_port());
    let waited = run(
        push_command(&root, &format!("http://{host}/up/"), &db).args([
            "--patience",
            "2",
            "--stall-timeout",
            "2",
        ]),
        LIMIT,
    );
    assert_eq!(waited.code(), Some(4), "{waited:?}");
    assert!(
        waited.stdout.contains("2 files: 0 on the server"),
        "{waited:?}"
    );
    assert!(
        waited
            .stdout
            .contains("gave up: nothing moved for 2s (--patience): 2 files left for the next run"),
        "{waited:?}"
    );
    assert!(
        waited.stdout.contains(&format!("  {host}: 2 waiting")),
        "{waited:?}"
    );
}

#[test]
fn a_patience_shorter_than_a_request_may_wait_for_its_answer_is_refused() {
    // A server that takes 2 s to answer every request.
    let harness = common::Harness::start(FaultPlan {
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 2_000,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let files = small_files(2);
    write_tree(&root, &files);
    let db = dir.path().join("q.db");

    let refused = run(
        push_command(&root, &harness.url("up/"), &db).args(["--patience", "1"]),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("--patience 1 is shorter than --stall-timeout 30"),
        "{refused:?}"
    );
    assert_eq!(harness.stats().requests, 0, "nothing was sent");

    // A patience as long as the stall timeout waits out the slow answers.
    let patient = run(
        push_command(&root, &harness.url("up/"), &db).args([
            "--patience",
            "5",
            "--stall-timeout",
            "5",
            "--json",
        ]),
        LIMIT,
    );
    assert_eq!(patient.code(), Some(0), "{patient:?}");
    for (name, content) in &files {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
}

#[test]
fn a_server_that_asks_for_a_wait_longer_than_the_patience_is_given_up_on_at_once() {
    let harness = Harness::start_with(ServerConfig {
        faults: FaultPlan::always_status(503, Some(RetryAfter::Seconds(3600))),
        ..ServerConfig::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &small_files(2));
    let waited = run(
        push_command(&root, &harness.url("up/"), &dir.path().join("q.db")).args([
            "--json",
            "--patience",
            "120",
        ]),
        LIMIT,
    );
    assert_eq!(waited.code(), Some(4), "{waited:?}");
    let summary = waited.json();
    let idle = summary["gave_up"]["idle_secs"].as_u64().expect("idle_secs");
    assert!(idle < 120, "gave up before the patience ran out: {summary}");
    let next_try_in = summary["gave_up"]["next_try_in_secs"].as_u64();
    assert!(
        next_try_in > Some(120),
        "the next try, the server's wait capped at 15 minutes, is past the patience: {summary}"
    );
    assert!(
        waited
            .stderr
            .contains("gave up: the earliest next try is in"),
        "{waited:?}"
    );
    assert_eq!(
        harness.stats().requests,
        2,
        "one attempt per file, then the wait"
    );
}

#[test]
fn a_server_that_takes_the_body_and_never_answers_is_given_up_on_after_the_patience() {
    // Every request waits a minute for its answer: each attempt sends its body, stalls,
    // and is retried, sending the same bytes again, which is no movement.
    let harness = common::Harness::start(FaultPlan {
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 60_000,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &small_files(3));
    let waited = run(
        push_command(&root, &harness.url("up/"), &dir.path().join("q.db")).args([
            "--json",
            "--patience",
            "8",
            "--stall-timeout",
            "2",
        ]),
        LIMIT,
    );
    assert_eq!(waited.code(), Some(4), "{waited:?}");
    let summary = waited.json();
    assert_eq!(summary["files_unfinished"], 3, "{summary}");
    assert!(
        summary["gave_up"]["idle_secs"].as_u64() >= Some(8),
        "{summary}"
    );
    assert!(
        summary["retries"].as_u64() >= Some(2),
        "attempts stalled and were retried meanwhile: {summary}"
    );
}
