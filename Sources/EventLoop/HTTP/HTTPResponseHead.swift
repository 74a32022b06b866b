/// The status line and headers of a response: what `HTTPResponseParser` reports and what the
/// status server serializes.
public struct HTTPResponseHead: Hashable, Sendable {
    public var version: HTTPVersion
    /// The three-digit status code (RFC 9110 §15).
    public var status: Int
    /// The reason phrase as sent; informative only (RFC 9112 §4), may be empty.
    public var reason: String
    public var headers: HTTPHeaders

    /// Makes a head; a nil `reason` takes the standard phrase for `status` (empty if unknown).
    public init(version: HTTPVersion = .http1_1, status: Int, reason: String? = nil, headers: HTTPHeaders = [:]) {
        self.version = version
        self.status = status
        self.reason = reason ?? Self.standardReason(for: status)
        self.headers = headers
    }

    /// Whether the peer lets the connection carry another exchange after this response, judged
    /// from the version and `Connection` alone (RFC 9112 §9.3). `HTTPResponseParser`'s
    /// `isConnectionReusable` also accounts for the body's framing.
    public var isKeepAlive: Bool {
        headers.allowsPersistence(version: version)
    }

    /// Serializes the head for a response whose body is `contentLength` bytes, ready to be
    /// written before the body. Sets `Content-Length` (except for 1xx and 204, which must not
    /// carry it, RFC 9110 §8.6) and `Connection: keep-alive` or `close`, replacing any the
    /// caller put in `headers`. The caller must close the connection after the body when
    /// `keepAlive` is false.
    public func serialized(contentLength: Int, keepAlive: Bool) -> [UInt8] {
        var fields = headers
        fields.remove(name: "content-length")
        if !(100..<200).contains(status) && status != 204 {
            fields.add(name: "Content-Length", value: String(contentLength))
        }
        fields.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")

        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 + fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        version.write(into: &buffer)
        buffer.append(HTTPBytes.space)
        buffer.append(contentsOf: String(status).utf8)
        buffer.append(HTTPBytes.space)
        HTTPSerializer.appendText(reason, into: &buffer)
        buffer.append(contentsOf: HTTPBytes.crlf)
        HTTPSerializer.appendFields(fields, into: &buffer)
        return buffer
    }

    /// Parses `HTTP-version SP status-code SP [reason-phrase]` (RFC 9112 §4). A missing space
    /// after the code is tolerated, as the grammar's predecessor allowed it and some servers
    /// still send `HTTP/1.1 200`.
    init(statusLine line: ArraySlice<UInt8>, headers: HTTPHeaders) throws(HTTPParseError) {
        let malformed = HTTPParseError.malformedStatusLine(HTTPBytes.excerpt(line))
        guard let space = line.firstIndex(of: HTTPBytes.space) else { throw malformed }
        let versionText = line[..<space]
        guard let version = HTTPVersion(versionText) else {
            throw HTTPVersion.looksLikeVersion(versionText) ? .unsupportedVersion(HTTPBytes.excerpt(versionText)) : malformed
        }
        guard version.major == 1 else { throw .unsupportedVersion(version.description) }
        let code = line[(space + 1)...].prefix(3)
        guard code.count == 3, code.allSatisfy(HTTPVersion.isDigit) else { throw malformed }
        let afterCode = line[code.endIndex...]
        guard afterCode.isEmpty || afterCode.first == HTTPBytes.space else { throw malformed }
        let reason = afterCode.dropFirst()
        guard reason.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == HTTPBytes.tab }) else { throw malformed }
        self.init(
            version: version,
            status: code.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) },
            reason: String(decoding: reason, as: UTF8.self),
            headers: headers)
    }

    /// The usual reason phrase for the codes Ganger and Docker use; "" for others.
    public static func standardReason(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 204: "No Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }
}
