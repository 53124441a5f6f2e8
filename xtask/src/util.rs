//! Small helpers shared by the xtask commands: paths and running processes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The workspace's `target/` directory; xtask keeps its own scratch under `target/xtask/`.
pub fn xtask_target_dir() -> PathBuf {
    workspace_root().join("target").join("xtask")
}

pub fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("path is not UTF-8: {}", path.display()))
}

/// Print a command the way a shell would show it.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Run `cmd` with inherited stdio; fail on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("command failed ({status}): {}", show(cmd));
    }
    Ok(())
}

/// Run `cmd` with inherited stdio and return its exit status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("$ {}", show(cmd));
    cmd.status()
        .with_context(|| format!("could not start: {}", show(cmd)))
}

/// Start `cmd` with its stdout piped to us (stdin and stderr inherited), echoing it first.
pub fn spawn_piped(cmd: &mut Command) -> Result<(Child, BufReader<ChildStdout>)> {
    eprintln!("$ {}", show(cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start: {}", show(cmd)))?;
    let stdout = child
        .stdout
        .take()
        .with_context(|| format!("no stdout from {}", show(cmd)))?;
    Ok((child, BufReader::new(stdout)))
}

/// Run a cargo command given `--message-format=json...`, handing each JSON message to
/// `each`; returns cargo's exit status.
pub fn cargo_json(
    cmd: &mut Command,
    mut each: impl FnMut(&serde_json::Value),
) -> Result<ExitStatus> {
    let (mut child, stdout) = spawn_piped(cmd)?;
    for line in stdout.lines() {
        if let Ok(message) = serde_json::from_str::<serde_json::Value>(&line?) {
            each(&message);
        }
    }
    Ok(child.wait()?)
}

/// Time a step and print how long it took, to stderr.
pub fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let out = f();
    eprintln!(
        "[xtask] {what}: {:.1}s{}",
        start.elapsed().as_secs_f64(),
        if out.is_err() { " (failed)" } else { "" }
    );
    out
}

/// Write `contents` to `path` only if it differs, so build tools that look at
/// modification times do not rebuild what has not changed.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}
