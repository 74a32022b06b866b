import Glibc
import Testing
import TestSupport

/// A connect-and-close flood (`nc -z` in a loop): before, every such client was queued or
/// launched and cost dockerd a create, a start and a remove while real clients starved.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct FloodTests {
    @Test func connectAndCloseFlood_of200_costsAtMostAHandfulOfCreates_andARealClientIsServed() async throws {
        let instance = uniqueInstance("flood")
        // Rates lifted: this is about what a client that sends nothing costs, not about the
        // per-source rate that would also stop a flood from one address (RateLimitTests).
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["per_source: {rate: 0}"])
        let yaml = gangerConfig(instance: instance, services: [service])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { _, addresses in
            let address = try #require(addresses["echo"])
            let since = try await onThread { try DockerCLI.docker(["system", "info", "--format", "{{.SystemTime}}"]).trimmingSuffix("\n") }
            try await onThread {
                for _ in 0..<200 {
                    let client = try Client(address)
                    client.close()
                }
                try echoSession(address, payload: Array("still served\n".utf8))
            }
            // Let the creates that did happen show; then count every create of the instance.
            try await Task.sleep(for: .seconds(2))
            let creates = try await onThread { () throws -> [String] in
                let until = try DockerCLI.docker(["system", "info", "--format", "{{.SystemTime}}"]).trimmingSuffix("\n")
                return try DockerCLI.docker(["events", "--since", since, "--until", until, "--filter", "label=ganger.instance=\(instance)",
                                             "--filter", "type=container", "--filter", "event=create", "--format", "{{.ID}}"])
                    .split(separator: "\n").map(String.init)
            }
            // One for the real client; a few for flood clients whose FIN came after their launch
            // had begun (their container is removed at once).
            #expect(creates.count <= 6, "\(creates.count) creates for 200 clients that sent nothing")
            #expect(!creates.isEmpty, "the real client's container was never created?")
        }
    }

    /// Refused clients are closed at once; the operator still learns of them, in few lines: the
    /// first refusal at once with its client, then one line summing up the rest of the window
    /// (LogDigest). Before, a refusal was logged only at debug: a reset with no trace.
    @Test func refusedClients_firstLoggedAtOnce_theRestInOneSummingLine() async throws {
        let instance = uniqueInstance("refusedlog")
        let service = ServiceYAML(name: "echo", image: "ganger-echo:latest", extra: ["per_source: {max_connections: 1, rate: 0}"])
        let yaml = gangerConfig(instance: instance, services: [service])
        try await withGanger(instance: instance, yaml: yaml, services: ["echo"]) { ganger, addresses in
            let address = try #require(addresses["echo"])
            @Sendable func lines(_ text: String) -> [String] { ganger.log.split(separator: "\n").filter { $0.contains(text) }.map(String.init) }
            let (first, sums) = try await onThread { () throws -> ([String], [String]) in
                let held = try openEchoingClient(address, tag: "held")
                defer { held.close() }
                for _ in 0..<5 {
                    let refused = try Client(address)
                    _ = try timeToClose(refused, timeout: .seconds(5))
                }
                let first = lines("client refused")
                _ = poll(timeout: .seconds(20), interval: .milliseconds(200)) { !lines("clients refused").isEmpty }
                return (first, lines("clients refused"))
            }
            #expect(first.count == 1 && first.allSatisfy { $0.contains("per-source limit") }, "\(first)\n\(ganger.log)")
            #expect(sums.count == 1 && sums[0].contains("count=4") && sums[0].contains("per-source limit"), "\(sums)")
        }
    }
}
