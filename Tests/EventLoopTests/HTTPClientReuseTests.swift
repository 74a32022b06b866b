import Glibc
import Synchronization
import Testing
import TestSupport
@testable import EventLoop

/// A keep-alive HTTP server on loopback, on a thread of its own, that answers the Nth request
/// it reads (counted over all connections) with `script(N)`'s bytes, sent in one write.
private final class ScriptedServer: Sendable {
    let address: SocketAddress
    private let listenFD: CInt
    private struct State {
        var stop = false
        var stopped = false
        var accepted = 0
    }
    private let state = Mutex(State())

    var acceptedCount: Int { state.withLock { $0.accepted } }

    init(_ script: @escaping @Sendable (Int) -> String) throws {
        (listenFD, address) = try BlockingSocket.listen()
        startThread(ThreadJob { [self] in serve(script) })
    }

    func stop() {
        state.withLock { $0.stop = true }
        let deadline = ContinuousClock.now + .seconds(5)
        while !state.withLock({ $0.stopped }) && ContinuousClock.now < deadline { usleep(5_000) }
        close(listenFD)
    }

    private func serve(_ script: @Sendable (Int) -> String) {
        var connections: [(fd: CInt, received: [UInt8])] = []
        var requests = 0
        defer {
            for connection in connections { close(connection.fd) }
            state.withLock { $0.stopped = true }
        }
        // Bounded: a test that forgets `stop` still ends this thread within a minute.
        let deadline = ContinuousClock.now + .seconds(60)
        while !state.withLock({ $0.stop }) && ContinuousClock.now < deadline {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
                + connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard Glibc.poll(&fds, nfds_t(fds.count), 20) > 0 else { continue }
            if fds[0].revents != 0, let fd = try? BlockingSocket.accept(listenFD) {
                state.withLock { $0.accepted += 1 }
                connections.append((fd, []))
            }
            // Those polled: a connection accepted just now is at the end, polled next time.
            for index in (0..<(fds.count - 1)).reversed() where fds[index + 1].revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = chunk.withUnsafeMutableBytes { recv(connections[index].fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else {
                    close(connections[index].fd)
                    connections.remove(at: index)
                    continue
                }
                connections[index].received += chunk[0..<n]
                // One answer per complete request head (the client sends GETs without a body).
                while let end = connections[index].received.firstRange(of: Array("\r\n\r\n".utf8)) {
                    connections[index].received.removeSubrange(..<end.upperBound)
                    requests += 1
                    try? BlockingSocket.sendAll(connections[index].fd, Array(script(requests).utf8))
                }
            }
        }
    }
}

private func response(_ body: String) -> String {
    "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
}

/// Runs GETs on one `HTTPClient` (one connection at most): `together` are queued at once,
/// then `after` more one by one; returns each one's body or error, in order.
private func get(_ server: ScriptedServer, together: Int, after: Int = 0) async throws -> [String] {
    let loop = try ReactorThread()
    defer { loop.stop() }
    return try await withCheckedThrowingContinuation { continuation in
        loop.execute { reactor in
            let client = HTTPClient(reactor: reactor, endpoint: .address(server.address), host: "test", maxConnections: 1)
            var results: [String?] = Array(repeating: nil, count: together + after)
            func run(_ index: Int, then: @escaping () -> Void) {
                var body: [UInt8] = []
                client.execute(HTTPRequestHead(method: .get, target: "/\(index)"), timeout: .seconds(5), handler: HTTPResponseHandler(
                    head: { _ in }, body: { body += $0 },
                    end: { error in
                        results[index] = error.map { "error: \($0)" } ?? String(decoding: body, as: UTF8.self)
                        then()
                    }))
            }
            func finishIfDone() {
                guard results.allSatisfy({ $0 != nil }) else { return }
                withExtendedLifetime(client) {}
                continuation.resume(returning: results.map { $0! })
            }
            func sequential(_ index: Int) {
                guard index < together + after else { return finishIfDone() }
                run(index) { sequential(index + 1) }
            }
            var pending = together
            for index in 0..<together {
                run(index) {
                    pending -= 1
                    if pending == 0 { sequential(together) }
                }
            }
            if together == 0 { sequential(0) }
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct HTTPClientReuseTests {
    @Test func bytesAfterAResponsesEnd_inTheSameRead_doNotAnswerTheNextRequest() async throws {
        // The first answer carries a second, unasked-for response right behind it.
        let server = try ScriptedServer { n in n == 1 ? response("first") + response("smuggled") : response("fresh \(n)") }
        defer { server.stop() }
        // Both queued at once: the second is sent the moment the first ends, on the same connection.
        let results = try await get(server, together: 2)
        #expect(results == ["first", "fresh 2"])
        #expect(server.acceptedCount == 2, "the connection that carried extra bytes was reused")
    }

    @Test func bytesAfterAResponsesEnd_whileIdle_closeTheConnection() async throws {
        // A partial head after the first answer: the next request must not be sent behind it.
        let server = try ScriptedServer { n in n == 1 ? response("first") + "HTTP/1.1 200 OK\r\nContent-Le" : response("fresh \(n)") }
        defer { server.stop() }
        let results = try await get(server, together: 1, after: 2)
        #expect(results == ["first", "fresh 2", "fresh 3"])
        #expect(server.acceptedCount == 2)
    }

    /// A server that reads requests and never answers (a frozen dockerd): `abort` ends the one
    /// on the connection and the one waiting for it, and fails every later request at once.
    @Test func abort_endsTheRequestInFlightAndTheWaitingOne_andEveryLaterOne() async throws {
        let server = try ScriptedServer { _ in "" }
        defer { server.stop() }
        let loop = try ReactorThread()
        defer { loop.stop() }
        let (results, before, after) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<([String], Int, Int), Error>) in
            loop.execute { reactor in
                let client = HTTPClient(reactor: reactor, endpoint: .address(server.address), host: "test", maxConnections: 1)
                var results: [String] = []
                var outstandingBefore = -1
                func run(_ index: Int, then: @escaping () -> Void = {}) {
                    client.execute(HTTPRequestHead(method: .get, target: "/\(index)"), timeout: .seconds(30), handler: HTTPResponseHandler(
                        head: { _ in }, body: { _ in },
                        end: { error in
                            results.append("\(index): \(error.map { "\($0)" } ?? "answered")")
                            then()
                        }))
                }
                run(1)
                run(2)
                // Time for the first to reach the server (the second waits for the connection).
                reactor.schedule(after: .milliseconds(300)) {
                    outstandingBefore = client.outstanding
                    client.abort()
                    run(3) {
                        withExtendedLifetime(client) {}
                        continuation.resume(returning: (results, outstandingBefore, client.outstanding))
                    }
                }
            }
        }
        #expect(before == 2)
        #expect(results == ["1: cancelled", "2: cancelled", "3: cancelled"])
        #expect(after == 0)
        #expect(server.acceptedCount == 1)
    }

    @Test func cleanKeepAliveResponses_reuseOneConnection() async throws {
        let server = try ScriptedServer { n in response("answer \(n)") }
        defer { server.stop() }
        let results = try await get(server, together: 2, after: 2)
        #expect(results == ["answer 1", "answer 2", "answer 3", "answer 4"])
        #expect(server.acceptedCount == 1)
    }
}
