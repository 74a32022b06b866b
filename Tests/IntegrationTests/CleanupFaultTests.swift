import EventLoop
@testable import GangerCore
import Synchronization
import Testing
import TestSupport

/// `ganger cleanup` (`Cleanup.run`) against a FAKE daemon: a real dockerd applies the label
/// filter, so only a fake lists a container without `ganger.managed=true`.
@Suite(.timeLimit(.minutes(1)))
struct CleanupFaultTests {
    @Test func listedContainerWithoutTheManagedLabel_isLeftAlone_andCleanupFinishes() async throws {
        let deleted = Mutex<[String]>([])
        let fake = try FakeDaemon(.answer { line in
            if line.hasPrefix("GET /containers/json") {
                let body = #"[{"Id":"aaa","Labels":{"ganger.managed":"true","ganger.instance":"cleanup-fake"},"State":"exited"},"#
                    + #"{"Id":"bbb","Labels":{"ganger.instance":"cleanup-fake"},"State":"running"}]"#
                return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            }
            if line.hasPrefix("DELETE /containers/") {
                deleted.withLock { $0.append(String(line.dropFirst("DELETE /containers/".count).prefix { $0 != "?" })) }
                return "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
            }
            return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        })
        defer { fake.stop() }
        var config = GangerConfig(services: [])
        config.instance = "cleanup-fake"
        config.daemons = [DaemonConfig(url: .unix(path: fake.path))]
        config.dockerTimeout = .seconds(5)
        let harness = try DockerClientHarness()
        let frozen = config
        // Before the fix this never completed: the join counted "bbb" and waited for its removal.
        let outcome = try await harness.run(limit: .seconds(15)) { reactor, done in
            Cleanup.run(config: frozen, everyInstance: false, reactor: reactor) { done($0) }
        }
        await harness.close()
        #expect(outcome.removed == 1)
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(deleted.withLock { $0 } == ["aaa"])
    }
}
