import GangerCore
import Glibc
import Testing
import TestSupport

/// Issue 15 item 5: ganger under `prlimit --nofile=256` with 300 clients at once. Running short
/// of descriptors is a local condition: the daemon stays up, clients are served, queued or
/// refused with a reason ("descriptor budget", "queue timeout"), and nothing is left behind.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct DescriptorLimitTests {
    @Test func nofile256_300Clients_daemonStaysUp_clientsServedOrRefusedWithAReason_nothingLeaks() async throws {
        try await onThread {
            try DockerCLI.requireEnvironment()
            try ExtraDaemons.ensureDefaultBridge()
        }
        let instance = uniqueInstance("nofile")
        var echo = ServiceYAML.echo()
        echo.extra = ["queue: {timeout: 5s}"]
        let yaml = gangerConfig(instance: instance, services: [echo], maxContainers: 4).replacing("log: {level: debug", with: "log: {level: info")
        let ganger = try await onThread {
            try GangerProcess(instance: instance, yaml: yaml, wrapper: ["/usr/bin/prlimit", "--nofile=256:256", "--"])
        }
        do {
            let address = try await onThread { try ganger.waitUntilListening(["echo"])["echo"]! }
            #expect(ganger.log.contains("descriptor limit") && ganger.log.contains("soft=256") && ganger.log.contains("hard=256"),
                    "the limits are logged")
            let payload = Array("hello through a short descriptor budget\n".utf8)
            // Every client connects at once and holds its connection until ganger answers.
            let outcomes = try await onThreads(300) { _ -> String in
                let client: Client
                do { client = try Client(address, timeout: .seconds(10)) } catch { return "connect failed" }
                do {
                    try client.sendAll(payload, timeout: .seconds(10))
                    try client.shutdownWrite()
                    let (bytes, end) = try client.receiveAll(timeout: .seconds(60))
                    if bytes == payload { return "echoed" }
                    return bytes.isEmpty ? "closed (\(end))" : "partial"
                } catch {
                    return "closed (send failed)"
                }
            }
            var tally: [String: Int] = [:]
            for outcome in outcomes { tally[outcome, default: 0] += 1 }
            #expect(tally["echoed", default: 0] >= 4, "\(tally)")
            #expect(tally["partial"] == nil && tally["connect failed"] == nil && tally["closed (timedOut)"] == nil, "\(tally)")
            try await onThread {
                let (status, idle) = try ganger.waitForStatus(timeout: .seconds(30)) {
                    $0.services[0].sessionsCurrent == 0 && $0.daemons.allSatisfy { $0.containers == 0 }
                }
                try check(idle, "sessions or containers left: \(status.services[0].sessionsCurrent), \(status.daemons.map(\.containers))")
                try check(status.daemons.count == 1 && status.daemons[0].up && status.daemons[0].state == .up, "\(status.daemons)")
                let reasons = status.services[0].endReasons
                try check(reasons["descriptor budget", default: 0] > 0, "the budget refused clients: \(reasons)")
                let counted = reasons.values.reduce(0, +)
                try check(counted == 300, "every client ended with a reason from the fixed set: \(reasons)")
                try check(Set(reasons.keys).isSubset(of: Set(EndCategory.allCases.map(\.rawValue))), "\(reasons)")
                try check(!ganger.log.contains("daemon down"), "the daemon was blamed")
                try check(try ganger.statusGet("/healthz").status == 200, "/healthz")
                try check(try ganger.terminate(signal: SIGTERM, timeout: .seconds(20)) == .exited(0), "exit after SIGTERM")
                try check(try DockerCLI.containers(instance: instance) == [], "ganger left containers")
            }
        } catch {
            await teardown(ganger)
            throw HarnessError("\(error)\n\(ganger.log.suffix(20_000))")
        }
        await teardown(ganger)
    }
}
