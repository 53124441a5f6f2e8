//! Build the host cdylib that the Swift and Kotlin suites load.
//!
//! Defaults to the workspace's `ferry-ffi` package built with the `release-ffi` profile,
//! the one apps ship (size-optimised, `panic = "unwind"`), so the suites test what ships;
//! `--profile dev` builds faster while iterating. `--manifest-path` and `--package` point
//! the same pipeline at any other UniFFI crate (built with `dev` unless told otherwise).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::util;

/// Which crate provides the cdylib.
#[derive(clap::Args, Clone, Debug)]
pub struct FfiCrate {
    /// Cargo.toml of the workspace or crate that holds the UniFFI package
    /// (default: this workspace).
    #[arg(long)]
    pub manifest_path: Option<PathBuf>,
    /// The UniFFI package to build as a cdylib.
    #[arg(long, short = 'p', default_value = "ferry-ffi")]
    pub package: String,
    /// Cargo profile for the cdylib (default: `release-ffi` for this workspace, else `dev`).
    #[arg(long)]
    pub profile: Option<String>,
}

/// The profile Ferry's shipped library is built with (see the root Cargo.toml).
pub const SHIPPED_PROFILE: &str = "release-ffi";

/// Linker flags for the shipped library on Linux: pack relative relocations (RELR; GNU ld
/// and lld since 2021, glibc >= 2.36, Android >= 11). About 0.4 MB of the 5 MB goal is
/// `.rela.dyn` without it. An Android build whose minSdk is below 30 must not use it.
pub const LINUX_SHIPPED_LINK_ARGS: &[&str] = &["-C", "link-arg=-Wl,-z,pack-relative-relocs"];

impl FfiCrate {
    /// This workspace's `ferry-ffi`, built with `profile`.
    pub fn shipped(profile: &str) -> Self {
        Self {
            manifest_path: None,
            package: "ferry-ffi".into(),
            profile: Some(profile.into()),
        }
    }

    fn cargo(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.arg(subcommand);
        if let Some(manifest) = &self.manifest_path {
            cmd.arg("--manifest-path").arg(manifest);
        }
        cmd
    }

    /// Whether the package exists (the default `ferry-ffi` may not yet).
    pub fn exists(&self) -> Result<bool> {
        let mut cmd = self.cargo("metadata");
        cmd.args(["--no-deps", "--format-version", "1"]);
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("could not start: {}", util::show(&cmd)))?;
        if !out.status.success() {
            bail!("{} failed", util::show(&cmd));
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        Ok(meta["packages"]
            .as_array()
            .is_some_and(|pkgs| pkgs.iter().any(|p| p["name"] == self.package.as_str())))
    }

    /// Whether the cdylib is built the way apps get it.
    pub fn is_shipped_profile(&self) -> bool {
        self.profile() == SHIPPED_PROFILE
    }

    fn profile(&self) -> &str {
        match (&self.profile, &self.manifest_path) {
            (Some(profile), _) => profile,
            (None, None) => SHIPPED_PROFILE,
            (None, Some(_)) => "dev",
        }
    }

    /// Builds the package's library as a cdylib alone (`cargo rustc --crate-type cdylib`,
    /// see [`crate::cross::ffi_build_args`] for why alone) and returns the path of the
    /// unstripped file. With the shipped profile on Linux, [`LINUX_SHIPPED_LINK_ARGS`] go
    /// to the cdylib's own link step only, so no dependency is rebuilt for them.
    pub fn build(&self) -> Result<PathBuf> {
        let link_args = if self.is_shipped_profile() && cfg!(target_os = "linux") {
            LINUX_SHIPPED_LINK_ARGS
        } else {
            &[]
        };
        let mut cmd = self.cargo("rustc");
        cmd.args(["--lib", "--crate-type", "cdylib"])
            .args(["--message-format=json-render-diagnostics", "-p"])
            .arg(&self.package)
            .arg("--profile")
            .arg(self.profile());
        if !link_args.is_empty() {
            cmd.arg("--").args(link_args);
        }
        let mut found = None;
        let status = util::cargo_json(&mut cmd, |msg| {
            if msg["reason"] != "compiler-artifact" {
                return;
            }
            let is_cdylib = msg["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
            if !is_cdylib {
                return;
            }
            for file in msg["filenames"].as_array().into_iter().flatten() {
                if let Some(f) = file
                    .as_str()
                    .filter(|f| f.ends_with(".so") || f.ends_with(".dylib"))
                {
                    found = Some(PathBuf::from(f));
                }
            }
        })?;
        if !status.success() {
            bail!("cargo build -p {} failed ({status})", self.package);
        }
        found.with_context(|| {
            format!(
                "package {} built no cdylib (is it a library with UniFFI's scaffolding?)",
                self.package
            )
        })
    }
}

/// `libfoo_ffi.so` -> `foo_ffi`, the name given to the linker and to JNA.
pub fn link_name(lib: &std::path::Path) -> Result<String> {
    let stem = lib
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("odd library name: {}", lib.display()))?;
    Ok(stem.strip_prefix("lib").unwrap_or(stem).to_string())
}
