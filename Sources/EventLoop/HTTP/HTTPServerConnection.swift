import Glibc

/// One accepted connection of an `HTTPServer`: reads requests, answers them in order, keeps
/// the connection while the client allows it, and closes it on any error or timeout.
///
/// Memory stays bounded: the parser caps heads and bodies (bodies are skipped, never kept),
/// and once `outputHighWater` unsent bytes are queued the connection neither answers nor
/// reads more until the client has taken them. What one read delivers is parsed at once, so
/// at most one read buffer's worth of request heads waits for an answer.
final class HTTPServerConnection {
    private enum Pending {
        case request(HTTPRequestHead)
        case failure(HTTPParseError)
    }

    private weak var server: HTTPServer?
    private weak var reactor: Reactor?
    private var socket: FileDescriptor?
    /// The socket's number for a call (-1 once closed).
    private var fd: CInt { socket.rawValueOrInvalid }
    private var registration: Registration?
    private var parser: HTTPRequestParser
    private let configuration: HTTPServer.Configuration

    /// The head whose body (if any) is being skipped.
    private var current: HTTPRequestHead?
    /// Complete requests (and at most one final parse failure) not yet answered, in order.
    private var pending: [Pending] = []
    private var output: [UInt8] = []
    private var outputOffset = 0
    /// Nothing more will be read: EOF, a parse error, or a request with `Connection: close`.
    private var inputDone = false
    /// The last answer said `Connection: close`: close once it is written.
    private var closeWhenFlushed = false

    // Monotonic nanoseconds behind the three timeouts (see `deadline`).
    private var headStarted: UInt64?
    private var idleSince: UInt64
    private var lastWriteProgress: UInt64
    private var timer: TimerID?
    private var timerDeadline: UInt64 = 0

    private(set) var isClosed = false

    init(server: HTTPServer, reactor: Reactor, socket: consuming FileDescriptor) throws(SyscallError) {
        self.server = server
        self.reactor = reactor
        configuration = server.configuration
        parser = HTTPRequestParser(limits: server.configuration.limits)
        self.socket = consume socket
        let now = reactor.now
        // The first request, like any other, must arrive whole within `headTimeout`.
        headStarted = now
        idleSince = now
        lastWriteProgress = now
        registration = try reactor.register(fd, interest: .all) { [unowned self] _ in process() }
    }

    deinit { close() }

    /// Arms the timeout; bytes already waiting are reported by epoll's first edge.
    func start() { updateTimer() }

    /// Closes now, answered or not; idempotent. The server forgets the connection.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let timer { reactor?.cancel(timer) }
        timer = nil
        if let registration { reactor?.deregister(registration) }
        registration = nil
        socket = nil
        server?.connectionClosed(self)
    }

    private var unsent: Int { output.count - outputOffset }

    /// Everything the connection can do now: answer, write, read, until it must wait for the
    /// socket. Called on every readiness event (edge-triggered, so it works until EAGAIN or
    /// until backpressure says stop; a later writable edge resumes it).
    private func process() {
        while !isClosed {
            answerPending()
            flush()
            if isClosed { return }
            if unsent == 0 && (closeWhenFlushed || (inputDone && pending.isEmpty)) { return close() }
            // Output left means the socket is full: a writable edge comes back here.
            if unsent > 0 { break }
            if !pending.isEmpty { continue }
            if inputDone { break }
            guard readOnce() else { break }
        }
        updateTimer()
    }

    /// Reads once and parses what came. Returns false when there is nothing to read now.
    private func readOnce() -> Bool {
        guard let server, let reactor else {
            close()
            return false
        }
        let result = Result { () throws(SyscallError) in try Socket.read(fd, into: server.readBuffer) }
        switch result {
        case .success(.wouldBlock):
            return false
        case .success(.processed(0)):
            inputDone = true
            // A request cut short gets no answer; a complete one already queued still does.
            try? parser.finishOnEOF()
            return true
        case let .success(.processed(n)):
            let (events, failure) = parse(UnsafeRawBufferPointer(rebasing: server.readBuffer[0..<n]))
            for event in events {
                switch event {
                case let .head(head):
                    current = head
                case .body:
                    break  // GET and HEAD answers never depend on a body
                case .end:
                    if let current { pending.append(.request(current)) }
                    current = nil
                    headStarted = nil
                }
            }
            if let failure {
                pending.append(.failure(failure))
                inputDone = true
            } else if !parser.isIdle && headStarted == nil {
                headStarted = reactor.now
            }
            return true
        case .failure:
            close()
            return false
        }
    }

    /// Feeds `bytes` to the parser. A parse error throws away the events of the whole call, so
    /// on error the bytes are fed again line by line from the state before: the requests
    /// pipelined ahead of the bad one are still answered, in order, before its error status.
    private func parse(_ bytes: UnsafeRawBufferPointer) -> ([HTTPRequestEvent], HTTPParseError?) {
        let before = parser
        do throws(HTTPParseError) {
            return (try parser.feed(bytes), nil)
        } catch {
            parser = before
            var events: [HTTPRequestEvent] = []
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.count
                do throws(HTTPParseError) {
                    events += try parser.feed(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                } catch {
                    return (events, error)
                }
                start = end
            }
            return (events, error)
        }
    }

    /// Serializes answers to queued requests while the unsent output is below the high water.
    private func answerPending() {
        guard let server else { return close() }
        while !pending.isEmpty && !closeWhenFlushed && unsent < configuration.outputHighWater {
            let response: HTTPServerResponse
            var keepAlive = true
            var withBody = true
            switch pending.removeFirst() {
            case let .request(head):
                response = server.respond(to: head)
                keepAlive = head.isKeepAlive
                withBody = head.method != .head
            case let .failure(error):
                response = .plain(error.statusCode, error.description)
                keepAlive = false
            }
            if !keepAlive {
                closeWhenFlushed = true
                inputDone = true
                pending.removeAll()
            }
            let head = HTTPResponseHead(status: response.status, headers: response.headers)
            append(head.serialized(contentLength: response.body.count, keepAlive: keepAlive))
            if withBody { append(response.body) }
            server.responseCount += 1
        }
    }

    private func append(_ bytes: [UInt8]) {
        if unsent == 0 {
            output.removeAll(keepingCapacity: true)
            outputOffset = 0
            lastWriteProgress = reactor?.now ?? lastWriteProgress
        } else if outputOffset > 0 {
            output.removeFirst(outputOffset)
            outputOffset = 0
        }
        output += bytes
    }

    /// Writes until the output is empty or the socket is full; a write error closes.
    private func flush() {
        while unsent > 0 && !isClosed {
            let result = output.withUnsafeBytes { raw in
                Result { () throws(SyscallError) in
                    try Socket.write(fd, from: UnsafeRawBufferPointer(rebasing: raw[outputOffset...]))
                }
            }
            switch result {
            case .success(.wouldBlock):
                return
            case let .success(.processed(n)):
                outputOffset += n
                let now = reactor?.now ?? 0
                lastWriteProgress = now
                if unsent == 0 {
                    output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
                    outputOffset = 0
                    idleSince = now
                }
            case .failure:
                return close()
            }
        }
    }

    // MARK: Timeouts

    /// When the connection times out in its present state: writing (answers unsent or not yet
    /// made) gives the client `writeTimeout` from the last progress; a request begun must be
    /// complete within `headTimeout`; otherwise it may idle for `idleTimeout`.
    private func deadline() -> UInt64 {
        if unsent > 0 || !pending.isEmpty { return lastWriteProgress &+ configuration.writeTimeout.nanoseconds }
        if let headStarted { return headStarted &+ configuration.headTimeout.nanoseconds }
        return idleSince &+ configuration.idleTimeout.nanoseconds
    }

    /// Keeps one timer armed no later than the deadline. Activity only moves the deadline
    /// later, so the common case costs nothing: the timer fires early and re-arms.
    private func updateTimer() {
        guard let reactor, !isClosed else { return }
        let due = deadline()
        if let timer {
            if timerDeadline <= due { return }
            reactor.cancel(timer)
        }
        let now = MonotonicClock.now()
        timerDeadline = due
        timer = reactor.schedule(after: .nanoseconds(due > now ? due - now : 0)) { [weak self] in
            self?.timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        guard !isClosed else { return }
        guard MonotonicClock.now() >= deadline() else { return updateTimer() }
        if headStarted != nil && unsent == 0 && pending.isEmpty && !parser.isIdle {
            // A request began but never finished (slowloris): say so if the socket takes it.
            let head = HTTPResponseHead(status: 408, headers: ["Content-Type": "text/plain; charset=utf-8"])
            let body = Array("request not complete within \(configuration.headTimeout)\n".utf8)
            let bytes = head.serialized(contentLength: body.count, keepAlive: false) + body
            _ = bytes.withUnsafeBytes { try? Socket.write(fd, from: $0) }
        }
        close()
    }
}
