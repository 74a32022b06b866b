/// A size in bytes as written in the configuration: `64k`, `256m`, `1g`, `512b` or plain `1048576`.
///
/// Suffixes are binary multiples (k = 1024), as Docker's own `--memory` flag reads them; they may
/// be upper case and may carry a trailing `b` (`256mb`, `1GB`).
public struct ByteSize: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) {
        self.bytes = bytes
    }

    /// Parses a size; nil when the text is not one (negative, unknown suffix, or too large).
    public init?(parsing text: String) {
        var digits = Substring(text.lowercased())
        var unit: Int64 = 1
        if digits.hasSuffix("b") { digits = digits.dropLast() }
        if let last = digits.last, let multiplier = Self.multipliers[last] {
            unit = multiplier
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int64(digits) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.bytes = product
    }

    /// The shortest exact form: `256m`, `1g`, `1536k`, `1000b`.
    public var description: String {
        guard bytes != 0 else { return "0" }
        for (suffix, unit) in Self.units where bytes % unit == 0 {
            return "\(bytes / unit)\(suffix)"
        }
        return "\(bytes)b"
    }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }

    /// Largest first, so that `description` picks the shortest exact form.
    private static let units: [(Character, Int64)] = [
        ("t", 1 << 40), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10),
    ]
    private static let multipliers: [Character: Int64] = Dictionary(uniqueKeysWithValues: units)
}
