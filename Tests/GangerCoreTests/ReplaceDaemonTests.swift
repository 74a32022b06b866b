import Testing
@testable import GangerCore

/// A forgotten daemon's index reused by a newcomer (Consul discovery): placement, scheduler and
/// lifecycle treat the index as the new daemon's, with its own cap, rank and health.
@Suite struct ReplaceDaemonTests {
    private static let policy = Scheduler.Policy(queueMax: 10, queueTimeout: 60_000_000_000, perSourceLimit: 0)

    @Test func placement_replace_resetsTheIndex_withoutGrowingTheList() {
        var placement = Placement(capacities: [1, 5], ranks: [0, 1])
        placement.setRetired(1, true)
        placement.setHealthy(1, false)
        placement.replace(1, capacity: 2, rank: 0, healthy: true)
        #expect(placement.daemons.count == 2)
        #expect(placement.daemons[1] == Placement.Daemon(capacity: 2, rank: 0))
        // Its new cap and health count: 1 on daemon 0, 2 on daemon 1, then full.
        var counts = [0, 0]
        while let chosen = placement.acquire() { counts[chosen] += 1 }
        #expect(counts == [1, 2])
    }

    @Test func placement_replace_unhealthy_takesNothingUntilHealthy() {
        var placement = Placement(capacities: [0, 3])
        placement.setRetired(1, true)
        placement.replace(1, capacity: 3, rank: 0, healthy: false)
        #expect(placement.acquire() == nil)
        placement.setHealthy(1, true)
        #expect(placement.acquire() == 1)
    }

    @Test func scheduler_replaceDaemon_healthy_grantsWhoWaits() {
        var scheduler = Scheduler(placement: Placement(capacities: [1, 1]), policies: [Self.policy])
        _ = scheduler.setRetired(1, true)
        #expect(scheduler.admit(1, service: 0, source: "a", now: 0) == .admitted(.daemon(0)))
        guard case .queued = scheduler.admit(2, service: 0, source: "b", now: 0) else {
            Issue.record("client 2 should wait: daemon 1 is drained")
            return
        }
        #expect(scheduler.replaceDaemon(1, capacity: 1, rank: 0, healthy: false).isEmpty)
        let grants = scheduler.replaceDaemon(1, capacity: 1, rank: 0, healthy: true)
        #expect(grants == [Scheduler.Grant(client: 2, service: 0, slot: .daemon(1))])
        #expect(scheduler.placement.daemons[1].load == 1)
    }

    @Test func lifecycle_replaceDaemon_launchesTheWaitingClientThere() {
        var lifecycle = Lifecycle(scheduler: Scheduler(placement: Placement(capacities: [1, 1]), policies: [Self.policy]),
                                  publishes: [false, false])
        _ = lifecycle.setRetired(1, true, now: 0)
        let settings = SessionMachine.Settings(
            abortOnClose: false, maxDuration: 0,
            launch: .init(readyTimeout: .seconds(10), attempts: 5, interval: .milliseconds(100), network: "bridge", holders: false))
        _ = lifecycle.handle(.accepted(1, service: 0, source: "a", settings: settings), now: 0)
        let waiting = lifecycle.handle(.accepted(2, service: 0, source: "b", settings: settings), now: 0)
        #expect(!waiting.contains { if case .launch(2, _, _) = $0 { true } else { false } })
        #expect(lifecycle.sessions[2]?.phase == .queued)
        let actions = lifecycle.replaceDaemon(1, capacity: 1, rank: 0, healthy: true, publishes: true, now: 1)
        #expect(actions.contains { if case .launch(2, _, .create(daemon: 1, _, _)) = $0 { true } else { false } }, "\(actions)")
        #expect(lifecycle.sessions[2]?.phase == .launching)
    }
}

@Suite struct ConsulScreenTests {
    private static func daemon(_ host: String, cap: Int = 4) -> DiscoveredDaemon {
        DiscoveredDaemon(url: .tcp(host: host, port: 2375), maxContainers: cap, datacenter: "dc1", rank: 0)
    }

    private static func config(allow: Set<ConsulConfig.AddressKind> = [], insecure: Bool = true, limit: Int = 256) -> ConsulConfig {
        var config = ConsulConfig()
        config.allowAddresses = allow
        config.insecure = insecure
        config.maxContainersLimit = limit
        return config
    }

    @Test func addressKinds() {
        let kinds: [String: ConsulConfig.AddressKind?] = [
            "0.0.0.0": .unspecified, "0.1.2.3": .unspecified, "::": .unspecified,
            "127.0.0.1": .loopback, "127.9.9.9": .loopback, "::1": .loopback, "::ffff:127.0.0.1": .loopback,
            "169.254.169.254": .linkLocal, "fe80::1": .linkLocal, "febf::1": .linkLocal, "::ffff:169.254.169.254": .linkLocal,
            "224.0.0.1": .multicast, "239.255.255.250": .multicast, "255.255.255.255": .multicast, "ff02::1": .multicast,
            "10.0.0.1": nil, "192.168.1.2": nil, "172.17.0.1": nil, "2001:db8::1": nil, "fec0::1": nil, "128.0.0.1": nil,
        ]
        for (host, kind) in kinds { #expect(ConsulScreen.kind(of: host) == kind, "\(host)") }
    }

    @Test func refusedKinds_unlessAllowed_eachWithAKeyForLoggingOnce() {
        let found = ["127.0.0.1", "169.254.169.254", "0.0.0.0", "::", "224.0.0.1", "10.1.2.3"].map { Self.daemon($0) }
        let strict = ConsulScreen.screen(found, Self.config())
        #expect(strict.kept.map(\.url) == [.tcp(host: "10.1.2.3", port: 2375)])
        #expect(strict.notes.count == 5)
        #expect(Set(strict.notes.map(\.key)).count == 5)
        #expect(strict.notes[1].message.contains("169.254.169.254") && strict.notes[1].message.contains("link-local"))
        let loopback = ConsulScreen.screen(found, Self.config(allow: [.loopback]))
        #expect(loopback.kept.map(\.url) == [.tcp(host: "127.0.0.1", port: 2375), .tcp(host: "10.1.2.3", port: 2375)])
    }

    @Test func plainTCP_refusedUnlessInsecureOrDaemonTLS() {
        let found = [Self.daemon("10.1.2.3")]
        let refused = ConsulScreen.screen(found, Self.config(insecure: false))
        #expect(refused.kept.isEmpty)
        #expect(refused.notes.first?.message.contains("consul.insecure") == true)
        var tls = Self.config(insecure: false)
        tls.daemonTLS = .init(ca: "/c", cert: "/d", key: "/k")
        #expect(ConsulScreen.screen(found, tls).kept.count == 1)
        #expect(ConsulScreen.screen(found, Self.config(insecure: true)).kept.count == 1)
    }

    @Test func tagCaps_unlimitedOrAboveTheLimit_clamped() {
        let found = [Self.daemon("10.0.0.1", cap: -1), Self.daemon("10.0.0.2", cap: 1_000_000), Self.daemon("10.0.0.3", cap: 7)]
        let screened = ConsulScreen.screen(found, Self.config(limit: 20))
        #expect(screened.kept.map(\.maxContainers) == [20, 20, 7])
        #expect(screened.notes.count == 2)
        #expect(screened.notes[0].message.contains("unlimited clamped to consul.max_containers_limit 20"))
    }
}
