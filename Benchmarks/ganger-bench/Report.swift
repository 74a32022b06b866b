import FoundationEssentials
import Glibc

/// One peer's figures in one measurement, with ratios computed within this run.
struct PeerFigures: Codable {
    var gbps: Figure
    var cpuSecondsPerGiB: Figure?
    /// Median Gbit/s over direct's median.
    var ratioToDirect: Double?
    /// Median Gbit/s over HAProxy's median.
    var ratioToHAProxy: Double?
    /// Median CPU s/GiB over HAProxy's (below 1: cheaper per byte than HAProxy).
    var cpuRatioToHAProxy: Double?
    /// Connections that failed, summed over rounds (many-connection runs only).
    var failedConnections: Int?
    /// The whole machine's busy CPU seconds per GiB (every process, softirq, kernel threads):
    /// on loopback the only CPU figure that does not depend on who ran the TCP receive work.
    var machineCPUSecondsPerGiB: Figure?
    /// Median machine CPU s/GiB minus direct's: what putting this proxy in the path costs.
    var machineCPUOverDirect: Double?
    /// That cost over HAProxy's (below 1: the proxy adds less CPU per byte than HAProxy).
    var machineCPUOverDirectRatioToHAProxy: Double?
}

/// Everything one run measured: written as JSON and printed as a table.
struct Report: Codable {
    var date: String
    var kernel: String
    var cores: Int
    var fileLimit: Int
    var versions: [String: String]
    var settings: BenchSettings
    var skipped: [String]
    /// (a) single connection, iperf3 through each peer.
    var singleStream: [String: PeerFigures]
    /// Which socat variant "socat-best" is.
    var singleStreamSocatBest: String?
    /// (a) system calls per GiB of the relay and HAProxy, from one extra counted run each.
    var singleStreamSyscalls: [String: SyscallFigures]?
    /// (b) many concurrent connections to a discarding sink.
    var manyConnections: [String: PeerFigures]
    var manyConnectionsSocatBest: String?
    /// (b) system calls per GiB, as for (a).
    var manyConnectionsSyscalls: [String: SyscallFigures]?
    /// Bytes the sink counted over every (b) run against bytes the driver finished sending.
    var sinkBytes: UInt64?
    var driverBytes: UInt64?
    /// (c) relay memory with idle relayed connections.
    var idle: IdleConnections.Result?
    /// (d) relay descriptors back at their baseline.
    var descriptors: [DescriptorCheck]
    var notes: [String]
    var durationSeconds: Double

    /// Builds a measurement's figures, adds "socat-best" (BENCH.md: report the faster socat)
    /// and the ratios.
    static func figures(_ samples: [Peer: [(gbps: Double, cpu: Double?, failed: Int, machine: Double?)]]) -> ([String: PeerFigures], String?) {
        var result: [String: PeerFigures] = [:]
        for (peer, list) in samples {
            guard let gbps = Figure(list.map(\.gbps)) else { continue }
            result[peer.rawValue] = PeerFigures(
                gbps: gbps, cpuSecondsPerGiB: Figure(list.compactMap(\.cpu)),
                failedConnections: list.map(\.failed).reduce(0, +),
                machineCPUSecondsPerGiB: Figure(list.compactMap(\.machine)))
        }
        var best: String?
        let socats = [Peer.socat, .socatBig].compactMap { peer in result[peer.rawValue].map { (peer.rawValue, $0) } }
        if let winner = socats.max(by: { $0.1.gbps.median < $1.1.gbps.median }) {
            best = winner.0
            result["socat-best"] = winner.1
        }
        let direct = result[Peer.direct.rawValue]
        let haproxy = result[Peer.haproxy.rawValue]
        // What a proxy adds to the machine's CPU per GiB: its median over direct's.
        func cost(_ figures: PeerFigures?) -> Double? {
            guard let own = figures?.machineCPUSecondsPerGiB, let base = direct?.machineCPUSecondsPerGiB else { return nil }
            return own.median - base.median
        }
        let haproxyCost = cost(haproxy)
        for key in Array(result.keys) {
            result[key]!.ratioToDirect = result[key]!.gbps.ratio(to: direct?.gbps)
            result[key]!.ratioToHAProxy = result[key]!.gbps.ratio(to: haproxy?.gbps)
            result[key]!.cpuRatioToHAProxy = result[key]!.cpuSecondsPerGiB?.ratio(to: haproxy?.cpuSecondsPerGiB)
            guard key != Peer.direct.rawValue, let own = cost(result[key]) else { continue }
            result[key]!.machineCPUOverDirect = own
            if let haproxyCost, haproxyCost > 0 { result[key]!.machineCPUOverDirectRatioToHAProxy = own / haproxyCost }
        }
        return (result, best)
    }

    /// The table for stdout.
    var table: String {
        var lines: [String] = []
        lines.append("Ganger relay bench — \(date), kernel \(kernel), \(cores) cores, RLIMIT_NOFILE \(fileLimit), \(settings.rounds) round(s)\(settings.quick ? " (BENCH_QUICK)" : "")")
        for (name, version) in versions.sorted(by: { $0.key < $1.key }) { lines.append("  \(name): \(version)") }
        for skip in skipped { lines.append("  SKIP \(skip)") }
        lines.append("")
        lines.append("(a) single connection, iperf3 -t \(settings.streamSeconds): Gbit/s min/median/max; proxy CPU s per GiB (median)")
        lines += section(singleStream)
        lines += Self.syscallSection(singleStreamSyscalls)
        lines.append("")
        lines.append("(b) \(settings.manyConnections) concurrent connections × \(settings.bytesPerConnection >> 10) KiB to a discarding sink: aggregate Gbit/s")
        lines += section(manyConnections)
        lines += Self.syscallSection(manyConnectionsSyscalls)
        if let sinkBytes, let driverBytes {
            lines.append("  sink counted \(sinkBytes) bytes, driver sent \(driverBytes): \(sinkBytes == driverBytes ? "match" : "MISMATCH")")
        }
        lines.append("")
        if let idle {
            lines.append("(c) ganger-relay with \(idle.connections) idle relayed connections: VmRSS \(idle.rssBeforeKiB) KiB → \(idle.rssHeldKiB) KiB"
                + " (\(format(idle.bytesPerConnection / 1024, digits: 2)) KiB per connection; at 10,000 ≈ \(format(Double(idle.rssAt10kKiB) / 1024, digits: 1)) MiB;"
                + " target < 64 MiB: \(idle.rssAt10kKiB < 64 << 10 ? "met" : "MISSED"))"
                + (idle.allRelayed ? "" : " NOT ALL RELAYED") + (idle.allClosed ? "" : " NOT ALL CLOSED"))
        } else {
            lines.append("(c) idle connections: not measured")
        }
        lines.append("")
        lines.append("(d) descriptors after the runs:")
        for check in descriptors {
            lines.append("  \(check.name): \(check.ok ? "ok" : "LEAK?") baseline \(check.baseline); now \(check.after);"
                + " pooled idle pipes \(check.idlePipes.map { "\($0)" } ?? "?"), active relays \(check.active.map { "\($0)" } ?? "?")"
                + (check.closeReasons.map { "; ends: \($0)" } ?? ""))
        }
        for note in notes { lines.append("note: \(note)") }
        lines.append("duration \(format(durationSeconds, digits: 1)) s")
        return lines.joined(separator: "\n")
    }

    private func section(_ figures: [String: PeerFigures]) -> [String] {
        let order = Peer.allCases.map(\.rawValue) + ["socat-best"]
        var lines = [pad("peer", 21) + pad("min", 8) + pad("median", 8) + pad("max", 8) + pad("×direct", 9)
            + pad("×haproxy", 10) + pad("CPU s/GiB", 11) + "CPU ×haproxy"]
        for key in order {
            guard let f = figures[key] else { continue }
            var line = pad(key, 21) + pad(format(f.gbps.min), 8) + pad(format(f.gbps.median), 8) + pad(format(f.gbps.max), 8)
            line += pad(f.ratioToDirect.map { format($0) } ?? "-", 9) + pad(f.ratioToHAProxy.map { format($0) } ?? "-", 10)
            line += pad(f.cpuSecondsPerGiB.map { format($0.median, digits: 3) } ?? "-", 11)
            line += f.cpuRatioToHAProxy.map { format($0) } ?? "-"
            if let failed = f.failedConnections, failed > 0 { line += "  (\(failed) connections failed)" }
            lines.append("  " + line)
        }
        guard figures.values.contains(where: { $0.machineCPUSecondsPerGiB != nil }) else { return lines }
        // On loopback the per-process column moves TCP work between a proxy and its peers with
        // timing (ProcFS.machineBusySeconds); the whole machine's figure does not.
        lines.append("  whole machine CPU s/GiB (all processes, softirq, kernel threads; /proc/stat): median, min–max;"
            + " the proxy's cost = over direct's median; ×haproxy of that cost")
        for key in order where key != "socat-best" {
            guard let f = figures[key], let machine = f.machineCPUSecondsPerGiB else { continue }
            var line = pad(key, 21) + pad(format(machine.median, digits: 3), 8)
            line += pad(format(machine.min, digits: 3) + "–" + format(machine.max, digits: 3), 14)
            line += pad(f.machineCPUOverDirect.map { ($0 >= 0 ? "+" : "") + format($0, digits: 3) } ?? "-", 9)
            line += f.machineCPUOverDirectRatioToHAProxy.map { format($0) } ?? "-"
            lines.append("  " + line)
        }
        return lines
    }

    /// System calls per GiB by kind, one line per counted peer, and their ratio to HAProxy's.
    static func syscallSection(_ figures: [String: SyscallFigures]?) -> [String] {
        guard let figures, let method = figures.values.first?.method else { return [] }
        var lines = ["  syscalls per GiB (one extra run per peer under \(method), not a timed round):"]
        lines.append("  " + padded("peer", 21) + padded("splice", 9) + padded("read/write", 12) + padded("epoll_wait", 12)
            + padded("epoll_ctl", 11) + padded("other", 8) + padded("total", 9) + padded("×haproxy", 10) + "KiB/call")
        let haproxy = figures[Peer.haproxy.rawValue]
        for peer in Peer.allCases {
            guard let f = figures[peer.rawValue] else { continue }
            var line = padded(peer.rawValue, 21) + padded(format(f.splicePerGiB, digits: 0), 9)
            line += padded(f.readWritePerGiB.map { format($0, digits: 0) } ?? "-", 12)
            line += padded(format(f.epollWaitPerGiB, digits: 0), 12) + padded(format(f.epollCtlPerGiB, digits: 0), 11)
            line += padded(format(f.otherPerGiB, digits: 0), 8) + padded(format(f.totalPerGiB, digits: 0), 9)
            line += padded(haproxy.map { format(f.totalPerGiB / $0.totalPerGiB) } ?? "-", 10)
            line += (f.bytesPerTransfer ?? f.bytesPerSplice).map { format($0 / 1024, digits: 0) } ?? "-"
            lines.append("    " + line)
        }
        return lines
    }

    private func pad(_ text: String, _ width: Int) -> String { padded(text, width) }

    /// Writes the JSON to bench/results/relay-<timestamp>.json; returns the path.
    func write(stamp: String) throws -> String {
        mkdir("bench", 0o755)
        mkdir("bench/results", 0o755)
        let path = "bench/results/relay-\(stamp).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try writeFile(path, String(decoding: data, as: UTF8.self) + "\n")
        return path
    }
}

/// UTC now as (`20250101T120000Z`, `2025-01-01 12:00:00 UTC`).
func utcStamp() -> (file: String, human: String) {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 64)
    func render(_ pattern: String) -> String {
        let n = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return (render("%Y%m%dT%H%M%SZ"), render("%Y-%m-%d %H:%M:%S UTC"))
}

/// `uname -r`.
func kernelRelease() -> String {
    var names = utsname()
    uname(&names)
    return withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// `text` followed by spaces up to `width` (at least one).
func padded(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
