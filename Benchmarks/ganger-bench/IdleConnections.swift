import EventLoop
import Glibc

/// (c) The relay's resident memory with many idle relayed connections, and (d) whether its
/// descriptors return to their baseline once they close.
struct IdleConnections {
    struct Result: Codable {
        var connections: Int
        var rssBeforeKiB: Int
        var rssHeldKiB: Int
        /// (held − before) / connections.
        var bytesPerConnection: Double
        /// rssBefore + 10,000 × bytesPerConnection: the figure asked for when the descriptor
        /// limit allows fewer than 10,000.
        var rssAt10kKiB: Int
        var allRelayed: Bool
        var allClosed: Bool
        var secondsToRelay: Double
    }

    let settings: BenchSettings
    let loop: ReactorThread

    func run(relay: ChildProcess, sink: ChildProcess, sinkPort: UInt16, relayPort: UInt16,
             relayBaseline: ProcFS.Descriptors, log: (String) -> Void) throws(BenchError) -> Result {
        guard let relayPID = relay.programPID, let sinkPID = sink.programPID,
              let sinkBefore = ProcFS.descriptors(sinkPID), let rssBefore = ProcFS.rssKiB(relayPID)
        else { throw BenchError("relay or sink is gone") }
        let count = settings.idleConnections
        let plan = ConnectionDriver.Plan(
            target: .v4(host: "127.0.0.1", port: relayPort), connections: count, bytesEach: 0, hold: true,
            connectWindow: 256, limit: .seconds(120))
        let driver = ConnectionDriver(plan: plan)
        let started = monotonicSeconds()
        driver.start(on: loop)
        // Relayed = the relay connected each one on to the sink, which now holds it open.
        let allRelayed = waitUntil(90, step: 20_000) {
            driver.progress.connected + driver.progress.failed >= count
                && (ProcFS.descriptors(sinkPID)?.sockets ?? 0) >= sinkBefore.sockets + count
        }
        let secondsToRelay = monotonicSeconds() - started
        // Let the allocator and the loop settle after the burst before reading memory.
        usleep(300_000)
        let rssHeld = ProcFS.rssKiB(relayPID) ?? 0
        let held = driver.progress
        log("  \(held.connected) connected, \(held.failed) failed\(held.firstError.map { " (\($0))" } ?? ""),"
            + " relay \(ProcFS.descriptors(relayPID).map { "\($0)" } ?? "?"), sink sockets \(ProcFS.descriptors(sinkPID)?.sockets ?? -1)"
            + " after \(format(secondsToRelay, digits: 2)) s; relay VmRSS \(rssBefore) → \(rssHeld) KiB")
        driver.release(on: loop)
        let allClosed = waitUntil(30, step: 20_000) {
            ProcFS.descriptors(sinkPID)?.sockets == sinkBefore.sockets
                && ProcFS.descriptors(relayPID)?.sockets == relayBaseline.sockets
        }
        let perConnection = Double(rssHeld - rssBefore) * 1024 / Double(Swift.max(count, 1))
        return Result(
            connections: count, rssBeforeKiB: rssBefore, rssHeldKiB: rssHeld, bytesPerConnection: perConnection,
            rssAt10kKiB: rssBefore + Int(perConnection * 10_000 / 1024), allRelayed: allRelayed, allClosed: allClosed,
            secondsToRelay: secondsToRelay)
    }
}

/// (d) A relay's descriptors against its baseline at start: sockets must be back exactly;
/// pipe ends may remain only as the pool's idle pipes (two ends each, up to its `maxIdle`).
struct DescriptorCheck: Codable {
    var name: String
    var baseline: String
    var after: String
    var idlePipes: Int?
    var active: Int?
    var closeReasons: String?
    var ok: Bool

    static func check(name: String, relay: ChildProcess, baseline: ProcFS.Descriptors) -> DescriptorCheck {
        guard let pid = relay.programPID else {
            return DescriptorCheck(name: name, baseline: "\(baseline)", after: "gone", ok: false)
        }
        // Closing is asynchronous on the relay's side: give it a moment to catch up.
        var after = ProcFS.descriptors(pid)
        _ = waitUntil(5) {
            after = ProcFS.descriptors(pid)
            return after?.sockets == baseline.sockets
        }
        let status = RelayServer.status(of: relay, pid: pid)
        let idle = status?["pipes_idle"].flatMap { Int($0) }
        let active = status?["active"].flatMap { Int($0) }
        let ok = after.map { $0.sockets == baseline.sockets && $0.pipes == baseline.pipes + 2 * (idle ?? 0)
            && $0.total == baseline.total + 2 * (idle ?? 0) } ?? false
        return DescriptorCheck(
            name: name, baseline: "\(baseline)", after: after.map { "\($0)" } ?? "?", idlePipes: idle, active: active,
            closeReasons: status?["reasons"], ok: ok && active == 0)
    }
}
