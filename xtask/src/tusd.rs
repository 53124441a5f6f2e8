//! tusd, the reference tus server, pinned, for the resumable upload tests.
//!
//! Installed once with the Go toolchain through the Go module proxy into
//! `$FERRY_CACHE_DIR/tusd-<version>/tusd` (default `~/.cache/ferry/...`), never into the
//! repository. `cargo xtask test` passes its path to the Rust tests as `FERRY_TUSD`; the
//! tests that need tusd fail when that path does not exist, so a broken install can never
//! pass as skipped tests.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{toolchain, util};

/// The tusd release the tests run against (Go module `github.com/tus/tusd/v2`).
pub const VERSION: &str = "v2.9.1";
const PACKAGE: &str = "github.com/tus/tusd/v2/cmd/tusd";

/// Where the pinned tusd lives, installed or not.
pub fn binary_path() -> Result<PathBuf> {
    Ok(toolchain::cache_dir()?
        .join(format!("tusd-{VERSION}"))
        .join("tusd"))
}

/// The pinned tusd, installed if missing.
pub fn ensure() -> Result<PathBuf> {
    let binary = binary_path()?;
    if binary.is_file() {
        return Ok(binary);
    }
    let bin_dir = binary
        .parent()
        .context("the tusd path has no parent directory")?
        .to_path_buf();
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    let mut go = Command::new("go");
    go.arg("install")
        .arg(format!("{PACKAGE}@{VERSION}"))
        .env("GOBIN", &bin_dir)
        .env("GOFLAGS", "-mod=mod")
        // Build outside the workspace, so no go.mod of ours is ever consulted.
        .current_dir(&bin_dir);
    util::run(&mut go).context(
        "installing tusd with `go install` failed; the Go toolchain and the Go module proxy are needed",
    )?;
    if !binary.is_file() {
        bail!("`go install` succeeded but {} is missing", binary.display());
    }
    Ok(binary)
}
