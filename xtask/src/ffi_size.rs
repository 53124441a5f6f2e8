//! `cargo xtask ffi-size`: the size of the library apps ship.
//!
//! Builds `ferry-ffi` with the `release-ffi` profile, strips a copy with binutils' `strip`
//! (the unstripped file stays: bindgen reads UniFFI's metadata from its symbols) and
//! compares the stripped size with the goal. It never strips the file bindgen uses.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

/// The goal for the stripped host cdylib, in bytes (5 MB).
pub const GOAL_BYTES: u64 = 5_000_000;

pub struct Sizes {
    pub unstripped: u64,
    pub stripped: u64,
    pub stripped_path: PathBuf,
}

/// Strips a copy of `lib` next to it (`stripped/<name>`) and measures both.
pub fn measure(lib: &Path) -> Result<Sizes> {
    let name = lib.file_name().context("library has no file name")?;
    let dir = lib
        .parent()
        .context("library has no directory")?
        .join("stripped");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stripped_path = dir.join(name);
    let mut strip = Command::new("strip");
    strip.arg("-o").arg(&stripped_path).arg(lib);
    util::run(&mut strip).context("`strip` comes with binutils (apt-get install binutils)")?;
    let size = |path: &Path| -> Result<u64> {
        Ok(std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len())
    };
    Ok(Sizes {
        unstripped: size(lib)?,
        stripped: size(&stripped_path)?,
        stripped_path,
    })
}

/// The summary line printed by `ffi-size` and `test`.
pub fn describe(sizes: &Sizes) -> String {
    format!(
        "ffi library: {} bytes stripped ({:.2} MB, goal {:.2} MB), {} bytes unstripped: {}",
        sizes.stripped,
        sizes.stripped as f64 / 1e6,
        GOAL_BYTES as f64 / 1e6,
        sizes.unstripped,
        sizes.stripped_path.display()
    )
}

/// Fails when the stripped library is over the goal.
pub fn check(sizes: &Sizes) -> Result<()> {
    if sizes.stripped > GOAL_BYTES {
        bail!(
            "the stripped library is {} bytes, over the {GOAL_BYTES}-byte goal",
            sizes.stripped
        );
    }
    Ok(())
}
