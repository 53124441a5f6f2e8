//! `ferry push --bearer-command`: tokens come from a helper command whenever ferry needs
//! one, and never reach the database, stdout, stderr or `ferry status`.

mod common;

use std::time::Duration;

use common::{Harness, assert_absent, assert_stored_once, ferry, run, status_outputs, write_tree};
use ferry_testkit::{AuthPolicy, BearerPolicy, ServerConfig};

const LIMIT: Duration = Duration::from_secs(120);

fn harness(expire_after_requests: u64) -> Harness {
    Harness::start_with(ServerConfig {
        auth: AuthPolicy {
            bearer: Some(BearerPolicy {
                expire_after_requests: Some(expire_after_requests),
                expire_after_ms: None,
            }),
            presign_secret: None,
            basic: None,
        },
        ..ServerConfig::default()
    })
}

fn files(count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|index| {
            (
                format!("f{index:03}.txt"),
                format!("file {index}\n").into_bytes(),
            )
        })
        .collect()
}

#[test]
fn bearer_command_runs_first_and_after_each_401_and_its_tokens_are_never_kept() {
    let harness = harness(5);
    let work = tempfile::tempdir().expect("dir");
    let tree = files(40);
    write_tree(&work.path().join("up"), &tree);
    let tokens: Vec<String> = (0..100).map(|_| harness.issue_token()).collect();
    std::fs::write(work.path().join("tokens"), tokens.join("\n")).expect("tokens");
    let counter = work.path().join("count");
    let command = format!(
        "n=$(cat '{count}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{count}'; \
         sed -n \"${{n}}p\" '{tokens}'",
        count = counter.display(),
        tokens = work.path().join("tokens").display()
    );
    let db = work.path().join("q.db");
    let push = run(
        ferry()
            .arg("push")
            .arg(work.path().join("up"))
            .arg(harness.url("in/"))
            .arg("--db")
            .arg(&db)
            // One request at a time. Tokens here are used up by a count of requests, and
            // with 4 in flight the other slots sometimes used up a fresh token before the
            // refused request's retry with it reached the server, which then left that
            // file waiting for credentials: 5 runs in 80 failed so. Tokens that expire by
            // time, as real ones do, have no such race.
            .args(["--concurrency", "1", "--json", "--bearer-command", &command]),
        LIMIT,
    );
    assert_eq!(push.code(), Some(0), "{push:?}");
    for (name, content) in &tree {
        assert_stored_once(&harness, &format!("/in/{name}"), content);
    }
    let runs: u64 = std::fs::read_to_string(&counter)
        .expect("the command ran")
        .trim()
        .parse()
        .expect("a count");
    let refused = harness.stats().auth.bearer_expired;
    println!("40 files, tokens valid for 5 requests: the command ran {runs} times, {refused} 401s");
    assert!(
        refused >= 7,
        "40 uploads need at least 8 tokens: {refused} refusals"
    );
    assert_eq!(
        runs,
        1 + refused,
        "once at first, then once per refused token"
    );

    let (status, report) = status_outputs(&db);
    assert_eq!(report["by_state"]["succeeded"], 40, "{report}");
    let printed = [push.stdout.as_str(), push.stderr.as_str(), status.as_str()];
    let used = usize::try_from(runs).expect("small");
    for token in &tokens[..used] {
        assert_absent(token, &printed, &db);
    }
}

#[test]
fn a_refused_bearer_token_leaves_transfers_waiting_and_nothing_shows_it() {
    const TOKEN: &str = "revoked-token-secret-4b1d";
    const COOKIE: &str = "cookie-secret-a9e0";
    let harness = harness(1000);
    let work = tempfile::tempdir().expect("dir");
    write_tree(&work.path().join("up"), &files(12));
    let db = work.path().join("q.db");
    let push = run(
        ferry()
            .arg("push")
            .arg(work.path().join("up"))
            .arg(harness.url("in/"))
            .arg("--db")
            .arg(&db)
            .args(["--json", "--bearer-command", &format!("echo {TOKEN}")])
            .args(["-H", &format!("Cookie: session={COOKIE}")]),
        LIMIT,
    );
    assert_eq!(push.code(), Some(1), "{push:?}");
    assert_eq!(harness.received_all().len(), 0);
    let (status, report) = status_outputs(&db);
    assert_eq!(report["by_state"]["auth_required"], 12, "{report}");
    let failures = report["failures"].as_array().expect("failures");
    assert!(
        failures
            .iter()
            .all(|failure| failure["header_names"][0] == "Cookie"),
        "{report}"
    );
    let printed = [push.stdout.as_str(), push.stderr.as_str(), status.as_str()];
    assert_absent(TOKEN, &printed, &db);
    for text in printed {
        assert!(
            !text.contains(COOKIE),
            "a stored cookie was printed: {text}"
        );
    }
}

#[test]
fn a_401_to_a_push_without_credentials_says_they_are_required_and_how_to_give_them() {
    let harness = harness(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &files(2));
    let asked = run(
        common::push_command(&root, &harness.url("up/"), &dir.path().join("q.db")).arg("--json"),
        LIMIT,
    );
    assert_eq!(asked.code(), Some(1), "{asked:?}");
    let summary = asked.json();
    let failures = summary["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 2, "{summary}");
    for failure in failures {
        assert_eq!(failure["state"], "auth_required", "{failure}");
        let reason = failure["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("requires credentials (none were given)"),
            "{failure}"
        );
        assert!(reason.contains("--bearer-command"), "{failure}");
        assert!(!reason.contains("refused the credentials"), "{failure}");
    }
}

#[test]
fn a_push_that_gives_up_while_the_bearer_command_hangs_names_the_command() {
    let harness = harness(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &files(3));
    let gate = dir.path().join("gate");
    // Hangs until the test opens the gate (30 s at most), then prints a token.
    let command = format!(
        "i=0; while [ ! -e '{0}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo tok",
        gate.display()
    );
    let waited = run(
        common::push_command(&root, &harness.url("up/"), &dir.path().join("q.db"))
            .args(["--bearer-command", &command])
            .args(["--patience", "8", "--stall-timeout", "2"]),
        LIMIT,
    );
    std::fs::write(&gate, b"").expect("gate");
    assert_eq!(waited.code(), Some(4), "gave up: {waited:?}");
    for said in [&waited.stdout, &waited.stderr] {
        assert!(
            said.contains("the --bearer-command has run for")
                && said.contains("without printing a token"),
            "the hanging command is named: {waited:?}"
        );
    }
    assert_eq!(harness.received_all().len(), 0);
}

/// The pids in `file`, one per line.
fn pids_in(file: &std::path::Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

#[test]
fn an_interrupted_push_ends_its_bearer_command_and_starts_no_other() {
    let harness = harness(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_tree(&root, &files(6));
    let pids = dir.path().join("pids");
    // Each run leaves its pid and hangs (30 s at most) in a child of its shell.
    let command = format!("sleep 30 & echo $! >> '{}'; wait; echo tok", pids.display());
    let mut push = common::spawn_piped(
        common::push_command(&root, &harness.url("up/"), &dir.path().join("q.db")).args([
            "--bearer-command",
            &command,
            "--json",
        ]),
    );
    let started = (0..1000).any(|_| {
        let found = !pids_in(&pids).is_empty();
        if !found {
            std::thread::sleep(Duration::from_millis(10));
        }
        found
    });
    assert!(started, "the command ran");
    let pid = libc::pid_t::try_from(push.id()).expect("pid");
    // SAFETY: kill(2) on the child this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill");
    let status = common::wait_bounded(&mut push, LIMIT).expect("ferry stops after SIGINT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    let mut printed = String::new();
    if let Some(mut stdout) = push.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut printed).expect("stdout");
    }
    let summary: serde_json::Value = serde_json::from_str(&printed).expect("a JSON summary");
    assert_eq!(
        summary["files_failed"], 0,
        "a command the push stopped fails nothing: {summary}"
    );
    assert_eq!(summary["files_unfinished"], 6, "{summary}");
    let ran = pids_in(&pids);
    assert_eq!(
        ran.len(),
        1,
        "no command started while the push stopped: {ran:?}"
    );
    let all_gone = (0..500).any(|_| {
        let alive = ran.iter().any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        });
        if alive {
            std::thread::sleep(Duration::from_millis(10));
        }
        !alive
    });
    assert!(all_gone, "the command's processes ended with the push");
    assert_eq!(harness.received_all().len(), 0);
}
