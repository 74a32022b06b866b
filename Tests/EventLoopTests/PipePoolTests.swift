import Glibc
import Testing
@testable import EventLoop

/// What the pool does with a pipe given back (HAProxy's `put_pipe`): an empty one is reused, one
/// that still holds bytes is killed, both ends closed. A closed end is seen through a duplicate
/// of the other end (EOF on a read end once no writer is left, POLLERR on a write end once no
/// reader is left), which no other test's descriptor numbers can disturb. (`#expect` cannot
/// hold a non-copyable value, hence the locals.)
@Suite struct PipePoolTests {
    private struct PoolEmpty: Error {}

    private func take(_ pool: PipePool) throws -> Pipe {
        guard let pipe = pool.take() else { throw PoolEmpty() }
        return pipe
    }

    /// A pipe from `pool` holding `text`, spliced in from a socket as a relay would.
    private func pipeHolding(_ text: String, from pool: PipePool) throws -> Pipe {
        let (raw, peer) = try socketPair()
        let source = FileDescriptor(taking: raw)
        defer { close(peer) }
        #expect(send(peer, text, text.utf8.count, Int32(MSG_NOSIGNAL)) == text.utf8.count)
        var pipe = try take(pool)
        var moved = -1
        if case let .processed(n) = try pipe.fill(from: source.rawValue) { moved = n }
        let count = pipe.count
        #expect(moved == text.utf8.count)
        #expect(count == text.utf8.count)
        return pipe
    }

    @Test func put_emptyPipe_isKept_andTheNextTakeReusesIt() throws {
        let pool = PipePool(maxPipes: 4, pipeSize: 64 << 10, maxIdle: 4)
        let first = try take(pool)
        let (r, w, count) = (first.readEnd.rawValue, first.writeEnd.rawValue, first.count)
        #expect(count == 0)
        #expect(pool.liveCount == 1)
        pool.put(first)
        #expect(pool.idleCount == 1)
        #expect(pool.liveCount == 1)
        let again = try take(pool)
        let (r2, w2) = (again.readEnd.rawValue, again.writeEnd.rawValue)
        #expect(r2 == r && w2 == w, "the pooled pipe comes back")
        #expect(pool.idleCount == 0)
        #expect(pool.liveCount == 1)
        pool.put(again)
    }

    @Test func put_drainedPipe_isKept() throws {
        let pool = PipePool(maxPipes: 4, pipeSize: 64 << 10, maxIdle: 4)
        var pipe = try pipeHolding("hello", from: pool)
        let (raw, peer) = try socketPair()
        let sink = FileDescriptor(taking: raw)
        defer { close(peer) }
        var moved = -1
        if case let .processed(n) = try pipe.drain(to: sink.rawValue) { moved = n }
        let count = pipe.count
        #expect(moved == 5)
        #expect(count == 0)
        pool.put(pipe)
        #expect(pool.idleCount == 1)
        #expect(pool.liveCount == 1)
    }

    @Test func put_pipeHoldingBytes_isKilled_bothEndsClosed() throws {
        let pool = PipePool(maxPipes: 4, pipeSize: 64 << 10, maxIdle: 4)

        // The write end: a duplicate of the read end hands out the stale bytes, then EOF.
        let stale = try pipeHolding("stale", from: pool)
        let reader = fcntl(stale.readEnd.rawValue, F_DUPFD_CLOEXEC, 0)
        #expect(reader >= 0)
        defer { close(reader) }
        pool.put(stale)
        #expect(pool.idleCount == 0)
        #expect(pool.liveCount == 0)
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(read(reader, &buffer, buffer.count) == 5)
        #expect(read(reader, &buffer, buffer.count) == 0, "EOF: no write end is left")

        // The read end: a duplicate of the write end reports POLLERR once no reader is left.
        let other = try pipeHolding("stale", from: pool)
        let writer = fcntl(other.writeEnd.rawValue, F_DUPFD_CLOEXEC, 0)
        #expect(writer >= 0)
        defer { close(writer) }
        var before = pollfd(fd: writer, events: Int16(POLLOUT), revents: 0)
        _ = poll(&before, 1, 0)
        #expect(before.revents & Int16(POLLERR) == 0)
        pool.put(other)
        #expect(pool.idleCount == 0)
        #expect(pool.liveCount == 0)
        var after = pollfd(fd: writer, events: Int16(POLLOUT), revents: 0)
        #expect(poll(&after, 1, 0) == 1)
        #expect(after.revents & Int16(POLLERR) != 0, "no read end is left")
    }

    @Test func put_beyondMaxIdle_closesThePipe_andTakeStopsAtMaxPipes() throws {
        let pool = PipePool(maxPipes: 2, pipeSize: 64 << 10, maxIdle: 1)
        let a = try take(pool)
        let b = try take(pool)
        let third = pool.take() == nil
        #expect(third, "maxPipes are out")
        #expect(pool.liveCount == 2)
        pool.put(a)
        pool.put(b)
        #expect(pool.idleCount == 1)
        #expect(pool.liveCount == 1)
        let reused = try take(pool)
        #expect(pool.idleCount == 0)
        pool.put(reused)
    }

    /// Past `fs.pipe-user-pages-soft` without CAP_SYS_RESOURCE the kernel refuses to grow a pipe
    /// (seen here by hand under `setpriv --bounding-set -sys_resource,-sys_admin`: 100 pipes
    /// asked at 1 MiB came as 60 of 1 MiB, 4 of 64 KiB, 36 of 8 KiB). A pool whose pipes come
    /// smaller counts them, says so once, and does not keep them for reuse.
    @Test func aPipeTheKernelMadeSmall_isCounted_reportedOnce_andNotPooled() throws {
        let pool = PipePool(maxPipes: 8, pipeSize: 1 << 20, maxIdle: 4, largeBuffers: LargeBufferPool()) { _ throws(SyscallError) in
            try Pipe(size: 64 << 10)  // what the kernel grants once this user is over its budget
        }
        var reported: [Int] = []
        pool.onFirstSmallPipe = { reported.append($0) }
        let first = try take(pool)
        let second = try take(pool)
        let capacities = (first.capacity, second.capacity)
        #expect(capacities == (64 << 10, 64 << 10))
        #expect(pool.smallPipes == 2)
        #expect(reported == [64 << 10], "reported once, with the size granted")
        pool.put(first)
        pool.put(second)
        #expect(pool.idleCount == 0, "a small pipe was kept for reuse")
        #expect(pool.liveCount == 0)
        // A full-sized pipe is pooled as before.
        let full = PipePool(maxPipes: 8, pipeSize: 64 << 10, maxIdle: 4)
        let pipe = try take(full)
        full.put(pipe)
        #expect(full.idleCount == 1 && full.smallPipes == 0)
    }
}
