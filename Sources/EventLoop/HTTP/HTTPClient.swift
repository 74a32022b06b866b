/// A bounded keep-alive pool of HTTP/1.1 connections to one server, on the reactor.
///
/// At most `maxConnections` exist at once; requests beyond that wait in FIFO order. A finished
/// connection the server lets persist goes to the next waiting request or back to the idle
/// list (at most `maxIdle`). Every request has its own timeout; a long-lived stream (Docker's
/// `/events`) passes nil and ends by `cancel()`.
public final class HTTPClient {
    /// Where a connection comes from: a socket connected to an address, or a child process
    /// spawned per connection that carries the bytes on its stdin and stdout.
    public enum Endpoint: Sendable, Equatable {
        case address(SocketAddress)
        case command([String])
    }

    public let endpoint: Endpoint
    /// The server's address, for a socket endpoint.
    public var address: SocketAddress? {
        if case let .address(address) = endpoint { return address }
        return nil
    }
    /// TLS over each connected socket: the context and the name the server's certificate must carry.
    public var tls: (context: TLSContext, host: String)?
    /// Called with each child's pid right after it is spawned (a command endpoint).
    public var onSpawn: ((Int32) -> Void)?
    private let host: String
    private weak var reactor: Reactor?
    private let maxConnections: Int
    private let maxIdle: Int
    private let connectTimeout: Duration
    private var idle: [HTTPClientConnection] = []
    private var waiting: [HTTPRequestTask] = []
    /// Requests on a connection now (sent, or being sent, and not yet answered in full), in the
    /// order they were sent; at most `maxConnections`.
    private var active: [HTTPRequestTask] = []
    /// Set by `abort`: every request fails from then on.
    private var aborted: HTTPClientError?
    /// Connections that exist or are being connected.
    public private(set) var openCount = 0

    public convenience init(reactor: Reactor, address: SocketAddress, host: String, maxConnections: Int = 16,
                            maxIdle: Int = 4, connectTimeout: Duration = .seconds(5)) {
        self.init(reactor: reactor, endpoint: .address(address), host: host, maxConnections: maxConnections,
                  maxIdle: maxIdle, connectTimeout: connectTimeout)
    }

    public init(reactor: Reactor, endpoint: Endpoint, host: String, maxConnections: Int = 16,
                maxIdle: Int = 4, connectTimeout: Duration = .seconds(5)) {
        self.reactor = reactor
        self.endpoint = endpoint
        self.host = host
        self.maxConnections = maxConnections
        self.maxIdle = maxIdle
        self.connectTimeout = connectTimeout
    }

    public var idleCount: Int { idle.count }

    /// Requests not yet answered in full: on a connection, or waiting for one.
    public var outstanding: Int { active.count + waiting.count }

    /// Sends a request; `handler` hears the response. Keep the task to cancel it.
    @discardableResult
    public func execute(_ head: HTTPRequestHead, body: [UInt8] = [], timeout: Duration?,
                        handler: HTTPResponseHandler) -> HTTPRequestTask {
        let task = HTTPRequestTask(client: self, head: head, body: body, handler: handler)
        if let aborted {
            // Never inline: the caller may not have finished its own setup.
            reactor?.soon { task.finish(aborted) }
            return task
        }
        if let timeout, let reactor {
            // Strong: the timer keeps the task alive until it fires or `finish` cancels it.
            task.timer = reactor.schedule(after: timeout) { task.finish(.timedOut(timeout)) }
        }
        waiting.append(task)
        dispatch()
        return task
    }

    /// Closes idle connections and fails every waiting request with `.cancelled`.
    public func shutdown() {
        for task in waiting { task.finish(.cancelled) }
        waiting.removeAll()
        for connection in idle { connection.close() }
        idle.removeAll()
    }

    /// Fails every request, waiting or on a connection (whose connection closes), and every
    /// later one, with `error`; idle connections close. For a server given up for good (a
    /// daemon that stopped answering while Ganger shuts down): what waited on it ends now.
    public func abort(_ error: HTTPClientError = .cancelled) {
        aborted = error
        // Oldest first: those on a connection were sent before any that waits.
        let all = active + waiting
        waiting.removeAll()
        for task in all { task.finish(error) }
        for connection in idle { connection.close() }
        idle.removeAll()
    }

    fileprivate func remove(_ task: HTTPRequestTask) {
        waiting.removeAll { $0 === task }
        active.removeAll { $0 === task }
    }

    private func dispatch() {
        while !waiting.isEmpty {
            if let connection = idle.popLast() {
                if connection.isReusable {
                    start(waiting.removeFirst(), on: connection)
                } else {
                    openCount -= 1
                }
            } else if openCount < maxConnections {
                openCount += 1
                connect()
                return
            } else {
                return
            }
        }
    }

    private func connect() {
        guard let reactor else { return }
        let address: SocketAddress
        switch endpoint {
        case let .address(socketAddress):
            address = socketAddress
        case let .command(arguments):
            return spawn(arguments, reactor: reactor)
        }
        Connector.connect(reactor: reactor, to: address, timeout: connectTimeout) { [weak self] result in
            guard let self else { return }
            switch consume result {
            case let .connected(socket):
                do throws(SyscallError) {
                    let connection: HTTPClientConnection
                    if let tls {
                        let session: TLSSession
                        do throws(TLSError) { session = try TLSSession(context: tls.context, fd: socket.rawValue, host: tls.host) } catch {
                            openCount -= 1
                            return failFirstWaiting(.tls(error))
                        }
                        connection = try HTTPClientConnection(reactor: reactor, stream: ByteStream(socket: socket, tls: session))
                    } else {
                        connection = try HTTPClientConnection(reactor: reactor, socket: socket)
                    }
                    release(connection)
                } catch {
                    openCount -= 1
                    failFirstWaiting(.io(error))
                }
            case let .failed(error):
                openCount -= 1
                // Nothing to send on: the oldest waiting request learns why.
                failFirstWaiting(.connect(error))
            }
        }
    }

    /// A command endpoint: one child per connection, its pipes as the connection's stream.
    /// The outcome is handled on the next tick, as a connect's would be (never inline).
    private func spawn(_ arguments: [String], reactor: Reactor) {
        let result: Result<HTTPClientConnection, SyscallError>
        do throws(SyscallError) {
            let stream = try ChildProcess.spawnPiped(arguments) { [onSpawn] pid in onSpawn?(pid) }
            result = .success(try HTTPClientConnection(reactor: reactor, stream: stream))
        } catch {
            result = .failure(error)
        }
        reactor.soon { [weak self] in
            guard let self else { return }
            switch result {
            case let .success(connection):
                release(connection)
            case let .failure(error):
                openCount -= 1
                failFirstWaiting(.io(error))
            }
        }
    }

    private func failFirstWaiting(_ error: HTTPClientError) {
        if !waiting.isEmpty { waiting.removeFirst().finish(error) }
        dispatch()
    }

    private func start(_ task: HTTPRequestTask, on connection: HTTPClientConnection) {
        task.connection = connection
        active.append(task)
        connection.onIdleClose = nil
        // The exchange holds the task strongly (the caller may drop it); the connection lets go
        // of the handler when the exchange ends, which ends the cycle.
        connection.send(task.head, body: task.body, host: host, handler: HTTPResponseHandler(
            head: { task.handler?.head($0) },
            body: { task.handler?.body($0) },
            end: { [weak self, unowned connection] error in
                task.connection = nil
                task.finish(error)
                self?.release(connection)
            }))
    }

    /// A connection is free again: serve the next request, keep it idle, or close it.
    private func release(_ connection: HTTPClientConnection) {
        guard connection.isReusable else {
            connection.close()
            openCount -= 1
            return dispatch()
        }
        if !waiting.isEmpty { return start(waiting.removeFirst(), on: connection) }
        guard idle.count < maxIdle else {
            connection.close()
            openCount -= 1
            return
        }
        connection.onIdleClose = { [weak self, unowned connection] in
            guard let self else { return }
            idle.removeAll { $0 === connection }
            openCount -= 1
        }
        idle.append(connection)
    }
}

/// One request in flight or waiting for a connection.
public final class HTTPRequestTask {
    private weak var client: HTTPClient?
    let head: HTTPRequestHead
    let body: [UInt8]
    fileprivate(set) var handler: HTTPResponseHandler?
    fileprivate var connection: HTTPClientConnection?
    fileprivate var timer: TimerID?

    fileprivate init(client: HTTPClient, head: HTTPRequestHead, body: [UInt8], handler: HTTPResponseHandler) {
        self.client = client
        self.head = head
        self.body = body
        self.handler = handler
    }

    public var isFinished: Bool { handler == nil }

    /// Abandons the request: its connection (if any) is closed, the handler hears `.cancelled`.
    public func cancel() { finish(.cancelled) }

    fileprivate func finish(_ error: HTTPClientError?) {
        guard let handler else { return }
        self.handler = nil
        if let timer { client?.cancelTimer(timer) }
        timer = nil
        client?.remove(self)
        if let connection, error != nil {
            // Mid-response: the stream is out of step, so the connection goes too.
            self.connection = nil
            connection.close(with: error!)
        }
        handler.end(error)
    }
}

extension HTTPClient {
    fileprivate func cancelTimer(_ timer: TimerID) { reactor?.cancel(timer) }
}
