//! Shared by the `ferry` integration tests: a test server on its own runtime, running the
//! `ferry` binary with a time bound, and writing and hashing file trees.

#![allow(dead_code)] // each test crate uses its own subset

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ferry_testkit::{FaultPlan, ReceivedBody, ServerConfig, Stats, TestServer};
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

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
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

/// Asserts that the server stored `content` exactly once under `key`.
pub fn assert_stored_once(harness: &Harness, key: &str, content: &[u8]) {
    let body = harness
        .received(key)
        .unwrap_or_else(|| panic!("the server has nothing under {key}"));
    assert_eq!(body.len, content.len() as u64, "length of {key}");
    assert_eq!(body.sha256_hex, sha256_hex(content), "SHA-256 of {key}");
    assert_eq!(body.stored_count, 1, "{key} stored more than once");
}
