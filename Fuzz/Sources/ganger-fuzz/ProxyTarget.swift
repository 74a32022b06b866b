@testable import EventLoop
@testable import GangerCore
import Glibc

/// PROXY protocol headers (ProxyHeader, v1 and v2). Input: a client address and the address it
/// connected to, as the kernel hands them over (family byte, address bytes, port bytes), made
/// into SocketAddress the way accept4/getsockname results are (inet_ntop).
///
/// Property: a reference reader written from the spec (ProxyReader) reads both headers back as
/// exactly those addresses and ports; for families that differ, v1 says UNKNOWN and v2 LOCAL.
enum ProxyTarget {
    static func run(_ input: [UInt8]) {
        var bytes = input[...]
        guard let source = address(&bytes), let destination = address(&bytes) else { return }
        let expected: ProxyReader.Addresses?
        switch (source.raw, destination.raw) {
        case let (.v4(s, sp), .v4(d, dp)), let (.v6(s, sp), .v6(d, dp)):
            expected = .init(family: s.count == 4 ? 4 : 6, source: s, destination: d, sourcePort: sp, destinationPort: dp)
        default:
            expected = nil
        }
        let v1 = ProxyHeader.v1(source: source.address, destination: destination.address)
        let v2 = ProxyHeader.v2(source: source.address, destination: destination.address)
        let read1 = ProxyReader.v1(v1 + [0x47, 0x45, 0x54])
        let read2 = ProxyReader.v2(v2 + [0x47, 0x45, 0x54])
        switch (read1, read2) {
        case let (.success(one), .success(two)):
            require(one.header == v1.count, "v1: the reader stops at \(one.header) of \(v1.count)")
            require(two.header == v2.count, "v2: the reader stops at \(two.header) of \(v2.count)")
            require(one.addresses == expected, "v1 \(String(decoding: v1, as: UTF8.self)) reads as \(String(describing: one.addresses)), "
                + "not \(String(describing: expected)) (\(source.address) → \(destination.address))")
            require(two.addresses == expected, "v2 \(v2) reads as \(String(describing: two.addresses)), "
                + "not \(String(describing: expected)) (\(source.address) → \(destination.address))")
        default:
            require(false, "refused: v1 \(read1) v2 \(read2) for \(source.address) → \(destination.address)")
        }
    }

    enum Raw { case v4([UInt8], UInt16), v6([UInt8], UInt16), other }

    /// One address from the input: the family byte's low bits pick IPv4, IPv6 or a unix
    /// socket; then 4 or 16 address bytes and 2 port bytes.
    static func address(_ bytes: inout ArraySlice<UInt8>) -> (address: SocketAddress, raw: Raw)? {
        guard let family = bytes.popFirst() else { return nil }
        var storage = sockaddr_storage()
        switch family % 3 {
        case 0:
            guard bytes.count >= 6 else { return nil }
            let host = Array(bytes.prefix(4))
            let port = UInt16(bytes[bytes.startIndex + 4]) << 8 | UInt16(bytes[bytes.startIndex + 5])
            bytes = bytes.dropFirst(6)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: host) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: sa) { raw.copyMemory(from: $0) } }
            return (SocketAddress(storage: storage), .v4(host, port))
        case 1:
            guard bytes.count >= 18 else { return nil }
            let host = Array(bytes.prefix(16))
            let port = UInt16(bytes[bytes.startIndex + 16]) << 8 | UInt16(bytes[bytes.startIndex + 17])
            bytes = bytes.dropFirst(18)
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: host) }
            withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: sa) { raw.copyMemory(from: $0) } }
            return (SocketAddress(storage: storage), .v6(host, port))
        default:
            return (.unix(path: "/run/ganger.sock"), .other)
        }
    }
}
