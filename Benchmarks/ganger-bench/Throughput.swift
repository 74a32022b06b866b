import FoundationEssentials
import Glibc

/// (a) One TCP stream, iperf3 client → iperf3 server, straight or through each proxy: Gbit/s,
/// and the proxy's CPU seconds per GiB moved.
struct Throughput {
    struct Sample {
        var gbps: Double
        var cpuPerGiB: Double?
        /// The whole machine's busy CPU seconds per GiB (`ProcFS.machineBusySeconds`).
        var machineCPUPerGiB: Double?
    }

    let settings: BenchSettings
    let tools: Tools
    let directory: String

    /// Runs every round, each peer once per round, the order rotated each round so no peer
    /// always goes first (or last, after the machine warmed up).
    func run(peers: [Peer], proxies: [Peer: ChildProcess], ports: [Peer: UInt16], serverPort: UInt16,
             log: (String) -> Void) -> [Peer: [Sample]] {
        var results: [Peer: [Sample]] = [:]
        var runIndex = 0
        for round in 0..<settings.rounds {
            for peer in rotated(peers, by: round) {
                runIndex += 1
                let port = peer == .direct ? serverPort : ports[peer]!
                let pid = proxies[peer]?.programPID
                let meter = CPUMeter(pid: pid)
                do {
                    let (bits, bytes) = try iperf(port: port, name: "iperf-\(runIndex)-\(peer.rawValue)")
                    if let pid { settle(pid) }
                    let cpu = meter.perGiB(bytes: Double(bytes))
                    let sample = Sample(gbps: bits / 1e9, cpuPerGiB: cpu.process, machineCPUPerGiB: cpu.machine)
                    results[peer, default: []].append(sample)
                    log("  round \(round + 1) \(peer.rawValue): \(format(sample.gbps)) Gbit/s"
                        + (sample.cpuPerGiB.map { ", \(format($0, digits: 3)) CPU s/GiB" } ?? "")
                        + (sample.machineCPUPerGiB.map { ", machine \(format($0, digits: 3)) CPU s/GiB" } ?? ""))
                } catch {
                    log("  round \(round + 1) \(peer.rawValue): FAILED: \(error)")
                }
            }
        }
        return results
    }

    /// One more iperf3 run per peer with a syscall counter attached (not a timed round).
    func countSyscalls(peers: [Peer], proxies: [Peer: ChildProcess], ports: [Peer: UInt16],
                       counter: SyscallCounter, log: (String) -> Void) -> [String: SyscallFigures] {
        var results: [String: SyscallFigures] = [:]
        for peer in peers where Peer.syscallCounted.contains(peer) {
            guard let pid = proxies[peer]?.programPID, let port = ports[peer] else { continue }
            let figures = counter.count(pid: pid, label: "stream-\(peer.rawValue)") {
                (try? iperf(port: port, name: "iperf-syscalls-\(peer.rawValue)"))?.1 ?? 0
            }
            results[peer.rawValue] = figures
            log("  syscalls \(peer.rawValue): " + (figures.map(\.summary) ?? "not counted"))
        }
        return results
    }

    /// One bounded iperf3 run; returns bits/s and bytes as the receiver counted them.
    private func iperf(port: UInt16, name: String) throws(BenchError) -> (Double, UInt64) {
        let argv = [tools.paths["iperf3"]!, "-c", "127.0.0.1", "-p", "\(port)", "-t", "\(settings.streamSeconds)", "-J",
                    "--connect-timeout", "5000"]
        let child = try ChildProcess(name: name, argv: argv, limit: settings.streamSeconds + 20, directory: directory)
        let status = child.wait(limit: Double(settings.streamSeconds + 30))
        if status == nil { child.terminate() }
        let report: IperfReport
        do {
            report = try JSONDecoder().decode(IperfReport.self, from: Data(child.output.utf8))
        } catch {
            throw BenchError("iperf3 exit \(status.map { "\($0)" } ?? "timeout"): no JSON (\(child.errors.suffix(200)))")
        }
        if let error = report.error { throw BenchError("iperf3: \(error)") }
        guard let sum = report.end?.sum_received else { throw BenchError("iperf3: no end.sum_received") }
        return (sum.bits_per_second, sum.bytes)
    }

    /// Waits (bounded) until a forking proxy has reaped its per-connection children, so their
    /// CPU time has landed in its cutime/cstime.
    private func settle(_ pid: pid_t) {
        _ = waitUntil(3) { ProcFS.children(pid).isEmpty }
    }
}

/// The part of `iperf3 -J` the bench reads.
struct IperfReport: Decodable {
    struct Sum: Decodable {
        var bytes: UInt64
        var bits_per_second: Double
    }
    struct End: Decodable {
        var sum_received: Sum?
    }
    var end: End?
    var error: String?
}

/// `items` rotated left by `by` places.
func rotated<T>(_ items: [T], by offset: Int) -> [T] {
    guard !items.isEmpty else { return items }
    let k = offset % items.count
    return Array(items[k...] + items[..<k])
}

/// A number with `digits` decimals, without Foundation's formatters.
func format(_ value: Double, digits: Int = 2) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (abs(value) * scale).rounded()
    let whole = Int(rounded / scale)
    var fraction = String(Int(rounded.truncatingRemainder(dividingBy: scale)))
    while fraction.count < digits { fraction = "0" + fraction }
    return (value < 0 ? "-" : "") + (digits > 0 ? "\(whole).\(fraction)" : "\(whole)")
}
