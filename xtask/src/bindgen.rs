//! `cargo xtask bindgen`: generate Swift or Kotlin bindings from a built cdylib.
//!
//! UniFFI's generator is linked into xtask and called through its library API
//! (`uniffi::generate`), in library mode: the metadata is read from the cdylib
//! itself, so no UDL and no separate `uniffi-bindgen` binary are needed, and the
//! generator's version is the workspace's `uniffi`, the same one that
//! `ferry-ffi` links. Never writes into the source tree unless told to. The Kotlin output
//! gets one fix, `kotlin_error_message.rs`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use crate::util;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Language {
    Swift,
    Kotlin,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Swift => "swift",
            Language::Kotlin => "kotlin",
        }
    }
}

/// The workspace-wide UniFFI config (module and package names, `android = false`).
pub fn workspace_config() -> PathBuf {
    util::workspace_root().join("uniffi.toml")
}

/// Generate `language` bindings for every UniFFI crate found in `lib` into `out`.
/// `out` is emptied first so stale files from a renamed type never linger.
pub fn generate(lib: &Path, out: &Path, language: Language, config: &Path) -> Result<()> {
    if !lib.is_file() {
        bail!("no library at {} (build the cdylib first)", lib.display());
    }
    if !config.is_file() {
        bail!("no UniFFI config at {}", config.display());
    }
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    let patch_kotlin = language == Language::Kotlin;
    let language = match language {
        Language::Swift => uniffi::TargetLanguage::Swift,
        Language::Kotlin => uniffi::TargetLanguage::Kotlin,
    };
    uniffi::generate(uniffi::GenerateOptions {
        languages: vec![language],
        source: util::utf8(lib)?.into(),
        out_dir: util::utf8(out)?.into(),
        config_override: Some(util::utf8(config)?.into()),
        // swiftformat / ktlint are not installed here; formatting only costs time.
        format: false,
        crate_filter: None,
        // Only the workspace's own crates can carry a `uniffi.toml`.
        metadata_no_deps: true,
    })
    .with_context(|| format!("generating bindings from {}", lib.display()))?;
    if patch_kotlin {
        let kotlin = out.join("dev").join("ferry").join("ferry_ffi.kt");
        let source = std::fs::read_to_string(&kotlin)
            .with_context(|| format!("reading the generated {}", kotlin.display()))?;
        std::fs::write(&kotlin, crate::kotlin_error_message::patch(&source)?)
            .with_context(|| format!("writing {}", kotlin.display()))?;
    }
    Ok(())
}
