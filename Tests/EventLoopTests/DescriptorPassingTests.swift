import Glibc
import Testing
@testable import EventLoop
import TestSupport

@Suite struct DescriptorPassingTests {
    /// A pipe's write end sent across a socketpair arrives as a working descriptor: what is
    /// written through the received copy comes out of the sender's read end.
    @Test func descriptorArrivesAndWorks() throws {
        let (a, b) = try DescriptorPassing.pair()
        var ends: [CInt] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let sent = try DescriptorPassing.send(a.rawValue!, Array("hello".utf8), descriptors: [ends[1]])
        close(ends[1])
        #expect(sent == .processed(5))
        let received = try #require(try DescriptorPassing.receive(b.rawValue!, maxBytes: 64, maxDescriptors: 4))
        #expect(received.bytes == Array("hello".utf8))
        #expect(!received.truncated)
        #expect(received.descriptors.count == 1)
        let fd = try #require(received.descriptors.first?.rawValue)
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)  // MSG_CMSG_CLOEXEC
        let payload: [UInt8] = [1, 2, 3]
        #expect(write(fd, payload, 3) == 3)
        var back = [UInt8](repeating: 0, count: 8)
        #expect(read(ends[0], &back, 8) == 3)
        #expect(Array(back.prefix(3)) == payload)
    }

    /// Nothing waiting: nil, not an error.
    @Test func nothingWaiting() throws {
        let (a, b) = try DescriptorPassing.pair()
        #expect(try DescriptorPassing.receive(b.rawValue!, maxBytes: 64, maxDescriptors: 4) == nil)
        a.close()
        let end = try #require(try DescriptorPassing.receive(b.rawValue!, maxBytes: 64, maxDescriptors: 4))
        #expect(end.bytes.isEmpty && end.descriptors.isEmpty && !end.truncated)  // the peer's close
    }

    /// A message longer than asked for, or with more descriptors than asked for, is marked
    /// truncated (the caller refuses it); descriptors the kernel did deliver are owned and closed.
    @Test func limitsAreEnforced() throws {
        let (a, b) = try DescriptorPassing.pair()
        _ = try DescriptorPassing.send(a.rawValue!, [UInt8](repeating: 7, count: 100), descriptors: [])
        let long = try #require(try DescriptorPassing.receive(b.rawValue!, maxBytes: 50, maxDescriptors: 4))
        #expect(long.truncated)
        #expect(long.bytes.count == 50)
        let three = [0, 1, 2].map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { for fd in three { close(fd) } }
        _ = try DescriptorPassing.send(a.rawValue!, [1], descriptors: three)
        let many = try #require(try DescriptorPassing.receive(b.rawValue!, maxBytes: 50, maxDescriptors: 2))
        #expect(many.truncated)
        #expect(many.descriptors.count <= 2)
    }

    /// The channel delivers whole messages with their descriptors and reports the peer's close.
    @Test func channelCarriesMessagesAndCloses() async throws {
        let loop = try ReactorThread()
        defer { loop.stop() }
        let got = LoopBox<[([UInt8], Int)]>([])
        let closed = LoopBox<String?>(nil)
        let peer = LoopBox<DescriptorPassing.Received?>(nil)
        let sender = LoopBox<FileDescriptorBox?>(nil)
        try await loop.run { reactor in
            let (a, b) = try DescriptorPassing.pair()
            sender.value = a
            let channel = try MessageChannel(reactor: reactor, socket: b.take()!, maxBytes: 1024, maxDescriptors: 8,
                                             onMessage: { bytes, fds in got.value.append((bytes, fds.count)) },
                                             onClose: { closed.value = $0 })
            _ = Unmanaged.passRetained(channel)  // kept by the test's loop until the end
            for index in 0..<3 {
                let copy = try DescriptorPassing.duplicate(a.rawValue!)
                _ = try DescriptorPassing.send(a.rawValue!, [UInt8(index)], descriptors: [copy.rawValue])
            }
        }
        #expect(try await loop.wait { _ in got.value.count == 3 })
        #expect(got.value.map(\.0) == [[0], [1], [2]])
        #expect(got.value.map(\.1) == [1, 1, 1])
        try await loop.run { _ in sender.value = nil }
        #expect(try await loop.wait { _ in closed.value != nil })
        #expect(closed.value == "peer closed")
        _ = peer
    }
}
