/// Collects the lines of one message head (start line and header lines, up to the empty line)
/// from bytes that arrive in arbitrary pieces, within a byte and a line budget.
///
/// Each input byte is looked at once: a partial line is kept and only new bytes are searched
/// for its end, so a head delivered one byte at a time still costs linear time. Line
/// terminators are dropped; a bare LF is accepted like CRLF (RFC 9112 §2.2).
struct HTTPHeadReader: Sendable {
    /// Largest head accepted, counting every byte up to and including the final empty line.
    let maxBytes: Int
    /// Largest number of header lines accepted after the start line.
    let maxHeaderCount: Int

    /// The head's line contents, terminators removed; `lines` indexes into it.
    private var bytes: [UInt8] = []
    private var lines: [Range<Int>] = []
    private var lineStart = 0
    /// Bytes consumed for this head so far, terminators and leading empty lines included.
    private(set) var consumed = 0

    init(maxBytes: Int, maxHeaderCount: Int) {
        self.maxBytes = maxBytes
        self.maxHeaderCount = maxHeaderCount
    }

    /// Whether no byte of a head has been consumed since the last `reset()`.
    var isEmpty: Bool { consumed == 0 }

    /// Whether the start line is complete, so a parser can reject a non-HTTP peer before the
    /// rest of the head arrives (or never does).
    var hasStartLine: Bool { !lines.isEmpty }

    /// The first line of the head, once `hasStartLine`.
    var startLine: ArraySlice<UInt8> { bytes[lines[0]] }

    /// Consumes bytes of `buffer` from `index` onward, advancing `index` past what it used.
    /// Returns true once the empty line ending the head was consumed; `index` then points at
    /// the first byte after the head. Returns false when `buffer` was used up first.
    /// After true the caller reads `startLine` and `headerFields`, then calls `reset()`.
    mutating func read(_ buffer: UnsafeRawBufferPointer, at index: inout Int) throws(HTTPParseError) -> Bool {
        while index < buffer.count {
            let rest = UnsafeRawBufferPointer(rebasing: buffer[index...])
            guard let newline = rest.firstIndex(of: HTTPBytes.lf) else {
                guard consumed + rest.count <= maxBytes else { throw .headTooLarge(limit: maxBytes) }
                bytes.append(contentsOf: rest)
                consumed += rest.count
                index = buffer.count
                return false
            }
            guard consumed + newline + 1 <= maxBytes else { throw .headTooLarge(limit: maxBytes) }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<newline]))
            consumed += newline + 1
            index += newline + 1
            // The CR may have arrived in an earlier piece than its LF.
            if bytes.count > lineStart, bytes[bytes.count - 1] == HTTPBytes.cr { bytes.removeLast() }
            if bytes.count == lineStart {
                // RFC 9112 §2.2: empty lines before the start line are ignored (clients send a
                // stray CRLF after a POST body); after the start line, an empty line ends the head.
                if lines.isEmpty { continue }
                return true
            }
            guard lines.count <= maxHeaderCount else { throw .tooManyHeaders(limit: maxHeaderCount) }
            lines.append(lineStart..<bytes.count)
            lineStart = bytes.count
        }
        return false
    }

    /// Parses the header lines of a completed head into fields.
    ///
    /// `allowFolding`: a line starting with whitespace continues the previous value. A user
    /// agent must accept such obsolete folding and replace it with a space; a server must
    /// reject it (RFC 9112 §5.2).
    func headerFields(allowFolding: Bool) throws(HTTPParseError) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(lines.count - 1)
        for range in lines.dropFirst() {
            let line = bytes[range]
            if line.first == HTTPBytes.space || line.first == HTTPBytes.tab {
                guard allowFolding, !headers.isEmpty else { throw .malformedHeader(HTTPBytes.excerpt(line)) }
                let continuation = HTTPBytes.trimmingWhitespace(line)
                guard Self.isValidValue(continuation) else { throw .malformedHeader(HTTPBytes.excerpt(line)) }
                headers.appendToLastValue(String(decoding: continuation, as: UTF8.self))
                continue
            }
            // RFC 9112 §5.1: no whitespace is allowed between the name and the colon.
            guard let colon = line.firstIndex(of: HTTPBytes.colon),
                  HTTPBytes.isToken(line[..<colon])
            else { throw .malformedHeader(HTTPBytes.excerpt(line)) }
            let value = HTTPBytes.trimmingWhitespace(line[(colon + 1)...])
            guard Self.isValidValue(value) else { throw .malformedHeader(HTTPBytes.excerpt(line)) }
            headers.add(
                name: String(decoding: line[..<colon], as: UTF8.self),
                value: String(decoding: value, as: UTF8.self))
        }
        return headers
    }

    /// Forgets the completed head so the next message can be read; keeps the storage.
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        lines.removeAll(keepingCapacity: true)
        lineStart = 0
        consumed = 0
    }

    /// RFC 9110 §5.5: CR, LF and NUL are never valid in a field value; other controls except
    /// HTAB are rejected too since no legitimate peer sends them.
    private static func isValidValue(_ value: ArraySlice<UInt8>) -> Bool {
        value.allSatisfy { $0 >= 0x20 && $0 != 0x7F || $0 == HTTPBytes.tab }
    }
}
