//! `cargo xtask aar`: Ferry for Android apps (needs the Android NDK and cargo-ndk; without
//! them it stops with a message that says what is missing).
//!
//! Builds `libferry_ffi.so` for arm64-v8a, armeabi-v7a and x86_64 with cargo-ndk into
//! `target/android/jniLibs/` (linked for 16 KB pages, which `page_alignment.rs` checks for
//! the 64-bit ABIs), generates the Kotlin bindings with `android = true` (a copy of
//! uniffi.toml with that one switch) into `target/android/kotlin/`, and, when Gradle and the
//! Android SDK are there, assembles `android-demo/ferry-android` into an AAR (JNA comes in as
//! `jna@aar`, ProGuard keep rules in its `consumer-rules.pro`). It must never write into the
//! source tree.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bindgen::{self, Language};
use crate::{cdylib, cross, page_alignment, util};

const ABIS: [&str; 3] = ["arm64-v8a", "armeabi-v7a", "x86_64"];
const RUST_TARGETS: [&str; 3] = [
    "aarch64-linux-android",
    "armv7-linux-androideabi",
    "x86_64-linux-android",
];
/// The 64-bit ABIs, whose devices may use 16 KB pages (Android 15 and later): their
/// libraries are checked for 16 KB aligned segments.
const ABIS_WITH_16_KB_PAGES: [&str; 2] = ["arm64-v8a", "x86_64"];
/// minSdk of android-demo/ferry-android.
const MIN_SDK: &str = "24";

pub fn aar(profile: &str) -> Result<PathBuf> {
    let ndk = ["ANDROID_NDK_HOME", "ANDROID_NDK_ROOT", "NDK_HOME"]
        .iter()
        .find_map(|name| std::env::var_os(name).map(PathBuf::from))
        .filter(|path| path.is_dir());
    let Some(ndk) = ndk else {
        bail!(
            "`cargo xtask aar` needs the Android NDK: set ANDROID_NDK_HOME to it (with the Android \
             SDK for the Gradle step). Neither is installed on Ferry's Linux test machines, where \
             `cargo xtask test` tests the Kotlin bindings and the shim's logic on the JVM instead."
        );
    };
    let mut probe = cross::cargo();
    probe.args(["ndk", "--version"]);
    if !util::status(&mut probe).is_ok_and(|status| status.success()) {
        let mut install = cross::cargo();
        install.args(["install", "cargo-ndk", "--locked"]);
        util::run(&mut install).context("installing cargo-ndk from crates.io")?;
    }
    let root = util::workspace_root();
    let out = root.join("target").join("android");
    cross::add_rust_targets(&RUST_TARGETS)?;
    let mut build = cross::cargo();
    build
        .env("ANDROID_NDK_HOME", &ndk)
        .args(["ndk", "--platform", MIN_SDK]);
    for abi in ABIS {
        build.args(["-t", abi]);
    }
    build
        .arg("-o")
        .arg(out.join("jniLibs"))
        .args(cross::ffi_build_args(profile, "cdylib"));
    util::timed("cargo ndk build", || util::run(&mut build))?;
    for abi in ABIS_WITH_16_KB_PAGES {
        let library = out.join("jniLibs").join(abi).join("libferry_ffi.so");
        page_alignment::require_aligned(&library, page_alignment::ANDROID_PAGE_SIZE)?;
    }

    let host_lib = cdylib::FfiCrate::shipped(profile).build()?;
    let config = out.join("uniffi-android.toml");
    let workspace_config = std::fs::read_to_string(bindgen::workspace_config())?;
    if !workspace_config.contains("android = false") {
        bail!("uniffi.toml no longer says `android = false`: update xtask/src/android.rs");
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        &config,
        workspace_config.replace("android = false", "android = true"),
    )?;
    bindgen::generate(&host_lib, &out.join("kotlin"), Language::Kotlin, &config)?;

    let demo = root.join("android-demo");
    let mut gradle = Command::new("gradle");
    gradle
        .current_dir(&demo)
        .args([":ferry-android:assembleRelease"]);
    match util::status(&mut gradle) {
        Ok(status) if status.success() => {
            Ok(demo.join("ferry-android/build/outputs/aar/ferry-android-release.aar"))
        }
        Ok(_) => bail!(
            "gradle :ferry-android:assembleRelease failed (needs the Android SDK, ANDROID_HOME)"
        ),
        Err(_) => {
            eprintln!(
                "[xtask] gradle not found: native libraries in {}, Kotlin in {}; build \
                 android-demo/ferry-android with Android Studio or Gradle to get the AAR",
                out.join("jniLibs").display(),
                out.join("kotlin").display()
            );
            Ok(out)
        }
    }
}
