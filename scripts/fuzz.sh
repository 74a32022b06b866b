#!/usr/bin/env bash
# `make fuzz`: builds Fuzz/ (its own package: the main build never sees it) with libFuzzer and
# AddressSanitizer into .build-fuzz, then runs every fuzz target for FUZZ_SECONDS (default 60)
# and reports, per target, executions and crashes, ending with
#   fuzz: T targets, E executions, C crashes
# Exit status 1 when C > 0 (or a target could not run). docs/testing.md, "Fuzzing".
#
#   FUZZ_SECONDS=N      seconds per target (default 60)
#   FUZZ_TARGETS="a b"  only these targets (default: all, as `ganger-fuzz` lists them)
#
# Each target's corpus grows in .build-fuzz/corpus/<target> (kept between runs) from the seeds
# in Fuzz/seeds/<target>; crashes land in .build-fuzz/artifacts/<target>/ (emptied per run), and
# `FUZZ_TARGET=<target> .build-fuzz/release/ganger-fuzz <file>` replays one.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
seconds=${FUZZ_SECONDS:-60}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_SECONDS must be a positive number of seconds, not '$seconds'" >&2; exit 2; }
scratch=.build-fuzz
all_targets=(http-response http-request chunked lines docker consul config address proxy takeover)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

build_start=$SECONDS
# The fuzzer's own instrumentation and ASan for every Swift module of the build (EventLoop and
# GangerCore included). Release (5-10 times the executions of a debug build) with -enable-testing,
# so that the targets may `@testable import` internal parsers.
mkdir -p "$scratch"
# SwiftPM keeps the dependency's build plan from the last run and does not notice a source file
# added to Ganger since (it failed with "cannot find type 'LargeBufferPool'" after one was): a
# newer manifest makes it plan again, and the compile stays incremental.
touch Fuzz/Package.swift
if ! "$SWIFT" build --package-path Fuzz --scratch-path "$scratch" -c release --product ganger-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing >"$scratch/build.log" 2>&1; then
    grep -v "Cannot export local symbol" "$scratch/build.log" | tail -40 >&2
    echo "fuzz.sh: the fuzz build failed (full log: $scratch/build.log)" >&2
    exit 1
fi
echo "fuzz: built in $((SECONDS - build_start)) s"
binary=$scratch/release/ganger-fuzz

total_execs=0
total_crashes=0
failed=0
for target in "${targets[@]}"; do
    corpus=$scratch/corpus/$target
    artifacts=$scratch/artifacts/$target
    log=$scratch/logs/$target.log
    mkdir -p "$corpus" "$scratch/logs"
    rm -rf "$artifacts" && mkdir -p "$artifacts"
    seeds=()
    [[ -d Fuzz/seeds/$target ]] && seeds=("Fuzz/seeds/$target")
    dict=()
    [[ -f Fuzz/dict/$target.dict ]] && dict=("-dict=Fuzz/dict/$target.dict")
    # timeout(1) bounds a run libFuzzer would not end itself (a hang outside an input).
    status=0
    FUZZ_TARGET=$target ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1} \
        timeout -k 10 $((seconds + 120)) "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
    execs=${execs:-0}
    crashes=$(find "$artifacts" -type f | wc -l)
    if ((status != 0 && crashes == 0)); then
        echo "fuzz: $target: exit status $status without a crash file (log: $log)" >&2
        tail -20 "$log" >&2
        failed=1
    fi
    printf 'fuzz: %-13s %10d executions, %d crashes, corpus %d inputs\n' \
        "$target" "$execs" "$crashes" "$(find "$corpus" -type f | wc -l)"
    if ((crashes > 0)); then
        find "$artifacts" -type f | sed 's/^/fuzz:   input: /'
        grep -m1 -E 'property violated|ERROR: AddressSanitizer|ERROR: libFuzzer|Fatal error' "$log" | cut -c1-400 | sed 's/^/fuzz:   /'
        echo "fuzz:   replay: FUZZ_TARGET=$target $binary <input>   (log: $log)"
    fi
    total_execs=$((total_execs + execs))
    total_crashes=$((total_crashes + crashes))
done
echo "fuzz: ${#targets[@]} targets, $total_execs executions, $total_crashes crashes"
((total_crashes == 0 && failed == 0))
