//! The fuzz targets of `fuzz/` (`cargo fuzz`), each run for a short bounded time on its
//! committed seeds, as one suite of `cargo xtask test` (README "Fuzzing" for longer runs).
//!
//! cargo-fuzz is installed once, pinned, with `cargo install --locked` into
//! `$FERRY_CACHE_DIR/cargo-fuzz-<version>` (default `~/.cache/ferry/...`). The targets are
//! built with `--sanitizer none`, which needs no nightly flag: the stable toolchain is
//! enough (Rust code has no use for AddressSanitizer; panics and failed assertions are
//! what the targets look for). Each target's committed seeds (`fuzz/seeds/TARGET`) are read
//! but never written: what a run discovers goes to a scratch corpus under `target/xtask/`.
//!
//! This module must never write into `fuzz/seeds/` or run a target without a time bound.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::report::{Counts, Report};
use crate::{toolchain, util};

/// The cargo-fuzz release used (crates.io).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// How long `cargo xtask test` fuzzes each target, in seconds.
pub const CI_SECONDS_PER_TARGET: u32 = 10;
/// How long one input may run before libFuzzer calls it a hang (a failure), in seconds:
/// `-max_total_time` is only checked between inputs, and libFuzzer's default is 20 minutes.
const SECONDS_PER_INPUT: u32 = 10;

/// The pinned cargo-fuzz binary, installed if missing.
fn cargo_fuzz() -> Result<PathBuf> {
    let root = toolchain::cache_dir()?.join(format!("cargo-fuzz-{CARGO_FUZZ_VERSION}"));
    let binary = root.join("bin").join("cargo-fuzz");
    if binary.is_file() {
        return Ok(binary);
    }
    let mut install = Command::new(cargo());
    install
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .arg("--root")
        .arg(&root);
    util::run(&mut install).context(
        "installing cargo-fuzz with `cargo install` failed; crates.io and a C++ compiler are needed",
    )?;
    if !binary.is_file() {
        bail!(
            "`cargo install` succeeded but {} is missing",
            binary.display()
        );
    }
    Ok(binary)
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

fn fuzz_dir() -> PathBuf {
    util::workspace_root().join("fuzz")
}

/// Kept between runs in the cache: the instrumented build of every dependency is most of
/// the suite's time, and cargo rebuilds what changed.
fn build_dir() -> Result<PathBuf> {
    Ok(toolchain::cache_dir()?.join("fuzz-target"))
}

/// `cargo fuzz SUBCOMMAND` with the options every build and run shares.
fn cargo_fuzz_command(binary: &Path, subcommand: &str) -> Result<Command> {
    let mut cmd = Command::new(binary);
    cmd.arg(subcommand)
        .args(["--sanitizer", "none", "--dev", "--target-dir"])
        .arg(build_dir()?)
        .current_dir(util::workspace_root());
    Ok(cmd)
}

/// The targets `fuzz/Cargo.toml` declares.
fn targets(binary: &Path) -> Result<Vec<String>> {
    let output = Command::new(binary)
        .arg("list")
        .current_dir(util::workspace_root())
        .output()
        .context("running `cargo fuzz list`")?;
    if !output.status.success() {
        bail!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs `target` for `seconds` on its committed seeds; returns whether it found nothing.
fn run_target(binary: &Path, target: &str, seconds: u32) -> Result<bool> {
    let seeds = fuzz_dir().join("seeds").join(target);
    if !seeds.is_dir() {
        bail!(
            "{} is missing: every target needs committed seeds",
            seeds.display()
        );
    }
    let scratch = util::xtask_target_dir().join("fuzz-corpus").join(target);
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let artifacts = util::xtask_target_dir().join("fuzz-artifacts").join(target);
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("creating {}", artifacts.display()))?;
    let mut cmd = cargo_fuzz_command(binary, "run")?;
    cmd.arg(target)
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={SECONDS_PER_INPUT}"))
        .arg(format!("-artifact_prefix={}/", util::utf8(&artifacts)?))
        .arg("-print_final_stats=1");
    Ok(util::status(&mut cmd)?.success())
}

/// The fuzz suite of `cargo xtask test`: every target for [`CI_SECONDS_PER_TARGET`]; each
/// counts as one test, failed if it found a crash.
pub fn suite() -> Result<Report> {
    let binary = util::timed("install cargo-fuzz", cargo_fuzz)?;
    util::timed("cargo fuzz build", || {
        util::run(&mut cargo_fuzz_command(&binary, "build")?)
    })?;
    let mut counts = Counts::default();
    for target in targets(&binary)? {
        let found_nothing = util::timed(&format!("cargo fuzz run {target}"), || {
            run_target(&binary, &target, CI_SECONDS_PER_TARGET)
        })?;
        if found_nothing {
            counts.passed += 1;
        } else {
            println!(
                "fuzz target {target} failed: its input is in target/xtask/fuzz-artifacts/{target}/"
            );
            counts.failed += 1;
        }
    }
    let problem = (counts.passed + counts.failed == 0).then(|| "no fuzz target ran".to_owned());
    Ok(Report { counts, problem })
}
