/// The request line and headers of a request: what the Docker client serializes and what
/// `HTTPRequestParser` reports to the status server.
public struct HTTPRequestHead: Hashable, Sendable {
    public var method: HTTPMethod
    /// The request target as sent, usually origin-form: `/containers/json?all=1` (RFC 9112 §3.2).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders

    public init(method: HTTPMethod, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:]) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
    }

    /// Whether the client lets the connection carry another request after this one, judged
    /// from the version and `Connection` (RFC 9112 §9.3).
    public var isKeepAlive: Bool {
        headers.allowsPersistence(version: version)
    }

    /// Serializes the head, ready to be written before the body.
    ///
    /// Adds `Host: host` unless `headers` already has a Host (RFC 9112 §3.2 requires one in
    /// every HTTP/1.1 request; over a unix socket any name will do, Docker's own client sends
    /// `docker`). When `contentLength` is not nil, sets `Content-Length` to it, replacing any
    /// in `headers`; pass 0 for a POST without a body, since servers may demand the field
    /// (RFC 9110 §8.6). The caller then writes exactly `contentLength` body bytes.
    /// Unsafe bytes in the target and in header text are escaped, not trusted.
    public func serialized(host: String, contentLength: Int? = nil) -> [UInt8] {
        var fields = headers
        if !fields.contains("host") {
            fields.insert(HTTPField(name: "Host", value: host), at: 0)
        }
        if let contentLength {
            fields.replaceOrAdd(name: "Content-Length", value: String(contentLength))
        }

        var buffer: [UInt8] = []
        buffer.reserveCapacity(64 + target.utf8.count
            + fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 })
        HTTPSerializer.appendName(method.rawValue, into: &buffer)
        buffer.append(HTTPBytes.space)
        HTTPSerializer.appendTarget(target, into: &buffer)
        buffer.append(HTTPBytes.space)
        version.write(into: &buffer)
        buffer.append(contentsOf: HTTPBytes.crlf)
        HTTPSerializer.appendFields(fields, into: &buffer)
        return buffer
    }

    /// Parses `method SP request-target SP HTTP-version` (RFC 9112 §3), exactly one SP apart.
    init(requestLine line: ArraySlice<UInt8>, headers: HTTPHeaders) throws(HTTPParseError) {
        let malformed = HTTPParseError.malformedRequestLine(HTTPBytes.excerpt(line))
        let parts = line.split(separator: HTTPBytes.space, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, HTTPBytes.isToken(parts[0]),
              !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 != 0x7F })
        else { throw malformed }
        guard let version = HTTPVersion(parts[2]) else {
            throw HTTPVersion.looksLikeVersion(parts[2]) ? .unsupportedVersion(HTTPBytes.excerpt(parts[2])) : malformed
        }
        guard version.major == 1 else { throw .unsupportedVersion(version.description) }
        self.init(
            method: HTTPMethod(rawValue: String(decoding: parts[0], as: UTF8.self)),
            target: String(decoding: parts[1], as: UTF8.self),
            version: version,
            headers: headers)
    }
}
