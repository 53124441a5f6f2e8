//! `cargo xtask`: Ferry's developer and CI tasks.
//!
//! - `swift-toolchain`: build (once) the cached Debian trixie root that runs Swift.
//! - `bindgen`: generate Swift or Kotlin bindings from a UniFFI cdylib.
//! - `test-swift`, `test-kotlin`: the XCTest / JUnit suites against the host cdylib.
//! - `tusd`: install the pinned tusd (Go module proxy) for the resumable upload tests.
//! - `ffi-size`: build the shipped library (`release-ffi`), strip a copy, check the goal.
//! - `xcframework` (macOS + Xcode), `aar` (Android NDK): the mobile packages; elsewhere
//!   they stop with a message that says what they need.
//! - `test`: the import-cycle check, `cargo test --workspace` (with tusd), the
//!   documentation check (`docs.rs`), the examples run against the test server
//!   (`examples.rs`), every fuzz target for a few seconds on its committed seeds
//!   (`fuzz.rs`), the `uniffi-bindgen` binary check, then both suites, with a summary line
//!   per suite.
//! - `doc`: the documentation check of `test` alone: `cargo doc` of `ferry` and
//!   `ferry-ffi` with warnings denied (missing docs, broken or private links).
//! - `examples`: the examples suite of `test` alone: `core/examples/` run against
//!   `ferry-testkit serve`.
//! - `fuzz`: the fuzz suite of `test` alone.
//! - `import-cycles`: no import cycle and no upward import among the files of `core/src`,
//!   `cli/src` and `xtask/src` (`import_cycles.rs`); also part of `test`.
//! - `scenario`: the OS scenarios, `ferry-testkit scenario ...` (see tests/README.md).

mod android;
mod apple;
mod bindgen;
mod bindgen_cli;
mod cdylib;
mod cross;
mod docs;
mod examples;
mod ffi_size;
mod fuzz;
mod import_cycles;
mod kotlin;
mod kotlin_error_message;
mod page_alignment;
mod power_cut;
mod report;
mod suite;
mod swift;
mod testkit_server;
mod toolchain;
mod tusd;
mod util;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::cdylib::FfiCrate;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Ferry's build and test tasks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the cached Debian trixie root with Swift (idempotent; needs root).
    /// Cache: $FERRY_CACHE_DIR/swift-trixie, default ~/.cache/ferry/swift-trixie.
    SwiftToolchain,
    /// Install the pinned tusd with `go install` (idempotent) and print its path.
    /// Cache: $FERRY_CACHE_DIR/tusd-VERSION, default ~/.cache/ferry/tusd-VERSION.
    Tusd,
    /// Generate Swift or Kotlin bindings from a built UniFFI cdylib.
    Bindgen {
        /// The cdylib (e.g. target/debug/libferry_ffi.so).
        #[arg(long)]
        lib: PathBuf,
        /// Output directory (emptied first).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum)]
        language: bindgen::Language,
        /// UniFFI global config (default: uniffi.toml at the workspace root).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Build the cdylib, generate Swift bindings, run the XCTest suite in the trixie root.
    TestSwift {
        #[command(flatten)]
        ffi: FfiCrate,
        /// Run the XCTest files of this directory instead of bindings/swift/Tests/FerryTests.
        #[arg(long)]
        tests: Option<PathBuf>,
    },
    /// Build the cdylib, generate Kotlin bindings, run the JUnit suite with Maven.
    TestKotlin {
        #[command(flatten)]
        ffi: FfiCrate,
        /// Compile the JUnit tests of this directory instead of bindings/kotlin/src/test/kotlin.
        #[arg(long)]
        tests: Option<PathBuf>,
    },
    /// Build the shipped library (profile release-ffi), strip a copy, report both sizes;
    /// fails over the 5 MB goal.
    FfiSize {
        #[command(flatten)]
        ffi: FfiCrate,
    },
    /// Build the XCFramework and a Swift package around it in target/apple/Ferry
    /// (macOS with Xcode only).
    Xcframework {
        #[arg(long, default_value = cdylib::SHIPPED_PROFILE)]
        profile: String,
    },
    /// Build the Android native libraries (cargo-ndk), Kotlin bindings with android = true,
    /// and the ferry-android AAR (needs the Android NDK; Gradle + SDK for the AAR).
    Aar {
        #[arg(long, default_value = cdylib::SHIPPED_PROFILE)]
        profile: String,
    },
    /// The import-cycle check, `cargo test --workspace`, the documentation check, the
    /// examples, the power-cut control, the fuzz targets (briefly), the uniffi-bindgen
    /// check, test-swift and test-kotlin; one summary line each.
    Test {
        #[command(flatten)]
        ffi: FfiCrate,
        #[arg(long)]
        swift_tests: Option<PathBuf>,
        #[arg(long)]
        kotlin_tests: Option<PathBuf>,
    },
    /// Only the fuzz suite of `test`: every fuzz target for a few seconds on its seeds.
    Fuzz,
    /// Only the documentation check of `test`: `cargo doc --no-deps -p ferry-transfers -p ferry-ffi`
    /// with `RUSTDOCFLAGS="-D warnings"` (a public item without docs, a broken link, or a
    /// link from public docs into a private module fails it).
    Doc,
    /// Only the examples suite of `test`: each example of core/examples run against
    /// `ferry-testkit serve` on files it makes, and judged by its exit and last line.
    Examples,
    /// Fail on any import cycle or upward import among the files of core/src, cli/src
    /// and xtask/src, listing each as a chain of files.
    ImportCycles,
    /// Only the power-cut control of `test`: the power-cut test built without the WAL
    /// sync, which must fail it by a lost fact.
    PowerCutControl,
    /// Run OS scenarios under the naive and Ferry strategies (`ferry-testkit scenario`).
    Scenario {
        /// Everything after `scenario`, e.g. `seed --set ios.n_stall=200 --plot out.svg`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    // Print the error chain without anyhow's backtrace (RUST_BACKTRACE is often set).
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Cmd) -> Result<()> {
    match command {
        Cmd::Scenario { args } => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            util::run(
                std::process::Command::new(cargo)
                    .current_dir(util::workspace_root())
                    .args(["run", "-q", "-p", "ferry-testkit", "--", "scenario"])
                    .args(args),
            )
        }
        Cmd::ImportCycles => import_cycles::check_workspace(),
        Cmd::Fuzz => report::finish("fuzz", fuzz::suite()),
        Cmd::Doc => report::finish("doc", docs::check()),
        Cmd::Examples => report::finish("examples", examples::suite()),
        Cmd::PowerCutControl => report::finish("power-cut control", power_cut::control()),
        Cmd::SwiftToolchain => {
            let root = toolchain::ensure()?;
            println!("swift toolchain ready: {}", root.path().display());
            Ok(())
        }
        Cmd::Tusd => {
            println!("{}", tusd::ensure()?.display());
            Ok(())
        }
        Cmd::Bindgen {
            lib,
            out,
            language,
            config,
        } => {
            let config = config.unwrap_or_else(bindgen::workspace_config);
            bindgen::generate(&lib, &out, language, &config)?;
            println!("{} bindings in {}", language.name(), out.display());
            Ok(())
        }
        Cmd::FfiSize { ffi } => {
            let lib = util::timed("cargo build (cdylib)", || ffi.build())?;
            let sizes = ffi_size::measure(&lib)?;
            println!("{}", ffi_size::describe(&sizes));
            ffi_size::check(&sizes)
        }
        Cmd::Xcframework { profile } => {
            let package = apple::xcframework(&profile)?;
            println!("Swift package with the XCFramework: {}", package.display());
            Ok(())
        }
        Cmd::Aar { profile } => {
            let out = android::aar(&profile)?;
            println!("Android output: {}", out.display());
            Ok(())
        }
        Cmd::TestSwift { ffi, tests } => {
            report::finish("swift", swift::test(&ffi, tests.as_deref()))
        }
        Cmd::TestKotlin { ffi, tests } => {
            report::finish("kotlin", kotlin::test(&ffi, tests.as_deref()))
        }
        Cmd::Test {
            ffi,
            swift_tests,
            kotlin_tests,
        } => suite::test_all(&suite::TestAll {
            ffi,
            swift_tests,
            kotlin_tests,
        }),
    }
}
