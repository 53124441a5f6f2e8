//! `cargo xtask test-swift`: run the XCTest suite of `bindings/swift` against the host cdylib.
//!
//! The package is staged in `target/xtask/swift-pkg/`: `bindings/swift`'s committed files
//! (Package.swift, hand-written sources, tests), the generated bindings and the cdylib. The
//! generated files never enter the source tree. The staged package is bound into the trixie
//! root at `/ferry` and run with `swift test`. Files are only rewritten when their content
//! changes, so SwiftPM's `.build` stays warm between runs.
//!
//! SwiftPM rather than bare `swiftc`: in the chroot a cold `swift test` takes ~9 s against
//! ~2 s for one `swiftc` invocation of the same sources (warm: ~1 s either way), but on
//! Linux only SwiftPM discovers XCTest cases (`swiftc` needs a hand-kept list of every test
//! in a `main.swift`), and it is the same Package.swift that apps consume.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::bindgen::{self, Language};
use crate::cdylib::{self, FfiCrate};
use crate::report::{Counts, Report};
use crate::{toolchain, util};

/// Target names in bindings/swift/Package.swift; they must match uniffi.toml's
/// `module_name` and `ffi_module_name`.
const MODULE: &str = "Ferry";
const FFI_MODULE: &str = "FerryFFI";
const TEST_TARGET: &str = "FerryTests";
const GUEST_DIR: &str = "/ferry";

pub fn test(ffi: &FfiCrate, tests: Option<&Path>) -> Result<Report> {
    let root = toolchain::ensure()?;
    let lib = util::timed("cargo build (cdylib)", || ffi.build())?;
    let gen_dir = util::xtask_target_dir().join("swift-generated");
    bindgen::generate(
        &lib,
        &gen_dir,
        Language::Swift,
        &bindgen::workspace_config(),
    )?;
    let pkg = util::xtask_target_dir().join("swift-pkg");
    stage(&pkg, &gen_dir, &lib, tests)?;

    let server = crate::testkit_server::TestkitServer::start()?;
    let lib_dir = format!("{GUEST_DIR}/lib");
    let lib_name = cdylib::link_name(&lib)?;
    let mut cmd = root.command(
        &[(&pkg, GUEST_DIR)],
        GUEST_DIR,
        // XCTest only: Swift Testing would print a second, empty "0 tests passed" run.
        &["swift", "test", "--disable-swift-testing"],
        &[
            ("FERRY_FFI_LIB_DIR", &lib_dir),
            ("FERRY_FFI_LIB_NAME", &lib_name),
            ("FERRY_TESTKIT_URL", server.url()),
        ],
    );
    util::timed("swift test", || run_and_count(&mut cmd))
}

/// Lay out the package to run: committed files, generated bindings, the cdylib.
fn stage(pkg: &Path, gen_dir: &Path, lib: &Path, tests: Option<&Path>) -> Result<()> {
    let src = util::workspace_root().join("bindings").join("swift");
    let mut files: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    files.insert("Package.swift".into(), src.join("Package.swift"));
    collect(&src.join("Sources"), Path::new("Sources"), &mut files)?;
    let test_dest = Path::new("Tests").join(TEST_TARGET);
    match tests {
        Some(dir) => collect(dir, &test_dest, &mut files)?,
        None => collect(&src.join("Tests").join(TEST_TARGET), &test_dest, &mut files)?,
    }
    if !files.keys().any(|p| p.starts_with(&test_dest)) {
        bail!("no Swift tests in {}", src.join(&test_dest).display());
    }

    for entry in std::fs::read_dir(gen_dir)? {
        let path = entry?.path();
        let name = path.file_name().context("generated file has no name")?;
        let dest = match path.extension().and_then(|e| e.to_str()) {
            Some("swift") => {
                if path.file_stem() != Some(MODULE.as_ref()) {
                    bail!(
                        "generated {} but Package.swift expects module {MODULE}: check uniffi.toml",
                        path.display()
                    );
                }
                Path::new("Sources").join(MODULE).join(name)
            }
            Some("h") => Path::new("Sources").join(FFI_MODULE).join(name),
            Some("modulemap") => Path::new("Sources")
                .join(FFI_MODULE)
                .join("module.modulemap"),
            _ => continue,
        };
        files.insert(dest, path);
    }
    let lib_file = lib.file_name().context("library has no file name")?;
    files.insert(Path::new("lib").join(lib_file), lib.to_path_buf());

    for (dest, from) in &files {
        let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
        util::write_if_changed(&pkg.join(dest), &bytes)?;
    }
    remove_stale(pkg, pkg, &files)
}

/// Add every file below `dir` to `files`, keyed by its path below `dest`.
fn collect(dir: &Path, dest: &Path, files: &mut BTreeMap<PathBuf, PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let rel = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            collect(&path, &rel, files)?;
        } else {
            files.insert(rel, path);
        }
    }
    Ok(())
}

/// Delete staged files that are no longer part of the package (SwiftPM's `.build` and
/// `.swiftpm` stay).
fn remove_stale(pkg: &Path, dir: &Path, keep: &BTreeMap<PathBuf, PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(pkg)?;
        if rel == Path::new(".build") || rel == Path::new(".swiftpm") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            remove_stale(pkg, &path, keep)?;
        } else if !keep.contains_key(rel) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Run `swift test`, echoing its output, and count XCTest's per-test result lines
/// (its "Executed N tests, with M failures" counts failed assertions, not tests).
fn run_and_count(cmd: &mut std::process::Command) -> Result<Report> {
    let (mut child, stdout) = util::spawn_piped(cmd)?;
    let mut counts = Counts::default();
    for line in stdout.lines() {
        let line = line?;
        println!("{line}");
        match test_case_result(&line) {
            Some(true) => counts.passed += 1,
            Some(false) => counts.failed += 1,
            None => {}
        }
    }
    let status = child.wait()?;
    Ok(Report::new("swift test", status, counts))
}

/// `Test Case 'Suite.testName' passed (0.01 seconds)` -> Some(true); `failed` -> Some(false).
fn test_case_result(line: &str) -> Option<bool> {
    let rest = line.trim().strip_prefix("Test Case '")?;
    let (_, verdict) = rest.split_once("' ")?;
    if verdict.starts_with("passed (") {
        Some(true)
    } else if verdict.starts_with("failed (") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_test_cases_not_assertions() {
        assert_eq!(
            test_case_result("Test Case 'ScratchTests.testA' passed (0.018 seconds)"),
            Some(true)
        );
        assert_eq!(
            test_case_result("Test Case 'ScratchTests.testB' failed (0.002 seconds)"),
            Some(false)
        );
        assert_eq!(
            test_case_result("Test Case 'ScratchTests.testA' started at 2026-11-25"),
            None
        );
        assert_eq!(
            test_case_result(
                "\t Executed 5 tests, with 3 failures (0 unexpected) in 0.1 (0.1) seconds"
            ),
            None
        );
    }
}
