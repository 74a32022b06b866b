import Testing
@testable import GangerCore

/// Parsing of `GET /v1/health/service/<service>` answers (shape as in Consul's API docs,
/// https://developer.hashicorp.com/consul/api-docs/health#list-service-instances-for-service)
/// and the query each datacenter sends.
@Suite struct ConsulHealthTests {
    static let answer = """
    [
      {"Node": {"ID": "40e4a748", "Node": "docker-a", "Address": "10.1.10.12", "Datacenter": "eu",
                "TaggedAddresses": {"lan": "10.1.10.12"}, "Meta": {}},
       "Service": {"ID": "docker-a-2375", "Service": "docker", "Tags": ["max_containers:3", "primary"],
                   "Address": "", "Port": 2375, "Meta": null},
       "Checks": [{"Node": "docker-a", "CheckID": "serfHealth", "Status": "passing"}]},
      {"Node": {"Node": "docker-b", "Address": "10.1.10.13", "Datacenter": "eu"},
       "Service": {"ID": "docker-b", "Service": "docker", "Tags": [], "Address": "10.1.20.5", "Port": 2376},
       "Checks": []},
      {"Node": {"Node": "docker-c", "Address": "docker-c.internal", "Datacenter": "eu"},
       "Service": {"ID": "docker-c", "Service": "docker", "Tags": null, "Address": "", "Port": 2375},
       "Checks": []},
      {"Node": {"Node": "docker-d", "Address": "10.1.10.14", "Datacenter": "eu"},
       "Service": {"ID": "docker-d", "Service": "docker", "Tags": ["max_containers:lots"], "Address": "", "Port": 2375},
       "Checks": []}
    ]
    """

    @Test func entries_becomeTcpDaemons_serviceAddressFirst_tagOverridesTheDefaultCap() throws {
        let parsed = try ConsulHealth.daemons(from: Array(Self.answer.utf8), datacenter: "eu", rank: 1, defaultMax: 10).get()
        #expect(parsed.daemons == [
            DiscoveredDaemon(url: .tcp(host: "10.1.10.12", port: 2375), maxContainers: 3, datacenter: "eu", rank: 1),
            DiscoveredDaemon(url: .tcp(host: "10.1.20.5", port: 2376), maxContainers: 10, datacenter: "eu", rank: 1),
            DiscoveredDaemon(url: .tcp(host: "10.1.10.14", port: 2375), maxContainers: 10, datacenter: "eu", rank: 1),
        ])
        #expect(parsed.skipped.count == 2, "a host name (no DNS on the loop) and a bad tag: \(parsed.skipped)")
    }

    @Test func noDatacenterAsked_theNodesDatacenterIsKept() throws {
        let parsed = try ConsulHealth.daemons(from: Array(Self.answer.utf8), datacenter: nil, rank: 0, defaultMax: -1).get()
        #expect(parsed.daemons.first?.datacenter == "eu")
        #expect(parsed.daemons[1].maxContainers == -1)
    }

    @Test func garbage_isAnError() {
        guard case .failure = ConsulHealth.daemons(from: Array("{\"oops\":1}".utf8), datacenter: nil, rank: 0, defaultMax: 1) else {
            Issue.record("an object instead of an array must fail")
            return
        }
    }

    @Test func queryPath_carriesPassingDatacenterConsistencyAndBlockingParameters() {
        #expect(ConsulHealth.path(service: "docker", datacenter: "eu", consistency: .stale, index: 0, wait: .seconds(30))
            == "/v1/health/service/docker?passing&dc=eu&stale")
        #expect(ConsulHealth.path(service: "docker", datacenter: nil, consistency: .consistent, index: 42, wait: .seconds(30))
            == "/v1/health/service/docker?passing&consistent&index=42&wait=30s")
        #expect(ConsulHealth.path(service: "my svc", datacenter: "us-1", consistency: .default, index: 7, wait: .seconds(5))
            == "/v1/health/service/my%20svc?passing&dc=us-1&index=7&wait=5s")
    }
}
