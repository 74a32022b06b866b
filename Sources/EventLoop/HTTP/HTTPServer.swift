import Glibc

/// What a route answers: a status, headers and a (small) body held in memory.
public struct HTTPServerResponse: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    /// `Content-Length` and `Connection` are set by the server; others are sent as given.
    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A text response with `Content-Type: contentType`.
    public init(status: Int, contentType: String, text: String) {
        self.init(status: status, headers: ["Content-Type": contentType], body: Array(text.utf8))
    }

    /// `text/plain` with a short explanation, for errors.
    public static func plain(_ status: Int, _ text: String, headers: HTTPHeaders = [:]) -> HTTPServerResponse {
        var response = HTTPServerResponse(status: status, contentType: "text/plain; charset=utf-8", text: text + "\n")
        for field in headers { response.headers.add(name: field.name, value: field.value) }
        return response
    }
}

/// A tiny HTTP/1.1 server on the reactor, sized for the status listener: GET and HEAD only,
/// keep-alive and pipelining, every resource bounded.
///
/// Each request head goes to `router` on the loop; its answer is written back in request
/// order. Other methods get 405 with `Allow: GET, HEAD`; a request the parser refuses gets its
/// status (400, 413, 431, ...) and the connection closes. A client must deliver a complete
/// request within `headTimeout` of its first byte (or of connecting) and may stay idle between
/// requests for `idleTimeout`; a client that does not read its answers is closed after
/// `writeTimeout` without progress. Beyond `maxConnections`, or `maxConnectionsPerAddress` from
/// one peer address, new connections are closed at once.
/// A failure closes that connection only.
public final class HTTPServer {
    public typealias Router = (HTTPRequestHead) -> HTTPServerResponse

    /// Bounds and timeouts; the defaults suit a status page.
    public struct Configuration: Sendable {
        public var limits: HTTPRequestParser.Limits
        public var headTimeout: Duration
        public var idleTimeout: Duration
        public var writeTimeout: Duration
        public var maxConnections: Int
        /// Open connections one peer address may hold; 0 = no cap of its own (only
        /// `maxConnections`). Keeps one client from holding every connection.
        public var maxConnectionsPerAddress: Int
        /// Unsent response bytes above which a connection stops reading and answering more
        /// pipelined requests until the client catches up.
        public var outputHighWater: Int

        public init(
            limits: HTTPRequestParser.Limits = .init(maxHeadBytes: 8 * 1024, maxHeaderCount: 64, maxBodyBytes: 64 * 1024),
            headTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60),
            writeTimeout: Duration = .seconds(10), maxConnections: Int = 256, maxConnectionsPerAddress: Int = 0,
            outputHighWater: Int = 256 * 1024
        ) {
            self.limits = limits
            self.headTimeout = headTimeout
            self.idleTimeout = idleTimeout
            self.writeTimeout = writeTimeout
            self.maxConnections = maxConnections
            self.maxConnectionsPerAddress = maxConnectionsPerAddress
            self.outputHighWater = outputHighWater
        }
    }

    let configuration: Configuration
    let router: Router
    private weak var reactor: Reactor?
    private var listener: Listener?
    private var connections: [ObjectIdentifier: HTTPServerConnection] = [:]
    /// Each open connection's peer address (host only), and how many each address holds.
    private var peers: [ObjectIdentifier: String] = [:]
    private var perAddress: [String: Int] = [:]
    /// One read buffer for every connection: the loop handles one at a time and parsing copies
    /// what it keeps.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)

    /// The bound address, with the kernel's port when 0 was asked for.
    public let address: SocketAddress
    /// Connections refused because `maxConnections` were open.
    public private(set) var refusedCount = 0
    /// A copy of the listening socket (CLOEXEC), for another process to serve on (takeover).
    public func duplicateListeningSocket() throws(SyscallError) -> FileDescriptor {
        guard let listener else { throw SyscallError("status listener closed", errno: EBADF) }
        return try listener.duplicateSocket()
    }

    /// Connections refused because their address held `maxConnectionsPerAddress` already.
    public private(set) var refusedPerAddressCount = 0
    /// Requests answered, error answers included.
    public internal(set) var responseCount = 0

    /// Listens on `address` (port 0: any free port, see `address`). Throws if it cannot bind.
    public convenience init(reactor: Reactor, address: SocketAddress, configuration: Configuration = .init(),
                            router: @escaping Router) throws(SyscallError) {
        try self.init(reactor: reactor, configuration: configuration, router: router) { accept throws(SyscallError) in
            try Listener(reactor: reactor, address: address, onAccept: accept)
        }
    }

    /// Serves on `socket`, a listening socket someone else bound (systemd's socket activation).
    public convenience init(reactor: Reactor, adopting socket: consuming FileDescriptor, configuration: Configuration = .init(),
                            router: @escaping Router) throws(SyscallError) {
        let box = FileDescriptorBox(socket)
        try self.init(reactor: reactor, configuration: configuration, router: router) { accept throws(SyscallError) in
            guard let socket = box.take() else { throw SyscallError("adopt: socket already taken", errno: EBADF) }
            return try Listener(reactor: reactor, adopting: socket, onAccept: accept)
        }
    }

    private init(reactor: Reactor, configuration: Configuration, router: @escaping Router,
                 listen: (@escaping Listener.AcceptHandler) throws(SyscallError) -> Listener) throws(SyscallError) {
        self.reactor = reactor
        self.configuration = configuration
        self.router = router
        // The listener is made before `self` is complete; its handler reaches `self` through a
        // box filled in once it is.
        var onAccept: Listener.AcceptHandler = { fd, _ in fd.close() }
        let listener = try listen { fd, peer in onAccept(fd, peer) }
        self.address = listener.address
        self.listener = listener
        onAccept = { [weak self] fd, peer in
            guard let self else { return fd.close() }
            self.accept(fd, peer: peer)
        }
    }

    deinit {
        close()
        readBuffer.deallocate()
    }

    /// Open connections.
    public var connectionCount: Int { connections.count }

    /// Stops listening and closes every connection, answered or not; idempotent.
    public func close() {
        listener?.close()
        listener = nil
        let open = connections.values
        connections.removeAll()
        peers.removeAll()
        perAddress.removeAll()
        for connection in open { connection.close() }
    }

    private func accept(_ fd: consuming FileDescriptor, peer: SocketAddress) {
        guard let reactor, connections.count < configuration.maxConnections else {
            refusedCount += 1
            return fd.close()
        }
        let address = peer.host
        let cap = configuration.maxConnectionsPerAddress
        guard cap <= 0 || perAddress[address, default: 0] < cap else {
            refusedPerAddressCount += 1
            return fd.close()
        }
        do {
            let connection = try HTTPServerConnection(server: self, reactor: reactor, socket: fd)
            connections[ObjectIdentifier(connection)] = connection
            peers[ObjectIdentifier(connection)] = address
            perAddress[address, default: 0] += 1
            connection.start()
        } catch {
            // register failed (ENOMEM): this client only.
        }
    }

    func connectionClosed(_ connection: HTTPServerConnection) {
        connections[ObjectIdentifier(connection)] = nil
        guard let address = peers.removeValue(forKey: ObjectIdentifier(connection)) else { return }
        let left = perAddress[address, default: 1] - 1
        perAddress[address] = left > 0 ? left : nil
    }

    /// The answer to one complete request: 405 for methods other than GET and HEAD, else the
    /// router's (for HEAD, the GET answer whose body the connection leaves out).
    func respond(to head: HTTPRequestHead) -> HTTPServerResponse {
        guard head.method == .get || head.method == .head else {
            return .plain(405, "method \(head.method) not allowed: use GET or HEAD", headers: ["Allow": "GET, HEAD"])
        }
        return router(head)
    }
}
