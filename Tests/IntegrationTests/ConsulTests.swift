import Glibc
import GangerCore
import Testing
import TestSupport

/// Consul discovery against `FixtureConsul` (a stand-in serving Consul's documented answers; no
/// Consul server is installable here) and this suite's two loopback-TCP dockerds (`TCPDaemons`):
/// the catalog changes while ganger runs and placements follow.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct ConsulTests {
    /// Tcp daemon K in the catalog, at its port (`port` instead, for a daemon never dialled).
    static func instance(_ k: Int, dc: String, cap: Int, passing: Bool = true, port: Int? = nil) throws -> FixtureConsul.Instance {
        FixtureConsul.Instance(node: "node\(k)", nodeAddress: "127.0.0.1", datacenter: dc, serviceID: "docker-\(k)",
                               serviceAddress: "", port: try port ?? TCPDaemons.port(k), tags: ["max_containers:\(cap)"], passing: passing)
    }

    /// `consulExtra`: more keys of `consul:`, each a line indented by two.
    static func yaml(instance: String, consul: FixtureConsul, datacenters: [String], consulExtra: [String] = []) -> String {
        ([
            "instance: \(instance)",
            "consul:",
            "  hosts: [\(consul.address)]",
            "  service: docker",
            "  datacenters: [\(datacenters.joined(separator: ", "))]",
            "  default_max_containers: 10",
            "  consistency: stale",
            // The suite's daemons are loopback dockerds, most over plain TCP: both refused by default.
            "  allow_addresses: [loopback]",
            "  insecure: true",
        ] + consulExtra + [
            "services:", ServiceYAML.echo().yaml,
            "status: {listen: 127.0.0.1:0}", "docker_timeout: 30s", "shutdown_grace: 2s", "log: {level: debug, format: text}",
        ]).joined(separator: "\n") + "\n"
    }

    /// Running containers of `instance` on tcp daemons 1 and 2.
    static func counts(_ instance: String) throws -> [Int] {
        try (1...2).map { try TCPDaemons.containers($0, instance: instance, all: false).count }
    }

    static func waitFor(_ what: String, in ganger: GangerProcess, timeout: Duration = .seconds(20)) throws {
        guard try poll(timeout: timeout, interval: .milliseconds(50), until: { ganger.log.contains(what) }) else {
            throw HarnessError("no '\(what)' in ganger's log within \(timeout)\n\(ganger.log)")
        }
    }

    static func waitForCounts(_ instance: String, _ expected: [Int], timeout: Duration = .seconds(20)) throws -> [Int] {
        var seen: [Int] = []
        _ = try poll(timeout: timeout, interval: .milliseconds(200)) {
            seen = try counts(instance)
            return seen == expected
        }
        return seen
    }

    @Test func catalogChanges_daemonJoins_thenLeaves_placementsFollow_drainedSessionsGoOn() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        let (url1, url2) = (try TCPDaemons.url(1), try TCPDaemons.url(2))
        let joining = try Self.instance(2, dc: "dc1", cap: 2)
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        consul.set([try Self.instance(1, dc: "dc1", cap: 2)])
        let instance = uniqueInstance("consul")
        try await withTCPGanger(instance: instance, yaml: Self.yaml(instance: instance, consul: consul, datacenters: ["dc1"])) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let held = HeldClients()
            defer { held.closeAll() }
            try await onThread {
                // Only daemon 1 is in the catalog.
                for i in 0..<2 { held.clients.append(try openEchoingClient(address, tag: "d1 \(i)")) }
                let first = try Self.counts(instance)
                guard first == [2, 0] else { throw HarnessError("with daemon 1 only: \(first)") }

                // Daemon 2 registers: it is prepared, then takes the next sessions.
                consul.update { $0.append(joining) }
                try Self.waitFor("daemon joined: placing sessions on it", in: ganger)
                for i in 0..<2 { held.clients.append(try openEchoingClient(address, tag: "d2 \(i)")) }
                let second = try Self.counts(instance)
                guard second == [2, 2] else { throw HarnessError("after daemon 2 joined: \(second)") }

                // Daemon 1 deregisters: drained. Its sessions go on, bytes intact.
                consul.update { $0.removeAll { $0.serviceID == "docker-1" } }
                try Self.waitFor("daemon left the catalog", in: ganger)
                // The status page, /status.json and /metrics read it as draining (HAProxy's DRAIN), not up.
                let status = try ganger.status()
                let drained = try #require(status.daemons.first { $0.url == url1 }, "\(status.daemons)")
                let other = try #require(status.daemons.first { $0.url == url2 }, "\(status.daemons)")
                guard drained.state == .draining, drained.up, drained.containers == 2, other.state == .up else {
                    throw HarnessError("status of the drained daemon: \(drained), the other: \(other)")
                }
                let page = try ganger.statusGet("/").body
                guard page.contains("<tr class=\"draining\"><td class=\"name\">\(url1)</td>"), page.contains(">DRAIN</span>") else {
                    throw HarnessError("the page shows no DRAIN for \(url1):\n\(page)")
                }
                let metrics = try ganger.statusGet("/metrics").body
                guard metrics.contains("ganger_daemon_draining{daemon=\"\(url1)\"} 1"),
                      metrics.contains("ganger_daemon_draining{daemon=\"\(url2)\"} 0") else {
                    throw HarnessError("/metrics: \(metrics)")
                }
                for client in held.clients[0..<2] {
                    let payload = randomBytes(64 << 10)
                    try client.sendAll(payload)
                    guard try client.receive(count: payload.count, timeout: .seconds(20)) == payload else {
                        throw HarnessError("a session on the drained daemon lost bytes")
                    }
                }
                // One session ends on each daemon: 1 + 1, so both have room by their caps.
                held.clients[0].close()
                held.clients[2].close()
                let third = try Self.waitForCounts(instance, [1, 1])
                guard third == [1, 1] else { throw HarnessError("after one session ended on each: \(third)") }
                // A newcomer goes to daemon 2; the next one waits: daemon 1 is drained, 2 is full.
                held.clients.append(try openEchoingClient(address, tag: "after drain"))
                let fourth = try Self.counts(instance)
                guard fourth == [1, 2] else { throw HarnessError("a newcomer after the drain: \(fourth)") }
                let queued = try Client(address)
                held.clients.append(queued)
                try queued.sendAll(Array("queued\n".utf8))
                if let early = try? queued.receive(count: 7, timeout: .milliseconds(1500)) {
                    throw HarnessError("served (\(early.count) bytes) although daemon 1 is drained and daemon 2 full: \(try Self.counts(instance))")
                }
                // Daemon 1's last session ends: still nothing placed there.
                held.clients[1].close()
                let fifth = try Self.waitForCounts(instance, [0, 2])
                guard fifth == [0, 2] else { throw HarnessError("after the drained daemon's last session: \(fifth)") }
                // A slot frees on daemon 2: the queued client is served there.
                held.clients[3].close()
                guard try queued.receive(count: 7, timeout: .seconds(20)) == Array("queued\n".utf8) else {
                    throw HarnessError("queued client: wrong echo")
                }
                let sixth = try Self.counts(instance)
                guard sixth == [0, 2] else { throw HarnessError("queued client placed: \(sixth)") }
            }
            held.closeAll()
            let left = try await onThread { try TCPDaemons.waitForNone(instance: instance, timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left: \(left)\n\(ganger.log)")
            let health = consul.requests.filter { $0.hasPrefix("/v1/health/service/docker?") }
            #expect(health.allSatisfy { $0.contains("passing") && $0.contains("&dc=dc1") && $0.contains("&stale") }, "\(health)")
            #expect(health.contains { $0.contains("&index=") && $0.contains("&wait=") }, "no blocking query: \(health)")
        }
    }

    @Test func datacenterPreference_fillsPreferredFirst_spillsWhenFull_andWhenItHasNoPassingInstance() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        let consul = try FixtureConsul(datacenters: ["dc1", "dc2"])
        defer { consul.stop() }
        // Daemon 1 (cap 10) in dc1, daemon 2 (cap 2) in dc2; dc2 is preferred.
        consul.set([try Self.instance(1, dc: "dc1", cap: 10), try Self.instance(2, dc: "dc2", cap: 2)])
        let instance = uniqueInstance("consuldc")
        try await withTCPGanger(instance: instance, yaml: Self.yaml(instance: instance, consul: consul, datacenters: ["dc2", "dc1"])) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let held = HeldClients()
            defer { held.closeAll() }
            try await onThread {
                // Least-loaded alone would split these 1 + 1 (0/10 < 1/2); preference puts both on dc2.
                try held.openEchoing(2, address, tag: "pref")
                let first = try Self.counts(instance)
                guard first == [0, 2] else { throw HarnessError("two sessions, dc2 preferred: \(first)") }
                held.clients.append(try openEchoingClient(address, tag: "spill"))
                let second = try Self.counts(instance)
                guard second == [1, 2] else { throw HarnessError("dc2 full, spill to dc1: \(second)") }
                // dc2's daemon fails its check: no passing instance there; a freed slot on it is not used.
                consul.update { $0 = $0.map { var i = $0; if i.serviceID == "docker-2" { i.passing = false }; return i } }
                try Self.waitFor("daemon left the catalog", in: ganger)
                held.clients[0].close()
                let third = try Self.waitForCounts(instance, [1, 1])
                guard third == [1, 1] else { throw HarnessError("after a dc2 session ended: \(third)") }
                held.clients.append(try openEchoingClient(address, tag: "no passing dc2"))
                let fourth = try Self.counts(instance)
                guard fourth == [2, 1] else { throw HarnessError("dc2 has no passing instance: \(fourth)") }
                // It passes again: preferred again.
                consul.update { $0 = $0.map { var i = $0; i.passing = true; return i } }
                try Self.waitFor("daemon back in the catalog", in: ganger)
                held.clients.append(try openEchoingClient(address, tag: "dc2 back"))
                let fifth = try Self.counts(instance)
                guard fifth == [2, 2] else { throw HarnessError("dc2 passing again: \(fifth)") }
            }
            held.closeAll()
            let left = try await onThread { try TCPDaemons.waitForNone(instance: instance, timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left: \(left)\n\(ganger.log)")
            let health = consul.requests.filter { $0.hasPrefix("/v1/health/service/docker?") }
            #expect(health.contains { $0.contains("&dc=dc1") } && health.contains { $0.contains("&dc=dc2") }, "\(health)")
        }
    }

    @Test func consulGoesAway_theLastKnownDaemonsStayInUse() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        consul.set([try Self.instance(1, dc: "dc1", cap: 4)])
        let instance = uniqueInstance("consulgone")
        try await withTCPGanger(instance: instance, yaml: Self.yaml(instance: instance, consul: consul, datacenters: ["dc1"])) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let held = HeldClients()
            defer { held.closeAll() }
            try await onThread {
                held.clients.append(try openEchoingClient(address, tag: "before"))
                consul.stop()
                try Self.waitFor("consul: query failed; keeping the last known daemons", in: ganger, timeout: .seconds(45))
                held.clients.append(try openEchoingClient(address, tag: "after"))
                let counts = try Self.counts(instance)
                guard counts == [2, 0] else { throw HarnessError("with Consul gone: \(counts)") }
            }
            #expect(!ganger.log.contains("daemon left the catalog"), "\(ganger.log)")
        }
    }

    @Test func consulUnreachableAtStartup_exit2_namingIt() async throws {
        let port = try freeLoopbackPort()
        let instance = uniqueInstance("consulnone")
        let yaml = ([
            "instance: \(instance)", "consul:", "  hosts: [127.0.0.1:\(port)]", "  datacenters: [dc1]",
            "services:", ServiceYAML.echo().yaml, "status: {listen: 127.0.0.1:0}",
        ]).joined(separator: "\n") + "\n"
        let config = try ConfigFile(yaml)
        let result = try await onThread { try ganger(["run", "-c", config.path], timeout: .seconds(60)) }
        #expect(result.status == .exited(2), "\(result)")
        #expect(result.stderr.contains("consul") && result.stderr.contains("127.0.0.1:\(port)"), "\(result.stderr)")
    }
}
