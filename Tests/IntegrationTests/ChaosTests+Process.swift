import Glibc
import Synchronization
import Testing
import TestSupport

/// Where a launch or session is when ganger is killed.
enum CrashPhase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// Its create call is on the wire (held by the proxy): it lands after the crash.
    case create
    /// Its start call is on the wire (held by the proxy).
    case start
    /// Its container runs; the service port never answers (a port nothing listens on).
    case probe
    /// Its bytes are relayed.
    case relay

    var testDescription: String { rawValue }
}

/// Process chaos (issue 16): ganger killed with -9 in each phase, SIGTERM with a full queue, and
/// the daemon "dying" (the proxy cut) with clients in flight. In the same suite as the Docker
/// faults, so that all of it runs one test at a time.
extension ChaosTests {
    /// The call the proxy holds for `phase`, and for how long.
    static let crashHold = Duration.seconds(3)

    @Test(arguments: CrashPhase.allCases)
    func kill9InEachPhase_aRestartWithTheSameInstanceLeavesNothingOfTheOldRun(_ phase: CrashPhase) async throws {
        let instance = uniqueInstance("crash-\(phase.rawValue)")
        let proxy = try FaultProxy()
        defer { proxy.stop() }
        var crashing = ServiceYAML.echo()
        if phase == .probe {
            crashing.port = 12399
            crashing.extra = ["ready: {attempts: 1000, interval: 100ms, timeout: 30s}"]
        }
        let yaml = gangerConfig(instance: instance, services: [crashing], daemonURL: proxy.url)
        try await onThread {
            try DockerCLI.requireEnvironment()
            try ExtraDaemons.ensureDefaultBridge()
        }
        let first = try await onThread { try GangerProcess(instance: instance, yaml: yaml) }
        do {
            let address = try #require(try await onThread { try first.waitUntilListening(["echo"]) }["echo"])
            let creates = proxy.calls("POST", "/containers/create")
            switch phase {
            case .create: proxy.setRules([.init("POST", "/containers/create", .delay(Self.crashHold))])
            case .start: proxy.setRules([.init("POST", "/containers/*/start", .delay(Self.crashHold))])
            case .probe, .relay: break
            }
            let end = try await onThread { () throws -> Client.End in
                let client = try Client(address)
                defer { client.close() }
                let payload = Array("crash in \(phase)\n".utf8)
                try client.sendAll(payload)
                let inPhase: Bool
                switch phase {
                case .create:
                    inPhase = poll(timeout: .seconds(10), interval: .milliseconds(20)) { proxy.calls("POST", "/containers/create") > creates }
                case .start:
                    inPhase = poll(timeout: .seconds(10), interval: .milliseconds(20)) { proxy.calls("POST", "/containers/*/start") >= 1 }
                case .probe:
                    inPhase = try poll(timeout: .seconds(10), interval: .milliseconds(100)) {
                        !(try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.client=\(client.localAddress)"]).isEmpty)
                    }
                    // The container runs and ganger knocks on a port nothing listens on.
                    usleep(500_000)
                case .relay:
                    inPhase = try client.receive(count: payload.count) == payload
                }
                guard inPhase else { throw HarnessError("never reached \(phase)\n\(proxy.history)") }
                first.kill9()
                // The kernel closes a dead process's sockets: the client hears it.
                return try client.receiveAll(timeout: .seconds(5)).end
            }
            #expect(end != .timedOut, "the client's connection outlived ganger's SIGKILL in \(phase)")

            // The same instance again (a serving port this time), on the proxy without faults.
            proxy.setRules([])
            let restart = gangerConfig(instance: instance, services: [.echo()], daemonURL: proxy.url)
            try await withGangerScenario(instance: instance, yaml: restart, services: ["echo"], prepare: {}, sweep: { instance in
                _ = try DockerCLI.removeAll(instance: instance)
                return try DockerCLI.containers(instance: instance)
            }) { second, addresses in
                let echo = try #require(addresses["echo"])
                // A call held at the crash lands up to `crashHold` later (dockerd still does it):
                // wait past it, then nothing of the old run may stay, for 2 s in a row.
                try await Task.sleep(for: Self.crashHold + .milliseconds(500))
                let left = try await onThread { try waitForNoContainersStably(instance: instance, timeout: .seconds(20), stable: .seconds(2)) }
                #expect(left.isEmpty, "after a crash in \(phase): the old run's containers \(left) are still there\n\(second.log)")
                let leases = try await onThread { try DockerCLI.containers(labels: ["ganger.lease=\(instance)"]) }
                #expect(leases.count == 1, "one lease (the new run's): \(leases)")
                try await onThread { try echoSession(echo, payload: Array("after the restart\n".utf8) + randomBytes(4096)) }
                let (status, settled) = try await onThread {
                    try second.waitForStatus(timeout: .seconds(10)) { $0.daemons.allSatisfy { $0.containers == 0 } }
                }
                #expect(settled, "slots still counted after the session ended: \(status.daemons)")
            }
        } catch {
            await teardown(first)
            throw HarnessError("\(error)\n--- first ganger ---\n\(first.log)\n--- proxy ---\n\(proxy.history)")
        }
        await teardown(first)
    }

    @Test func sigtermWithAFullQueue_everyQueuedClientClosedCleanly_nothingLeft() async throws {
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["queue: {max: 6, timeout: 60s}", "per_source: {rate: 0}"])
        try await withProxiedGanger("sigterm-queue", services: [service], maxContainers: 2, rules: []) { chaos in
            let ganger = chaos.ganger
            let outcome = try await onThread { () throws -> (held: [Client.End], queued: [ChaosOutcome], status: ExitStatus?, left: [String]) in
                // Two sessions hold both slots.
                var held: [Client] = []
                defer { for client in held { client.close() } }
                for i in 0..<2 {
                    let client = try Client(chaos.address)
                    let payload = Array("holder \(i)\n".utf8)
                    try client.sendAll(payload)
                    guard try client.receive(count: payload.count) == payload else { throw HarnessError("holder \(i): echo differs") }
                    held.append(client)
                }
                // Six wait in the queue (its max), each on a thread of its own.
                let results = ResultBox<ChaosOutcome>(6)
                for i in 0..<6 {
                    startThread(ThreadJob {
                        results.set(i, chaosClient(chaos.address, payload: Array("queued \(i)\n".utf8), timeout: .seconds(30)))
                    })
                }
                let (snapshot, full) = try ganger.waitForStatus(timeout: .seconds(10)) { $0.services[0].queueCurrent == 6 }
                guard full else { throw HarnessError("the queue never filled: \(snapshot.services[0])") }
                ganger.process.send(SIGTERM)
                let status = ganger.waitForExit(timeout: .seconds(20))
                let left = try DockerCLI.containers(instance: chaos.instance)
                let ends = try held.map { try $0.receiveAll(timeout: .seconds(5)).end }
                guard let queued = results.wait(timeout: .seconds(35)) else { throw HarnessError("queued clients still open") }
                return (ends, queued, status, left)
            }
            #expect(outcome.status == .exited(0), "\(String(describing: outcome.status))\n\(ganger.log)")
            #expect(outcome.left.isEmpty, "containers still there when ganger exited: \(outcome.left)")
            #expect(outcome.held.allSatisfy { $0 != .timedOut }, "held sessions: \(outcome.held)")
            #expect(outcome.queued.allSatisfy { $0 == .closed(bytes: 0) }, "queued clients: \(outcome.queued)")
        }
    }

    @Test func daemonCutWith50ClientsInFlight_cleanCloses_markedDown_servedAgainWhenBack() async throws {
        let clients = 50
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["queue: {timeout: 40s}", "per_source: {rate: 0}"])
        try await withProxiedGanger("cut", services: [service], maxContainers: 20, rules: []) { chaos in
            let results = ResultBox<ChaosOutcome>(clients)
            for i in 0..<clients {
                startThread(ThreadJob {
                    // A slow writer: its session is still in flight when the daemon goes.
                    let payload = Array("in flight \(i)\n".utf8) + randomBytes(8192)
                    results.set(i, chaosClient(chaos.address, payload: payload, timeout: .seconds(60)))
                })
            }
            // Some launched, some launching, the rest queued: the daemon "dies".
            let launched = try await onThread {
                try chaos.ganger.waitForStatus(timeout: .seconds(20)) { $0.services[0].sessionsCurrent >= 5 }.1
            }
            #expect(launched, "no session in flight before the cut")
            chaos.proxy.cut()
            let (down, isDown) = try await onThread {
                try chaos.ganger.waitForStatus(timeout: .seconds(15)) { $0.daemons.first?.state == .down }
            }
            #expect(isDown, "the daemon is not marked down after the cut: \(down.daemons)")
            try await Task.sleep(for: .seconds(2))
            chaos.proxy.restore()
            let (up, isUp) = try await onThread {
                try chaos.ganger.waitForStatus(timeout: .seconds(30)) { $0.daemons.first?.state == .up }
            }
            #expect(isUp, "the daemon is not up again after the proxy came back: \(up.daemons)")
            let outcomes = try await onThread { () throws -> [ChaosOutcome] in
                guard let outcomes = results.wait(timeout: .seconds(90)) else { throw HarnessError("clients still open after 90 s") }
                return outcomes
            }
            try requireClean(outcomes, "clients in flight at the cut")
            #expect(outcomes.contains(.echoed), "no client served at all: \(outcomes)")
            try await onThread { try echoSession(chaos.address, payload: Array("after the cut\n".utf8) + randomBytes(4096)) }
        }
    }
}

/// Results of jobs on threads of their own, by index; `wait` returns them once all are in.
final class ResultBox<T: Sendable>: Sendable {
    private let slots: Mutex<[T?]>

    init(_ count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ value: T) { slots.withLock { $0[index] = value } }

    /// Every result, or nil when some are still missing after `timeout`.
    func wait(timeout: Duration) -> [T]? {
        var all: [T]?
        _ = poll(timeout: timeout, interval: .milliseconds(50)) {
            all = slots.withLock { slots in slots.allSatisfy { $0 != nil } ? slots.map { $0! } : nil }
            return all != nil
        }
        return all
    }
}
