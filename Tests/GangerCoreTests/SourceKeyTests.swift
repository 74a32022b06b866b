import EventLoop
import Testing
@testable import GangerCore

@Suite struct SourceKeyTests {
    @Test func ipv4_isTheAddress_withoutThePort() throws {
        #expect(SourceKey.of(try SocketAddress(parsing: "203.0.113.7:40000")) == "203.0.113.7")
        #expect(SourceKey.of(try SocketAddress(parsing: "203.0.113.7:1")) == SourceKey.of(try SocketAddress(parsing: "203.0.113.7:2")))
        #expect(SourceKey.of(try SocketAddress(parsing: "203.0.113.7:1")) != SourceKey.of(try SocketAddress(parsing: "203.0.113.8:1")))
    }

    @Test func ipv6_addressesRotatingWithinOne64_shareAKey() throws {
        let keys = try ["[2001:db8:1:2::1]:1", "[2001:db8:1:2:a0b1:c2d3:e4f5:6789]:2", "[2001:DB8:1:2:ffff:ffff:ffff:ffff]:3"]
            .map { SourceKey.of(try SocketAddress(parsing: $0)) }
        #expect(keys == Array(repeating: "2001:db8:1:2::/64", count: 3))
    }

    @Test func ipv6_neighbouring64s_differ() throws {
        #expect(SourceKey.of(try SocketAddress(parsing: "[2001:db8:1:2::1]:1"))
            != SourceKey.of(try SocketAddress(parsing: "[2001:db8:1:3::1]:1")))
        #expect(SourceKey.of(try SocketAddress(parsing: "[::1]:5")) == "::/64")
    }

    @Test func ipv4MappedIPv6_isTheIPv4Address_notOne64ForEveryIPv4Client() throws {
        #expect(SourceKey.of(try SocketAddress(parsing: "[::ffff:203.0.113.7]:1")) == "203.0.113.7")
        #expect(SourceKey.of(try SocketAddress(parsing: "[::ffff:203.0.113.7]:1"))
            != SourceKey.of(try SocketAddress(parsing: "[::ffff:198.51.100.1]:1")))
    }
}
