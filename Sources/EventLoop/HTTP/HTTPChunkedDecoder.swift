/// Decodes a chunked body (RFC 9112 §7.1) from bytes that arrive in arbitrary pieces.
///
/// Chunk data is handed out as it arrives, never gathered, so a stream that never sends its
/// last chunk (Docker's `/events`) still delivers every byte promptly. Chunk extensions are
/// skipped (§7.1.1: a recipient must ignore extensions it does not understand) and trailer
/// fields are skipped (§7.1.2: a recipient may discard them).
struct HTTPChunkedDecoder: Sendable {
    /// Longest chunk-size line accepted: the hex digits plus any extensions.
    static let maxSizeLineLength = 4096
    /// Largest trailer section accepted.
    static let maxTrailerBytes = 16 * 1024

    private enum State: Sendable {
        case size(value: Int, digits: Int)
        case sizeLineTail(value: Int, length: Int)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart(total: Int)
        case trailerLine(total: Int)
        case trailerEndLF
        case done
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
                } else if byte == HTTPBytes.lf {
                    state = Self.afterSizeLine(value)
                } else if byte == UInt8(ascii: ";") || byte == HTTPBytes.space || byte == HTTPBytes.tab
                    || byte == HTTPBytes.cr
                {
                    state = .sizeLineTail(value: value, length: digits + 1)
                } else {
                    throw .invalidChunkSize("unexpected \"\(HTTPBytes.excerpt([byte]))\" after the size")
                }
            case .sizeLineTail(let value, let length):
                if byte == HTTPBytes.lf {
                    state = Self.afterSizeLine(value)
                } else {
                    guard length < Self.maxSizeLineLength else {
                        throw .malformedChunk("chunk-size line longer than \(Self.maxSizeLineLength) bytes")
                    }
                    state = .sizeLineTail(value: value, length: length + 1)
                }
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
