// ganger-sim: runs the deterministic simulation of Ganger's lifecycle (docs/testing.md).
//   SIM_SEEDS=N   N scenarios, seeds derived from SIM_BASE (default Simulation.defaultBase)
//   SIM_SEED=S    replays scenario S exactly; SIM_TRACE=1 prints its whole trace
//   SIM_JOBS=J    threads over disjoint seed ranges (default 2); the output does not depend on it
//   SIM_FIND=TEXT  lists seeds where a session ended with a reason containing TEXT
//   SIM_STATS=1   counts the end reasons by kind
//   SIM_BACKTRACE=1  no seed-reporting crash handler: Swift's backtracer shows where a trap happened
//   SIM_BURSTS=B  also B burst scenarios (default SIM_SEEDS / 500); SIM_BURST=S replays burst S
//                 (SIM_WINDOWS=0: with the launch window off, SIM_CLIENTS=N: N clients, SIM_DAEMONS=D: D daemons)
import Dispatch
import Glibc
import GangerSimulation

/// The seed each thread runs now, for the crash handler: a trap (a precondition in the code
/// under test) must still say which seed to replay.
nonisolated(unsafe) let runningSeeds = UnsafeMutablePointer<UInt64>.allocate(capacity: 8)

func writeSeedAndDie(_ signal: CInt) {
    var buffer = [UInt8](repeating: 0, count: 256)
    var length = 0
    func put(_ text: StaticString) { text.withUTF8Buffer { for byte in $0 { buffer[length] = byte; length += 1 } } }
    func put(_ value: UInt64) {
        var digits: [UInt8] = []
        var rest = value
        repeat { digits.append(UInt8(48 + rest % 10)); rest /= 10 } while rest > 0
        for digit in digits.reversed() { buffer[length] = digit; length += 1 }
    }
    put("ganger-sim: crashed while running seed(s):")
    for job in 0..<8 where runningSeeds[job] != 0 {
        put(" ")
        put(runningSeeds[job])
    }
    put(" (replay with SIM_SEED=...)\n")
    _ = buffer.withUnsafeBytes { write(2, $0.baseAddress, length) }
    Glibc.signal(signal, SIG_DFL)
    raise(signal)
}

func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

for job in 0..<8 { runningSeeds[job] = 0 }
if environment("SIM_BACKTRACE") != "1" { for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGABRT] { signal(sig) { writeSeedAndDie($0) } } }

if let text = environment("SIM_SEED") {
    guard let seed = UInt64(text) else { fatalError("SIM_SEED must be an unsigned integer, got \(text)") }
    runningSeeds[0] = seed
    let outcome = Simulation.run(seed: seed, traceLive: environment("SIM_TRACE") == "1")
    if let violation = outcome.violation {
        print("VIOLATION \(violation)")
        for line in violation.trace { print("  \(line)") }
    }
    print("seed \(seed): \(outcome.clients) clients, \(outcome.steps) steps")
    print("1 scenarios, \(outcome.violation == nil ? 0 : 1) invariant violations")
    exit(outcome.violation == nil ? 0 : 1)
}

if let text = environment("SIM_BURST") {
    guard let seed = UInt64(text) else { fatalError("SIM_BURST must be an unsigned integer, got \(text)") }
    runningSeeds[0] = seed
    let windowed = environment("SIM_WINDOWS") != "0"
    let outcome = Simulation.runBurst(seed: seed, windowed: windowed, clients: environment("SIM_CLIENTS").flatMap { Int($0) },
                                      daemons: environment("SIM_DAEMONS").flatMap { Int($0) },
                                      traceLive: environment("SIM_TRACE") == "1")
    if let violation = outcome.violation {
        print("VIOLATION \(violation)")
        for line in violation.trace { print("  \(line)") }
    }
    let rates = outcome.startRates.map { $0.map { "\(Double(Int($0 * 10)) / 10)/s" } ?? "-" }
    print("burst \(seed) (window \(windowed ? "on" : "off")): \(Simulation.summary(outcome)), starts per daemon \(outcome.starts) at \(rates), \(outcome.steps) steps")
    exit(outcome.violation == nil ? 0 : 1)
}

let count = Int(environment("SIM_SEEDS") ?? "10000") ?? 10000
let bursts = Int(environment("SIM_BURSTS") ?? "") ?? count / 500
let base = environment("SIM_BASE").flatMap { UInt64($0) } ?? Simulation.defaultBase
if let wanted = environment("SIM_FIND") {
    // The first seeds whose sessions ended with a reason containing `wanted` (to replay a path).
    var shown = 0
    for index in 0..<count where shown < 5 {
        let seed = Simulation.seed(index, base: base)
        if Simulation.run(seed: seed).reasons.contains(where: { $0.contains(wanted) }) {
            print("SIM_SEED=\(seed)")
            shown += 1
        }
    }
}
if environment("SIM_STATS") == "1" {
    for (reason, times) in Simulation.reasonCounts(0..<count, base: base) { print("\(times)\t\(reason)") }
}
let jobs = max(1, min(Int(environment("SIM_JOBS") ?? "2") ?? 2, 8))

final class Results: @unchecked Sendable {
    var byJob: [[SimViolation]]
    init(_ jobs: Int) { byJob = Array(repeating: [], count: jobs) }
}
let results = Results(jobs)
var started = timespec()
clock_gettime(CLOCK_MONOTONIC, &started)
DispatchQueue.concurrentPerform(iterations: jobs) { job in
    let range = (count * job / jobs)..<(count * (job + 1) / jobs)
    results.byJob[job] = Simulation.run(range, base: base) { runningSeeds[job] = $0 }
    let burstRange = (bursts * job / jobs)..<(bursts * (job + 1) / jobs)
    results.byJob[job] += Simulation.runBursts(burstRange, base: base) { runningSeeds[job] = $0 }
    runningSeeds[job] = 0
}
var ended = timespec()
clock_gettime(CLOCK_MONOTONIC, &ended)
let seconds = Double(ended.tv_sec - started.tv_sec) + Double(ended.tv_nsec - started.tv_nsec) / 1e9
let violations = results.byJob.flatMap { $0 }
for violation in violations {
    let replay = violation.burst ? "SIM_BURST" : "SIM_SEED"
    print("VIOLATION \(violation)  (replay: \(replay)=\(violation.seed) make simulate)")
    for line in violation.trace { print("  \(line)") }
}
let total = count + bursts
let rate = seconds > 0 ? Int(Double(total) / seconds) : 0
print("ganger-sim: \(total) scenarios (\(bursts) of them bursts) in \(Int(seconds * 1000)) ms (\(rate)/s, \(jobs) threads)")
print("\(total) scenarios, \(violations.count) invariant violations")
exit(violations.isEmpty ? 0 : 1)
