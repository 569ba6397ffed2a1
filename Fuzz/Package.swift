// swift-tools-version:6.0
// Coverage-guided fuzz targets for saepipe's parsers of untrusted bytes. Built apart from
// the main package because every module must be compiled with -sanitize=fuzzer; see
// scripts/fuzz.sh, which builds and runs them.
import PackageDescription

let package = Package(
    name: "saepipe-fuzz",
    // scripts/fuzz.sh links the repository as .package-link/saepipe, so the dependency is
    // named saepipe whatever the clone's directory is called.
    dependencies: [.package(path: ".package-link/saepipe")],
    targets: [
        // Declares libFuzzer's entry point so the Swift main can hand it the target.
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "saepipe-fuzz",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "SAEPipe", package: "saepipe"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
