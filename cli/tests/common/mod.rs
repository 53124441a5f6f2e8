//! Shared by the `ferry` integration tests: a test server on its own runtime, running the
//! `ferry` binary with a time bound, and writing and hashing file trees.

#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferry_testkit::{
    DownloadFault, FaultPlan, FileRequest, ReceivedBody, ServerConfig, Stats, TestServer,
};
use sha2::{Digest, Sha256};

/// A loopback test server running on a runtime of its own, so the test thread can block
/// on child processes while the server keeps serving.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    server: Option<TestServer>,
}

impl Harness {
    pub fn start(faults: FaultPlan) -> Self {
        Self::start_with(ServerConfig {
            faults,
            ..ServerConfig::default()
        })
    }

    pub fn start_with(config: ServerConfig) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let server = runtime
            .block_on(TestServer::start(config))
            .expect("test server starts");
        Self {
            runtime,
            server: Some(server),
        }
    }

    fn server(&self) -> &TestServer {
        self.server.as_ref().expect("server running")
    }

    /// `http://127.0.0.1:PORT/` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server().base_url())
    }

    /// With TLS, the PEM a client trusts (the CA, or the self-signed certificate itself).
    pub fn trusted_pem(&self) -> Option<String> {
        self.server().ca_certificate_pem()
    }

    /// Replaces the fault plan; request numbering starts over.
    pub fn set_faults(&self, faults: FaultPlan) {
        self.server().set_faults(faults).expect("valid fault plan");
    }

    pub fn stats(&self) -> Stats {
        self.server().stats()
    }

    /// A fresh bearer token (for a server started with a bearer policy).
    pub fn issue_token(&self) -> String {
        self.server().issue_token()
    }

    pub fn received(&self, key: &str) -> Option<ReceivedBody> {
        self.server().received(key)
    }

    pub fn received_all(&self) -> BTreeMap<String, ReceivedBody> {
        self.server().received_all()
    }

    /// Serves `bytes` for downloads as file `name` (`/_files/NAME`).
    pub fn serve_file(&self, name: &str, bytes: Vec<u8>) {
        self.server().serve_file(name, bytes);
    }

    /// The URL of file `name`, which must already be percent-encoded where needed.
    pub fn file_url(&self, name: &str) -> String {
        self.server().file_url(name)
    }

    /// Faults for the next requests of file `name`, one each, in order.
    pub fn add_download_faults(&self, name: &str, faults: Vec<DownloadFault>) {
        self.server().add_download_faults(name, faults);
    }

    /// Body bytes of file `name` handed to connections so far.
    pub fn bytes_served(&self, name: &str) -> u64 {
        self.server().bytes_served(name)
    }

    /// Every request for file `name`, in order.
    pub fn file_requests(&self, name: &str) -> Vec<FileRequest> {
        self.server().file_requests(name)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// The `ferry` binary, with no inherited `FERRY_DB`.
pub fn ferry() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.env_remove("FERRY_DB");
    command
}

/// `ferry push ROOT URL --db DB`, to which a test adds its own flags.
pub fn push_command(root: &Path, url: &str, db: &Path) -> Command {
    let mut command = ferry();
    command.arg("push").arg(root).arg(url).arg("--db").arg(db);
    command
}

/// `ferry pull URL... DIR --db DB`, to which a test adds its own flags.
pub fn pull_command(urls: &[String], dir: &Path, db: &Path) -> Command {
    let mut command = ferry();
    command.arg("pull").args(urls).arg(dir).arg("--db").arg(db);
    command
}

/// The `.ferry-*.partial` files left in `dir`.
pub fn partials_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(".ferry-") && name.ends_with(".partial"))
        .collect()
}

/// `ferry status --json --db DB`, which must succeed, as JSON.
pub fn status_json(db: &Path) -> serde_json::Value {
    let status = run(
        ferry().args(["status", "--json", "--db"]).arg(db),
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
    status.json()
}

/// What a bounded run produced.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not one JSON value ({error}): {self:?}"))
    }
}

/// Runs `command` to its end, killing it and failing the test after `limit`.
pub fn run(command: &mut Command, limit: Duration) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts");
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait_bounded(&mut child, limit);
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let status =
        status.unwrap_or_else(|| panic!("ferry ran longer than {limit:?}; stderr: {stderr}"));
    Run {
        status,
        stdout,
        stderr,
    }
}

/// Starts `command` with stdout and stderr piped to this test.
pub fn spawn_piped(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry starts")
}

/// Reads `pipe` to its end on a thread of its own.
pub fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Runs `command` with stdout and stderr on one pseudo-terminal, as in an interactive
/// shell (so `ferry` draws its progress bars), to its end, killing it and failing the
/// test after `limit`. What the terminal showed (both streams) is in `stdout`.
pub fn run_on_terminal(command: &mut Command, limit: Duration) -> Run {
    let (master, slave) = pseudo_terminal();
    let slave_too = slave.try_clone().expect("dup the terminal");
    let mut child = command
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::from(slave_too))
        .spawn()
        .expect("ferry starts");
    // The command keeps its copies of the terminal open until they are replaced: the
    // reader sees the end only once the child's copies are the last.
    command.stdout(Stdio::null()).stderr(Stdio::null());
    let shown = reader(Some(std::fs::File::from(master)));
    let status = wait_bounded(&mut child, limit);
    let shown = shown.join().expect("terminal reader");
    let status = status.unwrap_or_else(|| panic!("ferry ran longer than {limit:?}: {shown}"));
    Run {
        status,
        stdout: shown,
        stderr: String::new(),
    }
}

/// A new pseudo-terminal of 120x40: (master, slave). `posix_openpt` and friends are in
/// every libc, unlike `openpty`.
fn pseudo_terminal() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::ffi::CStr;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::fs::OpenOptionsExt;

    // SAFETY: plain libc calls on a descriptor this function owns; `name` is a buffer of
    // the size passed and `ptsname_r` NUL-terminates what it writes.
    unsafe {
        let raw = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(
            raw >= 0,
            "posix_openpt: {}",
            std::io::Error::last_os_error()
        );
        let master = OwnedFd::from_raw_fd(raw);
        assert_eq!(libc::grantpt(raw), 0, "grantpt");
        assert_eq!(libc::unlockpt(raw), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(raw, name.as_mut_ptr(), name.len()), 0);
        let path = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .expect("open the terminal's slave side");
        let size = libc::winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        use std::os::fd::AsRawFd;
        assert_eq!(libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size), 0);
        (master, OwnedFd::from(slave))
    }
}

/// Waits for `child` at most `limit`; kills (SIGKILL) and reaps it when it overruns.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes `files` (relative path, content) under `root`.
pub fn write_tree(root: &Path, files: &[(String, Vec<u8>)]) {
    for (relative, content) in files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, content).expect("write test file");
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The database with its WAL and SHM companions, as bytes.
pub fn database_bytes(db: &Path) -> Vec<u8> {
    let path = db.to_string_lossy().into_owned();
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::read(format!("{path}{suffix}")).ok())
        .flatten()
        .collect()
}

/// Asserts that `secret` is in none of `texts` and nowhere in the database's files.
pub fn assert_absent(secret: &str, texts: &[&str], db: &Path) {
    for text in texts {
        assert!(!text.contains(secret), "{secret:?} was printed: {text}");
    }
    let bytes = database_bytes(db);
    assert!(!bytes.is_empty());
    assert!(
        !contains_bytes(&bytes, secret),
        "{secret:?} was written to the database"
    );
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// `ferry status` as text and as JSON: stdout and stderr of both, and the JSON report.
pub fn status_outputs(db: &Path) -> (String, serde_json::Value) {
    let limit = Duration::from_secs(120);
    let text = run(ferry().arg("status").arg("--db").arg(db), limit);
    let json = run(ferry().args(["status", "--json", "--db"]).arg(db), limit);
    let all = format!(
        "{}{}{}{}",
        text.stdout, text.stderr, json.stdout, json.stderr
    );
    (all, json.json())
}

/// Asserts that the server stored `content` exactly once under `key`.
pub fn assert_stored_once(harness: &Harness, key: &str, content: &[u8]) {
    let body = harness
        .received(key)
        .unwrap_or_else(|| panic!("the server has nothing under {key}"));
    assert_eq!(body.len, content.len() as u64, "length of {key}");
    assert_eq!(body.sha256_hex, sha256_hex(content), "SHA-256 of {key}");
    assert_eq!(body.stored_count, 1, "{key} stored more than once");
}

/// What [`kill_at_random_points`] did.
#[derive(Debug, Default)]
pub struct Kills {
    pub kills: u32,
    pub runs: u32,
    /// Runs that ended (successfully) before their kill came.
    pub finished_before_kill: u32,
}

/// Starts `command()` again and again and SIGKILLs each run after a random 50 to 600 ms,
/// until `kills` kills landed, `max_runs` runs were started or `budget` passed. A run
/// that ends before its kill must have succeeded, and every one of the `kills` must land
/// on a running command.
pub fn kill_at_random_points(
    mut command: impl FnMut() -> Command,
    rng: &mut impl rand::Rng,
    kills: u32,
    max_runs: u32,
    budget: Duration,
) -> Kills {
    let started = Instant::now();
    let mut done = Kills::default();
    while done.kills < kills && done.runs < max_runs && started.elapsed() < budget {
        done.runs += 1;
        let mut child = command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry starts");
        std::thread::sleep(Duration::from_millis(rng.random_range(50..=600)));
        match child.try_wait().expect("try_wait") {
            Some(status) => {
                assert_eq!(
                    status.code(),
                    Some(0),
                    "a run that ended by itself succeeded"
                );
                done.finished_before_kill += 1;
            }
            None => {
                child.kill().expect("SIGKILL"); // Child::kill is SIGKILL on Unix
                child.wait().expect("reap");
                done.kills += 1;
            }
        }
    }
    assert_eq!(
        done.kills, kills,
        "every kill must land on a running command ({} runs, {} finished first)",
        done.runs, done.finished_before_kill
    );
    done
}
