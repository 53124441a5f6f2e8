//! The `ferry-testkit serve` process that the Swift and Kotlin suites upload to.
//!
//! Built and started by the harness (never by the suites), on 127.0.0.1 with a free port;
//! its base URL reaches the suites as `FERRY_TESTKIT_URL`. Dropping the handle kills it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::util;

pub struct TestkitServer {
    child: Child,
    url: String,
}

impl TestkitServer {
    /// Builds the `ferry-testkit` binary and starts `serve --port 0`.
    pub fn start() -> Result<Self> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(&cargo);
        build.args([
            "build",
            "-q",
            "-p",
            "ferry-testkit",
            "--bin",
            "ferry-testkit",
        ]);
        util::run(&mut build)?;
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| util::workspace_root().join("target"));
        let binary = target_dir.join("debug").join("ferry-testkit");
        let mut child = Command::new(&binary)
            .args(["serve", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("no stdout from ferry-testkit")?;
        let mut first_line = String::new();
        BufReader::new(stdout).read_line(&mut first_line)?;
        let Some(url) = first_line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            bail!("ferry-testkit serve printed {first_line:?} instead of its address");
        };
        let url = url.to_owned();
        eprintln!("ferry-testkit serve is listening on {url}");
        Ok(Self { child, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestkitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
