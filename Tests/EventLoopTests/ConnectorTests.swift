import Glibc
import Testing
@testable import EventLoop
import TestSupport

private enum Outcome: Sendable, Equatable {
    case connected(SocketAddress)
    case refused
    case timedOut
    case other(String)
}

private func connect(_ loop: ReactorThread, to address: SocketAddress, timeout: Duration = .seconds(5)) async throws -> Outcome {
    try await withCheckedThrowingContinuation { continuation in
        loop.execute { reactor in
            Connector.connect(reactor: reactor, to: address, timeout: timeout) { result in
                switch consume result {
                case let .connected(fd):
                    let peer = (try? peerAddress(fd.rawValue)) ?? .unix(path: "?")
                    fd.close()
                    continuation.resume(returning: .connected(peer))
                case let .failed(error):
                    switch error.reason {
                    case .timedOut: continuation.resume(returning: .timedOut)
                    case _ where error.isRefused: continuation.resume(returning: .refused)
                    default: continuation.resume(returning: .other(error.description))
                    }
                }
            }
        }
    }
}

/// Connects with `directOnly` and returns the socket's SO_DONTROUTE (nil: the connect failed).
private func dontRoute(_ loop: ReactorThread, to address: SocketAddress, directOnly: Bool) async throws -> Int32? {
    try await withCheckedThrowingContinuation { continuation in
        loop.execute { reactor in
            Connector.connect(reactor: reactor, to: address, timeout: .seconds(5), directOnly: directOnly) { result in
                switch consume result {
                case let .connected(fd):
                    let value = try? Socket.option(fd.rawValue, level: SOL_SOCKET, name: SO_DONTROUTE)
                    fd.close()
                    continuation.resume(returning: value)
                case .failed:
                    continuation.resume(returning: nil)
                }
            }
        }
    }
}

private func peerAddress(_ fd: CInt) throws -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) } }
    return SocketAddress(storage: storage)
}

@Suite struct ConnectorAndListenerTests {
    // A local daemon's container is reached directly or not at all (`LaunchIO`): the option is
    // on the socket the relay then uses, and an address on this host still connects. (That the
    // kernel then refuses a destination behind a gateway with ENETUNREACH was checked in a
    // network namespace of its own; docs/scheduling.md.)
    @Test func directOnly_setsSODontRoute_andALocalAddressStillConnects() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let listener = LoopBox<Listener?>(nil)
        let address = try await loop.run { reactor in
            listener.value = try Listener(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0)) { fd, _ in fd.close() }
            return listener.value!.address
        }
        #expect(try await dontRoute(loop, to: address, directOnly: true) == 1)
        #expect(try await dontRoute(loop, to: address, directOnly: false) == 0)
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func listener_acceptsIPv4AndIPv6_andConnectorReachesIt(host: String) async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let peers = LoopBox<[SocketAddress]>([])
        let listener = LoopBox<Listener?>(nil)
        let address = try await loop.run { reactor in
            listener.value = try Listener(reactor: reactor, address: try SocketAddress(host: host, port: 0)) { fd, peer in
                peers.value.append(peer)
                fd.close()
            }
            return listener.value!.address
        }
        #expect(address.port != 0)
        #expect(try await connect(loop, to: address) == .connected(address))
        #expect(try await loop.wait { _ in peers.value.count == 1 })
        let peer = try await loop.run { _ in peers.value[0] }
        switch (peer, host) {
        case (.v4("127.0.0.1", _), "127.0.0.1"), (.v6("::1", _), "::1"): break
        default: Issue.record("unexpected peer \(peer)")
        }
        try await loop.run { _ in listener.value?.close() }
    }

    @Test func listener_handedOver_sendsEveryLaterConnectionToTheNewHandler_onTheSameSocket() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let owners = LoopBox<[String]>([])
        let listener = LoopBox<Listener?>(nil)
        let address = try await loop.run { reactor in
            listener.value = try Listener(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0)) { fd, _ in
                owners.value.append("first")
                fd.close()
            }
            return listener.value!.address
        }
        #expect(try await connect(loop, to: address) == .connected(address))
        #expect(try await loop.wait { _ in owners.value.count == 1 })
        // A client waiting in the backlog while the owner changes goes to the new owner too:
        // connected (by the kernel) on the loop thread, so the loop cannot accept it before.
        let waiting = try await loop.run { _ in
            let fd = try BlockingSocket.connect(to: address)
            listener.value?.handOver { fd, _ in
                owners.value.append("second")
                fd.close()
            }
            return fd
        }
        defer { close(waiting) }
        #expect(try await connect(loop, to: address) == .connected(address))
        #expect(try await loop.wait { _ in owners.value.count == 3 })
        #expect(try await loop.run { _ in owners.value } == ["first", "second", "second"])
        #expect(try await loop.run { _ in listener.value?.address } == address)
        try await loop.run { _ in listener.value?.close() }
    }

    /// The connected socket comes out of the connector still in the loop's epoll set
    /// (`Reactor.park`): its next owner on the loop registers it (one MOD, no DEL and ADD) and
    /// hears what the peer sent, including bytes that arrived before.
    @Test func connector_handsItsSocketOver_theNextRegistrationHearsThePeer() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let heard = LoopBox<[UInt8]>([])
        let listener = LoopBox<Listener?>(nil)
        let owned = LoopBox<(FileDescriptorBox, Registration)?>(nil)
        let address = try await loop.run { reactor in
            listener.value = try Listener(reactor: reactor, address: try SocketAddress(host: "127.0.0.1", port: 0)) { fd, _ in
                _ = write(fd.rawValue, "hi", 2)
                fd.close()
            }
            return listener.value!.address
        }
        try await loop.run { reactor in
            _ = Connector.connect(reactor: reactor, to: address, timeout: .seconds(5)) { result in
                guard case let .connected(fd) = consume result else {
                    Issue.record("not connected")
                    return
                }
                let raw = fd.rawValue
                do {
                    let registration = try reactor.register(raw, interest: .readable) { _ in
                        var buffer = [UInt8](repeating: 0, count: 16)
                        let n = read(raw, &buffer, 16)
                        if n > 0 { heard.value += buffer[..<n] }
                    }
                    owned.value = (FileDescriptorBox(fd), registration)
                } catch {
                    Issue.record("register after connect: \(error)")
                    fd.close()
                }
            }
        }
        #expect(try await loop.wait { _ in heard.value == Array("hi".utf8) })
        try await loop.run { reactor in
            if let (box, registration) = owned.value.take() {
                reactor.deregister(registration)
                box.close()
            }
            listener.value?.close()
        }
    }

    @Test func connector_toAClosedPort_failsRefused() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let (fd, address) = try BlockingSocket.listen()
        close(fd)  // the port is now free: nothing listens there
        #expect(try await connect(loop, to: address) == .refused)
    }

    @Test func connector_whenSYNsAreDropped_timesOut() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        // A listener that never accepts and has a full backlog drops further SYNs on loopback.
        let (fd, address) = try BlockingSocket.listen(backlog: 0)
        defer { close(fd) }
        var fillers: [CInt] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<4 {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = try address.withSockAddr { sa, len in Glibc.connect(s, sa, len) }
            fillers.append(s)
        }
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        #expect(try await connect(loop, to: address, timeout: .milliseconds(300)) == .timedOut)
        #expect(ContinuousClock.now - started >= .milliseconds(250))
    }

    @Test func connector_toAUnixSocket_connects() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let path = "/tmp/ganger-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let accepted = LoopBox(0)
        let listener = LoopBox<Listener?>(nil)
        try await loop.run { reactor in
            listener.value = try Listener(reactor: reactor, address: .unix(path: path)) { fd, _ in
                accepted.value += 1
                fd.close()
            }
        }
        #expect(try await connect(loop, to: .unix(path: path)) != .refused)
        #expect(try await loop.wait { _ in accepted.value == 1 })
        try await loop.run { _ in listener.value?.close() }
    }

    @Test func socketAddress_parsesAndRejects() throws {
        #expect(try SocketAddress(parsing: "127.0.0.1:80") == .v4(host: "127.0.0.1", port: 80))
        #expect(try SocketAddress(parsing: "[::1]:5454") == .v6(host: "::1", port: 5454))
        #expect(try SocketAddress(parsing: "unix:///var/run/docker.sock") == .unix(path: "/var/run/docker.sock"))
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "localhost:80") }
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "1.2.3.4:99999") }
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "[::1]80") }
    }

    /// Found by `make fuzz` (address): inet_pton stops at a NUL, so "::\0…" passed as "::"
    /// with the junk kept in the host, and the printed address read back as another one.
    @Test func socketAddress_hostWithANulByte_isRefused() {
        // The fuzzer's input, shortened: "::\0\0:4]h://dIn@222:80".
        #expect(throws: AddressError.self) { try SocketAddress(parsing: "::\u{0}\u{0}:4]h://dIn@222:80") }
        #expect(throws: AddressError.self) { try SocketAddress(host: "127.0.0.1\u{0}evil", port: 80) }
    }
}
