//! `ferry demo` end to end: the real binary, its own faulty server, every file verified.

mod common;

use std::time::Duration;

use common::{ferry, run};

#[test]
fn the_demo_uploads_every_file_exactly_once_through_the_injected_faults_and_pulls_some_back() {
    let demo = run(ferry().args(["demo", "--json"]), Duration::from_secs(600));
    assert_eq!(demo.code(), Some(0), "{demo:?}");
    let report = demo.json();
    assert_eq!(report["ok"], true, "{report}");
    let files = report["files_generated"].as_u64().expect("files_generated");
    assert_eq!(files, 2000);

    let verification = &report["verification"];
    assert_eq!(verification["files"], files, "{verification}");
    assert_eq!(
        verification["identical"], files,
        "byte-identical: {verification}"
    );
    assert_eq!(verification["stored_once"], files, "{verification}");

    let summary = &report["summary"];
    assert_eq!(summary["files_succeeded"], files, "{summary}");
    assert_eq!(summary["files_failed"], 0, "{summary}");
    let stalls = summary["stalls_recovered"].as_u64().expect("stalls");
    let retries = summary["retries"].as_u64().expect("retries");
    // The plan: a mid-body stall and a lost response (both end in the stall watchdog),
    // three resets and a 503: every one of them is a retry.
    assert!(stalls >= 2, "{summary}");
    assert!(retries >= 6, "{summary}");

    let server = &report["server"];
    assert_eq!(server["faults"]["reset"], 3, "{server}");
    assert_eq!(server["faults"]["stall"], 1, "{server}");
    assert_eq!(server["faults"]["status"], 1, "{server}");
    assert_eq!(server["bodies_stored"], files, "{server}");
    assert!(
        server["duplicates_refused"]
            .as_u64()
            .is_some_and(|refused| refused >= 1),
        "the retried lost response was refused as a duplicate: {server}"
    );
    // The second half: a few files pulled back through a cut body and a 503.
    let pull = &report["pull"];
    assert_eq!(pull["files"], 6, "{pull}");
    assert_eq!(pull["identical"], 6, "byte-identical: {pull}");
    assert_eq!(pull["summary"]["files_succeeded"], 6, "{pull}");
    assert_eq!(pull["summary"]["files_downloaded"], 6, "{pull}");
    assert!(pull["summary"]["retries"].as_u64() >= Some(2), "{pull}");
    assert_eq!(pull["resumed"], true, "{pull}");
    let (served, bytes) = (
        pull["bytes_served"].as_u64().expect("bytes_served"),
        pull["bytes"].as_u64().expect("bytes"),
    );
    assert!(
        served as f64 <= 1.05 * bytes as f64,
        "the cut file resumed instead of starting over: {served} served for {bytes}"
    );
    println!(
        "demo pull: {} files, {served} bytes served for {bytes} ({:.3}x)",
        pull["files"],
        served as f64 / bytes as f64
    );
    println!(
        "demo: {} files in {:.1} s ({:.0} files/s), retries {retries}, stalls recovered {stalls}, duplicates refused {}",
        files,
        summary["seconds"].as_f64().unwrap_or_default(),
        summary["files_per_second"].as_f64().unwrap_or_default(),
        server["duplicates_refused"]
    );
}
