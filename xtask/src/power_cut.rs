//! The power-cut test's control, one suite of `cargo xtask test`: the power-cut test
//! (`tests/tests/power_cut/`, which `cargo test --workspace` runs as it is) built once more
//! with the `power-cut-control` feature, i.e. Ferry without its WAL sync. That build must
//! fail the test by a lost fact (its `POWER-CUT-LOST` line); a pass, or a failure for any
//! other reason (a build error, no mount), fails this suite: the test would then not be
//! shown to catch a missing sync.
//!
//! It must never pass the control without seeing that line.

use std::io::BufRead;
use std::process::Command;

use anyhow::Result;

use crate::report::{Counts, Report};
use crate::util;

/// The line the power-cut test panics with when a reopened queue lost a told fact.
const LOST: &str = "POWER-CUT-LOST";

/// Runs the control build of the power-cut test; one passed if it failed as it must.
pub fn control() -> Result<Report> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "test",
        "-p",
        "ferry-testkit",
        "--features",
        "power-cut-control",
        "--test",
        "power_cut",
        "--",
        "power_cuts_never",
    ])
    .current_dir(util::workspace_root());
    // The panic message goes to the test's captured output, which libtest prints on
    // stdout; cargo's own messages go to stderr and are left to the terminal.
    let (mut child, stdout) = util::spawn_piped(&mut cmd)?;
    let mut lost = None;
    for line in stdout.lines() {
        let line = line?;
        println!("{line}");
        if lost.is_none() && line.contains(LOST) {
            lost = Some(line);
        }
    }
    let status = child.wait()?;
    Ok(judge(status.success(), lost))
}

fn judge(passed: bool, lost: Option<String>) -> Report {
    let (counts, problem) = match (passed, lost) {
        (false, Some(line)) => {
            println!("power-cut control: failed as it must without the WAL sync: {line}");
            (
                Counts {
                    passed: 1,
                    failed: 0,
                },
                None,
            )
        }
        (true, _) => (
            Counts {
                passed: 0,
                failed: 1,
            },
            Some(
                "the control build (no WAL sync) passed the power-cut test: the test \
                  no longer catches a missing sync"
                    .to_string(),
            ),
        ),
        (false, None) => (
            Counts {
                passed: 0,
                failed: 1,
            },
            Some(format!(
                "the control build failed without a {LOST} line (see its output above): \
                 it did not show that a missing sync is caught"
            )),
        ),
    };
    Report { counts, problem }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failure_by_a_lost_fact_passes_the_control() {
        let caught = judge(false, Some(format!("{LOST}: run 3 ...")));
        assert_eq!(
            caught.counts,
            Counts {
                passed: 1,
                failed: 0
            }
        );
        assert!(caught.problem.is_none());
        for (passed, lost) in [(true, None), (true, Some(LOST.to_string())), (false, None)] {
            let report = judge(passed, lost);
            assert_eq!(
                report.counts,
                Counts {
                    passed: 0,
                    failed: 1
                }
            );
            assert!(report.problem.is_some());
        }
    }
}
