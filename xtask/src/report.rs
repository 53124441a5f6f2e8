//! A suite's counts and report, and the closing lines CI reads: `NAME: N passed, N failed`.
//! Shared by every runner (`swift.rs`, `kotlin.rs`, `fuzz.rs`, `power_cut.rs`,
//! `bindgen_cli.rs`) and by `suite.rs`, which runs them all; it runs nothing itself.

use std::fmt;
use std::process::ExitStatus;

use anyhow::{Result, bail};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// What a suite that ran did: its counts, and what else went wrong, if anything.
pub struct Report {
    pub counts: Counts,
    pub problem: Option<String>,
}

impl Report {
    /// Judge a test runner by its exit status as well as by the tests it counted.
    pub fn new(runner: &str, status: ExitStatus, counts: Counts) -> Report {
        let problem = if !status.success() && counts.passed + counts.failed == 0 {
            Some(format!(
                "{runner} failed ({status}) before any test ran: see its output above"
            ))
        } else if !status.success() && counts.failed == 0 {
            Some(format!("{runner} failed ({status}) with no failing test"))
        } else if counts.passed + counts.failed == 0 {
            Some(format!("{runner} ran no test"))
        } else {
            None
        };
        Report { counts, problem }
    }
}

/// Print a suite's closing lines; return the counts it adds to the total.
pub fn summarize(name: &str, result: &Result<Report>) -> Counts {
    match result {
        Ok(report) => {
            let mut counts = report.counts;
            if let Some(problem) = &report.problem {
                println!("{name}: {problem}");
                counts.failed = counts.failed.max(1);
            }
            println!("{name}: {}", report.counts);
            counts
        }
        Err(e) => {
            println!("{name}: could not run: {e:#}");
            Counts {
                passed: 0,
                failed: 1,
            }
        }
    }
}

/// Exit status for a single suite run by `test-swift` / `test-kotlin`.
pub fn finish(name: &str, result: Result<Report>) -> Result<()> {
    if summarize(name, &result).failed > 0 {
        bail!("{name} suite failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn broken_run_without_failing_test_still_counts_as_a_failure() {
        let counts = Counts {
            passed: 146,
            failed: 0,
        };
        let report = Report::new("cargo test", ExitStatus::from_raw(101 << 8), counts);
        assert!(report.problem.is_some());
        assert_eq!(summarize("rust", &Ok(report)).failed, 1);
        let nothing = Report::new("mvn test", ExitStatus::from_raw(0), Counts::default());
        assert_eq!(nothing.problem.as_deref(), Some("mvn test ran no test"));
    }

    #[test]
    fn summary_line_has_the_plain_ci_form() {
        let c = Counts {
            passed: 5,
            failed: 0,
        };
        assert_eq!(format!("swift: {c}"), "swift: 5 passed, 0 failed");
    }
}
