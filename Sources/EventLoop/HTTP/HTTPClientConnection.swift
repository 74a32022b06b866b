import Glibc

/// Why an HTTP exchange failed, in words a log reader can act on.
public enum HTTPClientError: Error, Sendable, CustomStringConvertible {
    case connect(ConnectError)
    case io(SyscallError)
    case parse(HTTPParseError)
    case closedEarly
    case timedOut(Duration)
    case bodyTooLarge(limit: Int)
    case cancelled
    case tls(TLSError)

    public var description: String {
        switch self {
        case let .connect(error): "\(error)"
        case let .io(error): "\(error)"
        case let .parse(error): "malformed response: \(error)"
        case .closedEarly: "the peer closed the connection before the response ended"
        case let .timedOut(limit): "no complete response within \(limit)"
        case let .bodyTooLarge(limit): "response body larger than \(limit) bytes"
        case .cancelled: "cancelled"
        case let .tls(error): "TLS: \(error)"
        }
    }

    /// The errno of a failed connect or I/O call; nil for the other failures.
    public var systemErrno: Int32? {
        switch self {
        case let .connect(error):
            guard case let .system(failure) = error.reason else { return nil }
            return failure.errno
        case let .io(failure):
            return failure.errno
        default:
            return nil
        }
    }

    /// This process or host ran short (EMFILE, ENFILE, ENOBUFS, ENOMEM from `socket()`, a
    /// connect or an I/O call): a local condition, which says nothing of the server.
    public var isLocalShortage: Bool {
        guard let code = systemErrno else { return false }
        return code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }
}

/// What the caller of one request hears, in order: a head, body bytes (any number of calls),
/// then exactly one `end` — success, or the error that ended the exchange.
public struct HTTPResponseHandler {
    public var head: (HTTPResponseHead) -> Void
    public var body: ([UInt8]) -> Void
    public var end: (HTTPClientError?) -> Void

    public init(head: @escaping (HTTPResponseHead) -> Void, body: @escaping ([UInt8]) -> Void,
                end: @escaping (HTTPClientError?) -> Void) {
        self.head = head
        self.body = body
        self.end = end
    }
}

/// The byte stream under an HTTP client connection: a connected socket, or the stdin and
/// stdout pipes of a child process that carries the bytes elsewhere (`ssh HOST docker system
/// dial-stdio`, see `ChildProcess`). Owns its descriptors.
public struct ByteStream: ~Copyable {
    private var reader: FileDescriptor
    /// nil for a socket, which is written through `reader`.
    private var writer: FileDescriptor?
    fileprivate var readFD: CInt { reader.rawValue }
    fileprivate var writeFD: CInt {
        switch writer {
        case let .some(fd): fd.rawValue
        case .none: reader.rawValue
        }
    }
    fileprivate var isSocket: Bool { writer == nil }
    /// A TLS session over the socket (`tcp://` with certificates), or nil for plain bytes.
    fileprivate var tls: TLSSession?

    public init(socket: consuming FileDescriptor) {
        reader = socket
        writer = nil
    }

    /// A connected socket carrying TLS.
    init(socket: consuming FileDescriptor, tls: TLSSession) {
        self.init(socket: socket)
        self.tls = tls
    }

    /// `reading`: the child's stdout (read end); `writing`: its stdin (write end). Both non-blocking.
    public init(reading: consuming FileDescriptor, writing: consuming FileDescriptor) {
        reader = reading
        writer = Optional(writing)
    }
}

/// One HTTP/1.1 connection on the reactor carrying one request at a time.
///
/// The owner (an `HTTPClient` pool) sends a request, hears the response through its handler,
/// and may send the next one once `isReusable`. A connection that fails, times out or is
/// cancelled mid-response is closed: its byte stream can no longer be trusted. So is one that
/// carries bytes after a response's end, before the next request (in the same read, in the
/// socket when the end is told, or later while idle): such bytes would otherwise answer the
/// next request.
public final class HTTPClientConnection {
    private weak var reactor: Reactor?
    private var stream: ByteStream?
    private let isSocket: Bool
    private let tls: TLSSession?
    private var registration: Registration?
    private var writeRegistration: Registration?
    private var parser = HTTPResponseParser()
    private var output: [UInt8] = []
    private var outputOffset = 0
    private var handler: HTTPResponseHandler?
    /// A response that is complete but not yet told: its `end` waits until the read that
    /// completed it has drained the socket, so that bytes after it are seen first.
    private var ended: HTTPResponseHandler?
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    /// Called once when the connection closes for any reason while idle (peer hung up).
    var onIdleClose: (() -> Void)?
    public private(set) var isClosed = false

    /// Wraps a connected socket.
    public convenience init(reactor: Reactor, socket: consuming FileDescriptor) throws(SyscallError) {
        try self.init(reactor: reactor, stream: ByteStream(socket: socket))
    }

    /// Wraps a socket or a pipe pair.
    public init(reactor: Reactor, stream: consuming ByteStream) throws(SyscallError) {
        self.reactor = reactor
        isSocket = stream.isSocket
        tls = stream.tls
        self.stream = consume stream
        if isSocket {
            registration = try reactor.register(fd, interest: .all) { [unowned self] events in handle(events) }
        } else {
            registration = try reactor.register(fd, interest: .readable) { [unowned self] events in handle(events) }
            do {
                writeRegistration = try reactor.register(writeFD, interest: .writable) { [unowned self] _ in flush() }
            } catch {
                teardown()
                throw error
            }
        }
    }

    deinit {
        teardown()
        readBuffer.deallocate()
    }

    /// Read from `fd`, written to `writeFD` (the same socket, or the pipe pair): numbers borrowed
    /// from the stream for a call, -1 once it is closed.
    private var fd: CInt {
        switch stream {
        case let .some(s): s.readFD
        case .none: -1
        }
    }

    private var writeFD: CInt {
        switch stream {
        case let .some(s): s.writeFD
        case .none: -1
        }
    }

    /// True between exchanges on a connection the server allowed to persist.
    public var isReusable: Bool { !isClosed && handler == nil && ended == nil && parser.isConnectionReusable }

    /// Sends `head` and `body`; the response goes to `handler`. One exchange at a time.
    public func send(_ head: HTTPRequestHead, body: [UInt8], host: String, handler: HTTPResponseHandler) {
        precondition(self.handler == nil, "one request at a time")
        guard !isClosed else { return handler.end(.closedEarly) }
        self.handler = handler
        parser.expect(method: head.method)
        output = head.serialized(host: host, contentLength: body.isEmpty && head.method == .get ? nil : body.count) + body
        outputOffset = 0
        flush()
    }

    /// Abandons the exchange in progress (if any) and closes; the handler hears `error`.
    public func close(with error: HTTPClientError = .cancelled) {
        fail(error)
    }

    private func handle(_ events: IOEvents) {
        if tls != nil {
            // A TLS read may need the socket writable and a write readable (handshake, alerts):
            // any event retries both.
            flush()
            if !isClosed { readAvailable() }
            return
        }
        if !events.intersection([.writable, .error, .hangup]).isEmpty { flush() }
        if !isClosed && !events.intersection([.readable, .readHangup, .hangup, .error]).isEmpty { readAvailable() }
    }

    private func flush() {
        while outputOffset < output.count && !isClosed {
            // Array.withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
            let result = output.withUnsafeBytes { raw in
                Result { () throws(HTTPClientError) in
                    let bytes = UnsafeRawBufferPointer(rebasing: raw[outputOffset...])
                    do {
                        if let tls { return try tls.write(from: bytes) }
                        // send(2) for a socket (MSG_NOSIGNAL); write(2) for a pipe, which send refuses.
                        return isSocket ? try Socket.write(fd, from: bytes)
                            : try nonBlockingSyscall("write") { Glibc.write(writeFD, bytes.baseAddress, bytes.count) }
                    } catch let error as TLSError {
                        throw .tls(error)
                    } catch let error as SyscallError {
                        throw .io(error)
                    } catch {
                        throw .closedEarly
                    }
                }
            }
            switch result {
            case .success(.wouldBlock): return
            case let .success(.processed(n)): outputOffset += n
            case let .failure(error): return fail(error)
            }
        }
        if outputOffset == output.count && !output.isEmpty {
            output = []
            outputOffset = 0
        }
    }

    private func readAvailable() {
        // However the loop ends (drained, closed, failed), a held end is told now.
        defer { tellEnded() }
        while !isClosed {
            let result = Result { () throws(HTTPClientError) in
                if let tls {
                    do throws(TLSError) { return try tls.read(into: readBuffer) } catch { throw .tls(error) }
                }
                do throws(SyscallError) { return try Socket.read(fd, into: readBuffer) } catch { throw .io(error) }
            }
            switch result {
            case .success(.wouldBlock):
                return
            case .success(.processed(0)):
                return eof()
            case .success(.processed(_)) where handler == nil:
                // Bytes nobody asked for, after a response (held in `ended`) or while idle.
                let idle = ended == nil
                teardown()
                if idle { onIdleClose?() }
                return
            case let .success(.processed(n)):
                do throws(HTTPParseError) {
                    deliver(try parser.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])))
                } catch {
                    return fail(.parse(error))
                }
            case let .failure(error):
                return fail(error)
            }
        }
    }

    /// Hands the events of one read to the handler. An `end` is held in `ended` until the
    /// socket is drained (`tellEnded`); events after it in the same read are bytes after the
    /// response: the connection is closed, and they go nowhere.
    private func deliver(_ events: [HTTPResponseEvent]) {
        for (index, event) in events.enumerated() {
            guard let handler else { return }
            switch event {
            case let .head(head): handler.head(head)
            case let .body(bytes): handler.body(bytes)
            case .end:
                self.handler = nil
                ended = handler
                if index < events.count - 1 || !parser.isConnectionReusable { teardown() }
            }
        }
    }

    /// Tells the held `end`, if any: once the socket has nothing more to read, or the
    /// connection closed. Either way that response is complete.
    private func tellEnded() {
        guard let ended else { return }
        self.ended = nil
        ended.end(nil)
    }

    private func eof() {
        // After a complete response the peer may close: the caller hears its end (deferred).
        if ended != nil { return teardown() }
        if handler != nil {
            do throws(HTTPParseError) {
                deliver(try parser.finishOnEOF())
            } catch {
                return fail(.parse(error))
            }
            if handler != nil { return fail(.closedEarly) }
        }
        teardown()
        onIdleClose?()
    }

    private func fail(_ error: HTTPClientError) {
        let pending = handler
        handler = nil
        teardown()
        pending?.end(error)
    }

    private func teardown() {
        guard !isClosed else { return }
        isClosed = true
        if let registration { reactor?.deregister(registration) }
        registration = nil
        if let writeRegistration { reactor?.deregister(writeRegistration) }
        writeRegistration = nil
        stream = nil
    }
}
