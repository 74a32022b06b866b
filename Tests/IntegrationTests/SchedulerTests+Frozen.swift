import Glibc
import Testing
import TestSupport

/// A daemon that stops answering (a frozen or deadlocked dockerd) while launches wait on it: in
/// `SchedulerTests` (serialized) because it shares the extra daemons with them.
extension SchedulerTests {
    /// Daemon 1 sits behind a `FaultProxy` that freezes it as far as Ganger can tell: no call is
    /// answered (pings, the lease's renewals), and creates are held 15 s before dockerd sees them (it then makes the
    /// containers, long after Ganger gave up on them). `docker_timeout` is 120 s: before, the
    /// clients placed on daemon 1 waited for their create (15 s here; up to `docker_timeout` on
    /// a dockerd that never answers, five minutes by default) and then ran there. Now the health
    /// check marks daemon 1 down within a few seconds of its silence, and those clients are
    /// placed on daemon 2 at once; the containers dockerd made late are removed when their
    /// answers come, and daemon 1's slot count goes back to what it holds: none.
    @Test func aDaemonThatStopsAnswering_itsClientsArePlacedOnTheOtherAtOnce_whatItMadeLateIsRemoved() async throws {
        let instance = uniqueInstance("frozen")
        let proxy = try FaultProxy(upstream: ExtraDaemons.runDirectory + "/dockerd-1.sock")
        defer { proxy.stop() }
        let yaml = daemonOneProxiedConfig(instance: instance, proxy: proxy)
        try await withMultiGanger(instance: instance, yaml: yaml) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let (_, bothUp) = try await onThread { try ganger.waitForStatus(timeout: .seconds(20)) { $0.daemons.allSatisfy(\.up) } }
            #expect(bothUp, "\(ganger.placementSummary())")

            proxy.setRules([.init("POST", "/containers/create", .delay(.seconds(15))), .everyCall(.hang)])
            let held = HeldClients()
            defer { held.closeAll() }
            // Four clients at once: least-loaded placement puts two on each daemon.
            let lines = (0..<4).map { Array("frozen \($0)\n".utf8) }
            try await onThread {
                for line in lines {
                    let client = try Client(address)
                    try client.sendAll(line)
                    held.clients.append(client)
                }
                for (client, line) in zip(held.clients, lines) {
                    let back = try client.receive(count: line.count, timeout: .seconds(40))
                    guard back == line else { throw HarnessError("\(String(decoding: line, as: UTF8.self)): echo differs") }
                }
            }
            let running = try await onThread { try (1...2).map { try ExtraDaemons.containers($0, instance: instance, all: false).count } }
            #expect(running == [0, 4], "running containers per daemon with the 4 sessions open: \(running)\n\(ganger.log.suffix(6000))")
            #expect(ganger.log.contains("daemon down while Docker worked on the launch: placed again"), "\(ganger.log.suffix(6000))")
            #expect(proxy.history.contains("delay"), "no create reached the frozen daemon: \(proxy.history)")

            // Daemon 1 answers again. The containers it made late (created, never started) go,
            // and nothing stays counted on it.
            proxy.setRules([])
            let (status, settled) = try await onThread {
                try ganger.waitForStatus(timeout: .seconds(60)) { status in
                    status.daemons.first?.up == true && status.daemons.first?.containers == 0
                        && ((try? ExtraDaemons.containers(1, instance: instance)) ?? ["?"]).isEmpty
                }
            }
            let onOne = (try? ExtraDaemons.containers(1, instance: instance)) ?? []
            #expect(settled, "daemon 1 after it answers again: \(status.daemons.first.map { "\($0)" } ?? "-"); containers \(onOne)\n\(ganger.log.suffix(6000))")

            held.closeAll()
            let left = try await onThread { try ExtraDaemons.waitForNone(instance: instance, timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left after the sessions ended: \(left)")
        }
    }

    /// Daemon 1 answers nothing from the start (`FaultProxy.everyCall(.hang)`), with
    /// `docker_timeout: 120s`: `ganger run` listens once its first contact with daemon 1 has
    /// waited 10 s (`HealthTiming.contactTimeout`), serving on daemon 2; before, it did not
    /// listen until daemon 1 answered or `docker_timeout` ran out. Once daemon 1 answers, the
    /// health check brings it in and sessions are placed on it.
    @Test func aDaemonThatAnswersNothingAtStartup_theOthersServeAtOnce_itJoinsWhenItAnswers() async throws {
        let instance = uniqueInstance("frozenstart")
        let proxy = try FaultProxy(rules: [.everyCall(.hang)], upstream: ExtraDaemons.runDirectory + "/dockerd-1.sock")
        defer { proxy.stop() }
        let yaml = daemonOneProxiedConfig(instance: instance, proxy: proxy)
        try await withMultiGanger(instance: instance, yaml: yaml) { ganger, addresses in
            let address = try #require(addresses["echo"])
            #expect(ganger.log.contains("daemon does not answer"), "\(ganger.log.suffix(3000))")
            try await onThread { _ = try echoSession(address, payload: Array("served at once\n".utf8)) }
            let status = try await onThread { try ganger.status() }
            #expect(status.daemons.map(\.up) == [false, true], "\(status.daemons)")

            proxy.setRules([])
            try await expectBothDaemonsServe(ganger, address: address, instance: instance, within: .seconds(30))
        }
    }

    /// The same, with the service's image in a registry of the test's own (`pull: missing`) and
    /// on neither daemon: daemon 2 pulls it at startup; daemon 1, silent then, pulls it when it
    /// answers, before it is used. Before, a daemon that joined this way was never readied: its
    /// lease's create (and every session's) was refused `No such image`, and no session was ever
    /// placed on it.
    @Test func aDaemonSilentAtStartup_pullsTheImageWhenItAnswers_thenServes() async throws {
        let instance = uniqueInstance("frozenpull")
        let registry = try await onThread { try TestRegistry() }
        defer { registry.stop() }
        let reference = try await onThread { try registry.push("ganger-echo:latest", as: instance) }
        defer { for k in 1...2 { _ = try? ExtraDaemons.docker(k, ["rmi", reference]) } }
        let proxy = try FaultProxy(rules: [.everyCall(.hang)], upstream: ExtraDaemons.runDirectory + "/dockerd-1.sock")
        defer { proxy.stop() }
        let service = ServiceYAML(name: "echo", image: reference, pull: "missing")
        try await withMultiGanger(instance: instance, yaml: daemonOneProxiedConfig(instance: instance, proxy: proxy, service: service)) { ganger, addresses in
            let address = try #require(addresses["echo"])
            try await onThread { _ = try echoSession(address, payload: Array("served by daemon 2\n".utf8)) }

            proxy.setRules([])
            try await expectBothDaemonsServe(ganger, address: address, instance: instance, within: .seconds(60))
            #expect(ganger.log.contains("image pulled") && ganger.log.contains("daemon up again"), "\(ganger.log.suffix(4000))")
        }
    }

    /// `ganger cleanup` with daemon 1 answering nothing: it names daemon 1 and exits 2 within
    /// `HealthTiming.contactTimeout`, and still removes the instance's leftover on daemon 2.
    /// Before, it waited `docker_timeout` (120 s here) on daemon 1's first call.
    @Test func cleanupWithADaemonThatAnswersNothing_namesIt_exits2_andCleansTheOther() async throws {
        let instance = uniqueInstance("frozenclean")
        let proxy = try FaultProxy(rules: [.everyCall(.hang)], upstream: ExtraDaemons.runDirectory + "/dockerd-1.sock")
        defer { proxy.stop() }
        defer { _ = try? ExtraDaemons.removeAll(instance: instance) }
        let (result, left, elapsed) = try await onThread { () throws -> ((status: ExitStatus, stdout: String, stderr: String), [String], Duration) in
            // A leftover of the instance on daemon 2, as a crashed Ganger would leave it.
            try ExtraDaemons.docker(2, ["create", "--label", "ganger.managed=true", "--label", "ganger.instance=\(instance)",
                                        "ganger-echo:latest"])
            let config = try ConfigFile(daemonOneProxiedConfig(instance: instance, proxy: proxy))
            let start = ContinuousClock.now
            let result = try ganger(["cleanup", "-c", config.path], timeout: .seconds(60))
            return (result, try ExtraDaemons.containers(2, instance: instance), ContinuousClock.now - start)
        }
        #expect(result.status == .exited(2), "\(result.status)\n\(result.stderr)")
        #expect(elapsed < .seconds(40), "cleanup took \(elapsed)")
        #expect(result.stderr.contains(proxy.url) || result.stderr.contains(proxy.path), "\(result.stderr)")
        #expect(left.isEmpty, "the leftover on daemon 2: \(left)")
    }
}

/// Daemon 1, silent until now, comes up within `within`, and two sessions opened then run one
/// on each daemon (least-loaded placement).
private func expectBothDaemonsServe(_ ganger: GangerProcess, address: String, instance: String, within: Duration) async throws {
    let (after, joined) = try await onThread { try ganger.waitForStatus(timeout: within) { $0.daemons.allSatisfy(\.up) } }
    #expect(joined, "daemon 1 not up after it answers: \(after.daemons)\n\(ganger.log.suffix(4000))")
    let held = HeldClients()
    defer { held.closeAll() }
    let running = try await onThread { () throws -> [Int] in
        for i in 0..<2 { held.clients.append(try openEchoingClient(address, tag: "after \(i)")) }
        return try (1...2).map { try ExtraDaemons.containers($0, instance: instance, all: false).count }
    }
    #expect(running == [1, 1], "running containers per daemon with 2 sessions open: \(running)\n\(ganger.log.suffix(4000))")
}

/// The two extra daemons at cap 8 each, daemon 1 reached through `proxy`, and a
/// `docker_timeout` (120 s) far above what the tests wait: only giving up on a silent daemon
/// can make them pass.
private func daemonOneProxiedConfig(instance: String, proxy: FaultProxy, service: ServiceYAML = .echo()) -> String {
    multiDaemonConfig(instance: instance, capacities: [8, 8], service: service)
        .split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasSuffix(ExtraDaemons.url(1)) { return "  - url: \(proxy.url)" }
            if line.hasPrefix("docker_timeout:") { return "docker_timeout: 120s" }
            return String(line)
        }.joined(separator: "\n")
}
