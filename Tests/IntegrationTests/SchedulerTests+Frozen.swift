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
            _ = try await fourAtOnce(address, tag: "frozen", into: held)
            let running = try await onThread { try ExtraDaemons.running(instance: instance) }
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

    /// Daemon 1 answers nothing at startup, then answers everything but `GET /info`, the call
    /// that tells its default log driver (limits.log): it stays down, naming that call, and no
    /// session is placed on it; once `/info` answers, it serves. Before, the health check used a
    /// daemon whose contact failed this way, and its sessions' containers were made without
    /// the log bound.
    @Test func aDaemonWhoseInfoFailsWhenItAnswers_staysDown_untilItAnswersEverything() async throws {
        let instance = uniqueInstance("frozeninfo")
        let proxy = try FaultProxy(rules: [.everyCall(.hang)], upstream: ExtraDaemons.runDirectory + "/dockerd-1.sock")
        defer { proxy.stop() }
        try await withMultiGanger(instance: instance, yaml: daemonOneProxiedConfig(instance: instance, proxy: proxy)) { ganger, addresses in
            let address = try #require(addresses["echo"])
            proxy.setRules([.init("GET", "/info", .status(500))])
            let refused = try await onThread {
                poll(timeout: .seconds(30), interval: .milliseconds(100)) {
                    ganger.log.contains("daemon answers again but cannot be used yet") && ganger.log.contains("GET /info")
                }
            }
            #expect(refused, "daemon 1's failed /info not noted\n\(ganger.log.suffix(4000))")
            let held = HeldClients()
            defer { held.closeAll() }
            let running = try await runningWithTwoOpen(address, instance: instance, tag: "info fails", into: held)
            let status = try await onThread { try ganger.status() }
            #expect(status.daemons.map(\.up) == [false, true] && running == [0, 2],
                    "daemons \(status.daemons), running per daemon \(running)\n\(ganger.log.suffix(4000))")
            held.closeAll()

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

    /// Daemon 1 answers pings, creates and listings, but holds every start (`FaultProxy`),
    /// as this project's own test dockerd did once its libnetwork deadlocked. Before, the health
    /// check saw it up, and the clients placed there waited out their budget (a minute) and
    /// were closed. Now a start that waits 10 s while no start there answers shows it stuck
    /// (`StallWatch`): those clients are placed on daemon 2 and daemon 1 is held off; once its
    /// starts answer again, a trial launch brings it back.
    @Test func aDaemonWhoseStartsHang_itsClientsAreServedOnTheOther_andATrialBringsItBack() async throws {
        let instance = uniqueInstance("stuckstart")
        let proxy = try FaultProxy(upstream: ExtraDaemons.runDirectory + "/dockerd-1.sock")
        defer { proxy.stop() }
        try await withMultiGanger(instance: instance, yaml: daemonOneProxiedConfig(instance: instance, proxy: proxy)) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let (_, bothUp) = try await onThread { try ganger.waitForStatus(timeout: .seconds(20)) { $0.daemons.allSatisfy(\.up) } }
            #expect(bothUp, "\(ganger.placementSummary())")

            proxy.setRules([.init("POST", "/containers/*/start", .hang)])
            let held = HeldClients()
            defer { held.closeAll() }
            // Four clients at once: least-loaded placement puts two on each daemon.
            let elapsed = try await fourAtOnce(address, tag: "stuck", into: held)
            let running = try await onThread { try ExtraDaemons.running(instance: instance) }
            #expect(running == [0, 4], "running containers per daemon with the 4 sessions open: \(running)\n\(ganger.log.suffix(6000))")
            #expect(ganger.log.contains("daemon stuck while Docker worked on the launch: placed again"), "\(ganger.log.suffix(6000))")
            #expect(elapsed < .seconds(30), "the last echo after \(elapsed)")
            let status = try await onThread { try ganger.status() }
            #expect(status.daemons.first?.heldOff == ["echo"] && status.daemons.first?.up == true, "\(status.daemons)\n\(ganger.log.suffix(6000))")

            // Starts answer again: a trial launch there reaches its service, and the hold ends.
            // Sessions are held open so that daemon 2 fills past what daemon 1 still counts (the
            // two launches given up there hold their slots until their calls end).
            proxy.setRules([])
            let trial = HeldClients()
            defer { trial.closeAll() }
            let back = try await onThread { () throws -> Bool in
                for i in 0..<6 where !ganger.log.contains("launches no longer held off") {
                    trial.clients.append(try openEchoingClient(address, tag: "after \(i)"))
                }
                return poll(timeout: .seconds(10), interval: .milliseconds(100)) { ganger.log.contains("launches no longer held off") }
            }
            #expect(back, "daemon 1 still held off after its starts answer again\n\(ganger.log.suffix(6000))")
            let onOne = try await onThread { try ExtraDaemons.containers(1, instance: instance, all: false).count }
            #expect(onOne >= 1, "no session on daemon 1 after its trial")
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

/// Four clients connect at once, each sends a line and is held open in `held`; each must get its
/// line back within 40 s. Returns the time until the last one did.
private func fourAtOnce(_ address: String, tag: String, into held: HeldClients) async throws -> Duration {
    let lines = (0..<4).map { Array("\(tag) \($0)\n".utf8) }
    return try await onThread { () throws -> Duration in
        let start = ContinuousClock.now
        for line in lines {
            let client = try Client(address)
            try client.sendAll(line)
            held.clients.append(client)
        }
        for (client, line) in zip(held.clients, lines) {
            let back = try client.receive(count: line.count, timeout: .seconds(40))
            guard back == line else { throw HarnessError("\(String(decoding: line, as: UTF8.self)): echo differs") }
        }
        return ContinuousClock.now - start
    }
}

/// Opens two echoing sessions (kept open in `held`) and answers the running containers of
/// `instance` per extra daemon.
private func runningWithTwoOpen(_ address: String, instance: String, tag: String, into held: HeldClients) async throws -> [Int] {
    try await onThread { () throws -> [Int] in
        try held.openEchoing(2, address, tag: tag)
        return try ExtraDaemons.running(instance: instance)
    }
}

/// Daemon 1, silent until now, comes up within `within`, and two sessions opened then run one
/// on each daemon (least-loaded placement).
private func expectBothDaemonsServe(_ ganger: GangerProcess, address: String, instance: String, within: Duration) async throws {
    let (after, joined) = try await onThread { try ganger.waitForStatus(timeout: within) { $0.daemons.allSatisfy(\.up) } }
    #expect(joined, "daemon 1 not up after it answers: \(after.daemons)\n\(ganger.log.suffix(4000))")
    let held = HeldClients()
    defer { held.closeAll() }
    let running = try await runningWithTwoOpen(address, instance: instance, tag: "after", into: held)
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
