//! Build the host cdylib that the Swift and Kotlin suites load.
//!
//! Defaults to the workspace's `ferry-ffi` package; `--manifest-path` and
//! `--package` point the same pipeline at any other UniFFI crate.

use std::io::BufRead;
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
}

impl FfiCrate {
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

    /// `cargo build` the package (debug profile) and return the path of its cdylib.
    pub fn build(&self) -> Result<PathBuf> {
        let mut cmd = self.cargo("build");
        cmd.args(["--lib", "--message-format=json-render-diagnostics", "-p"])
            .arg(&self.package)
            .stdout(Stdio::piped());
        eprintln!("$ {}", util::show(&cmd));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not start: {}", util::show(&cmd)))?;
        let stdout = child.stdout.take().context("no stdout from cargo")?;
        let mut found = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let msg: serde_json::Value = match serde_json::from_str(&line?) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let is_cdylib = msg["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
            if !is_cdylib {
                continue;
            }
            for file in msg["filenames"].as_array().into_iter().flatten() {
                if let Some(f) = file.as_str().filter(|f| f.ends_with(".so")) {
                    found = Some(PathBuf::from(f));
                }
            }
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("cargo build -p {} failed ({status})", self.package);
        }
        found.with_context(|| {
            format!(
                "package {} built no cdylib: add crate-type = [\"cdylib\"] to its [lib]",
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
