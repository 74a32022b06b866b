import EventLoop

/// PROXY protocol headers (HAProxy's spec, "The PROXY protocol", versions 1 and 2): written to
/// the service before any client byte so it learns the client's real address.
enum ProxyHeader {
    /// The header `mode` asks for before a client's bytes: none (`[]`) for `none` and `env`;
    /// nil when a PROXY header is due but `local` (the client socket's own address, from
    /// getsockname) is unknown. The session must then end: a service that trusts the header
    /// would take the client's first bytes for it (fail closed, never open).
    static func forClient(_ mode: ServiceConfig.ClientAddress, source: SocketAddress,
                          local: @autoclosure () -> SocketAddress?) -> [UInt8]? {
        switch mode {
        case .none, .env: return []
        case .proxyV1: return local().map { v1(source: source, destination: $0) }
        case .proxyV2: return local().map { v2(source: source, destination: $0) }
        }
    }

    /// `PROXY TCP4 <src> <dst> <srcport> <dstport>\r\n` (or TCP6); `PROXY UNKNOWN\r\n` when the
    /// families differ or are not IP.
    static func v1(source: SocketAddress, destination: SocketAddress) -> [UInt8] {
        switch (source, destination) {
        case let (.v4(sh, sp), .v4(dh, dp)):
            return Array("PROXY TCP4 \(sh) \(dh) \(sp) \(dp)\r\n".utf8)
        case let (.v6(sh, sp), .v6(dh, dp)):
            return Array("PROXY TCP6 \(sh) \(dh) \(sp) \(dp)\r\n".utf8)
        default:
            return Array("PROXY UNKNOWN\r\n".utf8)
        }
    }

    /// The 12-byte v2 signature.
    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// Binary v2: signature, version 2 + PROXY command (0x21), family/transport (0x11 TCP over
    /// IPv4, 0x21 TCP over IPv6), address length, addresses, ports; LOCAL (0x20, 0x00) when
    /// not IP.
    static func v2(source: SocketAddress, destination: SocketAddress) -> [UInt8] {
        var out = signature
        switch (source, destination) {
        case let (.v4(sh, sp), .v4(dh, dp)):
            out += [0x21, 0x11, 0x00, 12]
            out += ipv4Bytes(sh) + ipv4Bytes(dh) + portBytes(sp) + portBytes(dp)
        case let (.v6(sh, sp), .v6(dh, dp)):
            out += [0x21, 0x21, 0x00, 36]
            out += ipv6Bytes(sh) + ipv6Bytes(dh) + portBytes(sp) + portBytes(dp)
        default:
            out += [0x20, 0x00, 0x00, 0x00]
        }
        return out
    }

    private static func portBytes(_ port: UInt16) -> [UInt8] { [UInt8(port >> 8), UInt8(port & 0xff)] }

    private static func ipv4Bytes(_ text: String) -> [UInt8] {
        text.split(separator: ".").map { UInt8($0) ?? 0 }
    }

    /// RFC 4291 text → 16 bytes (handles `::` compression and an embedded IPv4 tail).
    static func ipv6Bytes(_ text: String) -> [UInt8] {
        func groups(_ part: Substring) -> [UInt16] {
            guard !part.isEmpty else { return [] }
            var result: [UInt16] = []
            for piece in part.split(separator: ":") {
                if piece.contains(".") {
                    let v4 = ipv4Bytes(String(piece))
                    result += [UInt16(v4[0]) << 8 | UInt16(v4[1]), UInt16(v4[2]) << 8 | UInt16(v4[3])]
                } else {
                    result.append(UInt16(piece, radix: 16) ?? 0)
                }
            }
            return result
        }
        let compressed = text.firstRange(of: "::")
        let head = groups(compressed.map { text[..<$0.lowerBound] } ?? text[...])
        let tail = compressed.map { groups(text[$0.upperBound...]) } ?? []
        let all = head + [UInt16](repeating: 0, count: max(0, 8 - head.count - tail.count)) + tail
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }
}
