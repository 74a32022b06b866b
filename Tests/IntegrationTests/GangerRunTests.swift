import Glibc
import Testing
import TestSupport

/// `ganger run` end to end against the real dockerd: sessions through fresh containers.
///
/// Each test runs its own ganger with an instance name of its own (`itest-<test>-<random>`)
/// and kernel-chosen loopback ports, judges only its instance's containers, and tears down
/// (SIGTERM, `docker rm -f` of the instance, nothing left) whatever happens. Serialized: the
/// machine has two cores, and timing budgets below must not measure other tests' load.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct GangerRunTests {
    @Test func sequential_20EchoSessions_eachOnAFreshContainerOfItsOwn() async throws {
        let instance = uniqueInstance("sequential")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let ids = try await onThread { () throws -> [String] in
                var ids: [String] = []
                for i in 0..<20 {
                    let client = try Client(address)
                    let payload = Array("session \(i) of \(instance)\n".utf8) + randomBytes(16 << 10)
                    try client.sendAll(payload)
                    // Echoed while the session is open: its container is up and relaying now.
                    let back = try client.receive(count: payload.count)
                    guard back == payload else { throw HarnessError("session \(i): echo differs") }
                    // This client's own container, by its ganger.client label: exactly one, new.
                    let mine = try DockerCLI.containers(labels: ["ganger.instance=\(instance)",
                                                                 "ganger.client=\(client.localAddress)"])
                    guard mine.count == 1 else {
                        throw HarnessError("session \(i) from \(client.localAddress): \(mine.count) containers \(mine)")
                    }
                    guard !ids.contains(mine[0]) else { throw HarnessError("session \(i) reuses container \(mine[0])") }
                    ids.append(mine[0])
                    try client.shutdownWrite()
                    let (rest, end) = try client.receiveAll(timeout: .seconds(10))
                    guard rest.isEmpty, end == .eof else {
                        throw HarnessError("session \(i): after the half-close \(rest.count) more bytes, ended by \(end)")
                    }
                    client.close()
                }
                return ids
            }
            #expect(Set(ids).count == 20)
            let left = try await onThread { try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left 30 s after the last session: \(left)\n\(ganger.log)")
        }
    }

    @Test func concurrent_20EchoSessions_allIntact_andNoContainerLeftAfter() async throws {
        let instance = uniqueInstance("concurrent")
        let yaml = gangerConfig(instance: instance, services: [.echo()], maxContainers: 32)
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            let outcomes = try await onThreads(20) { i -> String? in
                let payload = Array("concurrent \(i)\n".utf8) + randomBytes(64 << 10)
                do {
                    try echoSession(address, payload: payload, timeout: .seconds(90))
                    return nil
                } catch {
                    return "session \(i): \(error)"
                }
            }
            let failures = outcomes.compactMap { $0 }
            #expect(failures.isEmpty, "\(failures.count) of 20 failed:\n\(failures.joined(separator: "\n"))\n\(ganger.log)")
            let left = try await onThread { try waitForNoContainers(labels: ["ganger.instance=\(instance)"], timeout: .seconds(30)) }
            #expect(left.isEmpty, "containers left 30 s after 20 concurrent sessions: \(left)\n\(ganger.log)")
        }
    }

    @Test func halfClose_4MiBUpThenShutWr_theSinkReplyContainerSendsAll4MiBBack() async throws {
        let instance = uniqueInstance("halfclose")
        let yaml = gangerConfig(instance: instance, services: [ServiceYAML(name: "sink", image: "ganger-sink-reply:latest")])
        try await withGanger(instance: instance, yaml: yaml, services: ["sink"]) { ganger, addresses in
            let address = try #require(addresses["sink"])
            let (sent, received, identical, end) = try await onThread { () throws -> (Int, Int, Bool, Client.End) in
                let payload = randomBytes(4 << 20)
                let client = try Client(address)
                try client.sendAll(payload, timeout: .seconds(60))
                try client.shutdownWrite()
                // sink-reply writes nothing before it has read EOF: all of it comes after our SHUT_WR.
                let (bytes, end) = try client.receiveAll(timeout: .seconds(60))
                return (payload.count, bytes.count, bytes == payload, end)
            }
            #expect(end == .eof, "ended by \(end)\n\(ganger.log)")
            #expect(received == sent, "sent \(sent) bytes, \(received) came back\n\(ganger.log)")
            #expect(identical || received != sent, "4 MiB came back, but not the bytes sent")
        }
    }
}
