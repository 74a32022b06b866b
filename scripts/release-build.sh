#!/bin/sh
# `swift build -c release` that does not trust SwiftPM's incremental build across this
# package's own modules (docs/testing.md, "stale incremental builds"): when a source file
# changed since the last release build, the build directories of the package's own modules
# are removed first, so a stored property added to a type one module uses from another
# (Reactor, a GangerCore struct) cannot leave the other compiled against the old layout — a
# release `ganger` with a `Reactor` allocation 8 bytes short corrupted its heap at exit
# (swiftlang/swift-package-manager#10502, swiftlang/swift#89636). Dependencies are kept.
# Usage: scripts/release-build.sh [swift build arguments…]   (SWIFT, default swift)
set -eu
SWIFT=${SWIFT:-swift}
bin=$($SWIFT build -c release --show-bin-path)
stamp="$bin/.ganger-sources.sha256"
sum=$(find Package.swift Sources Benchmarks Tests -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' \) \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ -d "$bin" ] && [ "$(cat "$stamp" 2>/dev/null || true)" != "$sum" ]; then
    for module in CGangerShims EventLoop GangerCore RelayProxy GangerSimulation ganger ganger_bench ganger_sim; do
        rm -rf "$bin/$module.build"
    done
    # The build plan still names the removed directories' output file maps: a newer manifest
    # makes SwiftPM plan again.
    touch Package.swift
    echo "release-build.sh: sources changed since the last release build: this package's modules are rebuilt whole"
fi
$SWIFT build -c release "$@"
echo "$sum" > "$stamp"
