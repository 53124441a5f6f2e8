//! `cargo xtask xcframework`: Ferry for Apple apps, as a Swift package around an
//! XCFramework (macOS with Xcode only; on any other OS it stops with a message that says so).
//!
//! The recipe follows matrix-rust-sdk's and bitwarden's: build the staticlib for the device
//! (`aarch64-apple-ios`) and both simulator architectures, `lipo` the simulator slices into
//! one, generate the Swift bindings once, put the C header and the (merged) module map under
//! `headers/FerryFFI/` so several XCFrameworks never clash on `module.modulemap`, and
//! `xcodebuild -create-xcframework`. The result, in `target/apple/Ferry/`, is a package with
//! a `binaryTarget` and the Swift sources (generated + `bindings/swift/Sources`), ready for
//! `ios-demo/` or any app to add as a local package. It must never write into the source tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bindgen::{self, Language};
use crate::{cdylib, cross, util};

const DEVICE: &str = "aarch64-apple-ios";
const SIMULATORS: [&str; 2] = ["aarch64-apple-ios-sim", "x86_64-apple-ios"];
const LIB: &str = "libferry_ffi.a";

pub fn xcframework(profile: &str) -> Result<PathBuf> {
    if !cfg!(target_os = "macos") {
        bail!(
            "`cargo xtask xcframework` needs macOS with Xcode (xcodebuild, lipo and the iOS SDKs); \
             this machine is {}. The Linux suites (`cargo xtask test`) test the Swift package and \
             the background-transfer shim against the host library instead.",
            std::env::consts::OS
        );
    }
    let root = util::workspace_root();
    let out = root.join("target").join("apple");
    let targets = [DEVICE, SIMULATORS[0], SIMULATORS[1]];
    cross::add_rust_targets(&targets)?;
    for target in targets {
        let mut cmd = cross::cargo();
        cmd.args(cross::ffi_build_args(profile, "staticlib"))
            .args(["--target", target]);
        util::timed(&format!("cargo build {target}"), || util::run(&mut cmd))?;
    }
    let profile_dir = if profile == "dev" { "debug" } else { profile };
    let lib_of = |target: &str| root.join("target").join(target).join(profile_dir).join(LIB);

    let simulator = out.join("ios-simulator").join(LIB);
    std::fs::create_dir_all(simulator.parent().context("no parent")?)?;
    let mut lipo = Command::new("lipo");
    lipo.arg("-create");
    for target in SIMULATORS {
        lipo.arg(lib_of(target));
    }
    lipo.arg("-output").arg(&simulator);
    util::run(&mut lipo)?;

    // Bindings come from the host-built cdylib's metadata (identical for every target).
    let host_lib = cdylib::FfiCrate::shipped(profile).build()?;
    let generated = out.join("generated");
    bindgen::generate(
        &host_lib,
        &generated,
        Language::Swift,
        &bindgen::workspace_config(),
    )?;
    let headers = out.join("headers");
    let ffi_headers = headers.join("FerryFFI");
    if headers.exists() {
        std::fs::remove_dir_all(&headers)?;
    }
    std::fs::create_dir_all(&ffi_headers)?;
    let mut modulemap = String::new();
    for entry in std::fs::read_dir(&generated)? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("h") => {
                std::fs::copy(
                    &path,
                    ffi_headers.join(path.file_name().context("no name")?),
                )?;
            }
            Some("modulemap") => modulemap += &std::fs::read_to_string(&path)?,
            _ => {}
        }
    }
    std::fs::write(ffi_headers.join("module.modulemap"), modulemap)?;

    let package = out.join("Ferry");
    let framework = package.join("FerryFFI.xcframework");
    if framework.exists() {
        std::fs::remove_dir_all(&framework)?;
    }
    let mut xcodebuild = Command::new("xcodebuild");
    xcodebuild
        .arg("-create-xcframework")
        .arg("-library")
        .arg(lib_of(DEVICE))
        .arg("-headers")
        .arg(&headers)
        .arg("-library")
        .arg(&simulator)
        .arg("-headers")
        .arg(&headers)
        .arg("-output")
        .arg(&framework);
    util::run(&mut xcodebuild)?;
    write_package(&root, &package, &generated)?;
    Ok(package)
}

/// The distributable package: the binary target plus the Swift sources.
fn write_package(root: &Path, package: &Path, generated: &Path) -> Result<()> {
    let sources = package.join("Sources");
    if sources.exists() {
        std::fs::remove_dir_all(&sources)?;
    }
    copy_dir(
        &root.join("bindings/swift/Sources/Ferry"),
        &sources.join("Ferry"),
    )?;
    copy_dir(
        &root.join("bindings/swift/Sources/FerryBackgroundTransfers"),
        &sources.join("FerryBackgroundTransfers"),
    )?;
    std::fs::copy(
        generated.join("Ferry.swift"),
        sources.join("Ferry").join("Ferry.swift"),
    )
    .context("the generated Ferry.swift is missing: check uniffi.toml's module_name")?;
    std::fs::write(package.join("Package.swift"), PACKAGE_SWIFT)?;
    Ok(())
}

const PACKAGE_SWIFT: &str = r#"// swift-tools-version:5.9
// Generated by `cargo xtask xcframework`; do not edit.
import PackageDescription

let package = Package(
    name: "Ferry",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Ferry", targets: ["Ferry"]),
        .library(name: "FerryBackgroundTransfers", targets: ["FerryBackgroundTransfers"]),
    ],
    targets: [
        .binaryTarget(name: "FerryFFI", path: "FerryFFI.xcframework"),
        .target(
            name: "Ferry",
            dependencies: ["FerryFFI"],
            path: "Sources/Ferry"
        ),
        .target(
            name: "FerryBackgroundTransfers",
            dependencies: ["Ferry"],
            path: "Sources/FerryBackgroundTransfers"
        ),
    ],
    // Swift 5 language mode (UniFFI 0.32.2's async foreign traits are not Swift-6-strict
    // clean), set here, as SwiftPM accepts in a versioned dependency (unsafe flags it refuses).
    swiftLanguageVersions: [.v5]
)
"#;

pub(crate) fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::PACKAGE_SWIFT;

    #[test]
    fn the_package_for_apps_uses_no_unsafe_flags_so_a_versioned_dependency_works() {
        assert!(!PACKAGE_SWIFT.contains("unsafeFlags"), "{PACKAGE_SWIFT}");
        assert!(PACKAGE_SWIFT.contains("swiftLanguageVersions: [.v5]"));
        assert!(PACKAGE_SWIFT.contains(r#".binaryTarget(name: "FerryFFI""#));
    }
}
