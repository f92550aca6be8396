// swift-tools-version:6.0
import PackageDescription

/// Release builds of the numeric targets use AVX2 and FMA (x86-64-v3); Swift
/// never fuses `a * b + c` without it, and the kernels are several times slower.
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-march=x86-64-v3"], .when(configuration: .release))
]

let package = Package(
    name: "pixelrnnd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pixelrnn", targets: ["pixelrnn"]),
        .executable(name: "pixelrnnd", targets: ["pixelrnnd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // MARK: - C libraries (thin shims and system libraries)

        /// libpng and libjpeg behind plain status codes; setjmp/longjmp never leave C.
        .target(
            name: "CImageCodecs",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("z")]
        ),
        /// The CPU's clock, measured with a chain of dependent adds (for the benchmark's peak).
        .target(name: "CMachine"),
        /// Hand-written kernels with one body per instruction set (AVX2 + FMA, AVX-512),
        /// chosen at run time from the CPU: one binary for every x86-64-v3 machine or better.
        .target(name: "CKernels", linkerSettings: [.linkedLibrary("m")]),
        /// OpenBLAS's CBLAS interface (Debian libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        /// zlib, for the gzipped IDX files of Fashion-MNIST.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        /// cairo and its FreeType font backend (Debian libcairo2-dev), for figures.
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"])]
        ),
        /// libinotifytools (Debian libinotifytools0-dev); it ships no pkg-config file.
        .systemLibrary(
            name: "CInotify",
            providers: [.apt(["libinotifytools0-dev"])]
        ),

        // MARK: - Libraries, bottom to top

        /// The one system-call layer: typed errors with errno, call and path; EINTR retry;
        /// safe reads and writes, atomic replace, fsync, renames; the fault-injection hook; SHA-256.
        .target(
            name: "SystemIO",
            dependencies: [.product(name: "SystemPackage", package: "swift-system")]
        ),
        /// Images and masks: decoding, encoding, limits, drawing (figures through cairo).
        .target(
            name: "Imaging",
            dependencies: ["CImageCodecs", "CCairo", "SystemIO", .product(name: "SystemPackage", package: "swift-system")]
        ),
        /// The PixelRNN: tensors and kernels, layers, models, training, checkpoints, data.
        .target(
            name: "PixelRNN",
            dependencies: [
                "CBLAS", "CKernels", "CMachine", "CZlib", "Imaging", "SystemIO",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: numericSettings
        ),
        /// Masked conditional sampling with particles, the evidence, the likelihood report and job outputs.
        .target(
            name: "Completion",
            dependencies: [
                "PixelRNN", "Imaging", "SystemIO", .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: numericSettings
        ),

        /// The spool daemon's machinery: config, inotify watcher, claim, queue, publish, status, systemd.
        .target(
            name: "Spool",
            dependencies: [
                "CInotify", "SystemIO", "Imaging", "Completion",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),

        // MARK: - Executables

        /// `pixelrnn`: train, eval, sample, complete, bench, inspect.
        .executableTarget(
            name: "pixelrnn",
            dependencies: [
                "PixelRNN", "Imaging", "Completion", "SystemIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: numericSettings
        ),
        /// `pixelrnnd`: the spool daemon (flags, logging bootstrap, processor loader; the rest is `Spool`).
        .executableTarget(
            name: "pixelrnnd",
            dependencies: [
                "Spool",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),

        // MARK: - Tests

        /// Shared helpers for the test targets (fixture paths, temporary folders).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "SystemIOTests",
            dependencies: ["SystemIO", "TestSupport", .product(name: "SystemPackage", package: "swift-system")]),
        /// CZlib only to read the gzipped PNG-suite reference pixels.
        .testTarget(
            name: "ImagingTests", dependencies: ["Imaging", "TestSupport", "CZlib"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "PixelRNNTests",
            dependencies: ["PixelRNN", "SystemIO", "TestSupport", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: numericSettings),
        .testTarget(
            name: "CompletionTests", dependencies: ["Completion", "TestSupport"], swiftSettings: numericSettings),
        /// End-to-end tests of the built `pixelrnn` binary.
        .testTarget(name: "CLITests", dependencies: ["Imaging", "TestSupport"]),
        /// End-to-end tests of the built `pixelrnnd` binary on temporary spools.
        .testTarget(
            name: "SpoolTests", dependencies: ["Spool", "SystemIO", "PixelRNN", "Imaging", "TestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
