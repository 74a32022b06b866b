import Glibc
import Testing
import TestSupport

/// `ganger cleanup` with `consul:`: the daemons are those Consul lists now (one non-blocking
/// health query per datacenter), here tcp daemons 1 and 2 in two datacenters, each holding a
/// leftover of the instance; another instance's container is left alone.
extension ConsulTests {
    @Test func cleanup_queriesEachDatacenterOnce_removesTheInstancesLeftoversOnDiscoveredDaemons_only() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        let consul = try FixtureConsul(datacenters: ["dc1", "dc2"])
        defer { consul.stop() }
        consul.set([try Self.instance(1, dc: "dc1", cap: 2), try Self.instance(2, dc: "dc2", cap: 2)])
        let instance = uniqueInstance("consulclean")
        let bystander = uniqueInstance("consulkeep")
        defer {
            let left = ((try? TCPDaemons.removeAll(instance: instance)) ?? ["(cannot list)"])
                + ((try? TCPDaemons.removeAll(instance: bystander)) ?? ["(cannot list)"])
            #expect(left.isEmpty, "teardown: containers left: \(left)")
        }
        // Leftovers as a ganger killed without cleanup would leave them: created, labelled, not running.
        let made = try await onThread { () throws -> [String] in
            var ids: [String] = []
            for k in 1...2 {
                ids.append(try TCPDaemons.docker(k, ["create", "--label", "ganger.managed=true", "--label", "ganger.instance=\(instance)",
                                                     "--label", "ganger.service=echo", "ganger-echo:latest"]).trimmingSuffix("\n"))
            }
            ids.append(try TCPDaemons.docker(2, ["create", "--label", "ganger.managed=true", "--label", "ganger.instance=\(bystander)",
                                                 "ganger-echo:latest"]).trimmingSuffix("\n"))
            return ids
        }
        #expect(made.count == 3)
        let config = try ConfigFile(Self.yaml(instance: instance, consul: consul, datacenters: ["dc1", "dc2"]))
        let result = try await onThread { try ganger(["cleanup", "-c", config.path], timeout: .seconds(60)) }
        #expect(result.status == .exited(0), "\(result)")
        let urls = "\(try TCPDaemons.url(1)), \(try TCPDaemons.url(2))"
        #expect(result.stdout.contains("removed 2 container(s) from 2 daemon(s): \(urls)"), "\(result)")
        let (mine, theirs) = try await onThread {
            (try (1...2).flatMap { try TCPDaemons.containers($0, instance: instance) }, try TCPDaemons.containers(2, instance: bystander))
        }
        #expect(mine.isEmpty, "the instance's leftovers are still there: \(mine)")
        #expect(theirs.count == 1, "another instance's container must stay: \(theirs)")
        let health = consul.requests.filter { $0.hasPrefix("/v1/health/service/docker?") }
        #expect(health.count == 2 && health.contains { $0.contains("&dc=dc1") } && health.contains { $0.contains("&dc=dc2") }, "\(health)")
        #expect(!health.contains { $0.contains("index=") }, "cleanup must not block on Consul: \(health)")
    }

    @Test func cleanup_aDatacenterConsulCannotList_exit2_namingIt_theOthersStillCleaned() async throws {
        try await onThread { try TCPDaemons.requireEnvironment() }
        let consul = try FixtureConsul(datacenters: ["dc1"])
        defer { consul.stop() }
        consul.set([try Self.instance(1, dc: "dc1", cap: 2)])
        let instance = uniqueInstance("consulcleanbad")
        defer {
            let left = (try? TCPDaemons.removeAll(instance: instance)) ?? ["(cannot list)"]
            #expect(left.isEmpty, "teardown: containers left: \(left)")
        }
        try await onThread {
            _ = try TCPDaemons.docker(1, ["create", "--label", "ganger.managed=true", "--label", "ganger.instance=\(instance)", "ganger-echo:latest"])
        }
        let config = try ConfigFile(Self.yaml(instance: instance, consul: consul, datacenters: ["dc1", "nowhere"]))
        let result = try await onThread { try ganger(["cleanup", "-c", config.path], timeout: .seconds(60)) }
        #expect(result.status == .exited(2), "\(result)")
        #expect(result.stderr.contains("in datacenter nowhere") && result.stderr.contains("No path to datacenter"), "\(result.stderr)")
        let url = try TCPDaemons.url(1)
        #expect(result.stdout.contains("removed 1 container(s) from 1 daemon(s): \(url)"), "\(result)")
        let left = try await onThread { try TCPDaemons.containers(1, instance: instance) }
        #expect(left.isEmpty, "\(left)")
    }
}
