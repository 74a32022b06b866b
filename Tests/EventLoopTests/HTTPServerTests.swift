import Glibc
import Testing
@testable import EventLoop
import TestSupport

/// A server on a loop thread of its own; `stop()` closes it on the loop, then ends the thread.
private final class TestServer: Sendable {
    let loop: ReactorThread
    let address: SocketAddress
    private let server: LoopBox<HTTPServer?>

    init(configuration: HTTPServer.Configuration = .init(), router: @escaping @Sendable (HTTPRequestHead) -> HTTPServerResponse = testRouter) async throws {
        loop = try ReactorThread()
        let box = LoopBox<HTTPServer?>(nil)
        server = box
        address = try await loop.run { reactor in
            box.value = try HTTPServer(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0),
                                       configuration: configuration, router: router)
            return box.value!.address
        }
    }

    func connectionCount() async throws -> Int {
        let box = server
        return try await loop.run { _ in box.value?.connectionCount ?? -1 }
    }

    func stop() async throws {
        let box = server
        try await loop.run { _ in
            box.value?.close()
            box.value = nil
        }
        loop.stop()
    }
}

@Sendable private func testRouter(_ head: HTTPRequestHead) -> HTTPServerResponse {
    switch head.target {
    case "/": .plain(200, "hello")
    case "/big": HTTPServerResponse(status: 200, body: [UInt8](repeating: UInt8(ascii: "x"), count: 10_000))
    default: .plain(404, "not found: \(head.target)")
    }
}

/// One response as the client saw it.
private struct Answer {
    var head: HTTPResponseHead
    var body: String
    var status: Int { head.status }
}

/// A blocking test client: sends raw bytes, reads whole responses with `HTTPResponseParser`.
/// Used by one thread at a time (handed to `onThread` and awaited), hence unchecked.
private final class Client: @unchecked Sendable {
    let fd: CInt
    private var parser = HTTPResponseParser()
    private var ready: [Answer] = []
    private var partial: Answer?

    init(_ address: SocketAddress, from source: String? = nil, receiveTimeout: Int = 5) throws {
        fd = try BlockingSocket.connect(to: address, from: source)
        BlockingSocket.setReceiveTimeout(fd, seconds: receiveTimeout)
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) throws { try BlockingSocket.sendAll(fd, Array(text.utf8)) }

    /// Reads until `count` responses are complete; `methods` lists the requests' methods in
    /// order where HEAD matters.
    func read(_ count: Int = 1, methods: [HTTPMethod] = []) throws -> [Answer] {
        for method in methods { parser.expect(method: method) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ready.count < count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            try BlockingSocket.check(n, "recv")
            if n == 0 { throw BlockingSocket.Failure(description: "EOF after \(ready.count) of \(count) responses") }
            for event in try parser.feed(Array(buffer[0..<n])) {
                switch event {
                case let .head(head): partial = Answer(head: head, body: "")
                case let .body(bytes): partial?.body += String(decoding: bytes, as: UTF8.self)
                case .end:
                    ready.append(partial!)
                    partial = nil
                }
            }
        }
        let result = Array(ready.prefix(count))
        ready.removeFirst(count)
        return result
    }

    /// Whether the server closed: recv returns 0 (or a reset) before `seconds` pass.
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            return n == 0 || (n < 0 && errno == ECONNRESET)
        }
    }
}

@Suite struct HTTPServerTests {
    @Test func get_knownPath_200_unknownPath_404_fromTheRouter() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let ok = try client.read()[0]
        #expect(ok.status == 200)
        #expect(ok.body == "hello\n")
        #expect(ok.head.headers["content-length"] == "6")
        #expect(ok.head.headers["connection"] == "keep-alive")
        try client.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.read()[0].status == 404)
        try await server.stop()
    }

    @Test func malformedRequestLine_400_thenClose() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("HELLO THERE\r\n\r\n")
        let answer = try client.read()[0]
        #expect(answer.status == 400)
        #expect(answer.head.headers["connection"] == "close")
        #expect(client.isClosedByPeer())
        try await server.stop()
    }

    @Test func otherMethods_405_withAllow_andTheConnectionStays() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        let answer = try client.read()[0]
        #expect(answer.status == 405)
        #expect(answer.head.headers["allow"] == "GET, HEAD")
        try client.send("DELETE / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.read(2).map(\.status) == [405, 200])
        try await server.stop()
    }

    @Test func oversizedHead_431_oversizedBody_413() async throws {
        let server = try await TestServer()
        let big = try Client(server.address)
        try big.send("GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + String(repeating: "a", count: 10_000) + "\r\n\r\n")
        #expect(try big.read()[0].status == 431)
        #expect(big.isClosedByPeer())
        let body = try Client(server.address)
        try body.send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        #expect(try body.read()[0].status == 413)
        #expect(body.isClosedByPeer())
        try await server.stop()
    }

    @Test func keepAlive_twoRequestsOnOneConnection_thenConnectionCloseIsHonoured() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.read()[0].status == 200)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let last = try client.read()[0]
        #expect(last.status == 200)
        #expect(last.head.headers["connection"] == "close")
        #expect(client.isClosedByPeer())
        try await server.stop()
    }

    @Test func http10_withoutKeepAlive_isClosedAfterTheAnswer() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("GET / HTTP/1.0\r\n\r\n")
        #expect(try client.read()[0].status == 200)
        #expect(client.isClosedByPeer())
        try await server.stop()
    }

    @Test func pipelined_answersInOrder_headHasNoBody() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        let answers = try client.read(4, methods: [.get, .head, .get, .get])
        #expect(answers.map(\.status) == [200, 200, 404, 200])
        #expect(answers[1].head.headers["content-length"] == "10000")
        #expect(answers[1].body == "")
        #expect(answers[3].body.utf8.count == 10_000)
        try await server.stop()
    }

    @Test func pipelined_requestsBeforeAMalformedOne_areAnsweredFirst() async throws {
        let server = try await TestServer()
        let client = try Client(server.address)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n")
        #expect(try client.read(3).map(\.status) == [200, 404, 400])
        #expect(client.isClosedByPeer())
        try await server.stop()
    }

    @Test func manyPipelinedRequests_fromAClientThatReadsLate_allAnswered() async throws {
        // 2000 answers of 10 kB are 20 MB: far above the output high water. The server must
        // stop reading, wait for the client, and lose nothing.
        let server = try await TestServer()
        let client = try Client(server.address, receiveTimeout: 20)
        let requests = String(repeating: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", count: 2000)
        let sender = Task { try await onThread { try BlockingSocket.sendAll(client.fd, Array(requests.utf8)) } }
        try await Task.sleep(for: .milliseconds(200))
        let answers = try await onThread { [client] in try client.read(2000).map { $0.body.utf8.count } }
        try await sender.value
        #expect(answers.count == 2000 && answers.allSatisfy { $0 == 10_000 })
        try await server.stop()
    }

    @Test func slowClient_thatNeverFinishesItsHead_isClosedAfterTheHeadTimeout() async throws {
        let server = try await TestServer(configuration: .init(headTimeout: .milliseconds(300)))
        let client = try Client(server.address)
        let start = ContinuousClock.now
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n")
        try await Task.sleep(for: .milliseconds(100))
        try client.send("X-Drip: 1\r\n")  // progress does not extend the deadline
        let answer = try await onThread { [client] in try client.read()[0] }
        #expect(answer.status == 408)
        #expect(client.isClosedByPeer())
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(290) && elapsed < .seconds(3))
        #expect(try await server.connectionCount() == 0)
        try await server.stop()
    }

    @Test func silentConnection_isClosedAfterTheHeadTimeout() async throws {
        let server = try await TestServer(configuration: .init(headTimeout: .milliseconds(200)))
        let client = try Client(server.address)
        let closed = try await onThread { [client] in client.isClosedByPeer() }
        #expect(closed)
        try await server.stop()
    }

    @Test func idleKeepAliveConnection_isClosedAfterTheIdleTimeout() async throws {
        let server = try await TestServer(configuration: .init(headTimeout: .seconds(5), idleTimeout: .milliseconds(300)))
        let client = try Client(server.address)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.read()[0].status == 200)
        let start = ContinuousClock.now
        let closed = try await onThread { [client] in client.isClosedByPeer() }
        #expect(closed)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(3))
        try await server.stop()
    }

    @Test func hostileClients_doNotStallAnotherClientsRequest() async throws {
        let server = try await TestServer()
        // One dribbles a head, one pipelines answers it never reads, one sends garbage.
        let slow = try Client(server.address)
        try slow.send("GET / HTTP/1.1\r\nHo")
        let greedy = try Client(server.address)
        let flood = String(repeating: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", count: 500)
        let greedyFD = greedy.fd
        let flooding = Task { try? await onThread { try? BlockingSocket.sendAll(greedyFD, Array(flood.utf8)) } }
        let garbage = try Client(server.address)
        try garbage.send(String(repeating: "\u{1}\u{2}\u{3}", count: 1000))
        try await Task.sleep(for: .milliseconds(100))

        let start = ContinuousClock.now
        let polite = try Client(server.address)
        try polite.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try polite.read()[0].status == 200)
        #expect(ContinuousClock.now - start < .seconds(1))
        try await server.stop()
        _ = await flooding.value
        withExtendedLifetime((slow, greedy, garbage)) {}
    }

    @Test func beyondMaxConnections_newOnesAreClosedAtOnce() async throws {
        let server = try await TestServer(configuration: .init(maxConnections: 2))
        let a = try Client(server.address)
        let b = try Client(server.address)
        #expect(try await server.loop.wait { _ in true })
        try a.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try a.read()[0].status == 200)
        #expect(try await server.connectionCount() == 2)
        let c = try Client(server.address)
        #expect(c.isClosedByPeer())
        try b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try b.read()[0].status == 200)
        try await server.stop()
    }

    @Test func beyondMaxConnectionsPerAddress_thatAddressIsClosedAtOnce_othersAreServed() async throws {
        let server = try await TestServer(configuration: .init(maxConnections: 10, maxConnectionsPerAddress: 2))
        var a: Client? = try Client(server.address)
        let b = try Client(server.address)
        try a?.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try a?.read()[0].status == 200)
        try b.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try b.read()[0].status == 200)
        // A third from 127.0.0.1 is over its cap; one from 127.0.0.2 is not.
        let c = try Client(server.address)
        #expect(c.isClosedByPeer())
        let other = try Client(server.address, from: "127.0.0.2")
        try other.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try other.read()[0].status == 200)
        #expect(try await server.connectionCount() == 3)
        // A closed connection gives its address a place back.
        a = nil
        let freed = try await {
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                if try await server.connectionCount() == 2 { return true }
                try await Task.sleep(for: .milliseconds(10))
            }
            return false
        }()
        #expect(freed)
        let d = try Client(server.address)
        try d.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try d.read()[0].status == 200)
        withExtendedLifetime((b, c)) {}
        try await server.stop()
    }

    @Test func clientThatVanishesMidRequest_isForgotten() async throws {
        let server = try await TestServer()
        do {
            let client = try Client(server.address)
            try client.send("GET / HTTP/1.1\r\nHost:")
        }
        #expect(try await server.loop.wait { _ in true })
        let drained = try await {
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                if try await server.connectionCount() == 0 { return true }
                try await Task.sleep(for: .milliseconds(10))
            }
            return false
        }()
        #expect(drained)
        try await server.stop()
    }
}
