import Glibc
@testable import GangerCore
import Testing
import TestSupport

/// What the daemon records for a live session's container: the sandbox default, the strict
/// preset, and a port published on one host address (the `host_ip` default of remote daemons).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SandboxTests {
    /// Holds one echo session of `service` open and returns `docker inspect -f FORMAT` of its container.
    private func inspectLiveSession(_ address: String, instance: String, service: String, format: String) throws -> String {
        let client = try Client(address)
        defer { client.close() }
        let payload = Array("hold \(service)\n".utf8)
        try client.sendAll(payload)
        // Echoed: the session's container is up and relaying now.
        guard try client.receive(count: payload.count) == payload else { throw HarnessError("\(service): echo differs") }
        let ids = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.service=\(service)"])
        guard ids.count == 1 else { throw HarnessError("\(service): \(ids.count) containers \(ids)") }
        return try DockerCLI.inspect(ids[0], format: format)
    }

    @Test func sessionContainers_dropNetRawByDefault_andTheStrictPresetAsDocumented() async throws {
        let instance = uniqueInstance("sandbox")
        let yaml = gangerConfig(instance: instance, services: [
            .echo("plain"),
            ServiceYAML(name: "strict", image: "ganger-echo:latest", extra: ["sandbox: {preset: strict}"]),
        ])
        let format = "{{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{.HostConfig.ReadonlyRootfs}} "
            + "{{json .HostConfig.Tmpfs}} {{.HostConfig.PidsLimit}} {{json .HostConfig.SecurityOpt}}"
        try await withGanger(instance: instance, yaml: yaml, services: ["plain", "strict"]) { ganger, addresses in
            let plain = try #require(addresses["plain"])
            let strict = try #require(addresses["strict"])
            let (plainSeen, strictSeen) = try await onThread {
                (try inspectLiveSession(plain, instance: instance, service: "plain", format: format),
                 try inspectLiveSession(strict, instance: instance, service: "strict", format: format))
            }
            #expect(plainSeen == #"["NET_RAW"] null false null 256 ["no-new-privileges"]"#, "\(ganger.log)")
            #expect(strictSeen == #"["ALL"] null true {"/tmp":"rw,noexec,nosuid,nodev,size=64m"} 64 ["no-new-privileges"]"#,
                    "\(ganger.log)")
        }
    }

    @Test func publishedPort_boundToOneHostAddress_asARemoteDaemonsDefaultWouldBe() async throws {
        try await onThread { try DockerCLI.requireEnvironment() }
        let instance = uniqueInstance("hostip")
        let service = ServiceConfig(name: "echo", listen: HostPort(host: "127.0.0.1", port: 0), image: "ganger-echo:latest", port: 12345)
        let spec = ContainerSpec.session(service: service, instance: instance, client: nil, publish: "127.0.0.1")
        do {
            try await withDockerClient { harness in
                let id = try await harness.call { client, done in client.create(spec) { done($0) } }.get()
                try await harness.call { client, done in client.start(id) { done($0) } }.get()
                let info = try await harness.call { client, done in client.inspect(id) { done($0) } }.get()
                let bindings = info.networkSettings.ports?["12345/tcp"] ?? nil
                #expect(bindings?.map(\.hostIp) == ["127.0.0.1"], "\(String(describing: bindings))")
                #expect(info.publishedPort(12345) != nil)
            }
        } catch {
            await removeContainers(instance: instance)
            throw error
        }
        await removeContainers(instance: instance)
    }
}
