/// Why an HTTP/1.1 message from a peer could not be parsed. After any of these the parser is
/// stuck on that error and the caller must close the connection: the byte stream no longer has
/// a trustworthy message boundary (RFC 9112 §11.2).
public enum HTTPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The response's first line is not `HTTP/1.x NNN reason`; carries the line.
    case malformedStatusLine(String)
    /// The request's first line is not `METHOD target HTTP/1.x`; carries the line.
    case malformedRequestLine(String)
    /// The start line names an HTTP version other than 1.x; carries the version text.
    case unsupportedVersion(String)
    /// A header line has no colon, a bad name, whitespace before the colon, folding where
    /// it is not allowed, or control characters in its value; carries the line.
    case malformedHeader(String)
    /// No empty line ended the head within `limit` bytes.
    case headTooLarge(limit: Int)
    /// The head has more than `limit` header lines.
    case tooManyHeaders(limit: Int)
    /// A Content-Length value is not a decimal number; carries the value.
    case invalidContentLength(String)
    /// Content-Length values disagree; carries two of them.
    case conflictingContentLength(String, String)
    /// A request carries both Transfer-Encoding and Content-Length (RFC 9112 §6.1).
    case contentLengthWithTransferEncoding
    /// A request's Transfer-Encoding is not one Ganger decodes; carries the field value.
    case unsupportedTransferEncoding(String)
    /// A request uses chunked transfer coding, which Ganger's tiny server does not accept.
    case chunkedRequestBody
    /// A request body of `length` bytes exceeds the server's `limit`.
    case bodyTooLarge(length: Int, limit: Int)
    /// A chunk-size line is not hexadecimal or is too large; carries what was wrong.
    case invalidChunkSize(String)
    /// Chunk framing is broken (data not followed by CRLF, an overlong extension line).
    case malformedChunk(String)
    /// The chunked trailer section exceeds `limit` bytes.
    case trailersTooLarge(limit: Int)
    /// The connection ended after `received` bytes of a head.
    case headCutShort(received: Int)
    /// The connection ended after `received` body bytes; `expected` is the Content-Length, nil
    /// for a chunked body.
    case bodyCutShort(received: Int, expected: Int?)

    /// The status a server should answer with before closing (RFC 9110 §15, RFC 6585 §5).
    public var statusCode: Int {
        switch self {
        case .headTooLarge, .tooManyHeaders: 431
        case .bodyTooLarge: 413
        case .chunkedRequestBody: 411
        case .unsupportedTransferEncoding: 501
        case .unsupportedVersion: 505
        default: 400
        }
    }

    public var description: String {
        switch self {
        case .malformedStatusLine(let line):
            "malformed HTTP status line \"\(line)\": expected \"HTTP/1.1 200 OK\"; the peer is probably not an HTTP server (wrong port or a TLS endpoint?)"
        case .malformedRequestLine(let line):
            "malformed HTTP request line \"\(line)\": expected \"METHOD /path HTTP/1.1\""
        case .unsupportedVersion(let version):
            "unsupported HTTP version \"\(version)\": only HTTP/1.0 and HTTP/1.1 are spoken here"
        case .malformedHeader(let line):
            "malformed HTTP header line \"\(line)\": expected \"Name: value\" with a token name, no space before the colon and no control characters"
        case .headTooLarge(let limit):
            "HTTP head larger than \(limit) bytes (no empty line after the headers); the peer sends oversized headers or is not speaking HTTP"
        case .tooManyHeaders(let limit):
            "HTTP head has more than \(limit) header lines"
        case .invalidContentLength(let value):
            "invalid Content-Length \"\(value)\": expected a decimal number of bytes"
        case .conflictingContentLength(let first, let second):
            "conflicting Content-Length values \(first) and \(second): the body length is ambiguous"
        case .contentLengthWithTransferEncoding:
            "request has both Transfer-Encoding and Content-Length; send only one"
        case .unsupportedTransferEncoding(let value):
            "unsupported Transfer-Encoding \"\(value)\": send the body with Content-Length"
        case .chunkedRequestBody:
            "chunked request bodies are not accepted: send the body with Content-Length"
        case .bodyTooLarge(let length, let limit):
            "request body of \(length) bytes exceeds the limit of \(limit) bytes"
        case .invalidChunkSize(let reason):
            "invalid chunk size in chunked body: \(reason)"
        case .malformedChunk(let reason):
            "malformed chunked body: \(reason)"
        case .trailersTooLarge(let limit):
            "chunked body trailers larger than \(limit) bytes"
        case .headCutShort(let received):
            "connection closed after \(received) bytes of an HTTP head, before the headers ended"
        case .bodyCutShort(let received, let expected?):
            "connection closed after \(received) of \(expected) body bytes (Content-Length); the peer died or a proxy cut the response"
        case .bodyCutShort(let received, nil):
            "connection closed after \(received) body bytes, before the last chunk of a chunked body; the peer died or a proxy cut the response"
        }
    }
}
