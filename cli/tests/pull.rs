//! `ferry pull` against the loopback test server: files arrive byte-identical, a wrong
//! SHA-256 fails the file with its reason, a bad `--list` line is a usage error naming
//! it, a rerun after a SIGKILL continues from the recorded offset, and `--json` reports
//! one summary object. A file deleted or changed since an earlier pull is fetched again,
//! `keep-both` says the name it saved under, a file given as the folder is a usage error,
//! a name too long for the file system fails before it is fetched, and a pull refused for
//! its database leaves no folder behind.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, ferry, partials_in, pull_command, run, sha256_hex, status_json};
use ferry_testkit::{DownloadFault, FaultPlan};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);
const MIB: usize = 1024 * 1024;
/// The engine checkpoints a running download every 8 MiB (`http/download/mod.rs`).
const CHECKPOINT_EVERY: u64 = 8 * MIB as u64;

fn content(size: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = vec![0u8; size];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Serves `count` files of mixed sizes (1 KiB to 2 MiB, some names needing
/// percent-encoding) and returns (file name, URL, content) of each.
fn serve_mixed(harness: &Harness, count: usize, seed: u64) -> Vec<(String, String, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .map(|index| {
            let size = if index % 10 == 9 {
                rng.random_range(MIB..=2 * MIB)
            } else {
                rng.random_range(1024..=128 * 1024)
            };
            let (name, encoded) = if index % 4 == 0 {
                (
                    format!("photo {index:03} été.jpg"),
                    format!("photo%20{index:03}%20%C3%A9t%C3%A9.jpg"),
                )
            } else {
                (format!("f{index:03}.bin"), format!("f{index:03}.bin"))
            };
            let bytes = content(size, &mut rng);
            harness.serve_file(&name, bytes.clone());
            (name, harness.file_url(&encoded), bytes)
        })
        .collect()
}

#[test]
fn a_pull_of_mixed_files_arrives_byte_identical_and_a_rerun_fetches_nothing() {
    let harness = Harness::start(FaultPlan::default());
    let files = serve_mixed(&harness, 30, 1);
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    let db = dir.path().join("q.db");
    let urls: Vec<String> = files.iter().map(|(_, url, _)| url.clone()).collect();

    let first = run(pull_command(&urls, &out, &db).arg("--json"), LIMIT);
    assert_eq!(first.code(), Some(0), "{first:?}");
    let summary = first.json();
    let total: u64 = files.iter().map(|(_, _, bytes)| bytes.len() as u64).sum();
    assert_eq!(summary["files_total"], 30, "{summary}");
    assert_eq!(summary["files_succeeded"], 30, "{summary}");
    assert_eq!(summary["files_downloaded"], 30, "{summary}");
    assert_eq!(summary["files_already_done"], 0, "{summary}");
    assert_eq!(summary["bytes_downloaded"], total, "{summary}");
    assert_eq!(summary["bytes_total"], total, "{summary}");
    assert_eq!(summary["files_failed"], 0, "{summary}");
    assert!(summary.get("files_uploaded").is_none(), "{summary}");
    assert_eq!(summary["failures"], Value::Array(Vec::new()), "{summary}");
    for (name, _, bytes) in &files {
        let got = std::fs::read(out.join(name)).expect("pulled file");
        assert_eq!(sha256_hex(&got), sha256_hex(bytes), "{name}");
    }
    assert!(partials_in(&out).is_empty());
    let served: u64 = files
        .iter()
        .map(|(name, ..)| harness.bytes_served(name))
        .sum();
    assert_eq!(served, total, "every byte served once");

    let report = status_json(&db);
    assert_eq!(report["total"], 30, "{report}");
    assert_eq!(report["bytes_total"], total, "{report}");
    assert_eq!(report["bytes_succeeded"], total, "{report}");
    assert_eq!(report["downloads_total"], 30, "{report}");
    assert_eq!(report["downloads"]["succeeded"], 30, "{report}");
    let text = run(ferry().args(["status", "--db"]).arg(&db), LIMIT);
    assert!(
        text.stdout.contains("(30 of them downloads)"),
        "{}",
        text.stdout
    );

    let again = run(pull_command(&urls, &out, &db).arg("--json"), LIMIT);
    assert_eq!(again.code(), Some(0), "{again:?}");
    let summary = again.json();
    assert_eq!(summary["files_already_done"], 30, "{summary}");
    assert_eq!(summary["files_downloaded"], 0, "{summary}");
    let served_again: u64 = files
        .iter()
        .map(|(name, ..)| harness.bytes_served(name))
        .sum();
    assert_eq!(served_again, total, "a rerun fetches nothing");
    assert_eq!(status_json(&db)["records_total"], 30, "no record added");
}

#[test]
fn a_wrong_sha256_fails_that_file_with_its_reason_and_exit_status_1() {
    let harness = Harness::start(FaultPlan::default());
    let mut rng = StdRng::seed_from_u64(2);
    let good = content(40_000, &mut rng);
    let bad = content(50_000, &mut rng);
    harness.serve_file("good.bin", good.clone());
    harness.serve_file("bad.bin", bad);
    let dir = tempfile::tempdir().expect("dir");
    let list = dir.path().join("urls.txt");
    std::fs::write(
        &list,
        format!(
            "# two files\n{} {}\n\n{}\t{}\n",
            harness.file_url("good.bin"),
            sha256_hex(&good).to_uppercase(),
            harness.file_url("bad.bin"),
            "0".repeat(64)
        ),
    )
    .expect("list");
    let out = dir.path().join("out");
    let db = dir.path().join("q.db");
    let mut command = ferry();
    command.args(["pull", "--list"]).arg(&list).arg(&out);
    command.arg("--db").arg(&db).arg("--json");
    let pulled = run(&mut command, LIMIT);
    assert_eq!(pulled.code(), Some(1), "{pulled:?}");
    let summary = pulled.json();
    assert_eq!(summary["files_succeeded"], 1, "{summary}");
    assert_eq!(summary["files_failed"], 1, "{summary}");
    let failure = &summary["failures"][0];
    assert_eq!(failure["kind"], "digest_mismatch", "{summary}");
    assert_eq!(failure["state"], "failed", "{summary}");
    // Named as `status --json` names a download: from its URL, to its file.
    assert_eq!(
        failure["source"].as_str(),
        Some(harness.file_url("bad.bin").as_str()),
        "{summary}"
    );
    assert!(
        failure["destination"]
            .as_str()
            .is_some_and(|path| path.ends_with("/out/bad.bin")),
        "{summary}"
    );
    assert!(failure.get("path").is_none(), "{summary}");
    assert!(
        failure["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("SHA-256")),
        "{summary}"
    );
    assert_eq!(std::fs::read(out.join("good.bin")).expect("good"), good);
    assert!(
        !out.join("bad.bin").exists(),
        "a mismatched file is never put in place"
    );
    // The failed download keeps its partial file for a `ferry retry` (the engine's rule
    // for a failed download), emptied: the mismatched bytes are gone.
    for partial in partials_in(&out) {
        let len = std::fs::metadata(out.join(&partial))
            .expect("partial")
            .len();
        assert_eq!(len, 0, "{partial}");
    }
    // Fetched twice: the mismatch restarts it once from zero, then fails it.
    assert_eq!(harness.bytes_served("bad.bin"), 100_000);

    let text = run(ferry().args(["status", "--db"]).arg(&db), LIMIT);
    assert!(text.stdout.contains("bad.bin"), "{}", text.stdout);
    assert!(text.stdout.contains("-> "), "{}", text.stdout);
    // A download comes from its URL and goes to its file.
    let report = status_json(&db);
    let listed = &report["failures"][0];
    assert_eq!(listed["direction"], "download", "{report}");
    assert_eq!(
        listed["source"].as_str(),
        Some(harness.file_url("bad.bin").as_str()),
        "{report}"
    );
    assert!(
        listed["destination"]
            .as_str()
            .is_some_and(|path| path.ends_with("/out/bad.bin")),
        "{report}"
    );
}

#[test]
fn bad_lists_and_urls_are_usage_errors_that_name_the_line_and_create_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let list = dir.path().join("urls.txt");
    let db = dir.path().join("q.db");
    let out = dir.path().join("out");
    let cases: [(&str, &str); 4] = [
        (
            "http://127.0.0.1:9/a\n# c\nhttp://127.0.0.1:9/b abc\n",
            "line 3: has a SHA-256 that is not 64 hex digits",
        ),
        ("\n\nftp://127.0.0.1/a\n", "line 3: is a ftp: URL"),
        ("http://127.0.0.1:9/d/\n", "line 1: ends in `/`"),
        (
            "http://127.0.0.1:9/x/a\nhttp://127.0.0.1:9/y/a\n",
            "urls.txt line 1 is saved as; pull them into different folders",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&list, text).expect("list");
        let mut command = ferry();
        command.args(["pull", "--list"]).arg(&list).arg(&out);
        command.arg("--db").arg(&db);
        let refused = run(&mut command, LIMIT);
        assert_eq!(refused.code(), Some(2), "{text}: {refused:?}");
        assert!(
            refused.stderr.contains(expected),
            "{text}: {}",
            refused.stderr
        );
    }
    let mut both = ferry();
    both.args(["pull", "http://127.0.0.1:9/a", "--list"])
        .arg(&list)
        .arg(&out);
    both.arg("--db").arg(&db);
    let refused = run(&mut both, LIMIT);
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    assert!(refused.stderr.contains("one way"), "{}", refused.stderr);
    let mut missing = ferry();
    missing
        .args(["pull", "--list"])
        .arg(dir.path().join("nope"))
        .arg(&out);
    missing.arg("--db").arg(&db);
    let refused = run(&mut missing, LIMIT);
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    assert!(
        refused.stderr.contains("cannot read it"),
        "{}",
        refused.stderr
    );
    let named = run(
        &mut pull_command(&["http://u:secret@127.0.0.1:9/a".to_owned()], &out, &db),
        LIMIT,
    );
    assert_eq!(named.code(), Some(2), "{named:?}");
    assert!(!named.stderr.contains("secret"), "{}", named.stderr);
    assert!(!db.exists(), "no queue was opened");
    assert!(!out.exists(), "no folder was made");
}

/// Serves `bytes` as `big.iso`, whose first answer stalls after `stall_at` bytes, and
/// starts a pull of it into `out` (queue `db`); returns once the stall was reached.
fn pull_until_stalled(
    harness: &Harness,
    bytes: Vec<u8>,
    stall_at: u64,
    out: &std::path::Path,
    db: &std::path::Path,
) -> std::process::Child {
    harness.serve_file("big.iso", bytes);
    harness.add_download_faults(
        "big.iso",
        vec![DownloadFault::StallAfter {
            bytes: stall_at,
            hold_ms: 120_000,
        }],
    );
    let mut child = pull_command(&[harness.file_url("big.iso")], out, db)
        .args(["--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pull starts");
    let started = Instant::now();
    while harness.bytes_served("big.iso") < stall_at && started.elapsed() < LIMIT {
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the pull ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(harness.bytes_served("big.iso"), stall_at);
    child
}

#[test]
fn a_rerun_after_a_sigkill_continues_from_the_recorded_offset() {
    let harness = Harness::start(FaultPlan::default());
    let size = 24 * MIB;
    let bytes = content(size, &mut StdRng::seed_from_u64(3));
    // The first answer stops just past the second checkpoint and holds the connection.
    let stall_at = 2 * CHECKPOINT_EVERY + (MIB as u64) / 2;
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    let db = dir.path().join("q.db");
    let urls = [harness.file_url("big.iso")];
    let mut child = pull_until_stalled(&harness, bytes.clone(), stall_at, &out, &db);
    // A moment for the checkpoint a paused body makes of what it holds (after a second);
    // without it the rerun continues from the one before (still within the bound below,
    // which allows one checkpoint interval).
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "still stalled"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(
        !out.join("big.iso").exists(),
        "nothing under the name before it is whole"
    );

    let rerun = run(pull_command(&urls, &out, &db).arg("--json"), LIMIT);
    assert_eq!(rerun.code(), Some(0), "{rerun:?}");
    let summary = rerun.json();
    assert_eq!(summary["files_succeeded"], 1, "{summary}");
    assert_eq!(std::fs::read(out.join("big.iso")).expect("file"), bytes);
    assert!(partials_in(&out).is_empty());
    let requests = harness.file_requests("big.iso");
    assert_eq!(requests.len(), 2, "{requests:?}");
    let from: u64 = requests[1]
        .range
        .as_deref()
        .and_then(|range| range.strip_prefix("bytes="))
        .and_then(|range| range.trim_end_matches('-').parse().ok())
        .expect("the rerun asked for a range");
    assert!(
        (CHECKPOINT_EVERY..=stall_at).contains(&from),
        "resumed from {from}"
    );
    assert_eq!(requests[1].status, 206);
    let served = harness.bytes_served("big.iso");
    let ratio = served as f64 / size as f64;
    println!(
        "pull resume after SIGKILL: {served} bytes served for {size} ({ratio:.4}x), rerun from {from}"
    );
    assert!(
        served as f64 <= 1.05 * size as f64 + CHECKPOINT_EVERY as f64,
        "{served} bytes served for {size}"
    );
}

#[test]
fn an_existing_file_is_kept_under_fail_and_beside_the_new_one_under_keep_both() {
    let harness = Harness::start(FaultPlan::default());
    harness.serve_file("a.txt", b"new content".to_vec());
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    std::fs::write(out.join("a.txt"), b"mine").expect("existing");
    let db = dir.path().join("q.db");
    let urls = [harness.file_url("a.txt")];

    let failed = run(
        pull_command(&urls, &out, &db).args(["--on-conflict", "fail", "--json"]),
        LIMIT,
    );
    assert_eq!(failed.code(), Some(1), "{failed:?}");
    let summary = failed.json();
    assert_eq!(
        summary["failures"][0]["kind"], "destination_exists",
        "{summary}"
    );
    let reason = summary["failures"][0]["reason"].as_str().expect("reason");
    assert!(reason.contains("--on-conflict keep-both"), "{reason}");
    for upload_word in ["ConflictRule", "enqueue", "push", "BASE_URL"] {
        assert!(!reason.contains(upload_word), "{reason}");
    }
    assert_eq!(std::fs::read(out.join("a.txt")).expect("kept"), b"mine");

    let kept = run(
        pull_command(&urls, &out, &db).args(["--on-conflict", "keep-both", "--json"]),
        LIMIT,
    );
    assert_eq!(kept.code(), Some(0), "{kept:?}");
    let summary = kept.json();
    let saved = &summary["saved_elsewhere"];
    assert_eq!(saved.as_array().map(Vec::len), Some(1), "{summary}");
    assert!(
        saved[0]["path"]
            .as_str()
            .is_some_and(|path| path.ends_with("/a.txt")),
        "{summary}"
    );
    assert!(
        saved[0]["saved_as"]
            .as_str()
            .is_some_and(|path| path.ends_with("/a (1).txt")),
        "{summary}"
    );
    let text = run(
        pull_command(&urls, &out, &db).args(["--on-conflict", "keep-both"]),
        LIMIT,
    );
    assert!(text.stdout.contains("saved as "), "{}", text.stdout);
    assert!(
        text.stdout.contains("a.txt was already there"),
        "{}",
        text.stdout
    );
    assert_eq!(std::fs::read(out.join("a.txt")).expect("kept"), b"mine");
    assert_eq!(
        std::fs::read(out.join("a (1).txt")).expect("beside it"),
        b"new content"
    );
    // Not asserted here: the failed first transfer keeps its (complete) partial file for
    // a `ferry retry` (the engine's rule for failed downloads), also after the second
    // run's new transfer saved the file: an engine question, reported with this slice.
}

#[test]
fn a_file_deleted_or_changed_since_an_earlier_pull_is_fetched_again_not_called_there() {
    let harness = Harness::start(FaultPlan::default());
    let mut rng = StdRng::seed_from_u64(5);
    let files: Vec<(&str, Vec<u8>)> = [
        "gone.bin",
        "changed.bin",
        "kept.bin",
        "shrunk.bin",
        "edited.bin",
    ]
    .into_iter()
    .map(|name| (name, content(30_000, &mut rng)))
    .collect();
    for (name, bytes) in &files {
        harness.serve_file(name, bytes.clone());
    }
    let dir = tempfile::tempdir().expect("dir");
    let list = dir.path().join("urls.txt");
    // `shrunk.bin` and `edited.bin` have no SHA-256 in the list: only a change of length
    // can be told (the record's size), so `edited.bin`, changed in place, stays.
    let lines: Vec<String> = files
        .iter()
        .map(|(name, bytes)| match *name {
            "shrunk.bin" | "edited.bin" => harness.file_url(name),
            _ => format!("{} {}", harness.file_url(name), sha256_hex(bytes)),
        })
        .collect();
    std::fs::write(&list, lines.join("\n")).expect("list");
    let out = dir.path().join("out");
    let db = dir.path().join("q.db");
    let pull = || {
        let mut command = ferry();
        command.args(["pull", "--list"]).arg(&list).arg(&out);
        command.arg("--db").arg(&db);
        command
    };
    let first = run(pull().arg("--json"), LIMIT);
    assert_eq!(first.code(), Some(0), "{first:?}");

    std::fs::remove_file(out.join("gone.bin")).expect("delete");
    std::fs::write(out.join("changed.bin"), b"not what was downloaded").expect("change");
    std::fs::write(out.join("shrunk.bin"), b"8 bytes!").expect("shrink");
    let mut edited = std::fs::read(out.join("edited.bin")).expect("edited");
    edited.iter_mut().take(100).for_each(|byte| *byte = !*byte);
    std::fs::write(out.join("edited.bin"), &edited).expect("edit");
    let again = run(pull().arg("--json"), LIMIT);
    assert_eq!(again.code(), Some(0), "{again:?}");
    let summary = again.json();
    assert_eq!(summary["files_fetched_again"], 3, "{summary}");
    assert_eq!(summary["files_downloaded"], 3, "{summary}");
    assert_eq!(summary["files_already_done"], 2, "{summary}");
    assert_eq!(summary["bytes_downloaded"], 90_000, "{summary}");
    for (name, bytes) in &files[..4] {
        assert_eq!(
            &std::fs::read(out.join(name)).expect("file"),
            bytes,
            "{name}"
        );
        let served = if *name == "kept.bin" { 30_000 } else { 60_000 };
        assert_eq!(harness.bytes_served(name), served, "{name}");
    }
    assert_eq!(harness.bytes_served("edited.bin"), 30_000);
    assert_eq!(
        std::fs::read(out.join("edited.bin")).expect("edited"),
        edited
    );
    assert_eq!(
        status_json(&db)["records_total"],
        5,
        "purged and enqueued anew"
    );

    std::fs::remove_file(out.join("gone.bin")).expect("delete again");
    let text = run(&mut pull(), LIMIT);
    assert_eq!(text.code(), Some(0), "{text:?}");
    assert!(
        text.stdout
            .contains("1 file an earlier pull saved was gone or changed, and fetched again"),
        "{}",
        text.stdout
    );
    assert_eq!(
        std::fs::read(out.join("gone.bin")).expect("back"),
        files[0].1
    );
}

#[test]
fn a_folder_argument_that_is_a_file_is_a_usage_error_that_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("out");
    std::fs::write(&file, b"a file").expect("file");
    let db = dir.path().join("q.db");
    let urls = ["http://127.0.0.1:9/a.txt".to_owned()];
    for target in [file.clone(), file.join("below")] {
        let refused = run(&mut pull_command(&urls, &target, &db), LIMIT);
        assert_eq!(refused.code(), Some(2), "{refused:?}");
        assert!(refused.stderr.contains("folder"), "{}", refused.stderr);
        assert!(
            refused
                .stderr
                .contains("give as the last argument a folder"),
            "{}",
            refused.stderr
        );
    }
    assert!(!db.exists(), "no queue was opened");
}

#[test]
fn a_url_in_the_folder_place_is_a_usage_error_that_says_dir_is_missing() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("q.db");
    let list = dir.path().join("urls.txt");
    std::fs::write(&list, "http://127.0.0.1:9/a\n").expect("list");
    let cases: [&[&str]; 4] = [
        &["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"],
        &["http://127.0.0.1:9/a"],
        &["HTTPS://u:secret@127.0.0.1:9/b?sig=secret"],
        &["--list", "urls.txt", "Http://127.0.0.1:9/b"],
    ];
    for operands in cases {
        let mut command = ferry();
        command.current_dir(dir.path()).arg("pull").args(operands);
        command.arg("--db").arg(&db);
        let refused = run(&mut command, LIMIT);
        assert_eq!(refused.code(), Some(2), "{operands:?}: {refused:?}");
        assert!(
            refused.stderr.contains("DIR is missing"),
            "{operands:?}: {}",
            refused.stderr
        );
        assert!(
            refused
                .stderr
                .contains("the last argument must be the folder to save into"),
            "{}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("it looks like a URL: "),
            "{}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("secret"), "{}", refused.stderr);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(left, ["urls.txt"], "no folder made, no queue opened");
}

/// Runs a pull of `urls` into `folder`, which must be refused as a usage error (exit 2)
/// whose message `says` this and names the folder; returns the run.
fn refused_folder(
    urls: &[String],
    folder: &std::path::Path,
    db: &std::path::Path,
    says: &str,
) -> common::Run {
    let refused = run(&mut pull_command(urls, folder, db), LIMIT);
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    for expected in [says, &*folder.to_string_lossy()] {
        assert!(refused.stderr.contains(expected), "{}", refused.stderr);
    }
    refused
}

#[test]
fn a_folder_that_cannot_be_created_is_a_usage_error_that_names_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("q.db");
    let urls = ["http://127.0.0.1:9/a.txt".to_owned()];
    // A name no file system takes fails `mkdir` for everyone, root included; a read-only
    // folder only for a user who is not root.
    let mut folders = vec![dir.path().join("n".repeat(300)).join("new")];
    let read_only = dir.path().join("ro");
    std::fs::create_dir(&read_only).expect("ro");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).expect("mode");
    if std::fs::create_dir(read_only.join("probe")).is_err() {
        folders.push(read_only.join("new"));
    }
    for folder in folders {
        let refused = refused_folder(&urls, &folder, &db, "cannot create the folder");
        assert!(
            refused.stderr.contains("a folder you may write in"),
            "{}",
            refused.stderr
        );
        assert!(!folder.exists());
    }
    assert!(!db.exists(), "no queue was opened");
}

/// Makes `folder` immutable (`chattr +i`: refused to root as well) until dropped.
struct Immutable<'a>(&'a std::path::Path);

impl Immutable<'_> {
    fn chattr(folder: &std::path::Path, flag: &str) -> bool {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(folder)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        Self::chattr(self.0, "-i");
    }
}

#[test]
fn an_existing_folder_that_cannot_be_written_is_a_usage_error_before_anything_runs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("q.db");
    let urls = ["http://127.0.0.1:9/a.txt".to_owned()];
    let read_only = dir.path().join("ro");
    std::fs::create_dir(&read_only).expect("ro");
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).expect("mode");
    let immutable = dir.path().join("immutable");
    std::fs::create_dir(&immutable).expect("immutable");
    let _guard = Immutable::chattr(&immutable, "+i").then(|| Immutable(&immutable));
    // Root writes in a read-only folder; an immutable one refuses everyone.
    let refusing: Vec<_> = [&read_only, &immutable]
        .into_iter()
        .filter(|folder| std::fs::create_dir(folder.join("probe")).is_err())
        .collect();
    assert!(
        !refusing.is_empty(),
        "neither a read-only nor an immutable folder refused a write here (chattr missing?)"
    );
    for folder in refusing {
        refused_folder(&urls, folder, &db, "cannot write in the folder");
    }
    assert!(!db.exists(), "no queue was opened");
}

#[test]
fn a_name_too_long_for_the_file_system_fails_alone_before_it_is_fetched() {
    let harness = Harness::start(FaultPlan::default());
    let long = format!("{}.txt", "n".repeat(296));
    harness.serve_file(&long, b"long".to_vec());
    harness.serve_file("short.txt", b"short".to_vec());
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    let db = dir.path().join("q.db");
    let urls = [harness.file_url(&long), harness.file_url("short.txt")];
    let pulled = run(pull_command(&urls, &out, &db).arg("--json"), LIMIT);
    assert_eq!(pulled.code(), Some(1), "{pulled:?}");
    let summary = pulled.json();
    assert_eq!(summary["files_total"], 2, "{summary}");
    assert_eq!(summary["files_succeeded"], 1, "{summary}");
    assert_eq!(summary["files_failed"], 1, "{summary}");
    let failure = &summary["failures"][0];
    assert_eq!(
        failure["source"].as_str(),
        Some(urls[0].as_str()),
        "{summary}"
    );
    assert_eq!(
        failure["destination"].as_str(),
        Some(&*out.join(&long).to_string_lossy()),
        "{summary}"
    );
    let reason = failure["reason"].as_str().expect("reason");
    assert!(reason.contains("300 bytes long"), "{reason}");
    assert!(
        reason.contains("cannot save it under another name"),
        "{reason}"
    );
    assert!(!reason.contains("permission"), "{reason}");
    assert!(harness.file_requests(&long).is_empty(), "nothing fetched");
    assert_eq!(
        std::fs::read(out.join("short.txt")).expect("short"),
        b"short"
    );
}

#[test]
fn a_gone_file_whose_record_cannot_be_renewed_alone_is_a_failure_with_what_to_do() {
    let harness = Harness::start(FaultPlan::default());
    harness.serve_file("a.bin", b"first".to_vec());
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("q.db");
    let urls = [harness.file_url("a.bin")];
    // The same URL saved into two folders: two succeeded records under one URL.
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    for out in [&one, &two] {
        let pulled = run(&mut pull_command(&urls, out, &db), LIMIT);
        assert_eq!(pulled.code(), Some(0), "{pulled:?}");
    }
    std::fs::remove_file(one.join("a.bin")).expect("delete");
    let again = run(pull_command(&urls, &one, &db).arg("--json"), LIMIT);
    assert_eq!(again.code(), Some(1), "{again:?}");
    let summary = again.json();
    assert_eq!(summary["files_already_done"], 0, "{summary}");
    assert_eq!(summary["files_failed"], 1, "{summary}");
    let failure = &summary["failures"][0];
    assert_eq!(failure["state"], "stale", "{summary}");
    let reason = failure["reason"].as_str().expect("reason");
    assert!(reason.contains("is not there any more"), "{reason}");
    assert!(reason.contains("another --db"), "{reason}");
    assert_eq!(status_json(&db)["records_total"], 2, "nothing purged");
    assert_eq!(harness.bytes_served("a.bin"), 10, "nothing fetched again");
}

#[test]
fn a_pull_refused_for_its_database_leaves_no_folder_behind() {
    let harness = Harness::start(FaultPlan::default());
    harness.serve_file("a.bin", b"a".to_vec());
    let urls = [harness.file_url("a.bin")];
    let dir = tempfile::tempdir().expect("dir");
    // A database in a folder that does not exist: exit 2.
    let into = dir.path().join("new").join("deeper");
    let refused = run(
        &mut pull_command(&urls, &into, &dir.path().join("no-such").join("q.db")),
        LIMIT,
    );
    assert_eq!(refused.code(), Some(2), "{refused:?}");
    assert!(!dir.path().join("new").exists(), "{refused:?}");
    // A file that is not a database: exit 3.
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).expect("write");
    let refused = run(&mut pull_command(&urls, &into, &garbage), LIMIT);
    assert_eq!(refused.code(), Some(3), "{refused:?}");
    assert!(!dir.path().join("new").exists(), "{refused:?}");
    // A folder that was there before stays, and so does anything a run put in one.
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).expect("mkdir");
    let refused = run(&mut pull_command(&urls, &existing, &garbage), LIMIT);
    assert_eq!(refused.code(), Some(3), "{refused:?}");
    assert!(existing.is_dir());
    assert_eq!(
        harness.file_requests("a.bin").len(),
        0,
        "nothing was fetched"
    );
}

#[test]
fn headers_given_with_dash_h_never_follow_a_redirect_to_another_origin() {
    let origin = Harness::start(FaultPlan::default());
    let elsewhere = Harness::start(FaultPlan::default());
    origin.serve_file("f.bin", Vec::new());
    elsewhere.serve_file("f.bin", b"the file".to_vec());
    origin.add_download_faults(
        "f.bin",
        vec![DownloadFault::Redirect {
            code: 302,
            location: elsewhere.file_url("f.bin"),
        }],
    );
    let dir = tempfile::tempdir().expect("dir");
    let into = dir.path().join("in");
    let pulled = run(
        pull_command(&[origin.file_url("f.bin")], &into, &dir.path().join("q.db")).args([
            "-H",
            "X-Secret: s3",
            "-H",
            "X-Trace: 1",
        ]),
        LIMIT,
    );
    assert_eq!(pulled.code(), Some(0), "{pulled:?}");
    assert_eq!(
        std::fs::read(into.join("f.bin")).expect("file"),
        b"the file"
    );
    let carried = |request: &ferry_testkit::FileRequest, name: &str| {
        request.header_names.iter().any(|carried| carried == name)
    };
    let asked = origin.file_requests("f.bin");
    assert!(
        asked.iter().all(|request| carried(request, "x-secret")),
        "{asked:?}"
    );
    let followed = elsewhere.file_requests("f.bin");
    assert_eq!(followed.len(), 1, "{followed:?}");
    assert!(!carried(&followed[0], "x-secret"), "{followed:?}");
    assert!(!carried(&followed[0], "x-trace"), "{followed:?}");
}

#[test]
fn status_tells_the_bytes_an_interrupted_download_holds() {
    let harness = Harness::start(FaultPlan::default());
    let stall_at = CHECKPOINT_EVERY + (MIB as u64) / 2;
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    let db = dir.path().join("q.db");
    let mut child = pull_until_stalled(&harness, vec![5u8; 24 * MIB], stall_at, &out, &db);
    // The paused body's own checkpoint comes after a second.
    std::thread::sleep(Duration::from_millis(1500));
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) on the child this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0, "kill");
    let status = child.wait().expect("reap");
    assert_eq!(status.code(), Some(130), "{status:?}");

    let report = status_json(&db);
    let held = report["waiting"][0]["held_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no held bytes in {report}"));
    assert!((CHECKPOINT_EVERY..=stall_at).contains(&held), "{held}");
    assert_eq!(report["bytes_total"], 24 * MIB as u64, "{report}");
    let text = run(
        ferry().args(["status", "--db"]).arg(&db),
        Duration::from_secs(60),
    );
    assert!(
        text.stdout.contains("held, it continues from there"),
        "{}",
        text.stdout
    );
}
