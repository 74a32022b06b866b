import Glibc

/// Why a connect failed: the address and either the kernel's error or the timeout.
public struct ConnectError: Error, CustomStringConvertible, Sendable {
    public enum Reason: Sendable, Equatable {
        case system(SyscallError)
        case timedOut(Duration)
    }

    public let address: SocketAddress
    public let reason: Reason

    public var description: String {
        switch reason {
        case let .system(error): "connect to \(address): \(error)"
        case let .timedOut(limit): "connect to \(address): no answer within \(limit)"
        }
    }

    /// ECONNREFUSED: nothing listens yet (a container still starting).
    public var isRefused: Bool {
        if case let .system(error) = reason { return error.errno == ECONNREFUSED }
        return false
    }
}

/// The outcome of a connect: the connected socket (now the caller's) or the reason.
public enum ConnectResult: ~Copyable {
    case connected(FileDescriptor)
    case failed(ConnectError)
}

/// A non-blocking connect in progress on the reactor. Keep it to `cancel()`; dropping it does
/// not cancel (the reactor's registration keeps it alive until it completes).
public final class Connector {
    public typealias Completion = (consuming ConnectResult) -> Void

    // Weak: an owner may outlive its loop (a test's loop thread ends first); its teardown then
    // has nothing left to deregister from.
    private weak var reactor: Reactor?
    private var socket: FileDescriptor?
    private var registration: Registration?
    private var timer: TimerID?
    private var completion: Completion?
    public let address: SocketAddress

    /// Starts connecting to `address`; `completion` runs once on the loop (never inline, so the
    /// caller can finish setting up first) unless `cancel()` comes first. `directOnly`: the
    /// socket never sends through a gateway (`SO_DONTROUTE`), so an address that is not on a
    /// directly connected network fails at once (ENETUNREACH) instead of going wherever the
    /// host's default route leads: a container's address on a bridge that went down.
    @discardableResult
    public static func connect(
        reactor: Reactor, to address: SocketAddress, timeout: Duration, directOnly: Bool = false,
        completion: @escaping Completion
    ) -> Connector {
        let connector = Connector(reactor: reactor, address: address, completion: completion)
        connector.start(reactor: reactor, timeout: timeout, directOnly: directOnly)
        return connector
    }

    private init(reactor: Reactor, address: SocketAddress, completion: @escaping Completion) {
        self.reactor = reactor
        self.address = address
        self.completion = completion
    }

    /// Abandons the attempt: the socket is closed and the completion never runs.
    public func cancel() {
        completion = nil
        teardown()
    }

    private func start(reactor: Reactor, timeout: Duration, directOnly: Bool) {
        do {
            let socket = try Socket.stream(family: address.family)
            let fd = socket.rawValue
            self.socket = consume socket
            if case .unix = address {} else {
                try Socket.setOption(fd, level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)
                if directOnly { try Socket.setOption(fd, level: SOL_SOCKET, name: SO_DONTROUTE, value: 1) }
            }
            let connected = try Socket.connect(fd, to: address)
            if connected {
                reactor.soon { [self] in finish(nil) }
                return
            }
            // Strong captures: the registration and the timer keep the attempt alive until `finish`
            // or `cancel` removes them (the caller need not hold it).
            registration = try reactor.register(fd, interest: .writable) { [self] _ in
                // Writable (or error/hang-up) means the handshake ended; SO_ERROR says how.
                do throws(SyscallError) {
                    let error = try Socket.pendingError(fd)
                    finish(error == 0 ? nil : .system(SyscallError("connect", errno: error)))
                } catch {
                    finish(.system(error))
                }
            }
            timer = reactor.schedule(after: timeout) { [self] in
                timer = nil
                finish(.timedOut(timeout))
            }
        } catch {
            reactor.soon { [self] in finish(.system(error)) }
        }
    }

    private func finish(_ failure: ConnectError.Reason?) {
        guard let completion else { return }
        self.completion = nil
        // A connected socket stays in the epoll set for its next owner on this loop (a relay,
        // an HTTP connection): `Reactor.park`.
        if let registration {
            if failure == nil { reactor?.park(registration) } else { reactor?.deregister(registration) }
        }
        registration = nil
        if let timer { reactor?.cancel(timer) }
        timer = nil
        if let failure {
            socket = nil
            completion(.failed(ConnectError(address: address, reason: failure)))
        } else if let socket = socket.take() {
            completion(.connected(socket))
        }
    }

    private func teardown() {
        if let registration { reactor?.deregister(registration) }
        registration = nil
        if let timer { reactor?.cancel(timer) }
        timer = nil
        socket = nil
    }
}
