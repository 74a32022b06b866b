/// An HTTP protocol version as carried on a start line: `HTTP-version = "HTTP/" DIGIT "." DIGIT`
/// (RFC 9112 §2.3). Ganger speaks only HTTP/1.x; the parsers reject other major versions.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The major version digit (1 for every version Ganger accepts).
    public var major: Int
    /// The minor version digit (0 or 1 in practice; a higher 1.x is treated like 1.1).
    public var minor: Int

    /// Makes a version from its two digits; no validation.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// `HTTP/1.1` and so on, exactly as written on the wire.
    public var description: String { "HTTP/\(major).\(minor)" }

    /// Parses exactly `HTTP/d.d` (case-sensitive, RFC 9112 §2.3).
    /// Returns nil for anything else; the caller reports the whole start line as malformed.
    init?(_ bytes: ArraySlice<UInt8>) {
        guard bytes.count == 8 else { return nil }
        let b = Array(bytes)
        guard b[0] == UInt8(ascii: "H"), b[1] == UInt8(ascii: "T"), b[2] == UInt8(ascii: "T"),
              b[3] == UInt8(ascii: "P"), b[4] == UInt8(ascii: "/"), b[6] == UInt8(ascii: "."),
              HTTPVersion.isDigit(b[5]), HTTPVersion.isDigit(b[7])
        else { return nil }
        self.init(major: Int(b[5] &- UInt8(ascii: "0")), minor: Int(b[7] &- UInt8(ascii: "0")))
    }

    /// Whether `bytes` is `HTTP/` followed by digits and dots: a version, just not one
    /// `init?(_:)` accepts (`HTTP/2.0`, `HTTP/1.10`), which deserves 505 rather than 400.
    static func looksLikeVersion(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.starts(with: "HTTP/".utf8) && bytes.count > 5
            && bytes.dropFirst(5).allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") }
    }

    /// Serializes `HTTP/d.d` into `buffer`.
    func write(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: description.utf8)
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
