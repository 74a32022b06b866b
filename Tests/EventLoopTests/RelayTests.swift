import Glibc
import Testing
@testable import EventLoop
import TestSupport
import RelayProxy

/// A relay proxy on its own loop in front of a service the test plays with blocking sockets.
private struct ProxyFixture {
    let loop: ReactorThread
    let proxy: LoopBox<RelayProxy?>
    let address: SocketAddress
    /// Whether each closed relay spliced (toService, toClient).
    let splicing: LoopBox<[Bool]>
    /// The proxy's pipe pool (and its large buffers).
    let pool: LoopBox<PipePool?>

    init(target: SocketAddress, options: Relay.Options = Relay.Options(), pool: @escaping @Sendable () -> PipePool = { PipePool() }) async throws {
        let loop = try ReactorThread()
        let box = LoopBox<RelayProxy?>(nil)
        let splicing = LoopBox<[Bool]>([])
        self.splicing = splicing
        let pools = LoopBox<PipePool?>(nil)
        self.pool = pools
        address = try await loop.run { reactor in
            pools.value = pool()
            let proxy = try RelayProxy(reactor: reactor, listen: try SocketAddress(host: "127.0.0.1", port: 0),
                                       target: target, pool: pools.value!, options: options)
            box.value = proxy
            proxy.onRelayClosed = { relay, _ in splicing.value += [relay.splicing.toService, relay.splicing.toClient] }
            return proxy.address
        }
        self.loop = loop
        proxy = box
    }

    func reasons() async throws -> [String: Int] {
        let proxy = proxy
        return try await loop.run { _ in proxy.value!.closeReasons }
    }

    /// Waits until `closed` relays ended and none is active.
    func waitClosed(_ closed: Int) async throws -> Bool {
        let proxy = proxy
        return try await loop.wait { _ in proxy.value!.closedCount >= closed && proxy.value!.activeCount == 0 }
    }

    /// The large buffers lent so far and lent now.
    func largeBuffers() async throws -> (lent: Int, inUse: Int) {
        let pool = pool
        return try await loop.run { _ in (pool.value!.largeBuffers.lent, pool.value!.largeBuffers.inUse) }
    }

    func stop() async throws {
        let proxy = proxy
        try await loop.run { _ in proxy.value!.close() }
        loop.stop()
    }
}

@Suite struct RelayTests {
    /// Both ends send at once and read at once; each direction's bytes are hashed on both sides.
    private func bidirectional(total: Int, options: Relay.Options,
                               pool: @escaping @Sendable () -> PipePool = { PipePool() }) async throws -> (ProxyFixture, [String: Int]) {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address, options: options, pool: pool)
        let client = try BlockingSocket.connect(to: fixture.address)
        defer { close(client) }
        let server = try BlockingSocket.accept(service.fd)
        defer { close(server) }

        async let clientSent = onThread { () throws -> String in
            let digest = try sendRandom(client, total: total)
            shutdown(client, Int32(SHUT_WR))
            return digest
        }
        async let serverSent = onThread { () throws -> String in
            let digest = try sendRandom(server, total: total)
            shutdown(server, Int32(SHUT_WR))
            return digest
        }
        async let clientGot = onThread { try receiveDigest(client) }
        async let serverGot = onThread { try receiveDigest(server) }

        let (toService, fromClient) = try await (serverGot, clientSent)
        let (toClient, fromServer) = try await (clientGot, serverSent)
        #expect(toService.count == total)
        #expect(toClient.count == total)
        #expect(toService.sha256 == fromClient)
        #expect(toClient.sha256 == fromServer)
        #expect(try await fixture.waitClosed(1))
        return (fixture, try await fixture.reasons())
    }

    /// The default pool: every byte spliced, no large buffer lent.
    @Test func relay_256MiBBothDirectionsAtOnce_arrivesIntact() async throws {
        let (fixture, reasons) = try await bidirectional(total: 256 << 20, options: Relay.Options())
        #expect(reasons.values.reduce(0, +) == 1)
        let splicing = fixture.splicing
        #expect(try await fixture.loop.run { _ in splicing.value } == [true, true])
        #expect(try await fixture.largeBuffers() == (0, 0))
        try await fixture.stop()
    }

    /// Large buffers on (`relay.large_buffers: 8`, the other sizes as shipped): both directions
    /// splice, turn fat after 8 MiB and copy through a large buffer from then on; every buffer
    /// is back when the relay ends.
    @Test func relay_withLargeBuffers_fatDirectionsCopy_64MiBBothWays() async throws {
        let (fixture, _) = try await bidirectional(total: 64 << 20, options: Relay.Options(),
                                                   pool: { PipePool(largeBuffers: LargeBufferPool(maxBuffers: 8)) })
        let buffers = try await fixture.largeBuffers()
        #expect(buffers.lent >= 2, "both directions are fat: each borrowed a large buffer")
        #expect(buffers.inUse == 0)
        try await fixture.stop()
    }

    /// Two fat directions and one small large buffer between them: they take turns (a pipe
    /// when the buffer is out), each switching conduit only when empty; every byte arrives in
    /// order and the buffer is back at the end.
    @Test func relay_twoFatDirections_shareOneLargeBuffer_everyByteInOrder() async throws {
        let (fixture, _) = try await bidirectional(total: 32 << 20, options: Relay.Options(), pool: {
            PipePool(pipeSize: 64 << 10, largeBuffers: LargeBufferPool(maxBuffers: 1, bufferSize: 64 << 10, fatAfter: 1 << 20))
        })
        let buffers = try await fixture.largeBuffers()
        #expect(buffers.lent >= 2, "the buffer went back and was lent again")
        #expect(buffers.inUse == 0)
        try await fixture.stop()
    }

    @Test func relay_forcedCopyFallback_32MiBBothDirections_arrivesIntact() async throws {
        let (fixture, _) = try await bidirectional(total: 32 << 20, options: Relay.Options(forceCopy: true))
        let splicing = fixture.splicing
        #expect(try await fixture.loop.run { _ in splicing.value } == [false, false])
        try await fixture.stop()
    }

    @Test func relay_whenClientHalfCloses_serviceStillAnswers() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address)
        let request = randomBytes(4 << 20)
        let answer = randomBytes(4 << 20)
        async let served: Int = onThread {
            let fd = try BlockingSocket.accept(service.fd)
            defer { close(fd) }
            let got = try BlockingSocket.receiveAll(fd)  // the service answers only after EOF
            try BlockingSocket.sendAll(fd, answer)
            return got == request ? got.count : -1
        }
        let received: [UInt8] = try await onThread {
            let fd = try BlockingSocket.connect(to: fixture.address)
            defer { close(fd) }
            try BlockingSocket.sendAll(fd, request)
            shutdown(fd, Int32(SHUT_WR))
            return try BlockingSocket.receiveAll(fd)
        }
        #expect(try await served == request.count)
        #expect(received == answer)
        #expect(try await fixture.waitClosed(1))
        #expect(try await fixture.reasons() == ["client closed": 1])
        try await fixture.stop()
    }

    /// The service reads nothing while the client streams: the relay's pipe fills, the service
    /// socket blocks, and the client's arrivals only wake the relay for nothing until it stops
    /// listening for them. Once the service reads, its reads come back on: every byte arrives.
    /// A direction turns fat while its pipe still holds bytes (the relay's end toward the
    /// service takes 16 KiB at a time, so drains leave the pipe part full): the large buffer
    /// must wait until the pipe is empty, or what the pipe holds is dropped. Every byte
    /// arrives, in order. (Unix socket pairs: their send buffer bounds what is in flight.)
    @Test func relay_directionTurningFatWithBytesInFlight_keepsThemInOrder() async throws {
        let (clientInner, clientOuter) = try socketPair()
        let (serviceInner, serviceOuter) = try socketPair()
        defer {
            close(clientOuter)
            close(serviceOuter)
        }
        for fd in [clientOuter, serviceOuter] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) }
        var small: CInt = 16 << 10
        setsockopt(serviceInner, SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<CInt>.size))
        let loop = try ReactorThread()
        defer { loop.stop() }
        let relay = LoopBox<Relay?>(nil)
        let pool = LoopBox(PipePool(pipeSize: 1 << 20,
                                    largeBuffers: LargeBufferPool(maxBuffers: 1, bufferSize: 64 << 10, fatAfter: 256 << 10)))
        try await loop.run { reactor in
            relay.value = try Relay(reactor: reactor, pool: pool.value, client: FileDescriptor(taking: clientInner),
                                    service: FileDescriptor(taking: serviceInner)) { _, _ in }
        }
        let total = 16 << 20
        async let sent = onThread { () throws -> String in
            let digest = try sendRandom(clientOuter, total: total)
            shutdown(clientOuter, Int32(SHUT_WR))
            return digest
        }
        let got = try await onThread { try receiveDigest(serviceOuter) }
        #expect(got.count == total)
        #expect(got.sha256 == (try await sent))
        try await loop.run { _ in relay.value?.close("test over") }
        let (inUse, lent) = try await loop.run { _ in (pool.value.largeBuffers.inUse, pool.value.largeBuffers.lent) }
        #expect(lent > 0)
        #expect(inUse == 0)
    }

    /// A fat stream copying raises its source's low-water mark (a quarter of the buffer), so a
    /// pause with fewer bytes queued would wake no one: the relay's quiet check lowers the mark
    /// and the bytes arrive. Without it the 100 KiB after the first burst never would.
    @Test func relay_fatStreamPausingBelowItsLowWatermark_stillDeliversWhatCame() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address, pool: {
            PipePool(largeBuffers: LargeBufferPool(maxBuffers: 1, bufferSize: 1 << 20, fatAfter: 0))
        })
        let client = try BlockingSocket.connect(to: fixture.address)
        defer { close(client) }
        let server = try BlockingSocket.accept(service.fd)
        defer { close(server) }
        BlockingSocket.setReceiveTimeout(server, seconds: 10)
        let burst = randomBytes(2 << 20)
        try BlockingSocket.sendAll(client, burst)
        #expect(try await onThread { try BlockingSocket.receive(server, count: burst.count) } == burst)
        let tail = randomBytes(100 << 10)
        try BlockingSocket.sendAll(client, tail)
        #expect(try await onThread { try BlockingSocket.receive(server, count: tail.count) } == tail)
        let proxy = fixture.proxy
        #expect(try await fixture.loop.run { _ in proxy.value!.activeRelays.first?.lowWatermarksLowered ?? 0 } >= 1)
        shutdown(client, Int32(SHUT_WR))
        shutdown(server, Int32(SHUT_WR))
        #expect(try await fixture.waitClosed(1))
        try await fixture.stop()
    }

    /// Run with a pipe and with a large buffer as the conduit that fills (`fatAfter: 0`).
    @Test(arguments: [false, true])
    func relay_whenServiceStallsWithFullConduit_clientReadsAreMuted_thenEveryByteArrives(largeBuffer: Bool) async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address, pool: {
            PipePool(largeBuffers: LargeBufferPool(maxBuffers: largeBuffer ? 1 : 0, fatAfter: 0))
        })
        let client = try BlockingSocket.connect(to: fixture.address)
        defer { close(client) }
        let server = try BlockingSocket.accept(service.fd)
        defer { close(server) }
        let total = 48 << 20
        async let sent = onThread { () throws -> String in
            let digest = try sendRandom(client, total: total)
            shutdown(client, Int32(SHUT_WR))
            return digest
        }
        let proxy = fixture.proxy
        #expect(try await fixture.loop.wait { _ in (proxy.value!.activeRelays.first?.readMutes ?? 0) > 0 })
        let held = try await fixture.loop.run { _ in proxy.value!.activeRelays.first.map { ($0.pipesHeld, $0.largeBuffersHeld) } }
        #expect(held.map { largeBuffer ? $0.1 == 1 : $0.0 >= 1 } == true, "the stalled conduit: \(String(describing: held))")
        let got = try await onThread { try receiveDigest(server) }
        #expect(got.count == total)
        #expect(got.sha256 == (try await sent))
        shutdown(server, Int32(SHUT_WR))
        #expect(try await fixture.waitClosed(1))
        #expect(try await fixture.reasons() == ["client closed": 1])
        try await fixture.stop()
    }

    /// The service reads in bursts with stalls between: four stalls, then the rest; every byte
    /// arrives in order, the relay mutes the client's reads in a stall and unmutes them after,
    /// and the answer the other way still gets through.
    ///
    /// A stall mutes only after a useless wake-up (a segment arriving while the pipe is full):
    /// when the client's socket buffer filled before the pipe did, no segment comes and nothing
    /// needs muting. Which happens first is the kernel's timing, so a stall waits up to 3 s for
    /// a mute and the test asks for one in at least one of the four (each stall used to require
    /// one and failed once in a quiet run).
    @Test func relay_repeatedStalls_mutedAndUnmutedEachTime_everyByteArrives() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address)
        let client = try BlockingSocket.connect(to: fixture.address)
        defer { close(client) }
        let server = try BlockingSocket.accept(service.fd)
        defer { close(server) }
        BlockingSocket.setReceiveTimeout(server, seconds: 30)
        let total = 96 << 20
        async let sent = onThread { () throws -> String in
            let digest = try sendRandom(client, total: total)
            shutdown(client, Int32(SHUT_WR))
            return digest
        }
        let proxy = fixture.proxy
        let digest = SHA256Digest()
        var count = 0
        var mutedStalls = 0
        var seen = 0
        for _ in 1...4 {
            let counted = seen
            if try await fixture.loop.wait(timeout: .seconds(3), until: { _ in (proxy.value!.activeRelays.first?.readMutes ?? 0) > counted }) {
                mutedStalls += 1
            }
            seen = try await fixture.loop.run { _ in proxy.value!.activeRelays.first?.readMutes ?? 0 }
            let burst = try await onThread { try BlockingSocket.receive(server, count: 12 << 20) }
            burst.withUnsafeBytes { digest.update($0) }
            count += burst.count
        }
        let rest = try await onThread { try BlockingSocket.receiveAll(server) }
        rest.withUnsafeBytes { digest.update($0) }
        count += rest.count
        #expect(count == total)
        #expect(digest.finish() == (try await sent))
        #expect(mutedStalls >= 1, "no stall of four muted the client's reads")
        try BlockingSocket.sendAll(server, Array("done".utf8))
        shutdown(server, Int32(SHUT_WR))
        #expect(try await onThread { try BlockingSocket.receiveAll(client) } == Array("done".utf8))
        #expect(try await fixture.waitClosed(1))
        #expect(try await fixture.reasons() == ["client closed": 1])
        try await fixture.stop()
    }

    @Test func relay_whenPipePoolIsExhausted_copiesInstead() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let starved = try await ProxyFixture(target: service.address, pool: { PipePool(maxPipes: 0) })
        let client = try BlockingSocket.connect(to: starved.address)
        let server = try BlockingSocket.accept(service.fd)
        let payload = randomBytes(1 << 20)
        try BlockingSocket.sendAll(client, payload)
        shutdown(client, Int32(SHUT_WR))
        #expect(try await onThread { try BlockingSocket.receiveAll(server) } == payload)
        close(server)
        _ = try await onThread { try BlockingSocket.receiveAll(client) }
        close(client)
        #expect(try await starved.waitClosed(1))
        let splicing = starved.splicing
        #expect(try await starved.loop.run { _ in splicing.value } == [false, false])
        try await starved.stop()
    }

    @Test func relay_whenServiceClosesFirst_reasonIsServiceClosed() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address)
        async let served: Void = onThread {
            let fd = try BlockingSocket.accept(service.fd)
            try BlockingSocket.sendAll(fd, Array("bye\n".utf8))
            close(fd)
        }
        let got: [UInt8] = try await onThread {
            let fd = try BlockingSocket.connect(to: fixture.address)
            defer { close(fd) }
            let bytes = try BlockingSocket.receiveAll(fd)
            return bytes
        }
        try await served
        #expect(got == Array("bye\n".utf8))
        #expect(try await fixture.waitClosed(1))
        #expect(try await fixture.reasons() == ["service closed": 1])
        try await fixture.stop()
    }

    @Test func relay_thousandConcurrentConnections_64KiBEchoEach() async throws {
        let echoLoop = try ReactorThread()
        let echo = LoopBox<EchoServer?>(nil)
        let echoAddress = try await echoLoop.run { reactor in
            echo.value = try EchoServer(reactor: reactor)
            return echo.value!.address
        }
        let fixture = try await ProxyFixture(target: echoAddress)
        let count = 1000
        let failures: Int = try await onThread {
            var fds: [CInt] = []
            defer { fds.forEach { close($0) } }
            var payloads: [[UInt8]] = []
            for i in 0..<count {
                let fd = try BlockingSocket.connect(to: fixture.address)
                fds.append(fd)
                BlockingSocket.setReceiveTimeout(fd, seconds: 30)
                var payload = randomBytes(64 << 10)
                payload[0] = UInt8(i & 0xff)
                payloads.append(payload)
            }
            // All thousand are open at once; each sends 64 KiB, then all read their echo back.
            for (fd, payload) in zip(fds, payloads) { try BlockingSocket.sendAll(fd, payload) }
            var failures = 0
            for (fd, payload) in zip(fds, payloads) where try BlockingSocket.receive(fd, count: payload.count) != payload {
                failures += 1
            }
            return failures
        }
        #expect(failures == 0)
        #expect(try await fixture.waitClosed(count))
        #expect(try await fixture.reasons() == ["client closed": count])
        try await fixture.stop()
        #expect(try await echoLoop.run { _ in echo.value!.openCount } == 0)
        try await echoLoop.run { _ in echo.value!.close() }
        echoLoop.stop()
    }

    @Test func relay_whenServiceResetsMidTransfer_closesBothWithReset_andSparesOthers() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address)
        let (victim, bystander) = try await onThread { () throws -> (CInt, CInt) in
            (try BlockingSocket.connect(to: fixture.address), try BlockingSocket.connect(to: fixture.address))
        }
        defer { close(victim); close(bystander) }
        let (victimServer, bystanderServer) = try await onThread { () throws -> (CInt, CInt) in
            (try BlockingSocket.accept(service.fd), try BlockingSocket.accept(service.fd))
        }
        defer { close(bystanderServer) }
        // Which accepted socket belongs to which client is unknown: probe with a byte.
        try BlockingSocket.sendAll(victim, [1])
        let first = try await onThread { () throws -> Bool in
            var poll = [pollfd(fd: victimServer, events: Int16(POLLIN), revents: 0)]
            return Glibc.poll(&poll, 1, 5000) == 1
        }
        let (reset, other) = first ? (victimServer, bystanderServer) : (bystanderServer, victimServer)
        _ = try BlockingSocket.receive(reset, count: 1)
        try BlockingSocket.sendAll(reset, randomBytes(1 << 20))
        var lingerOff = linger(l_onoff: 1, l_linger: 0)
        setsockopt(reset, SOL_SOCKET, SO_LINGER, &lingerOff, socklen_t(MemoryLayout<linger>.size))
        close(reset)  // RST

        let victimOutcome: String = try await onThread {
            BlockingSocket.setReceiveTimeout(victim, seconds: 10)
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(victim, $0.baseAddress, $0.count, 0) }
                if n > 0 { continue }
                return n == 0 ? "eof" : (errno == ECONNRESET ? "reset" : "errno \(errno)")
            }
        }
        #expect(victimOutcome == "reset")
        // The other connection still works both ways.
        try BlockingSocket.sendAll(bystander, Array("ping".utf8))
        #expect(try await onThread { try BlockingSocket.receive(other, count: 4) } == Array("ping".utf8))
        try BlockingSocket.sendAll(other, Array("pong".utf8))
        #expect(try await onThread { try BlockingSocket.receive(bystander, count: 4) } == Array("pong".utf8))
        #expect(try await fixture.wait1(closed: 1, active: 1))
        #expect(try await fixture.reasons() == ["service reset": 1])
        try await fixture.stop()
    }

    @Test func relay_idleTimeout_closesWithReasonIdle() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address, options: Relay.Options(idleTimeout: .milliseconds(200)))
        let client = try BlockingSocket.connect(to: fixture.address)
        defer { close(client) }
        let server = try BlockingSocket.accept(service.fd)
        defer { close(server) }
        try BlockingSocket.sendAll(client, [7])
        #expect(try BlockingSocket.receive(server, count: 1) == [7])
        let started = ContinuousClock.now
        BlockingSocket.setReceiveTimeout(client, seconds: 10)
        let eof: [UInt8] = try await onThread { try BlockingSocket.receiveAll(client) }
        #expect(eof.isEmpty)
        #expect(ContinuousClock.now - started >= .milliseconds(150))
        #expect(try await fixture.waitClosed(1))
        #expect(try await fixture.reasons() == ["idle timeout": 1])
        try await fixture.stop()
    }

    @Test func relay_prelude_reachesServiceBeforeClientBytes() async throws {
        let service = try BlockingSocket.listen()
        defer { close(service.fd) }
        let fixture = try await ProxyFixture(target: service.address, options: Relay.Options(prelude: Array("early:".utf8)))
        let client = try BlockingSocket.connect(to: fixture.address)
        defer { close(client) }
        try BlockingSocket.sendAll(client, Array("late".utf8))
        shutdown(client, Int32(SHUT_WR))
        let server = try BlockingSocket.accept(service.fd)
        defer { close(server) }
        #expect(try await onThread { try BlockingSocket.receiveAll(server) } == Array("early:late".utf8))
        try await fixture.stop()
    }
}

extension ProxyFixture {
    func wait1(closed: Int, active: Int) async throws -> Bool {
        let proxy = proxy
        return try await loop.wait { _ in proxy.value!.closedCount == closed && proxy.value!.activeCount == active }
    }
}
