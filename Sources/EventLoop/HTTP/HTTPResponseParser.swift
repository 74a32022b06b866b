/// What `HTTPResponseParser` found in the bytes it was fed, in wire order.
public enum HTTPResponseEvent: Hashable, Sendable {
    /// A final response's status line and headers (interim 1xx responses are skipped).
    case head(HTTPResponseHead)
    /// The next body bytes, already de-chunked. One response may yield any number of these.
    case body([UInt8])
    /// The response is complete; the next bytes belong to the next response.
    case end
}

/// An incremental, I/O-free parser for the responses on one client connection (RFC 9112).
///
/// Feed it whatever the socket returned; it reports heads, body bytes and ends as they become
/// known and keeps only an unfinished head between calls. Body bytes are never gathered: a
/// chunked stream that never ends (Docker's `/events`, pull progress) yields its data as it
/// arrives. After `.end` it parses the next response on the same connection.
///
/// The caller must call `expect(method:)` for every request it sends, in order, so that a
/// response to HEAD is known to have no body. Any thrown error is final: close the connection.
public struct HTTPResponseParser: Sendable {
    /// Bounds that keep a broken or hostile peer from making the parser hoard memory.
    public struct Limits: Sendable {
        /// Largest head, status line through the empty line.
        public var maxHeadBytes: Int
        /// Largest number of header lines.
        public var maxHeaderCount: Int

        public init(maxHeadBytes: Int = 64 * 1024, maxHeaderCount: Int = 100) {
            self.maxHeadBytes = maxHeadBytes
            self.maxHeaderCount = maxHeaderCount
        }
    }

    private enum State: Sendable {
        case head
        case body(HTTPBodyDecoder)
        case failed(HTTPParseError)
    }

    private var state = State.head
    private var reader: HTTPHeadReader
    /// Methods of the requests whose responses have not started yet, oldest first.
    private var pendingMethods: [HTTPMethod] = []
    private var lastResponseAllowsReuse = true
    private var startLineChecked = false

    /// Makes a parser for a fresh connection.
    public init(limits: Limits = Limits()) {
        reader = HTTPHeadReader(maxBytes: limits.maxHeadBytes, maxHeaderCount: limits.maxHeaderCount)
    }

    /// Records that a request with `method` was sent; call once per request, in sending order.
    /// Responses without a recorded method are treated as answers to GET.
    public mutating func expect(method: HTTPMethod) {
        pendingMethods.append(method)
    }

    /// Whether another request may be sent on this connection now: the last response has ended,
    /// it allowed persistence (RFC 9112 §9.3) and was self-delimited, and no bytes of an
    /// unrequested response are pending. True on a fresh parser.
    public var isConnectionReusable: Bool {
        guard case .head = state else { return false }
        return lastResponseAllowsReuse && reader.isEmpty
    }

    /// Parses `bytes` (copied as needed; the caller may reuse its buffer afterwards) and
    /// returns what they completed, in order. Throws on malformed input; the connection must
    /// then be closed, and every later call throws the same error.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> [HTTPResponseEvent] {
        if case .failed(let error) = state { throw error }
        var events: [HTTPResponseEvent] = []
        var index = 0
        do throws(HTTPParseError) {
            while index < bytes.count {
                switch state {
                case .head:
                    let complete: Bool
                    do throws(HTTPParseError) {
                        complete = try reader.read(bytes, at: &index)
                    } catch {
                        // A head over the limits with a bad status line fails on the status line,
                        // as it does when the status line arrives in an earlier read.
                        try checkStatusLine()
                        throw error
                    }
                    if complete {
                        try startResponse(into: &events)
                    } else {
                        // A peer that is not HTTP (an SSH or TLS port) may never finish a head.
                        try checkStatusLine()
                    }
                case .body(var decoder):
                    var chunk: [UInt8] = []
                    let done = try decoder.decode(bytes, at: &index) { chunk.append(contentsOf: $0) }
                    if !chunk.isEmpty { events.append(.body(chunk)) }
                    if done {
                        events.append(.end)
                        state = .head
                    } else {
                        state = .body(decoder)
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
    public mutating func feed(_ bytes: [UInt8]) throws(HTTPParseError) -> [HTTPResponseEvent] {
        do {
            return try bytes.withUnsafeBytes { try feed($0) }
        } catch let error as HTTPParseError {
            throw error
        } catch {
            preconditionFailure("feed throws only HTTPParseError")
        }
    }

    /// Tells the parser that the peer closed the connection. Returns `[.end]` when that
    /// completes a close-delimited body, `[]` when no response was in progress. Throws
    /// `.headCutShort` or `.bodyCutShort` when a response was cut off. The parser is then done.
    public mutating func finishOnEOF() throws(HTTPParseError) -> [HTTPResponseEvent] {
        lastResponseAllowsReuse = false
        switch state {
        case .failed(let error):
            throw error
        case .head:
            guard reader.isEmpty else {
                let error = HTTPParseError.headCutShort(received: reader.consumed)
                state = .failed(error)
                throw error
            }
            return []
        case .body(let decoder):
            if let error = decoder.errorAtEOF {
                state = .failed(error)
                throw error
            }
            state = .head
            return [.end]
        }
    }

    /// Rejects a bad status line as soon as it is complete, once per head.
    private mutating func checkStatusLine() throws(HTTPParseError) {
        guard !startLineChecked && reader.hasStartLine else { return }
        _ = try HTTPResponseHead(statusLine: reader.startLine, headers: [:])
        startLineChecked = true
    }

    /// Turns the head the reader just completed into events and the body state.
    private mutating func startResponse(into events: inout [HTTPResponseEvent]) throws(HTTPParseError) {
        // The status line first, as when it arrives ahead of the headers: the same bytes give
        // the same error however the network cut them.
        var head = try HTTPResponseHead(statusLine: reader.startLine, headers: [:])
        head.headers = try reader.headerFields(allowFolding: true)
        reader.reset()
        startLineChecked = false
        // RFC 9110 §15.2: interim responses precede the final one; the client goes on waiting.
        // 101 is different: the connection is no longer HTTP after it.
        if (100..<200).contains(head.status) && head.status != 101 { return }
        let method = pendingMethods.isEmpty ? HTTPMethod.get : pendingMethods.removeFirst()
        let (body, reusable) = try Self.framing(of: head, answering: method)
        lastResponseAllowsReuse = reusable
        events.append(.head(head))
        if let body {
            state = .body(body)
        } else {
            events.append(.end)
        }
    }

    /// Decides how the body is delimited (RFC 9112 §6.3, rules in that order) and whether the
    /// connection can be reused after it. Returns a nil decoder when there is no body.
    static func framing(
        of head: HTTPResponseHead, answering method: HTTPMethod
    ) throws(HTTPParseError) -> (body: HTTPBodyDecoder?, reusable: Bool) {
        let keepAlive = head.isKeepAlive
        // 1. HEAD responses, 1xx, 204 and 304 never have a body, whatever the headers say.
        if method == .head || head.status == 204 || head.status == 304 || (100..<200).contains(head.status)
            && head.status != 101
        {
            return (nil, keepAlive)
        }
        // 2. After 101 or a 2xx to CONNECT the connection is a tunnel: hand over every byte.
        if head.status == 101 || (method == .connect && (200..<300).contains(head.status)) {
            return (.untilClose, false)
        }
        // 3. Transfer-Encoding overrides Content-Length; a message carrying both may be a
        // smuggling attempt, so the connection is not reused. A final coding other than
        // chunked means the body runs until the server closes.
        if head.headers.contains("transfer-encoding") {
            let reusable = keepAlive && !head.headers.contains("content-length")
            if head.headers.tokens(for: "transfer-encoding").last == "chunked" {
                return (.chunked(HTTPChunkedDecoder()), reusable)
            }
            return (.untilClose, false)
        }
        // 5. Content-Length, which must be valid and unambiguous.
        if let length = try head.headers.contentLength() {
            return (length == 0 ? nil : .length(remaining: length, total: length), keepAlive)
        }
        // 7. Otherwise the body ends when the server closes.
        return (.untilClose, false)
    }
}
