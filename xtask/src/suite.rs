//! `cargo xtask test`: every suite in one run (counts and summaries: `report.rs`).
//!
//! `cargo xtask test` runs the import-cycle check (`import_cycles.rs`), `cargo test
//! --workspace`, the documentation check (`docs.rs`), the examples against the test
//! server (`examples.rs`), the power-cut test's control build (`power_cut.rs`, which must
//! fail), the fuzz targets for a few seconds each (`fuzz.rs`), then the `uniffi-bindgen`
//! binary check and the Swift and Kotlin suites, even when an earlier one failed, so that
//! the summary is always complete, and exits non-zero if
//! any failed. Each suite ends with one line in the plain form CI reads,
//! `NAME: N passed, N failed`, and a `total:` line closes the run. A suite that broke
//! without a failing test (a build error, a crash, no test at all) counts as one failure,
//! so a total never reads "0 failed" when something went wrong. The Swift and Kotlin
//! suites are skipped, and say so, while the default `ferry-ffi` package does not exist.
//! When the library is built with the shipped profile, the run also prints its stripped
//! size (information: `cargo xtask ffi-size` is the check that fails over the goal).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::cdylib::FfiCrate;
use crate::report::{Counts, Report, summarize};
use crate::{
    bindgen_cli, docs, examples, ffi_size, fuzz, import_cycles, kotlin, power_cut, swift, tusd,
    util,
};

pub struct TestAll {
    pub ffi: FfiCrate,
    pub swift_tests: Option<PathBuf>,
    pub kotlin_tests: Option<PathBuf>,
}

pub fn test_all(args: &TestAll) -> Result<()> {
    let mut results = vec![(
        "import-cycles",
        util::timed("import cycles", import_cycles::suite),
    )];
    results.push(("rust", util::timed("cargo test --workspace", rust)));
    results.push(("doc", util::timed("cargo doc", docs::check)));
    results.push(("examples", util::timed("examples", examples::suite)));
    results.push((
        "power-cut control",
        util::timed("power-cut control build", power_cut::control),
    ));
    results.push(("fuzz", util::timed("fuzz targets", fuzz::suite)));
    let ffi_ready = args.ffi.manifest_path.is_some() || args.ffi.exists()?;
    if ffi_ready {
        results.push(("uniffi-bindgen", uniffi_bindgen(&args.ffi)));
        results.push(("swift", swift::test(&args.ffi, args.swift_tests.as_deref())));
        results.push((
            "kotlin",
            kotlin::test(&args.ffi, args.kotlin_tests.as_deref()),
        ));
    }

    println!();
    let mut total = Counts::default();
    for (name, result) in &results {
        let c = summarize(name, result);
        total.passed += c.passed;
        total.failed += c.failed;
    }
    if !ffi_ready {
        for name in ["swift", "kotlin"] {
            println!(
                "{name}: skipped (package {} is not in the workspace yet)",
                args.ffi.package
            );
        }
    }
    if ffi_ready && args.ffi.is_shipped_profile() {
        match args.ffi.build().and_then(|lib| ffi_size::measure(&lib)) {
            Ok(sizes) => println!("{}", ffi_size::describe(&sizes)),
            Err(e) => println!("ffi library: size not measured: {e:#}"),
        }
    }
    println!("total: {total}");
    if total.failed > 0 {
        bail!("some suites failed");
    }
    Ok(())
}

/// The workspace's `uniffi-bindgen` binary, run on the cdylib the suites use.
fn uniffi_bindgen(ffi: &FfiCrate) -> Result<Report> {
    let lib = util::timed("cargo build (cdylib)", || ffi.build())?;
    util::timed("uniffi-bindgen generate", || bindgen_cli::check(&lib))
}

/// `cargo test --workspace`, echoing its output and adding up its `test result:` lines.
/// The tests get tusd's path as `FERRY_TUSD`; if it could not be installed, the path
/// still points where it should be, so the tests that need it fail instead of skipping.
fn rust() -> Result<Report> {
    let tusd = match util::timed("install tusd", tusd::ensure) {
        Ok(path) => path,
        Err(error) => {
            eprintln!("[xtask] tusd is not available, its tests will fail: {error:#}");
            tusd::binary_path()?
        }
    };
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.env("FERRY_TUSD", &tusd);
    cmd.args(["test", "--workspace", "--no-fail-fast"])
        .current_dir(util::workspace_root());
    let (mut child, stdout) = util::spawn_piped(&mut cmd)?;
    let mut counts = Counts::default();
    let mut failing = FailingTests::default();
    for line in stdout.lines() {
        let line = line?;
        println!("{line}");
        failing.read(&line);
        if let Some(c) = parse_test_result(&line) {
            counts.passed += c.passed;
            counts.failed += c.failed;
        }
    }
    let status = child.wait()?;
    let mut report = Report::new("cargo test", status, counts);
    if report.problem.is_none() {
        report.problem = failing.describe();
    }
    Ok(report)
}

/// The failing tests of a `cargo test` run, each named with its test binary, so that the
/// closing summary says which failed even when the log above it is cut. A test's own
/// `test NAME ... FAILED` line can be broken up by what other tests print meanwhile, so
/// the names also come from the `failures:` list libtest prints before its `test result:`.
#[derive(Default)]
struct FailingTests {
    binary: String,
    /// The names under the latest `failures:` heading of the current binary.
    listed: Option<Vec<String>>,
    names: Vec<String>,
}

impl FailingTests {
    fn read(&mut self, raw: &str) {
        let line = raw.trim();
        if let Some(running) = line.strip_prefix("Running ") {
            // `Running tests/a.rs (target/debug/deps/a-0123abcd)`: the binary's name, unhashed.
            let path = running
                .rsplit_once(" (")
                .map_or(running, |(_, path)| path.trim_end_matches(')'));
            let file = path.rsplit('/').next().unwrap_or(path);
            self.binary = file
                .rsplit_once('-')
                .map_or(file, |(name, _hash)| name)
                .to_owned();
            self.listed = None;
        } else if line == "failures:" {
            self.listed = Some(Vec::new());
        } else if line.starts_with("test result:") {
            for name in self.listed.take().unwrap_or_default() {
                self.add(&name);
            }
        } else if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|rest| rest.strip_suffix(" ... FAILED"))
        {
            self.add(name);
        } else if let Some(listed) = &mut self.listed
            && raw.starts_with("    ")
            && !line.is_empty()
            && !line.contains(char::is_whitespace)
        {
            listed.push(line.to_owned());
        }
    }

    fn add(&mut self, name: &str) {
        // Cargo prints its `Running` lines on stderr, which is not read here: then the
        // name goes alone.
        let named = if self.binary.is_empty() {
            name.to_owned()
        } else {
            format!("{name} ({})", self.binary)
        };
        if !self.names.contains(&named) {
            self.names.push(named);
        }
    }

    fn describe(&self) -> Option<String> {
        (!self.names.is_empty()).then(|| format!("failing: {}", self.names.join(", ")))
    }
}

/// `test result: ok. 3 passed; 1 failed; 0 ignored; ...` -> 3 passed, 1 failed.
fn parse_test_result(line: &str) -> Option<Counts> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let number_before = |word: &str| -> Option<u64> {
        rest.split(';').find_map(|part| {
            let mut words = part.split_whitespace().rev();
            if words.next()? != word {
                return None;
            }
            words.next()?.parse().ok()
        })
    };
    Some(Counts {
        passed: number_before("passed")?,
        failed: number_before("failed")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_failing_test_with_its_binary() {
        let mut failing = FailingTests::default();
        for line in [
            "     Running tests/a.rs (target/debug/deps/a-123)",
            "test passes ... ok",
            "test breaks ... FAILED",
            "failures:",
            "    breaks",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored",
            "     Running unittests src/lib.rs (target/debug/deps/b-456)",
            "test module::interrupted ... a server's line printed meanwhile",
            "FAILED",
            "failures:",
            "",
            "---- module::interrupted stdout ----",
            "    indented output of the test",
            "failures:",
            "    module::interrupted",
            "",
            "test result: FAILED. 0 passed; 1 failed; 0 ignored",
        ] {
            failing.read(line);
        }
        assert_eq!(
            failing.describe().as_deref(),
            Some("failing: breaks (a), module::interrupted (b)")
        );
        assert_eq!(FailingTests::default().describe(), None);
        let mut unnamed_binary = FailingTests::default();
        unnamed_binary.read("test alone ... FAILED");
        assert_eq!(unnamed_binary.describe().as_deref(), Some("failing: alone"));
    }

    #[test]
    fn reads_cargo_test_result_lines() {
        let c = parse_test_result(
            "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        )
        .unwrap();
        assert_eq!((c.passed, c.failed), (3, 1));
        let c = parse_test_result("test result: ok. 46 passed; 0 failed; 0 ignored").unwrap();
        assert_eq!((c.passed, c.failed), (46, 0));
        assert!(parse_test_result("running 4 tests").is_none());
    }
}
