//! tusd, the reference tus server, on loopback with a temporary upload directory.
//!
//! `cargo xtask test` installs a pinned tusd and sets `FERRY_TUSD` to its path. Without
//! the variable (a plain `cargo test`), tests that need tusd say so and skip; with it set
//! to a file that does not exist, they fail.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running tusd; killed on drop.
pub struct Tusd {
    child: Child,
    addr: SocketAddr,
    upload_dir: tempfile::TempDir,
}

impl Tusd {
    /// Starts tusd (tus 1.0 and, with `-enable-experimental-protocol`, the IETF draft),
    /// or returns `None` when `FERRY_TUSD` is not set.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        let Some(binary) = std::env::var_os("FERRY_TUSD").map(PathBuf::from) else {
            eprintln!(
                "SKIPPED {test}: FERRY_TUSD is not set; `cargo xtask test` installs tusd and sets it"
            );
            return None;
        };
        Some(Self::start(&binary))
    }

    fn start(binary: &Path) -> Self {
        assert!(
            binary.is_file(),
            "FERRY_TUSD={} does not exist; run `cargo xtask test`, which installs tusd",
            binary.display()
        );
        let upload_dir = tempfile::tempdir().expect("tusd upload dir");
        let mut child = Command::new(binary)
            .args(["-host", "127.0.0.1", "-port", "0", "-base-path", "/files/"])
            .arg("-enable-experimental-protocol")
            .arg("-upload-dir")
            .arg(upload_dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tusd starts");
        // tusd logs to stdout, the ready line included.
        let stdout = child.stdout.take().expect("tusd stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            const READY: &str = "You can now upload files to: http://";
            let mut sender = Some(sender);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split(READY).nth(1)
                    && let Some(sender) = sender.take()
                {
                    let addr = rest.split('/').next().unwrap_or_default().to_owned();
                    let _ = sender.send(addr);
                }
                // Keep reading so tusd never blocks on a full pipe.
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr.parse().expect("tusd address"),
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!("tusd exited before it was ready: {status}");
                    }
                    assert!(Instant::now() < deadline, "tusd did not start in 30 s");
                }
            }
        };
        Self {
            child,
            addr,
            upload_dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The data files tusd holds (one per upload; `.info` files left out).
    pub fn data_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.upload_dir.path())
            .expect("read tusd dir")
            .map(|entry| entry.expect("dir entry").path())
            .filter(|path| {
                path.extension()
                    .is_none_or(|ext| ext != "info" && ext != "lock")
            })
            .collect();
        files.sort();
        files
    }
}

impl Drop for Tusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
