/// What `HTTPRequestParser` found in the bytes it was fed, in wire order.
public enum HTTPRequestEvent: Hashable, Sendable {
    /// A request line and its headers.
    case head(HTTPRequestHead)
    /// The next bytes of the request's body (Content-Length bodies only).
    case body([UInt8])
    /// The request is complete; the next bytes belong to the next (pipelined) request.
    case end
}

/// An incremental, I/O-free parser for the requests on one server connection (RFC 9112),
/// sized for Ganger's status listener: heads and bodies are bounded, chunked request bodies
/// are refused.
///
/// Feed it whatever the socket returned; pipelined requests come out one after another. On a
/// thrown error the caller answers with `error.statusCode` (400, 411, 413, 431, 501, 505),
/// adds `Connection: close`, and closes: the stream has no trustworthy boundary any more.
public struct HTTPRequestParser: Sendable {
    /// Bounds that keep a client from making the server hoard memory.
    public struct Limits: Sendable {
        /// Largest head, request line through the empty line.
        public var maxHeadBytes: Int
        /// Largest number of header lines.
        public var maxHeaderCount: Int
        /// Largest Content-Length accepted.
        public var maxBodyBytes: Int

        public init(maxHeadBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1024 * 1024) {
            self.maxHeadBytes = maxHeadBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxBodyBytes = maxBodyBytes
        }
    }

    private enum State: Sendable {
        case head
        case body(remaining: Int, total: Int)
        case failed(HTTPParseError)
    }

    private let limits: Limits
    private var state = State.head
    private var reader: HTTPHeadReader
    private var startLineChecked = false

    /// Makes a parser for a freshly accepted connection.
    public init(limits: Limits = Limits()) {
        self.limits = limits
        reader = HTTPHeadReader(maxBytes: limits.maxHeadBytes, maxHeaderCount: limits.maxHeaderCount)
    }

    /// Whether no request is partly received: the connection can be closed for idleness
    /// without cutting a request short.
    public var isIdle: Bool {
        guard case .head = state else { return false }
        return reader.isEmpty
    }

    /// Parses `bytes` (copied as needed) and returns what they completed, in order. Throws on
    /// malformed or refused input; every later call throws the same error.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> [HTTPRequestEvent] {
        if case .failed(let error) = state { throw error }
        var events: [HTTPRequestEvent] = []
        var index = 0
        do throws(HTTPParseError) {
            while index < bytes.count {
                switch state {
                case .head:
                    let complete: Bool
                    do throws(HTTPParseError) {
                        complete = try reader.read(bytes, at: &index)
                    } catch {
                        // A head over the limits with a bad request line fails on the request
                        // line, as it does when the request line arrives in an earlier read.
                        try checkRequestLine()
                        throw error
                    }
                    if complete {
                        try startRequest(into: &events)
                    } else {
                        // Reject a bad request line now rather than after a head that may never end.
                        try checkRequestLine()
                    }
                case .body(let remaining, let total):
                    let count = min(remaining, bytes.count - index)
                    events.append(.body(Array(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + count)]))))
                    index += count
                    if count == remaining {
                        events.append(.end)
                        state = .head
                    } else {
                        state = .body(remaining: remaining - count, total: total)
                    }
                case .failed:
                    preconditionFailure("unreachable: failure returns from feed")
                }
            }
        } catch {
            state = .failed(error)
            throw error
        }
        return events
    }

    /// `feed(_:)` for bytes held in an array.
    public mutating func feed(_ bytes: [UInt8]) throws(HTTPParseError) -> [HTTPRequestEvent] {
        do {
            return try bytes.withUnsafeBytes { try feed($0) }
        } catch let error as HTTPParseError {
            throw error
        } catch {
            preconditionFailure("feed throws only HTTPParseError")
        }
    }

    /// Tells the parser the client closed its side. Returns normally when no request was in
    /// progress; throws `.headCutShort` or `.bodyCutShort` when one was cut off (worth a log
    /// line, no answer is possible).
    public mutating func finishOnEOF() throws(HTTPParseError) {
        let error: HTTPParseError
        switch state {
        case .failed(let failure):
            error = failure
        case .head:
            if reader.isEmpty { return }
            error = .headCutShort(received: reader.consumed)
        case .body(let remaining, let total):
            error = .bodyCutShort(received: total - remaining, expected: total)
        }
        state = .failed(error)
        throw error
    }

    /// Rejects a bad request line as soon as it is complete, once per head.
    private mutating func checkRequestLine() throws(HTTPParseError) {
        guard !startLineChecked && reader.hasStartLine else { return }
        _ = try HTTPRequestHead(requestLine: reader.startLine, headers: [:])
        startLineChecked = true
    }

    /// Turns the head the reader just completed into events and the body state.
    private mutating func startRequest(into events: inout [HTTPRequestEvent]) throws(HTTPParseError) {
        // The request line first, as when it arrives ahead of the headers: the same bytes get
        // the same answer however the network cut them (a bad version is 505, a bad header 400).
        var head = try HTTPRequestHead(requestLine: reader.startLine, headers: [:])
        head.headers = try reader.headerFields(allowFolding: false)
        reader.reset()
        startLineChecked = false
        let length = try bodyLength(of: head)
        events.append(.head(head))
        if length > 0 {
            state = .body(remaining: length, total: length)
        } else {
            events.append(.end)
        }
    }

    /// The request body's length (RFC 9112 §6.3 for requests): Content-Length, or 0 without
    /// one. Transfer codings are refused: chunked with 411 so the client retries with a
    /// length, anything else with 501 (§6.1), and a request with both fields is refused
    /// outright because the two could frame it differently (request smuggling, §11.2).
    private func bodyLength(of head: HTTPRequestHead) throws(HTTPParseError) -> Int {
        if head.headers.contains("transfer-encoding") {
            if head.headers.contains("content-length") { throw .contentLengthWithTransferEncoding }
            let codings = head.headers.tokens(for: "transfer-encoding")
            if codings == ["chunked"] { throw .chunkedRequestBody }
            throw .unsupportedTransferEncoding(head.headers.values(for: "transfer-encoding").joined(separator: ", "))
        }
        let length = try head.headers.contentLength() ?? 0
        guard length <= limits.maxBodyBytes else { throw .bodyTooLarge(length: length, limit: limits.maxBodyBytes) }
        return length
    }
}
