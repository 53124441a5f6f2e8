//! Checks the workspace's `uniffi-bindgen` binary (crate `ferry-uniffi-bindgen`), the
//! command README documents for generating bindings by hand.
//!
//! xtask itself generates through UniFFI's library API (`bindgen.rs`); this check makes
//! sure the binary works too: it generates Swift and Kotlin from the cdylib the suites
//! use, with the workspace's `uniffi.toml`, and looks for the files and the types apps
//! rely on. One check per language; it never writes into the source tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bindgen::{self, Language};
use crate::report::{Counts, Report};
use crate::util;

const PACKAGE: &str = "ferry-uniffi-bindgen";
const BINARY: &str = "uniffi-bindgen";

/// What each language's output must contain: (file below the out dir, texts in it).
fn expected(language: Language) -> (&'static str, &'static [&'static str]) {
    match language {
        Language::Swift => (
            "Ferry.swift",
            &[
                "open class TransferQueue",
                "public protocol PlatformTransferService",
                "public struct Handoff",
                "func platformFinished(",
                "enum FerryError: Swift.Error",
            ],
        ),
        Language::Kotlin => (
            "dev/ferry/ferry_ffi.kt",
            &[
                "package dev.ferry",
                "open class TransferQueue",
                "interface PlatformTransferService",
                "data class Handoff",
                "fun `platformFinished`(",
            ],
        ),
    }
}

/// Builds the binary, generates both languages from `lib`, and counts the checks.
pub fn check(lib: &Path) -> Result<Report> {
    let binary = build()?;
    let mut counts = Counts::default();
    for language in [Language::Swift, Language::Kotlin] {
        match generate_and_check(&binary, lib, language) {
            Ok(()) => {
                println!("uniffi-bindgen {}: ok", language.name());
                counts.passed += 1;
            }
            Err(e) => {
                println!("uniffi-bindgen {}: FAILED: {e:#}", language.name());
                counts.failed += 1;
            }
        }
    }
    Ok(Report {
        counts,
        problem: None,
    })
}

fn generate_and_check(binary: &Path, lib: &Path, language: Language) -> Result<()> {
    let out = util::xtask_target_dir()
        .join("bindgen-cli")
        .join(language.name());
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    let mut cmd = Command::new(binary);
    cmd.args(["generate", "--library", "--no-format", "--metadata-no-deps"])
        .args(["--language", language.name()])
        .arg("--config")
        .arg(bindgen::workspace_config())
        .arg("--out-dir")
        .arg(&out)
        .arg(lib);
    util::run(&mut cmd)?;
    let (file, texts) = expected(language);
    let path = out.join(file);
    let source = std::fs::read_to_string(&path)
        .with_context(|| format!("{BINARY} wrote no {}", path.display()))?;
    let missing: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|text| !source.contains(text))
        .collect();
    if !missing.is_empty() {
        bail!("{} lacks {missing:?}", path.display());
    }
    Ok(())
}

/// `cargo build -p ferry-uniffi-bindgen --bin uniffi-bindgen`; returns the executable.
fn build() -> Result<PathBuf> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--message-format=json-render-diagnostics", "-p"])
        .args([PACKAGE, "--bin", BINARY])
        .current_dir(util::workspace_root());
    let mut found = None;
    let status = util::cargo_json(&mut cmd, |msg| {
        if let Some(exe) = msg["executable"].as_str() {
            found = Some(PathBuf::from(exe));
        }
    })?;
    if !status.success() {
        bail!("cargo build -p {PACKAGE} failed ({status})");
    }
    found.with_context(|| format!("cargo built no {BINARY} executable"))
}
