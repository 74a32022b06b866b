// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Ganger",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ganger", targets: ["ganger"]),
        .library(name: "EventLoop", targets: ["EventLoop"]),
        .library(name: "GangerCore", targets: ["GangerCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // Thin C forwarders for the Linux calls Swift's Glibc module does not export
        // (epoll, splice, accept4, pipe2, signalfd, eventfd, F_SETPIPE_SZ). No logic lives here.
        // libssl/libcrypto (Debian's libssl-dev to build, libssl3 to run): TLS to tcp:// daemons.
        .target(name: "CGangerShims", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // libyaml (Debian's libyaml-dev to build, libyaml-0-2 to run) parses the configuration;
        // GangerCore composes its events. Not Yams: its full Foundation import costs 34 MB of ICU
        // data in the static binary (docs/container.md).
        .systemLibrary(name: "CYAML", providers: [.apt(["libyaml-dev"])]),
        .target(
            name: "EventLoop",
            dependencies: ["CGangerShims"],
            swiftSettings: strict
        ),
        .target(
            name: "GangerCore",
            dependencies: [
                "EventLoop",
                .product(name: "Logging", package: "swift-log"),
                "CYAML",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ganger",
            dependencies: [
                "GangerCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // A plain TCP proxy made of EventLoop's relay parts: the measuring stick for the relay
        // (the bench, eventloop-probe, EventLoopTests). Not shipped.
        .target(name: "RelayProxy", dependencies: ["EventLoop"], path: "Benchmarks/RelayProxy", swiftSettings: strict),
        // `make bench`: drives the relay and its peers (haproxy, socat) on loopback.
        .executableTarget(
            name: "ganger-bench",
            dependencies: ["EventLoop", "GangerCore", "RelayProxy"],
            path: "Benchmarks/ganger-bench",
            swiftSettings: strict
        ),
        // Test-only: the deterministic simulation of the lifecycle (docs/testing.md, `make simulate`):
        // a simulated engine, clients and driver around the real Scheduler, LaunchMachine and Lifecycle.
        .target(name: "GangerSimulation", dependencies: ["GangerCore", "EventLoop"], path: "Tests/GangerSimulation",
                swiftSettings: strict),
        .executableTarget(name: "ganger-sim", dependencies: ["GangerSimulation"], path: "Tests/ganger-sim", swiftSettings: strict),
        .testTarget(name: "GangerSimulationTests", dependencies: ["GangerSimulation", "GangerCore", "EventLoop"],
                    path: "Tests/GangerSimulationTests", swiftSettings: strict),
        // Test-only: SHA-256 from libcrypto (Debian's libssl-dev) to check bulk transfers.
        .systemLibrary(name: "CTestCrypto", path: "Tests/CTestCrypto", providers: [.apt(["libssl-dev"])]),
        // Test-only: runs EventLoop scenarios in a process of their own, where counting
        // /proc/self/fd or lowering RLIMIT_NOFILE cannot be disturbed by tests running in parallel.
        .executableTarget(name: "eventloop-probe", dependencies: ["EventLoop", "RelayProxy"], path: "Tests/EventLoopProbe",
                          swiftSettings: strict),
        // Test-only: helpers every test target uses (threads for blocking work, polling, random bytes).
        .target(name: "TestSupport", dependencies: ["EventLoop"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "EventLoopTests", dependencies: ["EventLoop", "RelayProxy", "CTestCrypto", "eventloop-probe", "TestSupport"],
                    swiftSettings: strict),
        // ganger: the status tests run `ganger status` against a live StatusServer.
        .testTarget(name: "GangerCoreTests", dependencies: ["GangerCore", "EventLoop", "ganger", "TestSupport",
                                                         .product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        // Against the real dockerd (`make docker-up`, `make images`); depending on the `ganger`
        // executable makes SwiftPM build it next to the test bundle, where the tests run it.
        .testTarget(name: "IntegrationTests", dependencies: ["GangerCore", "EventLoop", "ganger", "TestSupport", "CTestCrypto"],
                    path: "Tests/IntegrationTests", swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
