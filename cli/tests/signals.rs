//! `ferry push` stopped by SIGINT, SIGTERM or SIGHUP in the middle of a push: it closes the
//! queue cleanly, prints its summary (one JSON object with `--json`), exits with 128 + the
//! signal's number, and a rerun sends the rest, nothing twice. A stdout whose reader went
//! away is not "could not run": the push runs to its end and exits with its own status.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{
    Harness, assert_stored_once, ferry, push_command, reader, run, spawn_piped, wait_bounded,
    write_tree,
};
use ferry_testkit::{DelayFault, FaultPlan};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
const FILES: usize = 30;

/// Every response is held 200 ms after its body is stored: with two requests in flight,
/// 30 files take about 3 s, and a signal finds requests whose file the server has but
/// whose answer the client has not seen.
fn slow_server() -> Harness {
    Harness::start(FaultPlan {
        seed: 23,
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 200,
        }),
        ..FaultPlan::default()
    })
}

fn files() -> Vec<(String, Vec<u8>)> {
    (0..FILES)
        .map(|index| (format!("f{index:02}.bin"), vec![index as u8; 4096 + index]))
        .collect()
}

struct Setup {
    harness: Harness,
    _work: tempfile::TempDir,
    root: std::path::PathBuf,
    db: std::path::PathBuf,
    files: Vec<(String, Vec<u8>)>,
}

fn setup() -> Setup {
    let harness = slow_server();
    let work = tempfile::tempdir().expect("dir");
    let root = work.path().join("up");
    let files = files();
    write_tree(&root, &files);
    let db = work.path().join("q.db");
    Setup {
        harness,
        root,
        db,
        files,
        _work: work,
    }
}

impl Setup {
    fn push(&self) -> Command {
        let mut command = push_command(&self.root, &self.harness.url("up/"), &self.db);
        command.args(["--concurrency", "2"]);
        command
    }

    /// Waits (bounded) until the server has stored `count` bodies.
    fn wait_for_stored(&self, count: u64, child: &mut Child) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.harness.stats().bodies_stored < count {
            assert!(
                child.try_wait().expect("try_wait").is_none(),
                "the push ended before the signal"
            );
            assert!(Instant::now() < deadline, "the push made no progress");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn assert_every_file_stored_once(&self) {
        for (name, content) in &self.files {
            assert_stored_once(&self.harness, &format!("/up/{name}"), content);
        }
    }
}

/// Runs the push, sends `signal` once a few files are stored, and returns its exit code,
/// stdout and stderr.
fn push_and_signal(setup: &Setup, json: bool, signal: libc::c_int) -> (i32, String, String) {
    push_and_signal_repeated(setup, json, signal, 1)
}

/// As [`push_and_signal`], with `signal` sent `times` times, 1 ms apart.
fn push_and_signal_repeated(
    setup: &Setup,
    json: bool,
    signal: libc::c_int,
    times: usize,
) -> (i32, String, String) {
    let mut command = setup.push();
    if json {
        command.arg("--json");
    }
    let mut child = spawn_piped(&mut command);
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    setup.wait_for_stored(4, &mut child);
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    for sent in 0..times {
        if sent > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: kill(2) on the child this test spawned and has not reaped yet (a
        // zombie still takes signals, so a child that already exited is no error).
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
    }
    let status = wait_bounded(&mut child, LIMIT).expect("ferry stops after the signal");
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let code = status.code().unwrap_or_else(|| {
        panic!("ferry was killed instead of stopping cleanly: {status:?} {stderr}")
    });
    (code, stdout, stderr)
}

fn number(json: &Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

/// The whole scenario for one signal: stopped with a summary, then finished by a rerun
/// that sends only what was left.
fn stopped_by(signal: libc::c_int, name: &str, expected_code: i32) {
    let setup = setup();
    let (code, stdout, stderr) = push_and_signal(&setup, true, signal);
    assert_eq!(code, expected_code, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by {name}")),
        "{stderr}"
    );
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}): {stdout}"));
    assert_eq!(summary["interrupted_by"], name, "{summary}");
    let unfinished = number(&summary, "files_unfinished");
    assert!(unfinished > 0, "the signal came mid-push: {summary}");
    assert_eq!(number(&summary, "files_failed"), 0, "{summary}");
    assert_eq!(
        number(&summary, "files_succeeded") + unfinished,
        FILES as u64,
        "{summary}"
    );
    let succeeded_before = number(&summary, "files_succeeded");
    let requests_before = setup.harness.stats().requests;

    let rerun = run(setup.push().arg("--json"), LIMIT);
    assert_eq!(rerun.code(), Some(0), "{rerun:?}");
    let finished = rerun.json();
    assert_eq!(finished["interrupted_by"], Value::Null);
    assert_eq!(number(&finished, "files_succeeded"), FILES as u64);
    assert!(
        number(&finished, "files_already_done") >= succeeded_before,
        "what the summary called done is not sent again: {finished}"
    );
    let stats = setup.harness.stats();
    let rerun_requests = stats.requests - requests_before;
    eprintln!(
        "{name}: {succeeded_before} done and {unfinished} unfinished at the signal; the rerun \
         sent {rerun_requests} requests ({} duplicates refused by the server in all)",
        stats.duplicates_refused
    );
    assert!(
        rerun_requests <= unfinished,
        "the rerun sent {rerun_requests} requests for {unfinished} unfinished files"
    );
    setup.assert_every_file_stored_once();
}

#[test]
fn sigterm_stops_cleanly_with_a_json_summary_and_a_rerun_sends_the_rest_once() {
    stopped_by(libc::SIGTERM, "SIGTERM", 143);
}

#[test]
fn sighup_stops_cleanly_with_a_json_summary_and_a_rerun_sends_the_rest_once() {
    stopped_by(libc::SIGHUP, "SIGHUP", 129);
}

#[test]
fn sigint_stops_cleanly_with_a_json_summary_and_a_rerun_sends_the_rest_once() {
    stopped_by(libc::SIGINT, "SIGINT", 130);
}

#[test]
fn a_signal_repeated_at_once_is_one_request_and_the_summary_is_printed() {
    // `timeout` sends its signal to ferry and then to its process group: twice.
    let setup = setup();
    let (code, stdout, stderr) = push_and_signal_repeated(&setup, true, libc::SIGTERM, 5);
    assert_eq!(code, 143, "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}): {stdout}"));
    assert_eq!(summary["interrupted_by"], "SIGTERM", "{summary}");
}

#[test]
fn an_interrupted_text_summary_says_what_is_left() {
    let setup = setup();
    let (code, stdout, stderr) = push_and_signal(&setup, false, libc::SIGTERM);
    assert_eq!(code, 143, "{stdout}\n{stderr}");
    assert!(stdout.contains("interrupted by SIGTERM: "), "{stdout}");
    assert!(stdout.contains("files left for the next run"), "{stdout}");
    assert!(!stdout.contains("failures"), "nothing failed: {stdout}");
}

/// Runs `command` with its stdout a pipe whose reading end is closed at once.
fn run_with_stdout_closed(command: &mut Command) -> (Option<i32>, String) {
    let mut child = spawn_piped(command);
    drop(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait_bounded(&mut child, LIMIT).expect("ferry ends");
    (status.code(), stderr.join().expect("stderr reader"))
}

#[test]
fn a_closed_stdout_lets_the_push_finish_and_exit_with_its_own_status() {
    let setup = setup();
    for json in [true, false] {
        let mut command = setup.push();
        if json {
            command.arg("--json");
        }
        let (code, stderr) = run_with_stdout_closed(&mut command);
        assert_eq!(code, Some(0), "json {json}: {stderr}");
        assert!(stderr.contains("stdout was closed"), "{stderr}");
        assert!(!stderr.contains("could not"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    setup.assert_every_file_stored_once();

    let (code, stderr) = run_with_stdout_closed(ferry().args(["status", "--db"]).arg(&setup.db));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stdout was closed"), "{stderr}");
}

#[test]
fn a_stdout_closed_before_the_start_neither_fails_nor_lands_in_the_database() {
    let setup = setup();
    // `>&-`: descriptor 1 is closed when ferry starts; Rust's runtime puts /dev/null there
    // before `main`, so the database can never be opened as descriptor 1 and written to
    // by a print.
    let pushed = run(
        Command::new("sh")
            .arg("-c")
            .arg("exec \"$@\" >&-")
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_ferry"))
            .args(["push", "--json", "--db"])
            .arg(&setup.db)
            .arg(&setup.root)
            .arg(setup.harness.url("up/")),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    setup.assert_every_file_stored_once();
    let status = run(
        ferry().args(["status", "--json", "--db"]).arg(&setup.db),
        LIMIT,
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(status.json()["by_state"]["succeeded"], FILES as u64);
    assert!(Path::new(&setup.db).is_file());
}
