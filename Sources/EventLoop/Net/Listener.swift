import Glibc

/// A listening TCP (or unix) socket on the reactor: accepts in batches and hands each new
/// connection, already CLOEXEC|NONBLOCK, to `onAccept`.
///
/// When the process runs out of descriptors (EMFILE/ENFILE) the pending connection cannot be
/// accepted, so an edge-triggered loop would either spin or forget it: accepting pauses for
/// `pauseOnExhaustion` and resumes on a timer, and the backlog keeps the clients meanwhile.
public final class Listener {
    public typealias AcceptHandler = (consuming FileDescriptor, SocketAddress) -> Void

    /// Accepted per readiness round before yielding to other descriptors.
    static let batch = 128

    // Weak: an owner may outlive its loop (a test's loop thread ends first); its teardown then
    // has nothing left to deregister from.
    private weak var reactor: Reactor?
    private var socket: FileDescriptor?
    /// The socket's number for a call (-1 once closed).
    private var fd: CInt { socket.rawValueOrInvalid }
    private var registration: Registration?
    private var pauseTimer: TimerID?
    private var onAccept: AcceptHandler
    private let pauseOnExhaustion: Duration

    /// The bound address, with the kernel's port when 0 was asked for.
    public let address: SocketAddress
    public private(set) var acceptedCount = 0
    /// How often accepting paused for lack of descriptors.
    public private(set) var exhaustionPauses = 0
    /// accept4 calls made, failed ones included: what a spinning loop would inflate.
    public private(set) var acceptCalls = 0

    public convenience init(
        reactor: Reactor, address: SocketAddress, backlog: Int32 = 1024,
        pauseOnExhaustion: Duration = .milliseconds(100), onAccept: @escaping AcceptHandler
    ) throws(SyscallError) {
        let socket = try Socket.stream(family: address.family)
        if case .unix = address {} else {
            try Socket.setOption(socket.rawValue, level: SOL_SOCKET, name: SO_REUSEADDR, value: 1)
        }
        try Socket.bind(socket.rawValue, to: address)
        try Socket.listen(socket.rawValue, backlog: backlog)
        try self.init(reactor: reactor, listening: socket, pauseOnExhaustion: pauseOnExhaustion, onAccept: onAccept)
    }

    /// Accepts on `socket`, a stream socket someone else bound and put in listening state
    /// (systemd's socket activation hands them over this way). It is made non-blocking and
    /// CLOEXEC here; a socket that is not listening is refused (EINVAL) and closed.
    public convenience init(
        reactor: Reactor, adopting socket: consuming FileDescriptor,
        pauseOnExhaustion: Duration = .milliseconds(100), onAccept: @escaping AcceptHandler
    ) throws(SyscallError) {
        var listening: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(socket.rawValue, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0 else {
            throw SyscallError("getsockopt(SO_ACCEPTCONN)", errno: errno)
        }
        guard listening != 0 else { throw SyscallError("adopt: not a listening socket", errno: EINVAL) }
        let flags = fcntl(socket.rawValue, F_GETFL)
        guard flags >= 0, fcntl(socket.rawValue, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw SyscallError("fcntl(O_NONBLOCK)", errno: errno)
        }
        guard fcntl(socket.rawValue, F_SETFD, FD_CLOEXEC) == 0 else { throw SyscallError("fcntl(FD_CLOEXEC)", errno: errno) }
        try self.init(reactor: reactor, listening: socket, pauseOnExhaustion: pauseOnExhaustion, onAccept: onAccept)
    }

    private init(reactor: Reactor, listening socket: consuming FileDescriptor, pauseOnExhaustion: Duration,
                 onAccept: @escaping AcceptHandler) throws(SyscallError) {
        self.address = try Socket.localAddress(socket.rawValue)
        self.reactor = reactor
        self.socket = consume socket
        self.onAccept = onAccept
        self.pauseOnExhaustion = pauseOnExhaustion
        registration = try reactor.register(fd, interest: .readable) { [unowned self] _ in acceptBatch() }
    }

    deinit { close() }

    /// Gives the open socket a new owner: every connection accepted from now on, those already
    /// waiting in the backlog included, goes to `onAccept`. The socket is never closed, so no
    /// client is refused meanwhile: how a reload moves an address from one service to another
    /// (two services swapping ports) without binding it again.
    public func handOver(to onAccept: @escaping AcceptHandler) {
        self.onAccept = onAccept
    }

    /// Stops accepting without closing: new clients wait in the kernel's backlog (a takeover
    /// hands the socket over meanwhile) until `resume` or another process accepts them.
    public func pause() {
        if let registration { reactor?.deregister(registration) }
        registration = nil
        if let pauseTimer { reactor?.cancel(pauseTimer) }
        pauseTimer = nil
    }

    /// Accepts again after `pause`, the backlog first.
    public func resume() throws(SyscallError) {
        guard registration == nil, socket != nil, let reactor else { return }
        registration = try reactor.register(fd, interest: .readable) { [unowned self] _ in acceptBatch() }
        reactor.soon { [weak self] in self?.acceptBatch() }
    }

    /// A copy of the listening socket (CLOEXEC), for another process to accept on.
    public func duplicateSocket() throws(SyscallError) -> FileDescriptor { try DescriptorPassing.duplicate(fd) }

    /// Stops accepting and closes the socket; idempotent. Connections still in the backlog are
    /// reset by the kernel.
    public func close() {
        if let registration { reactor?.deregister(registration) }
        registration = nil
        if let pauseTimer { reactor?.cancel(pauseTimer) }
        pauseTimer = nil
        socket = nil
    }

    private func acceptBatch() {
        guard registration != nil, pauseTimer == nil else { return }
        for _ in 0..<Self.batch {
            acceptCalls += 1
            do {
                switch try Socket.accept(fd) {
                case .wouldBlock:
                    return
                case let .processed((client, peer)):
                    acceptedCount += 1
                    if case .unix = peer {} else {
                        try? Socket.setOption(client, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
                    }
                    onAccept(FileDescriptor(taking: client), peer)
                    if registration == nil { return }  // the handler closed us
                }
            } catch {
                switch error.errno {
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    exhaustionPauses += 1
                    pauseTimer = reactor?.schedule(after: pauseOnExhaustion) { [unowned self] in
                        pauseTimer = nil
                        acceptBatch()
                    }
                    return
                default:
                    // ECONNABORTED, EPROTO, EPERM: that one client is gone; the next may be fine.
                    continue
                }
            }
        }
        // A full batch: more may wait, and no new edge will say so. Come back after others ran.
        reactor?.soon { [weak self] in self?.acceptBatch() }
    }
}
