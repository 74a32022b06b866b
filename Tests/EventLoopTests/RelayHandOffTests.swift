import Glibc
import Testing
@testable import EventLoop
import TestSupport

/// A relay suspended with bytes in flight, handed off (copies of its sockets and pipes) and
/// resumed by a second relay while the first lets go: every byte arrives once, in order, and the
/// counts carry on (what a takeover does between two processes, here within one).
@Suite struct RelayHandOffTests {
    /// Run with the bytes in flight in a splice pipe, and in a large copy buffer (a fat stream:
    /// `fatAfter: 0` makes every stream fat), which is handed over as a new pipe.
    @Test(arguments: [false, true])
    func handOff_withBytesInFlight_resumesElsewhere_withEveryByteOnce(largeBuffer: Bool) async throws {
        let (clientInner, clientOuter) = try socketPair()
        let (serviceInner, serviceOuter) = try socketPair()
        defer {
            close(clientOuter)
            close(serviceOuter)
        }
        let loop = try ReactorThread()
        defer { loop.stop() }
        let first = LoopBox<Relay?>(nil)
        let second = LoopBox<Relay?>(nil)
        let large = LargeBufferPool(maxBuffers: largeBuffer ? 1 : 0, bufferSize: 1 << 20, fatAfter: 0)
        let pool = LoopBox(PipePool(pipeSize: 1 << 20, largeBuffers: large))
        try await loop.run { reactor in
            first.value = try Relay(reactor: reactor, pool: pool.value, client: FileDescriptor(taking: clientInner),
                                    service: FileDescriptor(taking: serviceInner)) { _, _ in }
        }
        // The service does not read: what the client sends piles up in the relay's pipe.
        let payload = (0..<(448 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        var offset = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while offset < payload.count && ContinuousClock.now < deadline {
            let n = payload.withUnsafeBytes { write(clientOuter, $0.baseAddress! + offset, payload.count - offset) }
            if n > 0 { offset += n } else { usleep(1_000) }
        }
        #expect(offset == payload.count)
        #expect(try await loop.wait { _ in (largeBuffer ? first.value!.largeBuffersHeld : first.value!.pipesHeld) > 0 })
        let inFlight = try await loop.run { reactor -> Int in
            let relay = first.value!
            relay.suspend()
            let (state, descriptors) = try relay.handOff()
            relay.abandon()
            second.value = try Relay(reactor: reactor, pool: pool.value, resuming: state, descriptors: descriptors) { _, _ in }
            return state.toService.inFlight
        }
        #expect(inFlight > 0)
        // Everything arrives at the service, once and in order; then the other way.
        let readDeadline = ContinuousClock.now + .seconds(10)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while received.count < payload.count && ContinuousClock.now < readDeadline {
            let n = buffer.withUnsafeMutableBytes { read(serviceOuter, $0.baseAddress, $0.count) }
            if n > 0 { received += buffer[0..<n] } else { usleep(1_000) }
        }
        // Compared by count and first difference: a diff of two 448 KiB arrays would take minutes.
        #expect(received.count == payload.count)
        #expect(received.indices.first { received[$0] != payload[$0] } == nil)
        let answer = Array("answer".utf8)
        #expect(write(serviceOuter, answer, answer.count) == answer.count)
        var back: [UInt8] = []
        while back.count < answer.count && ContinuousClock.now < readDeadline {
            let n = buffer.withUnsafeMutableBytes { read(clientOuter, $0.baseAddress, $0.count) }
            if n > 0 { back += buffer[0..<n] } else { usleep(1_000) }
        }
        #expect(back.count == answer.count && back.elementsEqual(answer))
        #expect(try await loop.wait { _ in second.value!.bytesToService == UInt64(payload.count) && second.value!.bytesToClient == 6 })
        #expect(try await loop.run { _ in first.value!.isClosed })
        try await loop.run { _ in second.value?.close("test over") }
        // Every buffer lent went back: the first relay's when it let go, the second's when it closed.
        let (inUse, lent) = try await loop.run { _ in (pool.value.largeBuffers.inUse, pool.value.largeBuffers.lent) }
        #expect(inUse == 0)
        #expect((lent > 0) == largeBuffer)
    }

    /// The process handing over may have raised a socket's low-water mark (a fat stream
    /// copying); the relay resuming it knows nothing of that and lowers both, or a few bytes
    /// would wake no one. (TCP: AF_UNIX sockets ignore the mark when polled.)
    @Test func resuming_lowersALowWatermarkLeftByTheOtherProcess() async throws {
        let listener = try BlockingSocket.listen()
        defer { close(listener.fd) }
        let clientOuter = try BlockingSocket.connect(to: listener.address)
        let clientInner = try BlockingSocket.accept(listener.fd)
        let serviceOuter = try BlockingSocket.connect(to: listener.address)
        let serviceInner = try BlockingSocket.accept(listener.fd)
        defer {
            close(clientOuter)
            close(serviceOuter)
        }
        BlockingSocket.setReceiveTimeout(serviceOuter, seconds: 5)
        for fd in [clientInner, serviceInner] {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var mark: CInt = 256 << 10
            setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &mark, socklen_t(MemoryLayout<CInt>.size))
        }
        let loop = try ReactorThread()
        defer { loop.stop() }
        let relay = LoopBox<Relay?>(nil)
        let fresh = RelayDirectionState(bytes: 0, sourceEOF: false, finished: false, inFlight: 0)
        try await loop.run { reactor in
            relay.value = try Relay(reactor: reactor, pool: PipePool(), resuming: .init(toService: fresh, toClient: fresh),
                                    descriptors: [FileDescriptorBox(FileDescriptor(taking: clientInner)),
                                                  FileDescriptorBox(FileDescriptor(taking: serviceInner))]) { _, _ in }
        }
        let few = Array("few".utf8)
        try BlockingSocket.sendAll(clientOuter, few)
        #expect(try await onThread { try BlockingSocket.receive(serviceOuter, count: few.count) } == few)
        try await loop.run { _ in relay.value?.close("test over") }
    }

    /// A takeover's description is checked against the descriptors themselves: a pipe holding
    /// fewer bytes than the state says (the relay would wait for them forever), a pipe where a
    /// socket belongs, a regular file where a pipe belongs. Each is refused with the reason,
    /// and the sockets it got are closed (the peers see EOF).
    @Test(arguments: ["a pipe holding fewer bytes", "a pipe for the client", "a file for the pipe"])
    func resuming_refusesDescriptorsThatDoNotMatchTheState(_ fault: String) async throws {
        let (client, clientPeer) = try socketPair()
        let (service, servicePeer) = try socketPair()
        defer {
            close(clientPeer)
            close(servicePeer)
        }
        let loop = try ReactorThread()
        defer { loop.stop() }
        let refusal = try await loop.run { reactor -> String in
            let sockets = [FileDescriptorBox(FileDescriptor(taking: client)), FileDescriptorBox(FileDescriptor(taking: service))]
            let pipe = try Pipe(holding: Array(repeating: 7, count: 10)).duplicateEnds()
            var state = Relay.RelayState(toService: RelayDirectionState(bytes: 0, sourceEOF: false, finished: false, inFlight: 10),
                                         toClient: RelayDirectionState(bytes: 0, sourceEOF: false, finished: false, inFlight: 0),
                                         firstFIN: nil, firstByteToClientAt: nil)
            var descriptors = sockets + pipe
            switch fault {
            case "a pipe holding fewer bytes": state.toService.inFlight = 100
            case "a pipe for the client": descriptors = pipe + sockets
            default:
                let file = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
                descriptors = sockets + [FileDescriptorBox(FileDescriptor(taking: file)), pipe[1]]
            }
            do {
                _ = try Relay(reactor: reactor, pool: PipePool(), resuming: state, descriptors: descriptors) { _, _ in }
                return "resumed"
            } catch {
                return "\(error)"
            }
        }
        let expected = ["a pipe holding fewer bytes": "a pipe holds 10 bytes, the state says 100",
                        "a pipe for the client": "not a stream socket", "a file for the pipe": "conduit is not a pipe"][fault]!
        #expect(refusal.contains(expected), "\(fault): \(refusal)")
        // Refused means let go: the peers see their sockets closed.
        var byte: UInt8 = 0
        #expect(read(clientPeer, &byte, 1) == 0 && read(servicePeer, &byte, 1) == 0, "\(fault): a socket was left open")
    }
}
