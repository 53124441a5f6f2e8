//! `cargo xtask test-kotlin`: run the JUnit 5 suite of `bindings/kotlin` on the JVM against
//! the host cdylib.
//!
//! The Kotlin bindings are generated (with `android = false`, from uniffi.toml) into
//! `bindings/kotlin/target/generated/uniffi`, which the pom adds as a source root; Maven's
//! `target/` is ignored by git. JNA finds the cdylib through `jna.library.path`, which the
//! pom sets from the `ferry.libDir` property. Counts come from Surefire's XML reports.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::bindgen::{self, Language};
use crate::cdylib::FfiCrate;
use crate::report::{Counts, Report};
use crate::util;

pub fn test(ffi: &FfiCrate, tests: Option<&Path>) -> Result<Report> {
    let lib = util::timed("cargo build (cdylib)", || ffi.build())?;
    let project = util::workspace_root().join("bindings").join("kotlin");
    let target = project.join("target");
    // Start from an empty target/: the Kotlin plugin does not delete classes whose sources
    // went away (a renamed type, another --tests directory), and stale Surefire reports
    // would be counted. It recompiles everything on each run anyway.
    if target.exists() {
        std::fs::remove_dir_all(&target)
            .with_context(|| format!("clearing {}", target.display()))?;
    }
    bindgen::generate(
        &lib,
        &target.join("generated").join("uniffi"),
        Language::Kotlin,
        &bindgen::workspace_config(),
    )?;

    let server = crate::testkit_server::TestkitServer::start()?;
    let lib_dir = lib.parent().context("library has no directory")?;
    let mut cmd = Command::new("mvn");
    cmd.env("FERRY_TESTKIT_URL", server.url());
    cmd.args(["-q", "-B", "-Dstyle.color=never", "-f"])
        .arg(project.join("pom.xml"))
        .arg(format!("-Dferry.libDir={}", lib_dir.display()));
    if let Some(dir) = tests {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("no test directory {}", dir.display()))?;
        cmd.arg(format!("-Dferry.testSources={}", dir.display()));
    }
    cmd.arg("test");
    let status = util::timed("mvn test", || util::status(&mut cmd))?;
    let reports = target.join("surefire-reports");
    Ok(Report::new("mvn test", status, read_reports(&reports)?))
}

/// Sum the `<testsuite tests=.. failures=.. errors=.. skipped=..>` of every Surefire report.
fn read_reports(dir: &Path) -> Result<Counts> {
    let mut counts = Counts::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(counts);
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("TEST-") && name.ends_with(".xml")) {
            continue;
        }
        let xml = std::fs::read_to_string(&path)?;
        let c =
            suite_counts(&xml).with_context(|| format!("no <testsuite> in {}", path.display()))?;
        counts.passed += c.passed;
        counts.failed += c.failed;
    }
    Ok(counts)
}

fn suite_counts(xml: &str) -> Option<Counts> {
    let start = xml.find("<testsuite ")?;
    let tag = &xml[start..start + xml[start..].find('>')?];
    let attr = |name: &str| -> u64 {
        let key = format!(" {name}=\"");
        tag.find(&key)
            .and_then(|i| tag[i + key.len()..].split('"').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let failed = attr("failures") + attr("errors");
    Some(Counts {
        passed: attr("tests").saturating_sub(failed + attr("skipped")),
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_surefire_testsuite() {
        let xml = r#"<?xml version="1.0"?><testsuite xmlns:x="y" name="dev.ferry.T" time="0.3" tests="6" errors="1" skipped="1" failures="1"><testcase/></testsuite>"#;
        let c = suite_counts(xml).unwrap();
        assert_eq!((c.passed, c.failed), (3, 2));
    }
}
