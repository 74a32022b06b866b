import Glibc
import Testing
import TestSupport

/// The instance lease on a real dockerd: a second `ganger run` with the same instance refuses to
/// start and leaves the first one's session alone; a clean stop removes the lease.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct InstanceLeaseTests {
    @Test func secondGangerWithTheSameInstance_exits2NamingTheHolder_andTheFirstsSessionGoesOn() async throws {
        let instance = uniqueInstance("lease")
        let yaml = gangerConfig(instance: instance, services: [.echo()])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { first, addresses in
            let address = try #require(addresses["echo"])
            let holder = first.process.pid
            // One thread for the whole story: the client is not Sendable.
            let (status, stdout, stderr, before, after, cleanup) = try await onThread {
                () throws -> (ExitStatus, String, String, [UInt8], [UInt8], (status: ExitStatus, stdout: String, stderr: String)) in
                let client = try Client(address)
                defer { client.close() }
                try client.sendAll(Array("before\n".utf8))
                let before = try client.receive(count: 7)
                // Same instance, another port (`:0`): before the lease, this one removed the
                // first one's container as a "leftover" and the client got EOF mid-session.
                let config = try ConfigFile(yaml)
                let (status, stdout, stderr) = try ganger(["run", "-c", config.path], timeout: .seconds(60))
                // `ganger cleanup` of a held instance leaves it alone too.
                let cleanup = try ganger(["cleanup", "-c", config.path], timeout: .seconds(60))
                try client.sendAll(Array("after\n".utf8))
                let after = (try? client.receive(count: 6, timeout: .seconds(10))) ?? []
                return (status, stdout, stderr, before, after, cleanup)
            }
            let log = "--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)"
            #expect(before == Array("before\n".utf8))
            #expect(status == .exited(2), "\(status)\n\(log)")
            #expect(stderr.contains("instance \(instance) is held on daemon"), "stderr does not say who holds it\n\(log)")
            #expect(stderr.contains("pid \(holder)"), "stderr does not name the holder's pid \(holder)\n\(log)")
            #expect(GangerProcess.listenLines(stdout).isEmpty, "the second one listened\n\(log)")
            #expect(cleanup.status == .exited(2) && cleanup.stderr.contains("is held by a running Ganger"), "cleanup: \(cleanup)")
            #expect(after == Array("after\n".utf8), "the first one's session was cut: got \(after)")
            let leases = try await onThread { try DockerCLI.containers(labels: ["ganger.lease=\(instance)"]) }
            #expect(leases.count == 1, "one lease while the first one runs: \(leases)")
        }
        let left = try await onThread { try DockerCLI.containers(labels: ["ganger.lease=\(instance)"]) }
        #expect(left.isEmpty, "a clean stop leaves no lease: \(left)")
    }
}
