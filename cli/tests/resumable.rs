//! `ferry push --resumable`: big files go to the upload-creation endpoint through tus or
//! the IETF draft, small ones as before; and a push SIGKILLed at about 60% of a big file
//! continues, when run again on the same --db, from the server's offset, not from zero.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, assert_stored_once, push_command, run, wait_bounded, write_tree};
use ferry_testkit::{FaultPlan, SlowReadFault};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

#[test]
fn push_resumable_tus_sends_big_files_to_the_creation_endpoint_and_small_ones_plainly() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("in");
    let big = random(3 * 1024 * 1024, 1);
    let small = random(10 * 1024, 2);
    write_tree(
        &root,
        &[
            ("big.bin".into(), big.clone()),
            ("small.bin".into(), small.clone()),
        ],
    );
    let db = dir.path().join("q.db");
    let result = run(
        push_command(&root, &harness.url("files/"), &db).args([
            "--resumable",
            "tus",
            "--resumable-threshold",
            "1048576",
            "--json",
        ]),
        Duration::from_secs(120),
    );
    assert_eq!(result.code(), Some(0), "{result:?}");
    assert_eq!(result.json()["files_succeeded"], 2, "{}", result.stdout);
    // tus stores under the creation path and the file name from Upload-Metadata.
    assert_stored_once(&harness, "/files/#big.bin", &big);
    assert_stored_once(&harness, "/files/small.bin", &small);
    let stats = harness.stats().resumable;
    assert_eq!(
        stats.uploads_created, 1,
        "only the big file is resumable: {stats:?}"
    );
}

#[test]
fn a_push_killed_at_60_percent_resumes_from_the_servers_offset_not_from_zero() {
    const SIZE: usize = 48 * 1024 * 1024;
    // The server reads at 16 MiB/s, so the kill lands in the middle of the body.
    let harness = Harness::start(FaultPlan {
        slow_read: Some(SlowReadFault {
            probability: 1.0,
            bytes_per_second: 16 * 1024 * 1024,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("in");
    let video = random(SIZE, 3);
    write_tree(&root, &[("video.mov".into(), video.clone())]);
    let db = dir.path().join("q.db");
    let push = || {
        let mut command = push_command(&root, &harness.url("videos/"), &db);
        command.args(["--resumable", "ietf", "--json"]);
        command
    };

    let mut child = push()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("push starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness.stats().bytes_received < (SIZE as u64) * 6 / 10 {
        assert!(
            Instant::now() < deadline,
            "60% never arrived: {:?}",
            harness.stats()
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "push ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
    wait_bounded(&mut child, Duration::from_secs(10)).expect("reaped");
    // Let the server finish reading what the killed run had already put in the socket, so
    // those bytes are not counted as the rerun's (and cannot race its first PATCH).
    let settled = Instant::now() + Duration::from_secs(10);
    while harness.stats().in_flight > 0 && Instant::now() < settled {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = harness.stats();
    harness.set_faults(FaultPlan::default());

    let result = run(&mut push(), Duration::from_secs(120));
    assert_eq!(result.code(), Some(0), "{result:?}");
    assert_stored_once(&harness, "/videos/", &video);
    let stats = harness.stats();
    let resumable = &stats.resumable;
    assert_eq!(
        resumable.uploads_created, 1,
        "never started again: {resumable:?}"
    );
    // The killed connection's last bytes may still land after the second run's HEAD: its
    // first PATCH then gets 409 and re-syncs, so there may be a third PATCH. None restarts.
    assert!(resumable.patch_offsets.len() >= 2, "{resumable:?}");
    let resumed_at = resumable.patch_offsets[1];
    assert!(
        resumable.patch_offsets[1..]
            .iter()
            .all(|offset| *offset >= (SIZE as u64) / 2),
        "the second run resumed at {:?} of {SIZE}",
        &resumable.patch_offsets[1..]
    );
    let sent_after_kill = stats.bytes_received - before.bytes_received;
    println!(
        "crash at {:.0}%: resumed at byte {resumed_at} of {SIZE}; the rerun sent {sent_after_kill} \
         body bytes; {} in all ({:.3}x the file)",
        before.bytes_received as f64 * 100.0 / SIZE as f64,
        stats.bytes_received,
        stats.bytes_received as f64 / SIZE as f64
    );
    // Bytes the killed run had already pushed into the socket may still arrive after the
    // kill, so the rerun's share is bounded, not exact: far below the whole file.
    assert!(
        sent_after_kill < (SIZE as u64) / 2,
        "the rerun sent {sent_after_kill} body bytes"
    );
    assert!(stats.bytes_received as f64 <= SIZE as f64 * 1.15);
}
