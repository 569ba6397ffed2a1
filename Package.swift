// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "saepipe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "saepipe", targets: ["SAEPipeCLI"]),
        .library(name: "SAEPipe", targets: ["SAEPipe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // C libraries from Debian, each behind a small system-library target.
        .systemLibrary(
            name: "CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CFreeType", pkgConfig: "freetype2",
            providers: [.apt(["libfreetype-dev"])]),
        // Codecs for Parquet pages.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        // Runs before main in every binary that links the linear-algebra layer:
        // re-execs with OPENBLAS_CORETYPE when OpenBLAS fell back to generic kernels.
        .target(name: "COpenBLASCoreType", dependencies: ["COpenBLAS"]),

        .target(
            name: "SAEPipeCore",
            dependencies: [
                "CYAML",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(name: "SAEPipeLinalg", dependencies: ["COpenBLAS", "COpenBLASCoreType", "SAEPipeCore"]),
        .target(name: "SAEPipeEngine", dependencies: ["SAEPipeCore"]),
        // File formats other tools write: memory maps, safetensors, GGUF, tensor element types.
        .target(name: "SAEPipeFormats", dependencies: ["SAEPipeCore"]),
        // Element-wise math kernels as plain C loops the compiler vectorizes.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "SAEPipeModels", dependencies: ["CKernels", "SAEPipeCore", "SAEPipeFormats", "SAEPipeLinalg"]),
        .target(name: "SAEPipeData", dependencies: ["CSnappy", "CZlib", "CZstd", "SAEPipeCore", "SAEPipeFormats", "SAEPipeHub", "SAEPipeModels"]),
        .target(
            name: "SAEPipePlot", dependencies: ["CPNG", "CFreeType", "SAEPipeCore"],
            resources: [.copy("Resources/DejaVuSans.ttf"), .copy("Resources/DejaVuSans-LICENSE.txt")]),
        .target(name: "SAEPipeSAE", dependencies: ["SAEPipeCore", "SAEPipeFormats", "SAEPipeLinalg", "SAEPipeModels", "SAEPipeData"]),
        // TensorBoard event files (TFRecord framing, Event protobufs; the generated code is committed).
        .target(
            name: "SAEPipeEvents", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")], exclude: ["Protos"]),
        .target(
            name: "SAEPipeHub",
            dependencies: ["SAEPipeCore", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "SAEPipe",
            dependencies: [
                "SAEPipeCore", "SAEPipeData", "SAEPipeEngine", "SAEPipeFormats", "SAEPipeHub", "SAEPipeLinalg", "SAEPipeModels", "SAEPipePlot",
                "SAEPipeSAE", "SAEPipeEvents",
            ],
            // The feature browser's page, script and style, copied into every export and served by `saepipe serve`.
            resources: [.copy("Reporting/Browser/Static")]),
        // `saepipe serve`: the feature browser and its API over HTTP.
        .target(name: "SAEPipeServe", dependencies: ["SAEPipe", "SAEPipeCore", "SAEPipeEngine", .product(name: "Hummingbird", package: "hummingbird")]),
        .executableTarget(
            name: "SAEPipeCLI",
            dependencies: [
                "SAEPipe", "SAEPipeServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Test-only stages, shared by the tests and a helper process that the tests
        // kill or race against (cross-process locking, killed writes).
        .target(name: "EngineTestSupport", dependencies: ["SAEPipe"], path: "Tests/EngineTestSupport"),
        .executableTarget(name: "EngineTestHelper", dependencies: ["EngineTestSupport", "SAEPipe", "SAEPipeCore", "SAEPipeEngine"], path: "Tests/EngineTestHelper"),
        .testTarget(
            name: "SAEPipeTests",
            dependencies: [
                "CKernels", "SAEPipe", "SAEPipeCore", "SAEPipeData", "SAEPipeEngine", "SAEPipeFormats", "SAEPipeHub", "SAEPipePlot", "SAEPipeSAE", "SAEPipeLinalg", "SAEPipeModels",
                "SAEPipeEvents", "SAEPipeServe", "EngineTestSupport",
                "EngineTestHelper",
            ],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
