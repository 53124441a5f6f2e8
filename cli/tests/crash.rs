//! Crash safety: `ferry push` SIGKILLed at random points, again and again, on one --db.
//!
//! Whatever moment the kill lands on (opening the database, in the middle of an enqueue
//! transaction, with requests in flight, after the server stored a file but before the
//! client recorded it), rerunning the same command must finish the job, and the server
//! must end up with every file exactly once, byte-identical.

mod common;

use std::time::Duration;

use common::{
    Harness, assert_stored_once, kill_at_random_points, push_command, run, status_json, write_tree,
};
use ferry_testkit::{DelayFault, FaultPlan};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const FILES: usize = 300;
const KILLS: u32 = 20;
/// Bounds of the loop: attempts and wall time, whichever comes first.
const MAX_RUNS: u32 = 80;
const KILL_PHASE_BUDGET: Duration = Duration::from_secs(180);

#[test]
fn killing_push_at_random_points_never_loses_or_duplicates_a_file() {
    // Every response is held 100 ms after the body is stored: the window in which the
    // server has a file and the client does not know yet is wide open for the kills.
    let harness = Harness::start(FaultPlan {
        seed: 11,
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 100,
        }),
        ..FaultPlan::default()
    });
    let mut rng = StdRng::seed_from_u64(0xF022_C2A5);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("camera-roll");
    let files: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|index| {
            let size = rng.random_range(1024..=256 * 1024);
            let mut content = vec![0u8; size];
            rng.fill_bytes(&mut content);
            (format!("day {:02}/IMG_{index:04}.jpg", index % 7), content)
        })
        .collect();
    write_tree(&root, &files);
    let db = dir.path().join("queue.db");
    let push = || {
        let mut command = push_command(&root, &harness.url("roll/"), &db);
        command.args(["--concurrency", "4"]);
        command
    };

    let common::Kills {
        kills,
        runs,
        finished_before_kill,
    } = kill_at_random_points(push, &mut rng, KILLS, MAX_RUNS, KILL_PHASE_BUDGET);
    let stored_during_kills = harness.received_all().len();

    let last = run(push().arg("--json"), Duration::from_secs(300));
    assert_eq!(last.code(), Some(0), "{last:?}");
    let summary = last.json();
    assert_eq!(summary["files_succeeded"], FILES as u64, "{summary}");
    assert_eq!(summary["files_failed"], 0, "{summary}");

    let received = harness.received_all();
    assert_eq!(
        received.len(),
        FILES,
        "exactly the pushed files are on the server"
    );
    for (relative, content) in &files {
        let key = format!("/roll/{}", relative.replace(' ', "%20"));
        assert_stored_once(&harness, &key, content);
    }

    let report = status_json(&db);
    assert_eq!(
        report["records_total"], FILES as u64,
        "no transfer was recorded twice: {report}"
    );
    assert_eq!(report["by_state"]["succeeded"], FILES as u64, "{report}");

    let stats = harness.stats();
    println!(
        "crash test: {kills} SIGKILLs over {runs} runs ({finished_before_kill} finished first); \
         {stored_during_kills} files stored before the final run; final run uploaded {} and \
         found {} already done; server: {} requests, {} aborted mid-request, \
         duplicates refused {}",
        summary["files_uploaded"],
        summary["files_already_done"],
        stats.requests,
        stats.aborted,
        stats.duplicates_refused
    );
    assert!(
        stored_during_kills > 0,
        "the killed runs made progress that the final run kept"
    );
}
