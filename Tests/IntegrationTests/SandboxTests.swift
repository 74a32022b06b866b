import Glibc
@testable import GangerCore
import Testing
import TestSupport

/// What the daemon records for a live session's container: the sandbox default, the strict
/// preset, and a port published on one host address (the `host_ip` default of remote daemons).
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SandboxTests {
    /// Holds one echo session of `service` open while `body` runs with its container's id.
    private func withLiveSession<T>(_ address: String, instance: String, service: String, _ body: (String) throws -> T) throws -> T {
        let client = try Client(address)
        defer { client.close() }
        let payload = Array("hold \(service)\n".utf8)
        try client.sendAll(payload)
        // Echoed: the session's container is up and relaying now.
        guard try client.receive(count: payload.count) == payload else { throw HarnessError("\(service): echo differs") }
        let ids = try DockerCLI.containers(labels: ["ganger.instance=\(instance)", "ganger.service=\(service)"])
        guard ids.count == 1 else { throw HarnessError("\(service): \(ids.count) containers \(ids)") }
        return try body(ids[0])
    }

    /// Holds one echo session of `service` open and returns `docker inspect -f FORMAT` of its container.
    private func inspectLiveSession(_ address: String, instance: String, service: String, format: String) throws -> String {
        try withLiveSession(address, instance: instance, service: service) { try DockerCLI.inspect($0, format: format) }
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
            // Both on the default bridge, where containers reach each other: the sandboxed
            // service is warned about it, the plain one is not.
            let warnings = ganger.log.split(separator: "\n").filter { $0.contains("sessions of this sandboxed service can reach each other's ports") }
            #expect(warnings.count == 1 && warnings[0].contains("service=strict") && warnings[0].contains("network=bridge"), "\(ganger.log)")
        }
    }

    /// Bytes on the daemon's disk of a container's log: its file and the rotated one.
    private func logBytes(_ id: String) throws -> Int {
        let path = try DockerCLI.inspect(id, format: "{{.LogPath}}")
        var total = 0
        for file in [path, path + ".1"] {
            var info = stat()
            if stat(file, &info) == 0 { total += Int(info.st_size) }
        }
        return total
    }

    /// A session's container writes 4 MB to its stdout before it serves: what a client makes a
    /// shell write to `/proc/1/fd/1`, or a chatty service. The daemon's json-file driver keeps
    /// it all unless told a size (by hand, before the bound: 268 MB in 5 s from the sandbox
    /// example); with `limits.log: 64k` the disk holds 64 KiB and one message more.
    @Test func sessionLog_onTheDaemonsDisk_staysWithinLimitsLog() async throws {
        let driver = try await onThread { try DockerCLI.docker(["info", "-f", "{{.LoggingDriver}}"]).trimmingSuffix("\n") }
        try #require(driver == "json-file", "the test daemon logs with \(driver); this test reads json-file's files")
        let instance = uniqueInstance("logsize")
        let chatty = #"command: [/bin/sh, -c, "head -c 4000000 /dev/zero | tr '\\0' x; exec /bin/nc -ll -p 12345 -e /bin/cat"]"#
        let yaml = gangerConfig(instance: instance, services: [
            ServiceYAML(name: "bounded", image: "ganger-echo:latest", extra: [chatty, "limits: {log: 64k}"]),
            ServiceYAML(name: "unbounded", image: "ganger-echo:latest", extra: [chatty, "limits: {log: 0}"]),
        ])
        try await withGanger(instance: instance, yaml: yaml, services: ["bounded", "unbounded"]) { ganger, addresses in
            let bounded = try #require(addresses["bounded"])
            let unbounded = try #require(addresses["unbounded"])
            let (config, boundedBytes, unboundedBytes) = try await onThread {
                func session(_ address: String, _ service: String) throws -> (String, Int) {
                    // Echoed: the 4 MB were written before the service listened.
                    try withLiveSession(address, instance: instance, service: service) { id in
                        // dockerd copies from the container's pipe on its own time: give the
                        // last pipeful a moment to land, so the unbounded figure is the whole output.
                        var bytes = try logBytes(id)
                        for _ in 0..<20 where service == "unbounded" && bytes < 4_000_000 {
                            usleep(100_000)
                            bytes = try logBytes(id)
                        }
                        return (try DockerCLI.inspect(id, format: "{{json .HostConfig.LogConfig.Config}}"), bytes)
                    }
                }
                let (config, boundedBytes) = try session(bounded, "bounded")
                let (_, unboundedBytes) = try session(unbounded, "unbounded")
                return (config, boundedBytes, unboundedBytes)
            }
            #expect(config == #"{"max-file":"2","max-size":"32768"}"#, "\(ganger.log)")
            #expect(unboundedBytes >= 4_000_000, "without the bound the daemon keeps it all: \(unboundedBytes)")
            // Two files of 32 KiB; each may pass its size by the one message that crosses it
            // (≤ 16 KiB of output, as a JSON line).
            #expect(boundedBytes <= (64 + 2 * 17) << 10, "\(boundedBytes) bytes of log on the daemon's disk")
        }
    }

    @Test func publishedPort_boundToOneHostAddress_asARemoteDaemonsDefaultWouldBe() async throws {
        try await onThread { try DockerCLI.requireEnvironment() }
        let instance = uniqueInstance("hostip")
        let service = ServiceConfig(name: "echo", listen: HostPort(host: "127.0.0.1", port: 0), image: "ganger-echo:latest", port: 12345)
        let spec = ContainerSpec.session(service: service, instance: instance, client: nil, publish: "127.0.0.1", logDriver: nil)
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
