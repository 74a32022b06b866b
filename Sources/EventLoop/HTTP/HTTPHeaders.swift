/// One header field line: a name and its value, both as received (RFC 9110 §5).
public struct HTTPField: Hashable, Sendable {
    /// The field name in the peer's spelling; compare it with `HTTPHeaders` lookups, which
    /// ignore ASCII case (RFC 9110 §5.1).
    public var name: String
    /// The field value without leading or trailing whitespace.
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The header fields of one message, in the order they arrived, duplicates kept.
///
/// Lookups ignore ASCII case in the name. Order matters for fields that may repeat
/// (`Set-Cookie`) and for serializing exactly what the caller built.
public struct HTTPHeaders: Hashable, Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral,
    CustomStringConvertible
{
    /// Every field, in order.
    public private(set) var fields: [HTTPField]

    /// An empty header list.
    public init() {
        fields = []
    }

    /// Takes `(name, value)` pairs in the order they should appear on the wire.
    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { HTTPField(name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    public var startIndex: Int { fields.startIndex }
    public var endIndex: Int { fields.endIndex }
    public subscript(position: Int) -> HTTPField { fields[position] }

    /// The value of the first field called `name` (any case), or nil if there is none.
    public subscript(name: String) -> String? {
        fields.first { Self.namesMatch($0.name, name) }?.value
    }

    /// The values of every field called `name` (any case), in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.namesMatch($0.name, name) }.map(\.value)
    }

    /// Whether at least one field is called `name` (any case).
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.namesMatch($0.name, name) }
    }

    /// Appends a field; existing fields of the same name stay.
    public mutating func add(name: String, value: String) {
        fields.append(HTTPField(name: name, value: value))
    }

    /// Removes every field called `name` (any case).
    public mutating func remove(name: String) {
        fields.removeAll { Self.namesMatch($0.name, name) }
    }

    /// Replaces every field called `name` (any case) with one field carrying `value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// The comma-separated list elements of every field called `name`, trimmed and lower-cased,
    /// empty elements dropped (RFC 9110 §5.6.1). For token lists such as `Connection` and
    /// `Transfer-Encoding`, whose tokens are case-insensitive.
    public func tokens(for name: String) -> [String] {
        var result: [String] = []
        for value in values(for: name) {
            for element in value.utf8.split(separator: UInt8(ascii: ",")) {
                let trimmed = HTTPBytes.trimmingWhitespace(element)
                if !trimmed.isEmpty {
                    result.append(String(decoding: trimmed.map(HTTPBytes.lowercased), as: UTF8.self))
                }
            }
        }
        return result
    }

    /// `Name: value` lines joined by newlines, for logs.
    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    mutating func reserveCapacity(_ count: Int) {
        fields.reserveCapacity(count)
    }

    mutating func insert(_ field: HTTPField, at index: Int) {
        fields.insert(field, at: index)
    }

    mutating func appendToLastValue(_ continuation: String) {
        fields[fields.count - 1].value += " " + continuation
    }

    /// Whether the connection may carry another message after this one (RFC 9112 §9.3):
    /// never with `Connection: close`; HTTP/1.1 and later by default; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    func allowsPersistence(version: HTTPVersion) -> Bool {
        let connection = tokens(for: "connection")
        if connection.contains("close") { return false }
        if version.major > 1 || (version.major == 1 && version.minor >= 1) { return true }
        return connection.contains("keep-alive")
    }

    /// The message's Content-Length, or nil if it has none.
    ///
    /// Repeated fields and comma lists are accepted when every element is the same number
    /// (RFC 9110 §8.6); anything else is an error because the body length would be ambiguous
    /// (RFC 9112 §6.3 item 5).
    func contentLength() throws(HTTPParseError) -> Int? {
        var length: Int?
        var firstText = ""
        for value in values(for: "content-length") {
            for element in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                let digits = HTTPBytes.trimmingWhitespace(element)
                // 18 digits always fit in Int64; longer lengths are absurd for Ganger.
                guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy(HTTPVersion.isDigit) else {
                    throw .invalidContentLength(value)
                }
                let number = digits.reduce(0) { $0 * 10 + Int($1 &- UInt8(ascii: "0")) }
                let text = String(decoding: digits, as: UTF8.self)
                if let length, length != number {
                    throw .conflictingContentLength(firstText, text)
                }
                length = number
                firstText = text
            }
        }
        return length
    }

    private static func namesMatch(_ a: String, _ b: String) -> Bool {
        let x = a.utf8
        let y = b.utf8
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { HTTPBytes.lowercased($0) == HTTPBytes.lowercased($1) }
    }
}
