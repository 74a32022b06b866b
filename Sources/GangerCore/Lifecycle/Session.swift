import EventLoop
import Glibc
import Logging

/// The I/O of one client connection: its socket, the watch that keeps its early bytes and
/// notices it leave, its launch's I/O, and its relay. What happens when is decided by
/// `Lifecycle`; the supervisor carries the decisions out on this object.
final class Session {
    let id: UInt64
    let service: ServiceRuntime
    /// The service's settings when this client arrived: a reload (SIGHUP) changes what later
    /// sessions get, never this one.
    let settings: ServiceConfig
    let peer: SocketAddress
    let acceptedAt: UInt64
    private let client: FileDescriptorBox
    private weak var reactor: Reactor?
    private var watch: Registration?
    /// The launch's Docker calls, connect and settle (while launching).
    var launch: LaunchIO?
    /// The connected service socket, from the launch or a warm container, until the relay.
    private var serviceSocket: FileDescriptorBox?
    /// A warm container taken from the pool: handed back at the end.
    var pooled: PooledContainer?
    private(set) var relay: Relay?
    private(set) var relayStarted = false
    /// Where the container ran, for the log and the status page.
    var daemon: Int?
    var containerID: String?
    var warm: Bool { pooled != nil }
    /// Taken over from the previous process (status page).
    private(set) var inherited = false

    /// Bytes the client sent before its container was ready: delivered first (bounded).
    private var prelude: [UInt8] = []
    static let preludeLimit = 64 << 10
    private var clientSentFIN = false

    init(id: UInt64, service: ServiceRuntime, client: consuming FileDescriptor, peer: SocketAddress, reactor: Reactor) {
        self.id = id
        self.service = service
        settings = service.config
        self.peer = peer
        self.reactor = reactor
        self.client = FileDescriptorBox(client)
        acceptedAt = reactor.now
    }

    /// A session another Ganger relayed (takeover): its relay resumed here, nothing else to do
    /// but wait for its end. `acceptedAt` is the original connect (one monotonic clock per host).
    init(inheriting id: UInt64, service: ServiceRuntime, peer: SocketAddress, acceptedAt: UInt64, reactor: Reactor) {
        self.id = id
        self.service = service
        settings = service.config
        self.peer = peer
        self.reactor = reactor
        client = FileDescriptorBox()
        self.acceptedAt = acceptedAt
        relayStarted = true
        inherited = true
    }

    /// The inherited session's relay, resumed.
    func adoptRelay(_ relay: Relay, daemon: Int, containerID: String) {
        self.relay = relay
        self.daemon = daemon
        self.containerID = containerID
    }

    /// Handed over to another process: the relay lets its descriptors go without a FIN or a
    /// reset, and this session is done here without a word.
    func abandonForTakeover() {
        if let watch { reactor?.deregister(watch) }
        watch = nil
        relay?.abandon()
        relay = nil
    }

    // MARK: Waiting for a container

    /// The end detail of a client that closed before sending a byte.
    static let closedEmpty = "closed before sending a byte"

    /// Whether the client already closed without sending a byte (its FIN is all there is to
    /// read): checked once at accept, before any Docker work (one `recv(MSG_PEEK)`).
    func closedBeforeAByte() -> Bool {
        guard let fd = client.rawValue else { return true }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
    }

    /// Starts watching the client: early bytes are kept, a departure is reported to `send`.
    func watchClient(_ send: @escaping (Lifecycle.Event) -> Void) {
        guard let reactor, let fd = client.rawValue else { return }
        watch = try? reactor.register(fd, interest: [.readable, .readHangup]) { [unowned self] events in
            clientEvent(events, send)
        }
    }

    private func clientEvent(_ events: IOEvents, _ send: (Lifecycle.Event) -> Void) {
        guard !relayStarted, let fd = client.rawValue else { return }
        if events.contains(.error), let code = try? Socket.pendingError(fd), code != 0 {
            return send(.clientLeft(id, detail: "\(SyscallError("socket", errno: code))"))
        }
        // Past the FIN there is nothing left to read; only a reset (above) is news.
        guard !clientSentFIN else { return }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while prelude.count < Self.preludeLimit {
            let want = min(buffer.count, Self.preludeLimit - prelude.count)
            let result = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SyscallError) in try Socket.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want])) }
            }
            switch result {
            case .success(.wouldBlock):
                return
            case .success(.processed(0)):
                clientSentFIN = true
                // A client that closes before sending a single byte (a port scan, `nc -z`, a
                // connect-and-close flood) wants nothing: it leaves at once and no further
                // Docker work is done for it. One that sent bytes and then half-closed keeps its
                // place (its FIN may be `shutdown(SHUT_WR)` after a request).
                if prelude.isEmpty { return send(.clientLeft(id, detail: Self.closedEmpty)) }
                return send(.clientFIN(id))
            case let .success(.processed(n)):
                prelude += buffer[0..<n]
            case let .failure(error):
                return send(.clientLeft(id, detail: "\(error)"))
            }
        }
        // The prelude is full: leave the rest in the socket (backpressure) until the relay runs.
    }

    /// The launch succeeded: its connected socket is this session's service socket.
    func launched(daemon: Int, containerID: String) {
        self.daemon = daemon
        self.containerID = containerID
        if let socket = launch?.takeSocket() { serviceSocket = FileDescriptorBox(socket) }
        // Not detached: an earlier launch of this session, given up when its daemon went down,
        // may still have a create out on this I/O (see `close`).
        launch?.stop()
        launch = nil
    }

    /// A warm container from the pool is this session's (with its slot and its open connection).
    func adopt(_ container: PooledContainer) {
        pooled = container
        daemon = container.daemon
        containerID = container.containerID
        serviceSocket = container.socket
    }

    // MARK: Relay

    /// Joins the client and the service socket; `ended` gets the relay's end. Nil when it could
    /// not start, with the reason.
    func startRelay(pipes: PipePool, ended: @escaping (Relay, Relay.CloseReason) -> Void) -> String? {
        guard let reactor else { return "shutting down" }
        guard let serviceSocket = serviceSocket?.take() else { return warm ? "pooled connection lost" : "service socket lost" }
        self.serviceSocket = nil
        guard let fd = client.rawValue else {
            serviceSocket.close()
            return "client gone"
        }
        guard let header = ProxyHeader.forClient(settings.clientAddress, source: peer, local: try? Socket.localAddress(fd)) else {
            serviceSocket.close()
            return "PROXY header: the client socket's local address is unknown (getsockname failed)"
        }
        if let watch { reactor.deregister(watch) }
        watch = nil
        let limits = settings.session
        let options = Relay.Options(idleTimeout: limits.idleTimeout > .zero ? limits.idleTimeout : nil, prelude: header + prelude)
        prelude = []
        guard let clientFD = client.take() else {
            serviceSocket.close()
            return "client gone"
        }
        do {
            relay = try Relay(reactor: reactor, pool: pipes, client: clientFD, service: serviceSocket, options: options, onClose: ended)
        } catch {
            return "relay failed: \(error)"
        }
        relayStarted = true
        return nil
    }

    /// Ends the relay now (a limit, shutdown); its end is reported as usual.
    func closeRelay(_ why: String) {
        relay?.close(why)
    }

    /// The session is over: the client (if still here), the watch and the launch's I/O go.
    func close() {
        if let watch { reactor?.deregister(watch) }
        watch = nil
        // Not detached: a create call still out must report its container, which the lifecycle
        // then removes (it keeps the abandoned launch).
        launch?.stop()
        launch = nil
        serviceSocket?.take()?.close()
        serviceSocket = nil
        client.take()?.close()
    }
}
