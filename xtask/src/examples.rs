//! The examples of `core/examples/`, one suite of `cargo xtask test`: each is run against
//! the loopback `ferry-testkit serve` on files made for it, and must exit successfully
//! with the closing line it prints when every file was uploaded. (`cargo test
//! --workspace` only builds them.)
//!
//! Files and databases live in `target/xtask/examples/`, emptied first; nothing outside
//! it is written, and nothing is sent beyond 127.0.0.1.

use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use crate::report::{Counts, Report};
use crate::testkit_server::TestkitServer;
use crate::util;

/// Sizes of the files the examples send: empty, small, and several 256 KiB reads.
const FILE_SIZES: [usize; 3] = [0, 1000, 700 * 1024];

/// Runs every example; one passed per example that ended as it should.
pub fn suite() -> Result<Report> {
    let scratch = util::xtask_target_dir().join("examples");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("could not empty {}", scratch.display()))?;
    }
    let folder = scratch.join("folder");
    std::fs::create_dir_all(&folder)?;
    for (index, size) in FILE_SIZES.into_iter().enumerate() {
        std::fs::write(folder.join(format!("file {index}.bin")), vec![b'x'; size])?;
    }
    let server = TestkitServer::start()?;
    let base = server.url().trim_end_matches('/');
    let database = scratch.join("upload_a_folder.db");
    let expected_summary = format!("{} uploaded, 0 not uploaded", FILE_SIZES.len());
    let runs = [
        (
            "upload_a_folder",
            vec![
                util::utf8(&folder)?.to_owned(),
                format!("{base}/examples/folder/"),
                util::utf8(&database)?.to_owned(),
            ],
            expected_summary.as_str(),
        ),
        (
            "watch_progress",
            vec![
                util::utf8(&folder.join("file 2.bin"))?.to_owned(),
                format!("{base}/examples/watched.bin"),
            ],
            "uploaded",
        ),
    ];
    let mut counts = Counts::default();
    for (example, args, last_line) in runs {
        match run_example(example, &args, last_line) {
            Ok(true) => counts.passed += 1,
            Ok(false) => counts.failed += 1,
            Err(error) => {
                eprintln!("[xtask] example {example} could not run: {error:#}");
                counts.failed += 1;
            }
        }
    }
    Ok(Report {
        counts,
        problem: None,
    })
}

/// `cargo run -p ferry-transfers --example NAME -- ARGS`, echoing its output: true if it exited
/// successfully and its last line was `last_line`.
fn run_example(example: &str, args: &[String], last_line: &str) -> Result<bool> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "run",
        "-q",
        "-p",
        "ferry-transfers",
        "--example",
        example,
        "--",
    ])
    .args(args)
    .current_dir(util::workspace_root());
    eprintln!("$ {}", util::show(&cmd));
    // Examples are short: their output is shown once they end.
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start: {}", util::show(&cmd)))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    let ok = output.status.success() && last == last_line;
    if !ok {
        eprintln!(
            "[xtask] example {example}: {}, last line {last:?}, expected {last_line:?}",
            output.status
        );
    }
    Ok(ok)
}
