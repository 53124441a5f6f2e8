//! `ferry push` with awkward input: names with control characters or bytes that are not
//! UTF-8, sources replaced by special files after they were queued, and Ctrl-C.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Harness, assert_stored_once, ferry, push_command, run, wait_bounded};
use ferry_testkit::{Fault, FaultPlan, ScriptedFault, StatusFault};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

/// How long a push may take to exit after Ctrl-C: a hang detector, not a timing.
const INTERRUPT_BOUND: Duration = Duration::from_secs(10);

/// (file name as bytes, content): a newline, a TAB, a CR, and a name that is not UTF-8.
fn awkward_names() -> Vec<(&'static [u8], &'static [u8])> {
    vec![
        (b"new\nline.txt", b"a newline in the name"),
        (b"tab\there.txt", b"a tab in the name"),
        (b"carriage\rreturn.txt", b"a carriage return"),
        (b"caf\xe9 latin-1.txt", b"not UTF-8"),
        (b"plain.txt", b"nothing odd"),
    ]
}

fn write_named(dir: &Path, files: &[(&[u8], &[u8])]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, content) in files {
        std::fs::write(dir.join(OsStr::from_bytes(name)), content).expect("write");
    }
}

/// The request path the server must see for `name` under `/up/`: every byte that is not
/// a plain URL character percent-encoded.
fn key_of(name: &[u8]) -> String {
    let mut key = String::from("/up/");
    for &byte in name {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            key.push(char::from(byte));
        } else {
            key.push_str(&format!("%{byte:02X}"));
        }
    }
    key
}

#[test]
fn names_with_control_characters_or_not_utf8_arrive_under_their_exact_names() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("names");
    let files = awkward_names();
    write_named(&root, &files);

    let pushed = run(
        push_command(&root, &harness.url("up/"), &dir.path().join("q.db")).arg("--json"),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(0), "{pushed:?}");
    let summary = pushed.json();
    assert_eq!(summary["files_uploaded"], files.len() as u64, "{summary}");
    for (name, content) in &files {
        let key = key_of(name);
        assert_stored_once(&harness, &key, content);
        // Decoded, the request path is the file's name, byte for byte: nothing dropped.
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(&key).collect();
        assert_eq!(&decoded[b"/up/".len()..], *name);
    }
    assert_eq!(harness.received_all().len(), files.len());
}

#[test]
fn failed_names_are_escaped_on_the_terminal_and_in_json() {
    let refuse = |path: String| ScriptedFault::FirstToPath {
        path,
        count: 100,
        fault: Fault::Status {
            code: 400,
            retry_after: None,
        },
    };
    let harness = Harness::start(FaultPlan {
        scripted: vec![
            refuse(key_of(b"new\nline.txt")),
            refuse(key_of(b"caf\xe9 latin-1.txt")),
        ],
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("names");
    write_named(
        &root,
        &[
            (b"new\nline.txt", b"refused"),
            (b"caf\xe9 latin-1.txt", b"refused"),
            (b"ok.txt", b"accepted"),
        ],
    );
    let db = dir.path().join("q.db");

    let text = run(&mut push_command(&root, &harness.url("up/"), &db), LIMIT);
    assert_eq!(text.code(), Some(1), "{text:?}");
    assert!(text.stdout.contains("new\\nline.txt"), "{}", text.stdout);
    assert!(
        text.stdout.contains("caf\\xe9 latin-1.txt"),
        "{}",
        text.stdout
    );
    assert!(
        !text.stdout.contains("new\nline"),
        "a raw newline reached the output"
    );

    let json = run(
        push_command(&root, &harness.url("up/"), &db).arg("--json"),
        LIMIT,
    );
    assert_eq!(json.code(), Some(1), "{json:?}");
    let summary = json.json();
    let paths: Vec<&str> = summary["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter_map(|failure| failure["path"].as_str())
        .collect();
    assert_eq!(paths.len(), 2, "{summary}");
    assert!(
        paths.iter().any(|path| path.ends_with("/new\nline.txt")),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|path| path.ends_with("/caf\\xe9 latin-1.txt")),
        "{paths:?}"
    );

    let status = run(ferry().args(["status", "--json", "--db"]).arg(&db), LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    let report = status.json();
    let sources: Vec<&str> = report["failures"]
        .as_array()
        .map(|failures| {
            failures
                .iter()
                .filter_map(|f| f["source"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        sources
            .iter()
            .any(|source| source.ends_with("/caf\\xe9 latin-1.txt")),
        "{sources:?}"
    );
}

/// Sends SIGINT to `child`, as Ctrl-C would.
fn interrupt(child: &std::process::Child) {
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) with a pid this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

/// Starts `command` (a push) and returns once the server has seen `requests` requests in
/// all; the push must still be running then.
fn spawn_until_requests(
    command: &mut std::process::Command,
    harness: &Harness,
    requests: u64,
) -> std::process::Child {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry starts");
    let deadline = Instant::now() + LIMIT;
    while harness.stats().requests < requests {
        assert!(Instant::now() < deadline, "push never reached the server");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("push ended too early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Starts `push` against a server that answers 503 to everything, waits until it has made
/// `requests_before` requests in all, then interrupts it: it must exit with 130.
fn push_then_interrupt(harness: &Harness, root: &Path, db: &Path, requests_before: u64) {
    let mut child = spawn_until_requests(
        &mut push_command(root, &harness.url("up/"), db),
        harness,
        requests_before,
    );
    interrupt(&child);
    let status = wait_bounded(&mut child, INTERRUPT_BOUND)
        .unwrap_or_else(|| panic!("push did not exit within {INTERRUPT_BOUND:?} of Ctrl-C"));
    assert_eq!(status.code(), Some(130), "{status}");
}

fn make_fifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
    let made = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn ctrl_c_ends_push_and_queued_sources_replaced_by_special_files_fail_for_good() {
    let harness = Harness::start(FaultPlan {
        status: Some(StatusFault {
            probability: 1.0,
            code: 503,
            retry_after: None,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    let names: [&[u8]; 4] = [b"good.txt", b"fifo.txt", b"dir.txt", b"proc.txt"];
    let files: Vec<(&[u8], &[u8])> = names.iter().map(|name| (*name, *name)).collect();
    write_named(&root, &files);
    let db = dir.path().join("q.db");

    // The server refuses everything for now: Ctrl-C ends the push, leaving all four queued.
    push_then_interrupt(&harness, &root, &db, 1);
    // Now each queued source but one is replaced by something that is not a regular file.
    for name in &names[1..] {
        std::fs::remove_file(root.join(OsStr::from_bytes(name))).expect("remove");
    }
    make_fifo(&root.join("fifo.txt"));
    std::fs::create_dir(root.join("dir.txt")).expect("directory");
    std::os::unix::fs::symlink("/proc/self/status", root.join("proc.txt")).expect("link");
    // Ctrl-C still ends a push whose queue holds such sources.
    let seen = harness.stats().requests;
    push_then_interrupt(&harness, &root, &db, seen + 1);

    harness.set_faults(FaultPlan::default());
    let pushed = run(
        push_command(&root, &harness.url("up/"), &db).arg("--json"),
        LIMIT,
    );
    assert_eq!(
        pushed.code(),
        Some(1),
        "the /proc link is refused: {pushed:?}"
    );
    let summary = pushed.json();
    let refused = summary["failures"]
        .as_array()
        .and_then(|failures| {
            failures
                .iter()
                .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("proc.txt")))
        })
        .unwrap_or_else(|| panic!("the /proc link is reported: {summary}"));
    assert_eq!(refused["state"], "not_enqueued", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("copy it to a regular file")),
        "{refused}"
    );
    assert_stored_once(&harness, "/up/good.txt", b"good.txt");
    assert_eq!(harness.received_all().len(), 1, "nothing else was stored");

    let status = run(ferry().args(["status", "--json", "--db"]).arg(&db), LIMIT);
    assert_eq!(status.code(), Some(0), "{status:?}");
    let report = status.json();
    let failed: Vec<&Value> = report["failures"]
        .as_array()
        .map(|failures| failures.iter().collect())
        .unwrap_or_default();
    assert_eq!(failed.len(), 3, "{report}");
    for failure in failed {
        assert_eq!(failure["kind"], "source_not_a_file", "{failure}");
        assert_eq!(failure["state"], "failed", "{failure}");
    }
}

#[test]
fn a_database_in_a_missing_directory_is_named_and_nothing_is_created() {
    let harness = Harness::start(FaultPlan::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_named(&root, &[(b"a.txt", b"a")]);
    let missing = dir.path().join("no-such-dir");
    let pushed = run(
        &mut push_command(&root, &harness.url("up/"), &missing.join("q.db")),
        LIMIT,
    );
    assert_eq!(pushed.code(), Some(2), "{pushed:?}");
    let expected = format!("the directory {} does not exist", missing.display());
    assert!(pushed.stderr.contains(&expected), "{}", pushed.stderr);
    assert!(pushed.stderr.contains("mkdir -p"), "{}", pushed.stderr);
    assert!(!missing.exists(), "nothing was created");
    assert_eq!(harness.stats().requests, 0, "nothing was sent");
}

#[test]
fn a_second_push_through_a_link_to_the_database_is_refused_while_the_first_runs() {
    // Every response is held for a while, so the first push is certainly still running.
    let harness = Harness::start(FaultPlan {
        delay: Some(ferry_testkit::DelayFault {
            probability: 1.0,
            ms: 1500,
        }),
        ..FaultPlan::default()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("tree");
    write_named(&root, &[(b"a.txt", b"a"), (b"b.txt", b"b")]);
    let db = dir.path().join("q.db");
    let mut first = spawn_until_requests(
        push_command(&root, &harness.url("up/"), &db).args(["--concurrency", "1"]),
        &harness,
        1,
    );
    std::fs::create_dir(dir.path().join("elsewhere")).expect("mkdir");
    let hard_link = dir.path().join("elsewhere").join("linked.db");
    std::fs::hard_link(&db, &hard_link).expect("hard link");
    let symlink = dir.path().join("symlinked.db");
    std::os::unix::fs::symlink(&db, &symlink).expect("symlink");
    for other_name in [&hard_link, &symlink] {
        let second = run(
            &mut push_command(&root, &harness.url("up/"), other_name),
            LIMIT,
        );
        assert_eq!(second.code(), Some(3), "{second:?}");
        assert!(
            second.stderr.contains("in use by another ferry"),
            "{}",
            second.stderr
        );
    }
    let status = wait_bounded(&mut first, LIMIT).expect("the first push ends");
    assert_eq!(status.code(), Some(0), "{status}");
    for name in ["a.txt", "b.txt"] {
        assert_stored_once(&harness, &format!("/up/{name}"), &name.as_bytes()[..1]);
    }
}
