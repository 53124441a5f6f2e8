// swift-tools-version:5.9
//
// Ferry's Swift package. On Linux, `cargo xtask test-swift` stages this file with the
// UniFFI-generated sources (never committed) and runs `swift test` in a Debian trixie root:
//
//   Sources/FerryFFI/  FerryFFI.h + module.modulemap (generated: the raw C FFI)
//   Sources/Ferry/     Ferry.swift (generated) + hand-written sugar (committed)
//   Sources/FerryBackgroundTransfers/  the iOS platform shim over background URLSession
//   Tests/FerryTests/  XCTest suite of both (committed; shares the testkit helpers)
//
// The target names must match `module_name` / `ffi_module_name` in ../../uniffi.toml.
// FERRY_FFI_LIB_DIR / FERRY_FFI_LIB_NAME say where the host-built cdylib is; xtask sets them.
// Apple apps use the package `cargo xtask xcframework` writes (a binaryTarget), not this file.
import Foundation
import PackageDescription

let env = ProcessInfo.processInfo.environment
let libDir = env["FERRY_FFI_LIB_DIR"] ?? "../../target/debug"
let libName = env["FERRY_FFI_LIB_NAME"] ?? "ferry_ffi"

let package = Package(
    name: "Ferry",
    products: [
        .library(name: "Ferry", targets: ["Ferry"]),
        .library(name: "FerryBackgroundTransfers", targets: ["FerryBackgroundTransfers"]),
    ],
    targets: [
        .systemLibrary(name: "FerryFFI", path: "Sources/FerryFFI"),
        .target(
            name: "Ferry",
            dependencies: ["FerryFFI"],
            path: "Sources/Ferry",
            // Only this local test package links with `unsafeFlags` (the host-built library's
            // directory); the package `cargo xtask xcframework` writes for apps has none.
            linkerSettings: [
                .linkedLibrary(libName),
                .unsafeFlags(["-L", libDir, "-Xlinker", "-rpath", "-Xlinker", libDir]),
            ]
        ),
        .target(
            name: "FerryBackgroundTransfers",
            dependencies: ["Ferry"],
            path: "Sources/FerryBackgroundTransfers"
        ),
        .testTarget(
            name: "FerryTests",
            dependencies: ["Ferry", "FerryBackgroundTransfers"],
            path: "Tests/FerryTests"
        ),
    ],
    // Swift 5 language mode: UniFFI 0.32.2's async foreign traits are not Swift-6-strict
    // clean. The setting, not `-swift-version` in `unsafeFlags`, which SwiftPM refuses in a
    // versioned dependency.
    swiftLanguageVersions: [.v5]
)
