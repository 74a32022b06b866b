import EventLoop
import Glibc
import Synchronization

/// Many client connections from one reactor thread: each connects, sends `bytesEach` bytes,
/// shuts its write side and reads until EOF (the sink's close, passed back by the proxy); or,
/// with `hold`, connects and stays idle until `release()`.
///
/// Only the loop thread touches the connections; the bench's main thread reads `progress`.
final class ConnectionDriver: @unchecked Sendable {
    struct Plan: Sendable {
        var target: SocketAddress
        var connections: Int
        var bytesEach: Int
        var hold = false
        /// Connects in flight at once: a burst of thousands of SYNs overflows listen backlogs and
        /// costs one-second SYN retransmits, which would measure the backlog, not the proxy.
        var connectWindow = 512
        /// The whole run ends by then, finished or not.
        var limit: Duration = .seconds(60)
    }

    struct Progress: Sendable {
        var connected = 0
        var finished = 0
        var failed = 0
        var firstError: String?
        var startedAt: UInt64 = 0
        var endedAt: UInt64?
        var timedOut = false
        var released = 0
    }

    private final class Connection {
        var socket: FileDescriptor?
        var registration: Registration?
        var sent = 0
        var shutDown = false
        init(_ socket: consuming FileDescriptor) { self.socket = consume socket }
    }

    private let plan: Plan
    private let state = Mutex(Progress())
    // Loop-thread state.
    private var reactor: Reactor?
    private var launched = 0
    private var connecting = 0
    private var done = 0
    private var connections: [CInt: Connection] = [:]
    private var deadline: TimerID?
    // Filled once, then only read (by send) from the loop thread.
    nonisolated(unsafe) private static let chunk: UnsafeMutableRawBufferPointer = {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 4096)
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5a)
        return buffer
    }()

    init(plan: Plan) { self.plan = plan }

    var progress: Progress { state.withLock { $0 } }

    /// Starts on `loop`; returns at once.
    func start(on loop: ReactorThread) {
        _ = Self.chunk
        loop.execute { reactor in self.begin(reactor) }
    }

    /// Closes every held connection (hold mode), on the loop.
    func release(on loop: ReactorThread) {
        loop.execute { _ in
            let count = self.connections.count
            for fd in Array(self.connections.keys) { self.drop(fd) }
            self.state.withLock { $0.released = count }
        }
    }

    /// Waits (polling, bounded by the plan's limit plus a margin) until every connection
    /// finished or failed; returns the final progress.
    func waitFinished() -> Progress {
        _ = waitUntil(Double(plan.limit.components.seconds) + 5, step: 5_000) { progress.endedAt != nil }
        return progress
    }

    private func begin(_ reactor: Reactor) {
        self.reactor = reactor
        state.withLock { $0.startedAt = MonotonicClock.now() }
        deadline = reactor.schedule(after: plan.limit) { [self] in
            deadline = nil
            for fd in Array(connections.keys) { drop(fd) }
            state.withLock {
                $0.timedOut = true
                $0.endedAt = MonotonicClock.now()
            }
        }
        launch()
    }

    private func launch() {
        guard let reactor else { return }
        while launched < plan.connections && connecting < plan.connectWindow {
            launched += 1
            connecting += 1
            Connector.connect(reactor: reactor, to: plan.target, timeout: .seconds(10)) { [self] result in
                connecting -= 1
                switch consume result {
                case let .connected(socket):
                    opened(socket)
                case let .failed(error):
                    fail(nil, error.description)
                }
                launch()
            }
        }
    }

    private func opened(_ socket: consuming FileDescriptor) {
        guard let reactor else { return }
        let fd = socket.rawValue
        let connection = Connection(socket)
        connections[fd] = connection
        do {
            connection.registration = try reactor.register(fd, interest: .all) { [unowned self] events in
                serve(fd, events)
            }
        } catch {
            fail(fd, "register: \(error)")
            return
        }
        state.withLock { $0.connected += 1 }
    }

    private func serve(_ fd: CInt, _ events: IOEvents) {
        guard let connection = connections[fd] else { return }
        if !plan.hold && !connection.shutDown {
            while connection.sent < plan.bytesEach {
                let count = min(Self.chunk.count, plan.bytesEach - connection.sent)
                let n = send(fd, Self.chunk.baseAddress, count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
                if n > 0 {
                    connection.sent += n
                    continue
                }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                return fail(fd, "send: \(String(cString: strerror(errno)))")
            }
            if connection.sent == plan.bytesEach {
                shutdown(fd, Int32(SHUT_WR))
                connection.shutDown = true
            }
        }
        while true {
            let n = recv(fd, nil, 1 << 20, Int32(MSG_TRUNC) | Int32(MSG_DONTWAIT))
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if n < 0 { return fail(fd, "recv: \(String(cString: strerror(errno)))") }
            // EOF: for a sender after all its bytes, the end of a complete exchange; before
            // that (or while holding), the proxy or the sink gave up on us.
            if connection.shutDown { return complete(fd) }
            return fail(fd, "EOF after \(connection.sent) of \(plan.bytesEach) bytes")
        }
    }

    private func complete(_ fd: CInt) {
        drop(fd)
        state.withLock { $0.finished += 1 }
        countDone()
    }

    private func fail(_ fd: CInt?, _ why: String) {
        if let fd { drop(fd) }
        state.withLock {
            $0.failed += 1
            if $0.firstError == nil { $0.firstError = why }
        }
        countDone()
    }

    private func countDone() {
        done += 1
        guard done == plan.connections else { return }
        if let deadline { reactor?.cancel(deadline) }
        deadline = nil
        state.withLock { if $0.endedAt == nil { $0.endedAt = MonotonicClock.now() } }
    }

    private func drop(_ fd: CInt) {
        guard let connection = connections.removeValue(forKey: fd) else { return }
        if let registration = connection.registration { reactor?.deregister(registration) }
        connection.registration = nil
        connection.socket = nil
    }
}
