/// Error from `LineSplitter`.
public enum LineSplitterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A line grew past `limit` bytes without a newline.
    case lineTooLong(limit: Int)

    public var description: String {
        switch self {
        case .lineTooLong(let limit):
            "a line of the stream exceeds \(limit) bytes without a newline; the stream is not JSON lines or the limit is too small"
        }
    }
}

/// Cuts a byte stream into lines: for Docker's `/events` and image-pull progress, whose bodies
/// are JSON objects one per line ("JSON lines"), arriving in arbitrary pieces.
///
/// Lines are returned without their LF (and without a CR before it); empty lines are dropped,
/// as they carry no object. Only an unfinished line is kept between calls, and only new bytes
/// are searched, so splitting is linear in the input.
public struct LineSplitter: Sendable {
    /// Longest line accepted, terminator excluded.
    public let maxLineLength: Int
    private var partial: [UInt8] = []

    /// `maxLineLength` bounds memory against a stream that never sends a newline.
    public init(maxLineLength: Int = 1024 * 1024) {
        self.maxLineLength = maxLineLength
    }

    /// Returns the lines that `bytes` completes, in order; keeps the unfinished rest. Throws
    /// `.lineTooLong` when a line exceeds the limit; the stream should then be abandoned.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(LineSplitterError) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        while start < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            guard let newline = rest.firstIndex(of: HTTPBytes.lf) else {
                guard partial.count + rest.count <= maxLineLength else { throw .lineTooLong(limit: maxLineLength) }
                partial.append(contentsOf: rest)
                break
            }
            var line = partial
            partial.removeAll(keepingCapacity: true)
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<newline]))
            start += newline + 1
            if line.last == HTTPBytes.cr { line.removeLast() }
            guard line.count <= maxLineLength else { throw .lineTooLong(limit: maxLineLength) }
            if !line.isEmpty { lines.append(line) }
        }
        return lines
    }

    /// `feed(_:)` for bytes held in an array.
    public mutating func feed(_ bytes: [UInt8]) throws(LineSplitterError) -> [[UInt8]] {
        do {
            return try bytes.withUnsafeBytes { try feed($0) }
        } catch let error as LineSplitterError {
            throw error
        } catch {
            preconditionFailure("feed throws only LineSplitterError")
        }
    }

    /// Call at the end of the stream: returns the last line if it lacked a newline, else nil.
    public mutating func finish() -> [UInt8]? {
        defer { partial.removeAll() }
        if partial.last == HTTPBytes.cr { partial.removeLast() }
        return partial.isEmpty ? nil : partial
    }
}
