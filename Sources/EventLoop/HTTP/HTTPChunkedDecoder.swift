/// Decodes a chunked body (RFC 9112 §7.1) from bytes that arrive in arbitrary pieces.
///
/// Chunk data is handed out as it arrives, never gathered, so a stream that never sends its
/// last chunk (Docker's `/events`) still delivers every byte promptly. Chunk extensions are
/// checked against §7.1.1's grammar (token names, token or quoted-string values, within
/// `maxSizeLineLength`) and then ignored (a recipient must ignore extensions it does not
/// understand); the chunk-size line must end in CRLF. Trailer fields are skipped (§7.1.2: a
/// recipient may discard them).
struct HTTPChunkedDecoder: Sendable {
    /// Longest chunk-size line accepted: the hex digits plus any extensions.
    static let maxSizeLineLength = 4096
    /// Largest trailer section accepted.
    static let maxTrailerBytes = 16 * 1024

    private enum State: Sendable {
        case size(value: Int, digits: Int)
        /// After the hex digits: `length` bytes of the line so far, `at` where in the extensions.
        case sizeLineTail(value: Int, length: Int, at: ExtensionPart)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart(total: Int)
        case trailerLine(total: Int)
        case trailerEndLF
        case done
    }

    /// Where a chunk-size line's extensions are: `*( BWS ";" BWS name [ BWS "=" BWS value ] )`
    /// then CRLF (RFC 9112 §7.1.1; BWS is spaces and tabs).
    enum ExtensionPart: Sendable {
        /// After the size: BWS, `;` or CR.
        case between
        /// After `;`: BWS, then the name's first byte.
        case nameStart
        case name
        /// After the name and some BWS: `=`, `;` or CR.
        case afterName
        /// After `=`: BWS, then a token or a quoted string.
        case valueStart
        case token
        /// After a value (and some BWS): BWS, `;` or CR.
        case afterValue
        case quoted
        /// After a backslash in a quoted string.
        case quotedPair
        /// After the CR: only LF may follow.
        case lineFeed
    }

    private var state = State.size(value: 0, digits: 0)
    /// Body bytes delivered so far, for error messages.
    private(set) var received = 0

    /// Consumes bytes of `buffer` from `index` onward, calling `emit` with each run of chunk
    /// data (a view into `buffer`, valid only during the call; the caller copies it).
    /// Returns true once the last chunk and the trailers are consumed; `index` then points at
    /// the first byte after the body. Returns false when `buffer` was used up first.
    mutating func decode(
        _ buffer: UnsafeRawBufferPointer, at index: inout Int, emit: (UnsafeRawBufferPointer) -> Void
    ) throws(HTTPParseError) -> Bool {
        while index < buffer.count {
            if case .data(let remaining) = state {
                let count = min(remaining, buffer.count - index)
                emit(UnsafeRawBufferPointer(rebasing: buffer[index..<(index + count)]))
                received += count
                index += count
                state = count == remaining ? .dataCR : .data(remaining: remaining - count)
                continue
            }
            let byte = buffer[index]
            index += 1
            switch state {
            case .size(let value, let digits):
                if let digit = Self.hexValue(byte) {
                    // 15 hex digits stay below Int.max; a larger chunk is not a real body.
                    guard digits < 15 else { throw .invalidChunkSize("more than 15 hex digits") }
                    state = .size(value: value << 4 | digit, digits: digits + 1)
                } else if digits == 0 {
                    throw .invalidChunkSize("expected a hex digit, got \"\(HTTPBytes.excerpt([byte]))\"")
                } else {
                    state = .sizeLineTail(value: value, length: digits + 1, at: try Self.nextPart(after: .between, byte))
                }
            case .sizeLineTail(let value, _, .lineFeed):
                guard byte == HTTPBytes.lf else { throw .malformedChunk("CR without LF at the end of a chunk-size line") }
                state = Self.afterSizeLine(value)
            case .sizeLineTail(let value, let length, let part):
                guard length < Self.maxSizeLineLength else {
                    throw .malformedChunk("chunk-size line longer than \(Self.maxSizeLineLength) bytes")
                }
                state = .sizeLineTail(value: value, length: length + 1, at: try Self.nextPart(after: part, byte))
            case .dataCR:
                if byte == HTTPBytes.cr {
                    state = .dataLF
                } else if byte == HTTPBytes.lf {
                    state = .size(value: 0, digits: 0)
                } else {
                    throw .malformedChunk("chunk data longer than its declared size (no CRLF after it)")
                }
            case .dataLF:
                guard byte == HTTPBytes.lf else { throw .malformedChunk("CR without LF after chunk data") }
                state = .size(value: 0, digits: 0)
            case .trailerLineStart(let total):
                if byte == HTTPBytes.lf {
                    state = .done
                    return true
                }
                state = byte == HTTPBytes.cr ? .trailerEndLF : .trailerLine(total: total + 1)
            case .trailerLine(let total):
                guard total < Self.maxTrailerBytes else { throw .trailersTooLarge(limit: Self.maxTrailerBytes) }
                state = byte == HTTPBytes.lf ? .trailerLineStart(total: total + 1) : .trailerLine(total: total + 1)
            case .trailerEndLF:
                guard byte == HTTPBytes.lf else { throw .malformedChunk("CR without LF after the trailers") }
                state = .done
                return true
            case .data, .done:
                preconditionFailure("HTTPChunkedDecoder used after the body ended")
            }
        }
        return false
    }

    /// The extension part after `byte` in `part` (never `.lineFeed`, which the caller handles).
    /// Throws for anything §7.1.1 does not allow there, a bare LF included.
    private static func nextPart(after part: ExtensionPart, _ byte: UInt8) throws(HTTPParseError) -> ExtensionPart {
        let isSpace = byte == HTTPBytes.space || byte == HTTPBytes.tab
        let isToken = HTTPBytes.isTokenByte(byte)
        // qdtext and quoted-pair's second byte: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.6.4).
        let isText = byte == HTTPBytes.tab || byte >= 0x20 && byte != 0x7F
        switch part {
        case .between, .name, .afterName, .token, .afterValue:
            if byte == UInt8(ascii: ";") { return .nameStart }
            if byte == HTTPBytes.cr { return .lineFeed }
            let inName = part == .name || part == .afterName
            if isSpace { return inName ? .afterName : part == .between ? .between : .afterValue }
            if inName && byte == UInt8(ascii: "=") { return .valueStart }
            if (part == .name || part == .token) && isToken { return part }
        case .nameStart:
            if isSpace { return .nameStart }
            if isToken { return .name }
        case .valueStart:
            if isSpace { return .valueStart }
            if isToken { return .token }
            if byte == UInt8(ascii: "\"") { return .quoted }
        case .quoted:
            if byte == UInt8(ascii: "\"") { return .afterValue }
            if byte == UInt8(ascii: "\\") { return .quotedPair }
            if isText { return .quoted }
        case .quotedPair:
            if isText { return .quoted }
        case .lineFeed:
            break
        }
        if byte == HTTPBytes.lf { throw .malformedChunk("bare LF in a chunk-size line (it must end in CRLF)") }
        if part == .between {
            throw .invalidChunkSize("unexpected \"\(HTTPBytes.excerpt([byte]))\" after the size")
        }
        throw .malformedChunk("chunk extension: unexpected \"\(HTTPBytes.excerpt([byte]))\"")
    }

    private static func afterSizeLine(_ size: Int) -> State {
        size == 0 ? .trailerLineStart(total: 0) : .data(remaining: size)
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
