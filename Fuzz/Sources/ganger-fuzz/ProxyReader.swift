import Glibc

/// A reader of PROXY protocol headers written from HAProxy's spec ("The PROXY protocol",
/// doc/proxy-protocol.txt, sections 2.1 and 2.2), independent of ProxyHeader: the fuzz
/// target's judge of what Ganger writes. Strict where the spec says what a sender must do.
enum ProxyReader {
    /// What a header says about the connection; nil for `UNKNOWN` (v1) and `LOCAL` (v2), where
    /// the receiver must use the real connection's addresses.
    struct Addresses: Equatable {
        var family: Int
        var source: [UInt8]
        var destination: [UInt8]
        var sourcePort: UInt16
        var destinationPort: UInt16
    }

    struct Header: Equatable {
        /// Bytes the header takes; the client's bytes start after them.
        var header: Int
        var addresses: Addresses?
    }

    /// 2.1: `"PROXY" SP ("TCP4" | "TCP6" | "UNKNOWN") SP src SP dst SP sport SP dport CRLF`,
    /// at most 107 bytes with the CRLF; single spaces; addresses in their usual text form;
    /// ports decimal 0-65535 without leading zeros; with UNKNOWN the rest of the line is ignored.
    static func v1(_ bytes: [UInt8]) -> Result<Header, Refusal> {
        guard let lf = bytes.prefix(107).firstIndex(of: 0x0A), lf > 0, bytes[lf - 1] == 0x0D else {
            return .failure("no CRLF within 107 bytes")
        }
        let line = String(decoding: bytes[..<(lf - 1)], as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.first == "PROXY", fields.count >= 2 else { return .failure("not PROXY: \(line)") }
        if fields[1] == "UNKNOWN" { return .success(Header(header: lf + 1, addresses: nil)) }
        guard fields.count == 6 else { return .failure("\(fields.count) fields: \(line)") }
        let family: CInt
        switch fields[1] {
        case "TCP4": family = AF_INET
        case "TCP6": family = AF_INET6
        default: return .failure("protocol \(fields[1])")
        }
        guard let source = pton(family, fields[2]), let destination = pton(family, fields[3]) else {
            return .failure("addresses \(fields[2]) \(fields[3]) are not \(fields[1])")
        }
        guard let sourcePort = port(fields[4]), let destinationPort = port(fields[5]) else {
            return .failure("ports \(fields[4]) \(fields[5])")
        }
        return .success(Header(header: lf + 1, addresses: Addresses(
            family: family == AF_INET ? 4 : 6, source: source, destination: destination,
            sourcePort: sourcePort, destinationPort: destinationPort)))
    }

    /// Why a header was refused.
    struct Refusal: Error, ExpressibleByStringInterpolation {
        var reason: String
        init(stringLiteral value: String) { reason = value }
        init(stringInterpolation: DefaultStringInterpolation) { reason = String(stringInterpolation: stringInterpolation) }
    }

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// 2.2: the 12-byte signature; version 2 in the high nibble of byte 13 and the command
    /// (0 LOCAL, 1 PROXY) in its low nibble; family (1 INET, 2 INET6) and transport (1 STREAM)
    /// in byte 14; the length of what follows, big endian, in bytes 15-16; then for TCP over
    /// IPv4 source and destination addresses (4 bytes each) and ports (2 each, network order),
    /// 12 bytes; over IPv6 16-byte addresses, 36 bytes. Bytes past the addresses are TLVs.
    static func v2(_ bytes: [UInt8]) -> Result<Header, Refusal> {
        guard bytes.count >= 16, Array(bytes[..<12]) == signature else { return .failure("no v2 signature") }
        guard bytes[12] >> 4 == 2 else { return .failure("version \(bytes[12] >> 4)") }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard bytes.count >= 16 + length else { return .failure("length \(length) past the bytes") }
        let end = 16 + length
        switch bytes[12] & 0x0F {
        case 0: return .success(Header(header: end, addresses: nil))
        case 1: break
        default: return .failure("command \(bytes[12] & 0x0F)")
        }
        guard bytes[13] & 0x0F == 1 else { return .failure("transport \(bytes[13] & 0x0F)") }
        let size: Int
        switch bytes[13] >> 4 {
        case 1: size = 4
        case 2: size = 16
        default: return .failure("family \(bytes[13] >> 4)")
        }
        guard length >= 2 * size + 4 else { return .failure("length \(length) too short for the addresses") }
        let source = Array(bytes[16..<(16 + size)])
        let destination = Array(bytes[(16 + size)..<(16 + 2 * size)])
        let ports = 16 + 2 * size
        return .success(Header(header: end, addresses: Addresses(
            family: size == 4 ? 4 : 6, source: source, destination: destination,
            sourcePort: UInt16(bytes[ports]) << 8 | UInt16(bytes[ports + 1]),
            destinationPort: UInt16(bytes[ports + 2]) << 8 | UInt16(bytes[ports + 3]))))
    }

    private static func pton(_ family: CInt, _ text: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 16)
        guard inet_pton(family, text, &buffer) == 1 else { return nil }
        return Array(buffer.prefix(family == AF_INET ? 4 : 16))
    }

    private static func port(_ text: String) -> UInt16? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text == "0" || !text.hasPrefix("0") else { return nil }
        return UInt16(text)
    }
}
