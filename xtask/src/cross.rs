//! Shared steps of the mobile builds (`apple.rs`, `android.rs`): installing Rust targets
//! and running cargo. Nothing target-specific belongs here.

use std::process::Command;

use anyhow::Result;

use crate::util;

/// `rustup target add` for each target (a no-op for those already installed).
pub fn add_rust_targets(targets: &[&str]) -> Result<()> {
    for target in targets {
        let mut cmd = Command::new("rustup");
        cmd.args(["target", "add", target]);
        util::run(&mut cmd)?;
    }
    Ok(())
}

/// The cargo that runs xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo rustc` arguments for the shipped library of one `crate_type` (`cdylib` for
/// Android, `staticlib` for Apple) with `profile` (a target may follow).
///
/// One crate type per build: built beside the `lib` (rlib) type of `bindings/Cargo.toml`,
/// LTO must keep every public Rust item for the rlib, and the cdylib came out 1.1 MB
/// (25%) larger, stripped (see README, "Library size").
pub fn ffi_build_args<'a>(profile: &'a str, crate_type: &'a str) -> [&'a str; 8] {
    [
        "rustc",
        "-p",
        "ferry-ffi",
        "--lib",
        "--crate-type",
        crate_type,
        "--profile",
        profile,
    ]
}
