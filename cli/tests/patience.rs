//! `ferry push` to a host that accepts no connections never waits silently: it says per
//! host why the work waits, gives up after `--patience` with status 4, and a rerun
//! against a server that is up finishes the same queue.

mod common;

use std::time::Duration;

use common::{Harness, assert_stored_once, ferry, push_command, run, write_tree};
use ferry_testkit::ServerConfig;

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
        push_command(&root, &format!("http://{host}/up/"), &db).args(["--patience", "4", "--json"]),
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
