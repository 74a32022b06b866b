import FoundationEssentials
@testable import GangerCore
import Testing

/// What a service's network on a daemon means before sessions are placed there
/// (`ServiceNetwork`): whether sessions reach each other, and who is warned about it.
@Suite struct ServiceNetworkTests {
    /// `GET /networks/{name}` answers, trimmed, as dockerd 20.10 and podman 4 gave them here.
    static let dockerBridge = #"{"Name":"bridge","Driver":"bridge","Internal":false,"Options":{"com.docker.network.bridge.default_bridge":"true","com.docker.network.bridge.enable_icc":"true","com.docker.network.bridge.name":"docker0"}}"#
    static let dockerApart = #"{"Name":"ganger-sandbox","Driver":"bridge","Internal":true,"Options":{"com.docker.network.bridge.enable_icc":"false"}}"#
    static let dockerInternal = #"{"Name":"plain-internal","Driver":"bridge","Internal":true,"Options":{}}"#
    static let podmanBridge = #"{"Name":"bridge","Driver":"bridge","Internal":false,"Options":{}}"#

    func service(_ keys: String) throws -> ServiceConfig {
        try ConfigLoader.parse(yaml: """
            instance: blue
            services: [{name: echo, listen: 127.0.0.1:5454, image: ganger-echo:latest, port: 12345\(keys)}]
            """, source: "test", environment: [:]).services[0]
    }

    func network(_ json: String) throws -> NetworkInspect {
        try JSONDecoder().decode(NetworkInspect.self, from: Data(json.utf8))
    }

    @Test func onlyABridgeWithInterContainerCommunicationOff_orNoNetwork_keepsSessionsApart() throws {
        #expect(ServiceNetwork.siblingsReachEachOther(try network(Self.dockerBridge)))
        #expect(!ServiceNetwork.siblingsReachEachOther(try network(Self.dockerApart)))
        // `--internal` alone keeps packets from leaving the network, not from crossing it.
        #expect(ServiceNetwork.siblingsReachEachOther(try network(Self.dockerInternal)))
        #expect(ServiceNetwork.siblingsReachEachOther(try network(Self.podmanBridge)))
        for driver in ["host", "overlay", "macvlan", "ipvlan"] {
            #expect(ServiceNetwork.siblingsReachEachOther(.init(name: driver, driver: driver, options: [ServiceNetwork.iccOption: "false"])))
        }
        #expect(!ServiceNetwork.siblingsReachEachOther(.init(name: "none", driver: "null", options: nil)))
        // An answer that names no driver is not taken for a safe one.
        #expect(ServiceNetwork.siblingsReachEachOther(.init(name: "odd", driver: nil, options: [ServiceNetwork.iccOption: "false"])))
        #expect(ServiceNetwork.siblingsReachEachOther(.init(name: "odd", driver: "bridge", options: [ServiceNetwork.iccOption: "False"])))
    }

    @Test func onlySandboxedServices_areWarned() throws {
        let plain = try service("")
        let strict = try service(", sandbox: {preset: strict}")
        let capped = try service(", sandbox: {cap_drop: [ALL]}")
        let defaultPreset = try service(", sandbox: {preset: default}")
        #expect(!ServiceNetwork.isSandboxed(plain) && !ServiceNetwork.isSandboxed(defaultPreset))
        #expect(ServiceNetwork.isSandboxed(strict) && ServiceNetwork.isSandboxed(capped))
        #expect(ServiceNetwork.exposed([plain, strict, capped], on: try network(Self.dockerBridge)).count == 2)
        #expect(ServiceNetwork.exposed([plain, strict, capped], on: try network(Self.dockerApart)).isEmpty)
    }

    /// `host`, `none` and `container:…` give a session no address of its own: refused by the
    /// configuration, naming what to use instead.
    @Test(arguments: [("host", "host gives a session no address of its own"), ("none", "none gives a session no address of its own"),
                      ("container:abc", "for sessions that share a network namespace use netns.mode: holder")])
    func networksWithoutAnAddressPerSession_areRefused(network: String, message: String) throws {
        do {
            _ = try service(", network: \"\(network)\"")
            Issue.record("network \(network) accepted")
        } catch {
            #expect("\(error)".contains("services[0].network") && "\(error)".contains(message), "\(error)")
        }
        #expect(try service(", network: ganger-sandbox").network == "ganger-sandbox")
    }

    @Test func aMissingNetwork_isNamedWithItsServicesDaemonAndTheFix() {
        #expect(ServiceNetwork.missing("sbx", services: ["shell"], daemon: "unix:///d.sock")
            == "network sbx (service shell) not found on daemon unix:///d.sock: create it there (`docker network create sbx`) or name another")
        #expect(ServiceNetwork.missing("sbx", services: ["a", "b"], daemon: "d").hasPrefix("network sbx (services a, b) not found"))
    }
}
