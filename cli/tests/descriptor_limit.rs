//! In-flight work stays below the process's descriptor limit (issue 23, point 3): `ferry
//! push --concurrency 512` in a shell whose `ulimit -n` is 64 runs only as many requests at
//! once as 64 descriptors can hold, and every file arrives, none failed.

#![cfg(unix)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Harness, assert_stored_once, write_tree};
use ferry_testkit::{DelayFault, FaultPlan};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
const FILES: usize = 200;
const SOFT_LIMIT: u32 = 64;
/// What the engine allows under [`SOFT_LIMIT`] (`core/src/descriptor_budget.rs`): 48
/// descriptors are left to the database, the runtime and the rest of the process, and
/// each request may hold 3 (its file twice and a connection): (64 - 48) / 3.
const REQUESTS_WITHIN_LIMIT: u64 = 5;

#[test]
fn a_wide_concurrency_is_lowered_to_what_the_descriptor_limit_holds_and_every_file_arrives() {
    // Every answer waits 50 ms, so requests pile up to whatever the limit lets through.
    let harness = Harness::start(FaultPlan {
        delay: Some(DelayFault {
            probability: 1.0,
            ms: 50,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("photos");
    let files: Vec<(String, Vec<u8>)> = (0..FILES)
        .map(|index| (format!("f{index:03}.bin"), vec![index as u8; 1024]))
        .collect();
    write_tree(&root, &files);

    // The soft limit is lowered in the shell that then becomes ferry.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -S -n {SOFT_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ferry"))
        .arg("push")
        .arg(&root)
        .arg(harness.url("up/"))
        .arg("--db")
        .arg(dir.path().join("q.db"))
        .args(["--concurrency", "512", "--json"])
        .env_remove("FERRY_DB");
    let pushed = common::run(&mut command, LIMIT);

    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    let summary: Value = pushed.json();
    assert_eq!(
        summary["files_succeeded"].as_u64(),
        Some(FILES as u64),
        "{summary}"
    );
    assert_eq!(summary["files_failed"].as_u64(), Some(0), "{summary}");
    let in_flight = harness.stats().max_in_flight;
    assert!(
        (1..=REQUESTS_WITHIN_LIMIT).contains(&in_flight),
        "at most {REQUESTS_WITHIN_LIMIT} requests at once under ulimit -n {SOFT_LIMIT}, \
         saw {in_flight}"
    );
    for (name, content) in &files {
        assert_stored_once(&harness, &format!("/up/{name}"), content);
    }
}
