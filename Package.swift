// swift-tools-version:6.0
import Foundation
import PackageDescription

// PLANVAULT_STATIC_LIBS=1 (scripts/package.sh) links OpenSSL's libcrypto from its static archive
// into the executable, so the packaged binary does not need libssl3. zlib stays shared: the static
// Swift runtime's own link line names libz.so, which then wins over an archive (zlib1g is on every
// Debian system). Development builds link the shared libraries found by pkg-config.
let staticLibs = ProcessInfo.processInfo.environment["PLANVAULT_STATIC_LIBS"] == "1"
let staticLibDir = ProcessInfo.processInfo.environment["PLANVAULT_STATIC_LIB_DIR"] ?? "/usr/lib/x86_64-linux-gnu"

let package = Package(
    name: "PlanVault",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "planvault", targets: ["planvault"]),
        .library(name: "PlanVaultCore", targets: ["PlanVaultCore"]),
        // Test-only: a read(2) fault injector the CLI tests load into planvault with LD_PRELOAD.
        .library(name: "ReadFaultShim", type: .dynamic, targets: ["ReadFaultShim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: staticLibs ? nil : "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: staticLibs ? nil : "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "PlanVaultCore",
            dependencies: [
                "CLibCrypto",
                "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ],
            // The module maps carry no `link` line, so that a static build can choose the archives.
            linkerSettings: staticLibs ? [.linkedLibrary("z")] : [.linkedLibrary("crypto"), .linkedLibrary("z")]
        ),
        .target(
            name: "PlanVaultHTTP",
            dependencies: [
                "PlanVaultCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PlanVaultServer",
            dependencies: [
                "PlanVaultCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PlanVaultCLI",
            dependencies: [
                "PlanVaultCore",
                "PlanVaultHTTP",
                "PlanVaultServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "planvault",
            dependencies: ["PlanVaultCLI", "PlanVaultCore"],
            linkerSettings: staticLibs
                ? [.unsafeFlags(["-Xlinker", "\(staticLibDir)/libcrypto.a"])]
                : []
        ),
        // Shared by the test targets: temporary folders, fixtures, the real executable.
        .target(
            name: "PlanVaultTestSupport",
            dependencies: ["PlanVaultCore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/PlanVaultTestSupport"
        ),
        .target(name: "ReadFaultShim"),
        .testTarget(
            name: "PlanVaultCoreTests",
            dependencies: ["PlanVaultCore", "PlanVaultTestSupport"]
        ),
        .testTarget(
            name: "PlanVaultHTTPTests",
            dependencies: ["PlanVaultCore", "PlanVaultHTTP", "PlanVaultTestSupport"]
        ),
        .testTarget(
            name: "PlanVaultServerTests",
            dependencies: ["PlanVaultCore", "PlanVaultHTTP", "PlanVaultServer", "PlanVaultTestSupport",
                           .product(name: "NIOHTTP1", package: "swift-nio")]
        ),
        .testTarget(
            name: "PlanVaultCLITests",
            dependencies: ["PlanVaultCore", "PlanVaultCLI", "PlanVaultTestSupport"]
        ),
    ]
)

// libFuzzer harnesses (scripts/fuzz.sh). Declared only when PLANVAULT_FUZZ=1: their entry point is
// libFuzzer's LLVMFuzzerTestOneInput, so they link only with `--sanitize=fuzzer` (debug builds).
if ProcessInfo.processInfo.environment["PLANVAULT_FUZZ"] == "1" {
    let fuzzSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]
    package.targets += [
        .executableTarget(name: "PlanVaultCoreFuzz", dependencies: ["PlanVaultCore"],
                          path: "Fuzz/Sources/PlanVaultCoreFuzz", swiftSettings: fuzzSettings),
        .executableTarget(name: "PlanVaultServerFuzz", dependencies: ["PlanVaultCore", "PlanVaultServer"],
                          path: "Fuzz/Sources/PlanVaultServerFuzz", swiftSettings: fuzzSettings),
        .executableTarget(name: "PlanVaultHTTPFuzz", dependencies: ["PlanVaultCore", "PlanVaultHTTP"],
                          path: "Fuzz/Sources/PlanVaultHTTPFuzz", swiftSettings: fuzzSettings),
    ]
    package.products += [
        .executable(name: "PlanVaultCoreFuzz", targets: ["PlanVaultCoreFuzz"]),
        .executable(name: "PlanVaultServerFuzz", targets: ["PlanVaultServerFuzz"]),
        .executable(name: "PlanVaultHTTPFuzz", targets: ["PlanVaultHTTPFuzz"]),
    ]
}
