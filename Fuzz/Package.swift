// swift-tools-version:6.0
// The fuzzing build (docs/testing.md, "Fuzzing"): one libFuzzer binary whose target is chosen
// by $FUZZ_TARGET. A package of its own so that the main package's `swift build` and `make test`
// never see it; scripts/fuzz.sh builds it with `-sanitize=fuzzer,address` into .build-fuzz.
import PackageDescription

let package = Package(
    name: "GangerFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Ganger", path: "..")],
    targets: [
        // The declaration of libFuzzer's LLVMFuzzerRunDriver, which main.swift calls.
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "ganger-fuzz",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "EventLoop", package: "Ganger"),
                .product(name: "GangerCore", package: "Ganger"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
