/// Delimits one message body as RFC 9112 §6.3 decided it: a known length, chunked, or
/// everything until the connection closes.
enum HTTPBodyDecoder: Sendable {
    case length(remaining: Int, total: Int)
    case chunked(HTTPChunkedDecoder)
    case untilClose

    /// Consumes bytes of `buffer` from `index` onward, calling `emit` with each run of body
    /// bytes (a view into `buffer`, valid only during the call). Returns true once the body is
    /// complete, with `index` at the first byte after it; false when `buffer` was used up.
    mutating func decode(
        _ buffer: UnsafeRawBufferPointer, at index: inout Int, emit: (UnsafeRawBufferPointer) -> Void
    ) throws(HTTPParseError) -> Bool {
        switch self {
        case .length(let remaining, let total):
            let count = min(remaining, buffer.count - index)
            if count > 0 { emit(UnsafeRawBufferPointer(rebasing: buffer[index..<(index + count)])) }
            index += count
            self = .length(remaining: remaining - count, total: total)
            return count == remaining
        case .chunked(var decoder):
            let done = try decoder.decode(buffer, at: &index, emit: emit)
            self = .chunked(decoder)
            return done
        case .untilClose:
            if index < buffer.count { emit(UnsafeRawBufferPointer(rebasing: buffer[index...])) }
            index = buffer.count
            return false
        }
    }

    /// What the end of the connection means for this body: nil if it completes it
    /// (close-delimited), otherwise the error that it was cut short.
    var errorAtEOF: HTTPParseError? {
        switch self {
        case .length(let remaining, let total): .bodyCutShort(received: total - remaining, expected: total)
        case .chunked(let decoder): .bodyCutShort(received: decoder.received, expected: nil)
        case .untilClose: nil
        }
    }
}
