import EventLoop
import Glibc

/// (b) Many concurrent connections, each sending `bytesPerConnection` to a discarding sink and
/// waiting for the EOF the sink's close sends back: aggregate Gbit/s from the first connect to
/// the last EOF, and the proxy's CPU seconds per GiB.
struct ManyConnections {
    struct Sample {
        var gbps: Double
        var cpuPerGiB: Double?
        var failed: Int
        /// The whole machine's busy CPU seconds per GiB (`ProcFS.machineBusySeconds`).
        var machineCPUPerGiB: Double?
    }

    let settings: BenchSettings
    let loop: ReactorThread

    func run(peers: [Peer], proxies: [Peer: ChildProcess], ports: [Peer: UInt16], sinkPort: UInt16,
             log: (String) -> Void) -> (samples: [Peer: [Sample]], bytesSent: UInt64) {
        var results: [Peer: [Sample]] = [:]
        var bytesSent: UInt64 = 0
        for round in 0..<settings.rounds {
            for peer in rotated(peers, by: round) {
                let port = peer == .direct ? sinkPort : ports[peer]!
                let pid = proxies[peer]?.programPID
                let meter = CPUMeter(pid: pid)
                let progress = drive(port: port)
                bytesSent += UInt64(progress.finished) * UInt64(settings.bytesPerConnection)
                if let pid { _ = waitUntil(5) { ProcFS.children(pid).isEmpty } }
                guard let end = progress.endedAt, !progress.timedOut else {
                    log("  round \(round + 1) \(peer.rawValue): TIMED OUT (\(progress.finished) finished, \(progress.failed) failed)")
                    continue
                }
                let total = Double(progress.finished) * Double(settings.bytesPerConnection)
                let seconds = Double(end - progress.startedAt) / 1e9
                let cpu = meter.perGiB(bytes: total)
                let sample = Sample(gbps: total * 8 / seconds / 1e9, cpuPerGiB: cpu.process, failed: progress.failed,
                                    machineCPUPerGiB: cpu.machine)
                results[peer, default: []].append(sample)
                log("  round \(round + 1) \(peer.rawValue): \(format(sample.gbps)) Gbit/s in \(format(seconds, digits: 3)) s"
                    + (sample.cpuPerGiB.map { ", \(format($0, digits: 3)) CPU s/GiB" } ?? "")
                    + (sample.machineCPUPerGiB.map { ", machine \(format($0, digits: 3)) CPU s/GiB" } ?? "")
                    + (progress.failed > 0 ? ", \(progress.failed) FAILED (\(progress.firstError ?? "?"))" : ""))
            }
        }
        return (results, bytesSent)
    }

    /// One more run per peer with a syscall counter attached (not a timed round); also returns
    /// the bytes these runs sent, for the sink's check.
    func countSyscalls(peers: [Peer], proxies: [Peer: ChildProcess], ports: [Peer: UInt16], counter: SyscallCounter,
                       log: (String) -> Void) -> (figures: [String: SyscallFigures], bytesSent: UInt64) {
        var results: [String: SyscallFigures] = [:]
        var bytesSent: UInt64 = 0
        for peer in peers where Peer.syscallCounted.contains(peer) {
            guard let pid = proxies[peer]?.programPID, let port = ports[peer] else { continue }
            let figures = counter.count(pid: pid, label: "many-\(peer.rawValue)") {
                let progress = drive(port: port)
                let sent = UInt64(progress.finished) * UInt64(settings.bytesPerConnection)
                bytesSent += sent
                return progress.timedOut ? 0 : sent
            }
            results[peer.rawValue] = figures
            log("  syscalls \(peer.rawValue): " + (figures.map(\.summary) ?? "not counted"))
        }
        return (results, bytesSent)
    }

    /// One bounded run of every connection through `port`.
    private func drive(port: UInt16) -> ConnectionDriver.Progress {
        let plan = ConnectionDriver.Plan(
            target: .v4(host: "127.0.0.1", port: port), connections: settings.manyConnections,
            bytesEach: settings.bytesPerConnection, connectWindow: settings.manyConnections, limit: .seconds(60))
        let driver = ConnectionDriver(plan: plan)
        driver.start(on: loop)
        return driver.waitFinished()
    }
}
