//! The documentation check, one suite of `cargo xtask test` and `cargo xtask doc` alone:
//! `cargo doc --no-deps -p ferry-transfers -p ferry-ffi` with `RUSTDOCFLAGS="-D warnings"`.
//!
//! Both crates set `#![warn(missing_docs)]`, so an undocumented public item fails it, as
//! does a broken intra-doc link or one from a public item into a private module (the docs
//! of `ferry-ffi` are what Swift's Quick Help and KDoc show). It only reads and builds
//! documentation; it must never write anything outside the target directory.

use std::process::Command;

use anyhow::Result;

use crate::report::{Counts, Report};
use crate::util;

/// The crates whose public documentation is checked.
const DOCUMENTED: [&str; 2] = ["ferry-transfers", "ferry-ffi"];

/// Runs rustdoc on the documented crates, warnings denied; one passed if it succeeded.
pub fn check() -> Result<Report> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["doc", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .current_dir(util::workspace_root());
    for package in DOCUMENTED {
        cmd.args(["-p", package]);
    }
    let status = util::status(&mut cmd)?;
    let counts = Counts {
        passed: u64::from(status.success()),
        failed: u64::from(!status.success()),
    };
    Ok(Report::new("cargo doc", status, counts))
}
