//! Crash safety of `ferry pull`: SIGKILLed at random points, again and again, on one
//! --db and one folder.
//!
//! Whatever moment a kill lands on (opening the database, the enqueue transaction, a body
//! half written to its partial file, a checkpoint, the sync and rename that put a file in
//! place, the record of its success), rerunning the same command must finish the job:
//! every file byte-identical under its name, no partial file left in the folder, every
//! record succeeded and none recorded twice.

mod common;

use std::time::Duration;

use common::{
    Harness, kill_at_random_points, partials_in, pull_command, run, sha256_hex, status_json,
};
use ferry_testkit::{DownloadFault, FaultPlan};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const FILES: usize = 240;
const KILLS: u32 = 30;
/// Bounds of the loop: attempts and wall time, whichever comes first.
const MAX_RUNS: u32 = 90;
const KILL_PHASE_BUDGET: Duration = Duration::from_secs(90);
/// How long every answer pauses half-way through its body (then goes on): a window in
/// which kills find bodies half written, and a pull of all the files takes at least
/// `FILES * HOLD_MS / 4` (4 in flight), so the kills land before it is done.
const HOLD_MS: u64 = 200;
/// Paused answers queued per file: more than the requests any file gets.
const PAUSES: usize = 40;

#[test]
fn killing_pull_at_random_points_leaves_every_file_whole_and_no_partial() {
    let harness = Harness::start(FaultPlan::default());
    let mut rng = StdRng::seed_from_u64(0x9011_C2A5);
    let files: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|index| {
            let size = if index % 40 == 39 {
                rng.random_range(1024 * 1024..=3 * 1024 * 1024)
            } else {
                rng.random_range(1024..=96 * 1024)
            };
            let mut content = vec![0u8; size];
            rng.fill_bytes(&mut content);
            (format!("file-{index:03}.dat"), content)
        })
        .collect();
    for (name, content) in &files {
        harness.serve_file(name, content.clone());
        harness.add_download_faults(
            name,
            vec![
                DownloadFault::PauseAfter {
                    bytes: content.len() as u64 / 2,
                    hold_ms: HOLD_MS,
                };
                PAUSES
            ],
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("downloads");
    let list = dir.path().join("urls.txt");
    let lines: Vec<String> = files
        .iter()
        .enumerate()
        .map(|(index, (name, content))| {
            // Every third file carries its SHA-256: checked before it is put in place.
            if index % 3 == 0 {
                format!("{} {}", harness.file_url(name), sha256_hex(content))
            } else {
                harness.file_url(name)
            }
        })
        .collect();
    std::fs::write(&list, lines.join("\n")).expect("list");
    let db = dir.path().join("queue.db");
    let pull = || {
        let mut command = pull_command(&[], &out, &db);
        command
            .arg("--list")
            .arg(&list)
            .args(["--concurrency", "4"]);
        command
    };

    let common::Kills {
        kills,
        runs,
        finished_before_kill,
    } = kill_at_random_points(pull, &mut rng, KILLS, MAX_RUNS, KILL_PHASE_BUDGET);
    let arrived_during_kills = files
        .iter()
        .filter(|(name, _)| out.join(name).exists())
        .count();

    let last = run(pull().arg("--json"), Duration::from_secs(120));
    assert_eq!(last.code(), Some(0), "{last:?}");
    let summary = last.json();
    assert_eq!(summary["files_succeeded"], FILES as u64, "{summary}");
    assert_eq!(summary["files_failed"], 0, "{summary}");

    for (name, content) in &files {
        let got = std::fs::read(out.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(got == *content, "{name} differs from what was served");
    }
    let partials = partials_in(&out);
    assert!(partials.is_empty(), "partials left: {partials:?}");
    let names = std::fs::read_dir(&out).expect("read dir").count();
    assert_eq!(names, FILES, "exactly the pulled files are in the folder");

    let report = status_json(&db);
    assert_eq!(
        report["records_total"], FILES as u64,
        "no transfer was recorded twice: {report}"
    );
    assert_eq!(
        report["records_by_state"]["succeeded"], FILES as u64,
        "{report}"
    );
    assert_eq!(report["downloads_total"], FILES as u64, "{report}");

    let total: u64 = files.iter().map(|(_, content)| content.len() as u64).sum();
    let served: u64 = files
        .iter()
        .map(|(name, _)| harness.bytes_served(name))
        .sum();
    println!(
        "pull crash test: {kills} SIGKILLs over {runs} runs ({finished_before_kill} finished \
         first); {arrived_during_kills} of {FILES} files in place before the final run, which \
         downloaded {} and found {} done; {served} bytes served for {total} ({:.3}x)",
        summary["files_downloaded"],
        summary["files_already_done"],
        served as f64 / total as f64
    );
    assert!(
        arrived_during_kills > 0,
        "the killed runs made progress that the final run kept"
    );
}
