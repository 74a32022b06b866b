import FoundationEssentials
import Glibc

/// What `ganger-bench ganger` measured: written as JSON (bench/results/ganger-<stamp>.json) and
/// printed as a table.
struct GangerReport: Codable {
    var date: String
    var kernel: String
    var cores: Int
    var instance: String
    var settings: BenchSettings
    var cold: ColdSettings
    var dockerd = "?"
    var versions: [String: String] = [:]
    /// Ganger's readiness settings and retry schedule in this run.
    var readiness = ""
    /// (e) cold time-to-first-byte.
    var coldStart: ColdStart.Result?
    /// (f) single connection into a container, per peer.
    var streams: [String: ContainerStreams.PeerResult] = [:]
    /// (g) warm time-to-first-byte, (h) sustained session rate.
    var lifecycle: LifecycleBench.Result?
    /// (i) cold TTFB and (j) session rate with network holders.
    var holders: HolderBench.Result?
    /// (k) bursts with and without the launch window.
    var burst: BurstBench.Result?
    /// "holders" for `ganger-bench holders` (only (i)-(j)), "burst" for `ganger-bench burst`
    /// (only (k)), "streams" for `ganger-bench streams` (only (f)); nil for the whole suite.
    var only: String?
    var skipped: [String] = []
    var notes: [String] = []
    var gangerExit = ""
    /// Containers with this run's instance prefix still present after the sweep (must be 0).
    var containersLeft = 0
    var durationSeconds: Double = 0

    init(date: String, kernel: String, cores: Int, instance: String, settings: BenchSettings, cold: ColdSettings) {
        self.date = date
        self.kernel = kernel
        self.cores = cores
        self.instance = instance
        self.settings = settings
        self.cold = cold
    }

    var table: String {
        var lines: [String] = []
        lines.append("Ganger bench — \(date), kernel \(kernel), \(cores) cores, dockerd \(dockerd), \(settings.rounds) round(s)"
            + (settings.quick ? " (BENCH_QUICK)" : ""))
        for (name, version) in versions.sorted(by: { $0.key < $1.key }) { lines.append("  \(name): \(version)") }
        for skip in skipped { lines.append("  SKIP \(skip)") }
        lines.append("  \(readiness)")
        lines.append("")
        if only == nil || only == "streams" {
            if let c = coldStart {
                lines.append("(e) cold time-to-first-byte, ms: \(cold.sessions) sessions per peer per round, alternated; each container fresh")
                lines.append("  " + pad("peer", 10) + pad("n", 5) + pad("min", 8) + pad("p50", 8) + pad("p90", 8) + pad("max", 8) + "mean")
                for (name, dist) in [("ganger", c.ganger), ("raw", c.raw)] {
                    guard let d = dist else { continue }
                    lines.append("  " + pad(name, 10) + pad("\(d.n)", 5) + pad(ms(d.min), 8) + pad(ms(d.p50), 8) + pad(ms(d.p90), 8)
                        + pad(ms(d.max), 8) + ms(d.mean))
                }
                let target = c.ratioP50.map { $0 <= 1.1 ? "met" : "MISSED" } ?? "-"
                lines.append("  ganger/raw: p50 \(c.ratioP50.map { format($0) } ?? "-") (target ≤ 1.10: \(target)), p90 \(c.ratioP90.map { format($0) } ?? "-")"
                    + (c.roundRatiosP50.map { "; per-round p50 ratio min/median/max \(format($0.min))/\(format($0.median))/\(format($0.max))" } ?? ""))
                if let logged = c.gangerLogged {
                    lines.append("  ganger's own log (accept → first byte to client): p50 \(ms(logged.p50)) p90 \(ms(logged.p90)) (n \(logged.n))")
                }
                lines.append("  phases, ms (p50 / p90); events are dockerd's own timestamps:")
                let order = ["client → create event", "create → start event", "start event → first byte", "create call", "start call",
                             "inspect call", "connect until accepted", "refused connects", "echo (1 byte)", "remove (off path)",
                             "close → container gone"]
                lines.append("    " + pad("phase", 28) + pad("ganger", 18) + "raw")
                for phase in order {
                    let g = c.phases["ganger"]?[phase]
                    let r = c.phases["raw"]?[phase]
                    guard g != nil || r != nil else { continue }
                    func cell(_ d: Dist?) -> String { d.map { "\(ms($0.p50)) / \(ms($0.p90))" } ?? "-" }
                    lines.append("    " + pad(phase, 28) + pad(cell(g), 18) + cell(r))
                }
                for failure in c.failures.prefix(10) { lines.append("  FAILED \(failure)") }
            } else {
                lines.append("(e) cold time-to-first-byte: not measured")
            }
            lines.append("")
            if !streams.isEmpty {
                lines.append("(f) one connection into a container, \(cold.sourceMiB) MiB from ganger-bench-source: Gbit/s min/median/max")
                lines.append("  " + pad("peer", 21) + pad("streaming (first byte → EOF)", 30) + pad("×direct", 9) + pad("×haproxy", 10)
                    + pad("whole session", 22) + pad("×haproxy", 10) + pad("1st byte ms", 13) + pad("CPU s/GiB", 11) + "CPU ×haproxy")
                for peer in ContainerStreams.StreamPeer.allCases {
                    guard let f = streams[peer.rawValue] else { continue }
                    func mmm(_ x: Figure) -> String { "\(format(x.min))/\(format(x.median))/\(format(x.max))" }
                    var line = pad(peer.rawValue, 21) + pad(mmm(f.streaming), 30)
                    line += pad(f.streamingRatioToDirect.map { format($0) } ?? "-", 9) + pad(f.streamingRatioToHAProxy.map { format($0) } ?? "-", 10)
                    line += pad(mmm(f.session), 22) + pad(f.sessionRatioToHAProxy.map { format($0) } ?? "-", 10)
                    line += pad(format(f.firstByteMs.median, digits: 1), 13)
                    line += pad(f.cpuSecondsPerGiB.map { format($0.median, digits: 3) } ?? "-", 11)
                    line += f.cpuRatioToHAProxy.map { format($0) } ?? "-"
                    if f.failures > 0 { line += "  (\(f.failures) failed)" }
                    lines.append("  " + line)
                }
                if let g = streams["ganger"]?.streamingRatioToHAProxy {
                    lines.append("  ganger streaming ×haproxy \(format(g)) (target ≥ 1.20: \(g >= 1.2 ? "met" : "MISSED"))")
                }
            } else {
                lines.append("(f) one connection into a container: not measured")
            }
            lines.append("")
            if let l = lifecycle {
                lines.append("(g) warm time-to-first-byte, pool.warm 4, \(l.warmSessions) sessions (\(l.warmMode)), ms")
                if let d = l.warmTTFB {
                    lines.append("  connect → echoed byte: min \(format(d.min, digits: 3))  p50 \(format(d.p50, digits: 3))  p90 \(format(d.p90, digits: 3))  "
                        + "p99 \(l.warmP99Ms.map { format($0, digits: 3) } ?? "-")  max \(format(d.max, digits: 3))  "
                        + "(targets p50 < 2: \(l.warmP50TargetMet == true ? "met" : "MISSED"), p99 < 10: \(l.warmP99TargetMet == true ? "met" : "MISSED"))")
                }
                if let g = l.warmTTFBGanger {
                    lines.append("  ganger's ttfbWarm (accept → first byte to client): n \(g.count), p50 \(g.p50.map { format($0, digits: 3) } ?? "-"), "
                        + "p90 \(g.p90.map { format($0, digits: 3) } ?? "-"), p99 \(g.p99.map { format($0, digits: 3) } ?? "-")")
                }
                lines.append("(h) sustained session rate, \(l.rateSessions) sessions, \(l.concurrency) at a time, each a fresh container: sessions/s min/median/max")
                func mmm(_ x: Figure?) -> String { x.map { "\(format($0.min, digits: 1))/\(format($0.median, digits: 1))/\(format($0.max, digits: 1))" } ?? "-" }
                lines.append("  ganger (to the last echo)            \(mmm(l.gangerRate))")
                lines.append("  ganger (until every container gone)  \(mmm(l.gangerRateRemoved))")
                lines.append("  raw Engine API (create…remove)       \(mmm(l.rawRate))")
                lines.append("  ganger/raw (medians): \(l.ratio.map { format($0) } ?? "-")")
                for failure in l.failures.prefix(10) { lines.append("  FAILED \(failure)") }
                lines.append("")
            }
        }
        if only == nil || only == "holders" {
            lines += holderLines
            lines.append("")
        }
        if only == nil || only == "burst" {
            lines += burstLines
            lines.append("")
        }
        lines.append("containers left with instance prefix \(instance): \(containersLeft)")
        if !gangerExit.isEmpty { lines.append("ganger's last log lines: \(gangerExit)") }
        for note in notes { lines.append("note: \(note)") }
        lines.append("duration \(format(durationSeconds, digits: 1)) s")
        return lines.joined(separator: "\n")
    }

    func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// Writes the JSON to bench/results/ganger-<timestamp>.json; returns the path.
    func write(stamp: String) throws -> String {
        mkdir("bench", 0o755)
        mkdir("bench/results", 0o755)
        let path = "bench/results/ganger-\(stamp).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try writeFile(path, String(decoding: data, as: UTF8.self) + "\n")
        return path
    }
}
