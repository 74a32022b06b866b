import EventLoop
import Glibc

/// What per-source limits count a client under (`per_source`).
///
/// An IPv4 client is its address. An IPv6 client is its /64: a subscriber usually gets a whole
/// /64 and may pick any address in it (privacy addresses rotate by themselves), so keying on
/// the full address would let one client open as many connections as it likes. An
/// IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack `[::]` listener sees for an
/// IPv4 client) is the IPv4 address: its /64 would be every IPv4 client at once.
enum SourceKey {
    /// `203.0.113.7`, `2001:db8:1:2::/64`; a unix path as it is.
    static func of(_ address: SocketAddress) -> String {
        guard case let .v6(host, _) = address else { return address.host }
        var raw = in6_addr()
        guard inet_pton(AF_INET6, host, &raw) == 1 else { return host }
        var bytes = withUnsafeBytes(of: raw.__in6_u.__u6_addr8) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        for index in 8..<16 { bytes[index] = 0 }
        var prefix = in6_addr()
        withUnsafeMutableBytes(of: &prefix) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &prefix, &text, socklen_t(text.count)) != nil else { return host }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
    }
}
