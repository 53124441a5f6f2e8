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

/// `cargo build` arguments for the shipped library with `profile` (a target may follow).
pub fn ffi_build_args(profile: &str) -> [&str; 6] {
    ["build", "-p", "ferry-ffi", "--lib", "--profile", profile]
}
