//! `ferry status` as a user needs it: it reads the queue while a push drives it (read-only,
//! no lock), says per host why queued transfers wait, and does not list failures a later
//! run has uploaded. A push's summary and exit status cover the leftovers of an earlier,
//! killed push that it sent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{
    Harness, assert_stored_once, ferry, push_command, reader, run, spawn_piped, wait_bounded,
    write_tree,
};
use ferry_testkit::{DelayFault, FaultPlan, RetryAfter, StatusFault};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
/// How many `status` runs a test makes at most while it waits for a push to get somewhere.
const POLLS: usize = 200;

fn files(count: usize, prefix: &str) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|index| {
            (
                format!("{prefix}{index:02}.bin"),
                vec![index as u8; 2048 + index],
            )
        })
        .collect()
}

/// Every response is held `ms` after its body is stored.
fn delayed(ms: u64) -> FaultPlan {
    FaultPlan {
        seed: 9,
        delay: Some(DelayFault {
            probability: 1.0,
            ms,
        }),
        ..FaultPlan::default()
    }
}

fn status_json(db: &Path) -> Value {
    let status = run(ferry().args(["status", "--json", "--db"]).arg(db), LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    status.json()
}

fn count(report: &Value, field: &str, state: &str) -> u64 {
    report[field][state].as_u64().unwrap_or(0)
}

/// Runs `status --json` until `done` says yes (at most [`POLLS`] times); the report.
fn poll_status(db: &Path, child: &mut Child, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..POLLS {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the push ended before status saw it"
        );
        // The push creates the database once it starts.
        if !db.exists() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let report = status_json(db);
        if done(&report) {
            return report;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("status never saw what the test waited for");
}

fn interrupt(child: &mut Child) -> i32 {
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on the child this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill");
    let status = wait_bounded(child, LIMIT).expect("ferry stops after SIGINT");
    status.code().expect("an exit code")
}

struct Work {
    _dir: tempfile::TempDir,
    root: PathBuf,
    db: PathBuf,
    files: Vec<(String, Vec<u8>)>,
}

fn work(count: usize) -> Work {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("up");
    let files = files(count, "f");
    write_tree(&root, &files);
    let db = dir.path().join("q.db");
    Work {
        root,
        db,
        files,
        _dir: dir,
    }
}

#[test]
fn status_reads_the_queue_while_a_push_sends_it() {
    const FILES: usize = 16;
    let harness = Harness::start(delayed(300));
    let work = work(FILES);
    let mut push = push_command(&work.root, &harness.url("up/"), &work.db);
    push.args(["--concurrency", "2", "--json"]);
    let mut child = spawn_piped(&mut push);
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());

    // A moment at which the push has transfers on the wire, seen from another process.
    let during = poll_status(&work.db, &mut child, |report| {
        count(report, "by_state", "running") > 0 && count(report, "by_state", "succeeded") > 0
    });
    assert_eq!(during["in_use"], true, "{during}");
    assert_eq!(during["total"], FILES as u64, "{during}");
    let hosts = during["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 1, "{during}");
    assert!(hosts[0]["running"].as_u64() > Some(0), "{during}");
    assert_eq!(hosts[0]["health"], "healthy", "{during}");
    // The text form, during the same push.
    let text = run(ferry().args(["status", "--db"]).arg(&work.db), LIMIT);
    assert_eq!(text.code(), Some(0), "{text:?}");
    assert!(
        text.stdout
            .contains("a ferry process (a push, a pull or an app) is transferring it now"),
        "{}",
        text.stdout
    );

    // Reading took nothing from the push: it finishes every file, each stored once.
    let status = wait_bounded(&mut child, LIMIT).expect("the push ends");
    let stdout = stdout.join().expect("stdout");
    let stderr = stderr.join().expect("stderr");
    assert_eq!(status.code(), Some(0), "{stdout} {stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("one JSON summary");
    assert_eq!(summary["files_succeeded"], FILES as u64, "{summary}");
    for (name, content) in &work.files {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
    let after = status_json(&work.db);
    assert_eq!(after["in_use"], false, "{after}");
    assert_eq!(count(&after, "by_state", "succeeded"), FILES as u64);
    assert_eq!(after["hosts"], serde_json::json!([]), "{after}");
}

#[test]
fn status_says_per_host_why_queued_transfers_wait() {
    const FILES: usize = 3;
    let harness = Harness::start(FaultPlan {
        seed: 3,
        status: Some(StatusFault {
            probability: 1.0,
            code: 503,
            retry_after: Some(RetryAfter::Seconds(120)),
        }),
        ..FaultPlan::default()
    });
    let work = work(FILES);
    let mut push = push_command(&work.root, &harness.url("up/"), &work.db);
    push.args(["--patience", "600"]);
    let mut child = spawn_piped(&mut push);
    let _stdout = reader(child.stdout.take());
    let _stderr = reader(child.stderr.take());

    let report = poll_status(&work.db, &mut child, |report| {
        report["hosts"][0]["queued_after_failure"].as_u64() == Some(FILES as u64)
    });
    let host = &report["hosts"][0];
    assert_eq!(
        host["host"],
        harness
            .url("")
            .trim_start_matches("http://")
            .trim_end_matches('/')
    );
    assert_eq!(host["health"], "failing", "{report}");
    assert_eq!(host["last_error_kind"], "http_status", "{report}");
    assert!(
        host["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("503")),
        "{report}"
    );
    let next = host["next_try_in_secs"].as_f64().expect("a next try");
    assert!(
        next > 30.0 && next <= 120.0,
        "Retry-After is honoured: {report}"
    );
    let waiting = report["waiting"].as_array().expect("waiting");
    assert_eq!(waiting.len(), FILES, "{report}");
    for transfer in waiting {
        assert_eq!(transfer["attempts"], 1, "{transfer}");
        assert!(
            transfer["next_try_in_secs"].as_f64() > Some(30.0),
            "{transfer}"
        );
    }
    let text = run(ferry().args(["status", "--db"]).arg(&work.db), LIMIT);
    assert!(
        text.stdout.contains(
            "3 waiting (all after a failed attempt), 0 running (transferring or about to), next try in"
        ),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("503"), "{}", text.stdout);

    assert_eq!(interrupt(&mut child), 130);
    assert_eq!(harness.stats().requests, FILES as u64, "one attempt each");
}

#[test]
fn failures_a_later_run_uploaded_are_not_listed() {
    let harness = Harness::start(FaultPlan {
        seed: 4,
        status: Some(StatusFault {
            probability: 1.0,
            code: 404,
            retry_after: None,
        }),
        ..FaultPlan::default()
    });
    let work = work(2);
    let url = harness.url("up/");
    let first = run(&mut push_command(&work.root, &url, &work.db), LIMIT);
    assert_eq!(first.code(), Some(1), "{first:?}");
    let report = status_json(&work.db);
    assert_eq!(count(&report, "by_state", "failed"), 2, "{report}");

    // The server is fixed; a later run sends one of the two files.
    harness.set_faults(FaultPlan::default());
    let (uploaded, _) = &work.files[0];
    let mut second = ferry();
    second
        .arg("push")
        .arg(work.root.join(uploaded))
        .arg(&url)
        .arg("--db")
        .arg(&work.db);
    let second = run(&mut second, LIMIT);
    assert_eq!(second.code(), Some(0), "{second:?}");

    let report = status_json(&work.db);
    assert_eq!(report["total"], 2, "{report}");
    assert_eq!(count(&report, "by_state", "succeeded"), 1, "{report}");
    assert_eq!(count(&report, "by_state", "failed"), 1, "{report}");
    assert_eq!(report["superseded_failures"], 1, "{report}");
    assert_eq!(count(&report, "records_by_state", "failed"), 2, "{report}");
    let failures = report["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{report}");
    let (still_failing, _) = &work.files[1];
    assert!(
        failures[0]["source"]
            .as_str()
            .is_some_and(|source| source.ends_with(still_failing.as_str())),
        "{report}"
    );
    let text = run(ferry().args(["status", "--db"]).arg(&work.db), LIMIT);
    assert!(text.stdout.contains("failures (1):"), "{}", text.stdout);
    assert!(!text.stdout.contains(uploaded.as_str()), "{}", text.stdout);
}

#[test]
fn a_push_counts_and_reports_the_leftovers_of_a_killed_push() {
    const FILES: usize = 12;
    let harness = Harness::start(delayed(250));
    let work = work(FILES);
    let url = harness.url("up/");
    let mut first = push_command(&work.root, &url, &work.db);
    first.args(["--concurrency", "1"]);
    let mut child = spawn_piped(&mut first);
    let deadline = Instant::now() + LIMIT;
    while harness.stats().bodies_stored < 2 {
        assert!(Instant::now() < deadline, "the first push made no progress");
        assert!(child.try_wait().expect("try_wait").is_none(), "ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");

    // What the killed push left, as status shows it; one leftover's source goes away.
    let left = status_json(&work.db);
    assert_eq!(left["in_use"], false, "{left}");
    let unfinished = count(&left, "by_state", "queued") + count(&left, "by_state", "running");
    assert!(unfinished >= 2, "{left}");
    let gone = left["waiting"][0]["source"]
        .as_str()
        .expect("a queued leftover")
        .to_owned();
    std::fs::remove_file(&gone).expect("remove a leftover's source");

    // A push of other files drains the queue, leftovers included, and says so.
    let other = work.root.parent().expect("parent").join("other");
    write_tree(&other, &files(1, "o"));
    let second = run(
        push_command(&other, &harness.url("other/"), &work.db).arg("--json"),
        LIMIT,
    );
    assert_eq!(second.code(), Some(1), "a leftover failed: {second:?}");
    let summary = second.json();
    assert_eq!(summary["files_leftover"], unfinished, "{summary}");
    assert_eq!(summary["files_total"], unfinished + 1, "{summary}");
    assert_eq!(summary["files_succeeded"], unfinished, "{summary}");
    assert_eq!(summary["files_failed"], 1, "{summary}");
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{summary}");
    assert_eq!(failures[0]["path"], gone.as_str(), "{summary}");
    assert_eq!(failures[0]["state"], "failed", "{summary}");
    for (name, content) in &work.files {
        if !gone.ends_with(name.as_str()) {
            assert_stored_once(&harness, &format!("/up/{name}"), content);
        }
    }
    let text_rerun = run(
        &mut push_command(&other, &harness.url("other/"), &work.db),
        LIMIT,
    );
    assert_eq!(
        text_rerun.code(),
        Some(0),
        "nothing is left over now: {text_rerun:?}"
    );
    assert!(
        !text_rerun.stdout.contains("left queued by an earlier run"),
        "{}",
        text_rerun.stdout
    );
}
