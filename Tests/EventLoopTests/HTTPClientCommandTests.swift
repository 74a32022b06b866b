import Glibc
import Synchronization
import Testing
@testable import EventLoop

/// HTTPClient over a child's stdin/stdout pipes (the `ssh … docker system dial-stdio` transport),
/// with `/bin/sh` scripts standing in for the far end.
@Suite struct HTTPClientCommandTests {
    /// Reads the request head, answers `body` with Connection: close, exits.
    static func server(_ body: String) -> [String] {
        ["/bin/sh", "-c", "while IFS= read -r line; do [ \"$line\" = \"$(printf '\\r')\" ] && break; done; "
            + "printf 'HTTP/1.1 200 OK\\r\\nContent-Length: \(body.utf8.count)\\r\\nConnection: close\\r\\n\\r\\n\(body)'"]
    }

    /// Runs `count` GETs one after another on a fresh loop; returns each one's status and body
    /// (or its error) and the children's pids.
    static func get(_ command: [String], count: Int) async throws -> (results: [String], pids: [Int32]) {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let pids = Mutex<[Int32]>([])
        let results: [String] = try await withCheckedThrowingContinuation { continuation in
            loop.execute { reactor in
                let client = HTTPClient(reactor: reactor, endpoint: .command(command), host: "docker", maxConnections: 1)
                client.onSpawn = { pid in pids.withLock { $0.append(pid) } }
                var results: [String] = []
                func next() {
                    guard results.count < count else {
                        withExtendedLifetime(client) {}
                        return continuation.resume(returning: results)
                    }
                    var status = 0
                    var body: [UInt8] = []
                    client.execute(HTTPRequestHead(method: .get, target: "/_ping"), timeout: .seconds(10), handler: HTTPResponseHandler(
                        head: { status = $0.status }, body: { body += $0 },
                        end: { error in
                            results.append(error.map { "error: \($0)" } ?? "\(status) \(String(decoding: body, as: UTF8.self))")
                            next()
                        }))
                }
                next()
            }
        }
        // Reap our children (bounded): each has answered or failed by now.
        let spawned = pids.withLock { $0 }
        for pid in spawned {
            var status: Int32 = 0
            for _ in 0..<500 where waitpid(pid, &status, WNOHANG) == 0 { usleep(10_000) }
        }
        return (results, spawned)
    }

    @Test func getOverAChildsPipes_oneChildPerConnection() async throws {
        let (results, pids) = try await Self.get(Self.server("OK"), count: 2)
        #expect(results == ["200 OK", "200 OK"])
        #expect(pids.count == 2 && Set(pids).count == 2, "Connection: close, so one child each: \(pids)")
    }

    @Test func childThatExitsWithoutAnswering_isAnErrorForThatRequest() async throws {
        let (results, _) = try await Self.get(["/bin/sh", "-c", "exit 3"], count: 1)
        #expect(results.count == 1 && results[0].hasPrefix("error:"), "\(results)")
    }

    @Test func missingCommand_isAnErrorNamingIt() async throws {
        let (results, pids) = try await Self.get(["/nonexistent/ganger-no-such-command"], count: 1)
        #expect(results.count == 1 && results[0].contains("posix_spawnp"), "\(results)")
        #expect(pids.isEmpty)
    }

    @Test func childHasNoneOfOurDescriptorsButItsPipes() async throws {
        // The child lists its open fds: 0, 1, 2 and the one `ls` opens itself, nothing of ours.
        let script = "fds=$(ls /proc/self/fd | tr '\\n' ' '); while IFS= read -r line; do [ \"$line\" = \"$(printf '\\r')\" ] && break; done; "
            + "printf 'HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n%s' ${#fds} \"$fds\""
        let (results, _) = try await Self.get(["/bin/sh", "-c", script], count: 1)
        let fds = results.first.map { $0.dropFirst(4).split(separator: " ").compactMap { Int($0) } } ?? []
        #expect(fds.filter { $0 > 3 }.isEmpty, "the child inherited more than its stdio: \(results)")
    }
}
