// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "PlanVault",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "planvault", targets: ["planvault"]),
        .library(name: "PlanVaultCore", targets: ["PlanVaultCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "PlanVaultCore",
            dependencies: [
                "CLibCrypto",
                "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PlanVaultCLI",
            dependencies: [
                "PlanVaultCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .executableTarget(
            name: "planvault",
            dependencies: ["PlanVaultCLI"]
        ),
        .testTarget(
            name: "PlanVaultCoreTests",
            dependencies: ["PlanVaultCore", "PlanVaultCLI"]
        ),
    ]
)
